/*
 * upcalld - watch guests, cross-check what they say against their memory,
 * alert on lies. This file: command line, start-up, reload, the poll loop
 * and systemd notification. Guests are in guest.c, the control commands in
 * ctlcmd.c.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "ctlcmd.h"
#include "discover.h"
#include "guest.h"
#include "profcache.h"
#include "scan.h"
#include "upcall.h"
#include "upcalld.h"

#define POLL_MAX 1024u

uint64_t upcalld_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void upcalld_log(const struct upcalld *d, int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (d->verbose) {
		va_list ap2;

		va_copy(ap2, ap);
		fprintf(stderr, "upcalld: ");
		vfprintf(stderr, fmt, ap2);
		fputc('\n', stderr);
		va_end(ap2);
	}
	vsyslog(prio, fmt, ap);
	va_end(ap);
}

int upcalld_alert(struct upcalld *d, const struct alert *a)
{
	int rc = alert_emit(d->hub, a, alert_now_mono());

	d->st.alerts++;
	if (rc < 0)
		d->st.alerts_failed++;
	return rc;
}

/* Sinks from the config's outputs. */
static int upcalld_add_sink(struct upcalld *d, const struct config_output *o)
{
	char port[8];
	struct alert_sink_conf c = {
		.name = NULL, .hostname = d->hostname, .path = o->path,
		.host = o->host, .port = port, .ca_file = o->ca,
		.cert_file = o->cert, .key_file = o->key,
		.facility = o->facility << 3,
	};
	struct alert_sink *s = NULL;
	int rc = -EINVAL;

	snprintf(port, sizeof(port), "%u", o->port);
	switch (o->kind) {
	case CONFIG_OUT_SYSLOG:
		c.name = "syslog";
		rc = alert_syslog_new(&c, o->host ? ALERT_SYSLOG_UDP : ALERT_SYSLOG_UNIX, &s);
		break;
	case CONFIG_OUT_JSON:
		c.name = "json";
		rc = alert_json_new(&c, &s);
		break;
	case CONFIG_OUT_CEF:
		c.name = "cef";
		c.body = ALERT_BODY_CEF;
		rc = o->via_syslog ? alert_syslog_new(&c, ALERT_SYSLOG_UNIX, &s)
				   : alert_cef_new(&c, &s);
		break;
	case CONFIG_OUT_TLS:
		c.name = "tls";
		rc = alert_tls_new(&c, &s);
		break;
	}
	if (rc)
		return rc;
	s->max_severity = (uint8_t)o->min_priority;
	return alert_hub_add(d->hub, s, alert_now_mono());
}

static int upcalld_open_hub(struct upcalld *d)
{
	struct alert_hub_conf hc = {
		.rate_burst = d->cfg->burst,
		.no_rate_limit = d->cfg->rate.count == 0,
		.dedup_window_us = d->cfg->dedup_ms * 1000,
		.no_dedup = d->cfg->dedup_ms == 0,
	};
	size_t i;
	int rc;

	if (d->cfg->rate.count && d->cfg->rate.period_ms)
		hc.rate_per_min = (uint32_t)(d->cfg->rate.count * 60000ull /
					     d->cfg->rate.period_ms);
	rc = alert_hub_new(&hc, &d->hub);
	for (i = 0; !rc && i < d->cfg->noutputs; i++) {
		rc = upcalld_add_sink(d, &d->cfg->outputs[i]);
		if (rc)
			fprintf(stderr, "upcalld: %s:%u:%u: output: %s\n", d->cfg->path,
				d->cfg->outputs[i].line, d->cfg->outputs[i].col,
				strerror(-rc));
	}
	return rc;
}

static int upcalld_load_rules(struct upcalld *d, struct rule_set **out)
{
	struct rule_errors errs;
	size_t i, off = 0;
	int rc;

	rule_errors_init(&errs);
	rc = rule_set_load_dir(d->cfg->rule_paths, d->cfg->nrule_paths, out, &errs);
	d->rules_error[0] = '\0';
	for (i = 0; i < errs.n && off < sizeof(d->rules_error) - 1; i++) {
		char line[512];

		rule_error_format(&errs.v[i], line, sizeof(line));
		upcalld_log(d, errs.v[i].warning ? LOG_WARNING : LOG_ERR, "%s", line);
		if (!rc || errs.v[i].warning)
			continue;
		off += (size_t)snprintf(d->rules_error + off,
					sizeof(d->rules_error) - off, "%s%s",
					off ? "; " : "", line);
	}
	if (rc && !d->rules_error[0])
		snprintf(d->rules_error, sizeof(d->rules_error), "%s", strerror(-rc));
	rule_errors_release(&errs);
	return rc;
}

