/*
 * agent.c - upcalld-agent: answers upcalls from dom0 inside a Linux guest.
 *
 * One loop, one request at a time: read whatever the channel has into the
 * resynchronising frame decoder (wire.h), answer each verified request by
 * streaming reply frames, and go back to reading. Nothing the host sends
 * can stop it: garbage and forged frames are skipped, a host that goes
 * away only loses the reply in flight (writes poll with a timeout), and a
 * host that comes back is served on the same open port without a restart.
 * On Xen the agent serves a vchan instead: when dom0's end leaves it
 * serves a fresh ring, and it takes the key from xenstore again whenever
 * a new dom0 end connects (every daemon start makes a new key).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define AUTH_REPLIES_PER_SEC 10		/* answers to requests we cannot verify */

struct agent {
	struct agent_opts o;
	struct agent_chan chan;
	struct wire_key *key;
	struct wire_rx rx;
	uint8_t *frame;			/* reply frame buffer */
	time_t auth_window;
	int auth_count;
	bool host_was_gone;
	bool key_warned;
	time_t key_checked;		/* last re-read after a bad MAC */
};

#define LOG_LINE_MAX 512		/* < PIPE_BUF: one write, never torn */

static bool log_stderr;
static unsigned long log_dropped;	/* lines the log sink had no room for */

void agent_log_init(bool foreground)
{
	log_stderr = foreground;
	if (!foreground)
		openlog("upcalld-agent", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/*
 * One line to stderr without ever waiting for it: the agent logs in the
 * middle of a request, and a log sink that stops reading (a pipe to a
 * slow console) must cost log lines, not answers. A pipe that polls
 * writable has room for PIPE_BUF bytes, so the single write below does
 * not block; without room the line is dropped and counted, and the next
 * line that fits says how many were lost.
 */
static void log_line(const char *fmt, va_list ap)
{
	struct pollfd pfd = { .fd = STDERR_FILENO, .events = POLLOUT };
	char line[LOG_LINE_MAX];
	int n = 0, m;

	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT)) {
		log_dropped++;
		return;
	}
	if (log_dropped)
		n = snprintf(line, sizeof(line), "upcalld-agent: (%lu log lines "
			     "dropped: stderr was full)\n", log_dropped);
	m = snprintf(line + n, sizeof(line) - (size_t)n, "upcalld-agent: ");
	n += m;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	n = m < 0 ? n : n + m >= (int)sizeof(line) - 1 ? (int)sizeof(line) - 2
							 : n + m;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) == n)
		log_dropped = 0;
	else
		log_dropped++;
}

void agent_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (log_stderr)
		log_line(fmt, ap);
	else
		vsyslog(prio, fmt, ap);
	va_end(ap);
}

/* ---- replies ------------------------------------------------------------ */

static int send_frame(struct agent_reply *r, uint32_t body_len, bool last,
		      unsigned int status)
{
	int n, ret;

	r->hdr.body_len = body_len;
	r->hdr.flags = last ? WIRE_F_LAST : 0;
	r->hdr.status = (uint16_t)status;
	n = wire_seal(r->key, &r->hdr, r->frame);
	if (n < 0)
		return n;
	ret = agent_chan_write(r->chan, r->frame, (size_t)n,
			       AGENT_WRITE_TIMEOUT_MS);
	if (ret < 0) {
		agent_log(LOG_WARNING, "reply %llu dropped: %s",
			  (unsigned long long)r->hdr.req_id, strerror(-ret));
		r->dead = true;
		return ret;
	}
	r->hdr.seq++;
	return 0;
}

bool agent_reply_done(const struct agent_reply *r)
{
	return r->dead || r->full;
}

