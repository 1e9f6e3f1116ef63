/*
 * check_discover.c - Xen guest discovery without Xen: the plan (which
 * domains to attach, which guests to drop) against odd and hostile domain
 * lists, carrying it out on a daemon context, and a domain dying under a
 * scan in flight, with the hv's HV_EV_GONE and xenstore's release coming
 * in either order (memhv and the synthetic kernel of lnx_fake.h).
 *
 * The daemon's own functions (upcalld_log, upcalld_now_ns, upcalld_alert)
 * live in upcalld.c, the program: this test provides them, recording the
 * log lines and counting alerts.
 */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "discover.h"
#include "guest.h"
#include "scan.h"
#include "upcall.h"
#include "upcalld.h"
#include "vmi.h"
#include "xport.h"
#include "lnx_fake.h"
}	/* lnx_fake.h leaves link_list() for its includer to close */

#define LOG_LINES 64

static char logv[LOG_LINES][320];	/* the last LOG_LINES lines */
static int nlog, nalerts;		/* nlog: lines ever logged */

void upcalld_log(const struct upcalld *d, int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(logv[nlog++ % LOG_LINES], sizeof(logv[0]), fmt, ap);
	va_end(ap);
}

uint64_t upcalld_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int upcalld_alert(struct upcalld *d, const struct alert *a)
{
	nalerts++;
	return 0;
}

static bool logged(const char *line)
{
	for (int i = 0; i < nlog && i < LOG_LINES; i++)
		if (!strcmp(logv[i], line))
			return true;
	return false;
}

static int logged_count(const char *part)
{
	int n = 0;

	for (int i = 0; i < nlog && i < LOG_LINES; i++)
		n += strstr(logv[i], part) != NULL;
	return n;
}

/* --- fixtures ------------------------------------------------------------- */

static const char CFG[] =
	"guests:\n"
	"  - match: \"q*\"\n"
	"    backend: qemu\n"
	"    profiles: /nonexistent\n"
	"    ram: /nonexistent/%n.ram\n"
	"    gdb: /nonexistent/%n.gdb\n"
	"  - match: \"dom*\"\n"
	"    backend: xen\n"
	"    profiles: /nonexistent/profiles\n"
	"    key_dir: /nonexistent/keys\n"
	"  - match: \"db[0-9]\"\n"
	"    backend: xen\n"
	"    profiles: /nonexistent/profiles\n"
	"rules: [/nonexistent/rules]\n";

static const char CFG_NARROW[] =
	"guests:\n"
	"  - match: \"dom1\"\n"
	"    backend: xen\n"
	"    profiles: /nonexistent/profiles\n"
	"rules: [/nonexistent/rules]\n";

static struct config *load_cfg(const char *text)
{
	struct config *c = NULL;
	struct rule_errors e;

	rule_errors_init(&e);
	ck_assert_int_eq(config_load_buf("t.yaml", text, strlen(text), NULL, &c, &e), 0);
	rule_errors_release(&e);
	return c;
}

static struct config *cfg;
static struct upcalld D;
static struct discover_plan P;

static void common_setup(void)
{
	nlog = nalerts = 0;
	cfg = load_cfg(CFG);
	memset(&D, 0, sizeof(D));
	D.cfg = cfg;
	D.sigfd = -1;
}

static void common_teardown(void)
{
	for (size_t i = 0; i < D.nguests; i++)
		guest_free(D.guests[i]);
	D.nguests = 0;
	config_free(D.cfg);
}

static struct discover_dom dom(unsigned int id, const char *name)
{
	struct discover_dom d = { .domid = id };

	snprintf(d.name, sizeof(d.name), "%s", name);
	return d;
}

