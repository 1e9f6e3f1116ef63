/*
 * check_lnx_module.c - lnx_modules() over module lists built in memhv
 * guest memory with a hand-filled profile: a normal list (6.1 core_layout
 * and 6.4 mem[] layouts), and hostile ones (cycles, pointers into
 * unmapped memory, NULL and misaligned links, unterminated names, absurd
 * states, more modules than the cap). Each must give a defined result.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lnx.h"
#include "memhv.h"

#define RAM (64ull << 20)
#define DMAP 0xffff888000000000ull	/* direct map: va = DMAP + pa */
#define DMAP_LEN (32ull << 20)
#define OBJ_PA (4ull << 20)		/* objects are allocated from here */
#define TEXT_LINKED 0xffffffff81000000ull
#define VSLIDE 0x1e00000ull
#define TEXT_PA 0x200000ull		/* one 2 MiB page of "kernel image" */
#define MODULES_LINKED (TEXT_LINKED + 0x100)
#define UNMAPPED 0xffffc90000123000ull	/* vmalloc space, nothing mapped */

/* Layout of the fake struct module. */
#define M_STATE 0
#define M_LIST 8
#define M_NAME 24
#define M_CORE_BASE 0x100
#define M_CORE_SIZE 0x108
#define M_MEM 0x140
#define MM_SIZEOF 0x38
#define M_SIZEOF 0x200

static struct hv *hv;
static struct profile prof;
static struct vmi *vmi;
static gpa_t next_pa;
static struct lnx_module_list ml;

static gva_t dmap(gpa_t pa)
{
	return DMAP + pa;
}

static gpa_t pa_of(gva_t va)
{
	if (va >= TEXT_LINKED + VSLIDE && va < TEXT_LINKED + VSLIDE + (2u << 20))
		return TEXT_PA + (va - TEXT_LINKED - VSLIDE);
	ck_assert(va >= DMAP && va < DMAP + DMAP_LEN);
	return va - DMAP;
}

static void w64(gva_t va, uint64_t val)
{
	ck_assert_int_eq(memhv_write_u64(hv, pa_of(va), val), 0);
}

static void w32(gva_t va, uint32_t val)
{
	ck_assert_int_eq(memhv_write(hv, pa_of(va), &val, sizeof(val)), 0);
}

static gva_t alloc_obj(size_t len)
{
	gva_t va = dmap(next_pa);

	next_pa += (len + 63) & ~63ull;
	ck_assert_uint_le(next_pa, DMAP_LEN);
	return va;
}

static gva_t modules_head(void)
{
	return MODULES_LINKED + VSLIDE;
}

static void profile_61(void)
{
	memset(&prof, 0, sizeof(prof));
	for (int i = 0; i < PF_COUNT; i++)
		prof.off[i] = PROFILE_NOFIELD;
	prof.off[PF_MODULE_STATE] = M_STATE;
	prof.off[PF_MODULE_LIST] = M_LIST;
	prof.off[PF_MODULE_NAME] = M_NAME;
	prof.off[PF_MODULE_CORE_BASE] = M_CORE_BASE;
	prof.off[PF_MODULE_CORE_SIZE] = M_CORE_SIZE;
	prof.size[PS_MODULE] = M_SIZEOF;
	prof.known[PSYM_MODULES] = MODULES_LINKED;
}

/* The 6.4+ layout: no core_layout, mem[MOD_TEXT] instead. */
static void profile_64(void)
{
	profile_61();
	prof.off[PF_MODULE_CORE_BASE] = PROFILE_NOFIELD;
	prof.off[PF_MODULE_CORE_SIZE] = PROFILE_NOFIELD;
	prof.off[PF_MODULE_MEM] = M_MEM;
	prof.off[PF_MODULE_MEMORY_BASE] = 0;
	prof.off[PF_MODULE_MEMORY_SIZE] = 8;
	prof.size[PS_MODULE_MEMORY] = MM_SIZEOF;
}

