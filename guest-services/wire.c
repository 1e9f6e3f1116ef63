/*
 * wire.c - codec of the upcall wire protocol (see wire.h): HMAC-SHA256
 * through OpenSSL's EVP_MAC, frame sealing, the resynchronising stream
 * decoder, and bound-checked record encoders/decoders. Compiled into both
 * the daemon and the static agent, so it uses nothing but libc + libcrypto
 * and never logs: callers decide what a rejection means.
 */
#define _GNU_SOURCE	/* memmem */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "wire.h"

/* One HMAC context per key, re-initialised per MAC (keeps the key pad). */
struct wire_key {
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx;
};

int wire_key_new(const uint8_t key[WIRE_KEY_LEN], struct wire_key **out)
{
	OSSL_PARAM params[2];
	struct wire_key *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	k->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!k->mac)
		goto out_fail;
	k->ctx = EVP_MAC_CTX_new(k->mac);
	if (!k->ctx)
		goto out_fail;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(k->ctx, key, WIRE_KEY_LEN, params))
		goto out_fail;
	*out = k;
	return 0;
out_fail:
	wire_key_free(k);
	return -EIO;
}

void wire_key_free(struct wire_key *k)
{
	if (!k)
		return;
	EVP_MAC_CTX_free(k->ctx);
	EVP_MAC_free(k->mac);
	free(k);
}

int wire_key_load(const char *path, uint8_t key[WIRE_KEY_LEN])
{
	uint8_t buf[WIRE_KEY_LEN + 1];
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	while (got < sizeof(buf)) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out_close;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != WIRE_KEY_LEN) {
		ret = -EINVAL;
		goto out_close;
	}
	memcpy(key, buf, WIRE_KEY_LEN);
out_close:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return ret;
}

int wire_mac(const struct wire_key *k, char domain, const void *p,
	     size_t len, uint8_t mac[WIRE_MAC_LEN])
{
	size_t outl = 0;
	unsigned char d = (unsigned char)domain;

	if (!EVP_MAC_init(k->ctx, NULL, 0, NULL) ||
	    !EVP_MAC_update(k->ctx, &d, 1) ||
	    !EVP_MAC_update(k->ctx, p, len) ||
	    !EVP_MAC_final(k->ctx, mac, &outl, WIRE_MAC_LEN) ||
	    outl != WIRE_MAC_LEN)
		return -EIO;
	return 0;
}

/* Constant-time compare of a computed MAC with the one in the frame. */
static bool mac_matches(const struct wire_key *k, char domain,
			const uint8_t *p, size_t len, const uint8_t *want)
{
	uint8_t mac[WIRE_MAC_LEN];

	if (wire_mac(k, domain, p, len, mac) < 0)
		return false;
	return CRYPTO_memcmp(mac, want, WIRE_MAC_LEN) == 0;
}

/* ---- frames ----------------------------------------------------------- */

static void hdr_fields_put(uint8_t *p, const struct wire_hdr *h)
{
	wire_put32(p, WIRE_MAGIC);
	wire_put16(p + 4, h->version);
	wire_put16(p + 6, h->type);
	wire_put16(p + 8, h->query);
	wire_put16(p + 10, h->status);
	wire_put32(p + 12, h->flags);
	wire_put64(p + 16, h->req_id);
	memcpy(p + 24, h->nonce, WIRE_NONCE_LEN);
	wire_put32(p + 40, h->seq);
	wire_put32(p + 44, h->body_len);
}

int wire_seal(const struct wire_key *k, const struct wire_hdr *h,
	      uint8_t *frame)
{
	size_t n;

	if (h->body_len > WIRE_FRAME_BODY_MAX)
		return -EMSGSIZE;
	hdr_fields_put(frame, h);
	if (wire_mac(k, 'H', frame, WIRE_HDR_FIELDS_LEN,
		     frame + WIRE_HDR_FIELDS_LEN) < 0)
		return -EIO;
	n = WIRE_HDR_LEN + h->body_len;
	if (wire_mac(k, 'F', frame, n, frame + n) < 0)
		return -EIO;
	return (int)(n + WIRE_MAC_LEN);
}

int wire_encode(const struct wire_key *k, const struct wire_hdr *h,
		const void *body, uint8_t *out, size_t cap)
{
	if (h->body_len > WIRE_FRAME_BODY_MAX)
		return -EMSGSIZE;
	if (cap < wire_frame_len(h->body_len))
		return -ENOSPC;
	if (h->body_len)
		memmove(out + WIRE_HDR_LEN, body, h->body_len);
	return wire_seal(k, h, out);
}

