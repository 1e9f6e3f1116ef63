/*
 * vmi.c - an introspection session (see vmi.h): the backend, the profile,
 * where KASLR put the kernel, and cached reads of kernel virtual memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaslr.h"
#include "pt.h"
#include "vmi.h"

struct vmi {
	struct hv *hv;
	const struct profile *prof;
	gpa_t kpgd;
	unsigned int levels;
	uint64_t vslide, pslide;
	struct pt pt;		/* last: large */
};

int vmi_new_at(struct hv *hv, const struct profile *prof, gpa_t kernel_pgd,
	       unsigned int levels, uint64_t virt_slide, uint64_t phys_slide,
	       struct vmi **out)
{
	struct vmi *v;

	if (!hv || !prof || (levels != 4 && levels != 5))
		return -EINVAL;
	v = malloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->hv = hv;
	v->prof = prof;
	v->kpgd = PT_CR3_ADDR(kernel_pgd);
	v->levels = levels;
	v->vslide = virt_slide;
	v->pslide = phys_slide;
	pt_init(&v->pt, hv);
	*out = v;
	return 0;
}

int vmi_new(struct hv *hv, const struct profile *prof, struct vmi **out,
	    char *err, size_t errlen)
{
	struct kaslr k;
	int rc;

	if (!hv || !prof)
		return -EINVAL;
	rc = kaslr_find(hv, prof, &k, err, errlen);
	if (rc)
		return rc;
	return vmi_new_at(hv, prof, k.pgd, k.levels, k.virt_slide, k.phys_slide, out);
}

void vmi_free(struct vmi *v)
{
	free(v);
}

int vmi_choose_profile(struct hv *hv, struct profile *const *profs, size_t n)
{
	for (size_t i = 0; i < n && i <= (size_t)INT32_MAX; i++) {
		gpa_t pa;

		if (profs[i] && kaslr_find_banner(hv, profs[i], 0, &pa) == 0)
			return (int)i;
	}
	return -ENOENT;
}

struct hv *vmi_hv(const struct vmi *v)
{
	return v->hv;
}

const struct profile *vmi_profile(const struct vmi *v)
{
	return v->prof;
}

/* Only kernel-image addresses move with KASLR; per-CPU offsets do not. */
static gva_t slide(const struct vmi *v, uint64_t linked)
{
	return linked >= KASLR_KERNEL_MAP ? linked + v->vslide : linked;
}

gva_t vmi_sym(const struct vmi *v, enum profile_sym s)
{
	if ((unsigned int)s >= PSYM_COUNT || !v->prof->known[s])
		return 0;
	return slide(v, v->prof->known[s]);
}

int vmi_sym_by_name(const struct vmi *v, const char *name, gva_t *va)
{
	uint64_t a;
	int err = profile_sym(v->prof, name, &a);

	if (err)
		return err;
	*va = slide(v, a);
	return 0;
}

/* Translation failures are all "unmapped" to callers; backend errors pass. */
static int as_fault(int err)
{
	return (err == -EINVAL || err == -ERANGE) ? -EFAULT : err;
}

int vmi_translate(struct vmi *v, gva_t va, gpa_t *pa)
{
	return as_fault(pt_translate(&v->pt, v->kpgd, v->levels, va, pa));
}

int vmi_read_as(struct vmi *v, gpa_t pgd, gva_t va, void *buf, size_t len)
{
	return as_fault(pt_read(&v->pt, PT_CR3_ADDR(pgd), v->levels, va, buf, len));
}

int vmi_read(struct vmi *v, gva_t va, void *buf, size_t len)
{
	return as_fault(pt_read(&v->pt, v->kpgd, v->levels, va, buf, len));
}

int vmi_read_u64(struct vmi *v, gva_t va, uint64_t *val)
{
	return vmi_read(v, va, val, sizeof(*val));
}

int vmi_read_u32(struct vmi *v, gva_t va, uint32_t *val)
{
	return vmi_read(v, va, val, sizeof(*val));
}

int vmi_read_ptr(struct vmi *v, gva_t va, gva_t *val)
{
	return vmi_read(v, va, val, sizeof(*val));
}

int vmi_read_str(struct vmi *v, gva_t va, char *buf, size_t cap)
{
	size_t done = 0;

	if (!cap)
		return -EINVAL;
	if (cap > VMI_STR_MAX)
		cap = VMI_STR_MAX;
	buf[0] = '\0';
	while (done < cap - 1) {
		size_t room = HV_PAGE_SIZE - ((va + done) & (HV_PAGE_SIZE - 1));
		size_t n = cap - 1 - done < room ? cap - 1 - done : room;
		char *nul;
		int err = vmi_read(v, va + done, buf + done, n);

		if (err) {
			buf[done] = '\0';
			return err;
		}
		nul = memchr(buf + done, '\0', n);
		if (nul)
			return (int)(nul - buf);
		done += n;
	}
	buf[done] = '\0';
	return -E2BIG;
}

gpa_t vmi_kernel_pgd(const struct vmi *v)
{
	return v->kpgd;
}

unsigned int vmi_levels(const struct vmi *v)
{
	return v->levels;
}

uint64_t vmi_virt_slide(const struct vmi *v)
{
	return v->vslide;
}

uint64_t vmi_phys_slide(const struct vmi *v)
{
	return v->pslide;
}

void vmi_flush(struct vmi *v)
{
	pt_flush(&v->pt);
}
