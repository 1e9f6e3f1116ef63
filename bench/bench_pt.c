/*
 * bench_pt.c - the cost of reading a guest: uncached and cached address
 * translation, guest-physical read throughput against plain memcpy (memhv
 * and the qemu backend's mapped RAM file), and a full process walk per
 * task over 10,000 synthetic tasks laid out as in the lab's Debian 6.1
 * kernel. Targets: cached < 50 ns, uncached < 1 us, walk <= 1 us/task.
 *
 *   bench_pt [--ram FILE --profile PROF [--gdb SOCK]] [translate|read|walk|guest]
 *
 * With --ram (a lab guest's RAM file) it also times ps on that guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lnx.h"
#include "memhv.h"
#include "pt.h"
#include "qemu.h"

#define MIB (1ull << 20)
#define DMAP 0xffff888000000000ull
#define TEXT_VA 0xffffffff81000000ull
#define TEXT_PA 0x1000000ull
#define INIT_TASK_VA 0xffffffff82a1aa40ull	/* as in 6.1.0 cloud-amd64 */
#define INIT_PID_NS_VA 0xffffffff82a59420ull
#define NTASKS 10000
#define REPS 5

/* task_struct and friends as BTF gives them for the lab kernel */
enum {
	T_FLAGS = 44, T_TASKS = 2192, T_MM = 2272, T_EXIT = 2308, T_PID = 2416,
	T_TGID = 2420, T_PARENT = 2432, T_PIDLINKS = 2528, T_START = 2776,
	T_BOOT = 2784, T_RCRED = 2952, T_CRED = 2960, T_COMM = 2976,
	T_SIZE = 9728, C_UID = 8, C_GID = 12, C_EUID = 24, MM_PGD = 72,
	XA_HEAD = 8, XN_SLOTS = 40, PID_TASKS = 16, PID_NUMBERS = 96,
};

/*
 * CPU time of this thread: the machine is shared, and time spent
 * descheduled says nothing about our code. Wall time only for I/O.
 */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int die(const char *what, int err)
{
	fprintf(stderr, "bench_pt: %s: %s\n", what, strerror(-err));
	return 1;
}

/* Copy memhv's RAM into a file the qemu backend can map, as QEMU's would be. */
static int ram_to_file(struct hv *mem, char *path)
{
	static uint8_t chunk[1 << 20];
	int fd = mkstemp(path), err = 0;

	if (fd < 0)
		return -errno;
	for (uint64_t pa = 0; !err && pa < mem->ram_size; pa += sizeof(chunk)) {
		err = hv_read_phys(mem, pa, chunk, sizeof(chunk));
		if (!err && pwrite(fd, chunk, sizeof(chunk), (off_t)pa) != sizeof(chunk))
			err = -EIO;
	}
	close(fd);
	return err;
}

/* Best-of-REPS ns per op: uncached walks, then cache hits. */
static void time_translate(struct hv *hv, gpa_t root, unsigned int levels,
			   unsigned int pages, const char *what)
{
	enum { N = 200000 };
	struct pt *pt = malloc(sizeof(*pt));
	uint64_t s = 88172645463325252ull, sum = 0;
	double t0, unc = 1e18, hit = 1e18;
	gpa_t pa;

	if (!pt)
		return;
	pt_init(pt, hv);
	for (int r = 0; r < REPS; r++) {
		struct pt_map m;

		t0 = now_ns();
		for (int i = 0; i < N; i++) {
			gva_t va = DMAP + 0x10000000 + (rng(&s) % pages) * 4096;

			pt_walk(hv, PT_MAXPHY_DEFAULT, root, levels, va, &m);
			sum += m.pa;
		}
		unc = (now_ns() - t0) / N < unc ? (now_ns() - t0) / N : unc;
		t0 = now_ns();
		for (int i = 0; i < N; i++) {
			gva_t va = DMAP + 0x10000000 + (rng(&s) % pages) * 4096;

			pt_translate(pt, root, levels, va, &pa);
			sum += pa;
		}
		hit = (now_ns() - t0) / N < hit ? (now_ns() - t0) / N : hit;
	}
	printf("translate %u-level 4K %-9s: uncached %.1f ns, cached %.1f ns "
	       "(hits %llu, misses %llu) [targets < 1000, < 50]%s\n", levels, what,
	       unc, hit, (unsigned long long)pt->hits, (unsigned long long)pt->misses,
	       sum == 42 ? " " : "");
	free(pt);
}

