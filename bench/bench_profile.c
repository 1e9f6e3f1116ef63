/*
 * bench_profile - what a profile costs the daemon: load time (first load
 * in a fresh process, as in a cold `upcallctl ps`, then the median of
 * repeats) and lookup cost by name and by address. Uses the lab's cached
 * profile of the real guest kernel when there is one (built from the
 * cached vmlinux and System.map if only those are there), else a synthetic
 * profile with 150k symbols (or with --synthetic).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "profile_priv.h"

#define CACHE "/var/cache/upcalld-lab"
#define SYNTH_SYMS 150000
#define LOADS 30
#define LOOKUPS 1000000

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static bool exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The lab's cache dir of the current kernel, or "" */
static void lab_dir(char *d, size_t n)
{
	char abi[128] = "";
	FILE *f = fopen(CACHE "/current", "r");

	d[0] = '\0';
	if (!f)
		return;
	if (fgets(abi, sizeof(abi), f)) {
		abi[strcspn(abi, "\n")] = '\0';
		if (abi[0] && !strchr(abi, '/'))
			snprintf(d, n, CACHE "/%s", abi);
	}
	fclose(f);
}

static int synth(const char *out)
{
	struct profile_builder b;
	struct profile *p;
	char name[64], err[256];
	uint64_t addr = 0xffffffff81000000ull;
	int rc = profile_builder_init(&b, "synthetic");

	srand(1);
	for (int i = 0; !rc && i < SYNTH_SYMS; i++) {
		int n = snprintf(name, sizeof(name), "%s_%x_%s", i % 3 ? "do" : "__sys",
				 (unsigned)rand(), i % 5 ? "handler" : "x");

		addr += 16 + (uint64_t)(rand() % 512);
		rc = profile_builder_add(&b, name, (size_t)n, addr, i % 2 ? 'T' : 't');
	}
	if (!rc)
		rc = profile_builder_finish(&b, &p, err, sizeof(err));
	profile_builder_release(&b);
	if (rc)
		return rc;
	rc = profile_save(p, out);
	profile_free(p);
	return rc;
}

/* A profile file to measure; *tmp says whether to delete it after. */
static int pick(char *path, size_t n, bool *tmp, bool synthetic)
{
	char d[256], vml[300], map[300], err[512];
	struct profile *p;
	double t0;
	int rc;

	lab_dir(d, sizeof(d));
	if (synthetic)
		d[0] = '\0';
	*tmp = false;
	snprintf(path, n, "%s/kernel.prof", d);
	if (d[0] && exists(path))
		return 0;
	snprintf(path, n, "/tmp/bench_profile.%d", (int)getpid());
	*tmp = true;
	snprintf(vml, sizeof(vml), "%s/vmlinux", d);
	snprintf(map, sizeof(map), "%s/System.map", d);
	if (d[0] && exists(vml) && exists(map)) {
		t0 = now_ns();
		rc = profile_from_vmlinux(vml, map, &p, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "bench_profile: %s\n", err);
			return rc;
		}
		printf("profile_from_vmlinux (%s): %.1f ms\n", d, (now_ns() - t0) / 1e6);
		rc = profile_save(p, path);
		profile_free(p);
		return rc;
	}
	printf("synthetic profile, %d symbols (no lab kernel in %s, or --synthetic)\n", SYNTH_SYMS, CACHE);
	return synth(path);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static struct profile *bench_load(const char *path)
{
	double t[LOADS], t0;
	struct profile *p = NULL;
	char err[512];
	struct stat st;

	for (int i = 0; i < LOADS; i++) {
		if (p)
			profile_free(p);
		t0 = now_ns();
		if (profile_load(path, &p, err, sizeof(err))) {
			fprintf(stderr, "bench_profile: %s\n", err);
			return NULL;
		}
		t[i] = (now_ns() - t0) / 1e6;
	}
	stat(path, &st);
	printf("profile: %s, %lld bytes, %u symbols\n", path, (long long)st.st_size, p->nsyms);
	printf("load, first in this process: %.2f ms\n", t[0]);
	qsort(t, LOADS, sizeof(t[0]), cmp_double);
	printf("load, median of %d: %.2f ms (min %.2f)\n", LOADS, t[LOADS / 2], t[0]);
	return p;
}

static void bench_lookups(const struct profile *p)
{
	uint64_t lo = p->by_name[p->by_addr[0]].addr;
	uint64_t hi = p->by_name[p->by_addr[p->nsyms - 1]].addr;
	uint32_t *idx = malloc(LOOKUPS * sizeof(*idx));
	uint64_t sum = 0, a, off;
	double t0;

	if (!idx)
		return;
	for (int i = 0; i < LOOKUPS; i++)
		idx[i] = (uint32_t)((unsigned)rand() % p->nsyms);
	t0 = now_ns();
	for (int i = 0; i < LOOKUPS; i++)
		if (profile_sym(p, p->strings + p->by_name[idx[i]].name, &a) == 0)
			sum += a;
	printf("profile_sym (random names): %.0f ns\n", (now_ns() - t0) / LOOKUPS);
	t0 = now_ns();
	for (int i = 0; i < LOOKUPS; i++)
		sum += profile_sym(p, "no_such_symbol_here", &a) == -ENOENT;
	printf("profile_sym (missing name): %.0f ns\n", (now_ns() - t0) / LOOKUPS);
	t0 = now_ns();
	for (int i = 0; i < LOOKUPS; i++)
		sum += profile_sym_at(p, lo + (uint64_t)idx[i] * ((hi - lo) / p->nsyms + 1), &off) != NULL;
	printf("profile_sym_at (random addresses): %.0f ns\n", (now_ns() - t0) / LOOKUPS);
	if (sum == 42)
		printf("(checksum %llu)\n", (unsigned long long)sum);
	free(idx);
}

int main(int argc, char **argv)
{
	bool synthetic = argc > 1 && !strcmp(argv[1], "--synthetic");
	char path[512];
	struct profile *p;
	bool tmp;

	if (pick(path, sizeof(path), &tmp, synthetic)) {
		fprintf(stderr, "bench_profile: cannot make a profile to measure\n");
		return 1;
	}
	p = bench_load(path);
	if (p && p->nsyms)
		bench_lookups(p);
	profile_free(p);
	if (tmp)
		unlink(path);
	return p ? 0 : 1;
}
