/*
 * xen_bp.c - the xen backend's breakpoint table (see xen_bp.h): pure
 * bookkeeping, no hypervisor calls, so hostile and stale events can be
 * unit-tested without Xen.
 */
#include "xen_bp.h"

#include <errno.h>
#include <string.h>

static const uint8_t nop5[XEN_NOP5_LEN] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };

void xen_bps_init(struct xen_bps *bps)
{
	memset(bps, 0, sizeof(*bps));
}

bool xen_bp_is_nop5(const uint8_t *code, size_t len)
{
	return len >= XEN_NOP5_LEN && !memcmp(code, nop5, XEN_NOP5_LEN);
}

struct xen_bp *xen_bp_find(struct xen_bps *bps, gva_t addr)
{
	for (unsigned int i = 0; i < bps->n; i++)
		if (bps->e[i].addr == addr)
			return &bps->e[i];
	return NULL;
}

static void bp_drop(struct xen_bps *bps, struct xen_bp *b)
{
	*b = bps->e[--bps->n];
	memset(&bps->e[bps->n], 0, sizeof(bps->e[0]));
}

int xen_bp_add(struct xen_bps *bps, gva_t addr, gpa_t gpa, const uint8_t code[5],
	       bool can_step)
{
	struct xen_bp *b = xen_bp_find(bps, addr);

	if (b)
		return b->dead ? -EBUSY : -EEXIST;
	if (bps->n >= XEN_BPS_MAX)
		return -ENOSPC;
	if (code[0] == XEN_INT3)
		return -EBUSY;
	bool is_nop5 = xen_bp_is_nop5(code, XEN_NOP5_LEN);
	if (!is_nop5 && !can_step)
		return -EOPNOTSUPP;
	bps->e[bps->n++] = (struct xen_bp){
		.addr = addr, .gpa = gpa, .orig = code[0], .nop5 = is_nop5,
		.slot = -1, .step_vcpu = -1,
	};
	return 0;
}

int xen_bp_del(struct xen_bps *bps, gva_t addr, bool *restore, gpa_t *gpa,
	       uint8_t *orig)
{
	struct xen_bp *b = xen_bp_find(bps, addr);

	*restore = false;
	if (!b || b->dead || b->slot >= 0)
		return -ENOENT;
	if (b->step_vcpu >= 0) {
		b->dead = true;	/* orig is in memory; xen_bp_step_done drops it */
		return 0;
	}
	*restore = true;
	*gpa = b->gpa;
	*orig = b->orig;
	bp_drop(bps, b);
	return 0;
}

int xen_bp_hit(struct xen_bps *bps, gva_t rip, uint8_t byte_now,
	       unsigned int vcpu, bool can_step, enum xen_bp_action *act)
{
	struct xen_bp *b = xen_bp_find(bps, rip);

	if (!b || b->dead || b->slot >= 0) {
		/*
		 * An int3 still there is the guest's own (kprobes, text_poke);
		 * none means ours was removed after the trap was queued.
		 */
		*act = byte_now == XEN_INT3 ? XEN_BP_REINJECT : XEN_BP_RETRY;
		return 0;
	}
	if (b->step_vcpu >= 0)
		return -EBUSY;
	if (byte_now != XEN_INT3) {
		/* our record says armed but memory disagrees: do not report */
		*act = XEN_BP_RETRY;
		return 0;
	}
	if (b->nop5) {
		*act = XEN_BP_SKIP;
		return 0;
	}
	if (!can_step)
		return -EOPNOTSUPP;
	b->step_vcpu = (int)vcpu;
	*act = XEN_BP_STEP;
	return 0;
}

struct xen_bp *xen_bp_step_done(struct xen_bps *bps, unsigned int vcpu)
{
	for (unsigned int i = 0; i < bps->n; i++) {
		struct xen_bp *b = &bps->e[i];

		if (b->step_vcpu != (int)vcpu)
			continue;
		b->step_vcpu = -1;
		if (b->dead) {
			bp_drop(bps, b);
			return NULL;
		}
		return b;
	}
	return NULL;
}

/* --- debug-register mode ------------------------------------------------ */

uint64_t xen_dr7_slot_bits(unsigned int n)
{
	/* L<n>, G<n>, and the R/W + LEN nibble at bit 16 + 4n */
	return (3ull << (2 * n)) | (0xfull << (16 + 4 * n));
}

unsigned int xen_dr7_busy(uint64_t dr7)
{
	unsigned int busy = 0;

	for (unsigned int n = 0; n < XEN_DR_SLOTS; n++)
		if (dr7 & (3ull << (2 * n)))
			busy |= 1u << n;
	return busy;
}

static unsigned int slots_ours(const struct xen_bps *bps)
{
	unsigned int used = 0;

	for (unsigned int i = 0; i < bps->n; i++)
		if (bps->e[i].slot >= 0 && bps->e[i].slot < (int)XEN_DR_SLOTS)
			used |= 1u << bps->e[i].slot;
	return used;
}

int xen_bp_add_dr(struct xen_bps *bps, gva_t addr, const uint8_t code[5],
		  unsigned int guest_busy)
{
	unsigned int taken = slots_ours(bps) | guest_busy;
	unsigned int n;

	if (xen_bp_find(bps, addr))
		return -EEXIST;
	if (bps->n >= XEN_BPS_MAX)
		return -ENOSPC;
	for (n = 0; n < XEN_DR_SLOTS && (taken & (1u << n)); n++)
		;
	if (n == XEN_DR_SLOTS)
		return -ENOSPC;
	bps->e[bps->n++] = (struct xen_bp){
		.addr = addr, .nop5 = xen_bp_is_nop5(code, XEN_NOP5_LEN),
		.slot = (int)n, .step_vcpu = -1,
	};
	return 0;
}

int xen_bp_del_dr(struct xen_bps *bps, gva_t addr)
{
	struct xen_bp *b = xen_bp_find(bps, addr);

	if (!b || b->slot < 0)
		return -ENOENT;
	bp_drop(bps, b);
	return 0;
}

uint64_t xen_bp_dr7(const struct xen_bps *bps, uint64_t dr[XEN_DR_SLOTS],
		    uint64_t *mask)
{
	uint64_t val = 0;

	*mask = 0;
	for (unsigned int n = 0; n < XEN_DR_SLOTS; n++)
		dr[n] = 0;
	for (unsigned int i = 0; i < bps->n; i++) {
		const struct xen_bp *b = &bps->e[i];

		if (b->slot < 0 || b->slot >= (int)XEN_DR_SLOTS)
			continue;
		dr[b->slot] = b->addr;
		*mask |= xen_dr7_slot_bits((unsigned int)b->slot);
		/* local enable; R/W 00 (execute) and LEN 00 are zero bits */
		val |= 1ull << (2 * b->slot);
	}
	return val;
}

void xen_bp_dbg_hit(const struct xen_bps *bps, gva_t rip, uint64_t pending_dbg,
		    enum xen_bp_action *act)
{
	*act = XEN_BP_REINJECT;
	for (unsigned int i = 0; i < bps->n; i++) {
		const struct xen_bp *b = &bps->e[i];

		if (b->slot < 0 || b->addr != rip)
			continue;
		/* status known and our slot did not fire: the guest's #DB */
		if (pending_dbg && !(pending_dbg & (1ull << b->slot)))
			return;
		*act = b->nop5 ? XEN_BP_SKIP : XEN_BP_RESUME_RF;
		return;
	}
}