int wire_hdr_parse(const struct wire_key *k, const uint8_t *p,
		   struct wire_hdr *h)
{
	h->version = wire_get16(p + 4);
	h->type = wire_get16(p + 6);
	h->query = wire_get16(p + 8);
	h->status = wire_get16(p + 10);
	h->flags = wire_get32(p + 12);
	h->req_id = wire_get64(p + 16);
	memcpy(h->nonce, p + 24, WIRE_NONCE_LEN);
	h->seq = wire_get32(p + 40);
	h->body_len = wire_get32(p + 44);
	if (wire_get32(p) != WIRE_MAGIC)
		return -EBADMSG;
	if (!mac_matches(k, 'H', p, WIRE_HDR_FIELDS_LEN,
			 p + WIRE_HDR_FIELDS_LEN))
		return -EBADMSG;
	return 0;
}

bool wire_frame_mac_ok(const struct wire_key *k, const uint8_t *frame,
		       size_t len)
{
	if (len < WIRE_HDR_LEN + WIRE_MAC_LEN)
		return false;
	return mac_matches(k, 'F', frame, len - WIRE_MAC_LEN,
			   frame + len - WIRE_MAC_LEN);
}

/* ---- stream decoder --------------------------------------------------- */

int wire_rx_init(struct wire_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	rx->buf = malloc(WIRE_FRAME_MAX);
	if (!rx->buf)
		return -ENOMEM;
	rx->cap = WIRE_FRAME_MAX;
	return 0;
}

void wire_rx_release(struct wire_rx *rx)
{
	free(rx->buf);
	rx->buf = NULL;
	rx->cap = rx->len = rx->off = 0;
}

void wire_rx_reset(struct wire_rx *rx)
{
	rx->off = rx->len = rx->consume = rx->scan = 0;
	rx->have_hdr = rx->quiet = false;
	rx->garbage = 0;
}

static void rx_apply_consume(struct wire_rx *rx)
{
	rx->off += rx->consume;
	rx->consume = 0;
	if (rx->off == rx->len)
		rx->off = rx->len = 0;
}

uint8_t *wire_rx_space(struct wire_rx *rx, size_t *room)
{
	rx_apply_consume(rx);
	if (rx->off) {
		memmove(rx->buf, rx->buf + rx->off, rx->len - rx->off);
		rx->len -= rx->off;
		if (rx->have_hdr)
			rx->scan -= rx->off;
		rx->off = 0;
	}
	*room = rx->cap - rx->len;
	return rx->buf + rx->len;
}

void wire_rx_commit(struct wire_rx *rx, size_t n)
{
	if (n > rx->cap - rx->len)
		n = rx->cap - rx->len;
	rx->len += n;
}

size_t wire_rx_feed(struct wire_rx *rx, const void *p, size_t n)
{
	size_t room;
	uint8_t *dst = wire_rx_space(rx, &room);

	if (n > room)
		n = room;
	memcpy(dst, p, n);
	rx->len += n;
	return n;
}

/* First offset >= from where the magic starts, or len if none. */
static size_t find_magic(const struct wire_rx *rx, size_t from)
{
	static const uint8_t m[4] = { 'U', 'P', 'C', 'L' };
	const uint8_t *hit;

	if (from >= rx->len)
		return rx->len;
	hit = memmem(rx->buf + from, rx->len - from, m, sizeof(m));
	return hit ? (size_t)(hit - rx->buf) : rx->len;
}

static enum wire_rx_result rx_reject(struct wire_rx *rx,
				     struct wire_rx_event *ev,
				     enum wire_reject why)
{
	ev->why = why;
	rx->rejects++;
	/* restart the search one byte past this magic; skip quietly */
	rx->off++;
	rx->have_hdr = false;
	rx->quiet = true;
	return WIRE_RX_REJECT;
}

/*
 * Skip to the next magic. Returns true when a candidate header start is at
 * rx->off; false when the buffer holds no magic (all but a possible magic
 * prefix dropped). A garbage run is reported once, when it ends.
 */
static bool rx_sync(struct wire_rx *rx, struct wire_rx_event *ev,
		    bool *report)
{
	size_t p = find_magic(rx, rx->off);
	size_t keep;

	*report = false;
	if (p == rx->len) {
		keep = rx->len - rx->off < 3 ? rx->len - rx->off : 3;
		p = rx->len - keep;
	}
	if (p > rx->off) {
		rx->skipped_total += p - rx->off;
		if (!rx->quiet)
			rx->garbage += p - rx->off;
		rx->off = p;
	}
	if (p + 4 > rx->len || find_magic(rx, p) != p)
		return false;
	rx->quiet = false;
	if (rx->garbage) {
		ev->why = WIRE_REJ_GARBAGE;
		ev->count = rx->garbage;
		rx->garbage = 0;
		rx->rejects++;
		*report = true;
	}
	return true;
}

/*
 * Does an authentic header start in the pending frame, before limit?
 * 1: yes, the frame was cut (its sender restarted) and rx->scan is that
 * header; 0: no; -1: a magic whose header has not fully arrived yet.
 */
