/*
 * upcall_int.h - internals of the upcall client shared by upcall.c (the
 * requests, the send queue, the transport, the clock) and upcall_rx.c (the
 * guest's frames, judged). Not for other modules: they use upcall.h.
 */
#ifndef UPCALLD_UPCALL_INT_H
#define UPCALLD_UPCALL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "upcall.h"

#define RECENT_IDS 64u			/* ended requests, for stale details */
#define NS_PER_MS 1000000ull

struct upcall_pending {
	bool used;
	uint64_t id;
	uint8_t nonce[WIRE_NONCE_LEN];
	unsigned int query;
	int32_t pid;
	uint64_t submit_ns, deadline_ns;
	void (*done)(void *arg, struct upcall_result *res);
	void *arg;
	struct upcall_result *res;	/* created on the first frame */
	uint32_t next_seq;
};

struct upcall {
	char guest[64];
	struct xport *xp;
	struct wire_key *key;
	struct wire_rx rx;
	void (*on_finding)(void *arg, const struct upcall_finding *f);
	void *arg;
	uint64_t next_id;
	struct upcall_pending pend[UPCALL_INFLIGHT_MAX];
	size_t npend;
	uint64_t recent[RECENT_IDS];
	unsigned int recent_pos;
	/* send queue: whole request frames; tx_frame = start of the head one */
	uint8_t tx[UPCALL_TX_MAX];
	size_t tx_off, tx_len, tx_frame;
	uint64_t reconnect_at, backoff, backoff_min, backoff_max;
	struct upcall_stats st;
};

/* A finding about the guest's answers (counted, handed to on_finding). */
__attribute__((format(printf, 5, 6)))
void upcall_report(struct upcall *u, enum upcall_reason why, uint64_t id,
		   unsigned int query, const char *fmt, ...);

/* A finding that also ends request p with the same reason and detail. */
__attribute__((format(printf, 5, 6)))
void upcall_fail(struct upcall *u, struct upcall_pending *p, uint64_t now,
		 enum upcall_reason why, const char *fmt, ...);

/* End request p (frees its slot first: the callback may submit again). */
void upcall_finish(struct upcall *u, struct upcall_pending *p,
		   enum upcall_reason why, const char *detail, uint64_t now);

struct upcall_pending *upcall_find_pending(struct upcall *u, uint64_t id);
bool upcall_recently_ended(const struct upcall *u, uint64_t id);

/* upcall_rx.c: judge every complete frame received; at a disconnect,
 * report what was cut off. */
void upcall_rx_process(struct upcall *u, uint64_t now);
void upcall_rx_end(struct upcall *u, uint64_t now);

#endif
