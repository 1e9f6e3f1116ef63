/*
 * bench_upcall.c - upcall figures: frame encode (seal), decode (stream
 * decoder + MAC check), raw HMAC-SHA256 and record decoding throughput on
 * this host; then round-trip latency (p50, p99) to upcalld-agent in a lab
 * guest booted with tests/lab/lab.sh (skipped when the lab cannot start).
 * Target (DESIGN.md): upcall round trip on a lab guest < 5 ms p99.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "upcall.h"

#define MS 1000000ull

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static void bench_seal(const struct wire_key *k, uint32_t body_len, int n)
{
	uint8_t *f = calloc(1, WIRE_FRAME_MAX);
	struct wire_hdr h = { .version = WIRE_VERSION, .type = WIRE_T_REPLY,
			      .body_len = body_len };
	uint64_t t0 = upcall_now_ns(), dt;

	for (int i = 0; i < n; i++) {
		h.seq = (uint32_t)i;
		if (wire_seal(k, &h, f) < 0)
			abort();
	}
	dt = upcall_now_ns() - t0;
	printf("encode+MAC %6u-byte body: %9.0f frames/s %8.1f MB/s\n",
	       body_len, n / secs(dt), n * (double)wire_frame_len(body_len) /
	       secs(dt) / 1e6);
	free(f);
}

static void bench_decode(const struct wire_key *k, uint32_t body_len, int n)
{
	size_t flen = wire_frame_len(body_len), per = 64, done = 0, got = 0;
	uint8_t *stream = malloc(flen * per);
	struct wire_hdr h = { .version = WIRE_VERSION, .type = WIRE_T_REPLY,
			      .body_len = body_len };
	struct wire_rx rx;
	struct wire_rx_event ev;
	uint64_t t0, dt;

	if (!stream || wire_rx_init(&rx) < 0)
		abort();
	memset(stream, 0x5a, flen * per);
	for (size_t i = 0; i < per; i++)
		wire_seal(k, &h, stream + i * flen);
	t0 = upcall_now_ns();
	while (got < (size_t)n) {
		size_t off = (done % per) * flen, left = flen;

		while (left) {	/* 4 KiB reads, like a socket would give */
			size_t take = wire_rx_feed(&rx, stream + off,
						   left < 4096 ? left : 4096);

			off += take;
			left -= take;
			while (wire_rx_next(&rx, k, &ev) == WIRE_RX_FRAME)
				got++;
		}
		done++;
	}
	dt = upcall_now_ns() - t0;
	printf("decode+MAC %6u-byte body: %9.0f frames/s %8.1f MB/s\n",
	       body_len, n / secs(dt), n * (double)flen / secs(dt) / 1e6);
	wire_rx_release(&rx);
	free(stream);
}

static void bench_hmac(const struct wire_key *k)
{
	static uint8_t buf[1 << 20];
	uint8_t mac[WIRE_MAC_LEN];
	uint64_t t0 = upcall_now_ns(), dt;
	int n = 200;

	for (int i = 0; i < n; i++)
		wire_mac(k, 'F', buf, sizeof(buf), mac);
	dt = upcall_now_ns() - t0;
	printf("HMAC-SHA256 1 MiB blocks:          %8.1f MB/s\n",
	       n * (double)sizeof(buf) / secs(dt) / 1e6);
}

static void bench_records(void)
{
	uint8_t *body = malloc(WIRE_FRAME_BODY_MAX);
	struct wire_proc p = { .pid = 1, .ppid = 1, .tgid = 1, .state = 'S',
			       .exe = "/usr/sbin/something", .exe_len = 19 };
	size_t len = 0, off, recs = 0;
	uint64_t t0, dt;
	int k, rounds = 2000;

	memcpy(p.comm, "something", 10);
	while ((k = wire_proc_put(body + len, WIRE_FRAME_BODY_MAX - len, &p)) > 0)
		len += (size_t)k;
	t0 = upcall_now_ns();
	for (int r = 0; r < rounds; r++)
		for (off = 0; wire_proc_next(body, len, &off, &p) == 0;)
			recs++;
	dt = upcall_now_ns() - t0;
	printf("process records decoded:  %9.0f records/s (%.0f ns each)\n",
	       recs / secs(dt), (double)dt / (double)recs);
	free(body);
}

/* ---- round trips on a lab guest ---- */

