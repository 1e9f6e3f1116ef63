/*
 * check_discover_gone.c - a discovered Xen domain dying under a scan in
 * flight: the hv's HV_EV_GONE and xenstore's @releaseDomain (a rescan
 * without the domain, or with it dying) come in either order. The guest
 * gets a working attach's parts: the synthetic kernel of lnx_fake.h in
 * memhv, its introspection session, and an upcall client whose agent
 * never answers. Each order must complete the scan exactly once, as
 * cancelled, raise no alert, and free the guest once (ASan build).
 */
#include "discover_fake.h"
#include "scan.h"
#include "upcall.h"
#include "vmi.h"
#include "xport.h"
#include "lnx_fake.h"
}	/* lnx_fake.h leaves link_list() for its includer to close */

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
	ck_assert_ptr_null(D.guests[0]->scan);
	ck_assert_int_eq(ndone, 1);
	ck_assert_int_eq(nalerts, 0);
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
	ck_assert_int_eq(nalerts, 0);	/* a cancelled scan is no finding */
	ck_assert(logged("guest dom1 (dom 3): domain gone, dropped"));
	/* still listed dying at the next rescan: not attached again */
	ck_assert_uint_eq(discover_apply(&D, a, 1), 0);
	ck_assert_uint_eq(D.nguests, 0);
}
END_TEST

static Suite *discover_gone_suite(void)
{
	Suite *s = suite_create("discover_gone");
	TCase *tc;

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
	SRunner *sr = srunner_create(discover_gone_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
