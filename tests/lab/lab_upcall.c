/*
 * lab_upcall.c - upcalls against real guests: two lab guests boot with
 * upcalld-agent started by /init, and the daemon's client (daemon/upcall.c
 * over the virtio-serial transport) asks them. Shown here: all queries
 * answered, the process answer equal to /proc read through the
 * ground-truth shell, multi-frame answers, wrong keys rejected as bad MACs,
 * a stopped agent giving a deadline while the other guest keeps being
 * served from the same loop, a killed agent restarted and answering again,
 * a host reconnect needing no agent restart, hostile bytes not stopping
 * the agent, and a busy guest still answering.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "labsup.h"
#include "upcall.h"

#define MS 1000000ull
#define RUN_MS 60000
#define AGENT_CMD "/sbin/upcalld-agent --port-name org.upcalld.0 " \
		  "--key-file /etc/upcalld/agent.key"

struct lg {
	struct lab_guest g;
	uint8_t key[WIRE_KEY_LEN];
	int rc;
};

static struct lg ga, gb;
static struct upcall_finding finds[256];
static int nfind;

static void on_finding(void *arg, const struct upcall_finding *f)
{
	fprintf(stderr, "lab_upcall: finding %s/%s: %s\n", f->guest,
		upcall_reason_str(f->reason), f->detail);
	if (nfind < 256)
		finds[nfind++] = *f;
}

static int count_findings(const char *guest, enum upcall_reason why)
{
	int n = 0;

	for (int i = 0; i < nfind; i++)
		n += finds[i].reason == why && !strcmp(finds[i].guest, guest);
	return n;
}

static struct upcall *client(struct lg *x, const uint8_t *key)
{
	struct upcall_cfg cfg = { .guest = x->g.name, .on_finding = on_finding };
	struct xport *xp;
	struct upcall *u;

	memcpy(cfg.key, key, WIRE_KEY_LEN);
	ck_assert_int_eq(xport_qemu_new(x->g.name, x->g.upcall_path, &xp), 0);
	ck_assert_int_eq(upcall_new(&cfg, xp, &u), 0);
	return u;
}

static void on_done(void *arg, struct upcall_result *r)
{
	*(struct upcall_result **)arg = r;
}

/* Submit q to v[k]; run the loop over all of v until it ends. */
static struct upcall_result *call(struct upcall **v, size_t n, size_t k,
				  unsigned int q, int32_t pid, int timeout_ms)
{
	struct upcall_result *r = NULL;
	struct upcall_query qq = { .query = q, .pid = pid, .done = on_done,
				   .arg = &r,
				   .timeout_ns = (uint64_t)timeout_ms * MS };

	ck_assert_int_eq(upcall_submit(v[k], &qq, upcall_now_ns(), NULL), 0);
	while (!r)
		upcall_poll(v, n, 100);
	return r;
}

static struct upcall_result *call1(struct upcall *u, unsigned int q,
				   int32_t pid, int timeout_ms)
{
	return call(&u, 1, 0, q, pid, timeout_ms);
}

/* Run cmd in the guest through the ground-truth shell; caller frees. */
static char *gt(struct lg *x, const char *cmd)
{
	char *out = NULL;
	int rc = lab_run(&x->g, cmd, &out, RUN_MS);

	ck_assert_msg(rc == 0, "'%s' in %s: status %d: %s", cmd, x->g.name, rc,
		      out ? out : "");
	return out;
}

static int agent_pid(struct lg *x)
{
	char *out = gt(x, "pidof upcalld-agent || true");
	int pid = atoi(out);

	free(out);
	return pid;
}

static int load_key(const char *path, uint8_t *key)
{
	return wire_key_load(path, key);
}

