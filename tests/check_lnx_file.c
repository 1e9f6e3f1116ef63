/*
 * check_lnx_file.c - lnx_files() over fd tables built in memhv guest memory
 * with a hand-filled profile (tests/lnx_file_fake.h): a normal table
 * (paths across three mounts, socket, pipe, anon inode, the root
 * directory, deleted files, memfd) and hostile tables (absurd max_fds,
 * unmapped, misaligned or wild pointers, unreadable inodes). Each must give
 * a defined result. Path walks are in check_lnx_file_path.c.
 */
#include "lnx_file_fake.h"

START_TEST(test_normal_table_names_files_as_readlink_does)
{
	gva_t fds[] = { w.null_file, w.passwd_file, 0, w.sock_file, w.pipe_file,
			w.anon_file, w.tty_file, w.rootdir_file };

	ck_assert_int_eq(files_of(new_task(fds, 8, 64)), 0);
	ck_assert_uint_eq(fl.flags, 0);
	ck_assert_int_eq(fl.pid, 42);
	ck_assert_uint_eq(fl.n, 7);
	ck_assert_int_eq(fl.v[0].fd, 0);
	ck_assert_str_eq(fl.v[0].path, "/dev/null");
	ck_assert_int_eq(fl.v[1].fd, 1);
	ck_assert_str_eq(fl.v[1].path, "/etc/passwd");
	ck_assert_int_eq(fl.v[1].kind, LNX_FILE_REG);
	ck_assert_uint_eq(fl.v[1].ino, 4242);
	ck_assert_uint_eq(fl.v[1].mode, 0100644);
	ck_assert_int_eq(fl.v[2].fd, 3);
	ck_assert_str_eq(fl.v[2].path, "socket:[12345]");
	ck_assert_int_eq(fl.v[2].kind, LNX_FILE_SOCKET);
	ck_assert_str_eq(fl.v[3].path, "pipe:[777]");
	ck_assert_int_eq(fl.v[3].kind, LNX_FILE_PIPE);
	ck_assert_str_eq(fl.v[4].path, "anon_inode:[eventfd]");
	ck_assert_int_eq(fl.v[4].kind, LNX_FILE_ANON);
	ck_assert_str_eq(fl.v[5].path, "/dev/pts/0");
	ck_assert_str_eq(fl.v[6].path, "/");
	for (size_t i = 0; i < fl.n; i++)
		ck_assert(!fl.v[i].path_truncated);
}
END_TEST

START_TEST(test_unlinked_file_gets_deleted_suffix)
{
	gva_t d = new_dentry("gone", w.etc);

	w64(d + D_HASH_PPREV, 0);
	ck_assert_int_eq(files_of(task_with_dentry(d)), 0);
	ck_assert_uint_eq(fl.flags, 0);
	ck_assert_str_eq(fl.v[0].path, "/etc/gone (deleted)");
}
END_TEST

START_TEST(test_profile_without_d_hash_gives_no_suffix)
{
	gva_t d = new_dentry("gone", w.etc);

	w64(d + D_HASH_PPREV, 0);
	prof.off[PF_DENTRY_HASH_PPREV] = PROFILE_NOFIELD;
	ck_assert_int_eq(files_of(task_with_dentry(d)), 0);
	ck_assert_str_eq(fl.v[0].path, "/etc/gone");
}
END_TEST

START_TEST(test_memfd_is_named_like_simple_dname)
{
	gva_t sb = new_sb(TMPFS_MAGIC), shm_root = new_dentry("/", 0);
	gva_t shm_mnt = new_mount(shm_root, 0, 0);
	gva_t tmp = new_dentry("tmp", w.root), tmp_root = new_dentry("/", 0);
	gva_t tmp_mnt = new_mount(tmp_root, w.root_mnt, tmp);
	gva_t fds[2];

	fds[0] = new_file(new_dentry("memfd:payload", 0), shm_mnt,
			  new_inode(0100777, 9, sb));
	fds[1] = new_file(tmp_root, tmp_mnt, new_inode(041777, 1, sb));
	ck_assert_int_eq(files_of(new_task(fds, 2, 64)), 0);
	ck_assert_uint_eq(fl.flags, 0);
	ck_assert_uint_eq(fl.n, 2);
	ck_assert_str_eq(fl.v[0].path, "/memfd:payload (deleted)");
	ck_assert_int_eq(fl.v[0].kind, LNX_FILE_REG);
	ck_assert_str_eq(fl.v[1].path, "/tmp");
}
END_TEST

