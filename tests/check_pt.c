/*
 * check_pt.c - page walks over synthetic page tables of every shape built
 * in memhv, hostile ones included (non-present entries at each level,
 * reserved bits, PS at PML4/PML5, self-referencing tables, pointers past
 * RAM), and the translation cache (hits, flush, pgd separation).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "memhv.h"
#include "pt.h"

#define RAM (64ull << 20)
#define KVA 0xffff888012345000ull
#define PA_DATA 0x300000ull

static struct hv *hv;
static struct pt *pt;

static void setup(void)
{
	ck_assert_int_eq(memhv_new("pt", RAM, 1, &hv), 0);
	pt = malloc(sizeof(*pt));
	ck_assert_ptr_nonnull(pt);
	pt_init(pt, hv);
}

static void teardown(void)
{
	free(pt);
	hv_free(hv);
}

static gpa_t new_root(void)
{
	gpa_t r;

	ck_assert_int_eq(memhv_alloc_page(hv, &r), 0);
	return r;
}

/* Physical address of the entry for va at level lvl (5..1) in root. */
static gpa_t slot_at(gpa_t root, unsigned int levels, gva_t va, unsigned int lvl)
{
	gpa_t table = root;

	for (unsigned int l = levels; l > lvl; l--) {
		uint64_t e;

		ck_assert_int_eq(hv_read_phys(hv, table + ((va >> (12 + 9 * (l - 1))) & 511) * 8,
					      &e, 8), 0);
		table = e & 0x000ffffffffff000ull;
	}
	return table + ((va >> (12 + 9 * (lvl - 1))) & 511) * 8;
}

static int walk(gpa_t root, unsigned int levels, gva_t va, struct pt_map *m)
{
	return pt_walk(hv, PT_MAXPHY_DEFAULT, root, levels, va, m);
}

START_TEST(test_4level_4k_page_translates_with_offset)
{
	gpa_t root = new_root();
	struct pt_map m;

	ck_assert_int_eq(memhv_map(hv, root, 4, KVA, PA_DATA, 4096), 0);
	ck_assert_int_eq(walk(root, 4, KVA + 0x123, &m), 0);
	ck_assert_uint_eq(m.pa, PA_DATA + 0x123);
	ck_assert_uint_eq(m.page_size, 4096);
	ck_assert_uint_eq(m.level, 1);
}
END_TEST

START_TEST(test_5level_4k_page_translates_high_va)
{
	gpa_t root = new_root();
	gva_t va = 0xff11000012345000ull;	/* only canonical with LA57 */
	struct pt_map m;

	ck_assert(!pt_canonical(va, 4));
	ck_assert_int_eq(memhv_map(hv, root, 5, va, PA_DATA, 4096), 0);
	ck_assert_int_eq(walk(root, 5, va + 8, &m), 0);
	ck_assert_uint_eq(m.pa, PA_DATA + 8);
	ck_assert_int_eq(walk(root, 4, va, &m), -EINVAL);
}
END_TEST

START_TEST(test_2m_page_translates_both_depths)
{
	for (unsigned int lv = 4; lv <= 5; lv++) {
		gpa_t root = new_root();
		struct pt_map m;

		ck_assert_int_eq(memhv_map(hv, root, lv, 0xffffffff81000000ull,
					   0x1200000, 1u << 21), 0);
		ck_assert_int_eq(walk(root, lv, 0xffffffff811fffffull, &m), 0);
		ck_assert_uint_eq(m.pa, 0x13fffff);
		ck_assert_uint_eq(m.page_size, 1u << 21);
		ck_assert_uint_eq(m.level, 2);
	}
}
END_TEST

