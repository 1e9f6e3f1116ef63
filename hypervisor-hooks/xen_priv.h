/*
 * xen_priv.h - state shared by the xen backend's files: xen.c (attach,
 * memory, registers, pause, teardown) and xen_event.c (monitor ring,
 * breakpoints, CR3 events). Internal: includes Xen headers.
 */
#ifndef UPCALLD_XEN_PRIV_H
#define UPCALLD_XEN_PRIV_H

#define XC_WANT_COMPAT_DEVICEMODEL_API 1
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <sys/types.h>

#include "xen.h"
#include "xen_bp.h"
#include "xen_evplan.h"
#include "xen_ring.h"
#include "xen_state.h"

#define XEN_MAP_SLOTS 512u	/* direct-mapped page cache: 2 MiB window */
#define XEN_DRAIN_MAX 64u	/* requests answered at teardown, at most */
#define XEN_DR_CTX_MAX (4u << 20)	/* HVM context blob we accept, bytes */
#define XEN_DR_CTX_RECORDS_MAX 4096u	/* records walked in one blob */

/* What xen_dr_ctx_edit does to every vCPU's CPU record. */
struct xen_dr_set {
	bool write;		/* false: only report the guest's busy slots */
	bool recover;		/* instead: clear slots whose DRn == dr[n] */
	unsigned int slots;	/* bit n: write dr[n] into DRn */
	uint64_t dr[XEN_DR_SLOTS];
	uint64_t mask;		/* DR7 bits that are ours (cleared first) */
	uint64_t val;		/* then or-ed in */
};

struct xen_map_slot {
	uint64_t gfn;
	void *page;		/* NULL: empty */
	uint32_t gen;		/* valid while equal to xen_hv.map_gen */
};

struct xen_hv {
	struct hv base;
	xc_interface *xch;
	xenforeignmemory_handle *fmem;
	uint32_t domid;
	bool pv;
	bool paused;		/* by us */
	bool gone;		/* HV_EV_GONE reported or to report */
	bool gone_told;
	uint64_t max_frame;	/* last readable frame */
	uint32_t map_gen;
	struct xen_map_slot map[XEN_MAP_SLOTS];
	char state_path[256];

	/* events (xen_event.c) */
	xenevtchn_handle *xce;
	void *ring_page;
	evtchn_port_t port;	/* local port bound to Xen's */
	struct xen_ring ring;
	bool monitor, cr3_on, bp_on, can_step;
	bool bp_dr;		/* breakpoints in debug registers (xen_hv_set_bp_mode) */
	bool dbg_on;		/* debug-exception monitor on */
	uint64_t dr_mask;	/* DR7 bits of ours last written to the vCPUs */
	struct xen_bps bps;
	bool pending;		/* an event handed out, not yet done */
	vm_event_request_t pend_rq;
	vm_event_response_t pend_rsp;	/* sent by event_done */
	struct xen_req pend;
	uint64_t seq;
	struct xen_loglimit loglim;	/* guest-caused log lines */
};

static inline struct xen_hv *xen_of(struct hv *hv)
{
	return (struct xen_hv *)hv;
}

/* xen.c */
int xen_map_frame(struct xen_hv *x, uint64_t gfn, const uint8_t **page);
int xen_poke(struct xen_hv *x, gpa_t gpa, uint8_t byte);
bool xen_domain_alive(struct xen_hv *x);
int xen_state_save(struct xen_hv *x);

/* xen_dr.c */
/*
 * Edit an HVM context blob (buf, len) in place: every CPU record as set
 * says, and drop all records but HEADER, CPU, CPU_XSAVE and END. Returns
 * the new length; -EPROTO for a malformed blob (no header first, a record
 * past the end, a CPU record of the wrong size, no END), -ENOENT when it
 * has no CPU record, -E2BIG past XEN_DR_CTX_RECORDS_MAX records.
 * *guest_busy: slots some vCPU's DR7 enables outside set->mask; with
 * set->recover instead the slots disarmed on some vCPU.
 */
ssize_t xen_dr_ctx_edit(uint8_t *buf, size_t len, const struct xen_dr_set *set,
			unsigned int *guest_busy);
int xen_dr_apply(struct xen_hv *x, const struct xen_dr_set *set,
		 unsigned int *guest_busy);
int xen_dr_sync(struct xen_hv *x);

/* xen_event.c */
int xen_event_attach(struct xen_hv *x);	/* HVM/PVH only */
void xen_event_release(struct xen_hv *x);
int xen_set_bp(struct hv *hv, gva_t addr);
int xen_clear_bp(struct hv *hv, gva_t addr);
int xen_set_cr3_events(struct hv *hv, bool on);
int xen_event_fd(struct hv *hv);
int xen_next_event(struct hv *hv, struct hv_event *ev, int timeout_ms);
int xen_event_done(struct hv *hv, const struct hv_event *ev);

#endif
