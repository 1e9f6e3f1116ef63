/*
 * gdbrsp.c - GDB remote serial protocol client: the packet codec and the
 * connection (acks, retries, bounded waits). See gdbrsp.h for the rules a
 * hostile or broken peer is held to.
 */
#include "gdbrsp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { ST_IDLE, ST_BODY, ST_RLE, ST_CSUM1, ST_CSUM2 };
enum { U_NONE, U_ACK, U_NAK, U_PACKET, U_BADSUM, U_BADRLE, U_OVERSIZE };
#define BAD_RLE 1u
#define BAD_BIG 2u

/* --- time and I/O -------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_in(int ms)
{
	return ms < 0 ? -1 : now_ms() + ms;
}

/* Wait for events on fd until deadline (-1: forever). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int left = -1;
		if (deadline >= 0) {
			int64_t d = deadline - now_ms();
			left = d < 0 ? 0 : (d > 60000 ? 60000 : (int)d);
		}
		struct pollfd pfd = { .fd = fd, .events = events };
		int r = poll(&pfd, 1, left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0 && deadline >= 0 && now_ms() >= deadline)
			return -ETIMEDOUT;
	}
}

int gdbrsp_connect_unix(const char *path, int timeout_ms, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		if (err != -EINPROGRESS && err != -EAGAIN)
			goto out_close;
		err = wait_fd(s, POLLOUT, deadline_in(timeout_ms));
		if (err)
			goto out_close;
		socklen_t sl = sizeof(err);
		if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
			err = errno;
		err = -err;
		if (err)
			goto out_close;
	}
	*fd = s;
	return 0;
out_close:
	close(s);
	return err;
}

int gdbrsp_init(struct gdbrsp *g, int fd, int timeout_ms)
{
	memset(g, 0, sizeof(*g));
	g->fd = fd;
	g->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
	g->pkt = malloc(GDBRSP_PKT_MAX + 1);
	if (!g->pkt) {
		close(fd);
		g->fd = -1;
		return -ENOMEM;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	return 0;
}

void gdbrsp_release(struct gdbrsp *g)
{
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
	g->dead = true;
	while (g->q_count) {
		free(g->queue[g->q_head].data);
		g->q_head = (g->q_head + 1) % GDBRSP_QUEUE;
		g->q_count--;
	}
	free(g->pkt);
	g->pkt = NULL;
}

static int write_all(struct gdbrsp *g, const char *p, size_t n, int64_t dl)
{
	while (n) {
		ssize_t w = send(g->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int err = wait_fd(g->fd, POLLOUT, dl);
			if (err == -ETIMEDOUT)
				return err;
			if (!err)
				continue;
		}
		g->dead = true;
		return -ENODEV;
	}
	return 0;
}

/* --- frame parser ---------------------------------------------------------- */

static void put_byte(struct gdbrsp *g, char c)
{
	if (g->len >= GDBRSP_PKT_MAX) {
		g->bad |= BAD_BIG;
		return;
	}
	g->pkt[g->len++] = c;
}

static void body_start(struct gdbrsp *g)
{
	g->body_dl = deadline_in(g->timeout_ms);
	g->st = ST_BODY;
	g->len = 0;
	g->raw = 0;
	g->sum = 0;
	g->bad = 0;
}

/* Expand "X*N": N - 29 more copies of the byte before '*'. */
static void rle_count(struct gdbrsp *g, unsigned char c)
{
	if (g->len == 0 || c < 30 || c > 126) {
		g->bad |= BAD_RLE;
		return;
	}
	for (unsigned int i = 0; i < c - 29u; i++)
		put_byte(g, g->pkt[g->len - 1]);
}

static int end_packet(struct gdbrsp *g, unsigned char lo)
{
	int hi = gdbrsp_hex_digit(g->csum_hi), l = gdbrsp_hex_digit(lo);

	g->st = ST_IDLE;
	g->junk = 0;
	g->pkt[g->len < GDBRSP_PKT_MAX ? g->len : GDBRSP_PKT_MAX] = '\0';
	if (hi < 0 || l < 0 || (unsigned char)(hi << 4 | l) != g->sum)
		return U_BADSUM;
	if (g->bad & BAD_BIG)
		return U_OVERSIZE;
	return g->bad ? U_BADRLE : U_PACKET;
}

