/*
 * lab_files.c - kernel modules and open files read from a real guest's
 * memory (qemu backend, KASLR on, -cpu qemu64 and -cpu max) against what
 * the guest itself says over the ground-truth shell: the module names,
 * sizes and states of /proc/modules, and for every long-lived process
 * (the holdfiles helper, init, the ground-truth shell, ...) the fd numbers
 * and `readlink /proc/PID/fd/N` texts.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "labsup.h"
#include "lnx.h"

#define RUN_MS 60000
#define TRUTH_MAX 4096	/* (pid, fd) pairs taken from the guest */

/* Files for holdfiles: a tmpfs inside /tmp (itself a tmpfs), and a file
 * under /sys, so paths cross three mounts and kernfs. */
#define HOLDFILES_START \
	"mkdir -p /tmp/hf/mnt && mount -t tmpfs none /tmp/hf/mnt && " \
	"echo hi >/tmp/hf/mnt/inner && " \
	"holdfiles /tmp/hf /tmp/hf/mnt/inner /sys/kernel/notes " \
	">/tmp/hf.out 2>&1 </dev/null & " \
	"i=0; while ! grep -q ready /tmp/hf.out && [ $i -lt 100 ]; do " \
	"sleep 0.1; i=$((i+1)); done; cat /tmp/hf.out; " \
	"sh -c 'exec 7</tmp/hf/mnt/inner; while :; do sleep 3600; done' " \
	"</dev/null >/dev/null 2>&1 & echo \"idle shell $!\""

/*
 * Every process's fds but the reporting shell's own: "PID FD LINK". The
 * ground-truth shell (the reporting shell's parent) is named apart: ash
 * applies a command's redirections in the parent for the command's
 * duration, so its fds while reporting differ from its fds at rest.
 */
#define FD_TRUTH \
	"for d in /proc/[0-9]*; do p=${d#/proc/}; [ \"$p\" = \"$$\" ] && continue; " \
	"for f in $d/fd/*; do [ -L \"$f\" ] || continue; " \
	"l=$(readlink \"$f\") && echo \"$p ${f##*/} $l\"; done; done; " \
	"echo \"shell $PPID\""

struct guest {
	const char *cpu;
	struct lab_guest g;
	int rc;			/* setup result: 0 when all below is ready */
	struct profile *prof;
	struct hv *hv;
	struct vmi *v;
	int holdpid;
	int idlepid;		/* a shell at rest, holding one extra file */
};

struct truth {
	int32_t pid, fd;
	char *link;
};

static struct guest q64 = { .cpu = "qemu64", .rc = -1 };
static struct guest gmax = { .cpu = "max", .rc = -1 };

static int load_profile(struct guest *x)
{
	char err[256] = "";
	int rc;

	if (x->g.profile[0])
		rc = profile_load(x->g.profile, &x->prof, err, sizeof(err));
	else
		rc = profile_from_vmlinux(x->g.vmlinux, x->g.sysmap, &x->prof,
					  err, sizeof(err));
	if (rc)
		fprintf(stderr, "lab_files: profile: %d %s\n", rc, err);
	return rc;
}

static int start_holdfiles(struct guest *x)
{
	char *out = NULL;
	int rc = lab_run(&x->g, HOLDFILES_START, &out, RUN_MS);
	const char *r = out ? strstr(out, "holdfiles ready ") : NULL;

	const char *sh = out ? strstr(out, "idle shell ") : NULL;

	if (rc == 0 && r && sh) {
		x->holdpid = atoi(r + 16);
		x->idlepid = atoi(sh + 11);
	} else {
		fprintf(stderr, "lab_files: holdfiles: rc %d: %s\n", rc, out ? out : "");
	}
	free(out);
	return x->holdpid > 0 && x->idlepid > 0 ? 0 : -EIO;
}

