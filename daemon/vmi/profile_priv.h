/*
 * profile_priv.h - internals shared by the profile sources (profile.c,
 * profile_btf.c, profile_isf.c) and their unit tests: the builder that
 * collects symbols into a profile, the System.map parser, the BTF member
 * resolver, and the caps every source applies. Not for other modules: they
 * use profile.h.
 */
#ifndef UPCALLD_PROFILE_PRIV_H
#define UPCALLD_PROFILE_PRIV_H

#include <stdarg.h>
#include <stdio.h>

#include "profile.h"

#define PROFILE_OFF_MAX (1u << 20)	/* no kernel member sits a MiB in */
#define PROFILE_SIZE_MAX (1u << 24)	/* nor is any walked struct 16 MiB */
#define PROFILE_NAME_MAX 512		/* longest symbol name accepted */
#define PROFILE_POOL_MAX (256u << 20)	/* string pool cap (offsets are u32) */
#define PROFILE_DEPTH_MAX 8		/* nesting of anonymous members */
#define PROFILE_SEARCH_MAX 4096		/* anonymous members searched per path */

/* Names of the size entries ("task_struct"), indexed by enum profile_size. */
extern const char *const profile_size_names[PS_COUNT];
/* Names of the known symbols ("init_task"), indexed by enum profile_sym. */
extern const char *const profile_sym_names[PSYM_COUNT];

/*
 * A profile under construction. init sets every offset to -1; the source
 * fills p->off/size/banner directly and adds symbols; finish sorts them,
 * builds the address index and known[], and hands p over. release frees
 * whatever was not handed over (safe after finish, and twice).
 */
struct profile_builder {
	struct profile *p;
	uint32_t cap;		/* allocated entries in p->by_name */
	size_t pool_cap;	/* allocated bytes in p->strings */
};

int profile_builder_init(struct profile_builder *b, const char *source);
int profile_builder_add(struct profile_builder *b, const char *name,
			size_t len, uint64_t addr, char type);
int profile_builder_finish(struct profile_builder *b, struct profile **out,
			   char *err, size_t errlen);
void profile_builder_release(struct profile_builder *b);

/* The string pool is non-empty, capped, and ends in a NUL. */
bool profile_pool_ok(const struct profile *p);
/* Every invariant lookups rely on (names in the pool, both orders, banner):
 * 0, or -EINVAL with a message. */
int profile_check(const struct profile *p, char *err, size_t errlen);

/* Set p->known[] from the symbol table. */
void profile_fill_known(struct profile *p);

/* Set p->banner from len bytes (stops at a NUL). -EINVAL if too long. */
int profile_set_banner(struct profile *p, const char *s, size_t len);

/*
 * Add every usable symbol of a System.map text to b. Absolute, undefined
 * and malformed lines (bad hex, missing or extra fields, overlong) are
 * skipped and counted in *skipped. -EINVAL if no symbol was found, -E2BIG
 * past PROFILE_SYMS_MAX.
 */
int profile_sysmap_parse(struct profile_builder *b, FILE *f,
			 unsigned long *skipped, char *err, size_t errlen);

struct btf;
/* Fill p->off[] and p->size[] from BTF; absent members stay -1. */
void profile_btf_resolve(const struct btf *btf, struct profile *p);

/* snprintf into err when err is not NULL. */
void profile_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