/* Between packets: acks, a packet start, or junk (counted and capped). */
static int feed_idle(struct gdbrsp *g, unsigned char c)
{
	if (++g->junk > GDBRSP_RUNAWAY)
		return -EMSGSIZE;
	if (c == '+')
		return U_ACK;
	if (c == '-')
		return U_NAK;
	if (c == '$')
		body_start(g);
	else
		g->garbage++;
	return U_NONE;
}

/* Feed one byte; returns a unit kind once one is complete, else U_NONE. */
static int feed(struct gdbrsp *g, unsigned char c)
{
	if (g->st == ST_BODY || g->st == ST_RLE) {
		if (++g->raw > GDBRSP_RUNAWAY)
			return -EMSGSIZE;
	}
	switch (g->st) {
	case ST_IDLE:
		return feed_idle(g, c);
	case ST_BODY:
		if (c == '$') {	/* cannot occur unescaped: a new packet */
			g->garbage += g->raw;
			body_start(g);
		} else if (c == '#') {
			g->st = ST_CSUM1;
		} else {
			g->sum += c;
			if (c == '*')
				g->st = ST_RLE;
			else
				put_byte(g, (char)c);
		}
		return U_NONE;
	case ST_RLE:
		if (c == '$') {
			g->garbage += g->raw;
			body_start(g);
			return U_NONE;
		}
		g->st = c == '#' ? ST_CSUM1 : ST_BODY;
		if (c == '#')
			g->bad |= BAD_RLE;
		else {
			g->sum += c;
			rle_count(g, c);
		}
		return U_NONE;
	case ST_CSUM1:
		g->csum_hi = c;
		g->st = ST_CSUM2;
		return U_NONE;
	default:
		return end_packet(g, c);
	}
}

/*
 * Read the next unit (ack, nak or packet), waiting until idle_dl between
 * units and until the packet's own deadline inside one. Peeks, then
 * consumes exactly the bytes parsed, so nothing after the unit is taken
 * from the socket.
 */
static int read_unit(struct gdbrsp *g, int64_t idle_dl)
{
	unsigned char buf[4096];

	if (g->dead)
		return -ENODEV;
	for (;;) {
		int err = wait_fd(g->fd, POLLIN,
				  g->st == ST_IDLE ? idle_dl : g->body_dl);
		if (err)
			return err == -ETIMEDOUT ? err : (g->dead = true, -ENODEV);
		ssize_t n = recv(g->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			g->dead = true;
			return -ENODEV;
		}
		size_t i = 0;
		int kind = U_NONE;
		while (i < (size_t)n && kind == U_NONE)
			kind = feed(g, buf[i++]);
		if (recv(g->fd, buf, i, MSG_DONTWAIT) != (ssize_t)i || kind < 0) {
			g->dead = true;
			return -ENODEV;
		}
		if (kind != U_NONE)
			return kind;
	}
}

static int send_ack(struct gdbrsp *g, char c, int64_t deadline)
{
	if (c == '-')
		g->naks_sent++;
	return write_all(g, &c, 1, deadline);
}

static void enqueue(struct gdbrsp *g)
{
	char *copy = malloc(g->len + 1);

	if (!copy || g->q_count == GDBRSP_QUEUE) {
		free(copy);
		g->dropped++;
		return;
	}
	memcpy(copy, g->pkt, g->len + 1);
	unsigned int tail = (g->q_head + g->q_count) % GDBRSP_QUEUE;
	g->queue[tail].data = copy;
	g->queue[tail].len = g->len;
	g->q_count++;
}

/* Await the ack of a sent packet: 0 on '+', 1 on '-', or -errno. */
static int wait_ack(struct gdbrsp *g, int64_t dl)
{
	for (;;) {
		int u = read_unit(g, dl), err;
		if (u < 0 || u == U_ACK)
			return u < 0 ? u : 0;
		if (u == U_NAK)
			return 1;
		if (u == U_PACKET)
			enqueue(g);	/* ack it, keep it for recv */
		err = send_ack(g, u == U_BADSUM ? '-' : '+', dl);
		if (err)
			return err;
	}
}

