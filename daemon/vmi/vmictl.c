/*
 * vmictl.c - look at a QEMU guest from outside, through its memory alone:
 * processes, kernel modules and open files, as a table or JSON.
 *
 *   vmictl --ram RAMFILE [--gdb SOCK] (--profile P | --profile-dir D)
 *          [--json] [--idr] [--verbose] ps|lsmod|lsof [PID]
 *
 * With --gdb the guest is paused while its memory is read, so the view is
 * consistent, and the paging depth comes from CR4; without it the RAM file
 * is read as it changes. This grows into `upcallctl ps/lsmod/lsof`.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lnx.h"
#include "qemu.h"

#define PROFILES_MAX 64

struct opts {
	const char *ram, *gdb, *profile, *profile_dir, *cmd;
	bool json, idr, verbose, have_pid;
	int32_t pid;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vmictl --ram RAMFILE [--gdb SOCK] (--profile P | "
		"--profile-dir D)\n              [--json] [--idr] [--verbose] "
		"ps|lsmod|lsof [PID]\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "ram", required_argument, NULL, 'r' },
		{ "gdb", required_argument, NULL, 'g' },
		{ "profile", required_argument, NULL, 'p' },
		{ "profile-dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "idr", no_argument, NULL, 'i' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "r:g:p:d:jivh", lo, NULL)) != -1) {
		switch (c) {
		case 'r': o->ram = optarg; break;
		case 'g': o->gdb = optarg; break;
		case 'p': o->profile = optarg; break;
		case 'd': o->profile_dir = optarg; break;
		case 'j': o->json = true; break;
		case 'i': o->idr = true; break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); return 1;
		default: return -1;
		}
	}
	if (!o->ram || !!o->profile == !!o->profile_dir || optind >= argc)
		return -1;
	o->cmd = argv[optind++];
	if (strcmp(o->cmd, "ps") && strcmp(o->cmd, "lsmod") && strcmp(o->cmd, "lsof"))
		return -1;
	if (optind < argc) {
		char *end;
		long pid = strtol(argv[optind++], &end, 10);

		if (*end || pid < 0 || pid > INT32_MAX || strcmp(o->cmd, "lsof"))
			return -1;
		o->pid = (int32_t)pid;
		o->have_pid = true;
	}
	return optind == argc ? 0 : -1;
}

/* Load every profile in dir (up to PROFILES_MAX); returns how many. */
static int load_dir(const char *dir, struct profile **profs)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d) {
		fprintf(stderr, "vmictl: %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d)) && n < PROFILES_MAX) {
		char path[4096], err[256] = "";

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (profile_load(path, &profs[n], err, sizeof(err)) == 0)
			n++;
		else	/* profile_load's message names the file */
			fprintf(stderr, "vmictl: skipping %s\n", err[0] ? err : path);
	}
	closedir(d);
	return n;
}

/*
 * Guest strings on the operator's terminal: control bytes (escape
 * sequences a guest could plant in a comm or a path) shown as '?'.
 * JSON output escapes them through json-c instead.
 */
static const char *tty_safe(const char *in, char *buf, size_t len)
{
	size_t i = 0;

	for (; in[i] && i + 1 < len; i++)
		buf[i] = ((unsigned char)in[i] < 0x20 || in[i] == 0x7f) ? '?' : in[i];
	buf[i] = '\0';
	return buf;
}

static void walk_flags_str(unsigned int f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s", f & LNX_WALK_CYCLE ? " cycle" : "",
		 f & LNX_WALK_FAULT ? " fault" : "", f & LNX_WALK_CAP ? " cap" : "",
		 f & LNX_WALK_BAD ? " bad" : "");
}

static json_object *walk_flags_json(unsigned int f)
{
	static const char *const names[] = { "cycle", "fault", "cap", "bad" };
	json_object *a = json_object_new_array();

	for (unsigned int i = 0; i < 4; i++)
		if (f & (1u << i))
			json_object_array_add(a, json_object_new_string(names[i]));
	return a;
}

static void report_flags(const struct opts *o, unsigned int flags, json_object *root)
{
	char buf[64];

	if (root) {
		json_object_object_add(root, "walk_flags", walk_flags_json(flags));
	} else if (flags) {
		walk_flags_str(flags, buf, sizeof(buf));
		fprintf(stderr, "vmictl: the walk stopped early or saw bad nodes:%s\n", buf);
	}
}

static json_object *task_json(const struct lnx_task *t)
{
	json_object *j = json_object_new_object();
	char addr[32];

	json_object_object_add(j, "pid", json_object_new_int(t->pid));
	json_object_object_add(j, "tgid", json_object_new_int(t->tgid));
	json_object_object_add(j, "ppid", json_object_new_int(t->ppid));
	json_object_object_add(j, "uid", json_object_new_int64(t->uid));
	json_object_object_add(j, "euid", json_object_new_int64(t->euid));
	json_object_object_add(j, "gid", json_object_new_int64(t->gid));
	json_object_object_add(j, "comm", json_object_new_string(t->comm));
	json_object_object_add(j, "kthread", json_object_new_boolean(t->kthread));
	json_object_object_add(j, "exiting", json_object_new_boolean(t->exiting));
	json_object_object_add(j, "start_time_ns", json_object_new_uint64(t->start_time));
	snprintf(addr, sizeof(addr), "%#llx", (unsigned long long)t->addr);
	json_object_object_add(j, "task", json_object_new_string(addr));
	snprintf(addr, sizeof(addr), "%#llx", (unsigned long long)t->pgd);
	json_object_object_add(j, "pgd", json_object_new_string(addr));
	return j;
}

