/*
 * check_profile.c - the binary profile format and the lookups: a round
 * trip keeps everything, lookups by name and address at every edge, and
 * hostile files (every truncation, bad magic and version, absurd counts,
 * offsets out of the pool, unterminated strings, unsorted tables, a byte
 * flipped anywhere) are refused with -EINVAL and a message, never a crash.
 */
#define _GNU_SOURCE	/* memmem */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profile_priv.h"

#define TEXT 0xffffffff81000000ull
#define BANNER "Linux version 6.1.0-test (gcc) #1 SMP\n"

static char dir[64], path[128];
static uint8_t *img;		/* the saved file, read back */
static size_t img_len;

static void setup(void)
{
	strcpy(dir, "/tmp/check_profile.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.prof", dir);
}

static void teardown(void)
{
	char cmd[128];

	free(img);
	img = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct profile *make(void)
{
	static const struct { const char *n; uint64_t a; char t; } syms[] = {
		{ "_text", TEXT, 'T' }, { "start_kernel", TEXT + 0x1000, 'T' },
		{ "dup", TEXT + 0x2000, 't' }, { "dup", TEXT + 0x3000, 'T' },
		{ "alias", TEXT + 0x3000, 't' }, { "linux_banner", TEXT + 0x100000, 'D' },
		{ "init_task", TEXT + 0x200000, 'D' }, { "modules", TEXT + 0x300000, 'd' },
	};
	struct profile_builder b;
	struct profile *p;

	ck_assert_int_eq(profile_builder_init(&b, "test"), 0);
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
		ck_assert_int_eq(profile_builder_add(&b, syms[i].n, strlen(syms[i].n),
						     syms[i].a, syms[i].t), 0);
	b.p->off[PF_TASK_TASKS] = 2192;
	b.p->off[PF_QSTR_NAME] = 8;
	b.p->size[PS_TASK_STRUCT] = 9728;
	ck_assert_int_eq(profile_set_banner(b.p, BANNER, sizeof(BANNER)), 0);
	ck_assert_int_eq(profile_builder_finish(&b, &p, NULL, 0), 0);
	profile_builder_release(&b);
	return p;
}

/* A fresh file each time: rewriting one in place makes ext4 flush it to
 * disk on close (auto_da_alloc), which is slow in loops. */
static void write_file(const char *f, const void *buf, size_t len)
{
	FILE *fp;

	unlink(f);
	fp = fopen(f, "w");

	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(buf, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
}

/* Save a fresh profile and read the file back into img. */
static void saved_image(void)
{
	struct profile *p = make();
	struct stat st;
	FILE *fp;

	ck_assert_int_eq(profile_save(p, path), 0);
	profile_free(p);
	ck_assert_int_eq(stat(path, &st), 0);
	img_len = (size_t)st.st_size;
	img = malloc(img_len);
	fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fread(img, 1, img_len, fp), img_len);
	fclose(fp);
}

static uint64_t hdr64(size_t at) { uint64_t v; memcpy(&v, img + at, 8); return v; }
static uint32_t hdr32(size_t at) { uint32_t v; memcpy(&v, img + at, 4); return v; }
static void set32(size_t at, uint32_t v) { memcpy(img + at, &v, 4); }
static void set64(size_t at, uint64_t v) { memcpy(img + at, &v, 8); }

/* Section offsets from the header (see profile_file.c). */
#define SYMS_OFF ((size_t)hdr64(56))
#define BYADDR_OFF ((size_t)hdr64(64))
#define POOL_OFF ((size_t)hdr64(72))
#define POOL_LEN ((size_t)hdr64(80))

/* Load img (as patched) and expect -EINVAL with `want` in the message. */
static void expect_einval(const char *want)
{
	struct profile *p = (struct profile *)1;
	char err[512] = "";
	int rc;

	write_file(path, img, img_len);
	rc = profile_load(path, &p, err, sizeof(err));
	ck_assert_msg(rc == -EINVAL, "rc %d, message: %s", rc, err);
	ck_assert_ptr_null(p);
	ck_assert_msg(strstr(err, want), "message \"%s\" lacks \"%s\"", err, want);
	ck_assert_msg(strstr(err, path), "message \"%s\" does not name the file", err);
}

START_TEST(test_save_then_load_round_trips_everything)
{
	struct profile *a = make(), *b;
	char err[256];

	ck_assert_int_eq(profile_save(a, path), 0);
	ck_assert_int_eq(profile_load(path, &b, err, sizeof(err)), 0);
	ck_assert_str_eq(b->banner, BANNER);
	ck_assert_uint_eq(b->banner_len, strlen(BANNER));
	ck_assert_mem_eq(b->off, a->off, sizeof(a->off));
	ck_assert_mem_eq(b->size, a->size, sizeof(a->size));
	ck_assert_mem_eq(b->known, a->known, sizeof(a->known));
	ck_assert_uint_eq(b->nsyms, a->nsyms);
	for (uint32_t i = 0; i < a->nsyms; i++) {
		ck_assert_str_eq(b->strings + b->by_name[i].name, a->strings + a->by_name[i].name);
		ck_assert_uint_eq(b->by_name[i].addr, a->by_name[i].addr);
		ck_assert_int_eq(b->by_name[i].type, a->by_name[i].type);
		ck_assert_uint_eq(b->by_addr[i], a->by_addr[i]);
	}
	ck_assert_str_eq(b->source, path);
	ck_assert_int_eq(b->off[PF_MODULE_MEM], PROFILE_NOFIELD);
	ck_assert_uint_eq(b->known[PSYM_INIT_TASK], TEXT + 0x200000);
	ck_assert_uint_eq(b->known[PSYM_INIT_TOP_PGT], 0);
	profile_free(a);
	profile_free(b);
}
END_TEST

START_TEST(test_sym_by_name_exact_missing_and_duplicate)
{
	struct profile *p = make();
	uint64_t a = 0;

	ck_assert_int_eq(profile_sym(p, "start_kernel", &a), 0);
	ck_assert_uint_eq(a, TEXT + 0x1000);
	ck_assert_int_eq(profile_sym(p, "start_kerne", &a), -ENOENT);
	ck_assert_int_eq(profile_sym(p, "start_kernelx", &a), -ENOENT);
	ck_assert_int_eq(profile_sym(p, "", &a), -ENOENT);
	ck_assert_int_eq(profile_sym(p, "zzz", &a), -ENOENT);
	ck_assert_int_eq(profile_sym(p, "A", &a), -ENOENT);
	ck_assert_int_eq(profile_sym(p, NULL, &a), -ENOENT);
	ck_assert_int_eq(profile_sym(p, "dup", &a), 0);
	ck_assert_uint_eq(a, TEXT + 0x3000);	/* the global one */
	profile_free(p);
}
END_TEST

START_TEST(test_sym_at_below_between_exact_and_after)
{
	struct profile *p = make();
	uint64_t off = 1;

	ck_assert_ptr_null(profile_sym_at(p, TEXT - 1, &off));
	ck_assert_ptr_null(profile_sym_at(p, 0, &off));
	ck_assert_str_eq(profile_sym_at(p, TEXT, &off), "_text");
	ck_assert_uint_eq(off, 0);
	ck_assert_str_eq(profile_sym_at(p, TEXT + 0x1234, &off), "start_kernel");
	ck_assert_uint_eq(off, 0x234);
	/* two names at one address: the global one */
	ck_assert_str_eq(profile_sym_at(p, TEXT + 0x3008, &off), "dup");
	ck_assert_uint_eq(off, 8);
	ck_assert_str_eq(profile_sym_at(p, UINT64_MAX, &off), "modules");
	ck_assert_uint_eq(off, UINT64_MAX - (TEXT + 0x300000));
	ck_assert_str_eq(profile_sym_at(p, TEXT + 0x10, NULL), "_text");
	profile_free(p);
}
END_TEST

START_TEST(test_empty_profile_lookups_find_nothing)
{
	struct profile_builder b;
	struct profile *p, *q;
	uint64_t a;

	ck_assert_int_eq(profile_builder_init(&b, "empty"), 0);
	ck_assert_int_eq(profile_builder_finish(&b, &p, NULL, 0), 0);
	ck_assert_int_eq(profile_sym(p, "x", &a), -ENOENT);
	ck_assert_ptr_null(profile_sym_at(p, 1234, &a));
	ck_assert_int_eq(profile_save(p, path), 0);
	ck_assert_int_eq(profile_load(path, &q, NULL, 0), 0);
	ck_assert_uint_eq(q->nsyms, 0);
	ck_assert_uint_eq(q->banner_len, 0);
	ck_assert_ptr_null(profile_sym_at(q, 1234, &a));
	profile_free(p);
	profile_free(q);
}
END_TEST

START_TEST(test_every_truncated_prefix_returns_einval)
{
	saved_image();
	for (size_t n = 0; n < img_len; n++) {
		struct profile *p = (struct profile *)1;
		char err[512] = "";
		int rc;

		write_file(path, img, n);
		rc = profile_load(path, &p, err, sizeof(err));
		ck_assert_msg(rc == -EINVAL, "prefix %zu: rc %d (%s)", n, rc, err);
		ck_assert_ptr_null(p);
		ck_assert_msg(err[0], "prefix %zu: no message", n);
	}
}
END_TEST

START_TEST(test_bad_magic_returns_einval)
{
	saved_image();
	img[0] ^= 0x20;
	expect_einval("bad magic");
}
END_TEST

START_TEST(test_bad_version_returns_einval)
{
	saved_image();
	set32(8, 2);
	expect_einval("version 2");
}
END_TEST

START_TEST(test_huge_counts_return_einval)
{
	saved_image();
	set32(24, UINT32_MAX);		/* nsyms */
	expect_einval("absurd counts");
	free(img);
	saved_image();
	set32(24, hdr32(24) + 1);	/* one symbol more than the file holds */
	expect_einval("section");
	free(img);
	saved_image();
	set32(16, 100000);		/* nfields */
	expect_einval("absurd counts");
}
END_TEST

START_TEST(test_section_offsets_out_of_file_return_einval)
{
	saved_image();
	set64(72, UINT64_MAX - 2);	/* string pool offset: would wrap */
	expect_einval("string pool section");
	free(img);
	saved_image();
	set64(80, UINT64_MAX);		/* string pool length */
	expect_einval("string pool length");
	free(img);
	saved_image();
	set64(40, 8);			/* fields inside the header */
	expect_einval("fields section");
	free(img);
	saved_image();
	set64(88, img_len + 1);		/* total size */
	expect_einval("header says");
}
END_TEST

START_TEST(test_misaligned_symbols_return_einval)
{
	size_t at;

	saved_image();
	/* 4 bytes of padding before the symbols, every offset kept right */
	at = SYMS_OFF;
	img = realloc(img, img_len + 4);
	memmove(img + at + 4, img + at, img_len - at);
	memset(img + at, 0, 4);
	img_len += 4;
	for (size_t h = 56; h <= 72; h += 8)
		set64(h, hdr64(h) + 4);
	set64(88, img_len);
	expect_einval("misaligned");
}
END_TEST

START_TEST(test_string_offset_outside_pool_returns_einval)
{
	saved_image();
	set32(SYMS_OFF + 16 + 8, (uint32_t)POOL_LEN);	/* symbol 1's name */
	expect_einval("outside the string pool");
	free(img);
	saved_image();
	set32(96, UINT32_MAX);				/* field 0's name */
	expect_einval("outside the string pool");
}
END_TEST

START_TEST(test_unterminated_pool_returns_einval)
{
	saved_image();
	img[POOL_OFF + POOL_LEN - 1] = 'x';
	expect_einval("NUL");
}
END_TEST

START_TEST(test_banner_outside_pool_returns_einval)
{
	saved_image();
	set32(28, (uint32_t)POOL_LEN - 2);	/* banner offset near the end */
	expect_einval("banner");
	free(img);
	saved_image();
	set32(32, hdr32(32) - 1);		/* length one short: no NUL there */
	expect_einval("banner");
}
END_TEST

START_TEST(test_unsorted_names_return_einval)
{
	uint8_t rec[16];

	saved_image();
	memcpy(rec, img + SYMS_OFF, 16);
	memcpy(img + SYMS_OFF, img + SYMS_OFF + 16, 16);
	memcpy(img + SYMS_OFF + 16, rec, 16);
	expect_einval("not sorted by name");
}
END_TEST

START_TEST(test_unsorted_or_wild_address_index_returns_einval)
{
	uint32_t first;

	saved_image();
	first = hdr32(BYADDR_OFF);
	set32(BYADDR_OFF, hdr32(BYADDR_OFF + 4));
	set32(BYADDR_OFF + 4, first);
	expect_einval("address index not sorted");
	free(img);
	saved_image();
	set32(BYADDR_OFF + 8, 1000);
	expect_einval("past");
}
END_TEST

START_TEST(test_bad_type_byte_returns_einval)
{
	saved_image();
	img[SYMS_OFF + 12] = 0;
	expect_einval("type");
}
END_TEST

START_TEST(test_absurd_or_duplicate_field_returns_einval)
{
	saved_image();
	set32(96 + 4, 5000000);		/* field 0's offset */
	expect_einval("absurd");
	free(img);
	saved_image();
	set32(96 + 8, hdr32(96));	/* field 1 named like field 0 */
	expect_einval("duplicate");
}
END_TEST

START_TEST(test_unknown_field_name_is_ignored_and_reads_missing)
{
	struct profile *p;
	char *s;

	saved_image();
	/* Rename "task_struct.tasks" in the pool, as a newer build might. */
	s = memmem(img + POOL_OFF, POOL_LEN, "task_struct.tasks", 18);
	ck_assert_ptr_nonnull(s);
	s[12] = 'T';
	write_file(path, img, img_len);
	ck_assert_int_eq(profile_load(path, &p, NULL, 0), 0);
	ck_assert_int_eq(p->off[PF_TASK_TASKS], PROFILE_NOFIELD);
	ck_assert_int_eq(p->off[PF_QSTR_NAME], 8);
	profile_free(p);
}
END_TEST

START_TEST(test_any_flipped_byte_never_crashes)
{
	saved_image();
	for (size_t i = 0; i < img_len; i++) {
		struct profile *p = NULL;
		int rc;

		img[i] ^= 0xa5;
		write_file(path, img, img_len);
		rc = profile_load(path, &p, NULL, 0);
		ck_assert_msg(rc == 0 || rc == -EINVAL, "byte %zu: rc %d", i, rc);
		if (!rc) {	/* accepted: then it is usable */
			uint64_t a;

			profile_sym(p, "init_task", &a);
			profile_sym_at(p, TEXT + 5, &a);
		}
		profile_free(p);
		img[i] ^= 0xa5;
	}
}
END_TEST

START_TEST(test_missing_empty_fifo_and_directory_inputs)
{
	struct profile *p;
	char err[256];

	ck_assert_int_eq(profile_load("/nonexistent/p.prof", &p, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/p.prof"));
	ck_assert_int_eq(profile_load(dir, &p, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	write_file(path, "", 0);
	ck_assert_int_eq(profile_load(path, &p, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
	unlink(path);
	ck_assert_int_eq(mkfifo(path, 0600), 0);	/* no writer: must not block */
	ck_assert_int_eq(profile_load(path, &p, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	write_file(path, "   \n\t", 5);
	ck_assert_int_eq(profile_load(path, &p, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(test_save_to_missing_dir_fails_and_leaves_nothing)
{
	struct profile *p = make();
	char bad[160];

	snprintf(bad, sizeof(bad), "%s/nodir/p.prof", dir);
	ck_assert_int_eq(profile_save(p, bad), -ENOENT);
	profile_free(p);
}
END_TEST

START_TEST(test_save_replaces_atomically_and_leaves_no_temp)
{
	struct profile *p = make(), *q;
	char cmd[160];

	write_file(path, "old", 3);
	ck_assert_int_eq(profile_save(p, path), 0);
	ck_assert_int_eq(profile_load(path, &q, NULL, 0), 0);
	snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) -eq 1", dir);
	ck_assert_int_eq(system(cmd), 0);
	profile_free(p);
	profile_free(q);
}
END_TEST

START_TEST(test_save_refuses_unsorted_profile)
{
	struct profile *p = make();
	struct profile_symbol t = p->by_name[0];

	p->by_name[0] = p->by_name[1];
	p->by_name[1] = t;
	ck_assert_int_eq(profile_save(p, path), -EINVAL);
	ck_assert_int_eq(access(path, F_OK), -1);
	profile_free(p);
}
END_TEST

START_TEST(test_builder_refuses_bad_names)
{
	struct profile_builder b;
	char big[PROFILE_NAME_MAX + 2];

	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(profile_builder_init(&b, "t"), 0);
	ck_assert_int_eq(profile_builder_add(&b, "", 0, 1, 'T'), -EINVAL);
	ck_assert_int_eq(profile_builder_add(&b, big, sizeof(big), 1, 'T'), -EINVAL);
	ck_assert_int_eq(profile_builder_add(&b, "a\0b", 3, 1, 'T'), -EINVAL);
	ck_assert_uint_eq(b.p->nsyms, 0);
	profile_builder_release(&b);
	profile_builder_release(&b);
}
END_TEST

static Suite *profile_suite(void)
{
	Suite *s = suite_create("profile");
	TCase *r = tcase_create("roundtrip"), *h = tcase_create("hostile");

	tcase_add_checked_fixture(r, setup, teardown);
	tcase_add_checked_fixture(h, setup, teardown);
	tcase_add_test(r, test_save_then_load_round_trips_everything);
	tcase_add_test(r, test_sym_by_name_exact_missing_and_duplicate);
	tcase_add_test(r, test_sym_at_below_between_exact_and_after);
	tcase_add_test(r, test_empty_profile_lookups_find_nothing);
	tcase_add_test(r, test_unknown_field_name_is_ignored_and_reads_missing);
	tcase_add_test(r, test_save_replaces_atomically_and_leaves_no_temp);
	tcase_add_test(r, test_save_to_missing_dir_fails_and_leaves_nothing);
	tcase_add_test(r, test_save_refuses_unsorted_profile);
	tcase_add_test(r, test_builder_refuses_bad_names);
	tcase_add_test(h, test_every_truncated_prefix_returns_einval);
	tcase_add_test(h, test_bad_magic_returns_einval);
	tcase_add_test(h, test_bad_version_returns_einval);
	tcase_add_test(h, test_huge_counts_return_einval);
	tcase_add_test(h, test_section_offsets_out_of_file_return_einval);
	tcase_add_test(h, test_misaligned_symbols_return_einval);
	tcase_add_test(h, test_string_offset_outside_pool_returns_einval);
	tcase_add_test(h, test_unterminated_pool_returns_einval);
	tcase_add_test(h, test_banner_outside_pool_returns_einval);
	tcase_add_test(h, test_unsorted_names_return_einval);
	tcase_add_test(h, test_unsorted_or_wild_address_index_returns_einval);
	tcase_add_test(h, test_bad_type_byte_returns_einval);
	tcase_add_test(h, test_absurd_or_duplicate_field_returns_einval);
	tcase_add_test(h, test_any_flipped_byte_never_crashes);
	tcase_add_test(h, test_missing_empty_fifo_and_directory_inputs);
	suite_add_tcase(s, r);
	suite_add_tcase(s, h);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(profile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