START_TEST(test_1g_page_translates)
{
	struct hv *big;
	gpa_t root;
	struct pt_map m;

	ck_assert_int_eq(memhv_new("big", 2ull << 30, 1, &big), 0);
	ck_assert_int_eq(memhv_alloc_page(big, &root), 0);
	ck_assert_int_eq(memhv_map(big, root, 4, 0xffff888040000000ull, 1ull << 30,
				   1ull << 30), 0);
	ck_assert_int_eq(pt_walk(big, 52, root, 4, 0xffff888040001234ull, &m), 0);
	ck_assert_uint_eq(m.pa, (1ull << 30) + 0x1234);
	ck_assert_uint_eq(m.page_size, 1ull << 30);
	ck_assert_uint_eq(m.level, 3);
	/* the same 1 GiB mapping past the 2 GiB of RAM */
	ck_assert_int_eq(memhv_map(big, root, 4, 0xffff888080000000ull, 2ull << 30,
				   1ull << 30), 0);
	ck_assert_int_eq(pt_walk(big, 52, root, 4, 0xffff888080000000ull, &m), -ERANGE);
	hv_free(big);
}
END_TEST

START_TEST(test_non_present_at_each_level_returns_efault)
{
	for (unsigned int lv = 4; lv <= 5; lv++) {
		for (unsigned int clear = 1; clear <= lv; clear++) {
			gpa_t root = new_root();
			struct pt_map m;
			uint64_t e;
			gpa_t s;

			ck_assert_int_eq(memhv_map(hv, root, lv, KVA, PA_DATA, 4096), 0);
			s = slot_at(root, lv, KVA, clear);
			ck_assert_int_eq(hv_read_phys(hv, s, &e, 8), 0);
			ck_assert_int_eq(memhv_write_u64(hv, s, e & ~1ull), 0);
			ck_assert_int_eq(walk(root, lv, KVA, &m), -EFAULT);
		}
	}
}
END_TEST

START_TEST(test_reserved_bits_return_einval)
{
	gpa_t root = new_root();
	struct pt_map m;
	uint64_t e;
	gpa_t s;

	ck_assert_int_eq(memhv_map(hv, root, 4, KVA, PA_DATA, 4096), 0);
	s = slot_at(root, 4, KVA, 2);
	ck_assert_int_eq(hv_read_phys(hv, s, &e, 8), 0);
	ck_assert_int_eq(memhv_write_u64(hv, s, e | (1ull << 45)), 0);
	/* MAXPHYADDR 40: bit 45 is reserved */
	ck_assert_int_eq(pt_walk(hv, 40, root, 4, KVA, &m), -EINVAL);
	/* architectural maximum: it is an address bit, and past RAM */
	ck_assert_int_eq(pt_walk(hv, 52, root, 4, KVA, &m), -ERANGE);
	ck_assert_int_eq(pt_walk(hv, 60, root, 4, KVA, &m), -EINVAL);
}
END_TEST

START_TEST(test_ps_at_pml4_and_pml5_returns_einval)
{
	for (unsigned int lv = 4; lv <= 5; lv++) {
		for (unsigned int at = 4; at <= lv; at++) {
			gpa_t root = new_root();
			struct pt_map m;
			uint64_t e;
			gpa_t s;

			ck_assert_int_eq(memhv_map(hv, root, lv, KVA, PA_DATA, 4096), 0);
			s = slot_at(root, lv, KVA, at);
			ck_assert_int_eq(hv_read_phys(hv, s, &e, 8), 0);
			ck_assert_int_eq(memhv_write_u64(hv, s, e | 0x80), 0);
			ck_assert_int_eq(walk(root, lv, KVA, &m), -EINVAL);
		}
	}
}
END_TEST

START_TEST(test_misaligned_large_frame_returns_einval)
{
	gpa_t root = new_root();
	struct pt_map m;
	gpa_t s;

	ck_assert_int_eq(memhv_map(hv, root, 4, 0xffffffff81000000ull, 0x1200000,
				   1u << 21), 0);
	s = slot_at(root, 4, 0xffffffff81000000ull, 2);
	ck_assert_int_eq(memhv_write_u64(hv, s, 0x1202000 | 0x83), 0);
	ck_assert_int_eq(walk(root, 4, 0xffffffff81000000ull, &m), -EINVAL);
	/* bit 12 is PAT, not an address bit */
	ck_assert_int_eq(memhv_write_u64(hv, s, 0x1201000 | 0x83), 0);
	ck_assert_int_eq(walk(root, 4, 0xffffffff81000000ull, &m), 0);
	ck_assert_uint_eq(m.pa, 0x1200000);
}
END_TEST

