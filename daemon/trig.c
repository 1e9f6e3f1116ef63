/*
 * trig.c - arming a guest's triggers and matching its events to rules.
 */
#include "trig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "denv.h"
#include "guest.h"
#include "lnx.h"
#include "profile.h"
#include "qemu.h"
#include "rule.h"
#include "scan.h"
#include "upcalld.h"
#include "vmi.h"

#define TRIG_EVENTS_PER_ROUND 64	/* bound one guest's share of a loop turn */
#define TRIG_PATH_MAX 4096u
#define PT_REGS_SI 104u		/* x86-64 struct pt_regs: si, di (ABI-stable) */
#define PT_REGS_DI 112u
#define CR3_ADDR_MASK 0x000ffffffffff000ull
#define KERNEL_HALF 0xffff800000000000ull
#define TRIG_BUSY_RETRY_NS (100ull * 1000 * 1000)
#define TRIG_BP_RETRY_S 10u

/* Functions that run right after a context switch, for the CR3 hook. */
static const char *const trig_switch_syms[] = {
	"finish_task_switch", "finish_task_switch.isra.0", "__switch_to", NULL,
};

static void trig_degrade(struct guest *g, const char *what, int rc)
{
	g->state = GUEST_DEGRADED;
	g->degraded_for_good = true;
	guest_error(g, "%s: %s", what, strerror(-rc));
}

/* Resolve t's symbol (into sym) and place its breakpoint: 0 or -errno. */
static int trig_place_bp(struct guest *g, const struct rule_trigger *t,
			 char *sym, size_t symlen)
{
	gva_t va;
	int rc;

	rc = rule_trigger_symbol(t, sym, symlen);
	if (!rc && g->nbps >= GUEST_BPS_MAX)
		rc = -ENOSPC;
	if (!rc)
		rc = vmi_sym_by_name(g->vmi, sym, &va);
	if (!rc)
		rc = hv_set_bp(g->hv, va);
	if (rc == -EEXIST)
		rc = 0;	/* two triggers on one symbol share the breakpoint */
	if (!rc)
		g->bps[g->nbps++] = (struct guest_bp){ .addr = va, .t = t };
	return rc;
}

/*
 * Refusals that can pass: the code is not in its final form yet (a guest
 * attached while booting still has "call __fentry__" where ftrace puts
 * its NOP, which the xen backend needs on AMD), its page is not mapped
 * yet, or another breakpoint is being stepped over.
 */
static bool trig_bp_may_pass(int rc)
{
	return rc == -EOPNOTSUPP || rc == -EFAULT || rc == -EBUSY || rc == -EAGAIN;
}

static int trig_arm_bp(struct guest *g, const struct rule_trigger *t)
{
	char sym[128] = "?", what[224];
	int rc = trig_place_bp(g, t, sym, sizeof(sym));

	if (!rc)
		return 0;
	if (!trig_bp_may_pass(rc) || g->nbp_wait >= GUEST_BPS_MAX) {
		snprintf(what, sizeof(what), "breakpoint on %s", sym);
		trig_degrade(g, what, rc);
		return 0;
	}
	g->bp_wait[g->nbp_wait++] = t;
	g->bp_retry_ns = upcalld_now_ns() + TRIG_BP_RETRY_S * 1000000000ull;
	g->state = GUEST_DEGRADED;
	guest_error(g, "breakpoint on %s: %s (retried every %u s)", sym,
		    strerror(-rc), TRIG_BP_RETRY_S);
	return 0;
}

/*
 * Place the breakpoints refused at arm time that may since have become
 * possible. Quiet on failure (the refusal was logged once); a success is
 * logged, and the guest is ready again when nothing else degraded it.
 */
static void trig_retry_bps(struct guest *g, uint64_t now_ns)
{
	unsigned int i = 0;
	char sym[128];

	if (!g->nbp_wait || now_ns < g->bp_retry_ns || !g->hv)
		return;
	while (i < g->nbp_wait) {
		if (trig_place_bp(g, g->bp_wait[i], sym, sizeof(sym))) {
			i++;
			continue;
		}
		upcalld_log(g->d, LOG_NOTICE, "guest %s: breakpoint on %s armed "
			    "on retry", g->conf.name, sym);
		g->bp_wait[i] = g->bp_wait[--g->nbp_wait];
	}
	g->bp_retry_ns = now_ns + TRIG_BP_RETRY_S * 1000000000ull;
	if (!g->nbp_wait && !g->degraded_for_good && g->state == GUEST_DEGRADED) {
		g->state = GUEST_READY;
		g->error[0] = '\0';
	}
}

