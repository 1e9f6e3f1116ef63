/*
 * qemu_stub.h - test support for check_qemu*.c: a temp file as guest RAM,
 * and a scripted gdbstub on a real socketpair, a thread speaking the
 * remote protocol the way QEMU's stub does (stop on connect, target
 * description in chunks, Z0/z0, c/s, ^C, stop replies), with switches for
 * a breakpoint hit, a hit racing ^C, a dying or mute stub. Header-only
 * (static inline) because each test program links only the library.
 */
#ifndef UPCALLD_QEMU_STUB_H
#define UPCALLD_QEMU_STUB_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gdbrsp.h"
#include "qemu.h"

#define TMO 400		/* backend timeout in these tests, ms */
#define SLACK 1500	/* scheduling delay allowed on a loaded machine */
#define RAMSZ (1u << 20)

/* --- helpers ---------------------------------------------------------------- */

static inline long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static char ram_path[64];

/* A RAM file of size bytes; byte i holds i * 7 (mod 256). */
static inline void make_ram(uint64_t size)
{
	int fd;

	strcpy(ram_path, "/tmp/check_qemu_ram.XXXXXX");
	fd = mkstemp(ram_path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	if (size <= RAMSZ) {
		static unsigned char buf[RAMSZ];
		for (size_t i = 0; i < size; i++)
			buf[i] = (unsigned char)(i * 7);
		ck_assert_int_eq(pwrite(fd, buf, size, 0), (ssize_t)size);
	}
	close(fd);
}

static inline void drop_ram(void)
{
	if (ram_path[0])
		unlink(ram_path);
	ram_path[0] = '\0';
}

/* --- the scripted gdbstub ------------------------------------------------- */

struct sreg {
	const char *name;
	unsigned int bits;
};

/* QEMU's x86-64 core registers, in its order (i386-64bit.xml, abridged). */
static const struct sreg __attribute__((unused)) layout_a[] = {
	{ "rax", 64 }, { "rbx", 64 }, { "rcx", 64 }, { "rdx", 64 },
	{ "rsi", 64 }, { "rdi", 64 }, { "rbp", 64 }, { "rsp", 64 },
	{ "r8", 64 }, { "r9", 64 }, { "r10", 64 }, { "r11", 64 },
	{ "r12", 64 }, { "r13", 64 }, { "r14", 64 }, { "r15", 64 },
	{ "rip", 64 }, { "eflags", 32 }, { "cs", 32 }, { "ss", 32 },
	{ "ds", 32 }, { "es", 32 }, { "fs", 32 }, { "gs", 32 },
	{ "st0", 80 }, { "fs_base", 64 }, { "gs_base", 64 },
	{ "k_gs_base", 64 }, { "cr0", 64 }, { "cr2", 64 }, { "cr3", 64 },
	{ "cr4", 64 }, { "cr8", 64 }, { "efer", 64 }, { "xmm0", 128 },
	{ NULL, 0 } };

/* Another target: system registers first, odd sizes between. */
static const struct sreg __attribute__((unused)) layout_b[] = {
	{ "cr3", 64 }, { "pad", 24 }, { "cr4", 64 }, { "efer", 64 },
	{ "rip", 64 }, { "eflags", 32 }, { "rsp", 64 }, { "rax", 64 },
	{ "zmm0", 512 }, { "gs_base", 64 }, { NULL, 0 } };

/* The same without cr3. */
static const struct sreg __attribute__((unused)) layout_nocr3[] = {
	{ "rip", 64 }, { "rsp", 64 }, { "eflags", 32 }, { NULL, 0 } };

struct stub {
	int fd;
	pthread_t th;
	pthread_mutex_t mu;
	const struct sreg *layout;
	char core_xml[4096], target_xml[512];
	uint64_t rip, rsp, rax, cr3, cr4;
	bool running;
	uint64_t bps[16];
	int nbps;
	int hit_ms;		/* >= 0: a running guest hits bps[0] after this */
	long ran_at;
	bool race;		/* ^C answered by a breakpoint stop */
	bool die_on_cont;	/* close the socket some ms after 'c' */
	bool mute;		/* never answer */
	bool stray;		/* send junk once while running */
	bool two_cpus;		/* threads 1 and 2; hits come from thread 2 */
	uint64_t nop_addr;	/* `m` there reads an ftrace NOP */
	bool no_p;		/* refuse `P` (write register) */
	int skips;		/* rip written past a NOP */
	int steps, hits;
	char log[8192];
	size_t log_len;
};

static struct stub st;
static struct hv *hv;

static inline void stub_put(struct stub *s, const char *payload)
{
	char frame[8192];
	unsigned int sum = 0;
	size_t n = strlen(payload);

	for (size_t i = 0; i < n; i++)
		sum += (unsigned char)payload[i];
	snprintf(frame, sizeof(frame), "$%s#%02x", payload, sum & 0xff);
	if (send(s->fd, frame, strlen(frame), MSG_NOSIGNAL) < 0)
		return;
}

static inline void stub_log(struct stub *s, const char *cmd)
{
	int n = snprintf(s->log + s->log_len, sizeof(s->log) - s->log_len,
			 "%.24s|", cmd);
	if (n > 0 && (size_t)n < sizeof(s->log) - s->log_len)
		s->log_len += (size_t)n;
}

static inline uint64_t stub_reg(const struct stub *s, const char *name)
{
	if (!strcmp(name, "rip"))
		return s->rip;
	if (!strcmp(name, "rsp"))
		return s->rsp;
	if (!strcmp(name, "rax"))
		return s->rax;
	if (!strcmp(name, "cr3"))
		return s->cr3;
	if (!strcmp(name, "cr4"))
		return s->cr4;
	if (!strcmp(name, "eflags"))
		return 0x246;
	return 0x1111111111111111ull;
}

static inline void stub_g(struct stub *s)
{
	char out[4096] = "";
	size_t o = 0;

	for (const struct sreg *r = s->layout; r->name; r++) {
		uint64_t v = stub_reg(s, r->name);
		for (unsigned int b = 0; b < r->bits / 8; b++, o += 2) {
			if (!strcmp(r->name, "st0"))	/* unavailable */
				memcpy(out + o, "xx", 2);
			else
				snprintf(out + o, 3, "%02x",
					 b < 8 ? (unsigned int)(v >> (8 * b)) & 0xff : 0);
		}
	}
	out[o] = '\0';
	stub_put(s, out);
}

static inline void stub_xfer(struct stub *s, const char *cmd)
{
	char annex[64], reply[128];
	unsigned int off, len;
	const char *x;

	if (sscanf(cmd, "qXfer:features:read:%63[^:]:%x,%x", annex, &off, &len) != 3) {
		stub_put(s, "E01");
		return;
	}
	x = !strcmp(annex, "target.xml") ? s->target_xml :
	    !strcmp(annex, "core.xml") ? s->core_xml : NULL;
	if (!x || off > strlen(x)) {
		stub_put(s, "E00");
		return;
	}
	size_t n = strlen(x + off) < 100 ? strlen(x + off) : 100;	/* chunks */
	snprintf(reply, sizeof(reply), "%c%.*s", off + n < strlen(x) ? 'm' : 'l',
		 (int)n, x + off);
	stub_put(s, reply);
}

static inline void stub_bp(struct stub *s, const char *cmd)
{
	unsigned long long a = strtoull(cmd + 3, NULL, 16);

	if (a == 0xbad) {
		stub_put(s, "E22");
		return;
	}
	if (cmd[0] == 'Z' && s->nbps < 16)
		s->bps[s->nbps++] = a;
	for (int i = 0; cmd[0] == 'z' && i < s->nbps; i++)
		if (s->bps[i] == a) {
			s->bps[i] = s->bps[--s->nbps];
			break;
		}
	stub_put(s, "OK");
}

/* `m addr,len` and `P n=value`, just enough for the NOP skip. */
static inline void stub_mem_reg(struct stub *s, const char *cmd)
{
	unsigned long long a = strtoull(cmd + 1, NULL, 16);
	unsigned int regnum;
	char hex[17];

	if (cmd[0] == 'm') {
		stub_put(s, a == 0 ? "E14" :
			    a == s->nop_addr ? "0f1f440000" : "e8a0b0c0d0");
		return;
	}
	if (s->no_p || sscanf(cmd, "P%x=%16s", &regnum, hex) != 2 ||
	    regnum != 16) {	/* rip is register 16 in layout_a */
		stub_put(s, "");
		return;
	}
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--) {
		unsigned int b;
		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return;
		v = v << 8 | b;
	}
	s->rip = v;
	s->skips++;
	stub_put(s, "OK");
}