START_TEST(test_self_referencing_table_stops_after_levels_reads)
{
	for (unsigned int lv = 4; lv <= 5; lv++) {
		gpa_t root = new_root();
		struct pt_map m;
		uint64_t before;

		/* every level's entry 511 points back at the root */
		ck_assert_int_eq(memhv_write_u64(hv, root + 511 * 8, root | 3), 0);
		before = memhv_reads(hv);
		ck_assert_int_eq(walk(root, lv, 0xfffffffffffff008ull, &m), 0);
		ck_assert_uint_eq(memhv_reads(hv) - before, lv);
		ck_assert_uint_eq(m.pa, root + 8);
	}
}
END_TEST

START_TEST(test_table_pointer_beyond_ram_returns_erange)
{
	gpa_t root = new_root();
	struct pt_map m;

	ck_assert_int_eq(memhv_map(hv, root, 4, KVA, PA_DATA, 4096), 0);
	ck_assert_int_eq(memhv_write_u64(hv, slot_at(root, 4, KVA, 3),
					 (1ull << 40) | 3), 0);
	ck_assert_int_eq(walk(root, 4, KVA, &m), -ERANGE);
	ck_assert_int_eq(walk(RAM + 0x1000, 4, KVA, &m), -ERANGE);
	ck_assert_int_eq(memhv_map(hv, root, 4, 0xffffc90000000000ull, RAM, 4096), 0);
	ck_assert_int_eq(walk(root, 4, 0xffffc90000000000ull, &m), -ERANGE);
}
END_TEST

START_TEST(test_bad_levels_and_noncanonical_return_einval)
{
	gpa_t root = new_root();
	struct pt_map m;

	ck_assert_int_eq(walk(root, 3, KVA, &m), -EINVAL);
	ck_assert_int_eq(walk(root, 6, KVA, &m), -EINVAL);
	ck_assert_int_eq(walk(root, 4, 0x0000900000000000ull, &m), -EINVAL);
	ck_assert_int_eq(pt_walk(hv, 20, root, 4, KVA, &m), -EINVAL);
}
END_TEST

START_TEST(test_cache_hit_after_miss_reads_nothing)
{
	gpa_t root = new_root(), pa;
	uint64_t before;

	ck_assert_int_eq(memhv_map(hv, root, 4, KVA, PA_DATA, 4096), 0);
	ck_assert_int_eq(pt_translate(pt, root, 4, KVA + 1, &pa), 0);
	ck_assert_uint_eq(pt->misses, 1);
	before = memhv_reads(hv);
	ck_assert_int_eq(pt_translate(pt, root, 4, KVA + 0xff0, &pa), 0);
	ck_assert_uint_eq(pa, PA_DATA + 0xff0);
	ck_assert_uint_eq(memhv_reads(hv), before);
	ck_assert_uint_eq(pt->hits, 1);
}
END_TEST

START_TEST(test_cache_flush_forgets_changed_mapping)
{
	gpa_t root = new_root(), pa;

	ck_assert_int_eq(memhv_map(hv, root, 4, KVA, PA_DATA, 4096), 0);
	ck_assert_int_eq(pt_translate(pt, root, 4, KVA, &pa), 0);
	/* the guest remaps the page behind our back */
	ck_assert_int_eq(memhv_write_u64(hv, slot_at(root, 4, KVA, 1), 0x7000 | 3), 0);
	ck_assert_int_eq(pt_translate(pt, root, 4, KVA, &pa), 0);
	ck_assert_uint_eq(pa, PA_DATA);	/* stale until flushed, by design */
	pt_flush(pt);
	ck_assert_int_eq(pt_translate(pt, root, 4, KVA, &pa), 0);
	ck_assert_uint_eq(pa, 0x7000);
	ck_assert_uint_eq(pt->misses, 2);
}
END_TEST

