/*
 * xport_xen.h - internals of the Xen upcall transport (xport_xen.c) that
 * unit tests reach: the transport over any struct libxenvchan a "vchan
 * source" hands it. The daemon's source is libxenvchan's client (the
 * agent's ring found through xenstore); tests hand it a ring on a plain
 * page and play the hostile guest on the other side.
 *
 * Internal to hypervisor-hooks/xport_xen.c and its tests (includes Xen
 * headers); everyone else uses xport_xen_new() from xport.h.
 */
#ifndef UPCALLD_XPORT_XEN_H
#define UPCALLD_XPORT_XEN_H

#include <libxenvchan.h>

#include "xport.h"

/* Bytes moved per read or write call, whatever the caller asks. */
#define XPORT_XEN_IO_MAX (64u * 1024u)
#define XPORT_XEN_PATH_MAX 64u
/* Events in a row without data before the guest's events are ignored. */
#define XPORT_XEN_IDLE_ACKS 64u

/* Where a vchan comes from; every hook gets the source's arg. */
struct xport_xen_source {
	/*
	 * Connect to the ring under path: 0 and *vc (non-blocking), -EAGAIN
	 * while the agent's nodes are absent or stale, -errno otherwise.
	 */
	int (*open)(void *arg, unsigned int domid, const char *path,
		    struct libxenvchan **vc);
	/* The fd that polls readable when the event channel fired. */
	int (*event_fd)(void *arg, struct libxenvchan *vc);
	/* Take the pending event (only called when event_fd polls readable). */
	int (*ack)(void *arg, struct libxenvchan *vc);
	void (*close)(void *arg, struct libxenvchan *vc);
};

/*
 * The transport over src (borrowed; arg too). domid 1..0x7fef, else
 * -EINVAL. Returns 0 and *out, or -errno.
 */
int xport_xen_new_source(const char *name, unsigned int domid,
			 const struct xport_xen_source *src, void *arg,
			 struct xport **out);

/* The agent's ring directory of domid, for logs and the lab. */
int xport_xen_path(unsigned int domid, char *buf, size_t len);

/* Events acknowledged since the xport was made (for tests and stats). */
unsigned long xport_xen_acks(const struct xport *x);
/* True while the guest's events are ignored (a flood without data). */
bool xport_xen_muted(const struct xport *x);

#endif
