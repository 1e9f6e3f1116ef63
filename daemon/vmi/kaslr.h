/*
 * kaslr.h - find where a KASLR-randomised x86-64 Linux kernel sits in guest
 * memory: its physical slide (from the profile's banner in guest RAM), the
 * kernel page table (init_top_pgt), the paging depth, and its virtual
 * slide (from which kernel-text address maps to the banner).
 *
 * Used by vmi_new(); exposed for vmi_choose_profile() and for tests.
 */
#ifndef UPCALLD_KASLR_H
#define UPCALLD_KASLR_H

#include <stddef.h>
#include <stdint.h>

#include "hv.h"
#include "profile.h"

#define KASLR_KERNEL_MAP 0xffffffff80000000ull	/* __START_KERNEL_map */
#define KASLR_ALIGN (2ull << 20)	/* CONFIG_PHYSICAL_ALIGN, both slides */
#define KASLR_VIRT_SPAN (1ull << 30)	/* KERNEL_IMAGE_SIZE with KASLR */
#define KASLR_MAX_MATCHES 8u		/* banner copies tried before giving up */

struct kaslr {
	gpa_t banner_pa;	/* where linux_banner is in guest RAM */
	uint64_t phys_slide;	/* load address - linked (two's complement) */
	uint64_t virt_slide;
	gpa_t pgd;		/* init_top_pgt, physical */
	unsigned int levels;	/* 4 or 5 */
};

/*
 * Physical address of the first copy of the profile's banner at or after
 * from, probing only where a 2 MiB-aligned kernel load would put it.
 * -ENOENT if none; -EINVAL if the profile has no banner or linux_banner.
 */
int kaslr_find_banner(struct hv *hv, const struct profile *p, gpa_t from,
		      gpa_t *pa);

/*
 * The whole search, verified by reading init_task's comm ("swapper")
 * through the page table found. -ENOENT: banner not in RAM (wrong profile
 * or not Linux); -EINVAL: banner present but the profile does not fit
 * this guest. err (may be NULL) gets a message either way.
 */
int kaslr_find(struct hv *hv, const struct profile *p, struct kaslr *out,
	       char *err, size_t errlen);

#endif
