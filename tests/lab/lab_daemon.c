/*
 * lab_daemon.c - upcalld as a real process against one real lab guest
 * (booted once, with upcalld-agent, shared by the tests in order), with the
 * default rule pack and its alerts read back from the JSON sink. Shown:
 *   - a clean guest under two minutes of process and file churn, with the
 *     cross-checks forced every 2 s, raises no hidden/phantom/mismatch;
 *   - a process hidden by a bind mount over /proc/PID is reported hidden,
 *     with its pid and comm in process.pid / process.name;
 *   - an exec from /tmp raises "Execution from temporary directory" with
 *     the path in file.path;
 *   - a bad rule file and a reload (control socket, then SIGHUP) keeps
 *     the old rules working and names the file:line:column;
 *   - a guest whose agent never answers (SIGSTOP) raises "Guest service
 *     silent" while the daemon keeps answering (ps from memory, status).
 */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "labsup.h"
#include "labsup_daemon.h"

#define RUN_MS 60000
#define CHURN_S 125		/* "at least two minutes" */
#define CHECK_EVERY_MS 2000

static struct lab_guest guest;
static struct labd daemon_;
static int setup_rc = -1;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void setup(void)
{
	struct lab_opts o = { .cpu = "qemu64", .agent = 1 };
	char name[64];
	double t0 = now_s();

	snprintf(name, sizeof(name), "labdaemon-%d", (int)getpid());
	setup_rc = lab_start(name, &o, &guest);
	if (!setup_rc)
		setup_rc = labd_init(&daemon_, &guest, NULL);
	if (!setup_rc)
		setup_rc = labd_start(&daemon_, 90000);
	fprintf(stderr, "lab_daemon: guest and daemon up in %.1f s (%d %s)\n",
		now_s() - t0, setup_rc, setup_rc ? strerror(-setup_rc) : "ok");
}

static void teardown(void)
{
	labd_free(&daemon_);
	lab_stop(&guest);
}

static void need_setup(void)
{
	ck_assert_msg(setup_rc == 0, "guest/daemon setup failed: %d (%s)", setup_rc,
		      strerror(-setup_rc));
}

/* The ground-truth shell of this program's guest (labd_gt asserts success). */
static char *gt(const char *cmd)
{
	return labd_gt(&guest, cmd, RUN_MS);
}

static int gt_int(const char *cmd)
{
	return labd_gt_int(&guest, cmd, RUN_MS);
}

static struct json_object *call_ok(const char *cmd, const char *extra)
{
	struct json_object *r = NULL;
	int rc = labd_call(&daemon_, cmd, daemon_.guest, extra, &r);

	ck_assert_msg(rc == 0, "%s: ctl_call %d", cmd, rc);
	ck_assert_msg(json_object_get_boolean(labd_get(r, "ok")), "%s: %s", cmd,
		      json_object_to_json_string(r));
	return r;
}

static struct json_object *status_guest(struct json_object *st)
{
	return json_object_array_get_idx(labd_get(st, "guests"), 0);
}

static void print_alert(const char *why, struct json_object *a)
{
	fprintf(stderr, "lab_daemon: %s: [%s] %s\n", why, labd_str(a, "rule.name"),
		labd_str(a, "message"));
}

/* A sleeping process hidden by a bind mount over its /proc/PID; its pid. */
static int hide_process(void)
{
	return gt_int("sleep 100000 >/dev/null 2>&1 & P=$!; mkdir -p /tmp/.h$P; "
		      "mount -o bind /tmp/.h$P /proc/$P && echo $P");
}

static void unhide_process(int pid)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "umount /proc/%d; kill %d; rmdir /tmp/.h%d; true",
		 pid, pid, pid);
	free(gt(cmd));
}

/* The hidden-process alert for pid, after a forced check; NULL if none. */
static struct json_object *wait_hidden(size_t from, int pid, int timeout_ms)
{
	struct labd_want w = { .rule = "Hidden or phantom process", .xkind = "hidden",
			       .xobject = "process", .pid = pid };