static void boot(struct lg *x, const char *tag)
{
	struct lab_opts o = { .cpu = "qemu64", .agent = 1 };
	struct upcall_result *r;
	struct upcall *u;
	char name[64];

	snprintf(name, sizeof(name), "labupcall-%s-%d", tag, (int)getpid());
	x->rc = lab_start(name, &o, &x->g);
	if (!x->rc)
		x->rc = load_key(x->g.key_path, x->key);
	if (x->rc) {
		fprintf(stderr, "lab_upcall: %s: setup %d (%s)\n", name, x->rc,
			strerror(-x->rc));
		return;
	}
	/* the agent starts after /init found the port: wait for its answer */
	u = client(x, x->key);
	r = call1(u, WIRE_Q_INFO, 0, 30000);
	if (r->reason != UPCALL_OK)
		x->rc = -ETIMEDOUT;
	fprintf(stderr, "lab_upcall: %s: agent %s after %.1f ms (%s)\n", name,
		r->have_info ? r->info.agent : "?", r->rtt_ns / 1e6,
		upcall_reason_str(r->reason));
	upcall_result_free(r);
	upcall_free(u);
}

static void setup_guests(void)
{
	boot(&ga, "a");
	boot(&gb, "b");
}

static void teardown_guests(void)
{
	lab_stop(&ga.g);
	lab_stop(&gb.g);
}

static void need_guests(void)
{
	ck_assert_msg(ga.rc == 0 && gb.rc == 0, "guests not ready: %d %d",
		      ga.rc, gb.rc);
	nfind = 0;
}

/* ---- ground truth ---- */

static const struct wire_proc *ans_find(const struct upcall_result *r, int pid)
{
	for (size_t i = 0; i < r->nprocs; i++)
		if (r->procs[i].pid == pid)
			return &r->procs[i];
	return NULL;
}

static size_t snapshot(struct lg *x, struct lab_proc *v, size_t cap)
{
	int n = lab_ps(&x->g, v, cap, RUN_MS);

	ck_assert_msg(n >= 0, "ground-truth ps failed: %s", strerror(-n));
	return (size_t)n;
}

/* ---- tests ---- */

START_TEST(test_agent_answers_info_procs_files_and_modules)
{
	struct upcall *u;
	struct upcall_result *r;
	char *mods;
	bool console = false;

	need_guests();
	u = client(&ga, ga.key);
	r = call1(u, WIRE_Q_INFO, 0, 10000);
	ck_assert_int_eq(r->reason, UPCALL_OK);
	ck_assert(r->have_info);
	ck_assert_uint_eq(r->info.clk_tck, 100);
	ck_assert_uint_eq(r->info.queries & 0x1e, 0x1e);
	upcall_result_free(r);
	r = call1(u, WIRE_Q_PROCS, 0, 10000);
	ck_assert_int_eq(r->reason, UPCALL_OK);
	ck_assert_uint_gt(r->nprocs, 20);
	ck_assert_ptr_nonnull(ans_find(r, 1));
	ck_assert_str_eq(ans_find(r, 1)->comm, "init");
	upcall_result_free(r);
	/* modules: the same as /proc/modules, name for name, size for size */
	r = call1(u, WIRE_Q_MODULES, 0, 10000);
	ck_assert_int_eq(r->reason, UPCALL_OK);
	ck_assert_uint_ge(r->nmodules, 2);
	mods = gt(&ga, "cat /proc/modules");
	for (size_t i = 0; i < r->nmodules; i++) {
		char want[128];

		snprintf(want, sizeof(want), "%s %llu ", r->modules[i].name,
			 (unsigned long long)r->modules[i].size);
		ck_assert_msg(strstr(mods, want), "module '%s' not in %s", want,
			      mods);
		ck_assert_uint_eq(r->modules[i].state, WIRE_MOD_LIVE);
		console |= !strcmp(r->modules[i].name, "virtio_console");
	}
	ck_assert(console);
	free(mods);
	upcall_result_free(r);
	r = call1(u, WIRE_Q_FILES, 1, 10000);
	ck_assert_int_eq(r->reason, UPCALL_OK);
	ck_assert_uint_ge(r->nfiles, 3);
	for (size_t i = 0; i < r->nfiles; i++)
		ck_assert_int_eq(r->files[i].pid, 1);
	ck_assert_str_eq(r->files[0].link, "/dev/console");
	upcall_result_free(r);
	r = call1(u, WIRE_Q_FILES, WIRE_PID_ALL, 10000);
	ck_assert_int_eq(r->reason, UPCALL_OK);
	ck_assert_uint_gt(r->nfiles, 10);
	upcall_result_free(r);
	r = call1(u, 99, 0, 10000);
	ck_assert_int_eq(r->reason, UPCALL_OK);
	ck_assert_uint_eq(r->status, WIRE_ST_UNSUPPORTED);
	upcall_result_free(r);
	r = call1(u, WIRE_Q_FILES, 999999, 10000);
	ck_assert_uint_eq(r->status, WIRE_ST_NOT_FOUND);
	upcall_result_free(r);
	ck_assert_int_eq(nfind, 0);
	upcall_free(u);
}
END_TEST

