/*
 * rule.c - a loaded rule set: building it up (files, triggers), finishing
 * it (resolving conditions, indexing rules by trigger), and using it per
 * event (matching, guest views, capability checks). Loading YAML is in
 * rule_load.c and rule_item.c; conditions in rule_expr.c and rule_eval.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv.h"
#include "rule_int.h"

struct rule_guest {
	const struct rule_set *set;
	uint8_t *runs;		/* per rule */
	uint8_t *trig_used;	/* per trigger */
};

struct rule_set *rule_set_new(void)
{
	return calloc(1, sizeof(struct rule_set));
}

void rule_set_free(struct rule_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nlists; i++)
		free(s->lists[i].items);
	free(s->files);
	free(s->rules);
	free(s->lists);
	free(s->macros);
	free(s->trigs);
	free(s->nodes);
	free(s->kids);
	free(s->lits);
	free(s->segs);
	free(s->trig_first);
	free(s->trig_count);
	free(s->trig_rules);
	rule_names_release(&s->rule_names);
	rule_names_release(&s->list_names);
	rule_names_release(&s->macro_names);
	rule_names_release(&s->trig_names);
	rule_names_release(&s->real_paths);
	rule_arena_release(&s->arena);
	free(s);
}

void rule_set_err(struct rule_set *s, uint32_t file, uint32_t line,
		  uint32_t col, const char *fmt, ...)
{
	char msg[RULE_ERR_MSG];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rule_errors_add(s->errs, file < s->nfiles ? s->files[file] : NULL,
			line, col, "%s", msg);
}

int rule_set_add_file(struct rule_set *s, const char *name, uint32_t *idx)
{
	char *copy;

	if (s->nfiles >= RULE_FILES_MAX)
		return -E2BIG;
	copy = rule_arena_strndup(&s->arena, name, strlen(name));
	if (!copy || RULE_GROW(s->files, s->afiles, s->nfiles + 1) < 0)
		return -ENOMEM;
	s->files[s->nfiles] = copy;
	*idx = (uint32_t)s->nfiles++;
	return 0;
}

/* Check that no event rule reads finding-only fields (via macros too). */
static int check_scope(struct rule_set *s, const struct rule *r)
{
	uint32_t at;

	if (rule_is_finding_rule(r) || r->cond == RULE_NONE ||
	    rule_expr_first_finding(s, r->cond, &at) < 0)
		return 0;
	const struct rule_node *n = &s->nodes[at];

	rule_set_err(s, n->file, n->line, n->col, "rule '%s' uses %s, which "
		     "only findings have: add 'upcall' or 'crosscheck' to the "
		     "rule", r->name, rule_field_info(n->field)->name);
	return -EINVAL;
}

static int build_index(struct rule_set *s)
{
	size_t nt = s->ntrigs, pos = 0;

	s->trig_first = calloc(nt ? nt : 1, sizeof(uint32_t));
	s->trig_count = calloc(nt ? nt : 1, sizeof(uint32_t));
	s->trig_rules = calloc(s->nrules ? s->nrules : 1, sizeof(uint32_t));
	if (!s->trig_first || !s->trig_count || !s->trig_rules)
		return -ENOMEM;
	for (size_t i = 0; i < s->nrules; i++)
		if (s->rules[i].enabled)
			s->trig_count[s->rules[i].trig]++;
	for (size_t t = 0; t < nt; t++) {
		s->trig_first[t] = (uint32_t)pos;
		pos += s->trig_count[t];
		s->trig_count[t] = 0;
	}
	for (size_t i = 0; i < s->nrules; i++) {
		uint32_t t = s->rules[i].trig;

		if (s->rules[i].enabled)
			s->trig_rules[s->trig_first[t] + s->trig_count[t]++] =
				(uint32_t)i;
	}
	return 0;
}

/* Resolve every condition (reporting all errors); index if all is well. */
int rule_set_finish(struct rule_set *s)
{
	int rc = rule_expr_resolve_macros(s);

	for (size_t i = 0; i < s->nrules; i++) {
		struct rule *r = &s->rules[i];
		unsigned int depth = 0;

		if (r->cond == RULE_NONE)
			continue;
		if (rule_expr_resolve(s, r->cond, &depth) < 0 ||
		    check_scope(s, r) < 0)
			rc = -EINVAL;
	}
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0 || s->errs->nerrors != s->nerrors0)
		return -EINVAL;
	for (size_t t = 0; t < s->ntrigs; t++)
		s->trigs[t].index = t;
	for (size_t i = 0; i < s->nrules; i++) {
		s->rules[i].set = s;
		s->rules[i].index = i;
		s->rules[i].trigger = &s->trigs[s->rules[i].trig];
	}
	return build_index(s);
}

/* Errors of this load in the set's file order, then line:column. */
void rule_set_sort_errors(const struct rule_set *s, size_t first)
{
	rule_errors_sort_files(s->errs, first, s->files, s->nfiles);
}

