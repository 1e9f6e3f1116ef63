/*
 * qemu_priv.h - state of the qemu backend shared by qemu.c (attach,
 * memory, registers, breakpoints) and qemu_event.c (run control and
 * events). Not for use outside these two files.
 */
#ifndef UPCALLD_QEMU_PRIV_H
#define UPCALLD_QEMU_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gdbrsp.h"
#include "hv.h"
#include "qemu.h"

enum qemu_run { QEMU_STOPPED, QEMU_RUNNING };

struct qemu_bp {
	gva_t addr;
	bool user;		/* placed with set_bp */
	bool hook;		/* the CR3 hook while CR3 events are on */
	bool not_nop;		/* seen without the ftrace NOP: always step */
};

struct qemu_regslot {
	size_t off;		/* byte offset in the `g` data; SIZE_MAX: absent */
	unsigned int bytes;
};

#define QEMU_NREGS 26

struct qemu_hv {
	struct hv base;
	const uint8_t *ram;	/* read-only shared mapping, or NULL */
	size_t ram_len;
	bool have_gdb;
	struct gdbrsp rsp;
	struct qemu_regslot slot[QEMU_NREGS];
	size_t g_bytes;
	unsigned int rip_regnum;	/* for `P` (write register) */
	bool no_p;		/* the stub refused `P`: never skip NOPs */
	uint64_t tid[QEMU_VCPUS_MAX];	/* gdb thread id of each vCPU */
	int cur_vcpu;		/* selected with Hg; -1 unknown */

	int epfd, efd;		/* event fd: epoll over the socket + efd */
	enum qemu_run run;
	bool user_paused;	/* hv_pause in force */
	bool gone_reported;

	struct qemu_bp bps[QEMU_BPS_MAX];
	unsigned int nbps;
	gva_t cr3_hook;
	bool cr3_on;
	uint64_t last_cr3;

	bool pending;		/* an event taken by pause, not yet delivered */
	struct hv_event pend;
	bool at_bp;		/* stopped on the breakpoint at at_addr: */
	gva_t at_addr;		/* step over it before continuing */
	unsigned int at_vcpu;
	bool in_event;		/* delivered, awaiting event_done */
	struct hv_event cur;
	uint64_t seq;
};

/* qemu.c */
int qemu_regs_fetch(struct qemu_hv *q, unsigned int vcpu, struct hv_regs *r);
int qemu_select_vcpu(struct qemu_hv *q, unsigned int vcpu);
int qemu_vcpu_of(const struct qemu_hv *q, const char *stop, size_t len);
int qemu_fail(struct qemu_hv *q, int err, const char *what);

/* qemu_bp.c */
struct qemu_bp *qemu_bp_find(struct qemu_hv *q, gva_t addr);
int qemu_bp_cmd(struct qemu_hv *q, bool insert, gva_t addr);
int qemu_bp_set(struct hv *hv, gva_t addr);
int qemu_bp_clear(struct hv *hv, gva_t addr);
int qemu_bp_cr3_events(struct hv *hv, bool on);
/* Resume past an ftrace NOP under the stopped vCPU: 0 done, 1 not one. */
int qemu_bp_skip_nop(struct qemu_hv *q, struct qemu_bp *b);

/* qemu_event.c */
int qemu_event_stop(struct qemu_hv *q);
int qemu_event_cont(struct qemu_hv *q);
/* Stop the guest if it runs (*stopped says whether we did). */
int qemu_event_quiesce(struct qemu_hv *q, bool *stopped);
/* Undo quiesce unless something (pause, an event) holds the guest. */
int qemu_event_settle(struct qemu_hv *q, bool stopped);
int qemu_event_pause(struct hv *hv);
int qemu_event_resume(struct hv *hv);
int qemu_event_next(struct hv *hv, struct hv_event *ev, int timeout_ms);
int qemu_event_done(struct hv *hv, const struct hv_event *ev);
int qemu_event_fd(struct hv *hv);
void qemu_event_signal(struct qemu_hv *q, bool on);

#endif
