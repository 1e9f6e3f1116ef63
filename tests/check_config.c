/*
 * check_config.c - upcalld.yaml: the full fixture and the shipped file load
 * with the values they say; each kind of mistake is reported at its exact
 * line:column; --check (config_check) loads the rules too; path templates
 * and guest lookup; hostile and missing files.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "hv.h"

struct want {
	unsigned int line, col;
	bool warning;
	const char *msg;
};

static char path_buf[4096];

static const char *data(const char *name)
{
	const char *top = getenv("UPCALLD_SRCDIR");

	snprintf(path_buf, sizeof(path_buf), "%s/tests/data/rules/config/%s",
		 top ? top : ".", name);
	return path_buf;
}

static void expect(const char *name, const struct want *w, size_t n)
{
	struct config *c = (struct config *)&path_buf;	/* sentinel */
	struct rule_errors e;
	char line[1024];

	rule_errors_init(&e);
	ck_assert_int_eq(config_load(data(name), &c, &e), -EINVAL);
	ck_assert_ptr_eq(c, (struct config *)&path_buf);
	for (size_t i = 0; e.n != n && i < e.n; i++) {
		rule_error_format(&e.v[i], line, sizeof(line));
		fprintf(stderr, "  %s\n", line);
	}
	ck_assert_uint_eq(e.n, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(e.v[i].line == w[i].line && e.v[i].col == w[i].col,
			      "%s error %zu at %u:%u, want %u:%u", name, i,
			      e.v[i].line, e.v[i].col, w[i].line, w[i].col);
		ck_assert_int_eq(e.v[i].warning, w[i].warning);
		ck_assert_msg(strstr(e.v[i].msg, w[i].msg), "'%s' lacks '%s'",
			      e.v[i].msg, w[i].msg);
	}
	rule_errors_release(&e);
}

#define EXPECT(name, ...) do { \
		static const struct want w_[] = { __VA_ARGS__ }; \
		expect(name, w_, sizeof(w_) / sizeof(w_[0])); \
	} while (0)

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

START_TEST(test_full_fixture_loads_every_key)
{
	struct config *c = NULL;
	struct rule_errors e;
	const struct config_output *o;

	rule_errors_init(&e);
	ck_assert_int_eq(config_load(data("good.yaml"), &c, &e), 0);
	ck_assert_uint_eq(e.n, 0);
	ck_assert_uint_eq(c->nguests, 2);
	ck_assert_int_eq(c->guests[0].backend, CONFIG_BACKEND_QEMU);
	ck_assert(ends_with(c->guests[0].profiles, "/config/profiles"));
	ck_assert_str_eq(c->guests[0].gdb, "/run/upcalld/%n.gdb");
	ck_assert_uint_eq(c->guests[0].upcall_timeout_ms, 5000);
	ck_assert_uint_eq(c->guests[0].line, 3);
	ck_assert_int_eq(c->guests[1].backend, CONFIG_BACKEND_XEN);
	ck_assert_uint_eq(c->guests[1].upcall_timeout_ms, 2000);
	ck_assert_ptr_null(c->guests[1].ram);
	ck_assert(c->guests[1].debugreg_bps);
	ck_assert(!c->guests[0].debugreg_bps);
	ck_assert_uint_eq(c->nrule_paths, 1);
	ck_assert(ends_with(c->rule_paths[0], "/config/../override"));
	ck_assert_uint_eq(c->noutputs, 5);
	o = &c->outputs[0];
	ck_assert_int_eq(o->kind, CONFIG_OUT_SYSLOG);
	ck_assert_str_eq(o->path, "/dev/log");
	ck_assert_int_eq(o->facility, 19);
	ck_assert_int_eq(o->format, CONFIG_RFC3164);
	ck_assert_int_eq(o->min_priority, RULE_PRIO_WARNING);
	o = &c->outputs[1];
	ck_assert_str_eq(o->host, "::1");
	ck_assert_uint_eq(o->port, 514);
	ck_assert_int_eq(o->facility, 3);
	ck_assert_int_eq(o->min_priority, RULE_PRIO_DEBUG);
	ck_assert(ends_with(c->outputs[2].path, "/config/alerts.json"));
	ck_assert(c->outputs[3].via_syslog);
	ck_assert_int_eq(c->outputs[3].min_priority, RULE_PRIO_CRITICAL);
	o = &c->outputs[4];
	ck_assert_int_eq(o->kind, CONFIG_OUT_TLS);
	ck_assert_uint_eq(o->port, 6514);
	ck_assert(o->verify);
	ck_assert_str_eq(o->key, "/etc/upcalld/c.key");
	ck_assert(ends_with(c->control_socket, "/config/run/upcalld.sock"));
	ck_assert(c->rate.count == 10 && c->rate.period_ms == 1000);
	ck_assert_uint_eq(c->burst, 5);
	ck_assert_uint_eq(c->dedup_ms, 0);
	ck_assert(!c->watchdog);
	config_free(c);
	rule_errors_release(&e);
}
END_TEST

