/*
 * lnx.h - Linux semantics read from guest memory: processes, kernel
 * modules and open files. These are the trusted half of every cross-check.
 *
 * Every walk is bounded (LNX_*_MAX nodes, VMI_STR_MAX string bytes, path
 * depth) and cycle-safe; a walk that hits a cap or an unreadable node stops
 * and reports it in the list's flags rather than looping or failing whole,
 * because a partial view of a hostile guest is still evidence.
 *
 * Ownership: each *_list is filled by its lnx_*() call into caller-owned
 * storage and released with lnx_*_list_release(); entries own nothing.
 */
#ifndef UPCALLD_LNX_H
#define UPCALLD_LNX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmi.h"

#define LNX_TASKS_MAX 65536u
#define LNX_IDR_ENTRIES_MAX (4u * LNX_TASKS_MAX)	/* pids incl. threads */
#define LNX_MODULES_MAX 4096u
#define LNX_FDS_MAX 65536u
#define LNX_PATH_MAX 4096u
#define LNX_PATH_DEPTH 256u
#define LNX_COMM_LEN 16u	/* TASK_COMM_LEN */
#define LNX_MODNAME_LEN 64u	/* MODULE_NAME_LEN */

/* Why a walk stopped early (bits in *_list.flags). */
enum lnx_walk_flags {
	LNX_WALK_CYCLE = 1u << 0,	/* a node was seen twice */
	LNX_WALK_FAULT = 1u << 1,	/* a node could not be read */
	LNX_WALK_CAP = 1u << 2,		/* the node cap was reached */
	LNX_WALK_BAD = 1u << 3,		/* a node held impossible values */
};

struct lnx_task {
	gva_t addr;			/* task_struct */
	int32_t pid, tgid, ppid;
	uint32_t uid, euid, gid;
	char comm[LNX_COMM_LEN];	/* NUL-terminated */
	uint64_t start_time;		/* ns since boot (monotonic) */
	uint64_t start_boottime;	/* ns since boot (incl. suspend) */
	gva_t mm;			/* 0 for kernel threads */
	gpa_t pgd;			/* physical pgd of mm, 0 if none */
	uint32_t flags;			/* task->flags (PF_*) */
	/*
	 * nvcsw + nivcsw + se.exec_start: all only grow, so the sum changes
	 * whenever the task was scheduled in or out. Two reads with the same
	 * value bracket a time the task did not run. 0: unknown.
	 */
	uint64_t activity;
	bool kthread;			/* PF_KTHREAD */
	bool exiting;			/* exit_state != 0 */
};

struct lnx_task_list {
	struct lnx_task *v;
	size_t n, cap;
	unsigned int flags;		/* enum lnx_walk_flags */
};

/* Thread-group leaders from init_task.tasks (init_task itself excluded). */
int lnx_tasks(struct vmi *v, struct lnx_task_list *out);

/*
 * Second memory source: every pid in init_pid_ns's IDR whose struct pid has
 * a task (thread-group leaders only, as in /proc). Same entry format.
 */
int lnx_tasks_idr(struct vmi *v, struct lnx_task_list *out);

void lnx_task_list_release(struct lnx_task_list *l);

/* Read one task_struct at addr. */
int lnx_task_read(struct vmi *v, gva_t addr, struct lnx_task *t);

enum lnx_module_state {
	LNX_MOD_LIVE = 0, LNX_MOD_COMING = 1, LNX_MOD_GOING = 2,
	LNX_MOD_UNFORMED = 3,
};

struct lnx_module {
	gva_t addr;			/* struct module */
	char name[LNX_MODNAME_LEN];	/* NUL-terminated */
	gva_t base;			/* core (text) base */
	uint64_t size;			/* core size, bytes */
	uint32_t state;			/* enum lnx_module_state */
};

struct lnx_module_list {
	struct lnx_module *v;
	size_t n, cap;
	unsigned int flags;
};

/* Modules from the `modules` list head. */
int lnx_modules(struct vmi *v, struct lnx_module_list *out);
void lnx_module_list_release(struct lnx_module_list *l);

enum lnx_file_kind {
	LNX_FILE_REG = 1,	/* a path in some filesystem (incl. devices, dirs) */
	LNX_FILE_SOCKET,	/* "socket:[ino]" */
	LNX_FILE_PIPE,		/* "pipe:[ino]" */
	LNX_FILE_ANON,		/* "anon_inode:[name]" */
	LNX_FILE_OTHER,
};

struct lnx_file {
	int32_t fd;
	enum lnx_file_kind kind;
	uint64_t ino;
	uint32_t mode;			/* inode i_mode */
	char *path;			/* as readlink /proc/PID/fd/N shows it; owned
					 * by the list */
	bool path_truncated;		/* depth or length cap hit */
};

struct lnx_file_list {
	int32_t pid;
	struct lnx_file *v;
	size_t n, cap;
	unsigned int flags;
};

/* Open files of one task (read from task->files->fdt). */
int lnx_files(struct vmi *v, const struct lnx_task *t, struct lnx_file_list *out);
void lnx_file_list_release(struct lnx_file_list *l);

const char *lnx_file_kind_str(enum lnx_file_kind k);

#endif
