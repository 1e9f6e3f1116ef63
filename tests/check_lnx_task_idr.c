/*
 * check_lnx_task_idr.c - processes from the pid IDR of init_pid_ns (an
 * xarray), over synthetic kernels built in memhv with a hand-filled
 * profile: a normal tree, and hostile ones (nodes that loop, are shared,
 * lie about their shift, or are unmapped; pids that disagree with their
 * task). The fixture is the one of check_lnx_task.c.
 */
#include "lnx_fake.h"
}

/* A two-level xarray (root shift 6, leaves shift 0): indexes below 4096. */
static gva_t xa_root, xa_leaf[64];

static gva_t new_node(uint8_t shift)
{
	gva_t n = kalloc(XN_SLOTS + 64 * 8);

	put(n + XN_SHIFT, &shift, 1);
	return n;
}

static void idr_init(void)
{
	xa_root = new_node(6);
	memset(xa_leaf, 0, sizeof(xa_leaf));
	put64(INIT_PID_NS_VA + VSLIDE + NS_IDR + XA_HEAD, xa_root | 2);
}

static void idr_set(uint32_t index, uint64_t entry)
{
	unsigned int hi = index >> 6, lo = index & 63;

	if (!xa_leaf[hi]) {
		xa_leaf[hi] = new_node(0);
		put64(xa_root + XN_SLOTS + hi * 8, xa_leaf[hi] | 2);
	}
	put64(xa_leaf[hi] + XN_SLOTS + lo * 8, entry);
}

static gva_t new_pid(int32_t nr, gva_t task)
{
	gva_t p = kalloc(0x40);

	put32(p + PID_NUMBERS, (uint32_t)nr);
	put64(p + PID_TASKS, task ? task + T_PIDLINKS : 0);
	return p;
}

static gva_t add_proc(int32_t pid, int32_t tgid, const char *comm)
{
	gva_t t = new_task(pid, tgid, init_task(), comm, 0);

	idr_set((uint32_t)pid, new_pid(pid, t));
	return t;
}

START_TEST(test_idr_lists_leaders_skips_threads_and_taskless_pids)
{
	struct lnx_task_list l;

	idr_init();
	add_proc(1, 1, "init");
	add_proc(2, 2, "kthreadd");
	add_proc(100, 100, "daemon");
	add_proc(101, 100, "worker");	/* a thread of 100 */
	add_proc(4000, 4000, "late");
	idr_set(70, new_pid(70, 0));		/* a session id with no task */
	idr_set(71, 0x406);			/* XA_ZERO_ENTRY */
	idr_set(72, (5u << 1) | 1);		/* a value entry */
	ck_assert_int_eq(lnx_tasks_idr(v, &l), 0);
	ck_assert_uint_eq(l.flags, 0);
	ck_assert_uint_eq(l.n, 4);
	ck_assert_int_eq(l.v[0].pid, 1);
	ck_assert_int_eq(l.v[1].pid, 2);
	ck_assert_int_eq(l.v[2].pid, 100);
	ck_assert_str_eq(l.v[2].comm, "daemon");
	ck_assert_int_eq(l.v[3].pid, 4000);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_idr_and_task_list_agree)
{
	gva_t t[50];
	struct lnx_task_list a, b;

	idr_init();
	for (int i = 0; i < 50; i++)
		t[i] = add_proc(300 + i * 37, 300 + i * 37, "p");
	link_list(t, 50);
	ck_assert_int_eq(lnx_tasks(v, &a), 0);
	ck_assert_int_eq(lnx_tasks_idr(v, &b), 0);
	ck_assert_uint_eq(a.n, 50);
	ck_assert_uint_eq(b.n, 50);
	for (size_t i = 0; i < 50; i++)
		ck_assert_uint_eq(a.v[i].addr, b.v[i].addr);
	ck_assert_uint_eq(a.flags | b.flags, 0);
	lnx_task_list_release(&a);
	lnx_task_list_release(&b);
}
END_TEST