/* 4 KiB-mapped region: the worst case for a walk (every level read). */
static int bench_translate(unsigned int levels)
{
	enum { PAGES = 2048 };
	char path[] = "/dev/shm/bench_pt_pt.XXXXXX";
	struct hv *hv, *q;
	gpa_t root;
	int err = memhv_new("bench", 64 * MIB, 1, &hv);

	if (err)
		return die("memhv_new", err);
	err = memhv_alloc_page(hv, &root);
	if (!err)
		err = memhv_map_range(hv, root, levels, DMAP + 0x10000000, 0x100000,
				      PAGES * 4096ull);
	if (err)
		return die("map", err);
	time_translate(hv, root, levels, PAGES, "memhv");
	err = ram_to_file(hv, path);
	hv_free(hv);
	if (!err)
		err = qemu_hv_open("bench", path, -1, 0, &q);
	unlink(path);
	if (err)
		return die("RAM file", err);
	time_translate(q, root, levels, PAGES, "qemu-file");
	hv_free(q);
	return 0;
}

/* Read throughput of hv_read_phys vs memcpy over the same bytes. */
static void bench_read(struct hv *hv, const uint8_t *direct, size_t span,
		       const char *what)
{
	static const size_t sizes[] = { 8, 64, 4096, 65536 };
	uint8_t *buf = malloc(65536);

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t sz = sizes[k], n = (size_t)(256 * MIB) / sz;
		double tr = 1e18, tm = 1e18, t0;

		if (n > 4000000)
			n = 4000000;
		for (int r = 0; r < REPS; r++) {
			t0 = now_ns();
			for (size_t i = 0; i < n; i++)
				hv_read_phys(hv, (i * sz * 7) % (span - sz), buf, sz);
			if (now_ns() - t0 < tr)
				tr = now_ns() - t0;
			t0 = now_ns();
			for (size_t i = 0; i < n; i++) {
				memcpy(buf, direct + (i * sz * 7) % (span - sz), sz);
				__asm__ volatile("" : : "r"(buf) : "memory");
			}
			if (now_ns() - t0 < tm)
				tm = now_ns() - t0;
		}
		printf("read_phys %-5s %6zu B: %7.0f MB/s (%.1f ns/read), memcpy %7.0f "
		       "MB/s: %3.0f%% [target >= 80%%]\n", what, sz,
		       n * sz / tr * 1e3, tr / n, n * sz / tm * 1e3, 100 * tm / tr);
	}
	free(buf);
}

static int bench_read_memhv(void)
{
	size_t span = 64 * MIB;
	uint8_t *direct = malloc(span);
	struct hv *hv;
	int err = memhv_new("bench", 128 * MIB, 1, &hv);

	if (err || !direct)
		return die("memhv_new", err ? err : -ENOMEM);
	for (size_t i = 0; i < span; i++)
		direct[i] = (uint8_t)(i * 31);
	err = memhv_write(hv, 0, direct, span);
	if (err)
		return die("memhv_write", err);
	bench_read(hv, direct, span, "memhv");
	hv_free(hv);
	free(direct);
	return 0;
}

