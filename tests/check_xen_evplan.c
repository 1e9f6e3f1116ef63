/*
 * check_xen_evplan.c - what the xen backend does with each vm_event
 * request (xen_evplan.c), without a hypervisor: the test plays Xen on a
 * shared ring page and forges requests (unknown reasons, wrong versions,
 * vCPUs out of range, breakpoints that are no longer ours or never were,
 * another tool's int3 or #DB, floods); a byte array plays guest memory.
 * Every request must get an answer, only ours become events, foreign
 * traps go back to the guest, stale ones resume as they are.
 *
 * Includes Xen's public ring headers (through xen_evplan.h): forging raw
 * requests is the point of these tests.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_XEN
#include "xen_evplan.h"

#define RAM_FRAMES 16u
#define KFN 0xffffffff81002010ull	/* gfn 2, offset 0x010 */
#define KFN_GPA 0x2010u

static const uint8_t NOP5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
static const uint8_t PUSH[5] = { 0x55, 0x48, 0x89, 0xe5, 0x90 };

static uint8_t ram[RAM_FRAMES << 12];
static struct xen_bps bps;
static struct xen_evplan_ctx ctx;
static struct xen_req q;
static vm_event_response_t rsp;
static struct xen_evplan p;

static int ram_byte(void *arg, gpa_t gpa, uint8_t *b)
{
	(void)arg;
	if (gpa >= sizeof(ram))
		return -EFAULT;
	*b = ram[gpa];
	return 0;
}

static void setup(void)
{
	memset(ram, 0x90, sizeof(ram));
	memcpy(ram + KFN_GPA, NOP5, sizeof(NOP5));
	xen_bps_init(&bps);
	ctx = (struct xen_evplan_ctx){ .bps = &bps, .nr_vcpus = 2, .cr3_on = true,
				       .can_step = false, .read_byte = ram_byte };
	memset(&p, 0x5a, sizeof(p));	/* the plan must be reset */
}

static vm_event_request_t req(uint32_t reason, uint32_t vcpu, uint64_t rip)
{
	vm_event_request_t rq;

	memset(&rq, 0, sizeof(rq));
	rq.version = VM_EVENT_INTERFACE_VERSION;
	rq.reason = reason;
	rq.vcpu_id = vcpu;
	rq.flags = VM_EVENT_FLAG_VCPU_PAUSED;
	rq.data.regs.x86.rip = rip;
	rq.data.regs.x86.rflags = 0x246;
	return rq;
}

static vm_event_request_t int3_req(uint32_t vcpu, uint64_t rip, uint64_t gfn)
{
	vm_event_request_t rq = req(VM_EVENT_REASON_SOFTWARE_BREAKPOINT, vcpu, rip);

	rq.u.software_breakpoint.gfn = gfn;
	rq.u.software_breakpoint.insn_length = 1;
	return rq;
}

static vm_event_request_t db_req(uint32_t vcpu, uint64_t rip, uint8_t type, uint32_t len)
{
	vm_event_request_t rq = req(VM_EVENT_REASON_DEBUG_EXCEPTION, vcpu, rip);

	rq.u.debug_exception.gfn = 2;
	rq.u.debug_exception.type = type;
	rq.u.debug_exception.insn_length = len;
	return rq;
}

static void plan(const vm_event_request_t *rq)
{
	xen_evplan_request(&ctx, rq, &q, &rsp, &p);
	/* whatever happens, the answer names the request and frees its vCPU */
	ck_assert_uint_eq(rsp.version, VM_EVENT_INTERFACE_VERSION);
	ck_assert_uint_eq(rsp.vcpu_id, rq->vcpu_id);
	ck_assert_uint_eq(rsp.reason, rq->reason);
	ck_assert(rsp.flags & VM_EVENT_FLAG_VCPU_PAUSED);
}

static void assert_plain(void)
{
	ck_assert(!p.report);
	ck_assert(!p.inject);
	ck_assert(!p.poke);
	ck_assert(!(rsp.flags & (VM_EVENT_FLAG_SET_REGISTERS |
				 VM_EVENT_FLAG_TOGGLE_SINGLESTEP)));
}