START_TEST(test_process_answer_matches_ground_truth)
{
	static struct lab_proc g1[4096], g2[4096];
	size_t n1, n2, stable = 0;
	struct upcall_result *r;
	struct upcall *u;

	need_guests();
	u = client(&ga, ga.key);
	n1 = snapshot(&ga, g1, 4096);
	r = call1(u, WIRE_Q_PROCS, 0, 10000);
	n2 = snapshot(&ga, g2, 4096);
	ck_assert_int_eq(r->reason, UPCALL_OK);
	for (size_t i = 0; i < n1; i++) {	/* alive all along: reported */
		const struct lab_proc *a = &g1[i], *b = lab_ps_find(g2, n2, a->pid);
		const struct wire_proc *p = ans_find(r, a->pid);

		if (!b || b->start != a->start || strcmp(a->comm, b->comm) ||
		    !a->comm[0])
			continue;
		stable++;
		ck_assert_msg(p, "pid %d (%s) missing from the answer", a->pid,
			      a->comm);
		ck_assert_int_eq(p->ppid, a->ppid);
		ck_assert_uint_eq(p->uid, a->uid);
		ck_assert_str_eq(p->comm, a->comm);
		ck_assert_uint_eq(p->start_ns, a->start * 10 * MS);
		ck_assert_int_eq(p->tgid, p->pid);
	}
	for (size_t i = 0; i < r->nprocs; i++)	/* no phantoms */
		ck_assert_msg(lab_ps_find(g1, n1, r->procs[i].pid) ||
			      lab_ps_find(g2, n2, r->procs[i].pid),
			      "pid %d (%s) is in no ground-truth snapshot",
			      r->procs[i].pid, r->procs[i].comm);
	fprintf(stderr, "lab_upcall: %zu processes answered, %zu stable ones "
		"equal to /proc\n", r->nprocs, stable);
	ck_assert_uint_ge(stable, 20);
	upcall_result_free(r);
	upcall_free(u);
}
END_TEST

START_TEST(test_all_open_files_of_a_busy_fd_holder_come_in_several_frames)
{
	struct upcall_result *r;
	struct upcall *u;
	char *out, cmd[64];
	int pid, opened, nfd, mine = 0;

	need_guests();
	out = gt(&ga, "fdhog 3000");
	ck_assert_int_eq(sscanf(out, "fdhog %d %d", &pid, &opened), 2);
	free(out);
	snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", pid);
	out = gt(&ga, cmd);
	nfd = atoi(out);
	free(out);
	u = client(&ga, ga.key);
	r = call1(u, WIRE_Q_FILES, WIRE_PID_ALL, 20000);
	ck_assert_int_eq(r->reason, UPCALL_OK);
	ck_assert_uint_eq(r->status, WIRE_ST_OK);
	ck_assert_uint_ge(r->frames, 2);
	for (size_t i = 0; i < r->nfiles; i++)
		mine += r->files[i].pid == pid;
	ck_assert_int_eq(mine, nfd);
	ck_assert_int_ge(nfd, opened);
	fprintf(stderr, "lab_upcall: all open files: %zu in %u frames, %llu "
		"bytes, %.1f ms\n", r->nfiles, r->frames,
		(unsigned long long)r->body_bytes, r->rtt_ns / 1e6);
	upcall_result_free(r);
	upcall_free(u);
	snprintf(cmd, sizeof(cmd), "kill %d", pid);
	free(gt(&ga, cmd));
}
END_TEST

