/*
 * hv.h - the one interface between upcalld and a hypervisor.
 *
 * A backend (qemu, xen, the in-memory one used by unit tests) embeds
 * struct hv as its first member and fills in a const struct hv_ops.
 * Callers never touch ops directly: they use the hv_*() inline wrappers
 * below, which also check capability bits so a missing op is an error
 * (-EOPNOTSUPP), never a NULL call.
 *
 * Everything a backend hands back is derived from the guest and is
 * therefore untrusted: the layers above bound every size and walk.
 *
 * Threading: a struct hv is used from one thread (the daemon's event loop).
 */
#ifndef UPCALLD_HV_H
#define UPCALLD_HV_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t gpa_t;	/* guest-physical address */
typedef uint64_t gva_t;	/* guest-virtual address */

#define HV_PAGE_SIZE 4096u
#define HV_NAME_MAX 64

/* What a backend can do. Rules needing a missing bit are refused at load. */
enum hv_cap {
	HV_CAP_MEM = 1u << 0,		/* read_phys */
	HV_CAP_REGS = 1u << 1,		/* get_regs */
	HV_CAP_PAUSE = 1u << 2,		/* pause/resume */
	HV_CAP_BREAKPOINT = 1u << 3,	/* set_bp/clear_bp + events */
	HV_CAP_CR3_EVENT = 1u << 4,	/* exact CR3-write events */
	HV_CAP_CR3_APPROX = 1u << 5,	/* CR3 events via a context-switch bp */
	HV_CAP_BP_INVISIBLE = 1u << 6,	/* breakpoints not visible in guest RAM */
};

/* A vCPU's state. Fields a backend cannot read are left 0. */
struct hv_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
	uint64_t cr0, cr2, cr3, cr4, efer;
	uint64_t fs_base, gs_base, kernel_gs_base;
	uint64_t lstar;	/* syscall entry; 0 where the backend lacks it */
};

enum hv_event_kind {
	HV_EV_BREAKPOINT = 1,	/* a bp set with set_bp was hit at addr */
	HV_EV_CR3_WRITE,	/* cr3_old -> cr3_new (exact or approximated) */
	HV_EV_GONE,		/* the guest went away; the hv is now dead */
};

/*
 * One event. The vCPU that raised it stays stopped until hv_event_done():
 * keep the handler short (copy what is needed, do heavy work afterwards).
 */
struct hv_event {
	enum hv_event_kind kind;
	unsigned int vcpu;
	gva_t addr;		/* HV_EV_BREAKPOINT: the breakpoint address */
	uint64_t cr3_old, cr3_new;	/* HV_EV_CR3_WRITE */
	struct hv_regs regs;	/* the vCPU's registers at the event */
	uint64_t seq;		/* per-hv event counter, for logs */
};

struct hv;

/*
 * The backend contract. Unless said otherwise each op returns 0 or -errno
 * and must tolerate being called on a guest that has just died (-ENODEV).
 */
struct hv_ops {
	const char *name;	/* "qemu", "xen", "mem" */

	/*
	 * Detach and free: remove every breakpoint and event hook this hv
	 * placed, resume the guest if we paused it, release all resources.
	 * Never fails; safe on a dead guest.
	 */
	void (*free)(struct hv *hv);

	/* Stop/restart all vCPUs. Nested pauses are not counted. */
	int (*pause)(struct hv *hv);
	int (*resume)(struct hv *hv);

	/*
	 * Copy len bytes of guest-physical memory at gpa into buf.
	 * Reads crossing guest RAM's end fail whole with -EFAULT; nothing is
	 * partially copied. May be called while the guest runs.
	 */
	int (*read_phys)(struct hv *hv, gpa_t gpa, void *buf, size_t len);

	/* Registers of one vCPU. The guest must be paused or in an event. */
	int (*get_regs)(struct hv *hv, unsigned int vcpu, struct hv_regs *r);

	/*
	 * Place/remove an execution breakpoint at a kernel virtual address.
	 * set_bp on an address already set returns -EEXIST; clear_bp on one
	 * not set returns -ENOENT. A backend may cap the number (-ENOSPC).
	 */
	int (*set_bp)(struct hv *hv, gva_t addr);
	int (*clear_bp)(struct hv *hv, gva_t addr);

