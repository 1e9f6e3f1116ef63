/*
 * check_xen_ring.c - the xen backend's vm_event ring handling (xen_ring.c)
 * without a hypervisor: a page plays the shared ring, the test plays Xen
 * (the front end producing requests) and forges what a confused or
 * mismatched producer could put there: wrong versions, unknown reasons,
 * vCPUs out of range, producer indices past the ring.
 *
 * Includes Xen's public ring headers (through xen_ring.h): forging raw
 * requests is the point of these tests.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#ifdef HAVE_XEN
#include "xen_ring.h"

static void *page;
static struct xen_ring ring;
static vm_event_front_ring_t front;	/* the Xen side */

static void setup(void)
{
	page = aligned_alloc(XC_PAGE_SIZE, XC_PAGE_SIZE);
	ck_assert_ptr_nonnull(page);
	memset(page, 0xa5, XC_PAGE_SIZE);	/* garbage before init */
	xen_ring_attach(&ring, page);
	FRONT_RING_INIT(&front, (vm_event_sring_t *)page, XC_PAGE_SIZE);
}

static void teardown(void)
{
	free(page);
}

static vm_event_request_t base_req(uint32_t reason, uint32_t vcpu)
{
	vm_event_request_t rq;

	memset(&rq, 0, sizeof(rq));
	rq.version = VM_EVENT_INTERFACE_VERSION;
	rq.reason = reason;
	rq.vcpu_id = vcpu;
	rq.flags = VM_EVENT_FLAG_VCPU_PAUSED;
	rq.data.regs.x86.rip = 0xffffffff81234560ull;
	rq.data.regs.x86.cr3 = 0x1234000;
	return rq;
}

static void produce(const vm_event_request_t *rq)
{
	*RING_GET_REQUEST(&front, front.req_prod_pvt) = *rq;
	front.req_prod_pvt++;
	RING_PUSH_REQUESTS(&front);
}

START_TEST(test_empty_ring_returns_eagain)
{
	vm_event_request_t rq;

	ck_assert_uint_eq(RING_SIZE(&front), 8);	/* what DESIGN.md says */
	ck_assert_int_eq(xen_ring_take(&ring, &rq), -EAGAIN);
}
END_TEST

START_TEST(test_cr3_request_decodes_old_new_and_regs)
{
	vm_event_request_t rq = base_req(VM_EVENT_REASON_WRITE_CTRLREG, 1), got;
	struct xen_req q;

	rq.u.write_ctrlreg.index = VM_EVENT_X86_CR3;
	rq.u.write_ctrlreg.old_value = 0x1000;
	rq.u.write_ctrlreg.new_value = 0x2000;
	rq.data.regs.x86.msr_lstar = 0xffffffff81e00000ull;
	produce(&rq);
	ck_assert_int_eq(xen_ring_take(&ring, &got), 0);
	ck_assert_int_eq(xen_ring_decode(&got, 2, &q), 0);
	ck_assert_int_eq(q.kind, XEN_REQ_CR3);
	ck_assert_uint_eq(q.vcpu, 1);
	ck_assert(q.paused);
	ck_assert_uint_eq(q.cr3_old, 0x1000);
	ck_assert_uint_eq(q.cr3_new, 0x2000);
	ck_assert_uint_eq(q.regs.rip, 0xffffffff81234560ull);
	ck_assert_uint_eq(q.regs.lstar, 0xffffffff81e00000ull);
	ck_assert_int_eq(xen_ring_take(&ring, &got), -EAGAIN);
}
END_TEST

START_TEST(test_wrong_version_is_eproto_but_answerable)
{
	vm_event_request_t rq = base_req(VM_EVENT_REASON_SOFTWARE_BREAKPOINT, 0);
	vm_event_response_t rsp;
	struct xen_req q;

	rq.version = VM_EVENT_INTERFACE_VERSION + 1;
	ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), -EPROTO);
	ck_assert(q.paused);
	xen_ring_response(&rq, &rsp);
	ck_assert_uint_eq(rsp.version, VM_EVENT_INTERFACE_VERSION);
	ck_assert_uint_eq(rsp.flags, VM_EVENT_FLAG_VCPU_PAUSED);
}
END_TEST

