/*
 * rule_def.c - the body of a "- rule:" item: trigger, guests, upcall and
 * cross-check objects, condition and exceptions (combined into one tree),
 * output template, priority, tags, rate limit and dedup window.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "rule_int.h"

#define TRIGGER_NAME_MAX 128
#define INTERVAL_MIN_MS 10

static const char *const trig_keys[] = { "syscall", "breakpoint", "interval",
					 NULL };

static int trigger_add(struct rule_set *s, enum rule_trigger_kind kind,
		       const char *name, uint64_t ms, uint32_t *idx)
{
	static const char tag[] = "cnsbi";
	char key[TRIGGER_NAME_MAX + 32];
	struct rule_trigger *t;
	char *k;
	int ti;

	snprintf(key, sizeof(key), "%c:%s:%" PRIu64, tag[kind],
		 name ? name : "", ms);
	ti = rule_names_get(&s->trig_names, key, strlen(key));
	if (ti >= 0) {
		*idx = (uint32_t)ti;
		return 0;
	}
	if (RULE_GROW(s->trigs, s->atrigs, s->ntrigs + 1) < 0)
		return -ENOMEM;
	t = &s->trigs[s->ntrigs];
	*t = (struct rule_trigger){ .kind = kind, .interval_ms = ms };
	if (name && !(t->name = rule_arena_strndup(&s->arena, name,
						    strlen(name))))
		return -ENOMEM;
	k = rule_arena_strndup(&s->arena, key, strlen(key));
	if (!k || rule_names_put(&s->trig_names, k, (uint32_t)s->ntrigs) < 0)
		return -ENOMEM;
	*idx = (uint32_t)s->ntrigs++;
	return 0;
}

static bool symbol_ok(const char *n, size_t len, bool syscall)
{
	if (len == 0 || len > TRIGGER_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)n[i];

		if (!(syscall ? (islower(c) || isdigit(c) || c == '_')
			      : (isalnum(c) || c == '_' || c == '.')))
			return false;
	}
	return true;
}

static int parse_trigger(struct rule_set *s, struct rule_ydoc *d,
			 const struct rule_ynode *n, uint32_t *idx)
{
	const struct rule_ynode *v[3];
	const char *name;
	uint64_t ms;

	if (n->type == RULE_Y_SCALAR) {
		if (!strcmp(n->str, "cr3_write"))
			return trigger_add(s, RULE_TRIG_CR3_WRITE, NULL, 0, idx);
		if (!strcmp(n->str, "new_address_space"))
			return trigger_add(s, RULE_TRIG_NEW_ADDRESS_SPACE, NULL,
					   0, idx);
		rule_yerr(d, n, "unknown trigger '%.64s' (cr3_write, "
			  "new_address_space, {syscall: NAME}, {breakpoint: "
			  "SYMBOL}, {interval: DURATION})", n->str);
		return -EINVAL;
	}
	if (rule_ymap(d, n, "a trigger", trig_keys, v) < 0)
		return -EINVAL;
	if (!!v[0] + !!v[1] + !!v[2] != 1) {
		rule_yerr(d, n, "a trigger has exactly one of syscall, "
			  "breakpoint or interval");
		return -EINVAL;
	}
	if (v[2]) {
		if (rule_yduration(d, v[2], "interval", &ms) < 0)
			return -EINVAL;
		if (ms < INTERVAL_MIN_MS) {
			rule_yerr(d, v[2], "interval must be at least %dms",
				  INTERVAL_MIN_MS);
			return -EINVAL;
		}
		return trigger_add(s, RULE_TRIG_INTERVAL, NULL, ms, idx);
	}
	const struct rule_ynode *nn = v[0] ? v[0] : v[1];

	if (rule_ystr(d, nn, v[0] ? "syscall" : "breakpoint", true, &name) < 0)
		return -EINVAL;
	if (!symbol_ok(name, nn->n, v[0] != NULL)) {
		rule_yerr(d, nn, v[0] ? "bad syscall name '%.64s' (lower-case "
			  "letters, digits and _, as in execve)" :
			  "bad kernel symbol '%.64s'", name);
		return -EINVAL;
	}
	return trigger_add(s, v[0] ? RULE_TRIG_SYSCALL : RULE_TRIG_BREAKPOINT,
			   name, 0, idx);
}

static int parse_objects(struct rule_ydoc *d, const struct rule_ynode *n,
			 const char *what, unsigned int *mask)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} objs[] = {
		{ "processes", RULE_OBJ_PROCESSES }, { "process", RULE_OBJ_PROCESSES },
		{ "modules", RULE_OBJ_MODULES }, { "module", RULE_OBJ_MODULES },
		{ "files", RULE_OBJ_FILES }, { "file", RULE_OBJ_FILES },
	};
	struct rule_ynode *const *items, *one;
	size_t cnt;
	int rc = 0;

	if (rule_yseq(d, n, what, true, &items, &cnt, &one) < 0)
		return -EINVAL;
	for (size_t i = 0; i < cnt; i++) {
		size_t k;

		for (k = 0; k < sizeof(objs) / sizeof(objs[0]); k++)
			if (items[i]->type == RULE_Y_SCALAR &&
			    !strcmp(items[i]->str, objs[k].name))
				break;
		if (k == sizeof(objs) / sizeof(objs[0])) {
			rule_yerr(d, items[i], "%s: unknown object '%.64s' "
				  "(processes, modules, files)", what,
				  items[i]->type == RULE_Y_SCALAR ?
				  items[i]->str : "");
			rc = -EINVAL;
			continue;
		}
		*mask |= objs[k].bit;
	}
	return rc;
}

/* A list of non-empty strings copied into the arena. */
static int parse_strs(struct rule_set *s, struct rule_ydoc *d,
		      const struct rule_ynode *n, const char *what,
		      const char *const **out, size_t *count)
{
	struct rule_ynode *const *items, *one;
	const char **v;
	size_t cnt;
	int rc = 0;

	if (rule_yseq(d, n, what, true, &items, &cnt, &one) < 0)
		return -EINVAL;
	v = rule_arena_alloc(&s->arena, (cnt ? cnt : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		const char *str;

		if (rule_ystr(d, items[i], what, true, &str) < 0) {
			rc = -EINVAL;
			continue;
		}
		if (!(v[i] = rule_arena_strndup(&s->arena, str, items[i]->n)))
			return -ENOMEM;
	}
	*out = v;
	*count = cnt;
	return rc;
}

/* Combine results: out of memory wins, then any error. */
static int merge(int rc, int r)
{
	if (rc == -ENOMEM || r == -ENOMEM)
		return -ENOMEM;
	return rc < 0 ? rc : r < 0 ? -EINVAL : 0;
}

static int parse_priority(struct rule_ydoc *d, const struct rule_ynode *n,
			  enum rule_priority *out)
{
	int p = n->type == RULE_Y_SCALAR ? rule_priority_parse(n->str, n->n)
					 : -EINVAL;

	if (p < 0) {
		rule_yerr(d, n, "unknown priority '%.32s' (emergency, alert, "
			  "critical, error, warning, notice, informational, "
			  "debug)", n->type == RULE_Y_SCALAR ? n->str : "");
		return -EINVAL;
	}
	*out = (enum rule_priority)p;
	return 0;
}

/* desc, priority, enabled, rate_limit, dedup */
static int parse_meta(struct rule_set *s, struct rule_ydoc *d,
		      const struct rule_ynode **v, struct rule *r)
{
	int rc = 0;

	if (v[K_DESC] && rule_ystr(d, v[K_DESC], "desc", false, &r->desc) < 0)
		rc = -EINVAL;
	else if (v[K_DESC] && !(r->desc = rule_arena_strndup(&s->arena,
							     r->desc,
							     v[K_DESC]->n)))
		return -ENOMEM;
	if (v[K_PRIORITY])
		rc = merge(rc, parse_priority(d, v[K_PRIORITY], &r->priority));
	if (v[K_ENABLED])
		rc = merge(rc, rule_ybool(d, v[K_ENABLED], "enabled",
					  &r->enabled));
	if (v[K_RATE] && (v[K_RATE]->type != RULE_Y_SCALAR ||
			  rule_parse_rate(v[K_RATE]->str, v[K_RATE]->n,
					  &r->rate_limit) < 0)) {
		rule_yerr(d, v[K_RATE], "rate_limit: bad rate (COUNT/UNIT as in "
			  "10/min, 5/s, 100/h, 3/10s)");
		rc = merge(rc, -EINVAL);
	}
	if (v[K_DEDUP])
		rc = merge(rc, rule_yduration(d, v[K_DEDUP], "dedup",
					      &r->dedup_ms));
	return rc;
}

/* trigger, upcall, crosscheck, guests, tags */
static int parse_scope(struct rule_set *s, struct rule_ydoc *d,
		       const struct rule_ynode **v, struct rule *r)
{
	int rc = 0;

	if (v[K_TRIGGER])
		rc = merge(rc, parse_trigger(s, d, v[K_TRIGGER], &r->trig));
	if (v[K_UPCALL])
		rc = merge(rc, parse_objects(d, v[K_UPCALL], "upcall",
					     &r->upcall));
	if (v[K_CROSSCHECK])
		rc = merge(rc, parse_objects(d, v[K_CROSSCHECK], "crosscheck",
					     &r->crosscheck));
	r->upcall |= r->crosscheck;
	if (v[K_GUESTS])
		rc = merge(rc, parse_strs(s, d, v[K_GUESTS], "guests",
					  &r->guests, &r->nguests));
	if (v[K_TAGS])
		rc = merge(rc, parse_strs(s, d, v[K_TAGS], "tags", &r->tags,
					  &r->ntags));
	return rc;
}

int rule_item_rule(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		   const struct rule_ynode *item, const struct rule_ynode **v,
		   const char *name)
{
	static const char *const required[] = {
		[K_DESC] = "desc", [K_TRIGGER] = "trigger",
		[K_OUTPUT] = "output", [K_PRIORITY] = "priority",
	};
	struct rule r = { .enabled = true, .cond = RULE_NONE, .trig = RULE_NONE,
			  .line = v[K_RULE]->line, .col = v[K_RULE]->col,
			  .priority = RULE_PRIO_WARNING };
	int rc = 0, ri = rule_names_get(&s->rule_names, name, strlen(name));

	if (ri >= 0) {
		const struct rule *o = &s->rules[ri];

		rule_yerr(d, v[K_RULE], "rule '%s' is already defined at "
			  "%s:%u:%u", name, o->file, o->line, o->col);
		return -EINVAL;
	}
	for (size_t k = 0; k < sizeof(required) / sizeof(required[0]); k++)
		if (required[k] && !v[k]) {
			rule_yerr(d, item, "rule '%s' has no '%s'", name,
				  required[k]);
			rc = -EINVAL;
		}
	r.file = s->files[file];
	if (!(r.name = rule_arena_strndup(&s->arena, name, strlen(name))))
		return -ENOMEM;
	rc = merge(rc, parse_meta(s, d, v, &r));
	rc = merge(rc, parse_scope(s, d, v, &r));
	rc = merge(rc, rule_def_condition(s, d, file, v, &r));
	if (v[K_OUTPUT] && v[K_OUTPUT]->type != RULE_Y_SCALAR) {
		rule_yerr(d, v[K_OUTPUT], "output must be a string");
		rc = merge(rc, -EINVAL);
	} else if (v[K_OUTPUT]) {
		rc = merge(rc, rule_output_parse(s, d, v[K_OUTPUT], &r));
	}
	if (rc == -ENOMEM)
		return rc;
	if (r.trig == RULE_NONE)	/* keep the set indexable */
		r.enabled = false;
	if (RULE_GROW(s->rules, s->arules, s->nrules + 1) < 0)
		return -ENOMEM;
	s->rules[s->nrules] = r;
	if (rule_names_put(&s->rule_names, r.name, (uint32_t)s->nrules) < 0)
		return -ENOMEM;
	s->nrules++;
	return rc;
}
