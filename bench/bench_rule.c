/*
 * bench_rule.c - rule engine speed: events per second through
 * rule_match_trigger() for events that match no rule and for events that
 * match (with the output formatted), on the default rule pack alone and
 * with 50 extra execve rules; load times for the pack and 100k rules.
 * Target (DESIGN.md): >= 1M events/s on one core for non-matching events.
 *
 * Run from the source tree (reads rules/): build/bench/bench_rule
 * Figures are per CPU second of this process (CLOCK_PROCESS_CPUTIME_ID), so
 * other load on a shared machine does not distort them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hv.h"
#include "rule.h"

struct ev {
	const char *guest, *comm, *exe, *path;
	int64_t pid, uid;
};

static int get(void *ctx, enum rule_field f, struct rule_value *v)
{
	const struct ev *e = ctx;
	const char *s = NULL;

	switch (f) {
	case RULE_F_GUEST_NAME: s = e->guest; break;
	case RULE_F_PROC_NAME: s = e->comm; break;
	case RULE_F_PROC_EXE: s = e->exe; break;
	case RULE_F_EXEC_PATH: s = e->path; break;
	case RULE_F_EVENT_SYSCALL: s = "execve"; break;
	case RULE_F_EVENT_TYPE: s = "syscall"; break;
	case RULE_F_PROC_PID:
		*v = (struct rule_value){ .type = RULE_T_INT, .i = e->pid };
		return 0;
	case RULE_F_PROC_UID:
		*v = (struct rule_value){ .type = RULE_T_INT, .i = e->uid };
		return 0;
	default:
		return -ENOENT;
	}
	*v = (struct rule_value){ .type = RULE_T_STR, .s = s, .len = strlen(s) };
	return 0;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: the machine may be shared. */
static double now(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

struct sink {
	char buf[512];
	size_t bytes;
	const struct rule_env *env;
	bool format;
};

static int on_match(const struct rule *r, void *arg)
{
	struct sink *s = arg;

	if (s->format)
		s->bytes += rule_format_output(r, s->env, s->buf, sizeof(s->buf));
	return 0;
}

static void run(const char *what, const struct rule_set *set,
		const struct rule_guest *g, const struct rule_trigger *t,
		struct ev *e, long n, int want)
{
	struct rule_env env = { e, get };
	struct sink sk = { .env = &env, .format = want > 0 };
	double t0 = now();
	long hits = 0;

	for (long i = 0; i < n; i++) {
		e->pid = 1000 + (i & 1023);
		hits += rule_match_trigger(set, g, t, &env, on_match, &sk);
	}
	double dt = now() - t0;

	if (hits != (long)want * n)
		fprintf(stderr, "  unexpected: %ld matches, want %ld\n", hits,
			(long)want * n);
	printf("  %-44s %8.2f M events/s  (%6.1f ns/event)\n", what,
	       (double)n / dt / 1e6, dt / (double)n * 1e9);
}

static struct rule_set *load(const char *const *paths, size_t n, double *secs)
{
	struct rule_errors e;
	struct rule_set *s = NULL;
	double t0 = now();

	rule_errors_init(&e);
	if (rule_set_load_dir(paths, n, &s, &e) != 0) {
		rule_errors_print(&e, stderr);
		exit(1);
	}
	*secs = now() - t0;
	rule_errors_release(&e);
	return s;
}

/* 50 more execve rules of the usual shapes, none matching the benign event. */
static const char *write_extra(void)
{
	static char path[] = "/tmp/bench_rule_XXXXXX.yaml";
	int fd = mkstemps(path, 5);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (!f)
		exit(1);
	fprintf(f, "- list: miners\n  items: [xmrig, minerd, cpuminer, kdevtmpfsi, "
		"kinsing, ld-linux-x86]\n");
	for (int i = 0; i < 50; i++)
		fprintf(f, "- rule: extra %d\n  desc: d\n  trigger: {syscall: execve}\n"
			"  guests: [\"web-*\", \"db-*\"]\n"
			"  condition: (proc.name in (miners) or exec.path glob "
			"\"/var/lib/*/x%d*\") and not proc.uid = %d and exec.path "
			"endswith (.sh%d, .py%d)\n"
			"  output: \"%%proc.name %%exec.path\"\n  priority: warning\n",
			i, i, 5000 + i, i, i);
	fclose(f);
	return path;
}

int main(void)
{
	const char *pack[] = { "rules" }, *both[2] = { "rules", NULL };
	struct ev benign = { "web-1", "ls", "/usr/bin/ls", "/usr/bin/ls", 1, 1000 };
	struct ev evil = { "web-1", "sh", "/bin/sh", "/tmp/.x/payload", 1, 33 };
	const long n = 2000000;
	double secs;

	for (int round = 0; round < 2; round++) {
		struct rule_set *s = round ? load(both, 2, &secs) : load(pack, 1, &secs);
		const struct rule *tmp = rule_set_find(s, "Execution from temporary directory");
		const struct rule_trigger *t = tmp->trigger;
		struct rule_guest *g;
		struct rule_set_stats st;

		if (round)
			unlink(both[1]);
		rule_set_stats(s, &st);
		rule_guest_new(s, "web-1", HV_CAP_MEM | HV_CAP_BREAKPOINT |
			       HV_CAP_CR3_APPROX, &g, NULL);
		printf("%s: %zu rules, %zu on the execve trigger's rules list, "
		       "loaded in %.2f ms\n", round ? "default pack + 50 execve "
		       "rules" : "default pack", st.rules, round ? (size_t)51 : 1,
		       secs * 1e3);
		run("execve, no rule matches (guest view)", s, g, t, &benign, n, 0);
		run("execve, no rule matches (guest globs)", s, NULL, t, &benign, n, 0);
		run("execve from /tmp, 1 match + output", s, g, t, &evil, n, 1);
		rule_guest_free(g);
		rule_set_free(s);
		if (!round)
			both[1] = write_extra();
	}

	/* load time of a big set */
	{
		char path[] = "/tmp/bench_rule_big_XXXXXX.yaml";
		int fd = mkstemps(path, 5);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		const char *p[] = { path };
		struct rule_set *s;

		if (!f)
			return 1;
		for (int i = 0; i < 100000; i++)
			fprintf(f, "- rule: r%d\n  desc: d\n  trigger: {syscall: "
				"sc%d}\n  condition: proc.pid = %d and proc.name in "
				"(a, b, c)\n  output: \"%%proc.name\"\n  priority: "
				"debug\n", i, i % 300, i);
		fclose(f);
		s = load(p, 1, &secs);
		printf("100000 rules on 300 syscall triggers: loaded in %.0f ms\n",
		       secs * 1e3);
		rule_set_free(s);
		unlink(path);
	}
	return 0;
}
