/*
 * check_xen_bp.c - the xen backend's breakpoint bookkeeping (xen_bp.c)
 * without a hypervisor: placement rules (ftrace NOP, single-step, an int3
 * already there), removal while a vCPU steps over it, and breakpoint
 * events that are stale, forged or the guest's own; debug-register mode:
 * slot allocation around the guest's own slots, the DR7 bits we own, and
 * debug exceptions that are ours, the guest's, or for a cleared slot.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#ifdef HAVE_XEN
#include "xen_bp.h"

static const uint8_t NOP5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
static const uint8_t PUSH[5] = { 0x55, 0x48, 0x89, 0xe5, 0x90 };	/* push rbp; mov */
static const uint8_t INT3[5] = { 0xcc, 0x1f, 0x44, 0x00, 0x00 };

static struct xen_bps bps;

static void setup(void)
{
	xen_bps_init(&bps);
}

START_TEST(test_nop5_detection_needs_all_five_bytes)
{
	const uint8_t near[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x01 };

	ck_assert(xen_bp_is_nop5(NOP5, 5));
	ck_assert(!xen_bp_is_nop5(NOP5, 4));
	ck_assert(!xen_bp_is_nop5(near, 5));
	ck_assert(!xen_bp_is_nop5(PUSH, 5));
}
END_TEST

START_TEST(test_add_on_nop5_without_step_records_orig_byte)
{
	ck_assert_int_eq(xen_bp_add(&bps, 0xffffffff81000000ull, 0x1000000, NOP5, false), 0);
	struct xen_bp *b = xen_bp_find(&bps, 0xffffffff81000000ull);
	ck_assert_ptr_nonnull(b);
	ck_assert(b->nop5);
	ck_assert_uint_eq(b->orig, 0x0f);
	ck_assert_uint_eq(b->gpa, 0x1000000);
	ck_assert_int_eq(b->step_vcpu, -1);
}
END_TEST

START_TEST(test_add_twice_returns_eexist)
{
	ck_assert_int_eq(xen_bp_add(&bps, 0x1000, 0x1000, NOP5, false), 0);
	ck_assert_int_eq(xen_bp_add(&bps, 0x1000, 0x1000, NOP5, false), -EEXIST);
	ck_assert_uint_eq(bps.n, 1);
}
END_TEST

START_TEST(test_add_non_nop_without_step_is_eopnotsupp)
{
	ck_assert_int_eq(xen_bp_add(&bps, 0x2000, 0x2000, PUSH, false), -EOPNOTSUPP);
	ck_assert_uint_eq(bps.n, 0);
	ck_assert_int_eq(xen_bp_add(&bps, 0x2000, 0x2000, PUSH, true), 0);
	ck_assert(!xen_bp_find(&bps, 0x2000)->nop5);
}
END_TEST

START_TEST(test_add_over_existing_int3_is_ebusy)
{
	/* the guest's own int3, or one a killed daemon left: orig unknown */
	ck_assert_int_eq(xen_bp_add(&bps, 0x3000, 0x3000, INT3, true), -EBUSY);
	ck_assert_uint_eq(bps.n, 0);
}
END_TEST

START_TEST(test_table_full_returns_enospc)
{
	for (unsigned int i = 0; i < XEN_BPS_MAX; i++)
		ck_assert_int_eq(xen_bp_add(&bps, 0x10000 + i * 16, i, NOP5, false), 0);
	ck_assert_int_eq(xen_bp_add(&bps, 0x90000, 0, NOP5, false), -ENOSPC);
}
END_TEST

START_TEST(test_del_restores_and_missing_is_enoent)
{
	bool restore;
	gpa_t gpa = 0;
	uint8_t orig = 0;

	ck_assert_int_eq(xen_bp_del(&bps, 0x4000, &restore, &gpa, &orig), -ENOENT);
	ck_assert(!restore);
	ck_assert_int_eq(xen_bp_add(&bps, 0x4000, 0x4abc, PUSH, true), 0);
	ck_assert_int_eq(xen_bp_del(&bps, 0x4000, &restore, &gpa, &orig), 0);
	ck_assert(restore);
	ck_assert_uint_eq(gpa, 0x4abc);
	ck_assert_uint_eq(orig, 0x55);
	ck_assert_ptr_null(xen_bp_find(&bps, 0x4000));
}
END_TEST

