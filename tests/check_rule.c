/*
 * check_rule.c - loading rules: real YAML fixtures (tests/data/rules) for
 * every construct and every kind of error with its exact line:column, the
 * default rule pack, directories, capability refusals, and hostile inputs
 * (deep nesting, huge strings and files, 100k rules, error floods).
 * Conditions, matching and outputs are in check_rule_expr.c.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv.h"
#include "rule.h"

struct want {
	unsigned int line, col;
	const char *msg;	/* substring of the message */
};

static char path_buf[4096];

static const char *data(const char *name)
{
	const char *top = getenv("UPCALLD_SRCDIR");

	snprintf(path_buf, sizeof(path_buf), "%s/tests/data/rules/%s",
		 top ? top : ".", name);
	return path_buf;
}

static const char *top_path(const char *name)
{
	const char *top = getenv("UPCALLD_SRCDIR");

	snprintf(path_buf, sizeof(path_buf), "%s/%s", top ? top : ".", name);
	return path_buf;
}

static struct rule_set *load_ok(const char *path)
{
	struct rule_errors e;
	struct rule_set *s = NULL;
	const char *p[] = { path };

	rule_errors_init(&e);
	int rc = rule_set_load_dir(p, 1, &s, &e);

	if (rc != 0)
		rule_errors_print(&e, stderr);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(e.nerrors, 0);
	ck_assert_ptr_nonnull(s);
	rule_errors_release(&e);
	return s;
}

/* Load a bad fixture: every expected error, exactly, and no set. */
static void expect_errors(const char *name, const struct want *w, size_t n)
{
	struct rule_set *s = (struct rule_set *)&path_buf;	/* sentinel */
	struct rule_errors e;
	const char *p[] = { data(name) };
	char line[1024];

	rule_errors_init(&e);
	ck_assert_int_eq(rule_set_load_dir(p, 1, &s, &e), -EINVAL);
	ck_assert_ptr_eq(s, (struct rule_set *)&path_buf);
	for (size_t i = 0; e.n != n && i < e.n; i++) {
		rule_error_format(&e.v[i], line, sizeof(line));
		fprintf(stderr, "  %s\n", line);
	}
	ck_assert_uint_eq(e.nerrors, n);
	ck_assert_uint_eq(e.n, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(e.v[i].line == w[i].line && e.v[i].col == w[i].col,
			      "%s error %zu at %u:%u, want %u:%u", name, i,
			      e.v[i].line, e.v[i].col, w[i].line, w[i].col);
		ck_assert_msg(strstr(e.v[i].msg, w[i].msg), "%s: '%s' lacks '%s'",
			      name, e.v[i].msg, w[i].msg);
		ck_assert_ptr_nonnull(strstr(e.v[i].file, name));
	}
	rule_errors_release(&e);
}

#define EXPECT(name, ...) do { \
		static const struct want w_[] = { __VA_ARGS__ }; \
		expect_errors(name, w_, sizeof(w_) / sizeof(w_[0])); \
	} while (0)

START_TEST(test_every_construct_fixture_loads)
{
	struct rule_set *s = load_ok(data("good_all.yaml"));
	struct rule_set_stats st;
	const struct rule *r;

	rule_set_stats(s, &st);
	ck_assert_uint_eq(st.rules, 6);
	ck_assert_uint_eq(st.enabled, 5);
	ck_assert_uint_eq(st.lists, 3);
	ck_assert_uint_eq(st.macros, 2);
	ck_assert_uint_eq(st.triggers, 6);

	r = rule_set_find(s, "Precedence and macros");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->trigger->kind, RULE_TRIG_BREAKPOINT);
	ck_assert_str_eq(r->trigger->name, "do_init_module");
	ck_assert_int_eq(r->priority, RULE_PRIO_ERROR);
	ck_assert_uint_eq(r->nguests, 2);
	ck_assert_str_eq(r->guests[1], "db[0-9]");
	ck_assert_uint_eq(r->ntags, 2);
	ck_assert_str_eq(r->tags[0], "a");
	ck_assert_uint_eq(r->rate_limit.count, 10);
	ck_assert_uint_eq(r->rate_limit.period_ms, 60000);
	ck_assert_uint_eq(r->dedup_ms, 300000);
	ck_assert_uint_eq(r->line, 31);
	ck_assert_uint_eq(r->col, 9);

	r = rule_set_find(s, "Finding rule");
	ck_assert(rule_is_finding_rule(r));
	ck_assert_uint_eq(r->crosscheck, RULE_OBJ_MODULES);
	ck_assert_uint_eq(r->upcall, RULE_OBJ_PROCESSES | RULE_OBJ_FILES |
					     RULE_OBJ_MODULES);
	ck_assert_uint_eq(r->trigger->interval_ms, 500);
	ck_assert_int_eq(r->priority, RULE_PRIO_CRITICAL);

	r = rule_set_find(s, "Every operator");
	ck_assert_int_eq(r->priority, RULE_PRIO_WARNING);
	ck_assert(!rule_is_finding_rule(r));
	ck_assert(!rule_set_find(s, "Disabled rule")->enabled);
	ck_assert_ptr_null(rule_set_find(s, "no such rule"));
	rule_set_free(s);
}
END_TEST

