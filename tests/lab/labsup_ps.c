/*
 * labsup_ps.c - the guest's process list as its own /proc shows it, read
 * through the ground-truth shell: the reference that memory views and the
 * agent's answers are compared with in lab tests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labsup.h"

/*
 * No forks in the loop (busybox sh builtins only), so it cannot disturb.
 * Per process "P uid <stat line>" and "C <task->comm>": the first line of
 * /proc/PID/sched names the task as memory does, where stat decorates
 * kernel threads ("kworker/0:1-events").
 */
#define GT_PS "for d in /proc/[0-9]*; do s=; u=; c=; " \
	"read -r s < $d/stat 2>/dev/null || continue; " \
	"read -r c < $d/sched 2>/dev/null; " \
	"while read -r k v r; do [ \"$k\" = Uid: ] && { u=$v; break; }; " \
	"done < $d/status 2>/dev/null; [ -n \"$u\" ] && echo \"P $u $s\" && " \
	"echo \"C ${c% (*}\"; done"

static size_t lab_ps_parse(char *text, struct lab_proc *v, size_t cap)
{
	size_t n = 0;

	for (char *line = strtok(text, "\n"); line && n < cap;
	     line = strtok(NULL, "\n")) {
		char *open = strchr(line, '('), *close = strrchr(line, ')');
		struct lab_proc *p = &v[n];

		if (!strncmp(line, "C ", 2) && n > 0) {
			snprintf(v[n - 1].comm, sizeof(v[n - 1].comm), "%.15s",
				 line + 2);
			continue;
		}
		if (!open || !close ||
		    sscanf(line, "P %u %d", &p->uid, &p->pid) != 2)
			continue;
		memset(p->comm, 0, sizeof(p->comm));
		if (sscanf(close + 1, " %*c %d %*s %*s %*s %*s %*s %*s %*s "
			   "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
			   &p->ppid, &p->start) == 2)
			n++;
	}
	return n;
}

const struct lab_proc *lab_ps_find(const struct lab_proc *v, size_t n, int pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].pid == pid)
			return &v[i];
	return NULL;
}

int lab_ps(struct lab_guest *g, struct lab_proc *v, size_t cap, int timeout_ms)
{
	char *out = NULL;
	int rc = lab_run(g, GT_PS, &out, timeout_ms);
	size_t n;

	if (rc != 0) {
		free(out);
		return rc < 0 ? rc : -EIO;
	}
	n = lab_ps_parse(out, v, cap);
	free(out);
	return (int)n;
}
