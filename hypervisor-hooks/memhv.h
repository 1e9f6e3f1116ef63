/*
 * memhv.h - an in-memory backend implementing hv.h, for unit tests and
 * benchmarks: sparse guest-physical RAM that tests populate, settable vCPU
 * registers, pause state, a breakpoint set, an injectable event queue
 * delivered through an eventfd, and a switch that makes the guest "gone".
 *
 * It is a real implementation of the contract (bounds, -EEXIST/-ENOENT,
 * -ENODEV after death), not a mock with canned answers: the layers above
 * are tested against it exactly as they run against qemu or xen.
 *
 * Ownership: memhv_new() returns a struct hv freed with hv_free(). Every
 * memhv_*() helper below takes that struct hv and returns -EINVAL when it
 * is not a memhv. Memory for untouched pages is never allocated; they
 * read as zeroes.
 */
#ifndef UPCALLD_MEMHV_H
#define UPCALLD_MEMHV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv.h"

#define MEMHV_RAM_MAX (64ull << 30)	/* largest guest RAM it models */
#define MEMHV_VCPUS_MAX 64u
#define MEMHV_EVENTS_MAX 256u		/* queued, not yet taken */
#define MEMHV_BPS_MAX 1024u

/* ram_size: bytes (a multiple of 4 KiB, at most MEMHV_RAM_MAX). All caps on. */
int memhv_new(const char *name, uint64_t ram_size, unsigned int nr_vcpus,
	      struct hv **out);

bool memhv_is(const struct hv *hv);

/* Populate guest RAM; fails whole with -EFAULT past its end. */
int memhv_write(struct hv *hv, gpa_t gpa, const void *buf, size_t len);
int memhv_write_u64(struct hv *hv, gpa_t gpa, uint64_t val);
int memhv_fill(struct hv *hv, gpa_t gpa, int byte, size_t len);

/* Pretend the backend lacks some capabilities (caps replaces hv->caps). */
int memhv_set_caps(struct hv *hv, unsigned int caps);

int memhv_set_regs(struct hv *hv, unsigned int vcpu, const struct hv_regs *r);
bool memhv_paused(const struct hv *hv);
bool memhv_has_bp(const struct hv *hv, gva_t addr);
unsigned int memhv_nr_bps(const struct hv *hv);

/*
 * set_bp at addr fails with err (a -errno; 0 lifts it) until told
 * otherwise, as a real backend refuses code it cannot trap yet (xen on
 * AMD: no ftrace NOP at the address while the guest boots).
 */
int memhv_refuse_bp(struct hv *hv, gva_t addr, int err);
bool memhv_cr3_events(const struct hv *hv);

/*
 * Queue an event (its seq is assigned here); the event fd turns readable.
 * -ENOSPC when MEMHV_EVENTS_MAX are queued, -ENODEV once gone.
 */
int memhv_inject(struct hv *hv, const struct hv_event *ev);

/* The guest dies: next_event yields one HV_EV_GONE, then every op -ENODEV. */
int memhv_set_gone(struct hv *hv);

/* Counters, for tests of caching layers above: read_phys calls so far. */
uint64_t memhv_reads(const struct hv *hv);

/*
 * Page-table building for tests. Table frames come from a bump allocator
 * over [base, limit) of guest RAM (default: the top quarter of RAM);
 * frames are zeroed when handed out.
 */
int memhv_set_alloc(struct hv *hv, gpa_t base, gpa_t limit);
int memhv_alloc_page(struct hv *hv, gpa_t *gpa);

/*
 * Map va -> pa in the page table rooted at root (levels 4 or 5) with one
 * page of page_size (4 KiB, 2 MiB or 1 GiB; va and pa aligned to it),
 * allocating intermediate tables; entries are present+writable. Fails
 * with -EEXIST if a large page already covers va, -EINVAL on bad args.
 */
int memhv_map(struct hv *hv, gpa_t root, unsigned int levels, gva_t va,
	      gpa_t pa, uint64_t page_size);

/* Map [va, va+len) to [pa, pa+len) with 4 KiB pages. */
int memhv_map_range(struct hv *hv, gpa_t root, unsigned int levels, gva_t va,
		    gpa_t pa, uint64_t len);

#endif
