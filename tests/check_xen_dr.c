/*
 * check_xen_dr.c - editing a domain's HVM context for debug-register
 * breakpoints (xen_dr_ctx_edit) without a hypervisor: the test builds
 * the save blobs Xen would hand over, and forges broken ones (no header,
 * records past the end, a CPU record of the wrong size, no END, endless
 * records) that must be refused before anything is loaded back.
 *
 * Includes Xen's public save-record headers (through xen_priv.h): forging
 * raw contexts is the point of these tests.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_XEN
#include "xen_priv.h"

#include <xen/hvm/save.h>

#define KFN 0xffffffff8134a9e0ull

static uint8_t blob[65536];
static size_t len;

static void put(uint16_t code, uint16_t inst, const void *body, uint32_t n)
{
	struct hvm_save_descriptor d = { .typecode = code, .instance = inst, .length = n };

	ck_assert_uint_le(len + sizeof(d) + n, sizeof(blob));
	memcpy(blob + len, &d, sizeof(d));
	if (n)
		memcpy(blob + len + sizeof(d), body, n);
	len += sizeof(d) + n;
}

static void put_cpu(uint16_t inst, uint64_t dr0, uint64_t dr7)
{
	struct hvm_hw_cpu c;

	memset(&c, 0, sizeof(c));
	c.rip = 0x1000 + inst;
	c.dr0 = dr0;
	c.dr7 = dr7;
	put(2, inst, &c, sizeof(c));
}

static struct hvm_hw_cpu cpu_at(size_t off)
{
	struct hvm_hw_cpu c;

	memcpy(&c, blob + off + sizeof(struct hvm_save_descriptor), sizeof(c));
	return c;
}

/* header, 2 vCPUs, a LAPIC and an XSAVE record, END */
static void setup(void)
{
	struct hvm_save_header h = { .magic = HVM_FILE_MAGIC, .version = HVM_FILE_VERSION };
	uint8_t lapic[16], xsave[96];

	memset(blob, 0, sizeof(blob));
	len = 0;
	memset(lapic, 0x11, sizeof(lapic));
	memset(xsave, 0x22, sizeof(xsave));
	put(1, 0, &h, sizeof(h));
	put_cpu(0, 0, 0x400);
	put_cpu(1, 0, 0x400);
	put(5, 0, lapic, sizeof(lapic));
	put(16, 0, xsave, sizeof(xsave));
	put(0, 0, NULL, 0);
}

static size_t rec_len(uint32_t body)
{
	return sizeof(struct hvm_save_descriptor) + body;
}

START_TEST(test_edit_sets_our_slot_on_every_vcpu_and_drops_other_records)
{
	struct xen_dr_set set = { .write = true, .slots = 1, .dr = { KFN }, .mask = 0xf0003,
				  .val = 1 };
	unsigned int busy = 99;
	size_t cpu0 = rec_len(sizeof(struct hvm_save_header));
	size_t cpu1 = cpu0 + rec_len(sizeof(struct hvm_hw_cpu));
	ssize_t n = xen_dr_ctx_edit(blob, len, &set, &busy);

	ck_assert_int_eq(n, (ssize_t)(len - rec_len(16)));	/* LAPIC gone */
	ck_assert_uint_eq(busy, 0);
	ck_assert_uint_eq(cpu_at(cpu0).dr0, KFN);
	ck_assert_uint_eq(cpu_at(cpu0).dr7, 0x401);
	ck_assert_uint_eq(cpu_at(cpu1).dr0, KFN);
	ck_assert_uint_eq(cpu_at(cpu1).rip, 0x1001);	/* the rest untouched */
	/* the XSAVE record follows the CPUs, then END */
	struct hvm_save_descriptor d;
	memcpy(&d, blob + cpu1 + rec_len(sizeof(struct hvm_hw_cpu)), sizeof(d));
	ck_assert_uint_eq(d.typecode, 16);
	ck_assert_uint_eq(blob[cpu1 + rec_len(sizeof(struct hvm_hw_cpu)) + sizeof(d)], 0x22);
}
END_TEST