/* The qemu backend over a RAM file: a temp file shaped like a guest's. */
static int bench_read_qemu(const char *ram)
{
	char tmp[] = "/dev/shm/bench_pt.XXXXXX";
	size_t span = 64 * MIB;
	struct hv *hv;
	uint8_t *direct;
	int fd, err;

	if (!ram) {
		fd = mkstemp(tmp);
		if (fd < 0 || ftruncate(fd, (off_t)span) < 0)
			return die("temp RAM file", -errno);
		ram = tmp;
	} else {
		fd = open(ram, O_RDONLY);
		if (fd < 0)
			return die(ram, -errno);
	}
	direct = mmap(NULL, span, PROT_READ, MAP_SHARED, fd, 0);
	if (direct == MAP_FAILED)
		return die("mmap", -errno);
	err = qemu_hv_open("bench", ram, -1, 0, &hv);
	if (err)
		return die("qemu_hv_open", err);
	bench_read(hv, direct, span, "qemu");
	hv_free(hv);
	munmap(direct, span);
	close(fd);
	if (ram == tmp)
		unlink(tmp);
	return 0;
}

static void lab_profile(struct profile *p)
{
	static const struct { enum profile_field f; int32_t off; } offs[] = {
		{ PF_TASK_FLAGS, T_FLAGS }, { PF_TASK_TASKS, T_TASKS }, { PF_TASK_MM, T_MM },
		{ PF_TASK_EXIT_STATE, T_EXIT }, { PF_TASK_PID, T_PID },
		{ PF_TASK_TGID, T_TGID }, { PF_TASK_REAL_PARENT, T_PARENT },
		{ PF_TASK_PID_LINKS, T_PIDLINKS }, { PF_TASK_START_TIME, T_START },
		{ PF_TASK_START_BOOTTIME, T_BOOT }, { PF_TASK_REAL_CRED, T_RCRED },
		{ PF_TASK_CRED, T_CRED }, { PF_TASK_COMM, T_COMM }, { PF_CRED_UID, C_UID },
		{ PF_CRED_GID, C_GID }, { PF_CRED_EUID, C_EUID }, { PF_MM_PGD, MM_PGD },
		{ PF_PIDNS_IDR, 0 }, { PF_IDR_RT, 0 }, { PF_XARRAY_HEAD, XA_HEAD },
		{ PF_XA_NODE_SHIFT, 0 }, { PF_XA_NODE_SLOTS, XN_SLOTS },
		{ PF_PID_TASKS, PID_TASKS }, { PF_PID_NUMBERS, PID_NUMBERS },
		{ PF_UPID_NR, 0 },
	};

	memset(p, 0, sizeof(*p));
	for (int i = 0; i < PF_COUNT; i++)
		p->off[i] = PROFILE_NOFIELD;
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		p->off[offs[i].f] = offs[i].off;
	p->known[PSYM_INIT_TASK] = INIT_TASK_VA;
	p->known[PSYM_INIT_PID_NS] = INIT_PID_NS_VA;
	snprintf(p->source, sizeof(p->source), "bench (6.1 layout)");
}

struct fake {
	struct hv *hv;
	gpa_t heap;
	int err;
};

static gva_t falloc(struct fake *f, size_t n)
{
	gva_t va = DMAP + f->heap;

	f->heap += (n + 63) & ~63ull;
	return va;
}

static void fput(struct fake *f, gva_t va, const void *b, size_t n)
{
	gpa_t pa = va >= TEXT_VA ? va - TEXT_VA + TEXT_PA : va - DMAP;

	f->err |= memhv_write(f->hv, pa, b, n);
}

static void fput64(struct fake *f, gva_t va, uint64_t x)
{
	fput(f, va, &x, 8);
}

/* A three-level xarray (shifts 12, 6, 0): indexes below 262144. */
struct xa3 {
	gva_t root, mid[64], leaf[64 * 64];
};

static gva_t xa_node(struct fake *f, uint8_t shift)
{
	gva_t n = falloc(f, XN_SLOTS + 64 * 8);

	fput(f, n, &shift, 1);
	return n;
}