static inline void stub_cmd(struct stub *s, const char *cmd)
{
	stub_log(s, cmd);
	if (s->mute)
		return;
	if (!strncmp(cmd, "qSupported", 10))
		stub_put(s, "PacketSize=1000;qXfer:features:read+;vContSupported+");
	else if (!strncmp(cmd, "qXfer:features:read:", 20))
		stub_xfer(s, cmd);
	else if (!strcmp(cmd, "qfThreadInfo"))
		stub_put(s, s->two_cpus ? "m01,02" : "m01");
	else if (!strcmp(cmd, "qsThreadInfo"))
		stub_put(s, "l");
	else if (!strncmp(cmd, "qRcmd,", 6)) {
		/* "kvm support: disabled\r\n" as console output */
		stub_put(s, "O6b766d20737570706f72743a2064697361626c65640d0a");
		stub_put(s, "OK");
	} else if (cmd[0] == 'H')
		stub_put(s, "OK");
	else if (!strcmp(cmd, "g"))
		stub_g(s);
	else if (cmd[0] == 'Z' || cmd[0] == 'z')
		stub_bp(s, cmd);
	else if (cmd[0] == 'm' || cmd[0] == 'P')
		stub_mem_reg(s, cmd);
	else if (!strcmp(cmd, "c")) {
		s->running = true;
		s->ran_at = now_ms();
	} else if (!strcmp(cmd, "s")) {
		s->rip += 1;
		s->steps++;
		stub_put(s, "T05thread:01;");
	} else if (!strcmp(cmd, "?"))
		stub_put(s, "T02thread:01;");
	else
		stub_put(s, "");
}