static void plan(const struct discover_have *h, size_t nh,
		 const struct discover_dom *a, size_t na)
{
	discover_plan(cfg, h, nh, a, na, &P);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- the plan ------------------------------------------------------------- */

START_TEST(test_plan_matching_xen_domains_attached_others_ignored)
{
	struct discover_dom a[] = { dom(3, "dom1"), dom(4, "web"), dom(5, "db7"),
				    dom(6, "db77") };

	plan(NULL, 0, a, N(a));
	ck_assert_uint_eq(P.nattach, 2);
	ck_assert_uint_eq(P.attach[0], 0);
	ck_assert_uint_eq(P.attach[1], 2);
	ck_assert_uint_eq(P.ndrop, 0);
	ck_assert_uint_eq(P.refused, 0);
}
END_TEST

START_TEST(test_plan_name_matching_qemu_entry_first_is_not_attached)
{
	struct discover_dom a[] = { dom(3, "qdom") };	/* "q*" is qemu, listed first */

	plan(NULL, 0, a, N(a));
	ck_assert_uint_eq(P.nattach, 0);
}
END_TEST

START_TEST(test_plan_watched_domain_still_listed_is_kept)
{
	struct discover_have h[] = { { "dom1", 3 } };
	struct discover_dom a[] = { dom(3, "dom1") };

	plan(h, N(h), a, N(a));
	ck_assert_uint_eq(P.nattach, 0);
	ck_assert_uint_eq(P.ndrop, 0);
}
END_TEST

START_TEST(test_plan_domid_no_longer_listed_is_dropped)
{
	struct discover_have h[] = { { "dom1", 3 }, { "dom2", 4 } };
	struct discover_dom a[] = { dom(4, "dom2") };

	plan(h, N(h), a, N(a));
	ck_assert_uint_eq(P.ndrop, 1);
	ck_assert_uint_eq(P.drop[0], 0);
	ck_assert_uint_eq(P.nattach, 0);
}
END_TEST

START_TEST(test_plan_same_name_new_domid_drops_old_and_attaches_new)
{
	struct discover_have h[] = { { "dom1", 3 } };
	struct discover_dom a[] = { dom(9, "dom1") };

	plan(h, N(h), a, N(a));
	ck_assert_uint_eq(P.ndrop, 1);
	ck_assert_uint_eq(P.nattach, 1);
	ck_assert_uint_eq(a[P.attach[0]].domid, 9);
}
END_TEST

START_TEST(test_plan_renamed_domain_is_dropped_and_new_name_attached)
{
	struct discover_have h[] = { { "dom1", 3 }, { "dom2", 4 } };
	struct discover_dom a[] = { dom(3, "dom9"), dom(4, "other") };

	plan(h, N(h), a, N(a));
	ck_assert_uint_eq(P.ndrop, 2);		/* dom1 renamed; dom2 renamed away */
	ck_assert_uint_eq(P.nattach, 1);	/* dom9 matches, other does not */
	ck_assert_str_eq(a[P.attach[0]].name, "dom9");
}
END_TEST

START_TEST(test_plan_duplicate_domid_keeps_first_entry_only)
{
	struct discover_dom a[] = { dom(3, "dom1"), dom(3, "dom2"), dom(3, "dom1") };

	plan(NULL, 0, a, N(a));
	ck_assert_uint_eq(P.nattach, 1);
	ck_assert_uint_eq(P.attach[0], 0);
	ck_assert_uint_eq(P.refused, 2);
}
END_TEST

START_TEST(test_plan_same_name_twice_unwatched_attaches_first_listed)
{
	struct discover_dom a[] = { dom(7, "dom1"), dom(3, "dom1") };

	plan(NULL, 0, a, N(a));
	ck_assert_uint_eq(P.nattach, 1);
	ck_assert_uint_eq(a[P.attach[0]].domid, 7);
	ck_assert_uint_eq(P.refused, 1);
}
END_TEST

START_TEST(test_plan_same_name_twice_keeps_watched_incarnation)
{
	struct discover_have h[] = { { "dom1", 3 } };
	struct discover_dom a[] = { dom(2, "dom1"), dom(3, "dom1") };

	plan(h, N(h), a, N(a));
	ck_assert_uint_eq(P.ndrop, 0);
	ck_assert_uint_eq(P.nattach, 0);
}
END_TEST

START_TEST(test_plan_names_with_control_bytes_are_refused)
{
	struct discover_dom a[] = { dom(3, "dom\x1b[2J"), dom(4, "dom\n1"),
				    dom(5, "dom\x7f"), dom(6, "dom\t") };

	plan(NULL, 0, a, N(a));
	ck_assert_uint_eq(P.nattach, 0);
	ck_assert_uint_eq(P.refused, 4);
}
END_TEST

START_TEST(test_plan_unterminated_overlong_name_is_refused)
{
	struct discover_dom a[2] = { { .domid = 3 }, { .domid = 4 } };

	memset(a[0].name, 'd', sizeof(a[0].name));	/* no NUL at all */
	memcpy(a[0].name, "dom", 3);
	memset(a[1].name, 'm', sizeof(a[1].name) - 1);	/* longest that fits */
	memcpy(a[1].name, "dom", 3);
	plan(NULL, 0, a, N(a));
	ck_assert_uint_eq(P.refused, 1);
	ck_assert_uint_eq(P.nattach, 1);
	ck_assert_uint_eq(P.attach[0], 1);
}
END_TEST

START_TEST(test_plan_dot_slash_space_empty_and_non_ascii_names_are_refused)
{
	struct discover_dom a[] = { dom(3, "."), dom(4, ".."), dom(5, "dom/../x"),
				    dom(6, "dom 1"), dom(7, ""), dom(8, "dom\xc3\xa9"),
				    dom(9, "dom\xc2\x9b") };

	ck_assert(!discover_name_ok("dom/x", 64));
	ck_assert(discover_name_ok("dom-1.x_y", 64));
	plan(NULL, 0, a, N(a));
	ck_assert_uint_eq(P.nattach, 0);
	ck_assert_uint_eq(P.refused, N(a));
}
END_TEST

START_TEST(test_plan_name_with_glob_characters_is_matched_literally)
{
	/* "dom*" fits "dom[1]" and "dom*" as text; "db[0-9]" does not fit
	 * the literal name "db[0-9]" */
	struct discover_dom a[] = { dom(3, "dom[1]"), dom(4, "dom*"),
				    dom(5, "db[0-9]"), dom(6, "*") };

	plan(NULL, 0, a, N(a));
	ck_assert_uint_eq(P.nattach, 2);
	ck_assert_str_eq(a[P.attach[0]].name, "dom[1]");
	ck_assert_str_eq(a[P.attach[1]].name, "dom*");
}
END_TEST

START_TEST(test_plan_dom0_and_reserved_domids_are_refused)
{
	struct discover_dom a[] = { dom(0, "dom0"), dom(0x7ff0, "domio"),
				    dom(0x7ff5, "domx"), dom(0xffffffffu, "domy") };

	plan(NULL, 0, a, N(a));
	ck_assert_uint_eq(P.nattach, 0);
	ck_assert_uint_eq(P.refused, N(a));
}
END_TEST

START_TEST(test_plan_dying_domain_is_dropped_not_attached)
{
	struct discover_have h[] = { { "dom1", 3 } };
	struct discover_dom a[] = { dom(3, "dom1"), dom(4, "dom2") };

	a[0].dying = a[1].dying = true;
	plan(h, N(h), a, N(a));
	ck_assert_uint_eq(P.ndrop, 1);
	ck_assert_uint_eq(P.nattach, 0);
}
END_TEST

START_TEST(test_plan_guests_without_domid_are_never_dropped)
{
	struct discover_have h[] = { { "qemu1", 0 }, { "dom1", 0 } };

	plan(h, N(h), NULL, 0);
	ck_assert_uint_eq(P.ndrop, 0);
}
END_TEST

START_TEST(test_plan_name_held_by_other_guest_is_not_attached_twice)
{
	struct discover_have h[] = { { "dom1", 0 } };	/* e.g. a qemu guest "dom1" */
	struct discover_dom a[] = { dom(3, "dom1") };

	plan(h, N(h), a, N(a));
	ck_assert_uint_eq(P.nattach, 0);
}
END_TEST

START_TEST(test_plan_more_domains_than_guest_max_fills_table_and_counts_rest)
{
	static struct discover_dom a[UPCALLD_GUESTS_MAX + 40];
	static struct discover_have h[10];
	char names[10][16];

	for (size_t i = 0; i < N(h); i++) {
		snprintf(names[i], sizeof(names[i]), "q%zu", i);
		h[i] = (struct discover_have){ names[i], 0 };
	}
	for (size_t i = 0; i < N(a); i++) {
		a[i].domid = (unsigned int)i + 1;
		snprintf(a[i].name, sizeof(a[i].name), "dom%zu", i);
	}
	plan(h, N(h), a, N(a));
	ck_assert_uint_eq(P.nattach, UPCALLD_GUESTS_MAX - N(h));
	ck_assert_uint_eq(P.no_room, N(a) - (UPCALLD_GUESTS_MAX - N(h)));
}
END_TEST

START_TEST(test_plan_alive_list_longer_than_cap_is_cut_at_cap)
{
	static struct discover_dom a[DISCOVER_DOMS_MAX + 100];

	for (size_t i = 0; i < N(a); i++) {
		a[i].domid = (unsigned int)i + 1;
		snprintf(a[i].name, sizeof(a[i].name), "x%zu", i);	/* no match */
	}
	snprintf(a[N(a) - 1].name, sizeof(a[0].name), "dom1");	/* past the cap */
	plan(NULL, 0, a, N(a));
	ck_assert_uint_eq(P.nattach, 0);
}
END_TEST

START_TEST(test_plan_config_no_longer_matching_drops_guest)
{
	struct discover_have h[] = { { "dom1", 3 }, { "dom2", 4 } };
	struct discover_dom a[] = { dom(3, "dom1"), dom(4, "dom2") };

	config_free(cfg);
	D.cfg = cfg = load_cfg(CFG_NARROW);
	plan(h, N(h), a, N(a));
	ck_assert_uint_eq(P.ndrop, 1);
	ck_assert_uint_eq(P.drop[0], 1);
	ck_assert_uint_eq(P.nattach, 0);
}
END_TEST

/* --- carrying it out ------------------------------------------------------ */

START_TEST(test_guest_conf_has_domid_and_key_from_entry)
{
	struct guest_conf gc;
	char longname[GUEST_NAME_MAX + 8];

	ck_assert_int_eq(discover_guest_conf(&cfg->guests[1], "dom1", 7, &gc), 0);
	ck_assert_str_eq(gc.name, "dom1");
	ck_assert_str_eq(gc.backend, "xen");
	ck_assert_uint_eq(gc.domid, 7);
	ck_assert_str_eq(gc.key, "/nonexistent/keys/dom1.key");
	ck_assert_str_eq(gc.profiles, "/nonexistent/profiles");
	/* a qemu template refuses a name that would climb out of the path */
	ck_assert_int_eq(discover_guest_conf(&cfg->guests[0], "..", 0, &gc), -EINVAL);
	memset(longname, 'q', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(discover_guest_conf(&cfg->guests[0], longname, 0, &gc), 0);
	ck_assert_uint_eq(strlen(gc.name), GUEST_NAME_MAX - 1);	/* cut, not overrun */
}
END_TEST

START_TEST(test_apply_domain_vanished_before_attach_stays_failed_until_dropped)
{
	struct discover_dom a[] = { dom(3, "dom1") };

	/* no such domain here: the attach fails as for one gone in between */
	ck_assert_uint_eq(discover_apply(&D, a, N(a)), 1);
	ck_assert_uint_eq(D.nguests, 1);
	ck_assert_int_eq(D.guests[0]->state, GUEST_FAILED);
	ck_assert_uint_eq(D.guests[0]->conf.domid, 3);
	ck_assert(logged("guest dom1 (dom 3): found, not attached yet (retried)"));
	/* listed again: not attached a second time */
	ck_assert_uint_eq(discover_apply(&D, a, N(a)), 0);
	ck_assert_uint_eq(D.nguests, 1);
	ck_assert_uint_eq(discover_apply(&D, NULL, 0), 1);
	ck_assert_uint_eq(D.nguests, 0);
	ck_assert(logged("guest dom1 (dom 3): domain gone, dropped"));
}
END_TEST

START_TEST(test_apply_destroy_and_create_replaces_guest_with_new_domid)
{
	struct discover_dom a[] = { dom(3, "dom1") }, b[] = { dom(4, "dom1") };

	discover_apply(&D, a, 1);
	ck_assert_uint_eq(discover_apply(&D, b, 1), 2);
	ck_assert_uint_eq(D.nguests, 1);
	ck_assert_uint_eq(D.guests[0]->conf.domid, 4);
	ck_assert(logged("guest dom1 (dom 3): domain gone, dropped"));
	ck_assert(logged("guest dom1 (dom 4): found, not attached yet (retried)"));
}
END_TEST

START_TEST(test_apply_drop_keeps_other_guests_in_order)
{
	struct discover_dom a[] = { dom(3, "dom1"), dom(4, "dom2"), dom(5, "dom3"),
				    dom(6, "db1") };
	struct discover_dom b[] = { dom(4, "dom2"), dom(6, "db1") };

	discover_apply(&D, a, N(a));
	ck_assert_uint_eq(D.nguests, 4);
	ck_assert_uint_eq(discover_apply(&D, b, N(b)), 2);
	ck_assert_uint_eq(D.nguests, 2);
	ck_assert_str_eq(D.guests[0]->conf.name, "dom2");
	ck_assert_str_eq(D.guests[1]->conf.name, "db1");
	ck_assert(logged("guest dom3 (dom 5): domain gone, dropped"));
}
END_TEST

START_TEST(test_apply_renamed_and_unmatched_say_why_when_dropped)
{
	struct discover_dom a[] = { dom(3, "dom1"), dom(4, "dom2") };
	struct discover_dom b[] = { dom(3, "dom1"), dom(4, "dom5") };

	discover_apply(&D, a, N(a));
	discover_apply(&D, b, N(b));
	ck_assert(logged("guest dom2 (dom 4): domain renamed, dropped"));
	config_free(D.cfg);
	D.cfg = cfg = load_cfg(CFG_NARROW);	/* a reload: only dom1 */
	discover_apply(&D, b, N(b));
	ck_assert(logged("guest dom5 (dom 4): no longer matches a xen guest entry, dropped"));
	ck_assert_uint_eq(D.nguests, 1);
	ck_assert_str_eq(D.guests[0]->conf.name, "dom1");
}
END_TEST

START_TEST(test_apply_more_domains_than_guest_max_stops_at_max_and_warns)
{
	static struct discover_dom a[UPCALLD_GUESTS_MAX + 5];

	for (size_t i = 0; i < N(a); i++) {
		a[i].domid = (unsigned int)i + 1;
		snprintf(a[i].name, sizeof(a[i].name), "dom%zu", i);
	}
	discover_apply(&D, a, N(a));
	ck_assert_uint_eq(D.nguests, UPCALLD_GUESTS_MAX);
	ck_assert_int_eq(logged_count("5 matching domains not watched"), 1);
	/* the first go away: room for the rest */
	ck_assert_uint_eq(discover_apply(&D, a + 5, N(a) - 5), 10);
	ck_assert_uint_eq(D.nguests, UPCALLD_GUESTS_MAX);
}
END_TEST

START_TEST(test_new_without_xenstore_leaves_disc_null_and_logs_once)
{
	if (!access("/dev/xen/xenbus", F_OK) || !access("/run/xenstored/socket", F_OK))
		return;	/* a Xen host: there is a xenstore */
	ck_assert_int_eq(discover_new(&D), 0);
	ck_assert_ptr_null(D.disc);
	ck_assert_int_eq(nlog, 1);
	ck_assert_ptr_nonnull(strstr(logv[0], "not followed"));
	ck_assert_int_eq(discover_fd(&D), -1);
	discover_request(&D);
	discover_tick(&D, true);
	discover_free(&D);
	ck_assert_int_eq(nlog, 1);
}
END_TEST

/* --- a domain dying under a scan ----------------------------------------- */

static int ndone, ncancelled;

static void on_scan_done(void *arg, struct scan *s)
{
	ndone++;
	ncancelled += s->cancelled;
	scan_rules_done(arg, s);	/* the rule path: no alert from a cancelled scan */
}

/*
 * Attach dom1 as discovery does (the xen attach fails here), then give it
 * what a working attach has: the synthetic kernel in memhv, its session,
 * and an upcall client whose agent never answers; start a scan, which
 * then waits for the agent.
 */
static struct guest *guest_scanning(unsigned int domid)
{
	struct discover_dom a[] = { dom(domid, "dom1") };
	struct upcall_cfg uc = { .guest = "dom1" };
	struct scan_req req = { .what = SNAP_PROCS, .event_type = "test",
				.done = on_scan_done };
	struct xport *xp;
	struct guest *g;

	discover_apply(&D, a, 1);
	ck_assert_uint_eq(D.nguests, 1);
	g = D.guests[0];
	g->hv = hv;
	g->vmi = v;
	hv = NULL;		/* the guest owns them now */
	v = NULL;
	g->state = GUEST_READY;
	ck_assert_int_eq(xport_qemu_new("dom1", "/nonexistent/dom1.sock", &xp), 0);
	ck_assert_int_eq(upcall_new(&uc, xp, &g->up), 0);
	ck_assert_int_eq(scan_start(g, &req, NULL, 0), 0);
	ck_assert_ptr_nonnull(g->scan);
	ck_assert_uint_eq(g->scan->pending, 1);
	ck_assert_int_eq(ndone, 0);
	return g;
}

static void gone_setup(void)
{
	common_setup();
	setup();	/* lnx_fake: hv, v */
	ndone = ncancelled = 0;
}

static void gone_teardown(void)
{
	common_teardown();
	teardown();	/* whatever the guest did not take */
}

START_TEST(test_gone_event_then_release_cancels_scan_once_and_drops_once)
{
	struct guest *g = guest_scanning(3);

	ck_assert_int_eq(memhv_set_gone(g->hv), 0);
	guest_on_hv_event(g);
	ck_assert_int_eq(g->state, GUEST_GONE);
	ck_assert_ptr_null(g->hv);
	ck_assert_ptr_null(g->scan);
	ck_assert_int_eq(ndone, 1);
	ck_assert_int_eq(ncancelled, 1);
	ck_assert_uint_eq(discover_apply(&D, NULL, 0), 1);	/* @releaseDomain */
	ck_assert_uint_eq(D.nguests, 0);
	ck_assert_int_eq(ndone, 1);
	ck_assert_int_eq(nalerts, 0);
	ck_assert(logged("guest dom1 (dom 3): domain gone, dropped"));
}
END_TEST

START_TEST(test_release_then_gone_event_cancels_scan_once_and_frees_pending_event)
{
	struct guest *g = guest_scanning(3);

	ck_assert_int_eq(memhv_set_gone(g->hv), 0);	/* HV_EV_GONE queued, unread */
	ck_assert_uint_eq(discover_apply(&D, NULL, 0), 1);
	ck_assert_uint_eq(D.nguests, 0);
	ck_assert_int_eq(ndone, 1);
	ck_assert_int_eq(ncancelled, 1);
	ck_assert_int_eq(nalerts, 0);
	/* nothing of the guest is left to poll: its fd went with it */
	ck_assert_uint_eq(discover_apply(&D, NULL, 0), 0);
}
END_TEST

START_TEST(test_gone_event_then_recreate_drops_old_and_attaches_new_domid)
{
	struct guest *g = guest_scanning(3);
	struct discover_dom b[] = { dom(8, "dom1") };

	ck_assert_int_eq(memhv_set_gone(g->hv), 0);
	guest_on_hv_event(g);
	ck_assert_uint_eq(discover_apply(&D, b, 1), 2);
	ck_assert_uint_eq(D.nguests, 1);
	ck_assert_ptr_ne(D.guests[0], NULL);
	ck_assert_uint_eq(D.guests[0]->conf.domid, 8);
	ck_assert_int_eq(ndone, 1);
	ck_assert(logged("guest dom1 (dom 3): domain gone, dropped"));
}
END_TEST

START_TEST(test_release_while_listed_dying_drops_guest_with_scan)
{
	struct guest *g = guest_scanning(3);
	struct discover_dom a[] = { dom(3, "dom1") };

	(void)g;
	a[0].dying = true;	/* xenstore still lists it; the hypervisor says dying */
	ck_assert_uint_eq(discover_apply(&D, a, 1), 1);
	ck_assert_uint_eq(D.nguests, 0);
	ck_assert_int_eq(ndone, 1);
	ck_assert_int_eq(ncancelled, 1);
}
END_TEST

static Suite *discover_suite(void)
{
	Suite *s = suite_create("discover");
	TCase *tc = tcase_create("plan");

	tcase_add_checked_fixture(tc, common_setup, common_teardown);
	tcase_add_test(tc, test_plan_matching_xen_domains_attached_others_ignored);
	tcase_add_test(tc, test_plan_name_matching_qemu_entry_first_is_not_attached);
	tcase_add_test(tc, test_plan_watched_domain_still_listed_is_kept);
	tcase_add_test(tc, test_plan_domid_no_longer_listed_is_dropped);
	tcase_add_test(tc, test_plan_same_name_new_domid_drops_old_and_attaches_new);
	tcase_add_test(tc, test_plan_renamed_domain_is_dropped_and_new_name_attached);
	tcase_add_test(tc, test_plan_duplicate_domid_keeps_first_entry_only);
	tcase_add_test(tc, test_plan_same_name_twice_unwatched_attaches_first_listed);
	tcase_add_test(tc, test_plan_same_name_twice_keeps_watched_incarnation);
	tcase_add_test(tc, test_plan_names_with_control_bytes_are_refused);
	tcase_add_test(tc, test_plan_unterminated_overlong_name_is_refused);
	tcase_add_test(tc, test_plan_dot_slash_space_empty_and_non_ascii_names_are_refused);
	tcase_add_test(tc, test_plan_name_with_glob_characters_is_matched_literally);
	tcase_add_test(tc, test_plan_dom0_and_reserved_domids_are_refused);
	tcase_add_test(tc, test_plan_dying_domain_is_dropped_not_attached);
	tcase_add_test(tc, test_plan_guests_without_domid_are_never_dropped);
	tcase_add_test(tc, test_plan_name_held_by_other_guest_is_not_attached_twice);
	tcase_add_test(tc, test_plan_more_domains_than_guest_max_fills_table_and_counts_rest);
	tcase_add_test(tc, test_plan_alive_list_longer_than_cap_is_cut_at_cap);
	tcase_add_test(tc, test_plan_config_no_longer_matching_drops_guest);
	suite_add_tcase(s, tc);

	tc = tcase_create("apply");
	tcase_add_checked_fixture(tc, common_setup, common_teardown);
	tcase_add_test(tc, test_guest_conf_has_domid_and_key_from_entry);
	tcase_add_test(tc, test_apply_domain_vanished_before_attach_stays_failed_until_dropped);
	tcase_add_test(tc, test_apply_destroy_and_create_replaces_guest_with_new_domid);
	tcase_add_test(tc, test_apply_drop_keeps_other_guests_in_order);
	tcase_add_test(tc, test_apply_renamed_and_unmatched_say_why_when_dropped);
	tcase_add_test(tc, test_apply_more_domains_than_guest_max_stops_at_max_and_warns);
	tcase_add_test(tc, test_new_without_xenstore_leaves_disc_null_and_logs_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("gone");
	tcase_add_checked_fixture(tc, gone_setup, gone_teardown);
	tcase_add_test(tc, test_gone_event_then_release_cancels_scan_once_and_drops_once);
	tcase_add_test(tc, test_release_then_gone_event_cancels_scan_once_and_frees_pending_event);
	tcase_add_test(tc, test_gone_event_then_recreate_drops_old_and_attaches_new_domid);
	tcase_add_test(tc, test_release_while_listed_dying_drops_guest_with_scan);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(discover_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
