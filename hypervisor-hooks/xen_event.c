/*
 * xen_event.c - events of the xen backend: the vm_event monitor ring
 * (CR3 writes with onchangeonly, software breakpoints, single-steps on
 * Intel), int3 placement through xen_bp's table, and teardown that removes
 * every int3 and answers every request left in the ring.
 *
 * Only one request is handed out at a time (hv.h's contract); the ones
 * behind it wait in the ring. Requests we did not ask for, or that fail to
 * decode, are answered at once so their vCPU does not hang.
 */
#include "xen_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <time.h>

static void notify(struct xen_hv *x)
{
	xenevtchn_notify(x->xce, x->port);
}

static int answer(struct xen_hv *x, const vm_event_response_t *rsp)
{
	int err = xen_ring_put(&x->ring, rsp);

	if (!err)
		notify(x);
	return err;
}

int xen_event_attach(struct xen_hv *x)
{
	uint32_t remote = 0;
	xenevtchn_port_or_error_t p;
	uint32_t caps = 0;

	x->ring_page = xc_monitor_enable(x->xch, x->domid, &remote);
	if (!x->ring_page && errno == EBUSY) {
		/* a killed holder leaves it on (vCPUs maybe paused): take over */
		syslog(LOG_WARNING, "xen: %s: monitor ring busy; taking it over",
		       x->base.name);
		xc_monitor_disable(x->xch, x->domid);
		x->ring_page = xc_monitor_enable(x->xch, x->domid, &remote);
	}
	if (!x->ring_page)
		return errno == EBUSY ? -EBUSY : -EOPNOTSUPP;
	x->monitor = true;
	x->xce = xenevtchn_open(NULL, 0);
	if (!x->xce)
		return -errno;
	p = xenevtchn_bind_interdomain(x->xce, x->domid, remote);
	if (p < 0)
		return -errno;
	x->port = (evtchn_port_t)p;
	xen_ring_attach(&x->ring, x->ring_page);
	xen_bps_init(&x->bps);
	/* Xen offers singlestep only with VMX's monitor trap flag */
	x->can_step = !xc_monitor_get_capabilities(x->xch, x->domid, &caps) &&
		      (caps & (1u << XEN_DOMCTL_MONITOR_EVENT_SINGLESTEP)) &&
		      !xc_monitor_singlestep(x->xch, x->domid, true);
	return 0;
}

static int bp_monitor(struct xen_hv *x, bool on)
{
	if (x->bp_on == on)
		return 0;
	if (xc_monitor_software_breakpoint(x->xch, x->domid, on))
		return -errno;
	x->bp_on = on;
	return 0;
}

static int dbg_monitor(struct xen_hv *x, bool on)
{
	if (x->dbg_on == on)
		return 0;
	/* sync: the vCPU waits for our answer, Xen does not inject the #DB */
	if (xc_monitor_debug_exceptions(x->xch, x->domid, on, true))
		return -errno;
	x->dbg_on = on;
	return 0;
}

/* The 5 bytes at addr (they may cross into the next page) and addr's gpa. */
static int read_code(struct xen_hv *x, gva_t addr, uint8_t code[XEN_NOP5_LEN],
		     gpa_t *gpa)
{
	unsigned long gfn = xc_translate_foreign_address(x->xch, x->domid, 0, addr);

	if (!gfn)
		return xen_domain_alive(x) ? -EFAULT : -ENODEV;
	*gpa = ((gpa_t)gfn << 12) | (addr & 0xfff);
	for (unsigned int i = 0; i < XEN_NOP5_LEN; i++) {
		unsigned long f = xc_translate_foreign_address(x->xch, x->domid, 0,
							       addr + i);
		if (!f || x->base.ops->read_phys(&x->base,
						 ((gpa_t)f << 12) | ((addr + i) & 0xfff),
						 &code[i], 1))
			return -EFAULT;
	}
	return 0;
}

/* Debug-register mode: a free slot (ours and the guest's), every vCPU. */
static int set_bp_dr(struct xen_hv *x, gva_t addr, const uint8_t *code)
{
	struct xen_dr_set probe = { .mask = x->dr_mask };
	unsigned int busy = 0;
	int err = xen_dr_apply(x, &probe, &busy);

	if (!err)
		err = xen_bp_add_dr(&x->bps, addr, code, busy);
	if (err)
		return err;
	err = dbg_monitor(x, true);
	if (!err)
		err = xen_dr_sync(x);
	if (err) {
		xen_bp_del_dr(&x->bps, addr);
		return err;
	}
	xen_state_save(x);
	return 0;
}