static int trig_arm_cr3(struct guest *g, const struct rule_trigger *t)
{
	gva_t va = 0;
	int rc = -ENOENT, i;

	if (t->kind == RULE_TRIG_CR3_WRITE)
		g->cr3_trig = t;
	else
		g->newas_trig = t;
	if (g->cr3_trig && g->newas_trig)
		return 0;	/* already on for the other kind */
	if (hv_has(g->hv, HV_CAP_CR3_EVENT))
		rc = 0;
	for (i = 0; rc && trig_switch_syms[i] && qemu_hv_is(g->hv); i++)
		if (vmi_sym_by_name(g->vmi, trig_switch_syms[i], &va) == 0)
			rc = qemu_hv_set_cr3_hook(g->hv, va);
	if (!rc)
		rc = hv_set_cr3_events(g->hv, true);
	if (rc) {
		g->cr3_trig = g->newas_trig = NULL;
		trig_degrade(g, "CR3 events", rc);
	}
	return 0;
}

int trig_arm(struct guest *g)
{
	struct rule_errors errs;
	size_t i, n;
	int rc = 0;

	rule_errors_init(&errs);
	if (!g->rules)
		return 0;
	rc = rule_guest_new(g->rules, g->conf.name, g->hv->caps, &g->rg, &errs);
	for (i = 0; i < errs.n; i++)
		upcalld_log(g->d, LOG_WARNING, "guest %s: %s", g->conf.name, errs.v[i].msg);
	if (errs.n) {
		g->state = GUEST_DEGRADED;
		g->degraded_for_good = true;
	}
	rule_errors_release(&errs);
	if (rc)
		return rc;
	n = rule_set_ntriggers(g->rules);
	for (i = 0; i < n && !rc; i++) {
		const struct rule_trigger *t = rule_set_trigger(g->rules, i);

		if (!rule_guest_uses_trigger(g->rg, t))
			continue;
		if (t->kind == RULE_TRIG_SYSCALL || t->kind == RULE_TRIG_BREAKPOINT)
			rc = trig_arm_bp(g, t);
		else if (t->kind == RULE_TRIG_INTERVAL && g->ntimers < GUEST_TIMERS_MAX)
			g->timers[g->ntimers++] = (struct guest_timer){
				.t = t, .due_ns = upcalld_now_ns() + t->interval_ms * 1000000ull };
		else if (t->kind == RULE_TRIG_CR3_WRITE ||
			 t->kind == RULE_TRIG_NEW_ADDRESS_SPACE)
			rc = trig_arm_cr3(g, t);
	}
	return rc;
}

void trig_disarm(struct guest *g)
{
	unsigned int i;

	if (g->hv) {
		for (i = 0; i < g->nbps; i++)
			hv_clear_bp(g->hv, g->bps[i].addr);
		if (g->cr3_trig || g->newas_trig)
			hv_set_cr3_events(g->hv, false);
	}
	g->nbps = g->ntimers = g->nbp_wait = 0;
	g->degraded_for_good = false;
	g->cr3_trig = g->newas_trig = NULL;
	rule_guest_free(g->rg);
	g->rg = NULL;
}

/* --- events -------------------------------------------------------------- */

/* Read a NUL-terminated user string through the vCPU's address space. */
static int trig_read_user_str(struct guest *g, uint64_t cr3, gva_t va,
			      char *buf, size_t cap)
{
	size_t len = 0;

	while (len + 1 < cap) {
		size_t chunk = HV_PAGE_SIZE - ((va + len) & (HV_PAGE_SIZE - 1));
		char *nul;

		if (chunk > cap - 1 - len)
			chunk = cap - 1 - len;
		if (vmi_read_as(g->vmi, cr3 & CR3_ADDR_MASK, va + len, buf + len, chunk))
			return len ? 0 : -EFAULT;
		nul = memchr(buf + len, '\0', chunk);
		if (nul)
			return 0;
		len += chunk;
	}
	buf[cap - 1] = '\0';
	return 0;
}

/* The task running on the vCPU: per-cpu current_task through GS base. */
static void trig_current(struct guest *g, const struct hv_regs *r, struct denv *e)
{
	uint64_t off, base = r->gs_base;
	struct lnx_task t;
	gva_t task;

	if (base < KERNEL_HALF)
		base = r->kernel_gs_base;	/* stopped in user mode */
	/* per-cpu symbols are section offsets: KASLR does not move them */
	if (base < KERNEL_HALF ||
	    profile_sym(g->prof, "current_task", &off) ||
	    vmi_read_ptr(g->vmi, base + off, &task) ||
	    lnx_task_read(g->vmi, task, &t))
		return;
	e->has_proc = true;
	e->pid = t.tgid;
	e->ppid = t.ppid;
	e->uid = t.uid;
	memcpy(e->comm, t.comm, sizeof(e->comm));
	e->comm[sizeof(e->comm) - 1] = '\0';
}

