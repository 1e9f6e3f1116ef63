/*
 * check_upcall.c - unit tests of the upcall client (daemon/upcall.c) over
 * the real qemu transport: each test plays QEMU's chardev socket and a
 * scripted, often hostile, agent behind it. Every rejection reason is
 * provoked on purpose (bad MAC, stale nonce, unknown and late ids, wrong
 * version, oversize frames and replies, truncated frames and records,
 * malformed bodies, deadlines, garbage), as are reconnection, frames cut
 * at every byte, and one event loop serving many guests with one stalled.
 */
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

static void on_done(void *arg, struct upcall_result *r)
{
	ck_assert_int_lt(nres, MAX_RES);
	res[nres++] = r;
}

static void on_finding(void *arg, const struct upcall_finding *f)
{
	if (nfind < MAX_FIND)
		finds[nfind++] = *f;
}

static int count_findings(enum upcall_reason why)
{
	int n = 0;

	for (int i = 0; i < nfind; i++)
		n += finds[i].reason == why;
	return n;
}

static void setup(void)
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

static void teardown(void)
{
	for (int i = 0; i < nres; i++)
		upcall_result_free(res[i]);
	wire_key_free(key);
	wire_key_free(bad_key);
	rmdir(dir);
}

/* ---- the fake QEMU + agent ---- */

static void fake_listen(struct fake *f, const char *name)
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

static void fake_close(struct fake *f)
{
	if (f->cfd >= 0)
		close(f->cfd);
	close(f->lfd);
	unlink(f->path);
	wire_rx_release(&f->rx);
}

static struct upcall *client_new(struct fake *f, const uint8_t *k)
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

static void pump(struct upcall *u, int ms)
{
	uint64_t end = upcall_now_ns() + (uint64_t)ms * MS;

	while (upcall_now_ns() < end)
		upcall_poll(&u, 1, 5);
}

/* Pump the client until the fake has accepted it. */
static void fake_accept(struct fake *f, struct upcall *u)
{
	for (int i = 0; i < 2000 && f->cfd < 0; i++) {
		upcall_poll(&u, 1, 1);
		f->cfd = accept(f->lfd, NULL, NULL);
	}
	ck_assert_int_ge(f->cfd, 0);
	wire_rx_reset(&f->rx);
}