int agent_reply_add(struct agent_reply *r, const uint8_t *rec, size_t len)
{
	if (r->dead)
		return -EPIPE;
#ifdef UPCALLD_AGENT_LIES
	if (agent_lie_drop(r->hdr.query, rec, len))
		return 0;
#endif
	if (r->full || r->total + len > WIRE_REPLY_BODY_MAX ||
	    r->hdr.seq + 1 >= WIRE_REPLY_FRAMES_MAX) {
		r->full = true;
		return -ENOSPC;
	}
	if (r->hdr.body_len + len > WIRE_FRAME_BODY_MAX) {
		if (send_frame(r, r->hdr.body_len, false, WIRE_ST_OK) < 0)
			return -EPIPE;
		r->hdr.body_len = 0;
	}
	memcpy(r->frame + WIRE_HDR_LEN + r->hdr.body_len, rec, len);
	r->hdr.body_len += (uint32_t)len;
	r->total += len;
	return 0;
}

int agent_reply_finish(struct agent_reply *r, unsigned int status)
{
	if (r->dead)
		return -EPIPE;
#ifdef UPCALLD_AGENT_LIES
	if (status == WIRE_ST_OK)
		agent_lie_invent(r);
#endif
	if (r->full && status == WIRE_ST_OK)
		status = WIRE_ST_PARTIAL;
	if (status != WIRE_ST_OK && status != WIRE_ST_PARTIAL)
		r->hdr.body_len = 0;	/* errors carry no records */
	return send_frame(r, r->hdr.body_len, true, status);
}

static void reply_init(struct agent *a, struct agent_reply *r,
		       const struct wire_hdr *req)
{
	memset(r, 0, sizeof(*r));
	r->chan = &a->chan;
	r->key = a->key;
	r->frame = a->frame;
	r->hdr.version = WIRE_VERSION;
	r->hdr.type = WIRE_T_REPLY;
	r->hdr.query = req->query;
	r->hdr.req_id = req->req_id;
	memcpy(r->hdr.nonce, req->nonce, WIRE_NONCE_LEN);
}

/* ---- requests ----------------------------------------------------------- */

static void answer(struct agent *a, const struct wire_hdr *h,
		   const uint8_t *body)
{
	struct agent_reply r;
	unsigned int st;
	int32_t pid;

	reply_init(a, &r, h);
	if (h->body_len > WIRE_REQ_BODY_MAX) {
		st = WIRE_ST_BAD_REQUEST;
	} else {
		switch (h->query) {
		case WIRE_Q_PROCS:
			st = agent_q_procs(&r);
			break;
		case WIRE_Q_FILES:
			st = wire_files_args_get(body, h->body_len, &pid) < 0
			     ? WIRE_ST_BAD_REQUEST : agent_q_files(&r, pid);
			break;
		case WIRE_Q_MODULES:
			st = agent_q_modules(&r);
			break;
		case WIRE_Q_INFO:
			st = agent_q_info(&r);
			break;
		default:
			st = WIRE_ST_UNSUPPORTED;
			break;
		}
	}
	agent_reply_finish(&r, st);
}

/*
 * A request we cannot verify still gets a (signed) "cannot verify" answer
 * so dom0 learns that the keys differ; rate-limited, and only if the
 * header looks like a whole request rather than a cut or garbage.
 */
static void answer_unverified(struct agent *a, const struct wire_rx_event *ev,
			      unsigned int status)
{
	const struct wire_hdr *h = &ev->hdr;
	struct agent_reply r;
	time_t now = time(NULL);

	if (h->type != WIRE_T_REQUEST || h->body_len > WIRE_REQ_BODY_MAX ||
	    (status == WIRE_ST_AUTH && h->version != WIRE_VERSION))
		return;
	if (now != a->auth_window) {
		a->auth_window = now;
		a->auth_count = 0;
	}
	if (++a->auth_count > AUTH_REPLIES_PER_SEC)
		return;
	agent_log(LOG_WARNING, "request %llu rejected: %s",
		  (unsigned long long)h->req_id, wire_status_str(status));
	reply_init(a, &r, h);
	agent_reply_finish(&r, status);
}

/*
 * Take the key for this channel (again); keep the old one on failure.
 * quiet: dom0 may not have written one yet (a vchan served at boot).
 */
