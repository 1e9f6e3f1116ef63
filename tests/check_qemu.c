/*
 * check_qemu.c - the qemu backend without QEMU: the RAM file (a temp file
 * as guest RAM: bounds, overflow, size refusal, live reads), attach over a
 * scripted gdbstub (tests/qemu_stub.h), registers laid out as the stub's
 * target description says, breakpoint bookkeeping, and refusals.
 * Event flows are in check_qemu_event.c.
 */
#define _GNU_SOURCE
#include "qemu_stub.h"

/* --- RAM file --------------------------------------------------------------- */

static void ram_setup(void)
{
	make_ram(RAMSZ);
	hv = NULL;
	ck_assert_int_eq(qemu_hv_open("ram", ram_path, -1, TMO, &hv), 0);
}

static void ram_teardown(void)
{
	hv_free(hv);
	hv = NULL;
	drop_ram();
}

START_TEST(test_read_phys_within_ram_copies_file_bytes)
{
	unsigned char buf[64];

	ck_assert_uint_eq(hv->ram_size, RAMSZ);
	ck_assert_int_eq(hv_read_phys(hv, 4096, buf, sizeof(buf)), 0);
	for (unsigned int i = 0; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], (unsigned char)((4096 + i) * 7));
	ck_assert_int_eq(hv_read_phys(hv, RAMSZ - 8, buf, 8), 0);
	ck_assert_uint_eq(buf[7], (unsigned char)((RAMSZ - 1) * 7));
	ck_assert_int_eq(hv_read_phys(hv, RAMSZ, buf, 0), 0);
}
END_TEST

START_TEST(test_read_phys_past_end_returns_efault_and_copies_nothing)
{
	unsigned char buf[16];

	memset(buf, 0xee, sizeof(buf));
	ck_assert_int_eq(hv_read_phys(hv, RAMSZ - 8, buf, 16), -EFAULT);
	ck_assert_int_eq(hv_read_phys(hv, RAMSZ, buf, 1), -EFAULT);
	ck_assert_int_eq(hv_read_phys(hv, 1ull << 40, buf, 1), -EFAULT);
	for (unsigned int i = 0; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], 0xee);
}
END_TEST

START_TEST(test_read_phys_wrapping_range_returns_efault)
{
	unsigned char buf[16];

	ck_assert_int_eq(hv_read_phys(hv, UINT64_MAX - 3, buf, 8), -EFAULT);
	ck_assert_int_eq(hv_read_phys(hv, 8, buf, SIZE_MAX), -EFAULT);
	ck_assert_int_eq(hv_read_phys(hv, UINT64_MAX, buf, 0), -EFAULT);
}
END_TEST

START_TEST(test_read_phys_sees_guest_writes_after_attach)
{
	uint64_t v = 0x1122334455667788ull, got = 0;
	int fd = open(ram_path, O_WRONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, &v, sizeof(v), 0x2000), (ssize_t)sizeof(v));
	close(fd);
	ck_assert_int_eq(hv_read_phys(hv, 0x2000, &got, sizeof(got)), 0);
	ck_assert_uint_eq(got, v);
}
END_TEST

START_TEST(test_memory_only_backend_offers_only_mem)
{
	struct hv_regs r;
	struct hv_event ev;

	ck_assert_uint_eq(hv->caps, HV_CAP_MEM);
	ck_assert_int_eq(hv_pause(hv), -EOPNOTSUPP);
	ck_assert_int_eq(hv_get_regs(hv, 0, &r), -EOPNOTSUPP);
	ck_assert_int_eq(hv_set_bp(hv, 0x1000), -EOPNOTSUPP);
	ck_assert_int_eq(hv_set_cr3_events(hv, true), -EOPNOTSUPP);
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), -EOPNOTSUPP);
	ck_assert_int_eq(hv_event_fd(hv), -1);
	ck_assert_int_eq(qemu_hv_set_cr3_hook(hv, 0x1000), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_ram_file_over_2g_is_refused_with_efbig)
{
	struct hv *h = NULL;

	make_ram(QEMU_RAM_MAX + 4096);	/* sparse */
	ck_assert_int_eq(qemu_hv_open("big", ram_path, -1, TMO, &h), -EFBIG);
	ck_assert_ptr_null(h);
	drop_ram();
}
END_TEST

