/*
 * lnx_fake.h - the synthetic kernel shared by the Linux task tests
 * (check_lnx_task.c, check_lnx_task_idr.c): guest RAM in memhv, a page
 * table, a hand-filled profile, and helpers that lay out task_structs.
 * Header-only, so each test program has its own copy of the state.
 */
#ifndef UPCALLD_TESTS_LNX_FAKE_H
#define UPCALLD_TESTS_LNX_FAKE_H

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

static __attribute__((unused)) void fake_profile(struct profile *p)
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

static __attribute__((unused)) gpa_t pa_of(gva_t va)
{
	return va >= 0xffffffff80000000ull ? va - (TEXT_VA + VSLIDE) + TEXT_PA
					   : va - DMAP;
}

static __attribute__((unused)) void put(gva_t va, const void *b, size_t n)
{
	ck_assert_int_eq(memhv_write(hv, pa_of(va), b, n), 0);
}

static __attribute__((unused)) void put64(gva_t va, uint64_t x)
{
	put(va, &x, 8);
}

static __attribute__((unused)) void put32(gva_t va, uint32_t x)
{
	put(va, &x, 4);
}

static __attribute__((unused)) gva_t kalloc(size_t n)
{
	gva_t va = DMAP + heap;

	heap += (n + 63) & ~63ull;
	return va;
}

/* Kernel image at TEXT_VA + VSLIDE and a direct map of all RAM. */
static __attribute__((unused)) void boot(struct hv *h, uint64_t ram)
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

static __attribute__((unused)) gva_t init_task(void)
{
	return INIT_TASK_VA + VSLIDE;
}

static __attribute__((unused)) void setup(void)
{
	fake_profile(&prof);
	ck_assert_int_eq(memhv_new("lnx", RAM, 1, &hv), 0);
	boot(hv, RAM);
	put32(init_task() + T_PID, 0);
	put(init_task() + T_COMM, "swapper/0", 10);
	put64(init_task() + T_TASKS, init_task() + T_TASKS);	/* empty list */
}

static __attribute__((unused)) void teardown(void)
{
	vmi_free(v);
	hv_free(hv);
}

static __attribute__((unused)) gva_t new_task(int32_t pid, int32_t tgid, gva_t parent, const char *comm,
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
static __attribute__((unused)) void link_list(const gva_t *t, size_t n)
{
	gva_t head = init_task() + T_TASKS, prev = head;

	for (size_t i = 0; i < n; i++) {
		put64(prev, t[i] + T_TASKS);
		put64(t[i] + T_TASKS + 8, prev);
		prev = t[i] + T_TASKS;
	}
	put64(prev, head);
	put64(head + 8, prev);

#endif
