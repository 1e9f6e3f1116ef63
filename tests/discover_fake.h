/*
 * discover_fake.h - the fixture shared by the discovery tests
 * (check_discover.c, check_discover_gone.c): the daemon's own functions,
 * which live in upcalld.c, the program (upcalld_log records the lines,
 * upcalld_alert counts), a configuration with qemu and xen entries, a
 * daemon context, and helpers to make domain lists and plans.
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

static __attribute__((unused)) bool logged(const char *line)
{
	for (int i = 0; i < nlog && i < LOG_LINES; i++)
		if (!strcmp(logv[i], line))
			return true;
	return false;
}

static __attribute__((unused)) int logged_count(const char *part)
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
