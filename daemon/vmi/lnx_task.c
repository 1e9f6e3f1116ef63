/*
 * lnx_task.c - the guest's processes, read from guest memory two ways:
 * the init_task.tasks list, and the pid IDR of init_pid_ns (an xarray).
 * A rootkit that unlinks a task from one usually forgets the other, and
 * both are compared with what the guest itself answers.
 *
 * Both structures are hostile input. The list walk remembers every node
 * (a cycle that avoids the head still ends) and stops at LNX_TASKS_MAX;
 * the xarray walk checks each node's shift, caps depth and node count and
 * never visits a node twice. Each task_struct is read as one block
 * spanning just the members used, so one task costs one translation and
 * one copy rather than one per field.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lnx.h"

#define PID_MAX_LIMIT (4 * 1024 * 1024)	/* kernel's hard pid cap on 64-bit */
#define PF_KTHREAD 0x00200000u
#define TASK_SPAN_MAX 16384u		/* > any task_struct */
#define XA_CHUNK_SHIFT 6u
#define XA_SLOTS 64u
#define XA_DEPTH_MAX 11u		/* 64-bit index / 6 bits per level */

/* task_struct members read from the block: id, width (F_* indexes these). */
static const struct { enum profile_field f; unsigned int w; } task_fields[] = {
	{ PF_TASK_TASKS, 8 }, { PF_TASK_PID, 4 }, { PF_TASK_TGID, 4 },
	{ PF_TASK_COMM, LNX_COMM_LEN }, { PF_TASK_REAL_PARENT, 8 },
	{ PF_TASK_REAL_CRED, 8 }, { PF_TASK_MM, 8 }, { PF_TASK_FLAGS, 4 },
	{ PF_TASK_EXIT_STATE, 4 }, { PF_TASK_START_TIME, 8 },
	{ PF_TASK_START_BOOTTIME, 8 }, { PF_TASK_NVCSW, 8 },
	{ PF_TASK_NIVCSW, 8 }, { PF_TASK_EXEC_START, 8 },
};
enum { F_TASKS, F_PID, F_TGID, F_COMM, F_PARENT, F_CRED, F_MM, F_FLAGS,
       F_EXIT, F_START, F_BOOT, F_NVCSW, F_NIVCSW, F_EXEC, F_COUNT };
#define TASK_REQUIRED 8u	/* the first eight must exist */
#define GROUP_GAP 256u		/* members further apart are read separately */
#define GROUPS_MAX 4u

/*
 * The members in at most GROUPS_MAX bounded runs (on 6.1: flags at 44, the
 * rest within 800 bytes of each other; one run would copy 3 KiB).
 */
struct task_block {
	unsigned int n;
	uint32_t lo[GROUPS_MAX], len[GROUPS_MAX];
	int32_t pos[F_COUNT];	/* where each member lands in buf, -1 absent */
	uint8_t *buf;
};

/*
 * Open-addressing set of guest addresses (never 0). It starts small and
 * doubles at half load, up to room for `max` entries, so a walk of fifty
 * tasks does not touch a megabyte. Out of memory it answers "seen", which
 * stops the walk, and says so in oom.
 */
struct seen {
	uint64_t *slot;
	unsigned int bits;
	size_t n, max;
	bool oom;
};

#define SEEN_BITS0 10u

static int seen_init(struct seen *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->bits = SEEN_BITS0;
	s->max = max;
	s->slot = calloc((size_t)1 << s->bits, sizeof(*s->slot));
	return s->slot ? 0 : -ENOMEM;
}

static size_t seen_pos(const struct seen *s, uint64_t addr)
{
	return (size_t)((addr * 0x9e3779b97f4a7c15ull) >> (64 - s->bits));
}

static bool seen_insert(struct seen *s, uint64_t addr)
{
	size_t mask = ((size_t)1 << s->bits) - 1, i = seen_pos(s, addr);

	while (s->slot[i]) {
		if (s->slot[i] == addr)
			return false;
		i = (i + 1) & mask;
	}
	s->slot[i] = addr;
	s->n++;
	return true;
}

static bool seen_grow(struct seen *s)
{
	struct seen bigger = *s;

	bigger.bits++;
	bigger.n = 0;
	bigger.slot = calloc((size_t)1 << bigger.bits, sizeof(*bigger.slot));
	if (!bigger.slot)
		return false;
	for (size_t i = 0; i < ((size_t)1 << s->bits); i++)
		if (s->slot[i])
			seen_insert(&bigger, s->slot[i]);
	free(s->slot);
	*s = bigger;
	return true;
}