void rule_set_stats(const struct rule_set *s, struct rule_set_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->files = s->nfiles;
	st->rules = s->nrules;
	st->lists = s->nlists;
	st->macros = s->nmacros;
	st->triggers = s->ntrigs;
	st->nodes = s->nnodes;
	for (size_t i = 0; i < s->nrules; i++)
		st->enabled += s->rules[i].enabled;
}

size_t rule_set_nrules(const struct rule_set *s)
{
	return s->nrules;
}

const struct rule *rule_set_rule(const struct rule_set *s, size_t i)
{
	return i < s->nrules ? &s->rules[i] : NULL;
}

const struct rule *rule_set_find(const struct rule_set *s, const char *name)
{
	int i = rule_names_get(&s->rule_names, name, strlen(name));

	return i < 0 ? NULL : &s->rules[i];
}

size_t rule_set_ntriggers(const struct rule_set *s)
{
	return s->ntrigs;
}

const struct rule_trigger *rule_set_trigger(const struct rule_set *s,
					    size_t i)
{
	return i < s->ntrigs ? &s->trigs[i] : NULL;
}

int rule_trigger_symbol(const struct rule_trigger *t, char *buf, size_t len)
{
	int n;

	if (t->kind == RULE_TRIG_SYSCALL)
		n = snprintf(buf, len, "__x64_sys_%s", t->name);
	else if (t->kind == RULE_TRIG_BREAKPOINT)
		n = snprintf(buf, len, "%s", t->name);
	else
		return -EINVAL;
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

unsigned int rule_trigger_missing_caps(const struct rule_trigger *t,
				       unsigned int caps)
{
	switch (t->kind) {
	case RULE_TRIG_SYSCALL:
	case RULE_TRIG_BREAKPOINT:
		return HV_CAP_BREAKPOINT & ~caps;
	case RULE_TRIG_CR3_WRITE:
	case RULE_TRIG_NEW_ADDRESS_SPACE:
		if (caps & (HV_CAP_CR3_EVENT | HV_CAP_CR3_APPROX))
			return 0;
		return HV_CAP_CR3_EVENT | HV_CAP_CR3_APPROX;
	default:
		return 0;
	}
}

/* Capabilities r needs that caps lacks; *why says what needs them. */
static unsigned int rule_missing(const struct rule *r, unsigned int caps,
				 const char **why)
{
	unsigned int m = rule_trigger_missing_caps(r->trigger, caps);

	*why = "its trigger";
	if (!m && r->crosscheck && !(caps & HV_CAP_MEM)) {
		*why = "its crosscheck";
		m = HV_CAP_MEM;
	}
	return m;
}

static const char *cap_words(unsigned int m)
{
	if (m == (HV_CAP_CR3_EVENT | HV_CAP_CR3_APPROX))
		return "CR3-write events (cr3_event or cr3_approx)";
	if (m & HV_CAP_BREAKPOINT)
		return "breakpoints (bp)";
	if (m & HV_CAP_MEM)
		return "guest memory reads (mem)";
	return "a capability";
}

bool rule_applies_to(const struct rule *r, const char *name)
{
	if (r->nguests == 0)
		return true;
	for (size_t i = 0; i < r->nguests; i++)
		if (rule_glob(r->guests[i], name, strlen(name)))
			return true;
	return false;
}

static bool refuse(const struct rule *r, const char *guest,
		   unsigned int caps, struct rule_errors *errs)
{
	const char *why;
	unsigned int m = rule_missing(r, caps, &why);
	char have[128];

	if (!m)
		return false;
	if (errs)
		rule_errors_add(errs, r->file, r->line, r->col, "rule '%s' "
				"refused%s%s: %s (%s%s%s) needs %s, which the "
				"backend lacks (it has: %s)", r->name,
				guest ? " for guest " : "", guest ? guest : "",
				why, rule_trigger_kind_name(r->trigger->kind),
				r->trigger->name ? " " : "",
				r->trigger->name ? r->trigger->name : "",
				cap_words(m), hv_caps_str(caps, have,
							  sizeof(have)));
	return true;
}

size_t rule_set_check_caps(const struct rule_set *s, const char *guest,
			   unsigned int caps, struct rule_errors *errs)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nrules; i++) {
		const struct rule *r = &s->rules[i];

		if (r->enabled && (!guest || rule_applies_to(r, guest)) &&
		    refuse(r, guest, caps, errs))
			n++;
	}
	return n;
}

