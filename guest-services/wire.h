/*
 * wire.h - the upcall wire protocol, shared by upcalld (dom0) and
 * upcalld-agent (inside the guest). This header and wire.c are the only
 * code the two sides share.
 *
 * A byte stream (virtio-serial port, vchan ring) carries frames. All
 * integers are little-endian and fixed width. Version 1 frame:
 *
 *   off len  field
 *     0   4  magic      WIRE_MAGIC ("UPCL")
 *     4   2  version    WIRE_VERSION
 *     6   2  type       enum wire_type (request / reply)
 *     8   2  query      enum wire_query
 *    10   2  status     enum wire_status (replies; 0 in requests)
 *    12   4  flags      WIRE_F_LAST
 *    16   8  req_id     chosen by the daemon, echoed by the agent
 *    24  16  nonce      random per request (daemon), echoed by the agent
 *    40   4  seq        frame number within one reply, from 0
 *    44   4  body_len   <= WIRE_FRAME_BODY_MAX
 *    48  32  hdr_mac    HMAC-SHA256(key, "H" || bytes 0..47)
 *    80   n  body       query arguments (request) or records (reply)
 *  80+n  32  frame_mac  HMAC-SHA256(key, "F" || bytes 0..80+n-1)
 *
 * Why two MACs: the stream may start mid-frame (the host side connects
 * before or after the agent opens its port, data written while nobody
 * listened may be stale). A receiver resynchronises on the magic and
 * trusts a header (its body_len above all) only once hdr_mac verifies, so
 * garbage can never make it wait for megabytes; frame_mac then covers the
 * header and the body together.
 *
 * Why multi-frame replies (seq + WIRE_F_LAST) rather than one 16 MiB
 * frame: each frame is verified before its records are used, the
 * receiver's buffer is bounded by WIRE_FRAME_MAX per connection however
 * large the answer (the daemon watches many guests), the agent streams
 * /proc without holding the whole answer, and a reply cut by an agent
 * restart costs at most one frame of buffering. Records never span frames,
 * so every frame body is checkable on its own. The whole reply is capped
 * at WIRE_REPLY_BODY_MAX bytes and WIRE_REPLY_FRAMES_MAX frames.
 *
 * Extending: new queries take new enum wire_query values; an agent that
 * does not know one answers WIRE_ST_UNSUPPORTED (one empty LAST frame).
 * Records start with their own length, so fields appended to a record
 * later are skipped by older decoders. Request argument bodies likewise
 * may grow; receivers read the prefix they know.
 *
 * Ownership: decoded records point into the body they came from (strings
 * are not NUL-terminated: use the *_len fields). struct wire_key is opaque,
 * owned by whoever called wire_key_new(), and used by one thread at a time
 * (it keeps one HMAC context); so is a struct wire_rx.
 */
#ifndef UPCALLD_WIRE_H
#define UPCALLD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC 0x4c435055u		/* bytes "UPCL" */
#define WIRE_VERSION 1u
#define WIRE_KEY_LEN 32u
#define WIRE_NONCE_LEN 16u
#define WIRE_MAC_LEN 32u
#define WIRE_HDR_FIELDS_LEN 48u		/* header bytes covered by hdr_mac */
#define WIRE_HDR_LEN 80u
#define WIRE_FRAME_BODY_MAX (64u * 1024u)
#define WIRE_FRAME_MAX (WIRE_HDR_LEN + WIRE_FRAME_BODY_MAX + WIRE_MAC_LEN)
#define WIRE_REPLY_BODY_MAX (16u * 1024u * 1024u)
#define WIRE_REPLY_FRAMES_MAX 4096u
#define WIRE_REQ_BODY_MAX 4096u		/* requests carry small arguments */

#define WIRE_COMM_LEN 16u		/* TASK_COMM_LEN, NUL included */
#define WIRE_MODNAME_MAX 63u		/* bytes of a module name */
#define WIRE_PATH_MAX 4096u		/* bytes of an exe path / fd link */
#define WIRE_AGENT_STR_MAX 64u

enum wire_type { WIRE_T_REQUEST = 1, WIRE_T_REPLY = 2 };

enum wire_query {
	WIRE_Q_PROCS = 1,	/* all processes (thread-group leaders) */
	WIRE_Q_FILES = 2,	/* open files of one process or all */
	WIRE_Q_MODULES = 3,	/* kernel modules */
	WIRE_Q_INFO = 4,	/* agent facts: versions, queries, CLK_TCK */
	WIRE_Q_MAX_KNOWN = 4,	/* highest query this code knows */
};

