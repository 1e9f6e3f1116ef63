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
 *                [--debugreg] [--bp-hits N]
 *
 * --hold-bp leaves the breakpoint set and sleeps, --hold-pause pauses the
 * guest and sleeps (kill tests: the next attach must undo either).
 * --debugreg places the breakpoint in the debug registers instead of an
 * int3 (xen_hv_set_bp_mode); --bp-hits N waits for N hits (default 1) and
 * prints the time per hit (TIME bp_per_hit: event to event, our answer
 * included).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hv.h"
#include "lnx.h"
#include "profile.h"
#include "vmi.h"
#include "xen.h"

struct opts {
	const char *domain, *profile, *bp;
	int cr3, timeout_ms, bp_hits;
	bool hold, hold_pause, debugreg;
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
	err = hv_set_bp(hv, va);
	printf("SETBP %s %#llx: %s\n", o->bp, (unsigned long long)va,
	       err ? strerror(-err) : "ok");
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
		{ 0 },
	};
	struct opts o = { .timeout_ms = 10000 };
	int c;

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
		default: return 2;
		}
	}
	if (!o.domain || !o.profile) {
		fprintf(stderr, "usage: xenlab_probe --domain NAME|ID --profile P "
			"[--cr3 N] [--bp SYMBOL] [--timeout-ms MS] [--hold-bp] "
			"[--hold-pause] [--debugreg] [--bp-hits N]\n");
		return 2;
	}
	return run(&o) ? 1 : 0;
}
