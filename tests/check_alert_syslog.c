/*
 * check_alert_syslog.c - RFC 5424 syslog over a real unix datagram socket
 * and a real UDP socket on 127.0.0.1: what arrives is parsed field by field
 * (PRI, VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID, structured
 * data with its escaping, MSG); hostile and huge strings; a receiver that
 * stops reading (queue, counted drops, drain in order), that is absent, and
 * that restarts.
 */
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "alert.h"

#define SEC 1000000ull
#define T0 (1000 * SEC)
#define NPARAM 24

struct sd_elem {
	char id[40];
	int np;
	char name[NPARAM][40];
	char value[NPARAM][2048];
};

struct m5424 {
	int pri, ver;
	char ts[64], host[300], app[64], procid[140], msgid[40];
	int nsd;
	struct sd_elem sd[3];
	const char *msg;
};

/* One space-free header token of at most max printable ASCII chars. */
static int token(const char **p, char *out, size_t max)
{
	size_t n = 0;

	while (**p && **p != ' ') {
		if (n >= max || **p < 33 || **p > 126)
			return -1;
		out[n++] = *(*p)++;
	}
	out[n] = '\0';
	if (!n || **p != ' ')
		return -1;
	(*p)++;
	return 0;
}

static int parse_param(const char **p, struct sd_elem *e)
{
	size_t n = 0;

	if (e->np == NPARAM)
		return -1;
	while (**p && **p != '=' && n < 32)
		e->name[e->np][n++] = *(*p)++;
	e->name[e->np][n] = '\0';
	if (*(*p)++ != '=' || *(*p)++ != '"')
		return -1;
	for (n = 0; **p && **p != '"'; (*p)++) {
		if (**p == '\\' && (*p)[1] && strchr("\"\\]", (*p)[1]))
			(*p)++;
		else if (**p == ']')
			return -1;	/* must have been escaped */
		if (n + 1 >= sizeof(e->value[0]))
			return -1;
		e->value[e->np][n++] = **p;
	}
	e->value[e->np++][n] = '\0';
	return *(*p)++ == '"' ? 0 : -1;
}

static int parse_sd(const char **p, struct m5424 *r)
{
	if (**p == '-') {
		(*p)++;
		return 0;
	}
	while (**p == '[') {
		struct sd_elem *e = &r->sd[r->nsd++];
		size_t n = 0;

		(*p)++;
		while (**p && **p != ' ' && **p != ']' && n < 32)
			e->id[n++] = *(*p)++;
		e->id[n] = '\0';
		while (**p == ' ') {
			(*p)++;
			if (parse_param(p, e))
				return -1;
		}
		if (*(*p)++ != ']' || (r->nsd == 3 && **p == '['))
			return -1;
	}
	return r->nsd ? 0 : -1;
}

static int parse5424(const char *m, struct m5424 *r)
{
	const char *p = m;
	int n = 0;

	memset(r, 0, sizeof(*r));
	if (sscanf(p, "<%d>%d %n", &r->pri, &r->ver, &n) != 2 || !n ||
	    r->pri < 0 || r->pri > 191)
		return -1;
	p += n;
	if (token(&p, r->ts, 63) || token(&p, r->host, 255) ||
	    token(&p, r->app, 48) || token(&p, r->procid, 128) ||
	    token(&p, r->msgid, 32) || parse_sd(&p, r))
		return -1;
	if (*p && *p++ != ' ')
		return -1;
	r->msg = p;
	return 0;
}

static const char *sd(const struct m5424 *r, const char *id, const char *name)
{
	for (int i = 0; i < r->nsd; i++)
		for (int j = 0; !strcmp(r->sd[i].id, id) && j < r->sd[i].np; j++)
			if (!strcmp(r->sd[i].name[j], name))
				return r->sd[i].value[j];
	return NULL;
}

static bool no_controls(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 32 || s[i] == 127)
			return false;
	return true;
}

static int unix_rx(char *path, size_t cap)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/check_alert_syslog.XXXXXX";
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, cap, "%s/log", dir);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	return fd;
}

