/*
 * lab_qemu.c - the qemu backend on real Linux guests (-cpu qemu64, 4-level
 * paging, and -cpu max, LA57): attach through the RAM file and the gdb
 * stub, pause and read CR3/CR4, find the guest's /proc/version banner in
 * guest-physical memory, and trap the guest's own getpid system call with
 * a breakpoint on __x64_sys_getpid, stepping over it until the guest's
 * command completes. Guests are booted once per CPU model (unchecked
 * fixture); each test attaches afresh, since QEMU's stub takes one client.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "labsup.h"
#include "qemu.h"

#define CR4_LA57 (1ull << 12)
#define CHUNK (1u << 20)

static struct lab_guest guest;
static int boot_rc = -1;
static const char *cpu;
static struct hv *hv;

static void boot(const char *model)
{
	struct lab_opts o = { .cpu = model };
	char name[64];

	cpu = model;
	snprintf(name, sizeof(name), "labqemu-%s-%d", model, (int)getpid());
	boot_rc = lab_start(name, &o, &guest);
	if (boot_rc < 0)
		fprintf(stderr, "lab_qemu: lab_start(%s) = %d (%s)\n", name,
			boot_rc, strerror(-boot_rc));
}

static void q64_boot(void) { boot("qemu64"); }
static void max_boot(void) { boot("max"); }
static void halt(void) { lab_stop(&guest); }

static void attach(void)
{
	hv = NULL;
	ck_assert_int_eq(boot_rc, 0);
	ck_assert_int_eq(qemu_hv_new(guest.name, guest.ram_path, guest.gdb_path,
				     &hv), 0);
}

static void detach(void)
{
	hv_free(hv);
	hv = NULL;
}

/* Run cmd in the guest; returns its malloc'd output, asserting status 0. */
static char *run(const char *cmd)
{
	char *out = NULL;
	int rc = lab_run(&guest, cmd, &out, 60000);

	ck_assert_msg(rc == 0, "'%s': status %d, output '%s'", cmd, rc,
		      out ? out : "(null)");
	return out;
}