/* execve(filename, ...) / execveat(fd, filename, ...): the path asked for. */
static void trig_exec_path(struct guest *g, const struct rule_trigger *t,
			   const struct hv_regs *r, char *buf, struct denv *e)
{
	uint64_t arg_off, filename;

	if (t->kind != RULE_TRIG_SYSCALL || !t->name)
		return;
	if (!strcmp(t->name, "execve"))
		arg_off = PT_REGS_DI;
	else if (!strcmp(t->name, "execveat"))
		arg_off = PT_REGS_SI;
	else
		return;
	/* __x64_sys_*(const struct pt_regs *regs): regs in rdi */
	if (vmi_read_u64(g->vmi, r->rdi + arg_off, &filename) == 0 &&
	    trig_read_user_str(g, r->cr3, filename, buf, TRIG_PATH_MAX) == 0)
		e->exec_path = buf;
}

/* do_init_module(struct module *mod): the module being loaded, in rdi. */
static void trig_module_name(struct guest *g, const struct rule_trigger *t,
			     const struct hv_regs *r, char *buf, size_t cap,
			     struct denv *e)
{
	const struct profile *p = g->prof;

	if (t->kind != RULE_TRIG_BREAKPOINT || !t->name ||
	    strcmp(t->name, "do_init_module") || !profile_has(p, PF_MODULE_NAME))
		return;
	if (vmi_read_str(g->vmi, r->rdi + (uint64_t)profile_off(p, PF_MODULE_NAME),
			 buf, cap) > 0)
		e->module = buf;
}

struct trig_match {
	struct denv *e;
	const struct rule *finding[SCAN_RULES_MAX];
	size_t nfinding;
	unsigned int what;
};

static int trig_on_rule(const struct rule *r, void *arg)
{
	struct trig_match *m = arg;

	if (!rule_is_finding_rule(r)) {
		denv_alert(m->e, r);	/* a refused alert is counted by the hub */
		return 0;
	}
	if (m->nfinding < SCAN_RULES_MAX)
		m->finding[m->nfinding++] = r;
	m->what |= (r->upcall & RULE_OBJ_PROCESSES ? SNAP_PROCS : 0) |
		   (r->upcall & RULE_OBJ_MODULES ? SNAP_MODULES : 0) |
		   (r->upcall & RULE_OBJ_FILES ? SNAP_FILES : 0);
	return 0;
}

static bool trig_rule_scan_running(const struct guest *g)
{
	const struct scan *s;

	for (s = g->scan; s; s = s->next)
		if (s->req.done == scan_rules_done)
			return true;
	return false;
}

/*
 * Match one trigger's rules: event rules alert at once, finding rules are
 * added to m (which may collect several triggers for one scan).
 */
static void trig_match(struct guest *g, const struct rule_trigger *t,
		       const struct hv_event *ev, struct trig_match *m)
{
	char path[TRIG_PATH_MAX], module[LNX_MODNAME_LEN];
	struct rule_env env;
	struct denv e;

	denv_init(&e, g, rule_trigger_kind_name(t->kind));
	if (t->kind == RULE_TRIG_SYSCALL)
		e.syscall = t->name;
	if (t->kind == RULE_TRIG_BREAKPOINT)
		e.symbol = t->name;
	if (ev) {
		e.vcpu = ev->vcpu;
		e.cr3 = ev->kind == HV_EV_CR3_WRITE ? ev->cr3_new : ev->regs.cr3;
		e.has_cr3 = true;
		trig_current(g, &ev->regs, &e);
		trig_exec_path(g, t, &ev->regs, path, &e);
		trig_module_name(g, t, &ev->regs, module, sizeof(module), &e);
	}
	g->st.events++;
	m->e = &e;
	env = denv_rule_env(&e);
	rule_match_trigger(g->rules, g->rg, t, &env, trig_on_rule, m);
	m->e = NULL;
}

/* One scan for the finding rules collected in m. */
static void trig_scan(struct guest *g, const struct trig_match *m,
		      const char *event_type, bool vcpu_stopped)
{
	struct scan_req req = { .what = m->what, .vcpu_stopped = vcpu_stopped,
				.event_type = event_type, .done = scan_rules_done };
	int rc;

	/* a memory-only guest (no upcall channel) has no answer to check */
	if (!m->nfinding || !g->hv || !g->up)
		return;
	if (trig_rule_scan_running(g)) {
		g->st.scans_coalesced++;
		return;
	}
	rc = scan_start(g, &req, m->finding, m->nfinding);
	if (rc)
		guest_error(g, "scan: %s", strerror(-rc));
}

