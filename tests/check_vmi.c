/*
 * check_vmi.c - the introspection session over memhv: the KASLR search
 * (banner planted at slid addresses, 4- and 5-level, no registers, decoy
 * banners, no banner, a profile that does not fit) and kernel-virtual
 * reads (all-or-nothing, strings, other address spaces, flush).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaslr.h"
#include "memhv.h"
#include "vmi.h"

#define RAM (128ull << 20)
#define TEXT_VA 0xffffffff81000000ull
#define TEXT_PA 0x1000000ull
#define IMG_SIZE (8ull << 20)
#define BANNER_VA (TEXT_VA + 0x200100)
#define INIT_TASK_VA (TEXT_VA + 0x400000)
#define TOP_PGT_VA (TEXT_VA + 0x600000)
#define DATA_VA (TEXT_VA + 0x500000)
#define COMM_OFF 0xa0
#define MIB (1ull << 20)

static const char banner[] = "Linux version 6.1.0-test (fake@host) (gcc) #1 SMP\n";

static struct hv *hv;
static struct profile prof;

static void fake_profile(struct profile *p, const char *b)
{
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < PF_COUNT; i++)
		p->off[i] = PROFILE_NOFIELD;
	p->off[PF_TASK_COMM] = COMM_OFF;
	snprintf(p->banner, sizeof(p->banner), "%s", b);
	p->banner_len = (uint32_t)strlen(b);
	p->known[PSYM_LINUX_BANNER] = BANNER_VA;
	p->known[PSYM_INIT_TASK] = INIT_TASK_VA;
	p->known[PSYM_INIT_TOP_PGT] = TOP_PGT_VA;
	p->known[PSYM_TEXT] = TEXT_VA;
	snprintf(p->source, sizeof(p->source), "fake");
}

/* A kernel image loaded at TEXT_PA + pslide, mapped at TEXT_VA + vslide. */
static gpa_t build_kernel(unsigned int levels, uint64_t pslide, uint64_t vslide)
{
	gpa_t load = TEXT_PA + pslide, root = load + (TOP_PGT_VA - TEXT_VA);
	struct hv_regs r = { .cr3 = root | 0x1, .cr4 = 0x3606f0 };

	for (uint64_t off = 0; off < IMG_SIZE; off += 2 * MIB)
		ck_assert_int_eq(memhv_map(hv, root, levels, TEXT_VA + vslide + off,
					   load + off, 2 * MIB), 0);
	ck_assert_int_eq(memhv_write(hv, load + (BANNER_VA - TEXT_VA), banner,
				     sizeof(banner)), 0);
	ck_assert_int_eq(memhv_write(hv, load + (INIT_TASK_VA - TEXT_VA) + COMM_OFF,
				     "swapper/0", 10), 0);
	if (levels == 5)
		r.cr4 |= 1u << 12;
	ck_assert_int_eq(memhv_set_regs(hv, 0, &r), 0);
	return root;
}

static void setup(void)
{
	ck_assert_int_eq(memhv_new("vmi", RAM, 1, &hv), 0);
	fake_profile(&prof, banner);
}

static void teardown(void)
{
	hv_free(hv);
}

