/*
 * check_trig.c - arming a guest's triggers: a breakpoint the backend
 * refuses for now (the xen backend on AMD while the guest boots: ftrace's
 * NOP is not patched in yet) is retried until it is placed, and the guest
 * is ready again; refusals no retry can fix degrade it for good. The
 * guest runs on memhv with the synthetic kernel of lnx_fake.h, whose
 * profile gets the symbols the rules name.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_fake.h"
#include "guest.h"
#include "rule.h"
#include "trig.h"
#include "vmi.h"
#include "lnx_fake.h"
}	/* lnx_fake.h leaves link_list() for its includer to close */

#define S_NS 1000000000ull
#define MOD_VA 0xffffffff81139f60ull	/* unslid, as System.map has it */
#define OPEN_VA 0xffffffff8134a9e0ull

static const char RULES[] =
	"- rule: Module\n"
	"  desc: a module was loaded\n"
	"  trigger: {breakpoint: do_init_module}\n"
	"  condition: module.name exists\n"
	"  output: \"module %module.name\"\n"
	"  priority: error\n"
	"- rule: Open\n"
	"  desc: a file was opened\n"
	"  trigger: {breakpoint: __x64_sys_openat}\n"
	"  condition: proc.pid exists\n"
	"  output: \"open by %proc.pid\"\n"
	"  priority: notice\n"
	"- rule: Missing\n"
	"  desc: a symbol the kernel lacks\n"
	"  enabled: false\n"
	"  trigger: {breakpoint: no_such_function}\n"
	"  condition: proc.pid exists\n"
	"  output: \"never\"\n"
	"  priority: notice\n";

/* names sorted: the profile's by_name table is searched by bisection */
static char pool[] = "__x64_sys_openat\0do_init_module\0";
static struct profile_symbol syms[] = {
	{ .addr = OPEN_VA, .name = 0, .type = 'T' },
	{ .addr = MOD_VA, .name = 17, .type = 'T' },
};

static struct upcalld D;
static struct rule_set *rules;
static struct guest *g;

static struct rule_set *load_rules(const char *text)
{
	struct rule_set *s = NULL;
	struct rule_errors e;

	rule_errors_init(&e);
	ck_assert_int_eq(rule_set_load_buf("t.yaml", text, strlen(text), &s, &e), 0);
	rule_errors_release(&e);
	return s;
}

static void trig_setup(void)
{
	nlog = nalerts = 0;
	setup();	/* lnx_fake: hv, v */
	prof.strings = pool;
	prof.strings_len = sizeof(pool);
	prof.by_name = syms;
	prof.nsyms = 2;
	memset(&D, 0, sizeof(D));
	rules = load_rules(RULES);
	g = calloc(1, sizeof(*g));
	ck_assert_ptr_nonnull(g);
	g->d = &D;
	snprintf(g->conf.name, sizeof(g->conf.name), "dom1");
	g->hv = hv;
	g->vmi = v;
	g->rules = rules;
	g->state = GUEST_READY;
}

static void trig_teardown(void)
{
	trig_disarm(g);
	free(g);
	rule_set_free(rules);
	prof.by_name = NULL;
	prof.nsyms = 0;
	teardown();
}

static gva_t slid(gva_t va)
{
	return va + VSLIDE;
}

START_TEST(test_bp_refused_while_booting_is_placed_on_retry_and_guest_ready)
{
	uint64_t now = upcalld_now_ns();

	ck_assert_int_eq(memhv_refuse_bp(hv, slid(MOD_VA), -EOPNOTSUPP), 0);
	ck_assert_int_eq(trig_arm(g), 0);
	ck_assert_int_eq(g->state, GUEST_DEGRADED);
	ck_assert_uint_eq(g->nbps, 1);			/* openat */
	ck_assert_uint_eq(g->nbp_wait, 1);		/* do_init_module */
	ck_assert_ptr_nonnull(strstr(g->error, "retried every"));
	/* due in about 10 s, and the loop is told so */
	ck_assert_uint_ge(trig_next_wakeup(g), now + 9 * S_NS);
	ck_assert_uint_le(trig_next_wakeup(g), now + 11 * S_NS);
	/* early: nothing tried */
	memhv_refuse_bp(hv, slid(MOD_VA), 0);
	trig_tick(g, now + S_NS);
	ck_assert_uint_eq(g->nbp_wait, 1);
	ck_assert(!memhv_has_bp(hv, slid(MOD_VA)));
	/* due: placed, logged, ready, error cleared */
	trig_tick(g, now + 12 * S_NS);
	ck_assert_uint_eq(g->nbp_wait, 0);
	ck_assert_uint_eq(g->nbps, 2);
	ck_assert(memhv_has_bp(hv, slid(MOD_VA)));
	ck_assert_int_eq(g->state, GUEST_READY);
	ck_assert_str_eq(g->error, "");
	ck_assert(logged("guest dom1: breakpoint on do_init_module armed on retry"));
	ck_assert_uint_eq(trig_next_wakeup(g), UINT64_MAX);
}
END_TEST

