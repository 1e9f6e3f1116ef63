/*
 * xcheck.c - cross-view checks of processes, and the result helpers
 * (see xcheck.h for the rules; xcheck_obj.c does modules and files).
 */
#include "xcheck_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xcheck_opts_init(struct xcheck_opts *o)
{
	o->start_tolerance_ns = 20ull * 1000 * 1000;
	o->compare_uid = true;
	o->compare_ppid = true;
}

/* --- processes ----------------------------------------------------------- */

struct xcheck_proc_ctx {
	const struct xcheck_opts *o;
	struct xcheck_result *r;
	uint64_t m1_newest;	/* latest start time in m1: a lower bound of "then" */
};

static int xcheck_proc_cmp(const void *a, const void *b)
{
	int32_t x = ((const struct xcheck_proc *)a)->pid;
	int32_t y = ((const struct xcheck_proc *)b)->pid;

	return (x > y) - (x < y);
}

static uint64_t xcheck_proc_key(const void *a)
{
	return (uint32_t)((const struct xcheck_proc *)a)->pid ^ 0x80000000u;
}

static bool xcheck_same_proc(const struct xcheck_opts *o,
			     const struct xcheck_proc *a,
			     const struct xcheck_proc *b)
{
	uint64_t d;

	if (!a || !b)
		return false;
	if (!o->start_tolerance_ns || !a->start_ns || !b->start_ns)
		return true;
	d = a->start_ns > b->start_ns ? a->start_ns - b->start_ns
				      : b->start_ns - a->start_ns;
	return d <= o->start_tolerance_ns;
}

static void xcheck_proc_finding(struct xcheck_result *r, enum xcheck_kind k,
				const struct xcheck_proc *p, const char *attr,
				const char *detail)
{
	struct xcheck_finding *f = xcheck_add(r, k, XCHECK_PROCESS);

	if (!f)
		return;
	f->pid = p->pid;
	snprintf(f->name, sizeof(f->name), "%.*s", XCHECK_COMM_LEN - 1, p->comm);
	snprintf(f->attr, sizeof(f->attr), "%s", attr);
	snprintf(f->detail, sizeof(f->detail), "%s", detail);
}

/* m1 and m2 agree on an attribute and the answer differs: a lie. */
static void xcheck_proc_attrs(struct xcheck_proc_ctx *c,
			      const struct xcheck_proc *a,
			      const struct xcheck_proc *b,
			      const struct xcheck_proc *g)
{
	char d[XCHECK_DETAIL_LEN];

	/* The agent reports task->comm as memory holds it (not /proc/PID/stat's
	 * decorated kworker names): any difference is a difference. */
	if (!strncmp(a->comm, b->comm, XCHECK_COMM_LEN) &&
	    strncmp(a->comm, g->comm, XCHECK_COMM_LEN)) {
		snprintf(d, sizeof(d), "memory comm \"%.15s\", guest says \"%.15s\"",
			 a->comm, g->comm);
		xcheck_proc_finding(c->r, XCHECK_MISMATCH, a, "comm", d);
	}
	if (c->o->compare_ppid && a->ppid == b->ppid && a->ppid != g->ppid) {
		snprintf(d, sizeof(d), "memory ppid %" PRId32 ", guest says %" PRId32,
			 a->ppid, g->ppid);
		xcheck_proc_finding(c->r, XCHECK_MISMATCH, a, "ppid", d);
	}
	if (c->o->compare_uid && a->uid == b->uid && a->uid != g->uid) {
		snprintf(d, sizeof(d), "memory uid %" PRIu32 ", guest says %" PRIu32,
			 a->uid, g->uid);
		xcheck_proc_finding(c->r, XCHECK_MISMATCH, a, "uid", d);
	}
}

static void xcheck_proc_visit(void *ctx, const void *v1, const void *v2,
			      const void *va)
{
	struct xcheck_proc_ctx *c = ctx;
	const struct xcheck_proc *a = v1, *b = v2, *g = va;
	bool stable = xcheck_same_proc(c->o, a, b);

	if (stable && !g) {
		xcheck_proc_finding(c->r, XCHECK_HIDDEN, a, "",
				    "in memory before and after the upcall, "
				    "missing from the guest's answer");
		return;
	}
	/*
	 * Whatever the agent reports was alive after m1 was taken, so if it
	 * had started before m1 it would be in m1. One that started later and
	 * exited before m2 is churn, not a phantom.
	 */
	if (g && !xcheck_same_proc(c->o, g, a) && !xcheck_same_proc(c->o, g, b) &&
	    !(g->start_ns && c->m1_newest && c->o->start_tolerance_ns &&
	      g->start_ns > c->m1_newest + c->o->start_tolerance_ns)) {
		xcheck_proc_finding(c->r, XCHECK_PHANTOM, g, "",
				    a || b ? "guest reports a process whose start "
					     "time memory never saw"
					   : "guest reports a process that is "
					     "not in memory");
		return;
	}
	if (stable && g && xcheck_same_proc(c->o, g, a))
		xcheck_proc_attrs(c, a, b, g);
}

int xcheck_procs(const struct xcheck_opts *o,
		 const struct xcheck_proc *m1, size_t n1,
		 const struct xcheck_proc *m2, size_t n2,
		 const struct xcheck_proc *ans, size_t nans,
		 struct xcheck_result *out)
{
	struct xcheck_view v1, v2, va;
	struct xcheck_proc_ctx c = { .o = o, .r = out };
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&v1, 0, sizeof(v1));
	memset(&v2, 0, sizeof(v2));
	memset(&va, 0, sizeof(va));
	rc = xcheck_view_init(&v1, m1, n1, sizeof(*m1), xcheck_proc_key, xcheck_proc_cmp);
	if (!rc)
		rc = xcheck_view_init(&v2, m2, n2, sizeof(*m2), xcheck_proc_key, xcheck_proc_cmp);
	if (!rc)
		rc = xcheck_view_init(&va, ans, nans, sizeof(*ans), xcheck_proc_key, xcheck_proc_cmp);
	if (rc)
		goto out_free;
	if (va.dups) {
		struct xcheck_finding *f = xcheck_add(out, XCHECK_PHANTOM,
						      XCHECK_PROCESS);
		if (f)
			snprintf(f->detail, sizeof(f->detail),
				 "guest's answer lists %zu pid(s) twice", va.dups);
	}
	for (size_t i = 0; i < n1; i++)
		if (m1[i].start_ns > c.m1_newest)
			c.m1_newest = m1[i].start_ns;
	xcheck_merge(&v1, &v2, &va, xcheck_proc_cmp, xcheck_proc_visit, &c);
out_free:
	free(v1.ref);
	free(v2.ref);
	free(va.ref);
	return rc;
}

void xcheck_result_release(struct xcheck_result *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

const char *xcheck_kind_str(enum xcheck_kind k)
{
	switch (k) {
	case XCHECK_HIDDEN: return "hidden";
	case XCHECK_PHANTOM: return "phantom";
	case XCHECK_MISMATCH: return "mismatch";
	}
	return "unknown";
}

const char *xcheck_object_str(enum xcheck_object o)
{
	switch (o) {
	case XCHECK_PROCESS: return "process";
	case XCHECK_MODULE: return "module";
	case XCHECK_FILE: return "file";
	}
	return "unknown";
}
