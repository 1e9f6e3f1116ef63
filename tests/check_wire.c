/*
 * check_wire.c - unit tests of the upcall wire framing (wire.c): key
 * files, frame sealing, and the resynchronising stream decoder (every
 * rejection reason, frames cut at every byte, flipped bits, garbage).
 * The record codec (wire_rec.c) has check_wire_rec.c.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire.h"

static struct wire_key *key, *other_key;
static struct wire_rx rx;

static void setup(void)
{
	uint8_t k[WIRE_KEY_LEN], k2[WIRE_KEY_LEN];

	for (unsigned int i = 0; i < WIRE_KEY_LEN; i++) {
		k[i] = (uint8_t)(0xa5 ^ i);
		k2[i] = (uint8_t)(0x5a ^ i);
	}
	ck_assert_int_eq(wire_key_new(k, &key), 0);
	ck_assert_int_eq(wire_key_new(k2, &other_key), 0);
	ck_assert_int_eq(wire_rx_init(&rx), 0);
}

static void teardown(void)
{
	wire_rx_release(&rx);
	wire_key_free(key);
	wire_key_free(other_key);
}

static void hdr_init(struct wire_hdr *h, uint64_t id, uint32_t body_len)
{
	memset(h, 0, sizeof(*h));
	h->version = WIRE_VERSION;
	h->type = WIRE_T_REPLY;
	h->query = WIRE_Q_PROCS;
	h->flags = WIRE_F_LAST;
	h->req_id = id;
	for (unsigned int i = 0; i < WIRE_NONCE_LEN; i++)
		h->nonce[i] = (uint8_t)(id + i);
	h->body_len = body_len;
}

/* A sealed reply frame with a recognisable body; returns its length. */
static size_t make_frame(const struct wire_key *k, uint64_t id,
			 uint32_t body_len, uint8_t *out)
{
	struct wire_hdr h;
	uint8_t *body = malloc(body_len + 1);
	int n;

	for (uint32_t i = 0; i < body_len; i++)
		body[i] = (uint8_t)(i * 31 + id);
	hdr_init(&h, id, body_len);
	n = wire_encode(k, &h, body, out, wire_frame_len(body_len));
	ck_assert_int_eq(n, (int)wire_frame_len(body_len));
	free(body);
	return (size_t)n;
}

struct tally {
	unsigned int frames, rej[WIRE_REJ_TRUNCATED + 1];
	uint64_t last_id;
	bool last_frame_mac_bad;
};

static void drain(struct tally *t)
{
	struct wire_rx_event ev;
	enum wire_rx_result r;

	while ((r = wire_rx_next(&rx, key, &ev)) != WIRE_RX_NEED) {
		if (r == WIRE_RX_FRAME) {
			t->frames++;
			t->last_id = ev.hdr.req_id;
			for (uint32_t i = 0; i < ev.hdr.body_len; i++)
				ck_assert_uint_eq(ev.body[i],
					(uint8_t)(i * 31 + ev.hdr.req_id));
		} else {
			t->rej[ev.why]++;
			t->last_frame_mac_bad = ev.frame_mac_bad;
		}
	}
}

static void feed_all(const uint8_t *p, size_t n, size_t chunk, struct tally *t)
{
	while (n) {
		size_t k = wire_rx_feed(&rx, p, n < chunk ? n : chunk);

		ck_assert_uint_gt(k, 0);
		p += k;
		n -= k;
		drain(t);
	}
}

static void eof_all(struct tally *t)
{
	struct wire_rx_event ev;

	while (wire_rx_eof(&rx, &ev) == WIRE_RX_REJECT)
		t->rej[ev.why]++;
}

static unsigned int total_rejects(const struct tally *t)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i <= WIRE_REJ_TRUNCATED; i++)
		n += t->rej[i];
	return n;
}

/* ---- keys ---- */

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	fclose(f);
}

