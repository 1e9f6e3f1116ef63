/*
 * alert_tls.c - RFC 5425 syslog over TLS (OpenSSL), driven from the
 * daemon's poll loop: non-blocking connect, non-blocking handshake, writes
 * resumed on POLLOUT, reconnect with exponential backoff.
 *
 * Each alert is an RFC 5424 message (alert_syslog_format) framed by octet
 * counting, "LEN SP MSG" (RFC 5425 4.3), and queued; the queue is bounded
 * (messages and bytes) and drains whenever the connection is up. While the
 * peer is down alerts wait in the queue; when it is full new alerts are
 * dropped and counted (the oldest are kept: an attacker who can trigger
 * alerts cannot flush out the first, most telling ones).
 *
 * The peer is verified: certificate chain against ca_file, and the name we
 * connect to against the certificate (X509_VERIFY_PARAM_set1_host, or
 * set1_ip_asc for an IP literal). A failed verification is an error
 * (counted, logged) and no byte of an alert is sent: application data is
 * written only after the handshake succeeded.
 *
 * Limits: TCP has no application acknowledgement, so messages handed to
 * the kernel just before the connection breaks can be lost unseen (RFC 5425
 * shares this; RELP would fix it). The message at the head of the queue is
 * removed only once SSL_write accepted all of it, so an interrupted write
 * is resent in full after reconnecting.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "alert.h"

enum tls_state { T_IDLE, T_CONNECTING, T_HANDSHAKE, T_UP };

struct tls_sink {
	struct alert_sink base;
	struct alert_fmt fmt;
	struct sockaddr_storage addr;
	socklen_t alen;
	char host[ALERT_HOST_MAX];
	bool host_is_ip;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	enum tls_state state;
	short want;			/* what SSL waits for: POLLIN/POLLOUT */
	uint64_t deadline;		/* end of connect + handshake */
	uint64_t timeout;
	struct alert_retry retry;
	struct alert_queue q;		/* framed messages */
	struct alert_buf msg, frame;
};

static struct tls_sink *to_tls(struct alert_sink *s)
{
	return (struct tls_sink *)s;
}

static void tls_teardown(struct tls_sink *t)
{
	SSL_free(t->ssl);
	t->ssl = NULL;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->state = T_IDLE;
	t->want = 0;
}

/*
 * The one place a connection attempt or a connection ends in failure.
 * why: the cause when known (errno text), else taken from OpenSSL.
 */
static void tls_fail(struct tls_sink *t, uint64_t now, const char *what,
		     const char *why)
{
	char buf[128] = "connection lost";
	unsigned long e = ERR_peek_last_error();
	long v = t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;

	if (why)
		snprintf(buf, sizeof(buf), "%s", why);
	else if (v != X509_V_OK)
		snprintf(buf, sizeof(buf), "certificate verification failed: %s",
			 X509_verify_cert_error_string(v));
	else if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	alert_sink_error(&t->base, LOG_ERR, "%s %s: %s", what, t->host, buf);
	tls_teardown(t);
	alert_retry_fail(&t->retry, now);
}

/*
 * OpenSSL writes with write(2): a peer that went away would raise SIGPIPE.
 * Block it around the call and eat one we caused, whatever the daemon's
 * signal setup.
 */