/* False when addr is already there (or the set cannot grow: see oom). */
static bool seen_add(struct seen *s, uint64_t addr)
{
	if ((s->n + 1) * 2 > ((size_t)1 << s->bits)) {
		if (s->n >= s->max || !seen_grow(s)) {
			s->oom = s->n < s->max;
			return false;
		}
	}
	return seen_insert(s, addr);
}

static bool kptr_ok(gva_t p)
{
	return (p >> 63) && !(p & 7);
}

/* Present members, sorted by offset (F_* indexes; insertion sort of F_COUNT). */
static unsigned int block_order(const struct profile *p, unsigned int *ord)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < F_COUNT; i++) {
		unsigned int j = n++;

		if (profile_off(p, task_fields[i].f) < 0) {
			n--;
			continue;
		}
		for (; j > 0 && profile_off(p, task_fields[ord[j - 1]].f) >
				profile_off(p, task_fields[i].f); j--)
			ord[j] = ord[j - 1];
		ord[j] = i;
	}
	return n;
}

static int block_init(struct task_block *b, const struct profile *p)
{
	unsigned int ord[F_COUNT], n, g = 0;
	uint32_t total = 0, hi = 0;

	memset(b, 0, sizeof(*b));
	for (unsigned int i = 0; i < TASK_REQUIRED; i++)
		if (profile_off(p, task_fields[i].f) < 0)
			return -EOPNOTSUPP;
	if (!profile_has(p, PF_CRED_UID) || !profile_has(p, PF_CRED_EUID) ||
	    !profile_has(p, PF_CRED_GID))
		return -EOPNOTSUPP;
	n = block_order(p, ord);
	for (unsigned int k = 0; k < n; k++) {
		uint32_t off = (uint32_t)profile_off(p, task_fields[ord[k]].f);
		uint32_t end = off + task_fields[ord[k]].w;

		if (off > TASK_SPAN_MAX)
			return -EINVAL;
		if (g == 0 || (off > hi + GROUP_GAP && g < GROUPS_MAX)) {
			if (g)
				total += b->len[g - 1];
			b->lo[g++] = off;
			hi = off;
		}
		if (end > hi)
			hi = end;
		b->len[g - 1] = hi - b->lo[g - 1];
		b->pos[ord[k]] = (int32_t)(total + off - b->lo[g - 1]);
	}
	b->n = g;
	total += b->len[g - 1];
	for (unsigned int i = 0; i < F_COUNT; i++)
		if (profile_off(p, task_fields[i].f) < 0)
			b->pos[i] = -1;
	b->buf = malloc(total);
	return b->buf ? 0 : -ENOMEM;
}

static uint64_t blk_get(const struct task_block *b, unsigned int f)
{
	uint64_t v = 0;

	if (b->pos[f] >= 0)
		memcpy(&v, b->buf + b->pos[f], task_fields[f].w);	/* little-endian */
	return v;
}

static bool pid_ok(int32_t pid)
{
	return pid >= 0 && pid <= PID_MAX_LIMIT;
}

/* uid, euid and gid, in one read when they sit close (they do: 8..28). */
static int cred_read(struct vmi *v, const struct profile *p, gva_t cred,
		     struct lnx_task *t)
{
	uint32_t u = (uint32_t)profile_off(p, PF_CRED_UID);
	uint32_t e = (uint32_t)profile_off(p, PF_CRED_EUID);
	uint32_t g = (uint32_t)profile_off(p, PF_CRED_GID);
	uint32_t lo = u < e ? (u < g ? u : g) : (e < g ? e : g);
	uint32_t hi = (u > e ? (u > g ? u : g) : (e > g ? e : g)) + 4;
	uint8_t blk[64];

	if (hi - lo > sizeof(blk))
		return vmi_read_u32(v, cred + u, &t->uid) ||
		       vmi_read_u32(v, cred + e, &t->euid) ||
		       vmi_read_u32(v, cred + g, &t->gid);
	if (vmi_read(v, cred + lo, blk, hi - lo))
		return -EFAULT;
	memcpy(&t->uid, blk + (u - lo), 4);
	memcpy(&t->euid, blk + (e - lo), 4);
	memcpy(&t->gid, blk + (g - lo), 4);
	return 0;
}

