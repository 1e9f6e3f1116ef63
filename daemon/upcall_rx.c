/*
 * upcall_rx.c - the receiving half of the upcall client: every frame the
 * guest sends is hostile input. A frame is matched to a request by id AND
 * nonce only after its MACs verify (wire_rx), its frames must come in
 * order and of the query asked, and the whole answer is capped; whatever
 * fails is a finding (upcall_report), and a failure that concerns one
 * request ends it (upcall_fail). upcall.c owns the requests and the
 * transport; this file only judges what arrived.
 */
#include <stdio.h>

#include <openssl/crypto.h>

#include "upcall_int.h"

/* The pending request an authentic header belongs to, id and nonce both. */
static struct upcall_pending *match(struct upcall *u, const struct wire_hdr *h)
{
	struct upcall_pending *p = upcall_find_pending(u, h->req_id);

	if (!p || CRYPTO_memcmp(p->nonce, h->nonce, WIRE_NONCE_LEN))
		return NULL;
	return p;
}

/* Frame-level checks against the request; false if p was ended. */
static bool frame_fits(struct upcall *u, struct upcall_pending *p,
		       const struct wire_hdr *h, uint64_t now)
{
	struct upcall_result *r = p->res;

	if (h->query != p->query) {
		upcall_fail(u, p, now, UPCALL_F_MALFORMED, "reply is for query %s, "
		     "request was %s", wire_query_str(h->query),
		     wire_query_str(p->query));
		return false;
	}
	if (h->seq != p->next_seq) {
		upcall_fail(u, p, now, UPCALL_F_MALFORMED, "frame %u arrived, "
		     "expected frame %u", h->seq, p->next_seq);
		return false;
	}
	if (r->frames + 1 > WIRE_REPLY_FRAMES_MAX ||
	    r->body_bytes + h->body_len > WIRE_REPLY_BODY_MAX) {
		upcall_fail(u, p, now, UPCALL_F_OVERSIZE, "reply over the cap: %u "
		     "frames, %llu + %u body bytes", r->frames + 1,
		     (unsigned long long)r->body_bytes, h->body_len);
		return false;
	}
	if (h->status == WIRE_ST_AUTH) {
		upcall_fail(u, p, now, UPCALL_F_AGENT_AUTH, "agent could not verify "
		     "our request's MAC (keys differ?)");
		return false;
	}
	if (h->status == WIRE_ST_VERSION) {
		upcall_fail(u, p, now, UPCALL_F_VERSION, "agent does not speak "
		     "protocol version %u", WIRE_VERSION);
		return false;
	}
	return true;
}

/* The request an authentic frame answers, or NULL after a finding. */
static struct upcall_pending *owner(struct upcall *u, const struct wire_hdr *h)
{
	struct upcall_pending *p = upcall_find_pending(u, h->req_id);
	unsigned long long id = h->req_id;

	if (h->type != WIRE_T_REPLY) {
		upcall_report(u, UPCALL_F_MALFORMED, id, h->query, "frame of type %u "
			"from the guest (a reflected request?)", h->type);
		return NULL;
	}
	if (!p) {
		upcall_report(u, UPCALL_F_STALE, id, h->query,
			upcall_recently_ended(u, id) ? "reply for request %llu, which "
			"already ended" : "reply for unknown request id %llu",
			id);
		return NULL;
	}
	if (CRYPTO_memcmp(p->nonce, h->nonce, WIRE_NONCE_LEN)) {
		upcall_report(u, UPCALL_F_NONCE, id, h->query, "reply for request "
			"%llu carries another nonce (replay?)", id);
		return NULL;
	}
	return p;
}

