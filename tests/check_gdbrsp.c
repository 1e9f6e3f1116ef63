/*
 * check_gdbrsp.c - the GDB remote protocol client's connection against a
 * scripted peer on a real socketpair (a thread that waits for what the client sends and answers
 * with prepared bytes). Every hostile peer gives a defined error, and no
 * call waits past its short timeout.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gdbrsp.h"

#define TMO 300	/* client timeout in these tests, ms */
#define SLACK 1500	/* scheduling delay allowed on a loaded machine */

struct step {
	const char *expect;	/* wait until the client has sent this */
	const char *send;	/* then send these bytes (NULL: nothing) */
	size_t send_len;	/* 0: strlen(send) */
	int delay_ms;		/* before sending */
	int drip_ms;		/* send one byte per drip_ms */
	bool close;		/* then close the socket */
};

struct peer {
	int fd;
	const struct step *steps;
	char in[1 << 16];
	size_t in_len;
	pthread_t th;
};

static struct gdbrsp g;
static struct peer peer;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read what the client sent, for up to ms; false on EOF. */
static bool peer_read(struct peer *p, int ms)
{
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };

	if (poll(&pfd, 1, ms) <= 0)
		return true;
	ssize_t n = read(p->fd, p->in + p->in_len, sizeof(p->in) - 1 - p->in_len);
	if (n <= 0)
		return false;
	p->in_len += (size_t)n;
	return true;
}

static void peer_send(struct peer *p, const struct step *s)
{
	size_t n = s->send_len ? s->send_len : strlen(s->send);

	for (size_t i = 0; i < n;) {
		size_t chunk = s->drip_ms ? 1 : n - i;
		ssize_t w = send(p->fd, s->send + i, chunk, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		i += (size_t)w;
		if (s->drip_ms)
			sleep_ms(s->drip_ms);
	}
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	size_t seen = 0;

	for (const struct step *s = p->steps; s && (s->expect || s->send ||
						     s->close || s->delay_ms); s++) {
		long end = now_ms() + 3000;
		const char *m = NULL;
		while (s->expect && now_ms() < end &&
		       !(m = memmem(p->in + seen, p->in_len - seen, s->expect,
				    strlen(s->expect))))
			if (!peer_read(p, 50))
				return NULL;
		if (s->expect && !m)
			return NULL;
		if (m)
			seen = (size_t)(m - p->in) + strlen(s->expect);
		sleep_ms(s->delay_ms);
		if (s->send)
			peer_send(p, s);
		if (s->close) {
			close(p->fd);
			p->fd = -1;
			return NULL;
		}
	}
	for (long end = now_ms() + 200; now_ms() < end;)	/* collect the rest */
		if (!peer_read(p, 20))
			break;
	return NULL;
}

/* Connect g to a peer that plays steps. */
static void start(const struct step *steps)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(&peer, 0, sizeof(peer));
	peer.fd = sv[1];
	peer.steps = steps;
	ck_assert_int_eq(gdbrsp_init(&g, sv[0], TMO), 0);
	ck_assert_int_eq(pthread_create(&peer.th, NULL, peer_main, &peer), 0);
}

/* Wait for the peer and return what the client sent it. */
static const char *finish(void)
{
	pthread_join(peer.th, NULL);
	if (peer.fd >= 0)
		close(peer.fd);
	peer.in[peer.in_len] = '\0';
	return peer.in;
}

static void teardown(void)
{
	gdbrsp_release(&g);
}

/* --- connection -------------------------------------------------------- */

START_TEST(test_command_gets_acked_reply_and_acks_it)
{
	static const struct step s[] = {
		{ .expect = "$?#3f", .send = "+$S05#b8" },
		{ .expect = "+" },
		{ 0 } };
	const char *r;
	size_t len;

	start(s);
	ck_assert_int_eq(gdbrsp_command(&g, "?", true, &r, &len), 0);
	ck_assert_str_eq(r, "S05");
	ck_assert_str_eq(finish(), "$?#3f+");
}
END_TEST

START_TEST(test_send_retransmits_after_nak)
{
	static const struct step s[] = {
		{ .expect = "$g#67", .send = "-" },
		{ .expect = "$g#67", .send = "+" },
		{ 0 } };

	start(s);
	ck_assert_int_eq(gdbrsp_send(&g, "g", 1), 0);
	ck_assert_str_eq(finish(), "$g#67$g#67");
	ck_assert_uint_eq(g.naks_got, 1);
}
END_TEST

START_TEST(test_send_gives_up_after_repeated_naks)
{
	static const struct step s[] = {
		{ .expect = "$g#67", .send = "-" },
		{ .expect = "$g#67", .send = "-" },
		{ .expect = "$g#67", .send = "-" },
		{ 0 } };

	start(s);
	ck_assert_int_eq(gdbrsp_send(&g, "g", 1), -EIO);
	finish();
}
END_TEST

