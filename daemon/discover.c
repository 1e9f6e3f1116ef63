/*
 * discover.c - Xen guests found and followed (see discover.h): the plan
 * (which domains to attach, which guests to drop), carrying it out, and
 * the xenstore watch that says when to plan again.
 *
 * A rescan runs in the daemon's loop and blocks it: one xenstore directory
 * read, one xc_domain_getinfolist and a name read per domain (at most
 * DISCOVER_DOMS_MAX), each a round trip to dom0's xenstored. What starts
 * one is bounded: the watches fire on domain creation and release, which
 * a guest can cause only by shutting itself down (each reboot a toolstack
 * rebuild of seconds); a drain reads at most XEN_WATCH_DRAIN_MAX events
 * and any number of them makes one rescan; else once a minute.
 */
#include "discover.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "guest.h"
#include "upcalld.h"
#include "xen_watch.h"

/* names are copied between the two whole, and share one rule */
_Static_assert(GUEST_NAME_MAX == XEN_WATCH_NAME_MAX, "guest and xen_watch name sizes");

#define DISCOVER_DOMID_RESERVED 0x7ff0u	/* DOMID_FIRST_RESERVED */

struct discover {
#ifdef HAVE_XEN
	struct xen_watch *w;
	struct xen_watch_dom xv[DISCOVER_DOMS_MAX];
#endif
	struct discover_dom alive[DISCOVER_DOMS_MAX];
	bool more;		/* the watch has events left to read */
	bool rescan;		/* asked for (reload) */
	bool list_failed;	/* last listing failed: logged once */
	bool watch_failed;	/* not polled any more: periodic rescans only */
	size_t refused;		/* names refused in the last listing */
	uint64_t next_scan_ns;	/* the periodic rescan */
};

/* --- the plan ------------------------------------------------------------- */

bool discover_name_ok(const char *s, size_t cap)
{
	size_t len = strnlen(s, cap);

	/* unterminated within cap: refused; the rest is xen_watch's rule */
	return len < cap && xen_watch_name_ok(s, len);
}

static bool discover_matches(const struct config *cfg, const char *name)
{
	const struct config_guest *cg = config_guest_find(cfg, name);

	return cg && cg->backend == CONFIG_BACKEND_XEN;
}

static bool discover_watching(const struct discover_have *have, size_t nhave,
			      const char *name, unsigned int domid)
{
	size_t i;

	for (i = 0; i < nhave; i++)
		if (have[i].domid == domid && !strcmp(have[i].name, name))
			return true;
	return false;
}

/*
 * Which alive entries can be used at all: sane id and name, not dying,
 * each id and each name once (for a name: the incarnation we watch, else
 * the first listed).
 */
static void discover_valid(const struct discover_have *have, size_t nhave,
			   const struct discover_dom *alive, size_t nalive,
			   bool *ok, struct discover_plan *p)
{
	size_t j, k;

	for (j = 0; j < nalive; j++) {
		const struct discover_dom *a = &alive[j];

		ok[j] = a->domid != 0 && a->domid < DISCOVER_DOMID_RESERVED &&
			!a->dying && discover_name_ok(a->name, sizeof(a->name));
		for (k = 0; ok[j] && k < j; k++) {
			if (!ok[k])
				continue;
			if (alive[k].domid == a->domid)
				ok[j] = false;
			else if (!strcmp(alive[k].name, a->name)) {
				if (discover_watching(have, nhave, a->name, a->domid))
					ok[k] = false;
				else
					ok[j] = false;
			}
		}
	}
	for (j = 0; j < nalive; j++)
		p->refused += !ok[j];
}

static bool discover_find(const struct discover_dom *alive, size_t nalive,
			  const bool *ok, unsigned int domid, size_t *at)
{
	size_t j;

	for (j = 0; j < nalive; j++)
		if (ok[j] && alive[j].domid == domid) {
			*at = j;
			return true;
		}
	return false;
}

void discover_plan(const struct config *cfg, const struct discover_have *have,
		   size_t nhave, const struct discover_dom *alive, size_t nalive,
		   struct discover_plan *p)
{
	bool ok[DISCOVER_DOMS_MAX], dropped[UPCALLD_GUESTS_MAX] = { false };
	bool kept[DISCOVER_DOMS_MAX] = { false };
	size_t i, j, at, count;