static void setup(void)
{
	gpa_t root;

	ck_assert_int_eq(memhv_new("mod", RAM, 1, &hv), 0);
	ck_assert_int_eq(memhv_alloc_page(hv, &root), 0);
	for (gpa_t pa = 0; pa < DMAP_LEN; pa += 2u << 20)
		ck_assert_int_eq(memhv_map(hv, root, 4, dmap(pa), pa, 2u << 20), 0);
	ck_assert_int_eq(memhv_map(hv, root, 4, TEXT_LINKED + VSLIDE, TEXT_PA,
				   2u << 20), 0);
	profile_61();
	ck_assert_int_eq(vmi_new_at(hv, &prof, root, 4, VSLIDE, 0, &vmi), 0);
	next_pa = OBJ_PA;
	memset(&ml, 0, sizeof(ml));
	w64(modules_head(), modules_head());	/* empty list */
	w64(modules_head() + 8, modules_head());
}

static void teardown(void)
{
	lnx_module_list_release(&ml);
	vmi_free(vmi);
	hv_free(hv);
}

/* A struct module with both layouts filled; not linked yet. */
static gva_t new_module(const char *name, uint32_t state, uint64_t base,
			uint32_t size)
{
	gva_t m = alloc_obj(M_SIZEOF);

	w32(m + M_STATE, state);
	ck_assert_int_eq(memhv_write(hv, pa_of(m + M_NAME), name, strlen(name) + 1), 0);
	w64(m + M_CORE_BASE, base);
	w32(m + M_CORE_SIZE, size);
	w64(m + M_MEM, base + 0x1000);	/* distinct, to tell the layouts apart */
	w32(m + M_MEM + 8, size / 2);
	w64(m + M_MEM + MM_SIZEOF, 0xdead);	/* mem[1], must not be used */
	return m;
}

/* modules -> m[0] -> ... -> m[n-1] -> modules, with prev links. */
static void link_modules(const gva_t *m, size_t n)
{
	gva_t head = modules_head(), prev = head;

	for (size_t i = 0; i < n; i++) {
		w64(prev, m[i] + M_LIST);
		w64(m[i] + M_LIST + 8, prev);
		prev = m[i] + M_LIST;
	}
	w64(prev, head);
	w64(head + 8, prev);
}

static void three_modules(gva_t *m)
{
	m[0] = new_module("virtio_console", LNX_MOD_LIVE, 0xffffffffc0000000ull, 0x7000);
	m[1] = new_module("virtio_pci", LNX_MOD_COMING, 0xffffffffc0010000ull, 0x9000);
	m[2] = new_module("ext4", LNX_MOD_GOING, 0xffffffffc0020000ull, 0xb5000);
	link_modules(m, 3);
}

START_TEST(test_normal_list_gives_every_module_in_order)
{
	gva_t m[3];

	three_modules(m);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 3);
	ck_assert_uint_eq(ml.flags, 0);
	ck_assert_str_eq(ml.v[0].name, "virtio_console");
	ck_assert_str_eq(ml.v[1].name, "virtio_pci");
	ck_assert_str_eq(ml.v[2].name, "ext4");
	ck_assert_uint_eq(ml.v[0].addr, m[0]);
	ck_assert_uint_eq(ml.v[2].addr, m[2]);
	ck_assert_uint_eq(ml.v[1].state, LNX_MOD_COMING);
	ck_assert_uint_eq(ml.v[2].state, LNX_MOD_GOING);
	ck_assert_uint_eq(ml.v[0].base, 0xffffffffc0000000ull);
	ck_assert_uint_eq(ml.v[2].size, 0xb5000);
}
END_TEST

START_TEST(test_64_layout_reads_text_from_mem_array)
{
	gva_t m[3];

	profile_64();
	three_modules(m);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 3);
	ck_assert_uint_eq(ml.flags, 0);
	ck_assert_uint_eq(ml.v[1].base, 0xffffffffc0011000ull);
	ck_assert_uint_eq(ml.v[1].size, 0x9000 / 2);
}
END_TEST

START_TEST(test_empty_list_gives_no_modules_and_no_flags)
{
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 0);
	ck_assert_uint_eq(ml.flags, 0);
}
END_TEST