START_TEST(test_unknown_reason_is_enotsup)
{
	vm_event_request_t rq = base_req(0xdead, 0);
	struct xen_req q;

	ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), -ENOTSUP);
	rq.reason = VM_EVENT_REASON_MEM_ACCESS;	/* known to Xen, not asked for */
	ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), -ENOTSUP);
	rq.reason = VM_EVENT_REASON_UNKNOWN;
	ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), -ENOTSUP);
}
END_TEST

START_TEST(test_ctrlreg_other_than_cr3_is_enotsup)
{
	vm_event_request_t rq = base_req(VM_EVENT_REASON_WRITE_CTRLREG, 0);
	struct xen_req q;

	rq.u.write_ctrlreg.index = VM_EVENT_X86_CR4;
	ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), -ENOTSUP);
	rq.u.write_ctrlreg.index = 0xffffffffu;
	ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), -ENOTSUP);
}
END_TEST

START_TEST(test_vcpu_out_of_range_is_erange)
{
	vm_event_request_t rq = base_req(VM_EVENT_REASON_SINGLESTEP, 4);
	struct xen_req q;

	ck_assert_int_eq(xen_ring_decode(&rq, 4, &q), -ERANGE);
	rq.vcpu_id = 0xffffffffu;
	ck_assert_int_eq(xen_ring_decode(&rq, 4, &q), -ERANGE);
	rq.vcpu_id = 3;
	ck_assert_int_eq(xen_ring_decode(&rq, 4, &q), 0);
	ck_assert_int_eq(q.kind, XEN_REQ_SINGLESTEP);
}
END_TEST

START_TEST(test_breakpoint_length_0_or_past_15_is_enotsup_prefixed_decodes)
{
	vm_event_request_t rq = base_req(VM_EVENT_REASON_SOFTWARE_BREAKPOINT, 0);
	struct xen_req q;

	rq.u.software_breakpoint.gfn = 0x1234;
	rq.u.software_breakpoint.insn_length = 1;
	ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), 0);
	ck_assert_int_eq(q.kind, XEN_REQ_BREAKPOINT);
	ck_assert_uint_eq(q.gfn, 0x1234);
	/* "66 cc", or cc behind 14 prefixes: the guest's, to be handed back */
	rq.u.software_breakpoint.insn_length = 2;
	ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), 0);
	ck_assert_uint_eq(q.insn_len, 2);
	rq.u.software_breakpoint.insn_length = XEN_INSN_LEN_MAX;
	ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), 0);
	rq.u.software_breakpoint.insn_length = 0;
	ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), -ENOTSUP);
	rq.u.software_breakpoint.insn_length = XEN_INSN_LEN_MAX + 1;
	ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), -ENOTSUP);
	rq.u.software_breakpoint.insn_length = 0xffffffffu;
	ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), -ENOTSUP);
}
END_TEST

START_TEST(test_producer_past_ring_size_is_eproto)
{
	vm_event_request_t got;

	((vm_event_sring_t *)page)->req_prod = RING_SIZE(&front) + 1;
	ck_assert_int_eq(xen_ring_take(&ring, &got), -EPROTO);
	((vm_event_sring_t *)page)->req_prod = 0xfffffff0u;	/* "behind" us */
	ck_assert_int_eq(xen_ring_take(&ring, &got), -EPROTO);
}
END_TEST

START_TEST(test_put_without_request_owed_is_enospc)
{
	vm_event_response_t rsp;

	memset(&rsp, 0, sizeof(rsp));
	ck_assert_int_eq(xen_ring_put(&ring, &rsp), -ENOSPC);
}
END_TEST

