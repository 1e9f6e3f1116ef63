/*
 * discover.h - Xen guests found and followed: every domain whose name
 * matches a "backend: xen" entry of the config is attached when it appears
 * and dropped when it goes (or is renamed, or no longer matches after a
 * reload). Domains come from hypervisor-hooks/xen_watch.h; the decision is
 * a pure function (discover_plan) so that it can be tested without Xen.
 *
 * A guest's identity is its name (the control socket and logs use it);
 * the domain id says which incarnation: the same name with a new id
 * (destroy + create) drops the old guest and attaches the new one.
 *
 * Ownership: discover_new() hangs the state on d->disc; discover_free()
 * releases it. Guests attached here are the daemon's (d->guests), freed by
 * whoever drops them (here, or upcalld_stop).
 */
#ifndef UPCALLD_DISCOVER_H
#define UPCALLD_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest.h"
#include "upcalld.h"

struct config;
struct config_guest;

#define DISCOVER_DOMS_MAX 1024u		/* domains considered per scan */
/*
 * Rescan this often without an event: xenstore fires nothing when a
 * domain is renamed (xl rename), and an event lost to a xenstored restart
 * would otherwise leave a stale guest until the next one.
 */
#define DISCOVER_RESCAN_NS (60ull * 1000000000ull)
/*
 * ... and this soon while a listed domain is shut down but not gone: a
 * suspended or checkpointed domain (xl save -c, a failed migration) that
 * resumes fires no watch, and its guest was dropped when it shut down.
 */
#define DISCOVER_RESCAN_SOON_NS (5ull * 1000000000ull)

/* A domain there is now (from xenstore, or a test). */
struct discover_dom {
	unsigned int domid;
	char name[GUEST_NAME_MAX];	/* hostile: checked by discover_plan */
	bool dying;			/* dying or shut down: treated as gone */
};

/* A guest the daemon has, as the plan sees it. */
struct discover_have {
	const char *name;
	unsigned int domid;		/* 0: not a discovered xen guest */
};

/* What to do: indices into the have and alive arrays given. */
struct discover_plan {
	size_t drop[UPCALLD_GUESTS_MAX];
	size_t ndrop;
	size_t attach[UPCALLD_GUESTS_MAX];
	size_t nattach;
	size_t refused;		/* alive entries refused: bad id or name, duplicates */
	size_t no_room;		/* matching domains left out: guest table full */
};

/*
 * Decide. A have entry with domid != 0 is dropped when no valid alive
 * entry has its domid, when that entry's name differs, or when the name
 * no longer matches a xen entry of cfg. An alive entry is attached when
 * its name matches a xen entry (config_guest_find), no guest kept has its
 * domid or its name, and the daemon stays within UPCALLD_GUESTS_MAX.
 * Alive entries are refused when dying, with domid 0 or a reserved id,
 * an id listed before, or a name that is empty, unterminated, over-long,
 * ".", "..", or has a '/', a space or a byte outside printable ASCII. Two
 * entries with one name: the one already watched wins, else the first.
 */
void discover_plan(const struct config *cfg, const struct discover_have *have,
		   size_t nhave, const struct discover_dom *alive, size_t nalive,
		   struct discover_plan *p);

/* When to list domains again after a listing of alive (see above). */
uint64_t discover_next_scan(const struct discover_dom *alive, size_t nalive,
			    uint64_t now_ns);

/* A guest name discover_plan accepts (s holds at most cap bytes). */
bool discover_name_ok(const char *s, size_t cap);

/*
 * Resolve a config entry for one guest name into what guest_new needs
 * (domid 0 for a guest not found by discovery). -ENAMETOOLONG or -EINVAL
 * for a name that does not fit the entry's path templates.
 */
int discover_guest_conf(const struct config_guest *cg, const char *name,
			unsigned int domid, struct guest_conf *gc);

/*
 * Start following domains: watch xenstore and attach what matches now.
 * Without xenstore (not dom0, no Xen, a build without Xen) d->disc stays
 * NULL after one notice and the daemon goes on as before. 0 or -ENOMEM.
 */
int discover_new(struct upcalld *d);
void discover_free(struct upcalld *d);

/* The fd to poll (-1 when not following domains). */
int discover_fd(const struct upcalld *d);

/* Ask for a rescan at the next discover_tick (e.g. after a reload). */
void discover_request(struct upcalld *d);

/*
 * From the main loop, outside the dispatch of guest fds (it adds and
 * removes guests): read the watch when readable (or left with more to
 * read) and rescan when something changed or a rescan was requested.
 */
void discover_tick(struct upcalld *d, bool readable);

/*
 * Plan against what d has and carry it out: drop (guest_free) and attach
 * (guest_new), logging each. Works without Xen (tests). Returns how many
 * guests were attached plus dropped.
 */
size_t discover_apply(struct upcalld *d, const struct discover_dom *alive,
		      size_t nalive);

#endif
