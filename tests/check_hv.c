/*
 * check_hv.c - helpers shared by the backends: hv_caps_str names bits in a
 * fixed order, shows unknown bits in hex, says "none" for no bits, and
 * stays terminated in a buffer too small for the whole list.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hv.h"

START_TEST(test_caps_str_names_bits_in_fixed_order)
{
	char buf[128];

	ck_assert_str_eq(hv_caps_str(HV_CAP_BP_INVISIBLE | HV_CAP_MEM |
				     HV_CAP_CR3_APPROX, buf, sizeof(buf)),
			 "mem,cr3-approx,bp-invisible");
	ck_assert_str_eq(hv_caps_str(0, buf, sizeof(buf)), "none");
}
END_TEST

START_TEST(test_caps_str_shows_unknown_bits_in_hex)
{
	char buf[128];

	ck_assert_str_eq(hv_caps_str(HV_CAP_REGS | 0x300u, buf, sizeof(buf)),
			 "regs,0x300");
}
END_TEST

START_TEST(test_caps_str_small_buffer_stays_terminated)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	hv_caps_str(HV_CAP_MEM | HV_CAP_REGS | HV_CAP_PAUSE, buf, sizeof(buf));
	ck_assert_uint_lt(strlen(buf), sizeof(buf));
	ck_assert_str_eq(buf, "mem,reg");
	ck_assert_ptr_null(hv_caps_str(HV_CAP_MEM, NULL, 0));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hv");
	TCase *c = tcase_create("caps");
	SRunner *sr;
	int failed;

	tcase_add_test(c, test_caps_str_names_bits_in_fixed_order);
	tcase_add_test(c, test_caps_str_shows_unknown_bits_in_hex);
	tcase_add_test(c, test_caps_str_small_buffer_stays_terminated);
	suite_add_tcase(s, c);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