static int cmd_ps(struct vmi *v, const struct opts *o, json_object *root)
{
	struct lnx_task_list l;
	json_object *arr = NULL;
	int err = o->idr ? lnx_tasks_idr(v, &l) : lnx_tasks(v, &l);

	if (err) {
		fprintf(stderr, "vmictl: ps: %s\n", strerror(-err));
		return err;
	}
	if (root) {
		arr = json_object_new_array();
		json_object_object_add(root, "source",
				       json_object_new_string(o->idr ? "pid_idr" : "task_list"));
		json_object_object_add(root, "processes", arr);
	} else {
		printf("%7s %7s %6s %6s %6s  %s\n", "PID", "PPID", "UID", "EUID", "GID", "COMM");
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct lnx_task *t = &l.v[i];
		char safe[LNX_COMM_LEN];

		if (arr)
			json_object_array_add(arr, task_json(t));
		else
			printf("%7d %7d %6u %6u %6u  %s%s%s%s\n", t->pid, t->ppid, t->uid,
			       t->euid, t->gid, t->kthread ? "[" : "",
			       tty_safe(t->comm, safe, sizeof(safe)),
			       t->kthread ? "]" : "", t->exiting ? " <exiting>" : "");
	}
	report_flags(o, l.flags, root);
	lnx_task_list_release(&l);
	return 0;
}

static int cmd_lsmod(struct vmi *v, const struct opts *o, json_object *root)
{
	struct lnx_module_list l;
	json_object *arr = NULL;
	int err = lnx_modules(v, &l);

	if (err) {
		fprintf(stderr, "vmictl: lsmod: %s\n", strerror(-err));
		return err;
	}
	if (root) {
		arr = json_object_new_array();
		json_object_object_add(root, "modules", arr);
	} else {
		printf("%-24s %10s  %-18s %s\n", "MODULE", "SIZE", "BASE", "STATE");
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct lnx_module *m = &l.v[i];
		char base[32], safe[LNX_MODNAME_LEN];

		snprintf(base, sizeof(base), "%#llx", (unsigned long long)m->base);
		if (arr) {
			json_object *j = json_object_new_object();

			json_object_object_add(j, "name", json_object_new_string(m->name));
			json_object_object_add(j, "size", json_object_new_uint64(m->size));
			json_object_object_add(j, "base", json_object_new_string(base));
			json_object_object_add(j, "state", json_object_new_int((int)m->state));
			json_object_array_add(arr, j);
		} else {
			printf("%-24s %10llu  %-18s %u\n",
			       tty_safe(m->name, safe, sizeof(safe)),
			       (unsigned long long)m->size, base, m->state);
		}
	}
	report_flags(o, l.flags, root);
	lnx_module_list_release(&l);
	return 0;
}

static void files_out(const struct lnx_task *t, const struct lnx_file_list *fl,
		      json_object *arr)
{
	char comm[LNX_COMM_LEN], safe[LNX_PATH_MAX + 1];

	for (size_t i = 0; i < fl->n; i++) {
		const struct lnx_file *f = &fl->v[i];
		const char *path = f->path ? f->path : "";

		if (arr) {
			json_object *j = json_object_new_object();

			json_object_object_add(j, "pid", json_object_new_int(t->pid));
			json_object_object_add(j, "comm", json_object_new_string(t->comm));
			json_object_object_add(j, "fd", json_object_new_int(f->fd));
			json_object_object_add(j, "kind",
					       json_object_new_string(lnx_file_kind_str(f->kind)));
			json_object_object_add(j, "ino", json_object_new_uint64(f->ino));
			json_object_object_add(j, "path", json_object_new_string(path));
			json_object_object_add(j, "truncated",
					       json_object_new_boolean(f->path_truncated));
			json_object_array_add(arr, j);
		} else {
			printf("%7d %-16s %5d %-7s %s%s\n", t->pid,
			       tty_safe(t->comm, comm, sizeof(comm)), f->fd,
			       lnx_file_kind_str(f->kind), tty_safe(path, safe, sizeof(safe)),
			       f->path_truncated ? " <truncated>" : "");
		}
	}
}

