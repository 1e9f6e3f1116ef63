/*
 * check_alert.c - the alert record (bounded, valid UTF-8), the hub (rate
 * limit, dedup, summaries, drop reports; time injected, no sleeping) and
 * CEF escaping of hostile strings. JSON lines and the file sink are in
 * check_alert_json.c, syslog in check_alert_syslog.c, TLS in
 * check_alert_tls.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert.h"

#define SEC 1000000ull
#define T0 (1000 * SEC)

static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = alert_utf8_len(p, 4);

		if (!n)
			return false;
		p += n;
	}
	return true;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);

	return a >= b && !strcmp(s + a - b, tail);
}

/* A real sink that keeps what it is given, for the hub tests. */
struct cap_sink {
	struct alert_sink base;
	size_t n, summaries;
	uint64_t dups, held;		/* sums of the reported counts */
	struct alert last;
};

static int cap_emit(struct alert_sink *s, const struct alert *a, uint64_t now)
{
	struct cap_sink *c = (struct cap_sink *)s;

	c->n++;
	c->summaries += a->summary;
	c->dups += a->dups;
	c->held += a->held;
	c->last = *a;
	s->st.sent++;
	return 0;
}

static void cap_free(struct alert_sink *s)
{
	free(s);
}

static const struct alert_sink_ops cap_ops = {
	.kind = "capture", .emit = cap_emit, .free = cap_free,
};