START_TEST(test_hit_on_nop5_skips_five_bytes)
{
	enum xen_bp_action act = 0;

	xen_bp_add(&bps, 0x5000, 0x5000, NOP5, false);
	ck_assert_int_eq(xen_bp_hit(&bps, 0x5000, XEN_INT3, 0, false, &act), 0);
	ck_assert_int_eq(act, XEN_BP_SKIP);
	/* a skip leaves the int3 armed: the next hit is reported again */
	ck_assert_int_eq(xen_bp_hit(&bps, 0x5000, XEN_INT3, 1, false, &act), 0);
	ck_assert_int_eq(act, XEN_BP_SKIP);
}
END_TEST

START_TEST(test_hit_not_ours_with_int3_present_reinjects)
{
	enum xen_bp_action act = 0;

	ck_assert_int_eq(xen_bp_hit(&bps, 0x6000, XEN_INT3, 0, true, &act), 0);
	ck_assert_int_eq(act, XEN_BP_REINJECT);
}
END_TEST

START_TEST(test_hit_after_clear_retries_without_report)
{
	enum xen_bp_action act = 0;
	bool restore;
	gpa_t gpa;
	uint8_t orig;

	/* queued in the ring before the clear; the byte is back now */
	xen_bp_add(&bps, 0x7000, 0x7000, NOP5, false);
	xen_bp_del(&bps, 0x7000, &restore, &gpa, &orig);
	ck_assert_int_eq(xen_bp_hit(&bps, 0x7000, orig, 0, false, &act), 0);
	ck_assert_int_eq(act, XEN_BP_RETRY);
}
END_TEST

START_TEST(test_hit_ours_but_byte_not_int3_is_not_reported)
{
	enum xen_bp_action act = 0;

	/* memory disagrees with the table (guest rewrote its text) */
	xen_bp_add(&bps, 0x7100, 0x7100, NOP5, false);
	ck_assert_int_eq(xen_bp_hit(&bps, 0x7100, 0x0f, 0, false, &act), 0);
	ck_assert_int_eq(act, XEN_BP_RETRY);
}
END_TEST

START_TEST(test_step_cycle_rearms_on_step_done)
{
	enum xen_bp_action act = 0;

	xen_bp_add(&bps, 0x8000, 0x8008, PUSH, true);
	ck_assert_int_eq(xen_bp_hit(&bps, 0x8000, XEN_INT3, 2, true, &act), 0);
	ck_assert_int_eq(act, XEN_BP_STEP);
	ck_assert_int_eq(xen_bp_find(&bps, 0x8000)->step_vcpu, 2);
	/* a step on another vCPU is not ours */
	ck_assert_ptr_null(xen_bp_step_done(&bps, 1));
	struct xen_bp *b = xen_bp_step_done(&bps, 2);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->gpa, 0x8008);
	ck_assert_int_eq(b->step_vcpu, -1);
}
END_TEST

START_TEST(test_hit_while_stepping_is_ebusy)
{
	enum xen_bp_action act = 0;

	xen_bp_add(&bps, 0x9000, 0x9000, PUSH, true);
	xen_bp_hit(&bps, 0x9000, XEN_INT3, 0, true, &act);
	/* orig is in memory while vCPU 0 steps: a trap there is forged */
	ck_assert_int_eq(xen_bp_hit(&bps, 0x9000, 0x55, 1, true, &act), -EBUSY);
}
END_TEST

START_TEST(test_clear_while_stepping_drops_after_step)
{
	enum xen_bp_action act = 0;
	bool restore = true;
	gpa_t gpa = 0;
	uint8_t orig = 0;

	xen_bp_add(&bps, 0xa000, 0xa000, PUSH, true);
	xen_bp_hit(&bps, 0xa000, XEN_INT3, 3, true, &act);
	ck_assert_int_eq(xen_bp_del(&bps, 0xa000, &restore, &gpa, &orig), 0);
	ck_assert(!restore);	/* orig is already there */
	ck_assert_int_eq(xen_bp_del(&bps, 0xa000, &restore, &gpa, &orig), -ENOENT);
	ck_assert_int_eq(xen_bp_add(&bps, 0xa000, 0xa000, PUSH, true), -EBUSY);
	ck_assert_ptr_null(xen_bp_step_done(&bps, 3));	/* dropped, no re-arm */
	ck_assert_ptr_null(xen_bp_find(&bps, 0xa000));
	ck_assert_int_eq(xen_bp_add(&bps, 0xa000, 0xa000, PUSH, true), 0);
}
END_TEST

