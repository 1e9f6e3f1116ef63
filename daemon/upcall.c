/*
 * upcall.c - the upcall client: one non-blocking state machine per guest
 * (transport connection, send queue, frame decoder, outstanding requests),
 * driven by the daemon's poll loop. See upcall.h for the contract. This
 * file owns the requests, the send queue and the transport; what the
 * guest sends back is judged in upcall_rx.c. Whatever fails is a finding,
 * and never stops the other guests served by the same loop.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "upcall_int.h"

#define READS_PER_CALL 64u		/* fairness between guests */

static void finding_v(struct upcall *u, enum upcall_reason why, uint64_t id,
		      unsigned int query, const char *fmt, va_list ap)
{
	struct upcall_finding f = { .reason = why, .guest = u->guest,
				    .req_id = id, .query = query };

	vsnprintf(f.detail, sizeof(f.detail), fmt, ap);
	u->st.findings[why]++;
	if (u->on_finding)
		u->on_finding(u->arg, &f);
}

void upcall_report(struct upcall *u, enum upcall_reason why, uint64_t id,
		    unsigned int query, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	finding_v(u, why, id, query, fmt, ap);
	va_end(ap);
}

struct upcall_pending *upcall_find_pending(struct upcall *u, uint64_t id)
{
	for (size_t i = 0; i < UPCALL_INFLIGHT_MAX; i++)
		if (u->pend[i].used && u->pend[i].id == id)
			return &u->pend[i];
	return NULL;
}

bool upcall_recently_ended(const struct upcall *u, uint64_t id)
{
	for (size_t i = 0; i < RECENT_IDS; i++)
		if (u->recent[i] == id)
			return true;
	return false;
}

/* End a request: free its slot first, so the callback may submit again. */
void upcall_finish(struct upcall *u, struct upcall_pending *p,
		   enum upcall_reason why, const char *detail, uint64_t now)
{
	struct upcall_result *res = p->res;
	void (*done)(void *, struct upcall_result *) = p->done;
	void *arg = p->arg;

	if (!res)
		res = upcall_result_new(p->id, p->query);
	if (res) {
		res->reason = why;
		res->pid = p->pid;
		res->rtt_ns = now - p->submit_ns;
		snprintf(res->detail, sizeof(res->detail), "%s",
			 detail ? detail : "");
	}
	u->recent[u->recent_pos++ % RECENT_IDS] = p->id;
	memset(p, 0, sizeof(*p));
	u->npend--;
	u->st.completed++;
	if (done && res)
		done(arg, res);
	else
		upcall_result_free(res);
}

void upcall_fail(struct upcall *u, struct upcall_pending *p, uint64_t now,
		 enum upcall_reason why, const char *fmt, ...)
{
	char detail[UPCALL_DETAIL_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (why != UPCALL_E_NOMEM)
		upcall_report(u, why, p->id, p->query, "%s", detail);
	upcall_finish(u, p, why, detail, now);
}

int upcall_new(const struct upcall_cfg *cfg, struct xport *xp,
	       struct upcall **out)
{
	struct upcall *u;
	int ret;

