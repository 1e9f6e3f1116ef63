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
 * Breakpoints are int3 bytes written into guest memory (visible to the
 * guest: no HV_CAP_BP_INVISIBLE). One placed on the ftrace 5-byte NOP
 * (0f 1f 44 00 00, checked first) resumes by rip += 5 on Intel and AMD;
 * elsewhere it needs single-step, which Xen offers on Intel only
 * (set_bp then returns -EOPNOTSUPP on AMD). Needs a CPU that raises the
 * #BP intercept for int3: QEMU TCG's nested SVM (the Xen lab) does not (it
 * checks only the INTn intercept), so there the guest takes our int3 as
 * its own #BP and oopses; no vm_event request ever arrives.
 * hv_free() removes every int3,
 * answers every request still in the ring and turns the monitor off.
 * A daemon killed outright cannot: the int3 addresses, and a pause we
 * hold, are also kept in a state file (XEN_STATE_DIR/xen-dom<id>.bps) that
 * the next attach to that domain reads to restore the original bytes and
 * undo the pause (both seen working in the Xen lab), and that attach takes the
 * monitor over (a killed holder leaves it enabled, vCPUs possibly paused).
 */
#ifndef UPCALLD_XEN_H
#define UPCALLD_XEN_H

#include <stdbool.h>

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

bool xen_hv_is(const struct hv *hv);
unsigned int xen_hv_domid(const struct hv *hv);

#endif
