/*
 * alert.h - one alert record, many sinks.
 *
 * The rule engine fills a struct alert and hands it to alert_emit(). The
 * hub (struct alert_hub) applies deduplication and a per-rule rate limit,
 * then fans the record out to its sinks: RFC 5424 syslog (unix datagram,
 * UDP), RFC 5425 syslog over TLS, JSON lines with Elastic Common Schema
 * names, and CEF. Sinks embed struct alert_sink first and are reached only
 * through the alert_sink_*() inline wrappers (the pattern of hv.h).
 *
 * Nothing here blocks: every network write is non-blocking; what cannot go
 * now waits in the sink's bounded queue; what does not fit there is
 * dropped and counted per sink and per reason, and drops are reported to
 * the daemon's own log (syslog(3), or the hub's log callback). Alerts held
 * back by dedup or the rate limit are counted per rule and the count rides
 * on the next alert of that rule, or on a summary alert from
 * alert_hub_tick() if none comes.
 *
 * Time: sinks and the hub take "now" as CLOCK_MONOTONIC microseconds
 * (alert_now_mono()) so tests can inject time; the alert's own timestamp is
 * CLOCK_REALTIME microseconds (alert_now_real()).
 *
 * Ownership: a struct alert owns all its strings (fixed arrays in the
 * record; no pointers), so it may be copied with memcpy and needs no free.
 * Every string in it is NUL-terminated valid UTF-8 when set through
 * alert_set_str(): longer input is cut at a character boundary and ends in
 * ALERT_TRUNC_MARK; invalid UTF-8 becomes U+FFFD. Sinks still treat the
 * record as untrusted text (guest names, comm, paths come from the guest)
 * and escape it for their format. alert_emit() borrows the record.
 * alert_hub_add() takes ownership of the sink (also when it fails).
 *
 * Threading: a hub and its sinks are used from one thread (the event loop).
 */
#ifndef UPCALLD_ALERT_H
#define UPCALLD_ALERT_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef UPCALLD_VERSION
#define UPCALLD_VERSION "0.1"
#endif

/* Field caps (bytes, with the NUL). Guest-derived text never exceeds them. */
#define ALERT_GUEST_MAX 64
#define ALERT_RULE_MAX 128
#define ALERT_DESC_MAX 512
#define ALERT_OUTPUT_MAX 2048
#define ALERT_COMM_MAX 64
#define ALERT_MODULE_MAX 64
#define ALERT_PATH_MAX 1024
#define ALERT_WORD_MAX 32		/* kinds, event type, backend, a tag */
#define ALERT_REASON_MAX 512
#define ALERT_TAGS_MAX 8
#define ALERT_HOST_MAX 256
/* No character any format escapes: it is appended as is. */
#define ALERT_TRUNC_MARK "...(truncated)"

/* RFC 5424 SD-ID. 32473 is the documentation PEN (RFC 5612). */
#define ALERT_SD_ID "upcalld@32473"

/* Which optional numeric fields are set (struct alert.has). */
enum alert_has {
	ALERT_HAS_PID = 1u << 0,
	ALERT_HAS_PPID = 1u << 1,
	ALERT_HAS_UID = 1u << 2,
	ALERT_HAS_FD = 1u << 3,
};

struct alert {
	uint64_t time_us;		/* CLOCK_REALTIME, µs since the epoch */
	uint8_t priority;		/* syslog severity: 0 emerg .. 7 debug */
	unsigned int has;		/* enum alert_has */
	int32_t pid, ppid, fd;
	uint32_t uid;
	/* Set by the hub on the copy it fans out; 0 from the rule engine. */
	uint64_t dups;			/* duplicates suppressed before this one */
	uint64_t held;			/* held back by this rule's rate limit */
	bool summary;			/* a hub summary, not a rule's alert */
	char guest[ALERT_GUEST_MAX];	/* the monitored guest */
	char backend[ALERT_WORD_MAX];	/* "xen", "qemu" */
	char rule[ALERT_RULE_MAX];
	char desc[ALERT_DESC_MAX];	/* rule description */
	char output[ALERT_OUTPUT_MAX];	/* the rule's formatted output */
	char event[ALERT_WORD_MAX];	/* trigger: "cr3_write", "interval" */
	char comm[ALERT_COMM_MAX];	/* process name */
	char module[ALERT_MODULE_MAX];	/* kernel module name */
	char path[ALERT_PATH_MAX];	/* file path */
	char xkind[ALERT_WORD_MAX];	/* cross-check: "hidden", "phantom" */
	char xobject[ALERT_WORD_MAX];	/* cross-check: "process", "module" */
	char xreason[ALERT_REASON_MAX];	/* cross-check detail */
	unsigned int ntags;
	char tags[ALERT_TAGS_MAX][ALERT_WORD_MAX];
};

