/*
 * xport_xen.c - upcall transport for Xen guests: dom0's end (the vchan
 * client) of the libxenvchan ring that the guest's agent serves under
 * /local/domain/<id>/data/upcalld (wire.h: WIRE_XEN_VCHAN_DIR).
 *
 * The guest owns the ring page, its indexes, its orders and its liveness
 * byte, and may rewrite any of them at any time. libxenvchan keeps its own
 * copy of the ring sizes, masks every index and refuses a producer that
 * claims more than a ring's worth of data (the ring then looks empty:
 * a lying guest only stalls its own upcalls, which then time out). Here
 * every call moves at most XPORT_XEN_IO_MAX bytes and takes at most one
 * event, so a guest that signals without pause costs one cheap call per
 * signal, never a loop (and, past a limit, not even that: see below).
 *
 * Polling: the event channel's fd (/dev/xen/evtchn) always polls writable,
 * so the loop would spin on POLLOUT while a request waits for ring space.
 * The fd handed out is an epoll fd over it instead, which is readable
 * exactly when an event is pending and never writable; vchan reports
 * "space freed" as an event, and the upcall client flushes after reading.
 * An event is taken (libxenvchan_wait) only when poll says it is pending:
 * libxenvchan_wait blocks when none is.
 *
 * Connecting (the upcall client retries with a backoff of 50 ms to 2 s)
 * costs a xenstore round trip, then libxenvchan_client_init's: two more
 * reads, an interdomain event-channel bind and the grant mapping of the
 * ring page plus at most 2 x 256 buffer pages (libxenvchan refuses orders
 * past 20). None waits on the guest, so a guest that serves a broken ring
 * costs a failed attempt per backoff step, never a stalled loop.
 *
 * A guest may signal without pause and without data: each signal would
 * wake the daemon's loop (and its pass over every guest) for nothing.
 * After XPORT_XEN_IDLE_ACKS events in a row that brought no data, the
 * event channel leaves the epoll set until our next write, which is when
 * we expect an answer again; an honest agent signals only after writing
 * or reading. A guest that floods while a request is out only delays its
 * own reply, which then misses its deadline.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <syslog.h>
#include <unistd.h>

#include <xenstore.h>
#include <xentoollog.h>

#include "wire.h"
#include "xen.h"
#include "xport_xen.h"

#define DOMID_MAX 0x7fefu		/* below DOMID_FIRST_RESERVED */

struct xport_xen {
	struct xport base;
	unsigned int domid;
	char path[XPORT_XEN_PATH_MAX];
	const struct xport_xen_source *src;
	void *arg;
	struct libxenvchan *vc;
	int evfd;			/* the event channel's; vc owns it */
	int epfd;			/* ours: what the loop polls */
	unsigned long acks;
	unsigned int idle_acks;		/* events in a row that brought no data */
	bool muted;			/* evfd out of epfd until the next write */
	bool mute_told;			/* logged once per xport */
	struct xentoollog_logger *log;	/* real source: owned, libs keep it */
	bool drop_key;			/* real source: free removes the key */
};

static struct xport_xen *to_x(const struct xport *x)
{
	return (struct xport_xen *)x;
}

int xport_xen_path(unsigned int domid, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/local/domain/%u/" WIRE_XEN_VCHAN_DIR,
			 domid);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

unsigned long xport_xen_acks(const struct xport *x)
{
	return to_x(x)->acks;
}

bool xport_xen_muted(const struct xport *x)
{
	return to_x(x)->muted;
}

static void xport_xen_close(struct xport *xp)
{
	struct xport_xen *x = to_x(xp);

	if (x->epfd >= 0)
		close(x->epfd);
	if (x->vc)
		x->src->close(x->arg, x->vc);
	x->epfd = x->evfd = -1;
	x->vc = NULL;
	x->idle_acks = 0;
	x->muted = false;
	xp->connected = false;
}

/* Stop (mute) or resume waking the loop on the guest's events. */
static int set_muted(struct xport_xen *x, bool mute)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (x->muted == mute)
		return 0;
	if (epoll_ctl(x->epfd, mute ? EPOLL_CTL_DEL : EPOLL_CTL_ADD, x->evfd,
		      &ev) < 0)
		return -errno;
	x->muted = mute;
	x->idle_acks = 0;
	if (mute && !x->mute_told) {
		x->mute_told = true;
		syslog(LOG_NOTICE, "xen: %s: the guest signals without data: its "
		       "events are ignored until the next request", x->base.name);
	}
	return 0;
}

static int xport_xen_connect(struct xport *xp)
{
	struct xport_xen *x = to_x(xp);
	struct epoll_event ev = { .events = EPOLLIN };
	int ret;

	if (xp->connected)
		return 0;
	ret = x->src->open(x->arg, x->domid, x->path, &x->vc);
	if (ret < 0)
		return ret;
	x->vc->blocking = 0;
	x->evfd = x->src->event_fd(x->arg, x->vc);
	x->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (x->evfd < 0 || x->epfd < 0 ||
	    epoll_ctl(x->epfd, EPOLL_CTL_ADD, x->evfd, &ev) < 0) {
		ret = x->evfd < 0 ? -EBADF : -errno;
		xport_xen_close(xp);
		return ret;
	}
	xp->connected = true;
	return 0;
}

static int xport_xen_fd(const struct xport *xp)
{
	return to_x(xp)->epfd;
}