static void boot(struct guest *x)
{
	struct lab_opts o = { .cpu = x->cpu };
	char name[64], err[256] = "";
	int rc;

	snprintf(name, sizeof(name), "labfiles-%s-%d", x->cpu, (int)getpid());
	rc = lab_start(name, &o, &x->g);
	if (!rc)
		rc = load_profile(x);
	if (!rc)
		rc = qemu_hv_new(name, x->g.ram_path, x->g.gdb_path, &x->hv);
	if (!rc)
		rc = vmi_new(x->hv, x->prof, &x->v, err, sizeof(err));
	if (!rc)
		rc = start_holdfiles(x);
	if (rc)
		fprintf(stderr, "lab_files: %s setup: %d (%s) %s\n", x->cpu, rc,
			strerror(-rc), err);
	else
		fprintf(stderr, "lab_files: %s: %u-level paging, virt slide %#llx, "
			"phys slide %#llx\n", x->cpu, vmi_levels(x->v),
			(unsigned long long)vmi_virt_slide(x->v),
			(unsigned long long)vmi_phys_slide(x->v));
	x->rc = rc;
}

static void shutdown(struct guest *x)
{
	vmi_free(x->v);
	hv_free(x->hv);
	profile_free(x->prof);
	lab_stop(&x->g);
	x->v = NULL;
	x->hv = NULL;
	x->prof = NULL;
	x->rc = -1;
}

static void q64_setup(void) { boot(&q64); }
static void q64_teardown(void) { shutdown(&q64); }
static void max_setup(void) { boot(&gmax); }
static void max_teardown(void) { shutdown(&gmax); }

static const char *state_name(uint32_t s)
{
	switch (s) {
	case LNX_MOD_LIVE: return "Live";
	case LNX_MOD_COMING: return "Loading";
	case LNX_MOD_GOING: return "Unloading";
	default: return "?";
	}
}

/* The memory entry for /proc/modules line `line`, checked field by field. */
static void check_module_line(const struct lnx_module_list *ml, const char *line,
			      unsigned int *matched)
{
	char name[LNX_MODNAME_LEN], state[16];
	unsigned long long size, addr = 0;
	size_t i;

	ck_assert_msg(sscanf(line, "%63s %llu %*d %*s %15s %llx", name, &size,
			     state, &addr) >= 3, "bad /proc/modules line '%s'", line);
	for (i = 0; i < ml->n; i++)
		if (!strcmp(ml->v[i].name, name))
			break;
	ck_assert_msg(i < ml->n, "module %s in /proc/modules, not in memory", name);
	ck_assert_str_eq(state_name(ml->v[i].state), state);
	/* 6.1 prints core + init size; init is 0 once the module is live. */
	if (!strcmp(state, "Live"))
		ck_assert_uint_eq(ml->v[i].size, size);
	if (addr)	/* 0 when kptr_restrict hides it */
		ck_assert_uint_eq(ml->v[i].base, addr);
	(*matched)++;
}

static void modules_match(struct guest *x)
{
	struct lnx_module_list ml;
	unsigned int matched = 0, listed = 0;
	char *out = NULL, *line, *save = NULL;
	int rc;

	ck_assert_int_eq(x->rc, 0);
	ck_assert_int_eq(lab_run(&x->g, "cat /proc/modules", &out, RUN_MS), 0);
	ck_assert_int_eq(hv_pause(x->hv), 0);
	vmi_flush(x->v);	/* the guest ran since the last read */
	rc = lnx_modules(x->v, &ml);
	hv_resume(x->hv);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(ml.flags, 0);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (*line)
			check_module_line(&ml, line, &matched);
	for (size_t i = 0; i < ml.n; i++)
		listed += ml.v[i].state != LNX_MOD_UNFORMED;
	fprintf(stderr, "lab_files: %s: %u modules, all match /proc/modules\n",
		x->cpu, matched);
	ck_assert_uint_gt(matched, 0);
	ck_assert_uint_eq(listed, matched);	/* nothing only in memory */
	lnx_module_list_release(&ml);
	free(out);
}

/* Parse FD_TRUTH output into t[]; returns the count; *shell its pid. */
static size_t parse_truth(char *out, struct truth *t, int *shell)
{
	char *line, *save = NULL;
	size_t n = 0;

	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int pid, fd, pos = 0;

		if (sscanf(line, "shell %d", shell) == 1)
			continue;
		if (sscanf(line, "%d %d %n", &pid, &fd, &pos) < 2 || !pos)
			continue;
		ck_assert_uint_lt(n, TRUTH_MAX);
		t[n++] = (struct truth){ pid, fd, line + pos };
	}
	return n;
}

