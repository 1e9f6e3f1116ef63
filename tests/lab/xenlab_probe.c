/*
 * xenlab_probe.c - dom0 side of the Xen lab smoke test (tests/lab/xenlab.sh
 * builds it against build/libupcalld.a and puts it in dom0): attach the xen
 * backend to a domU, list its processes from memory, take CR3-write events
 * and a breakpoint event on a kernel function, detach. Prints one line per
 * fact ("PS pid ppid uid comm", "CR3 ...", "BP ...", "TIME what ms") for
 * the harness to compare with the guest's own view.
 *
 *   xenlab_probe --domain NAME|ID --profile P [--cr3 N] [--bp SYMBOL]
 *                [--timeout-ms MS] [--hold-bp] [--hold-pause]
 *                [--debugreg] [--bp-hits N] [--log]
 *
 * --hold-bp leaves the breakpoint set and sleeps, --hold-pause pauses the
 * guest and sleeps (kill tests: the next attach must undo either).
 * --debugreg places the breakpoint in the debug registers instead of an
 * int3 (xen_hv_set_bp_mode); --bp-hits N waits for N hits (default 1) and
 * prints the time per hit (TIME bp_per_hit: event to event, our answer
 * included). --log copies the backend's syslog messages to stderr (what
 * the attach recovered from a state file, requests it dropped).
 *
 *   xenlab_probe --domain NAME|ID --upcall N [--upcall-hold]
 *
 * --upcall: no introspection; publish a fresh key in xenstore, connect to
 * the domU agent's vchan and make N pairs of upcalls, info (the transport)
 * and process list ("UPCALL ..." and "TIME upcall_* ms" lines). --upcall-hold then keeps the channel
 * and the key and sleeps (kill tests: the agent must serve a new ring).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "hv.h"
#include "lnx.h"
#include "profile.h"
#include "upcall.h"
#include "vmi.h"
#include "xen.h"

struct opts {
	const char *domain, *profile, *bp;
	int cr3, timeout_ms, bp_hits;
	bool hold, hold_pause, debugreg, log;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int attach(const struct opts *o, struct hv **hv)
{
	unsigned int domid;
	char *end;
	char caps[128];
	int err;

	domid = (unsigned int)strtoul(o->domain, &end, 10);
	if (*end || end == o->domain) {
		err = xen_domid_by_name(o->domain, &domid);
		if (err) {
			fprintf(stderr, "xenlab_probe: no domain %s: %s\n", o->domain,
				strerror(-err));
			return err;
		}
	}
	if (o->log)
		openlog("xenlab_probe", LOG_PERROR, LOG_USER);
	err = xen_hv_new(domid, o->domain, "/run", hv);
	if (err) {
		fprintf(stderr, "xenlab_probe: attach %u: %s\n", domid, strerror(-err));
		return err;
	}
	if (o->debugreg) {
		err = xen_hv_set_bp_mode(*hv, true);
		printf("BPMODE debugreg: %s\n", err ? strerror(-err) : "ok");
		if (err)
			return err;
	}
	printf("ATTACH domid=%u vcpus=%u ram=%llu caps=%s\n", domid, (*hv)->nr_vcpus,
	       (unsigned long long)(*hv)->ram_size,
	       hv_caps_str((*hv)->caps, caps, sizeof(caps)));
	return 0;
}

static int ps(struct vmi *v)
{
	struct lnx_task_list l = { 0 };
	double t0 = now_ms();
	int err = lnx_tasks(v, &l);

	if (err) {
		fprintf(stderr, "xenlab_probe: lnx_tasks: %s\n", strerror(-err));
		return err;
	}
	for (size_t i = 0; i < l.n; i++)
		printf("PS %d %d %u %s\n", l.v[i].pid, l.v[i].ppid, l.v[i].uid,
		       l.v[i].comm);
	printf("TIME ps_walk %.3f (%zu tasks)\n", now_ms() - t0, l.n);
	lnx_task_list_release(&l);
	return 0;
}

static int wait_events(struct hv *hv, enum hv_event_kind kind, int n, int tmo)
{
	struct hv_event ev;
	int got = 0, err = 0;
	double end = now_ms() + tmo;

	while (got < n && now_ms() < end) {
		err = hv_next_event(hv, &ev, (int)(end - now_ms()) + 1);
		if (err == -EAGAIN)
			continue;
		if (err)
			break;
		if (ev.kind == HV_EV_CR3_WRITE)
			printf("CR3 vcpu=%u old=%#llx new=%#llx\n", ev.vcpu,
			       (unsigned long long)ev.cr3_old,
			       (unsigned long long)ev.cr3_new);
		else if (ev.kind == HV_EV_BREAKPOINT)
			printf("BP vcpu=%u addr=%#llx rip=%#llx\n", ev.vcpu,
			       (unsigned long long)ev.addr,
			       (unsigned long long)ev.regs.rip);
		else
			printf("GONE\n");
		if (ev.kind == kind)
			got++;
		if (ev.kind == HV_EV_GONE)
			return -ENODEV;
		err = hv_event_done(hv, &ev);
		if (err)
			break;
	}
	if (err && err != -EAGAIN)
		fprintf(stderr, "xenlab_probe: events: %s\n", strerror(-err));
	return got == n ? 0 : -ETIMEDOUT;
}

static int breakpoint(struct hv *hv, struct vmi *v, const struct opts *o)
{
	gva_t va;
	double t0;
	int err = vmi_sym_by_name(v, o->bp, &va);

	if (err) {
		fprintf(stderr, "xenlab_probe: no symbol %s\n", o->bp);
		return err;
	}
	t0 = now_ms();
	err = hv_set_bp(hv, va);
	printf("SETBP %s %#llx: %s\n", o->bp, (unsigned long long)va,
	       err ? strerror(-err) : "ok");
	printf("TIME setbp %.3f\n", now_ms() - t0);
	if (err)
		return err;
	if (o->hold) {
		printf("HOLDING\n");
		fflush(stdout);
		pause();
	}
	t0 = now_ms();
	err = wait_events(hv, HV_EV_BREAKPOINT, 1, o->timeout_ms);
	printf("TIME bp_wait %.3f\n", now_ms() - t0);
	if (!err && o->bp_hits > 1) {
		t0 = now_ms();
		err = wait_events(hv, HV_EV_BREAKPOINT, o->bp_hits - 1, o->timeout_ms);
		printf("TIME bp_per_hit %.3f (%d hits)\n",
		       (now_ms() - t0) / (o->bp_hits - 1), o->bp_hits - 1);
	}
	int err2 = hv_clear_bp(hv, va);
	printf("CLEARBP %s\n", err2 ? strerror(-err2) : "ok");
	return err ? err : err2;
}

static int run(const struct opts *o)
{
	struct profile *prof = NULL;
	struct hv *hv = NULL;
	struct vmi *v = NULL;
	char msg[512] = "";
	double t0 = now_ms();
	int err;

	err = profile_load(o->profile, &prof, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "xenlab_probe: profile: %s\n", msg);
		return err;
	}
	err = attach(o, &hv);
	if (err)
		goto out;
	hv_pause(hv);
	if (o->hold_pause) {
		printf("HOLDING paused\n");
		fflush(stdout);
		pause();
	}
	err = vmi_new(hv, prof, &v, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "xenlab_probe: vmi: %s\n", msg[0] ? msg : strerror(-err));
		hv_resume(hv);
		goto out;
	}
	err = ps(v);
	hv_resume(hv);
	printf("TIME attach_to_ps %.3f\n", now_ms() - t0);
	if (!err && o->cr3 > 0) {
		t0 = now_ms();
		err = hv_set_cr3_events(hv, true);
		if (!err)
			err = wait_events(hv, HV_EV_CR3_WRITE, o->cr3, o->timeout_ms);
		hv_set_cr3_events(hv, false);
		printf("TIME cr3 %.3f %s\n", now_ms() - t0, err ? strerror(-err) : "ok");
	}
	if (!err && o->bp)
		err = breakpoint(hv, v, o);
out:
	vmi_free(v);
	hv_free(hv);
	profile_free(prof);
	printf("DETACHED %s\n", err ? strerror(-err) : "ok");
	return err;
}

/* ---- --upcall: the vchan transport with a xenstore key ---------------- */

