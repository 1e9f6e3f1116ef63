/*
 * alert_syslog.c - RFC 5424 syslog: the message format (also used by the
 * TLS sink) and the datagram sink over a unix socket (/dev/log style) or
 * UDP.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
 *
 * PRI = facility * 8 + severity; TIMESTAMP is UTC with microseconds;
 * HOSTNAME is this dom0 (the guest is an SD parameter: the message is
 * about the guest but comes from us); MSGID is "alert" or "summary". The
 * structured data carries every field of the alert under ALERT_SD_ID plus
 * RFC 5424's [meta sequenceId]: one number per alert offered to the sink,
 * so a receiver sees gaps where alerts were dropped. MSG is the rule's
 * output as UTF-8 with a BOM (RFC 5424 6.4), or a CEF line (no BOM).
 *
 * Escaping: SD values escape '"', '\' and ']' as RFC 5424 requires; control
 * characters in SD values and MSG are written as \xHH (\u00HH for C1), so a
 * guest-chosen string can never start a new log line.
 *
 * Size: the whole message stays within max_len (default 8192, what rsyslog
 * accepts by default). SD values are capped at 256 bytes (then 32, then the
 * upcalld element is left out if even that does not fit); MSG takes the
 * rest and is cut with ALERT_TRUNC_MARK.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "alert.h"

static void sd_str(struct alert_buf *b, const char *name, const char *v,
		   size_t vcap)
{
	if (!*v)
		return;
	alert_buf_put(b, " ", 1);
	alert_buf_puts(b, name);
	alert_buf_put(b, "=\"", 2);
	alert_buf_put_esc(b, v, vcap, ALERT_ESC_SD);
	alert_buf_put(b, "\"", 1);
}

static void sd_num(struct alert_buf *b, const char *name, int64_t v)
{
	alert_buf_put(b, " ", 1);
	alert_buf_puts(b, name);
	alert_buf_put(b, "=\"", 2);
	alert_buf_put_i64(b, v);
	alert_buf_put(b, "\"", 1);
}

static void sd_tags(struct alert_buf *b, const struct alert *a, size_t vcap)
{
	char joined[ALERT_TAGS_MAX * ALERT_WORD_MAX];
	size_t o = 0;

	joined[0] = '\0';
	for (unsigned int i = 0; i < a->ntags && i < ALERT_TAGS_MAX; i++)
		o += (size_t)snprintf(joined + o, sizeof(joined) - o, "%s%.*s",
				      i ? "," : "", ALERT_WORD_MAX - 1,
				      a->tags[i]);
	sd_str(b, "tags", joined, vcap);
}

static void put_sd(struct alert_buf *b, const struct alert *a, uint64_t seq,
		   size_t vcap)
{
	if (vcap) {
		alert_buf_puts(b, "[" ALERT_SD_ID);
		sd_str(b, "guest", a->guest, vcap);
		sd_str(b, "rule", a->rule, vcap);
		sd_str(b, "backend", a->backend, vcap);
		sd_str(b, "event", a->event, vcap);
		if (a->has & ALERT_HAS_PID)
			sd_num(b, "pid", a->pid);
		if (a->has & ALERT_HAS_PPID)
			sd_num(b, "ppid", a->ppid);
		if (a->has & ALERT_HAS_UID)
			sd_num(b, "uid", a->uid);
		sd_str(b, "comm", a->comm, vcap);
		if (a->has & ALERT_HAS_FD)
			sd_num(b, "fd", a->fd);
		sd_str(b, "module", a->module, vcap);
		sd_str(b, "path", a->path, vcap);
		sd_str(b, "xkind", a->xkind, vcap);
		sd_str(b, "xobject", a->xobject, vcap);
		sd_str(b, "xreason", a->xreason, vcap);
		sd_tags(b, a, vcap);
		if (a->dups)
			sd_num(b, "dups", (int64_t)(a->dups & INT64_MAX));
		if (a->held)
			sd_num(b, "held", (int64_t)(a->held & INT64_MAX));
		if (a->summary)
			alert_buf_puts(b, " summary=\"1\"");
		alert_buf_puts(b, "]");
	}
	/* RFC 5424 7.3.1: 1..2147483647, then wraps to 1. */
	alert_buf_puts(b, "[meta sequenceId=\"");
	alert_buf_put_i64(b, (int64_t)((seq ? seq - 1 : 0) % 2147483647 + 1));
	alert_buf_puts(b, "\"]");
}