START_TEST(test_silent_peer_times_out_within_bound)
{
	static const struct step s[] = { { .delay_ms = 1 }, { 0 } };
	long t0;

	start(s);
	t0 = now_ms();
	ck_assert_int_eq(gdbrsp_send(&g, "g", 1), -ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, TMO + SLACK);
	finish();
}
END_TEST

START_TEST(test_recv_expands_run_length_encoding)
{
	/* "0* " = '0' and 3 more; checksum over "0* 1" */
	static const struct step s[] = { { .send = "$0* 1#ab" }, { 0 } };
	const char *r;
	size_t len;

	start(s);
	ck_assert_int_eq(gdbrsp_recv(&g, TMO, &r, &len), 0);
	ck_assert_str_eq(r, "00001");
	ck_assert_str_eq(finish(), "+");
}
END_TEST

START_TEST(test_recv_bad_rle_count_returns_ebadmsg)
{
	/* '*' first (nothing to repeat) */
	static const struct step s[] = { { .send = "$* #4a" }, { 0 } };
	const char *r;
	size_t len;

	start(s);
	ck_assert_int_eq(gdbrsp_recv(&g, TMO, &r, &len), -EBADMSG);
	finish();
}
END_TEST

START_TEST(test_recv_bad_checksum_naks_then_takes_retransmission)
{
	static const struct step s[] = {
		{ .send = "$OK#00" },
		{ .expect = "-", .send = "$OK#9a" },
		{ 0 } };
	const char *r;
	size_t len;

	start(s);
	ck_assert_int_eq(gdbrsp_recv(&g, TMO, &r, &len), 0);
	ck_assert_str_eq(r, "OK");
	ck_assert_str_eq(finish(), "-+");
}
END_TEST

START_TEST(test_recv_bad_checksum_forever_returns_ebadmsg)
{
	static const struct step s[] = {
		{ .send = "$OK#00" },
		{ .expect = "-", .send = "$OK#01" },
		{ .expect = "-", .send = "$OK#zz" },
		{ .expect = "-", .send = "$OK#02" },
		{ 0 } };
	const char *r;
	size_t len;

	start(s);
	ck_assert_int_eq(gdbrsp_recv(&g, TMO, &r, &len), -EBADMSG);
	finish();
}
END_TEST

START_TEST(test_recv_skips_garbage_and_restarts_on_inner_dollar)
{
	static const struct step s[] = {
		{ .send = "noise\x01\xff+-$trunc$OK#9a" }, { 0 } };
	const char *r;
	size_t len;

	start(s);
	ck_assert_int_eq(gdbrsp_recv(&g, TMO, &r, &len), 0);
	ck_assert_str_eq(r, "OK");
	ck_assert_uint_ge(g.garbage, 7);
	finish();
}
END_TEST

static char big[80000];

START_TEST(test_recv_oversized_packet_returns_emsgsize_then_resyncs)
{
	struct step s[] = { { .send = big }, { .expect = "+", .send = "$OK#9a" },
			    { 0 } };
	const char *r;
	size_t len;
	unsigned int sum = 0;

	big[0] = '$';
	memset(big + 1, 'a', 70000);
	for (int i = 0; i < 70000; i++)
		sum += 'a';
	snprintf(big + 70001, 8, "#%02x", sum & 0xff);
	start(s);
	g.timeout_ms = 5000;	/* bulk data on a loaded machine */
	ck_assert_int_eq(gdbrsp_recv(&g, 5000, &r, &len), -EMSGSIZE);
	ck_assert_int_eq(gdbrsp_recv(&g, 5000, &r, &len), 0);
	ck_assert_str_eq(r, "OK");
	finish();
}
END_TEST

START_TEST(test_recv_truncated_packet_then_close_returns_enodev)
{
	static const struct step s[] = { { .send = "$T05thr", .close = true },
					 { 0 } };
	const char *r;
	size_t len;

	start(s);
	ck_assert_int_eq(gdbrsp_recv(&g, TMO, &r, &len), -ENODEV);
	ck_assert(g.dead);
	ck_assert_int_eq(gdbrsp_send(&g, "g", 1), -ENODEV);
	finish();
}
END_TEST

START_TEST(test_recv_truncated_packet_then_silence_times_out)
{
	static const struct step s[] = { { .send = "$T05thr" }, { 0 } };
	const char *r;
	size_t len;
	long t0 = now_ms();

	start(s);
	ck_assert_int_eq(gdbrsp_recv(&g, TMO, &r, &len), -ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, 2 * TMO + SLACK);
	finish();
}
END_TEST