static void rx_done(int fd, const char *path)
{
	char dir[128];

	close(fd);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	unlink(path);
	rmdir(dir);
}

static int rebind(int fd, const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };

	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
	return fd;
}

/* One datagram, waiting at most 2 s; its length, or -1. */
static ssize_t rx(int fd, char *buf, size_t cap, bool wait)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, wait ? 2000 : 0) != 1)
		return -1;
	n = recv(fd, buf, cap - 1, 0);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static void mk_hostile(struct alert *a)
{
	alert_init(a, 1714564800123456ull, 1);
	alert_set_str(a, rule, "evil|rule\\x");
	alert_set_str(a, guest, "web\"01");
	alert_set_str(a, output, "a=b\\c\nd\re|f\x1b[31m\xc2\x85");
	alert_set_str(a, comm, "ev\nil\xff");
	alert_set_str(a, path, "/tmp/x=y z\"]");
	alert_set_str(a, xkind, "hidden");
	alert_add_tag(a, "mitre_t1014");
	alert_add_tag(a, "rootkit");
	a->pid = 666;
	a->has = ALERT_HAS_PID;
}

START_TEST(test_unix_dgram_message_is_rfc5424_with_escaped_sd)
{
	struct alert_sink_conf c = { .hostname = "dom0-a", .facility = LOG_LOCAL3 };
	struct alert_sink *s;
	char path[128], buf[16384], pid[16];
	struct m5424 r;
	struct alert a;
	int fd = unix_rx(path, sizeof(path));
	ssize_t n;

	c.path = path;
	ck_assert_int_eq(alert_syslog_new(&c, ALERT_SYSLOG_UNIX, &s), 0);
	ck_assert_int_eq(alert_sink_open(s, T0), 0);
	mk_hostile(&a);
	ck_assert_int_eq(alert_sink_emit(s, &a, T0), 0);
	n = rx(fd, buf, sizeof(buf), true);
	ck_assert_int_gt(n, 0);
	ck_assert(no_controls(buf, (size_t)n));
	ck_assert_int_eq(parse5424(buf, &r), 0);
	ck_assert_int_eq(r.pri, 19 * 8 + 1);	/* local3, alert */
	ck_assert_int_eq(r.ver, 1);
	ck_assert_str_eq(r.ts, "2024-05-01T12:00:00.123456Z");
	ck_assert_str_eq(r.host, "dom0-a");
	ck_assert_str_eq(r.app, "upcalld");
	snprintf(pid, sizeof(pid), "%d", getpid());
	ck_assert_str_eq(r.procid, pid);
	ck_assert_str_eq(r.msgid, "alert");
	ck_assert_int_eq(r.nsd, 2);
	ck_assert_str_eq(r.sd[0].id, "upcalld@32473");
	ck_assert_str_eq(sd(&r, ALERT_SD_ID, "guest"), "web\"01");
	ck_assert_str_eq(sd(&r, ALERT_SD_ID, "rule"), "evil|rule\\x");
	ck_assert_str_eq(sd(&r, ALERT_SD_ID, "path"), "/tmp/x=y z\"]");
	ck_assert_str_eq(sd(&r, ALERT_SD_ID, "comm"), "ev\\x0ail\xef\xbf\xbd");
	ck_assert_str_eq(sd(&r, ALERT_SD_ID, "pid"), "666");
	ck_assert_str_eq(sd(&r, ALERT_SD_ID, "tags"), "mitre_t1014,rootkit");
	ck_assert_ptr_null(sd(&r, ALERT_SD_ID, "ppid"));
	ck_assert_str_eq(sd(&r, "meta", "sequenceId"), "1");
	ck_assert_str_eq(r.msg, "\xef\xbb\xbf" "a=b\\\\c\\x0ad\\x0de|f\\x1b[31m\\u0085");
	ck_assert_uint_eq(s->st.sent, 1);
	alert_sink_free(s);
	rx_done(fd, path);
}
END_TEST

