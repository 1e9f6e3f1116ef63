/*
 * upcall_result.c - turn verified reply bodies into an upcall_result:
 * decode every record with wire.h's bound-checked decoders and copy the
 * strings out of the (reused) receive buffer into an arena owned by the
 * result. A MAC only proves the agent sent it; the agent may still lie or
 * be broken, so a bad record fails the whole answer with a reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upcall.h"

#define ARENA_CHUNK (64u * 1024u)

/* Chunks never move, so pointers into them stay valid. */
struct upcall_arena {
	struct upcall_arena *next;
	size_t used, cap;
	char data[];
};

static const char *arena_strdup(struct upcall_result *r, const char *s,
				size_t n)
{
	struct upcall_arena *a = r->arena;
	char *p;

	if (!a || a->cap - a->used < n + 1) {
		size_t cap = n + 1 > ARENA_CHUNK ? n + 1 : ARENA_CHUNK;

		a = malloc(sizeof(*a) + cap);
		if (!a)
			return NULL;
		a->next = r->arena;
		a->used = 0;
		a->cap = cap;
		r->arena = a;
	}
	p = a->data + a->used;
	memcpy(p, s, n);
	p[n] = '\0';
	a->used += n + 1;
	return p;
}

struct upcall_result *upcall_result_new(uint64_t req_id, unsigned int query)
{
	struct upcall_result *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->req_id = req_id;
	r->query = query;
	return r;
}

void upcall_result_free(struct upcall_result *r)
{
	struct upcall_arena *a, *next;

	if (!r)
		return;
	for (a = r->arena; a; a = next) {
		next = a->next;
		free(a);
	}
	free(r->procs);
	free(r->modules);
	free(r->files);
	free(r);
}

/* Make room for one more element in *v (n used of *cap). */
static int grow(void **v, size_t n, size_t *cap, size_t size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	p = realloc(*v, ncap * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = ncap;
	return 0;
}

static int add_proc(struct upcall_result *r, struct wire_proc *p)
{
	if (grow((void **)&r->procs, r->nprocs, &r->procs_cap, sizeof(*p)))
		return -ENOMEM;
	if (p->exe && !(p->exe = arena_strdup(r, p->exe, p->exe_len)))
		return -ENOMEM;
	r->procs[r->nprocs++] = *p;
	return 0;
}

static int add_module(struct upcall_result *r, struct wire_module *m)
{
	if (grow((void **)&r->modules, r->nmodules, &r->modules_cap,
		 sizeof(*m)))
		return -ENOMEM;
	if (!(m->name = arena_strdup(r, m->name, m->name_len)))
		return -ENOMEM;
	r->modules[r->nmodules++] = *m;
	return 0;
}

static int add_file(struct upcall_result *r, struct wire_file *f)
{
	if (grow((void **)&r->files, r->nfiles, &r->files_cap, sizeof(*f)))
		return -ENOMEM;
	if (f->link && !(f->link = arena_strdup(r, f->link, f->link_len)))
		return -ENOMEM;
	if (r->pid != WIRE_PID_ALL && f->pid != r->pid)
		return -EBADMSG;	/* asked for one pid, got another */
	r->files[r->nfiles++] = *f;
	return 0;
}

static int add_info(struct upcall_result *r, struct wire_info *i)
{
	if (r->have_info)
		return -EBADMSG;	/* one info record per reply */
	if (i->agent && !(i->agent = arena_strdup(r, i->agent, i->agent_len)))
		return -ENOMEM;
	r->info = *i;
	r->have_info = true;
	return 0;
}

/* Decode records of the result's query; one record per iteration. */
static int decode_one(struct upcall_result *r, const uint8_t *body,
		      size_t len, size_t *off)
{
	union {
		struct wire_proc p;
		struct wire_module m;
		struct wire_file f;
		struct wire_info i;
	} u;
	int ret;

	switch (r->query) {
	case WIRE_Q_PROCS:
		ret = wire_proc_next(body, len, off, &u.p);
		return ret ? ret : add_proc(r, &u.p);
	case WIRE_Q_MODULES:
		ret = wire_module_next(body, len, off, &u.m);
		return ret ? ret : add_module(r, &u.m);
	case WIRE_Q_FILES:
		ret = wire_file_next(body, len, off, &u.f);
		return ret ? ret : add_file(r, &u.f);
	case WIRE_Q_INFO:
		ret = wire_info_next(body, len, off, &u.i);
		return ret ? ret : add_info(r, &u.i);
	}
	return len ? -EPROTO : 1;	/* unknown query: no records */
}

enum upcall_reason upcall_result_add_body(struct upcall_result *r,
					  const uint8_t *body, size_t len,
					  char *detail, size_t dlen)
{
	size_t off = 0, n = 0;
	int ret;

	while ((ret = decode_one(r, body, len, &off)) == 0)
		n++;
	switch (ret) {
	case 1:
		return UPCALL_OK;
	case -ENODATA:
		snprintf(detail, dlen, "%s record %zu cut at body offset %zu "
			 "of %zu", wire_query_str(r->query), n, off, len);
		return UPCALL_F_TRUNCATED;
	case -ENOMEM:
		snprintf(detail, dlen, "out of memory after %zu records", n);
		return UPCALL_E_NOMEM;
	case -EPROTO:
		snprintf(detail, dlen, "%zu body bytes for query %u, which "
			 "has no records", len, r->query);
		return UPCALL_F_MALFORMED;
	}
	snprintf(detail, dlen, "%s record %zu at body offset %zu is "
		 "inconsistent", wire_query_str(r->query), n, off);
	return UPCALL_F_MALFORMED;
}

const char *upcall_reason_str(enum upcall_reason r)
{
	static const char *const s[UPCALL_REASON_MAX] = {
		[UPCALL_OK] = "ok", [UPCALL_F_BAD_MAC] = "bad_mac",
		[UPCALL_F_NONCE] = "bad_nonce", [UPCALL_F_STALE] = "stale",
		[UPCALL_F_VERSION] = "wrong_version",
		[UPCALL_F_OVERSIZE] = "oversize",
		[UPCALL_F_TRUNCATED] = "truncated",
		[UPCALL_F_MALFORMED] = "malformed",
		[UPCALL_F_DEADLINE] = "deadline", [UPCALL_F_GARBAGE] = "garbage",
		[UPCALL_F_AGENT_AUTH] = "agent_auth",
		[UPCALL_E_CANCELLED] = "cancelled", [UPCALL_E_NOMEM] = "nomem",
	};

	return (unsigned int)r < UPCALL_REASON_MAX && s[r] ? s[r] : "unknown";
}
