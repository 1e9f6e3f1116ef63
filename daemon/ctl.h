/*
 * ctl.h - the control socket: upcallctl's way in.
 *
 * A unix stream socket (mode 0600, root only). One request per line, one
 * JSON object: {"cmd": "status"} ... ; one JSON reply line per request.
 * Requests may be answered later (a live "ps" from the guest waits for an
 * upcall): the request callback gets a client id and the daemon calls
 * ctl_reply() with it whenever the answer is ready. Ids carry a generation,
 * so a reply for a client that has since gone is dropped, not misdelivered.
 *
 * Everything is non-blocking and bounded: CTL_CLIENTS_MAX connections,
 * CTL_REQ_MAX bytes per request line, CTL_OUT_MAX bytes of pending output
 * per client (a client that does not read is disconnected).
 *
 * Ownership: ctl_reply() takes ownership of the reply object. The request
 * object passed to the callback is owned by ctl and freed after it returns.
 */
#ifndef UPCALLD_CTL_H
#define UPCALLD_CTL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct ctl;

#define CTL_CLIENTS_MAX 32u
#define CTL_REQ_MAX (64u * 1024u)
#define CTL_OUT_MAX (32u * 1024u * 1024u)

/* Called once per well-formed request; reply now or later with ctl_reply. */
typedef void ctl_request_fn(void *ctx, struct ctl *c, uint64_t client,
			    struct json_object *req);

/* Bind path (replacing a stale socket), listen. -errno. */
int ctl_new(const char *path, ctl_request_fn *fn, void *ctx, struct ctl **out);
void ctl_free(struct ctl *c);

/* Queue a reply line. -ENOENT if the client is gone (reply freed anyway). */
int ctl_reply(struct ctl *c, uint64_t client, struct json_object *reply);

/* Shorthand: {"ok": false, "error": msg}. */
int ctl_reply_error(struct ctl *c, uint64_t client, const char *msg);

/* Fill up to max pollfds (listener + clients); returns how many. */
size_t ctl_pollfds(struct ctl *c, struct pollfd *pfd, size_t max);
/* Handle the revents of the pollfds ctl_pollfds filled. */
void ctl_dispatch(struct ctl *c, const struct pollfd *pfd, size_t n);

/* --- client side (upcallctl, tests) -------------------------------------- */

/*
 * Send req to the daemon at path and wait up to timeout_ms for the reply.
 * Returns 0 and *reply (caller puts it), -errno.
 */
int ctl_call(const char *path, struct json_object *req, int timeout_ms,
	     struct json_object **reply);

#endif