	return labd_wait_alert(&daemon_, from, labd_want_match, &w, timeout_ms,
			       true, 5000);
}

/*
 * Guest-side churn until /tmp/churn.stop exists: execs of short-lived
 * processes (one after another, and overlapping ones living 0.2-1 s, so
 * some straddle the memory snapshots), and a file opened, written and
 * closed on the same fd over and over, plus short-lived readers.
 */
static const char churn_script[] =
	"rm -f /tmp/churn.stop\n"
	"cat >/tmp/churn.sh <<'EOF'\n"
	"( while [ ! -e /tmp/churn.stop ]; do getpid_loop 1 0; sleep 0.05; done ) &\n"
	"( while [ ! -e /tmp/churn.stop ]; do getpid_loop 1 200000 & sleep 0.1; done ) &\n"
	"( while [ ! -e /tmp/churn.stop ]; do sleep 1 & sh -c 'exit 0'; sleep 0.3; done ) &\n"
	"( i=0; while [ ! -e /tmp/churn.stop ]; do exec 3>/tmp/churn.f; echo $i >&3;\n"
	"  exec 3>&-; cat /etc/hostname /tmp/churn.f; i=$((i + 1)); done ) &\n"
	"wait\n"
	"EOF\n"
	"sh /tmp/churn.sh >/dev/null 2>&1 </dev/null &\n"
	"sh -c 'echo $$'";

START_TEST(test_clean_guest_under_churn_raises_no_crosscheck_alert)
{
	size_t from, i, n, nx = 0;
	struct json_object *st;
	int pid0, pid1, checks = 0;
	long long scans0, scans1, fails0, fails1, up0, up1;
	double t0;

	need_setup();
	st = call_ok("status", NULL);
	scans0 = labd_int(status_guest(st), "scans");
	fails0 = labd_int(status_guest(st), "upcall_failures");
	up0 = labd_int(status_guest(st), "upcalls");
	json_object_put(st);
	from = labd_nalerts(&daemon_);
	pid0 = gt_int(churn_script);
	t0 = now_s();
	while (now_s() - t0 < CHURN_S) {
		json_object_put(call_ok("check", NULL));
		checks++;
		usleep(CHECK_EVERY_MS * 1000);
	}
	pid1 = gt_int("touch /tmp/churn.stop; sh -c 'echo $$'");
	sleep(12);	/* the last scan's upcall deadline (10 s) */
	st = call_ok("status", NULL);
	scans1 = labd_int(status_guest(st), "scans");
	fails1 = labd_int(status_guest(st), "upcall_failures");
	up1 = labd_int(status_guest(st), "upcalls");
	json_object_put(st);
	n = labd_nalerts(&daemon_);
	for (i = from; i < n; i++) {
		struct json_object *a = labd_alert(&daemon_, i);

		if (a && labd_is_xcheck(a)) {
			nx++;
			print_alert("false positive under churn", a);
			fprintf(stderr, "lab_daemon:   %s\n", json_object_to_json_string(a));
		}
		json_object_put(a);
	}
	fprintf(stderr, "lab_daemon: churn %.0f s: %d checks asked, %lld scans, "
		"%lld upcalls, %lld upcall failures, ~%d processes started, %zu alerts, "
		"%zu cross-check\n", now_s() - t0, checks, scans1 - scans0, up1 - up0,
		fails1 - fails0, pid1 - pid0, n - from, nx);
	ck_assert_int_gt(pid1 - pid0, 200);	/* there was churn */
	ck_assert_int_ge(scans1 - scans0, CHURN_S * 1000 / CHECK_EVERY_MS / 2);
	/* a forced check asks for processes, modules and open files (a
	 * 30 s timer's scan alone asks for processes only) */
	ck_assert_int_ge(up1 - up0, 2 * (scans1 - scans0));
	ck_assert_msg(nx == 0, "%zu cross-check alerts on a clean guest", nx);
}
END_TEST

