/*
 * pt.h - x86-64 guest address translation: 4- and 5-level page walks over
 * guest-physical memory read through a backend, with 4 KiB, 2 MiB and
 * 1 GiB pages, plus a fixed-size translation cache keyed by (page-table
 * root, virtual page), with large pages cached per 2 MiB span.
 *
 * Page tables are guest memory and therefore hostile: a walk reads exactly
 * `levels` entries, so self-referencing tables cannot make it loop, and
 * malformed entries are refused rather than followed.
 *
 * Errors (all walks and reads):
 *   -EFAULT  an entry on the way is not present (the address is unmapped)
 *   -EINVAL  a malformed entry (reserved bits set, PS at PML4/PML5 level,
 *            a misaligned large-page frame), a non-canonical address, or
 *            levels other than 4 or 5
 *   -ERANGE  a table or the final page lies beyond guest RAM
 *   other    the backend's error (-ENODEV when the guest is gone, ...)
 *
 * Ownership: struct pt is caller-owned storage (embed it); pt_init() only
 * borrows hv, which must outlive it. No allocation happens per lookup.
 */
#ifndef UPCALLD_PT_H
#define UPCALLD_PT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv.h"

#define PT_CACHE_BITS 12
#define PT_CACHE_SLOTS (1u << PT_CACHE_BITS)	/* 4 KiB translations */
#define PT_BIG_BITS 10
#define PT_BIG_SLOTS (1u << PT_BIG_BITS)	/* 2 MiB spans of large pages */
#define PT_MAXPHY_DEFAULT 52u	/* architectural maximum: flags no valid entry */

/* A page-table root from a CR3 value: drops PCID and the no-flush bit. */
#define PT_CR3_ADDR(cr3) ((gpa_t)(cr3) & 0x000ffffffffff000ull)

struct pt_map {
	gpa_t pa;		/* physical address of va */
	uint64_t page_size;	/* 4 KiB, 2 MiB or 1 GiB */
	unsigned int level;	/* level of the leaf entry: 1 PT .. 3 PDPT */
};

struct pt_slot {
	uint64_t key;		/* root | levels */
	uint64_t vpn;		/* va >> 12, or va >> 21 in big[] */
	gpa_t page;		/* physical 4 KiB page (2 MiB span in big[]) */
	uint32_t gen;		/* valid iff == pt.gen */
};

struct pt {
	struct hv *hv;
	unsigned int maxphy;	/* MAXPHYADDR: entry bits [maxphy, 52) are reserved */
	uint32_t gen;
	uint64_t hits, misses;
	struct pt_slot slot[PT_CACHE_SLOTS];
	/*
	 * Translations that came from a 2 MiB or 1 GiB leaf are kept per
	 * 2 MiB span: the kernel's direct map, where task_structs, creds and
	 * page tables live, is mapped that way, so one walk serves 512 pages.
	 */
	struct pt_slot big[PT_BIG_SLOTS];
};

/* One uncached walk. maxphy in [32, 52]. */
int pt_walk(struct hv *hv, unsigned int maxphy, gpa_t root, unsigned int levels,
	    gva_t va, struct pt_map *out);

void pt_init(struct pt *pt, struct hv *hv);

/* Forget every cached translation (O(1)). */
void pt_flush(struct pt *pt);

/* va -> pa through the cache. */
int pt_translate(struct pt *pt, gpa_t root, unsigned int levels, gva_t va,
		 gpa_t *pa);

/*
 * Read len bytes at va, page by page through the cache. All-or-nothing:
 * on any error buf is zeroed.
 */
int pt_read(struct pt *pt, gpa_t root, unsigned int levels, gva_t va,
	    void *buf, size_t len);

/* Whether va is canonical for this paging depth. */
bool pt_canonical(gva_t va, unsigned int levels);

#endif
