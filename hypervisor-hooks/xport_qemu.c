/*
 * xport_qemu.c - upcall transport for QEMU/KVM guests: the host end of a
 * virtio-serial port, i.e. the unix socket QEMU's chardev listens on.
 *
 * QEMU behaviour this relies on: with server=on,wait=off QEMU listens from
 * start-up and serves one client at a time; while the guest has not opened
 * its port, QEMU leaves our bytes in the socket (they reach the agent when
 * it opens the port, possibly stale); when we close, the guest's port sees
 * the host side disconnect. All of that is the protocol's problem, not
 * ours: this file only moves bytes without blocking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "xport.h"

struct xport_qemu {
	struct xport base;
	int fd;
	struct sockaddr_un addr;
};

static struct xport_qemu *to_q(const struct xport *x)
{
	return (struct xport_qemu *)x;
}

static void xport_qemu_close(struct xport *x)
{
	struct xport_qemu *q = to_q(x);

	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	x->connected = false;
}

static void xport_qemu_free(struct xport *x)
{
	xport_qemu_close(x);
	free(x);
}

static int xport_qemu_connect(struct xport *x)
{
	struct xport_qemu *q = to_q(x);
	int fd, err;

	if (x->connected)
		return 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&q->addr, sizeof(q->addr)) < 0 &&
	    errno != EINPROGRESS) {
		err = errno;
		close(fd);
		/* QEMU not (yet or any more) listening: try again later */
		if (err == ENOENT || err == ECONNREFUSED || err == EAGAIN)
			return -EAGAIN;
		return -err;
	}
	q->fd = fd;
	x->connected = true;
	return 0;
}

static int xport_qemu_fd(const struct xport *x)
{
	return to_q(x)->fd;
}

static ssize_t xport_qemu_read(struct xport *x, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = recv(to_q(x)->fd, buf, len, MSG_DONTWAIT);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

static ssize_t xport_qemu_write(struct xport *x, const void *buf, size_t len)
{
	for (;;) {
		ssize_t n = send(to_q(x)->fd, buf, len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

static const struct xport_ops xport_qemu_ops = {
	.name = "qemu",
	.free = xport_qemu_free,
	.connect = xport_qemu_connect,
	.disconnect = xport_qemu_close,
	.fd = xport_qemu_fd,
	.read = xport_qemu_read,
	.write = xport_qemu_write,
};

int xport_qemu_new(const char *name, const char *sock_path,
		   struct xport **out)
{
	struct xport_qemu *q;

	if (strlen(sock_path) >= sizeof(q->addr.sun_path))
		return -ENAMETOOLONG;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->base.ops = &xport_qemu_ops;
	q->fd = -1;
	q->addr.sun_family = AF_UNIX;
	strcpy(q->addr.sun_path, sock_path);
	snprintf(q->base.name, sizeof(q->base.name), "%s", name ? name : "");
	*out = &q->base;
	return 0;
}