START_TEST(test_cycle_not_through_head_stops_with_cycle_flag)
{
	gva_t m[3];

	three_modules(m);
	w64(m[2] + M_LIST, m[1] + M_LIST);	/* ext4 -> virtio_pci again */
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 3);
	ck_assert_uint_eq(ml.flags, LNX_WALK_CYCLE);
}
END_TEST

START_TEST(test_node_pointing_to_itself_is_listed_once)
{
	gva_t m[1];

	m[0] = new_module("loop", LNX_MOD_LIVE, 0, 0);
	link_modules(m, 1);
	w64(m[0] + M_LIST, m[0] + M_LIST);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 1);
	ck_assert_uint_eq(ml.flags, LNX_WALK_CYCLE);
}
END_TEST

START_TEST(test_link_into_unmapped_memory_stops_with_fault)
{
	gva_t m[3];

	three_modules(m);
	w64(m[1] + M_LIST, UNMAPPED);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 2);
	ck_assert_uint_eq(ml.flags, LNX_WALK_FAULT);
	ck_assert_str_eq(ml.v[1].name, "virtio_pci");
}
END_TEST

START_TEST(test_node_with_unmapped_fields_is_dropped_with_fault)
{
	gva_t m[1], node = DMAP;	/* the page before DMAP is unmapped */

	m[0] = new_module("first", LNX_MOD_LIVE, 0, 0);
	link_modules(m, 1);
	/* Its list_head is readable, its state field (before it) is not. */
	w64(m[0] + M_LIST, node);
	w64(node, modules_head());
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 1);
	ck_assert_uint_eq(ml.flags, LNX_WALK_FAULT);
	ck_assert_str_eq(ml.v[0].name, "first");
}
END_TEST

START_TEST(test_null_link_stops_with_fault)
{
	gva_t m[2];

	m[0] = new_module("a", LNX_MOD_LIVE, 0, 0);
	m[1] = new_module("b", LNX_MOD_LIVE, 0, 0);
	link_modules(m, 2);
	w64(m[0] + M_LIST, 0);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 1);
	ck_assert_uint_eq(ml.flags, LNX_WALK_FAULT);
}
END_TEST

START_TEST(test_user_or_misaligned_link_stops_as_bad)
{
	gva_t m[2];

	m[0] = new_module("a", LNX_MOD_LIVE, 0, 0);
	m[1] = new_module("b", LNX_MOD_LIVE, 0, 0);
	link_modules(m, 2);
	w64(m[0] + M_LIST, m[1] + M_LIST + 3);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 1);
	ck_assert_uint_eq(ml.flags, LNX_WALK_BAD);
	lnx_module_list_release(&ml);
	w64(m[0] + M_LIST, 0x00007fffdeadb000ull);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 1);
	ck_assert_uint_eq(ml.flags, LNX_WALK_BAD);
}
END_TEST

START_TEST(test_unterminated_name_is_cut_terminated_and_bad)
{
	gva_t m[2];
	char raw[LNX_MODNAME_LEN];

	memset(raw, 'A', sizeof(raw));	/* exactly 64 bytes, no NUL */
	m[0] = new_module("x", LNX_MOD_LIVE, 0, 0);
	ck_assert_int_eq(memhv_write(hv, pa_of(m[0] + M_NAME), raw, sizeof(raw)), 0);
	m[1] = new_module("next", LNX_MOD_LIVE, 0, 0);
	link_modules(m, 2);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 2);
	ck_assert_uint_eq(ml.flags, LNX_WALK_BAD);
	ck_assert_uint_lt(strlen(ml.v[0].name), LNX_MODNAME_LEN);
	ck_assert_uint_eq(strspn(ml.v[0].name, "A"), strlen(ml.v[0].name));
	ck_assert_str_eq(ml.v[1].name, "next");
}
END_TEST

START_TEST(test_absurd_state_is_kept_and_flagged_bad)
{
	gva_t m[1];

	m[0] = new_module("weird", 0xdeadbeef, 0, 0);
	link_modules(m, 1);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 1);
	ck_assert_uint_eq(ml.v[0].state, 0xdeadbeef);
	ck_assert_uint_eq(ml.flags, LNX_WALK_BAD);
}
END_TEST

