/*
 * xen_watch.h - following Xen domains from dom0: a xenstore watch on
 * @introduceDomain and @releaseDomain (fired by xenstored when a domain is
 * introduced, shuts down or dies) and a listing of the domains there are,
 * as (domid, name) pairs. The daemon's discovery (daemon/discover.c)
 * decides what to do with them. No Xen types here: only
 * hypervisor-hooks/xen*.c include Xen headers.
 *
 * Names come from /local/domain/<id>/name. The toolstack writes that node
 * and a domU cannot, but it is still a string that names a guest: it is
 * capped and refused when it holds control bytes, a '/', or is "." or "..".
 * The id comes from the path, parsed strictly, never from a value.
 *
 * Ownership: xen_watch_new() returns a handle freed by xen_watch_free();
 * it owns the xenstore connection (and, when it could be opened, a
 * libxenctrl handle used to tell dying domains). Listings are written into
 * caller-owned arrays.
 */
#ifndef UPCALLD_XEN_WATCH_H
#define UPCALLD_XEN_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#define XEN_WATCH_NAME_MAX 64u		/* with the NUL; = GUEST_NAME_MAX */
#define XEN_WATCH_DOMAINS_MAX 1024u	/* domains listed, at most */
#define XEN_WATCH_DRAIN_MAX 256u	/* watch events read per drain */

struct xen_watch;

struct xen_watch_dom {
	unsigned int domid;
	char name[XEN_WATCH_NAME_MAX];
	bool dying;		/* dying or shut down (known only with libxenctrl) */
};

/*
 * Connect to xenstore and watch for domains coming and going. -ENODEV when
 * there is no xenstore here (not a Xen host, or no xenstored), -EACCES when
 * we may not watch (not dom0), -ENOMEM.
 */
int xen_watch_new(struct xen_watch **out);
void xen_watch_free(struct xen_watch *w);

/* Readable when watch events wait: poll it, then xen_watch_drain(). */
int xen_watch_fd(const struct xen_watch *w);

/*
 * Read the pending watch events without blocking, at most
 * XEN_WATCH_DRAIN_MAX of them. Returns 1 if there was at least one (the
 * domain set may have changed), 0 if none, -errno when the connection
 * failed (the fd may then stay readable: stop polling it). *more is set
 * when the cap stopped the read: call again soon, as the fd may no longer
 * say so.
 * Xenstore fires each watch once when it is set, so the first drain
 * after xen_watch_new() returns 1.
 */
int xen_watch_drain(struct xen_watch *w, bool *more);

/*
 * The domains there are now, dom0 excepted, sorted by domid: up to max of
 * them into v, their number in *n. Domains whose name is missing or
 * refused are left out (counted in *refused when not NULL). Returns 0, or
 * -errno when xenstore could not be read (v is then untouched, *n 0).
 */
int xen_watch_list(struct xen_watch *w, struct xen_watch_dom *v, size_t max,
		   size_t *n, size_t *refused);

/*
 * A name as xen_watch_list accepts it (len bytes, no NUL among them), and
 * as discovery (daemon/discover.c) checks it again: inline, so that builds
 * without Xen, which lack xen_watch.c, share the one rule.
 */
static inline bool xen_watch_name_ok(const char *s, size_t len)
{
	if (len == 0 || len >= XEN_WATCH_NAME_MAX)
		return false;
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		/* printable ASCII only: names reach logs, paths and terminals */
		if (c <= 0x20 || c >= 0x7f || c == '/')
			return false;
	}
	return true;
}

#endif