/* Zero the record and set its time and priority (clamped to 0..7). */
void alert_init(struct alert *a, uint64_t time_us, int priority);

/*
 * Copy src (NULL = "") into dst[cap] as valid UTF-8, cut at a character
 * boundary with ALERT_TRUNC_MARK if it does not fit. Reads at most a few
 * bytes past what fits, never all of a huge src. Returns true if src was
 * changed (cut or repaired).
 */
bool alert_copy(char *dst, size_t cap, const char *src);
#define alert_set_str(a, field, src) \
	alert_copy((a)->field, sizeof((a)->field), (src))
/* Append a tag; -ENOSPC past ALERT_TAGS_MAX. */
int alert_add_tag(struct alert *a, const char *tag);

/*
 * RFC 3339 UTC with microseconds, "2024-05-01T12:00:00.123456Z", into
 * buf[ALERT_TIME_MAX]. Returns false (buf = "-") past year 9999.
 */
#define ALERT_TIME_MAX 96
bool alert_time_str(uint64_t time_us, char *buf);

uint64_t alert_now_mono(void);
uint64_t alert_now_real(void);
/* "emergency" .. "debug"; "invalid" out of range. */
const char *alert_severity_str(int sev);

/* UTF-8: length (1-4) of the valid sequence at s[0..n), 0 if invalid. */
size_t alert_utf8_len(const unsigned char *s, size_t n);

/* --- growable output buffer with a hard size limit ---------------------- */

struct alert_buf {
	char *p;		/* NUL-terminated while !err */
	size_t len, cap;
	size_t limit;		/* never grows past this many bytes */
	int err;		/* sticky: -ENOMEM or -E2BIG */
};

/* How text is escaped for a format. Invalid UTF-8 -> U+FFFD in all. */
enum alert_esc {
	ALERT_ESC_NONE,		/* JSON via json-c (it escapes) */
	ALERT_ESC_MSG,		/* syslog MSG: \ -> \\, controls -> \xHH */
	ALERT_ESC_SD,		/* SD value: " \ ] escaped, controls -> \xHH */
	ALERT_ESC_CEF_HDR,	/* | \ escaped, controls -> space */
	ALERT_ESC_CEF_EXT,	/* \ = escaped, \n \r, controls -> space */
};

void alert_buf_init(struct alert_buf *b, size_t limit);
void alert_buf_release(struct alert_buf *b);
void alert_buf_reset(struct alert_buf *b);
void alert_buf_put(struct alert_buf *b, const void *s, size_t n);
void alert_buf_puts(struct alert_buf *b, const char *s);
__attribute__((format(printf, 2, 3)))
void alert_buf_printf(struct alert_buf *b, const char *fmt, ...);
void alert_buf_put_i64(struct alert_buf *b, int64_t v);
/*
 * Append s escaped for mode, using at most cap bytes of output: if more
 * would be needed it stops at a character boundary and ends with
 * ALERT_TRUNC_MARK (within cap). Returns true if it truncated.
 */
bool alert_buf_put_esc(struct alert_buf *b, const char *s, size_t cap,
		       enum alert_esc mode);

/* --- a bounded queue of formatted messages ------------------------------ */

struct alert_msg {
	size_t len;
	char data[];
};

struct alert_queue {
	struct alert_msg **ring;
	unsigned int head, count, max;	/* max messages */
	size_t bytes, max_bytes;	/* payload bytes now / at most */
};

