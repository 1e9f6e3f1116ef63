/*
 * agent.h - internals of upcalld-agent, the service inside a guest that
 * answers upcalls from /proc. Shared by guest-services/agent*.c only; the
 * daemon knows the agent through wire.h alone.
 *
 *   agent.c       options, main loop, request dispatch, reply framing
 *   agent_chan.c  the guest end of the channel (virtio-serial port; the
 *                 Xen vchan hook) and where the key comes from
 *   agent_proc.c  the answers: processes, open files, modules, info
 */
#ifndef UPCALLD_AGENT_H
#define UPCALLD_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define AGENT_VERSION_STR "upcalld-agent 1.0"
#define AGENT_WRITE_TIMEOUT_MS 2000	/* per frame, then drop the reply */

struct agent_opts {
	const char *port_name;		/* virtio-serial port name */
	const char *key_file;		/* NULL: the platform's key store */
	const char *device;		/* explicit device, overrides port_name */
	bool foreground;
};

/* The guest end of the upcall channel: one fd, non-blocking. */
struct agent_chan {
	int fd;				/* -1 while closed */
	char path[256];			/* what was opened, for logs */
	bool tty;			/* --device was a terminal (set raw) */
};

/*
 * Open the channel: --device if given, else the virtio-serial port whose
 * /sys/class/virtio-ports/vport*\/name is port_name (its /dev node is made
 * if missing). -ENOENT while the port is absent (driver not loaded yet),
 * -EBUSY if someone else holds it, other -errno.
 */
int agent_chan_open(struct agent_chan *c, const struct agent_opts *o);
void agent_chan_close(struct agent_chan *c);

/*
 * Write all of buf within timeout_ms, never blocking past it: -ETIMEDOUT
 * (host side gone or not reading), -EPIPE (port broken), other -errno.
 */
int agent_chan_write(struct agent_chan *c, const void *buf, size_t len,
		     int timeout_ms);

/*
 * The per-guest key: from o->key_file, or on Xen from xenstore (hook,
 * -EOPNOTSUPP until the Xen transport exists).
 */
int agent_key_get(const struct agent_opts *o, uint8_t key[WIRE_KEY_LEN]);

/*
 * A reply being streamed: records are appended to the current frame, which
 * is sealed and written when full; the last frame carries WIRE_F_LAST and
 * the final status. Once a write fails (host gone, timeout) the reply is
 * dead and the rest is dropped; producers stop early on agent_reply_done().
 */
struct agent_reply {
	struct agent_chan *chan;
	const struct wire_key *key;
	struct wire_hdr hdr;		/* template: id, nonce, query */
	uint8_t *frame;			/* WIRE_FRAME_MAX bytes */
	uint64_t total;			/* body bytes in all frames */
	bool full;			/* hit WIRE_REPLY_BODY_MAX: partial */
	bool dead;			/* a write failed */
};

/* Append one encoded record: 0, -ENOSPC (cap reached), -EPIPE (dead). */
int agent_reply_add(struct agent_reply *r, const uint8_t *rec, size_t len);
/* Send the last frame with status (WIRE_ST_PARTIAL if full). */
int agent_reply_finish(struct agent_reply *r, unsigned int status);
/* Stop producing: the reply is full or dead. */
bool agent_reply_done(const struct agent_reply *r);

/* Answers; each returns the enum wire_status of the reply. */
unsigned int agent_q_procs(struct agent_reply *r);
unsigned int agent_q_files(struct agent_reply *r, int32_t pid);
unsigned int agent_q_modules(struct agent_reply *r);
unsigned int agent_q_info(struct agent_reply *r);

#ifdef UPCALLD_AGENT_LIES
/*
 * Test-only lies (tests/lab/liar/agent_lies.c, built into
 * upcalld-agent-liar, never into upcalld-agent): take the lie options out
 * of argv (returns the new argc, or -EINVAL); drop a record on its way
 * into a reply; add invented records before a reply's last frame.
 */
int agent_lie_args(int argc, char **argv);
bool agent_lie_drop(unsigned int query, const uint8_t *rec, size_t len);
void agent_lie_invent(struct agent_reply *r);
#endif

/* syslog, or stderr in the foreground. */
void agent_log(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void agent_log_init(bool foreground);

#endif
