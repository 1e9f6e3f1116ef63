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
		.step_vcpu = -1,
	};
	return 0;
}

int xen_bp_del(struct xen_bps *bps, gva_t addr, bool *restore, gpa_t *gpa,
	       uint8_t *orig)
{
	struct xen_bp *b = xen_bp_find(bps, addr);

	*restore = false;
	if (!b || b->dead)
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

	if (!b || b->dead) {
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
