/*
 * memhv.c - the in-memory hv backend (see memhv.h): sparse RAM in a
 * two-level directory of 4 KiB pages allocated on first write, vCPU
 * registers, pause state, breakpoints and an event queue signalled
 * through an eventfd, so the layers above run against the same contract
 * as on a real hypervisor.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "memhv.h"

#define CHUNK_PAGES 512u	/* pages per directory chunk (2 MiB) */
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull

struct memhv {
	struct hv base;		/* first: struct hv * casts to struct memhv * */
	uint8_t ***dir;		/* [chunk][page] -> 4 KiB or NULL */
	size_t nchunks;
	struct hv_regs *regs;
	bool paused, cr3_events, gone, gone_told, in_event;
	gva_t bps[MEMHV_BPS_MAX];
	unsigned int nbps;
	gva_t refuse_addr;	/* set_bp there fails with refuse_err */
	int refuse_err;
	struct hv_event q[MEMHV_EVENTS_MAX];
	unsigned int qhead, qlen;
	uint64_t seq, cur_seq, reads;
	int efd;
	gpa_t alloc_next, alloc_limit;
};

static const struct hv_ops memhv_ops;

static struct memhv *to_mh(struct hv *hv)
{
	return (hv && hv->ops == &memhv_ops) ? (struct memhv *)hv : NULL;
}

static const struct memhv *to_cmh(const struct hv *hv)
{
	return (hv && hv->ops == &memhv_ops) ? (const struct memhv *)hv : NULL;
}

bool memhv_is(const struct hv *hv)
{
	return to_cmh(hv) != NULL;
}

static bool range_ok(const struct memhv *m, gpa_t gpa, size_t len)
{
	return gpa <= m->base.ram_size && len <= m->base.ram_size - gpa;
}

/* The page holding gpa, or NULL if never written (reads as zeroes). */
static uint8_t *page_get(const struct memhv *m, gpa_t gpa)
{
	uint64_t pfn = gpa >> 12;
	uint8_t **chunk = m->dir[pfn / CHUNK_PAGES];

	return chunk ? chunk[pfn % CHUNK_PAGES] : NULL;
}

static uint8_t *page_make(struct memhv *m, gpa_t gpa)
{
	uint64_t pfn = gpa >> 12;
	uint8_t ***chunk = &m->dir[pfn / CHUNK_PAGES];
	uint8_t **slot;

	if (!*chunk && !(*chunk = calloc(CHUNK_PAGES, sizeof(**chunk))))
		return NULL;
	slot = &(*chunk)[pfn % CHUNK_PAGES];
	if (!*slot)
		*slot = calloc(1, HV_PAGE_SIZE);
	return *slot;
}

