/*
 * check_lnx_task.c - processes from init_task.tasks, over synthetic kernels
 * built in memhv with a hand-filled profile: a normal list, and hostile
 * ones (cycles that avoid the head, pointers into unmapped memory,
 * unterminated comm, absurd pids, a chain of a million tasks). Each must
 * give a defined result with the right LNX_WALK_* flag. The pid IDR walk
 * is in check_lnx_task_idr.c (same fixture).
 */
#include "lnx_fake.h"
}

static const struct lnx_task *find_pid(const struct lnx_task_list *l, int32_t pid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].pid == pid)
			return &l->v[i];
	return NULL;
}


START_TEST(test_tasks_normal_list_reads_every_field)
{
	gva_t t[3], mm = kalloc(0x80), pgd = kalloc(4096 + 4096);
	struct lnx_task_list l;
	const struct lnx_task *sh;

	pgd = (pgd + 4095) & ~4095ull;
	t[0] = new_task(1, 1, init_task(), "init", 0);
	t[1] = new_task(2, 2, init_task(), "kthreadd", 0);
	put32(t[1] + T_FLAGS, 0x00200040);
	t[2] = new_task(100, 100, t[0], "sh", 1000);
	put32(last_cred + C_EUID, 0);	/* sh runs setuid root */
	put32(t[2] + T_EXIT, 16);
	put64(t[2] + T_START, 123456789);
	put64(t[2] + T_BOOT, 223456789);
	put64(t[2] + T_MM, mm);
	put64(mm + MM_PGD, pgd);
	link_list(t, 3);
	ck_assert_int_eq(lnx_tasks(v, &l), 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_uint_eq(l.flags, 0);
	ck_assert_int_eq(l.v[0].pid, 1);
	ck_assert_int_eq(l.v[0].ppid, 0);
	ck_assert(l.v[1].kthread);
	ck_assert_str_eq(l.v[1].comm, "kthreadd");
	sh = find_pid(&l, 100);
	ck_assert_ptr_nonnull(sh);
	ck_assert_uint_eq(sh->addr, t[2]);
	ck_assert_int_eq(sh->ppid, 1);
	ck_assert_uint_eq(sh->uid, 1000);
	ck_assert_uint_eq(sh->euid, 0);
	ck_assert_uint_eq(sh->gid, 1000);
	ck_assert_uint_eq(sh->start_time, 123456789);
	ck_assert_uint_eq(sh->start_boottime, 223456789);
	ck_assert_uint_eq(sh->mm, mm);
	ck_assert_uint_eq(sh->pgd, pgd - DMAP);
	ck_assert(sh->exiting);
	ck_assert(!sh->kthread);
	lnx_task_list_release(&l);
	ck_assert_ptr_null(l.v);
}
END_TEST

START_TEST(test_tasks_empty_list_is_empty_and_clean)
{
	struct lnx_task_list l;

	ck_assert_int_eq(lnx_tasks(v, &l), 0);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_uint_eq(l.flags, 0);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_tasks_cycle_avoiding_head_sets_cycle)
{
	gva_t t[3];
	struct lnx_task_list l;

	for (int i = 0; i < 3; i++)
		t[i] = new_task(10 + i, 10 + i, init_task(), "loop", 0);
	link_list(t, 3);
	put64(t[2] + T_TASKS, t[1] + T_TASKS);	/* t2 -> t1 */
	ck_assert_int_eq(lnx_tasks(v, &l), 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_uint_eq(l.flags, LNX_WALK_CYCLE);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_tasks_self_loop_sets_cycle)
{
	gva_t t = new_task(5, 5, init_task(), "self", 0);
	struct lnx_task_list l;

	link_list(&t, 1);
	put64(t + T_TASKS, t + T_TASKS);
	ck_assert_int_eq(lnx_tasks(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.flags, LNX_WALK_CYCLE);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_tasks_next_into_unmapped_memory_sets_fault)
{
	gva_t t[2];
	struct lnx_task_list l;

	t[0] = new_task(1, 1, init_task(), "a", 0);
	t[1] = new_task(2, 2, init_task(), "b", 0);
	link_list(t, 2);
	put64(t[1] + T_TASKS, 0xffffc90000001000ull);
	ck_assert_int_eq(lnx_tasks(v, &l), 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(l.flags, LNX_WALK_FAULT);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_tasks_null_or_user_next_stops_with_flag)
{
	gva_t t = new_task(1, 1, init_task(), "a", 0);
	struct lnx_task_list l;

	link_list(&t, 1);
	put64(t + T_TASKS, 0);
	ck_assert_int_eq(lnx_tasks(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.flags, LNX_WALK_FAULT);
	lnx_task_list_release(&l);
	put64(t + T_TASKS, 0x00007fff12345678ull);
	ck_assert_int_eq(lnx_tasks(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.flags, LNX_WALK_BAD);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_tasks_unterminated_comm_is_truncated_and_bad)
{
	gva_t t = new_task(7, 7, init_task(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 0);
	struct lnx_task_list l;

	link_list(&t, 1);
	ck_assert_int_eq(lnx_tasks(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.v[0].comm, "AAAAAAAAAAAAAAA");
	ck_assert_uint_eq(l.flags, LNX_WALK_BAD);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_tasks_absurd_pids_are_kept_and_bad)
{
	gva_t t[3];
	struct lnx_task_list l;

	t[0] = new_task(-5, -5, init_task(), "neg", 0);
	t[1] = new_task(99999999, 99999999, init_task(), "huge", 0);
	t[2] = new_task(3, 3, init_task(), "fine", 0);
	link_list(t, 3);
	ck_assert_int_eq(lnx_tasks(v, &l), 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_uint_eq(l.flags, LNX_WALK_BAD);
	ck_assert_ptr_nonnull(find_pid(&l, -5));
	ck_assert_ptr_nonnull(find_pid(&l, 99999999));
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_tasks_unreadable_cred_and_mm_keep_task_flag_bad)
{
	gva_t t[2];
	struct lnx_task_list l;

	t[0] = new_task(1, 1, init_task(), "a", 0);
	put64(t[0] + T_RCRED, 0xffffc90000002000ull);
	t[1] = new_task(2, 2, init_task(), "b", 0);
	put64(t[1] + T_MM, 0xffffc90000003000ull);
	link_list(t, 2);
	ck_assert_int_eq(lnx_tasks(v, &l), 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(l.flags, LNX_WALK_BAD);
	ck_assert_uint_eq(l.v[1].pgd, 0);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_tasks_million_node_chain_stops_at_cap)
{
	enum { N = 1000000 };
	uint64_t ram = 512 * MIB;
	uint8_t blk[T_SIZE];
	struct lnx_task_list l;
	gva_t cred, first = 0;
	int err = 0;

	teardown();
	ck_assert_int_eq(memhv_new("big", ram, 1, &hv), 0);
	boot(hv, 128 * MIB);	/* tasks live in [64, 320) MiB: map all of it */
	for (uint64_t pa = 128 * MIB; pa < 384 * MIB; pa += 2 * MIB)
		ck_assert_int_eq(memhv_map(hv, vmi_kernel_pgd(v), 4, DMAP + pa, pa,
					   2 * MIB), 0);
	cred = kalloc(0x40);
	for (int i = 0; i < N; i++) {
		gva_t t = DMAP + heap + (uint64_t)i * T_SIZE;
		uint64_t next = i + 1 < N ? t + T_SIZE + T_TASKS : init_task() + T_TASKS;
		int32_t pid = 1000 + i;
		uint64_t parent = init_task();

		memset(blk, 0, sizeof(blk));
		memcpy(blk + T_TASKS, &next, 8);
		memcpy(blk + T_PID, &pid, 4);
		memcpy(blk + T_TGID, &pid, 4);
		memcpy(blk + T_PARENT, &parent, 8);
		memcpy(blk + T_RCRED, &cred, 8);
		memcpy(blk + T_COMM, "chain", 6);
		err |= memhv_write(hv, pa_of(t), blk, sizeof(blk));	/* no per-node
						 * assert: each one is a pipe write */
		if (!first)
			first = t;
	}
	ck_assert_int_eq(err, 0);
	put32(init_task() + T_PID, 0);
	put64(init_task() + T_TASKS, first + T_TASKS);
	ck_assert_int_eq(lnx_tasks(v, &l), 0);
	ck_assert_uint_eq(l.n, LNX_TASKS_MAX);
	ck_assert_uint_eq(l.flags, LNX_WALK_CAP);
	ck_assert_int_eq(l.v[LNX_TASKS_MAX - 1].pid, 1000 + (int)LNX_TASKS_MAX - 1);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_tasks_profile_without_fields_is_eopnotsupp)
{
	struct lnx_task_list l;

	prof.off[PF_TASK_COMM] = PROFILE_NOFIELD;
	ck_assert_int_eq(lnx_tasks(v, &l), -EOPNOTSUPP);
	ck_assert_uint_eq(l.n, 0);
	fake_profile(&prof);
	prof.known[PSYM_INIT_TASK] = 0;
	ck_assert_int_eq(lnx_tasks(v, &l), -ENOENT);
	fake_profile(&prof);
	prof.known[PSYM_INIT_TASK] = INIT_TASK_VA + 32 * MIB;	/* unmapped */
	ck_assert_int_eq(lnx_tasks(v, &l), -EFAULT);
}
END_TEST

/* Members spread over 0x1600 bytes: more runs than the reader keeps apart. */
START_TEST(test_tasks_with_spread_members_read_right)
{
	static const enum profile_field f[] = {
		PF_TASK_FLAGS, PF_TASK_EXIT_STATE, PF_TASK_TASKS, PF_TASK_PID,
		PF_TASK_TGID, PF_TASK_REAL_PARENT, PF_TASK_REAL_CRED, PF_TASK_MM,
		PF_TASK_START_TIME, PF_TASK_START_BOOTTIME, PF_TASK_COMM,
	};
	gva_t t = kalloc(0x1800), cred = kalloc(0x40), head = init_task();
	struct lnx_task_list l;

	for (unsigned int i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		prof.off[f[i]] = (int32_t)(0x1500 - i * 0x200 + (i & 1) * 8);
	head += (uint64_t)prof.off[PF_TASK_TASKS];
	put64(head, t + (uint64_t)prof.off[PF_TASK_TASKS]);
	put64(t + (uint64_t)prof.off[PF_TASK_TASKS], head);
	put32(t + (uint64_t)prof.off[PF_TASK_PID], 77);
	put32(t + (uint64_t)prof.off[PF_TASK_TGID], 77);
	put32(t + (uint64_t)prof.off[PF_TASK_FLAGS], 0x00200000);
	put32(t + (uint64_t)prof.off[PF_TASK_EXIT_STATE], 32);
	put64(t + (uint64_t)prof.off[PF_TASK_REAL_PARENT], init_task());
	put64(t + (uint64_t)prof.off[PF_TASK_REAL_CRED], cred);
	put64(t + (uint64_t)prof.off[PF_TASK_START_TIME], 5);
	put64(t + (uint64_t)prof.off[PF_TASK_START_BOOTTIME], 6);
	put(t + (uint64_t)prof.off[PF_TASK_COMM], "spread", 7);
	put32(cred + C_UID, 11);
	put32(cred + C_EUID, 12);
	put32(cred + C_GID, 13);
	ck_assert_int_eq(lnx_tasks(v, &l), 0);
	ck_assert_uint_eq(l.flags, 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_int_eq(l.v[0].pid, 77);
	ck_assert_int_eq(l.v[0].tgid, 77);
	ck_assert(l.v[0].kthread);
	ck_assert(l.v[0].exiting);
	ck_assert_uint_eq(l.v[0].start_time, 5);
	ck_assert_uint_eq(l.v[0].start_boottime, 6);
	ck_assert_str_eq(l.v[0].comm, "spread");
	ck_assert_uint_eq(l.v[0].uid + l.v[0].euid * 100 + l.v[0].gid * 10000, 131211);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_task_read_one_and_unmapped)
{
	gva_t t = new_task(42, 42, init_task(), "one", 7);
	struct lnx_task task;

	ck_assert_int_eq(lnx_task_read(v, t, &task), 0);
	ck_assert_int_eq(task.pid, 42);
	ck_assert_uint_eq(task.uid, 7);
	ck_assert_str_eq(task.comm, "one");
	ck_assert_int_eq(lnx_task_read(v, 0xffffc90000000000ull, &task), -EFAULT);
}
END_TEST


static Suite *lnx_task_suite(void)
{
	Suite *s = suite_create("lnx_task");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_tasks_normal_list_reads_every_field);
	tcase_add_test(tc, test_tasks_empty_list_is_empty_and_clean);
	tcase_add_test(tc, test_tasks_cycle_avoiding_head_sets_cycle);
	tcase_add_test(tc, test_tasks_self_loop_sets_cycle);
	tcase_add_test(tc, test_tasks_next_into_unmapped_memory_sets_fault);
	tcase_add_test(tc, test_tasks_null_or_user_next_stops_with_flag);
	tcase_add_test(tc, test_tasks_unterminated_comm_is_truncated_and_bad);
	tcase_add_test(tc, test_tasks_absurd_pids_are_kept_and_bad);
	tcase_add_test(tc, test_tasks_unreadable_cred_and_mm_keep_task_flag_bad);
	tcase_add_test(tc, test_tasks_million_node_chain_stops_at_cap);
	tcase_add_test(tc, test_tasks_profile_without_fields_is_eopnotsupp);
	tcase_add_test(tc, test_tasks_with_spread_members_read_right);
	tcase_add_test(tc, test_task_read_one_and_unmapped);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lnx_task_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