enum wire_status {
	WIRE_ST_OK = 0,
	WIRE_ST_UNSUPPORTED = 1,	/* unknown query */
	WIRE_ST_BAD_REQUEST = 2,	/* arguments missing or invalid */
	WIRE_ST_NOT_FOUND = 3,		/* e.g. no such pid */
	WIRE_ST_PARTIAL = 4,		/* reply cut at the size cap */
	WIRE_ST_ERROR = 5,		/* the agent failed (e.g. /proc) */
	WIRE_ST_AUTH = 6,		/* the request's MAC did not verify */
	WIRE_ST_VERSION = 7,		/* the request's version is not spoken */
};

#define WIRE_F_LAST 1u			/* last frame of a reply */
#define WIRE_PID_ALL (-1)		/* WIRE_Q_FILES: every process */

/* A decoded header. */
struct wire_hdr {
	uint16_t version, type, query, status;
	uint32_t flags, seq, body_len;
	uint64_t req_id;
	uint8_t nonce[WIRE_NONCE_LEN];
};

/*
 * Records. Wire layouts (offsets in bytes, all little-endian):
 *
 * process, 56 + exe_len:  0 u16 rec_len, 2 u16 flags, 4 i32 pid, 8 i32 ppid,
 *   12 i32 tgid, 16 u32 uid, 20 u32 euid, 24 u32 gid, 28 u8 state,
 *   29 u8 0, 30 u16 exe_len, 32 u64 start_ns, 40 comm[16] (NUL-padded,
 *   at least one NUL), 56 exe
 * module, 24 + name_len:  0 u16 rec_len, 2 u16 flags, 4 u8 state,
 *   5 u8 name_len (1..63), 6 u16 0, 8 u64 size, 16 u64 base, 24 name
 * file, 16 + link_len:    0 u16 rec_len, 2 u16 flags, 4 i32 pid, 8 i32 fd,
 *   12 u16 link_len, 14 u16 0, 16 link
 * info, 24 + agent_len:   0 u16 rec_len, 2 u16 0, 4 u32 max version,
 *   8 u32 query bitmap (bit q = query q answered), 12 u32 clk_tck,
 *   16 u32 frame body max, 20 u8 agent_len, 21..23 0, 24 agent string
 * Strings hold no NUL byte. rec_len may exceed the sum (later fields).
 */
#define WIRE_PROC_FIXED 56u
#define WIRE_MODULE_FIXED 24u
#define WIRE_FILE_FIXED 16u
#define WIRE_INFO_FIXED 24u
#define WIRE_FILES_ARGS_LEN 8u		/* i32 pid, u32 flags (0) */

#define WIRE_PROC_EXE_TRUNC 1u		/* exe path longer than sent */
#define WIRE_MOD_HAS_BASE 1u		/* base is a real address */
#define WIRE_FILE_LINK_TRUNC 1u		/* link text longer than sent */

/*
 * start_ns is the process start time in ns since boot (CLOCK_BOOTTIME) at
 * the resolution /proc gives: whole clock ticks (1/USER_HZ s, 10 ms on
 * x86), i.e. task->start_boottime rounded down to a tick.
 */
struct wire_proc {
	int32_t pid, ppid, tgid;
	uint32_t uid, euid, gid;
	uint64_t start_ns;
	char state;			/* /proc/PID/stat field 3: 'R', 'S' ... */
	uint16_t flags;			/* WIRE_PROC_* */
	char comm[WIRE_COMM_LEN];	/* NUL-terminated */
	const char *exe;		/* exe_len bytes, NULL if none */
	uint16_t exe_len;
};

enum wire_mod_state {
	WIRE_MOD_LIVE = 0, WIRE_MOD_COMING = 1, WIRE_MOD_GOING = 2,
	WIRE_MOD_UNFORMED = 3,		/* same values as the kernel's */
};

struct wire_module {
	uint8_t state;			/* enum wire_mod_state */
	uint16_t flags;			/* WIRE_MOD_* */
	uint64_t size;			/* core size, bytes, as /proc/modules */
	uint64_t base;			/* valid if flags & WIRE_MOD_HAS_BASE */
	const char *name;		/* name_len bytes */
	uint8_t name_len;
};

struct wire_file {
	int32_t pid, fd;
	uint16_t flags;			/* WIRE_FILE_* */
	const char *link;		/* link_len bytes, as readlink shows it */
	uint16_t link_len;
};