static void put_header(struct alert_buf *b, const struct alert_fmt *f,
		       const struct alert *a)
{
	char ts[ALERT_TIME_MAX];

	alert_buf_put(b, "<", 1);
	alert_buf_put_i64(b, (f->facility & LOG_FACMASK) | (a->priority & 7));
	alert_buf_put(b, ">1 ", 3);
	alert_time_str(a->time_us, ts);
	alert_buf_puts(b, ts);
	alert_buf_put(b, " ", 1);
	alert_buf_puts(b, f->hostname);
	alert_buf_put(b, " ", 1);
	alert_buf_puts(b, f->app);
	alert_buf_put(b, " ", 1);
	alert_buf_put_i64(b, f->pid);
	alert_buf_puts(b, a->summary ? " summary " : " alert ");
}

static void truncate_to(struct alert_buf *b, size_t len)
{
	b->len = len;
	if (b->p)
		b->p[len] = '\0';
}

int alert_syslog_format(const struct alert_fmt *f, const struct alert *a,
			uint64_t seq, struct alert_buf *out)
{
	static const size_t vcaps[] = { 256, 32, 0 };
	size_t start = out->len, used = 0;
	struct alert_fmt sub;

	for (size_t k = 0; k < 3 && !out->err; k++) {
		truncate_to(out, start);
		put_header(out, f, a);
		if (f->body == ALERT_BODY_CEF) {
			put_sd(out, a, seq, 0);
			alert_buf_put(out, " ", 1);
			used = out->len - start;
			sub = *f;
			sub.max_len = f->max_len > used ? f->max_len - used : 0;
			alert_cef_format(&sub, a, seq, out);
			return out->err;
		}
		put_sd(out, a, seq, vcaps[k]);
		used = out->len - start;
		if (used + 64 <= f->max_len)
			break;
	}
	if (out->err)
		return out->err;
	/* " " + BOM: MSG is UTF-8 (RFC 5424 6.4). */
	alert_buf_put(out, " \xef\xbb\xbf", 4);
	used += 4;
	alert_buf_put_esc(out, a->output[0] ? a->output : a->rule,
			  f->max_len > used ? f->max_len - used : 0,
			  ALERT_ESC_MSG);
	return out->err;
}

/* --- the datagram sink ------------------------------------------------- */

struct syslog_sink {
	struct alert_sink base;
	struct alert_fmt fmt;
	struct sockaddr_storage addr;
	socklen_t alen;
	bool udp;
	struct alert_out out;
	struct alert_retry retry;
	struct alert_buf buf;
};

static struct syslog_sink *to_syslog(struct alert_sink *s)
{
	return (struct syslog_sink *)s;
}

/*
 * After a hard error the fd is gone: schedule the reconnect. Over UDP,
 * ECONNREFUSED is an ICMP error for a datagram already counted as sent:
 * at least that one was lost, so count it.
 */
static void syslog_check(struct syslog_sink *y, uint64_t now)
{
	if (y->out.err == -ECONNREFUSED && y->udp)
		alert_sink_drop(&y->base, ALERT_DROP_IO, 1);
	y->out.err = 0;
	if (y->out.fd < 0 && !y->retry.at)
		alert_retry_fail(&y->retry, now);
}

