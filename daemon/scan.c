/*
 * scan.c - one cross-check of a guest (see scan.h for the sequence).
 */
#include "scan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "denv.h"
#include "guest.h"
#include "lnx.h"
#include "rule.h"
#include "upcall.h"
#include "upcalld.h"
#include "vmi.h"

/* One upcall request of a scan: which object it answers. */
struct scan_q {
	struct scan *s;
	unsigned int bit;	/* enum snap_what */
};

/* The scan and its request contexts, allocated together. */
struct scan_alloc {
	struct scan s;
	struct scan_q q[3];
};

static const struct {
	unsigned int bit, query;
} scan_queries[3] = {
	{ SNAP_PROCS, WIRE_Q_PROCS },
	{ SNAP_MODULES, WIRE_Q_MODULES },
	{ SNAP_FILES, WIRE_Q_FILES },
};

/* Read memory with the vCPUs stopped, so the walks see one moment. */
static int scan_snapshot(struct guest *g, unsigned int what, bool stopped,
			 struct snap *out)
{
	bool paused = false;
	int rc;

	if (!stopped) {
		rc = hv_pause(g->hv);
		if (rc && rc != -EOPNOTSUPP)
			return rc;
		paused = rc == 0;
	}
	vmi_flush(g->vmi);
	rc = snap_take(g->vmi, what, out);
	if (paused)
		hv_resume(g->hv);
	return rc;
}

static int scan_add_procs(struct snap *ans, const struct upcall_result *r)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < r->nprocs && !rc; i++) {
		const struct wire_proc *w = &r->procs[i];
		struct xcheck_proc p = { .pid = w->pid, .ppid = w->ppid,
					 .uid = w->uid, .start_ns = w->start_ns };

		memcpy(p.comm, w->comm, sizeof(p.comm));
		rc = snap_add_proc(ans, &p);
	}
	return rc;
}

static int scan_add_answer(struct snap *ans, const struct upcall_result *r)
{
	size_t i;
	int rc = 0;

	if (r->query == WIRE_Q_PROCS)
		return scan_add_procs(ans, r);
	for (i = 0; i < r->nmodules && !rc; i++) {
		struct xcheck_module m = { .size = r->modules[i].size };

		snprintf(m.name, sizeof(m.name), "%.*s", (int)r->modules[i].name_len,
			 r->modules[i].name);
		rc = snap_add_module(ans, &m);
	}
	for (i = 0; i < r->nfiles && !rc; i++)
		rc = snap_add_file(ans, r->files[i].pid, r->files[i].fd,
				   r->files[i].link, r->files[i].link_len);
	if (r->query == WIRE_Q_MODULES)
		ans->what |= SNAP_MODULES;
	if (r->query == WIRE_Q_FILES)
		ans->what |= SNAP_FILES;
	return rc;
}

/*
 * Open files carry no start time: an fd opened after m1 and closed before
 * m2 would look like a phantom, one closed and reopened around the agent's
 * look like a hidden file. A process that did not run between the two
 * snapshots (same activity stamp in both) cannot have changed its fd
 * table, so only its files are judged: whatever the agent says about them
 * that memory contradicts is a lie, not a race. The agent, which runs to
 * answer, is never judged on its own fds. Pids the answer does not admit
 * to are left to the process check. Returns how many pids went into *out.
 * The snaps are sorted (snap_sort) by then.
 */
static size_t scan_quiet_pids(struct scan *s, int32_t *out)
{
	bool need_ans = (s->req.what & SNAP_PROCS) && !(s->failed & SNAP_PROCS);
	size_t i, n = 0;

	for (i = 0; i < s->m1.nprocs; i++) {
		const struct xcheck_proc *a = &s->m1.procs[i];
		const struct xcheck_proc *b = snap_find_proc(&s->m2, a->pid);

		if (!b || a->activity != b->activity ||
		    (need_ans && !snap_find_proc(&s->ans, a->pid)))
			continue;
		out[n++] = a->pid;
	}
	return n;
}

static void scan_xcheck_files(struct scan *s)
{
	int32_t *pids = malloc(s->m1.nprocs * sizeof(*pids) + 1);
	size_t n = pids ? scan_quiet_pids(s, pids) : 0;

	xcheck_files(s->m1.files, s->m1.nfiles, s->m2.files, s->m2.nfiles,
		     s->ans.files, s->ans.nfiles, pids ? pids : (int32_t[]){ 0 }, n,
		     &s->xr_files);
	free(pids);
}