static int load_key(struct agent *a, bool quiet)
{
	uint8_t key[WIRE_KEY_LEN];
	struct wire_key *k = NULL;
	int ret = agent_key_get(&a->o, &a->chan, key);

	if (ret == 0)
		ret = wire_key_new(key, &k);
	explicit_bzero(key, sizeof(key));
	if (ret < 0) {
		if (!a->key_warned && !quiet)
			agent_log(LOG_WARNING, "no key for %s (%s): %s",
				  a->chan.path, a->chan.xen ? "xenstore "
				  WIRE_XEN_KEY_NODE : "key file",
				  ret == -EINVAL ? "malformed" : ret == -EPERM ?
				  "writable by a domain other than dom0, refused" :
				  strerror(-ret));
		a->key_warned = !quiet;
		return ret;
	}
	wire_key_free(a->key);
	a->key = k;
	a->key_warned = false;
	return 0;
}

/*
 * vchan: a request that fails verification may mean that a new daemon
 * (new key) took over the old ring before we noticed the old one leave,
 * so no new peer was seen: read the key again, at most once a second.
 */
static void recheck_key(struct agent *a)
{
	time_t now = time(NULL);

	if (!a->chan.xen || now == a->key_checked)
		return;
	a->key_checked = now;
	if (load_key(a, true) == 0)
		agent_log(LOG_INFO, "request failed verification: key read "
			  "again from xenstore");
}

static void handle_requests(struct agent *a)
{
	struct wire_rx_event ev;
	enum wire_rx_result res;

	while ((res = wire_rx_next(&a->rx, a->key, &ev)) != WIRE_RX_NEED) {
		if (res == WIRE_RX_FRAME) {
			if (ev.hdr.type == WIRE_T_REQUEST)
				answer(a, &ev.hdr, ev.body);
			continue;
		}
		switch (ev.why) {
		case WIRE_REJ_BAD_MAC:
			recheck_key(a);
			answer_unverified(a, &ev, WIRE_ST_AUTH);
			break;
		case WIRE_REJ_VERSION:
			answer_unverified(a, &ev, WIRE_ST_VERSION);
			break;
		case WIRE_REJ_OVERSIZE:
			answer_unverified(a, &ev, WIRE_ST_BAD_REQUEST);
			break;
		default:	/* garbage, cut frames: nothing to answer */
			break;
		}
	}
}

/* ---- main loop ---------------------------------------------------------- */

static void nap_ms(int ms)
{
	poll(NULL, 0, ms);
}

/* Read what the channel has; false when it must be reopened. */
static bool pump(struct agent *a)
{
	size_t room;
	uint8_t *p;
	ssize_t n;

	if (agent_chan_new_peer(&a->chan)) {
		agent_log(LOG_INFO, "dom0 connected to %s", a->chan.path);
		wire_rx_reset(&a->rx);
		load_key(a, false);
	}
	p = wire_rx_space(&a->rx, &room);
	n = agent_chan_read(&a->chan, p, room);
	if (n > 0) {
		if (a->host_was_gone)
			agent_log(LOG_INFO, "host side connected");
		a->host_was_gone = false;
		wire_rx_commit(&a->rx, (size_t)n);
		if (a->key)
			handle_requests(a);
		else
			wire_rx_reset(&a->rx);	/* nothing to verify with */
		return true;
	}
	if (n == -EAGAIN)
		return agent_chan_wait(&a->chan, 1000) == 0;
	if (n == 0) {
		/* host side not connected: virtio-serial polls HUP; nap */
		if (!a->host_was_gone)
			agent_log(LOG_INFO, "host side not connected");
		a->host_was_gone = true;
		wire_rx_reset(&a->rx);	/* half-frames of an old connection */
		nap_ms(50);
		return true;
	}
	agent_log(n == -EPIPE ? LOG_INFO : LOG_WARNING, "%s: %s", a->chan.path,
		  n == -EPIPE && a->chan.xen ? "dom0 left" : strerror((int)-n));
	return false;
}

