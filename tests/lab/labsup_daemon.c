/*
 * labsup_daemon.c - run upcalld as a real process for lab tests (see
 * labsup_daemon.h): work directory, config, start/stop, control requests,
 * and the alerts it wrote to its JSON sink.
 */
#define _GNU_SOURCE
#include "labsup_daemon.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define LABD_FILE_MAX (64u << 20)	/* sink and rule files we read back */
#define LABD_CALL_MS 60000

static long long labd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ll + ts.tv_nsec / 1000000;
}

static void labd_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Whole file into a NUL-terminated malloc'd buffer; NULL on error. */
static char *labd_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0;
	char *buf = NULL, *nb;

	if (!f)
		return NULL;
	for (;;) {
		if (!(nb = realloc(buf, cap + 1)))
			break;
		buf = nb;
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap || cap >= LABD_FILE_MAX)
			break;
		cap *= 2;
	}
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static int labd_copy(const char *from, const char *to, mode_t mode)
{
	size_t n = 0;
	char *buf = labd_slurp(from, &n);
	int fd, rc = 0;

	if (!buf)
		return -errno ? -errno : -EIO;
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, buf, n) != (ssize_t)n)
		rc = -errno ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* Source tree and build dir: build/tests/lab/<prog> is four levels in. */
static int labd_paths(struct labd *d)
{
	const char *env = getenv("UPCALLD_BUILD");
	char exe[LAB_PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return -ENOENT;
	exe[n] = '\0';
	for (int i = 0; i < 4; i++) {
		char *slash = strrchr(exe, '/');

		if (!slash)
			return -ENOENT;
		*slash = '\0';
	}
	snprintf(d->root, sizeof(d->root), "%s", exe);
	if (access("rules/00-lists.yaml", R_OK) == 0 && !getcwd(d->root, sizeof(d->root)))
		return -errno;
	snprintf(d->build, sizeof(d->build), "%s", env && *env ? env : d->root);
	if (!(env && *env))
		strncat(d->build, "/build", sizeof(d->build) - strlen(d->build) - 1);
	return 0;
}

static int labd_copy_rules(struct labd *d)
{
	char src[LAB_PATH_MAX + 300], dst[LAB_PATH_MAX + 300];
	struct dirent *e;
	DIR *dir;
	int rc = 0;

	snprintf(src, sizeof(src), "%s/rules", d->root);
	dir = opendir(src);
	if (!dir)
		return -errno;
	while (!rc && (e = readdir(dir))) {
		size_t len = strlen(e->d_name);

		if (len < 6 || strcmp(e->d_name + len - 5, ".yaml"))
			continue;
		snprintf(src, sizeof(src), "%s/rules/%s", d->root, e->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", d->rules, e->d_name);
		rc = labd_copy(src, dst, 0644);
	}
	closedir(dir);
	return rc;
}

static int labd_write_config(struct labd *d, const struct lab_guest *g,
			     const struct labd_opts *o)
{
	FILE *f = fopen(d->conf, "w");

	if (!f)
		return -errno;
	fprintf(f, "guests:\n  - match: \"%s\"\n    backend: qemu\n"
		"    profiles: %s\n    key_dir: %s/keys\n    ram: %s\n    gdb: %s\n"
		"    upcall: %s\n    upcall_timeout: %ds\n",
		g->name, g->profile, d->dir, g->ram_path, g->gdb_path,
		g->upcall_path, o && o->upcall_timeout_s ? o->upcall_timeout_s : 10);
	fprintf(f, "rules:\n  - %s\noutputs:\n  json:\n    path: %s\n%s",
		d->rules, d->alerts, o && o->outputs ? o->outputs : "");
	/* every alert reaches the sinks: tests count them */
	fprintf(f, "control_socket: %s\nrate_limit:\n  rate: unlimited\n"
		"  dedup: 0s\nwatchdog: false\n", d->sock);
	return fclose(f) ? -errno : 0;
}

int labd_init(struct labd *d, const struct lab_guest *g, const struct labd_opts *o)
{
	char key[LAB_PATH_MAX + 128];
	int rc;

	memset(d, 0, sizeof(*d));
	if (!g->profile[0])
		return -ENOENT;	/* no kernel.prof: build/mkprofile missing */
	rc = labd_paths(d);
	if (rc)
		return rc;
	snprintf(d->dir, sizeof(d->dir), "/tmp/upcalld-labd-XXXXXX");
	if (!mkdtemp(d->dir))
		return -errno;
	snprintf(d->guest, sizeof(d->guest), "%s", g->name);
	snprintf(d->conf, sizeof(d->conf), "%s/upcalld.yaml", d->dir);
	snprintf(d->rules, sizeof(d->rules), "%s/rules", d->dir);
	snprintf(d->alerts, sizeof(d->alerts), "%s/alerts.json", d->dir);
	snprintf(d->sock, sizeof(d->sock), "%s/upcalld.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/upcalld.log", d->dir);
	snprintf(key, sizeof(key), "%s/keys", d->dir);
	if (mkdir(d->rules, 0755) < 0 || mkdir(key, 0700) < 0)
		return -errno;
	snprintf(key, sizeof(key), "%s/keys/%s.key", d->dir, g->name);
	rc = labd_copy(g->key_path, key, 0600);
	if (!rc)
		rc = labd_copy_rules(d);
	if (!rc)
		rc = labd_write_config(d, g, o);
	return rc;
}

int labd_call(struct labd *d, const char *cmd, const char *guest,
	      const char *extra, struct json_object **reply)
{
	struct json_object *req = extra ? json_tokener_parse(extra) : json_object_new_object();
	int rc;

	if (!req)
		return -EINVAL;
	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	if (guest)
		json_object_object_add(req, "guest", json_object_new_string(guest));
	rc = ctl_call(d->sock, req, LABD_CALL_MS, reply);
	json_object_put(req);
	return rc;
}

static bool labd_ok(struct json_object *r)
{
	struct json_object *ok = labd_get(r, "ok");

	return ok && json_object_get_boolean(ok);
}

/* Ready: the control socket answers and the agent answered a live "ps". */
static int labd_wait_ready(struct labd *d, int timeout_ms)
{
	long long end = labd_now_ms() + timeout_ms;
	struct json_object *r = NULL;
	bool ctl_up = false;

	while (labd_now_ms() < end) {
		int st;

		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return -ECHILD;
		}
		if (!ctl_up) {
			ctl_up = labd_call(d, "status", NULL, NULL, &r) == 0 && labd_ok(r);
		} else if (labd_call(d, "ps", d->guest, "{\"source\":\"guest\"}", &r) == 0 &&
			   labd_ok(r)) {
			json_object_put(r);
			return 0;
		}
		json_object_put(r);
		r = NULL;
		labd_sleep_ms(250);
	}
	return -ETIMEDOUT;
}

int labd_start(struct labd *d, int timeout_ms)
{
	char exe[LAB_PATH_MAX + 16];
	pid_t pid;
	int rc;

	/* another daemon binary (e.g. an older build, to compare) */
	if (getenv("UPCALLD_LAB_DAEMON"))
		snprintf(exe, sizeof(exe), "%s", getenv("UPCALLD_LAB_DAEMON"));
	else
		snprintf(exe, sizeof(exe), "%s/upcalld", d->build);
	if (access(exe, X_OK) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDONLY);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		close_range(3, ~0U, 0);
		execl(exe, exe, "-v", "-c", d->conf, (char *)NULL);
		_exit(127);
	}
	d->pid = pid;
	rc = labd_wait_ready(d, timeout_ms);
	if (rc) {
		fprintf(stderr, "labsup_daemon: upcalld not ready: %s\n", strerror(-rc));
		labd_dump_log(d, 30);
	}
	return rc;
}