/* Memory's view of one task's files against the guest's lines for it. */
static size_t files_match_pid(const struct lnx_task *task,
			      const struct lnx_file_list *fl, const struct truth *t,
			      size_t n)
{
	size_t want = 0, i, j;

	ck_assert_msg(fl->flags == 0, "pid %d: walk flags %#x", task->pid, fl->flags);
	for (i = 0; i < n; i++) {
		if (t[i].pid != task->pid)
			continue;
		want++;
		for (j = 0; j < fl->n && fl->v[j].fd != t[i].fd; j++)
			;
		ck_assert_msg(j < fl->n, "pid %d (%s) fd %d '%s': not in memory",
			      task->pid, task->comm, t[i].fd, t[i].link);
		ck_assert_msg(!strcmp(fl->v[j].path, t[i].link),
			      "pid %d (%s) fd %d: memory '%s', guest '%s'", task->pid,
			      task->comm, t[i].fd, fl->v[j].path, t[i].link);
	}
	ck_assert_msg(fl->n == want, "pid %d (%s): %zu fds in memory, %zu in the guest",
		      task->pid, task->comm, fl->n, want);
	return want;
}

static bool has_pid(const struct truth *t, size_t n, int32_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].pid == pid)
			return true;
	return false;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* A snapshot from memory: every task and, for those in want[], its files. */
struct snap {
	int rc;
	double files_us;		/* time spent in lnx_files() */
	struct lnx_task_list tl;
	struct lnx_file_list *fl;	/* parallel to tl.v; empty if not read */
};

/*
 * Take it with the guest paused, asserting nothing until it runs again:
 * a failed test must not leave the guest stopped for the next one.
 */
static void snap_take(struct guest *x, const struct truth *t, size_t n,
		      struct snap *sn)
{
	memset(sn, 0, sizeof(*sn));
	sn->rc = hv_pause(x->hv);
	if (sn->rc)
		return;
	vmi_flush(x->v);	/* the guest ran since the last read */
	sn->rc = lnx_tasks(x->v, &sn->tl);
	if (!sn->rc) {
		sn->fl = calloc(sn->tl.n ? sn->tl.n : 1, sizeof(*sn->fl));
		double t0 = now_us();

		for (size_t i = 0; sn->fl && i < sn->tl.n && !sn->rc; i++)
			if (has_pid(t, n, sn->tl.v[i].pid))
				sn->rc = lnx_files(x->v, &sn->tl.v[i], &sn->fl[i]);
		sn->files_us = now_us() - t0;
	}
	hv_resume(x->hv);
}

static void snap_release(struct snap *sn)
{
	for (size_t i = 0; sn->fl && i < sn->tl.n; i++)
		lnx_file_list_release(&sn->fl[i]);
	free(sn->fl);
	lnx_task_list_release(&sn->tl);
}

/* The guest's fd lines: every process's, or one marker line for holdfiles. */
static size_t truth_take(struct guest *x, char **out, struct truth *t, int *shell)
{
	ck_assert_int_eq(x->rc, 0);
	ck_assert_int_eq(lab_run(&x->g, FD_TRUTH, out, RUN_MS), 0);
	return parse_truth(*out, t, shell);
}

/*
 * Every process in both views gets compared (kernel threads have no fds in
 * either) but the ground-truth shell; holdfiles, init and the idle shell
 * must be among them.
 */
static void files_match(struct guest *x)
{
	struct truth *t = calloc(TRUTH_MAX, sizeof(*t));
	struct snap sn;
	char *out = NULL;
	int shell = 0, seen_hold = 0, seen_init = 0, seen_shell = 0;
	size_t n, procs = 0, fds = 0;

	ck_assert_ptr_nonnull(t);
	n = truth_take(x, &out, t, &shell);
	snap_take(x, t, n, &sn);
	ck_assert_int_eq(sn.rc, 0);
	ck_assert_ptr_nonnull(sn.fl);
	for (size_t i = 0; i < sn.tl.n; i++) {
		int32_t pid = sn.tl.v[i].pid;

		if (!has_pid(t, n, pid) || pid == shell)
			continue;	/* no fds, born after the listing, or busy */
		fds += files_match_pid(&sn.tl.v[i], &sn.fl[i], t, n);
		procs++;
		seen_hold |= pid == x->holdpid;
		seen_init |= pid == 1;
		seen_shell |= pid == x->idlepid;
	}
	fprintf(stderr, "lab_files: %s: %zu processes, %zu open files match readlink "
		"(lnx_files: %.0f us in all, cold cache)\n", x->cpu, procs, fds,
		sn.files_us);
	ck_assert_msg(seen_hold && seen_init && seen_shell,
		      "holdfiles %d, init, idle shell %d not all compared", x->holdpid,
		      x->idlepid);
	snap_release(&sn);
	free(out);
	free(t);
}