static int ssl_call(struct tls_sink *t, int (*fn)(SSL *, const void *, int),
		    const void *p, int n)
{
	sigset_t pipe, old, pending;
	struct timespec zero = { 0, 0 };
	bool was_pending;
	int r;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	r = fn(t->ssl, p, n);
	sigpending(&pending);
	if (!was_pending && sigismember(&pending, SIGPIPE))
		sigtimedwait(&pipe, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

static int do_write(SSL *ssl, const void *p, int n)
{
	return SSL_write(ssl, p, n);
}

static int do_handshake(SSL *ssl, const void *p, int n)
{
	return SSL_do_handshake(ssl);
}

/* 1 done, 0 waiting (t->want set), -1 failed. */
static int ssl_wait(struct tls_sink *t, int r)
{
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		t->want = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		t->want = POLLOUT;
		return 0;
	default:
		return -1;
	}
}

static void tls_flush(struct tls_sink *t, uint64_t now)
{
	struct alert_msg *m;

	while (t->state == T_UP && (m = alert_queue_head(&t->q))) {
		int r;

		ERR_clear_error();
		r = ssl_call(t, do_write, m->data, (int)m->len);
		if (r > 0) {
			alert_queue_pop(&t->q);
			t->base.st.sent++;
			continue;
		}
		if (ssl_wait(t, r) < 0)
			tls_fail(t, now, "write to", NULL);
		break;
	}
	if (t->state == T_UP && !t->q.count)
		t->want = POLLIN;	/* idle: only watch for the peer closing */
	t->base.st.queued = t->q.count;
}

static void tls_handshake(struct tls_sink *t, uint64_t now)
{
	int r;

	ERR_clear_error();
	r = ssl_call(t, do_handshake, NULL, 0);
	if (r == 1) {
		char msg[ALERT_SINK_NAME_MAX + ALERT_HOST_MAX + 64];

		t->state = T_UP;
		t->base.st.connects++;
		t->base.last_error[0] = '\0';
		alert_retry_ok(&t->retry);
		snprintf(msg, sizeof(msg), "alert sink %s: connected to %s (%s)",
			 t->base.name, t->host, SSL_get_version(t->ssl));
		t->base.log(t->base.log_ctx, LOG_INFO, msg);
		tls_flush(t, now);
	} else if (ssl_wait(t, r) < 0) {
		tls_fail(t, now, "TLS handshake with", NULL);
	}
}

static int tls_start_ssl(struct tls_sink *t)
{
	X509_VERIFY_PARAM *vp;

	t->ssl = SSL_new(t->ctx);
	if (!t->ssl || !SSL_set_fd(t->ssl, t->fd))
		return -1;
	SSL_set_connect_state(t->ssl);
	vp = SSL_get0_param(t->ssl);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (t->host_is_ip)
		return X509_VERIFY_PARAM_set1_ip_asc(vp, t->host) ? 0 : -1;
	if (!SSL_set_tlsext_host_name(t->ssl, t->host) ||
	    !X509_VERIFY_PARAM_set1_host(vp, t->host, 0))
		return -1;
	return 0;
}

static void tls_connected(struct tls_sink *t, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		tls_fail(t, now, "connect to", strerror(err));
		return;
	}
	if (tls_start_ssl(t) < 0) {
		tls_fail(t, now, "TLS setup for", NULL);
		return;
	}
	t->state = T_HANDSHAKE;
	tls_handshake(t, now);
}