START_TEST(test_reply_made_with_wrong_key_is_rejected_as_bad_mac)
{
	uint8_t wrong[WIRE_KEY_LEN];
	struct upcall_result *r;
	struct upcall *u;
	char *out;
	int before;

	need_guests();
	memcpy(wrong, ga.key, sizeof(wrong));
	wrong[0] ^= 0x55;
	/* our key is wrong: the agent's signed "cannot verify" fails our MAC */
	u = client(&ga, wrong);
	r = call1(u, WIRE_Q_PROCS, 0, 3000);
	ck_assert_int_eq(r->reason, UPCALL_F_DEADLINE);
	ck_assert_uint_eq(r->nprocs, 0);
	ck_assert_int_ge(count_findings(ga.g.name, UPCALL_F_BAD_MAC), 1);
	upcall_result_free(r);
	upcall_free(u);
	/* the agent's key is wrong: its answers fail our MAC */
	before = agent_pid(&ga);
	out = gt(&ga, "kill $(pidof upcalld-agent); head -c 32 /dev/urandom "
		 ">/tmp/wrong.key; /sbin/upcalld-agent --port-name "
		 "org.upcalld.0 --key-file /tmp/wrong.key; sleep 1; "
		 "pidof upcalld-agent");
	ck_assert_int_ne(atoi(out), before);
	free(out);
	nfind = 0;
	u = client(&ga, ga.key);
	r = call1(u, WIRE_Q_PROCS, 0, 3000);
	ck_assert_int_eq(r->reason, UPCALL_F_DEADLINE);
	ck_assert_int_ge(count_findings(ga.g.name, UPCALL_F_BAD_MAC), 1);
	upcall_result_free(r);
	/* the right agent again: answers, without reconnecting the client */
	free(gt(&ga, "kill $(pidof upcalld-agent); " AGENT_CMD));
	r = call1(u, WIRE_Q_PROCS, 0, 10000);
	ck_assert_int_eq(r->reason, UPCALL_OK);
	ck_assert_uint_eq(upcall_stats(u)->connects, 1);
	upcall_result_free(r);
	upcall_free(u);
}
END_TEST

START_TEST(test_stopped_agent_gives_deadline_while_other_guest_is_served)
{
	struct upcall *v[2];
	struct upcall_result *ra = NULL, *rb;
	struct upcall_query qa = { .query = WIRE_Q_PROCS, .done = on_done,
				   .arg = &ra, .timeout_ns = 2000 * MS };
	uint64_t t0;
	char cmd[64];
	int pid, served = 0;

	need_guests();
	pid = agent_pid(&ga);
	ck_assert_int_gt(pid, 0);
	snprintf(cmd, sizeof(cmd), "kill -STOP %d", pid);
	free(gt(&ga, cmd));
	v[0] = client(&ga, ga.key);
	v[1] = client(&gb, gb.key);
	t0 = upcall_now_ns();
	ck_assert_int_eq(upcall_submit(v[0], &qa, t0, NULL), 0);
	while (!ra) {	/* keep guest b busy while a's request hangs */
		rb = call(v, 2, 1, WIRE_Q_PROCS, 0, 5000);
		ck_assert_int_eq(rb->reason, UPCALL_OK);
		served += !ra;
		upcall_result_free(rb);
	}
	ck_assert_int_eq(ra->reason, UPCALL_F_DEADLINE);
	ck_assert_uint_ge(ra->rtt_ns, 2000 * MS);
	ck_assert_int_eq(count_findings(ga.g.name, UPCALL_F_DEADLINE), 1);
	ck_assert_int_eq(count_findings(gb.g.name, UPCALL_F_DEADLINE), 0);
	fprintf(stderr, "lab_upcall: guest b answered %d times while a's agent "
		"was stopped\n", served);
	ck_assert_int_ge(served, 2);
	upcall_result_free(ra);
	/* continued, it answers again (its late reply is reported stale) */
	snprintf(cmd, sizeof(cmd), "kill -CONT %d", pid);
	free(gt(&ga, cmd));
	rb = call(v, 2, 0, WIRE_Q_INFO, 0, 10000);
	ck_assert_int_eq(rb->reason, UPCALL_OK);
	upcall_result_free(rb);
	upcall_free(v[0]);
	upcall_free(v[1]);
	ck_assert_int_eq(agent_pid(&ga), pid);
}
END_TEST