START_TEST(test_shipped_config_loads_without_warnings)
{
	const char *top = getenv("UPCALLD_SRCDIR");
	char path[4096];
	struct config *c = NULL;
	struct rule_errors e;

	snprintf(path, sizeof(path), "%s/etc/upcalld.yaml", top ? top : ".");
	rule_errors_init(&e);
	ck_assert_int_eq(config_load(path, &c, &e), 0);
	ck_assert_uint_eq(e.n, 0);
	ck_assert_uint_eq(c->nguests, 1);
	ck_assert_str_eq(c->guests[0].match, "*");
	ck_assert_str_eq(c->rule_paths[1], "/etc/upcalld/rules.d");
	ck_assert_str_eq(c->control_socket, "/run/upcalld/upcalld.sock");
	ck_assert_uint_eq(c->noutputs, 2);
	ck_assert(c->watchdog);
	ck_assert_uint_eq(c->dedup_ms, 60000);
	config_free(c);
	rule_errors_release(&e);
}
END_TEST

START_TEST(test_unknown_and_duplicate_keys)
{
	EXPECT("bad_keys.yaml",
	       { 5, 5, false, "unknown key 'profile' in a guest entry" },
	       { 7, 1, false, "duplicate key 'rules' in the configuration "
			      "(first at line 6 column 1)" },
	       { 10, 3, false, "unknown key 'email' in outputs" });
}
END_TEST

START_TEST(test_guest_entry_errors)
{
	EXPECT("bad_guests.yaml",
	       { 1, 1, true, "no outputs" },
	       { 3, 14, false, "unknown backend 'kvm'" },
	       { 5, 12, false, "qemu guest 'lab-*' needs 'gdb'" },
	       { 12, 10, false, "'gdb' is only for backend qemu" },
	       { 16, 15, false, "ram: bad template '%x'" },
	       { 17, 10, false, "gdb has no %n but match 'q*' fits several" },
	       { 18, 21, false, "upcall_timeout: bad duration '10'" },
	       { 22, 21, false, "upcall_timeout must be more than 0 and at most 60s" },
	       { 26, 18, false, "unknown breakpoints 'hw' (int3 or debugreg)" },
	       { 32, 18, false, "'breakpoints' is only for backend xen" },
	       { 33, 5, false, "a guest entry needs match, backend and profiles" });
}
END_TEST

START_TEST(test_output_errors)
{
	EXPECT("bad_outputs.yaml",
	       { 1, 9, true, "no guests configured" },
	       { 5, 10, false, "udp must be HOST:PORT" },
	       { 6, 15, false, "unknown facility" },
	       { 7, 13, false, "format must be rfc5424 or rfc3164" },
	       { 8, 19, false, "unknown priority" },
	       { 10, 7, false, "tls: cert and key go together" },
	       { 10, 7, false, "tls: verify needs 'ca'" },
	       { 13, 13, false, "port must be" },
	       { 14, 15, true, "verify: false accepts any server certificate" },
	       { 15, 7, false, "tls needs 'host'" });
}
END_TEST

START_TEST(test_tab_is_a_yaml_error)
{
	EXPECT("bad_tab.yaml", { 3, 1, false, "YAML syntax error" });
}
END_TEST

static char *check_output(const char *path, int *rc)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	*rc = config_check(path, f);
	fclose(f);
	return out;
}

START_TEST(test_check_loads_rules_and_reports_their_errors)
{
	char tmp[] = "/tmp/check_config_XXXXXX";
	char rules[4096], *out;
	const char *top = getenv("UPCALLD_SRCDIR");
	int rc, fd;
	FILE *f;

	out = check_output(data("good.yaml"), &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "OK: 2 guest entries, 5 outputs; 2 rules "
				     "(1 enabled), 0 macros, 1 lists from 2 files"));
	free(out);

	snprintf(rules, sizeof(rules), "%s/tests/data/rules/bad_type.yaml",
		 top ? top : ".");
	if (rules[0] != '/') {
		char cwd[2048];

		ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
		snprintf(rules, sizeof(rules), "%s/tests/data/rules/bad_type.yaml",
			 cwd);
	}
	fd = mkstemp(tmp);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fprintf(f, "guests: [{match: '*', backend: xen, profiles: /p}]\n"
		"rules: [%s]\noutputs: {json: {path: '-'}}\n", rules);
	fclose(f);
	out = check_output(tmp, &rc);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_nonnull(strstr(out, "bad_type.yaml:7:14: error: type error"));
	ck_assert_ptr_nonnull(strstr(out, ": 5 errors\n"));
	free(out);
	unlink(tmp);
}
END_TEST