static int tls_open(struct alert_sink *s, uint64_t now)
{
	struct tls_sink *t = to_tls(s);
	int one = 1, err;

	tls_teardown(t);
	t->fd = socket(t->addr.ss_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		goto out_err;
	setsockopt(t->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	t->deadline = now + t->timeout;
	if (connect(t->fd, (struct sockaddr *)&t->addr, t->alen) < 0 &&
	    errno != EINPROGRESS)
		goto out_err;
	t->state = T_CONNECTING;
	t->want = POLLOUT;
	return 0;

out_err:
	err = -errno;
	tls_fail(t, now, "connect to", strerror(-err));
	return err;
}

static int tls_emit(struct alert_sink *s, const struct alert *a, uint64_t now)
{
	struct tls_sink *t = to_tls(s);
	int r;

	alert_buf_reset(&t->msg);
	alert_buf_reset(&t->frame);
	r = alert_syslog_format(&t->fmt, a, s->seq, &t->msg);
	alert_buf_printf(&t->frame, "%zu ", t->msg.len);
	alert_buf_put(&t->frame, t->msg.p, t->msg.len);
	if (r || t->frame.err) {
		alert_sink_drop(s, ALERT_DROP_FORMAT, 1);
		return r ? r : t->frame.err;
	}
	r = alert_queue_push(&t->q, t->frame.p, t->frame.len);
	if (r) {
		alert_sink_drop(s, r == -ENOBUFS ? ALERT_DROP_QUEUE_FULL
						 : ALERT_DROP_FORMAT, 1);
		return r;
	}
	s->st.queued = t->q.count;
	if (s->st.queued > s->st.queued_peak)
		s->st.queued_peak = s->st.queued;
	tls_flush(t, now);
	return 0;
}

static int tls_poll_fd(struct alert_sink *s, short *events)
{
	struct tls_sink *t = to_tls(s);

	if (t->state == T_IDLE || t->fd < 0)
		return -1;
	*events = t->want ? t->want : POLLIN;
	return t->fd;
}

/* Peer data is not expected: read it away, notice EOF or an error. */
static void tls_drain(struct tls_sink *t, uint64_t now)
{
	char junk[4096];

	for (int i = 0; i < 16 && t->state == T_UP; i++) {
		int r;

		ERR_clear_error();
		r = SSL_read(t->ssl, junk, sizeof(junk));
		if (r > 0)
			continue;
		if (ssl_wait(t, r) < 0)
			tls_fail(t, now, "connection closed by", NULL);
		else
			t->want = t->q.count ? POLLOUT : POLLIN;
		return;
	}
}

static void tls_on_ready(struct alert_sink *s, short revents, uint64_t now)
{
	struct tls_sink *t = to_tls(s);

	switch (t->state) {
	case T_CONNECTING:
		tls_connected(t, now);
		break;
	case T_HANDSHAKE:
		tls_handshake(t, now);
		break;
	case T_UP:
		if (revents & (POLLIN | POLLHUP | POLLERR))
			tls_drain(t, now);
		tls_flush(t, now);
		break;
	case T_IDLE:
		break;
	}
}

static int64_t tls_tick(struct alert_sink *s, uint64_t now)
{
	struct tls_sink *t = to_tls(s);

	if (t->state == T_IDLE && !alert_retry_wait(&t->retry, now))
		tls_open(s, now);
	if ((t->state == T_CONNECTING || t->state == T_HANDSHAKE) &&
	    now >= t->deadline)
		tls_fail(t, now, "connect to", "timed out");
	switch (t->state) {
	case T_IDLE:
		return (int64_t)alert_retry_wait(&t->retry, now);
	case T_CONNECTING:
	case T_HANDSHAKE:
		return (int64_t)(t->deadline - now);
	default:
		return -1;
	}
}

static void tls_close(struct alert_sink *s)
{
	struct tls_sink *t = to_tls(s);

	if (t->state == T_UP) {
		tls_flush(t, alert_now_mono());
		if (t->state == T_UP)
			SSL_shutdown(t->ssl);	/* close_notify, no wait */
	}
	tls_teardown(t);
	alert_sink_drop(s, ALERT_DROP_CLOSED, t->q.count);
	while (t->q.count)
		alert_queue_pop(&t->q);
	s->st.queued = 0;
}

static void tls_free(struct alert_sink *s)
{
	struct tls_sink *t = to_tls(s);

	tls_teardown(t);
	SSL_CTX_free(t->ctx);
	alert_queue_release(&t->q);
	alert_buf_release(&t->msg);
	alert_buf_release(&t->frame);
	free(t);
}

static const struct alert_sink_ops tls_ops = {
	.kind = "tls",
	.open = tls_open,
	.emit = tls_emit,
	.poll_fd = tls_poll_fd,
	.on_ready = tls_on_ready,
	.tick = tls_tick,
	.close = tls_close,
	.free = tls_free,
};

static int tls_ctx(struct tls_sink *t, const struct alert_sink_conf *c)
{
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx || !SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION))
		return -ENOMEM;
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (!SSL_CTX_load_verify_locations(t->ctx, c->ca_file, NULL)) {
		alert_sink_error(&t->base, LOG_ERR, "cannot load CA file %s",
				 c->ca_file);
		return -EINVAL;
	}
	if (!c->cert_file)
		return 0;
	if (SSL_CTX_use_certificate_chain_file(t->ctx, c->cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(t->ctx, c->key_file ? c->key_file
					: c->cert_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(t->ctx) != 1) {
		alert_sink_error(&t->base, LOG_ERR, "cannot load client "
				 "certificate %s", c->cert_file);
		return -EINVAL;
	}
	return 0;
}

static int tls_resolve(struct tls_sink *t, const struct alert_sink_conf *c)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	unsigned char bin[sizeof(struct in6_addr)];

	if (!c->host || strlen(c->host) >= sizeof(t->host))
		return -EINVAL;
	snprintf(t->host, sizeof(t->host), "%s", c->host);
	t->host_is_ip = inet_pton(AF_INET, c->host, bin) == 1 ||
			inet_pton(AF_INET6, c->host, bin) == 1;
	/* Blocking lookup, once, at start-up: never in the event loop. */
	if (getaddrinfo(c->host, c->port ? c->port : "6514", &hints, &ai))
		return -EHOSTUNREACH;
	memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
	t->alen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int alert_tls_new(const struct alert_sink_conf *c, struct alert_sink **out)
{
	struct tls_sink *t;
	int r;

	if (!c->ca_file || !c->host)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	alert_sink_base_init(&t->base, &tls_ops, c->name);
	t->fd = -1;
	r = alert_fmt_init(&t->fmt, c);
	if (!r)
		r = tls_resolve(t, c);
	if (!r)
		r = tls_ctx(t, c);
	if (!r)
		r = alert_queue_init(&t->q, c->queue_max, c->queue_bytes);
	if (r) {
		SSL_CTX_free(t->ctx);
		alert_queue_release(&t->q);
		free(t);
		return r;
	}
	alert_buf_init(&t->msg, t->fmt.max_len + 16384);
	alert_buf_init(&t->frame, t->fmt.max_len + 16384 + 32);
	alert_retry_init(&t->retry, c->backoff_min_us, c->backoff_max_us);
	t->timeout = c->connect_timeout_us ? c->connect_timeout_us : 10000000;
	*out = &t->base;
	return 0;
}
