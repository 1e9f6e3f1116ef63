/*
 * rule_eval.c - the second half of conditions: resolution at load time
 * (macros inlined, lists expanded, operators type-checked against fields,
 * macro and list cycles caught, depth capped) and evaluation per event,
 * which walks the compact tree and allocates nothing.
 */
#define _GNU_SOURCE	/* memmem */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rule_int.h"

struct resolve {
	struct rule_set *s;
	uint32_t chain[RULE_EVAL_DEPTH_MAX + 1];	/* macros being resolved */
	unsigned int nchain, stack;
	uint32_t lchain[RULE_EVAL_DEPTH_MAX + 1];	/* lists being expanded */
	unsigned int nlchain;
	uint32_t *tmp;		/* expanded literal indexes */
	size_t ntmp, atmp;
};

static int resolve_node(struct resolve *rs, uint32_t i, unsigned int *depth);

static bool is_cmp(enum rule_op op)
{
	return op >= RULE_OP_EXISTS;
}

/* Append list li's items to rs->tmp, nested list names expanded. */
static int expand_list(struct resolve *rs, uint32_t li, const struct rule_lit *ref)
{
	struct rule_set *s = rs->s;
	struct rule_list *l = &s->lists[li];
	int rc = 0;

	if (l->state == 1) {
		char chain[200] = "";
		unsigned int k = 0;

		while (k < rs->nlchain && rs->lchain[k] != li)
			k++;
		for (; k < rs->nlchain; k++) {
			strncat(chain, s->lists[rs->lchain[k]].name,
				sizeof(chain) - strlen(chain) - 1);
			strncat(chain, " -> ", sizeof(chain) - strlen(chain) - 1);
		}
		strncat(chain, l->name, sizeof(chain) - strlen(chain) - 1);
		rule_set_err(s, ref->file, ref->line, ref->col,
			     "list cycle: %s", chain);
		return -EINVAL;
	}
	if (rs->nlchain >= RULE_EVAL_DEPTH_MAX) {
		rule_set_err(s, ref->file, ref->line, ref->col,
			     "lists nested deeper than %d", RULE_EVAL_DEPTH_MAX);
		return -EINVAL;
	}
	rs->lchain[rs->nlchain++] = li;
	l->state = 1;
	for (size_t k = 0; k < l->n && rc == 0; k++) {
		const struct rule_lit *it = &s->lits[l->items[k]];
		int sub = it->bare ? rule_names_get(&s->list_names, it->s,
						    it->len) : -ENOENT;

		if (sub >= 0) {
			rc = expand_list(rs, (uint32_t)sub, it);
			continue;
		}
		rc = RULE_GROW(rs->tmp, rs->atmp, rs->ntmp + 1);
		if (rc == 0)
			rs->tmp[rs->ntmp++] = l->items[k];
	}
	s->lists[li].state = 0;
	rs->nlchain--;
	return rc;
}

static int lit_cmp_str(const void *a, const void *b)
{
	const struct rule_lit *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->s, y->s, x->len);
}

static int lit_cmp_int(const void *a, const void *b)
{
	const struct rule_lit *x = a, *y = b;

	return x->i < y->i ? -1 : x->i > y->i;
}

static bool value_allowed(const struct rule_field_info *fi, const char *v)
{
	for (size_t k = 0; fi->values[k]; k++)
		if (!strcmp(fi->values[k], v))
			return true;
	return false;
}

/*
 * Is the literal usable with this field and operator? Reports if not, at
 * the literal, or at the list reference via when it came from a list.
 */
static int check_lit(struct rule_set *s, const struct rule_node *n,
		     const struct rule_lit *l, const struct rule_lit *via)
{
	const struct rule_field_info *fi = rule_field_info(n->field);
	const struct rule_lit *at = via ? via : l;
	char from[120] = "";

	if (via)
		snprintf(from, sizeof(from), " (item of list '%.40s' at line "
			 "%u column %u)", via->s, l->line, l->col);
	if (fi->type == RULE_T_INT && !l->is_int) {
		rule_set_err(s, at->file, at->line, at->col, "%s is an integer "
			     "field: '%.64s'%s is not a 64-bit integer",
			     fi->name, l->s, from);
		return -EINVAL;
	}
	if (fi->values && (n->op == RULE_OP_EQ || n->op == RULE_OP_NE ||
			   n->op == RULE_OP_IN) && !value_allowed(fi, l->s)) {
		char all[160] = "";

		for (size_t k = 0; fi->values[k]; k++) {
			strncat(all, k ? ", " : "", sizeof(all) - strlen(all) - 1);
			strncat(all, fi->values[k], sizeof(all) - strlen(all) - 1);
		}
		rule_set_err(s, at->file, at->line, at->col, "'%.64s'%s is not "
			     "a value of %s (one of: %s)", l->s, from, fi->name,
			     all);
		return -EINVAL;
	}
	return 0;
}

