/*
 * kaslr.c - locate a KASLR-randomised x86-64 Linux kernel (see kaslr.h).
 *
 * The kernel image is contiguous both physically and virtually, and both
 * load addresses are aligned to CONFIG_PHYSICAL_ALIGN (2 MiB at least).
 * So the banner can only sit at k * 2 MiB + (its linked offset mod 2 MiB):
 * a few hundred probes instead of a scan of all RAM. The physical slide
 * then gives init_top_pgt; the virtual slide is whichever of the 512
 * 2 MiB-aligned kernel-text positions maps to the banner's physical page.
 * Nothing is trusted until init_task reads back as "swapper".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kaslr.h"
#include "pt.h"

#define CR4_LA57 (1ull << 12)
#define PROBE_LEN 16u

static gpa_t linked_pa(uint64_t va)
{
	return va - KASLR_KERNEL_MAP;
}

static int banner_at(struct hv *hv, const struct profile *p, gpa_t pos)
{
	char buf[PROFILE_BANNER_MAX];
	size_t first = p->banner_len < PROBE_LEN ? p->banner_len : PROBE_LEN;
	int err = hv_read_phys(hv, pos, buf, first);

	if (err)
		return err == -EFAULT ? 0 : err;
	if (memcmp(buf, p->banner, first))
		return 0;
	err = hv_read_phys(hv, pos, buf, p->banner_len);
	if (err)
		return err == -EFAULT ? 0 : err;
	return memcmp(buf, p->banner, p->banner_len) == 0;
}

int kaslr_find_banner(struct hv *hv, const struct profile *p, gpa_t from,
		      gpa_t *pa)
{
	uint64_t bva = p->known[PSYM_LINUX_BANNER];
	uint64_t low, pos;

	if (!bva || bva < KASLR_KERNEL_MAP || !p->banner_len ||
	    p->banner_len >= PROFILE_BANNER_MAX)
		return -EINVAL;
	low = linked_pa(bva) & (KASLR_ALIGN - 1);
	pos = from <= low ? low : low + (from - low + KASLR_ALIGN - 1) / KASLR_ALIGN * KASLR_ALIGN;
	for (; pos < hv->ram_size && hv->ram_size - pos >= p->banner_len;
	     pos += KASLR_ALIGN) {
		int r = banner_at(hv, p, pos);

		if (r < 0)
			return r;
		if (r) {
			*pa = pos;
			return 0;
		}
	}
	return -ENOENT;
}

/* 4 or 5 from CR4.LA57 on vCPU 0, or 0 when registers cannot be had. */
static unsigned int paging_levels(struct hv *hv)
{
	struct hv_regs r;
	int err = hv_get_regs(hv, 0, &r);

	/* only pause if we must, so a caller's own pause is left alone */
	if (err && err != -EOPNOTSUPP && hv_pause(hv) == 0) {
		err = hv_get_regs(hv, 0, &r);
		hv_resume(hv);
	}
	if (err || !r.cr4)	/* CR4 is never 0 in long mode: not reported */
		return 0;
	return (r.cr4 & CR4_LA57) ? 5 : 4;
}

static int find_virt(struct hv *hv, const struct profile *p, gpa_t banner_pa,
		     gpa_t pgd, unsigned int levels, uint64_t *vslide)
{
	uint64_t bva = p->known[PSYM_LINUX_BANNER];
	uint64_t low = bva & (KASLR_ALIGN - 1);

	for (uint64_t off = 0; off < KASLR_VIRT_SPAN; off += KASLR_ALIGN) {
		gva_t cand = KASLR_KERNEL_MAP + off + low;
		struct pt_map m;
		int err = pt_walk(hv, PT_MAXPHY_DEFAULT, pgd, levels, cand, &m);

		if (err == -ENODEV)
			return err;
		if (!err && m.pa == banner_pa) {
			*vslide = cand - bva;
			return 0;
		}
	}
	return -ENOENT;
}

static int read_virt(struct hv *hv, gpa_t pgd, unsigned int levels, gva_t va,
		     char *buf, size_t len)
{
	while (len) {
		size_t room = HV_PAGE_SIZE - (va & (HV_PAGE_SIZE - 1));
		size_t n = len < room ? len : room;
		struct pt_map m;
		int err = pt_walk(hv, PT_MAXPHY_DEFAULT, pgd, levels, va, &m);

		if (!err)
			err = hv_read_phys(hv, m.pa, buf, n);
		if (err)
			return err;
		buf += n;
		va += n;
		len -= n;
	}
	return 0;
}

