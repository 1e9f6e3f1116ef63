/*
 * gdbrsp.h - a client for the GDB remote serial protocol, as spoken by
 * QEMU's gdbstub: packet framing, checksums, escaping, run-length decoding,
 * acks, and the target description (qXfer:features:read) that gives the
 * layout of the `g` register packet.
 *
 * The peer is untrusted: every wait is bounded by a deadline, every packet
 * by GDBRSP_PKT_MAX, every retry loop by a count. A peer that closes the
 * socket, or breaks the stream beyond resync, makes the client dead: every
 * later call returns -ENODEV at once.
 *
 * Bytes are only consumed from the socket up to the end of the unit (ack or
 * packet) being read, so a stop reply that follows an ack stays in the
 * socket and keeps its fd readable for poll().
 */
#ifndef UPCALLD_GDBRSP_H
#define UPCALLD_GDBRSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GDBRSP_PKT_MAX 65536u	/* cap on one decoded packet payload */
#define GDBRSP_RETRIES 3	/* NAKs sent or received before giving up */
#define GDBRSP_QUEUE 4		/* packets that arrived while awaiting an ack */
#define GDBRSP_SKIP_MAX 1024	/* console/stray packets skipped per command */
#define GDBRSP_RUNAWAY (16u * GDBRSP_PKT_MAX)	/* body or junk bytes: give up */

struct gdbrsp_qpkt {
	char *data;		/* malloc'd, NUL-terminated */
	size_t len;
};

/* One connection. Fields are private to gdbrsp.c except the counters. */
struct gdbrsp {
	int fd;			/* owned; -1 once released */
	int timeout_ms;		/* bound on every exchange (default 2000) */
	bool dead;		/* peer gone or stream broken beyond repair */

	/* frame parser (persists across reads) */
	int st;
	unsigned char sum, csum_hi;
	unsigned int bad;
	size_t len, raw, junk;
	int64_t body_dl;	/* deadline of the packet being read */
	char *pkt;		/* GDBRSP_PKT_MAX + 1 bytes */

	struct gdbrsp_qpkt queue[GDBRSP_QUEUE];
	unsigned int q_head, q_count;

	/* counters, for logs and tests */
	unsigned long garbage;	/* bytes outside any packet */
	unsigned long naks_sent, naks_got;
	unsigned long console;	/* 'O' packets skipped */
	unsigned long strays;	/* stop replies skipped by gdbrsp_command */
	unsigned long dropped;	/* packets lost to a full queue */

	/* if set, gdbrsp_command appends decoded console output here */
	char *cons_buf;
	size_t cons_cap, cons_len;
};

/* --- codec (gdbrsp_codec.c, no I/O) --- */

uint8_t gdbrsp_checksum(const void *p, size_t n);

/*
 * Frame payload as "$<escaped>#cs" into out (NUL-terminated). Escapes
 * '$', '#', '}' and '*' with '}' and xor 0x20. Returns the frame length or
 * -ENOSPC.
 */
int gdbrsp_frame(const void *payload, size_t n, char *out, size_t cap);

/* Undo '}' escaping in place; returns the new length or -EBADMSG. */
int gdbrsp_unescape(char *buf, size_t n);

/* Value of one hex digit, or -1. */
int gdbrsp_hex_digit(unsigned char c);

/* Hex bytes to binary: returns bytes written, or -EINVAL. */
int gdbrsp_hex_decode(const char *hex, size_t n, uint8_t *out, size_t cap);
void gdbrsp_hex_encode(const void *p, size_t n, char *out);	/* 2n+1 */

/* Parse a big-endian hex number ("1f"); returns -EINVAL if none/overflow. */
int gdbrsp_parse_hex(const char *s, size_t n, uint64_t *v);

/* True for a stop reply: 'T'/'S' + two hex digits, or 'W'/'X'. */
bool gdbrsp_is_stop(const char *p, size_t n);
/* Signal number of a T/S stop reply, or -1. */
int gdbrsp_stop_signal(const char *p, size_t n);

/* --- connection --- */

/* Connect to a unix stream socket within timeout_ms; *fd is nonblocking. */
int gdbrsp_connect_unix(const char *path, int timeout_ms, int *fd);

/* Take ownership of fd (even on failure). */
int gdbrsp_init(struct gdbrsp *g, int fd, int timeout_ms);
void gdbrsp_release(struct gdbrsp *g);