START_TEST(test_task_without_files_gives_empty_list)
{
	gva_t t = alloc_obj(T_SIZEOF);

	ck_assert_int_eq(files_of(t), 0);
	ck_assert_uint_eq(fl.n, 0);
	ck_assert_uint_eq(fl.flags, 0);
}
END_TEST

START_TEST(test_unreadable_task_gives_empty_list_with_fault)
{
	ck_assert_int_eq(files_of(UNMAPPED), 0);
	ck_assert_uint_eq(fl.n, 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
}
END_TEST

START_TEST(test_huge_max_fds_is_capped_and_flagged)
{
	gva_t fds[] = { w.passwd_file, 0, w.null_file };
	gva_t arr = alloc_obj(LNX_FDS_MAX * 8);	/* all of it readable */
	gva_t t = new_task_at(arr, fds, 3, 1u << 31);

	w64(arr + (LNX_FDS_MAX - 1) * 8ull, w.sock_file);
	ck_assert_int_eq(files_of(t), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CAP);
	ck_assert_uint_eq(fl.n, 3);
	ck_assert_int_eq(fl.v[2].fd, (int32_t)LNX_FDS_MAX - 1);
}
END_TEST

START_TEST(test_huge_max_fds_over_short_array_stops_at_fault)
{
	gva_t fds[] = { w.passwd_file };
	gva_t arr = DMAP + DMAP_LEN - 4096;	/* last mapped page */
	gva_t t = new_task_at(arr, fds, 1, 0xffffffffu);

	ck_assert_int_eq(files_of(t), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CAP | LNX_WALK_FAULT);
	ck_assert_uint_eq(fl.n, 1);
}
END_TEST

START_TEST(test_unmapped_fd_array_gives_fault_and_no_files)
{
	ck_assert_int_eq(files_of(new_task_at(UNMAPPED, NULL, 0, 64)), 0);
	ck_assert_uint_eq(fl.n, 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
}
END_TEST

START_TEST(test_misaligned_fd_array_gives_fault_and_no_files)
{
	gva_t fds[] = { w.passwd_file };

	ck_assert_int_eq(files_of(new_task_at(alloc_obj(64) + 4, fds, 1, 64)), 0);
	ck_assert_uint_eq(fl.n, 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
}
END_TEST

START_TEST(test_wild_file_pointers_are_skipped_with_fault)
{
	gva_t fds[] = { w.passwd_file, UNMAPPED, 0x4141414141414141ull,
			w.passwd_file + 4, w.null_file };

	ck_assert_int_eq(files_of(new_task(fds, 5, 64)), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
	ck_assert_uint_eq(fl.n, 2);
	ck_assert_int_eq(fl.v[0].fd, 0);
	ck_assert_int_eq(fl.v[1].fd, 4);
	ck_assert_str_eq(fl.v[1].path, "/dev/null");
}
END_TEST

START_TEST(test_unreadable_inode_keeps_path_as_other)
{
	gva_t f = new_file(w.passwd, w.root_mnt, UNMAPPED);

	ck_assert_int_eq(files_of(new_task(&f, 1, 64)), 0);
	ck_assert_uint_eq(fl.n, 1);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
	ck_assert_int_eq(fl.v[0].kind, LNX_FILE_OTHER);
	ck_assert_str_eq(fl.v[0].path, "/etc/passwd");
}
END_TEST

static Suite *lnx_file_suite(void)
{
	Suite *s = suite_create("lnx_file");
	TCase *tc = tcase_create("files");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_normal_table_names_files_as_readlink_does);
	tcase_add_test(tc, test_unlinked_file_gets_deleted_suffix);
	tcase_add_test(tc, test_profile_without_d_hash_gives_no_suffix);
	tcase_add_test(tc, test_memfd_is_named_like_simple_dname);
	tcase_add_test(tc, test_task_without_files_gives_empty_list);
	tcase_add_test(tc, test_unreadable_task_gives_empty_list_with_fault);
	tcase_add_test(tc, test_huge_max_fds_is_capped_and_flagged);
	tcase_add_test(tc, test_huge_max_fds_over_short_array_stops_at_fault);
	tcase_add_test(tc, test_unmapped_fd_array_gives_fault_and_no_files);
	tcase_add_test(tc, test_misaligned_fd_array_gives_fault_and_no_files);
	tcase_add_test(tc, test_wild_file_pointers_are_skipped_with_fault);
	tcase_add_test(tc, test_unreadable_inode_keeps_path_as_other);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lnx_file_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