int rule_guest_new(const struct rule_set *s, const char *name,
		   unsigned int caps, struct rule_guest **out,
		   struct rule_errors *errs)
{
	struct rule_guest *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->set = s;
	g->runs = calloc(s->nrules ? s->nrules : 1, 1);
	g->trig_used = calloc(s->ntrigs ? s->ntrigs : 1, 1);
	if (!g->runs || !g->trig_used) {
		rule_guest_free(g);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->nrules; i++) {
		const struct rule *r = &s->rules[i];

		if (!r->enabled || !rule_applies_to(r, name) ||
		    refuse(r, name, caps, errs))
			continue;
		g->runs[i] = 1;
		g->trig_used[r->trig] = 1;
	}
	*out = g;
	return 0;
}

void rule_guest_free(struct rule_guest *g)
{
	if (!g)
		return;
	free(g->runs);
	free(g->trig_used);
	free(g);
}

bool rule_guest_runs(const struct rule_guest *g, const struct rule *r)
{
	return r->set == g->set && r->index < g->set->nrules && g->runs[r->index];
}

bool rule_guest_uses_trigger(const struct rule_guest *g,
			     const struct rule_trigger *t)
{
	return t->index < g->set->ntrigs && &g->set->trigs[t->index] == t &&
	       g->trig_used[t->index];
}

bool rule_eval(const struct rule *r, const struct rule_env *env)
{
	return rule_expr_eval(r->set, r->cond, env);
}

/*
 * Per-event field cache: the rules of a trigger often test the same fields,
 * and the daemon's getter may have to read guest memory. Lives on the
 * stack of one match call; strings stay the getter's (valid for the call).
 */
struct fcache {
	const struct rule_env *env;
	uint32_t have, absent;
	struct rule_value v[RULE_F__COUNT];
};

_Static_assert(RULE_F__COUNT <= 32, "field bits must fit the cache masks");

static int cache_get(void *ctx, enum rule_field f, struct rule_value *out)
{
	struct fcache *c = ctx;
	uint32_t bit;

	if ((unsigned)f >= RULE_F__COUNT)
		return -ENOENT;	/* before the shift: 1u << 32+ is undefined */
	bit = 1u << f;
	if (c->have & bit) {
		*out = c->v[f];
		return 0;
	}
	if (c->absent & bit)
		return -ENOENT;
	if (c->env->get(c->env->ctx, f, &c->v[f]) != 0) {
		c->absent |= bit;
		return -ENOENT;
	}
	c->have |= bit;
	*out = c->v[f];
	return 0;
}

static bool guest_ok(const struct rule *r, const struct rule_env *env)
{
	struct rule_value v;

	if (r->nguests == 0)
		return true;
	if (env->get(env->ctx, RULE_F_GUEST_NAME, &v) != 0 ||
	    v.type != RULE_T_STR || !v.s)
		return false;
	for (size_t i = 0; i < r->nguests; i++)
		if (rule_glob(r->guests[i], v.s, v.len))
			return true;
	return false;
}

int rule_match_trigger(const struct rule_set *s, const struct rule_guest *g,
		       const struct rule_trigger *t, const struct rule_env *env,
		       int (*cb)(const struct rule *r, void *arg), void *arg)
{
	struct fcache cache;	/* values filled on demand: no memset */
	struct rule_env cenv = { &cache, cache_get };
	const uint32_t *idx;
	int n = 0;

	cache.env = env;
	cache.have = cache.absent = 0;
	if (t->index >= s->ntrigs || &s->trigs[t->index] != t)
		return -EINVAL;
	if (g && g->set != s)
		return -EINVAL;
	idx = s->trig_rules + s->trig_first[t->index];
	for (uint32_t k = 0; k < s->trig_count[t->index]; k++) {
		const struct rule *r = &s->rules[idx[k]];
		int rc;

		if (g ? !g->runs[idx[k]] : !guest_ok(r, &cenv))
			continue;
		if (!rule_is_finding_rule(r) && !rule_expr_eval(s, r->cond, &cenv))
			continue;
		if ((rc = cb(r, arg)) < 0)
			return rc;
		n++;
	}
	return n;
}

int rule_match(const struct rule_set *s, const struct rule_guest *g,
	       enum rule_trigger_kind kind, const struct rule_env *env,
	       int (*cb)(const struct rule *r, void *arg), void *arg)
{
	struct rule_value v = { 0 };
	bool named = kind == RULE_TRIG_SYSCALL || kind == RULE_TRIG_BREAKPOINT;
	int n = 0;

	if (named && (env->get(env->ctx, kind == RULE_TRIG_SYSCALL ?
			       RULE_F_EVENT_SYSCALL : RULE_F_EVENT_SYMBOL,
			       &v) != 0 || v.type != RULE_T_STR || !v.s))
		return 0;
	for (size_t t = 0; t < s->ntrigs; t++) {
		const struct rule_trigger *tr = &s->trigs[t];
		int rc;

		if (tr->kind != kind || (named && (strlen(tr->name) != v.len ||
						   memcmp(tr->name, v.s, v.len))))
			continue;
		rc = rule_match_trigger(s, g, tr, env, cb, arg);
		if (rc < 0)
			return rc;
		n += rc;
	}
	return n;
}