START_TEST(test_udp_message_arrives_with_the_same_fields)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	struct alert_sink_conf c = { .hostname = "dom0-b", .host = "127.0.0.1" };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct alert_sink *s;
	char port[16], buf[16384];
	struct m5424 r;
	struct alert a;

	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
	c.port = port;
	ck_assert_int_eq(alert_syslog_new(&c, ALERT_SYSLOG_UDP, &s), 0);
	ck_assert_int_eq(alert_sink_open(s, T0), 0);
	mk_hostile(&a);
	a.summary = true;
	a.dups = 12;
	alert_sink_emit(s, &a, T0);
	alert_sink_emit(s, &a, T0);
	ck_assert_int_gt(rx(fd, buf, sizeof(buf), true), 0);
	ck_assert_int_gt(rx(fd, buf, sizeof(buf), true), 0);
	ck_assert_int_eq(parse5424(buf, &r), 0);
	ck_assert_int_eq(r.pri, 3 * 8 + 1);	/* default facility daemon */
	ck_assert_str_eq(r.host, "dom0-b");
	ck_assert_str_eq(r.msgid, "summary");
	ck_assert_str_eq(sd(&r, ALERT_SD_ID, "dups"), "12");
	ck_assert_str_eq(sd(&r, ALERT_SD_ID, "summary"), "1");
	ck_assert_str_eq(sd(&r, "meta", "sequenceId"), "2");
	alert_sink_free(s);
	close(fd);
}
END_TEST

START_TEST(test_huge_fields_are_capped_at_max_len_and_still_parse)
{
	struct alert_sink_conf c = { .hostname = "h", .max_len = 2048 };
	struct alert_fmt f;
	struct alert_buf b;
	char *big = malloc(1u << 20);
	struct m5424 r;
	struct alert a;

	memset(big, ']', (1u << 20) - 1);
	big[(1u << 20) - 1] = '\0';
	ck_assert_int_eq(alert_fmt_init(&f, &c), 0);
	alert_buf_init(&b, 0);
	mk_hostile(&a);
	alert_set_str(&a, path, big);
	alert_set_str(&a, xreason, big);
	alert_set_str(&a, output, big);
	ck_assert_int_eq(alert_syslog_format(&f, &a, 1, &b), 0);
	ck_assert_uint_le(b.len, 2048);
	ck_assert_int_eq(parse5424(b.p, &r), 0);
	ck_assert_uint_le(strlen(sd(&r, ALERT_SD_ID, "path")), 256);
	ck_assert_ptr_nonnull(strstr(sd(&r, ALERT_SD_ID, "path"), ALERT_TRUNC_MARK));
	ck_assert_ptr_nonnull(strstr(r.msg, ALERT_TRUNC_MARK));
	/* at the RFC minimum our element goes, the message stays valid */
	alert_buf_reset(&b);
	c.max_len = 480;
	ck_assert_int_eq(alert_fmt_init(&f, &c), 0);
	ck_assert_int_eq(alert_syslog_format(&f, &a, 1, &b), 0);
	ck_assert_uint_le(b.len, 480);
	ck_assert_int_eq(parse5424(b.p, &r), 0);
	ck_assert_str_eq(sd(&r, "meta", "sequenceId"), "1");
	c.max_len = 100;
	ck_assert_int_eq(alert_fmt_init(&f, &c), -EINVAL);
	alert_buf_release(&b);
	free(big);
}
END_TEST

START_TEST(test_cef_body_over_udp_has_no_bom_and_only_meta_sd)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	struct alert_sink_conf c = { .hostname = "h", .host = "127.0.0.1",
				     .body = ALERT_BODY_CEF };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct alert_sink *s;
	char port[16], buf[16384];
	struct m5424 r;
	struct alert a;

	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
	c.port = port;
	ck_assert_int_eq(alert_syslog_new(&c, ALERT_SYSLOG_UDP, &s), 0);
	alert_sink_open(s, T0);
	mk_hostile(&a);
	alert_sink_emit(s, &a, T0);
	ck_assert_int_gt(rx(fd, buf, sizeof(buf), true), 0);
	ck_assert_int_eq(parse5424(buf, &r), 0);
	ck_assert_int_eq(r.nsd, 1);
	ck_assert_str_eq(r.sd[0].id, "meta");
	ck_assert_int_eq(strncmp(r.msg, "CEF:0|upcalld|upcalld|", 22), 0);
	ck_assert_ptr_nonnull(strstr(r.msg, "|evil\\|rule\\\\x|"));
	ck_assert_ptr_nonnull(strstr(r.msg, " msg=a\\=b\\\\c\\nd\\re|f [31m "));
	alert_sink_free(s);
	close(fd);
}
END_TEST