static inline void stub_tick(struct stub *s)
{
	if (!s->running)
		return;
	if (s->die_on_cont && now_ms() - s->ran_at > 30) {
		close(s->fd);
		s->fd = -1;
		return;
	}
	if (s->stray) {
		s->stray = false;
		if (send(s->fd, "+-junk\x03", 7, MSG_NOSIGNAL) < 0)
			return;
	}
	if (s->hit_ms >= 0 && s->nbps && now_ms() - s->ran_at >= s->hit_ms) {
		s->running = false;
		s->rip = s->bps[0];
		s->hits++;
		stub_put(s, s->two_cpus ? "T05thread:02;" : "T05thread:01;");
	}
}

/* Read one "$...#xx" packet whose '$' was just read; ack it. */
static inline bool stub_packet(struct stub *s, char *cmd, size_t cap)
{
	size_t n = 0;
	char c;

	while (read(s->fd, &c, 1) == 1) {
		if (c == '#') {
			char cs[2];
			if (read(s->fd, cs, 2) != 2)
				return false;
			cmd[n] = '\0';
			return send(s->fd, "+", 1, MSG_NOSIGNAL) == 1;
		}
		if (n + 1 < cap)
			cmd[n++] = c;
	}
	return false;
}

static inline void *stub_main(void *arg)
{
	struct stub *s = arg;
	char cmd[4096];

	pthread_mutex_lock(&s->mu);
	stub_put(s, "T02thread:01;");	/* QEMU stops the guest on connect */
	while (s->fd >= 0) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		pthread_mutex_unlock(&s->mu);
		int r = poll(&p, 1, 5);
		pthread_mutex_lock(&s->mu);
		if (r <= 0) {
			stub_tick(s);
			continue;
		}
		char c;
		if (read(s->fd, &c, 1) != 1)
			break;
		if (c == 0x03) {
			stub_log(s, "^C");
			if (!s->running || s->mute)
				continue;
			s->running = false;
			if (s->race && s->nbps) {
				s->rip = s->bps[0];
				s->hits++;
				stub_put(s, "T05thread:01;");
			} else
				stub_put(s, "T02thread:01;");
		} else if (c == '$') {
			if (!stub_packet(s, cmd, sizeof(cmd)))
				break;
			stub_cmd(s, cmd);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Write the description files for layout (split over two files). */
static inline void stub_layout(struct stub *s, const struct sreg *layout)
{
	size_t o = 0;

	s->layout = layout;
	o += (size_t)snprintf(s->core_xml, sizeof(s->core_xml),
			      "<?xml version=\"1.0\"?>\n<!DOCTYPE feature SYSTEM "
			      "\"gdb-target.dtd\">\n<feature name=\"org.gnu.gdb.i386.core\">\n");
	for (const struct sreg *r = layout; r->name; r++)
		o += (size_t)snprintf(s->core_xml + o, sizeof(s->core_xml) - o,
				      "  <reg name=\"%s\" bitsize=\"%u\" type=\"int\"/>\n",
				      r->name, r->bits);
	snprintf(s->core_xml + o, sizeof(s->core_xml) - o, "</feature>\n");
	snprintf(s->target_xml, sizeof(s->target_xml),
		 "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
		 "<target><architecture>i386:x86-64</architecture>"
		 "<xi:include href=\"core.xml\"/></target>");
}

/* Start the stub thread; returns the client end of the socketpair. */
static inline int stub_spawn(const struct sreg *layout, bool mute)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(&st, 0, sizeof(st));
	pthread_mutex_init(&st.mu, NULL);
	st.fd = sv[1];
	st.mute = mute;
	st.hit_ms = -1;
	st.rip = 0xffffffff81000000ull;
	st.rsp = 0xffffc90000123ff8ull;
	st.rax = 0x1234;
	st.cr3 = 0x10a000;
	st.cr4 = 0x3006f0;
	stub_layout(&st, layout);
	ck_assert_int_eq(pthread_create(&st.th, NULL, stub_main, &st), 0);
	make_ram(RAMSZ);
	return sv[0];
}

/* Stub plus a backend attached to it over the RAM file. */
static inline void stub_start(const struct sreg *layout)
{
	int fd = stub_spawn(layout, false);

	hv = NULL;
	ck_assert_int_eq(qemu_hv_open("t", ram_path, fd, TMO, &hv), 0);
}

/* Free the backend, then wait for the stub to see the socket close. */
static inline void stub_stop(void)
{
	hv_free(hv);
	hv = NULL;
	pthread_join(st.th, NULL);
	if (st.fd >= 0)
		close(st.fd);
	st.fd = -1;
	drop_ram();
}

#define LOCKED(stmt) do { pthread_mutex_lock(&st.mu); stmt; \
			  pthread_mutex_unlock(&st.mu); } while (0)

static inline bool stub_running(void)
{
	bool r;

	LOCKED(r = st.running);
	return r;
}

static inline bool log_has(const char *s)
{
	bool r;

	LOCKED(r = strstr(st.log, s) != NULL);
	return r;
}

static inline int log_count(const char *s)
{
	int n = 0;

	pthread_mutex_lock(&st.mu);
	for (const char *p = st.log; (p = strstr(p, s)); p++)
		n++;
	pthread_mutex_unlock(&st.mu);
	return n;
}

static inline void teardown_stub(void)
{
	if (hv || st.fd >= 0)
		stub_stop();
	drop_ram();
}


#endif