START_TEST(test_stray_step_done_on_empty_table_is_null)
{
	ck_assert_ptr_null(xen_bp_step_done(&bps, 0));
	ck_assert_ptr_null(xen_bp_step_done(&bps, 4096));
}
END_TEST

/* --- debug-register mode ---------------------------------------------- */

#define KFN 0xffffffff8134a9e0ull

START_TEST(test_dr_add_takes_slots_in_order_until_four)
{
	for (unsigned int i = 0; i < XEN_DR_SLOTS; i++) {
		ck_assert_int_eq(xen_bp_add_dr(&bps, KFN + 16 * i, NOP5, 0), 0);
		ck_assert_int_eq(xen_bp_find(&bps, KFN + 16 * i)->slot, (int)i);
	}
	ck_assert_int_eq(xen_bp_add_dr(&bps, KFN + 0x100, NOP5, 0), -ENOSPC);
	ck_assert_uint_eq(bps.n, XEN_DR_SLOTS);
}
END_TEST

START_TEST(test_dr_add_skips_slots_the_guest_enables)
{
	/* the guest uses DR0 and DR2 itself */
	ck_assert_int_eq(xen_bp_add_dr(&bps, KFN, NOP5, 0x5), 0);
	ck_assert_int_eq(xen_bp_find(&bps, KFN)->slot, 1);
	ck_assert_int_eq(xen_bp_add_dr(&bps, KFN + 16, NOP5, 0x5), 0);
	ck_assert_int_eq(xen_bp_find(&bps, KFN + 16)->slot, 3);
	ck_assert_int_eq(xen_bp_add_dr(&bps, KFN + 32, NOP5, 0x5), -ENOSPC);
	ck_assert_int_eq(xen_bp_add_dr(&bps, KFN + 32, NOP5, 0xf), -ENOSPC);
}
END_TEST

START_TEST(test_dr_add_twice_is_eexist_and_any_code_is_accepted)
{
	ck_assert_int_eq(xen_bp_add_dr(&bps, KFN, PUSH, 0), 0);
	ck_assert(!xen_bp_find(&bps, KFN)->nop5);
	ck_assert_int_eq(xen_bp_add_dr(&bps, KFN, PUSH, 0), -EEXIST);
	/* memory is not touched: an int3 already there is no obstacle */
	ck_assert_int_eq(xen_bp_add_dr(&bps, KFN + 16, INT3, 0), 0);
}
END_TEST

START_TEST(test_dr_del_frees_the_slot_for_reuse)
{
	xen_bp_add_dr(&bps, KFN, NOP5, 0);
	xen_bp_add_dr(&bps, KFN + 16, NOP5, 0);
	ck_assert_int_eq(xen_bp_del_dr(&bps, KFN), 0);
	ck_assert_int_eq(xen_bp_del_dr(&bps, KFN), -ENOENT);
	ck_assert_int_eq(xen_bp_add_dr(&bps, KFN + 32, NOP5, 0), 0);
	ck_assert_int_eq(xen_bp_find(&bps, KFN + 32)->slot, 0);
}
END_TEST

START_TEST(test_dr_and_int3_entries_do_not_delete_each_other)
{
	bool restore;
	gpa_t gpa;
	uint8_t orig;

	xen_bp_add_dr(&bps, KFN, NOP5, 0);
	xen_bp_add(&bps, 0x3000, 0x3000, NOP5, false);
	ck_assert_int_eq(xen_bp_del(&bps, KFN, &restore, &gpa, &orig), -ENOENT);
	ck_assert(!restore);	/* no byte to write back for a debug register */
	ck_assert_int_eq(xen_bp_del_dr(&bps, 0x3000), -ENOENT);
	ck_assert_uint_eq(bps.n, 2);
}
END_TEST

