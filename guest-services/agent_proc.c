/*
 * agent_proc.c - the agent's answers, read from /proc the way ps, lsof
 * and lsmod see the system: processes (thread-group leaders, as /proc
 * lists them), open files (readlink of /proc/PID/fd/N), kernel modules
 * (/proc/modules). Processes come and go while we read: one that vanishes
 * mid-read is skipped, not an error.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define MODULES_MAX_BYTES (4u << 20)

/* Read a whole small /proc file into buf (NUL-terminated). */
static ssize_t slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got < len - 1) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static unsigned long clk_tck(void)
{
	long t = sysconf(_SC_CLK_TCK);

	return t > 0 ? (unsigned long)t : 100;
}

#define PF_WQ_WORKER 0x20u	/* include/linux/sched.h */

/*
 * The kernel's own task->comm. /proc/PID/stat and /comm decorate kernel
 * threads (the full kthread name; "kworker/0:1-events" for workqueue
 * workers), which memory does not hold; the first line of /proc/PID/sched,
 * "comm (pid, #threads: n)", prints task->comm as it is.
 */
static bool sched_comm(int pid, char comm[WIRE_COMM_LEN])
{
	char path[64], buf[256], needle[40], *end = NULL, *hit;

	snprintf(path, sizeof(path), "/proc/%d/sched", pid);
	if (slurp(path, buf, sizeof(buf)) <= 0)
		return false;
	buf[strcspn(buf, "\n")] = '\0';
	snprintf(needle, sizeof(needle), " (%d, #threads: ", pid);
	for (hit = strstr(buf, needle); hit; hit = strstr(hit + 1, needle))
		end = hit;	/* the last one: comm may hold anything */
	if (!end || end - buf > WIRE_COMM_LEN - 1)
		return false;
	memset(comm, 0, WIRE_COMM_LEN);
	memcpy(comm, buf, (size_t)(end - buf));
	return true;
}

/*
 * /proc/PID/stat: "pid (comm) state ppid pgrp session tty tpgid flags ...
 * starttime(22) ...". comm may hold spaces and ')': it ends at the last
 * ')'. It is the fallback name when /proc/PID/sched is absent
 * (CONFIG_SCHED_DEBUG=n): a worker's decoration is cut off, a long kthread
 * name cut to TASK_COMM_LEN - 1 like task->comm.
 */
static int parse_stat(const char *s, struct wire_proc *p)
{
	const char *open = strchr(s, '('), *close = strrchr(s, ')');
	unsigned long long start = 0;
	unsigned int flags;
	size_t n;
	int ppid;
	char state;

	if (!open || !close || close < open)
		return -EINVAL;
	n = (size_t)(close - open - 1);
	if (n > WIRE_COMM_LEN - 1)
		n = WIRE_COMM_LEN - 1;
	memset(p->comm, 0, sizeof(p->comm));
	memcpy(p->comm, open + 1, n);
	if (sscanf(close + 1, " %c %d %*d %*d %*d %*d %u %*s %*s %*s %*s "
		   "%*s %*s %*s %*s %*s %*s %*s %*s %llu", &state, &ppid,
		   &flags, &start) != 4)
		return -EINVAL;
	if ((flags & PF_WQ_WORKER) && !strncmp(p->comm, "kworker/", 8))
		p->comm[strcspn(p->comm + 8, "+-") + 8] = '\0';
	p->state = state;
	p->ppid = ppid;
	p->start_ns = (uint64_t)((unsigned __int128)start * 1000000000u /
				 clk_tck());
	return 0;
}

/* Tgid, real uid, effective uid, real gid from /proc/PID/status. */
static int parse_status(const char *s, struct wire_proc *p)
{
	const char *t = strstr(s, "\nTgid:"), *u = strstr(s, "\nUid:"),
		   *g = strstr(s, "\nGid:");
	unsigned int euid;

	if (!t || !u || !g || sscanf(t, "\nTgid: %d", &p->tgid) != 1 ||
	    sscanf(u, "\nUid: %u %u", &p->uid, &euid) != 2 ||
	    sscanf(g, "\nGid: %u", &p->gid) != 1)
		return -EINVAL;
	p->euid = euid;
	return 0;
}

/* One process record; -ENOENT if it vanished while we looked. */
static int read_proc(int pid, struct wire_proc *p, char *exe, size_t exelen)
{
	char path[64], buf[4096];
	ssize_t n;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (slurp(path, buf, sizeof(buf)) <= 0 || parse_stat(buf, p) < 0)
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (slurp(path, buf, sizeof(buf)) <= 0 || parse_status(buf, p) < 0)
		return -ENOENT;
	sched_comm(pid, p->comm);
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, exe, exelen);
	if (n > 0) {	/* kernel threads have no exe */
		if ((size_t)n >= exelen) {
			n = (ssize_t)exelen - 1;
			p->flags |= WIRE_PROC_EXE_TRUNC;
		}
		p->exe = exe;
		p->exe_len = (uint16_t)n;
	}
	return 0;
}

unsigned int agent_q_procs(struct agent_reply *r)
{
	static uint8_t rec[WIRE_PROC_FIXED + WIRE_PATH_MAX];
	static char exe[WIRE_PATH_MAX + 1];
	DIR *d = opendir("/proc");
	struct dirent *e;
	struct wire_proc p;

	if (!d)
		return WIRE_ST_ERROR;
	while (!agent_reply_done(r) && (e = readdir(d))) {
		int n;

		if (!all_digits(e->d_name) ||
		    read_proc(atoi(e->d_name), &p, exe, sizeof(exe)) < 0)
			continue;
		n = wire_proc_put(rec, sizeof(rec), &p);
		if (n > 0)
			agent_reply_add(r, rec, (size_t)n);
	}
	closedir(d);
	return WIRE_ST_OK;
}

