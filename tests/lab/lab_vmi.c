/*
 * lab_vmi.c - introspection against real Linux guests (Debian cloud kernel,
 * KASLR on) under QEMU with -cpu qemu64 (4-level paging) and -cpu max
 * (LA57): the slides found must match the guest's own /proc/kallsyms and
 * /proc/iomem, and the processes read from memory (task list and pid IDR,
 * guest paused) must match /proc read through the ground-truth shell,
 * including long names, a zombie and a process that exited early.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "labsup.h"
#include "lnx.h"

#define GT_MAX 4096
#define LONG_SCRIPT "/tmp/abcdefghijklmnopqrstuvwxyz0123"	/* 30-char name */
#define LONG_BB "/tmp/bbxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

struct gt_proc {
	int32_t pid, ppid;
	char comm[64];
	char state;
	uint64_t start_ticks;	/* USER_HZ = 100 */
};

struct gt {
	struct gt_proc v[GT_MAX];
	size_t n;
	double uptime;		/* guest's CLOCK_BOOTTIME when the sample began */
};

struct ctx {
	const char *cpu;
	unsigned int levels;
	struct lab_guest g;
	struct profile *prof;
	struct hv *hv;
	struct vmi *v;
	int rc;
	char err[512];
};

static struct ctx q64 = { .cpu = "qemu64", .levels = 4 };
static struct ctx mx = { .cpu = "max", .levels = 5 };

static int load_profile(struct ctx *c)
{
	if (c->g.profile[0])
		return profile_load(c->g.profile, &c->prof, c->err, sizeof(c->err));
	return profile_from_vmlinux(c->g.vmlinux, c->g.sysmap, &c->prof, c->err,
				    sizeof(c->err));
}

static void ctx_up(struct ctx *c)
{
	struct lab_opts o = { .cpu = c->cpu };
	char name[64];

	snprintf(name, sizeof(name), "labvmi-%s-%d", c->cpu, (int)getpid());
	c->rc = lab_start(name, &o, &c->g);
	if (c->rc) {
		snprintf(c->err, sizeof(c->err), "lab_start: %s", strerror(-c->rc));
		return;
	}
	c->rc = load_profile(c);
	if (!c->rc)
		c->rc = qemu_hv_new(name, c->g.ram_path, c->g.gdb_path, &c->hv);
	if (!c->rc)
		c->rc = vmi_new(c->hv, c->prof, &c->v, c->err, sizeof(c->err));
	if (c->rc)
		fprintf(stderr, "lab_vmi: %s: %d %s\n", c->cpu, c->rc, c->err);
}

static void ctx_down(struct ctx *c)
{
	vmi_free(c->v);
	hv_free(c->hv);
	profile_free(c->prof);
	lab_stop(&c->g);
	c->v = NULL;
	c->hv = NULL;
	c->prof = NULL;
}

static void q64_up(void) { ctx_up(&q64); }
static void q64_down(void) { ctx_down(&q64); }
static void mx_up(void) { ctx_up(&mx); }
static void mx_down(void) { ctx_down(&mx); }

static char *run(struct ctx *c, const char *cmd)
{
	char *out = NULL;
	int rc = lab_run(&c->g, cmd, &out, 30000);

	ck_assert_msg(rc == 0, "'%s' -> %d: %s", cmd, rc, out ? out : "");
	return out;
}

/* "pid (comm) S ppid ..." : comm may hold spaces and ')' : use the last ')'. */
static bool parse_stat(const char *line, struct gt_proc *p)
{
	const char *open = strchr(line, '('), *close = strrchr(line, ')');
	unsigned long long start;
	size_t len;

	if (!open || !close || close < open || sscanf(line, "%d", &p->pid) != 1)
		return false;
	len = (size_t)(close - open - 1);
	if (len >= sizeof(p->comm))
		len = sizeof(p->comm) - 1;
	memcpy(p->comm, open + 1, len);
	p->comm[len] = '\0';
	if (sscanf(close + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
		   "%*d %*d %*d %*d %llu", &p->state, &p->ppid, &start) != 3)
		return false;
	p->start_ticks = start;
	return true;
}

static void gt_read(struct ctx *c, struct gt *g)
{
	char *out = run(c, "cat /proc/uptime; "
			"for d in /proc/[0-9]*; do cat $d/stat 2>/dev/null; echo; done");
	char *save = NULL;

	g->n = 0;
	ck_assert_int_eq(sscanf(out, "%lf", &g->uptime), 1);
	for (char *l = strtok_r(out, "\n", &save); l && g->n < GT_MAX;
	     l = strtok_r(NULL, "\n", &save))
		if (parse_stat(l, &g->v[g->n]))
			g->n++;
	free(out);
	ck_assert_uint_gt(g->n, 10);
}

