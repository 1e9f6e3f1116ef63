/*
 * check_profile_isf.c - profiles from Volatility 3 ISF JSON: the small
 * hand-written fixture (tests/data/profile_small.isf.json, dwarf2json's
 * shape: anonymous union holding an anonymous struct, a bitfield, a
 * symbol at address 0, the banner as base64 constant_data) gives the
 * expected offsets through every entry point; malformed JSON, wrong types,
 * absurd numbers, cycles and odd base types give clear errors, no crash.
 * Run from the repository root (make check-unit does).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profile_priv.h"

#define FIXTURE "tests/data/profile_small.isf.json"
#define BANNER "Linux version 6.1.0-isf (gcc) #1 SMP PREEMPT_DYNAMIC\n"

static char dir[64], path[128];

static void setup(void)
{
	strcpy(dir, "/tmp/check_profile_isf.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.json", dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_json(const char *text)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The fixture's facts, whatever way it was loaded. */
static void check_fixture(const struct profile *p)
{
	uint64_t a;

	ck_assert_int_eq(p->off[PF_TASK_TASKS], 2192);
	ck_assert_int_eq(p->off[PF_TASK_PID], 2416);
	ck_assert_int_eq(p->off[PF_TASK_TGID], 2420);
	ck_assert_int_eq(p->off[PF_TASK_COMM], 2976);
	ck_assert_int_eq(p->off[PF_TASK_FLAGS], 44);
	ck_assert_int_eq(p->off[PF_TASK_EXIT_STATE], PROFILE_NOFIELD);	/* bitfield */
	ck_assert_int_eq(p->off[PF_TASK_MM], PROFILE_NOFIELD);
	ck_assert_int_eq(p->off[PF_QSTR_LEN], 4);	/* union -> struct */
	ck_assert_int_eq(p->off[PF_QSTR_NAME], 8);
	ck_assert_int_eq(p->off[PF_MODULE_STATE], 0);
	ck_assert_int_eq(p->off[PF_MODULE_CORE_BASE], 320);
	ck_assert_int_eq(p->off[PF_MODULE_CORE_SIZE], 328);
	ck_assert_int_eq(p->off[PF_MODULE_MEM], PROFILE_NOFIELD);
	ck_assert_int_eq(p->off[PF_CRED_UID], PROFILE_NOFIELD);	/* no such type */
	ck_assert_int_eq(p->off[PF_UPID_NR], 0);
	ck_assert_uint_eq(p->size[PS_TASK_STRUCT], 9728);
	ck_assert_uint_eq(p->size[PS_MODULE], 896);
	ck_assert_uint_eq(p->size[PS_HLIST_NODE], 0);
	ck_assert_uint_eq(p->nsyms, 5);		/* not_placed (address 0) left out */
	ck_assert_uint_eq(p->known[PSYM_TEXT], 0xffffffff81000000ull);
	ck_assert_uint_eq(p->known[PSYM_INIT_TASK], 0xffffffff82a56a40ull);
	ck_assert_uint_eq(p->known[PSYM_LINUX_BANNER], 0xffffffff82137fe0ull);
	ck_assert_uint_eq(p->known[PSYM_INIT_TOP_PGT], 0);
	ck_assert_int_eq(profile_sym(p, "not_placed", &a), -ENOENT);
	ck_assert_str_eq(profile_sym_at(p, 0xffffffff83092950ull, &a), "start_kernel");
	ck_assert_uint_eq(a, 0x10);
	ck_assert_str_eq(p->banner, BANNER);
}

START_TEST(test_fixture_gives_expected_offsets_symbols_and_banner)
{
	struct profile *p;
	char err[512] = "";

	ck_assert_msg(profile_from_isf(FIXTURE, &p, err, sizeof(err)) == 0, "%s", err);
	check_fixture(p);
	ck_assert_str_eq(p->source, FIXTURE);
	profile_free(p);
}
END_TEST

START_TEST(test_profile_load_detects_isf_and_binary_round_trips)
{
	struct profile *p, *q;
	char err[512] = "", bin[160];

	ck_assert_msg(profile_load(FIXTURE, &p, err, sizeof(err)) == 0, "%s", err);
	check_fixture(p);
	snprintf(bin, sizeof(bin), "%s/p.prof", dir);
	ck_assert_int_eq(profile_save(p, bin), 0);
	ck_assert_msg(profile_load(bin, &q, err, sizeof(err)) == 0, "%s", err);
	check_fixture(q);
	ck_assert_ptr_nonnull(q->map);
	profile_free(p);
	profile_free(q);
}
END_TEST