START_TEST(test_default_rule_pack_loads_cleanly)
{
	struct rule_set *s = load_ok(top_path("rules"));
	struct rule_set_stats st;
	const struct rule *r;
	char sym[64];

	rule_set_stats(s, &st);
	ck_assert_uint_ge(st.rules, 8);
	ck_assert_uint_eq(st.files, 5);
	r = rule_set_find(s, "Execution from temporary directory");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->trigger->kind, RULE_TRIG_SYSCALL);
	ck_assert_int_eq(rule_trigger_symbol(r->trigger, sym, sizeof(sym)), 0);
	ck_assert_str_eq(sym, "__x64_sys_execve");
	ck_assert_int_eq(rule_trigger_symbol(r->trigger, sym, 8), -ENOSPC);
	ck_assert_ptr_nonnull(rule_set_find(s, "Hidden kernel module"));
	ck_assert_ptr_nonnull(rule_set_find(s, "Hidden open file"));
	ck_assert_ptr_nonnull(rule_set_find(s, "Guest service silent"));
	ck_assert_ptr_nonnull(rule_set_find(s, "Guest service forged reply"));
	ck_assert_ptr_nonnull(rule_set_find(s, "Kernel module outside allowlist"));
	ck_assert_ptr_nonnull(rule_set_find(s, "Hidden or phantom process"));
	rule_set_free(s);
}
END_TEST

START_TEST(test_directory_loads_yaml_in_order_with_append_and_toggle)
{
	struct rule_set *s = load_ok(data("override"));
	const struct rule *noisy = rule_set_find(s, "Noisy rule");
	struct rule_set_stats st;

	rule_set_stats(s, &st);
	ck_assert_uint_eq(st.files, 2);	/* README.txt, .hidden.yaml skipped */
	ck_assert_ptr_nonnull(noisy);
	ck_assert(!noisy->enabled);
	ck_assert_str_eq(rule_set_rule(s, 0)->name, "Module not allowed");
	ck_assert_ptr_nonnull(strstr(rule_set_rule(s, 0)->file, "10-base.yaml"));
	rule_set_free(s);
}
END_TEST

START_TEST(test_unknown_key_is_an_error_at_its_position)
{
	EXPECT("bad_unknown_key.yaml",
	       { 1, 3, "rule 'Typo in a key' has no 'priority'" },
	       { 5, 3, "unknown key 'priorty' in a rule" });
}
END_TEST

START_TEST(test_duplicate_key_points_at_the_second_one)
{
	EXPECT("bad_duplicate_key.yaml",
	       { 6, 3, "duplicate key 'desc' in a rule (first at line 2 column 3)" });
}
END_TEST

START_TEST(test_bad_priority_is_refused)
{
	EXPECT("bad_priority.yaml", { 5, 13, "unknown priority 'loud'" });
}
END_TEST

START_TEST(test_unknown_field_on_a_continuation_line)
{
	EXPECT("bad_unknown_field.yaml", { 5, 5, "unknown field 'proc.nmae'" });
}
END_TEST

START_TEST(test_undefined_macro_is_reported_at_its_use)
{
	EXPECT("bad_undefined_macro.yaml",
	       { 7, 25, "undefined macro 'not_defined'" });
}
END_TEST