/* Rules with their own rate_limit override the hub's default. */
static void upcalld_rule_limits(struct upcalld *d)
{
	size_t i, n = rule_set_nrules(d->rules);

	for (i = 0; i < n; i++) {
		const struct rule *r = rule_set_rule(d->rules, i);
		uint64_t per_min;

		if (r->dedup_ms)
			alert_hub_set_rule_dedup(d->hub, r->name, r->dedup_ms * 1000);
		if (!r->rate_limit.count || !r->rate_limit.period_ms)
			continue;
		per_min = r->rate_limit.count * 60000ull / r->rate_limit.period_ms;
		alert_hub_set_rule_limit(d->hub, r->name, r->rate_limit.count,
					 per_min ? (uint32_t)per_min : 1);
	}
}

int upcalld_reload(struct upcalld *d)
{
	struct rule_set *set;
	size_t i;
	int rc;

	sd_notify(0, "RELOADING=1\nSTATUS=reloading rules");
	d->st.reloads++;
	rc = upcalld_load_rules(d, &set);
	if (rc) {
		d->st.reload_failures++;
		upcalld_log(d, LOG_ERR, "reload failed, old rules kept: %s", d->rules_error);
		sd_notifyf(0, "READY=1\nSTATUS=reload failed, old rules kept: %.200s",
			   d->rules_error);
		/* keep the message for status, but the old rules are running */
		return rc;
	}
	for (i = 0; i < d->nguests; i++) {
		/* scans in flight borrow the old rules: they finish without them */
		scan_forget_rules(d->guests[i]);
		guest_set_rules(d->guests[i], set);
	}
	rule_set_free(d->rules);
	d->rules = set;
	upcalld_rule_limits(d);
	discover_request(d);	/* a changed config may match other domains */
	upcalld_log(d, LOG_NOTICE, "rules reloaded: %zu rules", rule_set_nrules(set));
	sd_notifyf(0, "READY=1\nSTATUS=watching %zu guests, %zu rules",
		   d->nguests, rule_set_nrules(set));
	return 0;
}

/* --- guests from the config ---------------------------------------------- */

static bool upcalld_is_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static bool upcalld_has_guest(const struct upcalld *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->nguests; i++)
		if (!strcmp(d->guests[i]->conf.name, name))
			return true;
	return false;
}

/*
 * qemu guests are named in the config (no discovery: a QEMU process does
 * not announce itself). Xen guests are found through xenstore (discover.c);
 * without it, Xen domains named in full are looked up by name once.
 */
static void upcalld_add_guests(struct upcalld *d, const char *const *extra, size_t nextra)
{
	size_t i;

	for (i = 0; i < d->cfg->nguests + nextra && d->nguests < UPCALLD_GUESTS_MAX; i++) {
		const char *name = i < d->cfg->nguests ? d->cfg->guests[i].match
						       : extra[i - d->cfg->nguests];
		const struct config_guest *cg = config_guest_find(d->cfg, name);
		struct guest_conf gc;
		struct guest *g;

		/* one guest, one attach: a name in the config and on the
		 * command line must not fight over the same gdb socket */
		if (upcalld_is_glob(name) || !cg || upcalld_has_guest(d, name) ||
		    (d->disc && cg->backend == CONFIG_BACKEND_XEN))
			continue;
		if (discover_guest_conf(cg, name, 0, &gc)) {
			upcalld_log(d, LOG_ERR, "guest %s: bad path template", name);
			continue;
		}
		if (guest_new(d, &gc, d->rules, &g) == -ENOMEM)
			continue;
		d->guests[d->nguests++] = g;
		if (g->state != GUEST_FAILED)
			upcalld_log(d, LOG_NOTICE, "guest %s: attached (%s)", name,
				    guest_state_str(g->state));
	}
}

/* --- the loop ------------------------------------------------------------ */

struct upcalld_pfd {
	struct pollfd v[POLL_MAX];
	size_t n, ctl0, nctl, hub0, nhub;
	int disc_idx;
	bool disc_ready;
	int hv_idx[UPCALLD_GUESTS_MAX], up_idx[UPCALLD_GUESTS_MAX];
};