/* Expect -EINVAL from text, with `want` in the message. */
static void expect_einval(const char *text, const char *want)
{
	struct profile *p = (struct profile *)1;
	char err[512] = "";
	int rc;

	write_json(text);
	rc = profile_from_isf(path, &p, err, sizeof(err));
	ck_assert_msg(rc == -EINVAL, "rc %d for %s (%s)", rc, text, err);
	ck_assert_ptr_null(p);
	ck_assert_msg(strstr(err, want), "message \"%s\" lacks \"%s\"", err, want);
	ck_assert_msg(strstr(err, path), "message \"%s\" does not name the file", err);
}

START_TEST(test_malformed_json_is_refused)
{
	FILE *f = fopen(FIXTURE, "r");
	char buf[2048];
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n / 2] = '\0';		/* the first half of the fixture */
	expect_einval(buf, "unexpected end");
	expect_einval("{\"symbols\": {}} trailing", "trailing");
	expect_einval("{\"symbols\": {,}}", "bad JSON");
	expect_einval("", "bad JSON");
	expect_einval("[1, 2]", "not an object");
	expect_einval("{}", "not an ISF file");
}
END_TEST

START_TEST(test_deep_nesting_is_refused)
{
	char text[512];
	int n = sprintf(text, "{\"symbols\": ");

	for (int i = 0; i < 100; i++)
		text[n++] = '[';
	text[n] = '\0';
	expect_einval(text, "bad JSON");
}
END_TEST

START_TEST(test_wrong_json_types_are_refused)
{
	expect_einval("{\"user_types\": []}", "user_types is a array");
	expect_einval("{\"symbols\": 7}", "symbols is a int");
	expect_einval("{\"user_types\": {\"task_struct\": {\"fields\": {\"pid\":"
		      " {\"offset\": \"8\", \"type\": {\"kind\": \"base\"}}}}}}",
		      "task_struct.fields.pid.offset is a string");
	expect_einval("{\"user_types\": {\"task_struct\": {\"fields\": {\"pid\":"
		      " {\"type\": {\"kind\": \"base\"}}}}}}", "has no offset");
	expect_einval("{\"user_types\": {\"task_struct\": {\"fields\": {\"pid\": 3}}}}",
		      "not an object");
	expect_einval("{\"user_types\": {\"task_struct\": {\"fields\": []}}}", "fields is a array");
	expect_einval("{\"symbols\": {\"x\": {\"address\": \"0xffff\"}}}", "symbols.x.address");
	expect_einval("{\"symbols\": {\"x\": 5}}", "symbols.x is not an object");
	expect_einval("{\"symbols\": {\"x\": {\"address\": 1.5}}}", "is a double");
}
END_TEST

START_TEST(test_absurd_numbers_are_refused)
{
	expect_einval("{\"user_types\": {\"task_struct\": {\"fields\": {\"pid\":"
		      " {\"offset\": 99999999999, \"type\": {}}}}}}", "out of range");
	expect_einval("{\"user_types\": {\"task_struct\": {\"fields\": {\"pid\":"
		      " {\"offset\": -8, \"type\": {}}}}}}", "out of range");
	expect_einval("{\"user_types\": {\"task_struct\": {\"size\": 4000000000, \"fields\": {}}}}",
		      "out of range");
	expect_einval("{\"symbols\": {\"x\": {\"address\": -4096}}}", "out of range");
}
END_TEST

START_TEST(test_foreign_base_types_and_bad_banner_are_refused)
{
	expect_einval("{\"base_types\": {\"pointer\": {\"size\": 4, \"endian\": \"little\"}},"
		      " \"symbols\": {}}", "not an x86-64");
	expect_einval("{\"base_types\": {\"pointer\": {\"size\": 8, \"endian\": \"big\"}},"
		      " \"symbols\": {}}", "not an x86-64");
	expect_einval("{\"symbols\": {\"linux_banner\": {\"address\": 4096,"
		      " \"constant_data\": \"!!!!\"}}}", "constant_data");
	expect_einval("{\"symbols\": {\"linux_banner\": {\"address\": 4096,"
		      " \"constant_data\": 12}}}", "constant_data is a int");
}
END_TEST