static const struct gt_proc *gt_find(const struct gt *g, int32_t pid)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].pid == pid)
			return &g->v[i];
	return NULL;
}

static const struct lnx_task *mem_find(const struct lnx_task_list *l, int32_t pid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].pid == pid)
			return &l->v[i];
	return NULL;
}

/*
 * /proc adds "-desc"/"+desc" to workqueue workers' names, and shows kernel
 * threads' full names (kthread->full_name) where comm keeps 15 bytes.
 */
static bool comm_match(const struct lnx_task *t, const char *proc)
{
	size_t n = strlen(t->comm);

	if (!strcmp(t->comm, proc))
		return true;
	if (!t->kthread || strncmp(t->comm, proc, n))
		return false;
	return n == LNX_COMM_LEN - 1 ||
	       (!strncmp(t->comm, "kworker/", 8) && (proc[n] == '-' || proc[n] == '+'));
}

/*
 * Every process in both /proc samples (same pid, ppid, name) must be in
 * memory with the same ppid, name, start time and zombie state; every
 * process in memory must be in a sample, except kernel threads and what
 * started after the first sample began (the guest's init runs `sleep 1`
 * in a loop, so short-lived processes come and go between samples).
 */
static void compare(const char *what, const struct lnx_task_list *m,
		    const struct gt *a, const struct gt *b)
{
	size_t stable = 0;

	for (size_t i = 0; i < a->n; i++) {
		const struct gt_proc *p = &a->v[i], *q = gt_find(b, p->pid);
		const struct lnx_task *t;

		if (!q || q->ppid != p->ppid || strcmp(q->comm, p->comm))
			continue;
		stable++;
		t = mem_find(m, p->pid);
		ck_assert_msg(t, "%s: pid %d (%s) in /proc, not in memory", what,
			      p->pid, p->comm);
		ck_assert_msg(t->ppid == p->ppid, "%s: pid %d ppid %d, /proc says %d",
			      what, p->pid, t->ppid, p->ppid);
		ck_assert_msg(comm_match(t, p->comm), "%s: pid %d comm '%s', "
			      "/proc says '%s'", what, p->pid, t->comm, p->comm);
		ck_assert_msg(t->start_boottime / 10000000 == p->start_ticks,
			      "%s: pid %d start %llu ns, /proc says %llu ticks", what,
			      p->pid, (unsigned long long)t->start_boottime,
			      (unsigned long long)p->start_ticks);
		if (p->state == 'Z' && q->state == 'Z')
			ck_assert_msg(t->exiting, "%s: zombie %d not exiting", what, p->pid);
	}
	ck_assert_uint_gt(stable, 10);
	for (size_t i = 0; i < m->n; i++) {
		const struct lnx_task *t = &m->v[i];

		if (gt_find(a, t->pid) || gt_find(b, t->pid) ||
		    t->start_boottime / 1e9 >= a->uptime - 0.01)
			continue;
		ck_assert_msg(t->kthread, "%s: pid %d (%s, ppid %d%s, started %.3f s) "
			      "in memory, in neither /proc sample", what, t->pid,
			      t->comm, t->ppid, t->exiting ? ", exiting" : "",
			      t->start_boottime / 1e9);
	}
}

static void snapshot(struct ctx *c, struct lnx_task_list *list, struct lnx_task_list *idr)
{
	ck_assert_int_eq(hv_pause(c->hv), 0);
	vmi_flush(c->v);	/* the guest ran since the last walk */
	ck_assert_int_eq(lnx_tasks(c->v, list), 0);
	ck_assert_int_eq(lnx_tasks_idr(c->v, idr), 0);
	ck_assert_int_eq(hv_resume(c->hv), 0);
	ck_assert_msg(list->flags == 0 && idr->flags == 0, "walk flags %#x %#x",
		      list->flags, idr->flags);
}

static void start_procs(struct ctx *c)
{
	free(run(c,
		"printf '#!/bin/sh\\nsleep 1000\\n' > " LONG_SCRIPT "; chmod +x " LONG_SCRIPT "\n"
		LONG_SCRIPT " </dev/null >/dev/null 2>&1 &\n"
		"cp /bin/busybox " LONG_BB "\n"
		"(exec -a sleep " LONG_BB " 1000) </dev/null >/dev/null 2>&1 &\n"
		"sh -c 'sleep 0 & exec sleep 1000' </dev/null >/dev/null 2>&1 &\n"
		"(sleep 0.1; exit 3) </dev/null >/dev/null 2>&1 &\n"
		"for i in 1 2 3 4 5; do sleep 1000 </dev/null >/dev/null 2>&1 & done\n"
		"sleep 0.5"));
}

