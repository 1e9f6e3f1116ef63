/*
 * agent.h - internals of upcalld-agent, the service inside a guest that
 * answers upcalls from /proc. Shared by guest-services/agent*.c only; the
 * daemon knows the agent through wire.h alone.
 *
 *   agent.c       options, main loop, request dispatch, reply framing
 *   agent_chan.c  the guest end of the channel (virtio-serial port, or
 *                 Xen vchan) and where the key comes from
 *   agent_xen.c   the Xen vchan server and the key in xenstore (the only
 *                 agent file with Xen headers; stubs without them)
 *   agent_proc.c  the answers: processes, open files, modules, info
 */
#ifndef UPCALLD_AGENT_H
#define UPCALLD_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

#define AGENT_VERSION_STR "upcalld-agent 1.0"
#define AGENT_WRITE_TIMEOUT_MS 2000	/* per frame, then drop the reply */

#define AGENT_KEY_FILE "/etc/upcalld/agent.key"

struct agent_opts {
	const char *port_name;		/* virtio-serial port name */
	const char *key_file;		/* virtio key file (AGENT_KEY_FILE) */
	const char *device;		/* explicit device, overrides port_name */
	bool xen;			/* --xen: Xen vchan only */
	bool foreground;
};

struct agent_xen;

/*
 * The guest end of the upcall channel, non-blocking: a device (virtio-
 * serial port, --device) or a Xen vchan server (then fd is its event
 * channel's, owned by xen).
 */
struct agent_chan {
	int fd;				/* -1 while closed */
	char path[256];			/* what was opened, for logs */
	bool tty;			/* --device was a terminal (set raw) */
	struct agent_xen *xen;		/* the vchan, or NULL */
};

/*
 * Open the channel: --device if given; else (unless --xen) the
 * virtio-serial port whose /sys/class/virtio-ports/vport*\/name is
 * port_name (its /dev node is made if missing); else, on Xen, a vchan
 * server for dom0 under this domain's WIRE_XEN_VCHAN_DIR (fresh grants
 * each time). -ENOENT while no port is there (driver not loaded yet) and
 * not on Xen, -EBUSY if someone else holds the port, -ENODEV when Xen's
 * devices (gntalloc, evtchn) are missing, other -errno.
 */
int agent_chan_open(struct agent_chan *c, const struct agent_opts *o);
void agent_chan_close(struct agent_chan *c);
/* True when o may end up on Xen (so the key may come from xenstore). */
bool agent_chan_may_be_xen(const struct agent_opts *o);

/*
 * Read without blocking: bytes (> 0); 0 when the host side is not
 * connected (virtio: nap, then read again); -EAGAIN when nothing is there
 * (then agent_chan_wait); -EPIPE and other -errno when the channel must be
 * closed and opened again (vchan: dom0's end left; the next open serves a
 * fresh ring for the next daemon).
 */
ssize_t agent_chan_read(struct agent_chan *c, void *buf, size_t len);
/* Wait up to timeout_ms for something to read: 0, or -errno to reopen. */
int agent_chan_wait(struct agent_chan *c, int timeout_ms);
/* True once for every new dom0 end that connected to the vchan. */
bool agent_chan_new_peer(struct agent_chan *c);

/*
 * Write all of buf within timeout_ms, never blocking past it: -ETIMEDOUT
 * (host side gone or not reading), -EPIPE (port broken), other -errno.
 */
int agent_chan_write(struct agent_chan *c, const void *buf, size_t len,
		     int timeout_ms);

/*
 * The per-guest key: on a vchan from xenstore (WIRE_XEN_KEY_NODE, which
 * dom0 rewrites on every attach; -ENOENT until dom0 wrote it), else from
 * o->key_file (c may be NULL for that).
 */
int agent_key_get(const struct agent_opts *o, const struct agent_chan *c,
		  uint8_t key[WIRE_KEY_LEN]);

/* ---- agent_xen.c: the vchan server (stubs without Xen) ----------------- */

/* /dev/xen/xenbus or /proc/xen exists (and the agent was built for it). */
bool agent_xen_present(void);
/* Serve a new ring for dom0; desc says where, for logs. */
int agent_xen_open(struct agent_xen **out, char *desc, size_t len);
void agent_xen_close(struct agent_xen *x);
int agent_xen_fd(const struct agent_xen *x);
/* As agent_chan_read: > 0, -EAGAIN (nothing, or no client yet), -EPIPE. */
ssize_t agent_xen_read(struct agent_xen *x, void *buf, size_t len);
/* Bytes written (> 0), -EAGAIN (ring full, no client yet), -EPIPE. */
ssize_t agent_xen_write(struct agent_xen *x, const void *buf, size_t len);
/* Wait up to timeout_ms for an event and take it: 0 or -errno. */
int agent_xen_wait(struct agent_xen *x, int timeout_ms);
bool agent_xen_new_peer(struct agent_xen *x);
/*
 * This domain's key from xenstore: 0, -ENOENT (not written yet), -EINVAL
 * (not 64 hex digits), -EPERM (a domain other than dom0 owns the node or
 * may write it: not dom0's key, refused).
 */
int agent_xen_key(uint8_t key[WIRE_KEY_LEN]);

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