START_TEST(test_process_hidden_by_bind_mount_is_reported_with_pid_and_comm)
{
	size_t from = labd_nalerts(&daemon_);
	struct json_object *a;
	char cmd[64];
	int pid;

	need_setup();
	pid = hide_process();
	ck_assert_int_gt(pid, 1);
	/* the guest's own tools no longer see it */
	snprintf(cmd, sizeof(cmd), "ps | grep -c '^ *%d ' || true", pid);
	ck_assert_int_eq(gt_int(cmd), 0);
	a = wait_hidden(from, pid, 60000);
	ck_assert_msg(a != NULL, "no hidden-process alert for pid %d", pid);
	print_alert("hidden", a);
	ck_assert_int_eq(labd_int(a, "process.pid"), pid);
	ck_assert_str_eq(labd_str(a, "process.name"), "sleep");
	ck_assert_str_eq(labd_str(a, "host.name"), daemon_.guest);
	ck_assert_str_eq(labd_str(a, "event.kind"), "alert");
	ck_assert_str_eq(labd_str(a, "log.level"), "critical");
	json_object_put(a);
	unhide_process(pid);
}
END_TEST

static bool is_exec_alert(struct json_object *a, void *path)
{
	return !strcmp(labd_str(a, "rule.name"), "Execution from temporary directory") &&
	       !strcmp(labd_str(a, "file.path"), path);
}