START_TEST(test_slow_dripping_peer_cannot_extend_the_deadline)
{
	static const struct step s[] = {
		{ .send = "$0123456789abcdef#00", .drip_ms = 60 }, { 0 } };
	const char *r;
	size_t len;
	long t0 = now_ms();

	start(s);
	ck_assert_int_eq(gdbrsp_recv(&g, TMO, &r, &len), -ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, 2 * TMO + SLACK);
	finish();
}
END_TEST

START_TEST(test_stray_acks_neither_extend_wait_nor_kill_client)
{
	static const struct step s[] = { { .send = "+-+" },
					 { .delay_ms = 600, .send = "$OK#9a" },
					 { 0 } };
	const char *r;
	size_t len;
	long t0 = now_ms();

	start(s);
	ck_assert_int_eq(gdbrsp_recv(&g, 100, &r, &len), -ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, 100 + SLACK);
	ck_assert(!g.dead);
	ck_assert_int_eq(gdbrsp_recv(&g, 3000, &r, &len), 0);
	ck_assert_str_eq(r, "OK");
	ck_assert_uint_eq(g.garbage, 3);
	finish();
}
END_TEST

START_TEST(test_junk_flood_without_packets_fails_cleanly)
{
	static char flood[GDBRSP_RUNAWAY + 4096];
	struct step s[] = { { .send = flood, .send_len = sizeof(flood) }, { 0 } };
	const char *r;
	size_t len;

	memset(flood, 'x', sizeof(flood));
	start(s);
	ck_assert_int_eq(gdbrsp_recv(&g, 5000, &r, &len), -ENODEV);
	ck_assert(g.dead);
	gdbrsp_release(&g);	/* unblocks the flooding peer */
	finish();
}
END_TEST

START_TEST(test_command_skips_console_and_stray_stop_packets)
{
	/* O"hi", a stray T02, then the reply; "OK" is not console output */
	static const struct step s[] = {
		{ .expect = "$g#67",
		  .send = "+$O6869#2c$T02thread:01;#04$OK#9a" },
		{ 0 } };
	const char *r;
	size_t len;
	char cons[16] = "";

	start(s);
	g.cons_buf = cons;
	g.cons_cap = sizeof(cons);
	ck_assert_int_eq(gdbrsp_command(&g, "g", false, &r, &len), 0);
	ck_assert_str_eq(r, "OK");
	ck_assert_str_eq(cons, "hi");
	ck_assert_uint_eq(g.console, 1);
	ck_assert_uint_eq(g.strays, 1);
	finish();
}
END_TEST

START_TEST(test_command_exit_reply_makes_client_dead)
{
	static const struct step s[] = { { .expect = "$g#67", .send = "+$W00#b7" },
					 { 0 } };
	const char *r;
	size_t len;

	start(s);
	ck_assert_int_eq(gdbrsp_command(&g, "g", false, &r, &len), -ENODEV);
	ck_assert(g.dead);
	finish();
}
END_TEST

START_TEST(test_packet_before_ack_is_queued_for_recv)
{
	static const struct step s[] = { { .expect = "$c#63",
					   .send = "$T02thread:01;#04+" },
					 { 0 } };
	const char *r;
	size_t len;

	start(s);
	ck_assert_int_eq(gdbrsp_send(&g, "c", 1), 0);
	ck_assert(gdbrsp_pending(&g));
	ck_assert_int_eq(gdbrsp_recv(&g, 0, &r, &len), 0);
	ck_assert_str_eq(r, "T02thread:01;");
	ck_assert(!gdbrsp_pending(&g));
	finish();
}
END_TEST

START_TEST(test_recv_leaves_following_bytes_in_socket)
{
	static const struct step s[] = { { .send = "$OK#9a$S05#b8" }, { 0 } };
	const char *r;
	size_t len;
	struct pollfd pfd;

	start(s);
	ck_assert_int_eq(gdbrsp_recv(&g, TMO, &r, &len), 0);
	pfd = (struct pollfd){ .fd = g.fd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 0), 1);	/* S05 is still there */
	ck_assert_int_eq(gdbrsp_recv(&g, 0, &r, &len), 0);
	ck_assert_str_eq(r, "S05");
	finish();
}
END_TEST

START_TEST(test_interrupt_sends_single_ctrl_c)
{
	static const struct step s[] = { { .expect = "\x03", .send = "$S02#b5" },
					 { 0 } };
	const char *r;
	size_t len;

	start(s);
	ck_assert_int_eq(gdbrsp_interrupt(&g), 0);
	ck_assert_int_eq(gdbrsp_recv(&g, TMO, &r, &len), 0);
	ck_assert_str_eq(r, "S02");
	ck_assert_str_eq(finish(), "\x03+");
}
END_TEST

START_TEST(test_closed_socket_gives_enodev_not_sigpipe)
{
	static const struct step s[] = { { .close = true }, { 0 } };

	start(s);
	finish();
	ck_assert_int_eq(gdbrsp_send(&g, "g", 1), -ENODEV);
	ck_assert_int_eq(gdbrsp_interrupt(&g), -ENODEV);
}
END_TEST