static void on_frame(struct upcall *u, const struct wire_rx_event *ev,
		     uint64_t now)
{
	const struct wire_hdr *h = &ev->hdr;
	struct upcall_pending *p;
	char detail[UPCALL_DETAIL_LEN];
	enum upcall_reason why;

	u->st.frames_in++;
	u->backoff = u->backoff_min;	/* a live agent answered */
	p = owner(u, h);
	if (!p)
		return;
	if (!p->res) {
		p->res = upcall_result_new(p->id, p->query);
		if (!p->res) {
			upcall_fail(u, p, now, UPCALL_E_NOMEM, "no memory for the "
			     "answer");
			return;
		}
		p->res->pid = p->pid;
	}
	if (!frame_fits(u, p, h, now))
		return;
	p->res->frames++;
	p->res->body_bytes += h->body_len;
	p->next_seq++;
	if (h->status == WIRE_ST_OK || h->status == WIRE_ST_PARTIAL) {
		why = upcall_result_add_body(p->res, ev->body, h->body_len,
					     detail, sizeof(detail));
		if (why != UPCALL_OK) {
			upcall_fail(u, p, now, why, "%s", detail);
			return;
		}
	}
	if (h->flags & WIRE_F_LAST) {
		p->res->status = h->status;
		upcall_finish(u, p, UPCALL_OK, NULL, now);
	}
}

static void on_reject(struct upcall *u, const struct wire_rx_event *ev,
		      uint64_t now)
{
	const struct wire_hdr *h = &ev->hdr;
	struct upcall_pending *p = ev->hdr_ok ? match(u, h) : NULL;
	unsigned long long id = h->req_id;

	switch (ev->why) {
	case WIRE_REJ_GARBAGE:
		upcall_report(u, UPCALL_F_GARBAGE, 0, 0, "%llu bytes that are no "
			"frame skipped", (unsigned long long)ev->count);
		return;
	case WIRE_REJ_BAD_MAC:
		if (ev->frame_mac_bad)
			upcall_report(u, UPCALL_F_BAD_MAC, 0, 0, "frame MAC wrong "
				"(header claims request %llu)", id);
		else
			upcall_report(u, UPCALL_F_BAD_MAC, 0, 0, "header MAC wrong: "
				"forged, corrupted, or another key");
		return;
	case WIRE_REJ_VERSION:
		if (p)
			upcall_fail(u, p, now, UPCALL_F_VERSION, "reply in protocol "
			     "version %u, we speak %u", h->version, WIRE_VERSION);
		else
			upcall_report(u, UPCALL_F_VERSION, id, h->query, "frame in "
				"protocol version %u", h->version);
		return;
	case WIRE_REJ_OVERSIZE:
		if (p)
			upcall_fail(u, p, now, UPCALL_F_OVERSIZE, "frame body of %u "
			     "bytes, cap %u", h->body_len, WIRE_FRAME_BODY_MAX);
		else
			upcall_report(u, UPCALL_F_OVERSIZE, id, h->query, "frame "
				"body of %u bytes, cap %u", h->body_len,
				WIRE_FRAME_BODY_MAX);
		return;
	case WIRE_REJ_TRUNCATED:
		if (p)
			upcall_fail(u, p, now, UPCALL_F_TRUNCATED, "frame %u cut after "
			     "%llu of %zu bytes", h->seq,
			     (unsigned long long)ev->count,
			     wire_frame_len(h->body_len));
		else
			upcall_report(u, UPCALL_F_TRUNCATED, ev->hdr_ok ? id : 0,
				ev->hdr_ok ? h->query : 0, "frame cut after "
				"%llu bytes", (unsigned long long)ev->count);
		return;
	}
}

void upcall_rx_process(struct upcall *u, uint64_t now)
{
	struct wire_rx_event ev;
	enum wire_rx_result r;

	while ((r = wire_rx_next(&u->rx, u->key, &ev)) != WIRE_RX_NEED) {
		if (r == WIRE_RX_FRAME)
			on_frame(u, &ev, now);
		else
			on_reject(u, &ev, now);
	}
}

void upcall_rx_end(struct upcall *u, uint64_t now)
{
	struct wire_rx_event ev;

	while (wire_rx_eof(&u->rx, &ev) == WIRE_RX_REJECT)
		on_reject(u, &ev, now);
}