/* One trigger fired by a hypervisor event. */
static void trig_fire(struct guest *g, const struct rule_trigger *t,
		      const struct hv_event *ev)
{
	struct trig_match m = { 0 };

	trig_match(g, t, ev, &m);
	trig_scan(g, &m, rule_trigger_kind_name(t->kind), true);
}

/* Remember an address space; true if it is new. Open addressing, capped:
 * when full, nothing more is "new" rather than growing without bound. */
static bool trig_cr3_new(struct guest *g, uint64_t cr3)
{
	uint64_t key = (cr3 & CR3_ADDR_MASK) | 1, h;
	unsigned int i;

	if (!g->cr3_seen && !(g->cr3_seen = calloc(GUEST_CR3_MAX * 2, sizeof(uint64_t))))
		return false;
	h = (key >> 12) * 0x9e3779b97f4a7c15ull;
	for (i = 0; i < GUEST_CR3_MAX * 2; i++) {
		uint64_t *slot = &g->cr3_seen[(h + i) & (GUEST_CR3_MAX * 2 - 1)];

		if (*slot == key)
			return false;
		if (!*slot) {
			if (g->ncr3 >= GUEST_CR3_MAX)
				return false;
			*slot = key;
			g->ncr3++;
			return true;
		}
	}
	return false;
}

static void trig_dispatch(struct guest *g, const struct hv_event *ev)
{
	unsigned int i;

	if (ev->kind == HV_EV_BREAKPOINT) {
		for (i = 0; i < g->nbps; i++)
			if (g->bps[i].addr == ev->addr)
				trig_fire(g, g->bps[i].t, ev);
		return;	/* a breakpoint no longer ours: just resume */
	}
	if (ev->kind != HV_EV_CR3_WRITE)
		return;
	if (g->cr3_trig)
		trig_fire(g, g->cr3_trig, ev);
	if (g->newas_trig && trig_cr3_new(g, ev->cr3_new))
		trig_fire(g, g->newas_trig, ev);
}

int trig_on_hv_event(struct guest *g)
{
	struct hv_event ev;
	int n, rc;

	for (n = 0; n < TRIG_EVENTS_PER_ROUND && g->hv; n++) {
		rc = hv_next_event(g->hv, &ev, 0);
		if (rc == -EAGAIN)
			return 0;
		if (rc == -ENODEV || (rc == 0 && ev.kind == HV_EV_GONE))
			return -ENODEV;
		if (rc)
			return rc;
		trig_dispatch(g, &ev);
		/* The guest may have died under a scan started above. */
		if (!g->hv)
			return -ENODEV;
		rc = hv_event_done(g->hv, &ev);
		vmi_flush(g->vmi);
		if (rc == -ENODEV)
			return rc;
	}
	return 0;
}

/*
 * Interval triggers due together share one scan: started one after the
 * other, all but the first would be coalesced into the first, whose rules
 * (and upcall queries) are only its own. A trigger that comes due while a
 * rule scan is in flight (another trigger's, or its own from a slow guest)
 * waits for it, retrying every TRIG_BUSY_RETRY_NS, instead of losing its
 * whole period: with periods that are multiples of each other (30 s, 60 s,
 * 5 min) the longer ones would otherwise keep losing to the shorter.
 */
void trig_tick(struct guest *g, uint64_t now_ns)
{
	struct trig_match m = { 0 };
	bool busy = trig_rule_scan_running(g);
	unsigned int i;

	trig_retry_bps(g, now_ns);
	for (i = 0; i < g->ntimers && g->hv; i++) {
		struct guest_timer *tm = &g->timers[i];

		if (now_ns < tm->due_ns)
			continue;
		if (busy) {
			tm->due_ns = now_ns + TRIG_BUSY_RETRY_NS;
			continue;
		}
		/* a late loop skips missed periods rather than firing a burst */
		tm->due_ns = now_ns + tm->t->interval_ms * 1000000ull;
		trig_match(g, tm->t, NULL, &m);
	}
	trig_scan(g, &m, rule_trigger_kind_name(RULE_TRIG_INTERVAL), false);
}

uint64_t trig_next_wakeup(const struct guest *g)
{
	uint64_t t = g->nbp_wait ? g->bp_retry_ns : UINT64_MAX;
	unsigned int i;

	for (i = 0; i < g->ntimers; i++)
		if (g->timers[i].due_ns < t)
			t = g->timers[i].due_ns;
	return t;
}

/* Every interval trigger due now: one scan at once, or when the one in
 * flight is done. */
unsigned int trig_fire_intervals(struct guest *g)
{
	uint64_t now = upcalld_now_ns();
	unsigned int i;

	for (i = 0; i < g->ntimers; i++)
		g->timers[i].due_ns = now;
	trig_tick(g, now);
	return i;
}