int xen_set_bp(struct hv *hv, gva_t addr)
{
	struct xen_hv *x = xen_of(hv);
	uint8_t code[XEN_NOP5_LEN];
	gpa_t gpa;
	int err;

	if (x->gone)
		return -ENODEV;
	if (xen_bp_find(&x->bps, addr))
		return -EEXIST;
	err = read_code(x, addr, code, &gpa);
	if (err)
		return err;
	if (x->bp_dr)
		return set_bp_dr(x, addr, code);
	err = xen_bp_add(&x->bps, addr, gpa, code, x->can_step);
	if (err)
		return err;
	err = bp_monitor(x, true);
	if (!err)
		err = xen_poke(x, gpa, XEN_INT3);
	if (err) {
		bool restore;
		uint8_t orig;

		xen_bp_del(&x->bps, addr, &restore, &gpa, &orig);
		return err;
	}
	xen_state_save(x);
	return 0;
}

/*
 * Debug-register mode. If the vCPUs cannot be rewritten the breakpoint
 * stays armed, so it stays in the table (same slot) and the state file.
 */
static int clear_bp_dr(struct xen_hv *x, gva_t addr)
{
	static const uint8_t nop5[XEN_NOP5_LEN] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const uint8_t other[XEN_NOP5_LEN] = { 0 };
	struct xen_bp *b = xen_bp_find(&x->bps, addr);
	unsigned int slot;
	bool was_nop5;
	int err;

	if (!b || b->slot < 0)
		return -ENOENT;
	slot = (unsigned int)b->slot;
	was_nop5 = b->nop5;
	xen_bp_del_dr(&x->bps, addr);
	err = xen_dr_sync(x);
	if (err && err != -ENODEV)
		xen_bp_add_dr(&x->bps, addr, was_nop5 ? nop5 : other,
			      0xfu & ~(1u << slot));
	xen_state_save(x);
	return err == -ENODEV ? 0 : err;	/* a dead guest has no DR to fear */
}

int xen_clear_bp(struct hv *hv, gva_t addr)
{
	struct xen_hv *x = xen_of(hv);
	bool restore;
	gpa_t gpa;
	uint8_t orig;
	int err;

	if (x->bp_dr)
		return clear_bp_dr(x, addr);
	err = xen_bp_del(&x->bps, addr, &restore, &gpa, &orig);
	if (err)
		return err;
	if (restore)
		err = xen_poke(x, gpa, orig);
	xen_state_save(x);
	if (err == -ENODEV)
		return 0;	/* a dead guest has no int3 left to fear */
	return err;
}

int xen_set_cr3_events(struct hv *hv, bool on)
{
	struct xen_hv *x = xen_of(hv);

	if (x->cr3_on == on)
		return 0;
	if (xc_monitor_write_ctrlreg(x->xch, x->domid, VM_EVENT_X86_CR3, on,
				     true, 0, true))
		return xen_domain_alive(x) ? -errno : -ENODEV;
	x->cr3_on = on;
	return 0;
}

int xen_event_fd(struct hv *hv)
{
	struct xen_hv *x = xen_of(hv);

	return x->xce ? xenevtchn_fd(x->xce) : -1;
}

/* Consume the event channel's pending port (re-arm it). */
static void ack_port(struct xen_hv *x)
{
	xenevtchn_port_or_error_t p = xenevtchn_pending(x->xce);

	if (p >= 0)
		xenevtchn_unmask(x->xce, (evtchn_port_t)p);
}

static int wait_port(struct xen_hv *x, int timeout_ms)
{
	struct pollfd pfd = { .fd = xenevtchn_fd(x->xce), .events = POLLIN };
	int n = poll(&pfd, 1, timeout_ms);

	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	if (n == 0)
		return -EAGAIN;
	ack_port(x);
	return 0;
}

static int read_byte(void *arg, gpa_t gpa, uint8_t *byte)
{
	struct xen_hv *x = arg;

	return x->base.ops->read_phys(&x->base, gpa, byte, 1);
}

