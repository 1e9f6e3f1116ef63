/*
 * check_qemu_event.c - run control and events of the qemu backend against
 * the scripted gdbstub (tests/qemu_stub.h): a breakpoint hit becomes an
 * event with registers, event_done steps over it (z0, s, Z0, c), a hit
 * that races our ^C is queued and its fd stays readable, the CR3 hook
 * yields approximate CR3 events, and a dying stub yields one GONE event.
 */
#define _GNU_SOURCE
#include "qemu_stub.h"

#define BP 0xffffffff81234560ull

static bool fd_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

START_TEST(test_breakpoint_hit_delivers_event_with_regs)
{
	struct hv_event ev;

	stub_start(layout_a);
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), -EAGAIN);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.hit_ms = 20; st.ran_at = now_ms());
	ck_assert(fd_readable(hv_event_fd(hv), 3000));
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), 0);
	ck_assert_int_eq(ev.kind, HV_EV_BREAKPOINT);
	ck_assert_uint_eq(ev.addr, BP);
	ck_assert_uint_eq(ev.regs.rip, BP);
	ck_assert_uint_eq(ev.regs.cr3, 0x10a000);
	ck_assert_uint_eq(ev.vcpu, 0);
	ck_assert_uint_eq(ev.seq, 1);
	ck_assert(!stub_running());
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), -EBUSY);
}
END_TEST

START_TEST(test_hit_on_second_vcpu_reports_it_without_reselecting)
{
	struct hv_event ev;
	struct hv_regs r;
	int fd = stub_spawn(layout_a, false);

	LOCKED(st.two_cpus = true);
	ck_assert_int_eq(qemu_hv_open("t", ram_path, fd, TMO, &hv), 0);
	ck_assert_uint_eq(hv->nr_vcpus, 2);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.hit_ms = 5; st.ran_at = now_ms(); st.log_len = 0;
	       st.log[0] = '\0');
	ck_assert_int_eq(hv_next_event(hv, &ev, 3000), 0);
	ck_assert_uint_eq(ev.vcpu, 1);
	ck_assert(log_has("g|"));
	ck_assert(!log_has("Hg"));	/* the stub selected the stopped vCPU */
	ck_assert_int_eq(hv_get_regs(hv, 0, &r), 0);
	ck_assert(log_has("Hg1|g|"));
	LOCKED(st.hit_ms = -1);
	ck_assert_int_eq(hv_event_done(hv, &ev), 0);
}
END_TEST

START_TEST(test_event_done_steps_over_breakpoint_and_continues)
{
	struct hv_event ev;
	struct hv_regs r;

	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.hit_ms = 10; st.ran_at = now_ms());
	ck_assert_int_eq(hv_next_event(hv, &ev, 3000), 0);
	ck_assert_int_eq(hv_get_regs(hv, 0, &r), 0);	/* in an event: allowed */
	ck_assert_uint_eq(r.rip, BP);
	LOCKED(st.hit_ms = -1; st.log_len = 0; st.log[0] = '\0');
	ck_assert_int_eq(hv_event_done(hv, &ev), 0);
	ck_assert(log_has("z0,ffffffff81234560,1|s|Z0,ffffffff81234560,1|c|"));
	LOCKED(ck_assert_int_eq(st.steps, 1); ck_assert_int_eq(st.nbps, 1));
	ck_assert(stub_running());
	ck_assert_int_eq(hv_event_done(hv, &ev), -EINVAL);	/* twice */
}
END_TEST

START_TEST(test_event_done_on_ftrace_nop_skips_it_without_stepping)
{
	struct hv_event ev;

	stub_start(layout_a);
	LOCKED(st.nop_addr = BP);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.hit_ms = 10; st.ran_at = now_ms());
	ck_assert_int_eq(hv_next_event(hv, &ev, 3000), 0);
	LOCKED(st.hit_ms = -1; st.log_len = 0; st.log[0] = '\0');
	ck_assert_int_eq(hv_event_done(hv, &ev), 0);
	ck_assert(log_has("mffffffff81234560,5|P10=65452381ffffffff|c|"));
	LOCKED(ck_assert_int_eq(st.steps, 0); ck_assert_int_eq(st.skips, 1);
	       ck_assert_uint_eq(st.rip, BP + 5); ck_assert_int_eq(st.nbps, 1));
	ck_assert(stub_running());
}
END_TEST