START_TEST(test_pause_reads_cr3_and_cr4_la57_matches_cpu_model)
{
	struct hv_regs r;
	char caps[128];
	bool want_la57 = !strcmp(cpu, "max");

	ck_assert(hv_has(hv, HV_CAP_MEM | HV_CAP_REGS | HV_CAP_PAUSE |
			      HV_CAP_BREAKPOINT | HV_CAP_BP_INVISIBLE));
	fprintf(stderr, "lab_qemu %s: caps %s, %u vCPU, %llu MiB\n", cpu,
		hv_caps_str(hv->caps, caps, sizeof(caps)), hv->nr_vcpus,
		(unsigned long long)(hv->ram_size >> 20));
	ck_assert_int_eq(hv_pause(hv), 0);
	ck_assert_int_eq(hv_get_regs(hv, 0, &r), 0);
	fprintf(stderr, "lab_qemu %s: rip %#llx cr3 %#llx cr4 %#llx efer %#llx "
		"gs_base %#llx\n", cpu, (unsigned long long)r.rip,
		(unsigned long long)r.cr3, (unsigned long long)r.cr4,
		(unsigned long long)r.efer, (unsigned long long)r.gs_base);
	ck_assert_uint_ne(r.cr3, 0);
	ck_assert_uint_lt(r.cr3 & ~0xfffull, hv->ram_size);
	ck_assert(r.cr0 & 0x80000000u);		/* paging */
	ck_assert(r.efer & 0x400);		/* long mode active */
	ck_assert_int_eq(!!(r.cr4 & CR4_LA57), want_la57);
	ck_assert_int_eq(hv_resume(hv), 0);

	/* the cost of one stop-look-go through the stub, for the report */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(hv_pause(hv), 0);
		ck_assert_int_eq(hv_get_regs(hv, 0, &r), 0);
		ck_assert_int_eq(hv_resume(hv), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "lab_qemu %s: pause+get_regs+resume %.1f us each\n", cpu,
		((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
		 (double)(t1.tv_nsec - t0.tv_nsec)) / 100 / 1e3);
	free(run("echo alive"));
}
END_TEST

/* Search guest RAM for needle in overlapping chunks; its gpa or -1. */
static int64_t find_in_ram(const char *needle, size_t n)
{
	char *buf = malloc(CHUNK + n);
	int64_t at = -1;

	ck_assert_ptr_nonnull(buf);
	for (uint64_t gpa = 0; gpa < hv->ram_size && at < 0; gpa += CHUNK) {
		size_t len = hv->ram_size - gpa < CHUNK + n ? hv->ram_size - gpa
							    : CHUNK + n;
		ck_assert_int_eq(hv_read_phys(hv, gpa, buf, len), 0);
		char *m = memmem(buf, len, needle, n);
		if (m)
			at = (int64_t)(gpa + (uint64_t)(m - buf));
	}
	free(buf);
	return at;
}

START_TEST(test_proc_version_banner_is_in_guest_ram)
{
	char *banner = run("cat /proc/version");
	size_t n = strlen(banner);
	char probe[8];

	while (n && banner[n - 1] == '\n')
		n--;
	ck_assert_uint_gt(n, 20);
	ck_assert_int_eq(strncmp(banner, "Linux version ", 14), 0);
	int64_t at = find_in_ram(banner, n);	/* guest running meanwhile */
	fprintf(stderr, "lab_qemu %s: banner at gpa %#llx\n", cpu,
		(unsigned long long)at);
	ck_assert_int_ge(at, 0);
	ck_assert_int_eq(hv_read_phys(hv, hv->ram_size - 4, probe, 8), -EFAULT);
	free(banner);
}
END_TEST

struct runner {
	const char *cmd;
	char *out;
	int rc;
	volatile bool done;
};

static void *runner_main(void *arg)
{
	struct runner *r = arg;

	r->rc = lab_run(&guest, r->cmd, &r->out, 120000);
	r->done = true;
	return NULL;
}

static gva_t kallsyms(const char *sym)
{
	char cmd[160];
	unsigned long long a = 0;
	char *out;

	snprintf(cmd, sizeof(cmd), "grep ' %s$' /proc/kallsyms", sym);
	out = run(cmd);
	ck_assert_int_eq(sscanf(out, "%llx", &a), 1);
	free(out);
	ck_assert_uint_ge(a, 0xffff800000000000ull);
	return a;
}

START_TEST(test_getpid_breakpoint_traps_guest_syscall_and_guest_goes_on)
{
	gva_t addr = kallsyms("__x64_sys_getpid");
	struct runner r = { .cmd = "getpid_loop 5 && echo finished" };
	struct hv_event ev;
	pthread_t th;
	unsigned int hits = 0;
	double done_us = 0;

	ck_assert_int_eq(hv_set_bp(hv, addr), 0);
	/* lab_run blocks while the guest sits on the breakpoint: run it aside */
	ck_assert_int_eq(pthread_create(&th, NULL, runner_main, &r), 0);
	for (int spins = 0; !r.done && spins < 2000; spins++) {
		struct pollfd p = { .fd = hv_event_fd(hv), .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int err = hv_next_event(hv, &ev, 0);
		if (err == -EAGAIN)
			continue;
		ck_assert_int_eq(err, 0);
		ck_assert_int_eq(ev.kind, HV_EV_BREAKPOINT);
		ck_assert_uint_eq(ev.addr, addr);
		ck_assert_uint_eq(ev.regs.rip, addr);
		ck_assert_uint_ne(ev.regs.cr3, 0);
		hits++;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ck_assert_int_eq(hv_event_done(hv, &ev), 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		done_us += ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
			    (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
	}
	pthread_join(th, NULL);
	ck_assert_msg(r.rc == 0, "guest command: %d '%s'", r.rc,
		      r.out ? r.out : "(null)");
	ck_assert_ptr_nonnull(strstr(r.out, "getpid_loop done 5"));
	ck_assert_ptr_nonnull(strstr(r.out, "finished"));
	free(r.out);
	fprintf(stderr, "lab_qemu %s: %u getpid breakpoint events at %#llx, "
		"event_done (step over + continue) %.1f us each\n", cpu, hits,
		(unsigned long long)addr, hits ? done_us / hits : 0.0);
	ck_assert_uint_ge(hits, 5);
	ck_assert_int_eq(hv_clear_bp(hv, addr), 0);
	ck_assert_int_eq(hv_next_event(hv, &ev, 200), -EAGAIN);
	free(run("getpid_loop 3"));
}
END_TEST

/*
 * Pause and resume in a tight loop while the guest keeps hitting the
 * breakpoint: a hit that crosses our interrupt must come out as an event
 * (never lost, never a stuck guest), and the guest's command completes.
 */
START_TEST(test_pause_resume_storm_during_breakpoint_hits_loses_nothing)
{
	gva_t addr = kallsyms("__x64_sys_getpid");
	struct runner r = { .cmd = "getpid_loop 300 && echo finished" };
	struct hv_event ev;
	struct hv_regs regs;
	pthread_t th;
	unsigned int hits = 0, pauses = 0, in_pause = 0;

	ck_assert_int_eq(hv_set_bp(hv, addr), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, runner_main, &r), 0);
	for (int spins = 0; !r.done && spins < 100000; spins++) {
		ck_assert_int_eq(hv_pause(hv), 0);
		pauses++;
		ck_assert_int_eq(hv_get_regs(hv, 0, &regs), 0);
		int err = hv_next_event(hv, &ev, 0);	/* raced hit? */
		if (err == 0) {
			ck_assert_uint_eq(ev.regs.rip, addr);
			in_pause++;
			hits++;
			ck_assert_int_eq(hv_event_done(hv, &ev), 0);
		} else {
			ck_assert_int_eq(err, -EAGAIN);
		}
		ck_assert_int_eq(hv_resume(hv), 0);
		err = hv_next_event(hv, &ev, 2);
		if (err == -EAGAIN)
			continue;
		ck_assert_int_eq(err, 0);
		ck_assert_uint_eq(ev.addr, addr);
		hits++;
		ck_assert_int_eq(hv_event_done(hv, &ev), 0);
	}
	pthread_join(th, NULL);
	ck_assert_msg(r.rc == 0 && strstr(r.out, "getpid_loop done 300"),
		      "guest command: %d '%s'", r.rc, r.out ? r.out : "(null)");
	free(r.out);
	fprintf(stderr, "lab_qemu %s: %u pauses, %u getpid events (%u taken "
		"while paused)\n", cpu, pauses, hits, in_pause);
	ck_assert_uint_ge(hits, 300);
	ck_assert_int_eq(hv_clear_bp(hv, addr), 0);
}
END_TEST

START_TEST(test_free_with_breakpoint_set_leaves_guest_running)
{
	gva_t addr = kallsyms("__x64_sys_getpid");
	char *out;

	ck_assert_int_eq(hv_set_bp(hv, addr), 0);
	ck_assert_int_eq(hv_pause(hv), 0);
	detach();	/* removes the breakpoint and resumes */
	out = run("getpid_loop 3");
	ck_assert_ptr_nonnull(strstr(out, "getpid_loop done 3"));
	free(out);
}
END_TEST

static TCase *model_case(const char *name, void (*up)(void))
{
	TCase *c = tcase_create(name);

	tcase_add_unchecked_fixture(c, up, halt);
	tcase_add_checked_fixture(c, attach, detach);
	tcase_set_timeout(c, 300);
	tcase_add_test(c, test_pause_reads_cr3_and_cr4_la57_matches_cpu_model);
	tcase_add_test(c, test_proc_version_banner_is_in_guest_ram);
	tcase_add_test(c, test_getpid_breakpoint_traps_guest_syscall_and_guest_goes_on);
	tcase_add_test(c, test_pause_resume_storm_during_breakpoint_hits_loses_nothing);
	tcase_add_test(c, test_free_with_breakpoint_set_leaves_guest_running);
	return c;
}

int main(void)
{
	Suite *s = suite_create("lab_qemu");
	SRunner *sr;
	int failed;

	suite_add_tcase(s, model_case("qemu64", q64_boot));
	suite_add_tcase(s, model_case("max", max_boot));
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