/* uid, euid, gid and the parent's tgid: pointers out of the task. */
static int task_links(struct vmi *v, const struct profile *p, gva_t parent,
		      gva_t cred, struct lnx_task *t)
{
	uint32_t val;

	if (!kptr_ok(parent) || !kptr_ok(cred))
		return 1;
	if (vmi_read_u32(v, parent + (uint64_t)profile_off(p, PF_TASK_TGID), &val))
		return -EFAULT;
	t->ppid = (int32_t)val;
	if (cred_read(v, p, cred, t))
		return -EFAULT;
	return pid_ok(t->ppid) ? 0 : 1;
}

static int task_mm(struct vmi *v, const struct profile *p, struct lnx_task *t)
{
	gva_t pgd;

	if (!t->mm)
		return 0;
	if (!kptr_ok(t->mm))
		return 1;
	if (!profile_has(p, PF_MM_PGD))
		return 0;
	if (vmi_read_ptr(v, t->mm + (uint64_t)profile_off(p, PF_MM_PGD), &pgd) ||
	    vmi_translate(v, pgd, &t->pgd))
		return 1;	/* a live mm always has a mapped pgd */
	return (t->pgd & (HV_PAGE_SIZE - 1)) ? 1 : 0;
}

/*
 * Fill t from the task_struct at addr; *next gets tasks.next. Returns 0,
 * 1 when it read but held impossible values (kept as evidence), or -errno
 * when the task itself cannot be read.
 */
static int task_fill(struct vmi *v, const struct profile *p, struct task_block *b,
		     gva_t addr, struct lnx_task *t, gva_t *next)
{
	int bad = 0, r;
	size_t len;

	memset(t, 0, sizeof(*t));
	t->addr = addr;
	for (unsigned int g = 0, at = 0; g < b->n; at += b->len[g++]) {
		r = vmi_read(v, addr + b->lo[g], b->buf + at, b->len[g]);
		if (r)
			return r;
	}
	*next = blk_get(b, F_TASKS);
	t->pid = (int32_t)blk_get(b, F_PID);
	t->tgid = (int32_t)blk_get(b, F_TGID);
	memcpy(t->comm, b->buf + b->pos[F_COMM], LNX_COMM_LEN);
	len = strnlen(t->comm, LNX_COMM_LEN);
	if (len == LNX_COMM_LEN) {	/* the kernel always terminates comm */
		t->comm[LNX_COMM_LEN - 1] = '\0';
		bad = 1;
	}
	t->mm = blk_get(b, F_MM);
	t->flags = (uint32_t)blk_get(b, F_FLAGS);
	t->kthread = t->flags & PF_KTHREAD;
	t->exiting = blk_get(b, F_EXIT) != 0;
	t->start_time = blk_get(b, F_START);
	t->start_boottime = blk_get(b, F_BOOT);
	if (b->pos[F_NVCSW] >= 0 && b->pos[F_NIVCSW] >= 0 && b->pos[F_EXEC] >= 0)
		t->activity = blk_get(b, F_NVCSW) + blk_get(b, F_NIVCSW) +
			      blk_get(b, F_EXEC) + 1;	/* never 0 when known */
	if (!pid_ok(t->pid) || !pid_ok(t->tgid))
		bad = 1;
	r = task_links(v, p, blk_get(b, F_PARENT),
		       blk_get(b, F_CRED), t);
	if (r)
		bad = 1;	/* unreadable parent/cred: keep the task, flag it */
	if (task_mm(v, p, t))
		bad = 1;
	return bad;
}

int lnx_task_read(struct vmi *v, gva_t addr, struct lnx_task *t)
{
	struct task_block b;
	gva_t next;
	int err = block_init(&b, vmi_profile(v));

	if (err)
		return err;
	err = task_fill(v, vmi_profile(v), &b, addr, t, &next);
	free(b.buf);
	return err < 0 ? err : 0;
}

static int list_push(struct lnx_task_list *l, const struct lnx_task *t)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct lnx_task *nv;

		if (cap > LNX_TASKS_MAX)
			cap = LNX_TASKS_MAX;
		nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = *t;
	return 0;
}