START_TEST(test_cache_does_not_confuse_pgds)
{
	gpa_t a = new_root(), b = new_root(), pa;

	ck_assert_int_eq(memhv_map(hv, a, 4, 0x400000, 0x10000, 4096), 0);
	ck_assert_int_eq(memhv_map(hv, b, 4, 0x400000, 0x20000, 4096), 0);
	ck_assert_int_eq(pt_translate(pt, a, 4, 0x400000, &pa), 0);
	ck_assert_uint_eq(pa, 0x10000);
	ck_assert_int_eq(pt_translate(pt, b, 4, 0x400000, &pa), 0);
	ck_assert_uint_eq(pa, 0x20000);
	ck_assert_int_eq(pt_translate(pt, a, 4, 0x400000, &pa), 0);
	ck_assert_uint_eq(pa, 0x10000);
	/* PCID bits in a CR3 value name the same table */
	ck_assert_int_eq(pt_translate(pt, PT_CR3_ADDR(b | 0x5 | (1ull << 63)), 4,
				      0x400000, &pa), 0);
	ck_assert_uint_eq(pa, 0x20000);
}
END_TEST

START_TEST(test_cache_stays_correct_past_its_capacity)
{
	gpa_t root = new_root(), pa;
	unsigned int n = PT_CACHE_SLOTS * 2;

	ck_assert_int_eq(memhv_map_range(hv, root, 4, 0x10000000, 0x800000,
					 (uint64_t)n * 4096), 0);
	for (int pass = 0; pass < 2; pass++)
		for (unsigned int i = 0; i < n; i++) {
			ck_assert_int_eq(pt_translate(pt, root, 4, 0x10000000 + i * 4096ull,
						      &pa), 0);
			ck_assert_uint_eq(pa, 0x800000 + i * 4096ull);
		}
}
END_TEST

START_TEST(test_cache_large_page_serves_its_whole_span)
{
	gpa_t root = new_root(), pa;
	uint64_t before;

	ck_assert_int_eq(memhv_map(hv, root, 4, 0xffff888000200000ull, 0x400000,
				   1u << 21), 0);
	ck_assert_int_eq(pt_translate(pt, root, 4, 0xffff888000200010ull, &pa), 0);
	before = memhv_reads(hv);
	for (uint64_t off = 0; off < (1u << 21); off += 4096) {
		ck_assert_int_eq(pt_translate(pt, root, 4, 0xffff888000200000ull + off + 8,
					      &pa), 0);
		ck_assert_uint_eq(pa, 0x400000 + off + 8);
	}
	ck_assert_uint_eq(memhv_reads(hv), before);
	ck_assert_uint_eq(pt->misses, 1);
	/* another root mapping the same va elsewhere is not served from it */
	gpa_t other = new_root();

	ck_assert_int_eq(memhv_map(hv, other, 4, 0xffff888000200000ull, 0x800000,
				   1u << 21), 0);
	ck_assert_int_eq(pt_translate(pt, other, 4, 0xffff888000200000ull, &pa), 0);
	ck_assert_uint_eq(pa, 0x800000);
	ck_assert_uint_eq(pt->misses, 2);
}
END_TEST

START_TEST(test_cache_1g_page_past_ram_end_stays_erange)
{
	struct hv *big;
	struct pt *p2 = malloc(sizeof(*p2));
	gpa_t root, pa;

	/* 1 GiB + 1 MiB of RAM, one 1 GiB page at 0 and one at 1 GiB */
	ck_assert_int_eq(memhv_new("big", (1ull << 30) + (1u << 20), 1, &big), 0);
	ck_assert_int_eq(memhv_set_alloc(big, 0x100000, 0x200000), 0);
	ck_assert_int_eq(memhv_alloc_page(big, &root), 0);
	ck_assert_int_eq(memhv_map(big, root, 4, 0xffff888040000000ull, 1ull << 30,
				   1ull << 30), 0);
	pt_init(p2, big);
	ck_assert_int_eq(pt_translate(p2, root, 4, 0xffff888040000000ull, &pa), 0);
	ck_assert_uint_eq(pa, 1ull << 30);
	/* same 2 MiB span, but past the end of RAM */
	ck_assert_int_eq(pt_translate(p2, root, 4, 0xffff888040100000ull, &pa), -ERANGE);
	free(p2);
	hv_free(big);
}
END_TEST