struct wire_info {
	uint32_t max_version;
	uint32_t queries;		/* bit (1 << q) for each answered query */
	uint32_t clk_tck;
	uint32_t frame_body_max;
	const char *agent;		/* agent_len bytes */
	uint8_t agent_len;
};

/* ---- keys and MACs ---------------------------------------------------- */

struct wire_key;

/* A MAC context for one 32-byte key. -ENOMEM, -EIO (OpenSSL failed). */
int wire_key_new(const uint8_t key[WIRE_KEY_LEN], struct wire_key **out);
void wire_key_free(struct wire_key *k);

/* Read a key file: exactly WIRE_KEY_LEN raw bytes, else -EINVAL. */
int wire_key_load(const char *path, uint8_t key[WIRE_KEY_LEN]);

/*
 * The Xen rendezvous, in xenstore below the guest's /local/domain/<id>
 * (the agent uses these relative paths, which resolve against its own
 * domain; dom0 prefixes the guest's). The agent serves a libxenvchan ring
 * under WIRE_XEN_VCHAN_DIR, which the guest may write. dom0 writes the key
 * as 2 * WIRE_KEY_LEN lowercase hex digits to WIRE_XEN_KEY_NODE, which only
 * dom0 may write and only dom0 and that guest may read, afresh on every
 * attach: the agent re-reads it whenever a new dom0 end connects.
 */
#define WIRE_XEN_VCHAN_DIR "data/upcalld"
#define WIRE_XEN_KEY_DIR "upcalld"
#define WIRE_XEN_KEY_NODE "upcalld/key"

/* HMAC-SHA256 of one domain byte followed by p[0..len). */
int wire_mac(const struct wire_key *k, char domain, const void *p,
	     size_t len, uint8_t mac[WIRE_MAC_LEN]);

/* ---- frames ----------------------------------------------------------- */

static inline size_t wire_frame_len(uint32_t body_len)
{
	return (size_t)WIRE_HDR_LEN + body_len + WIRE_MAC_LEN;
}

/*
 * Seal a frame whose body (h->body_len bytes) already sits at
 * frame + WIRE_HDR_LEN: write the header, its MAC, and the trailer MAC.
 * Returns the frame length, or -EMSGSIZE if body_len is over the cap.
 */
int wire_seal(const struct wire_key *k, const struct wire_hdr *h,
	      uint8_t *frame);

/*
 * Copy body into out and seal it. out must hold wire_frame_len(body_len)
 * (-ENOSPC otherwise). Returns the frame length or -errno.
 */
int wire_encode(const struct wire_key *k, const struct wire_hdr *h,
		const void *body, uint8_t *out, size_t cap);

/*
 * Parse the WIRE_HDR_LEN bytes at p into h whatever their MAC says.
 * Returns 0 if the magic and hdr_mac are right, -EBADMSG otherwise (h is
 * filled all the same, for diagnostics: trust nothing in it then).
 */
int wire_hdr_parse(const struct wire_key *k, const uint8_t *p,
		   struct wire_hdr *h);

/* Verify the trailer MAC of a whole frame of len bytes. */
bool wire_frame_mac_ok(const struct wire_key *k, const uint8_t *frame,
		       size_t len);

/* ---- stream decoder --------------------------------------------------- */

enum wire_reject {
	WIRE_REJ_GARBAGE = 1,	/* bytes that are no frame were skipped */
	WIRE_REJ_BAD_MAC,	/* header or frame MAC did not verify */
	WIRE_REJ_VERSION,	/* authentic header, other version */
	WIRE_REJ_OVERSIZE,	/* authentic header, body_len over the cap */
	WIRE_REJ_TRUNCATED,	/* frame cut (new frame or end of stream) */
};

enum wire_rx_result { WIRE_RX_NEED = 0, WIRE_RX_FRAME, WIRE_RX_REJECT };

struct wire_rx_event {
	enum wire_reject why;		/* WIRE_RX_REJECT */
	struct wire_hdr hdr;		/* the frame's header */
	bool hdr_ok;			/* hdr passed its MAC */
	bool frame_mac_bad;		/* BAD_MAC: the trailer, not the header */
	const uint8_t *body;		/* WIRE_RX_FRAME: hdr.body_len bytes */
	uint64_t count;			/* GARBAGE: bytes; TRUNCATED: bytes had */
};

/*
 * Resynchronising frame decoder over a byte stream. Holds at most
 * WIRE_FRAME_MAX bytes. After a rejection it restarts the search one byte
 * past the rejected frame's magic, so a good frame hidden behind a cut or
 * forged one is still found. Bytes skipped right after a rejection are
 * counted in skipped_total but not reported again as garbage.
 */