void lnx_task_list_release(struct lnx_task_list *l)
{
	if (!l)
		return;
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The next list node to visit after reading one whose tasks.next is next. */
static gva_t list_step(gva_t next, gva_t head, struct seen *s, unsigned int *flags)
{
	if (next == head)
		return 0;
	if (!kptr_ok(next)) {
		*flags |= next ? LNX_WALK_BAD : LNX_WALK_FAULT;
		return 0;
	}
	if (!seen_add(s, next)) {
		*flags |= LNX_WALK_CYCLE;
		return 0;
	}
	return next;
}

int lnx_tasks(struct vmi *v, struct lnx_task_list *out)
{
	const struct profile *p = vmi_profile(v);
	uint64_t toff = (uint64_t)profile_off(p, PF_TASK_TASKS);
	struct task_block b = { 0 };
	struct seen seen = { 0 };
	gva_t head, node, next;
	int err;

	memset(out, 0, sizeof(*out));
	head = vmi_sym(v, PSYM_INIT_TASK);
	if (!head)
		return -ENOENT;
	err = block_init(&b, p);
	if (err)
		return err;
	head += toff;
	if (vmi_read_ptr(v, head, &next)) {
		err = -EFAULT;	/* our own symbol: wrong profile or slide */
		goto out;
	}
	err = seen_init(&seen, LNX_TASKS_MAX + 2);
	if (err)
		goto out;
	seen_add(&seen, head);
	for (node = list_step(next, head, &seen, &out->flags); node;
	     node = list_step(next, head, &seen, &out->flags)) {
		struct lnx_task t;
		int r;

		if (out->n >= LNX_TASKS_MAX) {
			out->flags |= LNX_WALK_CAP;
			break;
		}
		r = task_fill(v, p, &b, node - toff, &t, &next);
		if (r < 0) {
			out->flags |= LNX_WALK_FAULT;
			break;
		}
		if (r > 0)
			out->flags |= LNX_WALK_BAD;
		err = list_push(out, &t);
		if (err) {
			lnx_task_list_release(out);
			goto out;
		}
	}
	if (!err && seen.oom) {
		err = -ENOMEM;
		lnx_task_list_release(out);
	}
out:
	free(seen.slot);
	free(b.buf);
	return err;
}

/* The pid IDR walk: state shared down the recursion. */
struct idr_walk {
	struct vmi *v;
	const struct profile *p;
	struct task_block b;
	struct seen nodes, tasks;
	size_t nnodes;
	size_t nentries;	/* pid entries followed, threads included */
	struct lnx_task_list *out;
	bool stop;
	int err;		/* -ENOMEM only: anything else is a flag */
};

static bool xa_is_node(uint64_t e)
{
	return (e & 3) == 2 && e > 4096;
}

static uint64_t poff(const struct idr_walk *w, enum profile_field f)
{
	return (uint64_t)profile_off(w->p, f);
}

/* One struct pid at index: its PIDTYPE_PID task, if a group leader. */
static void idr_pid(struct idr_walk *w, gva_t pid, uint64_t index)
{
	struct lnx_task t;
	gva_t first, next;
	uint32_t nr;
	int r;

	/*
	 * Nodes are capped, but each holds 64 entries and a hostile tree can
	 * point them all at one task: cap the task reads themselves too.
	 */
	if (++w->nentries > LNX_IDR_ENTRIES_MAX) {
		w->out->flags |= LNX_WALK_CAP;
		w->stop = true;
		return;
	}
	if (!kptr_ok(pid)) {
		w->out->flags |= LNX_WALK_BAD;
		return;
	}
	if (vmi_read_ptr(w->v, pid + poff(w, PF_PID_TASKS), &first) ||
	    vmi_read_u32(w->v, pid + poff(w, PF_PID_NUMBERS) + poff(w, PF_UPID_NR), &nr)) {
		w->out->flags |= LNX_WALK_FAULT;
		return;
	}
	if (!first)
		return;		/* a pid kept only as a pgrp/session id */
	r = task_fill(w->v, w->p, &w->b, first - poff(w, PF_TASK_PID_LINKS), &t, &next);
	if (r < 0) {
		w->out->flags |= LNX_WALK_FAULT;
		return;
	}
	if (t.pid != t.tgid)
		return;		/* a thread: /proc lists leaders only */
	if (r > 0 || (uint64_t)t.pid != index || nr != (uint32_t)t.pid)
		w->out->flags |= LNX_WALK_BAD;
	if (!seen_add(&w->tasks, t.addr)) {
		w->out->flags |= LNX_WALK_CYCLE;	/* one task under two pids */
		return;
	}
	if (w->out->n >= LNX_TASKS_MAX) {
		w->out->flags |= LNX_WALK_CAP;
		w->stop = true;
		return;
	}
	w->err = list_push(w->out, &t);
	if (w->err)
		w->stop = true;
}

static void idr_node(struct idr_walk *w, gva_t node, unsigned int depth,
		     uint64_t base, int want_shift)
{
	gva_t slots[XA_SLOTS];
	uint8_t shift;

	if (depth > XA_DEPTH_MAX || !kptr_ok(node)) {
		w->out->flags |= LNX_WALK_BAD;
		return;
	}
	if (!seen_add(&w->nodes, node)) {
		w->out->flags |= LNX_WALK_CYCLE;
		return;
	}
	if (++w->nnodes > LNX_TASKS_MAX) {
		w->out->flags |= LNX_WALK_CAP;
		w->stop = true;
		return;
	}
	if (vmi_read(w->v, node + poff(w, PF_XA_NODE_SHIFT), &shift, 1) ||
	    vmi_read(w->v, node + poff(w, PF_XA_NODE_SLOTS), slots, sizeof(slots))) {
		w->out->flags |= LNX_WALK_FAULT;
		return;
	}
	if (shift % XA_CHUNK_SHIFT || shift > 60 ||
	    (want_shift >= 0 && shift != want_shift)) {
		w->out->flags |= LNX_WALK_BAD;
		return;
	}
	for (unsigned int i = 0; i < XA_SLOTS && !w->stop; i++) {
		uint64_t e = slots[i], index = base | ((uint64_t)i << shift);

		if (xa_is_node(e) && shift)
			idr_node(w, e - 2, depth + 1, index, shift - XA_CHUNK_SHIFT);
		else if (e && !(e & 3) && !shift)
			idr_pid(w, e, index);
		else if (e && !(e & 3))
			w->out->flags |= LNX_WALK_BAD;	/* a leaf above the last level */
		else if (xa_is_node(e))
			w->out->flags |= LNX_WALK_BAD;	/* a node below it */
		/* else empty, a value, or an internal retry/zero/sibling entry */
	}
}

static bool idr_profile_ok(const struct profile *p)
{
	static const enum profile_field need[] = {
		PF_PIDNS_IDR, PF_IDR_RT, PF_XARRAY_HEAD, PF_XA_NODE_SHIFT,
		PF_XA_NODE_SLOTS, PF_PID_NUMBERS, PF_PID_TASKS, PF_UPID_NR,
		PF_TASK_PID_LINKS,
	};

	for (unsigned int i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!profile_has(p, need[i]))
			return false;
	return true;
}

int lnx_tasks_idr(struct vmi *v, struct lnx_task_list *out)
{
	struct idr_walk w = { .v = v, .p = vmi_profile(v), .out = out };
	gva_t ns, head;
	int err;

	memset(out, 0, sizeof(*out));
	if (!idr_profile_ok(w.p))
		return -EOPNOTSUPP;
	ns = vmi_sym(v, PSYM_INIT_PID_NS);
	if (!ns)
		return -ENOENT;
	if (vmi_read_ptr(v, ns + poff(&w, PF_PIDNS_IDR) + poff(&w, PF_IDR_RT) +
			 poff(&w, PF_XARRAY_HEAD), &head))
		return -EFAULT;	/* our own symbol: wrong profile or slide */
	err = block_init(&w.b, w.p);
	if (!err)
		err = seen_init(&w.nodes, LNX_TASKS_MAX + 2);
	if (!err)
		err = seen_init(&w.tasks, LNX_TASKS_MAX + 2);
	if (err)
		goto out;
	if (xa_is_node(head))
		idr_node(&w, head - 2, 0, 0, -1);
	else if (head && !(head & 3))
		idr_pid(&w, head, 0);	/* a lone entry: index 0 */
	err = w.err ? w.err : (w.nodes.oom || w.tasks.oom) ? -ENOMEM : 0;
	if (err)
		lnx_task_list_release(out);
out:
	free(w.nodes.slot);
	free(w.tasks.slot);
	free(w.b.buf);
	return err;
}
