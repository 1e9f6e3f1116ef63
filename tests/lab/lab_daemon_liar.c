/*
 * lab_daemon_liar.c - upcalld against an agent that lies. One lab guest
 * boots with the real upcalld-agent and upcalld runs as a real process
 * with the default rule pack; each test then swaps the agent for
 * upcalld-agent-liar (the real agent built with -DUPCALLD_AGENT_LIES, see
 * tests/lab/liar/) with one lie, forces the guest's cross-checks, and reads
 * the alert back from the JSON sink:
 *   --omit-pid     -> hidden process      --omit-module -> hidden module
 *   --omit-fd      -> hidden open file    --invent-pid  -> phantom process
 * The objects lied about are really there (or not) in the guest: the
 * ground-truth shell shows it. Finally the real agent comes back, the
 * diff views are empty again, and no cross-check alert in the whole run
 * is about anything but the lies.
 */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "labsup.h"
#include "labsup_daemon.h"

#define RUN_MS 60000
#define ALERT_MS 90000
#define AGENT_ARGS "--port-name org.upcalld.0 --key-file /etc/upcalld/agent.key"
#define INVENTED_PID 31337
#define INVENTED_COMM "cryptominer"

static struct lab_guest guest;
static struct labd daemon_;
static int setup_rc = -1;

/* What the agents lie about, made in the fixture (tests run forked). */
static int victim_pid, holder_pid, holder_fd;
static char module_name[64];

/* The guest's output of cmd, trailing white space cut; "" on failure. */
static void gt_quiet(const char *cmd, char *buf, size_t len)
{
	char *out = NULL;
	size_t n;

	buf[0] = '\0';
	if (lab_run(&guest, cmd, &out, RUN_MS) == 0 && out)
		snprintf(buf, len, "%s", out);
	free(out);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
}

/* A process with a known name, one holding /tmp/lab-secret, a module. */
static int make_lie_objects(void)
{
	char buf[256], cmd[256];

	gt_quiet("labproc -d -n labvictim", buf, sizeof(buf));
	victim_pid = atoi(buf);
	gt_quiet("labproc -d -n labholder -o /tmp/lab-secret", buf, sizeof(buf));
	holder_pid = atoi(buf);
	snprintf(cmd, sizeof(cmd), "sleep 0.5; for f in /proc/%d/fd/*; do "
		 "[ \"$(readlink $f)\" = /tmp/lab-secret ] && echo ${f##*/}; done",
		 holder_pid);
	gt_quiet(cmd, buf, sizeof(buf));
	holder_fd = atoi(buf);
	gt_quiet("head -n1 /proc/modules | cut -d' ' -f1", module_name,
		 sizeof(module_name));
	fprintf(stderr, "lab_daemon_liar: victim pid %d, holder pid %d fd %d, "
		"module %s\n", victim_pid, holder_pid, holder_fd, module_name);
	return victim_pid > 1 && holder_pid > 1 && holder_fd >= 3 && module_name[0]
	       ? 0 : -EIO;
}

