/*
 * agent_xen.c - the agent's Xen transport: a libxenvchan server for dom0
 * (like Qubes' qrexec-agent) and this domain's upcall key in xenstore.
 * The only agent file with Xen headers; built with them when the Makefile
 * finds the static Xen libraries (AGENT_HAVE_XEN), as stubs otherwise.
 *
 * The ring lives under /local/domain/<self>/WIRE_XEN_VCHAN_DIR, a path
 * the guest may write; libxenvchan writes ring-ref and event-channel there
 * readable by dom0 only, and removes them on close. One dom0 end at a
 * time: when it leaves (libxenvchan_is_open() 0: closed, or its process
 * died and gntdev cleared its byte) the caller closes us and serves a
 * fresh ring with new grants, which the next daemon finds in xenstore.
 *
 * Needs /dev/xen/gntalloc and /dev/xen/evtchn (modules xen-gntalloc,
 * xen-evtchn) and xenstore access (/dev/xen/xenbus).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

bool agent_xen_present(void)
{
#ifdef AGENT_HAVE_XEN
	return access("/dev/xen/xenbus", F_OK) == 0 ||
	       access("/proc/xen", F_OK) == 0;
#else
	return false;
#endif
}

#ifdef AGENT_HAVE_XEN
#include <openssl/crypto.h>
#include <xenstore.h>
#include <libxenvchan.h>

#define RING_FROM_DOM0 2048u		/* requests: small */
#define RING_TO_DOM0 (64u * 1024u)	/* replies: one whole frame */
#define DOMID_MAX 0x7fefu

struct agent_xen {
	struct libxenvchan *vc;
	bool peer;			/* a dom0 end has connected */
	bool new_peer;
};

static int read_domid(unsigned int *domid)
{
	struct xs_handle *xs = xs_open(0);
	unsigned int len = 0;
	unsigned long v;
	char *s, *end;

	if (!xs)
		return -ENODEV;
	s = xs_read(xs, XBT_NULL, "domid", &len);
	xs_close(xs);
	if (!s)
		return -ENOENT;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v == 0 || v > DOMID_MAX) {
		free(s);
		return -EINVAL;
	}
	free(s);
	*domid = (unsigned int)v;
	return 0;
}

int agent_xen_open(struct agent_xen **out, char *desc, size_t len)
{
	struct agent_xen *x;
	unsigned int domid;
	char path[64];
	int ret;

	if (access("/dev/xen/gntalloc", F_OK) || access("/dev/xen/evtchn", F_OK))
		return -ENODEV;
	ret = read_domid(&domid);
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), "/local/domain/%u/" WIRE_XEN_VCHAN_DIR,
		 domid);
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	errno = 0;	/* server_init may fail without setting it */
	x->vc = libxenvchan_server_init(NULL, 0, path, RING_FROM_DOM0,
					RING_TO_DOM0);
	if (!x->vc) {
		ret = errno ? -errno : -EIO;
		free(x);
		return ret;
	}
	x->vc->blocking = 0;
	snprintf(desc, len, "vchan %s", path);
	*out = x;
	return 0;
}

void agent_xen_close(struct agent_xen *x)
{
	if (!x)
		return;
	libxenvchan_close(x->vc);	/* tells dom0, removes our nodes */
	free(x);
}

int agent_xen_fd(const struct agent_xen *x)
{
	return libxenvchan_fd_for_select(x->vc);
}

/* Take a pending event; libxenvchan_wait would block without one. */
static int take_event(struct agent_xen *x, int timeout_ms)
{
	struct pollfd pfd = { .fd = agent_xen_fd(x), .events = POLLIN };
	int n = poll(&pfd, 1, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0 || !(pfd.revents & (POLLIN | POLLERR | POLLNVAL)))
		return 0;
	if (pfd.revents & (POLLERR | POLLNVAL))
		return -EIO;
	return libxenvchan_wait(x->vc) < 0 ? -EIO : 0;
}

/* 0: dom0 left, 1: connected, 2: nobody yet (libxenvchan's values). */
static int peer_state(struct agent_xen *x)
{
	int st = libxenvchan_is_open(x->vc);

	if (st == 1 && !x->peer)
		x->peer = x->new_peer = true;
	return st;
}

bool agent_xen_new_peer(struct agent_xen *x)
{
	bool n;

	peer_state(x);
	n = x->new_peer;
	x->new_peer = false;
	return n;
}