START_TEST(test_macro_cycle_is_reported_with_its_path)
{
	EXPECT("bad_macro_cycle.yaml", { 8, 18, "macro cycle: a -> b -> c -> a" });
}
END_TEST

START_TEST(test_type_errors_each_reported)
{
	EXPECT("bad_type.yaml",
	       { 7, 14, "operator 'contains' does not apply to integer field proc.pid" },
	       { 7, 37, "operator '<' does not apply to string field proc.name" },
	       { 7, 67, "proc.uid is an integer field: 'root'" },
	       { 7, 88, "'bash' (item of list 'names' at line 2 column 11)" },
	       { 7, 112, "'hiden' is not a value of xcheck.kind" });
}
END_TEST

START_TEST(test_bad_durations_and_rates)
{
	EXPECT("bad_duration.yaml",
	       { 3, 23, "bad duration '10 seconds'" },
	       { 9, 23, "interval must be at least 10ms" },
	       { 12, 10, "dedup: bad duration '5'" },
	       { 13, 15, "rate_limit: bad rate" });
}
END_TEST

START_TEST(test_bad_triggers)
{
	EXPECT("bad_trigger.yaml",
	       { 3, 12, "unknown trigger 'page_fault'" },
	       { 9, 12, "exactly one of syscall, breakpoint or interval" },
	       { 15, 22, "bad syscall name 'Exec Ve'" },
	       { 21, 13, "unknown key 'kprobe' in a trigger" });
}
END_TEST

START_TEST(test_tab_indentation_is_a_yaml_error)
{
	EXPECT("bad_tab.yaml", { 3, 1, "YAML syntax error: found a tab character" });
}
END_TEST

START_TEST(test_bad_indentation_is_a_yaml_error)
{
	EXPECT("bad_indent.yaml",
	       { 3, 12, "YAML syntax error: mapping values are not allowed" });
}
END_TEST

START_TEST(test_finding_fields_refused_in_event_rules)
{
	EXPECT("bad_scope.yaml",
	       { 2, 14, "rule 'Event rule reading findings' uses xcheck.kind" },
	       { 8, 23, "outputs xcheck.reason, which only findings have" });
}
END_TEST

START_TEST(test_list_errors)
{
	EXPECT("bad_list.yaml",
	       { 5, 11, "list cycle: a -> b -> a" },
	       { 7, 9, "list 'extra' is appended to but not defined" },
	       { 11, 9, "list 'a' is already defined at" },
	       { 17, 34, "'b' is a list, not a macro" },
	       { 21, 9, "list name 'bad.name' must be a word" });
}
END_TEST

START_TEST(test_exception_errors)
{
	EXPECT("bad_exceptions.yaml",
	       { 8, 27, "unknown field 'proc.nope' in exception" },
	       { 11, 14, "exception has 2 fields but 1 comps" },
	       { 15, 11, "exception 'e3' has 2 fields but this tuple has 1 values" },
	       { 16, 7, "duplicate exception name 'e3'" },
	       { 18, 14, "bad comparison '=' in exception" },
	       { 19, 7, "an exception needs a 'name'" });
}
END_TEST

START_TEST(test_output_errors)
{
	EXPECT("bad_output.yaml",
	       { 4, 30, "unknown field '%proc.bogus' in output" },
	       { 4, 46, "'%' in output must be followed by a field name" });
}
END_TEST

START_TEST(test_aliases_are_refused)
{
	EXPECT("bad_alias.yaml",
	       { 4, 10, "YAML aliases (*items) are not supported" },
	       { 4, 10, "items must be a list" });
}
END_TEST

START_TEST(test_file_structure_errors)
{
	EXPECT("bad_structure.yaml", { 1, 1, "a rules file is a list of items" });
	EXPECT("bad_items.yaml",
	       { 1, 3, "each item must be a mapping" },
	       { 2, 3, "exactly one of 'rule', 'macro' or 'list'" },
	       { 4, 3, "each item needs 'rule', 'macro' or 'list'" },
	       { 5, 3, "rule 'Missing keys' has no 'desc'" },
	       { 5, 3, "has no 'trigger'" },
	       { 5, 3, "has no 'output'" },
	       { 5, 3, "has no 'priority'" });
}
END_TEST

