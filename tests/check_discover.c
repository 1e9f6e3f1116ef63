/*
 * check_discover.c - Xen guest discovery without Xen: the plan (which
 * domains to attach, which guests to drop) against odd and hostile domain
 * lists (duplicate ids, one name twice, control bytes, over-long names,
 * glob characters, more domains than the daemon takes), then carrying it
 * out on a daemon context: attach, drop, destroy + create, a domain gone
 * between listing and attach. The xen attach itself fails here (no Xen):
 * guests stay in GUEST_FAILED with their domain id, as for a domain that
 * vanished. A domain dying under a scan is in check_discover_gone.c.
 */
#include "discover_fake.h"

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

START_TEST(test_next_scan_is_soon_while_a_domain_is_shut_down_else_periodic)
{
	struct discover_dom a[] = { dom(3, "dom1"), dom(4, "web") };
	uint64_t now = 1000ull * 1000000000ull;

	ck_assert_uint_eq(discover_next_scan(a, N(a), now), now + DISCOVER_RESCAN_NS);
	ck_assert_uint_eq(discover_next_scan(NULL, 0, now), now + DISCOVER_RESCAN_NS);
	a[1].dying = true;	/* suspended (xl save -c): it may resume silently */
	ck_assert_uint_eq(discover_next_scan(a, N(a), now), now + DISCOVER_RESCAN_SOON_NS);
	ck_assert_uint_lt(DISCOVER_RESCAN_SOON_NS, DISCOVER_RESCAN_NS);
}
END_TEST

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
	ck_assert_str_eq(gc.breakpoints, "int3");	/* the default */
	cfg->guests[1].debugreg_bps = true;
	ck_assert_int_eq(discover_guest_conf(&cfg->guests[1], "dom1", 7, &gc), 0);
	ck_assert_str_eq(gc.breakpoints, "debugreg");
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
	tcase_add_test(tc, test_next_scan_is_soon_while_a_domain_is_shut_down_else_periodic);
	tcase_add_test(tc, test_guest_conf_has_domid_and_key_from_entry);
	tcase_add_test(tc, test_apply_domain_vanished_before_attach_stays_failed_until_dropped);
	tcase_add_test(tc, test_apply_destroy_and_create_replaces_guest_with_new_domid);
	tcase_add_test(tc, test_apply_drop_keeps_other_guests_in_order);
	tcase_add_test(tc, test_apply_renamed_and_unmatched_say_why_when_dropped);
	tcase_add_test(tc, test_apply_more_domains_than_guest_max_stops_at_max_and_warns);
	tcase_add_test(tc, test_new_without_xenstore_leaves_disc_null_and_logs_once);
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