START_TEST(test_empty_name_is_flagged_bad)
{
	gva_t m[1];

	m[0] = new_module("", LNX_MOD_LIVE, 0, 0);
	link_modules(m, 1);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 1);
	ck_assert_uint_eq(ml.flags, LNX_WALK_BAD);
}
END_TEST

START_TEST(test_more_modules_than_cap_stops_at_cap)
{
	size_t n = LNX_MODULES_MAX + 10;
	gva_t *m = calloc(n, sizeof(*m));

	ck_assert_ptr_nonnull(m);
	for (size_t i = 0; i < n; i++) {
		m[i] = alloc_obj(M_SIZEOF);
		w32(m[i] + M_NAME, 0x00646f6d);	/* "mod" */
	}
	link_modules(m, n);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, LNX_MODULES_MAX);
	ck_assert_uint_eq(ml.flags, LNX_WALK_CAP);
	ck_assert_uint_eq(ml.v[LNX_MODULES_MAX - 1].addr, m[LNX_MODULES_MAX - 1]);
	free(m);
}
END_TEST

START_TEST(test_unreadable_head_is_efault)
{
	prof.known[PSYM_MODULES] = TEXT_LINKED + (4u << 20);	/* unmapped */
	ck_assert_int_eq(lnx_modules(vmi, &ml), -EFAULT);
	ck_assert_uint_eq(ml.n, 0);
	ck_assert_ptr_null(ml.v);
}
END_TEST

START_TEST(test_profile_without_symbol_or_offsets_is_refused)
{
	prof.known[PSYM_MODULES] = 0;
	ck_assert_int_eq(lnx_modules(vmi, &ml), -ENOENT);
	prof.known[PSYM_MODULES] = MODULES_LINKED;
	prof.off[PF_MODULE_LIST] = PROFILE_NOFIELD;
	ck_assert_int_eq(lnx_modules(vmi, &ml), -EOPNOTSUPP);
}
END_TEST

START_TEST(test_profile_without_layout_leaves_base_zero)
{
	gva_t m[3];

	prof.off[PF_MODULE_CORE_BASE] = PROFILE_NOFIELD;
	three_modules(m);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	ck_assert_uint_eq(ml.n, 3);
	ck_assert_uint_eq(ml.v[0].base, 0);
	ck_assert_uint_eq(ml.v[0].size, 0);
}
END_TEST

START_TEST(test_release_twice_is_safe)
{
	gva_t m[3];

	three_modules(m);
	ck_assert_int_eq(lnx_modules(vmi, &ml), 0);
	lnx_module_list_release(&ml);
	lnx_module_list_release(&ml);
	lnx_module_list_release(NULL);
	ck_assert_ptr_null(ml.v);
}
END_TEST

static Suite *lnx_module_suite(void)
{
	Suite *s = suite_create("lnx_module");
	TCase *tc = tcase_create("walk");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_normal_list_gives_every_module_in_order);
	tcase_add_test(tc, test_64_layout_reads_text_from_mem_array);
	tcase_add_test(tc, test_empty_list_gives_no_modules_and_no_flags);
	tcase_add_test(tc, test_cycle_not_through_head_stops_with_cycle_flag);
	tcase_add_test(tc, test_node_pointing_to_itself_is_listed_once);
	tcase_add_test(tc, test_link_into_unmapped_memory_stops_with_fault);
	tcase_add_test(tc, test_node_with_unmapped_fields_is_dropped_with_fault);
	tcase_add_test(tc, test_null_link_stops_with_fault);
	tcase_add_test(tc, test_user_or_misaligned_link_stops_as_bad);
	tcase_add_test(tc, test_unterminated_name_is_cut_terminated_and_bad);
	tcase_add_test(tc, test_absurd_state_is_kept_and_flagged_bad);
	tcase_add_test(tc, test_empty_name_is_flagged_bad);
	tcase_add_test(tc, test_more_modules_than_cap_stops_at_cap);
	tcase_add_test(tc, test_unreadable_head_is_efault);
	tcase_add_test(tc, test_profile_without_symbol_or_offsets_is_refused);
	tcase_add_test(tc, test_profile_without_layout_leaves_base_zero);
	tcase_add_test(tc, test_release_twice_is_safe);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lnx_module_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
