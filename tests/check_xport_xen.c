/*
 * check_xport_xen.c - the Xen upcall transport (xport_xen.c) without a
 * hypervisor: a page plays the vchan ring the guest's agent shares, a pipe
 * plays its event channel, and the test plays the guest, honest or lying:
 * producer and consumer indexes past the ring, a liveness byte that says
 * closed with data still there, a guest that signals or never does.
 * Reads and writes go through the real libxenvchan ring code; only the
 * grant mapping and the event channel are the test's.
 *
 * The guest's notify-request bits (cli_notify) stay 0 here: set, they make
 * libxenvchan signal through a real event channel, which a test has not.
 */
#define _GNU_SOURCE		/* pipe2 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_XEN
#include "upcall.h"
#include "xport_xen.h"

#define PAGE 4096u
#define BIG_ORDER 17			/* a 128 KiB ring, past the call cap */

struct fake {
	struct vchan_interface *ring;	/* the shared page */
	uint8_t *big;			/* multi-page ring buffer, or NULL */
	int pipe[2];			/* [0]: the event fd, [1]: the guest */
	int open_ret;			/* what the next open says */
	bool ack_fails;			/* the event channel read fails */
	unsigned int opens, closes, acks;
	struct libxenvchan *vc;
};

static struct fake fk;
static struct xport *xp;

static int fake_open(void *arg, unsigned int domid, const char *path,
		     struct libxenvchan **out)
{
	struct fake *f = arg;
	struct libxenvchan *vc;

	if (f->open_ret)
		return f->open_ret;
	vc = calloc(1, sizeof(*vc));
	ck_assert_ptr_nonnull(vc);
	vc->ring = f->ring;
	vc->is_server = 0;
	vc->read.shr = &f->ring->right;		/* client reads right */
	vc->read.order = 11;
	vc->read.buffer = (uint8_t *)f->ring + 2048;
	vc->write.shr = &f->ring->left;
	vc->write.order = 10;
	vc->write.buffer = (uint8_t *)f->ring + 1024;
	if (f->big) {
		vc->read.order = BIG_ORDER;
		vc->read.buffer = f->big;
	}
	f->opens++;
	f->vc = vc;
	*out = vc;
	return 0;
}

static int fake_event_fd(void *arg, struct libxenvchan *vc)
{
	return ((struct fake *)arg)->pipe[0];
}

static int fake_ack(void *arg, struct libxenvchan *vc)
{
	struct fake *f = arg;
	char c;

	if (f->ack_fails || read(f->pipe[0], &c, 1) != 1)
		return -1;
	f->acks++;
	return 0;
}

static void fake_close(void *arg, struct libxenvchan *vc)
{
	struct fake *f = arg;

	vc->ring->cli_live = 0;		/* what libxenvchan_close does */
	f->closes++;
	f->vc = NULL;
	free(vc);
}

static const struct xport_xen_source fake_src = {
	.open = fake_open,
	.event_fd = fake_event_fd,
	.ack = fake_ack,
	.close = fake_close,
};

static void setup(void)
{
	memset(&fk, 0, sizeof(fk));
	fk.ring = aligned_alloc(PAGE, PAGE);
	ck_assert_ptr_nonnull(fk.ring);
	memset(fk.ring, 0, PAGE);
	fk.ring->left_order = 10;
	fk.ring->right_order = 11;
	fk.ring->srv_live = 1;
	fk.ring->cli_live = 1;
	ck_assert_int_eq(pipe2(fk.pipe, O_NONBLOCK | O_CLOEXEC), 0);
	ck_assert_int_eq(xport_xen_new_source("g", 5, &fake_src, &fk, &xp), 0);
}

static void teardown(void)
{
	xport_free(xp);
	close(fk.pipe[0]);
	close(fk.pipe[1]);
	free(fk.big);
	free(fk.ring);
}

static void connect_ok(void)
{
	ck_assert_int_eq(xport_connect(xp), 0);
	ck_assert(xp->connected);
}

/* The guest (server) writes into the client's read ring, as libxenvchan. */
static void guest_write(const void *p, size_t n)
{
	struct ring_shared *r = &fk.ring->right;
	uint32_t size = fk.big ? 1u << BIG_ORDER : 2048u;
	uint8_t *buf = fk.big ? fk.big : (uint8_t *)fk.ring + 2048;

	for (size_t i = 0; i < n; i++)
		buf[(r->prod + i) & (size - 1)] = ((const uint8_t *)p)[i];
	r->prod += (uint32_t)n;
}

static void guest_signal(void)
{
	ck_assert_int_eq(write(fk.pipe[1], "e", 1), 1);
}