void labd_stop(struct labd *d)
{
	int st;

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return;
		}
		labd_sleep_ms(50);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &st, 0);
	d->pid = 0;
}

void labd_free(struct labd *d)
{
	char cmd[LAB_PATH_MAX + 32];

	labd_stop(d);
	if (!d->dir[0])
		return;
	if (getenv("UPCALLD_LAB_KEEP")) {
		fprintf(stderr, "labsup_daemon: kept %s\n", d->dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);	/* mkdtemp name: no quotes */
	if (system(cmd) != 0)
		fprintf(stderr, "labsup_daemon: could not remove %s\n", d->dir);
	d->dir[0] = '\0';
}

/* --- alerts ---------------------------------------------------------------- */

size_t labd_nalerts(const struct labd *d)
{
	char *buf = labd_slurp(d->alerts, NULL), *p;
	size_t n = 0;

	for (p = buf; p && (p = strchr(p, '\n')); p++)
		n++;
	free(buf);
	return n;
}

struct json_object *labd_alert(const struct labd *d, size_t i)
{
	char *buf = labd_slurp(d->alerts, NULL), *p = buf, *nl;
	struct json_object *o = NULL;

	while (p && (nl = strchr(p, '\n'))) {
		if (i-- == 0) {
			*nl = '\0';
			o = json_tokener_parse(p);
			break;
		}
		p = nl + 1;
	}
	free(buf);
	return o;
}

struct json_object *labd_wait_alert(struct labd *d, size_t from,
				    labd_match_fn *match, void *arg,
				    int timeout_ms, bool recheck, int recheck_ms)
{
	long long end = labd_now_ms() + timeout_ms, next_check = 0;
	size_t i = from;

	for (;;) {
		size_t n = labd_nalerts(d);
		struct json_object *r = NULL;

		for (; i < n; i++) {
			struct json_object *a = labd_alert(d, i);

			if (a && match(a, arg))
				return a;
			json_object_put(a);
		}
		if (labd_now_ms() >= end)
			return NULL;
		if (recheck && labd_now_ms() >= next_check) {
			if (labd_call(d, "check", d->guest, NULL, &r) == 0)
				json_object_put(r);
			next_check = labd_now_ms() + recheck_ms;
		}
		labd_sleep_ms(250);
	}
}

struct json_object *labd_get(struct json_object *o, const char *path)
{
	char key[128];

	while (o && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key) || !json_object_is_type(o, json_type_object))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path += n + (path[n] == '.');
	}
	return o;
}

