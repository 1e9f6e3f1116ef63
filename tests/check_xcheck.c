/*
 * check_xcheck.c - cross-view checks: hidden, phantom and mismatched
 * processes, modules and files, and churn between the two memory snapshots
 * that must never be reported.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xcheck.h"

#define MS 1000000ull

static struct xcheck_proc P(int pid, int ppid, const char *comm, uint64_t start)
{
	struct xcheck_proc p = { .pid = pid, .ppid = ppid, .uid = 0,
				 .start_ns = start };

	snprintf(p.comm, sizeof(p.comm), "%s", comm);
	return p;
}

static struct xcheck_result run_procs(const struct xcheck_proc *m1, size_t n1,
				      const struct xcheck_proc *m2, size_t n2,
				      const struct xcheck_proc *g, size_t ng)
{
	struct xcheck_opts o;
	struct xcheck_result r;

	xcheck_opts_init(&o);
	ck_assert_int_eq(xcheck_procs(&o, m1, n1, m2, n2, g, ng, &r), 0);
	return r;
}

START_TEST(test_identical_views_give_no_finding)
{
	struct xcheck_proc m[] = { P(1, 0, "init", 10 * MS), P(7, 1, "sh", 90 * MS) };
	struct xcheck_result r = run_procs(m, 2, m, 2, m, 2);

	ck_assert_uint_eq(r.total, 0);
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_process_in_both_snapshots_missing_from_answer_is_hidden)
{
	struct xcheck_proc m[] = { P(1, 0, "init", 10 * MS), P(666, 1, "evil", 50 * MS) };
	struct xcheck_proc g[] = { P(1, 0, "init", 10 * MS) };
	struct xcheck_result r = run_procs(m, 2, m, 2, g, 1);

	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.v[0].kind, XCHECK_HIDDEN);
	ck_assert_int_eq(r.v[0].object, XCHECK_PROCESS);
	ck_assert_int_eq(r.v[0].pid, 666);
	ck_assert_str_eq(r.v[0].name, "evil");
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_process_exiting_during_upcall_is_not_hidden)
{
	struct xcheck_proc m1[] = { P(1, 0, "init", 1), P(50, 1, "short", 5 * MS) };
	struct xcheck_proc m2[] = { P(1, 0, "init", 1) };
	struct xcheck_proc g[] = { P(1, 0, "init", 1) };
	struct xcheck_result r = run_procs(m1, 2, m2, 1, g, 1);

	ck_assert_uint_eq(r.total, 0);
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_process_starting_during_upcall_is_not_phantom)
{
	struct xcheck_proc m1[] = { P(1, 0, "init", 1) };
	struct xcheck_proc m2[] = { P(1, 0, "init", 1), P(51, 1, "new", 900 * MS) };
	struct xcheck_proc g[] = { P(1, 0, "init", 1), P(51, 1, "new", 900 * MS) };
	struct xcheck_result r = run_procs(m1, 1, m2, 2, g, 2);

	ck_assert_uint_eq(r.total, 0);
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_answer_process_absent_from_memory_is_phantom)
{
	struct xcheck_proc m[] = { P(1, 0, "init", 1) };
	struct xcheck_proc g[] = { P(1, 0, "init", 1), P(4242, 1, "ghost", 7 * MS) };
	struct xcheck_result r = run_procs(m, 1, m, 1, g, 2);

	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.v[0].kind, XCHECK_PHANTOM);
	ck_assert_int_eq(r.v[0].pid, 4242);
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_renamed_process_in_answer_is_comm_mismatch)
{
	struct xcheck_proc m[] = { P(300, 1, "miner", 5 * MS) };
	struct xcheck_proc g[] = { P(300, 1, "kworker/0:1", 5 * MS + 3 * MS) };
	struct xcheck_result r = run_procs(m, 1, m, 1, g, 1);

	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.v[0].kind, XCHECK_MISMATCH);
	ck_assert_str_eq(r.v[0].attr, "comm");
	ck_assert_ptr_nonnull(strstr(r.v[0].detail, "miner"));
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_comm_changed_between_snapshots_is_not_mismatch)
{
	struct xcheck_proc m1[] = { P(300, 1, "sh", 5 * MS) };
	struct xcheck_proc m2[] = { P(300, 1, "sleep", 5 * MS) };
	struct xcheck_proc g[] = { P(300, 1, "sleep", 5 * MS) };
	struct xcheck_result r = run_procs(m1, 1, m2, 1, g, 1);

	ck_assert_uint_eq(r.total, 0);
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_decorated_name_in_answer_is_comm_mismatch)
{
	/* a name the kernel never gave the task, even one that looks like
	 * /proc's kworker decoration, is the answer's, not memory's */
	struct xcheck_proc m[] = { P(7, 2, "kworker/0:0", 0) };
	struct xcheck_proc g[] = { P(7, 2, "kworker/0:0-eve", 0) };
	struct xcheck_result r = run_procs(m, 1, m, 1, g, 1);

	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.v[0].attr, "comm");
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_short_lived_process_between_snapshots_is_not_phantom)
{
	struct xcheck_proc m[] = { P(1, 0, "init", 1), P(90, 1, "sh", 400 * MS) };
	struct xcheck_proc g[] = { P(1, 0, "init", 1), P(90, 1, "sh", 400 * MS),
				   P(91, 90, "true", 900 * MS) };
	struct xcheck_result r = run_procs(m, 2, m, 2, g, 3);

	ck_assert_uint_eq(r.total, 0);
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_pid_reused_with_new_start_time_is_phantom_not_mismatch)
{
	/* the answer claims an older start than memory's: invented */
	struct xcheck_proc m[] = { P(77, 1, "daemon", 9000 * MS) };
	struct xcheck_proc g[] = { P(77, 1, "daemon", 100 * MS) };
	struct xcheck_result r = run_procs(m, 1, m, 1, g, 1);

	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.v[0].kind, XCHECK_PHANTOM);
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_duplicate_pids_in_answer_are_reported)
{
	struct xcheck_proc m[] = { P(1, 0, "init", 1) };
	struct xcheck_proc g[] = { P(1, 0, "init", 1), P(1, 0, "init", 1) };
	struct xcheck_result r = run_procs(m, 1, m, 1, g, 2);

	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.v[0].kind, XCHECK_PHANTOM);
	ck_assert_ptr_nonnull(strstr(r.v[0].detail, "twice"));
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_unterminated_comm_in_input_is_bounded)
{
	struct xcheck_proc m[1], g[1];
	struct xcheck_result r;

	memset(m, 'A', sizeof(m));
	m[0].pid = 5;
	m[0].start_ns = 0;
	g[0] = m[0];
	memset(g[0].comm, 'B', sizeof(g[0].comm));
	r = run_procs(m, 1, m, 1, g, 1);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_lt(strlen(r.v[0].name), XCHECK_COMM_LEN);
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_oversized_view_is_rejected_with_e2big)
{
	struct xcheck_opts o;
	struct xcheck_result r;
	struct xcheck_proc p = P(1, 0, "x", 0);

	xcheck_opts_init(&o);
	ck_assert_int_eq(xcheck_procs(&o, &p, XCHECK_ITEMS_MAX + 1ul, &p, 1, &p, 1, &r),
			 -E2BIG);
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_many_hidden_processes_are_counted_past_the_store_cap)
{
	size_t n = XCHECK_FINDINGS_MAX + 100, i;
	struct xcheck_proc *m = calloc(n, sizeof(*m));
	struct xcheck_result r;

	for (i = 0; i < n; i++)
		m[i] = P((int)i + 2, 1, "p", 0);
	r = run_procs(m, n, m, n, NULL, 0);
	ck_assert_uint_eq(r.n, XCHECK_FINDINGS_MAX);
	ck_assert_uint_eq(r.total, n);
	xcheck_result_release(&r);
	free(m);
}
END_TEST

