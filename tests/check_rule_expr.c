/*
 * check_rule_expr.c - what loaded rules do: every operator on present and
 * absent fields, precedence, macros and lists, exceptions, matching by
 * trigger and guest, finding rules, output templates, and the small
 * parsers (globs, durations, rates, priorities).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule.h"

struct fenv {
	bool has[RULE_F__COUNT];
	struct rule_value v[RULE_F__COUNT];
	unsigned int gets;
};

static int fget(void *ctx, enum rule_field f, struct rule_value *out)
{
	struct fenv *e = ctx;

	e->gets++;
	if ((unsigned)f >= RULE_F__COUNT || !e->has[f])
		return -ENOENT;
	*out = e->v[f];
	return 0;
}

static void set_str(struct fenv *e, enum rule_field f, const char *s)
{
	e->has[f] = true;
	e->v[f] = (struct rule_value){ .type = RULE_T_STR, .s = s,
				       .len = strlen(s) };
}

static void set_int(struct fenv *e, enum rule_field f, int64_t i)
{
	e->has[f] = true;
	e->v[f] = (struct rule_value){ .type = RULE_T_INT, .i = i };
}

static struct rule_set *compile(const char *cond, const char *extra)
{
	size_t len = (extra ? strlen(extra) : 0) + strlen(cond) + 512;
	char *text = malloc(len);
	struct rule_errors e;
	struct rule_set *s = NULL;

	ck_assert_ptr_nonnull(text);
	snprintf(text, len,
		 "- list: shells\n  items: [bash, sh, \"z sh\"]\n"
		 "- list: nums\n  items: [7, -3, 0x10]\n"
		 "- macro: m_root\n  condition: proc.uid = 0\n"
		 "%s"
		 "- rule: R\n  desc: d\n  trigger: {syscall: execve}\n"
		 "  condition: '%s'\n  output: o\n  priority: debug\n",
		 extra ? extra : "", cond);
	rule_errors_init(&e);
	if (rule_set_load_buf("expr.yaml", text, strlen(text), &s, &e) != 0)
		rule_errors_print(&e, stderr);
	free(text);
	ck_assert_ptr_nonnull(s);
	rule_errors_release(&e);
	return s;
}

static bool eval_on(const char *cond, struct fenv *fe)
{
	struct rule_set *s = compile(cond, NULL);
	struct rule_env env = { fe, fget };
	bool r = rule_eval(rule_set_rule(s, 0), &env);

	rule_set_free(s);
	return r;
}

static struct fenv sample(void)
{
	struct fenv e = { 0 };

	set_str(&e, RULE_F_PROC_NAME, "bash");
	set_str(&e, RULE_F_PROC_EXE, "/usr/bin/bash");
	set_int(&e, RULE_F_PROC_PID, 42);
	set_int(&e, RULE_F_PROC_UID, 0);
	set_str(&e, RULE_F_GUEST_NAME, "web-1");
	return e;
}

START_TEST(test_every_operator_true_and_false)
{
	static const struct {
		const char *cond;
		bool want;
	} cases[] = {
		{ "proc.name = bash", true }, { "proc.name == sh", false },
		{ "proc.name != sh", true }, { "proc.name != bash", false },
		{ "proc.pid < 43", true }, { "proc.pid < 42", false },
		{ "proc.pid <= 42", true }, { "proc.pid <= 41", false },
		{ "proc.pid > 41", true }, { "proc.pid > 42", false },
		{ "proc.pid >= 42", true }, { "proc.pid >= 43", false },
		{ "proc.pid = 0x2a", true }, { "proc.pid > -1", true },
		{ "proc.name in (sh, bash)", true }, { "proc.name in (sh)", false },
		{ "proc.name in (shells)", true }, { "proc.name in (shells2)", false },
		{ "proc.pid in (1, 42, 9)", true }, { "proc.pid in (nums)", false },
		{ "proc.exe contains bin/", true }, { "proc.exe contains sbin", false },
		{ "proc.exe icontains BIN/BA", true }, { "proc.exe icontains zz", false },
		{ "proc.exe startswith /usr/", true }, { "proc.exe startswith /bin", false },
		{ "proc.exe endswith /bash", true }, { "proc.exe endswith /sh", false },
		{ "proc.exe glob /usr/*/ba?h", true }, { "proc.exe glob /usr/*/[!b]*", false },
		{ "proc.exe startswith (/opt/, /usr/)", true },
		{ "proc.exe endswith (x, y)", false },
		{ "proc.name exists", true }, { "file.path exists", false },
		{ "proc.name = \"bash\"", true }, { "proc.name in (\"z sh\")", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fenv e = sample();

		ck_assert_msg(eval_on(cases[i].cond, &e) == cases[i].want,
			      "'%s' should be %d", cases[i].cond, cases[i].want);
	}
}
END_TEST

START_TEST(test_absent_field_compares_false_and_not_inverts)
{
	struct fenv e = sample();

	ck_assert(!eval_on("file.path = /x", &e));
	ck_assert(!eval_on("file.path != /x", &e));
	ck_assert(eval_on("not file.path = /x", &e));
	ck_assert(!eval_on("file.fd < 3", &e));
	/* a value of the wrong type counts as absent */
	set_str(&e, RULE_F_PROC_PID, "42");
	ck_assert(!eval_on("proc.pid = 42", &e));
	ck_assert(!eval_on("proc.pid exists", &e));
}
END_TEST