START_TEST(test_expand_templates)
{
	char buf[64];

	ck_assert_int_eq(config_expand("/run/%n.gdb", "lab-1", buf, sizeof(buf)),
			 14);
	ck_assert_str_eq(buf, "/run/lab-1.gdb");
	ck_assert_int_eq(config_expand("%n/%n-100%%", "a", buf, sizeof(buf)), 8);
	ck_assert_str_eq(buf, "a/a-100%");
	ck_assert_int_eq(config_expand("/x/%n", "../etc", buf, sizeof(buf)),
			 -EINVAL);
	ck_assert_int_eq(config_expand("/x/%n", "..", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(config_expand("/x/%n", "", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(config_expand("/run/%n.gdb", "lab-1", buf, 14), -ENOSPC);
	ck_assert_int_eq(config_expand("/run/%n.gdb", "lab-1", buf, 15), 14);
	ck_assert_int_eq(config_expand("x", "a", buf, 0), -ENOSPC);
}
END_TEST

START_TEST(test_guest_find_first_match_wins_and_backend_caps)
{
	struct config *c = NULL;
	struct rule_errors e;

	rule_errors_init(&e);
	ck_assert_int_eq(config_load(data("good.yaml"), &c, &e), 0);
	ck_assert_int_eq(config_guest_find(c, "lab-7")->backend,
			 CONFIG_BACKEND_QEMU);
	ck_assert_int_eq(config_guest_find(c, "lab")->backend, CONFIG_BACKEND_XEN);
	ck_assert_str_eq(config_backend_name(CONFIG_BACKEND_QEMU), "qemu");
	ck_assert(config_backend_caps(CONFIG_BACKEND_QEMU) & HV_CAP_CR3_APPROX);
	ck_assert(config_backend_caps(CONFIG_BACKEND_XEN) & HV_CAP_CR3_EVENT);
	config_free(c);
	rule_errors_release(&e);
}
END_TEST

START_TEST(test_missing_empty_and_hostile_files)
{
	struct config *c = NULL;
	struct rule_errors e;
	static char deep[4096];
	size_t n = 0;

	rule_errors_init(&e);
	ck_assert_int_eq(config_load(data("no_such.yaml"), &c, &e), -ENOENT);
	ck_assert_ptr_nonnull(strstr(e.v[0].msg, "cannot open"));
	ck_assert_int_eq(config_load_buf("e.yaml", "", 0, NULL, &c, &e), -EINVAL);
	ck_assert_str_eq(e.v[1].msg, "the configuration is empty");
	ck_assert_int_eq(config_load_buf("l.yaml", "- a\n", 4, NULL, &c, &e),
			 -EINVAL);
	ck_assert_str_eq(e.v[2].msg, "the configuration must be a mapping");
	n += (size_t)snprintf(deep, sizeof(deep), "guests: ");
	for (int i = 0; i < 1000; i++)
		deep[n++] = '[';
	ck_assert_int_eq(config_load_buf("d.yaml", deep, n, NULL, &c, &e),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(e.v[3].msg, "nested deeper than 64"));
	ck_assert_uint_eq(e.v[3].col, 9 + 63);
	ck_assert_ptr_null(c);
	rule_errors_release(&e);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_test(tc, test_full_fixture_loads_every_key);
	tcase_add_test(tc, test_shipped_config_loads_without_warnings);
	tcase_add_test(tc, test_unknown_and_duplicate_keys);
	tcase_add_test(tc, test_guest_entry_errors);
	tcase_add_test(tc, test_output_errors);
	tcase_add_test(tc, test_tab_is_a_yaml_error);
	tcase_add_test(tc, test_check_loads_rules_and_reports_their_errors);
	tcase_add_test(tc, test_expand_templates);
	tcase_add_test(tc, test_guest_find_first_match_wins_and_backend_caps);
	tcase_add_test(tc, test_missing_empty_and_hostile_files);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
