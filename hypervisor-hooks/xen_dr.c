/*
 * xen_dr.c - debug-register breakpoints of the xen backend: DR0-DR3 and
 * DR7 of every vCPU are edited through the domain's HVM context (the CPU
 * save records), not xc_vcpu_setcontext: for HVM, Xen's
 * arch_set_info_guest reloads the FPU from the legacy FXSAVE image and
 * drops the guest's AVX state. The HVM context round trip carries the
 * XSAVE records too, so the FPU comes back whole.
 *
 * Only the HEADER, CPU, CPU_XSAVE and END records are loaded back: the
 * others (LAPIC timers, IRQ routing) would be rewritten for nothing.
 * The walk over the blob is pure (xen_dr_ctx_edit) so unit tests can
 * feed it forged contexts.
 */
#include "xen_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <xen/hvm/save.h>

#define CODE_END 0u
#define CODE_HEADER 1u
#define CODE_CPU 2u
#define CODE_CPU_XSAVE 16u

static bool keep_record(uint16_t code)
{
	return code == CODE_HEADER || code == CODE_CPU || code == CODE_CPU_XSAVE ||
	       code == CODE_END;
}

/* *out: the guest's busy slots, or with set->recover the slots disarmed */
static void edit_cpu(struct hvm_hw_cpu *c, const struct xen_dr_set *set,
		     unsigned int *out)
{
	uint64_t *drs[XEN_DR_SLOTS] = { &c->dr0, &c->dr1, &c->dr2, &c->dr3 };

	if (set->recover) {
		/* only where DRn is enabled and still holds the address left there */
		for (unsigned int n = 0; n < XEN_DR_SLOTS; n++) {
			if (!(set->slots & (1u << n)) || *drs[n] != set->dr[n] ||
			    !(c->dr7 & xen_dr7_slot_bits(n) & 0xff))
				continue;
			c->dr7 &= ~xen_dr7_slot_bits(n);
			*drs[n] = 0;
			*out |= 1u << n;
		}
		return;
	}
	*out |= xen_dr7_busy(c->dr7 & ~set->mask);
	if (!set->write)
		return;
	for (unsigned int n = 0; n < XEN_DR_SLOTS; n++)
		if (set->slots & (1u << n))
			*drs[n] = set->dr[n];
	c->dr7 = (c->dr7 & ~set->mask) | set->val | XEN_DR7_FIXED;
}

ssize_t xen_dr_ctx_edit(uint8_t *buf, size_t len, const struct xen_dr_set *set,
			unsigned int *guest_busy)
{
	size_t in = 0, out = 0;
	unsigned int ncpu = 0;

	*guest_busy = 0;
	for (unsigned int i = 0; i < XEN_DR_CTX_RECORDS_MAX; i++) {
		struct hvm_save_descriptor d;

		if (len - in < sizeof(d))
			return -EPROTO;	/* no END record */
		memcpy(&d, buf + in, sizeof(d));
		if (d.length > len - in - sizeof(d))
			return -EPROTO;
		if (i == 0 && d.typecode != CODE_HEADER)
			return -EPROTO;
		if (d.typecode == CODE_CPU) {
			struct hvm_hw_cpu c;

			if (d.length != sizeof(c))
				return -EPROTO;
			memcpy(&c, buf + in + sizeof(d), sizeof(c));
			edit_cpu(&c, set, guest_busy);
			memcpy(buf + in + sizeof(d), &c, sizeof(c));
			ncpu++;
		}
		if (keep_record(d.typecode)) {
			memmove(buf + out, buf + in, sizeof(d) + d.length);
			out += sizeof(d) + d.length;
		}
		in += sizeof(d) + d.length;
		if (d.typecode == CODE_END)
			return ncpu ? (ssize_t)out : -ENOENT;
	}
	return -E2BIG;
}

/*
 * Read (and with set->write, or set->recover when a slot was disarmed,
 * rewrite) every vCPU's debug registers with the domain paused.
 * *guest_busy as xen_dr_ctx_edit says.
 */
int xen_dr_apply(struct xen_hv *x, const struct xen_dr_set *set,
		 unsigned int *guest_busy)
{
	int size = xc_domain_hvm_getcontext(x->xch, x->domid, NULL, 0);
	uint8_t *buf;
	ssize_t n;
	int err = 0;

	if (size <= 0)
		return xen_domain_alive(x) ? -EIO : -ENODEV;
	if ((size_t)size > XEN_DR_CTX_MAX)
		return -E2BIG;
	buf = malloc((size_t)size);
	if (!buf)
		return -ENOMEM;
	if (xc_domain_pause(x->xch, x->domid)) {
		err = xen_domain_alive(x) ? -errno : -ENODEV;
		goto out_free;
	}
	n = xc_domain_hvm_getcontext(x->xch, x->domid, buf, (uint32_t)size);
	if (n <= 0) {
		err = -EIO;
		goto out_unpause;
	}
	n = xen_dr_ctx_edit(buf, (size_t)n, set, guest_busy);
	if (n < 0) {
		syslog(LOG_ERR, "xen: %s: HVM context not understood: %s",
		       x->base.name, strerror((int)-n));
		err = (int)n;
	} else if ((set->write || (set->recover && *guest_busy)) &&
		   xc_domain_hvm_setcontext(x->xch, x->domid, buf, (uint32_t)n)) {
		err = -errno;
		syslog(LOG_ERR, "xen: %s: setting debug registers: %s",
		       x->base.name, strerror(errno));
	}
out_unpause:
	xc_domain_unpause(x->xch, x->domid);
out_free:
	free(buf);
	return err;
}

/* The registers for x's table; slots/mask also cover what we held before. */
int xen_dr_sync(struct xen_hv *x)
{
	struct xen_dr_set set = { .write = true };
	unsigned int busy;
	uint64_t mask;
	int err;

	set.val = xen_bp_dr7(&x->bps, set.dr, &mask);
	set.mask = mask | x->dr_mask;
	for (unsigned int n = 0; n < XEN_DR_SLOTS; n++)
		if (set.mask & xen_dr7_slot_bits(n))
			set.slots |= 1u << n;
	err = xen_dr_apply(x, &set, &busy);
	if (!err)
		x->dr_mask = mask;
	return err;
}