START_TEST(test_cr3_write_is_an_event_only_while_asked_for)
{
	vm_event_request_t rq = req(VM_EVENT_REASON_WRITE_CTRLREG, 1, 0x1000);

	rq.u.write_ctrlreg.index = VM_EVENT_X86_CR3;
	rq.u.write_ctrlreg.new_value = 0x5000;
	plan(&rq);
	ck_assert(p.report);
	ck_assert_uint_eq(q.cr3_new, 0x5000);
	ctx.cr3_on = false;	/* one queued before we turned them off */
	plan(&rq);
	assert_plain();
}
END_TEST

START_TEST(test_unknown_reason_and_wrong_version_are_answered_plainly)
{
	vm_event_request_t rq = req(200, 0, KFN);

	xen_bp_add(&bps, KFN, KFN_GPA, NOP5, false);
	plan(&rq);
	ck_assert_int_eq(p.decode_err, -ENOTSUP);
	assert_plain();
	rq = int3_req(0, KFN, 2);
	rq.version = VM_EVENT_INTERFACE_VERSION + 1;
	plan(&rq);
	ck_assert_int_eq(p.decode_err, -EPROTO);
	assert_plain();
}
END_TEST

START_TEST(test_vcpu_out_of_range_touches_no_breakpoint_state)
{
	vm_event_request_t rq = int3_req(2, KFN, 2);

	ctx.can_step = true;
	xen_bp_add(&bps, KFN, KFN_GPA, PUSH, true);
	ram[KFN_GPA] = XEN_INT3;
	plan(&rq);
	ck_assert_int_eq(p.decode_err, -ERANGE);
	assert_plain();
	ck_assert_int_eq(xen_bp_find(&bps, KFN)->step_vcpu, -1);
	rq = req(VM_EVENT_REASON_SINGLESTEP, 0xffffffffu, KFN);
	plan(&rq);
	ck_assert_int_eq(p.decode_err, -ERANGE);
	assert_plain();
}
END_TEST

START_TEST(test_our_int3_on_nop5_reports_and_resumes_five_bytes_on)
{
	vm_event_request_t rq = int3_req(1, KFN, 2);

	xen_bp_add(&bps, KFN, KFN_GPA, NOP5, false);
	ram[KFN_GPA] = XEN_INT3;
	plan(&rq);
	ck_assert(p.report);
	ck_assert_int_eq(p.act, XEN_BP_SKIP);
	ck_assert(rsp.flags & VM_EVENT_FLAG_SET_REGISTERS);
	ck_assert_uint_eq(rsp.data.regs.x86.rip, KFN + 5);
	ck_assert_uint_eq(rsp.data.regs.x86.rflags, 0x246);
	ck_assert(!p.inject && !p.poke);
}
END_TEST

START_TEST(test_our_int3_elsewhere_steps_with_orig_then_rearms)
{
	vm_event_request_t rq = int3_req(1, KFN, 2);

	ctx.can_step = true;
	memcpy(ram + KFN_GPA, PUSH, sizeof(PUSH));
	xen_bp_add(&bps, KFN, KFN_GPA, PUSH, true);
	ram[KFN_GPA] = XEN_INT3;
	plan(&rq);
	ck_assert(p.report);
	ck_assert(p.poke);
	ck_assert_uint_eq(p.poke_gpa, KFN_GPA);
	ck_assert_uint_eq(p.poke_byte, 0x55);
	ck_assert(rsp.flags & VM_EVENT_FLAG_TOGGLE_SINGLESTEP);
	ram[KFN_GPA] = 0x55;
	rq = req(VM_EVENT_REASON_SINGLESTEP, 1, KFN + 1);
	plan(&rq);
	ck_assert(!p.report);
	ck_assert(p.poke);
	ck_assert_uint_eq(p.poke_byte, XEN_INT3);
	ck_assert(rsp.flags & VM_EVENT_FLAG_TOGGLE_SINGLESTEP);
	ck_assert(!p.save_state);	/* nothing dropped: no file write per step */
}
END_TEST

