/*
 * xen_evplan.h - what the xen backend does with one vm_event request,
 * decided without a hypervisor so unit tests can feed it forged and stale
 * requests: decode it, consult the breakpoint table, build the response,
 * and say what else must happen (report it as an event, write a byte of
 * guest memory, hand the trap back to the guest, rewrite the state file).
 * xen_event.c carries the plan out.
 *
 * Internal to hypervisor-hooks/xen*.c (includes Xen public headers).
 */
#ifndef UPCALLD_XEN_EVPLAN_H
#define UPCALLD_XEN_EVPLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "xen_bp.h"
#include "xen_ring.h"

#define XEN_TRAP_DB 1
#define XEN_TRAP_INT3 3
#define XEN_EVENTTYPE_SW_EXCEPTION 6

struct xen_evplan_ctx {
	struct xen_bps *bps;	/* updated (single-step state, dropped entries) */
	unsigned int nr_vcpus;
	bool cr3_on, can_step;
	/* one byte of guest memory; nonzero when unreadable */
	int (*read_byte)(void *arg, gpa_t gpa, uint8_t *byte);
	void *arg;
};

struct xen_evplan {
	bool report;		/* an event for the caller; the response waits */
	int decode_err;		/* nonzero: malformed or unasked, answered plainly */
	enum xen_bp_action act;	/* breakpoint / debug requests; 0 otherwise */
	int hit_err;		/* xen_bp_hit refused (stale, forged): resumed as is */
	bool inject;		/* hand the trap back: vector, type, insn_len */
	uint8_t vector, type;
	uint32_t insn_len;
	bool poke;		/* write poke_byte at poke_gpa before answering */
	gpa_t poke_gpa;
	uint8_t poke_byte;
	bool save_state;	/* the table changed: rewrite the state file */
};

/*
 * Plan rq: *q gets the decoded request, *rsp the response to send (now
 * when !plan->report, at event_done otherwise). Every request gets a
 * response, whatever it holds.
 */
void xen_evplan_request(const struct xen_evplan_ctx *c, const vm_event_request_t *rq,
			struct xen_req *q, vm_event_response_t *rsp,
			struct xen_evplan *plan);

/*
 * Log lines a guest can cause at will (its own int3s handed back, requests
 * refused): XEN_LOG_BURST per XEN_LOG_WINDOW_NS, then none until the
 * window ends, so a trapping loop in the guest cannot flood dom0's log.
 * Zeroed to start.
 */
#define XEN_LOG_BURST 10u
#define XEN_LOG_WINDOW_NS (10ull * 1000000000ull)

struct xen_loglimit {
	uint64_t start_ns;
	unsigned int n;
	unsigned long dropped;
};

/* True: log now, and say *dropped lines were left out before this one. */
bool xen_evplan_log_ok(struct xen_loglimit *l, uint64_t now_ns,
		       unsigned long *dropped);

#endif
