/*
 * check_xen_state.c - the xen backend's state file text (xen_state.c):
 * what one attach writes is what the next reads back, and contents it
 * would not have written (another domain's file, truncated, oversized,
 * binary, out-of-range values, more entries than it could hold) are
 * refused whole, since the reader writes guest memory and debug
 * registers from them.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_XEN
#include "xen_state.h"

static const uint8_t NOP5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };

static struct xen_bps bps;
static struct xen_state st;

static void setup(void)
{
	xen_bps_init(&bps);
	memset(&st, 0xa5, sizeof(st));	/* parse must reset it */
}

static int parse(const char *text, unsigned int domid)
{
	return xen_state_parse(text, strlen(text), domid, &st);
}

START_TEST(test_format_then_parse_round_trips_every_kind)
{
	char buf[XEN_STATE_MAX];
	int n;

	xen_bp_add(&bps, 0xffffffff81000000ull, 0x1000000, NOP5, false);
	xen_bp_add_dr(&bps, 0xffffffff8134a9e0ull, NOP5, 0x1);	/* slot 1 */
	n = xen_state_format(&bps, true, 7, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(xen_state_parse(buf, (size_t)n, 7, &st), 0);
	ck_assert(st.paused);
	ck_assert_uint_eq(st.n_int3, 1);
	ck_assert_uint_eq(st.int3[0].gpa, 0x1000000);
	ck_assert_uint_eq(st.int3[0].orig, 0x0f);
	ck_assert_uint_eq(st.n_dr, 1);
	ck_assert_uint_eq(st.dr[0].slot, 1);
	ck_assert_uint_eq(st.dr[0].addr, 0xffffffff8134a9e0ull);
}
END_TEST

START_TEST(test_full_table_fits_the_size_limit)
{
	char buf[XEN_STATE_MAX];

	for (unsigned int i = 0; i < XEN_BPS_MAX; i++)
		xen_bp_add(&bps, ~0ull - 16 * i, ~0ull - 16 * i, NOP5, false);
	int n = xen_state_format(&bps, true, 4294967295u, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(xen_state_parse(buf, (size_t)n, 4294967295u, &st), 0);
	ck_assert_uint_eq(st.n_int3, XEN_BPS_MAX);
}
END_TEST

START_TEST(test_format_into_small_buffer_is_enospc_not_truncated)
{
	char buf[40];

	xen_bp_add(&bps, 0x1000, 0x1000, NOP5, false);
	xen_bp_add(&bps, 0x2000, 0x2000, NOP5, false);
	ck_assert_int_eq(xen_state_format(&bps, true, 1, buf, sizeof(buf)), -ENOSPC);
	ck_assert_int_eq(xen_state_format(&bps, false, 1, buf, 10), -ENOSPC);
}
END_TEST

START_TEST(test_file_for_another_domain_is_exdev)
{
	ck_assert_int_eq(parse("upcalld-xen-state dom 8\npaused\n", 7), -EXDEV);
	ck_assert(!st.paused);
}
END_TEST

START_TEST(test_oversized_file_is_efbig)
{
	size_t len = XEN_STATE_MAX + 1;
	char *big = malloc(len);

	ck_assert_ptr_nonnull(big);
	memset(big, '\n', len);	/* blank lines: harmless, but too many */
	ck_assert_int_eq(xen_state_parse(big, len, 1, &st), -EFBIG);
	free(big);
}
END_TEST

START_TEST(test_truncated_last_line_is_einval)
{
	ck_assert_int_eq(parse("upcalld-xen-state dom 1\nint3 1000", 1), -EINVAL);
	ck_assert_int_eq(parse("upcalld-xen-state dom 1\ndr 0", 1), -EINVAL);
	ck_assert_int_eq(parse("upcalld-xen-state dom 1\npaus", 1), -EINVAL);
	/* a whole last line without its newline is fine */
	ck_assert_int_eq(parse("upcalld-xen-state dom 1\nint3 1000 cc", 1), 0);
	ck_assert_uint_eq(st.n_int3, 1);
}
END_TEST

START_TEST(test_out_of_range_values_are_einval)
{
	ck_assert_int_eq(parse("upcalld-xen-state dom 1\nint3 1000 100\n", 1), -EINVAL);
	ck_assert_int_eq(parse("upcalld-xen-state dom 1\nint3 1000 -1\n", 1), -EINVAL);
	ck_assert_int_eq(parse("upcalld-xen-state dom 1\ndr 4 ffffffff81000000\n", 1),
			 -EINVAL);
	ck_assert_int_eq(parse("upcalld-xen-state dom 1\ndr 0 1\ndr 0 2\n", 1), -EINVAL);
	ck_assert_int_eq(parse("upcalld-xen-state dom 1\nint3 1000 cc junk\n", 1), -EINVAL);
}
END_TEST

START_TEST(test_binary_and_overlong_lines_are_einval)
{
	static const char nul[] = "upcalld-xen-state dom 1\nint3 10\0 cc\n";
	char line[300];

	ck_assert_int_eq(xen_state_parse(nul, sizeof(nul) - 1, 1, &st), -EINVAL);
	memset(line, '0', sizeof(line));
	memcpy(line, "int3 ", 5);
	line[sizeof(line) - 1] = '\0';
	ck_assert_int_eq(parse(line, 1), -EINVAL);
	ck_assert_int_eq(parse("\x01\x02\x03\n", 1), -EINVAL);
}
END_TEST

START_TEST(test_more_entries_than_ever_written_is_enospc)
{
	char *text = malloc(XEN_STATE_MAX);
	size_t off = 0;

	ck_assert_ptr_nonnull(text);
	for (unsigned int i = 0; i <= XEN_BPS_MAX; i++)
		off += (size_t)snprintf(text + off, XEN_STATE_MAX - off, "int3 %x cc\n", i);
	ck_assert_int_eq(xen_state_parse(text, off, 1, &st), -ENOSPC);
	free(text);
}
END_TEST

START_TEST(test_legacy_file_without_header_is_read)
{
	ck_assert_int_eq(parse("paused\n10c7610 0f\n", 3), 0);
	ck_assert(st.paused);
	ck_assert_uint_eq(st.n_int3, 1);
	ck_assert_uint_eq(st.int3[0].gpa, 0x10c7610);
	/* but headered files do not take bare "gpa byte" lines */
	ck_assert_int_eq(parse("upcalld-xen-state dom 3\n10c7610 0f\n", 3), -EINVAL);
}
END_TEST

START_TEST(test_empty_file_means_nothing_to_undo)
{
	ck_assert_int_eq(parse("", 1), 0);
	ck_assert(!st.paused);
	ck_assert_uint_eq(st.n_int3, 0);
	ck_assert_uint_eq(st.n_dr, 0);
	ck_assert_int_eq(parse("\n\n", 1), 0);
}
END_TEST

START_TEST(test_header_later_in_file_is_einval)
{
	ck_assert_int_eq(parse("paused\nupcalld-xen-state dom 1\n", 1), -EINVAL);
}
END_TEST

static Suite *xen_state_suite(void)
{
	Suite *s = suite_create("xen_state");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_format_then_parse_round_trips_every_kind);
	tcase_add_test(tc, test_full_table_fits_the_size_limit);
	tcase_add_test(tc, test_format_into_small_buffer_is_enospc_not_truncated);
	tcase_add_test(tc, test_file_for_another_domain_is_exdev);
	tcase_add_test(tc, test_oversized_file_is_efbig);
	tcase_add_test(tc, test_truncated_last_line_is_einval);
	tcase_add_test(tc, test_out_of_range_values_are_einval);
	tcase_add_test(tc, test_binary_and_overlong_lines_are_einval);
	tcase_add_test(tc, test_more_entries_than_ever_written_is_enospc);
	tcase_add_test(tc, test_legacy_file_without_header_is_read);
	tcase_add_test(tc, test_empty_file_means_nothing_to_undo);
	tcase_add_test(tc, test_header_later_in_file_is_einval);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xen_state_suite());
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