START_TEST(test_condition_syntax_errors)
{
	EXPECT("bad_expr.yaml",
	       { 4, 34, "expected a field, a macro name or '(', found the end" },
	       { 10, 27, "expected ')' to close the '(' at line 10 column 14" },
	       { 16, 27, "'in' needs a list in parentheses" },
	       { 22, 26, "unterminated string" },
	       { 28, 25, "operator '=' takes one value, not a list" },
	       { 34, 23, "expected an operator after proc.pid, found '1'" },
	       { 40, 28, "expected 'and', 'or' or the end of the condition, found 'b'" },
	       { 46, 24, "unknown operator '!'" },
	       { 52, 26, "comparing two fields is not supported" });
}
END_TEST

static int load_text(const char *text, struct rule_set **s,
		     struct rule_errors *e)
{
	rule_errors_init(e);
	return rule_set_load_buf("t.yaml", text, strlen(text), s, e);
}

START_TEST(test_missing_path_fails_and_same_file_twice_loads_once)
{
	char *p[3];
	struct rule_set *s = NULL;
	struct rule_errors e;

	p[0] = strdup(data("no_such_dir"));
	p[1] = strdup(data("override"));
	p[2] = strdup(data("override/10-base.yaml"));
	rule_errors_init(&e);
	ck_assert_int_eq(rule_set_load_dir((const char *const *)p, 1, &s, &e),
			 -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(e.v[0].msg, "No such file"));
	rule_errors_release(&e);
	/* the same file twice is loaded once, with a warning */
	rule_errors_init(&e);
	ck_assert_int_eq(rule_set_load_dir((const char *const *)p + 1, 2, &s,
					   &e), 0);
	ck_assert_uint_eq(e.nerrors, 0);
	ck_assert_uint_eq(e.n, 1);
	ck_assert(e.v[0].warning);
	ck_assert_uint_eq(rule_set_nrules(s), 2);
	rule_set_free(s);
	rule_errors_release(&e);
	for (int i = 0; i < 3; i++)
		free(p[i]);
}
END_TEST

