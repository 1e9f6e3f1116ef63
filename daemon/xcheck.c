/*
 * xcheck.c - cross-view checks (see xcheck.h for the rules).
 *
 * Each view is copied, sorted by its key and de-duplicated, then the three
 * views are merged in one pass: O(n log n) for n objects, no hashing, and
 * the same merge serves processes, modules and files.
 */
#define _GNU_SOURCE	/* qsort_r */
#include "xcheck.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*xcheck_cmp_fn)(const void *a, const void *b);
/* A total order packed in 64 bits, for the views that have one. */
typedef uint64_t (*xcheck_key_fn)(const void *a);

/* Sort handle: the key (0 where the view orders by cmp) and the entry. */
struct xcheck_ref {
	uint64_t key;
	uint32_t idx;
};

/* A sorted, de-duplicated index over one borrowed input view. */
struct xcheck_view {
	const char *base;
	struct xcheck_ref *ref;
	size_t n, sz;
	size_t dups;		/* entries dropped as duplicate keys */
	xcheck_cmp_fn cmp;
};

/* Called once per distinct key with the entry of each view, or NULL. */
typedef void (*xcheck_visit_fn)(void *ctx, const void *m1, const void *m2,
				const void *ans);

void xcheck_opts_init(struct xcheck_opts *o)
{
	o->start_tolerance_ns = 20ull * 1000 * 1000;
	o->compare_uid = true;
	o->compare_ppid = true;
}

/*
 * LSD radix sort on the 64-bit keys, skipping bytes where every key agrees
 * (most of them for pids): linear time, and a few times faster than qsort
 * through a comparison callback, which is what the 10k-process target needs.
 */
static int xcheck_radix(struct xcheck_ref *r, size_t n)
{
	struct xcheck_ref *tmp = malloc(n * sizeof(*tmp)), *src = r, *dst = tmp;
	unsigned int shift;
	size_t i;

	if (!tmp)
		return -ENOMEM;
	for (shift = 0; shift < 64; shift += 8) {
		size_t cnt[256] = { 0 }, pos = 0;

		for (i = 0; i < n; i++)
			cnt[(src[i].key >> shift) & 0xff]++;
		if (cnt[(src[0].key >> shift) & 0xff] == n)
			continue;
		for (i = 0; i < 256; i++) {
			size_t c = cnt[i];

			cnt[i] = pos;
			pos += c;
		}
		for (i = 0; i < n; i++)
			dst[cnt[(src[i].key >> shift) & 0xff]++] = src[i];
		src = dst;
		dst = src == r ? tmp : r;
	}
	if (src != r)
		memcpy(r, src, n * sizeof(*r));
	free(tmp);
	return 0;
}

static const void *xcheck_ref_ptr(const struct xcheck_view *xv, size_t i)
{
	return xv->base + (size_t)xv->ref[i].idx * xv->sz;
}

/* qsort_r comparator for views without a packed key (module names). */
static int xcheck_ref_cmp(const void *a, const void *b, void *arg)
{
	const struct xcheck_view *xv = arg;
	const struct xcheck_ref *x = a, *y = b;
	int c = xv->cmp(xv->base + (size_t)x->idx * xv->sz,
			xv->base + (size_t)y->idx * xv->sz);

	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int xcheck_view_init(struct xcheck_view *xv, const void *src, size_t n,
			    size_t sz, xcheck_key_fn key, xcheck_cmp_fn cmp)
{
	size_t i, out = 0;
	int rc;

	memset(xv, 0, sizeof(*xv));
	xv->base = src;
	xv->sz = sz;
	xv->cmp = cmp;
	if (n > XCHECK_ITEMS_MAX)
		return -E2BIG;
	if (n == 0)
		return 0;
	xv->ref = malloc(n * sizeof(*xv->ref));
	if (!xv->ref)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		xv->ref[i].idx = (uint32_t)i;
		xv->ref[i].key = key ? key(xv->base + i * sz) : 0;
	}
	if (key) {
		rc = xcheck_radix(xv->ref, n);	/* stable: first entry first */
		if (rc)
			return rc;
	} else {
		qsort_r(xv->ref, n, sizeof(*xv->ref), xcheck_ref_cmp, xv);
	}
	/* Keep the first of equal keys; a repeated key is counted, not lost. */
	for (i = 0; i < n; i++) {
		if (out > 0 && cmp(xcheck_ref_ptr(xv, out - 1), xcheck_ref_ptr(xv, i)) == 0) {
			xv->dups++;
			continue;
		}
		xv->ref[out++] = xv->ref[i];
	}
	xv->n = out;
	return 0;
}

static const void *xcheck_view_at(const struct xcheck_view *xv, size_t i)
{
	return i < xv->n ? xcheck_ref_ptr(xv, i) : NULL;
}

/* Smallest of up to three keys (NULL = exhausted). */
static const void *xcheck_min3(const void *a, const void *b, const void *c,
			       xcheck_cmp_fn cmp)
{
	const void *m = a;

	if (b && (!m || cmp(b, m) < 0))
		m = b;
	if (c && (!m || cmp(c, m) < 0))
		m = c;
	return m;
}

