/*
 * check_lnx_file_path.c - the path half of lnx_files(): dentry and mount
 * chains in memhv guest memory (tests/lnx_file_fake.h) that are cyclic,
 * exactly at or far past the depth cap, over the walk budget, with very
 * long, absurd, unmapped or NUL-holding names, or with a missing profile
 * field. Each must give a defined result.
 */
#include "lnx_file_fake.h"

START_TEST(test_dentry_parent_cycle_stops_with_cycle_flag)
{
	gva_t a = new_dentry("a", w.root), b = new_dentry("b", a);

	w64(a + D_PARENT, b);	/* a <-> b, never reaching the root */
	ck_assert_int_eq(files_of(task_with_dentry(b)), 0);
	ck_assert_uint_eq(fl.n, 1);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CYCLE);
	ck_assert(fl.v[0].path_truncated);
	ck_assert_uint_le(strlen(fl.v[0].path), LNX_PATH_DEPTH * 2);
}
END_TEST

/* A chain of n dentries named "d" under the root; returns the deepest. */
static gva_t chain(size_t n, const char *name)
{
	gva_t d = w.root;

	for (size_t i = 0; i < n; i++)
		d = new_dentry(name, d);
	return d;
}

START_TEST(test_chain_of_exactly_depth_cap_is_complete)
{
	ck_assert_int_eq(files_of(task_with_dentry(chain(LNX_PATH_DEPTH, "d"))), 0);
	ck_assert_uint_eq(fl.flags, 0);
	ck_assert(!fl.v[0].path_truncated);
	ck_assert_uint_eq(strlen(fl.v[0].path), LNX_PATH_DEPTH * 2);
}
END_TEST

START_TEST(test_very_deep_chain_is_cut_at_depth_cap)
{
	ck_assert_int_eq(files_of(task_with_dentry(chain(1000, "d"))), 0);
	ck_assert_uint_eq(fl.n, 1);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CAP);
	ck_assert(fl.v[0].path_truncated);
	ck_assert_uint_eq(strlen(fl.v[0].path), LNX_PATH_DEPTH * 2);
	ck_assert_uint_eq(strspn(fl.v[0].path, "/d"), LNX_PATH_DEPTH * 2);
}
END_TEST

START_TEST(test_walk_budget_keeps_listing_files_with_empty_paths)
{
	gva_t f = new_file(chain(LNX_PATH_DEPTH, "d"), w.root_mnt, w.reg_inode);
	gva_t arr = alloc_obj(LNX_FDS_MAX * 8);
	gva_t t = new_task_at(arr, NULL, 0, LNX_FDS_MAX);

	for (size_t i = 0; i < LNX_FDS_MAX; i++)
		w64(arr + i * 8, i == LNX_FDS_MAX - 1 ? w.sock_file : f);
	ck_assert_int_eq(files_of(t), 0);
	ck_assert_uint_eq(fl.n, LNX_FDS_MAX);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CAP);
	ck_assert(!fl.v[0].path_truncated);
	ck_assert_uint_eq(strlen(fl.v[0].path), LNX_PATH_DEPTH * 2);
	ck_assert(fl.v[LNX_FDS_MAX - 2].path_truncated);
	ck_assert_str_eq(fl.v[LNX_FDS_MAX - 2].path, "");
	ck_assert_uint_eq(fl.v[LNX_FDS_MAX - 2].ino, 4242);
	/* Names that need no walk are still given. */
	ck_assert_str_eq(fl.v[LNX_FDS_MAX - 1].path, "socket:[12345]");
}
END_TEST

START_TEST(test_long_names_within_limit_are_complete)
{
	char name[301], want[1024] = "";

	memset(name, 'n', 300);
	name[300] = '\0';
	ck_assert_int_eq(files_of(task_with_dentry(chain(3, name))), 0);
	for (int i = 0; i < 3; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "/%s", name);
	ck_assert_uint_eq(fl.flags, 0);
	ck_assert_str_eq(fl.v[0].path, want);
}
END_TEST

START_TEST(test_path_longer_than_cap_keeps_tail_and_is_truncated)
{
	char name[256];

	memset(name, 'x', 255);
	name[255] = '\0';
	ck_assert_int_eq(files_of(task_with_dentry(chain(20, name))), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CAP);
	ck_assert(fl.v[0].path_truncated);
	ck_assert_uint_lt(strlen(fl.v[0].path), LNX_PATH_MAX);
	ck_assert_uint_eq(strlen(fl.v[0].path) % 256, 0);	/* whole components */
}
END_TEST

