/*
 * bench_xcheck.c - cost of a process cross-check (two memory snapshots and
 * one answer) at 1,000 and 10,000 processes. Target: 10,000 in < 5 ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xcheck.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Shuffled like a real walk's order: the check must not rely on sorting. */
static void fill(struct xcheck_proc *v, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		v[i].pid = (int32_t)(i + 1);
		v[i].ppid = 1;
		v[i].uid = (uint32_t)(i % 7);
		v[i].start_ns = (i + 1) * 1000000ull;
		snprintf(v[i].comm, sizeof(v[i].comm), "proc%zu", i);
	}
	srand(seed);
	for (i = n - 1; i > 0; i--) {
		size_t j = (size_t)rand() % (i + 1);
		struct xcheck_proc t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
}

static void bench(size_t n)
{
	struct xcheck_proc *m1 = malloc(n * sizeof(*m1));
	struct xcheck_proc *m2 = malloc(n * sizeof(*m2));
	struct xcheck_proc *g = malloc(n * sizeof(*g));
	struct xcheck_opts o;
	struct xcheck_result r;
	double t0, best = 1e9;
	int rep, reps = n > 5000 ? 50 : 500;

	xcheck_opts_init(&o);
	fill(m1, n, 1);
	fill(m2, n, 2);
	fill(g, n - 1, 3);	/* one hidden */
	for (rep = 0; rep < reps; rep++) {
		t0 = now_ms();
		if (xcheck_procs(&o, m1, n, m2, n, g, n - 1, &r))
			abort();
		t0 = now_ms() - t0;
		if (t0 < best)
			best = t0;
		if (r.total != 1)
			abort();
		xcheck_result_release(&r);
	}
	printf("xcheck processes  n=%-6zu best %.3f ms  (%.1f ns/process)\n", n,
	       best, best * 1e6 / (double)n);
	free(m1);
	free(m2);
	free(g);
}

int main(void)
{
	bench(1000);
	bench(10000);
	return 0;
}
