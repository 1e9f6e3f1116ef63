/*
 * xen.c - the xen backend (see xen.h): attach to a domain, guest memory
 * through libxenforeignmemory with a direct-mapped page cache, vCPU
 * registers from the HVM save record (or the PV vCPU context), pause and
 * resume, the breakpoint state file, and teardown. Events live in
 * xen_event.c.
 */
#include "xen_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#include <xen/hvm/save.h>

#define PAGE_SHIFT 12

static const struct hv_ops xen_ops;

bool xen_hv_is(const struct hv *hv)
{
	return hv && hv->ops == &xen_ops;
}

unsigned int xen_hv_domid(const struct hv *hv)
{
	return ((const struct xen_hv *)hv)->domid;
}

static int get_info(struct xen_hv *x, xc_dominfo_t *info)
{
	if (xc_domain_getinfo(x->xch, x->domid, 1, info) != 1 ||
	    info->domid != x->domid)
		return -ENOENT;
	return 0;
}

bool xen_domain_alive(struct xen_hv *x)
{
	xc_dominfo_t info;

	if (x->gone)
		return false;
	if (get_info(x, &info) || info.dying || info.shutdown)
		x->gone = true;
	return !x->gone;
}

/* The page holding frame gfn, mapped read-only, through the cache. */
int xen_map_frame(struct xen_hv *x, uint64_t gfn, const uint8_t **page)
{
	struct xen_map_slot *s = &x->map[gfn % XEN_MAP_SLOTS];
	xen_pfn_t f = gfn;
	int err = 0;

	if (s->page && s->gfn == gfn && s->gen == x->map_gen) {
		*page = s->page;
		return 0;
	}
	if (s->page)
		xenforeignmemory_unmap(x->fmem, s->page, 1);
	s->page = xenforeignmemory_map(x->fmem, x->domid, PROT_READ, 1, &f, &err);
	if (!s->page || err) {
		if (s->page)
			xenforeignmemory_unmap(x->fmem, s->page, 1);
		s->page = NULL;
		return -EFAULT;
	}
	s->gfn = gfn;
	s->gen = x->map_gen;
	*page = s->page;
	return 0;
}

static void map_flush(struct xen_hv *x)
{
	for (unsigned int i = 0; i < XEN_MAP_SLOTS; i++) {
		if (x->map[i].page)
			xenforeignmemory_unmap(x->fmem, x->map[i].page, 1);
		x->map[i].page = NULL;
	}
}

