/*
 * check_alert_tls.c - RFC 5425 syslog over TLS against a real OpenSSL
 * server in a thread on 127.0.0.1, with a throwaway CA and certificates
 * made at test time: octet-counted frames arrive intact; a server with a
 * certificate for another name or from an untrusted CA gets no byte; a
 * server that is down makes alerts queue up to the bound, then counted
 * drops; it comes back and gets the queue; a connection that breaks is
 * re-established; a peer that never speaks TLS times out.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alert.h"

#define MS 1000ull

/* --- throwaway PKI ------------------------------------------------------ */

static void add_ext(X509 *x, X509 *issuer, int nid, const char *v)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	ck_assert_ptr_nonnull(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A CA when issuer is NULL (self-signed), else a server cert with san. */
static X509 *mkcert(EVP_PKEY *key, const char *cn, X509 *issuer,
		    EVP_PKEY *ikey, const char *san)
{
	static long serial = 1;
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
	add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	if (!issuer) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
		add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
		add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
		add_ext(x, issuer, NID_subject_alt_name, san);
	}
	ck_assert_int_gt(X509_sign(x, ikey ? ikey : key, EVP_sha256()), 0);
	return x;
}

struct pki {
	EVP_PKEY *ca_key, *rogue_key, *srv_key;
	X509 *ca, *rogue, *good, *wrong_name, *untrusted;
	char dir[64], ca_file[96];
};

