/*
 * check_snap.c - normalized guest views: the answer side filled record by
 * record (strings copied and bounded, caps enforced), and the memory side
 * refusing cleanly when there is no session to read from.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "snap.h"

START_TEST(test_added_objects_are_copied_and_marked)
{
	struct snap s;
	struct xcheck_proc p = { .pid = 7, .ppid = 1, .uid = 0, .start_ns = 5 };
	struct xcheck_module m = { .size = 4096 };
	char path[] = "/etc/passwd";

	snap_init(&s);
	strcpy(p.comm, "sshd");
	strcpy(m.name, "ext4");
	ck_assert_int_eq(snap_add_proc(&s, &p), 0);
	ck_assert_int_eq(snap_add_module(&s, &m), 0);
	ck_assert_int_eq(snap_add_file(&s, 7, 3, path, strlen(path)), 0);
	path[0] = 'X';	/* the snap owns its copy */
	ck_assert_uint_eq(s.what, SNAP_PROCS | SNAP_MODULES | SNAP_FILES);
	ck_assert_str_eq(s.procs[0].comm, "sshd");
	ck_assert_str_eq(s.mods[0].name, "ext4");
	ck_assert_str_eq(s.files[0].path, "/etc/passwd");
	snap_release(&s);
	ck_assert_uint_eq(s.nprocs + s.nmods + s.nfiles, 0);
}
END_TEST

START_TEST(test_unterminated_strings_are_terminated)
{
	struct snap s;
	struct xcheck_proc p;
	struct xcheck_module m;

	snap_init(&s);
	memset(&p, 'A', sizeof(p));
	memset(&m, 'B', sizeof(m));
	ck_assert_int_eq(snap_add_proc(&s, &p), 0);
	ck_assert_int_eq(snap_add_module(&s, &m), 0);
	ck_assert_uint_eq(strlen(s.procs[0].comm), XCHECK_COMM_LEN - 1);
	ck_assert_uint_eq(strlen(s.mods[0].name), XCHECK_NAME_LEN - 1);
	snap_release(&s);
}
END_TEST

START_TEST(test_file_path_length_is_honoured_not_the_nul)
{
	struct snap s;

	snap_init(&s);
	/* agent strings are length-delimited, not NUL-terminated */
	ck_assert_int_eq(snap_add_file(&s, 1, 0, "/dev/consoleGARBAGE", 12), 0);
	ck_assert_int_eq(snap_add_file(&s, 1, 1, NULL, 99), 0);
	ck_assert_str_eq(s.files[0].path, "/dev/console");
	ck_assert_str_eq(s.files[1].path, "");
	snap_release(&s);
}
END_TEST

START_TEST(test_a_million_and_one_objects_are_refused_with_e2big)
{
	struct snap s;
	struct xcheck_proc p = { .pid = 1 };
	size_t i;
	int rc = 0;

	snap_init(&s);
	for (i = 0; i <= XCHECK_ITEMS_MAX && rc == 0; i++)
		rc = snap_add_proc(&s, &p);
	ck_assert_int_eq(rc, -E2BIG);
	ck_assert_uint_eq(s.nprocs, XCHECK_ITEMS_MAX);
	snap_release(&s);
}
END_TEST

START_TEST(test_covered_pids_are_recorded)
{
	struct snap s;

	snap_init(&s);
	ck_assert_int_eq(snap_cover_pid(&s, 42), 0);
	ck_assert_int_eq(snap_cover_pid(&s, -1), 0);
	ck_assert_uint_eq(s.nfile_pids, 2);
	ck_assert_int_eq(s.file_pids[0], 42);
	snap_release(&s);
}
END_TEST

START_TEST(test_sorted_snap_finds_every_process_and_file_and_nothing_else)
{
	struct snap s;
	struct xcheck_proc p = { 0 };
	int32_t i;

	snap_init(&s);
	for (i = 1000; i > 0; i--) {	/* arrives in reverse, as walks may */
		p.pid = i * 3;
		ck_assert_int_eq(snap_add_proc(&s, &p), 0);
		ck_assert_int_eq(snap_add_file(&s, i * 3, i % 7, "/x", 2), 0);
	}
	snap_sort(&s);
	for (i = 1; i <= 1000; i++) {
		ck_assert_ptr_nonnull(snap_find_proc(&s, i * 3));
		ck_assert_ptr_null(snap_find_proc(&s, i * 3 + 1));
		ck_assert_ptr_nonnull(snap_find_file(&s, i * 3, i % 7));
		ck_assert_ptr_null(snap_find_file(&s, i * 3, i % 7 + 1));
	}
	ck_assert_int_eq(s.procs[0].pid, 3);
	snap_release(&s);
	snap_init(&s);
	ck_assert_ptr_null(snap_find_proc(&s, 1));	/* empty snap */
	ck_assert_ptr_null(snap_find_file(&s, 1, 0));
	snap_release(&s);
}
END_TEST

static Suite *snap_suite(void)
{
	Suite *s = suite_create("snap");
	TCase *tc = tcase_create("answer");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_added_objects_are_copied_and_marked);
	tcase_add_test(tc, test_unterminated_strings_are_terminated);
	tcase_add_test(tc, test_file_path_length_is_honoured_not_the_nul);
	tcase_add_test(tc, test_a_million_and_one_objects_are_refused_with_e2big);
	tcase_add_test(tc, test_covered_pids_are_recorded);
	tcase_add_test(tc, test_sorted_snap_finds_every_process_and_file_and_nothing_else);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(snap_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