START_TEST(test_idr_node_pointing_at_root_sets_cycle)
{
	struct lnx_task_list l;

	idr_init();
	add_proc(1, 1, "init");
	put64(xa_root + XN_SLOTS + 5 * 8, xa_root | 2);
	ck_assert_int_eq(lnx_tasks_idr(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.flags, LNX_WALK_CYCLE);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_idr_shared_node_is_walked_once)
{
	struct lnx_task_list l;

	idr_init();
	add_proc(1, 1, "init");
	for (int i = 1; i < 64; i++)	/* every slot the same child */
		put64(xa_root + XN_SLOTS + i * 8ull, xa_leaf[0] | 2);
	ck_assert_int_eq(lnx_tasks_idr(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.flags, LNX_WALK_CYCLE);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_idr_node_with_wrong_shift_sets_bad)
{
	struct lnx_task_list l;
	uint8_t shift = 12;

	idr_init();
	add_proc(1, 1, "init");
	add_proc(200, 200, "lost");
	put(xa_leaf[200 >> 6] + XN_SHIFT, &shift, 1);
	ck_assert_int_eq(lnx_tasks_idr(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.flags, LNX_WALK_BAD);
	lnx_task_list_release(&l);
	shift = 63;	/* not a multiple of 6 at the root */
	put(xa_root + XN_SHIFT, &shift, 1);
	ck_assert_int_eq(lnx_tasks_idr(v, &l), 0);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_uint_eq(l.flags, LNX_WALK_BAD);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_idr_leaf_entry_above_last_level_sets_bad)
{
	struct lnx_task_list l;

	idr_init();
	add_proc(1, 1, "init");
	put64(xa_root + XN_SLOTS + 9 * 8, new_pid(9, new_task(9, 9, init_task(), "x", 0)));
	ck_assert_int_eq(lnx_tasks_idr(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.flags, LNX_WALK_BAD);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_idr_unmapped_node_and_pid_set_fault)
{
	struct lnx_task_list l;

	idr_init();
	add_proc(1, 1, "init");
	put64(xa_root + XN_SLOTS + 7 * 8, 0xffffc90000000000ull | 2);
	idr_set(2, 0xffffc90000004000ull);	/* struct pid unmapped */
	ck_assert_int_eq(lnx_tasks_idr(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.flags, LNX_WALK_FAULT);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_idr_deepest_legal_chain_is_walked)
{
	struct lnx_task_list l;
	gva_t parent = 0, head = 0;

	for (int shift = 60; shift >= 0; shift -= 6) {
		gva_t n = new_node((uint8_t)shift);

		if (parent)
			put64(parent + XN_SLOTS, n | 2);
		else
			head = n;
		parent = n;
	}
	put64(parent + XN_SLOTS + 8, new_pid(1, new_task(1, 1, init_task(), "deep", 0)));
	put64(INIT_PID_NS_VA + VSLIDE + NS_IDR + XA_HEAD, head | 2);
	ck_assert_int_eq(lnx_tasks_idr(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.flags, 0);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_idr_pid_number_mismatch_sets_bad)
{
	struct lnx_task_list l;
	gva_t t = new_task(10, 10, init_task(), "liar", 0);

	idr_init();
	idr_set(10, new_pid(11, t));
	ck_assert_int_eq(lnx_tasks_idr(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.flags, LNX_WALK_BAD);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_idr_task_under_two_pids_listed_once)
{
	struct lnx_task_list l;
	gva_t t = new_task(10, 10, init_task(), "twice", 0);

	idr_init();
	idr_set(10, new_pid(10, t));
	idr_set(11, new_pid(10, t));
	ck_assert_int_eq(lnx_tasks_idr(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert(l.flags & LNX_WALK_CYCLE);
	lnx_task_list_release(&l);
}
END_TEST

START_TEST(test_idr_lone_head_entry_and_empty_tree)
{
	struct lnx_task_list l;
	gva_t head = INIT_PID_NS_VA + VSLIDE + NS_IDR + XA_HEAD;

	put64(head, 0);
	ck_assert_int_eq(lnx_tasks_idr(v, &l), 0);
	ck_assert_uint_eq(l.n + l.flags, 0);
	put64(head, new_pid(0, new_task(0, 0, init_task(), "zero", 0)));
	ck_assert_int_eq(lnx_tasks_idr(v, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.flags, 0);
	lnx_task_list_release(&l);
	prof.off[PF_XA_NODE_SLOTS] = PROFILE_NOFIELD;
	ck_assert_int_eq(lnx_tasks_idr(v, &l), -EOPNOTSUPP);
}
END_TEST


static Suite *lnx_task_idr_suite(void)
{
	Suite *s = suite_create("lnx_task_idr");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_idr_lists_leaders_skips_threads_and_taskless_pids);
	tcase_add_test(tc, test_idr_and_task_list_agree);
	tcase_add_test(tc, test_idr_node_pointing_at_root_sets_cycle);
	tcase_add_test(tc, test_idr_shared_node_is_walked_once);
	tcase_add_test(tc, test_idr_node_with_wrong_shift_sets_bad);
	tcase_add_test(tc, test_idr_leaf_entry_above_last_level_sets_bad);
	tcase_add_test(tc, test_idr_unmapped_node_and_pid_set_fault);
	tcase_add_test(tc, test_idr_deepest_legal_chain_is_walked);
	tcase_add_test(tc, test_idr_pid_number_mismatch_sets_bad);
	tcase_add_test(tc, test_idr_task_under_two_pids_listed_once);
	tcase_add_test(tc, test_idr_lone_head_entry_and_empty_tree);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lnx_task_idr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