/* A line the guest can cause at will: rate-limited (xen_evplan_log_ok). */
__attribute__((format(printf, 3, 4)))
static void guest_log(struct xen_hv *x, int prio, const char *fmt, ...)
{
	struct timespec ts;
	unsigned long dropped = 0;
	char msg[256];
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!xen_evplan_log_ok(&x->loglim, (uint64_t)ts.tv_sec * 1000000000ull +
			       (uint64_t)ts.tv_nsec, &dropped))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (dropped)
		syslog(prio, "xen: %s: %s (%lu such lines left out before)",
		       x->base.name, msg, dropped);
	else
		syslog(prio, "xen: %s: %s", x->base.name, msg);
}

/* Carry out what xen_evplan decided besides the response. */
static void plan_do(struct xen_hv *x, const vm_event_request_t *rq,
		    const struct xen_req *q, const struct xen_evplan *p)
{
	int err;

	if (p->decode_err)
		guest_log(x, LOG_WARNING, "dropping vm_event request (reason %u, "
			  "version %#x, vcpu %u): %s", rq->reason, rq->version,
			  rq->vcpu_id, strerror(-p->decode_err));
	/* failures below leave the vCPU trapping again: say so, rate-limited */
	if (p->poke && (err = xen_poke(x, p->poke_gpa, p->poke_byte)))
		guest_log(x, LOG_WARNING, "writing %#x at gpa %#" PRIx64 ": %s",
			  p->poke_byte, p->poke_gpa, strerror(-err));
	if (p->inject) {
		guest_log(x, p->vector == XEN_TRAP_INT3 ? LOG_NOTICE : LOG_DEBUG,
			  "%s at %#" PRIx64 " is not ours: handed back to the guest",
			  p->vector == XEN_TRAP_INT3 ? "int3" : "debug exception",
			  q->regs.rip);
		if (xc_hvm_inject_trap(x->xch, x->domid, q->vcpu, p->vector, p->type,
				       ~0u, p->insn_len, 0))
			guest_log(x, LOG_WARNING, "handing vector %u back to vcpu %u: %s",
				  p->vector, q->vcpu, strerror(errno));
	}
	if (!p->decode_err && !p->report && !p->inject &&
	    (q->kind == XEN_REQ_BREAKPOINT || q->kind == XEN_REQ_DEBUG))
		guest_log(x, LOG_DEBUG, "stale breakpoint event at %#" PRIx64,
			  q->regs.rip);
	if (p->save_state)
		xen_state_save(x);
}

/*
 * Handle one request: true when it is an event for the caller (then the
 * response is kept for event_done), false when answered here.
 */
static bool take_one(struct xen_hv *x, const vm_event_request_t *rq,
		     struct xen_req *q, vm_event_response_t *rsp)
{
	const struct xen_evplan_ctx c = {
		.bps = &x->bps, .nr_vcpus = x->base.nr_vcpus, .cr3_on = x->cr3_on,
		.can_step = x->can_step, .read_byte = read_byte, .arg = x,
	};
	struct xen_evplan p;

	xen_evplan_request(&c, rq, q, rsp, &p);
	plan_do(x, rq, q, &p);
	return p.report;
}

static void fill_event(struct xen_hv *x, struct hv_event *ev)
{
	const struct xen_req *q = &x->pend;

	memset(ev, 0, sizeof(*ev));
	ev->vcpu = q->vcpu;
	ev->regs = q->regs;
	ev->seq = ++x->seq;
	if (q->kind == XEN_REQ_CR3) {
		ev->kind = HV_EV_CR3_WRITE;
		ev->cr3_old = q->cr3_old;
		ev->cr3_new = q->cr3_new;
	} else {
		ev->kind = HV_EV_BREAKPOINT;
		ev->addr = q->regs.rip;
	}
}

static int gone_event(struct xen_hv *x, struct hv_event *ev)
{
	if (x->gone_told)
		return -ENODEV;
	x->gone_told = true;
	memset(ev, 0, sizeof(*ev));
	ev->kind = HV_EV_GONE;
	ev->seq = ++x->seq;
	return 0;
}