static void upcall_done(void *arg, struct upcall_result *res)
{
	*(struct upcall_result **)arg = res;
}

/* Run the upcall loop until *done or the deadline; false on timeout. */
static bool upcall_until(struct upcall *u, struct upcall_result **res,
			 bool want_connect, double end)
{
	while (now_ms() < end) {
		if (want_connect ? upcall_connected(u) : *res != NULL)
			return true;
		upcall_poll(&u, 1, 100);
	}
	return false;
}

static int upcall_one(struct upcall *u, unsigned int query, int i,
		      int timeout_ms)
{
	struct upcall_result *res = NULL;
	struct upcall_query q = { .query = query, .done = upcall_done,
				  .arg = &res,
				  .timeout_ns = (uint64_t)timeout_ms * 1000000 };
	double t0 = now_ms();
	int err = upcall_submit(u, &q, upcall_now_ns(), NULL);

	if (err)
		return err;
	if (!upcall_until(u, &res, false, t0 + timeout_ms + 1000))
		return -ETIMEDOUT;
	printf("UPCALL %d %s reason=%s status=%u n=%zu frames=%u bytes=%llu\n",
	       i, query == WIRE_Q_INFO ? "info" : "procs",
	       upcall_reason_str(res->reason), res->status, res->nprocs,
	       res->frames, (unsigned long long)res->body_bytes);
	printf("TIME upcall_rtt_%s %.3f\n", query == WIRE_Q_INFO ? "info" :
	       "procs", res->rtt_ns / 1e6);
	err = res->reason == UPCALL_OK &&
	      (res->nprocs > 0 || query == WIRE_Q_INFO) ? 0 : -EPROTO;
	upcall_result_free(res);
	return err;
}

