/*
 * alert_sink.c - what every alert sink shares: the base (counted drops,
 * error logging that reports changes rather than every retry), the
 * formatting identity, reconnect backoff, a non-blocking fd writer with a
 * bounded queue, and the file sink that json and cef build on.
 *
 * A message is written at once when nothing is queued ahead of it (order
 * is kept), otherwise queued; the queue drains on POLLOUT or on tick. A
 * hard write error closes the fd and keeps the message queued: the sink
 * reopens with backoff, and only a full queue drops (counted).
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "alert.h"

/* --- sink base ----------------------------------------------------------- */

void alert_log_syslog(void *ctx, int prio, const char *msg)
{
	syslog(prio, "%s", msg);
}

void alert_sink_base_init(struct alert_sink *s, const struct alert_sink_ops *ops,
			  const char *name)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->log = alert_log_syslog;
	s->max_severity = 7;
	alert_copy(s->name, sizeof(s->name), name && *name ? name : ops->kind);
}

uint64_t alert_sink_dropped(const struct alert_sink *s)
{
	uint64_t t = 0;

	for (int i = 0; i < ALERT_DROP__N; i++)
		t += s->st.dropped[i];
	return t;
}

void alert_sink_drop(struct alert_sink *s, enum alert_drop why, uint64_t n)
{
	char msg[256];

	if (!n)
		return;
	/* The first drop since the last summary is logged at once. */
	if (alert_sink_dropped(s) == s->drops_reported) {
		snprintf(msg, sizeof(msg),
			 "alert sink %s: dropping alerts (%s); counts follow "
			 "in the periodic drop summary", s->name,
			 alert_drop_str(why));
		s->log(s->log_ctx, LOG_WARNING, msg);
	}
	s->st.dropped[why] += n;
}

void alert_sink_error(struct alert_sink *s, int prio, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	bool same;

	s->st.errors++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A sink retrying against a dead peer logs a change, not every try. */
	same = strcmp(msg, s->last_error) == 0;
	alert_copy(s->last_error, sizeof(s->last_error), msg);
	if (!same) {
		char line[ALERT_SINK_NAME_MAX + sizeof(msg) + 16];

		snprintf(line, sizeof(line), "alert sink %s: %s", s->name, msg);
		s->log(s->log_ctx, prio, line);
	}
}

/* HOSTNAME/APP-NAME: printable US-ASCII only (RFC 5424 PRINTUSASCII). */
static void copy_printable(char *dst, size_t cap, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < cap; i++)
		dst[i] = src[i] > 32 && src[i] < 127 ? src[i] : '_';
	dst[i] = '\0';
	if (!i)
		snprintf(dst, cap, "-");
}

int alert_fmt_init(struct alert_fmt *f, const struct alert_sink_conf *c)
{
	char host[ALERT_HOST_MAX] = "";

	memset(f, 0, sizeof(*f));
	if (c->facility & ~LOG_FACMASK || c->facility > LOG_LOCAL7)
		return -EINVAL;
	if (c->max_len && c->max_len < 480)	/* RFC 5424 6.1 minimum */
		return -EINVAL;
	if (c->hostname)
		snprintf(host, sizeof(host), "%s", c->hostname);
	else if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	copy_printable(f->hostname, sizeof(f->hostname), host);
	copy_printable(f->app, sizeof(f->app), c->app ? c->app : "upcalld");
	f->pid = getpid();
	f->facility = c->facility ? c->facility : LOG_DAEMON;
	f->body = c->body;
	f->max_len = c->max_len ? c->max_len : 8192;
	return 0;
}

void alert_retry_init(struct alert_retry *r, uint64_t min, uint64_t max)
{
	r->min = min ? min : 500000;
	r->max = max ? max : 60000000;
	if (r->max < r->min)
		r->max = r->min;
	r->cur = r->min;
	r->at = 0;
}

void alert_retry_fail(struct alert_retry *r, uint64_t now)
{
	r->at = now + r->cur;
	r->cur = r->cur > r->max / 2 ? r->max : r->cur * 2;
}

void alert_retry_ok(struct alert_retry *r)
{
	r->cur = r->min;
	r->at = 0;
}

