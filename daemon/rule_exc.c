/*
 * rule_exc.c - a rule's condition and its Falco-style exceptions, built
 * into one tree: condition and not (exception or exception ...). An
 * exception names fields and lists tuples of values; a tuple excepts an
 * event when every field compares true with its value.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rule_int.h"

#define EXC_FIELDS_MAX 16
#define EXC_MAX 256

static const char *const exc_keys[] = { "name", "fields", "comps", "values",
					NULL };

static bool takes_list(int op)
{
	return op == RULE_OP_IN || op == RULE_OP_CONTAINS ||
	       op == RULE_OP_ICONTAINS || op == RULE_OP_STARTSWITH ||
	       op == RULE_OP_ENDSWITH || op == RULE_OP_GLOB;
}

static int join(struct rule_set *s, enum rule_op op, const uint32_t *kids,
		size_t n, uint32_t *idx)
{
	int rc;

	if (n == 1) {
		*idx = kids[0];
		return 0;
	}
	if (RULE_GROW(s->kids, s->akids, s->nkids + n) < 0)
		return -ENOMEM;
	memcpy(s->kids + s->nkids, kids, n * sizeof(*kids));
	s->nkids += n;
	if ((rc = rule_expr_new_node(s, op, idx)) < 0)
		return rc;
	s->nodes[*idx].a = (uint32_t)(s->nkids - n);
	s->nodes[*idx].b = (uint32_t)n;
	return 0;
}

/* field OP value, where value is a scalar or (for list operators) a list. */
static int exc_cmp(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		   int field, int op, const struct rule_ynode *val, uint32_t *idx)
{
	struct rule_ynode *const *items, *one;
	uint32_t first = (uint32_t)s->nlits, lit;
	size_t n;
	int rc;

	if (rule_yseq(d, val, "an exception value", takes_list(op), &items,
		      &n, &one) < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((rc = rule_item_lit(s, d, file, items[i], "an exception "
					"value", op == RULE_OP_IN, &lit)) < 0)
			return rc;
	if ((rc = rule_expr_new_node(s, op, idx)) < 0)
		return rc;
	s->nodes[*idx] = (struct rule_node){
		.op = (uint8_t)op, .field = (uint8_t)field,
		.paren = (uint8_t)takes_list(op), .a = first, .b = (uint32_t)n,
		.file = file, .line = val->line, .col = val->col };
	return 0;
}

struct exc {
	int fields[EXC_FIELDS_MAX];
	int comps[EXC_FIELDS_MAX];
	size_t nf;
	bool single;		/* "fields: proc.name": values are one list */
};

static int exc_head(struct rule_ydoc *d, const struct rule_ynode **v,
		   struct exc *e)
{
	struct rule_ynode *const *items, *one;
	size_t n, nc = 0;

	if (rule_yseq(d, v[1], "fields", true, &items, &n, &one) < 0)
		return -EINVAL;
	if (n == 0 || n > EXC_FIELDS_MAX) {
		rule_yerr(d, v[1], "an exception has 1 to %d fields",
			  EXC_FIELDS_MAX);
		return -EINVAL;
	}
	e->single = v[1]->type == RULE_Y_SCALAR;
	e->nf = n;
	for (size_t i = 0; i < n; i++) {
		e->fields[i] = items[i]->type == RULE_Y_SCALAR ?
			rule_field_lookup(items[i]->str, items[i]->n) : -ENOENT;
		if (e->fields[i] < 0) {
			rule_yerr(d, items[i], "unknown field '%.64s' in "
				  "exception", items[i]->type == RULE_Y_SCALAR
				  ? items[i]->str : "");
			return -EINVAL;
		}
		e->comps[i] = e->single ? RULE_OP_IN : RULE_OP_EQ;
	}
	if (v[2] && rule_yseq(d, v[2], "comps", true, &items, &nc, &one) < 0)
		return -EINVAL;
	if (v[2] && nc != n) {
		rule_yerr(d, v[2], "exception has %zu fields but %zu comps", n,
			  nc);
		return -EINVAL;
	}
	for (size_t i = 0; i < nc; i++) {
		int op = items[i]->type == RULE_Y_SCALAR ?
			 rule_op_parse(items[i]->str, items[i]->n) : -ENOENT;

		if (op < 0 || op == RULE_OP_EXISTS ||
		    (e->single && !takes_list(op))) {
			rule_yerr(d, items[i], "bad comparison '%.32s' in "
				  "exception%s", items[i]->type == RULE_Y_SCALAR
				  ? items[i]->str : "", e->single ? " (a single "
				  "field takes in, contains, startswith, "
				  "endswith or glob)" : "");
			return -EINVAL;
		}
		e->comps[i] = op;
	}
	return 0;
}

/* One exception: OR over its value tuples; *none when it has no values. */
static int exc_one(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		   const struct rule_ynode *n, uint32_t *root, bool *none,
		   const char **pname)
{
	const struct rule_ynode *v[5];
	struct rule_ynode *const *tuples, *one, *const *vals;
	uint32_t ands[EXC_FIELDS_MAX], *ors = NULL;
	struct exc e;
	const char *name;
	size_t nt = 0, nv;
	int rc = rule_ymap(d, n, "an exception", exc_keys, v);

	*none = true;
	if (rc < 0)
		return -EINVAL;
	if (!v[0]) {
		rule_yerr(d, n, "an exception needs a 'name'");
		return -EINVAL;
	}
	if (rule_ystr(d, v[0], "exception name", true, &name) < 0)
		return -EINVAL;
	*pname = name;
	if (!v[1]) {
		rule_yerr(d, n, "exception '%s' has no 'fields'", name);
		return -EINVAL;
	}
	if (exc_head(d, v, &e) < 0)
		return -EINVAL;
	if (!v[3])
		return 0;
	if (e.single)
		return (*none = false, exc_cmp(s, d, file, e.fields[0],
					       e.comps[0], v[3], root));
	if (rule_yseq(d, v[3], "values", false, &tuples, &nt, &one) < 0)
		return -EINVAL;
	if (nt == 0)
		return 0;
	if (!(ors = calloc(nt, sizeof(*ors))))
		return -ENOMEM;
	for (size_t t = 0; t < nt && rc == 0; t++) {
		if (rule_yseq(d, tuples[t], "an exception tuple", false, &vals,
			      &nv, &one) < 0) {
			rc = -EINVAL;
		} else if (nv != e.nf) {
			rule_yerr(d, tuples[t], "exception '%s' has %zu fields "
				  "but this tuple has %zu values", name, e.nf,
				  nv);
			rc = -EINVAL;
		}
		for (size_t f = 0; f < e.nf && rc == 0; f++)
			rc = exc_cmp(s, d, file, e.fields[f], e.comps[f],
				     vals[f], &ands[f]);
		if (rc == 0)
			rc = join(s, RULE_OP_AND, ands, e.nf, &ors[t]);
	}
	if (rc == 0)
		rc = join(s, RULE_OP_OR, ors, nt, root);
	*none = rc != 0;
	free(ors);
	return rc;
}

static int exceptions(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		      const struct rule_ynode *n, uint32_t *root, bool *none)
{
	struct rule_ynode *const *items, *one;
	uint32_t roots[EXC_MAX];
	const char *names[EXC_MAX];
	size_t cnt, nr = 0;
	int rc = 0;

	*none = true;
	if (rule_yseq(d, n, "exceptions", false, &items, &cnt, &one) < 0)
		return -EINVAL;
	if (cnt > EXC_MAX) {
		rule_yerr(d, n, "more than %d exceptions", EXC_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < cnt; i++) {
		const char *name = NULL;
		bool empty;
		int r = exc_one(s, d, file, items[i], &roots[nr], &empty, &name);

		if (r == -ENOMEM)
			return r;
		for (size_t j = 0; j < i && name; j++) {
			if (names[j] && !strcmp(names[j], name)) {
				rule_yerr(d, items[i], "duplicate exception "
					  "name '%s'", name);
				r = -EINVAL;
				break;
			}
		}
		names[i] = name;
		if (r < 0)
			rc = r;
		else if (!empty)
			nr++;
	}
	if (rc < 0 || nr == 0)
		return rc;
	*none = false;
	return join(s, RULE_OP_OR, roots, nr, root);
}

int rule_def_condition(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		       const struct rule_ynode **v, struct rule *r)
{
	uint32_t parts[2], exc, not;
	size_t n = 0;
	bool none = true;
	int rc = 0;

	int erc = 0;

	if (v[K_COND]) {
		rc = rule_expr_parse(s, d, v[K_COND], file, &parts[0]);
		n = 1;
	}
	if (v[K_EXCEPTIONS] && rc != -ENOMEM)
		erc = exceptions(s, d, file, v[K_EXCEPTIONS], &exc, &none);
	if (rc < 0 || erc < 0)
		return rc == -ENOMEM || erc == -ENOMEM ? -ENOMEM : -EINVAL;
	if (!none) {
		if ((rc = rule_expr_new_node(s, RULE_OP_NOT, &not)) < 0)
			return rc;
		s->nodes[not].a = exc;
		parts[n++] = not;
	}
	if (n == 0)
		return 0;
	return join(s, RULE_OP_AND, parts, n, &r->cond);
}