START_TEST(test_precedence_not_then_and_then_or)
{
	struct fenv e = sample();

	/* or is loosest: true or (false and false) */
	ck_assert(eval_on("proc.pid = 42 or proc.pid = 1 and proc.pid = 2", &e));
	/* (true or false) and false */
	ck_assert(!eval_on("(proc.pid = 42 or proc.pid = 1) and proc.pid = 2", &e));
	/* not binds tighter than and: (not false) and true */
	ck_assert(eval_on("not proc.pid = 1 and proc.name = bash", &e));
	ck_assert(!eval_on("not (proc.pid = 1 or proc.name = bash)", &e));
	ck_assert(eval_on("not not proc.name = bash", &e));
	ck_assert(eval_on("((((proc.name = bash))))", &e));
	ck_assert(eval_on("m_root and proc.name in (shells)", &e));
	set_int(&e, RULE_F_PROC_UID, 1000);
	ck_assert(!eval_on("m_root", &e));
	ck_assert(eval_on("not m_root", &e));
}
END_TEST

START_TEST(test_and_or_short_circuit)
{
	struct fenv e = sample();

	e.gets = 0;
	ck_assert(!eval_on("proc.pid = 1 and proc.name = bash and proc.uid = 0", &e));
	ck_assert_uint_eq(e.gets, 1);
	e.gets = 0;
	ck_assert(eval_on("proc.pid = 42 or proc.name = x or proc.uid = 9", &e));
	ck_assert_uint_eq(e.gets, 1);
}
END_TEST

START_TEST(test_large_in_list_uses_every_item)
{
	char extra[200000], cond[64];
	size_t used = 0;
	struct rule_set *s;

	used += (size_t)snprintf(extra + used, sizeof(extra) - used,
				 "- list: big\n  items:\n");
	for (int i = 0; i < 5000; i++)
		used += (size_t)snprintf(extra + used, sizeof(extra) - used,
					 "    - mod%d\n", i * 7);
	snprintf(cond, sizeof(cond), "module.name in (big)");
	s = compile(cond, extra);
	for (int i = 0; i < 5000 * 7; i++) {
		struct fenv e = { 0 };
		struct rule_env env = { &e, fget };
		char name[32];

		snprintf(name, sizeof(name), "mod%d", i);
		set_str(&e, RULE_F_MODULE_NAME, name);
		ck_assert(rule_eval(rule_set_rule(s, 0), &env) == (i % 7 == 0));
	}
	rule_set_free(s);
}
END_TEST