/* Let the sink write what it queued: POLLOUT, on_ready. */
static void pump_sink(struct alert_sink *s)
{
	short ev;
	int fd = alert_sink_poll_fd(s, &ev);
	struct pollfd p = { .fd = fd, .events = ev };

	if (fd >= 0 && poll(&p, 1, 100) == 1)
		alert_sink_on_ready(s, p.revents, T0);
}

START_TEST(test_full_receiver_queues_then_drops_counted_then_drains_in_order)
{
	struct alert_sink_conf c = { .hostname = "h", .queue_max = 8 };
	struct alert_sink *s;
	char path[128], buf[16384];
	unsigned long last = 0, got = 0, gaps = 0;
	struct m5424 r;
	struct alert a;
	int fd = unix_rx(path, sizeof(path));

	c.path = path;
	ck_assert_int_eq(alert_syslog_new(&c, ALERT_SYSLOG_UNIX, &s), 0);
	alert_sink_open(s, T0);
	mk_hostile(&a);
	for (int i = 0; i < 5000; i++)
		alert_sink_emit(s, &a, T0);
	ck_assert_uint_eq(s->st.queued, 8);
	ck_assert_uint_gt(s->st.dropped[ALERT_DROP_QUEUE_FULL], 0);
	ck_assert_uint_eq(s->st.sent + s->st.queued +
			  s->st.dropped[ALERT_DROP_QUEUE_FULL], 5000);
	for (int i = 0; i < 100000 && (s->st.queued || got < s->st.sent); i++) {
		unsigned long seq;

		while (rx(fd, buf, sizeof(buf), false) > 0) {
			ck_assert_int_eq(parse5424(buf, &r), 0);
			seq = strtoul(sd(&r, "meta", "sequenceId"), NULL, 10);
			ck_assert_uint_gt(seq, last);	/* in order */
			gaps += seq - last - 1;
			last = seq;
			got++;
		}
		pump_sink(s);
	}
	ck_assert_uint_eq(s->st.queued, 0);
	ck_assert_uint_eq(got, s->st.sent);
	/* The oldest were kept: the next alert shows the gap of the drops. */
	ck_assert_uint_eq(last, s->st.sent);
	alert_sink_emit(s, &a, T0);
	ck_assert_int_gt(rx(fd, buf, sizeof(buf), true), 0);
	ck_assert_int_eq(parse5424(buf, &r), 0);
	ck_assert_str_eq(sd(&r, "meta", "sequenceId"), "5001");
	gaps += 5001 - last - 1;
	ck_assert_uint_eq(gaps, s->st.dropped[ALERT_DROP_QUEUE_FULL]);
	alert_sink_free(s);
	rx_done(fd, path);
}
END_TEST

