/*
 * agent_lies.c - the lies of upcalld-agent-liar, a test-only build of the
 * real agent (guest-services/agent*.c compiled with -DUPCALLD_AGENT_LIES,
 * see the Makefile) that lab tests run inside a guest to show the daemon
 * catching an agent that leaves things out of its answers or makes them up.
 * The production agent is built without this file and without the hooks
 * that call it.
 *
 *   --omit-pid PID        leave the process (and its open files) out
 *   --omit-module NAME    leave the kernel module out
 *   --omit-fd PID:FD      leave one open file out
 *   --invent-pid PID:COMM report a process that does not exist
 *
 * Each may be given up to LIE_MAX times. The lies are applied to encoded
 * records on their way into a reply (agent_reply_add), so every answer
 * the real code produces passes through one filter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define LIE_MAX 16

struct lie_fd {
	int32_t pid, fd;
};

struct lie_invent {
	int32_t pid;
	char comm[WIRE_COMM_LEN];
};

/* Test-only program state: set once from the command line. */
static struct {
	int32_t pids[LIE_MAX];
	char modules[LIE_MAX][WIRE_MODNAME_MAX + 1];
	struct lie_fd fds[LIE_MAX];
	struct lie_invent invent[LIE_MAX];
	size_t npids, nmodules, nfds, ninvent;
} lies;

static int lie_parse(const char *opt, const char *val)
{
	char *end;
	long a, b;

	if (!strcmp(opt, "--omit-module")) {
		if (lies.nmodules >= LIE_MAX || strlen(val) > WIRE_MODNAME_MAX)
			return -EINVAL;
		snprintf(lies.modules[lies.nmodules++], WIRE_MODNAME_MAX + 1, "%s", val);
		return 0;
	}
	a = strtol(val, &end, 10);
	if (a <= 0 || a > INT32_MAX)
		return -EINVAL;
	if (!strcmp(opt, "--omit-pid") && !*end && lies.npids < LIE_MAX) {
		lies.pids[lies.npids++] = (int32_t)a;
		return 0;
	}
	if (*end != ':')
		return -EINVAL;
	if (!strcmp(opt, "--invent-pid") && lies.ninvent < LIE_MAX &&
	    end[1] && strlen(end + 1) < WIRE_COMM_LEN) {
		lies.invent[lies.ninvent].pid = (int32_t)a;
		snprintf(lies.invent[lies.ninvent++].comm, WIRE_COMM_LEN, "%s", end + 1);
		return 0;
	}
	b = strtol(end + 1, &end, 10);
	if (!strcmp(opt, "--omit-fd") && !*end && b >= 0 && b <= INT32_MAX &&
	    lies.nfds < LIE_MAX) {
		lies.fds[lies.nfds++] = (struct lie_fd){ (int32_t)a, (int32_t)b };
		return 0;
	}
	return -EINVAL;
}

int agent_lie_args(int argc, char **argv)
{
	static const char *const opts[] = { "--omit-pid", "--omit-module",
					    "--omit-fd", "--invent-pid", NULL };
	int i, out = 1;

	for (i = 1; i < argc; i++) {
		size_t k;

		for (k = 0; opts[k] && strcmp(argv[i], opts[k]); k++)
			;
		if (!opts[k]) {
			argv[out++] = argv[i];
			continue;
		}
		if (i + 1 >= argc || lie_parse(argv[i], argv[i + 1]) < 0) {
			fprintf(stderr, "upcalld-agent-liar: bad %s\n", argv[i]);
			return -EINVAL;
		}
		i++;
	}
	argv[out] = NULL;
	return out;
}

static bool lie_omits_pid(int32_t pid)
{
	for (size_t i = 0; i < lies.npids; i++)
		if (lies.pids[i] == pid)
			return true;
	return false;
}

static bool lie_omits_fd(int32_t pid, int32_t fd)
{
	for (size_t i = 0; i < lies.nfds; i++)
		if (lies.fds[i].pid == pid && lies.fds[i].fd == fd)
			return true;
	return lie_omits_pid(pid);
}

static bool lie_omits_module(const char *name, size_t len)
{
	for (size_t i = 0; i < lies.nmodules; i++)
		if (strlen(lies.modules[i]) == len && !memcmp(lies.modules[i], name, len))
			return true;
	return false;
}

bool agent_lie_drop(unsigned int query, const uint8_t *rec, size_t len)
{
	size_t off = 0;
	struct wire_module m;
	struct wire_proc p;
	struct wire_file f;

	switch (query) {
	case WIRE_Q_PROCS:
		return wire_proc_next(rec, len, &off, &p) == 0 && lie_omits_pid(p.pid);
	case WIRE_Q_MODULES:
		return wire_module_next(rec, len, &off, &m) == 0 &&
		       lie_omits_module(m.name, m.name_len);
	case WIRE_Q_FILES:
		return wire_file_next(rec, len, &off, &f) == 0 &&
		       lie_omits_fd(f.pid, f.fd);
	}
	return false;
}

void agent_lie_invent(struct agent_reply *r)
{
	uint8_t rec[WIRE_PROC_FIXED];

	if (r->hdr.query != WIRE_Q_PROCS)
		return;
	for (size_t i = 0; i < lies.ninvent; i++) {
		/* start time 0: "unknown", as an agent hiding its tracks would say */
		struct wire_proc p = { .pid = lies.invent[i].pid, .ppid = 1,
				       .tgid = lies.invent[i].pid, .state = 'S' };
		int n;

		memcpy(p.comm, lies.invent[i].comm, WIRE_COMM_LEN);
		n = wire_proc_put(rec, sizeof(rec), &p);
		if (n > 0)
			agent_reply_add(r, rec, (size_t)n);
	}
}