static struct cap_sink *cap_new(void)
{
	struct cap_sink *c = calloc(1, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	alert_sink_base_init(&c->base, &cap_ops, NULL);
	return c;
}

struct logcap {
	int n;
	char last[1024];
};

static void log_cap(void *ctx, int prio, const char *msg)
{
	struct logcap *l = ctx;

	l->n++;
	snprintf(l->last, sizeof(l->last), "%s", msg);
}

static struct alert_hub *hub_with(struct cap_sink **cap, struct logcap *lc,
				  uint32_t burst, uint32_t per_min)
{
	struct alert_hub_conf hc = { .rate_burst = burst, .rate_per_min = per_min,
				     .dedup_window_us = 10 * SEC,
				     .summary_us = 60 * SEC, .log = log_cap,
				     .log_ctx = lc };
	struct alert_hub *h;

	ck_assert_int_eq(alert_hub_new(&hc, &h), 0);
	*cap = cap_new();
	ck_assert_int_eq(alert_hub_add(h, &(*cap)->base, T0), 0);
	return h;
}

static void mk(struct alert *a, const char *rule, int pid)
{
	alert_init(a, 1714564800123456ull, 2);
	alert_set_str(a, rule, rule);
	alert_set_str(a, guest, "web01");
	alert_set_str(a, output, "hidden process");
	alert_set_str(a, xkind, "hidden");
	a->pid = pid;
	a->has |= ALERT_HAS_PID;
}

START_TEST(test_copy_of_1mib_string_is_cut_with_marker_and_valid_utf8)
{
	size_t big = 1u << 20;
	char *s = malloc(big + 1);
	struct alert a;

	for (size_t i = 0; i < big; i++)	/* two-byte chars, cut mid-way */
		s[i] = i % 2 ? (char)0xa9 : (char)0xc3;
	s[big] = '\0';
	alert_init(&a, 0, 3);
	ck_assert(alert_set_str(&a, output, s));
	ck_assert_uint_lt(strlen(a.output), sizeof(a.output));
	ck_assert(ends_with(a.output, ALERT_TRUNC_MARK));
	ck_assert(valid_utf8(a.output));
	free(s);
}
END_TEST

START_TEST(test_invalid_utf8_becomes_replacement_characters)
{
	struct alert a;

	alert_init(&a, 0, 9);
	ck_assert_int_eq(a.priority, 7);
	/* stray continuation, overlong NUL, surrogate, past U+10FFFF */
	ck_assert(alert_set_str(&a, comm, "a\x80" "b\xc0\x80" "c\xed\xa0\x80"
				"d\xf4\x90\x80\x80"));
	ck_assert(valid_utf8(a.comm));
	ck_assert_ptr_nonnull(strstr(a.comm, "a\xef\xbf\xbd" "b"));
	ck_assert(!alert_set_str(&a, guest, "gu\xc3\xa9st"));
	ck_assert_str_eq(a.guest, "gu\xc3\xa9st");
	ck_assert(!alert_set_str(&a, path, NULL));
	ck_assert_str_eq(a.path, "");
	for (int i = 0; i < ALERT_TAGS_MAX; i++)
		ck_assert_int_eq(alert_add_tag(&a, "t"), 0);
	ck_assert_int_eq(alert_add_tag(&a, "one too many"), -ENOSPC);
}
END_TEST

START_TEST(test_escape_cap_never_splits_a_character_or_exceeds_cap)
{
	struct alert_buf b;

	alert_buf_init(&b, 0);
	for (size_t cap = 0; cap < 40; cap++) {
		alert_buf_reset(&b);
		alert_buf_put_esc(&b, "\xe2\x82\xac\xe2\x82\xac\n\"]\\\xe2\x82\xac"
				  "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
				  cap, ALERT_ESC_SD);
		ck_assert_uint_le(b.len, cap);
		if (b.p)
			ck_assert(valid_utf8(b.p));
	}
	alert_buf_reset(&b);
	alert_buf_put_esc(&b, "a\"b\\c]d\ne\x1b\xc2\x85", 100, ALERT_ESC_SD);
	ck_assert_str_eq(b.p, "a\\\"b\\\\c\\]d\\x0ae\\x1b\\u0085");
	alert_buf_release(&b);
}
END_TEST

START_TEST(test_rate_limit_holds_past_burst_and_reports_count_on_next)
{
	struct logcap lc = { 0 };
	struct cap_sink *cap;
	struct alert_hub *h = hub_with(&cap, &lc, 3, 60);
	struct alert_rule_stats st;
	struct alert a;

	for (int i = 0; i < 10; i++) {
		mk(&a, "r1", 100 + i);		/* distinct keys: no dedup */
		ck_assert_int_eq(alert_emit(h, &a, T0),
				 i < 3 ? ALERT_SENT : ALERT_RATE_LIMITED);
	}
	ck_assert_uint_eq(cap->n, 3);
	mk(&a, "r1", 999);
	ck_assert_int_eq(alert_emit(h, &a, T0 + SEC / 2), ALERT_RATE_LIMITED);
	ck_assert_int_eq(alert_emit(h, &a, T0 + SEC), ALERT_SENT);
	ck_assert_uint_eq(cap->n, 4);
	ck_assert_uint_eq(cap->last.held, 8);
	ck_assert_int_eq(cap->last.pid, 999);
	ck_assert_int_eq(alert_hub_rule_stats(h, "r1", &st), 0);
	ck_assert_uint_eq(st.emitted, 4);
	ck_assert_uint_eq(st.held, 8);
	/* another rule has its own bucket */
	mk(&a, "r2", 1);
	ck_assert_int_eq(alert_emit(h, &a, T0 + SEC), ALERT_SENT);
	alert_hub_free(h);
}
END_TEST

START_TEST(test_held_count_goes_out_as_summary_when_rule_goes_quiet)
{
	struct logcap lc = { 0 };
	struct cap_sink *cap;
	struct alert_hub *h = hub_with(&cap, &lc, 1, 6);
	struct alert a;

	for (int i = 0; i < 5; i++) {
		mk(&a, "noisy", i);
		alert_emit(h, &a, T0);
	}
	ck_assert_uint_eq(cap->n, 1);
	alert_hub_tick(h, T0 + 5 * SEC);	/* bucket still empty */
	ck_assert_uint_eq(cap->n, 1);
	alert_hub_tick(h, T0 + 10 * SEC);	/* 6/min: one token per 10 s */
	ck_assert_uint_eq(cap->n, 2);
	ck_assert(cap->last.summary);
	ck_assert_uint_eq(cap->last.held, 4);
	ck_assert_str_eq(cap->last.rule, "noisy");
	ck_assert_ptr_nonnull(strstr(cap->last.output, "4 alerts held back"));
	alert_hub_tick(h, T0 + 60 * SEC);
	ck_assert_uint_eq(cap->n, 2);		/* nothing more to say */
	alert_hub_free(h);
}
END_TEST

START_TEST(test_duplicates_suppressed_in_window_and_counted_on_next)
{
	struct logcap lc = { 0 };
	struct cap_sink *cap;
	struct alert_hub *h = hub_with(&cap, &lc, 100, 6000);
	struct alert a;

	mk(&a, "dup", 42);
	ck_assert_int_eq(alert_emit(h, &a, T0), ALERT_SENT);
	alert_set_str(&a, output, "same key, other text");
	for (int i = 1; i <= 5; i++)
		ck_assert_int_eq(alert_emit(h, &a, T0 + i * SEC), ALERT_DUP);
	a.pid = 43;				/* a key field differs */
	ck_assert_int_eq(alert_emit(h, &a, T0 + 5 * SEC), ALERT_SENT);
	a.pid = 42;
	alert_set_str(&a, guest, "web02");	/* so does the guest */
	ck_assert_int_eq(alert_emit(h, &a, T0 + 5 * SEC), ALERT_SENT);
	alert_set_str(&a, guest, "web01");
	ck_assert_int_eq(alert_emit(h, &a, T0 + 10 * SEC), ALERT_SENT);
	ck_assert_uint_eq(cap->last.dups, 5);
	ck_assert(!cap->last.summary);
	ck_assert_uint_eq(cap->n, 4);
	alert_hub_free(h);
}
END_TEST

START_TEST(test_dup_count_goes_out_as_summary_when_window_ends)
{
	struct logcap lc = { 0 };
	struct cap_sink *cap;
	struct alert_hub *h = hub_with(&cap, &lc, 100, 6000);
	struct alert a;

	mk(&a, "dup", 7);
	for (int i = 0; i < 4; i++)
		alert_emit(h, &a, T0 + i);
	alert_hub_tick(h, T0 + 9 * SEC);
	ck_assert_uint_eq(cap->n, 1);
	alert_hub_tick(h, T0 + 10 * SEC);
	ck_assert_uint_eq(cap->n, 2);
	ck_assert(cap->last.summary);
	ck_assert_uint_eq(cap->last.dups, 3);
	ck_assert_str_eq(cap->last.guest, "web01");
	/* the window is gone: the same alert goes out again, count 0 */
	ck_assert_int_eq(alert_emit(h, &a, T0 + 11 * SEC), ALERT_SENT);
	ck_assert_uint_eq(cap->last.dups, 0);
	alert_hub_free(h);
}
END_TEST

START_TEST(test_table_eviction_under_flood_loses_no_count)
{
	struct logcap lc = { 0 };
	struct cap_sink *cap;
	struct alert_hub *h = hub_with(&cap, &lc, 1, 60);
	uint64_t dups = 0, held = 0, sent = 0;
	struct alert a;
	char rule[32];

	/* 3000 keys over 700 rules: both tables (512 entries) overflow. */
	for (int i = 0; i < 3000; i++) {
		snprintf(rule, sizeof(rule), "rule%d", i % 700);
		for (int k = 0; k < 3; k++) {
			int r;

			mk(&a, rule, i);
			r = alert_emit(h, &a, T0 + (uint64_t)i * 10);
			sent += r == ALERT_SENT;
			dups += r == ALERT_DUP;
			held += r == ALERT_RATE_LIMITED;
		}
	}
	ck_assert_uint_gt(dups, 0);
	ck_assert_uint_gt(held, 0);
	for (int s = 1; s <= 3600; s += 1)	/* an hour of ticks */
		alert_hub_tick(h, T0 + (uint64_t)s * SEC);
	ck_assert_uint_eq(cap->dups, dups);
	ck_assert_uint_eq(cap->held, held);
	ck_assert_uint_eq(cap->n - cap->summaries, sent);
	alert_hub_free(h);
}
END_TEST

START_TEST(test_rule_limit_override_and_unlimited)
{
	struct logcap lc = { 0 };
	struct cap_sink *cap;
	struct alert_hub *h = hub_with(&cap, &lc, 2, 60);
	struct alert a;

	ck_assert_int_eq(alert_hub_set_rule_limit(h, "free", 0, 0), 0);
	ck_assert_int_eq(alert_hub_set_rule_limit(h, "bad", 0, 10), -EINVAL);
	for (int i = 0; i < 50; i++) {
		mk(&a, "free", i);
		ck_assert_int_eq(alert_emit(h, &a, T0), ALERT_SENT);
	}
	ck_assert_int_eq(alert_hub_set_rule_limit(h, "free", 1, 1), 0);
	mk(&a, "free", 1000);
	ck_assert_int_eq(alert_emit(h, &a, T0), ALERT_SENT);
	mk(&a, "free", 1001);
	ck_assert_int_eq(alert_emit(h, &a, T0), ALERT_RATE_LIMITED);
	ck_assert_int_eq(alert_emit(NULL, &a, T0), -EINVAL);
	alert_hub_free(h);
}
END_TEST

START_TEST(test_rule_dedup_window_overrides_the_hub_window)
{
	struct logcap lc = { 0 };
	struct cap_sink *cap;
	struct alert_hub *h = hub_with(&cap, &lc, 100, 6000);	/* hub: 10 s */
	struct alert a;

	ck_assert_int_eq(alert_hub_set_rule_dedup(h, "short", 2 * SEC), 0);
	mk(&a, "short", 1);
	ck_assert_int_eq(alert_emit(h, &a, T0), ALERT_SENT);
	ck_assert_int_eq(alert_emit(h, &a, T0 + 1 * SEC), ALERT_DUP);
	ck_assert_int_eq(alert_emit(h, &a, T0 + 3 * SEC), ALERT_SENT);
	mk(&a, "default", 1);
	ck_assert_int_eq(alert_emit(h, &a, T0), ALERT_SENT);
	ck_assert_int_eq(alert_emit(h, &a, T0 + 3 * SEC), ALERT_DUP);
	/* a dedup override leaves the rule's rate limit at the default */
	for (int i = 0; i < 200; i++)
		mk(&a, "short", 100 + i), alert_emit(h, &a, T0 + 4 * SEC);
	ck_assert_uint_lt(cap->n, 150);
	alert_hub_free(h);
}
END_TEST

START_TEST(test_sink_threshold_skips_less_severe_alerts_and_counts_them)
{
	struct logcap lc = { 0 };
	struct cap_sink *cap;
	struct alert_hub *h = hub_with(&cap, &lc, 100, 6000);
	struct alert a;

	cap->base.max_severity = 3;	/* error and worse */
	mk(&a, "crit", 1);		/* mk() makes priority 2: critical */
	ck_assert_int_eq(alert_emit(h, &a, T0), ALERT_SENT);
	mk(&a, "warn", 2);
	a.priority = 4;
	alert_emit(h, &a, T0);
	ck_assert_uint_eq(cap->n, 1);
	ck_assert_str_eq(cap->last.rule, "crit");
	ck_assert_uint_eq(cap->base.filtered, 1);
	ck_assert_uint_eq(alert_sink_dropped(&cap->base), 0);
	alert_hub_free(h);
}
END_TEST

START_TEST(test_hub_without_sinks_logs_alert_to_daemon_log)
{
	struct logcap lc = { 0 };
	struct alert_hub_conf hc = { .log = log_cap, .log_ctx = &lc };
	struct alert_hub *h;
	struct alert a;

	ck_assert_int_eq(alert_hub_new(&hc, &h), 0);
	mk(&a, "lonely", 1);
	ck_assert_int_eq(alert_emit(h, &a, T0), ALERT_SENT);
	ck_assert_int_eq(lc.n, 1);
	ck_assert_ptr_nonnull(strstr(lc.last, "rule=lonely guest=web01"));
	alert_hub_free(h);
}
END_TEST

static void mk_hostile(struct alert *a)
{
	alert_init(a, 1714564800123456ull, 1);
	alert_set_str(a, rule, "evil|rule\\x");
	alert_set_str(a, desc, "line1\nline2|x");
	alert_set_str(a, guest, "web\"01");
	alert_set_str(a, backend, "qemu");
	alert_set_str(a, output, "a=b\\c\nd\re|f\x1b[31m");
	alert_set_str(a, comm, "ev\nil\xff");
	alert_set_str(a, path, "/tmp/x=y z\"]");
	alert_set_str(a, module, "rootkit");
	alert_set_str(a, xkind, "hidden");
	alert_set_str(a, xobject, "process");
	alert_set_str(a, xreason, "in memory, not in answer");
	alert_set_str(a, event, "cr3_write");
	alert_add_tag(a, "mitre_t1014");
	a->pid = 666, a->ppid = 1, a->uid = 0, a->fd = 3;
	a->has = ALERT_HAS_PID | ALERT_HAS_PPID | ALERT_HAS_UID | ALERT_HAS_FD;
}

/* Split a CEF line at unescaped '|' (7 header fields) and unescape. */
static int cef_header(const char *line, char f[7][512], const char **ext)
{
	int k = 0;
	size_t o = 0;

	for (const char *p = line; *p; p++) {
		if (*p == '\\' && (p[1] == '|' || p[1] == '\\')) {
			f[k][o++] = *++p;
		} else if (*p == '|') {
			f[k][o] = '\0';
			o = 0;
			if (++k == 7) {
				*ext = p + 1;
				return k;
			}
		} else {
			f[k][o++] = *p;
		}
		ck_assert_uint_lt(o, 511);
	}
	return k;
}

/* The value of key in a CEF extension, unescaped; NULL if absent. */
static char *cef_ext(const char *ext, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key), o = 0;
	const char *p = ext;