static short fd_events(void)
{
	struct pollfd pfd = { .fd = xport_fd(xp), .events = POLLIN | POLLOUT };

	ck_assert_int_ge(pfd.fd, 0);
	ck_assert_int_ge(poll(&pfd, 1, 0), 0);
	return pfd.revents;
}

START_TEST(test_new_refuses_dom0_and_reserved_domids)
{
	struct xport *x = NULL;

	ck_assert_int_eq(xport_xen_new_source("g", 0, &fake_src, &fk, &x),
			 -EINVAL);
	ck_assert_int_eq(xport_xen_new_source("g", 0x7ff0, &fake_src, &fk, &x),
			 -EINVAL);
	ck_assert_int_eq(xport_xen_new("g", 0, &x), -EINVAL);
	ck_assert_ptr_null(x);
}
END_TEST

START_TEST(test_path_is_the_agents_ring_dir_and_short_buffer_is_refused)
{
	char buf[XPORT_XEN_PATH_MAX], tiny[16];

	ck_assert_int_eq(xport_xen_path(7, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/local/domain/7/data/upcalld");
	ck_assert_int_eq(xport_xen_path(7, tiny, sizeof(tiny)), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_connect_while_agent_absent_returns_eagain_without_fd)
{
	char b[8];

	fk.open_ret = -EAGAIN;
	ck_assert_int_eq(xport_connect(xp), -EAGAIN);
	ck_assert(!xp->connected);
	ck_assert_int_eq(xport_fd(xp), -1);
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), -ENOTCONN);
	fk.open_ret = 0;
	connect_ok();
	ck_assert_uint_eq(fk.opens, 1);
}
END_TEST

START_TEST(test_read_returns_what_the_guest_wrote)
{
	char b[16] = { 0 };

	connect_ok();
	guest_write("hello", 5);
	guest_signal();
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), 5);
	ck_assert_mem_eq(b, "hello", 5);
	ck_assert_uint_eq(fk.ring->right.cons, 5);
}
END_TEST

START_TEST(test_read_without_pending_event_neither_blocks_nor_acks)
{
	char b[16];

	connect_ok();
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), -EAGAIN);
	guest_write("x", 1);	/* data, but no signal */
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), 1);
	ck_assert_uint_eq(fk.acks, 0);
}
END_TEST

START_TEST(test_pending_event_is_acked_once_then_fd_goes_quiet)
{
	char b[16];

	connect_ok();
	guest_signal();
	ck_assert(fd_events() & POLLIN);
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), -EAGAIN);
	ck_assert_uint_eq(fk.acks, 1);
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), -EAGAIN);
	ck_assert_uint_eq(fk.acks, 1);
	ck_assert_uint_eq(xport_xen_acks(xp), 1);
	ck_assert_int_eq(fd_events(), 0);
}
END_TEST

START_TEST(test_fd_never_polls_writable)
{
	connect_ok();
	/* the event channel's own fd always polls writable: ours must not */
	ck_assert_int_eq(fd_events() & POLLOUT, 0);
	guest_signal();
	ck_assert_int_eq(fd_events(), POLLIN);
}
END_TEST

START_TEST(test_producer_claiming_more_than_the_ring_reads_nothing)
{
	char b[4096];

	connect_ok();
	memset(b, 0x5a, sizeof(b));
	fk.ring->right.prod = fk.ring->right.cons + 4096;	/* ring: 2048 */
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), -EAGAIN);
	fk.ring->right.prod = fk.ring->right.cons + 0x80000000u;
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), -EAGAIN);
	ck_assert_uint_eq(b[0], 0x5a);
	ck_assert_uint_eq(fk.ring->right.cons, 0);
}
END_TEST

START_TEST(test_read_moves_at_most_the_cap_per_call)
{
	static uint8_t src[100 * 1024], dst[128 * 1024];

	fk.big = calloc(1, 1u << BIG_ORDER);
	ck_assert_ptr_nonnull(fk.big);
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7);
	connect_ok();
	guest_write(src, sizeof(src));
	ck_assert_int_eq(xport_read(xp, dst, sizeof(dst)), XPORT_XEN_IO_MAX);
	ck_assert_int_eq(xport_read(xp, dst + XPORT_XEN_IO_MAX,
				    sizeof(dst) - XPORT_XEN_IO_MAX),
			 sizeof(src) - XPORT_XEN_IO_MAX);
	ck_assert_mem_eq(dst, src, sizeof(src));
}
END_TEST

START_TEST(test_wrapped_indexes_read_in_order)
{
	char b[64] = { 0 };

	fk.ring->right.prod = fk.ring->right.cons = 0xfffffffcu;
	connect_ok();
	guest_write("0123456789", 10);
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), 10);
	ck_assert_mem_eq(b, "0123456789", 10);
}
END_TEST