START_TEST(test_overlong_banner_is_refused)
{
	char text[4096];
	int n = sprintf(text, "{\"symbols\": {\"linux_banner\": {\"address\": 4096,"
			" \"constant_data\": \"");

	for (int i = 0; i < 1000; i++)
		text[n++] = 'Q';
	strcpy(text + n, "\"}}}");
	expect_einval(text, "constant_data");
}
END_TEST

START_TEST(test_anonymous_cycles_and_dangling_types_read_missing)
{
	struct profile *p;
	char err[512] = "";

	write_json("{\"user_types\": {"
		   "\"qstr\": {\"size\": 16, \"fields\": {"
		   "  \"unnamed_field_0\": {\"offset\": 0, \"anonymous\": true,"
		   "     \"type\": {\"kind\": \"struct\", \"name\": \"qstr\"}},"
		   "  \"unnamed_field_8\": {\"offset\": 8, \"anonymous\": true,"
		   "     \"type\": {\"kind\": \"union\", \"name\": \"nowhere\"}},"
		   "  \"name\": {\"offset\": 8, \"type\": {\"kind\": \"pointer\"}}}}},"
		   " \"symbols\": {}}");
	ck_assert_msg(profile_from_isf(path, &p, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(p->off[PF_QSTR_LEN], PROFILE_NOFIELD);
	ck_assert_int_eq(p->off[PF_QSTR_NAME], 8);
	ck_assert_uint_eq(p->size[PS_TASK_STRUCT], 0);
	ck_assert_uint_eq(p->nsyms, 0);
	ck_assert_uint_eq(p->banner_len, 0);
	profile_free(p);
}
END_TEST

START_TEST(test_anonymous_fan_out_is_cut_short)
{
	char text[4096];
	struct profile *p;
	int n;

	n = sprintf(text, "{\"user_types\": {\"fan\": {\"fields\": {");
	for (int i = 0; i < 10; i++)
		n += sprintf(text + n, "%s\"unnamed_field_%d\": {\"offset\": 0, \"anonymous\": true,"
			     " \"type\": {\"kind\": \"struct\", \"name\": \"fan\"}}", i ? "," : "", i);
	sprintf(text + n, "}}, \"pid\": {\"fields\": {\"unnamed_field_0\": {\"offset\": 0,"
		" \"anonymous\": true, \"type\": {\"kind\": \"struct\", \"name\": \"fan\"}},"
		" \"tasks\": {\"offset\": 16, \"type\": {}}}}}}");
	write_json(text);
	ck_assert_int_eq(profile_from_isf(path, &p, NULL, 0), 0);
	ck_assert_int_eq(p->off[PF_PID_NUMBERS], PROFILE_NOFIELD);
	ck_assert_int_eq(p->off[PF_PID_TASKS], 16);
	profile_free(p);
}
END_TEST

START_TEST(test_missing_file_is_enoent)
{
	struct profile *p;
	char err[256] = "";

	ck_assert_int_eq(profile_from_isf("/nonexistent.json", &p, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent.json"));
}
END_TEST

static Suite *profile_isf_suite(void)
{
	Suite *s = suite_create("profile_isf");
	TCase *g = tcase_create("good"), *h = tcase_create("hostile");

	tcase_add_checked_fixture(g, setup, teardown);
	tcase_add_checked_fixture(h, setup, teardown);
	tcase_add_test(g, test_fixture_gives_expected_offsets_symbols_and_banner);
	tcase_add_test(g, test_profile_load_detects_isf_and_binary_round_trips);
	tcase_add_test(g, test_anonymous_cycles_and_dangling_types_read_missing);
	tcase_add_test(h, test_anonymous_fan_out_is_cut_short);
	tcase_add_test(h, test_malformed_json_is_refused);
	tcase_add_test(h, test_deep_nesting_is_refused);
	tcase_add_test(h, test_wrong_json_types_are_refused);
	tcase_add_test(h, test_absurd_numbers_are_refused);
	tcase_add_test(h, test_foreign_base_types_and_bad_banner_are_refused);
	tcase_add_test(h, test_overlong_banner_is_refused);
	tcase_add_test(h, test_missing_file_is_enoent);
	suite_add_tcase(s, g);
	suite_add_tcase(s, h);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(profile_isf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