static int rx_lookahead(struct wire_rx *rx, const struct wire_key *k,
			size_t limit)
{
	struct wire_hdr h;

	if (rx->scan < rx->off + 1)
		rx->scan = rx->off + 1;
	for (;;) {
		size_t p = find_magic(rx, rx->scan);

		if (p == rx->len) {	/* resume here when more bytes come */
			rx->scan = rx->len > 3 ? rx->len - 3 : 0;
			if (rx->scan < rx->off + 1)
				rx->scan = rx->off + 1;
			return 0;
		}
		if (p >= limit)
			return 0;
		if (rx->len - p < WIRE_HDR_LEN) {
			rx->scan = p;
			/* undecided, unless that header could never fit */
			return p + WIRE_HDR_LEN - rx->off <= rx->cap ? -1 : 0;
		}
		if (wire_hdr_parse(k, rx->buf + p, &h) == 0) {
			rx->scan = p;
			return 1;
		}
		rx->scan = p + 1;
	}
}

static enum wire_rx_result rx_header(struct wire_rx *rx,
				     const struct wire_key *k,
				     struct wire_rx_event *ev)
{
	ev->hdr_ok = wire_hdr_parse(k, rx->buf + rx->off, &ev->hdr) == 0;
	if (!ev->hdr_ok)
		return rx_reject(rx, ev, WIRE_REJ_BAD_MAC);
	if (ev->hdr.version != WIRE_VERSION)
		return rx_reject(rx, ev, WIRE_REJ_VERSION);
	if (ev->hdr.body_len > WIRE_FRAME_BODY_MAX) {
		ev->count = ev->hdr.body_len;
		return rx_reject(rx, ev, WIRE_REJ_OVERSIZE);
	}
	rx->hdr = ev->hdr;
	rx->have_hdr = true;
	rx->scan = rx->off + 1;
	return WIRE_RX_NEED;
}

/* The pending frame was cut by the authentic header at rx->scan. */
static enum wire_rx_result rx_cut(struct wire_rx *rx, struct wire_rx_event *ev)
{
	ev->count = rx->scan - rx->off;
	ev->why = WIRE_REJ_TRUNCATED;
	rx->rejects++;
	rx->skipped_total += rx->scan - rx->off;
	rx->off = rx->scan;
	rx->have_hdr = false;
	return WIRE_RX_REJECT;
}

enum wire_rx_result wire_rx_next(struct wire_rx *rx, const struct wire_key *k,
				 struct wire_rx_event *ev)
{
	size_t need;
	bool report;

	memset(ev, 0, sizeof(*ev));
	rx_apply_consume(rx);
	if (!rx->have_hdr) {
		if (!rx_sync(rx, ev, &report))
			return WIRE_RX_NEED;
		if (report)
			return WIRE_RX_REJECT;
		if (rx->len - rx->off < WIRE_HDR_LEN)
			return WIRE_RX_NEED;
		if (rx_header(rx, k, ev) == WIRE_RX_REJECT)
			return WIRE_RX_REJECT;
	}
	need = wire_frame_len(rx->hdr.body_len);
	ev->hdr = rx->hdr;
	ev->hdr_ok = true;
	if (rx->len - rx->off < need) {
		if (rx_lookahead(rx, k, rx->len) <= 0)
			return WIRE_RX_NEED;
		return rx_cut(rx, ev);
	}
	if (!wire_frame_mac_ok(k, rx->buf + rx->off, need)) {
		/* did a restarted sender's frame complete the cut one? */
		rx->scan = rx->off + 1;
		switch (rx_lookahead(rx, k, rx->off + need)) {
		case 1:
			return rx_cut(rx, ev);
		case -1:
			memset(ev, 0, sizeof(*ev));
			return WIRE_RX_NEED;	/* decide when it has arrived */
		}
		ev->frame_mac_bad = true;
		return rx_reject(rx, ev, WIRE_REJ_BAD_MAC);
	}
	ev->body = rx->buf + rx->off + WIRE_HDR_LEN;
	rx->consume = need;
	rx->have_hdr = false;
	rx->frames++;
	return WIRE_RX_FRAME;
}

enum wire_rx_result wire_rx_eof(struct wire_rx *rx, struct wire_rx_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	rx_apply_consume(rx);
	if (rx->have_hdr || (rx->len - rx->off >= 4 &&
			     wire_get32(rx->buf + rx->off) == WIRE_MAGIC)) {
		/* a frame began: its header is authentic only if have_hdr */
		ev->why = WIRE_REJ_TRUNCATED;
		if (rx->have_hdr)
			ev->hdr = rx->hdr;
		ev->hdr_ok = rx->have_hdr;
		ev->count = rx->len - rx->off;
		rx->rejects++;
		wire_rx_reset(rx);
		return WIRE_RX_REJECT;
	}
	if (!rx->quiet)
		rx->garbage += rx->len - rx->off;
	rx->skipped_total += rx->len - rx->off;
	if (rx->garbage) {
		ev->why = WIRE_REJ_GARBAGE;
		ev->count = rx->garbage;
		rx->rejects++;
		wire_rx_reset(rx);
		return WIRE_RX_REJECT;
	}
	wire_rx_reset(rx);
	return WIRE_RX_NEED;
}
