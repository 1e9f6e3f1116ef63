/*
 * qemu.h - extras of the qemu backend (qemu_hv_new() is in hv.h): attach
 * over an already connected gdbstub fd (tests use a socketpair), and the
 * context-switch hook that approximates CR3-write events.
 *
 * The backend maps QEMU's memory-backend-file read-only (guest-physical
 * address = file offset; guests up to QEMU_RAM_MAX, below the PCI hole)
 * and drives QEMU's gdbstub: pause/resume, registers (layout learned from
 * the stub's target description), Z0 breakpoints, stop replies as events.
 *
 * Breakpoints are invisible to the guest only under TCG; under KVM, QEMU
 * writes int3 into guest memory, so HV_CAP_BP_INVISIBLE is set only when
 * the stub's monitor reports KVM disabled. event_done gets the vCPU past
 * its breakpoint by writing rip + 5 when the bytes there are the ftrace
 * NOP (0f 1f 44 00 00), else by z0, single-step, Z0.
 *
 * Every exchange with the stub is bounded by the timeout; one that times
 * out or breaks the protocol drops the connection (a late reply would be
 * taken for the next one): the hv then reports HV_EV_GONE and -ENODEV,
 * while read_phys keeps working on the mapped RAM.
 */
#ifndef UPCALLD_QEMU_H
#define UPCALLD_QEMU_H

#include <stdbool.h>

#include "hv.h"

#define QEMU_RAM_MAX (2ull << 30)	/* larger guests split RAM at the PCI hole */
#define QEMU_VCPUS_MAX 64u
#define QEMU_BPS_MAX 64u
#define QEMU_TIMEOUT_MS 2000	/* bound on every exchange with the stub */

/*
 * Attach: ram_path may be NULL (no HV_CAP_MEM); gdb_fd < 0 means memory
 * only. gdb_fd is owned from here on (closed on failure too). timeout_ms
 * <= 0 means QEMU_TIMEOUT_MS. The guest keeps running after attach.
 * Returns 0 and sets *out, or -errno with *out untouched.
 */
int qemu_hv_open(const char *name, const char *ram_path, int gdb_fd,
		 int timeout_ms, struct hv **out);

bool qemu_hv_is(const struct hv *hv);

/*
 * Where the CR3 approximation puts its breakpoint: a kernel function that
 * runs right after the address-space switch (e.g. finish_task_switch), so
 * the event's cr3_new is the vCPU's CR3 there and cr3_old the one seen at
 * the previous such event (0 at the first). This layer has no profile:
 * the caller resolves the symbol. addr 0 removes the hook. Sets or clears
 * HV_CAP_CR3_APPROX; set_cr3_events fails with -EOPNOTSUPP without a hook.
 * -EBUSY while CR3 events are on.
 */
int qemu_hv_set_cr3_hook(struct hv *hv, gva_t addr);

#endif