START_TEST(test_breakpoint_off_a_nop_is_stepped)
{
	struct hv_event ev;

	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);	/* bytes: e8 ... (a call) */
	LOCKED(st.hit_ms = 10; st.ran_at = now_ms());
	for (int i = 1; i <= 2; i++) {
		ck_assert_int_eq(hv_next_event(hv, &ev, 3000), 0);
		ck_assert_int_eq(hv_event_done(hv, &ev), 0);
		LOCKED(ck_assert_int_eq(st.steps, i); ck_assert_int_eq(st.skips, 0));
	}
	/* seen once as not a NOP: not read again */
	ck_assert_int_eq(log_count("mffffffff81234560,5"), 1);
}
END_TEST

START_TEST(test_write_rip_refused_falls_back_to_step)
{
	struct hv_event ev;

	stub_start(layout_a);
	LOCKED(st.nop_addr = BP; st.no_p = true);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.hit_ms = 10; st.ran_at = now_ms());
	ck_assert_int_eq(hv_next_event(hv, &ev, 3000), 0);
	ck_assert_int_eq(hv_event_done(hv, &ev), 0);
	LOCKED(ck_assert_int_eq(st.steps, 1); ck_assert_int_eq(st.skips, 0);
	       ck_assert_uint_eq(st.rip, BP + 1));
}
END_TEST

START_TEST(test_repeated_hits_each_give_an_event)
{
	struct hv_event ev;

	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.hit_ms = 5; st.ran_at = now_ms());
	for (uint64_t i = 1; i <= 3; i++) {
		ck_assert_int_eq(hv_next_event(hv, &ev, 3000), 0);
		ck_assert_uint_eq(ev.seq, i);
		ck_assert_int_eq(hv_event_done(hv, &ev), 0);
	}
	LOCKED(ck_assert_int_eq(st.hits, 3));
}
END_TEST

START_TEST(test_pause_racing_a_hit_queues_the_event)
{
	struct hv_event ev;
	int efd;

	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.race = true);
	ck_assert_int_eq(hv_pause(hv), 0);	/* ^C answered by T05 at BP */
	efd = hv_event_fd(hv);
	ck_assert(fd_readable(efd, 0));
	ck_assert_int_eq(hv_resume(hv), 0);	/* the vCPU stays held */
	ck_assert(!stub_running());
	ck_assert(fd_readable(efd, 0));
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), 0);
	ck_assert_int_eq(ev.kind, HV_EV_BREAKPOINT);
	ck_assert_uint_eq(ev.addr, BP);
	ck_assert(!fd_readable(efd, 0));
	ck_assert_int_eq(hv_event_done(hv, &ev), 0);
	ck_assert(stub_running());
	LOCKED(ck_assert_int_eq(st.steps, 1));
}
END_TEST

START_TEST(test_event_done_while_paused_keeps_guest_stopped)
{
	struct hv_event ev;

	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.hit_ms = 5; st.ran_at = now_ms());
	ck_assert_int_eq(hv_next_event(hv, &ev, 3000), 0);
	LOCKED(st.hit_ms = -1);
	ck_assert_int_eq(hv_pause(hv), 0);
	ck_assert_int_eq(hv_event_done(hv, &ev), 0);
	ck_assert(!stub_running());
	ck_assert_int_eq(hv_resume(hv), 0);
	ck_assert(stub_running());
	LOCKED(ck_assert_int_eq(st.steps, 1));
}
END_TEST

START_TEST(test_clearing_bp_during_event_skips_the_step)
{
	struct hv_event ev;

	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.hit_ms = 5; st.ran_at = now_ms());
	ck_assert_int_eq(hv_next_event(hv, &ev, 3000), 0);
	ck_assert_int_eq(hv_clear_bp(hv, BP), 0);
	ck_assert(!stub_running());	/* still held by the event */
	ck_assert_int_eq(hv_event_done(hv, &ev), 0);
	ck_assert(stub_running());
	LOCKED(ck_assert_int_eq(st.steps, 0); ck_assert_int_eq(st.nbps, 0));
}
END_TEST

