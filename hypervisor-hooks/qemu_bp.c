/*
 * qemu_bp.c - breakpoints of the qemu backend: a table of addresses, each
 * wanted by the caller (set_bp), by the CR3 hook, or both, mirrored into
 * the gdbstub with Z0/z0 (QEMU keeps them outside guest memory under TCG).
 * The stub takes commands only while the guest is stopped: each change is
 * made between qemu_event_quiesce and qemu_event_settle.
 */
#include "qemu_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

struct qemu_bp *qemu_bp_find(struct qemu_hv *q, gva_t addr)
{
	for (unsigned int i = 0; i < q->nbps; i++)
		if (q->bps[i].addr == addr)
			return &q->bps[i];
	return NULL;
}

/* Insert (Z0) or remove (z0) the stub's breakpoint; the guest is stopped. */
int qemu_bp_cmd(struct qemu_hv *q, bool insert, gva_t addr)
{
	char cmd[48];
	const char *reply;
	size_t len;
	int err;

	snprintf(cmd, sizeof(cmd), "%c0,%llx,1", insert ? 'Z' : 'z',
		 (unsigned long long)addr);
	err = gdbrsp_command(&q->rsp, cmd, false, &reply, &len);
	if (err)
		return qemu_fail(q, err, insert ? "insert breakpoint"
						: "remove breakpoint");
	if (len == 0)
		return -EOPNOTSUPP;
	if (len == 2 && !memcmp(reply, "OK", 2))
		return 0;
	return -EIO;
}

/* Make the table entry for addr want (user, hook); talk to the stub. */
static int bp_update(struct qemu_hv *q, gva_t addr, bool user, bool hook)
{
	struct qemu_bp *b = qemu_bp_find(q, addr);
	bool stopped;
	int err;

	if (!b && q->nbps >= QEMU_BPS_MAX)
		return -ENOSPC;
	err = qemu_event_quiesce(q, &stopped);
	if (err)
		return err;
	if (!b && (user || hook)) {
		err = qemu_bp_cmd(q, true, addr);
		if (!err) {
			b = &q->bps[q->nbps++];
			*b = (struct qemu_bp){ .addr = addr };
		}
	} else if (b && !user && !hook) {
		err = qemu_bp_cmd(q, false, addr);
		if (!err || err == -ENODEV) {
			*b = q->bps[--q->nbps];
			b = NULL;
		}
		/* the vCPU held for this bp runs on without an event */
		if (q->pending && q->pend.addr == addr) {
			q->pending = false;
			qemu_event_signal(q, false);
		}
	}
	if (b && !err) {
		b->user = user;
		b->hook = hook;
	}
	int err2 = qemu_event_settle(q, stopped);
	return err ? err : err2;
}

int qemu_bp_set(struct hv *hv, gva_t addr)
{
	struct qemu_hv *q = (struct qemu_hv *)hv;
	struct qemu_bp *b = qemu_bp_find(q, addr);

	if (q->rsp.dead)
		return -ENODEV;
	if (b && b->user)
		return -EEXIST;
	return bp_update(q, addr, true, b && b->hook);
}

int qemu_bp_clear(struct hv *hv, gva_t addr)
{
	struct qemu_hv *q = (struct qemu_hv *)hv;
	struct qemu_bp *b = qemu_bp_find(q, addr);

	if (q->rsp.dead)
		return -ENODEV;
	if (!b || !b->user)
		return -ENOENT;
	return bp_update(q, addr, false, b->hook);
}

int qemu_bp_cr3_events(struct hv *hv, bool on)
{
	struct qemu_hv *q = (struct qemu_hv *)hv;
	struct qemu_bp *b;
	int err;

	if (!q->cr3_hook) {
		syslog(LOG_WARNING, "qemu %s: CR3 events need a context-switch "
		       "hook address (qemu_hv_set_cr3_hook); none set",
		       q->base.name);
		return -EOPNOTSUPP;
	}
	if (q->rsp.dead)
		return -ENODEV;
	if (on == q->cr3_on)
		return 0;
	b = qemu_bp_find(q, q->cr3_hook);
	err = bp_update(q, q->cr3_hook, b && b->user, on);
	if (!err)
		q->cr3_on = on;
	return err;
}

/*
 * Linux built with ftrace starts traceable functions with a 5-byte NOP
 * (the patched call to __fentry__). A vCPU stopped on one can go on at
 * rip + 5 with no single-step and no breakpoint change. The bytes are read
 * afresh each time (through the vCPU's page tables, by the stub), since
 * the kernel patches them when tracing is switched on.
 */
int qemu_bp_skip_nop(struct qemu_hv *q, struct qemu_bp *b)
{
	static const uint8_t nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	char cmd[64], hex[17];
	uint8_t bytes[8];
	const char *reply;
	size_t len;
	int err;

	if (b->not_nop || q->no_p)
		return 1;
	err = qemu_select_vcpu(q, q->at_vcpu);
	if (err)
		return err;
	snprintf(cmd, sizeof(cmd), "m%llx,5", (unsigned long long)b->addr);
	err = gdbrsp_command(&q->rsp, cmd, false, &reply, &len);
	if (err)
		return qemu_fail(q, err, "read breakpoint bytes");
	if (len != 10 || gdbrsp_hex_decode(reply, 10, bytes, 5) != 5 ||
	    memcmp(bytes, nop5, 5)) {
		b->not_nop = len == 10;	/* unreadable now may read later */
		return 1;
	}
	for (int i = 0; i < 8; i++)
		bytes[i] = (uint8_t)((b->addr + 5) >> (8 * i));
	gdbrsp_hex_encode(bytes, 8, hex);
	snprintf(cmd, sizeof(cmd), "P%x=%s", q->rip_regnum, hex);
	err = gdbrsp_command(&q->rsp, cmd, false, &reply, &len);
	if (err)
		return qemu_fail(q, err, "write rip");
	if (len == 2 && !memcmp(reply, "OK", 2))
		return 0;
	q->no_p = true;
	syslog(LOG_NOTICE, "qemu %s: stub refuses to write rip: breakpoints "
	       "are single-stepped", q->base.name);
	return 1;
}