/*
 * Send one packet and wait for its ack; a NAK retransmits (at most
 * GDBRSP_RETRIES). Packets that arrive meanwhile are queued for
 * gdbrsp_recv. -ETIMEDOUT, -ENODEV, -EIO (too many NAKs).
 */
int gdbrsp_send(struct gdbrsp *g, const char *payload, size_t n);

/* Send the out-of-band interrupt byte (0x03). */
int gdbrsp_interrupt(struct gdbrsp *g);

/*
 * Receive one packet (RLE expanded, not unescaped) and ack it. wait_ms
 * bounds the wait for a packet to begin (< 0 forever, 0 poll): stray acks
 * and junk do not extend it. Once begun, timeout_ms bounds the rest; a
 * packet cut by that timeout is resumed by the next call. *pkt points into g (valid until the next
 * call), NUL-terminated. -ETIMEDOUT, -ENODEV, -EBADMSG (bad checksum after
 * retries, bad RLE), -EMSGSIZE (packet over the cap, skipped).
 */
int gdbrsp_recv(struct gdbrsp *g, int wait_ms, const char **pkt, size_t *len);

/* True if a packet is already buffered (poll on fd would not show it). */
bool gdbrsp_pending(const struct gdbrsp *g);

/*
 * Send cmd and return its reply, skipping console ('O') packets and, unless
 * want_stop, stray stop replies ('T'/'S'). A 'W'/'X' reply (target exited)
 * makes g dead and returns -ENODEV. Reply validity as for gdbrsp_recv.
 */
int gdbrsp_command(struct gdbrsp *g, const char *cmd, bool want_stop,
		   const char **reply, size_t *len);

/* "E NN" reply -> -EIO (and NN through *code if non-NULL); else 0. */
int gdbrsp_reply_error(const char *reply, size_t len, int *code);

/* --- target description (gdbrsp_tdesc.c) --- */

#define GDBRSP_REGS_MAX 512	/* registers in a description */
#define GDBRSP_REG_BITS_MAX 2048	/* one register's size */
#define GDBRSP_XML_MAX (256u * 1024)	/* one description file */
#define GDBRSP_XML_FILES 16	/* files, following xi:include */
#define GDBRSP_XML_DEPTH 4	/* include nesting */
#define GDBRSP_NAME_MAX 32	/* register name, with NUL */
#define GDBRSP_HREF_MAX 64	/* included file name, with NUL */

struct gdbrsp_reg {
	char name[GDBRSP_NAME_MAX];
	unsigned int bits;
	unsigned int regnum;
	size_t offset;		/* byte offset in the `g` packet's data */
};

/* Register layout of a target, in regnum order after layout. */
struct gdbrsp_tdesc {
	struct gdbrsp_reg regs[GDBRSP_REGS_MAX];
	unsigned int nregs;
	unsigned int next_regnum;
	unsigned int files;	/* description files read so far */
	size_t g_bytes;		/* total register bytes in a `g` reply */
	char arch[64];		/* <architecture>, "" if none */
};

/*
 * Fetch one description file with qXfer:features:read into a malloc'd
 * NUL-terminated buffer (caller frees). -E2BIG over GDBRSP_XML_MAX,
 * -EPROTO on a malformed reply, -ENOENT when the stub refuses (E NN/empty).
 */
int gdbrsp_tdesc_xfer(struct gdbrsp *g, const char *annex, char **xml,
		      size_t *len);

/*
 * Load "target.xml" and, in place, every file it includes, through fetch
 * (which returns a malloc'd buffer like gdbrsp_tdesc_xfer), appending
 * <reg> elements in document order; then lay out the `g` packet.
 * -EPROTO on malformed XML or layout, -E2BIG when a cap is hit.
 */
int gdbrsp_tdesc_load(struct gdbrsp_tdesc *td,
		      int (*fetch)(void *ctx, const char *annex, char **xml,
				   size_t *len),
		      void *ctx);

/* gdbrsp_tdesc_load over g with gdbrsp_tdesc_xfer. */
int gdbrsp_tdesc_fetch(struct gdbrsp *g, struct gdbrsp_tdesc *td);

/* The register called name, or NULL. */
const struct gdbrsp_reg *gdbrsp_tdesc_find(const struct gdbrsp_tdesc *td,
					   const char *name);

#endif