static struct xcheck_module M(const char *name, uint64_t size)
{
	struct xcheck_module m = { .size = size };

	snprintf(m.name, sizeof(m.name), "%s", name);
	return m;
}

START_TEST(test_module_missing_from_answer_is_hidden_and_invented_is_phantom)
{
	struct xcheck_module m[] = { M("virtio_console", 40960), M("rootkit", 8192) };
	struct xcheck_module g[] = { M("virtio_console", 40960), M("fake", 1) };
	struct xcheck_result r;

	ck_assert_int_eq(xcheck_modules(m, 2, m, 2, g, 2, &r), 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_int_eq(r.v[0].kind, XCHECK_PHANTOM);
	ck_assert_str_eq(r.v[0].name, "fake");
	ck_assert_int_eq(r.v[1].kind, XCHECK_HIDDEN);
	ck_assert_str_eq(r.v[1].name, "rootkit");
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_module_size_lie_is_mismatch)
{
	struct xcheck_module m[] = { M("ext4", 1000) };
	struct xcheck_module g[] = { M("ext4", 999) };
	struct xcheck_result r;

	ck_assert_int_eq(xcheck_modules(m, 1, m, 1, g, 1, &r), 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.v[0].kind, XCHECK_MISMATCH);
	ck_assert_str_eq(r.v[0].attr, "size");
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_file_hidden_only_for_pids_the_agent_answered)
{
	struct xcheck_file m[] = { { 10, 3, "/etc/shadow" }, { 20, 4, "/tmp/x" } };
	struct xcheck_file g[] = { { 20, 4, "/tmp/x" } };
	int32_t answered[] = { 20, 10 };
	struct xcheck_result r;

	ck_assert_int_eq(xcheck_files(m, 2, m, 2, g, 1, answered, 2, &r), 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.v[0].kind, XCHECK_HIDDEN);
	ck_assert_int_eq(r.v[0].pid, 10);
	ck_assert_int_eq(r.v[0].fd, 3);
	xcheck_result_release(&r);
	/* pid 10 not covered by the answer: no evidence, no finding */
	ck_assert_int_eq(xcheck_files(m, 2, m, 2, g, 1, answered, 1, &r), 0);
	ck_assert_uint_eq(r.total, 0);
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_file_path_lie_is_mismatch_and_reopen_is_not)
{
	struct xcheck_file m1[] = { { 10, 3, "/var/log/a" } };
	struct xcheck_file m2[] = { { 10, 3, "/var/log/b" } };
	struct xcheck_file g[] = { { 10, 3, "/dev/null" } };
	struct xcheck_result r;

	ck_assert_int_eq(xcheck_files(m1, 1, m1, 1, g, 1, NULL, 0, &r), 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.v[0].kind, XCHECK_MISMATCH);
	xcheck_result_release(&r);
	/* fd reopened between snapshots and the answer matches the second */
	ck_assert_int_eq(xcheck_files(m1, 1, m2, 1, m2, 1, NULL, 0, &r), 0);
	ck_assert_uint_eq(r.total, 0);
	xcheck_result_release(&r);
}
END_TEST

START_TEST(test_file_with_null_path_is_handled)
{
	struct xcheck_file m[] = { { 10, 3, NULL } };
	struct xcheck_file g[] = { { 10, 3, "" } };
	struct xcheck_result r;

	ck_assert_int_eq(xcheck_files(m, 1, m, 1, g, 1, NULL, 0, &r), 0);
	ck_assert_uint_eq(r.total, 0);
	xcheck_result_release(&r);
}
END_TEST

static Suite *xcheck_suite(void)
{
	Suite *s = suite_create("xcheck");
	TCase *p = tcase_create("processes"), *o = tcase_create("objects");

	tcase_add_test(p, test_identical_views_give_no_finding);
	tcase_add_test(p, test_process_in_both_snapshots_missing_from_answer_is_hidden);
	tcase_add_test(p, test_process_exiting_during_upcall_is_not_hidden);
	tcase_add_test(p, test_process_starting_during_upcall_is_not_phantom);
	tcase_add_test(p, test_answer_process_absent_from_memory_is_phantom);
	tcase_add_test(p, test_renamed_process_in_answer_is_comm_mismatch);
	tcase_add_test(p, test_comm_changed_between_snapshots_is_not_mismatch);
	tcase_add_test(p, test_pid_reused_with_new_start_time_is_phantom_not_mismatch);
	tcase_add_test(p, test_decorated_name_in_answer_is_comm_mismatch);
	tcase_add_test(p, test_short_lived_process_between_snapshots_is_not_phantom);
	tcase_add_test(p, test_duplicate_pids_in_answer_are_reported);
	tcase_add_test(p, test_unterminated_comm_in_input_is_bounded);
	tcase_add_test(p, test_oversized_view_is_rejected_with_e2big);
	tcase_add_test(p, test_many_hidden_processes_are_counted_past_the_store_cap);
	tcase_add_test(o, test_module_missing_from_answer_is_hidden_and_invented_is_phantom);
	tcase_add_test(o, test_module_size_lie_is_mismatch);
	tcase_add_test(o, test_file_hidden_only_for_pids_the_agent_answered);
	tcase_add_test(o, test_file_path_lie_is_mismatch_and_reopen_is_not);
	tcase_add_test(o, test_file_with_null_path_is_handled);
	suite_add_tcase(s, p);
	suite_add_tcase(s, o);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xcheck_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