/* Pump the client until a whole request reaches the fake. */
static void fake_get_request(struct fake *f, struct upcall *u,
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
static void fake_send(struct fake *f, struct upcall *u, const void *buf,
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
static size_t reply(const struct wire_key *k, const struct wire_hdr *req,
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

static int proc_body(uint8_t *b, size_t cap, int first_pid, int n)
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

static uint64_t submit(struct upcall *u, unsigned int q, uint64_t timeout_ms)
{
	struct upcall_query qq = { .query = q, .pid = WIRE_PID_ALL,
				   .timeout_ns = timeout_ms * MS,
				   .done = on_done };
	uint64_t id;

	ck_assert_int_eq(upcall_submit(u, &qq, upcall_now_ns(), &id), 0);
	return id;
}

static void wait_results(struct upcall *u, int n, int ms)
{
	uint64_t end = upcall_now_ns() + (uint64_t)ms * MS;

	while (nres < n && upcall_now_ns() < end)
		upcall_poll(&u, 1, 5);
	ck_assert_int_eq(nres, n);
}

static void guest_setup(void)
{
	setup();
	fake_listen(&F, "s");
	U = client_new(&F, kbytes);
}

static void guest_teardown(void)
{
	upcall_free(U);		/* pending requests end as cancelled */
	U = NULL;
	fake_close(&F);
	teardown();
}

/* Submit query q and hand its request to the fake agent. */
static uint64_t ask(unsigned int q, uint64_t timeout_ms, struct wire_hdr *h)
{
	uint64_t id = submit(U, q, timeout_ms);

	fake_get_request(&F, U, h);
	ck_assert_uint_eq(h->req_id, id);
	ck_assert_uint_eq(h->type, WIRE_T_REQUEST);
	return id;
}

/* The fake agent answers req with one frame. */
static void answer(const struct wire_key *k, const struct wire_hdr *req,
		   unsigned int status, uint32_t flags, uint32_t seq,
		   const void *body, uint32_t len)
{
	fake_send(&F, U, fr, reply(k, req, status, flags, seq, body, len, fr));
}

/* ---- good answers ---- */

START_TEST(test_reply_with_right_id_and_nonce_completes_with_records)
{
	struct wire_hdr h;
	uint8_t body[4096];
	int blen = proc_body(body, sizeof(body), 100, 3);

	ask(WIRE_Q_PROCS, 2000, &h);
	answer(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, body, (uint32_t)blen);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_OK);
	ck_assert_uint_eq(res[0]->status, WIRE_ST_OK);
	ck_assert_uint_eq(res[0]->nprocs, 3);
	ck_assert_int_eq(res[0]->procs[2].pid, 102);
	ck_assert_str_eq(res[0]->procs[2].comm, "p102");
	ck_assert_str_eq(res[0]->procs[2].exe, "/bin/x");
	ck_assert_int_eq(nfind, 0);
}
END_TEST

START_TEST(test_multi_frame_reply_is_reassembled_in_order)
{
	struct wire_hdr h;
	uint8_t body[4096];

	ask(WIRE_Q_PROCS, 2000, &h);
	for (uint32_t s = 0; s < 5; s++) {
		int blen = proc_body(body, sizeof(body), 10 * (int)s + 1, 10);

		answer(key, &h, WIRE_ST_OK, s == 4 ? WIRE_F_LAST : 0, s, body,
		       (uint32_t)blen);
	}
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_OK);
	ck_assert_uint_eq(res[0]->frames, 5);
	ck_assert_uint_eq(res[0]->nprocs, 50);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(res[0]->procs[i].pid, i + 1);
}
END_TEST

START_TEST(test_unsupported_status_passes_through_without_finding)
{
	struct wire_hdr h;

	ask(77, 2000, &h);
	ck_assert_uint_eq(h.query, 77);
	answer(key, &h, WIRE_ST_UNSUPPORTED, WIRE_F_LAST, 0, NULL, 0);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_OK);
	ck_assert_uint_eq(res[0]->status, WIRE_ST_UNSUPPORTED);
	ck_assert_int_eq(nfind, 0);
}
END_TEST

START_TEST(test_reason_names_are_stable)
{
	ck_assert_str_eq(upcall_reason_str(UPCALL_F_BAD_MAC), "bad_mac");
	ck_assert_str_eq(upcall_reason_str(UPCALL_F_DEADLINE), "deadline");
	ck_assert_str_eq(upcall_reason_str(UPCALL_F_STALE), "stale");
	ck_assert_str_eq(upcall_reason_str(UPCALL_REASON_MAX), "unknown");
	for (int r = 0; r < UPCALL_REASON_MAX; r++)
		ck_assert_str_ne(upcall_reason_str(r), "unknown");
}
END_TEST

/* ---- rejections ---- */

START_TEST(test_reply_made_with_wrong_key_is_bad_mac_then_deadline)
{
	struct wire_hdr h;
	uint8_t body[1024];
	int blen = proc_body(body, sizeof(body), 1, 2);

	ask(WIRE_Q_PROCS, 300, &h);
	answer(bad_key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, body, (uint32_t)blen);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(count_findings(UPCALL_F_BAD_MAC), 1);
	ck_assert_ptr_nonnull(strstr(finds[0].detail, "MAC"));
	ck_assert_int_eq(res[0]->reason, UPCALL_F_DEADLINE);
	ck_assert_int_eq(count_findings(UPCALL_F_DEADLINE), 1);
}
END_TEST

START_TEST(test_tampered_body_is_bad_mac_finding)
{
	struct wire_hdr h;
	uint8_t body[1024];
	int blen = proc_body(body, sizeof(body), 1, 2);
	size_t n;

	ask(WIRE_Q_PROCS, 300, &h);
	n = reply(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, body, (uint32_t)blen, fr);
	fr[WIRE_HDR_LEN + 4] ^= 0x40;	/* the pid of the first record */
	fake_send(&F, U, fr, n);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(count_findings(UPCALL_F_BAD_MAC), 1);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_DEADLINE);
	ck_assert_uint_eq(res[0]->nprocs, 0);
}
END_TEST

