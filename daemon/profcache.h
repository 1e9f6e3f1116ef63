/*
 * profcache.h - the daemon's kernel profiles, loaded once and shared by
 * every guest running the same kernel (ten guests of one build map one
 * profile, not ten). Entries are keyed by path, inode and mtime, so a
 * profile rebuilt by mkprofile (which replaces by rename) is loaded anew.
 *
 * Ownership: the cache owns the profiles; profcache_get() hands out a
 * reference that must go back through profcache_put().
 */
#ifndef UPCALLD_PROFCACHE_H
#define UPCALLD_PROFCACHE_H

#include <stddef.h>

#include "profile.h"

#define PROFCACHE_MAX 64u

struct profcache;

int profcache_new(struct profcache **out);
/* Frees every profile; references still out become invalid. */
void profcache_free(struct profcache *c);

/* A shared profile for path: 0 and *out, or -errno with err filled. */
int profcache_get(struct profcache *c, const char *path, struct profile **out,
		  char *err, size_t errlen);
void profcache_put(struct profcache *c, struct profile *p);

#endif