	memset(p, 0, sizeof(*p));
	if (nalive > DISCOVER_DOMS_MAX)
		nalive = DISCOVER_DOMS_MAX;
	if (nhave > UPCALLD_GUESTS_MAX)
		nhave = UPCALLD_GUESTS_MAX;
	discover_valid(have, nhave, alive, nalive, ok, p);
	for (i = 0; i < nhave; i++) {
		if (!have[i].domid)
			continue;	/* not ours: qemu, or xen named without discovery */
		if (discover_find(alive, nalive, ok, have[i].domid, &at) &&
		    !strcmp(alive[at].name, have[i].name) &&
		    discover_matches(cfg, have[i].name)) {
			kept[at] = true;
			continue;
		}
		dropped[i] = true;
		p->drop[p->ndrop++] = i;
	}
	count = nhave - p->ndrop;
	for (j = 0; j < nalive; j++) {
		bool taken = false;

		if (!ok[j] || kept[j] || !discover_matches(cfg, alive[j].name))
			continue;
		for (i = 0; i < nhave && !taken; i++)	/* e.g. a qemu guest of that name */
			taken = !dropped[i] && !strcmp(have[i].name, alive[j].name);
		if (taken)
			continue;
		if (count >= UPCALLD_GUESTS_MAX) {
			p->no_room++;
			continue;
		}
		p->attach[p->nattach++] = j;
		count++;
	}
}

uint64_t discover_next_scan(const struct discover_dom *alive, size_t nalive,
			    uint64_t now_ns)
{
	for (size_t i = 0; i < nalive && i < DISCOVER_DOMS_MAX; i++)
		if (alive[i].dying)
			return now_ns + DISCOVER_RESCAN_SOON_NS;
	return now_ns + DISCOVER_RESCAN_NS;
}

/* --- carrying it out ------------------------------------------------------ */

int discover_guest_conf(const struct config_guest *cg, const char *name,
			unsigned int domid, struct guest_conf *gc)
{
	int rc = 0;

	memset(gc, 0, sizeof(*gc));
	snprintf(gc->name, sizeof(gc->name), "%s", name);
	snprintf(gc->backend, sizeof(gc->backend), "%s", config_backend_name(cg->backend));
	snprintf(gc->profiles, sizeof(gc->profiles), "%s", cg->profiles ? cg->profiles : "");
	gc->upcall_timeout_ms = cg->upcall_timeout_ms;
	gc->domid = domid;
	snprintf(gc->breakpoints, sizeof(gc->breakpoints), "%s",
		 cg->debugreg_bps ? "debugreg" : "int3");
	if (cg->ram)
		rc = config_expand(cg->ram, name, gc->ram, sizeof(gc->ram));
	if (rc >= 0 && cg->gdb)
		rc = config_expand(cg->gdb, name, gc->gdb, sizeof(gc->gdb));
	if (rc >= 0 && cg->upcall)
		rc = config_expand(cg->upcall, name, gc->upcall, sizeof(gc->upcall));
	if (rc >= 0 && cg->key_dir &&
	    snprintf(gc->key, sizeof(gc->key), "%s/%s.key", cg->key_dir, name) >=
		    (int)sizeof(gc->key))
		rc = -ENAMETOOLONG;
	return rc < 0 ? rc : 0;
}

static const char *discover_why(const struct upcalld *d, const struct guest *g,
				const struct discover_dom *alive, size_t nalive)
{
	size_t j;

	for (j = 0; j < nalive; j++) {
		if (alive[j].domid != g->conf.domid)
			continue;
		if (alive[j].dying)
			return "domain gone";	/* dying: gone in a moment */
		if (strncmp(alive[j].name, g->conf.name, sizeof(alive[j].name)))
			return "domain renamed";
		if (!discover_matches(d->cfg, g->conf.name))
			return "no longer matches a xen guest entry";
	}
	return "domain gone";
}

static void discover_drop(struct upcalld *d, const struct discover_plan *p,
			  const struct discover_dom *alive, size_t nalive)
{
	bool gone[UPCALLD_GUESTS_MAX] = { false };
	size_t i, k = 0;

	for (i = 0; i < p->ndrop; i++) {
		struct guest *g = d->guests[p->drop[i]];

		upcalld_log(d, LOG_NOTICE, "guest %s (dom %u): %s, dropped",
			    g->conf.name, g->conf.domid,
			    discover_why(d, g, alive, nalive));
		guest_free(g);	/* scans cancelled, breakpoints off */
		gone[p->drop[i]] = true;
	}
	for (i = 0; i < d->nguests; i++)
		if (!gone[i])
			d->guests[k++] = d->guests[i];
	d->nguests = k;
}

static void discover_attach(struct upcalld *d, const struct discover_plan *p,
			    const struct discover_dom *alive)
{
	size_t i;

	for (i = 0; i < p->nattach && d->nguests < UPCALLD_GUESTS_MAX; i++) {
		const struct discover_dom *a = &alive[p->attach[i]];
		const struct config_guest *cg = config_guest_find(d->cfg, a->name);
		struct guest_conf gc;
		struct guest *g;

		if (!cg || discover_guest_conf(cg, a->name, a->domid, &gc)) {
			upcalld_log(d, LOG_ERR, "guest %s (dom %u): name does not fit "
				    "the entry's paths, not attached", a->name, a->domid);
			continue;
		}
		if (guest_new(d, &gc, d->rules, &g) == -ENOMEM) {
			upcalld_log(d, LOG_ERR, "guest %s (dom %u): out of memory",
				    a->name, a->domid);
			continue;
		}
		d->guests[d->nguests++] = g;
		if (g->state == GUEST_FAILED)
			upcalld_log(d, LOG_NOTICE, "guest %s (dom %u): found, not "
				    "attached yet (retried)", a->name, a->domid);
		else
			upcalld_log(d, LOG_NOTICE, "guest %s (dom %u): attached (%s)",
				    a->name, a->domid, guest_state_str(g->state));
	}
}

