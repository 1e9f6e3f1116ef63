/*
 * check_upcall.c - unit tests of the upcall client (daemon/upcall.c) over
 * the real qemu transport: each test plays QEMU's chardev socket and a
 * scripted, often hostile, agent behind it (tests/upcall_fake.h). Every
 * rejection reason is provoked on purpose: bad MAC, stale nonce, unknown
 * and late ids, wrong version, oversize frames and replies, truncated
 * frames and records, malformed bodies, deadlines, garbage.
 * check_upcall_stream.c has cuts at every byte and connection life.
 */
#include "upcall_fake.h"

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

static Suite *upcall_suite(void)
{
	Suite *s = suite_create("upcall");
	TCase *ok = tcase_create("answers"), *bad = tcase_create("rejections");

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
	suite_add_tcase(s, bad);
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
