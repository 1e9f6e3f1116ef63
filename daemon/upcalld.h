/*
 * upcalld.h - the daemon's one context struct. Everything the daemon has
 * lives here and is passed down; there are no other globals (the signal
 * mask and signalfd included).
 *
 * Ownership: struct upcalld owns the config, the current rule set, the
 * alert hub, the profile cache, the control socket, every guest and the
 * discovery of Xen domains.
 */
#ifndef UPCALLD_UPCALLD_H
#define UPCALLD_UPCALLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "rule.h"

struct guest;
struct ctl;
struct config;
struct profcache;
struct discover;

#define UPCALLD_GUESTS_MAX 256u

struct upcalld_stats {
	uint64_t reloads, reload_failures, events, alerts, alerts_failed;
};

struct upcalld {
	const char *config_path;
	struct config *cfg;
	struct rule_set *rules;
	char rules_error[1024];		/* why the last reload failed, "" if it did not */
	struct alert_hub *hub;
	struct profcache *profiles;	/* shared by guests of the same kernel */
	struct ctl *ctl;
	struct guest *guests[UPCALLD_GUESTS_MAX];
	size_t nguests;
	struct discover *disc;		/* xen domains followed, or NULL */
	char hostname[256];		/* observer: this dom0 */
	int sigfd;
	bool quit, reload;
	bool verbose;
	uint64_t started_ns;
	uint64_t watchdog_us;		/* 0: no systemd watchdog */
	uint64_t last_watchdog_ns;
	struct upcalld_stats st;
};

/* Daemon log (syslog(3) and stderr when verbose). */
__attribute__((format(printf, 3, 4)))
void upcalld_log(const struct upcalld *d, int prio, const char *fmt, ...);

/* Reload rules from the configured directories: 0, or -errno with the old
 * set kept and d->rules_error saying why. */
int upcalld_reload(struct upcalld *d);

/* Emit an alert through the hub, counting it. */
int upcalld_alert(struct upcalld *d, const struct alert *a);

uint64_t upcalld_now_ns(void);

#endif