START_TEST(test_absurd_name_length_is_cut_not_read)
{
	gva_t d = new_dentry_raw(DMAP + OBJ_PA, 0xffffffffu, w.root);

	ck_assert_int_eq(files_of(task_with_dentry(d)), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CAP);
	ck_assert(fl.v[0].path_truncated);
	ck_assert_str_eq(fl.v[0].path, "");
}
END_TEST

START_TEST(test_unmapped_name_gives_fault_and_truncated_path)
{
	gva_t d = new_dentry_raw(UNMAPPED, 5, w.etc);

	ck_assert_int_eq(files_of(task_with_dentry(d)), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
	ck_assert(fl.v[0].path_truncated);
}
END_TEST

START_TEST(test_name_with_nul_inside_stops_at_nul)
{
	gva_t n = alloc_obj(16), d;

	wbuf(n, "ab\0cdefgh", 10);
	d = new_dentry_raw(n, 9, w.etc);
	ck_assert_int_eq(files_of(task_with_dentry(d)), 0);
	ck_assert_uint_eq(fl.flags, 0);
	ck_assert_str_eq(fl.v[0].path, "/etc/ab");
}
END_TEST

START_TEST(test_mount_cycle_stops_with_cycle_flag)
{
	gva_t r1 = new_dentry("/", 0), r2 = new_dentry("/", 0);
	gva_t m1 = new_mount(r1, 0, 0), m2 = new_mount(r2, m1, r1);
	gva_t x = new_dentry("x", r1), f;

	w64(m1 - MNT_MNT + MNT_PARENT, m2 - MNT_MNT);	/* m1 on m2 on m1 */
	w64(m1 - MNT_MNT + MNT_MOUNTPOINT, r2);
	f = new_file(x, m1, w.reg_inode);
	ck_assert_int_eq(files_of(new_task(&f, 1, 64)), 0);
	ck_assert_uint_eq(fl.n, 1);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CYCLE);
	ck_assert(fl.v[0].path_truncated);
	ck_assert_str_eq(fl.v[0].path, "/x");
}
END_TEST

START_TEST(test_unmapped_mount_parent_gives_fault)
{
	gva_t f = new_file(w.null, w.dev_mnt, w.reg_inode);

	w64(w.dev_mnt - MNT_MNT + MNT_PARENT, UNMAPPED);
	ck_assert_int_eq(files_of(new_task(&f, 1, 64)), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
	ck_assert(fl.v[0].path_truncated);
	ck_assert_str_eq(fl.v[0].path, "/null");
}
END_TEST

START_TEST(test_profile_missing_a_field_is_refused)
{
	gva_t fds[] = { w.passwd_file };

	prof.off[PF_MOUNT_MNT] = PROFILE_NOFIELD;
	ck_assert_int_eq(files_of(new_task(fds, 1, 64)), -EOPNOTSUPP);
	ck_assert_uint_eq(fl.n, 0);
}
END_TEST

START_TEST(test_kind_strings_are_distinct_and_total)
{
	ck_assert_str_eq(lnx_file_kind_str(LNX_FILE_SOCKET), "socket");
	ck_assert_str_eq(lnx_file_kind_str(LNX_FILE_PIPE), "pipe");
	ck_assert_str_eq(lnx_file_kind_str(LNX_FILE_ANON), "anon_inode");
	ck_assert_str_ne(lnx_file_kind_str(LNX_FILE_REG),
			 lnx_file_kind_str(LNX_FILE_OTHER));
	ck_assert_str_eq(lnx_file_kind_str((enum lnx_file_kind)99), "unknown");
}
END_TEST

static Suite *lnx_file_path_suite(void)
{
	Suite *s = suite_create("lnx_file_path");
	TCase *tc = tcase_create("files");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_dentry_parent_cycle_stops_with_cycle_flag);
	tcase_add_test(tc, test_chain_of_exactly_depth_cap_is_complete);
	tcase_add_test(tc, test_very_deep_chain_is_cut_at_depth_cap);
	tcase_add_test(tc, test_walk_budget_keeps_listing_files_with_empty_paths);
	tcase_add_test(tc, test_long_names_within_limit_are_complete);
	tcase_add_test(tc, test_path_longer_than_cap_keeps_tail_and_is_truncated);
	tcase_add_test(tc, test_absurd_name_length_is_cut_not_read);
	tcase_add_test(tc, test_unmapped_name_gives_fault_and_truncated_path);
	tcase_add_test(tc, test_name_with_nul_inside_stops_at_nul);
	tcase_add_test(tc, test_mount_cycle_stops_with_cycle_flag);
	tcase_add_test(tc, test_unmapped_mount_parent_gives_fault);
	tcase_add_test(tc, test_profile_missing_a_field_is_refused);
	tcase_add_test(tc, test_kind_strings_are_distinct_and_total);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lnx_file_path_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