START_TEST(test_full_ring_waits_for_answers)
{
	vm_event_request_t rq = base_req(VM_EVENT_REASON_SINGLESTEP, 0), got;
	vm_event_response_t rsp;

	for (unsigned int i = 0; i < RING_SIZE(&front); i++)
		produce(&rq);
	for (unsigned int i = 0; i < RING_SIZE(&front); i++)
		ck_assert_int_eq(xen_ring_take(&ring, &got), 0);
	ck_assert_uint_eq(ring.in_flight, RING_SIZE(&front));
	/* a producer overrunning unanswered slots: not consumed */
	((vm_event_sring_t *)page)->req_prod++;
	ck_assert_int_eq(xen_ring_take(&ring, &got), -EAGAIN);
	xen_ring_response(&got, &rsp);
	ck_assert_int_eq(xen_ring_put(&ring, &rsp), 0);
	ck_assert_uint_eq(ring.in_flight, RING_SIZE(&front) - 1);
}
END_TEST

START_TEST(test_responses_reach_front_in_order_across_wrap)
{
	vm_event_request_t rq, got;
	vm_event_response_t rsp;

	for (uint32_t i = 0; i < 3 * RING_SIZE(&front) + 1; i++) {
		rq = base_req(VM_EVENT_REASON_SOFTWARE_BREAKPOINT, i % 2);
		rq.u.software_breakpoint.insn_length = 1;
		rq.data.regs.x86.rip = 0x1000 + i;
		produce(&rq);
		ck_assert_int_eq(xen_ring_take(&ring, &got), 0);
		ck_assert_uint_eq(got.data.regs.x86.rip, 0x1000 + i);
		xen_ring_response(&got, &rsp);
		xen_ring_set_rip(&got, &rsp, got.data.regs.x86.rip + 5);
		ck_assert_int_eq(xen_ring_put(&ring, &rsp), 0);
		ck_assert(RING_HAS_UNCONSUMED_RESPONSES(&front));
		vm_event_response_t *r = RING_GET_RESPONSE(&front, front.rsp_cons);
		ck_assert_uint_eq(r->vcpu_id, i % 2);
		ck_assert_uint_eq(r->reason, VM_EVENT_REASON_SOFTWARE_BREAKPOINT);
		ck_assert_uint_eq(r->flags, VM_EVENT_FLAG_VCPU_PAUSED |
					    VM_EVENT_FLAG_SET_REGISTERS);
		ck_assert_uint_eq(r->data.regs.x86.rip, 0x1000 + i + 5);
		ck_assert_uint_eq(r->data.regs.x86.cr3, 0x1234000);
		front.rsp_cons++;
	}
	ck_assert_uint_eq(ring.in_flight, 0);
}
END_TEST

START_TEST(test_response_without_pause_flag_stays_unpaused)
{
	vm_event_request_t rq = base_req(VM_EVENT_REASON_WRITE_CTRLREG, 0);
	vm_event_response_t rsp;

	/* async requests (or forged flags) never get a pause flag back */
	rq.flags = VM_EVENT_FLAG_FOREIGN | VM_EVENT_FLAG_TOGGLE_SINGLESTEP;
	rq.altp2m_idx = 3;
	xen_ring_response(&rq, &rsp);
	ck_assert_uint_eq(rsp.flags, 0);
	ck_assert_uint_eq(rsp.altp2m_idx, 3);
}
END_TEST

START_TEST(test_debug_exception_decodes_type_length_and_frame)
{
	vm_event_request_t rq = base_req(VM_EVENT_REASON_DEBUG_EXCEPTION, 1);
	struct xen_req q;

	rq.u.debug_exception.gfn = 0x1234;
	rq.u.debug_exception.type = XEN_EVENTTYPE_HW_EXCEPTION;
	ck_assert_int_eq(xen_ring_decode(&rq, 2, &q), 0);
	ck_assert_int_eq(q.kind, XEN_REQ_DEBUG);
	ck_assert_uint_eq(q.gfn, 0x1234);
	ck_assert_uint_eq(q.trap_type, XEN_EVENTTYPE_HW_EXCEPTION);
	ck_assert_uint_eq(q.regs.rip, 0xffffffff81234560ull);
	rq.u.debug_exception.type = XEN_EVENTTYPE_PRI_SW_EXCEPTION;	/* ICEBP */
	rq.u.debug_exception.insn_length = 1;
	ck_assert_int_eq(xen_ring_decode(&rq, 2, &q), 0);
	ck_assert_uint_eq(q.insn_len, 1);
	rq.u.debug_exception.insn_length = 3;	/* 67 66 f1: prefixed ICEBP */
	ck_assert_int_eq(xen_ring_decode(&rq, 2, &q), 0);
	ck_assert_uint_eq(q.insn_len, 3);
}
END_TEST