static void scan_xcheck(struct scan *s)
{
	unsigned int ok = s->req.what & ~s->failed;
	struct xcheck_opts o;

	xcheck_opts_init(&o);
	if (ok & SNAP_PROCS)
		xcheck_procs(&o, s->m1.procs, s->m1.nprocs, s->m2.procs,
			     s->m2.nprocs, s->ans.procs, s->ans.nprocs,
			     &s->xr_procs);
	if (ok & SNAP_MODULES)
		xcheck_modules(s->m1.mods, s->m1.nmods, s->m2.mods, s->m2.nmods,
			       s->ans.mods, s->ans.nmods, &s->xr_modules);
	if (ok & SNAP_FILES)
		scan_xcheck_files(s);
}

static void scan_unlink_free(struct scan *s)
{
	struct scan **pp;

	for (pp = &s->g->scan; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	snap_release(&s->m1);
	snap_release(&s->m2);
	snap_release(&s->ans);
	xcheck_result_release(&s->xr_procs);
	xcheck_result_release(&s->xr_modules);
	xcheck_result_release(&s->xr_files);
	free(s);	/* first member of struct scan_alloc */
}

static void scan_finish(struct scan *s)
{
	struct guest *g = s->g;
	int rc;

	if (!s->cancelled && !s->req.memory_only) {
		rc = scan_snapshot(g, s->req.what, false, &s->m2);
		if (rc) {
			s->error = rc;
			guest_error(g, "second memory snapshot failed: %s", strerror(-rc));
		} else {
			snap_sort(&s->m2);
			snap_sort(&s->ans);
		}
	}
	/* sorted before anything looks things up in them (views list by pid) */
	snap_sort(&s->m1);
	if (!s->cancelled && !s->req.memory_only && !s->error)
		scan_xcheck(s);
	s->req.done(s->req.arg, s);
	scan_unlink_free(s);
}

static void scan_on_result(void *arg, struct upcall_result *r)
{
	struct scan_q *q = arg;
	struct scan *s = q->s;

	if (r->reason == UPCALL_E_CANCELLED)
		s->cancelled = true;
	if (r->reason != UPCALL_OK ||
	    (r->status != WIRE_ST_OK && r->status != WIRE_ST_PARTIAL) ||
	    scan_add_answer(&s->ans, r)) {
		s->failed |= q->bit;
		snprintf(s->fail_detail, sizeof(s->fail_detail), "%s%s%.100s",
			 upcall_reason_str(r->reason), r->detail[0] ? ": " : "",
			 r->detail);
		s->g->st.upcall_failures += r->reason != UPCALL_E_CANCELLED;
	}
	upcall_result_free(r);
	if (--s->pending == 0)
		scan_finish(s);
}

static void scan_submit(struct scan *s, struct scan_q *qs)
{
	struct guest *g = s->g;
	uint64_t now = upcall_now_ns();
	unsigned int i;

	for (i = 0; i < 3; i++) {
		struct upcall_query q = {
			.query = scan_queries[i].query, .pid = WIRE_PID_ALL,
			.timeout_ns = g->conf.upcall_timeout_ms * 1000000ull,
			.done = scan_on_result, .arg = &qs[i],
		};

		if (!(s->req.what & scan_queries[i].bit))
			continue;
		qs[i] = (struct scan_q){ .s = s, .bit = scan_queries[i].bit };
		s->pending++;	/* before submit: done may not run early */
		if (upcall_submit(g->up, &q, now, NULL) == 0) {
			g->st.upcalls++;
			continue;
		}
		s->pending--;
		s->failed |= scan_queries[i].bit;
		snprintf(s->fail_detail, sizeof(s->fail_detail),
			 "upcall queue full or transport down");
	}
}

int scan_start(struct guest *g, const struct scan_req *req,
	       const struct rule *const *rules, size_t nrules)
{
	struct scan_alloc *sa;
	struct scan *s;
	int rc;

	if (!g->vmi || (!req->memory_only && !g->up))
		return -ENOTCONN;
	sa = calloc(1, sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	s = &sa->s;
	s->g = g;
	s->req = *req;
	s->nrules = nrules < SCAN_RULES_MAX ? nrules : SCAN_RULES_MAX;
	if (rules)
		memcpy(s->rules, rules, s->nrules * sizeof(*rules));
	snap_init(&s->m1);
	snap_init(&s->m2);
	snap_init(&s->ans);
	rc = scan_snapshot(g, req->what, req->vcpu_stopped, &s->m1);
	if (rc) {
		snap_release(&s->m1);
		free(sa);
		return rc;
	}
	s->next = g->scan;
	g->scan = s;
	g->st.scans++;
	if (!req->memory_only)
		scan_submit(s, sa->q);
	if (s->pending == 0)
		scan_finish(s);
	return 0;
}

void scan_forget_rules(struct guest *g)
{
	struct scan *s;

	for (s = g->scan; s; s = s->next)
		s->nrules = 0;
}

void scan_cancel_all(struct guest *g)
{
	struct scan *s;

	for (s = g->scan; s; s = s->next)
		s->cancelled = true;
	/* Scans with requests complete when the upcall client cancels them;
	 * the rest (none pending) complete here. */
	while ((s = g->scan) && s->pending == 0)
		scan_finish(s);
}

/* --- findings to alerts -------------------------------------------------- */

static unsigned int scan_rule_obj(enum xcheck_object o)
{
	switch (o) {
	case XCHECK_PROCESS: return RULE_OBJ_PROCESSES;
	case XCHECK_MODULE: return RULE_OBJ_MODULES;
	case XCHECK_FILE: return RULE_OBJ_FILES;
	}
	return 0;
}

static const char *scan_find_path(const struct snap *sn, int32_t pid, int32_t fd)
{
	const struct xcheck_file *f = snap_find_file(sn, pid, fd);

	return f ? f->path : NULL;
}

/* Field values of one finding: memory's facts first, the answer's if none. */
static void scan_finding_env(struct scan *s, const struct xcheck_finding *f,
			     struct denv *e)
{
	const struct xcheck_proc *p = NULL;

	e->xkind = xcheck_kind_str(f->kind);
	e->xobject = xcheck_object_str(f->object);
	e->xreason = f->detail;
	if (f->pid >= 0) {
		p = snap_find_proc(&s->m1, f->pid);
		if (!p)
			p = snap_find_proc(&s->ans, f->pid);
	}
	if (p || (f->object == XCHECK_PROCESS && f->pid >= 0)) {
		e->has_proc = true;
		e->pid = f->pid;
		e->ppid = p ? p->ppid : 0;
		e->uid = p ? p->uid : 0;
		snprintf(e->comm, sizeof(e->comm), "%.15s",
			 p ? p->comm : f->name);
	}
	if (f->object == XCHECK_MODULE)
		e->module = f->name;
	if (f->object == XCHECK_FILE) {
		e->fd = f->fd;
		e->file_path = scan_find_path(&s->m1, f->pid, f->fd);
		if (!e->file_path)
			e->file_path = scan_find_path(&s->ans, f->pid, f->fd);
	}
}

static void scan_judge(struct scan *s, const struct xcheck_result *xr)
{
	size_t i, k;

	if (xr->total > xr->n)
		upcalld_log(s->g->d, LOG_WARNING, "%s: %zu findings, %zu not itemized",
			    s->g->conf.name, xr->total, xr->total - xr->n);
	for (i = 0; i < xr->n; i++) {
		const struct xcheck_finding *f = &xr->v[i];
		struct denv e;
		struct rule_env env;

		denv_init(&e, s->g, s->req.event_type);
		scan_finding_env(s, f, &e);
		env = denv_rule_env(&e);
		s->g->st.findings++;
		for (k = 0; k < s->nrules; k++) {
			const struct rule *r = s->rules[k];

			if ((r->crosscheck & scan_rule_obj(f->object)) &&
			    rule_eval(r, &env))
				denv_alert(&e, r);
		}
	}
}

void scan_rules_done(void *arg, struct scan *s)
{
	(void)arg;
	if (s->cancelled || s->error)
		return;
	if (s->m1.walk_flags & (LNX_WALK_CYCLE | LNX_WALK_BAD))
		upcalld_log(s->g->d, LOG_WARNING,
			    "%s: guest memory walks hit a cycle or impossible values "
			    "(flags %#x): kernel structures may be tampered with",
			    s->g->conf.name, s->m1.walk_flags);
	scan_judge(s, &s->xr_procs);
	scan_judge(s, &s->xr_modules);
	scan_judge(s, &s->xr_files);
}

static const char *scan_query_object(unsigned int query)
{
	switch (query) {
	case WIRE_Q_PROCS: return "process";
	case WIRE_Q_MODULES: return "module";
	case WIRE_Q_FILES: return "file";
	}
	return NULL;
}

void scan_on_upcall_finding(void *arg, const struct upcall_finding *f)
{
	struct guest *g = arg;
	char reason[UPCALL_DETAIL_LEN + 32];
	struct rule_env env;
	struct denv e;
	size_t i, n;

	if (!g->rules || !g->rg)
		return;
	snprintf(reason, sizeof(reason), "%s%s%s", upcall_reason_str(f->reason),
		 f->detail[0] ? ": " : "", f->detail);
	denv_init(&e, g, "upcall");
	e.xkind = f->reason == UPCALL_F_DEADLINE ? "silent" : "forged";
	e.xobject = scan_query_object(f->query);
	e.xreason = reason;
	env = denv_rule_env(&e);
	g->st.findings++;
	n = rule_set_nrules(g->rules);
	for (i = 0; i < n; i++) {
		const struct rule *r = rule_set_rule(g->rules, i);

		if (rule_is_finding_rule(r) && rule_guest_runs(g->rg, r) &&
		    rule_eval(r, &env))
			denv_alert(&e, r);
	}
}
