/*
 * check_memhv.c - the in-memory backend keeps the hv.h contract: bounded
 * all-or-nothing reads, sparse zero pages, register access only while
 * stopped, breakpoint set semantics, the event queue and its fd, and death.
 */
#include <check.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "memhv.h"

#define RAM (16u << 20)

static struct hv *hv;

static void setup(void)
{
	ck_assert_int_eq(memhv_new("t", RAM, 2, &hv), 0);
}

static void teardown(void)
{
	hv_free(hv);
	hv = NULL;
}

START_TEST(test_new_rejects_unaligned_or_huge_ram)
{
	struct hv *h = NULL;

	ck_assert_int_eq(memhv_new("x", 4097, 1, &h), -EINVAL);
	ck_assert_int_eq(memhv_new("x", MEMHV_RAM_MAX + 4096, 1, &h), -EINVAL);
	ck_assert_int_eq(memhv_new("x", 4096, 0, &h), -EINVAL);
	ck_assert_ptr_null(h);
}
END_TEST

START_TEST(test_untouched_ram_reads_zero)
{
	uint8_t buf[64];

	memset(buf, 0xaa, sizeof(buf));
	ck_assert_int_eq(hv_read_phys(hv, 0x123456, buf, sizeof(buf)), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], 0);
}
END_TEST

START_TEST(test_write_then_read_across_pages)
{
	uint8_t in[10000], out[10000];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(memhv_write(hv, 0x1ff0, in, sizeof(in)), 0);
	ck_assert_int_eq(hv_read_phys(hv, 0x1ff0, out, sizeof(out)), 0);
	ck_assert_mem_eq(in, out, sizeof(in));
}
END_TEST

START_TEST(test_read_phys_past_end_returns_efault)
{
	uint8_t buf[16] = { 0 };

	ck_assert_int_eq(hv_read_phys(hv, RAM - 8, buf, 16), -EFAULT);
	ck_assert_int_eq(hv_read_phys(hv, RAM, buf, 1), -EFAULT);
	ck_assert_int_eq(hv_read_phys(hv, UINT64_MAX - 4, buf, 16), -EFAULT);
	ck_assert_int_eq(hv_read_phys(hv, RAM - 16, buf, 16), 0);
	ck_assert_int_eq(memhv_write(hv, RAM - 8, buf, 16), -EFAULT);
}
END_TEST

START_TEST(test_get_regs_needs_pause)
{
	struct hv_regs r = { .cr3 = 0x1000, .cr4 = 1u << 12 }, got;

	ck_assert_int_eq(memhv_set_regs(hv, 1, &r), 0);
	ck_assert_int_eq(hv_get_regs(hv, 1, &got), -EBUSY);
	ck_assert_int_eq(hv_pause(hv), 0);
	ck_assert(memhv_paused(hv));
	ck_assert_int_eq(hv_pause(hv), 0);	/* not counted */
	ck_assert_int_eq(hv_get_regs(hv, 1, &got), 0);
	ck_assert_uint_eq(got.cr3, 0x1000);
	ck_assert_int_eq(hv_get_regs(hv, 2, &got), -EINVAL);
	ck_assert_int_eq(hv_resume(hv), 0);
	ck_assert(!memhv_paused(hv));
}
END_TEST

START_TEST(test_breakpoint_set_twice_eexist_clear_missing_enoent)
{
	ck_assert_int_eq(hv_set_bp(hv, 0xffffffff81000000ull), 0);
	ck_assert_int_eq(hv_set_bp(hv, 0xffffffff81000000ull), -EEXIST);
	ck_assert(memhv_has_bp(hv, 0xffffffff81000000ull));
	ck_assert_int_eq(hv_clear_bp(hv, 0xffffffff81000010ull), -ENOENT);
	ck_assert_int_eq(hv_clear_bp(hv, 0xffffffff81000000ull), 0);
	ck_assert_int_eq(hv_clear_bp(hv, 0xffffffff81000000ull), -ENOENT);
	ck_assert_uint_eq(memhv_nr_bps(hv), 0);
}
END_TEST

START_TEST(test_breakpoint_cap_returns_enospc)
{
	for (unsigned int i = 0; i < MEMHV_BPS_MAX; i++)
		ck_assert_int_eq(hv_set_bp(hv, 0x1000 + i), 0);
	ck_assert_int_eq(hv_set_bp(hv, 0x99999), -ENOSPC);
}
END_TEST

START_TEST(test_missing_capability_is_eopnotsupp)
{
	struct hv_regs r;
	uint8_t b;

	ck_assert_int_eq(memhv_set_caps(hv, HV_CAP_MEM), 0);
	ck_assert_int_eq(hv_pause(hv), -EOPNOTSUPP);
	ck_assert_int_eq(hv_get_regs(hv, 0, &r), -EOPNOTSUPP);
	ck_assert_int_eq(hv_set_bp(hv, 1), -EOPNOTSUPP);
	ck_assert_int_eq(hv_set_cr3_events(hv, true), -EOPNOTSUPP);
	ck_assert_int_eq(hv_read_phys(hv, 0, &b, 1), 0);
}
END_TEST