struct hits {
	const char *names[16];
	int n, stop_at;
};

static int on_match(const struct rule *r, void *arg)
{
	struct hits *h = arg;

	if (h->n < 16)
		h->names[h->n] = r->name;
	if (++h->n == h->stop_at)
		return -ECANCELED;
	return 0;
}

static struct rule_set *load_good(void)
{
	const char *top = getenv("UPCALLD_SRCDIR");
	char path[4096];
	const char *p[] = { path };
	struct rule_errors e;
	struct rule_set *s = NULL;

	snprintf(path, sizeof(path), "%s/tests/data/rules/good_all.yaml",
		 top ? top : ".");
	rule_errors_init(&e);
	ck_assert_int_eq(rule_set_load_dir(p, 1, &s, &e), 0);
	rule_errors_release(&e);
	return s;
}

START_TEST(test_match_by_trigger_guest_and_exceptions)
{
	struct rule_set *s = load_good();
	struct fenv e = { 0 };
	struct rule_env env = { &e, fget };
	struct hits h = { .stop_at = -1 };
	const struct rule *exc = rule_set_find(s, "Exceptions");

	/* the precedence rule: breakpoint do_init_module, guests web-*, db[0-9] */
	set_str(&e, RULE_F_EVENT_SYMBOL, "do_init_module");
	set_str(&e, RULE_F_PROC_NAME, "insmod");
	set_int(&e, RULE_F_PROC_PID, 1);
	set_int(&e, RULE_F_PROC_UID, 0);
	set_str(&e, RULE_F_GUEST_NAME, "db3");
	ck_assert_int_eq(rule_match(s, NULL, RULE_TRIG_BREAKPOINT, &env,
				    on_match, &h), 1);
	ck_assert_str_eq(h.names[0], "Precedence and macros");
	set_str(&e, RULE_F_GUEST_NAME, "db33");
	ck_assert_int_eq(rule_match(s, NULL, RULE_TRIG_BREAKPOINT, &env,
				    on_match, &h), 0);
	set_str(&e, RULE_F_EVENT_SYMBOL, "other_symbol");
	set_str(&e, RULE_F_GUEST_NAME, "web-1");
	ck_assert_int_eq(rule_match(s, NULL, RULE_TRIG_BREAKPOINT, &env,
				    on_match, &h), 0);
	/* exceptions: uid 0 alerts unless a known daemon or an interpreter */
	set_str(&e, RULE_F_PROC_NAME, "sshd");
	set_str(&e, RULE_F_PROC_EXE, "/usr/sbin/sshd");
	ck_assert(!rule_eval(exc, &env));
	set_str(&e, RULE_F_PROC_EXE, "/tmp/sshd");
	ck_assert(rule_eval(exc, &env));
	set_str(&e, RULE_F_PROC_NAME, "perl");	/* interpreters via shells */
	ck_assert(!rule_eval(exc, &env));
	set_str(&e, RULE_F_PROC_NAME, "zsh");
	ck_assert(!rule_eval(exc, &env));
	set_str(&e, RULE_F_PROC_NAME, "nc");
	ck_assert_int_eq(rule_match(s, NULL, RULE_TRIG_CR3_WRITE, &env,
				    on_match, &h), 1);
	rule_set_free(s);
}
END_TEST

START_TEST(test_match_fetches_each_field_once_per_event)
{
	static const char text[] =
		"- rule: A\n  desc: d\n  trigger: {syscall: execve}\n"
		"  condition: proc.name = x or proc.pid = 1\n  output: o\n"
		"  priority: debug\n"
		"- rule: B\n  desc: d\n  trigger: {syscall: execve}\n"
		"  condition: proc.name = y or proc.pid = 2 or file.fd = 3\n"
		"  output: o\n  priority: debug\n";
	struct rule_errors e;
	struct rule_set *s = NULL;
	struct fenv fe = sample();
	struct rule_env env = { &fe, fget };
	struct hits h = { .stop_at = -1 };

	rule_errors_init(&e);
	ck_assert_int_eq(rule_set_load_buf("c.yaml", text, sizeof(text) - 1,
					   &s, &e), 0);
	set_str(&fe, RULE_F_EVENT_SYSCALL, "execve");
	fe.gets = 0;
	ck_assert_int_eq(rule_match(s, NULL, RULE_TRIG_SYSCALL, &env, on_match,
				    &h), 0);
	/* event.syscall, proc.name, proc.pid, file.fd (absent): once each */
	ck_assert_uint_eq(fe.gets, 4);
	rule_set_free(s);
	rule_errors_release(&e);
}
END_TEST

