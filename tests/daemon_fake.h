/*
 * daemon_fake.h - the daemon's own functions for unit tests of daemon
 * modules: upcalld_log, upcalld_now_ns and upcalld_alert live in
 * upcalld.c, the program, not in the library. The log lines are kept
 * (the last LOG_LINES) so tests can assert what was said; alerts are
 * counted. Header-only: each test program has its own copy.
 */
#ifndef UPCALLD_TESTS_DAEMON_FAKE_H
#define UPCALLD_TESTS_DAEMON_FAKE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

#endif
