/*
 * xen.h - the xen backend (production): attach to a running domain from
 * dom0 and implement hv.h over libxenctrl, libxenforeignmemory and the
 * vm_event monitor ring. No Xen types here: only hypervisor-hooks/xen*.c
 * include Xen headers.
 *
 * Capabilities: every guest gets HV_CAP_MEM | HV_CAP_PAUSE | HV_CAP_REGS.
 * HVM and PVH guests also get HV_CAP_BREAKPOINT | HV_CAP_CR3_EVENT (Xen's
 * monitor needs an HVM container); PV guests do not, so rules needing
 * events are refused for them at load (hv_caps_str names what is there).
 * For PV guests, guest-"physical" addresses are machine addresses, which
 * is what their page tables and CR3 hold.
 *
 * Breakpoints are int3 bytes written into guest memory by default (visible
 * to the guest: no HV_CAP_BP_INVISIBLE), or debug registers (see
 * xen_hv_set_bp_mode). One placed on the ftrace 5-byte NOP
 * (0f 1f 44 00 00, checked first) resumes by rip += 5 on Intel and AMD;
 * elsewhere it needs single-step, which Xen offers on Intel only
 * (set_bp then returns -EOPNOTSUPP on AMD). Needs a CPU that raises the
 * #BP intercept for int3: Debian 12's QEMU 7.2 TCG emulation of nested SVM
 * does not (it checks only the INTn intercept), so there the guest takes
 * our int3 as its own #BP and oopses; the Xen lab boots a QEMU built with
 * tests/lab/qemu/svm-int3-intercept.patch (tests/lab/qemu-build.sh).
 * hv_free() removes every int3 (and our debug registers), answers every
 * request still in the ring and turns the monitor off.
 * A daemon killed outright cannot: the int3 addresses, debug-register
 * slots, and a pause we hold, are also kept in a state file
 * (XEN_STATE_DIR/xen-dom<id>.bps, format in xen_bp.h) that the next attach
 * to that domain reads to restore the original bytes, disarm the debug
 * registers and undo the pause (all seen working in the Xen lab), and that
 * attach takes the monitor over (a killed holder leaves it enabled, vCPUs
 * possibly paused).
 */
#ifndef UPCALLD_XEN_H
#define UPCALLD_XEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv.h"

#define XEN_STATE_DIR "/run/upcalld"
#define XEN_NAME_LOOKUP_MAX 1024u	/* domains scanned by name */

/*
 * Attach to domain domid. name (may be NULL) is only the hv's name for
 * logs; NULL uses "dom<id>". state_dir NULL means XEN_STATE_DIR.
 * -ENOENT: no such domain; -EACCES: not privileged (not dom0 / not root);
 * -ENODEV: no Xen here. Returns 0 and sets *out.
 */
int xen_hv_new(unsigned int domid, const char *name, const char *state_dir,
	       struct hv **out);

/* Domain id of a guest name, looked up in xenstore. -ENOENT if none. */
int xen_domid_by_name(const char *name, unsigned int *domid);

/*
 * The guest's upcall key (wire.h: WIRE_XEN_KEY_NODE), hex-encoded at
 * /local/domain/<domid>/upcalld/key: owned by dom0, readable by domid
 * only (no access for other domains), replacing any earlier key. len is
 * 1..64 bytes. -ENOENT: no such domain; -ENODEV: no xenstore; -EINVAL.
 */
int xen_store_put_key(unsigned int domid, const uint8_t *key, size_t len);
/* Remove /local/domain/<domid>/upcalld; 0 also when it was not there. */
int xen_store_del_key(unsigned int domid);

/*
 * Choose how breakpoints are placed (default: int3). Only while none is
 * set: -EBUSY otherwise; -EOPNOTSUPP for PV guests or when Xen offers no
 * debug-exception monitor; -EINVAL if hv is not a xen hv.
 *
 * debugreg true: instruction breakpoints in DR0-DR3 of every vCPU (set
 * through the HVM context with the domain paused), reported through
 * Xen's debug-exception monitor. At most 4 per guest (fewer when the
 * guest enables some DRs itself: -ENOSPC), nothing written to guest
 * memory (HV_CAP_BP_INVISIBLE), any first instruction (ftrace NOP:
 * resume by rip += 5; otherwise by RFLAGS.RF), AMD and Intel. A guest
 * that writes its own DR7 (a debugger, perf's hardware breakpoints) can
 * disarm them unseen, and a vCPU brought online later has none. A #DB
 * that is not ours is injected back. Our hit leaves B<n> set in the
 * guest's DR6 (the response cannot clear it).
 *
 * Seen in the Xen lab (QEMU 7.2 TCG, nested SVM): placing, reading back
 * (DR0 = addr, DR7 = 0x401 in the vCPU's context), teardown and recovery
 * after a kill work, but no #DB is ever raised: QEMU before 9.1 loads DR7
 * at VMRUN without arming its breakpoints (fixed upstream by "target/i386:
 * disable/enable breakpoints on vmentry/vmexit"), so the event path is
 * untested there; it needs real SVM/VMX hardware or a newer QEMU.
 */
int xen_hv_set_bp_mode(struct hv *hv, bool debugreg);

bool xen_hv_is(const struct hv *hv);
unsigned int xen_hv_domid(const struct hv *hv);

#endif