START_TEST(test_failed_translation_is_not_cached)
{
	gpa_t root = new_root(), pa;

	ck_assert_int_eq(pt_translate(pt, root, 4, KVA, &pa), -EFAULT);
	ck_assert_int_eq(memhv_map(hv, root, 4, KVA, PA_DATA, 4096), 0);
	ck_assert_int_eq(pt_translate(pt, root, 4, KVA, &pa), 0);
	ck_assert_uint_eq(pa, PA_DATA);
}
END_TEST

START_TEST(test_read_across_discontiguous_pages)
{
	gpa_t root = new_root();
	char buf[32];

	ck_assert_int_eq(memhv_map(hv, root, 4, KVA, 0x9000, 4096), 0);
	ck_assert_int_eq(memhv_map(hv, root, 4, KVA + 4096, 0x3000, 4096), 0);
	ck_assert_int_eq(memhv_write(hv, 0x9000 + 4096 - 5, "hello", 5), 0);
	ck_assert_int_eq(memhv_write(hv, 0x3000, " world", 7), 0);
	ck_assert_int_eq(pt_read(pt, root, 4, KVA + 4096 - 5, buf, 12), 0);
	ck_assert_str_eq(buf, "hello world");
}
END_TEST

START_TEST(test_read_into_unmapped_second_page_fails_whole)
{
	gpa_t root = new_root();
	char buf[16];

	ck_assert_int_eq(memhv_map(hv, root, 4, KVA, 0x9000, 4096), 0);
	ck_assert_int_eq(memhv_fill(hv, 0x9000, 'x', 4096), 0);
	memset(buf, 'q', sizeof(buf));
	ck_assert_int_eq(pt_read(pt, root, 4, KVA + 4096 - 8, buf, 16), -EFAULT);
	for (size_t i = 0; i < sizeof(buf); i++)
		ck_assert_int_eq(buf[i], 0);
}
END_TEST

START_TEST(test_read_wrapping_address_space_returns_einval)
{
	gpa_t root = new_root();
	char buf[16];

	ck_assert_int_eq(pt_read(pt, root, 4, 0xfffffffffffffff8ull, buf, 16), -EINVAL);
}
END_TEST

static Suite *pt_suite(void)
{
	Suite *s = suite_create("pt");
	TCase *w = tcase_create("walk"), *c = tcase_create("cache");

	tcase_add_checked_fixture(w, setup, teardown);
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_add_test(w, test_4level_4k_page_translates_with_offset);
	tcase_add_test(w, test_5level_4k_page_translates_high_va);
	tcase_add_test(w, test_2m_page_translates_both_depths);
	tcase_add_test(w, test_1g_page_translates);
	tcase_add_test(w, test_non_present_at_each_level_returns_efault);
	tcase_add_test(w, test_reserved_bits_return_einval);
	tcase_add_test(w, test_ps_at_pml4_and_pml5_returns_einval);
	tcase_add_test(w, test_misaligned_large_frame_returns_einval);
	tcase_add_test(w, test_self_referencing_table_stops_after_levels_reads);
	tcase_add_test(w, test_table_pointer_beyond_ram_returns_erange);
	tcase_add_test(w, test_bad_levels_and_noncanonical_return_einval);
	tcase_add_test(c, test_cache_hit_after_miss_reads_nothing);
	tcase_add_test(c, test_cache_flush_forgets_changed_mapping);
	tcase_add_test(c, test_cache_does_not_confuse_pgds);
	tcase_add_test(c, test_cache_stays_correct_past_its_capacity);
	tcase_add_test(c, test_cache_large_page_serves_its_whole_span);
	tcase_add_test(c, test_cache_1g_page_past_ram_end_stays_erange);
	tcase_add_test(c, test_failed_translation_is_not_cached);
	tcase_add_test(c, test_read_across_discontiguous_pages);
	tcase_add_test(c, test_read_into_unmapped_second_page_fails_whole);
	tcase_add_test(c, test_read_wrapping_address_space_returns_einval);
	suite_add_tcase(s, w);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pt_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
