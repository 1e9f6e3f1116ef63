/*
 * qemu.c - the qemu backend: attach to a QEMU guest through its shared RAM
 * file and its gdbstub, read guest-physical memory, registers (laid out as
 * the stub's target description says), and place breakpoints. Run control
 * and events are in qemu_event.c.
 */
#define _GNU_SOURCE
#include "qemu_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

/* The registers we report, by their names in QEMU's i386-64bit.xml. */
static const struct {
	const char *name;
	size_t field;
	bool required;
} reg_names[QEMU_NREGS] = {
#define R(n, f, req) { n, offsetof(struct hv_regs, f), req }
	R("rax", rax, false), R("rbx", rbx, false), R("rcx", rcx, false),
	R("rdx", rdx, false), R("rsi", rsi, false), R("rdi", rdi, false),
	R("rbp", rbp, false), R("rsp", rsp, true), R("r8", r8, false),
	R("r9", r9, false), R("r10", r10, false), R("r11", r11, false),
	R("r12", r12, false), R("r13", r13, false), R("r14", r14, false),
	R("r15", r15, false), R("rip", rip, true), R("eflags", rflags, false),
	R("cr0", cr0, false), R("cr2", cr2, false), R("cr3", cr3, true),
	R("cr4", cr4, false), R("efer", efer, false),
	R("fs_base", fs_base, false), R("gs_base", gs_base, false),
	R("k_gs_base", kernel_gs_base, false),
#undef R
};

static const struct hv_ops qemu_ops;

bool qemu_hv_is(const struct hv *hv)
{
	return hv && hv->ops == &qemu_ops;
}

int qemu_fail(struct qemu_hv *q, int err, const char *what)
{
	if (err == -ENODEV || q->rsp.dead) {
		q->rsp.dead = true;
		return -ENODEV;
	}
	/* A late reply would be read as the answer to the next command. */
	if (err == -ETIMEDOUT || err == -EBADMSG || err == -EMSGSIZE ||
	    err == -EPROTO) {
		syslog(LOG_ERR, "qemu %s: %s: %s; dropping the gdb connection",
		       q->base.name, what, strerror(-err));
		q->rsp.dead = true;
	}
	return err;
}

/* --- memory ------------------------------------------------------------ */

static int map_ram(struct qemu_hv *q, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
		err = -EINVAL;
		goto out_close;
	}
	if ((uint64_t)st.st_size > QEMU_RAM_MAX) {
		syslog(LOG_ERR, "qemu %s: RAM file %s is %lld bytes; guests over "
		       "%llu bytes have RAM split at the PCI hole, not supported",
		       q->base.name, path, (long long)st.st_size, QEMU_RAM_MAX);
		err = -EFBIG;
		goto out_close;
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		err = -errno;
		goto out_close;
	}
	q->ram = m;
	q->ram_len = (size_t)st.st_size;
	q->base.ram_size = q->ram_len;
	q->base.caps |= HV_CAP_MEM;
out_close:
	close(fd);
	return err;
}

static int qemu_read_phys(struct hv *hv, gpa_t gpa, void *buf, size_t len)
{
	struct qemu_hv *q = (struct qemu_hv *)hv;

	if (!q->ram)
		return -EOPNOTSUPP;
	if (gpa > q->ram_len || len > q->ram_len - gpa)
		return -EFAULT;
	if (len)
		memcpy(buf, q->ram + gpa, len);
	return 0;
}

/* --- registers ---------------------------------------------------------- */

static int map_regs(struct qemu_hv *q, const struct gdbrsp_tdesc *td)
{
	for (unsigned int i = 0; i < QEMU_NREGS; i++) {
		const struct gdbrsp_reg *r = gdbrsp_tdesc_find(td, reg_names[i].name);
		q->slot[i].off = SIZE_MAX;
		if (r && r->bits <= 64) {
			q->slot[i].off = r->offset;
			q->slot[i].bytes = r->bits / 8;
			if (!strcmp(r->name, "rip"))
				q->rip_regnum = r->regnum;
		} else if (reg_names[i].required) {
			syslog(LOG_ERR, "qemu %s: target description has no "
			       "64-bit register %s", q->base.name,
			       reg_names[i].name);
			return -EPROTO;
		}
	}
	q->g_bytes = td->g_bytes;
	return 0;
}