START_TEST(test_guest_closed_with_data_left_reads_data_then_eof)
{
	char b[16];

	connect_ok();
	guest_write("bye", 3);
	fk.ring->srv_live = 0;
	guest_signal();
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), 3);
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), 0);
	ck_assert_int_eq(xport_write(xp, "q", 1), -EPIPE);
}
END_TEST

START_TEST(test_any_nonzero_liveness_byte_counts_as_open)
{
	connect_ok();
	fk.ring->srv_live = 0x7f;
	ck_assert_int_eq(xport_write(xp, "q", 1), 1);
	ck_assert_uint_eq(fk.ring->left.prod, 1);
}
END_TEST

START_TEST(test_full_ring_write_returns_eagain_until_guest_reads)
{
	static char big[1500];

	connect_ok();
	memset(big, 'r', sizeof(big));
	ck_assert_int_eq(xport_write(xp, big, sizeof(big)), 1024);
	ck_assert_int_eq(xport_write(xp, big, 1), -EAGAIN);
	fk.ring->left.cons += 1000;		/* the guest read 1000 */
	ck_assert_int_eq(xport_write(xp, big, 476), 476);
	ck_assert_int_eq(fk.ring->left.prod - fk.ring->left.cons, 500);
}
END_TEST

START_TEST(test_consumer_index_past_producer_never_overwrites)
{
	connect_ok();
	/* a guest "consuming" bytes never written: space would be > ring */
	fk.ring->left.cons = fk.ring->left.prod + 5000;
	ck_assert_int_eq(xport_write(xp, "abc", 3), -EAGAIN);
	ck_assert_uint_eq(fk.ring->left.prod, 0);
}
END_TEST

START_TEST(test_disconnect_closes_the_ring_and_reconnect_opens_a_new_one)
{
	connect_ok();
	xport_disconnect(xp);
	ck_assert(!xp->connected);
	ck_assert_uint_eq(fk.closes, 1);
	ck_assert_uint_eq(fk.ring->cli_live, 0);
	ck_assert_int_eq(xport_fd(xp), -1);
	fk.ring->cli_live = 1;
	connect_ok();
	ck_assert_uint_eq(fk.opens, 2);
	ck_assert_int_ge(xport_fd(xp), 0);
}
END_TEST

START_TEST(test_connect_while_connected_does_not_reopen)
{
	connect_ok();
	connect_ok();
	ck_assert_uint_eq(fk.opens, 1);
}
END_TEST

/* n signals without data, each read as the upcall client would */
static void empty_signals(unsigned int n)
{
	char b[16];

	for (unsigned int i = 0; i < n; i++) {
		guest_signal();
		ck_assert_int_eq(xport_read(xp, b, sizeof(b)), -EAGAIN);
	}
}

START_TEST(test_flood_of_empty_events_is_ignored_until_the_next_write)
{
	char b[16] = { 0 };

	connect_ok();
	empty_signals(XPORT_XEN_IDLE_ACKS - 1);
	ck_assert(!xport_xen_muted(xp));
	empty_signals(1);
	ck_assert(xport_xen_muted(xp));
	ck_assert_uint_eq(fk.acks, XPORT_XEN_IDLE_ACKS);
	/* more signals: the loop is not woken, nothing is taken */
	guest_signal();
	guest_signal();
	ck_assert_int_eq(fd_events(), 0);
	ck_assert_uint_eq(fk.acks, XPORT_XEN_IDLE_ACKS);
	/* a request goes out: we listen again, and the answer is read */
	ck_assert_int_eq(xport_write(xp, "q", 1), 1);
	ck_assert(!xport_xen_muted(xp));
	ck_assert_int_eq(fd_events(), POLLIN);
	guest_write("answer", 6);
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), 6);
	ck_assert_mem_eq(b, "answer", 6);
}
END_TEST

START_TEST(test_events_that_bring_data_never_mute)
{
	char b[16];

	connect_ok();
	for (unsigned int i = 0; i < 3 * XPORT_XEN_IDLE_ACKS; i++) {
		guest_write("d", 1);
		guest_signal();
		ck_assert_int_eq(xport_read(xp, b, sizeof(b)), 1);
	}
	/* empty ones just under the limit, data, then again: a fresh count */
	empty_signals(XPORT_XEN_IDLE_ACKS - 1);
	guest_write("d", 1);
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), 1);
	empty_signals(XPORT_XEN_IDLE_ACKS - 1);
	ck_assert(!xport_xen_muted(xp));
	ck_assert_uint_eq(fk.acks, 3 * XPORT_XEN_IDLE_ACKS + 2 * (XPORT_XEN_IDLE_ACKS - 1));
}
END_TEST