START_TEST(test_replayed_reply_with_stale_nonce_is_nonce_finding)
{
	struct wire_hdr h, old;

	ask(WIRE_Q_MODULES, 2000, &h);
	old = h;
	old.nonce[3] ^= 1;	/* a recorded reply: same id, old nonce */
	answer(key, &old, WIRE_ST_OK, WIRE_F_LAST, 0, NULL, 0);
	pump(U, 30);
	ck_assert_int_eq(count_findings(UPCALL_F_NONCE), 1);
	ck_assert_int_eq(nres, 0);	/* the real answer may still come */
	answer(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, NULL, 0);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_OK);
}
END_TEST

START_TEST(test_reply_for_unknown_id_is_stale_finding)
{
	struct wire_hdr h, other;

	ask(WIRE_Q_MODULES, 2000, &h);
	other = h;
	other.req_id += 1000;
	answer(key, &other, WIRE_ST_OK, WIRE_F_LAST, 0, NULL, 0);
	pump(U, 30);
	ck_assert_int_eq(count_findings(UPCALL_F_STALE), 1);
	ck_assert_ptr_nonnull(strstr(finds[0].detail, "unknown"));
	ck_assert_int_eq(nres, 0);
}
END_TEST

START_TEST(test_reply_after_deadline_is_stale_finding_naming_ended_request)
{
	struct wire_hdr h;

	ask(WIRE_Q_MODULES, 50, &h);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_DEADLINE);
	ck_assert_ptr_nonnull(strstr(res[0]->detail, "no complete reply"));
	answer(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, NULL, 0);
	pump(U, 30);
	ck_assert_int_eq(count_findings(UPCALL_F_STALE), 1);
	ck_assert_ptr_nonnull(strstr(finds[nfind - 1].detail, "already ended"));
}
END_TEST

START_TEST(test_reply_in_other_version_ends_request_with_version)
{
	struct wire_hdr h;

	ask(WIRE_Q_MODULES, 2000, &h);
	h.version = 2;
	answer(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, NULL, 0);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_VERSION);
	ck_assert_int_eq(count_findings(UPCALL_F_VERSION), 1);
}
END_TEST

START_TEST(test_agent_version_status_is_version_finding)
{
	struct wire_hdr h;

	ask(WIRE_Q_MODULES, 2000, &h);
	answer(key, &h, WIRE_ST_VERSION, WIRE_F_LAST, 0, NULL, 0);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_VERSION);
}
END_TEST

START_TEST(test_oversize_frame_header_ends_request_with_oversize)
{
	struct wire_hdr h;
	uint8_t *p = fr;

	ask(WIRE_Q_PROCS, 2000, &h);
	memset(p, 0, WIRE_HDR_LEN);	/* sealed by hand: wire_seal refuses */
	wire_put32(p, WIRE_MAGIC);
	wire_put16(p + 4, WIRE_VERSION);
	wire_put16(p + 6, WIRE_T_REPLY);
	wire_put16(p + 8, h.query);
	wire_put32(p + 12, WIRE_F_LAST);
	wire_put64(p + 16, h.req_id);
	memcpy(p + 24, h.nonce, WIRE_NONCE_LEN);
	wire_put32(p + 44, 200u << 20);
	wire_mac(key, 'H', p, WIRE_HDR_FIELDS_LEN, p + WIRE_HDR_FIELDS_LEN);
	fake_send(&F, U, p, WIRE_HDR_LEN);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_OVERSIZE);
	ck_assert_int_eq(count_findings(UPCALL_F_OVERSIZE), 1);
}
END_TEST

START_TEST(test_reply_over_frame_count_cap_ends_request_with_oversize)
{
	struct wire_hdr h;
	size_t per = wire_frame_len(0);
	uint8_t *buf = malloc(per * 512);

	ask(WIRE_Q_PROCS, 10000, &h);
	for (uint32_t s = 0; s <= WIRE_REPLY_FRAMES_MAX && nres == 0; s += 512) {
		for (uint32_t j = 0; j < 512; j++)
			reply(key, &h, WIRE_ST_OK, 0, s + j, NULL, 0,
			      buf + j * per);
		fake_send(&F, U, buf, per * 512);
	}
	wait_results(U, 1, 5000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_OVERSIZE);
	ck_assert_uint_eq(res[0]->frames, WIRE_REPLY_FRAMES_MAX);
	free(buf);
}
END_TEST