static void xcheck_merge(const struct xcheck_view *m1,
			 const struct xcheck_view *m2,
			 const struct xcheck_view *ans, xcheck_cmp_fn cmp,
			 xcheck_visit_fn visit, void *ctx)
{
	size_t i1 = 0, i2 = 0, ia = 0;

	for (;;) {
		const void *a = xcheck_view_at(m1, i1);
		const void *b = xcheck_view_at(m2, i2);
		const void *c = xcheck_view_at(ans, ia);
		const void *key = xcheck_min3(a, b, c, cmp);

		if (!key)
			break;
		a = (a && cmp(a, key) == 0) ? a : NULL;
		b = (b && cmp(b, key) == 0) ? b : NULL;
		c = (c && cmp(c, key) == 0) ? c : NULL;
		visit(ctx, a, b, c);
		i1 += a != NULL;
		i2 += b != NULL;
		ia += c != NULL;
	}
}

static struct xcheck_finding *xcheck_add(struct xcheck_result *r,
					 enum xcheck_kind kind,
					 enum xcheck_object obj)
{
	struct xcheck_finding *f;

	r->total++;
	if (r->n >= XCHECK_FINDINGS_MAX)
		return NULL;
	if ((r->n & (r->n - 1)) == 0) {	/* grow at powers of two */
		size_t cap = r->n ? r->n * 2 : 8;
		void *nv = realloc(r->v, cap * sizeof(*r->v));

		if (!nv)
			return NULL;
		r->v = nv;
	}
	f = &r->v[r->n++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->object = obj;
	f->pid = -1;
	f->fd = -1;
	return f;
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

/*
 * /proc shows a workqueue worker as "kworker/0:1-events" (the kernel adds
 * the workqueue it serves); its task comm is "kworker/0:1". Same task.
 */
static bool xcheck_comm_eq(const char *mem, const char *ans)
{
	size_t n = strnlen(mem, XCHECK_COMM_LEN);

	if (!strncmp(mem, ans, XCHECK_COMM_LEN))
		return true;
	return n < XCHECK_COMM_LEN - 1 && !strncmp(mem, "kworker/", 8) &&
	       !strncmp(mem, ans, n) && ans[n] == '-';
}

/* m1 and m2 agree on an attribute and the answer differs: a lie. */
static void xcheck_proc_attrs(struct xcheck_proc_ctx *c,
			      const struct xcheck_proc *a,
			      const struct xcheck_proc *b,
			      const struct xcheck_proc *g)
{
	char d[XCHECK_DETAIL_LEN];

	if (!strncmp(a->comm, b->comm, XCHECK_COMM_LEN) &&
	    !xcheck_comm_eq(a->comm, g->comm)) {
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

/* --- modules ------------------------------------------------------------- */

static int xcheck_module_cmp(const void *a, const void *b)
{
	return strncmp(((const struct xcheck_module *)a)->name,
		       ((const struct xcheck_module *)b)->name, XCHECK_NAME_LEN);
}

static void xcheck_module_finding(struct xcheck_result *r, enum xcheck_kind k,
				  const struct xcheck_module *m,
				  const char *attr, const char *detail)
{
	struct xcheck_finding *f = xcheck_add(r, k, XCHECK_MODULE);

	if (!f)
		return;
	snprintf(f->name, sizeof(f->name), "%.*s", XCHECK_NAME_LEN - 1, m->name);
	snprintf(f->attr, sizeof(f->attr), "%s", attr);
	snprintf(f->detail, sizeof(f->detail), "%s", detail);
}

static void xcheck_module_visit(void *ctx, const void *v1, const void *v2,
				const void *va)
{
	const struct xcheck_module *a = v1, *b = v2, *g = va;
	char d[XCHECK_DETAIL_LEN];

	if (a && b && !g)
		xcheck_module_finding(ctx, XCHECK_HIDDEN, a, "",
				      "loaded in memory before and after the "
				      "upcall, missing from the guest's answer");
	else if (g && !a && !b)
		xcheck_module_finding(ctx, XCHECK_PHANTOM, g, "",
				      "guest reports a module that is not in memory");
	else if (a && b && g && a->size && a->size == b->size && g->size &&
		 g->size != a->size) {
		snprintf(d, sizeof(d), "memory size %" PRIu64 ", guest says %" PRIu64,
			 a->size, g->size);
		xcheck_module_finding(ctx, XCHECK_MISMATCH, a, "size", d);
	}
}

int xcheck_modules(const struct xcheck_module *m1, size_t n1,
		   const struct xcheck_module *m2, size_t n2,
		   const struct xcheck_module *ans, size_t nans,
		   struct xcheck_result *out)
{
	struct xcheck_view v1, v2, va;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&v2, 0, sizeof(v2));
	memset(&va, 0, sizeof(va));
	rc = xcheck_view_init(&v1, m1, n1, sizeof(*m1), NULL, xcheck_module_cmp);
	if (!rc)
		rc = xcheck_view_init(&v2, m2, n2, sizeof(*m2), NULL, xcheck_module_cmp);
	if (!rc)
		rc = xcheck_view_init(&va, ans, nans, sizeof(*ans), NULL, xcheck_module_cmp);
	if (!rc)
		xcheck_merge(&v1, &v2, &va, xcheck_module_cmp,
			     xcheck_module_visit, out);
	free(v1.ref);
	free(v2.ref);
	free(va.ref);
	return rc;
}

/* --- open files ---------------------------------------------------------- */

struct xcheck_file_ctx {
	struct xcheck_result *r;
	const int32_t *pids;	/* sorted copy, or NULL = all covered */
	size_t npids;
};

static int xcheck_pid_cmp(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

static uint64_t xcheck_file_key(const void *a)
{
	const struct xcheck_file *f = a;

	return (uint64_t)((uint32_t)f->pid ^ 0x80000000u) << 32 |
	       ((uint32_t)f->fd ^ 0x80000000u);
}

static int xcheck_file_cmp(const void *a, const void *b)
{
	const struct xcheck_file *x = a, *y = b;

	if (x->pid != y->pid)
		return (x->pid > y->pid) - (x->pid < y->pid);
	return (x->fd > y->fd) - (x->fd < y->fd);
}

static bool xcheck_path_eq(const struct xcheck_file *a, const struct xcheck_file *b)
{
	return strcmp(a->path ? a->path : "", b->path ? b->path : "") == 0;
}

static void xcheck_file_finding(struct xcheck_result *r, enum xcheck_kind k,
				const struct xcheck_file *fl, const char *detail)
{
	struct xcheck_finding *f = xcheck_add(r, k, XCHECK_FILE);

	if (!f)
		return;
	f->pid = fl->pid;
	f->fd = fl->fd;
	snprintf(f->attr, sizeof(f->attr), "%s", k == XCHECK_MISMATCH ? "path" : "");
	snprintf(f->detail, sizeof(f->detail), "%s", detail);
}

static void xcheck_file_visit(void *ctx, const void *v1, const void *v2,
			      const void *va)
{
	struct xcheck_file_ctx *c = ctx;
	const struct xcheck_file *a = v1, *b = v2, *g = va;
	const struct xcheck_file *any = a ? a : b ? b : g;
	char d[XCHECK_DETAIL_LEN];

	if (c->pids && !bsearch(&any->pid, c->pids, c->npids, sizeof(*c->pids),
				xcheck_pid_cmp))
		return;
	if (a && b && xcheck_path_eq(a, b) && !g) {
		snprintf(d, sizeof(d), "open in memory (%.200s), missing from the "
			 "guest's answer", a->path ? a->path : "");
		xcheck_file_finding(c->r, XCHECK_HIDDEN, a, d);
	} else if (g && !(a && xcheck_path_eq(a, g)) && !(b && xcheck_path_eq(b, g)) &&
		   !(a && b && xcheck_path_eq(a, b))) {
		snprintf(d, sizeof(d), "guest reports %.200s, memory has %s",
			 g->path ? g->path : "", a || b ? "another file" : "nothing");
		xcheck_file_finding(c->r, XCHECK_PHANTOM, g, d);
	} else if (a && b && g && xcheck_path_eq(a, b) && !xcheck_path_eq(a, g)) {
		snprintf(d, sizeof(d), "memory %.100s, guest says %.100s",
			 a->path ? a->path : "", g->path ? g->path : "");
		xcheck_file_finding(c->r, XCHECK_MISMATCH, a, d);
	}
}

int xcheck_files(const struct xcheck_file *m1, size_t n1,
		 const struct xcheck_file *m2, size_t n2,
		 const struct xcheck_file *ans, size_t nans,
		 const int32_t *answered_pids, size_t npids,
		 struct xcheck_result *out)
{
	struct xcheck_view v1, v2, va;
	struct xcheck_file_ctx c = { .r = out };
	int32_t *pids = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&v2, 0, sizeof(v2));
	memset(&va, 0, sizeof(va));
	if (answered_pids && npids > XCHECK_ITEMS_MAX)
		return -E2BIG;
	rc = xcheck_view_init(&v1, m1, n1, sizeof(*m1), xcheck_file_key, xcheck_file_cmp);
	if (!rc)
		rc = xcheck_view_init(&v2, m2, n2, sizeof(*m2), xcheck_file_key, xcheck_file_cmp);
	if (!rc)
		rc = xcheck_view_init(&va, ans, nans, sizeof(*ans), xcheck_file_key, xcheck_file_cmp);
	if (rc || (answered_pids && npids == 0))	/* no pid covered: no evidence */
		goto out_free;
	if (answered_pids) {
		pids = malloc(npids * sizeof(*pids));
		if (!pids) {
			rc = -ENOMEM;
			goto out_free;
		}
		memcpy(pids, answered_pids, npids * sizeof(*pids));
		qsort(pids, npids, sizeof(*pids), xcheck_pid_cmp);
		c.pids = pids;
		c.npids = npids;
	}
	xcheck_merge(&v1, &v2, &va, xcheck_file_cmp, xcheck_file_visit, &c);
out_free:
	free(v1.ref);
	free(v2.ref);
	free(va.ref);
	free(pids);
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
