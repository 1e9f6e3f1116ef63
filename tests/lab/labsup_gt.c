/*
 * labsup_gt.c - lab_run (see labsup.h): the ground-truth framing of
 * tests/lab/init spoken directly on a guest's gt.sock.
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
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/evp.h>

#define LAB_OUT_CAP (16u << 20)		/* command output kept, bytes */
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