START_TEST(test_reply_over_body_cap_ends_request_with_oversize)
{
	struct wire_hdr h;
	uint8_t *body = malloc(WIRE_FRAME_BODY_MAX), *buf = malloc(WIRE_FRAME_MAX);
	uint32_t blen = 0, s;

	ask(WIRE_Q_PROCS, 20000, &h);
	while (blen + 200 < WIRE_FRAME_BODY_MAX)
		blen += (uint32_t)proc_body(body + blen,
					    WIRE_FRAME_BODY_MAX - blen, 5, 1);
	for (s = 0; nres == 0 && s < 1000; s++)
		fake_send(&F, U, buf, reply(key, &h, WIRE_ST_OK, 0, s, body,
					    blen, buf));
	wait_results(U, 1, 5000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_OVERSIZE);
	ck_assert_uint_le(res[0]->body_bytes, WIRE_REPLY_BODY_MAX);
	ck_assert_uint_ge(s, WIRE_REPLY_BODY_MAX / blen + 1);
	free(body);
	free(buf);
}
END_TEST

START_TEST(test_frame_cut_by_disconnect_ends_request_truncated_then_reconnects)
{
	struct wire_hdr h;
	uint8_t body[2048];
	int blen = proc_body(body, sizeof(body), 1, 20);
	size_t n;

	ask(WIRE_Q_PROCS, 2000, &h);
	n = reply(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, body, (uint32_t)blen, fr);
	fake_send(&F, U, fr, n / 2);
	pump(U, 20);
	close(F.cfd);	/* QEMU went away mid-frame */
	F.cfd = -1;
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_TRUNCATED);
	ck_assert_int_eq(count_findings(UPCALL_F_TRUNCATED), 1);
	/* the client comes back by itself and works again */
	ask(WIRE_Q_MODULES, 2000, &h);
	answer(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, NULL, 0);
	wait_results(U, 2, 2000);
	ck_assert_int_eq(res[1]->reason, UPCALL_OK);
	ck_assert_uint_ge(upcall_stats(U)->connects, 2);
}
END_TEST

START_TEST(test_record_cut_inside_authentic_body_is_truncated)
{
	struct wire_hdr h;
	uint8_t body[2048];
	int blen = proc_body(body, sizeof(body), 1, 3);

	ask(WIRE_Q_PROCS, 2000, &h);
	answer(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, body, (uint32_t)blen - 5);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_TRUNCATED);
	ck_assert_ptr_nonnull(strstr(res[0]->detail, "record 2"));
}
END_TEST

START_TEST(test_inconsistent_record_is_malformed)
{
	struct wire_hdr h;
	uint8_t body[2048];
	int blen = proc_body(body, sizeof(body), 1, 3);

	memset(body + 40, 'A', WIRE_COMM_LEN);	/* comm without NUL */
	ask(WIRE_Q_PROCS, 2000, &h);
	answer(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, body, (uint32_t)blen);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_MALFORMED);
	ck_assert_int_eq(count_findings(UPCALL_F_MALFORMED), 1);
}
END_TEST

START_TEST(test_files_of_other_pid_and_wrong_query_are_malformed)
{
	struct upcall_query q = { .query = WIRE_Q_FILES, .pid = 42,
				  .timeout_ns = 2000 * MS, .done = on_done };
	struct wire_file wf = { .pid = 43, .fd = 1, .link = "/x", .link_len = 2 };
	struct wire_hdr h;
	uint8_t body[256];
	int blen = wire_file_put(body, sizeof(body), &wf);
	int32_t pid;

	ck_assert_int_eq(upcall_submit(U, &q, upcall_now_ns(), NULL), 0);
	fake_get_request(&F, U, &h);
	ck_assert_int_eq(wire_files_args_get(F.body, h.body_len, &pid), 0);
	ck_assert_int_eq(pid, 42);
	answer(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, body, (uint32_t)blen);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_MALFORMED);
	ask(WIRE_Q_MODULES, 2000, &h);
	h.query = WIRE_Q_PROCS;
	answer(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, NULL, 0);
	wait_results(U, 2, 2000);
	ck_assert_int_eq(res[1]->reason, UPCALL_F_MALFORMED);
	ck_assert_ptr_nonnull(strstr(res[1]->detail, "query"));
}
END_TEST

