/*
 * guest.h - one watched guest: its backend, introspection session, upcall
 * client, the rules that run on it, the triggers armed for them, and the
 * cross-check (scan) in flight.
 *
 * A guest's failure is its own: every error is recorded in the guest
 * (state, error text, counters) and logged once; the daemon goes on with
 * the others.
 *
 * Ownership: the daemon owns guests (guest_new/guest_free). A guest owns
 * its hv, profile, vmi, upcall, rule_guest and scan. It borrows the daemon
 * (struct upcalld) and the daemon's rule set, which it is told about on
 * reload through guest_set_rules().
 */
#ifndef UPCALLD_GUEST_H
#define UPCALLD_GUEST_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "hv.h"
#include "xcheck.h"

struct upcalld;
struct rule_set;
struct rule_guest;
struct rule_trigger;
struct profile;
struct vmi;
struct upcall;
struct scan;

#define GUEST_NAME_MAX 64
#define GUEST_BPS_MAX 32u
#define GUEST_TIMERS_MAX 32u
#define GUEST_CR3_MAX 4096u	/* address spaces remembered for new_address_space */

/* Everything needed to attach one guest, resolved from the config. */
struct guest_conf {
	char name[GUEST_NAME_MAX];
	char backend[16];		/* "qemu" (or "xen") */
	char ram[PATH_MAX];		/* qemu: memory-backend-file */
	char gdb[PATH_MAX];		/* qemu: gdbstub unix socket */
	char upcall[PATH_MAX];		/* qemu: virtio-serial chardev socket */
	char key[PATH_MAX];		/* 32-byte upcall key file */
	char profiles[PATH_MAX];	/* profile file or directory */
	uint64_t upcall_timeout_ms;
	unsigned int domid;		/* xen: the domain, from discovery */
	char breakpoints[16];		/* xen: "int3" (default) or "debugreg" */
};

enum guest_state {
	GUEST_READY = 1,	/* attached, rules armed */
	GUEST_DEGRADED,		/* attached, but some rules could not be armed */
	GUEST_FAILED,		/* attach failed; retried later */
	GUEST_GONE,		/* the guest went away */
};

struct guest_stats {
	uint64_t events, scans, scans_coalesced, upcalls, upcall_failures;
	uint64_t findings, alerts;
};

struct guest_bp {
	gva_t addr;
	const struct rule_trigger *t;
};

struct guest_timer {
	const struct rule_trigger *t;
	uint64_t due_ns;
};

struct guest {
	struct upcalld *d;
	struct guest_conf conf;
	enum guest_state state;
	char error[256];		/* last error, "" if none */
	struct hv *hv;
	struct profile *prof;
	struct vmi *vmi;
	struct upcall *up;
	const struct rule_set *rules;
	struct rule_guest *rg;
	struct guest_bp bps[GUEST_BPS_MAX];
	unsigned int nbps;
	struct guest_timer timers[GUEST_TIMERS_MAX];
	unsigned int ntimers;
	/* breakpoints the backend could not place yet (kernel code not in
	 * its final form during boot: ftrace NOPs are patched in later) */
	const struct rule_trigger *bp_wait[GUEST_BPS_MAX];
	unsigned int nbp_wait;
	uint64_t bp_retry_ns;
	bool degraded_for_good;		/* a degradation no retry can fix */
	const struct rule_trigger *cr3_trig, *newas_trig;
	uint64_t *cr3_seen;		/* open-addressed set, GUEST_CR3_MAX */
	unsigned int ncr3;
	struct scan *scan;		/* in flight, or NULL */
	struct guest_stats st;
	uint64_t retry_ns;		/* GUEST_FAILED: when to try again */
};

/* Attach and arm. On failure the guest still exists, in GUEST_FAILED. */
int guest_new(struct upcalld *d, const struct guest_conf *gc,
	      const struct rule_set *rules, struct guest **out);
void guest_free(struct guest *g);

/* The guest went away: detach everything, retry later. */
void guest_gone(struct guest *g);

/* Try to attach a failed guest again. */
int guest_retry(struct guest *g);

/* Re-arm the guest's triggers for a new rule set (after a reload). */
int guest_set_rules(struct guest *g, const struct rule_set *rules);

/* Event loop hooks. */
int guest_hv_fd(const struct guest *g);
void guest_on_hv_event(struct guest *g);
void guest_tick(struct guest *g, uint64_t now_ns);
uint64_t guest_next_wakeup(const struct guest *g);

const char *guest_state_str(enum guest_state s);

/* Record an error in the guest and log it (the guest decided). */
__attribute__((format(printf, 2, 3)))
void guest_error(struct guest *g, const char *fmt, ...);

#endif
