/*
 * labsup.c - C side of the guest lab (see labsup.h), start and stop: boots
 * guests through tests/lab/lab.sh, parses its KEY=VALUE lines, connects to
 * the ground-truth socket (lab_run is in labsup_gt.c), stops through lab.sh.
 */
#define _GNU_SOURCE
#include "labsup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define LAB_START_OUT_MAX 65536		/* lab.sh start's KEY=VALUE text */

/* Path of lab.sh: $UPCALLD_LAB_SH, ./tests/lab/lab.sh, or beside our exe. */
static int lab_script(char *buf, size_t len)
{
	const char *env = getenv("UPCALLD_LAB_SH");
	char exe[LAB_PATH_MAX];
	ssize_t n;
	int i;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return 0;
	}
	if (access("tests/lab/lab.sh", X_OK) == 0) {
		snprintf(buf, len, "tests/lab/lab.sh");
		return 0;
	}
	/* <root>/build/tests/lab/<prog>: four components up is <root> */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -ENOENT;
	exe[n] = '\0';
	for (i = 0; i < 4; i++) {
		char *slash = strrchr(exe, '/');

		if (!slash)
			return -ENOENT;
		*slash = '\0';
	}
	if ((size_t)snprintf(buf, len, "%s/tests/lab/lab.sh", exe) >= len)
		return -ENAMETOOLONG;
	return access(buf, X_OK) == 0 ? 0 : -ENOENT;
}

/* Run lab.sh with argv[1..]; collect its stdout (stderr passes through). */
static int lab_sh(char *const argv[], char *out, size_t outlen)
{
	int pfd[2], status;
	size_t got = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(pfd[0]);
		close(pfd[1]);
		return -e;
	}
	if (pid == 0) {
		/* QEMU daemonizes from this child: it must inherit nothing of ours */
		dup2(pfd[1], STDOUT_FILENO);
		close_range(3, ~0U, 0);
		execv(argv[0], argv);
		fprintf(stderr, "labsup: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		char sink[4096];
		char *dst = got + 1 < outlen ? out + got : sink;
		size_t room = got + 1 < outlen ? outlen - 1 - got : sizeof(sink);
		ssize_t n = read(pfd[0], dst, room);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dst != sink)
			got += (size_t)n;
	}
	if (outlen)
		out[got] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EIO;
	return 0;
}

static void lab_copy(char *dst, const char *val)
{
	snprintf(dst, LAB_PATH_MAX, "%s", val);
}

static void lab_parse_line(struct lab_guest *g, const char *key, const char *val)
{
	static const struct {
		const char *key;
		size_t off;
	} map[] = {
		{ "DIR", offsetof(struct lab_guest, dir) },
		{ "RAM", offsetof(struct lab_guest, ram_path) },
		{ "GDB", offsetof(struct lab_guest, gdb_path) },
		{ "QMP", offsetof(struct lab_guest, qmp_path) },
		{ "UPCALL", offsetof(struct lab_guest, upcall_path) },
		{ "GT", offsetof(struct lab_guest, gt_path) },
		{ "KEY", offsetof(struct lab_guest, key_path) },
		{ "CONSOLE", offsetof(struct lab_guest, console_path) },
		{ "VMLINUX", offsetof(struct lab_guest, vmlinux) },
		{ "SYSMAP", offsetof(struct lab_guest, sysmap) },
		{ "PROFILE", offsetof(struct lab_guest, profile) },
	};
	size_t i;

	if (strcmp(key, "PID") == 0) {
		g->qemu_pid = (pid_t)strtol(val, NULL, 10);
		return;
	}
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(key, map[i].key) == 0)
			lab_copy((char *)g + map[i].off, val);
}

static void lab_parse(struct lab_guest *g, char *text)
{
	char *save = NULL, *line;

	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq = '\0';
		lab_parse_line(g, line, eq + 1);
	}
}

static int lab_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* The names lab.sh accepts: [A-Za-z0-9][A-Za-z0-9_.-]*, shorter than 64. */
static bool lab_name_ok(const char *name)
{
	size_t i, n = name ? strlen(name) : 0;

	if (n == 0 || n >= sizeof(((struct lab_guest *)0)->name))
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

int lab_start(const char *name, const struct lab_opts *o, struct lab_guest *g)
{
	char script[LAB_PATH_MAX], *text;
	const char *argv[16];
	int argc = 0, rc;

	memset(g, 0, sizeof(*g));
	g->gt_fd = -1;
	if (!lab_name_ok(name))
		return -EINVAL;
	snprintf(g->name, sizeof(g->name), "%s", name);
	rc = lab_script(script, sizeof(script));
	if (rc < 0)
		return rc;
	argv[argc++] = script;
	argv[argc++] = "start";
	argv[argc++] = name;
	if (o && o->cpu) {
		argv[argc++] = "--cpu";
		argv[argc++] = o->cpu;
	}
	if (o && o->scenario) {
		argv[argc++] = "--scenario";
		argv[argc++] = o->scenario;
	}
	if (o && o->mem) {
		argv[argc++] = "--mem";
		argv[argc++] = o->mem;
	}
	if (o && o->agent)
		argv[argc++] = "--agent";
	if (o && o->append) {
		argv[argc++] = "--append";
		argv[argc++] = o->append;
	}
	argv[argc] = NULL;

	text = malloc(LAB_START_OUT_MAX);
	if (!text)
		return -ENOMEM;
	rc = lab_sh((char *const *)argv, text, LAB_START_OUT_MAX);
	if (rc == 0)
		lab_parse(g, text);
	free(text);
	if (rc < 0)
		goto out_stop;
	if (!g->gt_path[0] || g->qemu_pid <= 0) {
		rc = -EPROTO;
		goto out_stop;
	}
	rc = lab_connect(g->gt_path);
	if (rc < 0)
		goto out_stop;
	g->gt_fd = rc;
	return 0;

out_stop:
	lab_stop(g);
	return rc;
}

int lab_stop(struct lab_guest *g)
{
	char script[LAB_PATH_MAX];
	char *argv[4];
	int rc;

	if (g->gt_fd >= 0) {
		close(g->gt_fd);
		g->gt_fd = -1;
	}
	if (!g->name[0])
		return 0;
	rc = lab_script(script, sizeof(script));
	if (rc < 0)
		return rc;
	argv[0] = script;
	argv[1] = (char *)"stop";
	argv[2] = g->name;
	argv[3] = NULL;
	rc = lab_sh(argv, NULL, 0);
	if (rc == 0)
		g->qemu_pid = 0;
	return rc;
}