START_TEST(test_reconnect_after_mute_listens_again)
{
	connect_ok();
	empty_signals(XPORT_XEN_IDLE_ACKS);
	ck_assert(xport_xen_muted(xp));
	xport_disconnect(xp);
	fk.ring->cli_live = 1;
	connect_ok();
	ck_assert(!xport_xen_muted(xp));
	guest_signal();
	ck_assert_int_eq(fd_events(), POLLIN);
}
END_TEST

START_TEST(test_failing_event_ack_is_eio_not_a_retry_loop)
{
	char b[16];

	connect_ok();
	guest_write("x", 1);
	guest_signal();
	fk.ack_fails = true;
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), -EIO);
	ck_assert_uint_eq(xport_xen_acks(xp), 0);
	ck_assert_uint_eq(fk.ring->right.cons, 0);	/* nothing consumed */
}
END_TEST

START_TEST(test_event_fd_gone_is_eio)
{
	char b[16];

	connect_ok();
	close(fk.pipe[0]);	/* the event channel's fd vanished under us */
	fk.pipe[0] = -1;
	ck_assert_int_eq(xport_read(xp, b, sizeof(b)), -EIO);
}
END_TEST

/*
 * The upcall client over this transport: a request whose deadline passed
 * while no agent served is not sent when the agent comes; only the live
 * one reaches the agent's ring (the client's write ring, "left").
 */
START_TEST(test_request_ended_before_the_agent_served_is_never_sent)
{
	struct upcall_cfg cfg = { .guest = "g" };
	struct upcall_query q = { .query = WIRE_Q_PROCS, .timeout_ns = 1000 };
	const uint8_t *sent = (const uint8_t *)fk.ring + 1024;
	struct upcall *u;
	uint64_t ended, live;

	fk.open_ret = -EAGAIN;
	ck_assert_int_eq(upcall_new(&cfg, xp, &u), 0);
	ck_assert_int_eq(upcall_submit(u, &q, 0, &ended), 0);
	upcall_tick(u, 2000);		/* no agent yet; the deadline passes */
	ck_assert_uint_eq(upcall_inflight(u), 0);
	q.timeout_ns = 10000000000ull;
	ck_assert_int_eq(upcall_submit(u, &q, 2000, &live), 0);
	fk.open_ret = 0;
	upcall_tick(u, 3000000000ull);	/* past the reconnect backoff */
	ck_assert(xp->connected);
	ck_assert_uint_eq(fk.ring->left.prod, wire_frame_len(0));
	ck_assert_uint_eq(wire_get64(sent + 16), live);
	ck_assert_uint_ne(live, ended);
	upcall_free(u);			/* frees xp */
	xp = NULL;
}
END_TEST

static Suite *xport_xen_suite(void)
{
	Suite *s = suite_create("xport_xen");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 10);	/* a read that blocks fails here */
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_new_refuses_dom0_and_reserved_domids);
	tcase_add_test(tc, test_path_is_the_agents_ring_dir_and_short_buffer_is_refused);
	tcase_add_test(tc, test_connect_while_agent_absent_returns_eagain_without_fd);
	tcase_add_test(tc, test_read_returns_what_the_guest_wrote);
	tcase_add_test(tc, test_read_without_pending_event_neither_blocks_nor_acks);
	tcase_add_test(tc, test_pending_event_is_acked_once_then_fd_goes_quiet);
	tcase_add_test(tc, test_fd_never_polls_writable);
	tcase_add_test(tc, test_producer_claiming_more_than_the_ring_reads_nothing);
	tcase_add_test(tc, test_read_moves_at_most_the_cap_per_call);
	tcase_add_test(tc, test_wrapped_indexes_read_in_order);
	tcase_add_test(tc, test_guest_closed_with_data_left_reads_data_then_eof);
	tcase_add_test(tc, test_any_nonzero_liveness_byte_counts_as_open);
	tcase_add_test(tc, test_full_ring_write_returns_eagain_until_guest_reads);
	tcase_add_test(tc, test_consumer_index_past_producer_never_overwrites);
	tcase_add_test(tc, test_disconnect_closes_the_ring_and_reconnect_opens_a_new_one);
	tcase_add_test(tc, test_connect_while_connected_does_not_reopen);
	tcase_add_test(tc, test_flood_of_empty_events_is_ignored_until_the_next_write);
	tcase_add_test(tc, test_events_that_bring_data_never_mute);
	tcase_add_test(tc, test_reconnect_after_mute_listens_again);
	tcase_add_test(tc, test_failing_event_ack_is_eio_not_a_retry_loop);
	tcase_add_test(tc, test_event_fd_gone_is_eio);
	tcase_add_test(tc, test_request_ended_before_the_agent_served_is_never_sent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xport_xen_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
#else
int main(void)
{
	return 77;	/* no Xen headers: the transport is not built */
}
#endif