static bool has_comm(const struct lnx_task_list *l, const char *comm, bool zombie)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].comm, comm) && (!zombie || l->v[i].exiting))
			return true;
	return false;
}

static void check_tasks(struct ctx *c)
{
	static struct gt a, b;
	struct lnx_task_list list, idr;

	ck_assert_msg(c->rc == 0, "%s", c->err);
	start_procs(c);
	gt_read(c, &a);
	snapshot(c, &list, &idr);
	gt_read(c, &b);
	compare("task list", &list, &a, &b);
	compare("pid idr", &idr, &a, &b);
	ck_assert_uint_eq(list.n, idr.n);
	for (size_t i = 0; i < list.n; i++)
		ck_assert_msg(mem_find(&idr, list.v[i].pid), "pid %d not in the IDR",
			      list.v[i].pid);
	ck_assert(has_comm(&list, "abcdefghijklmno", false));
	ck_assert(has_comm(&list, "bbxxxxxxxxxxxxx", false));
	ck_assert(has_comm(&list, "sleep", true));	/* the zombie */
	ck_assert(has_comm(&idr, "sleep", true));
	lnx_task_list_release(&list);
	lnx_task_list_release(&idr);
}

/* Slides against the guest's own view: kallsyms and iomem (root, no kptr_restrict). */
static void check_session(struct ctx *c)
{
	unsigned long long va = 0, pa = 0;
	char *out;

	ck_assert_msg(c->rc == 0, "%s", c->err);
	ck_assert_uint_eq(vmi_levels(c->v), c->levels);
	out = run(c, "grep -w init_task /proc/kallsyms");
	ck_assert_int_eq(sscanf(out, "%llx", &va), 1);
	free(out);
	ck_assert_uint_eq(vmi_sym(c->v, PSYM_INIT_TASK), va);
	out = run(c, "grep 'Kernel code' /proc/iomem");
	ck_assert_int_eq(sscanf(out, " %llx", &pa), 1);
	free(out);
	ck_assert_uint_eq(0x1000000 + vmi_phys_slide(c->v), pa);
	ck_assert_uint_ne(vmi_virt_slide(c->v), 0);	/* KASLR is on */
}

static void check_wrong_profile(struct ctx *c)
{
	struct profile p;
	struct vmi *v = NULL;
	char err[512] = "";

	ck_assert_msg(c->rc == 0, "%s", c->err);
	p = *c->prof;	/* shares its tables: never freed */
	p.banner[14] ^= 1;
	ck_assert_int_eq(vmi_new(c->hv, &p, &v, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "not found"), "%s", err);
	p = *c->prof;
	p.off[PF_TASK_COMM] += 8;
	ck_assert_int_eq(vmi_new(c->hv, &p, &v, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "init_task.comm"), "%s", err);
	ck_assert_ptr_null(v);
}

START_TEST(test_qemu64_slides_match_kallsyms_and_iomem) { check_session(&q64); }
END_TEST
START_TEST(test_qemu64_tasks_and_idr_match_proc) { check_tasks(&q64); }
END_TEST
START_TEST(test_qemu64_wrong_profile_fails_clearly) { check_wrong_profile(&q64); }
END_TEST
START_TEST(test_max_la57_slides_match_kallsyms_and_iomem) { check_session(&mx); }
END_TEST
START_TEST(test_max_la57_tasks_and_idr_match_proc) { check_tasks(&mx); }
END_TEST

static Suite *lab_vmi_suite(void)
{
	Suite *s = suite_create("lab_vmi");
	TCase *tq = tcase_create("qemu64"), *tm = tcase_create("max");

	tcase_add_unchecked_fixture(tq, q64_up, q64_down);
	tcase_set_timeout(tq, 180);
	tcase_add_test(tq, test_qemu64_slides_match_kallsyms_and_iomem);
	tcase_add_test(tq, test_qemu64_tasks_and_idr_match_proc);
	tcase_add_test(tq, test_qemu64_wrong_profile_fails_clearly);
	suite_add_tcase(s, tq);
	tcase_add_unchecked_fixture(tm, mx_up, mx_down);
	tcase_set_timeout(tm, 180);
	tcase_add_test(tm, test_max_la57_slides_match_kallsyms_and_iomem);
	tcase_add_test(tm, test_max_la57_tasks_and_idr_match_proc);
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lab_vmi_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
