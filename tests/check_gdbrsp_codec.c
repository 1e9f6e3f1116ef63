/*
 * check_gdbrsp_codec.c - the GDB remote protocol codec: checksums, framing
 * and its escapes, unescaping (including a truncated escape), hex with
 * bad digits and overflow, stop and error replies.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gdbrsp.h"

START_TEST(test_checksum_of_ok_is_9a)
{
	ck_assert_uint_eq(gdbrsp_checksum("OK", 2), 0x9a);
	ck_assert_uint_eq(gdbrsp_checksum("", 0), 0);
}
END_TEST

START_TEST(test_frame_escapes_special_bytes_and_checksums_escaped_form)
{
	char out[64];
	int n = gdbrsp_frame("a$b#c}d*e", 9, out, sizeof(out));

	ck_assert_int_eq(n, 17);
	ck_assert_str_eq(out, "$a}\x04" "b}\x03" "c}]d}\x0a" "e#" "51");
	/* the checksum covers the bytes on the wire */
	ck_assert_uint_eq(gdbrsp_checksum(out + 1, 13), 0x51);
}
END_TEST

START_TEST(test_frame_too_small_buffer_returns_enospc)
{
	char out[8];

	ck_assert_int_eq(gdbrsp_frame("abcdef", 6, out, sizeof(out)), -ENOSPC);
	ck_assert_int_eq(gdbrsp_frame("ab", 2, out, 0), -ENOSPC);
}
END_TEST

START_TEST(test_unescape_undoes_frame_escaping)
{
	char buf[] = "a}\x04" "b}]c";

	ck_assert_int_eq(gdbrsp_unescape(buf, 7), 5);
	ck_assert_int_eq(memcmp(buf, "a$b}c", 5), 0);
}
END_TEST

START_TEST(test_unescape_trailing_escape_returns_ebadmsg)
{
	char buf[] = "ab}";

	ck_assert_int_eq(gdbrsp_unescape(buf, 3), -EBADMSG);
}
END_TEST

START_TEST(test_hex_decode_rejects_odd_length_bad_digits_and_overflow)
{
	uint8_t out[4];
	uint64_t v;

	ck_assert_int_eq(gdbrsp_hex_decode("0aFf", 4, out, 4), 2);
	ck_assert_uint_eq(out[0], 0x0a);
	ck_assert_uint_eq(out[1], 0xff);
	ck_assert_int_eq(gdbrsp_hex_decode("abc", 3, out, 4), -EINVAL);
	ck_assert_int_eq(gdbrsp_hex_decode("zz", 2, out, 4), -EINVAL);
	ck_assert_int_eq(gdbrsp_hex_decode("0011223344", 10, out, 4), -EINVAL);
	ck_assert_int_eq(gdbrsp_parse_hex("ffffffffffffffff", 16, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(gdbrsp_parse_hex("10000000000000000", 17, &v), -EINVAL);
	ck_assert_int_eq(gdbrsp_parse_hex("", 0, &v), -EINVAL);
}
END_TEST

START_TEST(test_stop_reply_recognised_and_signal_parsed)
{
	ck_assert(gdbrsp_is_stop("T05thread:01;", 13));
	ck_assert_int_eq(gdbrsp_stop_signal("T05thread:01;", 13), 5);
	ck_assert_int_eq(gdbrsp_stop_signal("S02", 3), 2);
	ck_assert(gdbrsp_is_stop("W00", 3));
	ck_assert(!gdbrsp_is_stop("OK", 2));
	ck_assert(!gdbrsp_is_stop("Tzz", 3));
	ck_assert(!gdbrsp_is_stop("", 0));
}
END_TEST

START_TEST(test_reply_error_parses_e_nn)
{
	int code = 0;

	ck_assert_int_eq(gdbrsp_reply_error("E0e", 3, &code), -EIO);
	ck_assert_int_eq(code, 14);
	ck_assert_int_eq(gdbrsp_reply_error("E.msg", 5, &code), -EIO);
	ck_assert_int_eq(code, -1);
	ck_assert_int_eq(gdbrsp_reply_error("OK", 2, &code), 0);
}
END_TEST

static Suite *codec_suite(void)
{
	Suite *s = suite_create("gdbrsp_codec");
	TCase *c = tcase_create("codec");

	tcase_add_test(c, test_checksum_of_ok_is_9a);
	tcase_add_test(c, test_frame_escapes_special_bytes_and_checksums_escaped_form);
	tcase_add_test(c, test_frame_too_small_buffer_returns_enospc);
	tcase_add_test(c, test_unescape_undoes_frame_escaping);
	tcase_add_test(c, test_unescape_trailing_escape_returns_ebadmsg);
	tcase_add_test(c, test_hex_decode_rejects_odd_length_bad_digits_and_overflow);
	tcase_add_test(c, test_stop_reply_recognised_and_signal_parsed);
	tcase_add_test(c, test_reply_error_parses_e_nn);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(codec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