START_TEST(test_rule_defined_twice_is_an_error)
{
	static const char text[] =
		"- rule: A\n  desc: x\n  trigger: cr3_write\n  output: x\n"
		"  priority: debug\n"
		"- rule: A\n  desc: y\n  trigger: cr3_write\n  output: y\n"
		"  priority: debug\n";
	struct rule_set *s = NULL;
	struct rule_errors e;

	ck_assert_int_eq(load_text(text, &s, &e), -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_uint_eq(e.n, 1);
	ck_assert_uint_eq(e.v[0].line, 6);
	ck_assert_uint_eq(e.v[0].col, 9);
	ck_assert_str_eq(e.v[0].msg, "rule 'A' is already defined at t.yaml:1:9");
	rule_errors_release(&e);
}
END_TEST

START_TEST(test_empty_and_comment_only_files_give_empty_sets)
{
	struct rule_set *s = NULL;
	struct rule_errors e;

	ck_assert_int_eq(load_text("", &s, &e), 0);
	ck_assert_uint_eq(rule_set_nrules(s), 0);
	rule_set_free(s);
	rule_errors_release(&e);
	ck_assert_int_eq(load_text("# nothing\n\n", &s, &e), 0);
	ck_assert_uint_eq(rule_set_ntriggers(s), 0);
	rule_set_free(s);
	rule_errors_release(&e);
}
END_TEST

START_TEST(test_capability_refusal_names_rule_and_capability)
{
	struct rule_set *s = load_ok(data("good_all.yaml"));
	struct rule_guest *g = NULL;
	struct rule_errors e;
	const struct rule *bp = rule_set_find(s, "Precedence and macros");
	const struct rule *fin = rule_set_find(s, "Finding rule");

	rule_errors_init(&e);
	/* memory only: syscall, breakpoint and cr3 rules are refused */
	ck_assert_uint_eq(rule_set_check_caps(s, NULL, HV_CAP_MEM, &e), 4);
	ck_assert_ptr_nonnull(strstr(e.v[0].msg, "rule 'Every operator' refused"));
	ck_assert_ptr_nonnull(strstr(e.v[0].msg, "breakpoints"));
	ck_assert_ptr_nonnull(strstr(e.v[2].msg, "CR3-write events"));
	ck_assert_uint_eq(e.v[0].line, 18);
	rule_errors_release(&e);
	/* the approximated CR3 events are enough */
	ck_assert_uint_eq(rule_set_check_caps(s, NULL, HV_CAP_MEM |
			  HV_CAP_BREAKPOINT | HV_CAP_CR3_APPROX, NULL), 0);
	/* no memory: the crosscheck rule is refused */
	rule_errors_init(&e);
	ck_assert_uint_eq(rule_set_check_caps(s, "web-1", HV_CAP_BREAKPOINT |
					      HV_CAP_CR3_EVENT, &e), 1);
	ck_assert_ptr_nonnull(strstr(e.v[0].msg, "'Finding rule' refused for "
				     "guest web-1: its crosscheck"));
	rule_errors_release(&e);
	/* guest view: the guests globs and the caps together */
	ck_assert_int_eq(rule_guest_new(s, "db7", HV_CAP_MEM, &g, NULL), 0);
	ck_assert(rule_guest_runs(g, fin));
	ck_assert(!rule_guest_runs(g, bp));	/* no breakpoints */
	ck_assert(rule_guest_uses_trigger(g, fin->trigger));
	ck_assert(!rule_guest_uses_trigger(g, bp->trigger));
	rule_guest_free(g);
	ck_assert_int_eq(rule_guest_new(s, "mail", ~0u, &g, NULL), 0);
	ck_assert(!rule_guest_runs(g, bp));	/* guests: web-*, db[0-9] */
	ck_assert(!rule_guest_runs(g, rule_set_find(s, "Disabled rule")));
	rule_guest_free(g);
	rule_set_free(s);
}
END_TEST

START_TEST(test_failed_load_leaves_previous_set_untouched)
{
	struct rule_set *old = load_ok(data("good_all.yaml")), *s = old;
	struct rule_errors e;

	ck_assert_int_eq(load_text("- rule: x\n  bogus: 1\n", &s, &e), -EINVAL);
	ck_assert_ptr_eq(s, old);
	ck_assert_ptr_nonnull(rule_set_find(old, "Every operator"));
	rule_errors_release(&e);
	rule_set_free(old);
}
END_TEST

static Suite *rule_suite(void)
{
	Suite *s = suite_create("rule");
	TCase *tc = tcase_create("load");

	tcase_add_test(tc, test_every_construct_fixture_loads);
	tcase_add_test(tc, test_default_rule_pack_loads_cleanly);
	tcase_add_test(tc, test_directory_loads_yaml_in_order_with_append_and_toggle);
	tcase_add_test(tc, test_unknown_key_is_an_error_at_its_position);
	tcase_add_test(tc, test_duplicate_key_points_at_the_second_one);
	tcase_add_test(tc, test_bad_priority_is_refused);
	tcase_add_test(tc, test_unknown_field_on_a_continuation_line);
	tcase_add_test(tc, test_undefined_macro_is_reported_at_its_use);
	tcase_add_test(tc, test_macro_cycle_is_reported_with_its_path);
	tcase_add_test(tc, test_type_errors_each_reported);
	tcase_add_test(tc, test_bad_durations_and_rates);
	tcase_add_test(tc, test_bad_triggers);
	tcase_add_test(tc, test_tab_indentation_is_a_yaml_error);
	tcase_add_test(tc, test_bad_indentation_is_a_yaml_error);
	tcase_add_test(tc, test_finding_fields_refused_in_event_rules);
	tcase_add_test(tc, test_list_errors);
	tcase_add_test(tc, test_exception_errors);
	tcase_add_test(tc, test_output_errors);
	tcase_add_test(tc, test_aliases_are_refused);
	tcase_add_test(tc, test_file_structure_errors);
	tcase_add_test(tc, test_condition_syntax_errors);
	tcase_add_test(tc, test_missing_path_fails_and_same_file_twice_loads_once);
	tcase_add_test(tc, test_rule_defined_twice_is_an_error);
	tcase_add_test(tc, test_empty_and_comment_only_files_give_empty_sets);
	tcase_add_test(tc, test_capability_refusal_names_rule_and_capability);
	tcase_add_test(tc, test_failed_load_leaves_previous_set_untouched);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rule_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