ssize_t agent_xen_read(struct agent_xen *x, void *buf, size_t len)
{
	int ret = take_event(x, 0), st, n;

	if (ret < 0)
		return ret;
	st = peer_state(x);
	if (st == 2)
		return -EAGAIN;
	n = libxenvchan_read(x->vc, buf, len > INT32_MAX ? INT32_MAX : len);
	if (n > 0)
		return n;
	if (n == 0 && st != 0)
		return -EAGAIN;
	return -EPIPE;
}

ssize_t agent_xen_write(struct agent_xen *x, const void *buf, size_t len)
{
	int st = peer_state(x), n;

	if (st == 0)
		return -EPIPE;
	if (st == 2)
		return -EAGAIN;
	n = libxenvchan_write(x->vc, buf, len > INT32_MAX ? INT32_MAX : len);
	if (n > 0)
		return n;
	return n == 0 ? -EAGAIN : -EPIPE;
}

int agent_xen_wait(struct agent_xen *x, int timeout_ms)
{
	return take_event(x, timeout_ms);
}

/*
 * Whether the key node is as dom0 writes it (xen_store_put_key): owned by
 * dom0 and writable by no other domain. A node anyone else could have
 * written (a toolstack that leaves /local/domain/<id> to the guest) may
 * hold a key planted inside this guest: using it would let that writer
 * decide which requests we verify, so it is refused, not trusted.
 */
static bool key_node_trusted(const struct xs_permissions *p, unsigned int n)
{
	if (n == 0 || p[0].id != 0 || (p[0].perms & XS_PERM_WRITE))
		return false;	/* p[0]: owner, and everyone else's access */
	for (unsigned int i = 1; i < n; i++)
		if (p[i].id != 0 && (p[i].perms & XS_PERM_WRITE))
			return false;
	return true;
}

/* 2 * WIRE_KEY_LEN hex digits to key; on -EINVAL key holds nothing. */
static int key_decode(const char *s, unsigned int len, uint8_t key[WIRE_KEY_LEN])
{
	if (len != 2 * WIRE_KEY_LEN)
		return -EINVAL;
	for (unsigned int i = 0; i < WIRE_KEY_LEN; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)s[2 * i]);
		int lo = OPENSSL_hexchar2int((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			explicit_bzero(key, WIRE_KEY_LEN);
			return -EINVAL;
		}
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* The key node's value once its permissions say dom0 wrote it. */
static char *key_read(struct xs_handle *xs, unsigned int *len)
{
	struct xs_permissions *perms;
	unsigned int n = 0;
	bool trusted;

	perms = xs_get_permissions(xs, XBT_NULL, WIRE_XEN_KEY_NODE, &n);
	if (!perms)
		return NULL;	/* errno: ENOENT until dom0 wrote it */
	trusted = key_node_trusted(perms, n);
	free(perms);
	if (!trusted) {
		errno = EPERM;
		return NULL;
	}
	return xs_read(xs, XBT_NULL, WIRE_XEN_KEY_NODE, len);
}

int agent_xen_key(uint8_t key[WIRE_KEY_LEN])
{
	struct xs_handle *xs = xs_open(0);
	unsigned int len = 0;
	int ret;
	char *s;

	if (!xs)
		return -ENODEV;
	errno = 0;
	s = key_read(xs, &len);
	ret = s ? 0 : errno == EPERM ? -EPERM : -ENOENT;
	xs_close(xs);
	if (!s)
		return ret;
	ret = key_decode(s, len, key);
	explicit_bzero(s, len);
	free(s);
	return ret;
}

#else /* !AGENT_HAVE_XEN: built without the Xen libraries */

int agent_xen_open(struct agent_xen **out, char *desc, size_t len)
{
	return -EOPNOTSUPP;
}

void agent_xen_close(struct agent_xen *x)
{
}

int agent_xen_fd(const struct agent_xen *x)
{
	return -1;
}

ssize_t agent_xen_read(struct agent_xen *x, void *buf, size_t len)
{
	return -EOPNOTSUPP;
}

ssize_t agent_xen_write(struct agent_xen *x, const void *buf, size_t len)
{
	return -EOPNOTSUPP;
}

int agent_xen_wait(struct agent_xen *x, int timeout_ms)
{
	return -EOPNOTSUPP;
}

bool agent_xen_new_peer(struct agent_xen *x)
{
	return false;
}

int agent_xen_key(uint8_t key[WIRE_KEY_LEN])
{
	return -EOPNOTSUPP;
}

#endif
