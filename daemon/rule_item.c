/*
 * rule_item.c - one top-level item of a rules file (list, macro or rule)
 * from the YAML tree into the rule set. Every problem is reported with its
 * position and loading goes on, so one run shows every error in a file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "rule_int.h"

#define NAME_MAX_LEN 128

static const char *const list_keys[] = { "list", "items", "append", NULL };
static const char *const macro_keys[] = { "macro", "condition", NULL };

static const char *const rule_keys[] = {
	"rule", "desc", "trigger", "guests", "upcall", "crosscheck",
	"condition", "output", "priority", "tags", "enabled", "exceptions",
	"rate_limit", "dedup", NULL,
};

static const char *const keywords[] = {
	"and", "or", "not", "in", "contains", "icontains", "startswith",
	"endswith", "glob", "exists", NULL,
};

/* List and macro names are identifiers (they appear in conditions). */
static int check_ident(struct rule_ydoc *d, const struct rule_ynode *n,
		       const char *what, const char **name)
{
	const char *s;

	if (rule_ystr(d, n, what, true, &s) < 0)
		return -EINVAL;
	bool ok = (isalpha((unsigned char)s[0]) || s[0] == '_') &&
		  n->n <= NAME_MAX_LEN;

	for (size_t i = 1; ok && i < n->n; i++)
		ok = isalnum((unsigned char)s[i]) || s[i] == '_';
	for (size_t k = 0; ok && keywords[k]; k++)
		ok = strcmp(s, keywords[k]) != 0;
	if (!ok) {
		rule_yerr(d, n, "%s '%.64s' must be a word of letters, digits "
			  "and _ (at most %d, not a keyword)", what, s,
			  NAME_MAX_LEN);
		return -EINVAL;
	}
	*name = s;
	return 0;
}

int rule_item_lit(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		  const struct rule_ynode *n, const char *what, bool maybe_list,
		  uint32_t *idx)
{
	const char *str;
	int rc;

	if (rule_ystr(d, n, what, false, &str) < 0)
		return -EINVAL;
	rc = rule_expr_new_lit(s, str, n->n, maybe_list &&
			       n->style == YAML_PLAIN_SCALAR_STYLE, idx);
	if (rc < 0)
		return rc;
	s->lits[*idx].file = file;
	s->lits[*idx].line = n->line;
	s->lits[*idx].col = n->col;
	return 0;
}

static int where(const struct rule_set *s, uint32_t file, uint32_t line,
		 uint32_t col, char *buf, size_t len)
{
	return snprintf(buf, len, "%s:%u:%u", file < s->nfiles ?
			s->files[file] : "?", line, col);
}

/* The list to fill: a new one, or the earlier one for append: true. */
static int list_slot(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		     const struct rule_ynode *at, const char *name, bool append)
{
	int li = rule_names_get(&s->list_names, name, strlen(name));
	struct rule_list *l;

	if (li >= 0 && !append) {
		char where_at[300];

		l = &s->lists[li];
		where(s, l->file, l->line, l->col, where_at, sizeof(where_at));
		rule_yerr(d, at, "list '%s' is already defined at %s (use "
			  "append: true to add to it)", name, where_at);
		return -EINVAL;
	}
	if (li < 0 && append) {
		rule_yerr(d, at, "list '%s' is appended to but not defined "
			  "in an earlier file or item", name);
		return -EINVAL;
	}
	if (li >= 0)
		return li;
	if (RULE_GROW(s->lists, s->alists, s->nlists + 1) < 0)
		return -ENOMEM;
	l = &s->lists[s->nlists];
	*l = (struct rule_list){ .file = file, .line = at->line, .col = at->col };
	l->name = rule_arena_strndup(&s->arena, name, strlen(name));
	if (!l->name || rule_names_put(&s->list_names, l->name,
				       (uint32_t)s->nlists) < 0)
		return -ENOMEM;
	return (int)s->nlists++;
}

static int load_list(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		     const struct rule_ynode *item)
{
	const struct rule_ynode *v[4];
	struct rule_ynode *const *items, *one;
	const char *name;
	size_t n = 0;
	bool append = false;
	int rc = rule_ymap(d, item, "a list", list_keys, v), li;

	if (check_ident(d, v[0], "list name", &name) < 0)
		return -EINVAL;
	if (!v[1]) {
		rule_yerr(d, item, "list '%s' has no 'items'", name);
		return -EINVAL;
	}
	if ((v[2] && rule_ybool(d, v[2], "append", &append) < 0) ||
	    rule_yseq(d, v[1], "items", false, &items, &n, &one) < 0 || rc < 0)
		return -EINVAL;
	li = list_slot(s, d, file, v[0], name, append);
	if (li < 0)
		return li;
	for (size_t i = 0; i < n; i++) {
		struct rule_list *l = &s->lists[li];
		uint32_t idx;

		if ((rc = rule_item_lit(s, d, file, items[i], "a list item",
					true, &idx)) < 0)
			return rc;
		if (RULE_GROW(l->items, l->alloc, l->n + 1) < 0)
			return -ENOMEM;
		l->items[l->n++] = idx;
	}
	return 0;
}