int alert_queue_init(struct alert_queue *q, unsigned int max, size_t max_bytes);
/* Frees every message; returns how many there were. */
unsigned int alert_queue_release(struct alert_queue *q);
bool alert_queue_full(const struct alert_queue *q, size_t len);
/* Copies data. -ENOBUFS when full (counted by the caller), -ENOMEM. */
int alert_queue_push(struct alert_queue *q, const void *data, size_t len);
static inline struct alert_msg *alert_queue_head(const struct alert_queue *q)
{
	return q->count ? q->ring[q->head] : NULL;
}
void alert_queue_pop(struct alert_queue *q);

/* --- sinks --------------------------------------------------------------- */

enum alert_drop {
	ALERT_DROP_QUEUE_FULL,	/* the sink's bounded queue was full */
	ALERT_DROP_IO,		/* refused for good (EMSGSIZE); over UDP, an
				 * ICMP error: an earlier datagram was lost */
	ALERT_DROP_FORMAT,	/* could not be formatted (out of memory) */
	ALERT_DROP_CLOSED,	/* still queued when the sink was closed */
	ALERT_DROP__N
};
const char *alert_drop_str(enum alert_drop d);

struct alert_sink_stats {
	uint64_t offered;		/* alerts handed to the sink */
	uint64_t sent;			/* handed to the kernel (fd, socket) */
	uint64_t queued;		/* waiting now */
	uint64_t queued_peak;
	uint64_t dropped[ALERT_DROP__N];
	uint64_t errors;		/* failed writes, connects, handshakes */
	uint64_t connects;		/* successful (re)connections */
};

typedef void alert_log_fn(void *ctx, int prio, const char *msg);
/* The default alert_log_fn: syslog(3). */
void alert_log_syslog(void *ctx, int prio, const char *msg);

struct alert_sink;

/*
 * The sink contract. No op blocks. Every alert offered to emit ends up
 * sent, queued, or counted in stats.dropped[]: never lost silently.
 */
struct alert_sink_ops {
	const char *kind;	/* "syslog", "json", "cef", "tls" */
	/*
	 * (Re)open the destination: reopen a file (after log rotation),
	 * reconnect a socket. Network sinks do not fail when the peer is
	 * down: they queue and retry from tick.
	 */
	int (*open)(struct alert_sink *s, uint64_t now);
	/* Format and send or queue. 0, or -errno when dropped (counted). */
	int (*emit)(struct alert_sink *s, const struct alert *a, uint64_t now);
	/* The fd to poll and the events wanted, or -1. */
	int (*poll_fd)(struct alert_sink *s, short *events);
	void (*on_ready)(struct alert_sink *s, short revents, uint64_t now);
	/* Timers (reconnect, handshake timeout); µs until next wanted, or -1. */
	int64_t (*tick)(struct alert_sink *s, uint64_t now);
	/* Send what can go without blocking, count the rest ALERT_DROP_CLOSED. */
	void (*close)(struct alert_sink *s);
	void (*free)(struct alert_sink *s);
};

#define ALERT_SINK_NAME_MAX 64
struct alert_sink {
	const struct alert_sink_ops *ops;
	char name[ALERT_SINK_NAME_MAX];
	struct alert_sink_stats st;
	uint64_t seq;			/* per-sink sequence, one per offer */
	char last_error[160];
	alert_log_fn *log;		/* set by the hub; default syslog(3) */
	void *log_ctx;
	uint64_t drops_reported;	/* for the periodic drop summary */
	uint8_t max_severity;		/* least severe sent (7 = all); set by owner */
	uint64_t filtered;		/* alerts below this sink's threshold */
};

static inline int alert_sink_open(struct alert_sink *s, uint64_t now)
{
	return s->ops->open ? s->ops->open(s, now) : 0;
}

static inline int alert_sink_emit(struct alert_sink *s, const struct alert *a,
				  uint64_t now)
{
	s->st.offered++;
	s->seq++;
	return s->ops->emit(s, a, now);
}

static inline int alert_sink_poll_fd(struct alert_sink *s, short *events)
{
	*events = 0;
	return s->ops->poll_fd ? s->ops->poll_fd(s, events) : -1;
}

static inline void alert_sink_on_ready(struct alert_sink *s, short revents,
				       uint64_t now)
{
	if (s->ops->on_ready)
		s->ops->on_ready(s, revents, now);
}

static inline int64_t alert_sink_tick(struct alert_sink *s, uint64_t now)
{
	return s->ops->tick ? s->ops->tick(s, now) : -1;
}