uint64_t alert_retry_wait(const struct alert_retry *r, uint64_t now)
{
	return r->at > now ? r->at - now : 0;
}

/* --- non-blocking fd writer ---------------------------------------------- */

static ssize_t out_write(struct alert_out *o, const char *p, size_t n)
{
	ssize_t r;

	do {
		r = o->sock ? send(o->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL)
			    : write(o->fd, p, n);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static bool out_again(ssize_t r)
{
	return r == -EAGAIN || r == -EWOULDBLOCK || r == -ENOBUFS;
}

static void out_note(struct alert_sink *s, const struct alert_out *o)
{
	s->st.queued = o->q.count;
	if (s->st.queued > s->st.queued_peak)
		s->st.queued_peak = s->st.queued;
}

static int out_queue(struct alert_sink *s, struct alert_out *o,
		     const char *data, size_t len)
{
	int r = alert_queue_push(&o->q, data, len);

	if (r)
		alert_sink_drop(s, r == -ENOBUFS ? ALERT_DROP_QUEUE_FULL
						 : ALERT_DROP_FORMAT, 1);
	out_note(s, o);
	return r;
}

void alert_out_close(struct alert_sink *s, struct alert_out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (o->off && !o->dgram) {
		/* Its head went to the old fd: the rest alone would be garbage. */
		alert_queue_pop(&o->q);
		alert_sink_drop(s, ALERT_DROP_IO, 1);
	}
	o->off = 0;
	out_note(s, o);
}

static int out_hard_error(struct alert_sink *s, struct alert_out *o, int err)
{
	alert_sink_error(s, LOG_ERR, "write: %s", strerror(-err));
	o->err = err;
	alert_out_close(s, o);
	return err;
}

int alert_out_flush(struct alert_sink *s, struct alert_out *o)
{
	struct alert_msg *m;

	while (o->fd >= 0 && (m = alert_queue_head(&o->q))) {
		ssize_t r = out_write(o, m->data + o->off, m->len - o->off);

		if (r >= 0 && !o->dgram && o->off + (size_t)r < m->len) {
			o->off += (size_t)r;
			continue;
		}
		if (r >= 0 || r == -EMSGSIZE) {
			if (r < 0) {
				alert_sink_error(s, LOG_ERR, "message of %zu "
						 "bytes refused: %s", m->len,
						 strerror(EMSGSIZE));
				alert_sink_drop(s, ALERT_DROP_IO, 1);
			} else {
				s->st.sent++;
			}
			o->off = 0;
			alert_queue_pop(&o->q);
			continue;
		}
		if (out_again(r))
			break;
		return out_hard_error(s, o, (int)r);
	}
	out_note(s, o);
	return 0;
}

int alert_out_send(struct alert_sink *s, struct alert_out *o,
		   const char *data, size_t len)
{
	ssize_t r;

	if (o->fd >= 0 && o->q.count)
		alert_out_flush(s, o);
	if (o->fd < 0 || o->q.count)
		return out_queue(s, o, data, len);
	r = out_write(o, data, len);
	if (r == (ssize_t)len) {
		s->st.sent++;
		return 0;
	}
	if (r >= 0 && !o->dgram) {
		if (out_queue(s, o, data, len))
			return -ENOBUFS;
		o->off = (size_t)r;
		return 0;
	}
	if (r >= 0) {		/* a datagram is all or nothing */
		s->st.sent++;
		return 0;
	}
	if (out_again(r))
		return out_queue(s, o, data, len);
	if (r == -EMSGSIZE) {
		alert_sink_error(s, LOG_ERR, "message of %zu bytes refused: %s",
				 len, strerror(EMSGSIZE));
		alert_sink_drop(s, ALERT_DROP_IO, 1);
		return -EMSGSIZE;
	}
	out_hard_error(s, o, (int)r);
	return out_queue(s, o, data, len);
}

/* --- file sink ----------------------------------------------------------- */

struct file_sink {
	struct alert_sink base;
	struct alert_fmt fmt;
	alert_format_fn *format;
	struct alert_out out;
	struct alert_retry retry;
	struct alert_buf buf;
	char path[PATH_MAX];
};

static struct file_sink *to_file(struct alert_sink *s)
{
	return (struct file_sink *)s;
}

/* Open the new file before closing the old one: rotation loses nothing. */
static int file_open(struct alert_sink *s, uint64_t now)
{
	struct file_sink *f = to_file(s);
	int fd, err;

	fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK |
		  O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0) {
		err = -errno;
		alert_sink_error(s, LOG_ERR, "open %s: %s", f->path,
				 strerror(errno));
		alert_retry_fail(&f->retry, now);
		return err;
	}
	if (f->out.fd >= 0)
		alert_out_flush(s, &f->out);
	alert_out_close(s, &f->out);
	f->out.fd = fd;
	s->st.connects++;
	alert_retry_ok(&f->retry);
	return alert_out_flush(s, &f->out);
}

static int file_emit(struct alert_sink *s, const struct alert *a, uint64_t now)
{
	struct file_sink *f = to_file(s);
	int r;

	alert_buf_reset(&f->buf);
	r = f->format(&f->fmt, a, s->seq, &f->buf);
	alert_buf_put(&f->buf, "\n", 1);
	if (r || f->buf.err) {
		alert_sink_drop(s, ALERT_DROP_FORMAT, 1);
		return r ? r : f->buf.err;
	}
	return alert_out_send(s, &f->out, f->buf.p, f->buf.len);
}

static int file_poll_fd(struct alert_sink *s, short *events)
{
	struct file_sink *f = to_file(s);

	if (f->out.fd < 0 || !f->out.q.count)
		return -1;
	*events = POLLOUT;
	return f->out.fd;
}

static void file_on_ready(struct alert_sink *s, short revents, uint64_t now)
{
	struct file_sink *f = to_file(s);

	if (alert_out_flush(s, &f->out) < 0)
		alert_retry_fail(&f->retry, now);
}

static int64_t file_tick(struct alert_sink *s, uint64_t now)
{
	struct file_sink *f = to_file(s);

	if (f->out.fd < 0 && !alert_retry_wait(&f->retry, now))
		file_open(s, now);
	else if (f->out.fd >= 0 && alert_out_flush(s, &f->out) < 0)
		alert_retry_fail(&f->retry, now);
	return f->out.fd < 0 ? (int64_t)alert_retry_wait(&f->retry, now) : -1;
}

static void file_close(struct alert_sink *s)
{
	struct file_sink *f = to_file(s);

	alert_out_flush(s, &f->out);
	alert_out_close(s, &f->out);
	alert_sink_drop(s, ALERT_DROP_CLOSED, f->out.q.count);
	while (f->out.q.count)
		alert_queue_pop(&f->out.q);
	out_note(s, &f->out);
}

static void file_free(struct alert_sink *s)
{
	struct file_sink *f = to_file(s);

	alert_queue_release(&f->out.q);
	alert_buf_release(&f->buf);
	free(f);
}

static const struct alert_sink_ops file_ops = {
	.kind = "file",
	.open = file_open,
	.emit = file_emit,
	.poll_fd = file_poll_fd,
	.on_ready = file_on_ready,
	.tick = file_tick,
	.close = file_close,
	.free = file_free,
};

int alert_file_sink_new(const struct alert_sink_conf *c, const char *kind,
			alert_format_fn *fmt, struct alert_sink **out)
{
	struct file_sink *f;
	int r;

	if (!c->path || !*c->path || strlen(c->path) >= PATH_MAX)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	alert_sink_base_init(&f->base, &file_ops, c->name ? c->name : kind);
	r = alert_fmt_init(&f->fmt, c);
	if (!r)
		r = alert_queue_init(&f->out.q, c->queue_max, c->queue_bytes);
	if (r) {
		alert_queue_release(&f->out.q);
		free(f);
		return r;
	}
	f->out.fd = -1;
	f->format = fmt;
	alert_buf_init(&f->buf, 0);
	alert_retry_init(&f->retry, c->backoff_min_us, c->backoff_max_us);
	snprintf(f->path, sizeof(f->path), "%s", c->path);
	*out = &f->base;
	return 0;
}