static int mh_read_phys(struct hv *hv, gpa_t gpa, void *buf, size_t len)
{
	struct memhv *m = (struct memhv *)hv;
	uint8_t *out = buf;

	if (m->gone)
		return -ENODEV;
	m->reads++;
	if (!range_ok(m, gpa, len))
		return -EFAULT;
	if ((gpa & (HV_PAGE_SIZE - 1)) + len <= HV_PAGE_SIZE) {	/* one page: most reads */
		const uint8_t *p = page_get(m, gpa);

		if (p)
			memcpy(out, p + (gpa & (HV_PAGE_SIZE - 1)), len);
		else
			memset(out, 0, len);
		return 0;
	}
	while (len) {
		size_t off = gpa & (HV_PAGE_SIZE - 1);
		size_t n = HV_PAGE_SIZE - off < len ? HV_PAGE_SIZE - off : len;
		const uint8_t *p = page_get(m, gpa);

		if (p)
			memcpy(out, p + off, n);
		else
			memset(out, 0, n);
		out += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

int memhv_write(struct hv *hv, gpa_t gpa, const void *buf, size_t len)
{
	struct memhv *m = to_mh(hv);
	const uint8_t *in = buf;

	if (!m)
		return -EINVAL;
	if (!range_ok(m, gpa, len))
		return -EFAULT;
	while (len) {
		size_t off = gpa & (HV_PAGE_SIZE - 1);
		size_t n = HV_PAGE_SIZE - off < len ? HV_PAGE_SIZE - off : len;
		uint8_t *p = page_make(m, gpa);

		if (!p)
			return -ENOMEM;
		if (in) {
			memcpy(p + off, in, n);
			in += n;
		} else {
			memset(p + off, 0, n);
		}
		gpa += n;
		len -= n;
	}
	return 0;
}

int memhv_write_u64(struct hv *hv, gpa_t gpa, uint64_t val)
{
	return memhv_write(hv, gpa, &val, sizeof(val));
}

int memhv_fill(struct hv *hv, gpa_t gpa, int byte, size_t len)
{
	uint8_t blk[512];
	int err = 0;

	memset(blk, byte, sizeof(blk));
	while (len && !err) {
		size_t n = len < sizeof(blk) ? len : sizeof(blk);

		err = memhv_write(hv, gpa, blk, n);
		gpa += n;
		len -= n;
	}
	return err;
}

static int mh_pause(struct hv *hv)
{
	struct memhv *m = (struct memhv *)hv;

	if (m->gone)
		return -ENODEV;
	m->paused = true;
	return 0;
}

static int mh_resume(struct hv *hv)
{
	struct memhv *m = (struct memhv *)hv;

	if (m->gone)
		return -ENODEV;
	m->paused = false;
	return 0;
}

static int mh_get_regs(struct hv *hv, unsigned int vcpu, struct hv_regs *r)
{
	struct memhv *m = (struct memhv *)hv;

	if (m->gone)
		return -ENODEV;
	if (!m->paused && !m->in_event)
		return -EBUSY;	/* a running vCPU has no stable registers */
	*r = m->regs[vcpu];
	return 0;
}

static int bp_find(const struct memhv *m, gva_t addr)
{
	for (unsigned int i = 0; i < m->nbps; i++)
		if (m->bps[i] == addr)
			return (int)i;
	return -1;
}

static int mh_set_bp(struct hv *hv, gva_t addr)
{
	struct memhv *m = (struct memhv *)hv;

	if (m->gone)
		return -ENODEV;
	if (m->refuse_err && addr == m->refuse_addr)
		return m->refuse_err;
	if (bp_find(m, addr) >= 0)
		return -EEXIST;
	if (m->nbps == MEMHV_BPS_MAX)
		return -ENOSPC;
	m->bps[m->nbps++] = addr;
	return 0;
}

static int mh_clear_bp(struct hv *hv, gva_t addr)
{
	struct memhv *m = (struct memhv *)hv;
	int i;

	if (m->gone)
		return -ENODEV;
	i = bp_find(m, addr);
	if (i < 0)
		return -ENOENT;
	m->bps[i] = m->bps[--m->nbps];
	return 0;
}

static int mh_set_cr3_events(struct hv *hv, bool on)
{
	struct memhv *m = (struct memhv *)hv;

	if (m->gone)
		return -ENODEV;
	m->cr3_events = on;
	return 0;
}

static int mh_event_fd(struct hv *hv)
{
	return ((struct memhv *)hv)->efd;
}

static void efd_signal(struct memhv *m)
{
	uint64_t one = 1;

	if (write(m->efd, &one, sizeof(one)) < 0) {
		/* counter saturated: it is readable already, which is all we need */
	}
}

static void efd_drain(struct memhv *m)
{
	uint64_t cnt;

	if (read(m->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: nothing was signalled */
	}
}

static int mh_next_event(struct hv *hv, struct hv_event *ev, int timeout_ms)
{
	struct memhv *m = (struct memhv *)hv;

	if (m->gone && m->gone_told)
		return -ENODEV;
	if (m->in_event)
		return -EBUSY;	/* the previous event was not finished */
	if (!m->gone && !m->qlen && timeout_ms != 0) {
		struct pollfd pfd = { .fd = m->efd, .events = POLLIN };

		if (poll(&pfd, 1, timeout_ms) < 0)
			return -errno;
	}
	if (m->gone) {
		memset(ev, 0, sizeof(*ev));
		ev->kind = HV_EV_GONE;
		ev->seq = ++m->seq;
		m->gone_told = true;
		return 0;
	}
	if (!m->qlen)
		return -EAGAIN;
	*ev = m->q[m->qhead];
	m->qhead = (m->qhead + 1) % MEMHV_EVENTS_MAX;
	if (--m->qlen == 0)
		efd_drain(m);
	m->in_event = true;
	m->cur_seq = ev->seq;
	return 0;
}

static int mh_event_done(struct hv *hv, const struct hv_event *ev)
{
	struct memhv *m = (struct memhv *)hv;

	if (m->gone)
		return -ENODEV;
	if (!m->in_event || ev->seq != m->cur_seq)
		return -EINVAL;
	m->in_event = false;
	return 0;
}

static void mh_free(struct hv *hv)
{
	struct memhv *m = (struct memhv *)hv;

	m->nbps = 0;
	m->paused = false;
	for (size_t c = 0; c < m->nchunks; c++) {
		if (!m->dir[c])
			continue;
		for (unsigned int p = 0; p < CHUNK_PAGES; p++)
			free(m->dir[c][p]);
		free(m->dir[c]);
	}
	free(m->dir);
	free(m->regs);
	if (m->efd >= 0)
		close(m->efd);
	free(m);
}

static const struct hv_ops memhv_ops = {
	.name = "mem",
	.free = mh_free,
	.pause = mh_pause,
	.resume = mh_resume,
	.read_phys = mh_read_phys,
	.get_regs = mh_get_regs,
	.set_bp = mh_set_bp,
	.clear_bp = mh_clear_bp,
	.set_cr3_events = mh_set_cr3_events,
	.event_fd = mh_event_fd,
	.next_event = mh_next_event,
	.event_done = mh_event_done,
};

int memhv_new(const char *name, uint64_t ram_size, unsigned int nr_vcpus,
	      struct hv **out)
{
	struct memhv *m;

	if (!ram_size || ram_size > MEMHV_RAM_MAX || (ram_size & (HV_PAGE_SIZE - 1)) ||
	    !nr_vcpus || nr_vcpus > MEMHV_VCPUS_MAX)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->nchunks = (ram_size / HV_PAGE_SIZE + CHUNK_PAGES - 1) / CHUNK_PAGES;
	m->dir = calloc(m->nchunks, sizeof(*m->dir));
	m->regs = calloc(nr_vcpus, sizeof(*m->regs));
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!m->dir || !m->regs || m->efd < 0) {
		m->base.ops = &memhv_ops;
		mh_free(&m->base);
		return -ENOMEM;
	}
	m->base.ops = &memhv_ops;
	m->base.caps = HV_CAP_MEM | HV_CAP_REGS | HV_CAP_PAUSE | HV_CAP_BREAKPOINT |
		       HV_CAP_CR3_EVENT | HV_CAP_BP_INVISIBLE;
	m->base.nr_vcpus = nr_vcpus;
	m->base.ram_size = ram_size;
	strncpy(m->base.name, name ? name : "mem", HV_NAME_MAX - 1);
	m->alloc_next = ram_size - ram_size / 4;
	m->alloc_next &= ~(gpa_t)(HV_PAGE_SIZE - 1);
	m->alloc_limit = ram_size;
	*out = &m->base;
	return 0;
}

int memhv_set_caps(struct hv *hv, unsigned int caps)
{
	if (!to_mh(hv))
		return -EINVAL;
	hv->caps = caps;
	return 0;
}

int memhv_set_regs(struct hv *hv, unsigned int vcpu, const struct hv_regs *r)
{
	struct memhv *m = to_mh(hv);

	if (!m || vcpu >= hv->nr_vcpus)
		return -EINVAL;
	m->regs[vcpu] = *r;
	return 0;
}

bool memhv_paused(const struct hv *hv)
{
	const struct memhv *m = to_cmh(hv);

	return m && m->paused;
}

bool memhv_has_bp(const struct hv *hv, gva_t addr)
{
	const struct memhv *m = to_cmh(hv);

	return m && bp_find(m, addr) >= 0;
}

int memhv_refuse_bp(struct hv *hv, gva_t addr, int err)
{
	struct memhv *m = to_mh(hv);

	if (!m || err > 0)
		return -EINVAL;
	m->refuse_addr = addr;
	m->refuse_err = err;
	return 0;
}

unsigned int memhv_nr_bps(const struct hv *hv)
{
	const struct memhv *m = to_cmh(hv);

	return m ? m->nbps : 0;
}

bool memhv_cr3_events(const struct hv *hv)
{
	const struct memhv *m = to_cmh(hv);

	return m && m->cr3_events;
}

uint64_t memhv_reads(const struct hv *hv)
{
	const struct memhv *m = to_cmh(hv);

	return m ? m->reads : 0;
}

int memhv_inject(struct hv *hv, const struct hv_event *ev)
{
	struct memhv *m = to_mh(hv);

	if (!m)
		return -EINVAL;
	if (m->gone)
		return -ENODEV;
	if (m->qlen == MEMHV_EVENTS_MAX)
		return -ENOSPC;
	m->q[(m->qhead + m->qlen) % MEMHV_EVENTS_MAX] = *ev;
	m->q[(m->qhead + m->qlen) % MEMHV_EVENTS_MAX].seq = ++m->seq;
	if (m->qlen++ == 0)
		efd_signal(m);
	return 0;
}

int memhv_set_gone(struct hv *hv)
{
	struct memhv *m = to_mh(hv);

	if (!m)
		return -EINVAL;
	m->gone = true;
	m->in_event = false;
	m->qlen = 0;
	efd_signal(m);	/* wake a waiter: the GONE event is ready */
	return 0;
}

int memhv_set_alloc(struct hv *hv, gpa_t base, gpa_t limit)
{
	struct memhv *m = to_mh(hv);

	if (!m || (base & (HV_PAGE_SIZE - 1)) || base >= limit ||
	    limit > hv->ram_size)
		return -EINVAL;
	m->alloc_next = base;
	m->alloc_limit = limit;
	return 0;
}

int memhv_alloc_page(struct hv *hv, gpa_t *gpa)
{
	struct memhv *m = to_mh(hv);
	int err;

	if (!m)
		return -EINVAL;
	if (m->alloc_limit - m->alloc_next < HV_PAGE_SIZE)
		return -ENOMEM;
	err = memhv_write(hv, m->alloc_next, NULL, HV_PAGE_SIZE);
	if (err)
		return err;
	*gpa = m->alloc_next;
	m->alloc_next += HV_PAGE_SIZE;
	return 0;
}

/* Level (1 = PT) whose entries map page_size, or 0 if no such page size. */
static unsigned int leaf_level(uint64_t page_size)
{
	switch (page_size) {
	case 1ull << 12: return 1;
	case 1ull << 21: return 2;
	case 1ull << 30: return 3;
	default: return 0;
	}
}

int memhv_map(struct hv *hv, gpa_t root, unsigned int levels, gva_t va,
	      gpa_t pa, uint64_t page_size)
{
	unsigned int leaf = leaf_level(page_size);
	gpa_t table = root;

	if (!to_mh(hv) || !leaf || (levels != 4 && levels != 5) ||
	    (va & (page_size - 1)) || (pa & (page_size - 1)))
		return -EINVAL;
	for (unsigned int lvl = levels; lvl > leaf; lvl--) {
		unsigned int idx = (va >> (12 + 9 * (lvl - 1))) & 511;
		gpa_t slot = table + idx * 8ull;
		uint64_t e;
		int err = mh_read_phys(hv, slot, &e, sizeof(e));

		if (err)
			return err;
		if ((e & PTE_P) && (e & PTE_PS))
			return -EEXIST;
		if (!(e & PTE_P)) {
			gpa_t next;

			err = memhv_alloc_page(hv, &next);
			if (!err)
				err = memhv_write_u64(hv, slot, next | PTE_P | PTE_RW);
			if (err)
				return err;
			e = next | PTE_P | PTE_RW;
		}
		table = e & PTE_ADDR;
	}
	return memhv_write_u64(hv, table + ((va >> (12 + 9 * (leaf - 1))) & 511) * 8ull,
			       pa | PTE_P | PTE_RW | (leaf > 1 ? PTE_PS : 0));
}

int memhv_map_range(struct hv *hv, gpa_t root, unsigned int levels, gva_t va,
		    gpa_t pa, uint64_t len)
{
	int err = 0;

	for (uint64_t off = 0; off < len && !err; off += HV_PAGE_SIZE)
		err = memhv_map(hv, root, levels, va + off, pa + off, HV_PAGE_SIZE);
	return err;
}