static int xen_read_phys(struct hv *hv, gpa_t gpa, void *buf, size_t len)
{
	struct xen_hv *x = xen_of(hv);
	uint8_t *out = buf;

	if (len == 0)
		return 0;
	if (gpa + len < gpa || ((gpa + len - 1) >> PAGE_SHIFT) > x->max_frame)
		return -EFAULT;
	while (len) {
		size_t off = gpa & (HV_PAGE_SIZE - 1);
		size_t n = HV_PAGE_SIZE - off < len ? HV_PAGE_SIZE - off : len;
		const uint8_t *page;
		int err = xen_map_frame(x, gpa >> PAGE_SHIFT, &page);

		if (err) {
			memset(buf, 0, (size_t)(out - (uint8_t *)buf));
			return xen_domain_alive(x) ? err : -ENODEV;
		}
		memcpy(out, page + off, n);
		out += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

/* Write one byte of guest memory (an int3, or the byte it replaced). */
int xen_poke(struct xen_hv *x, gpa_t gpa, uint8_t byte)
{
	xen_pfn_t f = gpa >> PAGE_SHIFT;
	int err = 0;
	uint8_t *p;

	if (f > x->max_frame)
		return -EFAULT;	/* a state file or a caller with a wild gpa */
	p = xenforeignmemory_map(x->fmem, x->domid, PROT_READ | PROT_WRITE, 1, &f, &err);
	if (!p || err) {
		if (p)
			xenforeignmemory_unmap(x->fmem, p, 1);
		return xen_domain_alive(x) ? -EFAULT : -ENODEV;
	}
	p[gpa & (HV_PAGE_SIZE - 1)] = byte;
	xenforeignmemory_unmap(x->fmem, p, 1);
	return 0;
}

static int regs_hvm(struct xen_hv *x, unsigned int vcpu, struct hv_regs *r)
{
	struct hvm_hw_cpu c;

	if (xc_domain_hvm_getcontext_partial(x->xch, x->domid, HVM_SAVE_CODE(CPU),
					     vcpu, &c, sizeof(c)))
		return -errno;
	*r = (struct hv_regs){
		.rax = c.rax, .rbx = c.rbx, .rcx = c.rcx, .rdx = c.rdx,
		.rsi = c.rsi, .rdi = c.rdi, .rbp = c.rbp, .rsp = c.rsp,
		.r8 = c.r8, .r9 = c.r9, .r10 = c.r10, .r11 = c.r11,
		.r12 = c.r12, .r13 = c.r13, .r14 = c.r14, .r15 = c.r15,
		.rip = c.rip, .rflags = c.rflags, .cr0 = c.cr0, .cr2 = c.cr2,
		.cr3 = c.cr3, .cr4 = c.cr4, .efer = c.msr_efer,
		.fs_base = c.fs_base, .gs_base = c.gs_base,
		.kernel_gs_base = c.shadow_gs, .lstar = c.msr_lstar,
	};
	return 0;
}

static int regs_pv(struct xen_hv *x, unsigned int vcpu, struct hv_regs *r)
{
	vcpu_guest_context_any_t c;
	const struct cpu_user_regs_x86_64 *u = &c.x64.user_regs;

	if (xc_vcpu_getcontext(x->xch, x->domid, vcpu, &c))
		return -errno;
	*r = (struct hv_regs){
		.rax = u->rax, .rbx = u->rbx, .rcx = u->rcx, .rdx = u->rdx,
		.rsi = u->rsi, .rdi = u->rdi, .rbp = u->rbp, .rsp = u->rsp,
		.r8 = u->r8, .r9 = u->r9, .r10 = u->r10, .r11 = u->r11,
		.r12 = u->r12, .r13 = u->r13, .r14 = u->r14, .r15 = u->r15,
		.rip = u->rip, .rflags = u->rflags,
		.cr0 = c.x64.ctrlreg[0], .cr2 = c.x64.ctrlreg[2],
		/* a PV cr3 holds a machine frame in Xen's compressed form */
		.cr3 = (uint64_t)xen_cr3_to_pfn_x86_64(c.x64.ctrlreg[3]) << PAGE_SHIFT,
		.cr4 = c.x64.ctrlreg[4], .fs_base = c.x64.fs_base,
		.gs_base = c.x64.gs_base_kernel, .kernel_gs_base = c.x64.gs_base_user,
	};
	return 0;
}

static int xen_get_regs(struct hv *hv, unsigned int vcpu, struct hv_regs *r)
{
	struct xen_hv *x = xen_of(hv);
	int err;

	if (x->pending && x->pend.vcpu == vcpu) {
		*r = x->pend.regs;	/* Xen's copy at the event: no hypercall */
		return 0;
	}
	err = x->pv ? regs_pv(x, vcpu, r) : regs_hvm(x, vcpu, r);
	if (err && !xen_domain_alive(x))
		return -ENODEV;
	return err;
}

static int xen_pause(struct hv *hv)
{
	struct xen_hv *x = xen_of(hv);

	if (x->paused)
		return 0;
	if (xc_domain_pause(x->xch, x->domid))
		return xen_domain_alive(x) ? -errno : -ENODEV;
	x->paused = true;
	xen_state_save(x);	/* a kill now must not leave the guest paused */
	x->map_gen++;	/* a snapshot starts: remap frames the p2m may have moved */
	return 0;
}

static int xen_resume(struct hv *hv)
{
	struct xen_hv *x = xen_of(hv);

	if (!x->paused)
		return 0;
	x->paused = false;
	xen_state_save(x);
	if (xc_domain_unpause(x->xch, x->domid))
		return xen_domain_alive(x) ? -errno : -ENODEV;
	return 0;
}

/* The breakpoints (and pause) we hold, for the next attach after a kill. */
int xen_state_save(struct xen_hv *x)
{
	char tmp[sizeof(x->state_path) + 8];
	char text[XEN_STATE_MAX];
	int n;
	FILE *f;

	if (!x->state_path[0])
		return 0;
	if (x->bps.n == 0 && !x->paused) {
		unlink(x->state_path);
		return 0;
	}
	n = xen_state_format(&x->bps, x->paused, x->domid, text, sizeof(text));
	if (n < 0 || snprintf(tmp, sizeof(tmp), "%s.tmp", x->state_path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	if (fwrite(text, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		unlink(tmp);
		return -EIO;
	}
	if (fclose(f) || rename(tmp, x->state_path)) {
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

/* Read the state file: 0 and *st filled, -ENOENT when there is none. */
static int state_read(struct xen_hv *x, struct xen_state *st)
{
	char text[XEN_STATE_MAX + 1];
	size_t len;
	FILE *f = fopen(x->state_path, "r");
	int err;

	if (!f)
		return -ENOENT;
	len = fread(text, 1, sizeof(text), f);
	fclose(f);
	err = xen_state_parse(text, len, x->domid, st);
	if (err)
		syslog(LOG_ERR, "xen: %s: state file %s ignored: %s", x->base.name,
		       x->state_path, strerror(-err));
	return err;
}

/* Debug registers a killed predecessor armed: disarm where still ours. */
static void state_recover_dr(struct xen_hv *x, const struct xen_state *st)
{
	struct xen_dr_set set = { .recover = true };
	unsigned int disarmed = 0;

	if (x->pv || st->n_dr == 0)
		return;
	for (unsigned int i = 0; i < st->n_dr; i++) {
		set.slots |= 1u << st->dr[i].slot;
		set.dr[st->dr[i].slot] = st->dr[i].addr;
	}
	if (xen_dr_apply(x, &set, &disarmed))
		return;
	if (disarmed)
		syslog(LOG_NOTICE, "xen: %s: disarmed %d debug-register breakpoint(s) "
		       "left by a killed holder", x->base.name, __builtin_popcount(disarmed));
	else
		syslog(LOG_NOTICE, "xen: %s: the state file's debug registers are no "
		       "longer armed at its addresses: left alone", x->base.name);
}

/* Undo what a killed predecessor left: int3 bytes, debug registers, pause. */
static void state_recover(struct xen_hv *x)
{
	struct xen_state st;
	uint8_t b;
	int err = state_read(x, &st);

	if (err == -ENOENT)
		return;
	if (!err) {
		/* Xen's pause count outlives the process that paused */
		if (st.paused && !xc_domain_unpause(x->xch, x->domid))
			syslog(LOG_NOTICE, "xen: %s: undid a pause left by a killed holder",
			       x->base.name);
		for (unsigned int i = 0; i < st.n_int3; i++) {
			gpa_t gpa = st.int3[i].gpa;

			if (xen_read_phys(&x->base, gpa, &b, 1) || b != XEN_INT3)
				continue;
			if (!xen_poke(x, gpa, st.int3[i].orig))
				syslog(LOG_NOTICE, "xen: %s: restored a breakpoint left at "
				       "gpa %#" PRIx64, x->base.name, gpa);
		}
		state_recover_dr(x, &st);
	}
	unlink(x->state_path);
}

int xen_hv_set_bp_mode(struct hv *hv, bool debugreg)
{
	struct xen_hv *x;
	uint32_t caps = 0;

	if (!xen_hv_is(hv))
		return -EINVAL;
	x = xen_of(hv);
	if (x->bp_dr == debugreg)
		return 0;
	if (x->pv || !x->monitor)
		return -EOPNOTSUPP;
	if (x->bps.n)
		return -EBUSY;
	if (debugreg &&
	    (xc_monitor_get_capabilities(x->xch, x->domid, &caps) ||
	     !(caps & (1u << XEN_DOMCTL_MONITOR_EVENT_DEBUG_EXCEPTION))))
		return -EOPNOTSUPP;
	x->bp_dr = debugreg;
	if (debugreg)
		hv->caps |= HV_CAP_BP_INVISIBLE;
	else
		hv->caps &= ~(unsigned int)HV_CAP_BP_INVISIBLE;
	return 0;
}

static void xen_free(struct hv *hv)
{
	struct xen_hv *x = xen_of(hv);

	if (x->xch && x->fmem) {
		xen_event_release(x);
		if (x->paused)
			xen_resume(hv);
	}
	if (x->fmem) {
		map_flush(x);
		xenforeignmemory_close(x->fmem);
	}
	if (x->xch)
		xc_interface_close(x->xch);
	free(x);
}

static int open_handles(struct xen_hv *x)
{
	x->xch = xc_interface_open(NULL, NULL, 0);
	if (!x->xch)
		return errno == EACCES || errno == EPERM ? -EACCES : -ENODEV;
	x->fmem = xenforeignmemory_open(NULL, 0);
	if (!x->fmem)
		return errno == EACCES || errno == EPERM ? -EACCES : -ENODEV;
	return 0;
}

static int size_guest(struct xen_hv *x)
{
	xen_pfn_t gpfn = 0;
	unsigned long mfn = 0;

	if (x->pv) {
		if (xc_maximum_ram_page(x->xch, &mfn))
			return -errno;
		x->max_frame = mfn;
	} else {
		if (xc_domain_maximum_gpfn(x->xch, x->domid, &gpfn))
			return -errno;
		x->max_frame = gpfn;
	}
	x->base.ram_size = (x->max_frame + 1) << PAGE_SHIFT;
	return 0;
}

int xen_hv_new(unsigned int domid, const char *name, const char *state_dir,
	       struct hv **out)
{
	struct xen_hv *x = calloc(1, sizeof(*x));
	xc_dominfo_t info;
	int err;

	if (!x)
		return -ENOMEM;
	x->base.ops = &xen_ops;
	x->domid = domid;
	if (name)
		snprintf(x->base.name, sizeof(x->base.name), "%s", name);
	else
		snprintf(x->base.name, sizeof(x->base.name), "dom%u", domid);
	err = open_handles(x);
	if (err)
		goto out_free;
	err = get_info(x, &info);
	if (err)
		goto out_free;
	x->pv = !info.hvm;
	x->base.nr_vcpus = info.max_vcpu_id + 1;
	err = size_guest(x);
	if (err)
		goto out_free;
	if (snprintf(x->state_path, sizeof(x->state_path), "%s/xen-dom%u.bps",
		     state_dir ? state_dir : XEN_STATE_DIR, domid) >=
	    (int)sizeof(x->state_path)) {
		err = -ENAMETOOLONG;	/* a cut name could be another guest's file */
		x->state_path[0] = '\0';
		goto out_free;
	}
	x->base.caps = HV_CAP_MEM | HV_CAP_PAUSE | HV_CAP_REGS;
	state_recover(x);
	if (!x->pv) {
		err = xen_event_attach(x);
		if (err)
			goto out_free;
		x->base.caps |= HV_CAP_BREAKPOINT | HV_CAP_CR3_EVENT;
	}
	*out = &x->base;
	return 0;
out_free:
	syslog(LOG_ERR, "xen: attach to domain %u: %s", domid, strerror(-err));
	xen_free(&x->base);
	return err;
}

static const struct hv_ops xen_ops = {
	.name = "xen",
	.free = xen_free,
	.pause = xen_pause,
	.resume = xen_resume,
	.read_phys = xen_read_phys,
	.get_regs = xen_get_regs,
	.set_bp = xen_set_bp,
	.clear_bp = xen_clear_bp,
	.set_cr3_events = xen_set_cr3_events,
	.event_fd = xen_event_fd,
	.next_event = xen_next_event,
	.event_done = xen_event_done,
};