START_TEST(test_guest_slots_are_reported_busy_and_kept)
{
	struct xen_dr_set set = { .write = true, .slots = 2, .dr = { 0, KFN },
				  .mask = xen_dr7_slot_bits(1), .val = 1ull << 2 };
	unsigned int busy;
	size_t cpu0 = rec_len(sizeof(struct hvm_save_header));

	len = 0;
	put(1, 0, &(struct hvm_save_header){ .magic = HVM_FILE_MAGIC }, sizeof(struct hvm_save_header));
	put_cpu(0, 0xdead0000, 0x400 | 0x2 | (0x1ull << 16));	/* G0, write bp */
	put(0, 0, NULL, 0);
	ck_assert_int_gt(xen_dr_ctx_edit(blob, len, &set, &busy), 0);
	ck_assert_uint_eq(busy, 0x1);
	ck_assert_uint_eq(cpu_at(cpu0).dr0, 0xdead0000);
	ck_assert_uint_eq(cpu_at(cpu0).dr7, 0x400 | 0x2 | (0x1ull << 16) | (1ull << 2));
}
END_TEST

START_TEST(test_probe_without_write_changes_no_register)
{
	struct xen_dr_set set = { .write = false, .slots = 1, .dr = { KFN }, .mask = 3, .val = 1 };
	unsigned int busy;
	size_t cpu0 = rec_len(sizeof(struct hvm_save_header));

	ck_assert_int_gt(xen_dr_ctx_edit(blob, len, &set, &busy), 0);
	ck_assert_uint_eq(cpu_at(cpu0).dr0, 0);
	ck_assert_uint_eq(cpu_at(cpu0).dr7, 0x400);
}
END_TEST

START_TEST(test_recover_disarms_only_where_the_address_is_still_ours)
{
	struct xen_dr_set set = { .recover = true, .slots = 1, .dr = { KFN } };
	unsigned int busy;
	size_t cpu0 = rec_len(sizeof(struct hvm_save_header));
	size_t cpu1 = cpu0 + rec_len(sizeof(struct hvm_hw_cpu));

	len = 0;
	put(1, 0, &(struct hvm_save_header){ .magic = HVM_FILE_MAGIC }, sizeof(struct hvm_save_header));
	put_cpu(0, KFN, 0x401);		/* what the killed daemon left */
	put_cpu(1, 0xbeef000, 0x401);	/* the guest re-used DR0 since */
	put(0, 0, NULL, 0);
	ck_assert_int_gt(xen_dr_ctx_edit(blob, len, &set, &busy), 0);
	ck_assert_uint_eq(busy, 0x1);	/* disarmed slot 0 somewhere */
	ck_assert_uint_eq(cpu_at(cpu0).dr0, 0);
	ck_assert_uint_eq(cpu_at(cpu0).dr7, 0x400);
	ck_assert_uint_eq(cpu_at(cpu1).dr0, 0xbeef000);
	ck_assert_uint_eq(cpu_at(cpu1).dr7, 0x401);
}
END_TEST

START_TEST(test_recover_of_a_disabled_slot_disarms_nothing)
{
	struct xen_dr_set set = { .recover = true, .slots = 1, .dr = { KFN } };
	unsigned int busy = 99;
	size_t cpu0 = rec_len(sizeof(struct hvm_save_header));

	len = 0;
	put(1, 0, &(struct hvm_save_header){ .magic = HVM_FILE_MAGIC }, sizeof(struct hvm_save_header));
	put_cpu(0, KFN, 0x400);	/* address still there, the guest disabled it */
	put(0, 0, NULL, 0);
	ck_assert_int_gt(xen_dr_ctx_edit(blob, len, &set, &busy), 0);
	ck_assert_uint_eq(busy, 0);
	ck_assert_uint_eq(cpu_at(cpu0).dr0, KFN);
}
END_TEST