static int check_op(struct rule_set *s, const struct rule_node *n)
{
	const struct rule_field_info *fi = rule_field_info(n->field);
	enum rule_op op = n->op;
	bool ord = op == RULE_OP_LT || op == RULE_OP_LE || op == RULE_OP_GT ||
		   op == RULE_OP_GE;
	bool strop = op == RULE_OP_CONTAINS || op == RULE_OP_ICONTAINS ||
		     op == RULE_OP_STARTSWITH || op == RULE_OP_ENDSWITH ||
		     op == RULE_OP_GLOB;

	if ((fi->type == RULE_T_STR && ord) || (fi->type == RULE_T_INT && strop)) {
		rule_set_err(s, n->file, n->line, n->col, "type error: "
			     "operator '%s' does not apply to %s field %s",
			     rule_op_name(op), fi->type == RULE_T_STR ?
			     "string" : "integer", fi->name);
		return -EINVAL;
	}
	return 0;
}

/* Values in place for evaluation: contiguous, lower-cased, sorted. */
static int finish_values(struct resolve *rs, struct rule_node *n,
			 bool expanded)
{
	struct rule_set *s = rs->s;

	if (expanded) {
		/* copy the expanded values to the end, contiguous again */
		if (s->nlits + rs->ntmp >= RULE_NONE ||
		    RULE_GROW(s->lits, s->alits, s->nlits + rs->ntmp) < 0)
			return -ENOMEM;
		for (size_t k = 0; k < rs->ntmp; k++)
			s->lits[s->nlits + k] = s->lits[rs->tmp[k]];
		n->a = (uint32_t)s->nlits;
		n->b = (uint32_t)rs->ntmp;
		s->nlits += rs->ntmp;
	}
	if (n->op == RULE_OP_ICONTAINS) {
		/* lower-case copies: list strings are shared with other uses */
		for (uint32_t k = 0; k < n->b; k++) {
			struct rule_lit *l = &s->lits[n->a + k];
			char *c = rule_arena_strndup(&s->arena, l->s, l->len);

			if (!c)
				return -ENOMEM;
			for (uint32_t j = 0; j < l->len; j++)
				c[j] = (char)tolower((unsigned char)c[j]);
			l->s = c;
		}
	}
	if (n->op == RULE_OP_IN)
		qsort(s->lits + n->a, n->b, sizeof(*s->lits),
		      n->type == RULE_T_INT ? lit_cmp_int : lit_cmp_str);
	return 0;
}

/* Expand list references among a comparison's values and check them. */
static int resolve_cmp(struct resolve *rs, uint32_t i)
{
	struct rule_set *s = rs->s;
	struct rule_node *n = &s->nodes[i];
	bool expanded = false;
	int rc;

	n->finding = rule_field_info(n->field)->finding;
	n->type = (uint8_t)rule_field_info(n->field)->type;
	if (n->op == RULE_OP_EXISTS)
		return 0;
	if ((rc = check_op(s, n)) < 0)
		return rc;
	rs->ntmp = 0;
	for (uint32_t k = 0; k < n->b; k++) {
		const struct rule_lit *l = &s->lits[n->a + k];
		int li = n->paren && l->bare ?
			 rule_names_get(&s->list_names, l->s, l->len) : -ENOENT;
		size_t start = rs->ntmp;

		if (li >= 0) {
			expanded = true;
			if ((rc = expand_list(rs, (uint32_t)li, l)) < 0)
				return rc;
		} else {
			if ((rc = RULE_GROW(rs->tmp, rs->atmp, rs->ntmp + 1)) < 0)
				return rc;
			rs->tmp[rs->ntmp++] = n->a + k;
		}
		for (size_t j = start; j < rs->ntmp; j++)
			if ((rc = check_lit(s, &s->nodes[i], &s->lits[rs->tmp[j]],
					    li >= 0 ? &s->lits[n->a + k] : NULL)) < 0)
				return rc;
		n = &s->nodes[i];
	}
	return finish_values(rs, &s->nodes[i], expanded);
}