START_TEST(test_killed_and_restarted_agent_answers_again)
{
	struct upcall_result *r;
	struct upcall *u;
	int pid, pid2;

	need_guests();
	pid = agent_pid(&ga);
	u = client(&ga, ga.key);
	r = call1(u, WIRE_Q_INFO, 0, 10000);
	ck_assert_int_eq(r->reason, UPCALL_OK);
	upcall_result_free(r);
	free(gt(&ga, "kill -9 $(pidof upcalld-agent)"));
	r = call1(u, WIRE_Q_INFO, 0, 1500);
	ck_assert_int_eq(r->reason, UPCALL_F_DEADLINE);
	upcall_result_free(r);
	free(gt(&ga, AGENT_CMD));
	pid2 = agent_pid(&ga);
	ck_assert_int_gt(pid2, 0);
	ck_assert_int_ne(pid2, pid);
	r = call1(u, WIRE_Q_PROCS, 0, 10000);
	ck_assert_int_eq(r->reason, UPCALL_OK);
	ck_assert_ptr_nonnull(ans_find(r, pid2));
	ck_assert_ptr_null(ans_find(r, pid));
	upcall_result_free(r);
	ck_assert_uint_eq(upcall_stats(u)->connects, 1);
	upcall_free(u);
	/* the host side reconnects: the same agent serves the new client */
	u = client(&ga, ga.key);
	r = call1(u, WIRE_Q_INFO, 0, 10000);
	ck_assert_int_eq(r->reason, UPCALL_OK);
	upcall_result_free(r);
	upcall_free(u);
	ck_assert_int_eq(agent_pid(&ga), pid2);
}
END_TEST

/* Raw bytes to the agent, bypassing the client; replies parsed here. */
static int raw_connect(struct lg *x)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_uint_lt(strlen(x->g.upcall_path), sizeof(a.sun_path));
	memcpy(a.sun_path, x->g.upcall_path, strlen(x->g.upcall_path));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static size_t request(const struct wire_key *k, unsigned int q, uint64_t id,
		      uint8_t *out)
{
	struct wire_hdr h = { .version = WIRE_VERSION, .type = WIRE_T_REQUEST,
			      .query = (uint16_t)q, .flags = WIRE_F_LAST,
			      .req_id = id };

	memset(h.nonce, (int)id, sizeof(h.nonce));
	return (size_t)wire_encode(k, &h, NULL, out, wire_frame_len(0));
}

/* Read replies until one for id arrives; its status, or -1 on timeout. */
static int raw_status(int fd, struct wire_rx *rx, const struct wire_key *k,
		      uint64_t id)
{
	uint64_t end = upcall_now_ns() + 10000 * MS;
	struct wire_rx_event ev;

	while (upcall_now_ns() < end) {
		size_t room;
		uint8_t *p;
		ssize_t n;

		while (wire_rx_next(rx, k, &ev) != WIRE_RX_NEED)
			if (ev.body && ev.hdr.req_id == id && ev.hdr.flags & WIRE_F_LAST)
				return ev.hdr.status;
		p = wire_rx_space(rx, &room);
		n = recv(fd, p, room, MSG_DONTWAIT);
		if (n > 0)
			wire_rx_commit(rx, (size_t)n);
		else
			usleep(10000);
	}
	return -1;
}

