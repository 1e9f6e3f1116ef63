/*
 * xen_bp.h - breakpoint bookkeeping of the xen backend, free of libxc so
 * unit tests can drive it: which addresses carry our int3, the byte each
 * replaced, whether it sits on the ftrace 5-byte NOP (resume by rip += 5,
 * no single-step: works on AMD and Intel), which vCPU is single-stepping
 * over which breakpoint (Intel only), and what to do with a breakpoint
 * event whose address is no longer, or never was, ours; in debug-register
 * mode, which of DR0-DR3 holds which address and the DR7 bits that arm
 * them.
 *
 * The caller (xen_event.c) does the guest-memory writes the functions
 * here ask for. Between restoring the byte for a single-step and re-arming
 * it, other vCPUs pass that address untrapped: a known gap (altp2m would
 * close it, and is Intel-only too).
 */
#ifndef UPCALLD_XEN_BP_H
#define UPCALLD_XEN_BP_H

#include <stdbool.h>
#include <stdint.h>

#include "hv.h"

#define XEN_BPS_MAX 64u
#define XEN_INT3 0xccu
#define XEN_NOP5_LEN 5u
#define XEN_DR_SLOTS 4u		/* DR0-DR3 */
#define XEN_DR7_FIXED 0x400ull	/* DR7 bit 10 reads as one */

struct xen_bp {
	gva_t addr;
	gpa_t gpa;		/* where the int3 byte lives (int3 mode) */
	uint8_t orig;		/* the byte the int3 replaced (int3 mode) */
	bool nop5;		/* starts with 0f 1f 44 00 00 */
	int slot;		/* debug register DR<slot>, or -1 for an int3 */
	int step_vcpu;		/* vCPU stepping over it with orig restored, or -1 */
	bool dead;		/* cleared while stepping: drop once the step ends */
};

struct xen_bps {
	struct xen_bp e[XEN_BPS_MAX];
	unsigned int n;
};

/* What a breakpoint event asks of the caller. */
enum xen_bp_action {
	XEN_BP_SKIP = 1,	/* ours on a NOP5: report it, resume at rip + 5 */
	XEN_BP_STEP,		/* ours: report it, write orig, single-step, re-arm */
	XEN_BP_RETRY,		/* no int3 there any more (we removed it): resume as is */
	XEN_BP_REINJECT,	/* the guest's own int3 / #DB: hand the trap back to it */
	XEN_BP_RESUME_RF,	/* ours in a debug register, not a NOP5: report it,
				 * resume with RFLAGS.RF set (the fault is not
				 * raised again for that one instruction) */
};

void xen_bps_init(struct xen_bps *bps);

/* True when code starts with the ftrace NOP 0f 1f 44 00 00. */
bool xen_bp_is_nop5(const uint8_t *code, size_t len);

/*
 * Record a breakpoint at addr whose byte lives at gpa; code holds the 5
 * bytes at addr now. -EEXIST if set, -ENOSPC when full, -EBUSY when code
 * already starts with an int3 (the guest's own, or one a killed daemon
 * left), -EOPNOTSUPP when it is not a NOP5 and can_step is false.
 */
int xen_bp_add(struct xen_bps *bps, gva_t addr, gpa_t gpa, const uint8_t code[5],
	       bool can_step);

struct xen_bp *xen_bp_find(struct xen_bps *bps, gva_t addr);

/*
 * Forget addr. Returns 0 and sets *restore when the caller must write
 * *orig back at *gpa now; *restore false when a vCPU is stepping over it
 * (orig is already in place: the entry goes when the step ends).
 * -ENOENT when not ours.
 */
int xen_bp_del(struct xen_bps *bps, gva_t addr, bool *restore, gpa_t *gpa,
	       uint8_t *orig);

/*
 * A software-breakpoint event at rip on vcpu; byte_now is the byte at rip
 * read after the event arrived. -EBUSY (action unset) when ours but another
 * vCPU is stepping over it with orig in place: that cannot trap, so it is a
 * forged or stale request; the caller resumes the vCPU as is.
 */
int xen_bp_hit(struct xen_bps *bps, gva_t rip, uint8_t byte_now,
	       unsigned int vcpu, bool can_step, enum xen_bp_action *act);

/*
 * A single-step event on vcpu ended. Returns the breakpoint to re-arm
 * (write int3 at its gpa) or NULL when there is none: the vCPU was not
 * stepping for us, or the breakpoint was cleared meanwhile (then it is
 * dropped here). Either way the caller turns single-step off.
 */
struct xen_bp *xen_bp_step_done(struct xen_bps *bps, unsigned int vcpu);

/*
 * Debug-register mode: the breakpoint is an instruction breakpoint in
 * DR<slot> of every vCPU; guest memory is not touched. Record addr in a
 * slot that is neither ours nor in guest_busy (bit n: the guest enables
 * DRn itself, see xen_dr7_busy). code: the 5 bytes at addr (NOP5 check).
 * -EEXIST if set, -ENOSPC when no slot is free.
 */
int xen_bp_add_dr(struct xen_bps *bps, gva_t addr, const uint8_t code[5],
		  unsigned int guest_busy);

/* Forget a debug-register breakpoint: 0 (its slot is free), -ENOENT. */
int xen_bp_del_dr(struct xen_bps *bps, gva_t addr);

/*
 * The debug registers for our breakpoints: dr[n] the address in slot n
 * (0 where unused), *mask the DR7 bits we own (enable, type, length of our
 * slots) and the return value those bits' settings (local enable,
 * execute, length 1). A vCPU's DR7 becomes (dr7 & ~mask) | value.
 */
uint64_t xen_bp_dr7(const struct xen_bps *bps, uint64_t dr[XEN_DR_SLOTS],
		    uint64_t *mask);

/* Slots a guest DR7 enables (bit n: L<n> or G<n> set). */
unsigned int xen_dr7_busy(uint64_t dr7);

/* The DR7 bits of slot n (L, G, R/W, LEN). */
uint64_t xen_dr7_slot_bits(unsigned int n);

/*
 * A debug-exception event at rip. A fault at one of our slot addresses is
 * ours: XEN_BP_SKIP on a NOP5, XEN_BP_RESUME_RF otherwise. Anything else
 * (the guest's own debug registers, single-step, ICEBP, a breakpoint we
 * cleared after the exception was queued) is XEN_BP_REINJECT.
 * pending_dbg is the request's DR6-style status (B0-B3 in bits 0-3, BS in
 * bit 14) where Xen reports it (VMX); 0 means unknown (SVM): then the
 * address alone decides. When known, the exception is ours only if our
 * slot's B bit is set, so a guest's own single-step (TF) landing on our
 * address still reaches the guest.
 */
void xen_bp_dbg_hit(const struct xen_bps *bps, gva_t rip, uint64_t pending_dbg,
		    enum xen_bp_action *act);

#endif
