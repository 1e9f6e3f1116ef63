/*
 * xcheck_int.h - the machinery shared by the cross-checks of processes
 * (xcheck.c) and of modules and files (xcheck_obj.c): sorted views over
 * borrowed inputs and the three-way merge. Private to those files.
 */
#ifndef UPCALLD_XCHECK_INT_H
#define UPCALLD_XCHECK_INT_H

#include "xcheck.h"


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
	int (*cmp)(const void *, const void *);
};


/* Index src sorted by key (packed 64-bit order) or, if key is NULL, cmp. */
int xcheck_view_init(struct xcheck_view *xv, const void *src, size_t n,
		     size_t sz, uint64_t (*key)(const void *), int (*cmp)(const void *, const void *));
const void *xcheck_view_at(const struct xcheck_view *xv, size_t i);
/* visit(ctx, m1 entry, m2 entry, answer entry) once per distinct key; NULL = absent. */
void xcheck_merge(const struct xcheck_view *m1, const struct xcheck_view *m2,
		  const struct xcheck_view *ans, int (*cmp)(const void *, const void *),
		  void (*visit)(void *ctx, const void *m1, const void *m2,
				     const void *ans), void *ctx);
/* A new finding in r (NULL past XCHECK_FINDINGS_MAX: counted, not stored). */
struct xcheck_finding *xcheck_add(struct xcheck_result *r, enum xcheck_kind kind,
				  enum xcheck_object obj);

#endif
