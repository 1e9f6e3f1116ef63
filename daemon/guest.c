/*
 * guest.c - one watched guest's lifecycle: attach the backend, pick the
 * kernel profile by the banner in memory, open the introspection session
 * and the upcall channel, arm the rules' triggers; and tear it all down
 * again when the guest goes away or the daemon stops.
 */
#include "guest.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "profcache.h"
#include "profile.h"
#include "rule.h"
#include "scan.h"
#include "trig.h"
#include "upcall.h"
#include "upcalld.h"
#include "vmi.h"
#include "xport.h"
#ifdef HAVE_XEN
#include "xen.h"
#endif

#define GUEST_PROFILES_MAX 64u
#define GUEST_RETRY_NS (5ull * 1000000000ull)

const char *guest_state_str(enum guest_state s)
{
	switch (s) {
	case GUEST_READY: return "ready";
	case GUEST_DEGRADED: return "degraded";
	case GUEST_FAILED: return "failed";
	case GUEST_GONE: return "gone";
	}
	return "unknown";
}

void guest_error(struct guest *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->error, sizeof(g->error), fmt, ap);
	va_end(ap);
	upcalld_log(g->d, LOG_ERR, "guest %s: %s", g->conf.name, g->error);
}

static bool guest_is_profile_name(const char *n)
{
	size_t len = strlen(n);

	return (len > 5 && !strcmp(n + len - 5, ".prof")) ||
	       (len > 5 && !strcmp(n + len - 5, ".json"));
}

