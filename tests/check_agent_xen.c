/*
 * check_agent_xen.c - the guest agent's reading of its upcall key from
 * xenstore (guest-services/agent_xen.c): which key nodes it trusts (only
 * one dom0 owns and no other domain may write) and how it decodes the
 * value (exactly 64 hex digits; anything else leaves no key bytes behind).
 *
 * The agent is a separate static program, not in libupcalld.a: its source
 * is included here so that its static helpers are tested as built.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_XEN
#ifndef AGENT_HAVE_XEN
#define AGENT_HAVE_XEN 1	/* the sanitizer build does not define it */
#endif
#include "agent_xen.c"

#define DOMU 7u

static const char HEX[] =
	"00112233445566778899aabbccddeeff0123456789ABCDEFfedcba9876543210";

START_TEST(test_key_node_as_dom0_writes_it_is_trusted)
{
	/* xen_store_put_key: owner dom0, others nothing, the guest may read */
	struct xs_permissions p[] = { { 0, XS_PERM_NONE }, { DOMU, XS_PERM_READ } };

	ck_assert(key_node_trusted(p, 2));
	ck_assert(key_node_trusted(p, 1));
}
END_TEST

START_TEST(test_key_node_owned_by_the_guest_is_refused)
{
	struct xs_permissions p[] = { { DOMU, XS_PERM_NONE }, { 0, XS_PERM_READ } };

	ck_assert(!key_node_trusted(p, 2));
}
END_TEST

START_TEST(test_key_node_writable_by_everyone_is_refused)
{
	struct xs_permissions p[] = { { 0, XS_PERM_WRITE }, { DOMU, XS_PERM_READ } };
	struct xs_permissions rw[] = { { 0, XS_PERM_READ | XS_PERM_WRITE } };

	ck_assert(!key_node_trusted(p, 2));
	ck_assert(!key_node_trusted(rw, 1));
}
END_TEST

START_TEST(test_key_node_writable_by_a_listed_domain_is_refused)
{
	struct xs_permissions guest[] = { { 0, XS_PERM_NONE },
					  { DOMU, XS_PERM_READ | XS_PERM_WRITE } };
	struct xs_permissions other[] = { { 0, XS_PERM_NONE }, { DOMU, XS_PERM_READ },
					  { 12, XS_PERM_WRITE } };
	struct xs_permissions dom0_again[] = { { 0, XS_PERM_NONE },
					       { 0, XS_PERM_WRITE } };

	ck_assert(!key_node_trusted(guest, 2));
	ck_assert(!key_node_trusted(other, 3));
	ck_assert(key_node_trusted(dom0_again, 2));	/* dom0 may always write */
}
END_TEST

START_TEST(test_key_node_without_permissions_is_refused)
{
	struct xs_permissions p[] = { { 0, XS_PERM_NONE } };

	ck_assert(!key_node_trusted(p, 0));
}
END_TEST

START_TEST(test_key_decode_takes_64_hex_digits_of_either_case)
{
	uint8_t key[WIRE_KEY_LEN];

	ck_assert_int_eq(key_decode(HEX, 2 * WIRE_KEY_LEN, key), 0);
	ck_assert_uint_eq(key[0], 0x00);
	ck_assert_uint_eq(key[1], 0x11);
	ck_assert_uint_eq(key[15], 0xff);
	ck_assert_uint_eq(key[16], 0x01);
	ck_assert_uint_eq(key[23], 0xef);	/* "EF" */
	ck_assert_uint_eq(key[31], 0x10);
}
END_TEST

START_TEST(test_key_decode_wrong_length_is_einval)
{
	uint8_t key[WIRE_KEY_LEN];

	ck_assert_int_eq(key_decode(HEX, 2 * WIRE_KEY_LEN - 1, key), -EINVAL);
	ck_assert_int_eq(key_decode(HEX, 2 * WIRE_KEY_LEN - 2, key), -EINVAL);
	ck_assert_int_eq(key_decode(HEX, 0, key), -EINVAL);
	ck_assert_int_eq(key_decode("00112233445566778899aabbccddeeff0123456789"
				    "ABCDEFfedcba987654321000", 2 * WIRE_KEY_LEN + 2,
				    key), -EINVAL);
}
END_TEST

START_TEST(test_key_decode_bad_digit_late_leaves_no_key_bytes)
{
	char s[2 * WIRE_KEY_LEN + 1];
	uint8_t key[WIRE_KEY_LEN];

	memcpy(s, HEX, sizeof(s));
	s[2 * WIRE_KEY_LEN - 1] = 'g';	/* the very last digit */
	memset(key, 0xa5, sizeof(key));
	ck_assert_int_eq(key_decode(s, 2 * WIRE_KEY_LEN, key), -EINVAL);
	for (unsigned int i = 0; i < WIRE_KEY_LEN; i++)
		ck_assert_uint_eq(key[i], 0);	/* no partial key left */
}
END_TEST

START_TEST(test_key_decode_embedded_nul_space_or_sign_is_einval)
{
	char s[2 * WIRE_KEY_LEN + 1];
	uint8_t key[WIRE_KEY_LEN];
	static const char bad[] = { '\0', ' ', '-', '+', 'x', '\n' };

	for (unsigned int i = 0; i < sizeof(bad); i++) {
		memcpy(s, HEX, sizeof(s));
		s[10] = bad[i];
		ck_assert_int_eq(key_decode(s, 2 * WIRE_KEY_LEN, key), -EINVAL);
	}
}
END_TEST

static Suite *agent_xen_suite(void)
{
	Suite *s = suite_create("agent_xen");
	TCase *tc = tcase_create("key");

	tcase_add_test(tc, test_key_node_as_dom0_writes_it_is_trusted);
	tcase_add_test(tc, test_key_node_owned_by_the_guest_is_refused);
	tcase_add_test(tc, test_key_node_writable_by_everyone_is_refused);
	tcase_add_test(tc, test_key_node_writable_by_a_listed_domain_is_refused);
	tcase_add_test(tc, test_key_node_without_permissions_is_refused);
	tcase_add_test(tc, test_key_decode_takes_64_hex_digits_of_either_case);
	tcase_add_test(tc, test_key_decode_wrong_length_is_einval);
	tcase_add_test(tc, test_key_decode_bad_digit_late_leaves_no_key_bytes);
	tcase_add_test(tc, test_key_decode_embedded_nul_space_or_sign_is_einval);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(agent_xen_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
#else
int main(void)
{
	return 77;	/* no Xen headers: the agent's vchan is not built */
}
#endif
