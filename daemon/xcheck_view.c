/*
 * xcheck_view.c - sorted, de-duplicated views over the cross-check inputs
 * and the one-pass three-way merge that walks them (see xcheck_int.h).
 * Each view is an index sorted by a packed 64-bit key where one exists
 * (radix sort: linear, no comparison callbacks) and by qsort_r otherwise.
 */
#define _GNU_SOURCE	/* qsort_r */
#include "xcheck_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int xcheck_view_init(struct xcheck_view *xv, const void *src, size_t n,
			    size_t sz, uint64_t (*key)(const void *), int (*cmp)(const void *, const void *))
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

const void *xcheck_view_at(const struct xcheck_view *xv, size_t i)
{
	return i < xv->n ? xcheck_ref_ptr(xv, i) : NULL;
}

/* Smallest of up to three keys (NULL = exhausted). */
static const void *xcheck_min3(const void *a, const void *b, const void *c,
			       int (*cmp)(const void *, const void *))
{
	const void *m = a;

	if (b && (!m || cmp(b, m) < 0))
		m = b;
	if (c && (!m || cmp(c, m) < 0))
		m = c;
	return m;
}

void xcheck_merge(const struct xcheck_view *m1,
			 const struct xcheck_view *m2,
			 const struct xcheck_view *ans, int (*cmp)(const void *, const void *),
			 void (*visit)(void *ctx, const void *m1, const void *m2,
				     const void *ans), void *ctx)
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

struct xcheck_finding *xcheck_add(struct xcheck_result *r,
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