struct wire_rx {
	uint8_t *buf;
	size_t off, len, cap;		/* valid bytes are buf[off..len) */
	size_t consume;			/* frame handed out, drop on next call */
	size_t scan;			/* lookahead position in a pending frame */
	bool have_hdr, quiet;
	struct wire_hdr hdr;		/* pending frame's header */
	uint64_t garbage;		/* current garbage run */
	/* statistics */
	uint64_t frames, rejects, skipped_total;
};

int wire_rx_init(struct wire_rx *rx);
void wire_rx_release(struct wire_rx *rx);
/* Drop everything buffered (e.g. the peer changed) without reporting. */
void wire_rx_reset(struct wire_rx *rx);

/*
 * Room to read into: returns a pointer and *room > 0 bytes. Call
 * wire_rx_next() until WIRE_RX_NEED before asking again; room is never 0
 * then. Invalidates bodies handed out earlier.
 */
uint8_t *wire_rx_space(struct wire_rx *rx, size_t *room);
void wire_rx_commit(struct wire_rx *rx, size_t n);

/* Copy up to n bytes in; returns how many were taken (then drain). */
size_t wire_rx_feed(struct wire_rx *rx, const void *p, size_t n);

/*
 * Next event from what is buffered: WIRE_RX_FRAME (ev->hdr, ev->body valid
 * until the next wire_rx_* call), WIRE_RX_REJECT (ev->why), or
 * WIRE_RX_NEED when more bytes are needed. Never loops unbounded: each
 * call consumes or rejects something, or returns NEED.
 */
enum wire_rx_result wire_rx_next(struct wire_rx *rx, const struct wire_key *k,
				 struct wire_rx_event *ev);

/*
 * The stream ended (peer gone). Reports a pending frame as TRUNCATED or a
 * pending garbage run as GARBAGE (returns WIRE_RX_REJECT), else
 * WIRE_RX_NEED; then resets. Call until it returns WIRE_RX_NEED.
 */
enum wire_rx_result wire_rx_eof(struct wire_rx *rx, struct wire_rx_event *ev);

/* ---- records ---------------------------------------------------------- */

/*
 * Append one record to buf[0..cap): returns its length, -ENOSPC if it does
 * not fit, -EINVAL if a field is out of range (string too long, comm
 * without NUL). Strings over the cap are cut and flagged by the caller.
 */
int wire_proc_put(uint8_t *buf, size_t cap, const struct wire_proc *p);
int wire_module_put(uint8_t *buf, size_t cap, const struct wire_module *m);
int wire_file_put(uint8_t *buf, size_t cap, const struct wire_file *f);
int wire_info_put(uint8_t *buf, size_t cap, const struct wire_info *i);

/*
 * Decode the record at body[*off] and advance *off. Returns 0, 1 at the
 * exact end of the body, -ENODATA if the record is cut by the body's end
 * (truncated), -EBADMSG if it is inconsistent (lengths, NUL in a string,
 * out-of-range values). Pointers in the record point into body.
 */
int wire_proc_next(const uint8_t *body, size_t len, size_t *off,
		   struct wire_proc *p);
int wire_module_next(const uint8_t *body, size_t len, size_t *off,
		     struct wire_module *m);
int wire_file_next(const uint8_t *body, size_t len, size_t *off,
		   struct wire_file *f);
int wire_info_next(const uint8_t *body, size_t len, size_t *off,
		   struct wire_info *i);

/* WIRE_Q_FILES arguments: encode (returns WIRE_FILES_ARGS_LEN) / decode. */
int wire_files_args_put(uint8_t *buf, size_t cap, int32_t pid);
int wire_files_args_get(const uint8_t *body, size_t len, int32_t *pid);

const char *wire_query_str(unsigned int q);
const char *wire_status_str(unsigned int st);
const char *wire_reject_str(enum wire_reject r);

/* Little-endian helpers (unaligned-safe), shared by both sides. */
static inline void wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void wire_put32(uint8_t *p, uint32_t v)
{
	wire_put16(p, (uint16_t)v);
	wire_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void wire_put64(uint8_t *p, uint64_t v)
{
	wire_put32(p, (uint32_t)v);
	wire_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t wire_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t wire_get32(const uint8_t *p)
{
	return (uint32_t)wire_get16(p) | ((uint32_t)wire_get16(p + 2) << 16);
}

static inline uint64_t wire_get64(const uint8_t *p)
{
	return (uint64_t)wire_get32(p) | ((uint64_t)wire_get32(p + 4) << 32);
}

#endif