START_TEST(test_next_event_times_out_with_eagain)
{
	struct hv_event ev;
	long t0 = now_ms();

	stub_start(layout_a);
	ck_assert_int_eq(hv_next_event(hv, &ev, 50), -EAGAIN);
	ck_assert_int_lt(now_ms() - t0, 50 + SLACK);
}
END_TEST

START_TEST(test_stub_dying_gives_one_gone_event_then_enodev)
{
	struct hv_event ev;
	struct hv_regs r;
	long t0;

	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.die_on_cont = true; st.ran_at = now_ms());
	ck_assert(fd_readable(hv_event_fd(hv), 3000));
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), 0);
	ck_assert_int_eq(ev.kind, HV_EV_GONE);
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), -ENODEV);
	ck_assert_int_eq(hv_pause(hv), -ENODEV);
	ck_assert_int_eq(hv_get_regs(hv, 0, &r), -ENODEV);
	ck_assert_int_eq(hv_set_bp(hv, BP + 1), -ENODEV);
	ck_assert_int_eq(hv_clear_bp(hv, BP), -ENODEV);
	ck_assert_int_eq(hv_event_done(hv, &ev), -ENODEV);
	ck_assert_int_eq(hv_read_phys(hv, 0, &r, 8), 0);	/* RAM stays */
	t0 = now_ms();
	stub_stop();
	ck_assert_int_lt(now_ms() - t0, SLACK);
}
END_TEST

START_TEST(test_junk_while_running_is_skipped_not_fatal)
{
	struct hv_event ev;

	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.stray = true);
	ck_assert(fd_readable(hv_event_fd(hv), 3000));
	ck_assert_int_eq(hv_next_event(hv, &ev, 100), -EAGAIN);
	ck_assert(stub_running());
	LOCKED(st.hit_ms = 5; st.ran_at = now_ms());
	ck_assert_int_eq(hv_next_event(hv, &ev, 3000), 0);
	ck_assert_int_eq(ev.kind, HV_EV_BREAKPOINT);
}
END_TEST

START_TEST(test_guest_dying_during_event_gives_gone_after_done)
{
	struct hv_event ev;

	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.hit_ms = 5; st.ran_at = now_ms());
	ck_assert_int_eq(hv_next_event(hv, &ev, 3000), 0);
	LOCKED(shutdown(st.fd, SHUT_RDWR));
	ck_assert_int_eq(hv_event_done(hv, &ev), -ENODEV);
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), 0);
	ck_assert_int_eq(ev.kind, HV_EV_GONE);
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), -ENODEV);
}
END_TEST

START_TEST(test_stub_going_mute_makes_pause_fail_and_free_fast)
{
	long t0;

	stub_start(layout_a);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(st.mute = true);
	t0 = now_ms();
	ck_assert_int_eq(hv_pause(hv), -ETIMEDOUT);
	ck_assert_int_eq(hv_pause(hv), -ENODEV);
	hv_free(hv);
	hv = NULL;
	ck_assert_int_lt(now_ms() - t0, TMO + SLACK);
}
END_TEST

START_TEST(test_cr3_events_need_a_hook)
{
	stub_start(layout_a);
	ck_assert(!hv_has(hv, HV_CAP_CR3_APPROX));
	ck_assert_int_eq(hv_set_cr3_events(hv, true), -EOPNOTSUPP);
	ck_assert_int_eq(hv->ops->set_cr3_events(hv, true), -EOPNOTSUPP);
	ck_assert_int_eq(qemu_hv_set_cr3_hook(hv, BP), 0);
	ck_assert(hv_has(hv, HV_CAP_CR3_APPROX));
	ck_assert_int_eq(qemu_hv_set_cr3_hook(hv, 0), 0);
	ck_assert(!hv_has(hv, HV_CAP_CR3_APPROX));
}
END_TEST

