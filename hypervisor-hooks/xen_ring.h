/*
 * xen_ring.h - the vm_event monitor ring as the xen backend consumes it,
 * free of libxc calls so unit tests can feed it forged requests: taking
 * requests off the shared page (with a sanity check of the producer
 * index), decoding one into a struct xen_req with hostile-input checks,
 * and building the response that lets the paused vCPU go.
 *
 * Internal to hypervisor-hooks/xen*.c (includes Xen public headers).
 * Every request taken must be answered (xen_ring_put) even when it fails
 * to decode: a vCPU paused for it would otherwise wait forever.
 */
#ifndef UPCALLD_XEN_RING_H
#define UPCALLD_XEN_RING_H

#include <stdbool.h>
#include <stdint.h>

#include <xenctrl.h>
#include <xen/vm_event.h>

#include "hv.h"

enum xen_req_kind {
	XEN_REQ_CR3 = 1,	/* write_ctrlreg, index CR3 */
	XEN_REQ_BREAKPOINT,	/* software breakpoint (int3) */
	XEN_REQ_SINGLESTEP,
	XEN_REQ_DEBUG,		/* debug exception (#DB, ICEBP) */
};

/* The longest x86 instruction: an int3 or ICEBP with every prefix. */
#define XEN_INSN_LEN_MAX 15u

/* Event types of a debug-exception request (Xen's X86_EVENTTYPE_*). */
#define XEN_EVENTTYPE_HW_EXCEPTION 3
#define XEN_EVENTTYPE_PRI_SW_EXCEPTION 5	/* ICEBP */

/* One decoded request: what the backend needs, copied out of the ring. */
struct xen_req {
	enum xen_req_kind kind;
	unsigned int vcpu;
	bool paused;		/* the vCPU waits for our response */
	uint64_t cr3_old, cr3_new;
	uint64_t gfn;		/* breakpoint / singlestep: frame of rip */
	uint32_t insn_len;	/* breakpoint / ICEBP: for re-injection */
	uint8_t trap_type;	/* debug: XEN_EVENTTYPE_* */
	uint64_t pending_dbg;	/* debug: DR6-style status, 0 when unknown */
	struct hv_regs regs;
};

struct xen_ring {
	vm_event_back_ring_t back;
	unsigned int in_flight;	/* taken, not yet answered */
};

/* Set up the back ring on the page Xen shares (init: fresh page). */
void xen_ring_attach(struct xen_ring *r, void *page);

/*
 * Copy the next request out. 0, -EAGAIN when none, -EPROTO when the
 * producer index claims more requests than the ring holds (the ring is
 * then unusable: the caller treats the guest as gone).
 */
int xen_ring_take(struct xen_ring *r, vm_event_request_t *out);

/* Queue one response (push + the caller notifies). -ENOSPC if none owed. */
int xen_ring_put(struct xen_ring *r, const vm_event_response_t *rsp);

/*
 * Decode rq. -EPROTO: wrong interface version; -ERANGE: vCPU out of range;
 * -ENOTSUP: a reason or control register we never asked for, or an
 * instruction length that does not fit the trap type (int3 and ICEBP:
 * 1..XEN_INSN_LEN_MAX, prefixes included; #DB: 0). On any error
 * *out still has vcpu/paused set so the request can be answered.
 */
int xen_ring_decode(const vm_event_request_t *rq, unsigned int nr_vcpus,
		    struct xen_req *out);

/*
 * The plain answer to rq: our version, its vcpu, reason and altp2m view,
 * and VM_EVENT_FLAG_VCPU_PAUSED when it was set. Callers add flags.
 */
void xen_ring_response(const vm_event_request_t *rq, vm_event_response_t *rsp);

/* The response resumes at new_rip (registers otherwise as in rq). */
void xen_ring_set_rip(const vm_event_request_t *rq, vm_event_response_t *rsp,
		      uint64_t new_rip);

/*
 * The response resumes at rq's rip with RFLAGS.RF set: an instruction
 * breakpoint in a debug register does not fault again on that instruction.
 */
void xen_ring_set_rf(const vm_event_request_t *rq, vm_event_response_t *rsp);

#define XEN_RFLAGS_RF (1ull << 16)

#endif