START_TEST(test_event_queue_signals_fd_and_orders_events)
{
	struct hv_event in = { .kind = HV_EV_BREAKPOINT, .addr = 0x42 }, ev;
	struct pollfd pfd = { .fd = hv_event_fd(hv), .events = POLLIN };

	ck_assert_int_ge(pfd.fd, 0);
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), -EAGAIN);
	ck_assert_int_eq(memhv_inject(hv, &in), 0);
	in.addr = 0x43;
	ck_assert_int_eq(memhv_inject(hv, &in), 0);
	ck_assert_int_eq(poll(&pfd, 1, 0), 1);
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), 0);
	ck_assert_uint_eq(ev.addr, 0x42);
	/* the first must be finished before the next is taken */
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), -EBUSY);
	ck_assert_int_eq(hv_event_done(hv, &ev), 0);
	ck_assert_int_eq(hv_event_done(hv, &ev), -EINVAL);
	ck_assert_int_eq(hv_next_event(hv, &ev, 10), 0);
	ck_assert_uint_eq(ev.addr, 0x43);
	ck_assert_int_eq(hv_event_done(hv, &ev), 0);
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	ck_assert_int_eq(hv_next_event(hv, &ev, 20), -EAGAIN);
}
END_TEST

START_TEST(test_event_queue_full_returns_enospc)
{
	struct hv_event in = { .kind = HV_EV_CR3_WRITE };

	for (unsigned int i = 0; i < MEMHV_EVENTS_MAX; i++)
		ck_assert_int_eq(memhv_inject(hv, &in), 0);
	ck_assert_int_eq(memhv_inject(hv, &in), -ENOSPC);
}
END_TEST

START_TEST(test_gone_yields_one_gone_event_then_enodev)
{
	struct hv_event in = { .kind = HV_EV_BREAKPOINT }, ev;
	uint8_t b;

	ck_assert_int_eq(memhv_inject(hv, &in), 0);
	ck_assert_int_eq(memhv_set_gone(hv), 0);
	ck_assert_int_eq(hv_next_event(hv, &ev, -1), 0);
	ck_assert_int_eq(ev.kind, HV_EV_GONE);
	ck_assert_int_eq(hv_next_event(hv, &ev, 0), -ENODEV);
	ck_assert_int_eq(hv_read_phys(hv, 0, &b, 1), -ENODEV);
	ck_assert_int_eq(hv_pause(hv), -ENODEV);
	ck_assert_int_eq(hv_set_bp(hv, 1), -ENODEV);
	ck_assert_int_eq(memhv_inject(hv, &in), -ENODEV);
}
END_TEST

START_TEST(test_map_builds_walkable_tables)
{
	gpa_t root, pte_slot;
	uint64_t e;

	ck_assert_int_eq(memhv_alloc_page(hv, &root), 0);
	ck_assert_int_eq(memhv_map(hv, root, 4, 0xffff888000201000ull, 0x5000, 4096), 0);
	/* follow the four levels by hand */
	pte_slot = root + ((0xffff888000201000ull >> 39) & 511) * 8;
	for (int lvl = 4; lvl > 1; lvl--) {
		ck_assert_int_eq(hv_read_phys(hv, pte_slot, &e, 8), 0);
		ck_assert_uint_eq(e & 1, 1);
		pte_slot = (e & 0x000ffffffffff000ull) +
			   ((0xffff888000201000ull >> (12 + 9 * (lvl - 2))) & 511) * 8;
	}
	ck_assert_int_eq(hv_read_phys(hv, pte_slot, &e, 8), 0);
	ck_assert_uint_eq(e & ~0xfffull, 0x5000);
	ck_assert_int_eq(memhv_map(hv, root, 4, 0x40000000, 0x200000, 1u << 21), 0);
	ck_assert_int_eq(memhv_map(hv, root, 4, 0x40001000, 0x1000, 4096), -EEXIST);
	ck_assert_int_eq(memhv_map(hv, root, 4, 0x1001, 0x1000, 4096), -EINVAL);
	ck_assert_int_eq(memhv_map(hv, root, 3, 0x1000, 0x1000, 4096), -EINVAL);
}
END_TEST

START_TEST(test_alloc_exhausted_returns_enomem)
{
	gpa_t p;

	ck_assert_int_eq(memhv_set_alloc(hv, 0x10000, 0x12000), 0);
	ck_assert_int_eq(memhv_alloc_page(hv, &p), 0);
	ck_assert_int_eq(memhv_alloc_page(hv, &p), 0);
	ck_assert_uint_eq(p, 0x11000);
	ck_assert_int_eq(memhv_alloc_page(hv, &p), -ENOMEM);
	ck_assert_int_eq(memhv_set_alloc(hv, 0x10000, RAM + 4096), -EINVAL);
}
END_TEST

static Suite *memhv_suite(void)
{
	Suite *s = suite_create("memhv");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_new_rejects_unaligned_or_huge_ram);
	tcase_add_test(tc, test_untouched_ram_reads_zero);
	tcase_add_test(tc, test_write_then_read_across_pages);
	tcase_add_test(tc, test_read_phys_past_end_returns_efault);
	tcase_add_test(tc, test_get_regs_needs_pause);
	tcase_add_test(tc, test_breakpoint_set_twice_eexist_clear_missing_enoent);
	tcase_add_test(tc, test_breakpoint_cap_returns_enospc);
	tcase_add_test(tc, test_missing_capability_is_eopnotsupp);
	tcase_add_test(tc, test_event_queue_signals_fd_and_orders_events);
	tcase_add_test(tc, test_event_queue_full_returns_enospc);
	tcase_add_test(tc, test_gone_yields_one_gone_event_then_enodev);
	tcase_add_test(tc, test_map_builds_walkable_tables);
	tcase_add_test(tc, test_alloc_exhausted_returns_enomem);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(memhv_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