static int remaining_ms(const struct timespec *end)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (end->tv_sec - now.tv_sec) * 1000LL + (end->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* Serve the ring until a request becomes an event: 1, none: 0, -errno. */
static int drain_to_event(struct xen_hv *x)
{
	vm_event_request_t rq;

	for (unsigned int i = 0; i < XEN_DRAIN_MAX; i++) {
		int err = xen_ring_take(&x->ring, &rq);

		if (err == -EAGAIN)
			return 0;
		if (err) {
			syslog(LOG_ERR, "xen: %s: monitor ring corrupt", x->base.name);
			x->gone = true;
			return err;
		}
		if (take_one(x, &rq, &x->pend, &x->pend_rsp)) {
			x->pend_rq = rq;
			x->pending = true;
			return 1;
		}
		answer(x, &x->pend_rsp);
	}
	return 0;	/* a flood: let the caller breathe, more next call */
}

int xen_next_event(struct hv *hv, struct hv_event *ev, int timeout_ms)
{
	struct xen_hv *x = xen_of(hv);
	struct timespec end;
	int err;

	if (x->pending)
		return -EBUSY;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		if (x->gone || !x->xce)
			return x->gone ? gone_event(x, ev) : -EOPNOTSUPP;
		err = drain_to_event(x);
		if (err == 1) {
			fill_event(x, ev);
			return 0;
		}
		if (err < 0)
			continue;
		/* wait in slices so a dead domain is noticed while we wait */
		int left = timeout_ms < 0 ? 1000 : remaining_ms(&end);
		err = wait_port(x, left > 1000 ? 1000 : left);
		if (err == -EAGAIN) {
			if (!xen_domain_alive(x))
				continue;
			if (timeout_ms >= 0 && remaining_ms(&end) == 0)
				return -EAGAIN;
		} else if (err) {
			return err;
		}
	}
}

int xen_event_done(struct hv *hv, const struct hv_event *ev)
{
	struct xen_hv *x = xen_of(hv);

	if (!x->pending || ev->seq != x->seq)
		return -EINVAL;
	x->pending = false;
	if (x->gone)
		return -ENODEV;
	return answer(x, &x->pend_rsp);
}

/* Teardown: guest paused, int3s out, monitors off, every request answered. */
void xen_event_release(struct xen_hv *x)
{
	vm_event_request_t rq;
	vm_event_response_t rsp;
	bool paused = !xc_domain_pause(x->xch, x->domid);

	for (unsigned int i = 0; i < x->bps.n; i++)
		if (x->bps.e[i].step_vcpu < 0 && x->bps.e[i].slot < 0)
			xen_poke(x, x->bps.e[i].gpa, x->bps.e[i].orig);
	xen_bps_init(&x->bps);
	if (x->dr_mask)
		xen_dr_sync(x);	/* empty table: our DR7 bits off on every vCPU */
	if (x->monitor) {
		xen_set_cr3_events(&x->base, false);
		bp_monitor(x, false);
		dbg_monitor(x, false);
	}
	if (x->pending) {
		/* rip + 5 over a NOP stays right; a step must not start now */
		x->pend_rsp.flags &= ~VM_EVENT_FLAG_TOGGLE_SINGLESTEP;
		answer(x, &x->pend_rsp);
		x->pending = false;
	}
	for (unsigned int i = 0; x->xce && i < 4 * XEN_DRAIN_MAX; i++) {
		if (xen_ring_take(&x->ring, &rq))
			break;
		xen_ring_response(&rq, &rsp);	/* bps are gone: re-execute */
		if (rq.reason == VM_EVENT_REASON_SINGLESTEP)
			rsp.flags |= VM_EVENT_FLAG_TOGGLE_SINGLESTEP;
		answer(x, &rsp);
	}
	if (x->monitor)
		xc_monitor_disable(x->xch, x->domid);	/* wakes any vCPU left */
	if (x->xce) {
		xenevtchn_unbind(x->xce, x->port);
		xenevtchn_close(x->xce);
	}
	if (x->ring_page)
		munmap(x->ring_page, XC_PAGE_SIZE);
	x->monitor = false;
	x->xce = NULL;
	x->ring_page = NULL;
	if (paused)
		xc_domain_unpause(x->xch, x->domid);
	xen_state_save(x);
}