START_TEST(test_exec_from_tmp_raises_exec_rule_with_path)
{
	size_t from = labd_nalerts(&daemon_);
	struct json_object *a;
	char path[64], cmd[256];

	need_setup();
	snprintf(path, sizeof(path), "/tmp/dropper-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "cp /usr/bin/getpid_loop %s && %s", path, path);
	free(gt(cmd));
	a = labd_wait_alert(&daemon_, from, is_exec_alert, path, 30000, false, 0);
	ck_assert_msg(a != NULL, "no exec alert for %s", path);
	print_alert("exec", a);
	ck_assert_str_eq(labd_str(a, "log.level"), "warning");
	ck_assert_int_gt(labd_int(a, "process.pid"), 1);
	ck_assert_str_eq(labd_str(a, "upcalld.trigger"), "syscall");
	json_object_put(a);
}
END_TEST

/* A rule file whose line 4, column 3 holds an unknown key. */
static const char bad_rule[] =
	"- rule: Broken by the lab test\n"
	"  desc: has a key no rule takes\n"
	"  condition: proc.name = sh\n"
	"  colour: red\n"
	"  output: never\n"
	"  priority: warning\n"
	"  trigger: {syscall: execve}\n";
#define BAD_RULE_POS "99-lab-bad.yaml:4:3"

static void write_bad_rule(char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/99-lab-bad.yaml", daemon_.rules);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(bad_rule, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void assert_status_reload(long long reloads, long long failures)
{
	struct json_object *st = call_ok("status", NULL);
	const char *err = labd_str(st, "last_reload_error");

	ck_assert_int_eq(labd_int(st, "reloads"), reloads);
	ck_assert_int_eq(labd_int(st, "reload_failures"), failures);
	ck_assert_msg(strstr(err, BAD_RULE_POS), "status last_reload_error: %s", err);
	json_object_put(st);
}

START_TEST(test_bad_rule_file_reload_keeps_old_rules_and_names_position)
{
	struct json_object *st, *r = NULL, *a;
	long long reloads, failures;
	char path[LAB_PATH_MAX + 32];
	size_t from;
	int pid;

	need_setup();
	st = call_ok("status", NULL);
	reloads = labd_int(st, "reloads");
	failures = labd_int(st, "reload_failures");
	json_object_put(st);
	write_bad_rule(path, sizeof(path));
	/* through the control socket */
	ck_assert_int_eq(labd_call(&daemon_, "reload", NULL, NULL, &r), 0);
	ck_assert_msg(!json_object_get_boolean(labd_get(r, "ok")), "%s",
		      json_object_to_json_string(r));
	ck_assert_msg(strstr(json_object_to_json_string(labd_get(r, "errors")),
			     BAD_RULE_POS), "reload reply: %s", json_object_to_json_string(r));
	fprintf(stderr, "lab_daemon: reload reply: %s\n", json_object_to_json_string(r));
	json_object_put(r);
	assert_status_reload(reloads + 1, failures + 1);
	/* through SIGHUP */
	ck_assert_int_eq(kill(daemon_.pid, SIGHUP), 0);
	for (int i = 0; i < 40; i++) {
		st = call_ok("status", NULL);
		r = labd_get(st, "reloads");
		if (json_object_get_int64(r) > reloads + 1)
			i = 40;
		json_object_put(st);
		if (i < 40)
			usleep(250000);
	}
	assert_status_reload(reloads + 2, failures + 2);
	/* the old rules still run: a cross-check and an event rule */
	from = labd_nalerts(&daemon_);
	pid = hide_process();
	a = wait_hidden(from, pid, 60000);
	ck_assert_msg(a != NULL, "old rules gone after a failed reload: no alert for %d", pid);
	json_object_put(a);
	unhide_process(pid);
	/* removed again, a reload succeeds and clears the error */
	ck_assert_int_eq(unlink(path), 0);
	json_object_put(call_ok("reload", NULL));
	st = call_ok("status", NULL);
	ck_assert_ptr_null(labd_get(st, "last_reload_error"));
	json_object_put(st);
}
END_TEST

static bool is_silent_alert(struct json_object *a, void *arg)
{
	return !strcmp(labd_str(a, "rule.name"), "Guest service silent");
}

START_TEST(test_stopped_agent_raises_service_silent_and_daemon_keeps_serving)
{
	size_t from = labd_nalerts(&daemon_);
	struct json_object *a, *r;
	double t0, t_ps;
	int agent;

	need_setup();
	agent = gt_int("pidof upcalld-agent");
	ck_assert_int_gt(agent, 1);
	free(gt("kill -STOP $(pidof upcalld-agent)"));
	t0 = now_s();
	json_object_put(call_ok("check", NULL));
	/* while the upcall waits for its deadline, memory views still answer */
	r = call_ok("ps", "{\"source\":\"memory\"}");
	t_ps = now_s() - t0;
	ck_assert_int_gt(json_object_array_length(labd_get(r, "processes")), 20);
	json_object_put(r);
	json_object_put(call_ok("status", NULL));
	a = labd_wait_alert(&daemon_, from, is_silent_alert, NULL, 60000, true, 15000);
	ck_assert_msg(a != NULL, "no 'Guest service silent' alert");
	print_alert("silent", a);
	fprintf(stderr, "lab_daemon: silent after %.1f s; ps from memory meanwhile "
		"in %.2f s\n", now_s() - t0, t_ps);
	ck_assert_str_eq(labd_str(a, "upcalld.xcheck.kind"), "silent");
	ck_assert_str_eq(labd_str(a, "host.name"), daemon_.guest);
	json_object_put(a);
	/* still serving after the finding */
	r = call_ok("ps", "{\"source\":\"memory\"}");
	json_object_put(r);
	free(gt("kill -CONT $(pidof upcalld-agent)"));
}
END_TEST

static Suite *lab_daemon_suite(void)
{
	Suite *s = suite_create("lab_daemon");
	TCase *t = tcase_create("one guest, upcalld running");

	tcase_add_unchecked_fixture(t, setup, teardown);
	tcase_set_timeout(t, CHURN_S + 300);
	tcase_add_test(t, test_clean_guest_under_churn_raises_no_crosscheck_alert);
	tcase_add_test(t, test_process_hidden_by_bind_mount_is_reported_with_pid_and_comm);
	tcase_add_test(t, test_exec_from_tmp_raises_exec_rule_with_path);
	tcase_add_test(t, test_bad_rule_file_reload_keeps_old_rules_and_names_position);
	/* last: it leaves the agent's channel with stale requests */
	tcase_add_test(t, test_stopped_agent_raises_service_silent_and_daemon_keeps_serving);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lab_daemon_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