static inline void alert_sink_close(struct alert_sink *s)
{
	if (s->ops->close)
		s->ops->close(s);
}

/* Close (counting what is left as dropped) and free. NULL is fine. */
static inline void alert_sink_free(struct alert_sink *s)
{
	if (!s)
		return;
	alert_sink_close(s);
	s->ops->free(s);
}

/* For sink implementations: base init, counted drops, errors, logging. */
void alert_sink_base_init(struct alert_sink *s, const struct alert_sink_ops *ops,
			  const char *name);
void alert_sink_drop(struct alert_sink *s, enum alert_drop why, uint64_t n);
__attribute__((format(printf, 3, 4)))
void alert_sink_error(struct alert_sink *s, int prio, const char *fmt, ...);
uint64_t alert_sink_dropped(const struct alert_sink *s);

/*
 * Configuration shared by all sinks; each reads the fields it needs.
 * Zero means default for every field.
 */
enum alert_body { ALERT_BODY_TEXT, ALERT_BODY_CEF };

struct alert_sink_conf {
	const char *name;		/* for logs and stats */
	const char *hostname;		/* this dom0; default gethostname() */
	const char *app;		/* APP-NAME; default "upcalld" */
	const char *path;		/* json/cef file, or unix socket */
	const char *host, *port;	/* udp/tls peer (resolved at _new) */
	const char *ca_file;		/* tls: trust anchors (required) */
	const char *cert_file, *key_file; /* tls: optional client cert */
	int facility;			/* LOG_* from syslog.h; 0 = LOG_DAEMON */
	enum alert_body body;		/* syslog/tls message body */
	size_t max_len;			/* syslog message cap; 8192 */
	unsigned int queue_max;		/* messages; 1024 */
	size_t queue_bytes;		/* 4 MiB */
	uint64_t backoff_min_us;	/* 500 ms */
	uint64_t backoff_max_us;	/* 60 s */
	uint64_t connect_timeout_us;	/* connect + handshake; 10 s */
};

/* Resolved formatting identity, shared by the formatters. */
struct alert_fmt {
	char hostname[ALERT_HOST_MAX];	/* printable ASCII or "-" */
	char app[49];
	int pid;
	int facility;			/* LOG_* value */
	enum alert_body body;
	size_t max_len;
};
int alert_fmt_init(struct alert_fmt *f, const struct alert_sink_conf *c);

/* Formatters (append one message, no trailing newline). 0 or -errno. */
int alert_syslog_format(const struct alert_fmt *f, const struct alert *a,
			uint64_t seq, struct alert_buf *out);
int alert_json_format(const struct alert_fmt *f, const struct alert *a,
		      uint64_t seq, struct alert_buf *out);
int alert_cef_format(const struct alert_fmt *f, const struct alert *a,
		     uint64_t seq, struct alert_buf *out);
/* CEF severity 0..10 from syslog severity 0..7. */
int alert_cef_severity(int syslog_sev);

/*
 * Sink constructors: 0 and *out, or -errno. Nothing is opened yet:
 * alert_hub_add() (or alert_sink_open()) does that.
 */
enum alert_syslog_transport { ALERT_SYSLOG_UNIX, ALERT_SYSLOG_UDP };
int alert_syslog_new(const struct alert_sink_conf *c,
		     enum alert_syslog_transport t, struct alert_sink **out);
int alert_json_new(const struct alert_sink_conf *c, struct alert_sink **out);
int alert_cef_new(const struct alert_sink_conf *c, struct alert_sink **out);
int alert_tls_new(const struct alert_sink_conf *c, struct alert_sink **out);

/*
 * A sink that appends formatted lines to a file (or FIFO) opened
 * O_APPEND|O_NONBLOCK; reopened by open (log rotation). Used by json/cef.
 */
typedef int alert_format_fn(const struct alert_fmt *f, const struct alert *a,
			    uint64_t seq, struct alert_buf *out);
int alert_file_sink_new(const struct alert_sink_conf *c, const char *kind,
			alert_format_fn *fmt, struct alert_sink **out);