/*
 * Open files of one process; -ENOENT if it is gone. The agent's own
 * directory handles for this walk (skipfd, and the one opened here) exist
 * only while it answers: memory never holds them, so they are left out
 * rather than reported as files nobody has open.
 */
static int files_of(struct agent_reply *r, int pid, int skipfd)
{
	static uint8_t rec[WIRE_FILE_FIXED + WIRE_PATH_MAX];
	static char link[WIRE_PATH_MAX + 1];
	char dir[64];
	struct wire_file f;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	if (!d)
		return -errno;
	while (!agent_reply_done(r) && (e = readdir(d))) {
		ssize_t n;
		int k;

		if (!all_digits(e->d_name))
			continue;
		n = readlinkat(dirfd(d), e->d_name, link, sizeof(link));
		if (n <= 0)
			continue;	/* closed meanwhile */
		memset(&f, 0, sizeof(f));
		if ((size_t)n >= sizeof(link)) {
			n = (ssize_t)sizeof(link) - 1;
			f.flags |= WIRE_FILE_LINK_TRUNC;
		}
		f.pid = pid;
		f.fd = atoi(e->d_name);
		if (pid == getpid() && (f.fd == dirfd(d) || f.fd == skipfd))
			continue;
		f.link = link;
		f.link_len = (uint16_t)n;
		k = wire_file_put(rec, sizeof(rec), &f);
		if (k > 0)
			agent_reply_add(r, rec, (size_t)k);
	}
	closedir(d);
	return 0;
}

unsigned int agent_q_files(struct agent_reply *r, int32_t pid)
{
	struct dirent *e;
	DIR *d;
	int ret;

	if (pid != WIRE_PID_ALL) {
		ret = files_of(r, pid, -1);
		if (ret == -ENOENT)
			return WIRE_ST_NOT_FOUND;
		return ret < 0 ? WIRE_ST_ERROR : WIRE_ST_OK;
	}
	d = opendir("/proc");
	if (!d)
		return WIRE_ST_ERROR;
	while (!agent_reply_done(r) && (e = readdir(d)))
		if (all_digits(e->d_name))
			files_of(r, atoi(e->d_name), dirfd(d));
	closedir(d);
	return WIRE_ST_OK;
}

static int mod_state(const char *s)
{
	if (!strcmp(s, "Live"))
		return WIRE_MOD_LIVE;
	if (!strcmp(s, "Loading"))
		return WIRE_MOD_COMING;
	if (!strcmp(s, "Unloading"))
		return WIRE_MOD_GOING;
	return -1;
}

/* "name size refcnt deps state 0xaddr [taint]"; 1 if the line is odd. */
static int module_line(char *line, struct wire_module *m)
{
	char name[128], state[16], addr[32] = "";
	unsigned long long size;
	int st;

	if (sscanf(line, "%127s %llu %*s %*s %15s %31s", name, &size, state,
		   addr) < 3 || (st = mod_state(state)) < 0)
		return 1;
	memset(m, 0, sizeof(*m));
	m->state = (uint8_t)st;
	m->size = size;
	m->base = strtoull(addr, NULL, 16);
	if (m->base)	/* 0 when kptr_restrict hides it */
		m->flags |= WIRE_MOD_HAS_BASE;
	m->name_len = (uint8_t)(strlen(name) > WIRE_MODNAME_MAX
				? WIRE_MODNAME_MAX : strlen(name));
	memcpy(line, name, m->name_len);	/* line outlives the record */
	m->name = line;
	return 0;
}

unsigned int agent_q_modules(struct agent_reply *r)
{
	uint8_t rec[WIRE_MODULE_FIXED + WIRE_MODNAME_MAX];
	char *buf = malloc(MODULES_MAX_BYTES), *line, *save = NULL;
	struct wire_module m;
	ssize_t n;

	if (!buf)
		return WIRE_ST_ERROR;
	n = slurp("/proc/modules", buf, MODULES_MAX_BYTES);
	if (n < 0) {	/* CONFIG_MODULES=n: no modules, not an error */
		free(buf);
		return n == -ENOENT ? WIRE_ST_OK : WIRE_ST_ERROR;
	}
	for (line = strtok_r(buf, "\n", &save); line && !agent_reply_done(r);
	     line = strtok_r(NULL, "\n", &save)) {
		int k;

		if (module_line(line, &m))
			continue;
		k = wire_module_put(rec, sizeof(rec), &m);
		if (k > 0)
			agent_reply_add(r, rec, (size_t)k);
	}
	free(buf);
	return (size_t)n >= MODULES_MAX_BYTES - 1 ? WIRE_ST_PARTIAL : WIRE_ST_OK;
}

unsigned int agent_q_info(struct agent_reply *r)
{
	uint8_t rec[WIRE_INFO_FIXED + WIRE_AGENT_STR_MAX];
	struct wire_info i = {
		.max_version = WIRE_VERSION,
		.queries = 1u << WIRE_Q_PROCS | 1u << WIRE_Q_FILES |
			   1u << WIRE_Q_MODULES | 1u << WIRE_Q_INFO,
		.clk_tck = (uint32_t)clk_tck(),
		.frame_body_max = WIRE_FRAME_BODY_MAX,
		.agent = AGENT_VERSION_STR,
		.agent_len = sizeof(AGENT_VERSION_STR) - 1,
	};
	int k = wire_info_put(rec, sizeof(rec), &i);

	if (k < 0)
		return WIRE_ST_ERROR;
	agent_reply_add(r, rec, (size_t)k);
	return WIRE_ST_OK;
}
