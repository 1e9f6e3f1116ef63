/*
 * lab_modules.c - the module-allowlist rule on a real guest: upcalld breaks
 * on do_init_module, reads the module's name from its argument, and a
 * module missing from allowed_modules raises "Kernel module outside
 * allowlist" with the module and the loading process; an allowed module
 * (appended to the list by a rules.d file, after a reload) raises nothing.
 * The lab guest only carries virtio modules, all loaded at
 * boot, so the test takes virtio_console off the daemon's copy of the list
 * and reloads that module in the guest (stopping the agent that holds it).
 */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labsup.h"
#include "labsup_daemon.h"

#define RUN_MS 60000
#define ALERT_MS 60000
#define RULE "Kernel module outside allowlist"
#define AGENT "/sbin/upcalld-agent --port-name org.upcalld.0 " \
	      "--key-file /etc/upcalld/agent.key"
#define RELOAD(m) "killall upcalld-agent; sleep 0.5; rmmod " m " && insmod " \
		  "$(find /lib/modules -name " m ".ko | head -1) && echo loaded; " \
		  "(" AGENT " >/dev/null 2>&1 &)"

static struct lab_guest guest;
static struct labd daemon_;
static int setup_rc = -1;

/* Drop one item from the daemon's copy of allowed_modules. */
static int unallow(const char *rules_dir, const char *module)
{
	char cmd[LAB_PATH_MAX * 2 + 128];

	snprintf(cmd, sizeof(cmd), "sed -i '/^    - %s$/d' '%s/00-lists.yaml'",
		 module, rules_dir);
	return system(cmd) == 0 ? 0 : -EIO;
}

static void setup(void)
{
	struct lab_opts o = { .cpu = "qemu64", .agent = 1 };

	setup_rc = lab_start("labmod", &o, &guest);
	if (!setup_rc)
		setup_rc = labd_init(&daemon_, &guest, NULL);
	if (!setup_rc)
		setup_rc = unallow(daemon_.rules, "virtio_console");
	if (!setup_rc)
		setup_rc = labd_start(&daemon_, 90000);
	if (setup_rc)
		fprintf(stderr, "lab_modules: setup: %s\n", strerror(-setup_rc));
}

static void teardown(void)
{
	labd_free(&daemon_);
	lab_stop(&guest);
}

START_TEST(test_module_outside_allowlist_raises_alert_with_name_and_loader)
{
	struct labd_want want = { .rule = RULE, .module = "virtio_console" };
	size_t from = labd_nalerts(&daemon_);
	struct json_object *a;
	char *out;

	ck_assert_msg(setup_rc == 0, "setup failed: %s", strerror(-setup_rc));
	out = labd_gt(&guest, RELOAD("virtio_console"), RUN_MS);
	ck_assert_ptr_nonnull(strstr(out, "loaded"));
	free(out);
	a = labd_wait_alert(&daemon_, from, labd_want_match, &want, ALERT_MS,
			    false, 0);
	if (!a)
		labd_dump_log(&daemon_, 40);
	ck_assert_msg(a, "no \"%s\" alert for virtio_console", RULE);
	ck_assert_str_eq(labd_str(a, "process.name"), "insmod");
	ck_assert_int_gt(labd_int(a, "process.pid"), 1);
	json_object_put(a);
}
END_TEST

/* The guest's breakpoint/CR3 event count, from "status". */
static long long guest_events(void)
{
	struct json_object *r = NULL, *g;
	long long n = -1;

	if (labd_call(&daemon_, "status", NULL, NULL, &r) == 0 &&
	    (g = json_object_array_get_idx(labd_get(r, "guests"), 0)))
		n = labd_int(g, "events");
	json_object_put(r);
	return n;
}

START_TEST(test_module_allowed_by_appended_list_raises_nothing)
{
	struct labd_want want = { .rule = RULE, .module = "virtio_console" };
	char path[LAB_PATH_MAX + 32];
	struct json_object *r = NULL, *a;
	long long before;
	size_t from;
	FILE *f;
	char *out;

	ck_assert_msg(setup_rc == 0, "setup failed: %s", strerror(-setup_rc));
	snprintf(path, sizeof(path), "%s/99-allow.yaml", daemon_.rules);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("- list: allowed_modules\n  append: true\n  items: [virtio_console]\n", f);
	fclose(f);
	ck_assert_int_eq(labd_call(&daemon_, "reload", NULL, NULL, &r), 0);
	ck_assert_msg(json_object_get_boolean(labd_get(r, "ok")), "reload refused: %s",
		      json_object_to_json_string(r));
	json_object_put(r);
	before = guest_events();
	from = labd_nalerts(&daemon_);
	out = labd_gt(&guest, RELOAD("virtio_console"), RUN_MS);
	ck_assert_ptr_nonnull(strstr(out, "loaded"));
	free(out);
	a = labd_wait_alert(&daemon_, from, labd_want_match, &want, 8000, false, 0);
	ck_assert_msg(!a, "an allowed module raised an alert");
	/* the breakpoint did fire: the module was seen and judged allowed */
	ck_assert_int_gt(guest_events(), before);
}
END_TEST

static Suite *modules_suite(void)
{
	Suite *s = suite_create("lab_modules");
	TCase *tc = tcase_create("allowlist");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_module_outside_allowlist_raises_alert_with_name_and_loader);
	tcase_add_test(tc, test_module_allowed_by_appended_list_raises_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(modules_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
