/*
 * snap.c - guest views normalized for cross-checking (see snap.h).
 *
 * The memory side converts the introspection layer's lists; the answer
 * side is filled record by record by the upcall client. Both end up in the
 * same arrays so xcheck never needs to know where a view came from.
 */
#include "snap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lnx.h"

/* Grow *v (element size sz) so one more fits; caps at XCHECK_ITEMS_MAX. */
static int snap_grow(void **v, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	if (n >= XCHECK_ITEMS_MAX)
		return -E2BIG;
	ncap = *cap ? *cap * 2 : 64;
	if (ncap > XCHECK_ITEMS_MAX)
		ncap = XCHECK_ITEMS_MAX;
	nv = realloc(*v, ncap * sz);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

void snap_init(struct snap *s)
{
	memset(s, 0, sizeof(*s));
}

void snap_release(struct snap *s)
{
	size_t i;

	for (i = 0; i < s->nfiles; i++)
		free((char *)s->files[i].path);
	free(s->procs);
	free(s->mods);
	free(s->files);
	free(s->file_pids);
	snap_init(s);
}

int snap_add_proc(struct snap *s, const struct xcheck_proc *p)
{
	int rc = snap_grow((void **)&s->procs, &s->cprocs, s->nprocs,
			   sizeof(*s->procs));

	if (rc)
		return rc;
	s->procs[s->nprocs] = *p;
	s->procs[s->nprocs].comm[XCHECK_COMM_LEN - 1] = '\0';
	s->nprocs++;
	s->what |= SNAP_PROCS;
	return 0;
}

int snap_add_module(struct snap *s, const struct xcheck_module *m)
{
	int rc = snap_grow((void **)&s->mods, &s->cmods, s->nmods,
			   sizeof(*s->mods));

	if (rc)
		return rc;
	s->mods[s->nmods] = *m;
	s->mods[s->nmods].name[XCHECK_NAME_LEN - 1] = '\0';
	s->nmods++;
	s->what |= SNAP_MODULES;
	return 0;
}

int snap_add_file(struct snap *s, int32_t pid, int32_t fd, const char *path,
		  size_t path_len)
{
	char *copy;
	int rc = snap_grow((void **)&s->files, &s->cfiles, s->nfiles,
			   sizeof(*s->files));

	if (rc)
		return rc;
	copy = strndup(path ? path : "", path ? path_len : 0);
	if (!copy)
		return -ENOMEM;
	s->files[s->nfiles++] = (struct xcheck_file){ .pid = pid, .fd = fd,
						      .path = copy };
	s->what |= SNAP_FILES;
	return 0;
}

int snap_cover_pid(struct snap *s, int32_t pid)
{
	int rc = snap_grow((void **)&s->file_pids, &s->cfile_pids,
			   s->nfile_pids, sizeof(*s->file_pids));

	if (rc)
		return rc;
	s->file_pids[s->nfile_pids++] = pid;
	return 0;
}

static uint64_t snap_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int snap_files_of(struct vmi *v, const struct lnx_task *t, struct snap *s)
{
	struct lnx_file_list fl;
	size_t i;
	int rc;

	memset(&fl, 0, sizeof(fl));
	rc = lnx_files(v, t, &fl);
	if (rc == 0) {
		s->walk_flags |= fl.flags;
		for (i = 0; i < fl.n && !rc; i++) {
			const char *p = fl.v[i].path ? fl.v[i].path : "";

			rc = snap_add_file(s, t->pid, fl.v[i].fd, p, strlen(p));
		}
		if (!rc)
			rc = snap_cover_pid(s, t->pid);
	} else if (rc == -ENOENT) {
		rc = snap_cover_pid(s, t->pid);	/* no files table: none open */
	} else if (rc != -EOPNOTSUPP && rc != -ENOMEM) {
		s->walk_flags |= LNX_WALK_FAULT;
		rc = 0;	/* one unreadable task is no reason to lose the rest */
	}
	lnx_file_list_release(&fl);
	return rc;
}

static int snap_take_tasks(struct vmi *v, unsigned int what, struct snap *s)
{
	struct lnx_task_list tl;
	size_t i;
	int rc;

	memset(&tl, 0, sizeof(tl));
	rc = lnx_tasks(v, &tl);
	if (rc)
		return rc;
	s->walk_flags |= tl.flags;
	s->what |= SNAP_PROCS;
	for (i = 0; i < tl.n && !rc; i++) {
		const struct lnx_task *t = &tl.v[i];
		struct xcheck_proc p = { .pid = t->pid, .ppid = t->ppid,
					 .uid = t->uid,
					 .start_ns = t->start_boottime,
					 .activity = t->activity };

		memcpy(p.comm, t->comm, sizeof(p.comm));
		rc = snap_add_proc(s, &p);
		if (!rc && (what & SNAP_FILES))
			rc = snap_files_of(v, t, s);
	}
	if (!rc && (what & SNAP_FILES))
		s->what |= SNAP_FILES;
	lnx_task_list_release(&tl);
	return rc;
}

static int snap_take_modules(struct vmi *v, struct snap *s)
{
	struct lnx_module_list ml;
	size_t i;
	int rc;

	memset(&ml, 0, sizeof(ml));
	rc = lnx_modules(v, &ml);
	if (rc)
		return rc;
	s->walk_flags |= ml.flags;
	s->what |= SNAP_MODULES;
	for (i = 0; i < ml.n && !rc; i++) {
		struct xcheck_module m = { .size = ml.v[i].size };

		memcpy(m.name, ml.v[i].name, sizeof(m.name));
		rc = snap_add_module(s, &m);
	}
	lnx_module_list_release(&ml);
	return rc;
}

int snap_take(struct vmi *v, unsigned int what, struct snap *s)
{
	int rc = 0;

	s->taken_us = snap_now_us();
	if (what & (SNAP_PROCS | SNAP_FILES))
		rc = snap_take_tasks(v, what, s);
	if (!rc && (what & SNAP_MODULES))
		rc = snap_take_modules(v, s);
	return rc;
}

static int snap_proc_cmp(const void *a, const void *b)
{
	const struct xcheck_proc *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static int snap_file_cmp(const void *a, const void *b)
{
	const struct xcheck_file *x = a, *y = b;

	if (x->pid != y->pid)
		return (x->pid > y->pid) - (x->pid < y->pid);
	return (x->fd > y->fd) - (x->fd < y->fd);
}

void snap_sort(struct snap *s)
{
	if (s->nprocs)
		qsort(s->procs, s->nprocs, sizeof(*s->procs), snap_proc_cmp);
	if (s->nfiles)
		qsort(s->files, s->nfiles, sizeof(*s->files), snap_file_cmp);
}

const struct xcheck_proc *snap_find_proc(const struct snap *s, int32_t pid)
{
	struct xcheck_proc key = { .pid = pid };

	return s->nprocs ? bsearch(&key, s->procs, s->nprocs, sizeof(key),
				   snap_proc_cmp) : NULL;
}

const struct xcheck_file *snap_find_file(const struct snap *s, int32_t pid,
					 int32_t fd)
{
	struct xcheck_file key = { .pid = pid, .fd = fd };

	return s->nfiles ? bsearch(&key, s->files, s->nfiles, sizeof(key),
				   snap_file_cmp) : NULL;
}