const char *labd_str(struct json_object *o, const char *path)
{
	struct json_object *v = labd_get(o, path);
	const char *s = v ? json_object_get_string(v) : NULL;

	return s ? s : "";
}

long long labd_int(struct json_object *o, const char *path)
{
	struct json_object *v = labd_get(o, path);

	return v ? json_object_get_int64(v) : -1;
}

static bool labd_eq(struct json_object *a, const char *path, const char *want)
{
	return !want || !strcmp(labd_str(a, path), want);
}

bool labd_want_match(struct json_object *a, void *arg)
{
	const struct labd_want *w = arg;

	return labd_eq(a, "rule.name", w->rule) &&
	       labd_eq(a, "upcalld.xcheck.kind", w->xkind) &&
	       labd_eq(a, "upcalld.xcheck.object", w->xobject) &&
	       labd_eq(a, "process.name", w->comm) &&
	       labd_eq(a, "file.path", w->path) &&
	       labd_eq(a, "upcalld.module.name", w->module) &&
	       (!w->pid || labd_int(a, "process.pid") == w->pid) &&
	       (!w->has_fd || labd_int(a, "upcalld.fd") == w->fd);
}

bool labd_is_xcheck(struct json_object *a)
{
	const char *k = labd_str(a, "upcalld.xcheck.kind");

	return !strcmp(k, "hidden") || !strcmp(k, "phantom") || !strcmp(k, "mismatch");
}

void labd_dump_log(const struct labd *d, int lines)
{
	size_t n = 0;
	char *buf = labd_slurp(d->log, &n), *p;
	int seen = 0;

	if (!buf)
		return;
	for (p = buf + n; p > buf; p--)
		if (p[-1] == '\n' && ++seen > lines)
			break;
	fprintf(stderr, "labsup_daemon: last lines of %s:\n%s", d->log, p);
	free(buf);
}

char *labd_gt(struct lab_guest *g, const char *cmd, int timeout_ms)
{
	char *out = NULL;
	int rc = lab_run(g, cmd, &out, timeout_ms);

	ck_assert_msg(rc == 0, "'%s' in the guest: status %d: %s", cmd, rc,
		      out ? out : "");
	return out;
}

int labd_gt_int(struct lab_guest *g, const char *cmd, int timeout_ms)
{
	char *out = labd_gt(g, cmd, timeout_ms);
	int v = atoi(out);

	free(out);
	return v;
}