/* One register from the hex `g` data; unavailable ("xx") reads as 0. */
static uint64_t reg_value(const char *hex, size_t hexlen,
			  const struct qemu_regslot *s, bool *ok)
{
	uint8_t b[8] = { 0 };
	uint64_t v = 0;

	if (s->off == SIZE_MAX)
		return 0;
	if (2 * (s->off + s->bytes) > hexlen) {
		*ok = false;
		return 0;
	}
	if (gdbrsp_hex_decode(hex + 2 * s->off, 2 * s->bytes, b, 8) < 0)
		return 0;
	for (unsigned int i = s->bytes; i-- > 0;)
		v = v << 8 | b[i];	/* target order: little-endian */
	return v;
}

int qemu_select_vcpu(struct qemu_hv *q, unsigned int vcpu)
{
	char cmd[32];
	const char *reply;
	size_t len;
	int err;

	if (q->cur_vcpu == (int)vcpu || q->tid[vcpu] == 0)
		return 0;
	snprintf(cmd, sizeof(cmd), "Hg%llx", (unsigned long long)q->tid[vcpu]);
	err = gdbrsp_command(&q->rsp, cmd, false, &reply, &len);
	if (err)
		return qemu_fail(q, err, "select vCPU");
	if (len != 2 || memcmp(reply, "OK", 2))
		return -EIO;
	q->cur_vcpu = (int)vcpu;
	return 0;
}

int qemu_regs_fetch(struct qemu_hv *q, unsigned int vcpu, struct hv_regs *r)
{
	const char *reply;
	size_t len;
	bool ok = true;
	int err = qemu_select_vcpu(q, vcpu);

	if (err)
		return err;
	err = gdbrsp_command(&q->rsp, "g", false, &reply, &len);
	if (err)
		return qemu_fail(q, err, "read registers");
	if (gdbrsp_reply_error(reply, len, NULL))
		return -EIO;
	memset(r, 0, sizeof(*r));
	for (unsigned int i = 0; i < QEMU_NREGS; i++) {
		uint64_t v = reg_value(reply, len, &q->slot[i], &ok);
		memcpy((char *)r + reg_names[i].field, &v, sizeof(v));
		if (!ok && reg_names[i].required)
			return qemu_fail(q, -EPROTO, "short register reply");
	}
	return 0;
}

static int qemu_get_regs(struct hv *hv, unsigned int vcpu, struct hv_regs *r)
{
	struct qemu_hv *q = (struct qemu_hv *)hv;

	if (q->rsp.dead)
		return -ENODEV;
	if (q->in_event && q->cur.vcpu == vcpu) {
		*r = q->cur.regs;
		return 0;
	}
	if (q->run == QEMU_RUNNING)
		return -EBUSY;	/* the contract: paused or in an event */
	return qemu_regs_fetch(q, vcpu, r);
}

/* Thread id in a stop reply ("thread:p1.2;" or "thread:2;") -> vCPU, -1. */
int qemu_vcpu_of(const struct qemu_hv *q, const char *stop, size_t len)
{
	const char *t = memmem(stop, len, "thread:", 7), *end, *dot;
	uint64_t tid;

	if (!t)
		return -1;
	t += 7;
	end = memchr(t, ';', len - (size_t)(t - stop));
	if (!end)
		end = stop + len;
	dot = memchr(t, '.', (size_t)(end - t));
	if (dot)
		t = dot + 1;
	if (gdbrsp_parse_hex(t, (size_t)(end - t), &tid))
		return -1;
	for (unsigned int i = 0; i < q->base.nr_vcpus; i++)
		if (q->tid[i] == tid)
			return (int)i;
	return -1;
}

int qemu_hv_set_cr3_hook(struct hv *hv, gva_t addr)
{
	struct qemu_hv *q = (struct qemu_hv *)hv;

	if (!qemu_hv_is(hv))
		return -EINVAL;
	if (q->cr3_on)
		return -EBUSY;
	if (!q->have_gdb)
		return -EOPNOTSUPP;
	q->cr3_hook = addr;
	q->last_cr3 = 0;
	if (addr)
		hv->caps |= HV_CAP_CR3_APPROX;
	else
		hv->caps &= ~(unsigned int)HV_CAP_CR3_APPROX;
	return 0;
}