size_t discover_apply(struct upcalld *d, const struct discover_dom *alive,
		      size_t nalive)
{
	struct discover_have have[UPCALLD_GUESTS_MAX];
	struct discover_plan p;
	size_t i;

	for (i = 0; i < d->nguests; i++) {
		const struct guest *g = d->guests[i];

		have[i].name = g->conf.name;
		have[i].domid = strcmp(g->conf.backend, "xen") ? 0 : g->conf.domid;
	}
	discover_plan(d->cfg, have, d->nguests, alive, nalive, &p);
	discover_drop(d, &p, alive, nalive);
	discover_attach(d, &p, alive);
	if (p.no_room)
		upcalld_log(d, LOG_WARNING, "%zu matching domains not watched: "
			    "%u guests at most", p.no_room, UPCALLD_GUESTS_MAX);
	return p.ndrop + p.nattach;
}

/* --- following xenstore --------------------------------------------------- */

#ifdef HAVE_XEN
static void discover_rescan(struct upcalld *d)
{
	struct discover *s = d->disc;
	size_t n = 0, i, refused = 0;
	int rc;

	s->next_scan_ns = upcalld_now_ns() + DISCOVER_RESCAN_NS;
	rc = xen_watch_list(s->w, s->xv, DISCOVER_DOMS_MAX, &n, &refused);
	if (rc) {
		/* keep the guests we have: a failed read is not a departure */
		if (!s->list_failed)
			upcalld_log(d, LOG_WARNING, "xenstore: cannot list domains: %s",
				    strerror(-rc));
		s->list_failed = true;
		return;
	}
	s->list_failed = false;
	if (refused != s->refused)	/* once per change, not per scan */
		upcalld_log(d, LOG_INFO, "xenstore: %zu domains without a usable "
			    "name (missing, or not printable ASCII up to %u bytes)",
			    refused, GUEST_NAME_MAX - 1);
	s->refused = refused;
	for (i = 0; i < n; i++) {
		s->alive[i].domid = s->xv[i].domid;
		s->alive[i].dying = s->xv[i].dying;
		memcpy(s->alive[i].name, s->xv[i].name, sizeof(s->alive[i].name));
	}
	s->next_scan_ns = discover_next_scan(s->alive, n, upcalld_now_ns());
	discover_apply(d, s->alive, n);
}
#endif

static bool discover_config_has_xen(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nguests; i++)
		if (cfg->guests[i].backend == CONFIG_BACKEND_XEN)
			return true;
	return false;
}

int discover_new(struct upcalld *d)
{
	int prio = discover_config_has_xen(d->cfg) ? LOG_NOTICE : LOG_INFO;
#ifdef HAVE_XEN
	struct discover *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	rc = xen_watch_new(&s->w);
	if (rc) {
		free(s);
		upcalld_log(d, prio, "xenstore: %s: Xen domains are not followed",
			    rc == -ENODEV ? "not available" : strerror(-rc));
		return rc == -ENOMEM ? rc : 0;
	}
	d->disc = s;
	upcalld_log(d, LOG_INFO, "xenstore: following domains");
	s->rescan = true;	/* what runs already */
	discover_tick(d, false);
	return 0;
#else
	upcalld_log(d, prio, "built without Xen: Xen domains are not followed");
	return 0;
#endif
}

void discover_free(struct upcalld *d)
{
	if (!d->disc)
		return;
#ifdef HAVE_XEN
	xen_watch_free(d->disc->w);
#endif
	free(d->disc);
	d->disc = NULL;
}

int discover_fd(const struct upcalld *d)
{
#ifdef HAVE_XEN
	if (d->disc && !d->disc->watch_failed)
		return xen_watch_fd(d->disc->w);
#endif
	return -1;
}

void discover_request(struct upcalld *d)
{
	if (d->disc)
		d->disc->rescan = true;
}

void discover_tick(struct upcalld *d, bool readable)
{
	struct discover *s = d->disc;

	if (!s)
		return;
#ifdef HAVE_XEN
	if ((readable || s->more) && !s->watch_failed) {
		bool more = false;
		int rc = xen_watch_drain(s->w, &more);

		if (rc < 0) {
			/* a readable fd that never drains would spin the loop */
			upcalld_log(d, LOG_WARNING, "xenstore watch: %s: domains are "
				    "rescanned every %llu s only", strerror(-rc),
				    DISCOVER_RESCAN_NS / 1000000000ull);
			s->watch_failed = true;
		}
		s->rescan |= rc != 0;
		s->more = more;
	}
	if (s->rescan || upcalld_now_ns() >= s->next_scan_ns) {
		s->rescan = false;
		discover_rescan(d);
	}
#else
	(void)readable;
#endif
}