/* Reconnect/reopen timing: exponential backoff between min and max. */
struct alert_retry {
	uint64_t min, max, cur;
	uint64_t at;		/* next attempt (monotonic µs); 0 = now */
};
void alert_retry_init(struct alert_retry *r, uint64_t min, uint64_t max);
void alert_retry_fail(struct alert_retry *r, uint64_t now);
void alert_retry_ok(struct alert_retry *r);
/* µs until the attempt is due (0 = due now). */
uint64_t alert_retry_wait(const struct alert_retry *r, uint64_t now);

/*
 * A non-blocking fd writer with a queue, for the socket and file sinks:
 * datagram (each message whole) or stream (partial writes resumed).
 */
struct alert_out {
	int fd;
	bool dgram;		/* each message is one datagram */
	bool sock;		/* send(MSG_NOSIGNAL) rather than write() */
	size_t off;		/* stream: bytes of the head already written */
	int err;		/* last hard write error (-errno), for the sink */
	struct alert_queue q;
};
/* Send or queue; counts sent/queued/dropped on s. 0 or -errno (dropped). */
int alert_out_send(struct alert_sink *s, struct alert_out *o,
		   const char *data, size_t len);
/* Write queued messages until EAGAIN; 0, or -errno on a hard fd error. */
int alert_out_flush(struct alert_sink *s, struct alert_out *o);
/*
 * Close the fd; queued messages stay for the next fd, except a stream
 * message already partly written (its rest is counted ALERT_DROP_IO).
 */
void alert_out_close(struct alert_sink *s, struct alert_out *o);

/* --- the hub ------------------------------------------------------------- */

struct alert_hub_conf {
	uint32_t rate_burst;		/* per rule; 0 = 20 */
	uint32_t rate_per_min;		/* refill; 0 = 60 */
	bool no_rate_limit;
	uint64_t dedup_window_us;	/* 0 = 60 s */
	bool no_dedup;
	uint64_t summary_us;		/* drop/suppression summaries; 0 = 60 s */
	alert_log_fn *log;		/* daemon log; NULL = syslog(3) */
	void *log_ctx;
};

/* What the hub did with one alert (alert_emit returns it or -errno). */
enum alert_verdict { ALERT_SENT = 0, ALERT_DUP = 1, ALERT_RATE_LIMITED = 2 };

struct alert_rule_stats {
	uint64_t emitted, dups, held;	/* totals */
};

struct alert_hub;

int alert_hub_new(const struct alert_hub_conf *c, struct alert_hub **out);
/* Closes and frees every sink (what is still queued is counted dropped). */
void alert_hub_free(struct alert_hub *h);
/* Takes ownership of s, also on failure; opens it. */
int alert_hub_add(struct alert_hub *h, struct alert_sink *s, uint64_t now);
size_t alert_hub_nsinks(const struct alert_hub *h);
struct alert_sink *alert_hub_sink(const struct alert_hub *h, size_t i);

/* Override the rate limit of one rule (per_min = 0: unlimited). */
int alert_hub_set_rule_limit(struct alert_hub *h, const char *rule,
			     uint32_t burst, uint32_t per_min);
/* A rule's own deduplication window (0: the hub's). */
int alert_hub_set_rule_dedup(struct alert_hub *h, const char *rule,
			     uint64_t window_us);
int alert_hub_rule_stats(const struct alert_hub *h, const char *rule,
			 struct alert_rule_stats *st);

/* Dedup, rate limit, fan out. Returns enum alert_verdict or -EINVAL. */
int alert_emit(struct alert_hub *h, const struct alert *a, uint64_t now);

/* Event loop: fill fds[0..max) with the sinks' fds; returns the count. */
size_t alert_hub_pollfds(struct alert_hub *h, struct pollfd *fds, size_t max);
void alert_hub_dispatch(struct alert_hub *h, const struct pollfd *fds,
			size_t n, uint64_t now);
/*
 * Timers: sink reconnects, expired dedup windows and held counts (summary
 * alerts), the periodic drop summary. Returns ms until the next call is
 * due (for poll's timeout), at most summary_us.
 */
int alert_hub_tick(struct alert_hub *h, uint64_t now);
/* Reopen every sink (SIGHUP: log rotation). Returns the first error. */
int alert_hub_reopen(struct alert_hub *h, uint64_t now);

#endif