/* The holdfiles process: each kind of file it holds, named as expected. */
static void holdfiles_kinds(struct guest *x)
{
	static const char *const want[] = {
		"/tmp/hf/plain.txt", "/tmp/hf", "/", "/dev/null",
		"/tmp/hf/mnt/inner", "/sys/kernel/notes",
		"/tmp/hf/deleted.txt (deleted)", "/memfd:holdfiles (deleted)",
		"anon_inode:[eventfd]", "anon_inode:[eventpoll]",
		"anon_inode:[timerfd]",
	};
	unsigned int kinds[LNX_FILE_OTHER + 1] = { 0 };
	struct truth t = { .pid = x->holdpid };
	const struct lnx_file_list *fl = NULL;
	struct snap sn;
	size_t i, j;

	ck_assert_int_eq(x->rc, 0);
	snap_take(x, &t, 1, &sn);
	ck_assert_int_eq(sn.rc, 0);
	for (i = 0; i < sn.tl.n; i++)
		if (sn.tl.v[i].pid == x->holdpid)
			fl = &sn.fl[i];
	ck_assert_msg(fl, "holdfiles pid %d not in memory", x->holdpid);
	for (j = 0; j < fl->n; j++) {
		ck_assert_uint_le(fl->v[j].kind, LNX_FILE_OTHER);
		kinds[fl->v[j].kind]++;
	}
	ck_assert_uint_eq(kinds[LNX_FILE_SOCKET], 2);
	ck_assert_uint_eq(kinds[LNX_FILE_PIPE], 2);
	ck_assert_uint_eq(kinds[LNX_FILE_ANON], 3);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		for (j = 0; j < fl->n && strcmp(fl->v[j].path, want[i]); j++)
			;
		ck_assert_msg(j < fl->n, "holdfiles: no '%s' in memory", want[i]);
	}
	snap_release(&sn);
}

START_TEST(test_qemu64_modules_from_memory_equal_proc_modules) { modules_match(&q64); }
END_TEST
START_TEST(test_qemu64_open_files_from_memory_equal_readlink) { files_match(&q64); }
END_TEST
START_TEST(test_qemu64_holdfiles_kinds_named_as_kernel_does) { holdfiles_kinds(&q64); }
END_TEST
START_TEST(test_max_modules_from_memory_equal_proc_modules) { modules_match(&gmax); }
END_TEST
START_TEST(test_max_open_files_from_memory_equal_readlink) { files_match(&gmax); }
END_TEST
START_TEST(test_max_holdfiles_kinds_named_as_kernel_does) { holdfiles_kinds(&gmax); }
END_TEST

static Suite *lab_files_suite(void)
{
	Suite *s = suite_create("lab_files");
	TCase *tq = tcase_create("qemu64"), *tm = tcase_create("max");

	tcase_add_unchecked_fixture(tq, q64_setup, q64_teardown);
	tcase_set_timeout(tq, 180);
	tcase_add_test(tq, test_qemu64_modules_from_memory_equal_proc_modules);
	tcase_add_test(tq, test_qemu64_open_files_from_memory_equal_readlink);
	tcase_add_test(tq, test_qemu64_holdfiles_kinds_named_as_kernel_does);
	suite_add_tcase(s, tq);
	tcase_add_unchecked_fixture(tm, max_setup, max_teardown);
	tcase_set_timeout(tm, 180);
	tcase_add_test(tm, test_max_modules_from_memory_equal_proc_modules);
	tcase_add_test(tm, test_max_open_files_from_memory_equal_readlink);
	tcase_add_test(tm, test_max_holdfiles_kinds_named_as_kernel_does);
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lab_files_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