START_TEST(test_blob_without_header_first_is_eproto)
{
	struct xen_dr_set set = { .write = true };
	unsigned int busy;

	len = 0;
	put_cpu(0, 0, 0x400);
	put(0, 0, NULL, 0);
	ck_assert_int_eq(xen_dr_ctx_edit(blob, len, &set, &busy), -EPROTO);
}
END_TEST

START_TEST(test_record_past_the_end_is_eproto)
{
	struct xen_dr_set set = { .write = true };
	struct hvm_save_descriptor d = { .typecode = 5, .length = 0xffffffffu };
	unsigned int busy;
	size_t at = len - rec_len(0);	/* overwrite END with a huge record */

	memcpy(blob + at, &d, sizeof(d));
	ck_assert_int_eq(xen_dr_ctx_edit(blob, len, &set, &busy), -EPROTO);
	ck_assert_int_eq(xen_dr_ctx_edit(blob, 3, &set, &busy), -EPROTO);
	ck_assert_int_eq(xen_dr_ctx_edit(blob, 0, &set, &busy), -EPROTO);
}
END_TEST

START_TEST(test_cpu_record_of_wrong_size_is_eproto)
{
	struct xen_dr_set set = { .write = true };
	uint8_t small[64] = { 0 };
	unsigned int busy;

	len = 0;
	put(1, 0, &(struct hvm_save_header){ .magic = HVM_FILE_MAGIC }, sizeof(struct hvm_save_header));
	put(2, 0, small, sizeof(small));
	put(0, 0, NULL, 0);
	ck_assert_int_eq(xen_dr_ctx_edit(blob, len, &set, &busy), -EPROTO);
}
END_TEST

START_TEST(test_blob_without_end_is_eproto)
{
	struct xen_dr_set set = { .write = true };
	unsigned int busy;

	ck_assert_int_eq(xen_dr_ctx_edit(blob, len - rec_len(0), &set, &busy), -EPROTO);
}
END_TEST

START_TEST(test_blob_without_cpu_records_is_enoent)
{
	struct xen_dr_set set = { .write = true };
	unsigned int busy;

	len = 0;
	put(1, 0, &(struct hvm_save_header){ .magic = HVM_FILE_MAGIC }, sizeof(struct hvm_save_header));
	put(0, 0, NULL, 0);
	ck_assert_int_eq(xen_dr_ctx_edit(blob, len, &set, &busy), -ENOENT);
}
END_TEST

START_TEST(test_endless_empty_records_stop_at_the_cap)
{
	struct xen_dr_set set = { .write = true };
	unsigned int busy;

	len = 0;
	put(1, 0, &(struct hvm_save_header){ .magic = HVM_FILE_MAGIC }, sizeof(struct hvm_save_header));
	while (len + rec_len(0) <= sizeof(blob))
		put(7, 0, NULL, 0);	/* 8-byte records, no END */
	ck_assert_uint_gt(len / rec_len(0), XEN_DR_CTX_RECORDS_MAX);
	ck_assert_int_eq(xen_dr_ctx_edit(blob, len, &set, &busy), -E2BIG);
}
END_TEST

static Suite *xen_dr_suite(void)
{
	Suite *s = suite_create("xen_dr");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_edit_sets_our_slot_on_every_vcpu_and_drops_other_records);
	tcase_add_test(tc, test_guest_slots_are_reported_busy_and_kept);
	tcase_add_test(tc, test_probe_without_write_changes_no_register);
	tcase_add_test(tc, test_recover_disarms_only_where_the_address_is_still_ours);
	tcase_add_test(tc, test_recover_of_a_disabled_slot_disarms_nothing);
	tcase_add_test(tc, test_blob_without_header_first_is_eproto);
	tcase_add_test(tc, test_record_past_the_end_is_eproto);
	tcase_add_test(tc, test_cpu_record_of_wrong_size_is_eproto);
	tcase_add_test(tc, test_blob_without_end_is_eproto);
	tcase_add_test(tc, test_blob_without_cpu_records_is_enoent);
	tcase_add_test(tc, test_endless_empty_records_stop_at_the_cap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xen_dr_suite());
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
