/*
 * lnx_module.c - the guest's loaded kernel modules, read from the kernel's
 * `modules` list in guest memory: the trusted half of the module
 * cross-check (a rootkit that unlinks itself from this list hides from
 * /proc/modules too, but not from the other evidence the daemon compares).
 *
 * The list is hostile input: the walk is capped at LNX_MODULES_MAX nodes,
 * remembers every node it has seen so a cycle that does not pass through
 * the head still ends, and reports why it stopped in the list's flags.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lnx.h"

/*
 * The kernel's struct module.name is MODULE_NAME_LEN = 64 - sizeof(long)
 * bytes on 64-bit; the kernel always NUL-terminates within it, so a name
 * that fills it is forged or corrupt.
 */
#define MOD_NAME_FIELD 56u

/* MOD_TEXT, the first entry of struct module.mem[] (6.4+). */
#define MOD_MEM_TEXT 0u

/* Open-addressing set of node addresses seen in this walk. */
struct mod_seen {
	uint64_t *slot;
	size_t mask;
};

static int mod_seen_init(struct mod_seen *s, size_t want)
{
	size_t n = 16;

	while (n < want * 2)
		n <<= 1;
	s->slot = calloc(n, sizeof(*s->slot));
	if (!s->slot)
		return -ENOMEM;
	s->mask = n - 1;
	return 0;
}

/* False when addr was already in the set (a cycle); addr != 0. */
static bool mod_seen_add(struct mod_seen *s, uint64_t addr)
{
	size_t i = (size_t)((addr >> 3) * 0x9E3779B97F4A7C15ull) & s->mask;

	while (s->slot[i]) {
		if (s->slot[i] == addr)
			return false;
		i = (i + 1) & s->mask;
	}
	s->slot[i] = addr;
	return true;
}

/* A kernel object pointer: upper half, pointer-aligned. */
static bool mod_kptr_ok(gva_t p)
{
	return (p >> 63) && !(p & 7);
}

static int mod_list_push(struct lnx_module_list *l, struct lnx_module **m)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct lnx_module *nv;

		if (cap > LNX_MODULES_MAX)
			cap = LNX_MODULES_MAX;
		nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	*m = &l->v[l->n++];
	memset(*m, 0, sizeof(**m));
	return 0;
}

/* Text base and size: core_layout on <= 6.3, mem[MOD_TEXT] on 6.4+. */
static int mod_read_core(struct vmi *v, const struct profile *p, gva_t mod,
			 struct lnx_module *m)
{
	uint32_t size = 0;
	gva_t base_va, size_va;
	int err;

	if (profile_has(p, PF_MODULE_CORE_BASE) &&
	    profile_has(p, PF_MODULE_CORE_SIZE)) {
		base_va = mod + (uint64_t)profile_off(p, PF_MODULE_CORE_BASE);
		size_va = mod + (uint64_t)profile_off(p, PF_MODULE_CORE_SIZE);
	} else if (profile_has(p, PF_MODULE_MEM) &&
		   profile_has(p, PF_MODULE_MEMORY_BASE) &&
		   profile_has(p, PF_MODULE_MEMORY_SIZE)) {
		gva_t t = mod + (uint64_t)profile_off(p, PF_MODULE_MEM) +
			  (uint64_t)MOD_MEM_TEXT * p->size[PS_MODULE_MEMORY];

		base_va = t + (uint64_t)profile_off(p, PF_MODULE_MEMORY_BASE);
		size_va = t + (uint64_t)profile_off(p, PF_MODULE_MEMORY_SIZE);
	} else {
		return 0;	/* profile cannot say; leave 0 */
	}
	err = vmi_read_ptr(v, base_va, &m->base);
	if (!err)
		err = vmi_read_u32(v, size_va, &size);
	m->size = size;
	return err;
}