START_TEST(test_runaway_packet_without_end_fails_cleanly)
{
	static char flood[GDBRSP_RUNAWAY + 4096];
	struct step s[] = { { .send = flood, .send_len = sizeof(flood) }, { 0 } };
	const char *r;
	size_t len;

	flood[0] = '$';
	memset(flood + 1, 'x', sizeof(flood) - 1);
	start(s);
	g.timeout_ms = 5000;
	ck_assert_int_eq(gdbrsp_recv(&g, 5000, &r, &len), -ENODEV);
	ck_assert(g.dead);
	gdbrsp_release(&g);	/* unblocks the flooding peer */
	finish();
}
END_TEST

/* qXfer chunks: binary data escaped, split over "m" and "l" replies. */
START_TEST(test_xfer_joins_chunks_and_unescapes)
{
	static const struct step s[] = {
		{ .expect = "qXfer:features:read:a.xml:0,ffb",
		  .send = "+$m<a}]>#22" },
		{ .expect = "qXfer:features:read:a.xml:4,ffb",
		  .send = "+$l<b/>#77" },
		{ 0 } };
	char *xml = NULL;
	size_t len = 0;

	start(s);
	ck_assert_int_eq(gdbrsp_tdesc_xfer(&g, "a.xml", &xml, &len), 0);
	ck_assert_uint_eq(len, 8);
	ck_assert_str_eq(xml, "<a}><b/>");
	free(xml);
	finish();
}
END_TEST

START_TEST(test_xfer_empty_more_chunk_returns_eproto)
{
	static const struct step s[] = { { .expect = "ffb", .send = "+$m#6d" },
					 { 0 } };
	char *xml = NULL;
	size_t len = 0;

	start(s);
	ck_assert_int_eq(gdbrsp_tdesc_xfer(&g, "target.xml", &xml, &len),
			 -EPROTO);
	ck_assert_ptr_null(xml);
	finish();
}
END_TEST

START_TEST(test_xfer_error_reply_returns_enoent)
{
	static const struct step s[] = { { .expect = "ffb", .send = "+$E00#a5" },
					 { 0 } };
	char *xml = NULL;
	size_t len = 0;

	start(s);
	ck_assert_int_eq(gdbrsp_tdesc_xfer(&g, "target.xml", &xml, &len),
			 -ENOENT);
	finish();
}
END_TEST

static Suite *gdbrsp_suite(void)
{
	Suite *s = suite_create("gdbrsp");
	TCase *n = tcase_create("connection");

	tcase_add_checked_fixture(n, NULL, teardown);
	tcase_set_timeout(n, 20);
	tcase_add_test(n, test_command_gets_acked_reply_and_acks_it);
	tcase_add_test(n, test_send_retransmits_after_nak);
	tcase_add_test(n, test_send_gives_up_after_repeated_naks);
	tcase_add_test(n, test_silent_peer_times_out_within_bound);
	tcase_add_test(n, test_recv_expands_run_length_encoding);
	tcase_add_test(n, test_recv_bad_rle_count_returns_ebadmsg);
	tcase_add_test(n, test_recv_bad_checksum_naks_then_takes_retransmission);
	tcase_add_test(n, test_recv_bad_checksum_forever_returns_ebadmsg);
	tcase_add_test(n, test_recv_skips_garbage_and_restarts_on_inner_dollar);
	tcase_add_test(n, test_recv_oversized_packet_returns_emsgsize_then_resyncs);
	tcase_add_test(n, test_recv_truncated_packet_then_close_returns_enodev);
	tcase_add_test(n, test_recv_truncated_packet_then_silence_times_out);
	tcase_add_test(n, test_slow_dripping_peer_cannot_extend_the_deadline);
	tcase_add_test(n, test_stray_acks_neither_extend_wait_nor_kill_client);
	tcase_add_test(n, test_junk_flood_without_packets_fails_cleanly);
	tcase_add_test(n, test_command_skips_console_and_stray_stop_packets);
	tcase_add_test(n, test_command_exit_reply_makes_client_dead);
	tcase_add_test(n, test_packet_before_ack_is_queued_for_recv);
	tcase_add_test(n, test_recv_leaves_following_bytes_in_socket);
	tcase_add_test(n, test_interrupt_sends_single_ctrl_c);
	tcase_add_test(n, test_closed_socket_gives_enodev_not_sigpipe);
	tcase_add_test(n, test_runaway_packet_without_end_fails_cleanly);
	tcase_add_test(n, test_xfer_joins_chunks_and_unescapes);
	tcase_add_test(n, test_xfer_empty_more_chunk_returns_eproto);
	tcase_add_test(n, test_xfer_error_reply_returns_enoent);
	suite_add_tcase(s, n);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(gdbrsp_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
