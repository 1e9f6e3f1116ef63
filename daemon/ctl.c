/*
 * ctl.c - the control socket server and its client call (see ctl.h).
 */
#define _GNU_SOURCE	/* accept4 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct ctl_client {
	int fd;			/* -1: slot free */
	uint32_t gen;
	char *in;		/* CTL_REQ_MAX bytes once used */
	size_t inlen;
	char *out;
	size_t outlen, outoff;
	unsigned int pending;	/* requests not yet answered */
	bool eof;		/* peer shut its side: no more requests */
};

struct ctl {
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ctl_request_fn *fn;
	void *ctx;
	uint32_t gen;
	struct ctl_client cl[CTL_CLIENTS_MAX];
};

static int ctl_bind(const char *path, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);	/* a socket left by a previous run */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

int ctl_new(const char *path, ctl_request_fn *fn, void *ctx, struct ctl **out)
{
	struct ctl *c = calloc(1, sizeof(*c));
	unsigned int i;
	int rc;

	if (!c)
		return -ENOMEM;
	rc = ctl_bind(path, &c->lfd);
	if (rc) {
		free(c);
		return rc;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->fn = fn;
	c->ctx = ctx;
	for (i = 0; i < CTL_CLIENTS_MAX; i++)
		c->cl[i].fd = -1;
	*out = c;
	return 0;
}

static void ctl_drop(struct ctl_client *cl)
{
	if (cl->fd >= 0)
		close(cl->fd);
	free(cl->in);
	free(cl->out);
	memset(cl, 0, sizeof(*cl));
	cl->fd = -1;
}

void ctl_free(struct ctl *c)
{
	unsigned int i;

	if (!c)
		return;
	for (i = 0; i < CTL_CLIENTS_MAX; i++)
		ctl_drop(&c->cl[i]);
	close(c->lfd);
	unlink(c->path);
	free(c);
}

static struct ctl_client *ctl_client_of(struct ctl *c, uint64_t id)
{
	unsigned int slot = id & 0xff;

	if (slot >= CTL_CLIENTS_MAX || c->cl[slot].fd < 0 ||
	    c->cl[slot].gen != (uint32_t)(id >> 8))
		return NULL;
	return &c->cl[slot];
}

/* Write what is pending; drop the client on error or once it is done. */
static void ctl_flush(struct ctl_client *cl)
{
	while (cl->outoff < cl->outlen) {
		ssize_t n = send(cl->fd, cl->out + cl->outoff,
				 cl->outlen - cl->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			ctl_drop(cl);
			return;
		}
		cl->outoff += (size_t)n;
	}
	cl->outoff = cl->outlen = 0;
	if (cl->eof && !cl->pending)
		ctl_drop(cl);
}

int ctl_reply(struct ctl *c, uint64_t client, struct json_object *reply)
{
	struct ctl_client *cl = ctl_client_of(c, client);
	const char *s;
	size_t len;
	char *nout;

	if (!cl) {
		json_object_put(reply);
		return -ENOENT;
	}
	s = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	len = strlen(s);
	if (cl->pending)
		cl->pending--;
	if (cl->outlen + len + 1 > CTL_OUT_MAX) {	/* not reading: give up */
		json_object_put(reply);
		ctl_drop(cl);
		return -ENOBUFS;
	}
	nout = realloc(cl->out, cl->outlen + len + 1);
	if (!nout) {
		json_object_put(reply);
		ctl_drop(cl);
		return -ENOMEM;
	}
	cl->out = nout;
	memcpy(cl->out + cl->outlen, s, len);
	cl->out[cl->outlen + len] = '\n';
	cl->outlen += len + 1;
	json_object_put(reply);
	ctl_flush(cl);
	return 0;
}

int ctl_reply_error(struct ctl *c, uint64_t client, const char *msg)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(0));
	json_object_object_add(r, "error", json_object_new_string(msg));
	return ctl_reply(c, client, r);
}

static void ctl_request(struct ctl *c, unsigned int slot, char *line, size_t len)
{
	struct ctl_client *cl = &c->cl[slot];
	uint64_t id = (uint64_t)cl->gen << 8 | slot;
	struct json_tokener *tok = json_tokener_new_ex(16);
	struct json_object *req = NULL, *cmd;

	if (tok)
		req = json_tokener_parse_ex(tok, line, (int)len);
	json_tokener_free(tok);
	cl->pending++;
	if (!req || !json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		json_object_put(req);
		ctl_reply_error(c, id, "request must be a JSON object with a \"cmd\" string");
		return;
	}
	c->fn(c->ctx, c, id, req);
	json_object_put(req);
}

