/*
 * labsup.c - C side of the guest lab (see labsup.h): boots guests through
 * tests/lab/lab.sh, parses its KEY=VALUE lines, and speaks the ground-truth
 * framing of tests/lab/init directly on the guest's gt.sock:
 *
 *   host:  TOKEN BASE64(cmd)\n
 *   guest: TOKEN:B\n OUTPUT \nTOKEN:E:STATUS\n
 *
 * TOKEN is 32 fresh random hex digits per command, so neither stale output
 * of an earlier (timed-out) command nor output that imitates a marker can
 * be taken for this command's markers. Output is capped at LAB_OUT_CAP.
 */
#define _GNU_SOURCE
#include "labsup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define LAB_OUT_CAP (16u << 20)		/* command output kept, bytes */
#define LAB_START_OUT_MAX 65536		/* lab.sh start's KEY=VALUE text */
#define LAB_CMD_MAX (1u << 20)		/* command text sent, bytes */
#define LAB_DEFAULT_TIMEOUT_MS 60000
#define LAB_TOKEN_HEX 32
#define LAB_END_TAIL 48			/* ":E:" + status digits + "\n" */
#define LAB_RX_MORE (1 << 16)		/* lab_rx_feed: need more input */

static long long lab_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* poll() one fd until it is ready for `ev` or the deadline passes. */
static int lab_wait(int fd, short ev, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };

	for (;;) {
		long long left = deadline - lab_now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int lab_send(int fd, const char *buf, size_t len, long long deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		n = lab_wait(fd, POLLOUT, deadline);
		if (n < 0)
			return (int)n;
	}
	return 0;
}

/* "TOKEN BASE64(cmd)\n", malloc'd. */
static char *lab_request(const char *tok, const char *cmd, size_t *len)
{
	size_t clen = strlen(cmd), tlen = strlen(tok);
	size_t b64 = 4 * ((clen + 2) / 3);
	char *req = malloc(tlen + 1 + b64 + 2);

	if (!req)
		return NULL;
	memcpy(req, tok, tlen);
	req[tlen] = ' ';
	EVP_EncodeBlock((unsigned char *)req + tlen + 1, (const unsigned char *)cmd,
			(int)clen);
	req[tlen + 1 + b64] = '\n';
	*len = tlen + 1 + b64 + 1;
	return req;
}

/* Receive state for one command. */
struct lab_rx {
	char *buf;		/* output (after the begin marker) */
	size_t len, cap;
	size_t scan;		/* end-marker search resumes here */
	bool began;
	bool overflow;		/* output passed LAB_OUT_CAP */
	char pre[256];		/* bytes before the begin marker (window) */
	size_t prelen;
	char end[LAB_TOKEN_HEX + 8];	/* "\nTOKEN:E:" */
	char beg[LAB_TOKEN_HEX + 8];	/* "TOKEN:B\n" */
};

static int lab_rx_grow(struct lab_rx *rx, size_t need)
{
	size_t cap = rx->cap ? rx->cap : 4096;
	char *nb;

	while (cap < need)
		cap *= 2;
	if (cap == rx->cap)
		return 0;
	nb = realloc(rx->buf, cap);
	if (!nb)
		return -ENOMEM;
	rx->buf = nb;
	rx->cap = cap;
	return 0;
}

/*
 * Keep at most LAB_OUT_CAP bytes of output; past it keep only a tail long
 * enough to still see the end marker. Returns the status (>= 0) once the end
 * marker is complete, LAB_RX_MORE when more input is needed, or -errno.
 */