START_TEST(test_frame_out_of_order_is_malformed)
{
	struct wire_hdr h;

	ask(WIRE_Q_PROCS, 2000, &h);
	answer(key, &h, WIRE_ST_OK, 0, 0, NULL, 0);
	answer(key, &h, WIRE_ST_OK, WIRE_F_LAST, 2, NULL, 0);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_MALFORMED);
	ck_assert_ptr_nonnull(strstr(res[0]->detail, "expected frame 1"));
}
END_TEST

START_TEST(test_reflected_request_is_malformed_finding)
{
	struct wire_hdr h;

	ask(WIRE_Q_MODULES, 2000, &h);
	ck_assert_int_eq(wire_encode(key, &h, NULL, fr, sizeof(fr)),
			 (int)wire_frame_len(0));
	fake_send(&F, U, fr, wire_frame_len(0));
	pump(U, 30);
	ck_assert_int_eq(count_findings(UPCALL_F_MALFORMED), 1);
	ck_assert_int_eq(nres, 0);
}
END_TEST

START_TEST(test_silent_agent_gives_deadline_finding_and_result)
{
	struct wire_hdr h;
	uint64_t t0 = upcall_now_ns();

	ask(WIRE_Q_PROCS, 100, &h);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_DEADLINE);
	ck_assert_uint_ge(upcall_now_ns() - t0, 100 * MS);
	ck_assert_int_eq(count_findings(UPCALL_F_DEADLINE), 1);
	ck_assert_uint_eq(finds[0].req_id, h.req_id);
	ck_assert_uint_eq(upcall_inflight(U), 0);
}
END_TEST

START_TEST(test_garbage_before_reply_is_garbage_finding_reply_still_taken)
{
	struct wire_hdr h;

	ask(WIRE_Q_MODULES, 2000, &h);
	fake_send(&F, U, "stale junk from before\n", 23);
	answer(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, NULL, 0);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_OK);
	ck_assert_int_eq(count_findings(UPCALL_F_GARBAGE), 1);
	ck_assert_ptr_nonnull(strstr(finds[0].detail, "23 bytes"));
}
END_TEST

START_TEST(test_agent_auth_status_is_agent_auth_finding)
{
	struct wire_hdr h;

	ask(WIRE_Q_PROCS, 2000, &h);
	answer(key, &h, WIRE_ST_AUTH, WIRE_F_LAST, 0, NULL, 0);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_F_AGENT_AUTH);
}
END_TEST

static struct upcall_result *result_for(uint64_t id)
{
	for (int i = 0; i < nres; i++)
		if (res[i]->req_id == id)
			return res[i];
	return NULL;
}

START_TEST(test_reply_cut_at_every_byte_never_breaks_the_next_reply)
{
	struct wire_hdr ha, hb;
	uint8_t body[512], fa[1024], fb[1024];
	int blen = proc_body(body, sizeof(body), 7, 2);
	size_t n = wire_frame_len((uint32_t)blen);

	for (size_t k = 0; k < n; k++) {
		uint64_t a = ask(WIRE_Q_PROCS, 5000, &ha);
		uint64_t b = ask(WIRE_Q_PROCS, 5000, &hb);
		struct upcall_result *ra, *rb;
		int before = nres;

		reply(key, &ha, WIRE_ST_OK, WIRE_F_LAST, 0, body, (uint32_t)blen, fa);
		reply(key, &hb, WIRE_ST_OK, WIRE_F_LAST, 0, body, (uint32_t)blen, fb);
		/* A's agent died after k bytes; B's answer follows */
		fake_send(&F, U, fa, k);
		fake_send(&F, U, fb, n);
		if (k < WIRE_HDR_LEN) {	/* A's cut header proves nothing */
			wait_results(U, before + 1, 2000);
			fake_send(&F, U, fa, n);
		}
		wait_results(U, before + 2, 2000);
		ra = result_for(a);
		rb = result_for(b);
		ck_assert_msg(rb && rb->reason == UPCALL_OK && rb->nprocs == 2,
			      "cut at %zu: the next reply was not taken", k);
		ck_assert_msg(ra && ra->reason == (k < WIRE_HDR_LEN ? UPCALL_OK :
						   UPCALL_F_TRUNCATED),
			      "cut at %zu: cut reply ended %s", k,
			      ra ? upcall_reason_str(ra->reason) : "never");
		ck_assert_uint_eq(ra->nprocs, k < WIRE_HDR_LEN ? 2 : 0);
	}
	ck_assert_int_eq(count_findings(UPCALL_F_DEADLINE), 0);
	ck_assert_int_eq(count_findings(UPCALL_F_STALE), 0);
}
END_TEST

