/*
 * labsup.h - C side of the guest lab for lab tests: start and stop real
 * Linux guests under QEMU (through tests/lab/lab.sh) and run shell commands
 * in them over the ground-truth channel (a shell on the guest's second
 * serial port), which is independent of the upcall path being tested.
 */
#ifndef UPCALLD_LABSUP_H
#define UPCALLD_LABSUP_H

#include <stddef.h>
#include <sys/types.h>

#define LAB_PATH_MAX 512

struct lab_guest {
	char name[64];
	char dir[LAB_PATH_MAX];		/* per-guest run directory */
	char ram_path[LAB_PATH_MAX];	/* memory-backend-file (guest RAM) */
	char gdb_path[LAB_PATH_MAX];	/* gdbstub unix socket */
	char qmp_path[LAB_PATH_MAX];	/* QMP unix socket */
	char upcall_path[LAB_PATH_MAX];	/* virtio-serial port org.upcalld.0 */
	char gt_path[LAB_PATH_MAX];	/* ground-truth shell (ttyS1) socket */
	char key_path[LAB_PATH_MAX];	/* this guest's upcall key (host copy) */
	char console_path[LAB_PATH_MAX];	/* serial console log (ttyS0) */
	char vmlinux[LAB_PATH_MAX];	/* cached vmlinux of the guest kernel */
	char sysmap[LAB_PATH_MAX];	/* cached System.map */
	char profile[LAB_PATH_MAX];	/* cached upcalld profile, "" if none */
	pid_t qemu_pid;
	int gt_fd;			/* connected ground-truth socket */
};

struct lab_opts {
	const char *cpu;		/* "qemu64" (4-level) or "max" (5-level) */
	const char *scenario;		/* shell script run at boot, or NULL */
	const char *mem;		/* "512M" if NULL */
	int agent;			/* start upcalld-agent at boot */
	const char *append;		/* extra kernel command line, or NULL */
};

/* Boot guest `name` and wait until its ground-truth shell answers. */
int lab_start(const char *name, const struct lab_opts *o, struct lab_guest *g);

/* Stop it (QMP quit, then SIGKILL) and remove its files. Safe twice. */
int lab_stop(struct lab_guest *g);

/*
 * Run cmd with /bin/sh in the guest; *out (malloc'd, NUL-terminated, caller
 * frees) gets stdout+stderr. Returns the command's exit status (>= 0) or
 * -errno (-ETIMEDOUT after timeout_ms).
 */
int lab_run(struct lab_guest *g, const char *cmd, char **out, int timeout_ms);

/* One process of the guest's /proc (lab_ps). */
struct lab_proc {
	int pid, ppid;
	unsigned int uid;
	unsigned long long start;	/* clock ticks since boot */
	char comm[16];			/* task->comm, as memory holds it */
};

/*
 * The guest's processes from its /proc through the ground-truth shell (a
 * loop of shell builtins: it forks nothing, so it disturbs nothing).
 * Returns how many were stored in v (at most cap), or -errno.
 */
int lab_ps(struct lab_guest *g, struct lab_proc *v, size_t cap, int timeout_ms);
const struct lab_proc *lab_ps_find(const struct lab_proc *v, size_t n, int pid);

#endif