struct lab {
	char name[64], sock[512], key[512];
};

static int lab_boot(struct lab *l)
{
	const char *sh = getenv("UPCALLD_LAB_SH");
	char cmd[1024], line[1100];
	FILE *f;

	snprintf(l->name, sizeof(l->name), "benchupcall-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "%s start %s --agent 2>&1",
		 sh ? sh : "tests/lab/lab.sh", l->name);
	f = popen(cmd, "r");
	if (!f)
		return -errno;
	l->sock[0] = l->key[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "UPCALL=", 7))
			snprintf(l->sock, sizeof(l->sock), "%.511s", line + 7);
		else if (!strncmp(line, "KEY=", 4))
			snprintf(l->key, sizeof(l->key), "%.511s", line + 4);
		else if (!strncmp(line, "lab: error", 10))
			fprintf(stderr, "%s\n", line);
	}
	pclose(f);
	return l->sock[0] && l->key[0] ? 0 : -ENODEV;
}

static void lab_halt(const struct lab *l)
{
	const char *sh = getenv("UPCALLD_LAB_SH");
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "%s stop %s >/dev/null 2>&1",
		 sh ? sh : "tests/lab/lab.sh", l->name);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_upcall: could not stop %s\n", l->name);
}

static void on_done(void *arg, struct upcall_result *r)
{
	*(struct upcall_result **)arg = r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* n sequential round trips of query q; prints p50/p99/max. */
static int round_trips(struct upcall *u, unsigned int q, int n, const char *what)
{
	uint64_t *rtt = calloc((size_t)n, sizeof(*rtt));
	size_t items = 0;

	for (int i = -20; i < n; i++) {	/* 20 warm-up calls */
		struct upcall_result *r = NULL;
		struct upcall_query qq = { .query = q, .pid = WIRE_PID_ALL,
					   .timeout_ns = 10000 * MS,
					   .done = on_done, .arg = &r };

		if (upcall_submit(u, &qq, upcall_now_ns(), NULL) < 0)
			return -EIO;
		while (!r)
			upcall_poll(&u, 1, 100);
		if (r->reason != UPCALL_OK) {
			fprintf(stderr, "bench_upcall: %s: %s\n", what,
				upcall_reason_str(r->reason));
			upcall_result_free(r);
			free(rtt);
			return -EIO;
		}
		if (i >= 0)
			rtt[i] = r->rtt_ns;
		items = r->nprocs + r->nfiles + r->nmodules;
		upcall_result_free(r);
	}
	qsort(rtt, (size_t)n, sizeof(*rtt), cmp_u64);
	printf("round trip %-22s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms "
	       "(%d calls, %zu records)\n", what, rtt[n / 2] / 1e6,
	       rtt[n * 99 / 100] / 1e6, rtt[n - 1] / 1e6, n, items);
	free(rtt);
	return 0;
}

static void bench_lab(void)
{
	struct upcall_cfg cfg = { .guest = "bench" };
	struct xport *xp;
	struct upcall *u;
	struct lab l;

	if (lab_boot(&l) < 0 || wire_key_load(l.key, cfg.key) < 0) {
		printf("round trip: skipped (no lab guest)\n");
		lab_halt(&l);
		return;
	}
	if (xport_qemu_new("bench", l.sock, &xp) == 0 &&
	    upcall_new(&cfg, xp, &u) == 0) {
		round_trips(u, WIRE_Q_INFO, 1000, "info (empty query)");
		round_trips(u, WIRE_Q_MODULES, 300, "modules");
		round_trips(u, WIRE_Q_PROCS, 300, "processes");
		round_trips(u, WIRE_Q_FILES, 100, "open files (all)");
		upcall_free(u);
	}
	lab_halt(&l);
}

int main(void)
{
	uint8_t key[WIRE_KEY_LEN] = { 1, 2, 3 };
	struct wire_key *k;

	if (wire_key_new(key, &k) < 0)
		return 1;
	bench_hmac(k);
	bench_seal(k, 0, 200000);
	bench_seal(k, 1024, 100000);
	bench_seal(k, WIRE_FRAME_BODY_MAX, 5000);
	bench_decode(k, 0, 200000);
	bench_decode(k, 1024, 100000);
	bench_decode(k, WIRE_FRAME_BODY_MAX, 5000);
	bench_records();
	wire_key_free(k);
	bench_lab();
	return 0;
}