/* --- attach and detach ---------------------------------------------------- */

static int handshake(struct qemu_hv *q)
{
	const char *reply;
	size_t len;
	/* Stray stop replies (QEMU sends T02 on connect) are skipped here. */
	int err = gdbrsp_command(&q->rsp, "qSupported:xmlRegisters=i386", false,
				 &reply, &len);

	if (err)
		return qemu_fail(q, err, "qSupported");
	if (!memmem(reply, len, "qXfer:features:read+", 20)) {
		syslog(LOG_ERR, "qemu %s: gdbstub offers no target description "
		       "(qXfer:features:read)", q->base.name);
		return -EPROTO;
	}
	return 0;
}

/* Parse "m1,2,p1.3" into q->tid; ignores vCPUs past QEMU_VCPUS_MAX. */
static int parse_threads(struct qemu_hv *q, const char *p, size_t len)
{
	const char *end = p + len;

	for (p++; p < end;) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		const char *e = c ? c : end, *dot = memchr(p, '.', (size_t)(e - p));
		uint64_t tid;
		if (gdbrsp_parse_hex(dot ? dot + 1 : p,
				     (size_t)(e - (dot ? dot + 1 : p)), &tid) ||
		    tid == 0)
			return -EPROTO;
		if (q->base.nr_vcpus < QEMU_VCPUS_MAX)
			q->tid[q->base.nr_vcpus++] = tid;
		p = c ? c + 1 : end;
	}
	return 0;
}

static int list_threads(struct qemu_hv *q)
{
	const char *cmd = "qfThreadInfo", *reply;
	size_t len;
	int err = 0;

	q->base.nr_vcpus = 0;
	for (unsigned int round = 0; round <= QEMU_VCPUS_MAX; round++) {
		err = gdbrsp_command(&q->rsp, cmd, false, &reply, &len);
		if (err)
			return qemu_fail(q, err, "list threads");
		if (len == 0 || reply[0] == 'l')
			break;
		if (reply[0] != 'm')
			return -EPROTO;
		err = parse_threads(q, reply, len);
		if (err)
			return err;
		cmd = "qsThreadInfo";
	}
	if (q->base.nr_vcpus == 0) {	/* no thread list: one vCPU, no Hg */
		q->base.nr_vcpus = 1;
		q->tid[0] = 0;
	}
	return 0;
}

/*
 * Breakpoints are kept outside guest memory under TCG; under KVM QEMU
 * patches int3 into guest RAM. Ask the monitor; unknown counts as visible.
 */
static void check_accel(struct qemu_hv *q)
{
	static const char info[] = "info kvm";
	char cmd[64] = "qRcmd,", out[256] = "";
	const char *reply;
	size_t len;

	gdbrsp_hex_encode(info, sizeof(info) - 1, cmd + 6);
	q->rsp.cons_buf = out;
	q->rsp.cons_cap = sizeof(out);
	q->rsp.cons_len = 0;
	int err = gdbrsp_command(&q->rsp, cmd, false, &reply, &len);
	q->rsp.cons_buf = NULL;
	if (err) {
		qemu_fail(q, err, "monitor command");
		return;
	}
	if (strstr(out, "kvm support: disabled"))
		q->base.caps |= HV_CAP_BP_INVISIBLE;
	else
		syslog(LOG_NOTICE, "qemu %s: not TCG (or unknown): breakpoints "
		       "are visible in guest memory", q->base.name);
}

static int event_fds(struct qemu_hv *q)
{
	struct epoll_event e = { .events = EPOLLIN };

	q->epfd = epoll_create1(EPOLL_CLOEXEC);
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->epfd < 0 || q->efd < 0)
		return -errno;
	e.data.fd = q->rsp.fd;
	if (epoll_ctl(q->epfd, EPOLL_CTL_ADD, q->rsp.fd, &e) < 0)
		return -errno;
	e.data.fd = q->efd;
	if (epoll_ctl(q->epfd, EPOLL_CTL_ADD, q->efd, &e) < 0)
		return -errno;
	return 0;
}