static void xa3_set(struct fake *f, struct xa3 *x, uint32_t idx, uint64_t e)
{
	unsigned int a = (idx >> 12) & 63, b = (idx >> 6) & 63, c = idx & 63;
	gva_t *leaf = &x->leaf[a * 64 + b];

	if (!x->root)
		x->root = xa_node(f, 12);
	if (!x->mid[a]) {
		x->mid[a] = xa_node(f, 6);
		fput64(f, x->root + XN_SLOTS + a * 8ull, x->mid[a] | 2);
	}
	if (!*leaf) {
		*leaf = xa_node(f, 0);
		fput64(f, x->mid[a] + XN_SLOTS + b * 8ull, *leaf | 2);
	}
	fput64(f, *leaf + XN_SLOTS + c * 8ull, e);
}

/* 10,000 tasks, their creds, mms, pids and the pid IDR, in a direct map. */
static int build_tasks(struct fake *f, struct xa3 *x)
{
	static gva_t tasks[NTASKS];
	static uint8_t blk[T_SIZE];
	gva_t head = INIT_TASK_VA + T_TASKS;

	f->heap = 64 * MIB;
	for (int i = 0; i < NTASKS; i++)
		tasks[i] = falloc(f, T_SIZE);
	for (int i = 0; i < NTASKS; i++) {
		gva_t t = tasks[i], cred = falloc(f, 192), pid = falloc(f, 128), mm = 0;
		uint64_t next = i + 1 < NTASKS ? tasks[i + 1] + T_TASKS : head;
		uint64_t parent = i ? tasks[i / 2] : INIT_TASK_VA, links = t + T_PIDLINKS;
		int32_t nr = 1000 + i;

		memset(blk, 0, sizeof(blk));
		memcpy(blk + T_TASKS, &next, 8);
		memcpy(blk + T_PID, &nr, 4);
		memcpy(blk + T_TGID, &nr, 4);
		memcpy(blk + T_PARENT, &parent, 8);
		memcpy(blk + T_RCRED, &cred, 8);
		memcpy(blk + T_CRED, &cred, 8);
		snprintf((char *)blk + T_COMM, 16, "task%d", i);
		if (i % 2) {	/* half are user processes with an address space */
			gva_t pgd = (falloc(f, 8192) + 4095) & ~4095ull;

			mm = falloc(f, 1024);
			fput64(f, mm + MM_PGD, pgd);
		}
		memcpy(blk + T_MM, &mm, 8);
		fput(f, t, blk, sizeof(blk));
		fput(f, cred + C_UID, &nr, 4);
		fput(f, cred + C_EUID, &nr, 4);
		fput(f, cred + C_GID, &nr, 4);
		fput(f, pid + PID_NUMBERS, &nr, 4);
		fput64(f, pid + PID_TASKS, links);
		xa3_set(f, x, (uint32_t)nr, pid);
	}
	fput64(f, head, tasks[0] + T_TASKS);
	fput64(f, INIT_PID_NS_VA + XA_HEAD, x->root | 2);
	return f->err;
}

/* Best of REPS full walks, ns per task; cold flushes translations first. */
static double time_walk(struct vmi *v, bool idr, bool cold, size_t *n)
{
	double best = 1e18;

	for (int r = 0; r < REPS; r++) {
		struct lnx_task_list l;
		double t0;

		if (cold)
			vmi_flush(v);
		t0 = now_ns();
		if (idr ? lnx_tasks_idr(v, &l) : lnx_tasks(v, &l))
			return -1;
		t0 = now_ns() - t0;
		*n = l.n;
		if (l.n && t0 / l.n < best)
			best = t0 / l.n;
		lnx_task_list_release(&l);
	}
	return best;
}

static void report_walks(struct vmi *v, const char *what)
{
	size_t n = 0;
	double lc = time_walk(v, false, true, &n), lw = time_walk(v, false, false, &n);
	double ic = time_walk(v, true, true, &n), iw = time_walk(v, true, false, &n);

	printf("walk %-9s %5zu tasks: task list %.0f ns/task cold, %.0f warm; "
	       "pid IDR %.0f cold, %.0f warm [target <= 1000]\n", what, n, lc, lw, ic, iw);
}