static void upcalld_fill(struct upcalld *d, struct upcalld_pfd *p)
{
	size_t i;

	p->n = 0;
	p->v[p->n++] = (struct pollfd){ .fd = d->sigfd, .events = POLLIN };
	p->ctl0 = p->n;
	p->nctl = d->ctl ? ctl_pollfds(d->ctl, p->v + p->n, CTL_CLIENTS_MAX + 1) : 0;
	p->n += p->nctl;
	p->hub0 = p->n;
	p->nhub = alert_hub_pollfds(d->hub, p->v + p->n, 64);
	p->n += p->nhub;
	p->disc_idx = discover_fd(d) >= 0 ? (int)p->n : -1;
	if (p->disc_idx >= 0)
		p->v[p->n++] = (struct pollfd){ .fd = discover_fd(d), .events = POLLIN };
	for (i = 0; i < d->nguests; i++) {
		struct guest *g = d->guests[i];
		int fd = guest_hv_fd(g);

		/* every guest gets its indices: dispatch reads all nguests */
		p->hv_idx[i] = p->up_idx[i] = -1;
		if (p->n + 2 > POLL_MAX)
			continue;
		if (fd >= 0) {
			p->hv_idx[i] = (int)p->n;
			p->v[p->n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		}
		if (g->up && (fd = upcall_fd(g->up)) >= 0) {
			p->up_idx[i] = (int)p->n;
			p->v[p->n++] = (struct pollfd){ .fd = fd,
							.events = upcall_poll_events(g->up) };
		}
	}
}

static int upcalld_timeout_ms(struct upcalld *d, int hub_ms)
{
	uint64_t now = upcalld_now_ns(), next = UINT64_MAX;
	int64_t ms;
	size_t i;

	for (i = 0; i < d->nguests; i++) {
		uint64_t t = guest_next_wakeup(d->guests[i]);

		if (t < next)
			next = t;
	}
	if (d->watchdog_us) {
		uint64_t w = d->last_watchdog_ns + d->watchdog_us * 500;	/* half */

		if (w < next)
			next = w;
	}
	ms = next == UINT64_MAX ? 1000 : next <= now ? 0 : (int64_t)((next - now) / 1000000) + 1;
	if (hub_ms >= 0 && hub_ms < ms)
		ms = hub_ms;
	return ms > 1000 ? 1000 : (int)ms;
}

static void upcalld_signals(struct upcalld *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			d->reload = true;
		else
			d->quit = true;
	}
}

static void upcalld_dispatch(struct upcalld *d, struct upcalld_pfd *p)
{
	uint64_t now = upcall_now_ns();
	size_t i;

	if (p->v[0].revents)
		upcalld_signals(d);
	if (d->ctl)
		ctl_dispatch(d->ctl, p->v + p->ctl0, p->nctl);
	alert_hub_dispatch(d->hub, p->v + p->hub0, p->nhub, alert_now_mono());
	p->disc_ready = p->disc_idx >= 0 && p->v[p->disc_idx].revents;
	for (i = 0; i < d->nguests; i++) {
		struct guest *g = d->guests[i];
		int k = p->up_idx[i];

		if (k >= 0 && g->up && p->v[k].revents & (POLLIN | POLLHUP | POLLERR))
			upcall_on_readable(g->up, now);
		if (k >= 0 && g->up && p->v[k].revents & POLLOUT)
			upcall_on_writable(g->up, now);
		k = p->hv_idx[i];
		if (k >= 0 && p->v[k].revents)
			guest_on_hv_event(g);
	}
}

static int upcalld_loop(struct upcalld *d)
{
	struct upcalld_pfd *p = malloc(sizeof(*p));	/* big: off the stack */
	size_t i;

	if (!p)
		return -ENOMEM;
	while (!d->quit) {
		int hub_ms = alert_hub_tick(d->hub, alert_now_mono());
		uint64_t now;

		upcalld_fill(d, p);
		p->disc_ready = false;
		if (poll(p->v, p->n, upcalld_timeout_ms(d, hub_ms)) > 0)
			upcalld_dispatch(d, p);
		/* after dispatch: it adds and drops guests under p's indices */
		discover_tick(d, p->disc_ready);
		now = upcalld_now_ns();
		for (i = 0; i < d->nguests; i++)
			guest_tick(d->guests[i], now);
		if (d->reload) {
			d->reload = false;
			upcalld_reload(d);
			alert_hub_reopen(d->hub, alert_now_mono());
		}
		if (d->watchdog_us && now - d->last_watchdog_ns >= d->watchdog_us * 500) {
			sd_notify(0, "WATCHDOG=1");
			d->last_watchdog_ns = now;
		}
	}
	free(p);
	return 0;
}