static void pki_make(struct pki *p)
{
	FILE *f;

	p->ca_key = EVP_EC_gen("P-256");
	p->rogue_key = EVP_EC_gen("P-256");
	p->srv_key = EVP_EC_gen("P-256");
	ck_assert(p->ca_key && p->rogue_key && p->srv_key);
	p->ca = mkcert(p->ca_key, "upcalld test CA", NULL, NULL, NULL);
	p->rogue = mkcert(p->rogue_key, "upcalld test CA", NULL, NULL, NULL);
	p->good = mkcert(p->srv_key, "siem", p->ca, p->ca_key,
			 "IP:127.0.0.1,DNS:localhost");
	p->wrong_name = mkcert(p->srv_key, "siem", p->ca, p->ca_key,
			       "DNS:wrong.example,IP:10.9.9.9");
	p->untrusted = mkcert(p->srv_key, "siem", p->rogue, p->rogue_key,
			      "IP:127.0.0.1");
	snprintf(p->dir, sizeof(p->dir), "/tmp/check_alert_tls.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(p->dir));
	snprintf(p->ca_file, sizeof(p->ca_file), "%s/ca.pem", p->dir);
	f = fopen(p->ca_file, "w");
	ck_assert(f && PEM_write_X509(f, p->ca));
	fclose(f);
}

static void pki_free(struct pki *p)
{
	X509_free(p->ca);
	X509_free(p->rogue);
	X509_free(p->good);
	X509_free(p->wrong_name);
	X509_free(p->untrusted);
	EVP_PKEY_free(p->ca_key);
	EVP_PKEY_free(p->rogue_key);
	EVP_PKEY_free(p->srv_key);
	unlink(p->ca_file);
	rmdir(p->dir);
}

/* --- the server: one connection at a time, appends what it reads ------- */

struct srv {
	int lfd;
	unsigned short port;
	SSL_CTX *ctx;
	pthread_t th;
	pthread_mutex_t mu;
	bool stop;
	int hs_ok, hs_fail;
	char *data;
	size_t len;
};

static bool srv_stopping(struct srv *s)
{
	bool r;

	pthread_mutex_lock(&s->mu);
	r = s->stop;
	pthread_mutex_unlock(&s->mu);
	return r;
}

static void srv_conn(struct srv *s, int c)
{
	struct timeval tv = { 2, 0 };
	SSL *ssl = SSL_new(s->ctx);
	char buf[16384];
	bool ok;

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	SSL_set_fd(ssl, c);
	ok = SSL_accept(ssl) == 1;
	pthread_mutex_lock(&s->mu);
	*(ok ? &s->hs_ok : &s->hs_fail) += 1;
	pthread_mutex_unlock(&s->mu);
	while (ok && !srv_stopping(s)) {
		struct pollfd p = { .fd = c, .events = POLLIN };
		int n;

		if (!SSL_pending(ssl) && poll(&p, 1, 20) != 1)
			continue;
		n = SSL_read(ssl, buf, sizeof(buf));
		if (n <= 0)
			break;
		pthread_mutex_lock(&s->mu);
		s->data = realloc(s->data, s->len + (size_t)n);
		memcpy(s->data + s->len, buf, (size_t)n);
		s->len += (size_t)n;
		pthread_mutex_unlock(&s->mu);
	}
	SSL_free(ssl);
	close(c);
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	sigset_t pipe;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	while (!srv_stopping(s)) {
		struct pollfd p = { .fd = s->lfd, .events = POLLIN };
		int c;

		if (poll(&p, 1, 20) != 1)
			continue;
		c = accept(s->lfd, NULL, NULL);
		if (c >= 0)
			srv_conn(s, c);
	}
	return NULL;
}

static int listen_on(unsigned short *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(*port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void srv_start(struct srv *s, X509 *cert, EVP_PKEY *key,
		      unsigned short port)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	s->ctx = SSL_CTX_new(TLS_server_method());
	ck_assert_int_eq(SSL_CTX_use_certificate(s->ctx, cert), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(s->ctx, key), 1);
	s->port = port;
	s->lfd = listen_on(&s->port);
	pthread_create(&s->th, NULL, srv_main, s);
}

static void srv_stop(struct srv *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
	free(s->data);
	pthread_mutex_destroy(&s->mu);
}

/*
 * Walk "LEN SP MSG" frames; each MSG must be RFC 5424 and carry
 * sequenceId first_seq, first_seq + 1, ... Returns the frame count, or -1
 * if the stream is malformed.
 */
static int frames(struct srv *s, unsigned long *seqs, int max)
{
	int n = 0;
	size_t o = 0;

	pthread_mutex_lock(&s->mu);
	while (o < s->len && n < max) {
		char *end, *m, *q;
		unsigned long len = strtoul(s->data + o, &end, 10);

		if (end == s->data + o || (size_t)(end - s->data) >= s->len ||
		    *end != ' ' || s->data[o] == '0')
			break;		/* partial frame header: wait */
		m = end + 1;
		if ((size_t)(m - s->data) + len > s->len)
			break;		/* frame body not all here yet */
		if (m[0] != '<' || memchr(m, '\n', len) ||
		    !(q = memmem(m, len, "[meta sequenceId=\"", 18))) {
			n = -1;
			break;
		}
		seqs[n++] = strtoul(q + 18, NULL, 10);
		o = (size_t)(m - s->data) + len;
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

static unsigned short free_port(void)
{
	unsigned short port = 0;

	close(listen_on(&port));
	return port;
}

struct want {
	struct srv *srv;
	struct alert_sink *s;
	int frames;
	uint64_t errors;
};

static bool have_frames(struct want *w)
{
	unsigned long seqs[512];

	return frames(w->srv, seqs, 512) >= w->frames;
}

static bool have_errors(struct want *w)
{
	return w->s->st.errors >= w->errors;
}

/* Drive the sink as the daemon's poll loop would, up to ms. */
static bool pump(struct alert_sink *s, bool (*done)(struct want *),
		 struct want *w, int ms)
{
	uint64_t end = alert_now_mono() + (uint64_t)ms * MS;

	while (!done(w)) {
		uint64_t now = alert_now_mono();
		int64_t wait = alert_sink_tick(s, now);
		short ev;
		int fd = alert_sink_poll_fd(s, &ev), to = 10;
		struct pollfd p = { .fd = fd, .events = ev };

		if (now > end)
			return false;
		if (wait >= 0 && wait / 1000 < to)
			to = (int)(wait / 1000) + 1;
		if (poll(&p, fd >= 0, to) == 1)
			alert_sink_on_ready(s, p.revents, alert_now_mono());
	}
	return true;
}

/* What the sink told the daemon's log (one test per process: static). */
static char logged[8192];

static void log_cap(void *ctx, int prio, const char *msg)
{
	size_t n = strlen(logged);

	snprintf(logged + n, sizeof(logged) - n, "%d %s\n", prio, msg);
}

static struct alert_sink *client(struct pki *p, unsigned short port,
				 unsigned int qmax)
{
	char ps[16];
	struct alert_sink_conf c = { .hostname = "dom0", .host = "127.0.0.1",
				     .port = ps, .ca_file = p->ca_file,
				     .queue_max = qmax,
				     .backoff_min_us = 20 * MS,
				     .backoff_max_us = 100 * MS };
	struct alert_sink *s;

	snprintf(ps, sizeof(ps), "%u", port);
	ck_assert_int_eq(alert_tls_new(&c, &s), 0);
	s->log = log_cap;
	alert_sink_open(s, alert_now_mono());
	return s;
}

static void emit(struct alert_sink *s, int n)
{
	struct alert a;

	alert_init(&a, alert_now_real(), 2);
	alert_set_str(&a, rule, "tls_rule");
	alert_set_str(&a, guest, "web\n01");
	alert_set_str(&a, output, "line1\nline2 \"]\\ 12 <13>1 forged");
	for (int i = 0; i < n; i++)
		alert_sink_emit(s, &a, alert_now_mono());
}

START_TEST(test_frames_arrive_intact_over_verified_tls)
{
	struct pki p;
	struct srv srv;
	struct alert_sink *s;
	unsigned long seqs[64];
	char *big = malloc(1u << 20);
	struct alert a;
	struct want w = { .srv = &srv, .frames = 41 };

	pki_make(&p);
	srv_start(&srv, p.good, p.srv_key, 0);
	s = client(&p, srv.port, 0);
	emit(s, 40);
	memset(big, 'x', (1u << 20) - 1);
	big[(1u << 20) - 1] = '\0';
	alert_init(&a, alert_now_real(), 2);
	alert_set_str(&a, output, big);
	alert_sink_emit(s, &a, alert_now_mono());
	ck_assert(pump(s, have_frames, &w, 10000));
	ck_assert_int_eq(frames(&srv, seqs, 64), 41);
	for (int i = 0; i < 41; i++)
		ck_assert_uint_eq(seqs[i], (unsigned long)i + 1);
	ck_assert_uint_eq(s->st.sent, 41);
	ck_assert_uint_eq(s->st.errors, 0);
	ck_assert_uint_eq(s->st.connects, 1);
	alert_sink_free(s);
	srv_stop(&srv);
	pki_free(&p);
	free(big);
}
END_TEST

static void refused(X509 *(*pick)(struct pki *), const char *why)
{
	struct pki p;
	struct srv srv;
	struct alert_sink *s;
	struct want w = { .errors = 1 };

	pki_make(&p);
	srv_start(&srv, pick(&p), p.srv_key, 0);
	s = client(&p, srv.port, 0);
	w.s = s;
	emit(s, 3);
	ck_assert(pump(s, have_errors, &w, 10000));
	ck_assert_ptr_nonnull(strstr(s->last_error, why));
	ck_assert_ptr_nonnull(strstr(logged, why));	/* and it was logged */
	ck_assert_ptr_null(strstr(logged, "connected to"));
	ck_assert_uint_eq(s->st.connects, 0);
	ck_assert_uint_eq(s->st.sent, 0);
	ck_assert_uint_eq(s->st.queued, 3);	/* kept for a fixed server */
	alert_sink_free(s);
	pthread_mutex_lock(&srv.mu);
	ck_assert_uint_eq(srv.len, 0);		/* not one byte of an alert */
	ck_assert_int_eq(srv.hs_ok, 0);
	pthread_mutex_unlock(&srv.mu);
	srv_stop(&srv);
	pki_free(&p);
}

static X509 *pick_wrong_name(struct pki *p)
{
	return p->wrong_name;
}

static X509 *pick_untrusted(struct pki *p)
{
	return p->untrusted;
}

START_TEST(test_server_cert_for_other_name_is_refused_no_data_sent)
{
	refused(pick_wrong_name, "certificate verification failed: "
		"IP address mismatch");
}
END_TEST

START_TEST(test_server_cert_from_untrusted_ca_is_refused_no_data_sent)
{
	refused(pick_untrusted, "certificate verification failed");
}
END_TEST

START_TEST(test_server_down_queues_to_bound_then_reconnects_and_delivers)
{
	unsigned short port = free_port();
	struct want w = { .errors = 1 };
	unsigned long seqs[64];
	struct alert_sink *s;
	struct srv srv;
	struct pki p;

	pki_make(&p);
	s = client(&p, port, 5);
	w.s = s;
	ck_assert(pump(s, have_errors, &w, 5000));	/* refused */
	emit(s, 8);
	ck_assert_uint_eq(s->st.queued, 5);
	ck_assert_uint_eq(s->st.dropped[ALERT_DROP_QUEUE_FULL], 3);
	srv_start(&srv, p.good, p.srv_key, port);
	w.srv = &srv;
	w.frames = 5;
	ck_assert(pump(s, have_frames, &w, 10000));
	emit(s, 1);
	w.frames = 6;
	ck_assert(pump(s, have_frames, &w, 10000));
	ck_assert_int_eq(frames(&srv, seqs, 64), 6);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(seqs[i], (unsigned long)i + 1);
	ck_assert_uint_eq(seqs[5], 9);		/* 6..8 were dropped */
	ck_assert_uint_eq(s->st.connects, 1);
	/* the server goes away under a live connection, then returns */
	srv_stop(&srv);
	w.errors = s->st.errors + 1;
	ck_assert(pump(s, have_errors, &w, 5000));
	emit(s, 2);
	srv_start(&srv, p.good, p.srv_key, port);
	w.srv = &srv;
	w.frames = 2;
	ck_assert(pump(s, have_frames, &w, 10000));
	ck_assert_int_eq(frames(&srv, seqs, 64), 2);
	ck_assert_uint_eq(seqs[0], 10);
	ck_assert_uint_eq(seqs[1], 11);
	ck_assert_uint_eq(s->st.connects, 2);
	ck_assert_uint_eq(s->st.sent, 8);
	alert_sink_free(s);
	srv_stop(&srv);
	pki_free(&p);
}
END_TEST

START_TEST(test_write_to_vanished_server_raises_no_sigpipe_and_resends)
{
	struct want w = { .frames = 1 };
	unsigned long seqs[8];
	struct alert_sink *s;
	struct srv srv;
	struct pki p;
	unsigned short port;

	pki_make(&p);
	srv_start(&srv, p.good, p.srv_key, 0);
	port = srv.port;
	s = client(&p, port, 0);
	w.srv = &srv;
	emit(s, 1);
	ck_assert(pump(s, have_frames, &w, 10000));
	srv_stop(&srv);			/* FIN reaches us; we do not look */
	usleep(50000);
	emit(s, 1);			/* accepted by our kernel; RST back */
	usleep(50000);
	emit(s, 1);			/* EPIPE: SIGPIPE would kill us */
	ck_assert_uint_eq(s->st.errors, 1);
	ck_assert_ptr_nonnull(strstr(s->last_error, "write to 127.0.0.1"));
	ck_assert_uint_eq(s->st.queued, 1);
	/* The second was handed to TCP and is lost: the known RFC 5425 gap. */
	ck_assert_uint_eq(s->st.sent, 2);
	srv_start(&srv, p.good, p.srv_key, port);
	w.srv = &srv;
	ck_assert(pump(s, have_frames, &w, 10000));
	ck_assert_int_eq(frames(&srv, seqs, 8), 1);
	ck_assert_uint_eq(seqs[0], 3);
	alert_sink_free(s);
	srv_stop(&srv);
	pki_free(&p);
}
END_TEST

START_TEST(test_peer_that_never_speaks_tls_times_out)
{
	unsigned short port = 0;
	int lfd = listen_on(&port);	/* accepts in the kernel, never reads */
	struct want w = { .errors = 1 };
	struct alert_sink_conf c = { .host = "127.0.0.1", .ca_file = "/dev/null",
				     .connect_timeout_us = 100 * MS };
	char ps[16];
	struct pki p;

	pki_make(&p);
	c.ca_file = p.ca_file;
	snprintf(ps, sizeof(ps), "%u", port);
	c.port = ps;
	ck_assert_int_eq(alert_tls_new(&c, &w.s), 0);
	alert_sink_open(w.s, alert_now_mono());
	ck_assert(pump(w.s, have_errors, &w, 5000));
	ck_assert_ptr_nonnull(strstr(w.s->last_error, "timed out"));
	alert_sink_free(w.s);
	close(lfd);
	c.ca_file = "/nonexistent/ca.pem";
	ck_assert_int_eq(alert_tls_new(&c, &w.s), -EINVAL);
	pki_free(&p);
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *s = suite_create("alert_tls");
	TCase *t = tcase_create("tls");

	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_frames_arrive_intact_over_verified_tls);
	tcase_add_test(t, test_server_cert_for_other_name_is_refused_no_data_sent);
	tcase_add_test(t, test_server_cert_from_untrusted_ca_is_refused_no_data_sent);
	tcase_add_test(t, test_server_down_queues_to_bound_then_reconnects_and_delivers);
	tcase_add_test(t, test_write_to_vanished_server_raises_no_sigpipe_and_resends);
	tcase_add_test(t, test_peer_that_never_speaks_tls_times_out);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tls_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