/* 10,000 tasks walked through memhv, then through the qemu backend. */
static int bench_walk_synthetic(void)
{
	static struct xa3 x;
	static struct profile prof;
	char path[] = "/dev/shm/bench_pt_ram.XXXXXX";
	struct fake f = { 0 };
	struct hv *q;
	struct vmi *v;
	gpa_t root;
	int err = memhv_new("bench", 320 * MIB, 1, &f.hv);

	if (err)
		return die("memhv_new", err);
	lab_profile(&prof);
	err = memhv_alloc_page(f.hv, &root);
	for (uint64_t off = 0; !err && off < 32 * MIB; off += 2 * MIB)
		err = memhv_map(f.hv, root, 4, TEXT_VA + off, TEXT_PA + off, 2 * MIB);
	for (uint64_t pa = 0; !err && pa < 320 * MIB; pa += 2 * MIB)
		err = memhv_map(f.hv, root, 4, DMAP + pa, pa, 2 * MIB);
	if (!err)
		err = build_tasks(&f, &x);
	if (!err)
		err = vmi_new_at(f.hv, &prof, root, 4, 0, 0, &v);
	if (err)
		return die("synthetic kernel", err);
	report_walks(v, "memhv");
	vmi_free(v);
	err = ram_to_file(f.hv, path);
	hv_free(f.hv);
	if (!err)
		err = qemu_hv_open("bench", path, -1, 0, &q);
	unlink(path);
	if (!err)
		err = vmi_new_at(q, &prof, root, 4, 0, 0, &v);
	if (err)
		return die("RAM file", err);
	report_walks(v, "qemu-file");
	vmi_free(v);
	hv_free(q);
	return 0;
}

/* A lab guest: attach, KASLR, and the walks, guest paused if we can. */
static int bench_guest(const char *ram, const char *gdb, const char *prof_path)
{
	struct profile *prof;
	struct hv *hv;
	struct vmi *v;
	char err[512] = "";
	double t0 = wall_ns(), t1, t2;
	int rc = profile_load(prof_path, &prof, err, sizeof(err));

	if (rc)
		return die(err[0] ? err : prof_path, rc);
	t1 = wall_ns();
	rc = gdb ? qemu_hv_new("bench", ram, gdb, &hv) : qemu_hv_open("bench", ram, -1, 0, &hv);
	if (rc)
		return die("attach", rc);
	bool paused = hv_pause(hv) == 0;

	t2 = wall_ns();
	rc = vmi_new(hv, prof, &v, err, sizeof(err));
	if (rc)
		return die(err, rc);
	printf("guest: profile load %.2f ms, attach %.2f ms, KASLR search %.2f ms "
	       "(%u-level)\n", (t1 - t0) / 1e6, (t2 - t1) / 1e6, (wall_ns() - t2) / 1e6,
	       vmi_levels(v));
	report_walks(v, "guest");
	if (paused)
		hv_resume(hv);
	vmi_free(v);
	hv_free(hv);
	profile_free(prof);
	return 0;
}

int main(int argc, char **argv)
{
	const char *ram = NULL, *gdb = NULL, *prof = NULL, *only = "";

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ram") && i + 1 < argc)
			ram = argv[++i];
		else if (!strcmp(argv[i], "--gdb") && i + 1 < argc)
			gdb = argv[++i];
		else if (!strcmp(argv[i], "--profile") && i + 1 < argc)
			prof = argv[++i];
		else
			only = argv[i];	/* translate, read, walk or guest: just that */
	}
	if ((!*only || !strcmp(only, "translate")) &&
	    (bench_translate(4) || bench_translate(5)))
		return 1;
	if ((!*only || !strcmp(only, "read")) && (bench_read_memhv() || bench_read_qemu(ram)))
		return 1;
	if ((!*only || !strcmp(only, "walk")) && bench_walk_synthetic())
		return 1;
	if (ram && prof)
		return bench_guest(ram, gdb, prof);
	return 0;
}