START_TEST(test_finding_rules_match_on_trigger_then_eval_per_finding)
{
	struct rule_set *s = load_good();
	const struct rule *fin = rule_set_find(s, "Finding rule");
	struct fenv e = { 0 };
	struct rule_env env = { &e, fget };
	struct hits h = { .stop_at = -1 };

	ck_assert_int_eq(rule_match_trigger(s, NULL, fin->trigger, &env,
					    on_match, &h), 1);
	set_str(&e, RULE_F_XCHECK_KIND, "hidden");
	set_str(&e, RULE_F_XCHECK_OBJECT, "module");
	ck_assert(rule_eval(fin, &env));
	set_str(&e, RULE_F_XCHECK_KIND, "mismatch");
	ck_assert(!rule_eval(fin, &env));
	/* a negative callback return stops matching and is passed on */
	h.stop_at = 1;
	h.n = 0;
	ck_assert_int_eq(rule_match(s, NULL, RULE_TRIG_INTERVAL, &env,
				    on_match, &h), -ECANCELED);
	rule_set_free(s);
}
END_TEST

START_TEST(test_output_substitutes_escapes_and_truncates)
{
	struct rule_set *s = load_good();
	const struct rule *r = rule_set_find(s, "Every operator");
	const struct rule *pct = rule_set_find(s, "Precedence and macros");
	struct fenv e = { 0 };
	struct rule_env env = { &e, fget };
	char buf[64], tiny[6];

	ck_assert_uint_eq(rule_format_output(r, &env, buf, sizeof(buf)), 9);
	ck_assert_str_eq(buf, "<NA> <NA>");
	set_str(&e, RULE_F_PROC_NAME, "ev\nil\x7f");
	set_int(&e, RULE_F_PROC_PID, -5);
	ck_assert_uint_eq(rule_format_output(r, &env, buf, sizeof(buf)), 15);
	ck_assert_str_eq(buf, "ev\\x0ail\\x7f -5");
	ck_assert_uint_eq(rule_format_output(r, &env, tiny, sizeof(tiny)), 15);
	ck_assert_str_eq(tiny, "ev\\x0");
	set_str(&e, RULE_F_MODULE_NAME, "rk");
	rule_format_output(pct, &env, buf, sizeof(buf));
	ck_assert_str_eq(buf, "module rk (100% sure)");
	rule_set_free(s);
}
END_TEST

START_TEST(test_glob_patterns)
{
	ck_assert(rule_glob("*", "", 0));
	ck_assert(rule_glob("a*b*c", "axxbyyc", 7));
	ck_assert(!rule_glob("a*b*c", "axxbyy", 6));
	ck_assert(rule_glob("web-?", "web-1", 5));
	ck_assert(!rule_glob("web-?", "web-12", 6));
	ck_assert(rule_glob("db[0-9]", "db7", 3));
	ck_assert(!rule_glob("db[!0-9]", "db7", 3));
	ck_assert(rule_glob("x\\*", "x*", 2));
	ck_assert(!rule_glob("x\\*", "xy", 2));
	ck_assert(rule_glob("[", "[", 1));	/* unclosed class: literal */
	ck_assert(rule_glob("/tmp/*", "/tmp/a/b", 8));
	/* only len bytes count, not a NUL */
	ck_assert(rule_glob("ab", "abc", 2));
}
END_TEST

