/*
 * xcheck_obj.c - cross-view checks of kernel modules and open files
 * (see xcheck.h for the rules).
 */
#include "xcheck_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
