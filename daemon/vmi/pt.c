/*
 * pt.c - x86-64 page walks and the translation cache (see pt.h).
 *
 * The caches are direct-mapped and invalidated by a generation number, so
 * a flush (needed whenever the guest may have changed its page tables)
 * costs nothing however large they are.
 */
#include <errno.h>
#include <string.h>

#include "pt.h"

#define PTE_P 0x1ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull
#define PAGE_MASK_4K 0xfffull

bool pt_canonical(gva_t va, unsigned int levels)
{
	unsigned int bits = levels == 5 ? 57 : 48;
	int64_t s = (int64_t)(va << (64 - bits)) >> (64 - bits);

	return (uint64_t)s == va;
}

static bool page_in_ram(const struct hv *hv, gpa_t pa)
{
	return hv->ram_size >= HV_PAGE_SIZE &&
	       (pa & ~PAGE_MASK_4K) <= hv->ram_size - HV_PAGE_SIZE;
}

/*
 * A leaf with PS set at level 2 or 3: its frame must be aligned to the
 * page size (bit 12 is PAT, the bits above it up to the size are reserved).
 */
static int large_leaf(const struct hv *hv, uint64_t e, unsigned int shift,
		      gva_t va, struct pt_map *out)
{
	uint64_t size = 1ull << shift;
	uint64_t frame = e & PTE_ADDR & ~(size - 1);

	if ((e & PTE_ADDR & (size - 1)) & ~0x1000ull)
		return -EINVAL;
	out->pa = frame | (va & (size - 1));
	out->page_size = size;
	out->level = (shift - 12) / 9 + 1;
	return page_in_ram(hv, out->pa) ? 0 : -ERANGE;
}

int pt_walk(struct hv *hv, unsigned int maxphy, gpa_t root, unsigned int levels,
	    gva_t va, struct pt_map *out)
{
	uint64_t rsvd, e;
	gpa_t table = root & PTE_ADDR;

	if ((levels != 4 && levels != 5) || maxphy < 32 || maxphy > 52)
		return -EINVAL;
	if (!pt_canonical(va, levels))
		return -EINVAL;
	rsvd = maxphy < 52 ? (((1ull << 52) - 1) & ~((1ull << maxphy) - 1)) : 0;
	for (unsigned int lvl = levels; lvl >= 1; lvl--) {
		unsigned int shift = 12 + 9 * (lvl - 1);
		int err;

		if (!page_in_ram(hv, table))
			return -ERANGE;
		err = hv_read_phys(hv, table + ((va >> shift) & 511) * 8, &e, sizeof(e));
		if (err)
			return err;
		if (!(e & PTE_P))
			return -EFAULT;
		if (e & rsvd)
			return -EINVAL;
		if ((e & PTE_PS) && lvl >= 4)
			return -EINVAL;	/* no 512 GiB pages */
		if ((e & PTE_PS) && lvl >= 2)
			return large_leaf(hv, e, shift, va, out);
		table = e & PTE_ADDR;	/* at level 1, bit 7 is PAT: the frame */
	}
	out->pa = table | (va & PAGE_MASK_4K);
	out->page_size = HV_PAGE_SIZE;
	out->level = 1;
	return page_in_ram(hv, out->pa) ? 0 : -ERANGE;
}

void pt_init(struct pt *pt, struct hv *hv)
{
	memset(pt, 0, sizeof(*pt));
	pt->hv = hv;
	pt->maxphy = PT_MAXPHY_DEFAULT;
	pt->gen = 1;
}

void pt_flush(struct pt *pt)
{
	if (++pt->gen == 0) {	/* wrapped: old slots could look valid again */
		memset(pt->slot, 0, sizeof(pt->slot));
		memset(pt->big, 0, sizeof(pt->big));
		pt->gen = 1;
	}
}

/*
 * Direct-mapped, indexed by the page number mixed with a hash of the root:
 * neighbouring pages never collide, different address spaces spread out.
 */
static inline struct pt_slot *slot_of(struct pt_slot *tab, unsigned int bits,
				      uint64_t key, uint64_t vpn)
{
	uint64_t h = (key * 0x9e3779b97f4a7c15ull) >> (64 - bits);

	return &tab[(vpn ^ h) & ((1u << bits) - 1)];
}

static inline bool slot_hit(const struct pt *pt, const struct pt_slot *s,
			    uint64_t key, uint64_t vpn)
{
	return s->gen == pt->gen && s->vpn == vpn && s->key == key;
}

static void slot_fill(const struct pt *pt, struct pt_slot *s, uint64_t key,
		      uint64_t vpn, gpa_t page)
{
	s->key = key;
	s->vpn = vpn;
	s->page = page;
	s->gen = pt->gen;
}

int pt_translate(struct pt *pt, gpa_t root, unsigned int levels, gva_t va,
		 gpa_t *pa)
{
	uint64_t key = (root & PTE_ADDR) | levels;
	struct pt_slot *s = slot_of(pt->slot, PT_CACHE_BITS, key, va >> 12);
	struct pt_slot *b = slot_of(pt->big, PT_BIG_BITS, key, va >> 21);
	struct pt_map m;
	int err;

	if (slot_hit(pt, s, key, va >> 12)) {
		pt->hits++;
		*pa = s->page | (va & PAGE_MASK_4K);
		return 0;
	}
	if (slot_hit(pt, b, key, va >> 21)) {
		pt->hits++;
		*pa = b->page | (va & ((1ull << 21) - 1));
		/* the span may run past RAM's end where the walked page did not */
		return page_in_ram(pt->hv, *pa) ? 0 : -ERANGE;
	}
	pt->misses++;
	err = pt_walk(pt->hv, pt->maxphy, root, levels, va, &m);
	if (err)
		return err;
	if (m.page_size > HV_PAGE_SIZE)
		slot_fill(pt, b, key, va >> 21, m.pa & ~((1ull << 21) - 1));
	else
		slot_fill(pt, s, key, va >> 12, m.pa & ~PAGE_MASK_4K);
	*pa = m.pa;
	return 0;
}

int pt_read(struct pt *pt, gpa_t root, unsigned int levels, gva_t va,
	    void *buf, size_t len)
{
	uint8_t *out = buf;
	size_t done = 0;

	if (len && va + (len - 1) < va) {	/* would wrap past 2^64 */
		memset(buf, 0, len);
		return -EINVAL;
	}
	while (done < len) {
		size_t room = HV_PAGE_SIZE - ((va + done) & PAGE_MASK_4K);
		size_t n = len - done < room ? len - done : room;
		gpa_t pa;
		int err = pt_translate(pt, root, levels, va + done, &pa);

		if (!err)
			err = hv_read_phys(pt->hv, pa, out + done, n);
		if (err) {
			memset(buf, 0, len);
			return err;
		}
		done += n;
	}
	return 0;
}