START_TEST(test_hostile_bytes_never_stop_the_agent)
{
	uint8_t buf[8192], other[WIRE_KEY_LEN];
	struct wire_key *k, *bad;
	struct wire_rx rx;
	size_t n;
	int fd, pid;

	need_guests();
	pid = agent_pid(&ga);
	memset(other, 0x33, sizeof(other));
	ck_assert_int_eq(wire_key_new(ga.key, &k), 0);
	ck_assert_int_eq(wire_key_new(other, &bad), 0);
	ck_assert_int_eq(wire_rx_init(&rx), 0);
	fd = raw_connect(&ga);
	for (size_t i = 0; i < sizeof(buf); i++)	/* garbage with magics */
		buf[i] = (uint8_t)(i % 7 ? rand() : 'U');
	memcpy(buf + 100, "UPCL", 4);
	ck_assert_int_eq(send(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	n = request(k, WIRE_Q_PROCS, 1, buf);		/* cut request */
	ck_assert_int_eq(send(fd, buf, n / 2, 0), (ssize_t)(n / 2));
	n = request(bad, WIRE_Q_PROCS, 2, buf);		/* forged request */
	ck_assert_int_eq(send(fd, buf, n, 0), (ssize_t)n);
	ck_assert_int_eq(raw_status(fd, &rx, k, 2), WIRE_ST_AUTH);
	n = request(k, 4242, 3, buf);			/* unknown query */
	ck_assert_int_eq(send(fd, buf, n, 0), (ssize_t)n);
	ck_assert_int_eq(raw_status(fd, &rx, k, 3), WIRE_ST_UNSUPPORTED);
	n = request(k, WIRE_Q_FILES, 4, buf);		/* files, no args */
	ck_assert_int_eq(send(fd, buf, n, 0), (ssize_t)n);
	ck_assert_int_eq(raw_status(fd, &rx, k, 4), WIRE_ST_BAD_REQUEST);
	n = request(k, WIRE_Q_INFO, 5, buf);		/* and a good one */
	ck_assert_int_eq(send(fd, buf, n, 0), (ssize_t)n);
	ck_assert_int_eq(raw_status(fd, &rx, k, 5), WIRE_ST_OK);
	close(fd);
	wire_rx_release(&rx);
	wire_key_free(k);
	wire_key_free(bad);
	ck_assert_int_eq(agent_pid(&ga), pid);
}
END_TEST

START_TEST(test_busy_guest_still_answers_in_time)
{
	struct upcall_result *r;
	struct upcall *u;
	double worst = 0;
	char *hogs, cmd[128];
	int p[3];

	need_guests();
	hogs = gt(&gb, "for i in 1 2 3; do (while :; do :; done) & echo $!; "
		  "done; sleep 1");
	ck_assert_int_eq(sscanf(hogs, "%d %d %d", &p[0], &p[1], &p[2]), 3);
	free(hogs);
	u = client(&gb, gb.key);
	for (int i = 0; i < 10; i++) {
		r = call1(u, WIRE_Q_PROCS, 0, 5000);
		ck_assert_int_eq(r->reason, UPCALL_OK);
		worst = r->rtt_ns / 1e6 > worst ? r->rtt_ns / 1e6 : worst;
		upcall_result_free(r);
	}
	fprintf(stderr, "lab_upcall: busy guest (3 CPU hogs): slowest process "
		"list %.1f ms\n", worst);
	upcall_free(u);
	snprintf(cmd, sizeof(cmd), "kill %d %d %d", p[0], p[1], p[2]);
	free(gt(&gb, cmd));
}
END_TEST

static Suite *lab_upcall_suite(void)
{
	Suite *s = suite_create("lab_upcall");
	TCase *t = tcase_create("two guests");

	tcase_add_unchecked_fixture(t, setup_guests, teardown_guests);
	tcase_set_timeout(t, 300);
	tcase_add_test(t, test_agent_answers_info_procs_files_and_modules);
	tcase_add_test(t, test_process_answer_matches_ground_truth);
	tcase_add_test(t, test_all_open_files_of_a_busy_fd_holder_come_in_several_frames);
	tcase_add_test(t, test_hostile_bytes_never_stop_the_agent);
	tcase_add_test(t, test_reply_made_with_wrong_key_is_rejected_as_bad_mac);
	tcase_add_test(t, test_stopped_agent_gives_deadline_while_other_guest_is_served);
	tcase_add_test(t, test_killed_and_restarted_agent_answers_again);
	tcase_add_test(t, test_busy_guest_still_answers_in_time);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lab_upcall_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