START_TEST(test_empty_missing_or_no_source_is_refused)
{
	struct hv *h = NULL;

	make_ram(0);
	ck_assert_int_eq(qemu_hv_open("e", ram_path, -1, TMO, &h), -EINVAL);
	drop_ram();
	ck_assert_int_eq(qemu_hv_open("m", "/nonexistent/ram", -1, TMO, &h),
			 -ENOENT);
	ck_assert_int_eq(qemu_hv_open("n", NULL, -1, TMO, &h), -EINVAL);
	ck_assert_int_eq(qemu_hv_new("s", NULL, "/nonexistent/gdb.sock", &h),
			 -ENOENT);
	ck_assert_ptr_null(h);
}
END_TEST

/* --- attach, registers, breakpoints over the scripted stub ------------------- */

START_TEST(test_attach_skips_connect_stop_and_lets_guest_run)
{
	char caps[128];

	stub_start(layout_a);
	ck_assert_str_eq(hv_caps_str(hv->caps, caps, sizeof(caps)),
			 "mem,regs,pause,bp,bp-invisible");
	ck_assert_uint_eq(hv->nr_vcpus, 1);
	ck_assert(log_has("qXfer:features:read:core"));
	ck_assert(stub_running());
	ck_assert_str_eq(hv->ops->name, "qemu");
}
END_TEST

START_TEST(test_get_regs_needs_pause_and_reads_described_layout)
{
	struct hv_regs r;

	stub_start(layout_a);
	ck_assert_int_eq(hv_get_regs(hv, 0, &r), -EBUSY);
	ck_assert_int_eq(hv_get_regs(hv, 1, &r), -EINVAL);
	ck_assert_int_eq(hv_pause(hv), 0);
	ck_assert(!stub_running());
	ck_assert_int_eq(hv_pause(hv), 0);	/* nested: no second ^C */
	ck_assert_int_eq(hv_get_regs(hv, 0, &r), 0);
	ck_assert_uint_eq(r.rip, 0xffffffff81000000ull);
	ck_assert_uint_eq(r.rsp, 0xffffc90000123ff8ull);
	ck_assert_uint_eq(r.rax, 0x1234);
	ck_assert_uint_eq(r.rflags, 0x246);
	ck_assert_uint_eq(r.cr3, 0x10a000);
	ck_assert_uint_eq(r.cr4, 0x3006f0);
	ck_assert_uint_eq(r.gs_base, 0x1111111111111111ull);
	ck_assert_uint_eq(r.lstar, 0);
	ck_assert_int_eq(hv_resume(hv), 0);
	ck_assert(stub_running());
}
END_TEST

START_TEST(test_regs_follow_another_description_order)
{
	struct hv_regs r;

	stub_start(layout_b);
	ck_assert_int_eq(hv_pause(hv), 0);
	ck_assert_int_eq(hv_get_regs(hv, 0, &r), 0);
	ck_assert_uint_eq(r.rip, 0xffffffff81000000ull);
	ck_assert_uint_eq(r.rsp, 0xffffc90000123ff8ull);
	ck_assert_uint_eq(r.cr3, 0x10a000);
	ck_assert_uint_eq(r.cr4, 0x3006f0);
	ck_assert_uint_eq(r.rax, 0x1234);
	ck_assert_uint_eq(r.rbx, 0);	/* not described: left 0 */
	ck_assert_uint_eq(r.cr0, 0);
}
END_TEST

START_TEST(test_description_without_cr3_is_refused)
{
	struct hv *h = NULL;
	int fd = stub_spawn(layout_nocr3, false);

	ck_assert_int_eq(qemu_hv_open("x", ram_path, fd, TMO, &h), -EPROTO);
	ck_assert_ptr_null(h);
}
END_TEST