/* Take the pending event, if any: never blocks. */
static int ack_pending(struct xport_xen *x)
{
	struct pollfd pfd = { .fd = x->evfd, .events = POLLIN };
	int n = poll(&pfd, 1, 0);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		return 0;
	if (pfd.revents & (POLLERR | POLLNVAL))
		return -EIO;	/* the evtchn ring overflowed, or fd gone */
	if (!(pfd.revents & POLLIN))
		return 0;
	if (x->src->ack(x->arg, x->vc) < 0)
		return -EIO;
	x->acks++;
	x->idle_acks++;		/* until a read finds data */
	return 0;
}

static ssize_t xport_xen_read(struct xport *xp, void *buf, size_t len)
{
	struct xport_xen *x = to_x(xp);
	int ret = ack_pending(x), n;

	if (ret < 0)
		return ret;
	if (len > XPORT_XEN_IO_MAX)
		len = XPORT_XEN_IO_MAX;
	/* before the close check: what the agent wrote before leaving counts */
	n = libxenvchan_read(x->vc, buf, len);
	if (n > 0) {
		x->idle_acks = 0;
		return n;
	}
	if (!libxenvchan_is_open(x->vc))
		return 0;
	if (n < 0)
		return -EIO;
	if (x->idle_acks >= XPORT_XEN_IDLE_ACKS)
		ret = set_muted(x, true);
	return ret < 0 ? ret : -EAGAIN;
}

static ssize_t xport_xen_write(struct xport *xp, const void *buf, size_t len)
{
	struct xport_xen *x = to_x(xp);
	int n = set_muted(x, false);	/* an answer may come: listen again */

	if (n < 0)
		return n;
	if (!libxenvchan_is_open(x->vc))
		return -EPIPE;
	if (len > XPORT_XEN_IO_MAX)
		len = XPORT_XEN_IO_MAX;
	n = libxenvchan_write(x->vc, buf, len);
	if (n > 0)
		return n;
	if (n == 0)
		return -EAGAIN;	/* ring full: the agent signals when it reads */
	return libxenvchan_is_open(x->vc) ? -EIO : -EPIPE;
}

static void xport_xen_free(struct xport *xp)
{
	struct xport_xen *x = to_x(xp);
	int err;

	xport_xen_close(xp);
	/* a key left behind stays readable by the guest: say so */
	if (x->drop_key && (err = xen_store_del_key(x->domid)) < 0)
		syslog(LOG_WARNING, "xen: %s: upcall key of domain %u left in "
		       "xenstore: %s", xp->name, x->domid, strerror(-err));
	if (x->log)
		xtl_logger_destroy(x->log);
	free(x);
}

static const struct xport_ops xport_xen_ops = {
	.name = "xen",
	.free = xport_xen_free,
	.connect = xport_xen_connect,
	.disconnect = xport_xen_close,
	.fd = xport_xen_fd,
	.read = xport_xen_read,
	.write = xport_xen_write,
};

int xport_xen_new_source(const char *name, unsigned int domid,
			 const struct xport_xen_source *src, void *arg,
			 struct xport **out)
{
	struct xport_xen *x;
	int ret;

	if (domid == 0 || domid > DOMID_MAX || !src || !out)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	ret = xport_xen_path(domid, x->path, sizeof(x->path));
	if (ret < 0) {
		free(x);
		return ret;
	}
	x->base.ops = &xport_xen_ops;
	x->domid = domid;
	x->src = src;
	x->arg = arg;
	x->evfd = x->epfd = -1;
	if (name && name[0])
		snprintf(x->base.name, sizeof(x->base.name), "%s", name);
	else
		snprintf(x->base.name, sizeof(x->base.name), "dom%u", domid);
	*out = &x->base;
	return 0;
}

/* ---- the real source: libxenvchan's client ------------------------------ */

static int vchan_open(void *arg, unsigned int domid, const char *path,
		      struct libxenvchan **vc)
{
	struct xs_handle *xs = xs_open(0);
	char node[XPORT_XEN_PATH_MAX + 16];
	unsigned int len = 0;
	char *v;

	if (!xs)
		return -ENODEV;		/* no xenstore here: not dom0 */
	snprintf(node, sizeof(node), "%s/ring-ref", path);
	v = xs_read(xs, XBT_NULL, node, &len);
	xs_close(xs);
	if (!v)
		return -EAGAIN;		/* agent not serving (yet) */
	free(v);
	*vc = libxenvchan_client_init(arg, (int)domid, path);
	/* nodes of an agent that died uncleanly: wait for the next one */
	return *vc ? 0 : -EAGAIN;
}

static int vchan_event_fd(void *arg, struct libxenvchan *vc)
{
	return libxenvchan_fd_for_select(vc);
}

static int vchan_ack(void *arg, struct libxenvchan *vc)
{
	return libxenvchan_wait(vc);
}

static void vchan_close(void *arg, struct libxenvchan *vc)
{
	libxenvchan_close(vc);
}

static const struct xport_xen_source vchan_client = {
	.open = vchan_open,
	.event_fd = vchan_event_fd,
	.ack = vchan_ack,
	.close = vchan_close,
};

int xport_xen_new(const char *name, unsigned int domid, struct xport **out)
{
	/*
	 * libxc's messages about a stale ring would flood the daemon's
	 * stderr on every retry; connect failures reach the upcall client's
	 * counters instead. The libraries keep the logger: it lives as long
	 * as the xport.
	 */
	struct xentoollog_logger *log = (struct xentoollog_logger *)
		xtl_createlogger_stdiostream(stderr, XTL_CRITICAL, 0);
	int ret = xport_xen_new_source(name, domid, &vchan_client, log, out);

	if (ret < 0) {
		if (log)
			xtl_logger_destroy(log);
		return ret;
	}
	to_x(*out)->log = log;
	to_x(*out)->drop_key = true;
	return 0;
}