static int cmd_lsof(struct vmi *v, const struct opts *o, json_object *root)
{
	struct lnx_task_list l;
	json_object *arr = NULL;
	unsigned int flags = 0;
	bool found = false;
	int err = lnx_tasks(v, &l);

	if (err) {
		fprintf(stderr, "vmictl: lsof: %s\n", strerror(-err));
		return err;
	}
	for (size_t i = 0; o->have_pid && !found && i < l.n; i++)
		found = l.v[i].pid == o->pid;
	if (o->have_pid && !found) {
		fprintf(stderr, "vmictl: lsof: no process %d in guest memory\n", o->pid);
		lnx_task_list_release(&l);
		return -ESRCH;
	}
	if (root) {
		arr = json_object_new_array();
		json_object_object_add(root, "files", arr);
	} else {
		printf("%7s %-16s %5s %-7s %s\n", "PID", "COMM", "FD", "KIND", "PATH");
	}
	for (size_t i = 0; i < l.n; i++) {
		struct lnx_file_list fl;

		if (o->have_pid && l.v[i].pid != o->pid)
			continue;
		if (lnx_files(v, &l.v[i], &fl))
			continue;	/* kernel threads and the like have none */
		files_out(&l.v[i], &fl, arr);
		flags |= fl.flags;
		lnx_file_list_release(&fl);
	}
	report_flags(o, flags | l.flags, root);
	lnx_task_list_release(&l);
	return 0;
}

static int open_hv(const struct opts *o, struct hv **hv)
{
	int err = o->gdb ? qemu_hv_new("vmictl", o->ram, o->gdb, hv)
			 : qemu_hv_open("vmictl", o->ram, -1, 0, hv);

	if (err)
		fprintf(stderr, "vmictl: cannot attach to %s%s%s: %s\n", o->ram,
			o->gdb ? " / " : "", o->gdb ? o->gdb : "", strerror(-err));
	return err;
}

/* The profile to use: the one given, or the one whose banner is in RAM. */
static int pick_profile(const struct opts *o, struct hv *hv, struct profile **profs,
			int *n)
{
	char err[512] = "";
	int i;

	if (o->profile) {
		*n = profile_load(o->profile, &profs[0], err, sizeof(err)) ? 0 : 1;
		if (!*n && err[0])
			fprintf(stderr, "vmictl: %s\n", err);
		else if (!*n)
			fprintf(stderr, "vmictl: %s: cannot load profile\n", o->profile);
		return *n ? 0 : -EINVAL;
	}
	*n = load_dir(o->profile_dir, profs);
	if (*n < 0)
		return *n;
	i = vmi_choose_profile(hv, profs, (size_t)*n);
	if (i < 0)
		fprintf(stderr, "vmictl: none of the %d profiles in %s matches the "
			"kernel banner in guest memory\n", *n, o->profile_dir);
	return i;
}

static int run(const struct opts *o, struct vmi *v)
{
	json_object *root = o->json ? json_object_new_object() : NULL;
	int err;

	if (root)
		json_object_object_add(root, "guest", json_object_new_string(o->ram));
	if (!strcmp(o->cmd, "ps"))
		err = cmd_ps(v, o, root);
	else if (!strcmp(o->cmd, "lsmod"))
		err = cmd_lsmod(v, o, root);
	else
		err = cmd_lsof(v, o, root);
	if (root) {
		if (!err)
			printf("%s\n", json_object_to_json_string_ext(root,
				JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
	}
	return err;
}

int main(int argc, char **argv)
{
	struct profile *profs[PROFILES_MAX] = { 0 };
	struct opts o = { 0 };
	struct hv *hv = NULL;
	struct vmi *v = NULL;
	char err[512] = "";
	double t0 = now_ms(), t1, t2;
	int n = 0, idx, rc = 1, r;
	bool paused;

	r = parse(argc, argv, &o);
	if (r) {
		usage(r < 0 ? stderr : stdout);
		return r < 0 ? 2 : 0;
	}
	if (open_hv(&o, &hv))
		return 1;
	idx = pick_profile(&o, hv, profs, &n);
	if (idx < 0)
		goto out;
	t1 = now_ms();
	/* paused: one consistent view (not possible without the gdb stub) */
	paused = hv_pause(hv) == 0;
	r = vmi_new(hv, profs[idx], &v, err, sizeof(err));
	if (r) {
		fprintf(stderr, "vmictl: %s\n", err[0] ? err : strerror(-r));
	} else {
		t2 = now_ms();
		rc = run(&o, v) ? 1 : 0;
		if (o.verbose)
			fprintf(stderr, "vmictl: profile %s; %u-level paging, pgd %#llx, "
				"virtual slide %#llx, physical slide %#llx; attach+profile "
				"%.2f ms, kaslr %.2f ms, walk %.2f ms\n", profs[idx]->source,
				vmi_levels(v), (unsigned long long)vmi_kernel_pgd(v),
				(unsigned long long)vmi_virt_slide(v),
				(unsigned long long)vmi_phys_slide(v), t1 - t0, t2 - t1,
				now_ms() - t2);
	}
	if (paused)
		hv_resume(hv);
out:
	vmi_free(v);
	for (int i = 0; i < n; i++)
		profile_free(profs[i]);
	hv_free(hv);
	return rc;
}