START_TEST(test_another_tools_int3_goes_back_to_the_guest)
{
	vm_event_request_t rq = int3_req(0, KFN + 0x100, 2);

	xen_bp_add(&bps, KFN, KFN_GPA, NOP5, false);
	ram[KFN_GPA + 0x100] = XEN_INT3;	/* kprobes, or another introspector */
	plan(&rq);
	ck_assert(!p.report);
	ck_assert(p.inject);
	ck_assert_uint_eq(p.vector, XEN_TRAP_INT3);
	ck_assert_uint_eq(p.type, XEN_EVENTTYPE_SW_EXCEPTION);
	ck_assert_uint_eq(p.insn_len, 1);
	ck_assert(!(rsp.flags & VM_EVENT_FLAG_SET_REGISTERS));
}
END_TEST

START_TEST(test_int3_we_cleared_resumes_as_is)
{
	vm_event_request_t rq = int3_req(0, KFN, 2);
	bool restore;
	gpa_t gpa;
	uint8_t orig;

	xen_bp_add(&bps, KFN, KFN_GPA, NOP5, false);
	xen_bp_del(&bps, KFN, &restore, &gpa, &orig);	/* orig written back */
	plan(&rq);
	ck_assert_int_eq(p.act, XEN_BP_RETRY);
	assert_plain();
}
END_TEST

START_TEST(test_int3_with_wild_gfn_is_judged_by_our_byte_or_handed_back)
{
	vm_event_request_t rq = int3_req(0, KFN, 0xfffffffffull);

	xen_bp_add(&bps, KFN, KFN_GPA, NOP5, false);
	ram[KFN_GPA] = XEN_INT3;
	plan(&rq);	/* our address: the byte we wrote decides, not the gfn */
	ck_assert(p.report);
	ram[KFN_GPA] = 0x0f;
	plan(&rq);	/* and once it is gone, a wild gfn does not make it ours */
	assert_plain();
	rq = int3_req(0, KFN + 0x100, 0xfffffffffull);
	plan(&rq);	/* not ours, byte unreadable: the guest's to handle */
	ck_assert(!p.report);
	ck_assert(p.inject);
}
END_TEST

START_TEST(test_int3_while_another_vcpu_steps_over_it_is_refused)
{
	vm_event_request_t rq = int3_req(0, KFN, 2);

	ctx.can_step = true;
	xen_bp_add(&bps, KFN, KFN_GPA, PUSH, true);
	ram[KFN_GPA] = XEN_INT3;
	plan(&rq);	/* vCPU 0 steps */
	rq.vcpu_id = 1;
	plan(&rq);	/* a forged or stale second trap */
	ck_assert_int_eq(p.hit_err, -EBUSY);
	assert_plain();
}
END_TEST

START_TEST(test_our_debug_exception_skips_nop5_or_sets_rf)
{
	vm_event_request_t rq = db_req(0, KFN, XEN_EVENTTYPE_HW_EXCEPTION, 0);

	xen_bp_add_dr(&bps, KFN, NOP5, 0);
	xen_bp_add_dr(&bps, KFN + 0x40, PUSH, 0);
	plan(&rq);
	ck_assert(p.report);
	ck_assert_uint_eq(rsp.data.regs.x86.rip, KFN + 5);
	rq = db_req(1, KFN + 0x40, XEN_EVENTTYPE_HW_EXCEPTION, 0);
	plan(&rq);
	ck_assert(p.report);
	ck_assert_int_eq(p.act, XEN_BP_RESUME_RF);
	ck_assert(rsp.flags & VM_EVENT_FLAG_SET_REGISTERS);
	ck_assert_uint_eq(rsp.data.regs.x86.rip, KFN + 0x40);
	ck_assert_uint_eq(rsp.data.regs.x86.rflags, 0x246 | XEN_RFLAGS_RF);
	ck_assert(!p.inject && !p.poke);
}
END_TEST

START_TEST(test_foreign_or_stale_debug_exception_is_reinjected_as_hw_db)
{
	vm_event_request_t rq = db_req(0, KFN + 1, XEN_EVENTTYPE_HW_EXCEPTION, 0);

	xen_bp_add_dr(&bps, KFN, NOP5, 0);
	plan(&rq);	/* the guest's own DR, or its single-step */
	ck_assert(!p.report);
	ck_assert(p.inject);
	ck_assert_uint_eq(p.vector, XEN_TRAP_DB);
	ck_assert_uint_eq(p.type, XEN_EVENTTYPE_HW_EXCEPTION);
	ck_assert_uint_eq(p.insn_len, 0);
	ck_assert(!(rsp.flags & VM_EVENT_FLAG_SET_REGISTERS));
	xen_bp_del_dr(&bps, KFN);
	rq = db_req(0, KFN, XEN_EVENTTYPE_HW_EXCEPTION, 0);
	plan(&rq);	/* queued before we cleared it */
	ck_assert(!p.report);
	ck_assert(p.inject);
}
END_TEST