/*
 * Fill m from the struct module at mod. Returns 0, -EFAULT (unreadable)
 * or 1 when it read but held impossible values (kept, flagged).
 */
static int mod_read_one(struct vmi *v, const struct profile *p, gva_t mod,
			struct lnx_module *m)
{
	char raw[MOD_NAME_FIELD];
	size_t len;
	int bad = 0, err;

	m->addr = mod;
	err = vmi_read(v, mod + (uint64_t)profile_off(p, PF_MODULE_NAME), raw,
		       sizeof(raw));
	if (err)
		return err;
	len = strnlen(raw, sizeof(raw));
	if (len == sizeof(raw)) {	/* unterminated: keep a prefix */
		len = sizeof(raw) - 1;
		bad = 1;
	}
	memcpy(m->name, raw, len);
	m->name[len] = '\0';
	if (len == 0)
		bad = 1;
	if (profile_has(p, PF_MODULE_STATE)) {
		err = vmi_read_u32(v, mod + (uint64_t)profile_off(p, PF_MODULE_STATE),
				   &m->state);
		if (err)
			return err;
		if (m->state > LNX_MOD_UNFORMED)
			bad = 1;	/* raw value kept as evidence */
	}
	err = mod_read_core(v, p, mod, m);
	if (err)
		return err;
	return bad;
}

static bool mod_profile_ok(const struct profile *p)
{
	return profile_has(p, PF_MODULE_LIST) && profile_has(p, PF_MODULE_NAME);
}

/* One step: the next list node after node, or 0 with flags set. */
static gva_t mod_next(struct vmi *v, gva_t node, gva_t head, struct mod_seen *s,
		      unsigned int *flags)
{
	gva_t next;

	if (vmi_read_ptr(v, node, &next)) {
		*flags |= LNX_WALK_FAULT;
		return 0;
	}
	if (next == head)
		return 0;
	if (!mod_kptr_ok(next)) {
		*flags |= next ? LNX_WALK_BAD : LNX_WALK_FAULT;
		return 0;
	}
	if (!mod_seen_add(s, next)) {
		*flags |= LNX_WALK_CYCLE;
		return 0;
	}
	return next;
}

int lnx_modules(struct vmi *v, struct lnx_module_list *out)
{
	const struct profile *p = vmi_profile(v);
	struct mod_seen seen = { 0 };
	gva_t head, node, first;
	int err;

	memset(out, 0, sizeof(*out));
	if (!mod_profile_ok(p))
		return -EOPNOTSUPP;
	head = vmi_sym(v, PSYM_MODULES);
	if (!p->known[PSYM_MODULES] || !head)
		return -ENOENT;
	if (vmi_read_ptr(v, head, &first))
		return -EFAULT;	/* our own symbol: wrong profile or slide */
	err = mod_seen_init(&seen, LNX_MODULES_MAX);
	if (err)
		return err;
	mod_seen_add(&seen, head);
	for (node = mod_next(v, head, head, &seen, &out->flags); node;
	     node = mod_next(v, node, head, &seen, &out->flags)) {
		struct lnx_module *m;
		int r;

		if (out->n >= LNX_MODULES_MAX) {
			out->flags |= LNX_WALK_CAP;
			break;
		}
		err = mod_list_push(out, &m);
		if (err)
			goto out_fail;
		r = mod_read_one(v, p, node - (uint64_t)profile_off(p, PF_MODULE_LIST),
				 m);
		if (r < 0) {	/* the node itself is gone: drop it and stop */
			out->n--;
			out->flags |= LNX_WALK_FAULT;
			break;
		}
		if (r > 0)
			out->flags |= LNX_WALK_BAD;
	}
	free(seen.slot);
	return 0;

out_fail:
	free(seen.slot);
	lnx_module_list_release(out);
	return err;
}

void lnx_module_list_release(struct lnx_module_list *l)
{
	if (!l)
		return;
	free(l->v);
	memset(l, 0, sizeof(*l));
}