	for (;;) {
		p = strstr(p, key);
		if (!p)
			return NULL;
		if ((p == ext || p[-1] == ' ') && p[kl] == '=')
			break;
		p += kl;
	}
	for (p += kl + 1; *p && o + 1 < cap; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			out[o++] = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p;
			continue;
		}
		if (*p == '=')		/* an unescaped '=' ends at its key */
			break;
		out[o++] = *p;
	}
	if (*p == '=')			/* back off " nextkey" */
		while (o && out[--o] != ' ')
			;
	out[o] = '\0';
	return out;
}

START_TEST(test_cef_escapes_hostile_strings)
{
	struct alert_fmt f;
	struct alert_sink_conf c = { .hostname = "dom0|b" };
	struct alert_buf b;
	char hdr[7][512], v[4096];
	const char *ext = NULL;
	struct alert a;

	ck_assert_int_eq(alert_fmt_init(&f, &c), 0);
	alert_buf_init(&b, 0);
	mk_hostile(&a);
	ck_assert_int_eq(alert_cef_format(&f, &a, 9, &b), 0);
	ck_assert_ptr_null(strchr(b.p, '\n'));
	ck_assert_ptr_null(strchr(b.p, '\r'));
	ck_assert_ptr_null(strchr(b.p, '\x1b'));
	ck_assert_int_eq(cef_header(b.p, hdr, &ext), 7);
	ck_assert_str_eq(hdr[0], "CEF:0");
	ck_assert_str_eq(hdr[1], "upcalld");
	ck_assert_str_eq(hdr[3], UPCALLD_VERSION);
	ck_assert_str_eq(hdr[4], "evil|rule\\x");
	ck_assert_str_eq(hdr[5], "line1 line2|x");
	ck_assert_str_eq(hdr[6], "9");
	ck_assert_str_eq(cef_ext(ext, "msg", v, sizeof(v)), "a=b\\c\nd\re|f [31m");
	ck_assert_str_eq(cef_ext(ext, "filePath", v, sizeof(v)), "/tmp/x=y z\"]");
	ck_assert_str_eq(cef_ext(ext, "dvchost", v, sizeof(v)), "dom0|b");
	ck_assert_str_eq(cef_ext(ext, "dhost", v, sizeof(v)), "web\"01");
	ck_assert_str_eq(cef_ext(ext, "dproc", v, sizeof(v)), "ev\nil\xef\xbf\xbd");
	ck_assert_str_eq(cef_ext(ext, "dpid", v, sizeof(v)), "666");
	ck_assert_str_eq(cef_ext(ext, "rt", v, sizeof(v)), "1714564800123");
	ck_assert_str_eq(cef_ext(ext, "cs1Label", v, sizeof(v)), "xcheckKind");
	ck_assert_str_eq(cef_ext(ext, "cs1", v, sizeof(v)), "hidden");
	ck_assert_str_eq(cef_ext(ext, "externalId", v, sizeof(v)), "9");
	alert_buf_release(&b);
}
END_TEST