START_TEST(test_guest_single_step_onto_our_address_is_the_guests)
{
	vm_event_request_t rq = db_req(0, KFN, XEN_EVENTTYPE_HW_EXCEPTION, 0);

	xen_bp_add_dr(&bps, KFN, NOP5, 0);	/* slot 0 */
	rq.u.debug_exception.pending_dbg = 1ull << 14;	/* BS: a TF step (VMX) */
	plan(&rq);
	ck_assert(!p.report);
	ck_assert(p.inject);
	ck_assert_uint_eq(p.vector, XEN_TRAP_DB);
	ck_assert(!(rsp.flags & VM_EVENT_FLAG_SET_REGISTERS));
	rq.u.debug_exception.pending_dbg = 1ull << 0;	/* B0: ours fired */
	plan(&rq);
	ck_assert(p.report);
	ck_assert(!p.inject);
	ck_assert_uint_eq(rsp.data.regs.x86.rip, KFN + XEN_NOP5_LEN);
}
END_TEST

START_TEST(test_icebp_at_our_address_is_still_the_guests)
{
	vm_event_request_t rq = db_req(0, KFN, XEN_EVENTTYPE_PRI_SW_EXCEPTION, 1);

	xen_bp_add_dr(&bps, KFN, NOP5, 0);
	plan(&rq);
	ck_assert(!p.report);
	ck_assert(p.inject);
	ck_assert_uint_eq(p.type, XEN_EVENTTYPE_PRI_SW_EXCEPTION);
	ck_assert_uint_eq(p.insn_len, 1);
}
END_TEST

START_TEST(test_prefixed_int3_goes_back_to_the_guest_with_its_length)
{
	vm_event_request_t rq = int3_req(0, KFN + 0x40, 2);

	xen_bp_add(&bps, KFN, KFN_GPA, NOP5, false);
	rq.u.software_breakpoint.insn_length = 2;	/* 66 cc, from user space */
	plan(&rq);
	ck_assert_int_eq(p.decode_err, 0);
	ck_assert(!p.report);
	ck_assert(p.inject);	/* answered plainly, it would trap again forever */
	ck_assert_uint_eq(p.vector, XEN_TRAP_INT3);
	ck_assert_uint_eq(p.type, XEN_EVENTTYPE_SW_EXCEPTION);
	ck_assert_uint_eq(p.insn_len, 2);
	ck_assert(!(rsp.flags & VM_EVENT_FLAG_SET_REGISTERS));
}
END_TEST

START_TEST(test_prefixed_int3_at_our_address_is_not_taken_for_ours)
{
	vm_event_request_t rq = int3_req(1, KFN, 2);

	xen_bp_add(&bps, KFN, KFN_GPA, NOP5, false);
	ram[KFN_GPA] = XEN_INT3;
	rq.u.software_breakpoint.insn_length = 4;	/* ours is a lone cc */
	plan(&rq);
	ck_assert(!p.report);
	ck_assert(p.inject);
	ck_assert_uint_eq(p.insn_len, 4);
	ck_assert(!p.poke);
	ck_assert(!(rsp.flags & (VM_EVENT_FLAG_SET_REGISTERS |
				 VM_EVENT_FLAG_TOGGLE_SINGLESTEP)));
	ck_assert_uint_eq(bps.n, 1);
	ck_assert_ptr_nonnull(xen_bp_find(&bps, KFN));
}
END_TEST

START_TEST(test_prefixed_icebp_goes_back_to_the_guest_with_its_length)
{
	vm_event_request_t rq = db_req(0, KFN + 8, XEN_EVENTTYPE_PRI_SW_EXCEPTION, 3);

	plan(&rq);
	ck_assert_int_eq(p.decode_err, 0);
	ck_assert(p.inject);
	ck_assert_uint_eq(p.vector, XEN_TRAP_DB);
	ck_assert_uint_eq(p.type, XEN_EVENTTYPE_PRI_SW_EXCEPTION);
	ck_assert_uint_eq(p.insn_len, 3);
}
END_TEST