	if (!cfg || !xp || !out)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	snprintf(u->guest, sizeof(u->guest), "%s", cfg->guest ? cfg->guest : "");
	ret = wire_key_new(cfg->key, &u->key);
	if (ret < 0)
		goto out_free;
	ret = wire_rx_init(&u->rx);
	if (ret < 0)
		goto out_key;
	/* random first id: replies meant for an earlier daemon look unknown */
	if (RAND_bytes((unsigned char *)&u->next_id, sizeof(u->next_id)) != 1) {
		ret = -EIO;
		goto out_rx;
	}
	u->next_id = (u->next_id >> 2) + 1;
	u->on_finding = cfg->on_finding;
	u->arg = cfg->arg;
	u->backoff_min = cfg->reconnect_min_ns ? cfg->reconnect_min_ns
					       : 50 * NS_PER_MS;
	u->backoff_max = cfg->reconnect_max_ns ? cfg->reconnect_max_ns
					       : 2000 * NS_PER_MS;
	u->backoff = u->backoff_min;
	u->xp = xp;
	*out = u;
	return 0;
out_rx:
	wire_rx_release(&u->rx);
out_key:
	wire_key_free(u->key);
out_free:
	free(u);
	return ret;
}

void upcall_free(struct upcall *u)
{
	uint64_t now;

	if (!u)
		return;
	now = upcall_now_ns();
	for (size_t i = 0; i < UPCALL_INFLIGHT_MAX; i++)
		if (u->pend[i].used)
			upcall_finish(u, &u->pend[i], UPCALL_E_CANCELLED,
			       "client closed", now);
	xport_free(u->xp);
	wire_rx_release(&u->rx);
	wire_key_free(u->key);
	OPENSSL_cleanse(u, sizeof(*u));
	free(u);
}

/* ---- transport ---------------------------------------------------------- */

/* Length of the queued request frame starting at tx[off]. */
static size_t tx_frame_len(const struct upcall *u, size_t off)
{
	return wire_frame_len(wire_get32(u->tx + off + 44));
}

static void drop_connection(struct upcall *u, uint64_t now)
{
	upcall_rx_end(u, now);
	xport_disconnect(u->xp);
	/* the rest of a half-sent request frame is useless to the agent */
	if (u->tx_off > u->tx_frame) {
		u->tx_off = u->tx_frame + tx_frame_len(u, u->tx_frame);
		u->tx_frame = u->tx_off;
	}
	u->st.disconnects++;
	u->reconnect_at = now + u->backoff;
	u->backoff = u->backoff * 2 > u->backoff_max ? u->backoff_max
						     : u->backoff * 2;
}


/*
 * Take the queued frames of requests that already ended (deadline or
 * cancel while the transport was down) out of the send queue: sent at
 * the next connect, the agent would answer each of them, one at a time
 * and before the live requests behind them, and every such answer would
 * come back as a stale reply. A head frame already partly sent stays:
 * the agent needs the rest of it to stay in step.
 */
static void drop_ended_frames(struct upcall *u)
{
	size_t off = u->tx_frame;

	if (u->tx_off > off)
		off += tx_frame_len(u, off);
	while (off < u->tx_len) {
		size_t len = tx_frame_len(u, off);

		if (upcall_find_pending(u, wire_get64(u->tx + off + 16))) {
			off += len;
			continue;
		}
		memmove(u->tx + off, u->tx + off + len, u->tx_len - off - len);
		u->tx_len -= len;
	}
}

static void flush(struct upcall *u, uint64_t now)
{
	if (u->xp->connected && u->tx_off < u->tx_len)
		drop_ended_frames(u);
	while (u->xp->connected && u->tx_off < u->tx_len) {
		ssize_t n = xport_write(u->xp, u->tx + u->tx_off,
					u->tx_len - u->tx_off);

		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			drop_connection(u, now);
			return;
		}
		u->tx_off += (size_t)n;
		u->st.bytes_out += (uint64_t)n;
		while (u->tx_frame < u->tx_len &&
		       u->tx_frame + tx_frame_len(u, u->tx_frame) <= u->tx_off)
			u->tx_frame += tx_frame_len(u, u->tx_frame);
	}
	if (u->tx_off == u->tx_len)
		u->tx_off = u->tx_len = u->tx_frame = 0;
}

static void try_connect(struct upcall *u, uint64_t now)
{
	int ret = xport_connect(u->xp);

	if (ret == 0) {
		u->st.connects++;
		wire_rx_reset(&u->rx);
		return;
	}
	u->st.last_connect_err = ret;
	u->reconnect_at = now + u->backoff;
	u->backoff = u->backoff * 2 > u->backoff_max ? u->backoff_max
						     : u->backoff * 2;
}

/* ---- requests ----------------------------------------------------------- */

static int queue_frame(struct upcall *u, const struct wire_hdr *h,
		       const uint8_t *body)
{
	size_t flen = wire_frame_len(h->body_len);

	if (u->tx_len + flen > UPCALL_TX_MAX && u->tx_frame > 0) {
		memmove(u->tx, u->tx + u->tx_frame, u->tx_len - u->tx_frame);
		u->tx_len -= u->tx_frame;
		u->tx_off -= u->tx_frame;
		u->tx_frame = 0;
	}
	if (u->tx_len + flen > UPCALL_TX_MAX)
		return -ENOBUFS;
	if (wire_encode(u->key, h, body, u->tx + u->tx_len,
			UPCALL_TX_MAX - u->tx_len) < 0)
		return -EIO;
	u->tx_len += flen;
	return 0;
}