static int lab_rx_feed(struct lab_rx *rx, const char *data, size_t n)
{
	size_t elen = strlen(rx->end);
	char *hit;

	if (!rx->began) {
		size_t blen = strlen(rx->beg), take;

		while (n) {
			char *b;

			take = n < sizeof(rx->pre) - rx->prelen ? n : sizeof(rx->pre) - rx->prelen;
			memcpy(rx->pre + rx->prelen, data, take);
			rx->prelen += take;
			data += take;
			n -= take;
			b = memmem(rx->pre, rx->prelen, rx->beg, blen);
			if (b) {
				size_t rest = rx->prelen - (size_t)(b + blen - rx->pre);
				int rc;

				rx->began = true;
				rc = lab_rx_feed(rx, b + blen, rest);
				return rc != LAB_RX_MORE ? rc : lab_rx_feed(rx, data, n);
			}
			if (rx->prelen >= blen) {	/* slide, keeping a partial marker */
				memmove(rx->pre, rx->pre + rx->prelen - (blen - 1), blen - 1);
				rx->prelen = blen - 1;
			}
		}
		return LAB_RX_MORE;
	}
	if (n == 0)
		return LAB_RX_MORE;
	if (rx->len + n > LAB_OUT_CAP + 4096) {
		/* drop the middle: keep LAB_OUT_CAP bytes and a marker-sized tail */
		size_t keep = elen + LAB_END_TAIL;

		rx->overflow = true;
		if (rx->len > LAB_OUT_CAP + keep) {
			memmove(rx->buf + LAB_OUT_CAP, rx->buf + rx->len - keep, keep);
			rx->len = LAB_OUT_CAP + keep;
			rx->scan = LAB_OUT_CAP;
		}
	}
	if (lab_rx_grow(rx, rx->len + n + 1) < 0)
		return -ENOMEM;
	memcpy(rx->buf + rx->len, data, n);
	rx->len += n;
	rx->buf[rx->len] = '\0';
	hit = memmem(rx->buf + rx->scan, rx->len - rx->scan, rx->end, elen);
	if (!hit) {
		rx->scan = rx->len >= elen ? rx->len - elen + 1 : 0;
		return LAB_RX_MORE;
	}
	rx->scan = (size_t)(hit - rx->buf);
	{
		char *st = hit + elen, *nl = memchr(st, '\n', rx->len - (size_t)(st - rx->buf));
		char *endp;
		long v;

		if (!nl)
			return LAB_RX_MORE;
		v = strtol(st, &endp, 10);
		if (endp != nl || endp == st || v < 0 || v > 255)
			return -EPROTO;
		rx->len = (size_t)(hit - rx->buf);
		rx->buf[rx->len] = '\0';
		return rx->overflow ? -EMSGSIZE : (int)v;
	}
}

static int lab_token(char *tok)
{
	unsigned char r[LAB_TOKEN_HEX / 2];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	for (i = 0; i < sizeof(r); i++)
		sprintf(tok + 2 * i, "%02x", r[i]);
	return 0;
}

int lab_run(struct lab_guest *g, const char *cmd, char **out, int timeout_ms)
{
	long long deadline = lab_now_ms() +
		(timeout_ms > 0 ? timeout_ms : LAB_DEFAULT_TIMEOUT_MS);
	struct lab_rx rx = { 0 };
	char tok[LAB_TOKEN_HEX + 1], chunk[65536], *req;
	size_t rlen;
	int rc;

	if (out)
		*out = NULL;
	if (g->gt_fd < 0)
		return -ENOTCONN;
	if (!cmd || strlen(cmd) > LAB_CMD_MAX)
		return -EINVAL;
	rc = lab_token(tok);
	if (rc < 0)
		return rc;
	snprintf(rx.beg, sizeof(rx.beg), "%s:B\n", tok);
	snprintf(rx.end, sizeof(rx.end), "\n%s:E:", tok);
	req = lab_request(tok, cmd, &rlen);
	if (!req)
		return -ENOMEM;
	rc = lab_send(g->gt_fd, req, rlen, deadline);
	free(req);
	if (rc < 0)
		goto out_free;
	for (rc = LAB_RX_MORE; rc == LAB_RX_MORE;) {
		ssize_t n = recv(g->gt_fd, chunk, sizeof(chunk), 0);

		if (n > 0) {
			rc = lab_rx_feed(&rx, chunk, (size_t)n);
		} else if (n == 0) {
			rc = -ECONNRESET;
		} else if (errno == EAGAIN || errno == EINTR) {
			int w = lab_wait(g->gt_fd, POLLIN, deadline);

			if (w < 0)
				rc = w;
		} else {
			rc = -errno;
		}
	}
	if (rc >= 0 && out) {
		if (!rx.buf && lab_rx_grow(&rx, 1) == 0)
			rx.buf[0] = '\0';
		*out = rx.buf;
		rx.buf = NULL;
		if (!*out)
			rc = -ENOMEM;
	}
out_free:
	free(rx.buf);
	return rc;
}
