/*
 * lab_alerts.c - upcalld's alerts reaching real receivers. One lab guest
 * with the agent, upcalld as a real process with three more sinks besides
 * its JSON file: RFC 5424 syslog to a unix datagram socket and to a UDP
 * port that this test binds, and RFC 5425 syslog over TLS to
 * `openssl s_server` with a throwaway CA and server certificate made at
 * test time (the config's tls output verifies the server against that CA).
 * An exec from /tmp in the guest makes the alerts; the receivers parse
 * what arrives: header, structured data (rule name, guest, path, pid) and
 * message, and for TLS the octet-counted frame around it.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "labsup.h"
#include "labsup_daemon.h"

#define RUN_MS 60000
#define RECV_MS 30000
#define EXEC_RULE "Execution from temporary directory"
#define SD_ID "upcalld@32473"
#define FAC_LOCAL3 19
#define FAC_DAEMON 3
#define SEV_WARNING 4

static struct lab_guest guest;
static struct labd daemon_;
static int setup_rc = -1;
static char dir[64];			/* receivers, certificates */
static int unix_fd = -1, udp_fd = -1;
static int tls_port;
static pid_t s_server;
static int s_server_stdin = -1;		/* kept open: s_server reads stdin */
static char hostname[256];

/* --- receivers ------------------------------------------------------------ */

static int bind_unix(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s/syslog.sock", dir);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -errno;
	return fd;
}

/* A socket bound to 127.0.0.1 on a port the kernel picks; *port gets it. */
static int bind_loopback(int type, int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -errno;
	*port = ntohs(a.sin_port);
	return fd;
}

static int make_certs(void)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
		 "cd %s && (K='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes' && "
		 "openssl req -x509 $K -keyout ca.key -out ca.pem -days 1 "
		 "-subj /CN=upcalld-lab-ca && "
		 "openssl req $K -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 && "
		 "echo subjectAltName=IP:127.0.0.1 >srv.ext && "
		 "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "-out srv.pem -days 1 -extfile srv.ext) >certs.log 2>&1", dir);
	return system(cmd) == 0 ? 0 : -EIO;
}

/* openssl s_server on a free loopback port; what it receives goes to tls.out. */
static int start_s_server(void)
{
	char accept[32], cert[128], key[128], out[128];
	int pfd[2], fd = bind_loopback(SOCK_STREAM, &tls_port);

	if (fd < 0)
		return fd;
	close(fd);	/* s_server binds it again at once */
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	snprintf(accept, sizeof(accept), "127.0.0.1:%d", tls_port);
	snprintf(cert, sizeof(cert), "%s/srv.pem", dir);
	snprintf(key, sizeof(key), "%s/srv.key", dir);
	snprintf(out, sizeof(out), "%s/tls.out", dir);
	s_server = fork();
	if (s_server < 0)
		return -errno;
	if (s_server == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(pfd[0], STDIN_FILENO);
		dup2(o, STDOUT_FILENO);
		execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert", cert,
		       "-key", key, "-quiet", (char *)NULL);
		_exit(127);
	}
	close(pfd[0]);
	s_server_stdin = pfd[1];
	usleep(500000);
	return waitpid(s_server, NULL, WNOHANG) == 0 ? 0 : -ECHILD;
}

static void setup(void)
{
	struct lab_opts o = { .cpu = "qemu64", .agent = 1 };
	struct labd_opts dopts = { 0 };
	char name[64], outputs[1024];
	int udp_port = 0;

	gethostname(hostname, sizeof(hostname) - 1);
	snprintf(dir, sizeof(dir), "/tmp/upcalld-labalerts-XXXXXX");
	setup_rc = mkdtemp(dir) ? 0 : -errno;
	if (!setup_rc && (unix_fd = bind_unix()) < 0)
		setup_rc = unix_fd;
	if (!setup_rc && (udp_fd = bind_loopback(SOCK_DGRAM, &udp_port)) < 0)
		setup_rc = udp_fd;
	if (!setup_rc)
		setup_rc = make_certs();
	if (!setup_rc)
		setup_rc = start_s_server();
	snprintf(outputs, sizeof(outputs),
		 "  syslog:\n"
		 "    - socket: %s/syslog.sock\n      facility: local3\n"
		 "    - udp: 127.0.0.1:%d\n"
		 "  tls:\n    host: 127.0.0.1\n    port: %d\n    ca: %s/ca.pem\n",
		 dir, udp_port, tls_port, dir);
	dopts.outputs = outputs;
	snprintf(name, sizeof(name), "labalerts-%d", (int)getpid());
	if (!setup_rc)
		setup_rc = lab_start(name, &o, &guest);
	if (!setup_rc)
		setup_rc = labd_init(&daemon_, &guest, &dopts);
	if (!setup_rc)
		setup_rc = labd_start(&daemon_, 90000);
	if (setup_rc)
		fprintf(stderr, "lab_alerts: setup: %d (%s)\n", setup_rc, strerror(-setup_rc));
}