static int macro_error(struct resolve *rs, const struct rule_node *n,
		       const char *name)
{
	struct rule_set *s = rs->s;
	char chain[200] = "";
	size_t k = 0;

	if (rule_names_get(&s->list_names, name, strlen(name)) >= 0) {
		rule_set_err(s, n->file, n->line, n->col, "'%s' is a list, not "
			     "a macro: use it as FIELD in (%s)", name, name);
		return -EINVAL;
	}
	int mi = rule_names_get(&s->macro_names, name, strlen(name));

	if (mi < 0) {
		rule_set_err(s, n->file, n->line, n->col, "undefined macro '%s'",
			     name);
		return -EINVAL;
	}
	while (k < rs->nchain && rs->chain[k] != (uint32_t)mi)
		k++;
	for (; k < rs->nchain; k++) {
		strncat(chain, s->macros[rs->chain[k]].name,
			sizeof(chain) - strlen(chain) - 1);
		strncat(chain, " -> ", sizeof(chain) - strlen(chain) - 1);
	}
	strncat(chain, name, sizeof(chain) - strlen(chain) - 1);
	rule_set_err(s, n->file, n->line, n->col, "macro cycle: %s", chain);
	return -EINVAL;
}

static int resolve_macro(struct resolve *rs, uint32_t mi)
{
	struct rule_macro *m = &rs->s->macros[mi];
	unsigned int depth = 0;
	int rc;

	if (m->root == RULE_NONE) {
		m->state = 3;
		return -EINVAL;
	}
	m->state = 1;
	rs->chain[rs->nchain++] = mi;
	rc = resolve_node(rs, m->root, &depth);
	rs->nchain--;
	m = &rs->s->macros[mi];
	m->state = rc < 0 ? 3 : 2;
	m->depth = (uint16_t)depth;
	return rc;
}

static int resolve_ref(struct resolve *rs, uint32_t i, unsigned int *depth)
{
	struct rule_set *s = rs->s;
	const char *name = s->lits[s->nodes[i].a].s;
	int mi = rule_names_get(&s->macro_names, name, strlen(name));
	int rc;

	if (mi < 0 || s->macros[mi].state == 1)
		return macro_error(rs, &s->nodes[i], name);
	if (s->macros[mi].state == 0) {
		if (rs->nchain >= RULE_EVAL_DEPTH_MAX) {
			rule_set_err(s, s->nodes[i].file, s->nodes[i].line,
				     s->nodes[i].col, "macros nested deeper "
				     "than %d", RULE_EVAL_DEPTH_MAX);
			return -EINVAL;
		}
		if ((rc = resolve_macro(rs, (uint32_t)mi)) < 0)
			return rc;
	}
	if (s->macros[mi].state == 3)
		return -EINVAL;	/* reported where the macro is defined */
	/* inline: the reference becomes a copy of the macro's root */
	s->nodes[i] = s->nodes[s->macros[mi].root];
	*depth = s->macros[mi].depth;
	return 0;
}

static int resolve_node(struct resolve *rs, uint32_t i, unsigned int *depth)
{
	struct rule_set *s = rs->s;
	unsigned int d = 0, sub;
	int rc = 0;

	if (++rs->stack > RULE_EVAL_DEPTH_MAX) {
		struct rule_node *n = &s->nodes[i];

		rule_set_err(s, n->file, n->line, n->col, "condition nests "
			     "deeper than %d (macros included)",
			     RULE_EVAL_DEPTH_MAX);
		rs->stack--;
		return -EINVAL;
	}
	switch (s->nodes[i].op) {
	case RULE_OP_AND:
	case RULE_OP_OR:
		for (uint32_t k = 0; k < s->nodes[i].b; k++) {
			uint32_t kid = s->kids[s->nodes[i].a + k];
			int r = resolve_node(rs, kid, &sub);

			if (r < 0) {
				rc = r;	/* keep going: report every error */
				continue;
			}
			d = sub > d ? sub : d;
			s->nodes[i].finding |= s->nodes[kid].finding;
		}
		break;
	case RULE_OP_NOT:
		rc = resolve_node(rs, s->nodes[i].a, &d);
		s->nodes[i].finding = s->nodes[s->nodes[i].a].finding;
		break;
	case RULE_OP_MACRO:
		rc = resolve_ref(rs, i, &d);
		d = d ? d - 1 : 0;	/* the copy replaces this level */
		break;
	case RULE_OP_TRUE:
		break;
	default:
		rc = resolve_cmp(rs, i);
		break;
	}
	rs->stack--;
	*depth = d + 1;
	return rc;
}

int rule_expr_resolve(struct rule_set *s, uint32_t root, unsigned int *depth)
{
	struct resolve rs = { .s = s };
	int rc = resolve_node(&rs, root, depth);

	free(rs.tmp);
	if (rc == 0 && *depth > RULE_EVAL_DEPTH_MAX) {
		const struct rule_node *n = &s->nodes[root];

		rule_set_err(s, n->file, n->line, n->col, "condition nests "
			     "deeper than %d (macros included)",
			     RULE_EVAL_DEPTH_MAX);
		rc = -EINVAL;
	}
	return rc;
}

