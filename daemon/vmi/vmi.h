/*
 * vmi.h - an introspection session on one guest: a backend, the profile of
 * the guest's kernel, the KASLR slides found for it, and the kernel page
 * table. Everything above (the Linux walks, the daemon) reads guest kernel
 * memory only through here. Knows nothing of Xen or QEMU.
 *
 * Ownership: vmi_new() borrows hv and prof; both must outlive the vmi.
 * vmi_free() frees only the vmi.
 */
#ifndef UPCALLD_VMI_H
#define UPCALLD_VMI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv.h"
#include "profile.h"

#define VMI_STR_MAX 4096	/* cap on any string read from the guest */

struct vmi;

/*
 * Open a session: find the KASLR slides and the kernel page table for this
 * profile. Fails with -ENOENT (and a message in err) when the profile's
 * banner is not in guest memory: wrong profile, or not Linux.
 */
int vmi_new(struct hv *hv, const struct profile *prof, struct vmi **out,
	    char *err, size_t errlen);
void vmi_free(struct vmi *v);

/*
 * Open a session whose location is already known (from an earlier
 * vmi_new() on the same boot, or built by a test): no search, no checks
 * beyond levels being 4 or 5.
 */
int vmi_new_at(struct hv *hv, const struct profile *prof, gpa_t kernel_pgd,
	       unsigned int levels, uint64_t virt_slide, uint64_t phys_slide,
	       struct vmi **out);

/*
 * Pick, from profs[0..n), the profile whose banner is in guest memory.
 * Returns its index, or -ENOENT.
 */
int vmi_choose_profile(struct hv *hv, struct profile *const *profs, size_t n);

struct hv *vmi_hv(const struct vmi *v);
const struct profile *vmi_profile(const struct vmi *v);

/*
 * Linked address + virtual slide, 0 if the profile lacks it. Addresses
 * below the kernel image (per-CPU offsets) are returned unslid.
 */
gva_t vmi_sym(const struct vmi *v, enum profile_sym s);
/* 0 and *va for any symbol by name; -ENOENT. */
int vmi_sym_by_name(const struct vmi *v, const char *name, gva_t *va);

/*
 * Read guest kernel virtual memory through the kernel page table.
 * All-or-nothing: -EFAULT if any byte is unmapped; nothing partial.
 */
int vmi_read(struct vmi *v, gva_t va, void *buf, size_t len);
int vmi_read_u64(struct vmi *v, gva_t va, uint64_t *val);
int vmi_read_u32(struct vmi *v, gva_t va, uint32_t *val);
int vmi_read_ptr(struct vmi *v, gva_t va, gva_t *val);

/*
 * Read a NUL-terminated string of at most cap-1 bytes into buf (always
 * terminated). Returns its length, -EFAULT if unreadable, -E2BIG if no NUL
 * was found within cap-1 bytes (buf then holds the truncated prefix).
 */
int vmi_read_str(struct vmi *v, gva_t va, char *buf, size_t cap);

/* Kernel virtual -> guest-physical through the kernel page table; -EFAULT. */
int vmi_translate(struct vmi *v, gva_t va, gpa_t *pa);

/* Read through another address space (a process's pgd, physical). */
int vmi_read_as(struct vmi *v, gpa_t pgd, gva_t va, void *buf, size_t len);

/* Kernel page table root (physical) and paging depth (4 or 5). */
gpa_t vmi_kernel_pgd(const struct vmi *v);
unsigned int vmi_levels(const struct vmi *v);

/* The slides found at vmi_new(), for status output. */
uint64_t vmi_virt_slide(const struct vmi *v);
uint64_t vmi_phys_slide(const struct vmi *v);

/*
 * Forget cached translations: call on CR3 change and after the guest ran
 * (hv_resume / hv_event_done), since its page tables may have changed.
 */
void vmi_flush(struct vmi *v);

#endif
