/*
 * upcall_fake.h - the test fixture shared by the upcall client's test
 * programs: a fake QEMU chardev socket with a scripted (often hostile)
 * agent behind it, and helpers to ask, answer and pump the event loop.
 * Header-only so each test program gets its own copy of the state.
 */
#ifndef UPCALLD_TESTS_UPCALL_FAKE_H
#define UPCALLD_TESTS_UPCALL_FAKE_H

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "upcall.h"

#define MS 1000000ull
#define MAX_RES 1024
#define MAX_FIND 8192

struct fake {
	char path[108];
	int lfd, cfd;
	struct wire_rx rx;
	uint8_t body[WIRE_REQ_BODY_MAX];	/* last request's body */
};

static char dir[64];
static uint8_t kbytes[WIRE_KEY_LEN];
static struct wire_key *key, *bad_key;
static struct upcall_result *res[MAX_RES];
static int nres;
static struct upcall_finding finds[MAX_FIND];
static int nfind;
static struct fake F;		/* the fixture's guest ... */
static struct upcall *U;	/* ... and its client */
static uint8_t fr[8192];	/* scratch frames */

static inline void on_done(void *arg, struct upcall_result *r)
{
	ck_assert_int_lt(nres, MAX_RES);
	res[nres++] = r;
}

static inline void on_finding(void *arg, const struct upcall_finding *f)
{
	if (nfind < MAX_FIND)
		finds[nfind++] = *f;
}

static inline int count_findings(enum upcall_reason why)
{
	int n = 0;

	for (int i = 0; i < nfind; i++)
		n += finds[i].reason == why;
	return n;
}

static inline void setup(void)
{
	uint8_t other[WIRE_KEY_LEN];

	snprintf(dir, sizeof(dir), "/tmp/check_upcall.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (unsigned int i = 0; i < WIRE_KEY_LEN; i++) {
		kbytes[i] = (uint8_t)(i * 13 + 7);
		other[i] = (uint8_t)(i * 13 + 8);
	}
	ck_assert_int_eq(wire_key_new(kbytes, &key), 0);
	ck_assert_int_eq(wire_key_new(other, &bad_key), 0);
	nres = nfind = 0;
}

static inline void teardown(void)
{
	for (int i = 0; i < nres; i++)
		upcall_result_free(res[i]);
	wire_key_free(key);
	wire_key_free(bad_key);
	rmdir(dir);
}

/* ---- the fake QEMU + agent ---- */

static inline void fake_listen(struct fake *f, const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	f->cfd = -1;
	snprintf(f->path, sizeof(f->path), "%s/%s", dir, name);
	memcpy(a.sun_path, f->path, sizeof(f->path));
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	ck_assert_int_eq(wire_rx_init(&f->rx), 0);
}

static inline void fake_close(struct fake *f)
{
	if (f->cfd >= 0)
		close(f->cfd);
	close(f->lfd);
	unlink(f->path);
	wire_rx_release(&f->rx);
}

static inline struct upcall *client_new(struct fake *f, const uint8_t *k)
{
	struct upcall_cfg cfg = { .guest = "g", .on_finding = on_finding,
				  .reconnect_min_ns = 5 * MS,
				  .reconnect_max_ns = 20 * MS };
	struct xport *xp;
	struct upcall *u;

	memcpy(cfg.key, k, WIRE_KEY_LEN);
	ck_assert_int_eq(xport_qemu_new("g", f->path, &xp), 0);
	ck_assert_int_eq(upcall_new(&cfg, xp, &u), 0);
	return u;
}

static inline void pump(struct upcall *u, int ms)
{
	uint64_t end = upcall_now_ns() + (uint64_t)ms * MS;

	while (upcall_now_ns() < end)
		upcall_poll(&u, 1, 5);
}

/* Pump the client until the fake has accepted it. */
static inline void fake_accept(struct fake *f, struct upcall *u)
{
	for (int i = 0; i < 2000 && f->cfd < 0; i++) {
		upcall_poll(&u, 1, 1);
		f->cfd = accept(f->lfd, NULL, NULL);
	}
	ck_assert_int_ge(f->cfd, 0);
	wire_rx_reset(&f->rx);
}

