/*
 * qemu_event.c - run control and events of the qemu backend: pause and
 * resume through the gdbstub, stop replies turned into breakpoint and
 * (approximate) CR3 events, and stepping over a breakpoint so the guest
 * makes progress.
 *
 * The stub accepts commands only while the guest is stopped, and any byte
 * sent while it runs stops it; so every command is bracketed by quiesce
 * and settle. A breakpoint stop that crosses our interrupt is not lost: it
 * becomes the pending event, and the event fd (an epoll set over the gdb
 * socket and an eventfd) stays readable until next_event takes it.
 */
#include "qemu_priv.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum { STOP_NONE, STOP_EVENT, STOP_QUIET };

void qemu_event_signal(struct qemu_hv *q, bool on)
{
	uint64_t v = 1;

	if (q->efd < 0)
		return;
	if (on) {
		if (write(q->efd, &v, sizeof(v)) != sizeof(v))
			syslog(LOG_WARNING, "qemu %s: eventfd write failed",
			       q->base.name);
	} else if (read(q->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: was not signalled; nothing to clear */
	}
}

int qemu_event_fd(struct hv *hv)
{
	return ((struct qemu_hv *)hv)->epfd;
}

/*
 * The guest stopped with stop reply p. Fill ev and return STOP_EVENT for a
 * breakpoint the caller wants, STOP_QUIET for the CR3 hook with CR3
 * unchanged (step over it and go on), STOP_NONE for any other stop.
 */
static int classify_stop(struct qemu_hv *q, const char *p, size_t len,
			 struct hv_event *ev)
{
	struct hv_regs r;
	struct qemu_bp *b;
	int sig = gdbrsp_stop_signal(p, len), vcpu, err;

	if (len && (p[0] == 'W' || p[0] == 'X')) {
		q->rsp.dead = true;
		return -ENODEV;
	}
	q->run = QEMU_STOPPED;
	/* QEMU's stub selects the vCPU that stopped for `g`: no Hg needed */
	vcpu = qemu_vcpu_of(q, p, len);
	q->cur_vcpu = vcpu;
	if (vcpu < 0)
		vcpu = 0;
	if (sig != 5 || q->nbps == 0)
		return STOP_NONE;
	err = qemu_regs_fetch(q, (unsigned int)vcpu, &r);
	if (err)
		return err;
	b = qemu_bp_find(q, r.rip);
	if (!b)
		return STOP_NONE;
	q->at_bp = true;
	q->at_addr = r.rip;
	q->at_vcpu = (unsigned int)vcpu;
	if (!b->user && (!b->hook || r.cr3 == q->last_cr3))
		return STOP_QUIET;
	memset(ev, 0, sizeof(*ev));
	ev->vcpu = (unsigned int)vcpu;
	ev->addr = r.rip;
	ev->regs = r;
	ev->seq = ++q->seq;
	ev->kind = HV_EV_BREAKPOINT;
	if (!b->user) {
		ev->kind = HV_EV_CR3_WRITE;
		ev->cr3_old = q->last_cr3;
		ev->cr3_new = r.cr3;
	}
	if (b->hook)
		q->last_cr3 = r.cr3;
	return STOP_EVENT;
}

/* Wait for the stop reply that follows our interrupt or step. */
static int wait_stop(struct qemu_hv *q, const char **p, size_t *len)
{
	for (unsigned int n = 0; n <= GDBRSP_SKIP_MAX; n++) {
		int err = gdbrsp_recv(&q->rsp, q->rsp.timeout_ms, p, len);
		if (err)
			return qemu_fail(q, err, "wait for the guest to stop");
		if (gdbrsp_is_stop(*p, *len))
			return 0;
		q->rsp.strays++;	/* console output or junk */
	}
	return qemu_fail(q, -EPROTO, "no stop reply");
}

int qemu_event_stop(struct qemu_hv *q)
{
	struct hv_event ev;
	const char *p;
	size_t len;
	int err;

	if (q->run == QEMU_STOPPED)
		return 0;
	err = gdbrsp_interrupt(&q->rsp);
	if (err)
		return qemu_fail(q, err, "interrupt");
	err = wait_stop(q, &p, &len);
	if (err)
		return err;
	/* A breakpoint hit may have crossed our interrupt: keep it. */
	err = classify_stop(q, p, len, &ev);
	if (err == STOP_EVENT) {
		q->pending = true;
		q->pend = ev;
		qemu_event_signal(q, true);
	}
	return err < 0 ? err : 0;
}

/*
 * Get the stopped vCPU past its breakpoint: skip an ftrace NOP, or remove
 * the breakpoint, single-step and put it back (each change of breakpoints
 * makes QEMU's TCG flush its translations, so the skip is much cheaper).
 */
static int step_over(struct qemu_hv *q)
{
	struct qemu_bp *b = qemu_bp_find(q, q->at_addr);
	const char *p;
	size_t len;
	int err;

	q->at_bp = false;
	if (!b)
		return 0;	/* cleared meanwhile: nothing to step over */
	err = qemu_bp_skip_nop(q, b);
	if (err <= 0)
		return err;
	err = qemu_bp_cmd(q, false, q->at_addr);
	if (err)
		return err;
	err = gdbrsp_command(&q->rsp, "s", true, &p, &len);
	if (err)
		return qemu_fail(q, err, "step over breakpoint");
	q->cur_vcpu = -1;
	return qemu_bp_cmd(q, true, q->at_addr);
}

int qemu_event_cont(struct qemu_hv *q)
{
	int err;

	if (q->rsp.dead)
		return -ENODEV;
	if (q->run == QEMU_RUNNING)
		return 0;
	if (q->at_bp) {
		err = step_over(q);
		if (err)
			return err;
	}
	err = gdbrsp_send(&q->rsp, "c", 1);
	if (err)
		return qemu_fail(q, err, "continue");
	q->run = QEMU_RUNNING;
	q->cur_vcpu = -1;
	return 0;
}

int qemu_event_quiesce(struct qemu_hv *q, bool *stopped)
{
	*stopped = q->run == QEMU_RUNNING;
	return *stopped ? qemu_event_stop(q) : 0;
}

int qemu_event_settle(struct qemu_hv *q, bool stopped)
{
	if (!stopped || q->pending || q->in_event || q->user_paused)
		return 0;
	return qemu_event_cont(q);
}

int qemu_event_pause(struct hv *hv)
{
	struct qemu_hv *q = (struct qemu_hv *)hv;
	int err;

	if (q->rsp.dead)
		return -ENODEV;
	err = qemu_event_stop(q);
	if (!err)
		q->user_paused = true;
	return err;
}

int qemu_event_resume(struct hv *hv)
{
	struct qemu_hv *q = (struct qemu_hv *)hv;

	if (q->rsp.dead)
		return -ENODEV;
	q->user_paused = false;
	/* A held vCPU runs on only after event_done. */
	if (q->pending || q->in_event)
		return 0;
	return qemu_event_cont(q);
}

static int deliver_gone(struct qemu_hv *q, struct hv_event *ev)
{
	if (q->gone_reported)
		return -ENODEV;
	q->gone_reported = true;
	q->pending = q->in_event = false;
	memset(ev, 0, sizeof(*ev));
	ev->kind = HV_EV_GONE;
	ev->seq = ++q->seq;
	syslog(LOG_NOTICE, "qemu %s: guest gone", q->base.name);
	return 0;
}

static int deliver(struct qemu_hv *q, struct hv_event *ev)
{
	q->in_event = true;
	q->cur = *ev;
	return 0;
}

/* Read stop replies until an event, the deadline, or the guest's end. */
static int read_events(struct qemu_hv *q, struct hv_event *ev, int timeout_ms)
{
	struct timespec t0;
	const char *p;
	size_t len;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned int n = 0; n <= GDBRSP_SKIP_MAX; n++) {
		struct timespec t1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long spent = (t1.tv_sec - t0.tv_sec) * 1000 +
			     (t1.tv_nsec - t0.tv_nsec) / 1000000;
		int left = timeout_ms < 0 ? -1 :
			   (spent >= timeout_ms ? 0 : timeout_ms - (int)spent);
		if (n && left == 0)
			return -EAGAIN;
		int err = gdbrsp_recv(&q->rsp, left, &p, &len);
		if (err == -ETIMEDOUT)
			return -EAGAIN;
		if (err)
			return qemu_fail(q, err, "read event");
		if (!gdbrsp_is_stop(p, len)) {
			q->rsp.strays++;	/* console output or junk */
			continue;
		}
		int r = classify_stop(q, p, len, ev);
		if (r == STOP_EVENT || r < 0)
			return r < 0 ? r : deliver(q, ev);
		if (r == STOP_QUIET)
			r = qemu_event_cont(q);
		else
			syslog(LOG_NOTICE, "qemu %s: guest stopped by someone "
			       "else; left stopped", q->base.name);
		if (r < 0)
			return r;
	}
	return -EAGAIN;
}

int qemu_event_next(struct hv *hv, struct hv_event *ev, int timeout_ms)
{
	struct qemu_hv *q = (struct qemu_hv *)hv;
	int err;

	if (!q->have_gdb)
		return -EOPNOTSUPP;
	if (q->rsp.dead)
		return deliver_gone(q, ev);
	if (q->in_event)
		return -EBUSY;
	if (q->pending) {
		q->pending = false;
		qemu_event_signal(q, false);
		*ev = q->pend;
		return deliver(q, ev);
	}
	err = read_events(q, ev, timeout_ms);
	if (err == -ENODEV || q->rsp.dead)
		return deliver_gone(q, ev);
	return err;
}

int qemu_event_done(struct hv *hv, const struct hv_event *ev)
{
	struct qemu_hv *q = (struct qemu_hv *)hv;

	if (q->rsp.dead) {
		q->in_event = false;
		return -ENODEV;
	}
	if (!q->in_event || ev->seq != q->cur.seq)
		return -EINVAL;
	q->in_event = false;
	if (q->user_paused || q->pending)
		return 0;
	return qemu_event_cont(q);
}
