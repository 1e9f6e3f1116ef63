/*
 * discover_fake.h - the fixture shared by the discovery tests
 * (check_discover.c, check_discover_gone.c): the daemon's own functions
 * (daemon_fake.h), a configuration with qemu and xen entries, a daemon
 * context, and helpers to make domain lists and plans.
 * Header-only, so each test program has its own copy of the state.
 */
#ifndef UPCALLD_TESTS_DISCOVER_FAKE_H
#define UPCALLD_TESTS_DISCOVER_FAKE_H

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
#include "upcalld.h"
#include "daemon_fake.h"

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

static __attribute__((unused)) struct config *load_cfg(const char *text)
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

static __attribute__((unused)) void common_setup(void)
{
	nlog = nalerts = 0;
	cfg = load_cfg(CFG);
	memset(&D, 0, sizeof(D));
	D.cfg = cfg;
	D.sigfd = -1;
}

static __attribute__((unused)) void common_teardown(void)
{
	for (size_t i = 0; i < D.nguests; i++)
		guest_free(D.guests[i]);
	D.nguests = 0;
	config_free(D.cfg);
}

static __attribute__((unused)) struct discover_dom dom(unsigned int id, const char *name)
{
	struct discover_dom d = { .domid = id };

	snprintf(d.name, sizeof(d.name), "%s", name);
	return d;
}

static __attribute__((unused)) void plan(const struct discover_have *h, size_t nh,
		 const struct discover_dom *a, size_t na)
{
	discover_plan(cfg, h, nh, a, na, &P);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

#endif
