/*
 * check_rule_hostile.c - the rule loader on hostile and huge input: deep
 * YAML and condition nesting, long macro chains, over-long strings and
 * files, invalid UTF-8, floods of errors, too many YAML nodes, and a set
 * of 100,000 rules. Everything must fail cleanly with a position, or load.
 */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rule.h"

/* A growable string for building inputs. */
struct sb {
	char *p;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3)))
static void sb_add(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		ck_assert_int_ge(n, 0);
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	b->len += (size_t)n;
}

static void sb_rep(struct sb *b, const char *s, int n)
{
	for (int i = 0; i < n; i++)
		sb_add(b, "%s", s);
}

static int load(struct sb *b, struct rule_set **s, struct rule_errors *e)
{
	rule_errors_init(e);
	*s = NULL;
	return rule_set_load_buf("h.yaml", b->p ? b->p : "", b->len, s, e);
}

static void expect_one(struct sb *b, unsigned int line, unsigned int col,
		       const char *msg)
{
	struct rule_set *s;
	struct rule_errors e;

	ck_assert_int_eq(load(b, &s, &e), -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_uint_ge(e.n, 1);
	ck_assert_msg(strstr(e.v[0].msg, msg), "'%s' lacks '%s'", e.v[0].msg,
		      msg);
	if (line)
		ck_assert_msg(e.v[0].line == line && e.v[0].col == col,
			      "at %u:%u, want %u:%u", e.v[0].line, e.v[0].col,
			      line, col);
	rule_errors_release(&e);
	free(b->p);
	*b = (struct sb){ 0 };
}

static void rule_head(struct sb *b, const char *name)
{
	sb_add(b, "- rule: %s\n  desc: d\n  trigger: cr3_write\n  output: o\n"
	       "  priority: debug\n", name);
}

START_TEST(test_deep_yaml_nesting_is_capped)
{
	struct sb b = { 0 };

	sb_add(&b, "- ");
	sb_rep(&b, "[", 5000);
	sb_rep(&b, "]", 5000);
	sb_add(&b, "\n");
	/* the top sequence is level 1: the 64th '[' (column 66) is too deep */
	expect_one(&b, 1, 66, "YAML nested deeper than 64 levels");
}
END_TEST

START_TEST(test_deep_condition_nesting_is_capped)
{
	struct sb b = { 0 };

	rule_head(&b, "Deep");
	sb_add(&b, "  condition: ");
	sb_rep(&b, "(", 1000);
	sb_add(&b, "proc.pid = 1");
	sb_rep(&b, ")", 1000);
	sb_add(&b, "\n");
	/* line 6, "  condition: " is 13 columns: the 65th '(' is column 78 */
	expect_one(&b, 6, 78, "condition nested deeper than 64 levels");

	rule_head(&b, "Nots");
	sb_add(&b, "  condition: ");
	sb_rep(&b, "not ", 1000);
	sb_add(&b, "proc.pid = 1\n");
	expect_one(&b, 6, 14 + 64 * 4, "condition nested deeper than 64");
}
END_TEST

START_TEST(test_long_macro_chain_is_capped)
{
	struct sb b = { 0 };

	for (int i = 0; i < 400; i++)
		sb_add(&b, "- macro: m%d\n  condition: proc.pid = %d or m%d\n",
		       i, i, i + 1);
	sb_add(&b, "- macro: m400\n  condition: proc.pid = 400\n");
	rule_head(&b, "Chain");
	sb_add(&b, "  condition: m0\n");
	expect_one(&b, 0, 0, "deeper than 256");
}
END_TEST

START_TEST(test_long_flat_condition_loads_and_evaluates)
{
	struct sb b = { 0 };
	struct rule_set *s;
	struct rule_errors e;

	rule_head(&b, "Wide");
	sb_add(&b, "  condition: proc.pid = 0");
	for (int i = 1; i < 3000; i++)
		sb_add(&b, " or proc.pid = %d", i);
	sb_add(&b, "\n");
	ck_assert_int_eq(load(&b, &s, &e), 0);
	ck_assert_ptr_nonnull(s);
	rule_set_free(s);
	rule_errors_release(&e);
	free(b.p);
}
END_TEST

START_TEST(test_over_long_string_is_refused_with_position)
{
	struct sb b = { 0 };

	sb_add(&b, "- list: big\n  items: [");
	sb_rep(&b, "x", (int)RULE_STR_MAX + 10);
	sb_add(&b, "]\n");
	expect_one(&b, 2, 11, "longer than the limit of 65536");
}
END_TEST

START_TEST(test_over_large_file_is_refused)
{
	char path[] = "/tmp/check_rule_big_XXXXXX";
	int fd = mkstemp(path);
	static char junk[1 << 16];
	struct rule_set *s = NULL;
	struct rule_errors e;
	const char *p[] = { path };

	ck_assert_int_ge(fd, 0);
	memset(junk, '#', sizeof(junk));
	for (size_t done = 0; done <= RULE_FILE_MAX; done += sizeof(junk))
		ck_assert_int_eq(write(fd, junk, sizeof(junk)), (int)sizeof(junk));
	close(fd);
	rule_errors_init(&e);
	ck_assert_int_eq(rule_set_load_dir(p, 1, &s, &e), -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(e.v[0].msg, "file larger than"));
	rule_errors_release(&e);
	unlink(path);
}
END_TEST

START_TEST(test_invalid_utf8_and_nul_bytes_are_refused)
{
	struct sb b = { 0 };

	sb_add(&b, "- list: a\n  items: [ok, \xff\xfe]\n");
	expect_one(&b, 2, 15, "invalid text");
	sb_add(&b, "- list: a\n  items: [x]\n");
	b.p[12] = 0;	/* NUL inside "items" */
	expect_one(&b, 0, 0, "invalid text");
}
END_TEST

START_TEST(test_error_flood_is_capped_but_counted)
{
	struct sb b = { 0 };
	struct rule_set *s;
	struct rule_errors e;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	sb_add(&b, "- rule: Flood\n  desc: d\n  trigger: cr3_write\n"
	       "  output: o\n  priority: debug\n");
	for (int i = 0; i < 500; i++)
		sb_add(&b, "  bad%d: 1\n", i);
	ck_assert_int_eq(load(&b, &s, &e), -EINVAL);
	ck_assert_uint_eq(e.n, RULE_ERRORS_MAX);
	ck_assert_uint_eq(e.dropped, 400);
	ck_assert_uint_eq(e.nerrors, 500);
	ck_assert_uint_eq(e.v[99].line, 105);
	f = open_memstream(&out, &outlen);
	ck_assert_ptr_nonnull(f);
	rule_errors_print(&e, f);
	fclose(f);
	ck_assert_uint_gt(outlen, 40);
	ck_assert_str_eq(out + outlen - 34, "... and 400 more errors not shown\n");
	ck_assert_ptr_nonnull(strstr(out, "h.yaml:6:3: error: unknown key 'bad0'"));
	free(out);
	rule_errors_release(&e);
	free(b.p);
}
END_TEST

START_TEST(test_too_many_yaml_nodes_is_refused)
{
	struct sb b = { 0 };

	sb_add(&b, "- list: huge\n  items: [");
	sb_rep(&b, "1,", (int)RULE_YAML_NODES_MAX + 10);
	sb_add(&b, "1]\n");
	expect_one(&b, 0, 0, "YAML nodes in one file");
}
END_TEST

static int count(const struct rule *r, void *arg)
{
	(void)r;
	++*(int *)arg;
	return 0;
}

static int get_pid(void *ctx, enum rule_field f, struct rule_value *v)
{
	if (f != RULE_F_PROC_PID)
		return -ENOENT;
	*v = (struct rule_value){ .type = RULE_T_INT, .i = *(int *)ctx };
	return 0;
}

START_TEST(test_hundred_thousand_rules_load_and_match)
{
	struct sb b = { 0 };
	struct rule_set *s;
	struct rule_errors e;
	struct rule_set_stats st;
	int pid = 77777, hits = 0;
	struct rule_env env = { &pid, get_pid };

	for (int i = 0; i < 100000; i++)
		sb_add(&b, "- rule: r%d\n  desc: d\n  trigger: {interval: %ds}\n"
		       "  condition: proc.pid = %d\n  output: o\n"
		       "  priority: debug\n", i, 1 + i % 10, i);
	ck_assert_int_eq(load(&b, &s, &e), 0);
	rule_set_stats(s, &st);
	ck_assert_uint_eq(st.rules, 100000);
	ck_assert_uint_eq(st.triggers, 10);
	ck_assert_int_eq(rule_match(s, NULL, RULE_TRIG_INTERVAL, &env, count,
				    &hits), 1);
	ck_assert_str_eq(rule_set_find(s, "r99999")->name, "r99999");
	rule_set_free(s);
	rule_errors_release(&e);
	free(b.p);
}
END_TEST

static Suite *rule_hostile_suite(void)
{
	Suite *s = suite_create("rule_hostile");
	TCase *tc = tcase_create("hostile");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_deep_yaml_nesting_is_capped);
	tcase_add_test(tc, test_deep_condition_nesting_is_capped);
	tcase_add_test(tc, test_long_macro_chain_is_capped);
	tcase_add_test(tc, test_long_flat_condition_loads_and_evaluates);
	tcase_add_test(tc, test_over_long_string_is_refused_with_position);
	tcase_add_test(tc, test_over_large_file_is_refused);
	tcase_add_test(tc, test_invalid_utf8_and_nul_bytes_are_refused);
	tcase_add_test(tc, test_error_flood_is_capped_but_counted);
	tcase_add_test(tc, test_too_many_yaml_nodes_is_refused);
	tcase_add_test(tc, test_hundred_thousand_rules_load_and_match);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rule_hostile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