static void check_found(unsigned int levels, uint64_t pslide, uint64_t vslide)
{
	gpa_t root = build_kernel(levels, pslide, vslide);
	struct vmi *v = NULL;
	char err[512] = "", comm[16];

	ck_assert_msg(vmi_new(hv, &prof, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(vmi_levels(v), levels);
	ck_assert_uint_eq(vmi_phys_slide(v), pslide);
	ck_assert_uint_eq(vmi_virt_slide(v), vslide);
	ck_assert_uint_eq(vmi_kernel_pgd(v), root);
	ck_assert_uint_eq(vmi_sym(v, PSYM_INIT_TASK), INIT_TASK_VA + vslide);
	ck_assert_int_eq(vmi_read_str(v, vmi_sym(v, PSYM_INIT_TASK) + COMM_OFF, comm,
				      sizeof(comm)), 9);
	ck_assert_str_eq(comm, "swapper/0");
	vmi_free(v);
}

START_TEST(test_kaslr_finds_both_slides_4level)
{
	check_found(4, 0x5200000, 0x12400000);
}
END_TEST

START_TEST(test_kaslr_finds_both_slides_5level)
{
	check_found(5, 0x3e00000, 0x2a000000);
}
END_TEST

START_TEST(test_kaslr_finds_unslid_kernel)
{
	check_found(4, 0, 0);
}
END_TEST

START_TEST(test_kaslr_without_registers_tries_both_depths)
{
	ck_assert_int_eq(memhv_set_caps(hv, HV_CAP_MEM), 0);
	check_found(5, 0x800000, 0x600000);
}
END_TEST

START_TEST(test_kaslr_leaves_callers_pause_state_alone)
{
	struct vmi *v;

	build_kernel(4, 0x200000, 0x200000);
	ck_assert_int_eq(vmi_new(hv, &prof, &v, NULL, 0), 0);
	ck_assert(!memhv_paused(hv));
	vmi_free(v);
	ck_assert_int_eq(hv_pause(hv), 0);
	ck_assert_int_eq(vmi_new(hv, &prof, &v, NULL, 0), 0);
	ck_assert(memhv_paused(hv));
	vmi_free(v);
}
END_TEST

START_TEST(test_kaslr_no_banner_returns_enoent_with_message)
{
	struct vmi *v = NULL;
	char err[512] = "";

	ck_assert_int_eq(vmi_new(hv, &prof, &v, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(v);
	ck_assert_ptr_nonnull(strstr(err, "not found"));
	ck_assert_ptr_nonnull(strstr(err, "fake"));
}
END_TEST

START_TEST(test_kaslr_banner_off_alignment_is_not_found)
{
	char err[512] = "";
	struct vmi *v = NULL;

	/* a banner copy at a position no 2 MiB-aligned load could give */
	ck_assert_int_eq(memhv_write(hv, 0x4000000 + 0x200108, banner, sizeof(banner)), 0);
	ck_assert_int_eq(vmi_new(hv, &prof, &v, err, sizeof(err)), -ENOENT);
}
END_TEST

START_TEST(test_kaslr_skips_decoy_banner_copy)
{
	gpa_t pa;

	/* a copy where a load 2 MiB lower would put it, with nothing mapped */
	ck_assert_int_eq(memhv_write(hv, 0x200100, banner, sizeof(banner)), 0);
	ck_assert_int_eq(kaslr_find_banner(hv, &prof, 0, &pa), 0);
	ck_assert_uint_eq(pa, 0x200100);
	check_found(4, 0x1400000, 0x800000);
}
END_TEST

START_TEST(test_kaslr_wrong_offsets_return_einval_naming_the_cause)
{
	struct vmi *v = NULL;
	char err[512] = "";

	build_kernel(4, 0x1000000, 0x1000000);
	prof.off[PF_TASK_COMM] = COMM_OFF + 8;
	ck_assert_int_eq(vmi_new(hv, &prof, &v, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "init_task.comm"));
	ck_assert_ptr_null(v);
}
END_TEST

START_TEST(test_kaslr_unmapped_banner_returns_einval)
{
	char err[512] = "";
	struct vmi *v = NULL;

	/* banner in RAM where the profile expects it, but no page tables */
	ck_assert_int_eq(memhv_write(hv, TEXT_PA + 0x200100, banner, sizeof(banner)), 0);
	ck_assert_int_eq(vmi_new(hv, &prof, &v, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "no kernel-text address"));
}
END_TEST

START_TEST(test_kaslr_profile_without_banner_returns_einval)
{
	struct vmi *v = NULL;

	build_kernel(4, 0, 0);
	prof.banner_len = 0;
	ck_assert_int_eq(vmi_new(hv, &prof, &v, NULL, 0), -EINVAL);
	fake_profile(&prof, banner);
	prof.known[PSYM_LINUX_BANNER] = 0;
	ck_assert_int_eq(vmi_new(hv, &prof, &v, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(test_banner_near_end_of_ram_is_probed_safely)
{
	gpa_t pa;

	ck_assert_int_eq(memhv_write(hv, RAM - 2 * MIB + 0x100, banner, 10), 0);
	ck_assert_int_eq(kaslr_find_banner(hv, &prof, 0, &pa), -ENOENT);
}
END_TEST

START_TEST(test_choose_profile_picks_the_one_in_memory)
{
	struct profile other;
	struct profile *list[2] = { &other, &prof };

	fake_profile(&other, "Linux version 5.10.0-other (x@y) #1\n");
	ck_assert_int_eq(vmi_choose_profile(hv, list, 2), -ENOENT);
	build_kernel(4, 0x600000, 0);
	ck_assert_int_eq(vmi_choose_profile(hv, list, 2), 1);
	ck_assert_int_eq(vmi_choose_profile(hv, list, 1), -ENOENT);
}
END_TEST

START_TEST(test_read_unmapped_fails_whole_and_zeroes)
{
	struct vmi *v;
	uint64_t val = 77;
	char buf[32];

	build_kernel(4, 0, 0);
	ck_assert_int_eq(vmi_new(hv, &prof, &v, NULL, 0), 0);
	ck_assert_int_eq(vmi_read_u64(v, TEXT_VA + IMG_SIZE, &val), -EFAULT);
	ck_assert_uint_eq(val, 0);
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(vmi_read(v, TEXT_VA + IMG_SIZE - 16, buf, 32), -EFAULT);
	for (size_t i = 0; i < sizeof(buf); i++)
		ck_assert_int_eq(buf[i], 0);
	ck_assert_int_eq(vmi_read(v, 0x0000800000000000ull, buf, 8), -EFAULT);
	vmi_free(v);
}
END_TEST

START_TEST(test_read_str_caps_and_faults)
{
	struct vmi *v;
	char s[8], big[64];
	gva_t end = TEXT_VA + IMG_SIZE;

	build_kernel(4, 0, 0);
	ck_assert_int_eq(vmi_new(hv, &prof, &v, NULL, 0), 0);
	ck_assert_int_eq(memhv_write(hv, TEXT_PA + (DATA_VA - TEXT_VA), "abcdefghijk", 12), 0);
	ck_assert_int_eq(vmi_read_str(v, DATA_VA, s, sizeof(s)), -E2BIG);
	ck_assert_str_eq(s, "abcdefg");
	ck_assert_int_eq(vmi_read_str(v, DATA_VA, big, sizeof(big)), 11);
	ck_assert_int_eq(vmi_read_str(v, DATA_VA, s, 1), -E2BIG);
	ck_assert_str_eq(s, "");
	/* no NUL before the mapping ends */
	ck_assert_int_eq(memhv_fill(hv, TEXT_PA + IMG_SIZE - 8, 'z', 8), 0);
	ck_assert_int_eq(vmi_read_str(v, end - 8, big, sizeof(big)), -EFAULT);
	ck_assert_str_eq(big, "zzzzzzzz");
	ck_assert_int_eq(vmi_read_str(v, end, big, sizeof(big)), -EFAULT);
	ck_assert_str_eq(big, "");
	vmi_free(v);
}
END_TEST

START_TEST(test_read_as_uses_the_given_pgd_and_flush_forgets)
{
	struct vmi *v;
	gpa_t user;
	uint64_t val;

	build_kernel(4, 0, 0);
	ck_assert_int_eq(vmi_new(hv, &prof, &v, NULL, 0), 0);
	ck_assert_int_eq(memhv_alloc_page(hv, &user), 0);
	ck_assert_int_eq(memhv_map(hv, user, 4, 0x400000, 0x30000, 4096), 0);
	ck_assert_int_eq(memhv_write_u64(hv, 0x30000, 0x1111), 0);
	ck_assert_int_eq(memhv_write_u64(hv, 0x40000, 0x2222), 0);
	ck_assert_int_eq(vmi_read_as(v, user | 0x3, 0x400000, &val, 8), 0);
	ck_assert_uint_eq(val, 0x1111);
	ck_assert_int_eq(vmi_read_u64(v, 0x400000, &val), -EFAULT);
	ck_assert_int_eq(memhv_map(hv, user, 4, 0x600000, 0x40000, 4096), 0);
	ck_assert_int_eq(vmi_read_as(v, user, 0x600000, &val, 8), 0);
	ck_assert_uint_eq(val, 0x2222);
	vmi_flush(v);
	ck_assert_int_eq(vmi_read_as(v, user, 0x400000, &val, 8), 0);
	ck_assert_uint_eq(val, 0x1111);
	vmi_free(v);
}
END_TEST

START_TEST(test_sym_absent_is_zero_and_new_at_checks_levels)
{
	struct vmi *v;

	ck_assert_int_eq(vmi_new_at(hv, &prof, 0x1000, 3, 0, 0, &v), -EINVAL);
	ck_assert_int_eq(vmi_new_at(hv, &prof, 0x1000, 4, 0x200000, 0, &v), 0);
	ck_assert_uint_eq(vmi_sym(v, PSYM_MODULES), 0);
	ck_assert_uint_eq(vmi_sym(v, PSYM_TEXT), TEXT_VA + 0x200000);
	ck_assert_ptr_eq(vmi_hv(v), hv);
	ck_assert_ptr_eq(vmi_profile(v), &prof);
	vmi_free(v);
}
END_TEST

static Suite *vmi_suite(void)
{
	Suite *s = suite_create("vmi");
	TCase *k = tcase_create("kaslr"), *r = tcase_create("read");

	tcase_add_checked_fixture(k, setup, teardown);
	tcase_add_checked_fixture(r, setup, teardown);
	tcase_add_test(k, test_kaslr_finds_both_slides_4level);
	tcase_add_test(k, test_kaslr_finds_both_slides_5level);
	tcase_add_test(k, test_kaslr_finds_unslid_kernel);
	tcase_add_test(k, test_kaslr_without_registers_tries_both_depths);
	tcase_add_test(k, test_kaslr_leaves_callers_pause_state_alone);
	tcase_add_test(k, test_kaslr_no_banner_returns_enoent_with_message);
	tcase_add_test(k, test_kaslr_banner_off_alignment_is_not_found);
	tcase_add_test(k, test_kaslr_skips_decoy_banner_copy);
	tcase_add_test(k, test_kaslr_wrong_offsets_return_einval_naming_the_cause);
	tcase_add_test(k, test_kaslr_unmapped_banner_returns_einval);
	tcase_add_test(k, test_kaslr_profile_without_banner_returns_einval);
	tcase_add_test(k, test_banner_near_end_of_ram_is_probed_safely);
	tcase_add_test(k, test_choose_profile_picks_the_one_in_memory);
	tcase_add_test(r, test_read_unmapped_fails_whole_and_zeroes);
	tcase_add_test(r, test_read_str_caps_and_faults);
	tcase_add_test(r, test_read_as_uses_the_given_pgd_and_flush_forgets);
	tcase_add_test(r, test_sym_absent_is_zero_and_new_at_checks_levels);
	suite_add_tcase(s, k);
	suite_add_tcase(s, r);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(vmi_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