static int load_macro(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		      const struct rule_ynode *item)
{
	const struct rule_ynode *v[3];
	struct rule_macro *m;
	const char *name;
	int rc = rule_ymap(d, item, "a macro", macro_keys, v), mi;

	if (check_ident(d, v[0], "macro name", &name) < 0)
		return -EINVAL;
	mi = rule_names_get(&s->macro_names, name, strlen(name));
	if (mi >= 0) {
		char at[300];

		m = &s->macros[mi];
		where(s, m->file, m->line, m->col, at, sizeof(at));
		rule_yerr(d, v[0], "macro '%s' is already defined at %s",
			  name, at);
		return -EINVAL;
	}
	if (RULE_GROW(s->macros, s->amacros, s->nmacros + 1) < 0)
		return -ENOMEM;
	m = &s->macros[s->nmacros];
	*m = (struct rule_macro){ .file = file, .line = v[0]->line,
				  .col = v[0]->col, .root = RULE_NONE };
	m->name = rule_arena_strndup(&s->arena, name, strlen(name));
	if (!m->name || rule_names_put(&s->macro_names, m->name,
				       (uint32_t)s->nmacros) < 0)
		return -ENOMEM;
	s->nmacros++;
	if (!v[1]) {
		rule_yerr(d, item, "macro '%s' has no 'condition'", name);
		return -EINVAL;
	}
	uint32_t root;
	int prc = rule_expr_parse(s, d, v[1], file, &root);

	if (prc == -ENOMEM)
		return prc;
	if (prc == 0)
		s->macros[s->nmacros - 1].root = root;
	return rc < 0 ? rc : prc;
}

/* The enabled-only form "- rule: X / enabled: false" changes rule X. */
static int toggle_rule(struct rule_set *s, struct rule_ydoc *d,
		       const struct rule_ynode **v, const char *name)
{
	int ri = rule_names_get(&s->rule_names, name, strlen(name));
	bool on;

	if (rule_ybool(d, v[K_ENABLED], "enabled", &on) < 0)
		return -EINVAL;
	if (ri < 0) {
		rule_yerr(d, v[K_RULE], "rule '%s' is not defined in an earlier "
			  "file or item (an item with only 'rule' and "
			  "'enabled' changes an existing rule)", name);
		return -EINVAL;
	}
	s->rules[ri].enabled = on;
	return 0;
}

static int load_rule(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		     const struct rule_ynode *item)
{
	const struct rule_ynode *v[K__N];
	const char *name;
	int rc = rule_ymap(d, item, "a rule", rule_keys, v);
	bool only_enabled = v[K_ENABLED] != NULL;

	if (rule_ystr(d, v[K_RULE], "rule name", true, &name) < 0)
		return -EINVAL;
	if (v[K_RULE]->n > NAME_MAX_LEN) {
		rule_yerr(d, v[K_RULE], "rule name longer than %d bytes",
			  NAME_MAX_LEN);
		return -EINVAL;
	}
	for (int k = K_DESC; k < K__N; k++)
		if (k != K_ENABLED && v[k])
			only_enabled = false;
	if (only_enabled)
		return toggle_rule(s, d, v, name) < 0 || rc < 0 ? -EINVAL : 0;
	int r2 = rule_item_rule(s, d, file, item, v, name);

	return r2 == -ENOMEM ? r2 : (rc < 0 ? rc : r2);
}

int rule_item_load(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		   const struct rule_ynode *item)
{
	int kind = -1, found = 0;

	if (item->type != RULE_Y_MAP) {
		rule_yerr(d, item, "each item must be a mapping with 'rule', "
			  "'macro' or 'list'");
		return -EINVAL;
	}
	for (size_t i = 0; i < item->n; i += 2) {
		const char *k = item->kids[i]->str;

		if (item->kids[i]->type != RULE_Y_SCALAR)
			continue;
		int which = !strcmp(k, "list") ? 0 : !strcmp(k, "macro") ? 1 :
			    !strcmp(k, "rule") ? 2 : -1;

		if (which >= 0 && which != kind) {
			kind = which;
			found++;
		}
	}
	if (found != 1) {
		rule_yerr(d, item, found ? "an item must be exactly one of "
			  "'rule', 'macro' or 'list'" : "each item needs "
			  "'rule', 'macro' or 'list'");
		return -EINVAL;
	}
	if (kind == 0)
		return load_list(s, d, file, item);
	if (kind == 1)
		return load_macro(s, d, file, item);
	if (s->nrules >= RULE_RULES_MAX) {
		rule_yerr(d, item, "more than %u rules", RULE_RULES_MAX);
		return -E2BIG;
	}
	return load_rule(s, d, file, item);
}