	/* Turn CR3-write events on or off. */
	int (*set_cr3_events)(struct hv *hv, bool on);

	/*
	 * A file descriptor that becomes readable when next_event may have
	 * something. Owned by the backend; -1 if the backend has no events.
	 */
	int (*event_fd)(struct hv *hv);

	/*
	 * Take the next event. timeout_ms = 0 polls; < 0 waits forever.
	 * Returns 0 with *ev filled, -EAGAIN when none arrived in time,
	 * -ENODEV when the guest is gone (after one HV_EV_GONE event).
	 * The event must be finished with event_done before the next one.
	 */
	int (*next_event)(struct hv *hv, struct hv_event *ev, int timeout_ms);

	/* Let the vCPU stopped by ev run again (stepping over a breakpoint). */
	int (*event_done)(struct hv *hv, const struct hv_event *ev);
};

/* The base every backend embeds first. */
struct hv {
	const struct hv_ops *ops;
	unsigned int caps;		/* enum hv_cap bits */
	unsigned int nr_vcpus;
	uint64_t ram_size;		/* bytes of guest-physical RAM readable */
	char name[HV_NAME_MAX];		/* guest name, NUL-terminated */
};

static inline bool hv_has(const struct hv *hv, unsigned int caps)
{
	return (hv->caps & caps) == caps;
}

static inline void hv_free(struct hv *hv)
{
	if (hv)
		hv->ops->free(hv);
}

static inline int hv_pause(struct hv *hv)
{
	return hv_has(hv, HV_CAP_PAUSE) ? hv->ops->pause(hv) : -EOPNOTSUPP;
}

static inline int hv_resume(struct hv *hv)
{
	return hv_has(hv, HV_CAP_PAUSE) ? hv->ops->resume(hv) : -EOPNOTSUPP;
}

static inline int hv_read_phys(struct hv *hv, gpa_t gpa, void *buf, size_t len)
{
	return hv_has(hv, HV_CAP_MEM) ? hv->ops->read_phys(hv, gpa, buf, len)
				      : -EOPNOTSUPP;
}

static inline int hv_get_regs(struct hv *hv, unsigned int vcpu,
			      struct hv_regs *r)
{
	if (!hv_has(hv, HV_CAP_REGS))
		return -EOPNOTSUPP;
	if (vcpu >= hv->nr_vcpus)
		return -EINVAL;
	return hv->ops->get_regs(hv, vcpu, r);
}

static inline int hv_set_bp(struct hv *hv, gva_t addr)
{
	return hv_has(hv, HV_CAP_BREAKPOINT) ? hv->ops->set_bp(hv, addr)
					     : -EOPNOTSUPP;
}

static inline int hv_clear_bp(struct hv *hv, gva_t addr)
{
	return hv_has(hv, HV_CAP_BREAKPOINT) ? hv->ops->clear_bp(hv, addr)
					     : -EOPNOTSUPP;
}

static inline int hv_set_cr3_events(struct hv *hv, bool on)
{
	if (!(hv->caps & (HV_CAP_CR3_EVENT | HV_CAP_CR3_APPROX)))
		return -EOPNOTSUPP;
	return hv->ops->set_cr3_events(hv, on);
}

static inline int hv_event_fd(struct hv *hv)
{
	return hv->ops->event_fd ? hv->ops->event_fd(hv) : -1;
}

static inline int hv_next_event(struct hv *hv, struct hv_event *ev,
				int timeout_ms)
{
	return hv->ops->next_event ? hv->ops->next_event(hv, ev, timeout_ms)
				   : -EOPNOTSUPP;
}

static inline int hv_event_done(struct hv *hv, const struct hv_event *ev)
{
	return hv->ops->event_done ? hv->ops->event_done(hv, ev) : -EOPNOTSUPP;
}

/* "mem,regs,pause,bp" for logs and refusals; returns buf. */
const char *hv_caps_str(unsigned int caps, char *buf, size_t len);

/* Backends. Each returns 0 and sets *out, or -errno with *out untouched. */

/*
 * qemu: ram_path is the shared RAM file (memory-backend-file), gdb_path the
 * gdbstub unix socket. The file is mapped read-only.
 */
int qemu_hv_new(const char *name, const char *ram_path, const char *gdb_path,
		struct hv **out);

#endif