static int upcall_probe(const char *domain, int n, bool hold, int timeout_ms)
{
	struct upcall_cfg cfg = { .guest = domain };
	struct upcall *u = NULL;
	struct xport *xp = NULL;
	unsigned int domid;
	char *end;
	double t0;
	int err = 0;

	domid = (unsigned int)strtoul(domain, &end, 10);
	if (*end || end == domain)
		err = xen_domid_by_name(domain, &domid);
	if (!err && RAND_bytes(cfg.key, sizeof(cfg.key)) != 1)
		err = -EIO;
	t0 = now_ms();
	if (!err)
		err = xen_store_put_key(domid, cfg.key, sizeof(cfg.key));
	printf("UPKEY domid=%u /local/domain/%u/upcalld/key: %s\n", domid,
	       domid, err ? strerror(-err) : "published");
	printf("TIME upcall_key %.3f\n", now_ms() - t0);
	t0 = now_ms();
	if (!err)
		err = xport_xen_new(domain, domid, &xp);
	if (!err)
		err = upcall_new(&cfg, xp, &u);
	if (err) {
		xport_free(xp);
		goto out;
	}
	if (!upcall_until(u, NULL, true, t0 + timeout_ms)) {
		printf("UPCONNECT failed: %s\n",
		       strerror(-upcall_stats(u)->last_connect_err));
		err = -ETIMEDOUT;
		goto out;
	}
	err = upcall_stats(u)->last_connect_err;
	printf("TIME upcall_connect %.3f (an attempt failed: %s)\n",
	       now_ms() - t0,
	       err ? strerror(-err) : "none");
	err = 0;
	/* info: the transport's round trip; procs: plus the agent's /proc */
	for (int i = 0; i < n && !err; i++) {
		err = upcall_one(u, WIRE_Q_INFO, i, timeout_ms);
		if (!err)
			err = upcall_one(u, WIRE_Q_PROCS, i, timeout_ms);
	}
	if (!err && hold) {
		printf("HOLDING upcall\n");
		fflush(stdout);
		pause();
	}
out:
	upcall_free(u);		/* closes the vchan, removes the key */
	printf("UPDONE %s\n", err ? strerror(-err) : "ok");
	return err;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "profile", required_argument, NULL, 'p' },
		{ "cr3", required_argument, NULL, 'c' },
		{ "bp", required_argument, NULL, 'b' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "hold-bp", no_argument, NULL, 'H' },
		{ "hold-pause", no_argument, NULL, 'P' },
		{ "debugreg", no_argument, NULL, 'D' },
		{ "bp-hits", required_argument, NULL, 'n' },
		{ "log", no_argument, NULL, 'L' },
		{ "upcall", required_argument, NULL, 'U' },
		{ "upcall-hold", no_argument, NULL, 'K' },
		{ 0 },
	};
	struct opts o = { .timeout_ms = 10000 };
	int c, upcalls = 0;
	bool upcall_hold = false;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o.domain = optarg; break;
		case 'p': o.profile = optarg; break;
		case 'c': o.cr3 = atoi(optarg); break;
		case 'b': o.bp = optarg; break;
		case 't': o.timeout_ms = atoi(optarg); break;
		case 'H': o.hold = true; break;
		case 'P': o.hold_pause = true; break;
		case 'D': o.debugreg = true; break;
		case 'n': o.bp_hits = atoi(optarg); break;
		case 'L': o.log = true; break;
		case 'U': upcalls = atoi(optarg); break;
		case 'K': upcall_hold = true; break;
		default: return 2;
		}
	}
	if (o.domain && upcalls > 0)
		return upcall_probe(o.domain, upcalls, upcall_hold,
				    o.timeout_ms) ? 1 : 0;
	if (!o.domain || !o.profile) {
		fprintf(stderr, "usage: xenlab_probe --domain NAME|ID --profile P "
			"[--cr3 N] [--bp SYMBOL] [--timeout-ms MS] [--hold-bp] "
			"[--hold-pause] [--debugreg] [--bp-hits N] [--log]\n");
		return 2;
	}
	return run(&o) ? 1 : 0;
}
