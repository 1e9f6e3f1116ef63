/*
 * agent_chan.c - the guest end of the upcall channel and the key source.
 *
 * virtio-serial facts this relies on (Linux drivers/char/virtio_console.c):
 * a port is found by the name the host gave it, in
 * /sys/class/virtio-ports/vportNpM/name; only one opener at a time
 * (-EBUSY); while the host side is not connected a write blocks (so the fd
 * is non-blocking and writes poll with a timeout) and read returns 0 with
 * POLLHUP set (the main loop then naps instead of spinning).
 *
 * Xen (agent_xen.c): the channel is a libxenvchan ring this agent serves
 * and the key a xenstore node that dom0 writes and only this domain and
 * dom0 can read. A virtio port, when there is one, wins: an HVM guest
 * may have both.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define PORTS_DIR "/sys/class/virtio-ports"

/* Read a small sysfs file into buf, without the trailing newline. */
static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Make /dev/<port> from sysfs' "major:minor" if udev/mdev did not. */
static int make_node(const char *port, const char *dev)
{
	char path[300], nums[32];
	unsigned int maj, min;
	int ret;

	snprintf(path, sizeof(path), PORTS_DIR "/%s/dev", port);
	ret = read_small(path, nums, sizeof(nums));
	if (ret < 0)
		return ret;
	if (sscanf(nums, "%u:%u", &maj, &min) != 2)
		return -EINVAL;
	if (mknod(dev, S_IFCHR | 0600, makedev(maj, min)) < 0 &&
	    errno != EEXIST)
		return -errno;
	return 0;
}

/* Find the port called name; fill path with its /dev node. */
static int find_port(const char *name, char *path, size_t len)
{
	DIR *d = opendir(PORTS_DIR);
	struct dirent *e;
	char p[300], got[128];
	int ret = -ENOENT;

	if (!d)
		return -ENOENT;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "vport", 5))
			continue;
		snprintf(p, sizeof(p), PORTS_DIR "/%s/name", e->d_name);
		if (read_small(p, got, sizeof(got)) < 0 || strcmp(got, name))
			continue;
		snprintf(path, len, "/dev/%.64s", e->d_name);
		ret = access(path, F_OK) == 0 ? 0 : make_node(e->d_name, path);
		break;
	}
	closedir(d);
	return ret;
}

bool agent_chan_may_be_xen(const struct agent_opts *o)
{
	return !o->device && (o->xen || agent_xen_present());
}

static int open_xen(struct agent_chan *c)
{
	int ret = agent_xen_open(&c->xen, c->path, sizeof(c->path));

	if (ret < 0) {
		c->xen = NULL;
		return ret;
	}
	c->fd = agent_xen_fd(c->xen);
	c->tty = false;
	return 0;
}

int agent_chan_open(struct agent_chan *c, const struct agent_opts *o)
{
	struct termios t;
	int ret;

	c->fd = -1;
	c->xen = NULL;
	if (o->device) {
		snprintf(c->path, sizeof(c->path), "%s", o->device);
	} else if (o->xen) {
		return open_xen(c);
	} else {
		ret = find_port(o->port_name, c->path, sizeof(c->path));
		if (ret == -ENOENT && agent_xen_present())
			return open_xen(c);
		if (ret < 0)
			return ret;
	}
	c->fd = open(c->path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (c->fd < 0)
		return -errno;
	c->tty = isatty(c->fd);
	if (c->tty && tcgetattr(c->fd, &t) == 0) {
		cfmakeraw(&t);	/* a serial line must pass bytes untouched */
		tcsetattr(c->fd, TCSANOW, &t);
	}
	return 0;
}

void agent_chan_close(struct agent_chan *c)
{
	if (c->xen)
		agent_xen_close(c->xen);	/* owns fd */
	else if (c->fd >= 0)
		close(c->fd);
	c->xen = NULL;
	c->fd = -1;
}

ssize_t agent_chan_read(struct agent_chan *c, void *buf, size_t len)
{
	ssize_t n;

	if (c->xen)
		return agent_xen_read(c->xen, buf, len);
	n = read(c->fd, buf, len);
	if (n >= 0)
		return n;
	return errno == EINTR ? -EAGAIN : -errno;
}

int agent_chan_wait(struct agent_chan *c, int timeout_ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int n;

	if (c->xen)
		return agent_xen_wait(c->xen, timeout_ms);
	n = poll(&pfd, 1, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n > 0 && (pfd.revents & POLLNVAL) ? -EBADF : 0;
}

bool agent_chan_new_peer(struct agent_chan *c)
{
	return c->xen && agent_xen_new_peer(c->xen);
}

static long long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* vchan: write what the ring takes, wait for dom0 to free room. */
static int write_xen(struct agent_chan *c, const uint8_t *p, size_t len,
		     long long end)
{
	while (len) {
		ssize_t n = agent_xen_write(c->xen, p, len);
		long long left;
		int ret;

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n != -EAGAIN)
			return (int)n;
		left = end - ms_now();
		if (left <= 0)
			return -ETIMEDOUT;
		ret = agent_xen_wait(c->xen, (int)left);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int agent_chan_write(struct agent_chan *c, const void *buf, size_t len,
		     int timeout_ms)
{
	const uint8_t *p = buf;
	long long end = ms_now() + timeout_ms;

	if (c->xen)
		return write_xen(c, p, len, end);
	while (len) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		ssize_t n = write(c->fd, p, len);
		long long left;

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return errno == EIO ? -EPIPE : -errno;
		left = end - ms_now();
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && (pfd.revents & (POLLERR | POLLNVAL)))
			return -EPIPE;
		/*
		 * HUP: the host side is not connected, or not yet as far as
		 * this guest knows: a request can arrive on the data queue
		 * before the "host connected" control message. Nap and retry
		 * until the deadline rather than drop the reply at once.
		 */
		if (n > 0 && (pfd.revents & POLLHUP) && !(pfd.revents & POLLOUT))
			poll(NULL, 0, left < 5 ? (int)left : 5);
	}
	return 0;
}

int agent_key_get(const struct agent_opts *o, const struct agent_chan *c,
		  uint8_t key[WIRE_KEY_LEN])
{
	/* a key file cannot match on Xen: dom0 makes a new key per attach */
	if (c && c->xen)
		return agent_xen_key(key);
	return wire_key_load(o->key_file ? o->key_file : AGENT_KEY_FILE, key);
}
