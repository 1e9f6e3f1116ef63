/*
 * check_alert_json.c - JSON lines with Elastic Common Schema names, parsed
 * back with json-c, from hostile input (invalid UTF-8 even when written
 * straight into the record, newlines, quotes); and the file sink they are
 * written by: reopen after rotation, a path that cannot be opened (queue,
 * counted drops, the drop report in the daemon's log).
 */
#include <check.h>
#include <json-c/json.h>
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

static char *tmpdir(void)
{
	static char d[64];

	snprintf(d, sizeof(d), "/tmp/check_alert.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

/* Remove path (and more, NULL-ended) and the directory of the first. */
static void cleanup(const char *path, const char *more)
{
	char dir[128];

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	unlink(path);
	if (more)
		unlink(more);
	rmdir(dir);
}

static int read_lines(const char *path, char lines[][16384], int max)
{
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return -1;
	while (n < max && fgets(lines[n], sizeof(lines[n]), f))
		n++;
	fclose(f);
	return n;
}

static json_object *jget(json_object *o, const char *dotted)
{
	char key[64], *save, *k;

	snprintf(key, sizeof(key), "%s", dotted);
	for (k = strtok_r(key, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(o, k, &o))
			return NULL;
	return o;
}

static const char *jstr(json_object *o, const char *dotted)
{
	json_object *v = jget(o, dotted);

	return v ? json_object_get_string(v) : NULL;
}

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

START_TEST(test_json_lines_parse_back_with_ecs_names)
{
	struct alert_sink_conf c = { .hostname = "dom0-a" };
	char path[128], (*lines)[16384] = malloc(4 * 16384);
	struct alert_sink *s;
	json_object *o, *cat;
	struct alert a;

	snprintf(path, sizeof(path), "%s/alerts.json", tmpdir());
	c.path = path;
	ck_assert_int_eq(alert_json_new(&c, &s), 0);
	ck_assert_int_eq(alert_sink_open(s, T0), 0);
	mk_hostile(&a);
	/* bypass the setters: raw invalid UTF-8 must still give valid JSON */
	memcpy(a.xreason, "bad \xff\xfe utf8", sizeof("bad \xff\xfe utf8"));
	ck_assert_int_eq(alert_sink_emit(s, &a, T0), 0);
	a.dups = 4;
	ck_assert_int_eq(alert_sink_emit(s, &a, T0), 0);
	ck_assert_uint_eq(s->st.sent, 2);
	alert_sink_free(s);
	ck_assert_int_eq(read_lines(path, lines, 4), 2);	/* no split line */
	ck_assert(valid_utf8(lines[0]));
	o = json_tokener_parse(lines[0]);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(jstr(o, "@timestamp"), "2024-05-01T12:00:00.123456Z");
	ck_assert_str_eq(jstr(o, "event.kind"), "alert");
	cat = jget(o, "event.category");
	ck_assert_int_eq(json_object_array_length(cat), 4);
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(cat, 0)),
			 "intrusion_detection");
	ck_assert_int_eq(json_object_get_int(jget(o, "event.severity")), 1);
	ck_assert_int_eq(json_object_get_int(jget(o, "event.sequence")), 1);
	ck_assert_str_eq(jstr(o, "rule.name"), "evil|rule\\x");
	ck_assert_str_eq(jstr(o, "rule.description"), "line1\nline2|x");
	ck_assert_str_eq(jstr(o, "host.name"), "web\"01");
	ck_assert_str_eq(jstr(o, "observer.hostname"), "dom0-a");
	ck_assert_str_eq(jstr(o, "observer.type"), "ids");
	ck_assert_int_eq(json_object_get_int(jget(o, "process.pid")), 666);
	ck_assert_int_eq(json_object_get_int(jget(o, "process.parent.pid")), 1);
	ck_assert_str_eq(jstr(o, "process.name"), "ev\nil\xef\xbf\xbd");
	ck_assert_str_eq(jstr(o, "file.path"), "/tmp/x=y z\"]");
	ck_assert_str_eq(jstr(o, "user.id"), "0");
	ck_assert_str_eq(jstr(o, "message"), "a=b\\c\nd\re|f\x1b[31m");
	ck_assert_str_eq(jstr(o, "upcalld.xcheck.kind"), "hidden");
	ck_assert_str_eq(jstr(o, "upcalld.xcheck.object"), "process");
	ck_assert_str_eq(jstr(o, "upcalld.xcheck.reason"), "bad \xef\xbf\xbd\xef\xbf\xbd utf8");
	ck_assert_str_eq(jstr(o, "upcalld.guest.backend"), "qemu");
	ck_assert_str_eq(jstr(o, "upcalld.module.name"), "rootkit");
	ck_assert_str_eq(jstr(o, "upcalld.trigger"), "cr3_write");
	ck_assert_ptr_null(jget(o, "upcalld.dups"));
	json_object_put(o);
	o = json_tokener_parse(lines[1]);
	ck_assert_int_eq(json_object_get_int(jget(o, "upcalld.dups")), 4);
	ck_assert_int_eq(json_object_get_int(jget(o, "event.sequence")), 2);
	json_object_put(o);
	cleanup(path, NULL);
	free(lines);
}
END_TEST

START_TEST(test_json_reopen_after_rotation_writes_new_file)
{
	struct logcap lc = { 0 };
	struct alert_hub_conf hc = { .no_dedup = true, .log = log_cap,
				     .log_ctx = &lc };
	struct alert_sink_conf c = { .hostname = "h" };
	char path[128], rot[140], (*lines)[16384] = malloc(4 * 16384);
	struct alert_hub *h;
	struct alert_sink *s;
	struct alert a;

	snprintf(path, sizeof(path), "%s/a.json", tmpdir());
	snprintf(rot, sizeof(rot), "%s.1", path);
	c.path = path;
	ck_assert_int_eq(alert_hub_new(&hc, &h), 0);
	ck_assert_int_eq(alert_json_new(&c, &s), 0);
	ck_assert_int_eq(alert_hub_add(h, s, T0), 0);
	mk(&a, "rot", 1);
	alert_emit(h, &a, T0);
	ck_assert_int_eq(rename(path, rot), 0);
	alert_emit(h, &a, T0);			/* still to the old file */
	ck_assert_int_eq(alert_hub_reopen(h, T0), 0);
	alert_emit(h, &a, T0);
	ck_assert_int_eq(read_lines(rot, lines, 4), 2);
	ck_assert_int_eq(read_lines(path, lines, 4), 1);
	ck_assert_uint_eq(s->st.connects, 2);
	alert_hub_free(h);
	cleanup(path, rot);
	free(lines);
}
END_TEST

START_TEST(test_json_unwritable_path_queues_then_drops_and_reports)
{
	struct logcap lc = { 0 };
	struct alert_hub_conf hc = { .no_dedup = true, .no_rate_limit = true,
				     .summary_us = 10 * SEC, .log = log_cap,
				     .log_ctx = &lc };
	struct alert_sink_conf c = { .path = "/nonexistent-dir/x.json",
				     .queue_max = 4 };
	struct alert_hub *h;
	struct alert_sink *s;
	struct alert a;

	ck_assert_int_eq(alert_hub_new(&hc, &h), 0);
	ck_assert_int_eq(alert_json_new(&c, &s), 0);
	ck_assert_int_eq(alert_hub_add(h, s, T0), 0);
	ck_assert_uint_eq(s->st.errors, 1);
	for (int i = 0; i < 10; i++) {
		mk(&a, "x", i);
		alert_emit(h, &a, T0);
	}
	ck_assert_uint_eq(s->st.queued, 4);
	ck_assert_uint_eq(s->st.dropped[ALERT_DROP_QUEUE_FULL], 6);
	ck_assert_ptr_nonnull(strstr(lc.last, "dropping alerts (queue_full)"));
	alert_hub_tick(h, T0 + 1);		/* arms the summary clock */
	alert_hub_tick(h, T0 + 11 * SEC);
	ck_assert_ptr_nonnull(strstr(lc.last, "6 alerts dropped since the last"));
	alert_hub_free(h);			/* 4 queued: dropped as closed */
	ck_assert_ptr_nonnull(strstr(lc.last, "closed 4"));
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("alert_json");
	TCase *t = tcase_create("json");

	tcase_add_test(t, test_json_lines_parse_back_with_ecs_names);
	tcase_add_test(t, test_json_reopen_after_rotation_writes_new_file);
	tcase_add_test(t, test_json_unwritable_path_queues_then_drops_and_reports);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(json_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