/* Pump the client until a whole request reaches the fake. */
static inline void fake_get_request(struct fake *f, struct upcall *u,
			     struct wire_hdr *h)
{
	struct wire_rx_event ev;

	if (f->cfd < 0)
		fake_accept(f, u);
	for (int i = 0; i < 2000; i++) {
		size_t room;
		uint8_t *p;
		ssize_t n;

		if (wire_rx_next(&f->rx, key, &ev) == WIRE_RX_FRAME) {
			*h = ev.hdr;
			memcpy(f->body, ev.body, h->body_len);
			return;
		}
		upcall_poll(&u, 1, 1);
		p = wire_rx_space(&f->rx, &room);
		n = recv(f->cfd, p, room, MSG_DONTWAIT);
		if (n > 0)
			wire_rx_commit(&f->rx, (size_t)n);
	}
	ck_abort_msg("no request reached the fake agent");
}

/* Write everything, pumping the client so neither side blocks. */
static inline void fake_send(struct fake *f, struct upcall *u, const void *buf,
		      size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(f->cfd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
		upcall_poll(&u, 1, 0);
	}
}

/* A reply frame to req; returns its length. */
static inline size_t reply(const struct wire_key *k, const struct wire_hdr *req,
		    unsigned int status, uint32_t flags, uint32_t seq,
		    const void *body, uint32_t len, uint8_t *out)
{
	struct wire_hdr h = *req;

	h.type = WIRE_T_REPLY;
	h.status = (uint16_t)status;
	h.flags = flags;
	h.seq = seq;
	h.body_len = len;
	ck_assert_int_eq(wire_encode(k, &h, body, out, wire_frame_len(len)),
			 (int)wire_frame_len(len));
	return wire_frame_len(len);
}

static inline int proc_body(uint8_t *b, size_t cap, int first_pid, int n)
{
	int len = 0;

	for (int i = 0; i < n; i++) {
		struct wire_proc p = { .pid = first_pid + i, .ppid = 1,
				       .tgid = first_pid + i, .state = 'S',
				       .start_ns = 1000, .exe = "/bin/x",
				       .exe_len = 6 };
		int k;

		snprintf(p.comm, sizeof(p.comm), "p%d", first_pid + i);
		k = wire_proc_put(b + len, cap - (size_t)len, &p);
		ck_assert_int_gt(k, 0);
		len += k;
	}
	return len;
}

static inline uint64_t submit(struct upcall *u, unsigned int q, uint64_t timeout_ms)
{
	struct upcall_query qq = { .query = q, .pid = WIRE_PID_ALL,
				   .timeout_ns = timeout_ms * MS,
				   .done = on_done };
	uint64_t id;

	ck_assert_int_eq(upcall_submit(u, &qq, upcall_now_ns(), &id), 0);
	return id;
}

static inline void wait_results(struct upcall *u, int n, int ms)
{
	uint64_t end = upcall_now_ns() + (uint64_t)ms * MS;

	while (nres < n && upcall_now_ns() < end)
		upcall_poll(&u, 1, 5);
	ck_assert_int_eq(nres, n);
}

static inline void guest_setup(void)
{
	setup();
	fake_listen(&F, "s");
	U = client_new(&F, kbytes);
}

static inline void guest_teardown(void)
{
	upcall_free(U);		/* pending requests end as cancelled */
	U = NULL;
	fake_close(&F);
	teardown();
}

/* Submit query q and hand its request to the fake agent. */
static inline uint64_t ask(unsigned int q, uint64_t timeout_ms, struct wire_hdr *h)
{
	uint64_t id = submit(U, q, timeout_ms);

	fake_get_request(&F, U, h);
	ck_assert_uint_eq(h->req_id, id);
	ck_assert_uint_eq(h->type, WIRE_T_REQUEST);
	return id;
}

/* The fake agent answers req with one frame. */
static inline void answer(const struct wire_key *k, const struct wire_hdr *req,
		   unsigned int status, uint32_t flags, uint32_t seq,
		   const void *body, uint32_t len)
{
	fake_send(&F, U, fr, reply(k, req, status, flags, seq, body, len, fr));
}

/* ---- good answers ---- */

#endif
