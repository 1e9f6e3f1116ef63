/*
 * upcall.h - the daemon side of upcalls: ask a guest's agent for its own
 * view (processes, open files, modules) over an xport, and judge the
 * answer.
 *
 * One struct upcall per guest, a non-blocking state machine driven by the
 * daemon's poll loop; one loop serves many guests:
 *
 *   fd = upcall_fd(u), events = upcall_poll_events(u)   (fd -1: none now)
 *   on POLLIN/POLLHUP/POLLERR: upcall_on_readable(u, now)
 *   on POLLOUT:                upcall_on_writable(u, now)
 *   always, before the next poll: upcall_tick(u, now); the poll timeout is
 *   upcall_next_wakeup(u) - now.
 *
 * upcall_poll() does exactly that for tools and tests.
 *
 * Requests carry a deadline; replies are matched by request id and nonce,
 * verified (wire.h), decoded, and handed to the request's completion
 * callback. Anything wrong with what the guest sent (bad MAC, wrong nonce,
 * stale or unknown id, wrong version, oversize, truncated or malformed
 * body, no answer in time, garbage) is a finding, reported through
 * cfg.on_finding with a reason and a detail string: the daemon turns
 * findings into alerts. A request that a finding ends completes with that
 * reason. The connection is re-made after the transport drops (agent or
 * QEMU restart); requests stay pending across it until their deadline.
 *
 * Ownership: upcall_new() takes the xport (freed by upcall_free()). A
 * completed request's struct upcall_result belongs to the callback, which
 * frees it with upcall_result_free(). Callbacks may submit new requests
 * but must not free the upcall. One thread.
 */
#ifndef UPCALLD_UPCALL_H
#define UPCALLD_UPCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"
#include "xport.h"

#define UPCALL_INFLIGHT_MAX 64u		/* outstanding requests per guest */
#define UPCALL_TX_MAX (64u * 1024u)	/* queued request bytes per guest */
#define UPCALL_DETAIL_LEN 160u
#define UPCALL_POLL_MAX 1024u		/* guests per upcall_poll() call */

enum upcall_reason {
	UPCALL_OK = 0,
	UPCALL_F_BAD_MAC,	/* header or frame MAC wrong: forged, wrong key */
	UPCALL_F_NONCE,		/* outstanding id, other nonce (replay) */
	UPCALL_F_STALE,		/* id not outstanding: expired, old, unknown */
	UPCALL_F_VERSION,	/* reply in, or agent wants, another version */
	UPCALL_F_OVERSIZE,	/* frame or whole reply over its cap */
	UPCALL_F_TRUNCATED,	/* frame or record cut short */
	UPCALL_F_MALFORMED,	/* bad records, frames out of order, wrong type */
	UPCALL_F_DEADLINE,	/* no complete reply before the deadline */
	UPCALL_F_GARBAGE,	/* bytes that are no frame */
	UPCALL_F_AGENT_AUTH,	/* the agent rejected our MAC (key mismatch) */
	UPCALL_E_CANCELLED,	/* not a finding: upcall_free() with it pending */
	UPCALL_E_NOMEM,		/* not a finding: no memory for the answer */
	UPCALL_REASON_MAX
};

/* Short stable name ("bad_mac", "deadline" ...) for logs and alerts. */
const char *upcall_reason_str(enum upcall_reason r);

struct upcall_finding {
	enum upcall_reason reason;
	const char *guest;
	uint64_t req_id;		/* 0 when no request is known */
	unsigned int query;		/* enum wire_query, 0 when unknown */
	char detail[UPCALL_DETAIL_LEN];
};

struct upcall_arena;

/*
 * A completed request. reason says whether an answer came (UPCALL_OK) and
 * status what the agent said (WIRE_ST_OK, WIRE_ST_PARTIAL when it hit the
 * size cap, WIRE_ST_UNSUPPORTED ...). Records' strings (exe, link, name,
 * agent) are NUL-terminated copies owned by the result.
 */