/* Every macro, used or not, so that errors in unused ones are reported. */
int rule_expr_resolve_macros(struct rule_set *s)
{
	struct resolve rs = { .s = s };
	int rc = 0;

	for (size_t m = 0; m < s->nmacros; m++) {
		if (s->macros[m].state != 0)
			continue;
		if (resolve_macro(&rs, (uint32_t)m) < 0)
			rc = -EINVAL;
	}
	free(rs.tmp);
	return rc;
}

/* The first comparison on a finding-only field under root, for errors. */
int rule_expr_first_finding(const struct rule_set *s, uint32_t root,
			    uint32_t *node)
{
	const struct rule_node *n = &s->nodes[root];

	if (!n->finding)
		return -ENOENT;
	if (is_cmp(n->op)) {
		*node = root;
		return 0;
	}
	if (n->op == RULE_OP_NOT)
		return rule_expr_first_finding(s, n->a, node);
	for (uint32_t k = 0; k < n->b; k++)
		if (rule_expr_first_finding(s, s->kids[n->a + k], node) == 0)
			return 0;
	return -ENOENT;
}

static bool icontains(const char *s, size_t len, const char *lower, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i + n <= len; i++) {
		size_t k = 0;

		while (k < n && tolower((unsigned char)s[i + k]) == lower[k])
			k++;
		if (k == n)
			return true;
	}
	return false;
}

static bool str_op(enum rule_op op, const struct rule_lit *l, const char *s,
		   size_t len)
{
	switch (op) {
	case RULE_OP_CONTAINS:
		return memmem(s, len, l->s, l->len) != NULL;
	case RULE_OP_ICONTAINS:
		return icontains(s, len, l->s, l->len);
	case RULE_OP_STARTSWITH:
		return len >= l->len && !memcmp(s, l->s, l->len);
	case RULE_OP_ENDSWITH:
		return len >= l->len && !memcmp(s + len - l->len, l->s, l->len);
	case RULE_OP_GLOB:
		return rule_glob(l->s, s, len);
	default:
		return len == l->len && !memcmp(s, l->s, len);
	}
}

static bool str_in(const struct rule_lit *l, uint32_t n, const char *s,
		   size_t len)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = l[mid].len != len ? (l[mid].len < len ? -1 : 1)
					  : memcmp(l[mid].s, s, len);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool int_in(const struct rule_lit *l, uint32_t n, int64_t v)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (l[mid].i == v)
			return true;
		if (l[mid].i < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool eval_cmp(const struct rule_set *s, const struct rule_node *n,
		     const struct rule_env *env)
{
	const struct rule_lit *l = s->lits + n->a;
	struct rule_value v;

	if (env->get(env->ctx, n->field, &v) != 0 || v.type != n->type)
		return false;
	if (n->op == RULE_OP_EXISTS)
		return true;
	if (n->type == RULE_T_INT) {
		switch (n->op) {
		case RULE_OP_EQ: return v.i == l->i;
		case RULE_OP_NE: return v.i != l->i;
		case RULE_OP_LT: return v.i < l->i;
		case RULE_OP_LE: return v.i <= l->i;
		case RULE_OP_GT: return v.i > l->i;
		case RULE_OP_GE: return v.i >= l->i;
		case RULE_OP_IN: return int_in(l, n->b, v.i);
		default: return false;
		}
	}
	if (!v.s)
		return false;
	if (n->op == RULE_OP_NE)
		return !str_op(RULE_OP_EQ, l, v.s, v.len);
	if (n->op == RULE_OP_IN)
		return str_in(l, n->b, v.s, v.len);
	for (uint32_t k = 0; k < n->b; k++)
		if (str_op(n->op, &l[k], v.s, v.len))
			return true;
	return false;
}

static bool eval(const struct rule_set *s, uint32_t i,
		 const struct rule_env *env)
{
	const struct rule_node *n = &s->nodes[i];

	switch (n->op) {
	case RULE_OP_AND:
		for (uint32_t k = 0; k < n->b; k++)
			if (!eval(s, s->kids[n->a + k], env))
				return false;
		return true;
	case RULE_OP_OR:
		for (uint32_t k = 0; k < n->b; k++)
			if (eval(s, s->kids[n->a + k], env))
				return true;
		return false;
	case RULE_OP_NOT:
		return !eval(s, n->a, env);
	case RULE_OP_TRUE:
		return true;
	default:
		return eval_cmp(s, n, env);
	}
}

bool rule_expr_eval(const struct rule_set *s, uint32_t root,
		    const struct rule_env *env)
{
	return root == RULE_NONE || eval(s, root, env);
}