static int syslog_open(struct alert_sink *s, uint64_t now)
{
	struct syslog_sink *y = to_syslog(s);
	int fd, err;

	alert_out_close(s, &y->out);
	fd = socket(y->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		goto out_err;
	if (connect(fd, (struct sockaddr *)&y->addr, y->alen) < 0)
		goto out_err;
	y->out.fd = fd;
	s->st.connects++;
	alert_retry_ok(&y->retry);
	alert_out_flush(s, &y->out);
	syslog_check(y, now);
	return 0;

out_err:
	err = -errno;
	if (fd >= 0)
		close(fd);
	alert_sink_error(s, LOG_ERR, "connect: %s", strerror(-err));
	alert_retry_fail(&y->retry, now);
	return err;
}

static int syslog_emit(struct alert_sink *s, const struct alert *a,
		       uint64_t now)
{
	struct syslog_sink *y = to_syslog(s);
	int r;

	alert_buf_reset(&y->buf);
	r = alert_syslog_format(&y->fmt, a, s->seq, &y->buf);
	if (r) {
		alert_sink_drop(s, ALERT_DROP_FORMAT, 1);
		return r;
	}
	r = alert_out_send(s, &y->out, y->buf.p, y->buf.len);
	syslog_check(y, now);
	return r;
}

static int syslog_poll_fd(struct alert_sink *s, short *events)
{
	struct syslog_sink *y = to_syslog(s);

	if (y->out.fd < 0 || !y->out.q.count)
		return -1;
	*events = POLLOUT;
	return y->out.fd;
}

static void syslog_on_ready(struct alert_sink *s, short revents, uint64_t now)
{
	struct syslog_sink *y = to_syslog(s);

	alert_out_flush(s, &y->out);
	syslog_check(y, now);
}

static int64_t syslog_tick(struct alert_sink *s, uint64_t now)
{
	struct syslog_sink *y = to_syslog(s);

	if (y->out.fd < 0 && !alert_retry_wait(&y->retry, now))
		syslog_open(s, now);
	else if (y->out.fd >= 0 && y->out.q.count)
		alert_out_flush(s, &y->out);
	syslog_check(y, now);
	return y->out.fd < 0 ? (int64_t)alert_retry_wait(&y->retry, now) : -1;
}

static void syslog_close(struct alert_sink *s)
{
	struct syslog_sink *y = to_syslog(s);

	alert_out_flush(s, &y->out);
	alert_out_close(s, &y->out);
	alert_sink_drop(s, ALERT_DROP_CLOSED, y->out.q.count);
	while (y->out.q.count)
		alert_queue_pop(&y->out.q);
	s->st.queued = 0;
}

static void syslog_free(struct alert_sink *s)
{
	struct syslog_sink *y = to_syslog(s);

	alert_queue_release(&y->out.q);
	alert_buf_release(&y->buf);
	free(y);
}

static const struct alert_sink_ops syslog_ops = {
	.kind = "syslog",
	.open = syslog_open,
	.emit = syslog_emit,
	.poll_fd = syslog_poll_fd,
	.on_ready = syslog_on_ready,
	.tick = syslog_tick,
	.close = syslog_close,
	.free = syslog_free,
};

static int resolve(struct syslog_sink *y, const struct alert_sink_conf *c,
		   enum alert_syslog_transport t)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&y->addr;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;
	const char *path = c->path ? c->path : "/dev/log";

	if (t == ALERT_SYSLOG_UNIX) {
		if (strlen(path) >= sizeof(un->sun_path))
			return -ENAMETOOLONG;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, strlen(path) + 1);
		y->alen = sizeof(*un);
		return 0;
	}
	if (!c->host)
		return -EINVAL;
	/* Blocking lookup, once, at start-up: never in the event loop. */
	if (getaddrinfo(c->host, c->port ? c->port : "514", &hints, &ai))
		return -EHOSTUNREACH;
	memcpy(&y->addr, ai->ai_addr, ai->ai_addrlen);
	y->alen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int alert_syslog_new(const struct alert_sink_conf *c,
		     enum alert_syslog_transport t, struct alert_sink **out)
{
	struct syslog_sink *y = calloc(1, sizeof(*y));
	int r;

	if (!y)
		return -ENOMEM;
	alert_sink_base_init(&y->base, &syslog_ops, c->name);
	y->out.fd = -1;
	y->out.dgram = y->out.sock = true;
	r = alert_fmt_init(&y->fmt, c);
	y->udp = t == ALERT_SYSLOG_UDP;
	if (!r)
		r = resolve(y, c, t);
	if (!r)
		r = alert_queue_init(&y->out.q, c->queue_max, c->queue_bytes);
	if (r) {
		alert_queue_release(&y->out.q);
		free(y);
		return r;
	}
	/* Room for a first try that is too long (it is then redone). */
	alert_buf_init(&y->buf, y->fmt.max_len + 16384);
	alert_retry_init(&y->retry, c->backoff_min_us, c->backoff_max_us);
	*out = &y->base;
	return 0;
}