int upcall_submit(struct upcall *u, const struct upcall_query *q,
		  uint64_t now_ns, uint64_t *id)
{
	struct wire_hdr h = { .version = WIRE_VERSION, .type = WIRE_T_REQUEST,
			      .flags = WIRE_F_LAST };
	uint8_t args[WIRE_FILES_ARGS_LEN] = { 0 };
	struct upcall_pending *p = NULL;
	int ret;

	if (q->query == WIRE_Q_FILES && q->pid <= 0 && q->pid != WIRE_PID_ALL)
		return -EINVAL;
	if (q->query > UINT16_MAX)
		return -EINVAL;
	if (u->npend >= UPCALL_INFLIGHT_MAX)
		return -EAGAIN;
	for (size_t i = 0; i < UPCALL_INFLIGHT_MAX && !p; i++)
		if (!u->pend[i].used)
			p = &u->pend[i];
	h.query = (uint16_t)q->query;
	h.req_id = u->next_id++;
	if (RAND_bytes(h.nonce, WIRE_NONCE_LEN) != 1)
		return -EIO;
	if (q->query == WIRE_Q_FILES)
		h.body_len = (uint32_t)wire_files_args_put(args, sizeof(args),
							   q->pid);
	ret = queue_frame(u, &h, args);
	if (ret < 0)
		return ret;
	*p = (struct upcall_pending){
		.used = true, .id = h.req_id, .query = q->query,
		.pid = q->query == WIRE_Q_FILES ? q->pid : 0,
		.submit_ns = now_ns, .deadline_ns = now_ns + q->timeout_ns,
		.done = q->done, .arg = q->arg,
	};
	memcpy(p->nonce, h.nonce, WIRE_NONCE_LEN);
	u->npend++;
	u->st.submitted++;
	if (id)
		*id = h.req_id;
	flush(u, now_ns);
	return 0;
}

/* ---- event loop --------------------------------------------------------- */

void upcall_on_readable(struct upcall *u, uint64_t now_ns)
{
	for (unsigned int i = 0; i < READS_PER_CALL && u->xp->connected; i++) {
		size_t room;
		uint8_t *p = wire_rx_space(&u->rx, &room);
		ssize_t n = xport_read(u->xp, p, room);

		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			drop_connection(u, now_ns);
			break;
		}
		wire_rx_commit(&u->rx, (size_t)n);
		u->st.bytes_in += (uint64_t)n;
		upcall_rx_process(u, now_ns);
	}
	flush(u, now_ns);
}

void upcall_on_writable(struct upcall *u, uint64_t now_ns)
{
	flush(u, now_ns);
}

void upcall_tick(struct upcall *u, uint64_t now_ns)
{
	if (!u->xp->connected && now_ns >= u->reconnect_at)
		try_connect(u, now_ns);
	flush(u, now_ns);
	for (size_t i = 0; i < UPCALL_INFLIGHT_MAX; i++) {
		struct upcall_pending *p = &u->pend[i];

		if (!p->used || now_ns < p->deadline_ns)
			continue;
		upcall_fail(u, p, now_ns, UPCALL_F_DEADLINE, "no complete reply in "
		     "%llu ms (%u frames, %llu body bytes so far)",
		     (unsigned long long)((now_ns - p->submit_ns) / NS_PER_MS),
		     p->res ? p->res->frames : 0,
		     (unsigned long long)(p->res ? p->res->body_bytes : 0));
	}
}

uint64_t upcall_next_wakeup(const struct upcall *u)
{
	uint64_t t = u->xp->connected ? UINT64_MAX : u->reconnect_at;

	for (size_t i = 0; i < UPCALL_INFLIGHT_MAX; i++)
		if (u->pend[i].used && u->pend[i].deadline_ns < t)
			t = u->pend[i].deadline_ns;
	return t;
}

int upcall_fd(const struct upcall *u)
{
	return xport_fd(u->xp);
}

short upcall_poll_events(const struct upcall *u)
{
	return (short)(POLLIN | (u->tx_off < u->tx_len ? POLLOUT : 0));
}

bool upcall_connected(const struct upcall *u)
{
	return u->xp->connected;
}

size_t upcall_inflight(const struct upcall *u)
{
	return u->npend;
}

const struct upcall_stats *upcall_stats(const struct upcall *u)
{
	return &u->st;
}

const char *upcall_guest(const struct upcall *u)
{
	return u->guest;
}
