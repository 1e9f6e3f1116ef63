/*
 * check_upcall_stream.c - the upcall client on a byte stream: replies cut
 * at every byte, requests queued before QEMU listens, reconnection, and
 * one event loop serving many guests while one is stalled. The fake agent
 * is tests/upcall_fake.h.
 */
#include "upcall_fake.h"

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

static Suite *upcall_stream_suite(void)
{
	Suite *s = suite_create("upcall_stream");
	TCase *cut = tcase_create("cuts"), *life = tcase_create("connections"),
	      *own = tcase_create("own");

	tcase_add_checked_fixture(cut, guest_setup, guest_teardown);
	tcase_set_timeout(cut, 120);
	tcase_add_test(cut, test_reply_cut_at_every_byte_never_breaks_the_next_reply);
	suite_add_tcase(s, cut);
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
	SRunner *sr = srunner_create(upcall_stream_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
