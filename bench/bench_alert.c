/*
 * bench_alert.c - what one alert costs: each formatter (RFC 5424 syslog,
 * syslog with a CEF body, JSON/ECS via json-c, CEF, and the RFC 5425 frame)
 * for a typical and a hostile alert, the hub's own work (dedup digest,
 * token bucket, fan-out), and whole sinks writing to /dev/null (JSON) and
 * to a local UDP socket (syslog). Prints ns per alert, in this thread's
 * CPU time (kernel time included), so that other load on the machine
 * does not inflate the figures.
 */
#include <time.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alert.h"

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void typical(struct alert *a)
{
	alert_init(a, alert_now_real(), 2);
	alert_set_str(a, rule, "hidden_process");
	alert_set_str(a, desc, "A process in guest memory is missing from "
		      "the guest's own process list");
	alert_set_str(a, guest, "web01");
	alert_set_str(a, backend, "xen");
	alert_set_str(a, event, "cr3_write");
	alert_set_str(a, output, "hidden process pid=4242 comm=kworker/u:3 "
		      "in memory but not in the agent's answer (guest web01)");
	alert_set_str(a, comm, "kworker/u:3");
	alert_set_str(a, xkind, "hidden");
	alert_set_str(a, xobject, "process");
	alert_set_str(a, xreason, "present in both memory snapshots");
	alert_add_tag(a, "mitre_t1014");
	a->pid = 4242, a->ppid = 2, a->uid = 0;
	a->has = ALERT_HAS_PID | ALERT_HAS_PPID | ALERT_HAS_UID;
}

/* Every field full of characters that need escaping. */
static void hostile(struct alert *a)
{
	char s[ALERT_OUTPUT_MAX];

	typical(a);
	for (size_t i = 0; i + 1 < sizeof(s); i++)
		s[i] = "\"\\]|=\n\x1b\xff"[i % 8];
	s[sizeof(s) - 1] = '\0';
	alert_set_str(a, output, s);
	alert_set_str(a, path, s);
	alert_set_str(a, xreason, s);
	alert_set_str(a, desc, s);
	alert_set_str(a, comm, s);
}

static double bench_fmt(alert_format_fn *fn, const struct alert_fmt *f,
			const struct alert *a, int n, size_t *len)
{
	struct alert_buf b;
	uint64_t t0;

	alert_buf_init(&b, 0);
	t0 = cpu_ns();
	for (int i = 0; i < n; i++) {
		alert_buf_reset(&b);
		fn(f, a, (uint64_t)i + 1, &b);
	}
	t0 = cpu_ns() - t0;
	*len = b.len;
	alert_buf_release(&b);
	return (double)t0 / n;
}

/* The TLS sink's work before SSL_write: syslog message + octet frame. */
static int tls_frame(const struct alert_fmt *f, const struct alert *a,
		     uint64_t seq, struct alert_buf *out)
{
	static struct alert_buf msg;

	if (!msg.limit)
		alert_buf_init(&msg, 0);
	alert_buf_reset(&msg);
	alert_syslog_format(f, a, seq, &msg);
	alert_buf_printf(out, "%zu ", msg.len);
	alert_buf_put(out, msg.p, msg.len);
	return out->err;
}

static int noop_emit(struct alert_sink *s, const struct alert *a, uint64_t now)
{
	s->st.sent++;
	return 0;
}

static void noop_free(struct alert_sink *s)
{
	free(s);
}

static const struct alert_sink_ops noop_ops = {
	.kind = "noop", .emit = noop_emit, .free = noop_free,
};

static double bench_hub(bool dedup, int n)
{
	struct alert_hub_conf hc = { .no_rate_limit = true, .no_dedup = !dedup };
	struct alert_sink *s = calloc(1, sizeof(*s));
	struct alert_hub *h;
	struct alert a;
	uint64_t t0;

	alert_hub_new(&hc, &h);
	alert_sink_base_init(s, &noop_ops, NULL);
	alert_hub_add(h, s, 0);
	typical(&a);
	t0 = cpu_ns();
	for (int i = 0; i < n; i++) {
		a.pid = i;	/* a new key each time: insert and evict */
		alert_emit(h, &a, (uint64_t)i);
	}
	t0 = cpu_ns() - t0;
	alert_hub_free(h);
	return (double)t0 / n;
}

static double bench_sink(struct alert_sink *s, const struct alert *a, int n,
			 int drain_fd)
{
	char buf[65536];
	uint64_t t0, spent = 0;

	alert_sink_open(s, alert_now_mono());
	for (int i = 0; i < n; i += 64) {
		t0 = cpu_ns();
		for (int k = 0; k < 64; k++)
			alert_sink_emit(s, a, alert_now_mono());
		spent += cpu_ns() - t0;
		while (drain_fd >= 0 && recv(drain_fd, buf, sizeof(buf),
					     MSG_DONTWAIT) > 0)
			;
	}
	if (alert_sink_dropped(s))
		printf("  (%llu dropped)\n",
		       (unsigned long long)alert_sink_dropped(s));
	alert_sink_free(s);
	return (double)spent / n;
}

int main(void)
{
	struct alert_sink_conf c = { .hostname = "dom0-bench" };
	struct alert_sink_conf cc = c;
	struct alert_fmt f, fc;
	struct alert t, h;
	const int n = 100000;
	static const struct { const char *name; alert_format_fn *fn; int cef; }
	fmts[] = {
		{ "syslog rfc5424", alert_syslog_format, 0 },
		{ "syslog + cef body", alert_syslog_format, 1 },
		{ "tls frame (5425)", tls_frame, 0 },
		{ "json (ecs, json-c)", alert_json_format, 0 },
		{ "cef", alert_cef_format, 0 },
	};

	cc.body = ALERT_BODY_CEF;
	alert_fmt_init(&f, &c);
	alert_fmt_init(&fc, &cc);
	typical(&t);
	hostile(&h);
	printf("formatting, ns per alert (bytes): typical | hostile\n");
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		size_t l1, l2;
		const struct alert_fmt *ff = fmts[i].cef ? &fc : &f;
		double a = bench_fmt(fmts[i].fn, ff, &t, n, &l1);
		double b = bench_fmt(fmts[i].fn, ff, &h, n / 10, &l2);

		printf("  %-20s %8.0f (%5zu) | %8.0f (%5zu)\n", fmts[i].name,
		       a, l1, b, l2);
	}
	printf("hub, ns per alert: fan-out only %.0f, with dedup (SHA-256) "
	       "and table churn %.0f\n", bench_hub(false, n), bench_hub(true, n));

	{
		struct alert_sink_conf jc = c;
		struct alert_sink *s;

		jc.path = "/dev/null";
		alert_json_new(&jc, &s);
		printf("json sink -> /dev/null: %.0f ns per alert\n",
		       bench_sink(s, &t, n, -1));
	}
	{
		struct sockaddr_in sin = { .sin_family = AF_INET,
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t sl = sizeof(sin);
		int fd = socket(AF_INET, SOCK_DGRAM, 0), big = 8 << 20;
		struct alert_sink_conf uc = c;
		struct alert_sink *s;
		char port[16];

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		bind(fd, (struct sockaddr *)&sin, sizeof(sin));
		getsockname(fd, (struct sockaddr *)&sin, &sl);
		snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));
		uc.host = "127.0.0.1";
		uc.port = port;
		alert_syslog_new(&uc, ALERT_SYSLOG_UDP, &s);
		printf("syslog sink -> udp 127.0.0.1: %.0f ns per alert\n",
		       bench_sink(s, &t, n, fd));
		close(fd);
	}
	return 0;
}