START_TEST(test_absent_then_restarted_receiver_gets_queued_alerts)
{
	struct alert_sink_conf c = { .hostname = "h", .backoff_min_us = SEC };
	char path[128], buf[16384];
	struct alert_sink *s;
	struct m5424 r;
	struct alert a;
	int fd = unix_rx(path, sizeof(path));

	c.path = path;
	ck_assert_int_eq(alert_syslog_new(&c, ALERT_SYSLOG_UNIX, &s), 0);
	close(fd);
	unlink(path);
	ck_assert_int_lt(alert_sink_open(s, T0), 0);	/* nobody there */
	ck_assert_uint_eq(s->st.errors, 1);
	mk_hostile(&a);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(alert_sink_emit(s, &a, T0), 0);
	ck_assert_uint_eq(s->st.queued, 3);
	fd = rebind(-1, path);
	ck_assert_int_eq(alert_sink_tick(s, T0 + SEC / 2), SEC / 2);
	ck_assert_int_eq(alert_sink_tick(s, T0 + SEC), -1);	/* reconnected */
	ck_assert_uint_eq(s->st.sent, 3);
	for (int i = 1; i <= 3; i++) {
		ck_assert_int_gt(rx(fd, buf, sizeof(buf), true), 0);
		ck_assert_int_eq(parse5424(buf, &r), 0);
		ck_assert_int_eq(atoi(sd(&r, "meta", "sequenceId")), i);
	}
	/* the receiver restarts: the old connection is refused, we reconnect */
	fd = rebind(fd, path);
	ck_assert_int_eq(alert_sink_emit(s, &a, T0 + 2 * SEC), 0);
	ck_assert_uint_eq(s->st.queued, 1);
	ck_assert_uint_eq(s->st.errors, 2);
	alert_sink_tick(s, T0 + 4 * SEC);
	ck_assert_int_gt(rx(fd, buf, sizeof(buf), true), 0);
	ck_assert_int_eq(parse5424(buf, &r), 0);
	ck_assert_int_eq(atoi(sd(&r, "meta", "sequenceId")), 4);
	ck_assert_uint_eq(s->st.connects, 2);
	alert_sink_free(s);
	rx_done(fd, path);
}
END_TEST

START_TEST(test_udp_icmp_refusal_counts_the_lost_datagram)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	struct alert_sink_conf c = { .hostname = "h", .host = "127.0.0.1" };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct alert_sink *s;
	char port[16];
	struct alert a;

	/* a port nobody listens on: bind one, note it, close it */
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	close(fd);
	snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
	c.port = port;
	ck_assert_int_eq(alert_syslog_new(&c, ALERT_SYSLOG_UDP, &s), 0);
	ck_assert_int_eq(alert_sink_open(s, T0), 0);
	mk_hostile(&a);
	alert_sink_emit(s, &a, T0);		/* goes out, ICMP comes back */
	ck_assert_uint_eq(s->st.sent, 1);
	usleep(50000);
	alert_sink_emit(s, &a, T0);
	ck_assert_uint_eq(s->st.dropped[ALERT_DROP_IO], 1);
	ck_assert_uint_eq(s->st.queued, 1);	/* kept for the reconnect */
	ck_assert_ptr_nonnull(strstr(s->last_error, "refused"));
	alert_sink_free(s);
}
END_TEST

START_TEST(test_bad_config_is_refused)
{
	struct alert_sink_conf c = { .path = "/tmp/" };
	char longp[200];
	struct alert_sink *s;

	memset(longp, 'x', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	c.path = longp;
	ck_assert_int_eq(alert_syslog_new(&c, ALERT_SYSLOG_UNIX, &s),
			 -ENAMETOOLONG);
	c.path = NULL;
	ck_assert_int_eq(alert_syslog_new(&c, ALERT_SYSLOG_UDP, &s), -EINVAL);
	c.host = "127.0.0.1";
	c.facility = 5;				/* not a LOG_* facility */
	ck_assert_int_eq(alert_syslog_new(&c, ALERT_SYSLOG_UDP, &s), -EINVAL);
}
END_TEST

static Suite *syslog_suite(void)
{
	Suite *s = suite_create("alert_syslog");
	TCase *t = tcase_create("syslog");

	tcase_add_test(t, test_unix_dgram_message_is_rfc5424_with_escaped_sd);
	tcase_add_test(t, test_udp_message_arrives_with_the_same_fields);
	tcase_add_test(t, test_huge_fields_are_capped_at_max_len_and_still_parse);
	tcase_add_test(t, test_cef_body_over_udp_has_no_bom_and_only_meta_sd);
	tcase_add_test(t, test_full_receiver_queues_then_drops_counted_then_drains_in_order);
	tcase_add_test(t, test_absent_then_restarted_receiver_gets_queued_alerts);
	tcase_add_test(t, test_udp_icmp_refusal_counts_the_lost_datagram);
	tcase_add_test(t, test_bad_config_is_refused);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(syslog_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
