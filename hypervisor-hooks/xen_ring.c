/*
 * xen_ring.c - consuming the vm_event monitor ring (see xen_ring.h). Xen
 * produces the requests, but the page is shared memory and a confused or
 * mismatched hypervisor is still input: indices are checked, requests are
 * copied out before use, and unknown reasons are answered, not trusted.
 */
#include "xen_ring.h"

#include <errno.h>
#include <string.h>

void xen_ring_attach(struct xen_ring *r, void *page)
{
	vm_event_sring_t *s = page;

	SHARED_RING_INIT(s);
	BACK_RING_INIT(&r->back, s, XC_PAGE_SIZE);
	r->in_flight = 0;
}

int xen_ring_take(struct xen_ring *r, vm_event_request_t *out)
{
	vm_event_back_ring_t *b = &r->back;
	RING_IDX prod = b->sring->req_prod;

	xen_rmb();	/* read the index before the request it covers */
	if (prod - b->req_cons > RING_SIZE(b))
		return -EPROTO;
	if (prod == b->req_cons)
		return -EAGAIN;
	if (b->req_cons - b->rsp_prod_pvt >= RING_SIZE(b))
		return -EAGAIN;	/* every slot awaits our answer */
	/* one copy: Xen may touch the slot again once it sees our cons */
	memcpy(out, RING_GET_REQUEST(b, b->req_cons), sizeof(*out));
	b->req_cons++;
	b->sring->req_event = b->req_cons + 1;
	r->in_flight++;
	return 0;
}

int xen_ring_put(struct xen_ring *r, const vm_event_response_t *rsp)
{
	vm_event_back_ring_t *b = &r->back;

	if (r->in_flight == 0 || b->rsp_prod_pvt == b->req_cons)
		return -ENOSPC;
	memcpy(RING_GET_RESPONSE(b, b->rsp_prod_pvt), rsp, sizeof(*rsp));
	b->rsp_prod_pvt++;
	r->in_flight--;
	RING_PUSH_RESPONSES(b);
	return 0;
}

static void regs_from(const struct vm_event_regs_x86 *x, struct hv_regs *r)
{
	*r = (struct hv_regs){
		.rax = x->rax, .rbx = x->rbx, .rcx = x->rcx, .rdx = x->rdx,
		.rsi = x->rsi, .rdi = x->rdi, .rbp = x->rbp, .rsp = x->rsp,
		.r8 = x->r8, .r9 = x->r9, .r10 = x->r10, .r11 = x->r11,
		.r12 = x->r12, .r13 = x->r13, .r14 = x->r14, .r15 = x->r15,
		.rip = x->rip, .rflags = x->rflags,
		.cr0 = x->cr0, .cr2 = x->cr2, .cr3 = x->cr3, .cr4 = x->cr4,
		.efer = x->msr_efer, .fs_base = x->fs_base,
		.gs_base = x->gs_base, .kernel_gs_base = x->shadow_gs,
		.lstar = x->msr_lstar,
	};
}

int xen_ring_decode(const vm_event_request_t *rq, unsigned int nr_vcpus,
		    struct xen_req *out)
{
	memset(out, 0, sizeof(*out));
	out->vcpu = rq->vcpu_id;
	out->paused = rq->flags & VM_EVENT_FLAG_VCPU_PAUSED;
	if (rq->version != VM_EVENT_INTERFACE_VERSION)
		return -EPROTO;
	if (rq->vcpu_id >= nr_vcpus)
		return -ERANGE;
	switch (rq->reason) {
	case VM_EVENT_REASON_WRITE_CTRLREG:
		if (rq->u.write_ctrlreg.index != VM_EVENT_X86_CR3)
			return -ENOTSUP;
		out->kind = XEN_REQ_CR3;
		out->cr3_old = rq->u.write_ctrlreg.old_value;
		out->cr3_new = rq->u.write_ctrlreg.new_value;
		break;
	case VM_EVENT_REASON_SOFTWARE_BREAKPOINT:
		out->kind = XEN_REQ_BREAKPOINT;
		out->gfn = rq->u.software_breakpoint.gfn;
		out->insn_len = rq->u.software_breakpoint.insn_length;
		/*
		 * int3 is cc, but a guest may put prefixes before it (66 cc):
		 * such a trap must still go back to the guest with its length,
		 * or the vCPU re-executes it and traps again, forever.
		 */
		if (out->insn_len < 1 || out->insn_len > XEN_INSN_LEN_MAX)
			return -ENOTSUP;
		break;
	case VM_EVENT_REASON_SINGLESTEP:
		out->kind = XEN_REQ_SINGLESTEP;
		out->gfn = rq->u.singlestep.gfn;
		break;
	case VM_EVENT_REASON_DEBUG_EXCEPTION:
		out->kind = XEN_REQ_DEBUG;
		out->gfn = rq->u.debug_exception.gfn;
		out->insn_len = rq->u.debug_exception.insn_length;
		out->trap_type = rq->u.debug_exception.type;
		out->pending_dbg = rq->u.debug_exception.pending_dbg;
		/* a #DB has no instruction; ICEBP is f1, maybe prefixed */
		if (!(out->trap_type == XEN_EVENTTYPE_HW_EXCEPTION && out->insn_len == 0) &&
		    !(out->trap_type == XEN_EVENTTYPE_PRI_SW_EXCEPTION &&
		      out->insn_len >= 1 && out->insn_len <= XEN_INSN_LEN_MAX))
			return -ENOTSUP;
		break;
	default:
		return -ENOTSUP;
	}
	regs_from(&rq->data.regs.x86, &out->regs);
	return 0;
}

void xen_ring_response(const vm_event_request_t *rq, vm_event_response_t *rsp)
{
	memset(rsp, 0, sizeof(*rsp));
	rsp->version = VM_EVENT_INTERFACE_VERSION;
	rsp->vcpu_id = rq->vcpu_id;
	rsp->reason = rq->reason;
	rsp->altp2m_idx = rq->altp2m_idx;
	rsp->flags = rq->flags & VM_EVENT_FLAG_VCPU_PAUSED;
}

void xen_ring_set_rip(const vm_event_request_t *rq, vm_event_response_t *rsp,
		      uint64_t new_rip)
{
	rsp->data.regs.x86 = rq->data.regs.x86;
	rsp->data.regs.x86.rip = new_rip;
	rsp->flags |= VM_EVENT_FLAG_SET_REGISTERS;
}

void xen_ring_set_rf(const vm_event_request_t *rq, vm_event_response_t *rsp)
{
	rsp->data.regs.x86 = rq->data.regs.x86;
	rsp->data.regs.x86.rflags |= XEN_RFLAGS_RF;
	rsp->flags |= VM_EVENT_FLAG_SET_REGISTERS;
}