START_TEST(test_mute_stub_fails_attach_within_timeout)
{
	struct hv *h = NULL;
	int fd = stub_spawn(layout_a, true);
	long t0 = now_ms();

	ck_assert_int_eq(qemu_hv_open("x", ram_path, fd, TMO, &h), -ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, TMO + SLACK);
	ck_assert_ptr_null(h);
}
END_TEST

START_TEST(test_set_bp_twice_eexist_clear_unknown_enoent)
{
	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, 0xffffffff81001000ull), 0);
	ck_assert(log_has("Z0,ffffffff81001000,1"));
	ck_assert(stub_running());	/* quiesced for Z0, then resumed */
	ck_assert_int_eq(hv_set_bp(hv, 0xffffffff81001000ull), -EEXIST);
	ck_assert_int_eq(hv_clear_bp(hv, 0xffffffff81002000ull), -ENOENT);
	ck_assert_int_eq(hv_clear_bp(hv, 0xffffffff81001000ull), 0);
	ck_assert(log_has("z0,ffffffff81001000,1"));
	ck_assert_int_eq(hv_clear_bp(hv, 0xffffffff81001000ull), -ENOENT);
	LOCKED(ck_assert_int_eq(st.nbps, 0));
}
END_TEST

START_TEST(test_set_bp_refused_by_stub_returns_eio)
{
	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, 0xbad), -EIO);
	ck_assert_int_eq(hv_clear_bp(hv, 0xbad), -ENOENT);
	ck_assert(stub_running());
}
END_TEST

START_TEST(test_set_bp_beyond_cap_returns_enospc)
{
	stub_start(layout_a);
	ck_assert_int_eq(hv_pause(hv), 0);
	for (unsigned int i = 0; i < QEMU_BPS_MAX; i++)
		ck_assert_int_eq(hv_set_bp(hv, 0x1000 + i), 0);
	ck_assert_int_eq(hv_set_bp(hv, 0x9000), -ENOSPC);
}
END_TEST

START_TEST(test_free_removes_breakpoints_and_resumes_guest)
{
	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, 0x4000), 0);
	ck_assert_int_eq(hv_pause(hv), 0);
	stub_stop();
	ck_assert_int_eq(st.nbps, 0);
	ck_assert(st.running);
	ck_assert(strstr(st.log, "z0,4000,1|c|") != NULL);
}
END_TEST

static Suite *qemu_suite(void)
{
	Suite *s = suite_create("qemu");
	TCase *m = tcase_create("ram"), *a = tcase_create("stub");

	tcase_add_checked_fixture(m, ram_setup, ram_teardown);
	tcase_add_test(m, test_read_phys_within_ram_copies_file_bytes);
	tcase_add_test(m, test_read_phys_past_end_returns_efault_and_copies_nothing);
	tcase_add_test(m, test_read_phys_wrapping_range_returns_efault);
	tcase_add_test(m, test_read_phys_sees_guest_writes_after_attach);
	tcase_add_test(m, test_memory_only_backend_offers_only_mem);
	tcase_add_test(m, test_ram_file_over_2g_is_refused_with_efbig);
	tcase_add_test(m, test_empty_missing_or_no_source_is_refused);
	suite_add_tcase(s, m);

	tcase_add_checked_fixture(a, NULL, teardown_stub);
	tcase_set_timeout(a, 20);
	tcase_add_test(a, test_attach_skips_connect_stop_and_lets_guest_run);
	tcase_add_test(a, test_get_regs_needs_pause_and_reads_described_layout);
	tcase_add_test(a, test_regs_follow_another_description_order);
	tcase_add_test(a, test_description_without_cr3_is_refused);
	tcase_add_test(a, test_mute_stub_fails_attach_within_timeout);
	tcase_add_test(a, test_set_bp_twice_eexist_clear_unknown_enoent);
	tcase_add_test(a, test_set_bp_refused_by_stub_returns_eio);
	tcase_add_test(a, test_set_bp_beyond_cap_returns_enospc);
	tcase_add_test(a, test_free_removes_breakpoints_and_resumes_guest);
	suite_add_tcase(s, a);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(qemu_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
