/*
 * check_lnx_task_idr.c - processes from the pid IDR of init_pid_ns (an
 * xarray), over synthetic kernels built in memhv with a hand-filled
 * profile: a normal tree, and hostile ones (nodes that loop, are shared,
 * lie about their shift, or are unmapped; pids that disagree with their
 * task). The fixture is the one of check_lnx_task.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lnx.h"
#include "memhv.h"

#define RAM (256ull << 20)
#define MIB (1ull << 20)
#define DMAP 0xffff888000000000ull
#define TEXT_VA 0xffffffff81000000ull
#define TEXT_PA 0x1000000ull
#define VSLIDE 0x6000000ull
#define INIT_TASK_VA (TEXT_VA + 0x400000)
#define INIT_PID_NS_VA (TEXT_VA + 0x410000)
#define HEAP_PA (64ull << 20)

/* the fake kernel's layout */
enum {
	T_FLAGS = 0x10, T_EXIT = 0x18, T_TASKS = 0x40, T_PID = 0x60, T_TGID = 0x64,
	T_PARENT = 0x68, T_RCRED = 0x70, T_CRED = 0x78, T_MM = 0x80,
	T_START = 0x90, T_BOOT = 0x98, T_COMM = 0xa0, T_PIDLINKS = 0xd0,
	T_SIZE = 0x100, C_UID = 4, C_GID = 8, C_EUID = 0x14, MM_PGD = 0x48,
	NS_IDR = 0x10, XA_HEAD = 8, XN_SHIFT = 0, XN_SLOTS = 0x28,
	PID_TASKS = 0x10, PID_NUMBERS = 0x30,
};

static struct hv *hv;
static struct vmi *v;
static struct profile prof;
static gpa_t heap;
static gva_t last_cred;	/* the cred new_task() made last */

static void fake_profile(struct profile *p)
{
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < PF_COUNT; i++)
		p->off[i] = PROFILE_NOFIELD;
	p->off[PF_TASK_FLAGS] = T_FLAGS;
	p->off[PF_TASK_EXIT_STATE] = T_EXIT;
	p->off[PF_TASK_TASKS] = T_TASKS;
	p->off[PF_TASK_PID] = T_PID;
	p->off[PF_TASK_TGID] = T_TGID;
	p->off[PF_TASK_REAL_PARENT] = T_PARENT;
	p->off[PF_TASK_REAL_CRED] = T_RCRED;
	p->off[PF_TASK_CRED] = T_CRED;
	p->off[PF_TASK_MM] = T_MM;
	p->off[PF_TASK_START_TIME] = T_START;
	p->off[PF_TASK_START_BOOTTIME] = T_BOOT;
	p->off[PF_TASK_COMM] = T_COMM;
	p->off[PF_TASK_PID_LINKS] = T_PIDLINKS;
	p->off[PF_CRED_UID] = C_UID;
	p->off[PF_CRED_GID] = C_GID;
	p->off[PF_CRED_EUID] = C_EUID;
	p->off[PF_MM_PGD] = MM_PGD;
	p->off[PF_PIDNS_IDR] = NS_IDR;
	p->off[PF_IDR_RT] = 0;
	p->off[PF_XARRAY_HEAD] = XA_HEAD;
	p->off[PF_XA_NODE_SHIFT] = XN_SHIFT;
	p->off[PF_XA_NODE_SLOTS] = XN_SLOTS;
	p->off[PF_PID_TASKS] = PID_TASKS;
	p->off[PF_PID_NUMBERS] = PID_NUMBERS;
	p->off[PF_UPID_NR] = 0;
	p->size[PS_TASK_STRUCT] = T_SIZE;
	p->known[PSYM_INIT_TASK] = INIT_TASK_VA;
	p->known[PSYM_INIT_PID_NS] = INIT_PID_NS_VA;
	snprintf(p->source, sizeof(p->source), "fake");
}

static gpa_t pa_of(gva_t va)
{
	return va >= 0xffffffff80000000ull ? va - (TEXT_VA + VSLIDE) + TEXT_PA
					   : va - DMAP;
}

static void put(gva_t va, const void *b, size_t n)
{
	ck_assert_int_eq(memhv_write(hv, pa_of(va), b, n), 0);
}

static void put64(gva_t va, uint64_t x)
{
	put(va, &x, 8);
}

static void put32(gva_t va, uint32_t x)
{
	put(va, &x, 4);
}

static gva_t kalloc(size_t n)
{
	gva_t va = DMAP + heap;

	heap += (n + 63) & ~63ull;
	return va;
}

/* Kernel image at TEXT_VA + VSLIDE and a direct map of all RAM. */
static void boot(struct hv *h, uint64_t ram)
{
	gpa_t root;

	ck_assert_int_eq(memhv_alloc_page(h, &root), 0);
	for (uint64_t off = 0; off < 8 * MIB; off += 2 * MIB)
		ck_assert_int_eq(memhv_map(h, root, 4, TEXT_VA + VSLIDE + off,
					   TEXT_PA + off, 2 * MIB), 0);
	for (uint64_t pa = 0; pa < ram; pa += 2 * MIB)
		ck_assert_int_eq(memhv_map(h, root, 4, DMAP + pa, pa, 2 * MIB), 0);
	ck_assert_int_eq(vmi_new_at(h, &prof, root, 4, VSLIDE, 0, &v), 0);
	heap = HEAP_PA;
}

static gva_t init_task(void)
{
	return INIT_TASK_VA + VSLIDE;
}

static void setup(void)
{
	fake_profile(&prof);
	ck_assert_int_eq(memhv_new("lnx", RAM, 1, &hv), 0);
	boot(hv, RAM);
	put32(init_task() + T_PID, 0);
	put(init_task() + T_COMM, "swapper/0", 10);
	put64(init_task() + T_TASKS, init_task() + T_TASKS);	/* empty list */
}

static void teardown(void)
{
	vmi_free(v);
	hv_free(hv);
}

static gva_t new_task(int32_t pid, int32_t tgid, gva_t parent, const char *comm,
		      uint32_t uid)
{
	gva_t t = kalloc(T_SIZE), cred = kalloc(0x40);

	put32(t + T_PID, (uint32_t)pid);
	put32(t + T_TGID, (uint32_t)tgid);
	put64(t + T_PARENT, parent);
	put64(t + T_RCRED, cred);
	put64(t + T_CRED, cred);
	put(t + T_COMM, comm, strnlen(comm, 16) < 16 ? strlen(comm) + 1 : 16);
	put32(cred + C_UID, uid);
	put32(cred + C_EUID, uid);
	put32(cred + C_GID, uid);
	last_cred = cred;
	return t;
}

/* init_task.tasks -> t[0] -> ... -> t[n-1] -> init_task.tasks */
static void link_list(const gva_t *t, size_t n)
{
	gva_t head = init_task() + T_TASKS, prev = head;

	for (size_t i = 0; i < n; i++) {
		put64(prev, t[i] + T_TASKS);
		put64(t[i] + T_TASKS + 8, prev);
		prev = t[i] + T_TASKS;
	}
	put64(prev, head);
	put64(head + 8, prev);
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