/* Take the complete lines out of the input buffer. */
static void ctl_lines(struct ctl *c, unsigned int slot)
{
	struct ctl_client *cl = &c->cl[slot];
	uint32_t gen = cl->gen;
	char *nl;

	while (cl->fd >= 0 && cl->gen == gen &&
	       (nl = memchr(cl->in, '\n', cl->inlen))) {
		size_t len = (size_t)(nl - cl->in);

		*nl = '\0';
		if (len)
			ctl_request(c, slot, cl->in, len);
		if (cl->fd < 0 || cl->gen != gen)
			return;
		memmove(cl->in, nl + 1, cl->inlen - len - 1);
		cl->inlen -= len + 1;
	}
}

static void ctl_read(struct ctl *c, unsigned int slot)
{
	struct ctl_client *cl = &c->cl[slot];
	ssize_t n;

	if (!cl->in && !(cl->in = malloc(CTL_REQ_MAX))) {
		ctl_drop(cl);
		return;
	}
	n = recv(cl->fd, cl->in + cl->inlen, CTL_REQ_MAX - cl->inlen, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		cl->eof = true;
		if (!cl->pending && !cl->outlen)
			ctl_drop(cl);
		return;
	}
	cl->inlen += (size_t)n;
	ctl_lines(c, slot);
	if (cl->fd >= 0 && cl->inlen == CTL_REQ_MAX) {
		cl->pending++;
		ctl_reply_error(c, (uint64_t)cl->gen << 8 | slot, "request too long");
		cl->eof = true;
		cl->inlen = 0;
	}
}

static void ctl_accept(struct ctl *c)
{
	unsigned int i;
	int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (i = 0; i < CTL_CLIENTS_MAX; i++) {
		if (c->cl[i].fd < 0) {
			c->cl[i].fd = fd;
			c->cl[i].gen = ++c->gen & 0xffffffu;
			return;
		}
	}
	close(fd);	/* full: the client sees EOF and may retry */
}

size_t ctl_pollfds(struct ctl *c, struct pollfd *pfd, size_t max)
{
	size_t n = 0;
	unsigned int i;

	if (max == 0)
		return 0;
	pfd[n++] = (struct pollfd){ .fd = c->lfd, .events = POLLIN };
	for (i = 0; i < CTL_CLIENTS_MAX && n < max; i++) {
		struct ctl_client *cl = &c->cl[i];

		if (cl->fd < 0)
			continue;
		pfd[n++] = (struct pollfd){
			.fd = cl->fd,
			.events = (cl->eof ? 0 : POLLIN) |
				  (cl->outlen > cl->outoff ? POLLOUT : 0),
		};
	}
	return n;
}

void ctl_dispatch(struct ctl *c, const struct pollfd *pfd, size_t n)
{
	size_t k;
	unsigned int i;

	for (k = 0; k < n; k++) {
		if (!pfd[k].revents)
			continue;
		if (pfd[k].fd == c->lfd) {
			ctl_accept(c);
			continue;
		}
		for (i = 0; i < CTL_CLIENTS_MAX; i++) {
			struct ctl_client *cl = &c->cl[i];

			if (cl->fd != pfd[k].fd)
				continue;
			if (pfd[k].revents & POLLOUT)
				ctl_flush(cl);
			if (cl->fd >= 0 && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				ctl_read(c, i);
			break;
		}
	}
}

/* --- client side --------------------------------------------------------- */

static int64_t ctl_ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

static int ctl_connect(const char *path, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

/* Read one reply line (up to CTL_OUT_MAX) before the deadline. */
static int ctl_read_line(int fd, const struct timespec *deadline, char **line)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap), *nb;
	int rc = -ETIMEDOUT;

	while (buf) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = ctl_ms_left(deadline);
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if (len + 1 >= cap) {
			rc = -EMSGSIZE;
			if (cap >= CTL_OUT_MAX || !(nb = realloc(buf, cap * 2)))
				break;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0) {
			rc = n < 0 ? -errno : -ECONNRESET;
			break;
		}
		len += (size_t)n;
		if (memchr(buf, '\n', len)) {
			buf[len] = '\0';
			*line = buf;
			return 0;
		}
	}
	free(buf);
	return buf ? rc : -ENOMEM;
}

int ctl_call(const char *path, struct json_object *req, int timeout_ms,
	     struct json_object **reply)
{
	struct timespec deadline;
	const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	char *line = NULL;
	int fd = -1, rc;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	rc = ctl_connect(path, &fd);
	if (rc)
		return rc;
	if (send(fd, s, strlen(s), MSG_NOSIGNAL) < 0 ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		rc = -errno;
		goto out_close;
	}
	rc = ctl_read_line(fd, &deadline, &line);
	if (rc)
		goto out_close;
	*reply = json_tokener_parse(line);
	rc = *reply ? 0 : -EBADMSG;
out_close:
	free(line);
	close(fd);
	return rc;
}
