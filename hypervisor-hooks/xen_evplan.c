/*
 * xen_evplan.c - one vm_event request to a plan (see xen_evplan.h). The
 * rules: a request we did not ask for, or cannot decode, is answered
 * plainly so its vCPU runs on; a trap at an address that is not ours goes
 * back to the guest; one at an address we just gave up resumes as is.
 */
#include "xen_evplan.h"

#include <string.h>

/* Hand the trap back to the guest as it would have had it without us. */
static void plan_reinject(const struct xen_req *q, uint8_t vector, uint8_t type,
			  struct xen_evplan *p)
{
	p->act = XEN_BP_REINJECT;
	p->inject = true;
	p->vector = vector;
	p->type = type;
	p->insn_len = q->insn_len;
}

static void plan_int3(const struct xen_evplan_ctx *c, const vm_event_request_t *rq,
		      const struct xen_req *q, vm_event_response_t *rsp,
		      struct xen_evplan *p)
{
	gpa_t gpa = ((gpa_t)q->gfn << 12) | (q->regs.rip & 0xfff);
	uint8_t now = 0;
	struct xen_bp *b = xen_bp_find(c->bps, q->regs.rip);

	/* ours is a lone cc at its address: a prefixed int3 is the guest's */
	if (q->insn_len != 1) {
		plan_reinject(q, XEN_TRAP_INT3, XEN_EVENTTYPE_SW_EXCEPTION, p);
		return;
	}
	/* ours: our own record says where the byte is, not the request's gfn */
	if (b && b->slot < 0)
		gpa = b->gpa;
	if (c->read_byte(c->arg, gpa, &now))
		now = XEN_INT3;	/* unreadable: assume the guest's own */
	p->hit_err = xen_bp_hit(c->bps, q->regs.rip, now, q->vcpu, c->can_step, &p->act);
	if (p->hit_err)
		return;
	switch (p->act) {
	case XEN_BP_SKIP:
		xen_ring_set_rip(rq, rsp, q->regs.rip + XEN_NOP5_LEN);
		p->report = true;
		break;
	case XEN_BP_STEP:
		b = xen_bp_find(c->bps, q->regs.rip);
		p->poke = true;
		p->poke_gpa = b->gpa;
		p->poke_byte = b->orig;
		rsp->flags |= VM_EVENT_FLAG_TOGGLE_SINGLESTEP;
		p->report = true;
		break;
	case XEN_BP_REINJECT:
		plan_reinject(q, XEN_TRAP_INT3, XEN_EVENTTYPE_SW_EXCEPTION, p);
		break;
	case XEN_BP_RETRY:
	case XEN_BP_RESUME_RF:
		break;
	}
}

static void plan_debug(const struct xen_evplan_ctx *c, const vm_event_request_t *rq,
		       const struct xen_req *q, vm_event_response_t *rsp,
		       struct xen_evplan *p)
{
	p->act = XEN_BP_REINJECT;	/* ICEBP is never ours */
	if (q->trap_type == XEN_EVENTTYPE_HW_EXCEPTION)
		xen_bp_dbg_hit(c->bps, q->regs.rip, q->pending_dbg, &p->act);
	if (p->act == XEN_BP_SKIP) {
		xen_ring_set_rip(rq, rsp, q->regs.rip + XEN_NOP5_LEN);
		p->report = true;
	} else if (p->act == XEN_BP_RESUME_RF) {
		xen_ring_set_rf(rq, rsp);
		p->report = true;
	} else {
		plan_reinject(q, XEN_TRAP_DB, q->trap_type, p);
	}
}

static void plan_step(const struct xen_evplan_ctx *c, const struct xen_req *q,
		      vm_event_response_t *rsp, struct xen_evplan *p)
{
	unsigned int n = c->bps->n;
	struct xen_bp *b = xen_bp_step_done(c->bps, q->vcpu);

	if (b) {
		p->poke = true;
		p->poke_gpa = b->gpa;
		p->poke_byte = XEN_INT3;
	}
	rsp->flags |= VM_EVENT_FLAG_TOGGLE_SINGLESTEP;
	/* the file changes only if a cleared one was dropped: no write per step */
	p->save_state = c->bps->n != n;
}

void xen_evplan_request(const struct xen_evplan_ctx *c, const vm_event_request_t *rq,
			struct xen_req *q, vm_event_response_t *rsp,
			struct xen_evplan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->decode_err = xen_ring_decode(rq, c->nr_vcpus, q);
	xen_ring_response(rq, rsp);
	if (plan->decode_err)
		return;
	switch (q->kind) {
	case XEN_REQ_CR3:
		plan->report = c->cr3_on;
		break;
	case XEN_REQ_BREAKPOINT:
		plan_int3(c, rq, q, rsp, plan);
		break;
	case XEN_REQ_DEBUG:
		plan_debug(c, rq, q, rsp, plan);
		break;
	case XEN_REQ_SINGLESTEP:
		plan_step(c, q, rsp, plan);
		break;
	}
}

bool xen_evplan_log_ok(struct xen_loglimit *l, uint64_t now_ns,
		       unsigned long *dropped)
{
	/* a window opens with its first line (and on a clock that went back) */
	if (l->n == 0 || now_ns < l->start_ns ||
	    now_ns - l->start_ns >= XEN_LOG_WINDOW_NS) {
		l->start_ns = now_ns;
		l->n = 0;
	}
	if (l->n >= XEN_LOG_BURST) {
		l->dropped++;
		return false;
	}
	l->n++;
	*dropped = l->dropped;
	l->dropped = 0;
	return true;
}