START_TEST(test_debug_exception_with_mismatched_type_or_length_is_enotsup)
{
	vm_event_request_t rq = base_req(VM_EVENT_REASON_DEBUG_EXCEPTION, 0);
	struct xen_req q;
	static const struct { uint8_t type; uint32_t len; } bad[] = {
		{ XEN_EVENTTYPE_HW_EXCEPTION, 1 },	/* a fault has no length */
		{ XEN_EVENTTYPE_PRI_SW_EXCEPTION, 0 },
		{ XEN_EVENTTYPE_PRI_SW_EXCEPTION, XEN_INSN_LEN_MAX + 1 },
		{ 6, 1 },				/* int3's type */
		{ 0xff, 0xffffffffu },
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rq.u.debug_exception.type = bad[i].type;
		rq.u.debug_exception.insn_length = bad[i].len;
		ck_assert_int_eq(xen_ring_decode(&rq, 1, &q), -ENOTSUP);
		ck_assert(q.paused);	/* still answerable */
	}
}
END_TEST

START_TEST(test_set_rf_keeps_rip_and_registers_and_adds_rf)
{
	vm_event_request_t rq = base_req(VM_EVENT_REASON_DEBUG_EXCEPTION, 0);
	vm_event_response_t rsp;

	rq.data.regs.x86.rflags = 0x202;
	xen_ring_response(&rq, &rsp);
	xen_ring_set_rf(&rq, &rsp);
	ck_assert_uint_eq(rsp.flags, VM_EVENT_FLAG_VCPU_PAUSED | VM_EVENT_FLAG_SET_REGISTERS);
	ck_assert_uint_eq(rsp.data.regs.x86.rip, 0xffffffff81234560ull);
	ck_assert_uint_eq(rsp.data.regs.x86.rflags, 0x202 | XEN_RFLAGS_RF);
	ck_assert_uint_eq(rsp.data.regs.x86.cr3, 0x1234000);
}
END_TEST

static Suite *xen_ring_suite(void)
{
	Suite *s = suite_create("xen_ring");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty_ring_returns_eagain);
	tcase_add_test(tc, test_cr3_request_decodes_old_new_and_regs);
	tcase_add_test(tc, test_wrong_version_is_eproto_but_answerable);
	tcase_add_test(tc, test_unknown_reason_is_enotsup);
	tcase_add_test(tc, test_ctrlreg_other_than_cr3_is_enotsup);
	tcase_add_test(tc, test_vcpu_out_of_range_is_erange);
	tcase_add_test(tc, test_breakpoint_length_0_or_past_15_is_enotsup_prefixed_decodes);
	tcase_add_test(tc, test_producer_past_ring_size_is_eproto);
	tcase_add_test(tc, test_put_without_request_owed_is_enospc);
	tcase_add_test(tc, test_full_ring_waits_for_answers);
	tcase_add_test(tc, test_responses_reach_front_in_order_across_wrap);
	tcase_add_test(tc, test_response_without_pause_flag_stays_unpaused);
	tcase_add_test(tc, test_debug_exception_decodes_type_length_and_frame);
	tcase_add_test(tc, test_debug_exception_with_mismatched_type_or_length_is_enotsup);
	tcase_add_test(tc, test_set_rf_keeps_rip_and_registers_and_adds_rf);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xen_ring_suite());
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