static void setup(void)
{
	struct lab_opts o = { .cpu = "qemu64", .agent = 1 };
	char name[64];

	snprintf(name, sizeof(name), "labliar-%d", (int)getpid());
	setup_rc = lab_start(name, &o, &guest);
	if (!setup_rc)
		setup_rc = make_lie_objects();
	if (!setup_rc)
		setup_rc = labd_init(&daemon_, &guest, NULL);
	if (!setup_rc)
		setup_rc = labd_start(&daemon_, 90000);
	if (setup_rc)
		fprintf(stderr, "lab_daemon_liar: setup: %s\n", strerror(-setup_rc));
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

/* The ground-truth shell of this program's guest (asserts success). */
static int gt_int(const char *cmd)
{
	return labd_gt_int(&guest, cmd, RUN_MS);
}

/* Wait until the daemon gets a live answer from the (new) agent. */
static void wait_agent_answers(void)
{
	struct json_object *r = NULL;

	for (int i = 0; i < 120; i++) {
		if (labd_call(&daemon_, "ps", daemon_.guest, "{\"source\":\"guest\"}", &r) == 0 &&
		    json_object_get_boolean(labd_get(r, "ok"))) {
			json_object_put(r);
			return;
		}
		json_object_put(r);
		r = NULL;
		usleep(500000);
	}
	ck_abort_msg("the daemon gets no answer from the guest's agent");
}

/* Replace whatever agent runs with `exe args` (it detaches by itself). */
static void swap_agent(const char *exe, const char *lies)
{
	char cmd[512];
	int n;

	snprintf(cmd, sizeof(cmd),
		 "for p in $(pidof upcalld-agent) $(pidof upcalld-agent-liar); do "
		 "kill $p; done; sleep 0.5; %s " AGENT_ARGS " %s && sleep 0.5 && "
		 "pidof %s", exe, lies, strrchr(exe, '/') + 1);
	n = gt_int(cmd);
	ck_assert_int_gt(n, 1);
	fprintf(stderr, "lab_daemon_liar: agent now %s %s (pid %d)\n", exe, lies, n);
	wait_agent_answers();
}

static void start_liar(const char *lies)
{
	swap_agent("/usr/bin/upcalld-agent-liar", lies);
}

static struct json_object *wait_for(const struct labd_want *w, size_t from)
{
	struct json_object *a = labd_wait_alert(&daemon_, from, labd_want_match,
						(void *)w, ALERT_MS, true, 5000);

	ck_assert_msg(a != NULL, "no '%s' %s alert", w->rule, w->xkind);
	fprintf(stderr, "lab_daemon_liar: caught: [%s] %s\n", labd_str(a, "rule.name"),
		labd_str(a, "message"));
	return a;
}

START_TEST(test_real_agent_diff_views_are_empty)
{
	static const char *const views[] = { "ps", "lsmod", "lsof" };

	need_setup();
	for (size_t i = 0; i < 3; i++) {
		struct json_object *r = NULL;

		ck_assert_int_eq(labd_call(&daemon_, views[i], daemon_.guest,
					   "{\"source\":\"diff\"}", &r), 0);
		ck_assert_msg(json_object_get_boolean(labd_get(r, "ok")), "%s",
			      json_object_to_json_string(r));
		ck_assert_msg(json_object_array_length(labd_get(r, "findings")) == 0,
			      "%s --diff with the real agent: %s", views[i],
			      json_object_to_json_string(r));
		json_object_put(r);
	}
}
END_TEST

START_TEST(test_agent_omitting_a_process_is_caught_as_hidden)
{
	struct labd_want w = { .rule = "Hidden or phantom process", .xkind = "hidden",
			       .xobject = "process", .comm = "labvictim" };
	struct json_object *a;
	char lies[64], cmd[64], comm[32];
	size_t from;

	need_setup();
	snprintf(lies, sizeof(lies), "--omit-pid %d", victim_pid);
	from = labd_nalerts(&daemon_);
	start_liar(lies);
	/* the guest's own /proc still has it: the agent is the liar */
	snprintf(cmd, sizeof(cmd), "cat /proc/%d/comm", victim_pid);
	gt_quiet(cmd, comm, sizeof(comm));
	ck_assert_str_eq(comm, "labvictim");
	w.pid = victim_pid;
	a = wait_for(&w, from);
	ck_assert_int_eq(labd_int(a, "process.pid"), victim_pid);
	json_object_put(a);
}
END_TEST

START_TEST(test_agent_omitting_a_module_is_caught_as_hidden)
{
	struct labd_want w = { .rule = "Hidden kernel module", .xkind = "hidden",
			       .xobject = "module" };
	struct json_object *a;
	char lies[128];
	size_t from;

	need_setup();
	snprintf(lies, sizeof(lies), "--omit-module %s", module_name);
	from = labd_nalerts(&daemon_);
	start_liar(lies);
	w.module = module_name;
	a = wait_for(&w, from);
	ck_assert_str_eq(labd_str(a, "upcalld.module.name"), module_name);
	json_object_put(a);
}
END_TEST

START_TEST(test_agent_omitting_an_open_file_is_caught_as_hidden)
{
	struct labd_want w = { .rule = "Hidden open file", .xkind = "hidden",
			       .xobject = "file", .path = "/tmp/lab-secret",
			       .has_fd = true };
	struct json_object *a;
	char lies[64];
	size_t from;

	need_setup();
	snprintf(lies, sizeof(lies), "--omit-fd %d:%d", holder_pid, holder_fd);
	from = labd_nalerts(&daemon_);
	start_liar(lies);
	w.pid = holder_pid;
	w.fd = holder_fd;
	a = wait_for(&w, from);
	ck_assert_str_eq(labd_str(a, "process.name"), "labholder");
	json_object_put(a);
}
END_TEST

START_TEST(test_agent_inventing_a_process_is_caught_as_phantom)
{
	struct labd_want w = { .rule = "Hidden or phantom process", .xkind = "phantom",
			       .xobject = "process", .pid = INVENTED_PID,
			       .comm = INVENTED_COMM };
	struct json_object *a;
	char cmd[64];
	size_t from;

	need_setup();
	snprintf(cmd, sizeof(cmd), "[ -e /proc/%d ] && echo 1 || echo 0", INVENTED_PID);
	ck_assert_int_eq(gt_int(cmd), 0);
	from = labd_nalerts(&daemon_);
	start_liar("--invent-pid 31337:" INVENTED_COMM);
	a = wait_for(&w, from);
	ck_assert_str_eq(labd_str(a, "log.level"), "critical");
	json_object_put(a);
}
END_TEST

/* Is a cross-check alert about one of the lies told above? */
static bool about_a_lie(struct json_object *a)
{
	const char *obj = labd_str(a, "upcalld.xcheck.object");
	long long pid = labd_int(a, "process.pid");

	if (!strcmp(obj, "module"))
		return !strcmp(labd_str(a, "upcalld.module.name"), module_name);
	if (!strcmp(obj, "file"))
		return pid == holder_pid && labd_int(a, "upcalld.fd") == holder_fd;
	return pid == victim_pid || pid == INVENTED_PID;
}

START_TEST(test_real_agent_back_and_no_alert_but_the_lies)
{
	size_t i, n, bad = 0;

	need_setup();
	swap_agent("/sbin/upcalld-agent", "");
	n = labd_nalerts(&daemon_);
	for (i = 0; i < n; i++) {
		struct json_object *a = labd_alert(&daemon_, i);

		if (a && labd_is_xcheck(a) && !about_a_lie(a)) {
			bad++;
			fprintf(stderr, "lab_daemon_liar: unexpected: %s\n",
				json_object_to_json_string(a));
		}
		json_object_put(a);
	}
	fprintf(stderr, "lab_daemon_liar: %zu alerts in all\n", n);
	ck_assert_msg(bad == 0, "%zu cross-check alerts about no lie", bad);
}
END_TEST

static Suite *lab_daemon_liar_suite(void)
{
	Suite *s = suite_create("lab_daemon_liar");
	TCase *t = tcase_create("one guest, lying agents");

	tcase_add_unchecked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 300);
	tcase_add_test(t, test_real_agent_diff_views_are_empty);
	tcase_add_test(t, test_agent_omitting_a_process_is_caught_as_hidden);
	tcase_add_test(t, test_agent_omitting_a_module_is_caught_as_hidden);
	tcase_add_test(t, test_agent_omitting_an_open_file_is_caught_as_hidden);
	tcase_add_test(t, test_agent_inventing_a_process_is_caught_as_phantom);
	tcase_add_test(t, test_real_agent_back_and_no_alert_but_the_lies);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lab_daemon_liar_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