static void teardown(void)
{
	char cmd[128];

	labd_free(&daemon_);
	lab_stop(&guest);
	if (s_server > 0) {
		kill(s_server, SIGTERM);
		waitpid(s_server, NULL, 0);
	}
	if (s_server_stdin >= 0)
		close(s_server_stdin);
	if (unix_fd >= 0)
		close(unix_fd);
	if (udp_fd >= 0)
		close(udp_fd);
	if (dir[0] && !getenv("UPCALLD_LAB_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "lab_alerts: could not remove %s\n", dir);
	}
}

static void need_setup(void)
{
	ck_assert_msg(setup_rc == 0, "setup failed: %d (%s)", setup_rc, strerror(-setup_rc));
}

/* Exec a program copied to /tmp in the guest; the path it ran. */
static void exec_from_tmp(const char *tag, char *path, size_t len)
{
	char cmd[256], *out = NULL;
	int rc;

	snprintf(path, len, "/tmp/%s-%d", tag, (int)getpid());
	snprintf(cmd, sizeof(cmd), "cp /usr/bin/getpid_loop %s && %s", path, path);
	rc = lab_run(&guest, cmd, &out, RUN_MS);
	ck_assert_msg(rc == 0, "%s: %d %s", cmd, rc, out ? out : "");
	free(out);
}

/* --- RFC 5424 --------------------------------------------------------------- */

struct r5424 {
	int pri, version;
	char ts[64], host[256], app[64], procid[32], msgid[64];
	const char *sd;			/* into the message */
	const char *msg;		/* after the BOM */
};

/* Next space-delimited header field into out; NULL at a malformed header. */
static const char *r5424_field(const char *p, char *out, size_t len)
{
	size_t n = strcspn(p, " ");

	if (!p[n] || n == 0 || n >= len)
		return NULL;
	memcpy(out, p, n);
	out[n] = '\0';
	return p + n + 1;
}

/* Skip one SD-ELEMENT ("[id k="v" ...]"), honouring \" \\ \] escapes. */
static const char *r5424_skip_element(const char *p)
{
	bool quoted = false;

	for (p++; *p; p++) {
		if (quoted && *p == '\\' && p[1])
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == ']')
			return p + 1;
	}
	return NULL;
}

static bool r5424_parse(const char *s, struct r5424 *m)
{
	const char *p;
	int n = 0;

	memset(m, 0, sizeof(*m));
	if (sscanf(s, "<%d>%d %n", &m->pri, &m->version, &n) != 2 || !n)
		return false;
	p = s + n;
	if (!(p = r5424_field(p, m->ts, sizeof(m->ts))) ||
	    !(p = r5424_field(p, m->host, sizeof(m->host))) ||
	    !(p = r5424_field(p, m->app, sizeof(m->app))) ||
	    !(p = r5424_field(p, m->procid, sizeof(m->procid))) ||
	    !(p = r5424_field(p, m->msgid, sizeof(m->msgid))))
		return false;
	m->sd = p;
	if (*p == '-') {
		p++;
	} else {
		while (p && *p == '[')
			p = r5424_skip_element(p);
	}
	if (!p || (*p && *p != ' '))
		return false;
	m->msg = *p ? p + 1 : p;
	if (!strncmp(m->msg, "\xef\xbb\xbf", 3))
		m->msg += 3;
	else
		return false;	/* upcalld sends UTF-8 with a BOM */
	return true;
}

/* Value of PARAM-NAME name in SD-ELEMENT id, unescaped; false if absent. */
static bool r5424_param(const struct r5424 *m, const char *id, const char *name,
			char *out, size_t len)
{
	size_t idlen = strlen(id), nlen = strlen(name), o = 0;
	const char *q, *e, *p;

	for (q = m->sd; q && *q == '['; q = e) {
		e = r5424_skip_element(q);
		if (!e || strncmp(q + 1, id, idlen) || (q[1 + idlen] != ' ' && q[1 + idlen] != ']'))
			continue;
		for (p = q + 1 + idlen; p && p < e; p = strchr(p + 1, ' ')) {
			if (strncmp(p + 1, name, nlen) || strncmp(p + 1 + nlen, "=\"", 2))
				continue;
			for (p += nlen + 3; p < e && *p != '"' && o + 1 < len; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == ']'))
					p++;
				out[o++] = *p;
			}
			out[o] = '\0';
			return *p == '"';
		}
		return false;
	}
	return false;
}

/* Datagrams on fd until one whose text contains needle; 0 or -ETIMEDOUT. */
static int recv_until(int fd, const char *needle, char *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int waited = 0;

	while (waited < RECV_MS) {
		ssize_t n;

		if (poll(&p, 1, 500) <= 0) {
			waited += 500;
			continue;
		}
		n = recv(fd, buf, len - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, needle))
			return 0;
	}
	return -ETIMEDOUT;
}