/* init_task must be "swapper" (or "swapper/0"); else the offsets are wrong. */
static int verify(struct hv *hv, const struct profile *p, const struct kaslr *k,
		  char *why, size_t whylen)
{
	char comm[17] = { 0 };
	gva_t va;

	if (!p->known[PSYM_INIT_TASK] || !profile_has(p, PF_TASK_COMM))
		return 0;	/* only the banner mapping vouches for it */
	va = p->known[PSYM_INIT_TASK] + k->virt_slide + (uint64_t)profile_off(p, PF_TASK_COMM);
	if (read_virt(hv, k->pgd, k->levels, va, comm, 16)) {
		snprintf(why, whylen, "init_task.comm at %#llx is unmapped",
			 (unsigned long long)va);
		return -EINVAL;
	}
	if (strncmp(comm, "swapper", 7) == 0)
		return 0;
	for (int i = 0; i < 16; i++)
		if (comm[i] && (comm[i] < 0x20 || comm[i] > 0x7e))
			comm[i] = '?';
	snprintf(why, whylen, "init_task.comm reads \"%s\", not \"swapper\" "
		 "(profile offsets do not fit this kernel)", comm);
	return -EINVAL;
}

/* Given the banner's physical address, try to complete and verify. */
static int try_match(struct hv *hv, const struct profile *p, gpa_t bpa,
		     unsigned int levels, struct kaslr *k, char *why, size_t whylen)
{
	static const unsigned int both[] = { 4, 5 };
	const unsigned int *depths = levels ? &levels : both;
	size_t nd = levels ? 1 : 2;
	int err;

	k->banner_pa = bpa;
	k->phys_slide = bpa - linked_pa(p->known[PSYM_LINUX_BANNER]);
	if (!p->known[PSYM_INIT_TOP_PGT]) {
		snprintf(why, whylen, "the profile lacks init_top_pgt");
		return -EINVAL;
	}
	k->pgd = linked_pa(p->known[PSYM_INIT_TOP_PGT]) + k->phys_slide;
	if ((k->pgd & (HV_PAGE_SIZE - 1)) || k->pgd >= hv->ram_size) {
		snprintf(why, whylen, "init_top_pgt would be at %#llx, outside RAM",
			 (unsigned long long)k->pgd);
		return -EINVAL;
	}
	for (size_t i = 0; i < nd; i++) {
		k->levels = depths[i];
		err = find_virt(hv, p, bpa, k->pgd, k->levels, &k->virt_slide);
		if (err == -ENODEV)
			return err;
		if (err) {
			snprintf(why, whylen, "no kernel-text address maps to it "
				 "through init_top_pgt at %#llx (%u-level paging)",
				 (unsigned long long)k->pgd, k->levels);
			continue;
		}
		err = verify(hv, p, k, why, whylen);
		if (!err)
			return 0;
	}
	return -EINVAL;
}

int kaslr_find(struct hv *hv, const struct profile *p, struct kaslr *out,
	       char *err, size_t errlen)
{
	char why[256] = "";
	unsigned int levels = paging_levels(hv);
	gpa_t from = 0, bpa = 0, first = 0;
	unsigned int found = 0;
	int rc;

	if (!err)
		errlen = 0;
	while (found < KASLR_MAX_MATCHES) {
		rc = kaslr_find_banner(hv, p, from, &bpa);
		if (rc == -ENOENT)
			break;
		if (rc) {
			snprintf(err, errlen, "profile %s: %s", p->source,
				 rc == -EINVAL ? "no banner or linux_banner symbol"
					       : strerror(-rc));
			return rc;
		}
		if (!found++)
			first = bpa;
		from = bpa + 1;
		rc = try_match(hv, p, bpa, levels, out, why, sizeof(why));
		if (!rc)
			return 0;
		if (rc == -ENODEV)
			return rc;
	}
	if (!found) {
		snprintf(err, errlen, "banner of profile %s not found in guest RAM "
			 "(%llu MiB probed at 2 MiB steps): wrong profile, or not "
			 "a Linux guest", p->source,
			 (unsigned long long)(hv->ram_size >> 20));
		return -ENOENT;
	}
	snprintf(err, errlen, "banner of profile %s found at %#llx but the "
		 "profile does not fit this guest: %s", p->source,
		 (unsigned long long)first, why);
	return -EINVAL;
}