START_TEST(test_glob_is_linear_on_hostile_input)
{
	static char s[100001];

	memset(s, 'a', sizeof(s) - 1);
	/* exponential for naive backtracking; bounded here */
	ck_assert(!rule_glob("*a*a*a*a*a*a*a*a*a*b", s, sizeof(s) - 1));
}
END_TEST

START_TEST(test_durations_rates_priorities)
{
	struct rule_rate r;
	uint64_t ms;

	ck_assert_int_eq(rule_parse_duration("500ms", 5, &ms), 0);
	ck_assert_uint_eq(ms, 500);
	ck_assert_int_eq(rule_parse_duration("5m", 2, &ms), 0);
	ck_assert_uint_eq(ms, 300000);
	ck_assert_int_eq(rule_parse_duration("2d", 2, &ms), 0);
	ck_assert_uint_eq(ms, 172800000);
	ck_assert_int_eq(rule_parse_duration("10", 2, &ms), -EINVAL);
	ck_assert_int_eq(rule_parse_duration("s", 1, &ms), -EINVAL);
	ck_assert_int_eq(rule_parse_duration("1.5s", 4, &ms), -EINVAL);
	ck_assert_int_eq(rule_parse_duration("366d", 4, &ms), -EINVAL);
	ck_assert_int_eq(rule_parse_duration("99999999999999999999s", 21, &ms),
			 -EINVAL);
	ck_assert_int_eq(rule_parse_rate("10/min", 6, &r), 0);
	ck_assert(r.count == 10 && r.period_ms == 60000);
	ck_assert_int_eq(rule_parse_rate("3/10s", 5, &r), 0);
	ck_assert(r.count == 3 && r.period_ms == 10000);
	ck_assert_int_eq(rule_parse_rate("0/s", 3, &r), -EINVAL);
	ck_assert_int_eq(rule_parse_rate("/s", 2, &r), -EINVAL);
	ck_assert_int_eq(rule_parse_rate("5/fortnight", 11, &r), -EINVAL);
	ck_assert_int_eq(rule_priority_parse("Critical", 8), RULE_PRIO_CRITICAL);
	ck_assert_int_eq(rule_priority_parse("INFO", 4), RULE_PRIO_INFO);
	ck_assert_int_eq(rule_priority_parse("err", 3), RULE_PRIO_ERROR);
	ck_assert_int_eq(rule_priority_parse("errors", 6), -EINVAL);
	ck_assert_str_eq(rule_priority_name(RULE_PRIO_NOTICE), "notice");
	ck_assert_int_eq(rule_field_lookup("xcheck.kind", 11), RULE_F_XCHECK_KIND);
	ck_assert_int_eq(rule_field_lookup("xcheck.kin", 10), -ENOENT);
	ck_assert_str_eq(rule_field_info(RULE_F_PROC_PID)->name, "proc.pid");
	ck_assert_ptr_null(rule_field_info(RULE_F__COUNT));
}
END_TEST

static Suite *rule_expr_suite(void)
{
	Suite *s = suite_create("rule_expr");
	TCase *tc = tcase_create("eval");

	tcase_add_test(tc, test_every_operator_true_and_false);
	tcase_add_test(tc, test_absent_field_compares_false_and_not_inverts);
	tcase_add_test(tc, test_precedence_not_then_and_then_or);
	tcase_add_test(tc, test_and_or_short_circuit);
	tcase_add_test(tc, test_large_in_list_uses_every_item);
	tcase_add_test(tc, test_match_by_trigger_guest_and_exceptions);
	tcase_add_test(tc, test_match_fetches_each_field_once_per_event);
	tcase_add_test(tc, test_finding_rules_match_on_trigger_then_eval_per_finding);
	tcase_add_test(tc, test_output_substitutes_escapes_and_truncates);
	tcase_add_test(tc, test_glob_patterns);
	tcase_add_test(tc, test_glob_is_linear_on_hostile_input);
	tcase_add_test(tc, test_durations_rates_priorities);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rule_expr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