static int attach_gdb(struct qemu_hv *q)
{
	struct gdbrsp_tdesc *td = malloc(sizeof(*td));
	int err;

	if (!td)
		return -ENOMEM;
	err = handshake(q);
	if (!err) {
		err = gdbrsp_tdesc_fetch(&q->rsp, td);
		if (err)
			syslog(LOG_ERR, "qemu %s: target description: %s",
			       q->base.name, strerror(-err));
	}
	if (!err)
		err = map_regs(q, td);
	free(td);
	if (!err)
		err = list_threads(q);
	if (!err)
		check_accel(q);
	if (!err && !q->rsp.dead)
		err = event_fds(q);
	if (err)
		return err;
	if (q->rsp.dead)
		return -ENODEV;
	q->base.caps |= HV_CAP_REGS | HV_CAP_PAUSE | HV_CAP_BREAKPOINT;
	/* QEMU stops the guest when a debugger connects: let it run. */
	q->run = QEMU_STOPPED;
	return qemu_event_cont(q);
}

static void detach_gdb(struct qemu_hv *q)
{
	bool stopped;

	if (q->nbps == 0 && q->run == QEMU_RUNNING)
		return;
	if (qemu_event_quiesce(q, &stopped))
		return;
	while (q->nbps && !q->rsp.dead) {
		qemu_bp_cmd(q, false, q->bps[q->nbps - 1].addr);
		q->nbps--;
	}
	q->pending = q->in_event = q->user_paused = false;
	if (!q->rsp.dead)
		qemu_event_cont(q);
}

static void qemu_free(struct hv *hv)
{
	struct qemu_hv *q = (struct qemu_hv *)hv;

	if (q->have_gdb && !q->rsp.dead)
		detach_gdb(q);
	gdbrsp_release(&q->rsp);
	if (q->epfd >= 0)
		close(q->epfd);
	if (q->efd >= 0)
		close(q->efd);
	if (q->ram)
		munmap((void *)q->ram, q->ram_len);
	free(q);
}

int qemu_hv_open(const char *name, const char *ram_path, int gdb_fd,
		 int timeout_ms, struct hv **out)
{
	struct qemu_hv *q = calloc(1, sizeof(*q));
	int err = 0;

	if (!q) {
		if (gdb_fd >= 0)
			close(gdb_fd);
		return -ENOMEM;
	}
	q->base.ops = &qemu_ops;
	snprintf(q->base.name, sizeof(q->base.name), "%s", name ? name : "");
	q->epfd = q->efd = q->rsp.fd = -1;
	q->rsp.dead = true;
	q->cur_vcpu = -1;
	if (!ram_path && gdb_fd < 0)
		err = -EINVAL;
	if (!err && ram_path)
		err = map_ram(q, ram_path);
	if (gdb_fd >= 0) {
		int e = gdbrsp_init(&q->rsp, gdb_fd,
				    timeout_ms > 0 ? timeout_ms : QEMU_TIMEOUT_MS);
		q->have_gdb = !e;
		err = err ? err : e;
		if (!err)
			err = attach_gdb(q);
	}
	if (err) {
		q->nbps = 0;
		qemu_free(&q->base);
		return err;
	}
	*out = &q->base;
	return 0;
}

int qemu_hv_new(const char *name, const char *ram_path, const char *gdb_path,
		struct hv **out)
{
	int fd = -1, err;

	if (gdb_path) {
		err = gdbrsp_connect_unix(gdb_path, QEMU_TIMEOUT_MS, &fd);
		if (err) {
			syslog(LOG_ERR, "qemu %s: connect %s: %s", name ? name : "",
			       gdb_path, strerror(-err));
			return err;
		}
	}
	return qemu_hv_open(name, ram_path, fd, QEMU_TIMEOUT_MS, out);
}

static const struct hv_ops qemu_ops = {
	.name = "qemu",
	.free = qemu_free,
	.pause = qemu_event_pause,
	.resume = qemu_event_resume,
	.read_phys = qemu_read_phys,
	.get_regs = qemu_get_regs,
	.set_bp = qemu_bp_set,
	.clear_bp = qemu_bp_clear,
	.set_cr3_events = qemu_bp_cr3_events,
	.event_fd = qemu_event_fd,
	.next_event = qemu_event_next,
	.event_done = qemu_event_done,
};