struct upcall_result {
	uint64_t req_id;
	unsigned int query;		/* enum wire_query */
	int32_t pid;			/* WIRE_Q_FILES argument */
	enum upcall_reason reason;
	unsigned int status;		/* enum wire_status, if reason == OK */
	char detail[UPCALL_DETAIL_LEN];
	uint64_t rtt_ns;		/* submit to completion */
	uint32_t frames;
	uint64_t body_bytes;

	struct wire_proc *procs;
	size_t nprocs;
	struct wire_module *modules;
	size_t nmodules;
	struct wire_file *files;
	size_t nfiles;
	struct wire_info info;
	bool have_info;

	struct upcall_arena *arena;	/* private: string storage */
	size_t procs_cap, modules_cap, files_cap;
};

struct upcall_query {
	unsigned int query;		/* enum wire_query (any value is sent) */
	int32_t pid;			/* WIRE_Q_FILES: a pid or WIRE_PID_ALL */
	uint64_t timeout_ns;		/* deadline = submit time + this */
	void (*done)(void *arg, struct upcall_result *res);	/* or NULL */
	void *arg;
};

struct upcall_cfg {
	const char *guest;		/* copied */
	uint8_t key[WIRE_KEY_LEN];	/* copied */
	void (*on_finding)(void *arg, const struct upcall_finding *f);
	void *arg;
	uint64_t reconnect_min_ns;	/* 0: 50 ms */
	uint64_t reconnect_max_ns;	/* 0: 2 s */
};

struct upcall_stats {
	uint64_t submitted, completed, frames_in, bytes_in, bytes_out;
	uint64_t connects, disconnects;
	int last_connect_err;		/* -errno of the last failed connect */
	uint64_t findings[UPCALL_REASON_MAX];
};

struct upcall;

/* Returns 0 and *out (owning xp), or -errno (xp untouched). */
int upcall_new(const struct upcall_cfg *cfg, struct xport *xp,
	       struct upcall **out);
/* Completes pending requests with UPCALL_E_CANCELLED, frees everything. */
void upcall_free(struct upcall *u);

/*
 * Queue a request; it is sent as soon as the transport allows. Returns 0
 * (and *id if id is not NULL), -EAGAIN when UPCALL_INFLIGHT_MAX requests
 * are outstanding, -ENOBUFS when the send queue is full (guest not
 * reading), -EINVAL for a bad pid, -ENOMEM.
 */
int upcall_submit(struct upcall *u, const struct upcall_query *q,
		  uint64_t now_ns, uint64_t *id);

int upcall_fd(const struct upcall *u);
short upcall_poll_events(const struct upcall *u);
void upcall_on_readable(struct upcall *u, uint64_t now_ns);
void upcall_on_writable(struct upcall *u, uint64_t now_ns);
/* Deadlines, reconnection, pending writes. */
void upcall_tick(struct upcall *u, uint64_t now_ns);
/* Absolute time (ns) tick wants to run next; UINT64_MAX for never. */
uint64_t upcall_next_wakeup(const struct upcall *u);

bool upcall_connected(const struct upcall *u);
size_t upcall_inflight(const struct upcall *u);
const struct upcall_stats *upcall_stats(const struct upcall *u);
const char *upcall_guest(const struct upcall *u);

/* CLOCK_MONOTONIC in ns: the clock every now_ns above is on. */
uint64_t upcall_now_ns(void);

/*
 * One event-loop round over n upcalls: poll their fds for at most
 * max_wait_ms (less if a deadline is nearer), dispatch, tick all.
 * Returns the number of fds that were ready, or -errno.
 */
int upcall_poll(struct upcall *const *v, size_t n, int max_wait_ms);

/* ---- results (upcall_result.c) ---------------------------------------- */

struct upcall_result *upcall_result_new(uint64_t req_id, unsigned int query);
void upcall_result_free(struct upcall_result *r);

/*
 * Decode one verified frame body of a reply to r->query into r, copying
 * strings. Returns UPCALL_OK, UPCALL_F_TRUNCATED (a record cut by the end
 * of the body), UPCALL_F_MALFORMED (inconsistent record, or records for a
 * query that has none) with detail filled, or UPCALL_E_NOMEM.
 */
enum upcall_reason upcall_result_add_body(struct upcall_result *r,
					  const uint8_t *body, size_t len,
					  char *detail, size_t dlen);

#endif
