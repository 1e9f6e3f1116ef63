/*
 * snap.h - one view of a guest, normalized for cross-checking: its
 * processes, modules and open files, either as read from guest memory
 * (snap_take) or as the guest's agent reported them (snap_add_*).
 *
 * A cross-check compares three snaps: memory before the upcall, memory
 * after it, and the answer (see xcheck.h).
 *
 * Ownership: a snap owns its arrays and every file path string in it;
 * snap_release() frees them. The xcheck_file.path pointers point into
 * memory the snap owns.
 */
#ifndef UPCALLD_SNAP_H
#define UPCALLD_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "xcheck.h"

struct vmi;

/* What a snap holds (bits). */
enum snap_what {
	SNAP_PROCS = 1u << 0,
	SNAP_MODULES = 1u << 1,
	SNAP_FILES = 1u << 2,
};

struct snap {
	unsigned int what;		/* enum snap_what taken */
	struct xcheck_proc *procs;
	size_t nprocs, cprocs;
	struct xcheck_module *mods;
	size_t nmods, cmods;
	struct xcheck_file *files;
	size_t nfiles, cfiles;
	int32_t *file_pids;		/* pids whose files this snap covers */
	size_t nfile_pids, cfile_pids;
	unsigned int walk_flags;	/* LNX_WALK_* of the memory walks */
	uint64_t taken_us;		/* CLOCK_MONOTONIC when taken */
};

void snap_init(struct snap *s);
void snap_release(struct snap *s);

/*
 * Read what (enum snap_what) from guest memory. The guest should be
 * paused. Walks that stopped early set walk_flags but still return 0:
 * a partial view is still evidence. -errno only when nothing could be read.
 */
int snap_take(struct vmi *v, unsigned int what, struct snap *s);

/* Append one object reported by the agent (strings are copied). */
int snap_add_proc(struct snap *s, const struct xcheck_proc *p);
int snap_add_module(struct snap *s, const struct xcheck_module *m);
int snap_add_file(struct snap *s, int32_t pid, int32_t fd, const char *path,
		  size_t path_len);
/* Record that the files of pid are covered (answered) by this snap. */
int snap_cover_pid(struct snap *s, int32_t pid);

/*
 * Sort processes by pid and files by (pid, fd), once, so that lookups are
 * binary searches: a guest that makes thousands of findings out of
 * hundreds of thousands of records must not make the daemon scan them
 * linearly for each finding.
 */
void snap_sort(struct snap *s);
/* Lookups in a sorted snap; NULL if absent. */
const struct xcheck_proc *snap_find_proc(const struct snap *s, int32_t pid);
const struct xcheck_file *snap_find_file(const struct snap *s, int32_t pid,
					 int32_t fd);

#endif