START_TEST(test_debug_exception_with_impossible_length_is_dropped)
{
	vm_event_request_t rq = db_req(0, KFN, XEN_EVENTTYPE_HW_EXCEPTION, 3);

	xen_bp_add_dr(&bps, KFN, NOP5, 0);
	plan(&rq);
	ck_assert_int_eq(p.decode_err, -ENOTSUP);
	assert_plain();
	rq = db_req(0, KFN, XEN_EVENTTYPE_SW_EXCEPTION, 1);	/* not a #DB type */
	plan(&rq);
	ck_assert_int_eq(p.decode_err, -ENOTSUP);
	assert_plain();
}
END_TEST

START_TEST(test_stray_singlestep_only_turns_stepping_off)
{
	vm_event_request_t rq = req(VM_EVENT_REASON_SINGLESTEP, 1, KFN);

	xen_bp_add(&bps, KFN, KFN_GPA, NOP5, false);
	plan(&rq);
	ck_assert(!p.report && !p.poke && !p.inject && !p.save_state);
	ck_assert(rsp.flags & VM_EVENT_FLAG_TOGGLE_SINGLESTEP);
}
END_TEST

START_TEST(test_step_end_after_clear_drops_the_entry_and_saves_state)
{
	vm_event_request_t rq = int3_req(1, KFN, 2);
	bool restore;
	gpa_t gpa;
	uint8_t orig;

	ctx.can_step = true;
	xen_bp_add(&bps, KFN, KFN_GPA, PUSH, true);
	ram[KFN_GPA] = XEN_INT3;
	plan(&rq);
	xen_bp_del(&bps, KFN, &restore, &gpa, &orig);
	ck_assert(!restore);
	rq = req(VM_EVENT_REASON_SINGLESTEP, 1, KFN + 1);
	plan(&rq);
	ck_assert(!p.poke);	/* no int3 back on a cleared breakpoint */
	ck_assert(p.save_state);
	ck_assert_uint_eq(bps.n, 0);
}
END_TEST

START_TEST(test_flood_of_foreign_traps_is_answered_in_order_without_events)
{
	void *page = aligned_alloc(XC_PAGE_SIZE, XC_PAGE_SIZE);
	vm_event_front_ring_t front;
	struct xen_ring ring;
	vm_event_request_t rq, got;
	unsigned int n;

	ck_assert_ptr_nonnull(page);
	xen_ring_attach(&ring, page);
	FRONT_RING_INIT(&front, (vm_event_sring_t *)page, XC_PAGE_SIZE);
	xen_bp_add_dr(&bps, KFN, NOP5, 0);
	n = RING_SIZE(&front);
	for (unsigned int round = 0; round < 3; round++) {
		for (unsigned int i = 0; i < n; i++) {
			rq = (i % 3 == 0) ? db_req(i % 2, 0x1000 + i, XEN_EVENTTYPE_HW_EXCEPTION, 0)
			   : (i % 3 == 1) ? int3_req(i % 2, 0x1000 + i, 0)
			   : req(100 + i, i % 2, 0x1000 + i);
			*RING_GET_REQUEST(&front, front.req_prod_pvt) = rq;
			front.req_prod_pvt++;
		}
		RING_PUSH_REQUESTS(&front);
		ram[0x1000 + 1] = XEN_INT3;	/* only some int3s are really there */
		for (unsigned int i = 0; i < n; i++) {
			ck_assert_int_eq(xen_ring_take(&ring, &got), 0);
			plan(&got);
			ck_assert(!p.report);
			ck_assert_int_eq(xen_ring_put(&ring, &rsp), 0);
		}
		ck_assert_int_eq(xen_ring_take(&ring, &got), -EAGAIN);
		ck_assert_uint_eq(ring.in_flight, 0);
		for (unsigned int i = 0; i < n; i++) {
			vm_event_response_t *r = RING_GET_RESPONSE(&front, front.rsp_cons);

			ck_assert_uint_eq(r->vcpu_id, i % 2);
			ck_assert(r->flags & VM_EVENT_FLAG_VCPU_PAUSED);
			front.rsp_cons++;
		}
		ck_assert(!RING_HAS_UNCONSUMED_RESPONSES(&front));
	}
	free(page);
}
END_TEST

