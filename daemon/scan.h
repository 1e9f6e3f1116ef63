/*
 * scan.h - one cross-check of a guest, from first snapshot to verdict.
 *
 *   1. memory snapshot m1 while the vCPU is stopped (paused by us, or
 *      already stopped in the event that triggered the scan);
 *   2. the guest runs again and is asked (upcall) for its own view;
 *   3. when every answer is in (or failed), memory snapshot m2;
 *   4. xcheck(m1, m2, answer) for each object asked for;
 *   5. the scan's done callback gets the whole scan: the rule-driven one
 *      turns findings into alerts; upcallctl's live views turn it into a
 *      reply.
 *
 * A guest may have several scans in flight (a rule's and an operator's);
 * each completes exactly once, also when the guest goes away (cancelled).
 *
 * Ownership: the guest owns its scans (g->scan list). The scan owns its
 * snaps and results; the done callback borrows them and must not free the
 * scan. Rules are borrowed from the guest's rule set; a reload calls
 * scan_forget_rules() before freeing the old set.
 */
#ifndef UPCALLD_SCAN_H
#define UPCALLD_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snap.h"
#include "xcheck.h"

struct guest;
struct rule;
struct upcall_finding;

#define SCAN_RULES_MAX 64u

struct scan;
typedef void scan_done_fn(void *arg, struct scan *s);

struct scan_req {
	unsigned int what;		/* enum snap_what */
	bool vcpu_stopped;		/* already stopped in an event */
	bool memory_only;		/* no upcall: m1 only (live views) */
	const char *event_type;		/* for alerts: what fired */
	scan_done_fn *done;
	void *arg;
};

struct scan {
	struct guest *g;
	struct scan *next;
	struct scan_req req;
	struct snap m1, ans, m2;
	unsigned int pending;		/* upcall requests not yet answered */
	unsigned int failed;		/* snap_what bits whose upcall failed */
	char fail_detail[160];
	bool cancelled;			/* the guest went away */
	int error;			/* -errno if m1 could not be taken */
	struct xcheck_result xr_procs, xr_modules, xr_files;
	const struct rule *rules[SCAN_RULES_MAX];
	size_t nrules;
};

/*
 * Start a scan. Its done callback runs exactly once (possibly before this
 * returns, for memory-only scans). -errno if it could not start: then done
 * is not called.
 */
int scan_start(struct guest *g, const struct scan_req *req,
	       const struct rule *const *rules, size_t nrules);

/* Cancel every scan of g (done is called with s->cancelled set). */
void scan_cancel_all(struct guest *g);

/* Drop the borrowed rules of g's scans (before their set is freed). */
void scan_forget_rules(struct guest *g);

/* The rule-driven done callback: findings to alerts. arg unused. */
void scan_rules_done(void *arg, struct scan *s);

/* An upcall finding (forged, silent...) for the finding rules of g. */
void scan_on_upcall_finding(void *arg, const struct upcall_finding *f);

#endif