/* ---- connection life and many guests ---- */

START_TEST(test_request_queued_before_qemu_listens_is_sent_once_it_does)
{
	struct wire_hdr h;
	struct xport *xp;
	struct upcall_cfg cfg = { .guest = "late", .on_finding = on_finding,
				  .reconnect_min_ns = 5 * MS,
				  .reconnect_max_ns = 20 * MS };
	char path[128];

	snprintf(path, sizeof(path), "%s/late", dir);
	memcpy(cfg.key, kbytes, WIRE_KEY_LEN);
	ck_assert_int_eq(xport_qemu_new("late", path, &xp), 0);
	ck_assert_int_eq(upcall_new(&cfg, xp, &U), 0);
	submit(U, WIRE_Q_INFO, 3000);
	pump(U, 50);
	ck_assert(!upcall_connected(U));
	ck_assert_int_eq(upcall_stats(U)->last_connect_err, -EAGAIN);
	fake_listen(&F, "late");
	fake_get_request(&F, U, &h);
	ck_assert_uint_eq(h.query, WIRE_Q_INFO);
	answer(key, &h, WIRE_ST_OK, WIRE_F_LAST, 0, NULL, 0);
	wait_results(U, 1, 2000);
	ck_assert_int_eq(res[0]->reason, UPCALL_OK);
	upcall_free(U);
	fake_close(&F);
}
END_TEST

START_TEST(test_one_loop_serves_many_guests_while_one_is_stalled)
{
	enum { N = 8 };
	struct fake f[N];
	struct upcall *u[N];
	struct wire_hdr h[N];
	uint8_t body[1024];
	int blen = proc_body(body, sizeof(body), 1, 4);
	uint64_t t0, end;
	char name[16];

	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		fake_listen(&f[i], name);
		u[i] = client_new(&f[i], kbytes);
		submit(u[i], WIRE_Q_PROCS, i == 0 ? 1000 : 5000);
		fake_get_request(&f[i], u[i], &h[i]);
	}
	t0 = upcall_now_ns();
	for (int i = 1; i < N; i++) {	/* guest 0 never answers */
		size_t n = reply(key, &h[i], WIRE_ST_OK, WIRE_F_LAST, 0, body,
				 (uint32_t)blen, fr);

		ck_assert_int_eq(send(f[i].cfd, fr, n, MSG_DONTWAIT), (ssize_t)n);
	}
	end = t0 + 3000 * MS;
	while (nres < N - 1 && upcall_now_ns() < end)
		upcall_poll(u, N, 100);
	ck_assert_int_eq(nres, N - 1);
	ck_assert_uint_lt(upcall_now_ns() - t0, 500 * MS);	/* not stalled */
	for (int i = 0; i < nres; i++)
		ck_assert_int_eq(res[i]->reason, UPCALL_OK);
	while (nres < N && upcall_now_ns() < end)
		upcall_poll(u, N, 100);
	ck_assert_int_eq(nres, N);
	ck_assert_int_eq(res[N - 1]->reason, UPCALL_F_DEADLINE);
	ck_assert_int_eq(count_findings(UPCALL_F_DEADLINE), 1);
	for (int i = 0; i < N; i++) {
		upcall_free(u[i]);
		fake_close(&f[i]);
	}
}
END_TEST