START_TEST(test_log_limit_allows_a_burst_then_counts_what_it_leaves_out)
{
	struct xen_loglimit l = { 0 };
	uint64_t t = 5ull * 1000000000ull;
	unsigned long dropped = 99;
	unsigned int ok = 0;

	/* a guest trapping in a loop: 1000 lines asked for within 1 ms */
	for (unsigned int i = 0; i < 1000; i++)
		ok += xen_evplan_log_ok(&l, t + i * 1000, &dropped);
	ck_assert_uint_eq(ok, XEN_LOG_BURST);
	ck_assert_uint_eq(dropped, 0);		/* the burst left nothing out */
	ck_assert(!xen_evplan_log_ok(&l, t + XEN_LOG_WINDOW_NS - 1, &dropped));
	/* the next window: one line, which says how many were left out */
	ck_assert(xen_evplan_log_ok(&l, t + XEN_LOG_WINDOW_NS + 1000, &dropped));
	ck_assert_uint_eq(dropped, 1000 - XEN_LOG_BURST + 1);
	ck_assert(xen_evplan_log_ok(&l, t + XEN_LOG_WINDOW_NS + 2000, &dropped));
	ck_assert_uint_eq(dropped, 0);
}
END_TEST

START_TEST(test_log_limit_survives_a_clock_going_back)
{
	struct xen_loglimit l = { .start_ns = ~0ull - 5, .n = XEN_LOG_BURST };
	unsigned long dropped = 7;

	ck_assert(xen_evplan_log_ok(&l, 1, &dropped));	/* a new window, not stuck */
	ck_assert_uint_eq(dropped, 0);
	ck_assert_uint_eq(l.start_ns, 1);
}
END_TEST

static Suite *xen_evplan_suite(void)
{
	Suite *s = suite_create("xen_evplan");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_cr3_write_is_an_event_only_while_asked_for);
	tcase_add_test(tc, test_unknown_reason_and_wrong_version_are_answered_plainly);
	tcase_add_test(tc, test_vcpu_out_of_range_touches_no_breakpoint_state);
	tcase_add_test(tc, test_our_int3_on_nop5_reports_and_resumes_five_bytes_on);
	tcase_add_test(tc, test_our_int3_elsewhere_steps_with_orig_then_rearms);
	tcase_add_test(tc, test_another_tools_int3_goes_back_to_the_guest);
	tcase_add_test(tc, test_int3_we_cleared_resumes_as_is);
	tcase_add_test(tc, test_int3_with_wild_gfn_is_judged_by_our_byte_or_handed_back);
	tcase_add_test(tc, test_int3_while_another_vcpu_steps_over_it_is_refused);
	tcase_add_test(tc, test_our_debug_exception_skips_nop5_or_sets_rf);
	tcase_add_test(tc, test_foreign_or_stale_debug_exception_is_reinjected_as_hw_db);
	tcase_add_test(tc, test_guest_single_step_onto_our_address_is_the_guests);
	tcase_add_test(tc, test_icebp_at_our_address_is_still_the_guests);
	tcase_add_test(tc, test_prefixed_int3_goes_back_to_the_guest_with_its_length);
	tcase_add_test(tc, test_prefixed_int3_at_our_address_is_not_taken_for_ours);
	tcase_add_test(tc, test_prefixed_icebp_goes_back_to_the_guest_with_its_length);
	tcase_add_test(tc, test_debug_exception_with_impossible_length_is_dropped);
	tcase_add_test(tc, test_stray_singlestep_only_turns_stepping_off);
	tcase_add_test(tc, test_step_end_after_clear_drops_the_entry_and_saves_state);
	tcase_add_test(tc, test_flood_of_foreign_traps_is_answered_in_order_without_events);
	tcase_add_test(tc, test_log_limit_allows_a_burst_then_counts_what_it_leaves_out);
	tcase_add_test(tc, test_log_limit_survives_a_clock_going_back);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xen_evplan_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
#else
int main(void)
{
	return 77;	/* no Xen headers: the backend is not built */
}
#endif
