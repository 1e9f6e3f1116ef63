/*
 * profcache.c - shared, reference-counted kernel profiles (profcache.h).
 */
#include "profcache.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct profcache_entry {
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	struct profile *p;
	unsigned int refs;
};

struct profcache {
	struct profcache_entry e[PROFCACHE_MAX];
};

int profcache_new(struct profcache **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void profcache_free(struct profcache *c)
{
	unsigned int i;

	if (!c)
		return;
	for (i = 0; i < PROFCACHE_MAX; i++)
		profile_free(c->e[i].p);
	free(c);
}

static bool profcache_same(const struct profcache_entry *e, const char *path,
			   const struct stat *st)
{
	return e->p && !strcmp(e->path, path) && e->dev == st->st_dev &&
	       e->ino == st->st_ino && e->mtime.tv_sec == st->st_mtim.tv_sec &&
	       e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

int profcache_get(struct profcache *c, const char *path, struct profile **out,
		  char *err, size_t errlen)
{
	struct profcache_entry *e, *slot = NULL;
	struct stat st;
	unsigned int i;
	int rc;

	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -errno;
	}
	for (i = 0; i < PROFCACHE_MAX; i++) {
		e = &c->e[i];
		if (profcache_same(e, path, &st)) {
			e->refs++;
			*out = e->p;
			return 0;
		}
		if (!slot && (!e->p || !e->refs))
			slot = e;	/* free, or an unused (maybe stale) entry */
	}
	if (!slot) {
		snprintf(err, errlen, "more than %u profiles in use", PROFCACHE_MAX);
		return -ENOSPC;
	}
	profile_free(slot->p);
	memset(slot, 0, sizeof(*slot));
	rc = profile_load(path, &slot->p, err, errlen);
	if (rc)
		return rc;
	snprintf(slot->path, sizeof(slot->path), "%s", path);
	slot->dev = st.st_dev;
	slot->ino = st.st_ino;
	slot->mtime = st.st_mtim;
	slot->refs = 1;
	*out = slot->p;
	return 0;
}

void profcache_put(struct profcache *c, struct profile *p)
{
	unsigned int i;

	for (i = 0; p && i < PROFCACHE_MAX; i++) {
		if (c->e[i].p == p) {
			if (c->e[i].refs)
				c->e[i].refs--;
			return;	/* kept for the next guest of this kernel */
		}
	}
}
