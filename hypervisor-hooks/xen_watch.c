/*
 * xen_watch.c - domains coming and going (see xen_watch.h): the xenstore
 * watch on @introduceDomain / @releaseDomain, and the listing of domains
 * by /local/domain/<id>/name, cross-checked against the hypervisor's own
 * list when libxenctrl is available (a dying domain may still have its
 * xenstore entries while the toolstack tears it down).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xenctrl.h>
#include <xenstore.h>

#include "xen_watch.h"

#define XEN_WATCH_TOKEN "upcalld-discover"
#define XEN_DOMID_FIRST_RESERVED 0x7ff0u

struct xen_watch {
	struct xs_handle *xs;
	xc_interface *xch;		/* NULL: dying domains not told apart */
	xc_domaininfo_t *info;		/* XEN_WATCH_DOMAINS_MAX, with xch */
};

/* A domain id from a xenstore path component: decimal, nothing else. */
static bool xen_watch_parse_domid(const char *s, unsigned int *out)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 5)
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0 || (i > 1 && s[0] == '0') || v >= XEN_DOMID_FIRST_RESERVED)
		return false;
	*out = (unsigned int)v;
	return true;
}

static void xen_watch_open_xc(struct xen_watch *w)
{
	/* optional: without it a dying domain is dropped only once
	 * the toolstack removes its xenstore entries */
	w->xch = xc_interface_open(NULL, NULL, 0);
	if (!w->xch)
		return;
	w->info = calloc(XEN_WATCH_DOMAINS_MAX, sizeof(*w->info));
	if (!w->info) {
		xc_interface_close(w->xch);
		w->xch = NULL;
	}
}

int xen_watch_new(struct xen_watch **out)
{
	struct xen_watch *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return -ENOMEM;
	w->xs = xs_open(0);
	if (!w->xs) {
		free(w);
		return -ENODEV;
	}
	if (!xs_watch(w->xs, "@introduceDomain", XEN_WATCH_TOKEN) ||
	    !xs_watch(w->xs, "@releaseDomain", XEN_WATCH_TOKEN)) {
		rc = errno ? -errno : -EIO;
		xs_close(w->xs);
		free(w);
		return rc;
	}
	xen_watch_open_xc(w);
	*out = w;
	return 0;
}

void xen_watch_free(struct xen_watch *w)
{
	if (!w)
		return;
	if (w->xch)
		xc_interface_close(w->xch);
	free(w->info);
	xs_close(w->xs);	/* drops the watches with the connection */
	free(w);
}

int xen_watch_fd(const struct xen_watch *w)
{
	return xs_fileno(w->xs);
}

int xen_watch_drain(struct xen_watch *w, bool *more)
{
	unsigned int i;
	int changed = 0;

	*more = false;
	for (i = 0; i < XEN_WATCH_DRAIN_MAX; i++) {
		char **ev = xs_check_watch(w->xs);

		if (!ev && errno != EAGAIN)
			return errno ? -errno : -EIO;	/* e.g. xenstored gone */
		if (!ev)
			return changed;
		free(ev);
		changed = 1;
	}
	*more = true;
	return changed;
}

/* Read a domain's name; false if missing or refused. */
static bool xen_watch_read_name(struct xen_watch *w, unsigned int domid,
				char *name)
{
	char path[48];
	unsigned int len = 0;
	char *v;
	bool ok;

	snprintf(path, sizeof(path), "/local/domain/%u/name", domid);
	v = xs_read(w->xs, XBT_NULL, path, &len);
	if (!v)
		return false;
	ok = strlen(v) == len && xen_watch_name_ok(v, len);
	if (ok)
		memcpy(name, v, (size_t)len + 1);
	free(v);
	return ok;
}

/*
 * The hypervisor's domains into w->info, sorted by id. Returns how many,
 * or -1 when unknown (no libxenctrl handle, or the call failed).
 */
static int xen_watch_hv_domains(struct xen_watch *w)
{
	int n;

	if (!w->xch)
		return -1;
	n = xc_domain_getinfolist(w->xch, 1, XEN_WATCH_DOMAINS_MAX, w->info);
	return n < 0 ? -1 : n;
}

/* Whether domid is alive per the hypervisor's list (unknown: true). */
static bool xen_watch_hv_alive(const struct xen_watch *w, int nhv,
			       unsigned int domid, bool *dying)
{
	int i;

	*dying = false;
	if (nhv < 0)
		return true;
	for (i = 0; i < nhv; i++) {
		if (w->info[i].domain != domid)
			continue;
		*dying = (w->info[i].flags &
			  (XEN_DOMINF_dying | XEN_DOMINF_shutdown)) != 0;
		return true;
	}
	return false;	/* gone from the hypervisor; xenstore lags */
}

static int xen_watch_cmp(const void *a, const void *b)
{
	const struct xen_watch_dom *x = a, *y = b;

	return x->domid < y->domid ? -1 : x->domid > y->domid;
}

int xen_watch_list(struct xen_watch *w, struct xen_watch_dom *v, size_t max,
		   size_t *n, size_t *refused)
{
	unsigned int nids = 0, i, id;
	size_t k = 0, bad = 0;
	int nhv;
	char **ids;

	*n = 0;
	if (refused)
		*refused = 0;
	ids = xs_directory(w->xs, XBT_NULL, "/local/domain", &nids);
	if (!ids)
		return errno ? -errno : -EIO;
	nhv = xen_watch_hv_domains(w);
	for (i = 0; i < nids && i < XEN_WATCH_DOMAINS_MAX && k < max; i++) {
		struct xen_watch_dom *d = &v[k];

		if (!xen_watch_parse_domid(ids[i], &id) || id == 0)
			continue;
		if (!xen_watch_hv_alive(w, nhv, id, &d->dying))
			continue;
		d->domid = id;
		if (!xen_watch_read_name(w, id, d->name)) {
			bad++;	/* missing while being built or torn down, or refused */
			continue;
		}
		k++;
	}
	free(ids);
	qsort(v, k, sizeof(*v), xen_watch_cmp);
	*n = k;
	if (refused)
		*refused = bad;
	return 0;
}