START_TEST(test_cr3_hook_hit_gives_cr3_event_only_on_change)
{
	struct hv_event ev;

	stub_start(layout_a);
	ck_assert_int_eq(qemu_hv_set_cr3_hook(hv, BP), 0);
	ck_assert_int_eq(hv_set_cr3_events(hv, true), 0);
	ck_assert_int_eq(qemu_hv_set_cr3_hook(hv, BP + 8), -EBUSY);
	LOCKED(st.hit_ms = 5; st.ran_at = now_ms());
	ck_assert_int_eq(hv_next_event(hv, &ev, 3000), 0);
	ck_assert_int_eq(ev.kind, HV_EV_CR3_WRITE);
	ck_assert_uint_eq(ev.cr3_old, 0);
	ck_assert_uint_eq(ev.cr3_new, 0x10a000);
	ck_assert_int_eq(hv_event_done(hv, &ev), 0);
	/* same CR3 at the next hits: stepped over quietly */
	ck_assert_int_eq(hv_next_event(hv, &ev, 200), -EAGAIN);
	LOCKED(ck_assert_int_ge(st.hits, 2); st.cr3 = 0x20b000);
	ck_assert_int_eq(hv_next_event(hv, &ev, 3000), 0);
	ck_assert_int_eq(ev.kind, HV_EV_CR3_WRITE);
	ck_assert_uint_eq(ev.cr3_old, 0x10a000);
	ck_assert_uint_eq(ev.cr3_new, 0x20b000);
	ck_assert_int_eq(hv_event_done(hv, &ev), 0);
	ck_assert_int_eq(hv_set_cr3_events(hv, false), 0);
	LOCKED(ck_assert_int_eq(st.nbps, 0));
}
END_TEST

START_TEST(test_user_bp_on_hook_address_survives_cr3_off)
{
	stub_start(layout_a);
	ck_assert_int_eq(qemu_hv_set_cr3_hook(hv, BP), 0);
	ck_assert_int_eq(hv_set_cr3_events(hv, true), 0);
	ck_assert_int_eq(hv_set_bp(hv, BP), 0);
	LOCKED(ck_assert_int_eq(st.nbps, 1));	/* one Z0 for both */
	ck_assert_int_eq(hv_set_cr3_events(hv, false), 0);
	LOCKED(ck_assert_int_eq(st.nbps, 1));
	ck_assert_int_eq(hv_clear_bp(hv, BP), 0);
	LOCKED(ck_assert_int_eq(st.nbps, 0));
}
END_TEST

static Suite *qemu_event_suite(void)
{
	Suite *s = suite_create("qemu_event");
	TCase *c = tcase_create("events");

	tcase_add_checked_fixture(c, NULL, teardown_stub);
	tcase_set_timeout(c, 20);
	tcase_add_test(c, test_breakpoint_hit_delivers_event_with_regs);
	tcase_add_test(c, test_hit_on_second_vcpu_reports_it_without_reselecting);
	tcase_add_test(c, test_event_done_steps_over_breakpoint_and_continues);
	tcase_add_test(c, test_event_done_on_ftrace_nop_skips_it_without_stepping);
	tcase_add_test(c, test_breakpoint_off_a_nop_is_stepped);
	tcase_add_test(c, test_write_rip_refused_falls_back_to_step);
	tcase_add_test(c, test_repeated_hits_each_give_an_event);
	tcase_add_test(c, test_pause_racing_a_hit_queues_the_event);
	tcase_add_test(c, test_event_done_while_paused_keeps_guest_stopped);
	tcase_add_test(c, test_clearing_bp_during_event_skips_the_step);
	tcase_add_test(c, test_next_event_times_out_with_eagain);
	tcase_add_test(c, test_stub_dying_gives_one_gone_event_then_enodev);
	tcase_add_test(c, test_junk_while_running_is_skipped_not_fatal);
	tcase_add_test(c, test_guest_dying_during_event_gives_gone_after_done);
	tcase_add_test(c, test_stub_going_mute_makes_pause_fail_and_free_fast);
	tcase_add_test(c, test_cr3_events_need_a_hook);
	tcase_add_test(c, test_cr3_hook_hit_gives_cr3_event_only_on_change);
	tcase_add_test(c, test_user_bp_on_hook_address_survives_cr3_off);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(qemu_event_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