/* --- start-up and shutdown ----------------------------------------------- */

static int upcalld_signalfd(struct upcalld *d)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return d->sigfd < 0 ? -errno : 0;
}

static int upcalld_open_ctl(struct upcalld *d)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], *slash;
	const char *path = d->cfg->control_socket;

	if (!path || !path[0])
		return 0;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0750);	/* /run/upcalld; exists under systemd */
	}
	return ctl_new(path, ctlcmd_request, d, &d->ctl);
}

/* Everything that must work before we tell systemd we are ready. */
static int upcalld_start(struct upcalld *d)
{
	struct rule_errors errs;
	int rc;

	rule_errors_init(&errs);
	rc = config_load(d->config_path, &d->cfg, &errs);
	rule_errors_print(&errs, stderr);
	rule_errors_release(&errs);
	if (rc) {
		fprintf(stderr, "upcalld: %s: cannot load the configuration\n", d->config_path);
		return rc;
	}
	rc = upcalld_load_rules(d, &d->rules);
	if (rc) {
		fprintf(stderr, "upcalld: rules: %s\n", d->rules_error);
		return rc;
	}
	gethostname(d->hostname, sizeof(d->hostname) - 1);
	if ((rc = profcache_new(&d->profiles)) || (rc = upcalld_open_hub(d)) ||
	    (rc = upcalld_signalfd(d)))
		return rc;
	upcalld_rule_limits(d);
	rc = upcalld_open_ctl(d);
	if (rc)
		fprintf(stderr, "upcalld: control socket %s: %s\n",
			d->cfg->control_socket, strerror(-rc));
	return rc;
}

static void upcalld_stop(struct upcalld *d)
{
	size_t i;

	discover_free(d);
	for (i = 0; i < d->nguests; i++)
		guest_free(d->guests[i]);	/* breakpoints off, guests resumed */
	d->nguests = 0;
	profcache_free(d->profiles);
	ctl_free(d->ctl);
	alert_hub_free(d->hub);
	rule_set_free(d->rules);
	config_free(d->cfg);
	if (d->sigfd > 0)
		close(d->sigfd);
}

static void upcalld_usage(FILE *f)
{
	fprintf(f, "usage: upcalld [-c CONFIG] [--check] [-v] [--guest NAME]...\n"
		   "  -c, --config PATH   configuration (default %s)\n"
		   "      --check         validate configuration and rules, then exit\n"
		   "  -g, --guest NAME    also watch NAME (qemu guests: config paths)\n"
		   "  -v, --verbose       log to stderr as well as syslog\n",
		CONFIG_PATH_DEFAULT);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'C' },
		{ "guest", required_argument, NULL, 'g' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 } };
	struct upcalld d = { .config_path = CONFIG_PATH_DEFAULT, .sigfd = -1 };
	const char *extra[64];
	size_t nextra = 0;
	int c, check = 0, rc;
	uint64_t wd;

	while ((c = getopt_long(argc, argv, "c:g:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_path = optarg; break;
		case 'C': check = 1; break;
		case 'g': if (nextra < 64) extra[nextra++] = optarg; break;
		case 'v': d.verbose = true; break;
		case 'h': upcalld_usage(stdout); return 0;
		default: upcalld_usage(stderr); return 2;
		}
	}
	if (check)
		return config_check(d.config_path, stdout) ? 1 : 0;
	openlog("upcalld", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	d.started_ns = upcalld_now_ns();
	rc = upcalld_start(&d);
	if (!rc) {
		rc = discover_new(&d);
		upcalld_add_guests(&d, extra, nextra);
		if (sd_watchdog_enabled(0, &wd) > 0)
			d.watchdog_us = wd;
		sd_notifyf(0, "READY=1\nSTATUS=watching %zu guests, %zu rules",
			   d.nguests, rule_set_nrules(d.rules));
		upcalld_log(&d, LOG_NOTICE, "started: %zu guests, %zu rules",
			    d.nguests, rule_set_nrules(d.rules));
		rc = rc ? rc : upcalld_loop(&d);
		sd_notify(0, "STOPPING=1");
	}
	upcalld_stop(&d);
	closelog();
	return rc ? 1 : 0;
}