START_TEST(test_dr7_sets_local_enable_execute_len1_for_our_slots)
{
	uint64_t dr[XEN_DR_SLOTS], mask;

	xen_bp_add_dr(&bps, KFN, NOP5, 0x1);	/* slot 1 */
	uint64_t val = xen_bp_dr7(&bps, dr, &mask);
	ck_assert_uint_eq(val, 1ull << 2);	/* L1; R/W1 = LEN1 = 00 */
	ck_assert_uint_eq(mask, (3ull << 2) | (0xfull << 20));
	ck_assert_uint_eq(dr[0], 0);
	ck_assert_uint_eq(dr[1], KFN);
	ck_assert_uint_eq(dr[2], 0);
	ck_assert_uint_eq(dr[3], 0);
}
END_TEST

START_TEST(test_dr7_of_empty_table_owns_nothing)
{
	uint64_t dr[XEN_DR_SLOTS] = { 1, 2, 3, 4 }, mask = ~0ull;

	xen_bp_add(&bps, 0x3000, 0x3000, NOP5, false);	/* an int3: no slot */
	ck_assert_uint_eq(xen_bp_dr7(&bps, dr, &mask), 0);
	ck_assert_uint_eq(mask, 0);
	for (unsigned int i = 0; i < XEN_DR_SLOTS; i++)
		ck_assert_uint_eq(dr[i], 0);
}
END_TEST

START_TEST(test_dr7_busy_sees_local_and_global_enables_only)
{
	ck_assert_uint_eq(xen_dr7_busy(0x400), 0);
	ck_assert_uint_eq(xen_dr7_busy(0x1), 0x1);	/* L0 */
	ck_assert_uint_eq(xen_dr7_busy(0x8), 0x2);	/* G1 */
	ck_assert_uint_eq(xen_dr7_busy(0xc0), 0x8);	/* L3 + G3 */
	/* type/length bits of a disabled slot do not make it busy */
	ck_assert_uint_eq(xen_dr7_busy(0xffff0000ull | 0x400), 0);
	ck_assert_uint_eq(xen_dr7_busy(~0ull), 0xf);
}
END_TEST

START_TEST(test_dbg_hit_ours_on_nop5_skips_else_resumes_with_rf)
{
	enum xen_bp_action act;

	xen_bp_add_dr(&bps, KFN, NOP5, 0);
	xen_bp_add_dr(&bps, KFN + 16, PUSH, 0);
	xen_bp_dbg_hit(&bps, KFN, 0, &act);
	ck_assert_int_eq(act, XEN_BP_SKIP);
	xen_bp_dbg_hit(&bps, KFN + 16, 0, &act);
	ck_assert_int_eq(act, XEN_BP_RESUME_RF);
}
END_TEST

START_TEST(test_dbg_hit_elsewhere_or_after_clear_is_reinjected)
{
	enum xen_bp_action act;

	xen_bp_add_dr(&bps, KFN, NOP5, 0);
	xen_bp_dbg_hit(&bps, KFN + 1, 0, &act);	/* the guest's own, or a TF step */
	ck_assert_int_eq(act, XEN_BP_REINJECT);
	xen_bp_del_dr(&bps, KFN);
	xen_bp_dbg_hit(&bps, KFN, 0, &act);
	ck_assert_int_eq(act, XEN_BP_REINJECT);
}
END_TEST

START_TEST(test_dbg_hit_with_status_is_ours_only_when_our_slot_fired)
{
	enum xen_bp_action act;

	xen_bp_add_dr(&bps, KFN, NOP5, 0x1);		/* slot 1: the guest has 0 */
	xen_bp_add_dr(&bps, KFN + 16, PUSH, 0x1);	/* slot 2 */
	xen_bp_dbg_hit(&bps, KFN, 1ull << 1, &act);	/* B1 */
	ck_assert_int_eq(act, XEN_BP_SKIP);
	xen_bp_dbg_hit(&bps, KFN + 16, (1ull << 2) | (1ull << 14), &act);
	ck_assert_int_eq(act, XEN_BP_RESUME_RF);	/* B2, with a step too */
	/* the guest's TF step landing on our address: BS alone */
	xen_bp_dbg_hit(&bps, KFN, 1ull << 14, &act);
	ck_assert_int_eq(act, XEN_BP_REINJECT);
	/* the guest's own DR0 firing there, or another of our slots */
	xen_bp_dbg_hit(&bps, KFN, 1ull << 0, &act);
	ck_assert_int_eq(act, XEN_BP_REINJECT);
	xen_bp_dbg_hit(&bps, KFN, 1ull << 2, &act);
	ck_assert_int_eq(act, XEN_BP_REINJECT);
	/* unknown status (SVM reports 0): the address decides */
	xen_bp_dbg_hit(&bps, KFN, 0, &act);
	ck_assert_int_eq(act, XEN_BP_SKIP);
}
END_TEST