START_TEST(test_bp_still_refused_is_retried_quietly_and_guest_stays_degraded)
{
	uint64_t now = upcalld_now_ns();
	int lines;

	memhv_refuse_bp(hv, slid(MOD_VA), -EFAULT);	/* page not mapped yet */
	trig_arm(g);
	lines = nlog;
	trig_tick(g, now + 12 * S_NS);
	trig_tick(g, now + 24 * S_NS);
	ck_assert_int_eq(nlog, lines);			/* logged once, at arm */
	ck_assert_uint_eq(g->nbp_wait, 1);
	ck_assert_int_eq(g->state, GUEST_DEGRADED);
	ck_assert_uint_ge(trig_next_wakeup(g), now + 30 * S_NS);
}
END_TEST

START_TEST(test_bp_refusal_no_retry_fixes_degrades_for_good)
{
	uint64_t now = upcalld_now_ns();

	memhv_refuse_bp(hv, slid(MOD_VA), -EPERM);
	trig_arm(g);
	ck_assert_uint_eq(g->nbp_wait, 0);
	ck_assert_int_eq(g->state, GUEST_DEGRADED);
	ck_assert(g->degraded_for_good);
	memhv_refuse_bp(hv, slid(MOD_VA), 0);
	trig_tick(g, now + 60 * S_NS);
	ck_assert(!memhv_has_bp(hv, slid(MOD_VA)));
	ck_assert_int_eq(g->state, GUEST_DEGRADED);
}
END_TEST

START_TEST(test_retry_placed_but_other_degradation_keeps_guest_degraded)
{
	uint64_t now = upcalld_now_ns();
	static const char more[] =
		"- rule: Exec\n"
		"  desc: a new address space\n"
		"  trigger: new_address_space\n"
		"  condition: proc.pid exists\n"
		"  output: \"exec %proc.pid\"\n"
		"  priority: notice\n";
	char text[sizeof(RULES) + sizeof(more)];

	/* a backend without CR3 events: the CR3 rule is refused for good */
	ck_assert_int_eq(memhv_set_caps(hv, hv->caps & ~HV_CAP_CR3_EVENT), 0);
	snprintf(text, sizeof(text), "%s%s", RULES, more);
	rule_set_free(rules);
	g->rules = rules = load_rules(text);
	memhv_refuse_bp(hv, slid(MOD_VA), -EOPNOTSUPP);
	trig_arm(g);
	ck_assert(g->degraded_for_good);
	memhv_refuse_bp(hv, slid(MOD_VA), 0);
	trig_tick(g, now + 12 * S_NS);
	ck_assert(memhv_has_bp(hv, slid(MOD_VA)));
	ck_assert_int_eq(g->state, GUEST_DEGRADED);
	ck_assert_str_ne(g->error, "");
}
END_TEST

START_TEST(test_disarm_forgets_waiting_bps)
{
	memhv_refuse_bp(hv, slid(MOD_VA), -EBUSY);
	trig_arm(g);
	ck_assert_uint_eq(g->nbp_wait, 1);
	trig_disarm(g);
	ck_assert_uint_eq(g->nbp_wait, 0);
	ck_assert(!g->degraded_for_good);
	ck_assert_uint_eq(trig_next_wakeup(g), UINT64_MAX);
	ck_assert_uint_eq(memhv_nr_bps(hv), 0);
}
END_TEST

static Suite *trig_suite(void)
{
	Suite *s = suite_create("trig");
	TCase *tc = tcase_create("bp_retry");

	tcase_add_checked_fixture(tc, trig_setup, trig_teardown);
	tcase_add_test(tc, test_bp_refused_while_booting_is_placed_on_retry_and_guest_ready);
	tcase_add_test(tc, test_bp_still_refused_is_retried_quietly_and_guest_stays_degraded);
	tcase_add_test(tc, test_bp_refusal_no_retry_fixes_degrades_for_good);
	tcase_add_test(tc, test_retry_placed_but_other_degradation_keeps_guest_degraded);
	tcase_add_test(tc, test_disarm_forgets_waiting_bps);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(trig_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