int gdbrsp_send(struct gdbrsp *g, const char *payload, size_t n)
{
	int64_t dl = deadline_in(g->timeout_ms);
	size_t cap = 2 * n + 8;
	char *frame;
	int len, err;

	if (g->dead)
		return -ENODEV;
	if (n > GDBRSP_PKT_MAX)
		return -EMSGSIZE;
	frame = malloc(cap);
	if (!frame)
		return -ENOMEM;
	len = gdbrsp_frame(payload, n, frame, cap);
	err = len < 0 ? len : 0;
	for (unsigned int tries = 0; !err; tries++) {
		err = write_all(g, frame, (size_t)len, dl);
		if (!err)
			err = wait_ack(g, dl);
		if (err <= 0)
			break;
		g->naks_got++;
		err = tries + 1 >= GDBRSP_RETRIES ? -EIO : 0;
	}
	free(frame);
	return err;
}

int gdbrsp_interrupt(struct gdbrsp *g)
{
	if (g->dead)
		return -ENODEV;
	return write_all(g, "\x03", 1, deadline_in(g->timeout_ms));
}

bool gdbrsp_pending(const struct gdbrsp *g)
{
	return g->q_count > 0;
}

static int dequeue(struct gdbrsp *g, const char **pkt, size_t *len)
{
	struct gdbrsp_qpkt *q = &g->queue[g->q_head];

	memcpy(g->pkt, q->data, q->len + 1);
	*pkt = g->pkt;
	*len = q->len;
	free(q->data);
	q->data = NULL;
	g->q_head = (g->q_head + 1) % GDBRSP_QUEUE;
	g->q_count--;
	return 0;
}

int gdbrsp_recv(struct gdbrsp *g, int wait_ms, const char **pkt, size_t *len)
{
	unsigned int badsums = 0;
	int64_t dl;
	int err, u;

	if (g->q_count)
		return dequeue(g, pkt, len);
	if (g->dead)
		return -ENODEV;
	dl = deadline_in(wait_ms);
	if (g->st != ST_IDLE)	/* resume a packet cut by a timeout */
		g->body_dl = deadline_in(g->timeout_ms);
	for (;;) {
		u = read_unit(g, dl);
		if (u < 0)
			return u;
		if (u == U_ACK || u == U_NAK) {
			g->garbage++;	/* stray ack: nothing awaits one */
			continue;
		}
		if (u == U_BADSUM) {
			if (++badsums > GDBRSP_RETRIES)
				return -EBADMSG;
			/* the retransmission is due now, whatever wait_ms */
			dl = deadline_in(g->timeout_ms);
			err = send_ack(g, '-', dl);
			if (err)
				return err;
			continue;
		}
		err = send_ack(g, '+', deadline_in(g->timeout_ms));
		if (err)
			return err;
		if (u == U_OVERSIZE)
			return -EMSGSIZE;
		if (u == U_BADRLE)
			return -EBADMSG;
		*pkt = g->pkt;
		*len = g->len;
		return 0;
	}
}

static bool is_console(const char *p, size_t n)
{
	if (n < 2 || p[0] != 'O' || n % 2 == 0)
		return false;
	for (size_t i = 1; i < n; i++)
		if (gdbrsp_hex_digit((unsigned char)p[i]) < 0)
			return false;
	return true;
}

static void save_console(struct gdbrsp *g, const char *hex, size_t n)
{
	size_t room;

	if (!g->cons_buf || g->cons_cap <= g->cons_len + 1)
		return;
	room = g->cons_cap - g->cons_len - 1;
	if (n / 2 < room)
		room = n / 2;
	gdbrsp_hex_decode(hex, 2 * room, (uint8_t *)g->cons_buf + g->cons_len,
			  room);
	g->cons_len += room;
	g->cons_buf[g->cons_len] = '\0';
}

int gdbrsp_command(struct gdbrsp *g, const char *cmd, bool want_stop,
		   const char **reply, size_t *len)
{
	int err = gdbrsp_send(g, cmd, strlen(cmd));

	for (unsigned int skips = 0; !err; skips++) {
		if (skips > GDBRSP_SKIP_MAX)
			return -EPROTO;
		err = gdbrsp_recv(g, g->timeout_ms, reply, len);
		if (err)
			break;
		if (is_console(*reply, *len)) {
			g->console++;
			save_console(g, *reply + 1, *len - 1);
			continue;
		}
		if (*len && ((*reply)[0] == 'W' || (*reply)[0] == 'X')) {
			g->dead = true;
			return -ENODEV;
		}
		if (!want_stop && gdbrsp_is_stop(*reply, *len)) {
			g->strays++;
			continue;
		}
		return 0;
	}
	return err;
}