START_TEST(test_submit_refuses_bad_pid_and_too_many_requests)
{
	struct upcall_query q = { .query = WIRE_Q_FILES, .pid = 0,
				  .timeout_ns = 1000 * MS, .done = on_done };

	ck_assert_int_eq(upcall_submit(U, &q, upcall_now_ns(), NULL), -EINVAL);
	q.pid = -5;
	ck_assert_int_eq(upcall_submit(U, &q, upcall_now_ns(), NULL), -EINVAL);
	q.pid = WIRE_PID_ALL;
	for (unsigned int i = 0; i < UPCALL_INFLIGHT_MAX; i++)
		ck_assert_int_eq(upcall_submit(U, &q, upcall_now_ns(), NULL), 0);
	ck_assert_int_eq(upcall_submit(U, &q, upcall_now_ns(), NULL), -EAGAIN);
	ck_assert_uint_eq(upcall_inflight(U), UPCALL_INFLIGHT_MAX);
	upcall_free(U);	/* cancels them all, no findings */
	U = NULL;
	ck_assert_int_eq(nres, UPCALL_INFLIGHT_MAX);
	for (int i = 0; i < nres; i++)
		ck_assert_int_eq(res[i]->reason, UPCALL_E_CANCELLED);
	ck_assert_int_eq(nfind, 0);
}
END_TEST

static Suite *upcall_suite(void)
{
	Suite *s = suite_create("upcall");
	TCase *ok = tcase_create("answers"), *bad = tcase_create("rejections"),
	      *life = tcase_create("connections"), *own = tcase_create("own");

	tcase_add_checked_fixture(ok, guest_setup, guest_teardown);
	tcase_add_test(ok, test_reply_with_right_id_and_nonce_completes_with_records);
	tcase_add_test(ok, test_multi_frame_reply_is_reassembled_in_order);
	tcase_add_test(ok, test_unsupported_status_passes_through_without_finding);
	tcase_add_test(ok, test_reason_names_are_stable);
	suite_add_tcase(s, ok);
	tcase_add_checked_fixture(bad, guest_setup, guest_teardown);
	tcase_set_timeout(bad, 120);
	tcase_add_test(bad, test_reply_made_with_wrong_key_is_bad_mac_then_deadline);
	tcase_add_test(bad, test_tampered_body_is_bad_mac_finding);
	tcase_add_test(bad, test_replayed_reply_with_stale_nonce_is_nonce_finding);
	tcase_add_test(bad, test_reply_for_unknown_id_is_stale_finding);
	tcase_add_test(bad, test_reply_after_deadline_is_stale_finding_naming_ended_request);
	tcase_add_test(bad, test_reply_in_other_version_ends_request_with_version);
	tcase_add_test(bad, test_agent_version_status_is_version_finding);
	tcase_add_test(bad, test_oversize_frame_header_ends_request_with_oversize);
	tcase_add_test(bad, test_reply_over_frame_count_cap_ends_request_with_oversize);
	tcase_add_test(bad, test_reply_over_body_cap_ends_request_with_oversize);
	tcase_add_test(bad, test_frame_cut_by_disconnect_ends_request_truncated_then_reconnects);
	tcase_add_test(bad, test_record_cut_inside_authentic_body_is_truncated);
	tcase_add_test(bad, test_inconsistent_record_is_malformed);
	tcase_add_test(bad, test_files_of_other_pid_and_wrong_query_are_malformed);
	tcase_add_test(bad, test_frame_out_of_order_is_malformed);
	tcase_add_test(bad, test_reflected_request_is_malformed_finding);
	tcase_add_test(bad, test_silent_agent_gives_deadline_finding_and_result);
	tcase_add_test(bad, test_garbage_before_reply_is_garbage_finding_reply_still_taken);
	tcase_add_test(bad, test_agent_auth_status_is_agent_auth_finding);
	tcase_add_test(bad, test_reply_cut_at_every_byte_never_breaks_the_next_reply);
	suite_add_tcase(s, bad);
	tcase_add_checked_fixture(life, guest_setup, guest_teardown);
	tcase_add_test(life, test_submit_refuses_bad_pid_and_too_many_requests);
	suite_add_tcase(s, life);
	tcase_add_checked_fixture(own, setup, teardown);	/* own guests */
	tcase_set_timeout(own, 60);
	tcase_add_test(own, test_request_queued_before_qemu_listens_is_sent_once_it_does);
	tcase_add_test(own, test_one_loop_serves_many_guests_while_one_is_stalled);
	suite_add_tcase(s, own);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(upcall_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