static void assert_exec_alert(const char *text, const char *path, int facility)
{
	struct r5424 m;
	char v[512];

	ck_assert_msg(r5424_parse(text, &m), "not RFC 5424: %s", text);
	ck_assert_int_eq(m.version, 1);
	ck_assert_int_eq(m.pri, facility * 8 + SEV_WARNING);
	ck_assert_str_eq(m.host, hostname);
	ck_assert_str_eq(m.app, "upcalld");
	ck_assert_int_eq(atoi(m.procid), daemon_.pid);
	ck_assert_str_eq(m.msgid, "alert");
	ck_assert_msg(r5424_param(&m, SD_ID, "rule", v, sizeof(v)), "no rule: %s", text);
	ck_assert_str_eq(v, EXEC_RULE);
	ck_assert(r5424_param(&m, SD_ID, "guest", v, sizeof(v)));
	ck_assert_str_eq(v, guest.name);
	ck_assert(r5424_param(&m, SD_ID, "path", v, sizeof(v)));
	ck_assert_str_eq(v, path);
	ck_assert(r5424_param(&m, SD_ID, "pid", v, sizeof(v)));
	ck_assert_int_gt(atoi(v), 1);
	ck_assert(r5424_param(&m, "meta", "sequenceId", v, sizeof(v)));
	ck_assert_int_ge(atoi(v), 1);
	ck_assert_msg(strstr(m.msg, path), "message without the path: %s", m.msg);
}

START_TEST(test_unix_datagram_syslog_gets_rfc5424_with_rule_in_structured_data)
{
	char path[64], buf[16384];

	need_setup();
	exec_from_tmp("dgram", path, sizeof(path));
	ck_assert_int_eq(recv_until(unix_fd, path, buf, sizeof(buf)), 0);
	fprintf(stderr, "lab_alerts: unix: %s\n", buf);
	assert_exec_alert(buf, path, FAC_LOCAL3);
}
END_TEST

START_TEST(test_udp_syslog_gets_rfc5424_with_rule_in_structured_data)
{
	char path[64], buf[16384];

	need_setup();
	exec_from_tmp("udp", path, sizeof(path));
	ck_assert_int_eq(recv_until(udp_fd, path, buf, sizeof(buf)), 0);
	assert_exec_alert(buf, path, FAC_DAEMON);
}
END_TEST

/*
 * The octet-counted frame (RFC 5425/6587: "LEN SP MSG") in s_server's
 * output whose message holds needle; copied into out. 0 or -ENOENT.
 */
static int tls_frame(const char *needle, char *out, size_t len)
{
	char file[128], *buf = NULL, *p;
	size_t n = 0;
	FILE *f;
	int rc = -ENOENT;

	snprintf(file, sizeof(file), "%s/tls.out", dir);
	f = fopen(file, "rb");
	if (!f)
		return -errno;
	buf = calloc(1, 1 << 20);
	if (buf)
		n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	for (p = buf; p && p < buf + n;) {
		char *end;
		unsigned long flen = strtoul(p, &end, 10);

		if (end == p || *end != ' ' || flen == 0 || end + 1 + flen > buf + n)
			break;	/* not a frame, or not all of it yet */
		if (memmem(end + 1, flen, needle, strlen(needle)) && flen < len) {
			memcpy(out, end + 1, flen);
			out[flen] = '\0';
			rc = 0;
			break;
		}
		p = end + 1 + flen;
	}
	free(buf);
	return rc;
}

START_TEST(test_tls_receiver_gets_octet_counted_rfc5424_frame)
{
	char path[64], frame[16384];
	struct json_object *st = NULL, *sinks;
	int rc = -ENOENT;

	need_setup();
	exec_from_tmp("tls", path, sizeof(path));
	for (int i = 0; i < RECV_MS / 250 && rc; i++) {
		rc = tls_frame(path, frame, sizeof(frame));
		if (rc)
			usleep(250000);
	}
	ck_assert_msg(rc == 0, "no octet-counted frame with %s from the TLS sink", path);
	assert_exec_alert(frame, path, FAC_DAEMON);
	ck_assert_int_eq(labd_call(&daemon_, "status", NULL, NULL, &st), 0);
	sinks = labd_get(st, "sinks");
	for (size_t i = 0; i < json_object_array_length(sinks); i++) {
		struct json_object *s = json_object_array_get_idx(sinks, i);

		fprintf(stderr, "lab_alerts: sink %s: sent %lld, dropped %lld, errors %lld\n",
			labd_str(s, "name"), labd_int(s, "sent"), labd_int(s, "dropped"),
			labd_int(s, "errors"));
		ck_assert_int_ge(labd_int(s, "sent"), 1);
		ck_assert_int_eq(labd_int(s, "dropped"), 0);
	}
	json_object_put(st);
}
END_TEST

static Suite *lab_alerts_suite(void)
{
	Suite *s = suite_create("lab_alerts");
	TCase *t = tcase_create("one guest, syslog and TLS receivers");

	tcase_add_unchecked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_unix_datagram_syslog_gets_rfc5424_with_rule_in_structured_data);
	tcase_add_test(t, test_udp_syslog_gets_rfc5424_with_rule_in_structured_data);
	tcase_add_test(t, test_tls_receiver_gets_octet_counted_rfc5424_frame);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lab_alerts_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