START_TEST(test_cef_line_of_huge_fields_stays_within_max_len)
{
	struct alert_sink_conf c = { .hostname = "h", .max_len = 1024 };
	char *big = malloc(1u << 20);
	struct alert_buf b;
	struct alert_fmt f;
	struct alert a;

	memset(big, '=', (1u << 20) - 1);
	big[(1u << 20) - 1] = '\0';
	ck_assert_int_eq(alert_fmt_init(&f, &c), 0);
	alert_buf_init(&b, 0);
	mk_hostile(&a);
	alert_set_str(&a, output, big);
	alert_set_str(&a, path, big);
	alert_set_str(&a, xreason, big);
	ck_assert_int_eq(alert_cef_format(&f, &a, 1, &b), 0);
	ck_assert_uint_le(b.len, 1024);
	ck_assert(ends_with(b.p, ALERT_TRUNC_MARK));
	ck_assert_ptr_nonnull(strstr(b.p, " msg=\\=\\="));
	alert_buf_release(&b);
	free(big);
}
END_TEST

static Suite *alert_suite(void)
{
	Suite *s = suite_create("alert");
	TCase *r = tcase_create("record"), *h = tcase_create("hub"),
	      *o = tcase_create("cef");

	tcase_add_test(r, test_copy_of_1mib_string_is_cut_with_marker_and_valid_utf8);
	tcase_add_test(r, test_invalid_utf8_becomes_replacement_characters);
	tcase_add_test(r, test_escape_cap_never_splits_a_character_or_exceeds_cap);
	tcase_add_test(h, test_rate_limit_holds_past_burst_and_reports_count_on_next);
	tcase_add_test(h, test_held_count_goes_out_as_summary_when_rule_goes_quiet);
	tcase_add_test(h, test_duplicates_suppressed_in_window_and_counted_on_next);
	tcase_add_test(h, test_dup_count_goes_out_as_summary_when_window_ends);
	tcase_add_test(h, test_table_eviction_under_flood_loses_no_count);
	tcase_add_test(h, test_rule_limit_override_and_unlimited);
	tcase_add_test(h, test_sink_threshold_skips_less_severe_alerts_and_counts_them);
	tcase_add_test(h, test_rule_dedup_window_overrides_the_hub_window);
	tcase_add_test(h, test_hub_without_sinks_logs_alert_to_daemon_log);
	tcase_add_test(o, test_cef_escapes_hostile_strings);
	tcase_add_test(o, test_cef_line_of_huge_fields_stays_within_max_len);
	suite_add_tcase(s, r);
	suite_add_tcase(s, h);
	suite_add_tcase(s, o);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(alert_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