/* Load the candidates of a profile directory (or the one file). */
static size_t guest_load_profiles(struct guest *g, struct profile **v)
{
	char path[PATH_MAX + 256], err[256];
	struct dirent *de;
	struct stat st;
	size_t n = 0;
	DIR *dir;

	if (stat(g->conf.profiles, &st) == 0 && S_ISREG(st.st_mode)) {
		if (profcache_get(g->d->profiles, g->conf.profiles, &v[0], err,
				  sizeof(err)) == 0)
			return 1;
		guest_error(g, "profile %s: %s", g->conf.profiles, err);
		return 0;
	}
	dir = opendir(g->conf.profiles);
	if (!dir) {
		guest_error(g, "profile directory %s: %s", g->conf.profiles,
			    strerror(errno));
		return 0;
	}
	while ((de = readdir(dir)) && n < GUEST_PROFILES_MAX) {
		if (!guest_is_profile_name(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", g->conf.profiles, de->d_name);
		if (profcache_get(g->d->profiles, path, &v[n], err, sizeof(err)) == 0)
			n++;
		else
			upcalld_log(g->d, LOG_WARNING, "profile %s: %s", path, err);
	}
	closedir(dir);
	return n;
}

/* The profile whose banner is in this guest's memory, then the session. */
static int guest_open_vmi(struct guest *g)
{
	struct profile *cand[GUEST_PROFILES_MAX];
	size_t n = guest_load_profiles(g, cand), i;
	char err[256] = "";
	int idx = -ENOENT, rc;

	if (n == 0)
		return -ENOENT;
	idx = vmi_choose_profile(g->hv, cand, n);
	for (i = 0; i < n; i++)
		if ((int)i != idx)
			profcache_put(g->d->profiles, cand[i]);
	if (idx < 0) {
		guest_error(g, "none of the %zu profiles in %s matches the kernel "
			    "banner in guest memory", n, g->conf.profiles);
		return -ENOENT;
	}
	g->prof = cand[idx];
	rc = vmi_new(g->hv, g->prof, &g->vmi, err, sizeof(err));
	if (rc)
		guest_error(g, "introspection: %s", err[0] ? err : strerror(-rc));
	return rc;
}

#ifdef HAVE_XEN
/*
 * Xen: a fresh random key per attach, published where only this guest
 * (and dom0) can read it, then the vchan transport to its agent.
 */
static int guest_open_upcall_xen(struct guest *g, uint8_t key[WIRE_KEY_LEN],
				 struct xport **xp)
{
	unsigned int domid = g->conf.domid;
	int rc = 0;

	if (!domid && g->hv && xen_hv_is(g->hv))
		domid = xen_hv_domid(g->hv);
	if (!domid)
		rc = xen_domid_by_name(g->conf.name, &domid);
	if (rc) {
		guest_error(g, "upcall: no Xen domain: %s", strerror(-rc));
		return rc;
	}
	if (RAND_bytes(key, WIRE_KEY_LEN) != 1) {
		guest_error(g, "upcall key: no random bytes");
		return -EIO;
	}
	rc = xen_store_put_key(domid, key, WIRE_KEY_LEN);
	if (rc) {
		guest_error(g, "upcall key to xenstore (domain %u): %s", domid,
			    strerror(-rc));
		return rc;
	}
	rc = xport_xen_new(g->conf.name, domid, xp);
	if (rc) {
		xen_store_del_key(domid);
		guest_error(g, "upcall channel (vchan of domain %u): %s", domid,
			    strerror(-rc));
	}
	return rc;
}
#endif

/* The upcall channel: qemu when the config names one, xen always. */
static int guest_open_upcall(struct guest *g)
{
	struct upcall_cfg uc = { .guest = g->conf.name,
				 .on_finding = scan_on_upcall_finding, .arg = g };
	struct xport *xp = NULL;
	int rc;

#ifdef HAVE_XEN
	if (!strcmp(g->conf.backend, "xen")) {
		rc = guest_open_upcall_xen(g, uc.key, &xp);
		goto out_upcall;
	}
#endif
	if (!g->conf.upcall[0])
		return 0;	/* memory-only guest */
	rc = wire_key_load(g->conf.key, uc.key);
	if (rc) {
		guest_error(g, "upcall key %s: %s", g->conf.key, strerror(-rc));
		return rc;
	}
	rc = xport_qemu_new(g->conf.name, g->conf.upcall, &xp);
	if (rc)
		guest_error(g, "upcall channel %s: %s", g->conf.upcall, strerror(-rc));
#ifdef HAVE_XEN
out_upcall:
#endif
	if (!rc) {
		rc = upcall_new(&uc, xp, &g->up);
		if (rc) {
			xport_free(xp);	/* removes a published xen key too */
			guest_error(g, "upcall client: %s", strerror(-rc));
		}
	}
	OPENSSL_cleanse(uc.key, sizeof(uc.key));
	return rc;
}

/* The backend named in the config; only this function knows them all. */
static int guest_open_hv(struct guest *g)
{
	int rc = -EOPNOTSUPP;

	if (!strcmp(g->conf.backend, "qemu")) {
		rc = qemu_hv_new(g->conf.name, g->conf.ram, g->conf.gdb, &g->hv);
		if (rc)
			guest_error(g, "attach (ram %s, gdb %s): %s", g->conf.ram,
				    g->conf.gdb, strerror(-rc));
		return rc;
	}
#ifdef HAVE_XEN
	if (!strcmp(g->conf.backend, "xen")) {
		/* discovery gives the domain: a name may since be another's */
		unsigned int domid = g->conf.domid;

		rc = domid ? 0 : xen_domid_by_name(g->conf.name, &domid);
		if (!rc)
			rc = xen_hv_new(domid, g->conf.name, NULL, &g->hv);
		/* PV guests have no breakpoints of either kind to choose */
		if (!rc && !strcmp(g->conf.breakpoints, "debugreg") &&
		    hv_has(g->hv, HV_CAP_BREAKPOINT)) {
			rc = xen_hv_set_bp_mode(g->hv, true);
			if (rc) {
				guest_error(g, "breakpoints: debugreg: %s", strerror(-rc));
				return rc;
			}
		}
		if (rc && g->conf.domid)
			guest_error(g, "attach to Xen domain %u: %s", domid, strerror(-rc));
		else if (rc)
			guest_error(g, "attach to Xen domain: %s", strerror(-rc));
		return rc;
	}
#endif
	guest_error(g, "backend %s is not available in this build", g->conf.backend);
	return rc;
}

static int guest_attach(struct guest *g)
{
	int rc;

	g->error[0] = '\0';
	rc = guest_open_hv(g);
	if (rc)
		return rc;
	rc = guest_open_vmi(g);
	if (!rc)
		rc = guest_open_upcall(g);
	if (!rc)
		rc = trig_arm(g);
	return rc;
}

/* Release everything attached, in reverse order; the guest struct stays. */
static void guest_detach(struct guest *g)
{
	scan_cancel_all(g);
	trig_disarm(g);
	upcall_free(g->up);	/* completes pending scans as cancelled */
	g->up = NULL;
	vmi_free(g->vmi);
	g->vmi = NULL;
	profcache_put(g->d->profiles, g->prof);
	g->prof = NULL;
	hv_free(g->hv);		/* removes breakpoints, resumes the guest */
	g->hv = NULL;
}

int guest_new(struct upcalld *d, const struct guest_conf *gc,
	      const struct rule_set *rules, struct guest **out)
{
	struct guest *g = calloc(1, sizeof(*g));
	int rc;

	if (!g)
		return -ENOMEM;
	g->d = d;
	g->conf = *gc;
	g->rules = rules;
	rc = guest_attach(g);
	if (rc) {
		guest_detach(g);
		g->state = GUEST_FAILED;
		g->retry_ns = upcalld_now_ns() + GUEST_RETRY_NS;
	} else if (g->state != GUEST_DEGRADED) {
		g->state = GUEST_READY;
	}
	*out = g;
	return rc;
}

int guest_retry(struct guest *g)
{
	int rc;

	g->state = 0;
	rc = guest_attach(g);
	if (rc) {
		guest_detach(g);
		g->state = GUEST_FAILED;
		g->retry_ns = upcalld_now_ns() + GUEST_RETRY_NS;
		return rc;
	}
	if (g->state != GUEST_DEGRADED)
		g->state = GUEST_READY;
	upcalld_log(g->d, LOG_NOTICE, "guest %s: attached", g->conf.name);
	return 0;
}

void guest_free(struct guest *g)
{
	if (!g)
		return;
	guest_detach(g);
	free(g->cr3_seen);
	free(g);
}

/* The guest vanished (QEMU exited, domain destroyed): drop it cleanly. */
void guest_gone(struct guest *g)
{
	upcalld_log(g->d, LOG_NOTICE, "guest %s: gone", g->conf.name);
	guest_detach(g);
	g->state = GUEST_GONE;
	g->retry_ns = upcalld_now_ns() + GUEST_RETRY_NS;
}

int guest_set_rules(struct guest *g, const struct rule_set *rules)
{
	g->rules = rules;
	if (!g->hv)
		return 0;	/* armed on the next attach */
	trig_disarm(g);
	g->state = GUEST_READY;
	return trig_arm(g);
}

int guest_hv_fd(const struct guest *g)
{
	bool wants_events = g->nbps || g->cr3_trig || g->newas_trig;

	return g->hv && wants_events ? hv_event_fd(g->hv) : -1;
}

void guest_tick(struct guest *g, uint64_t now_ns)
{
	if ((g->state == GUEST_FAILED || g->state == GUEST_GONE) &&
	    now_ns >= g->retry_ns) {
		guest_retry(g);
		return;
	}
	if (g->up)
		upcall_tick(g->up, now_ns);
	trig_tick(g, now_ns);
}

uint64_t guest_next_wakeup(const struct guest *g)
{
	uint64_t t = trig_next_wakeup(g), u;

	if (g->state == GUEST_FAILED || g->state == GUEST_GONE)
		return g->retry_ns < t ? g->retry_ns : t;
	u = g->up ? upcall_next_wakeup(g->up) : UINT64_MAX;
	return u < t ? u : t;
}

void guest_on_hv_event(struct guest *g)
{
	if (g->hv && trig_on_hv_event(g) == -ENODEV)
		guest_gone(g);
}