START_TEST(test_dbg_hit_at_an_int3_entry_is_not_ours)
{
	enum xen_bp_action act;

	xen_bp_add(&bps, 0x3000, 0x3000, NOP5, false);
	xen_bp_dbg_hit(&bps, 0x3000, 0, &act);
	ck_assert_int_eq(act, XEN_BP_REINJECT);
}
END_TEST

START_TEST(test_int3_event_at_a_dr_entry_is_not_ours)
{
	enum xen_bp_action act;

	xen_bp_add_dr(&bps, KFN, NOP5, 0);
	ck_assert_int_eq(xen_bp_hit(&bps, KFN, XEN_INT3, 0, false, &act), 0);
	ck_assert_int_eq(act, XEN_BP_REINJECT);	/* the guest's own int3 */
	ck_assert_int_eq(xen_bp_hit(&bps, KFN, 0x0f, 0, false, &act), 0);
	ck_assert_int_eq(act, XEN_BP_RETRY);
}
END_TEST

START_TEST(test_dr_table_full_of_int3_entries_is_enospc)
{
	for (unsigned int i = 0; i < XEN_BPS_MAX; i++)
		ck_assert_int_eq(xen_bp_add(&bps, 0x10000 + 16 * i, 0x10000 + 16 * i,
					    NOP5, false), 0);
	ck_assert_int_eq(xen_bp_add_dr(&bps, KFN, NOP5, 0), -ENOSPC);
}
END_TEST

static Suite *xen_bp_suite(void)
{
	Suite *s = suite_create("xen_bp");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_nop5_detection_needs_all_five_bytes);
	tcase_add_test(tc, test_add_on_nop5_without_step_records_orig_byte);
	tcase_add_test(tc, test_add_twice_returns_eexist);
	tcase_add_test(tc, test_add_non_nop_without_step_is_eopnotsupp);
	tcase_add_test(tc, test_add_over_existing_int3_is_ebusy);
	tcase_add_test(tc, test_table_full_returns_enospc);
	tcase_add_test(tc, test_del_restores_and_missing_is_enoent);
	tcase_add_test(tc, test_hit_on_nop5_skips_five_bytes);
	tcase_add_test(tc, test_hit_not_ours_with_int3_present_reinjects);
	tcase_add_test(tc, test_hit_after_clear_retries_without_report);
	tcase_add_test(tc, test_hit_ours_but_byte_not_int3_is_not_reported);
	tcase_add_test(tc, test_step_cycle_rearms_on_step_done);
	tcase_add_test(tc, test_hit_while_stepping_is_ebusy);
	tcase_add_test(tc, test_clear_while_stepping_drops_after_step);
	tcase_add_test(tc, test_stray_step_done_on_empty_table_is_null);
	suite_add_tcase(s, tc);
	tc = tcase_create("debugreg");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_dr_add_takes_slots_in_order_until_four);
	tcase_add_test(tc, test_dr_add_skips_slots_the_guest_enables);
	tcase_add_test(tc, test_dr_add_twice_is_eexist_and_any_code_is_accepted);
	tcase_add_test(tc, test_dr_del_frees_the_slot_for_reuse);
	tcase_add_test(tc, test_dr_and_int3_entries_do_not_delete_each_other);
	tcase_add_test(tc, test_dr7_sets_local_enable_execute_len1_for_our_slots);
	tcase_add_test(tc, test_dr7_of_empty_table_owns_nothing);
	tcase_add_test(tc, test_dr7_busy_sees_local_and_global_enables_only);
	tcase_add_test(tc, test_dbg_hit_ours_on_nop5_skips_else_resumes_with_rf);
	tcase_add_test(tc, test_dbg_hit_elsewhere_or_after_clear_is_reinjected);
	tcase_add_test(tc, test_dbg_hit_with_status_is_ours_only_when_our_slot_fired);
	tcase_add_test(tc, test_dbg_hit_at_an_int3_entry_is_not_ours);
	tcase_add_test(tc, test_int3_event_at_a_dr_entry_is_not_ours);
	tcase_add_test(tc, test_dr_table_full_of_int3_entries_is_enospc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xen_bp_suite());
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