START_TEST(test_key_load_exact_32_bytes_succeeds_other_sizes_einval)
{
	char path[] = "/tmp/check_wire_keyXXXXXX";
	uint8_t buf[64], k[WIRE_KEY_LEN];
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	for (unsigned int i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	write_file(path, buf, 32);
	ck_assert_int_eq(wire_key_load(path, k), 0);
	ck_assert_mem_eq(k, buf, 32);
	write_file(path, buf, 31);
	ck_assert_int_eq(wire_key_load(path, k), -EINVAL);
	write_file(path, buf, 33);
	ck_assert_int_eq(wire_key_load(path, k), -EINVAL);
	write_file(path, buf, 0);
	ck_assert_int_eq(wire_key_load(path, k), -EINVAL);
	unlink(path);
	ck_assert_int_eq(wire_key_load(path, k), -ENOENT);
}
END_TEST

/* ---- frames ---- */

START_TEST(test_roundtrip_frame_fed_byte_by_byte_delivered_once)
{
	uint8_t f[2048];
	size_t n = make_frame(key, 42, 1000, f);
	struct tally t = { 0 };

	feed_all(f, n, 1, &t);
	ck_assert_uint_eq(t.frames, 1);
	ck_assert_uint_eq(t.last_id, 42);
	ck_assert_uint_eq(total_rejects(&t), 0);
	eof_all(&t);
	ck_assert_uint_eq(total_rejects(&t), 0);
}
END_TEST

static bool hdr_eq(const struct wire_hdr *a, const struct wire_hdr *b)
{
	return a->version == b->version && a->type == b->type &&
	       a->query == b->query && a->status == b->status &&
	       a->flags == b->flags && a->seq == b->seq &&
	       a->body_len == b->body_len && a->req_id == b->req_id &&
	       !memcmp(a->nonce, b->nonce, WIRE_NONCE_LEN);
}

START_TEST(test_header_fields_survive_roundtrip)
{
	uint8_t f[256];
	struct wire_hdr h, got;
	struct wire_rx_event ev;

	hdr_init(&h, 0x1122334455667788ull, 3);
	h.type = WIRE_T_REQUEST;
	h.query = WIRE_Q_FILES;
	h.status = WIRE_ST_PARTIAL;
	h.flags = 0;
	h.seq = 0xdeadbeef;
	ck_assert_int_eq(wire_encode(key, &h, "abc", f, sizeof(f)),
			 (int)wire_frame_len(3));
	ck_assert_int_eq(wire_hdr_parse(key, f, &got), 0);
	ck_assert(hdr_eq(&got, &h));
	wire_rx_feed(&rx, f, wire_frame_len(3));
	ck_assert_int_eq(wire_rx_next(&rx, key, &ev), WIRE_RX_FRAME);
	ck_assert(hdr_eq(&ev.hdr, &h));
	ck_assert_mem_eq(ev.body, "abc", 3);
	ck_assert_uint_eq(wire_get32(f), WIRE_MAGIC);
	ck_assert_mem_eq(f, "UPCL", 4);
}
END_TEST

START_TEST(test_two_frames_in_one_read_both_delivered)
{
	uint8_t f[4096];
	size_t n = make_frame(key, 1, 100, f);
	struct tally t = { 0 };

	n += make_frame(key, 2, 0, f + n);
	feed_all(f, n, n, &t);
	ck_assert_uint_eq(t.frames, 2);
	ck_assert_uint_eq(t.last_id, 2);
}
END_TEST

START_TEST(test_max_body_frame_delivered_over_cap_refused_by_seal)
{
	uint8_t *f = malloc(WIRE_FRAME_MAX + 64);
	struct wire_hdr h;
	struct tally t = { 0 };
	size_t n = make_frame(key, 7, WIRE_FRAME_BODY_MAX, f);

	feed_all(f, n, 4093, &t);
	ck_assert_uint_eq(t.frames, 1);
	hdr_init(&h, 8, WIRE_FRAME_BODY_MAX + 1);
	ck_assert_int_eq(wire_seal(key, &h, f), -EMSGSIZE);
	ck_assert_int_eq(wire_encode(key, &h, f, f, WIRE_FRAME_MAX + 64),
			 -EMSGSIZE);
	hdr_init(&h, 8, 10);
	ck_assert_int_eq(wire_encode(key, &h, f, f, wire_frame_len(10) - 1),
			 -ENOSPC);
	free(f);
}
END_TEST

START_TEST(test_wrong_key_frame_rejected_bad_mac_then_good_frame_delivered)
{
	uint8_t f[1024];
	size_t n = make_frame(other_key, 5, 200, f);
	struct tally t = { 0 };

	n += make_frame(key, 6, 10, f + n);
	feed_all(f, n, 64, &t);
	ck_assert_uint_eq(t.rej[WIRE_REJ_BAD_MAC], 1);
	ck_assert_uint_eq(t.rej[WIRE_REJ_GARBAGE], 0);
	ck_assert_uint_eq(t.frames, 1);
	ck_assert_uint_eq(t.last_id, 6);
}
END_TEST

START_TEST(test_flipped_body_byte_rejected_frame_mac)
{
	uint8_t f[1024];
	size_t n = make_frame(key, 5, 200, f);
	struct tally t = { 0 };

	f[WIRE_HDR_LEN + 17] ^= 1;
	feed_all(f, n, n, &t);
	ck_assert_uint_eq(t.frames, 0);
	ck_assert_uint_eq(t.rej[WIRE_REJ_BAD_MAC], 1);
	ck_assert(t.last_frame_mac_bad);
}
END_TEST

START_TEST(test_any_flipped_bit_never_delivers_the_frame)
{
	uint8_t f[256], g[256];
	size_t n = make_frame(key, 9, 60, f);

	for (size_t i = 0; i < n; i++) {
		struct tally t = { 0 };

		memcpy(g, f, n);
		g[i] ^= (uint8_t)(1u << (i % 8));
		wire_rx_reset(&rx);
		feed_all(g, n, 7, &t);
		eof_all(&t);
		ck_assert_msg(t.frames == 0, "byte %zu flipped, still delivered",
			      i);
		ck_assert_msg(total_rejects(&t) > 0, "byte %zu: no rejection", i);
	}
}
END_TEST

START_TEST(test_wrong_version_with_valid_mac_rejected_version)
{
	uint8_t f[256];
	struct wire_hdr h;
	struct tally t = { 0 };
	struct wire_rx_event ev;

	hdr_init(&h, 3, 4);
	h.version = 2;
	ck_assert_int_gt(wire_encode(key, &h, "abcd", f, sizeof(f)), 0);
	wire_rx_feed(&rx, f, wire_frame_len(4));
	ck_assert_int_eq(wire_rx_next(&rx, key, &ev), WIRE_RX_REJECT);
	ck_assert_int_eq(ev.why, WIRE_REJ_VERSION);
	ck_assert(ev.hdr_ok);
	ck_assert_uint_eq(ev.hdr.version, 2);
	ck_assert_uint_eq(ev.hdr.req_id, 3);
	drain(&t);
	ck_assert_uint_eq(t.frames, 0);
	ck_assert_uint_eq(total_rejects(&t), 0);	/* rest skipped quietly */
}
END_TEST

START_TEST(test_oversize_authentic_header_rejected_then_next_frame_found)
{
	uint8_t f[512];
	struct wire_hdr h;
	struct tally t = { 0 };
	size_t n;

	hdr_init(&h, 11, 0);
	memset(f, 0, sizeof(f));
	wire_put32(f, WIRE_MAGIC);
	wire_put16(f + 4, WIRE_VERSION);
	wire_put16(f + 6, WIRE_T_REPLY);
	wire_put64(f + 16, 11);
	wire_put32(f + 44, 0x7fffffff);
	ck_assert_int_eq(wire_mac(key, 'H', f, WIRE_HDR_FIELDS_LEN,
				  f + WIRE_HDR_FIELDS_LEN), 0);
	n = WIRE_HDR_LEN + 40;	/* some of its "body" */
	n += make_frame(key, 12, 5, f + n);
	feed_all(f, n, 13, &t);
	ck_assert_uint_eq(t.rej[WIRE_REJ_OVERSIZE], 1);
	ck_assert_uint_eq(t.rej[WIRE_REJ_GARBAGE], 0);
	ck_assert_uint_eq(t.frames, 1);
	ck_assert_uint_eq(t.last_id, 12);
}
END_TEST

START_TEST(test_garbage_before_frame_reported_once_with_count)
{
	uint8_t f[4096];
	struct wire_rx_event ev;
	size_t g = 1000, n;

	for (size_t i = 0; i < g; i++)
		f[i] = (uint8_t)('a' + i % 20);
	n = g + make_frame(key, 77, 8, f + g);
	wire_rx_feed(&rx, f, n);
	ck_assert_int_eq(wire_rx_next(&rx, key, &ev), WIRE_RX_REJECT);
	ck_assert_int_eq(ev.why, WIRE_REJ_GARBAGE);
	ck_assert_uint_eq(ev.count, g);
	ck_assert_int_eq(wire_rx_next(&rx, key, &ev), WIRE_RX_FRAME);
	ck_assert_uint_eq(ev.hdr.req_id, 77);
	ck_assert_int_eq(wire_rx_next(&rx, key, &ev), WIRE_RX_NEED);
}
END_TEST

START_TEST(test_random_megabyte_never_yields_frame_and_buffer_stays_bounded)
{
	uint8_t *p = malloc(1 << 20);
	struct tally t = { 0 };
	unsigned int s = 12345;

	for (size_t i = 0; i < (1u << 20); i++) {
		s = s * 1103515245u + 12345u;
		p[i] = (uint8_t)(s >> 16);
		if (i % 5000 == 0 && i + 4 < (1u << 20)) {
			memcpy(p + i, "UPCL", 4);	/* fake magics */
			i += 3;
		}
	}
	feed_all(p, 1u << 20, 3000, &t);
	ck_assert_uint_le(rx.len - rx.off, WIRE_FRAME_MAX);
	eof_all(&t);
	ck_assert_uint_eq(t.frames, 0);
	ck_assert_uint_gt(t.rej[WIRE_REJ_BAD_MAC], 100);
	free(p);
}
END_TEST

START_TEST(test_frame_cut_at_every_byte_then_eof_never_delivers)
{
	uint8_t f[512];
	size_t n = make_frame(key, 21, 150, f);

	for (size_t k = 0; k < n; k++) {
		struct tally t = { 0 };

		wire_rx_reset(&rx);
		feed_all(f, k, 1 + k % 5, &t);
		ck_assert_uint_eq(t.frames, 0);
		eof_all(&t);
		ck_assert_uint_eq(t.frames, 0);
		if (k >= 4)
			ck_assert_msg(t.rej[WIRE_REJ_TRUNCATED] == 1,
				      "cut at %zu: not reported truncated", k);
		else if (k > 0)
			ck_assert_uint_eq(t.rej[WIRE_REJ_GARBAGE], 1);
	}
}
END_TEST

START_TEST(test_frame_cut_at_every_byte_then_good_frame_recovers_it)
{
	uint8_t f[1024];
	size_t n = make_frame(key, 31, 150, f);
	size_t m = make_frame(key, 32, 90, f + n);

	for (size_t k = 0; k < n; k++) {
		struct tally t = { 0 };
		uint8_t g[1024];

		memcpy(g, f, k);
		memcpy(g + k, f + n, m);
		wire_rx_reset(&rx);
		feed_all(g, k + m, 1 + k % 97, &t);
		ck_assert_msg(t.frames == 1 && t.last_id == 32,
			      "cut at %zu: good frame lost", k);
		if (k >= WIRE_HDR_LEN)
			ck_assert_msg(t.rej[WIRE_REJ_TRUNCATED] == 1,
				      "cut at %zu: not reported truncated", k);
		if (k > 0)
			ck_assert_msg(total_rejects(&t) >= 1,
				      "cut at %zu: not reported", k);
	}
}
END_TEST

START_TEST(test_eof_mid_frame_reports_truncated_with_authentic_header)
{
	uint8_t f[512];
	size_t n = make_frame(key, 41, 300, f);
	struct wire_rx_event ev;

	wire_rx_feed(&rx, f, n - 50);
	ck_assert_int_eq(wire_rx_next(&rx, key, &ev), WIRE_RX_NEED);
	ck_assert_int_eq(wire_rx_eof(&rx, &ev), WIRE_RX_REJECT);
	ck_assert_int_eq(ev.why, WIRE_REJ_TRUNCATED);
	ck_assert(ev.hdr_ok);
	ck_assert_uint_eq(ev.hdr.req_id, 41);
	ck_assert_uint_eq(ev.count, n - 50);
	ck_assert_int_eq(wire_rx_eof(&rx, &ev), WIRE_RX_NEED);
}
END_TEST

START_TEST(test_hdr_parse_magic_with_garbage_returns_ebadmsg)
{
	uint8_t p[WIRE_HDR_LEN];
	struct wire_hdr h;

	memset(p, 0x41, sizeof(p));
	memcpy(p, "UPCL", 4);
	ck_assert_int_eq(wire_hdr_parse(key, p, &h), -EBADMSG);
	memcpy(p, "XPCL", 4);
	ck_assert_int_eq(wire_hdr_parse(key, p, &h), -EBADMSG);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *f = tcase_create("frames");

	tcase_add_checked_fixture(f, setup, teardown);
	tcase_add_test(f, test_key_load_exact_32_bytes_succeeds_other_sizes_einval);
	tcase_add_test(f, test_roundtrip_frame_fed_byte_by_byte_delivered_once);
	tcase_add_test(f, test_header_fields_survive_roundtrip);
	tcase_add_test(f, test_two_frames_in_one_read_both_delivered);
	tcase_add_test(f, test_max_body_frame_delivered_over_cap_refused_by_seal);
	tcase_add_test(f, test_wrong_key_frame_rejected_bad_mac_then_good_frame_delivered);
	tcase_add_test(f, test_flipped_body_byte_rejected_frame_mac);
	tcase_add_test(f, test_any_flipped_bit_never_delivers_the_frame);
	tcase_add_test(f, test_wrong_version_with_valid_mac_rejected_version);
	tcase_add_test(f, test_oversize_authentic_header_rejected_then_next_frame_found);
	tcase_add_test(f, test_garbage_before_frame_reported_once_with_count);
	tcase_add_test(f, test_random_megabyte_never_yields_frame_and_buffer_stays_bounded);
	tcase_add_test(f, test_frame_cut_at_every_byte_then_eof_never_delivers);
	tcase_add_test(f, test_frame_cut_at_every_byte_then_good_frame_recovers_it);
	tcase_add_test(f, test_eof_mid_frame_reports_truncated_with_authentic_header);
	tcase_add_test(f, test_hdr_parse_magic_with_garbage_returns_ebadmsg);
	suite_add_tcase(s, f);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wire_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
