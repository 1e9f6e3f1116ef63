/*
 * xport.h - the host end of an upcall transport: a non-blocking byte
 * stream to one guest's agent, behind one interface so the upcall client
 * (daemon/upcall.c) works the same over every hypervisor.
 *
 *   qemu: the unix socket of a virtio-serial chardev (xport_qemu.c)
 *   xen:  a libxenvchan ring found through xenstore (xport_xen.c)
 *
 * Like hv.h: a transport embeds struct xport first and fills a const
 * struct xport_ops; callers use the xport_*() wrappers only.
 *
 * The stream is not reliable across reconnects: bytes may be lost, cut, or
 * stale (written before we connected). The wire protocol copes with that;
 * a transport only moves bytes.
 *
 * Event-loop contract: when xport_fd() polls readable (POLLIN, POLLHUP or
 * POLLERR) call xport_read() until it returns -EAGAIN; a transport whose
 * fd is a notification channel (vchan's event channel) acknowledges it
 * inside read. Writes that return -EAGAIN are retried after the fd polls
 * writable (POLLOUT) or readable (vchan signals space on the same fd, and
 * its fd never polls writable, so asking for POLLOUT costs nothing).
 *
 * Ownership: the xport owns its fd; xport_free() closes it. One thread.
 */
#ifndef UPCALLD_XPORT_H
#define UPCALLD_XPORT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define XPORT_NAME_MAX 64

struct xport;

struct xport_ops {
	const char *name;			/* "qemu", "xen" */

	/* Close and free. Safe while connected. */
	void (*free)(struct xport *x);

	/*
	 * Try to connect without blocking: 0 when connected, -EAGAIN to try
	 * again later (peer not there yet), -errno on a lasting error.
	 * Calling it while connected returns 0.
	 */
	int (*connect)(struct xport *x);

	/* Drop the connection; the next connect makes a new one. */
	void (*disconnect)(struct xport *x);

	/* The fd to poll while connected, -1 otherwise. */
	int (*fd)(const struct xport *x);

	/*
	 * Non-blocking I/O: bytes moved (> 0), -EAGAIN, or on read 0 when the
	 * peer closed; -errno (-EPIPE, -ECONNRESET ...) when the connection
	 * is dead. The caller then disconnects.
	 */
	ssize_t (*read)(struct xport *x, void *buf, size_t len);
	ssize_t (*write)(struct xport *x, const void *buf, size_t len);
};

struct xport {
	const struct xport_ops *ops;
	bool connected;
	char name[XPORT_NAME_MAX];		/* guest name, for logs */
};

static inline void xport_free(struct xport *x)
{
	if (x)
		x->ops->free(x);
}

static inline int xport_connect(struct xport *x)
{
	return x->ops->connect(x);
}

static inline void xport_disconnect(struct xport *x)
{
	if (x->connected)
		x->ops->disconnect(x);
	x->connected = false;
}

static inline int xport_fd(const struct xport *x)
{
	return x->connected ? x->ops->fd(x) : -1;
}

static inline ssize_t xport_read(struct xport *x, void *buf, size_t len)
{
	return x->connected ? x->ops->read(x, buf, len) : -ENOTCONN;
}

static inline ssize_t xport_write(struct xport *x, const void *buf, size_t len)
{
	return x->connected ? x->ops->write(x, buf, len) : -ENOTCONN;
}

/*
 * qemu: sock_path is the unix socket of `-chardev socket,id=..,path=SOCK,
 * server=on,wait=off` behind `-device virtserialport,chardev=..,
 * name=org.upcalld.0`. QEMU serves one client at a time; a second one
 * connects but waits in the backlog until the first leaves.
 * Returns 0 and *out, or -errno (-ENAMETOOLONG, -ENOMEM).
 */
int xport_qemu_new(const char *name, const char *sock_path,
		   struct xport **out);

/*
 * xen (built when the Xen headers exist): the vchan the agent in domain
 * domid serves under /local/domain/<domid>/data/upcalld (wire.h). Connect
 * returns -EAGAIN while the agent's nodes are absent or stale, -ENODEV
 * without xenstore (not dom0). The guest writes everything in the ring:
 * each read or write moves at most 64 KiB; read returns 0 once the agent
 * closed and nothing is left, write -EPIPE. The caller publishes the key
 * (xen.h: xen_store_put_key) before the first connect; xport_free()
 * removes it (/local/domain/<domid>/upcalld). domid 1..0x7fef, else
 * -EINVAL. Returns 0 and *out, or -errno.
 */
int xport_xen_new(const char *name, unsigned int domid, struct xport **out);

#endif