static void run(struct agent *a)
{
	int last_err = 0, ret;

	for (;;) {
		if (a->chan.fd < 0) {
			ret = agent_chan_open(&a->chan, &a->o);
			if (ret < 0) {
				if (ret != last_err)
					agent_log(LOG_WARNING, "waiting for "
						  "%s%s: %s", a->o.device ?
						  a->o.device : a->o.xen ? "" :
						  a->o.port_name,
						  agent_chan_may_be_xen(&a->o)
						  ? " (Xen vchan)" : "",
						  strerror(-ret));
				last_err = ret;
				nap_ms(500);
				continue;
			}
			last_err = 0;
			wire_rx_reset(&a->rx);
			agent_log(LOG_INFO, "serving on %s", a->chan.path);
			/* a file key was read at start; xenstore's may change */
			if (a->chan.xen || !a->key)
				load_key(a, a->chan.xen != NULL);
		}
		if (!pump(a)) {
			agent_chan_close(&a->chan);
			nap_ms(200);
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: upcalld-agent [--port-name NAME] [--key-file PATH] "
		"[--device PATH] [--xen] [--foreground]\n"
		"Answers upcalld's queries (processes, open files, modules) "
		"from /proc.\n"
		"  --port-name NAME  virtio-serial port (default org.upcalld.0)\n"
		"  --key-file PATH   32-byte key for the port or device (default "
		AGENT_KEY_FILE ")\n"
		"  --device PATH     use this device instead of the port\n"
		"  --xen             serve a Xen vchan to dom0 (the default on "
		"Xen when no port\n"
		"                    exists); the key is then dom0's, from "
		"xenstore\n"
		"  --foreground      do not detach; log to stderr\n");
}

static int parse_args(int argc, char **argv, struct agent_opts *o)
{
	static const struct option longopts[] = {
		{ "port-name", required_argument, NULL, 'p' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "device", required_argument, NULL, 'd' },
		{ "xen", no_argument, NULL, 'x' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->port_name = "org.upcalld.0";
	o->key_file = AGENT_KEY_FILE;
	while ((c = getopt_long(argc, argv, "p:k:d:xfh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': o->port_name = optarg; break;
		case 'k': o->key_file = optarg; break;
		case 'd': o->device = optarg; break;
		case 'x': o->xen = true; break;
		case 'f': o->foreground = true; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind != argc || (o->xen && o->device)) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

static int detach(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	setsid();
	if (chdir("/") < 0)
		return -errno;
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t key[WIRE_KEY_LEN];
	struct agent a = { .chan.fd = -1 };
	int ret;

#ifdef UPCALLD_AGENT_LIES
	argc = agent_lie_args(argc, argv);
	if (argc < 0)
		return 2;
#endif
	ret = parse_args(argc, argv, &a.o);
	if (ret)
		return ret > 0 ? 0 : 2;
	/* on Xen the key comes from dom0 once we serve; else it must be here */
	if (!agent_chan_may_be_xen(&a.o)) {
		ret = agent_key_get(&a.o, NULL, key);
		if (ret < 0) {
			fprintf(stderr, "upcalld-agent: key %s: %s\n",
				a.o.key_file, ret == -EINVAL ? "not 32 bytes"
				: strerror(-ret));
			return 1;
		}
		ret = wire_key_new(key, &a.key);
		explicit_bzero(key, sizeof(key));
		if (ret < 0) {
			fprintf(stderr, "upcalld-agent: key: %s\n",
				strerror(-ret));
			return 1;
		}
	}
	if (wire_rx_init(&a.rx) < 0 || !(a.frame = malloc(WIRE_FRAME_MAX))) {
		fprintf(stderr, "upcalld-agent: out of memory\n");
		return 1;
	}
	if (!a.o.foreground && detach() < 0)
		return 1;
	agent_log_init(a.o.foreground);
	signal(SIGPIPE, SIG_IGN);
	/* a busy guest must not starve the one process that reports on it */
	setpriority(PRIO_PROCESS, 0, -10);
	run(&a);
	return 0;
}
