/*
 * rule_expr.c - condition text to expression nodes: a lexer and a
 * recursive-descent parser (precedence: not > and > or), with nesting
 * capped and every node positioned at file:line:column. Fields are checked
 * here; macro and list names are resolved later (rule_eval.c) so that
 * definitions may come in any order and across files.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule_int.h"

enum tok_kind { T_END, T_LP, T_RP, T_COMMA, T_OP, T_WORD, T_STR };

struct tok {
	enum tok_kind kind;
	const char *s;		/* T_WORD: in the source; T_STR: unescaped */
	size_t len, off;
	int op;			/* T_OP, or a keyword operator for T_WORD */
};

struct parser {
	struct rule_set *s;
	struct rule_ydoc *d;
	struct rule_ycur cur;
	uint32_t file;
	const char *src;
	size_t len, pos;
	struct tok t;
	int depth;
	bool failed;
};

static const struct {
	const char *name;
	enum rule_op op;
} ops[] = {
	{ "=", RULE_OP_EQ }, { "==", RULE_OP_EQ }, { "!=", RULE_OP_NE },
	{ "<", RULE_OP_LT }, { "<=", RULE_OP_LE }, { ">", RULE_OP_GT },
	{ ">=", RULE_OP_GE }, { "in", RULE_OP_IN },
	{ "contains", RULE_OP_CONTAINS }, { "icontains", RULE_OP_ICONTAINS },
	{ "startswith", RULE_OP_STARTSWITH }, { "endswith", RULE_OP_ENDSWITH },
	{ "glob", RULE_OP_GLOB }, { "exists", RULE_OP_EXISTS },
};

int rule_op_parse(const char *w, size_t len)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strlen(ops[i].name) == len && !memcmp(ops[i].name, w, len))
			return (int)ops[i].op;
	return -ENOENT;
}

const char *rule_op_name(enum rule_op op)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (ops[i].op == op)
			return ops[i].name;
	return "?";
}

int rule_expr_new_node(struct rule_set *s, enum rule_op op, uint32_t *idx)
{
	if (s->nnodes >= RULE_NONE - 1 ||
	    RULE_GROW(s->nodes, s->anodes, s->nnodes + 1) < 0)
		return -ENOMEM;
	s->nodes[s->nnodes] = (struct rule_node){ .op = (uint8_t)op,
						  .a = RULE_NONE };
	*idx = (uint32_t)s->nnodes++;
	return 0;
}

/* Integer literal: decimal (optionally negative) or 0x hex, no overflow. */
static bool parse_int(const char *w, size_t len, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	uint64_t v = 0, base = 10, lim;

	if (len && w[0] == '-') {
		neg = true;
		i = 1;
	}
	if (len - i > 2 && w[i] == '0' && (w[i + 1] == 'x' || w[i + 1] == 'X')) {
		base = 16;
		i += 2;
	}
	if (i >= len)
		return false;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		int c = (unsigned char)w[i], dv;

		if (isdigit(c))
			dv = c - '0';
		else if (base == 16 && isxdigit(c))
			dv = tolower(c) - 'a' + 10;
		else
			return false;
		if (v > (lim - (uint64_t)dv) / base)
			return false;
		v = v * base + (uint64_t)dv;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

int rule_expr_new_lit(struct rule_set *s, const char *str, size_t len,
		      bool bare, uint32_t *idx)
{
	struct rule_lit *l;
	char *copy;

	if (s->nlits >= RULE_NONE - 1 ||
	    RULE_GROW(s->lits, s->alits, s->nlits + 1) < 0)
		return -ENOMEM;
	copy = rule_arena_strndup(&s->arena, str, len);
	if (!copy)
		return -ENOMEM;
	l = &s->lits[s->nlits];
	*l = (struct rule_lit){ .s = copy, .len = (uint32_t)len,
				.bare = bare };
	l->is_int = parse_int(str, len, &l->i);
	*idx = (uint32_t)s->nlits++;
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int perr(struct parser *p, size_t off, const char *fmt, ...)
{
	char msg[RULE_ERR_MSG];
	unsigned int line, col;
	va_list ap;

	if (p->failed)
		return -EINVAL;
	p->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rule_ycur_pos(&p->cur, off, &line, &col);
	rule_yerr_at(p->d, line, col, "%s", msg);
	return -EINVAL;
}

static void place(struct parser *p, size_t off, uint32_t *line, uint32_t *col)
{
	unsigned int l, c;

	rule_ycur_pos(&p->cur, off, &l, &c);
	*line = l;
	*col = c;
}

static bool word_char(const struct parser *p, size_t i)
{
	char c = p->src[i];

	if (isspace((unsigned char)c) || c == '(' || c == ')' || c == ',' ||
	    c == '"' || c == '\'' || c == '=' || c == '<' || c == '>')
		return false;
	return !(c == '!' && i + 1 < p->len && p->src[i + 1] == '=');
}

/* A quoted string: '...' or "..." with \\ \" \' escapes. */
static int lex_string(struct parser *p)
{
	char q = p->src[p->pos];
	size_t start = p->pos + 1, end = start, n = 0;
	char *out;

	while (end < p->len && p->src[end] != q) {
		if (p->src[end] == '\\' && end + 1 < p->len)
			end++;
		end++;
		n++;
	}
	if (end >= p->len)
		return perr(p, start - 1, "unterminated string (missing %c)", q);
	out = rule_arena_alloc(&p->s->arena, n + 1);
	if (!out)
		return -ENOMEM;
	n = 0;
	for (size_t i = start; i < end; i++) {
		if (p->src[i] == '\\' && i + 1 < end)
			i++;
		out[n++] = p->src[i];
	}
	out[n] = 0;
	p->pos = end + 1;
	p->t = (struct tok){ .kind = T_STR, .s = out, .len = n,
			     .off = start - 1 };
	return 0;
}

static int lex(struct parser *p)
{
	const char *c;

	while (p->pos < p->len && isspace((unsigned char)p->src[p->pos]))
		p->pos++;
	p->t = (struct tok){ .kind = T_END, .off = p->pos };
	if (p->pos >= p->len)
		return 0;
	c = p->src + p->pos;
	if (*c == '(' || *c == ')' || *c == ',') {
		p->t.kind = *c == '(' ? T_LP : *c == ')' ? T_RP : T_COMMA;
		p->t.s = c;
		p->t.len = 1;
		p->pos++;
		return 0;
	}
	if (*c == '"' || *c == '\'')
		return lex_string(p);
	if (*c == '=' || *c == '<' || *c == '>' || *c == '!') {
		size_t n = p->pos + 1 < p->len && c[1] == '=' ? 2 : 1;

		p->t.op = rule_op_parse(c, n);
		if (p->t.op < 0)
			return perr(p, p->pos, "unknown operator '%.*s'",
				    (int)n, c);
		p->t.kind = T_OP;
		p->t.s = c;
		p->t.len = n;
		p->pos += n;
		return 0;
	}
	while (p->pos < p->len && word_char(p, p->pos))
		p->pos++;
	p->t.kind = T_WORD;
	p->t.s = c;
	p->t.len = (size_t)(p->src + p->pos - c);
	p->t.op = rule_op_parse(c, p->t.len);
	return 0;
}

static bool is_word(const struct parser *p, const char *w)
{
	return p->t.kind == T_WORD && p->t.len == strlen(w) &&
	       !memcmp(p->t.s, w, p->t.len);
}

static const char *tok_desc(const struct parser *p, char *buf, size_t len)
{
	if (p->t.kind == T_END)
		return "the end of the condition";
	snprintf(buf, len, "'%.*s'", (int)(p->t.len > 40 ? 40 : p->t.len),
		 p->t.s);
	return buf;
}

static int parse_or(struct parser *p, uint32_t *out);

static int add_lit(struct parser *p, uint32_t *idx)
{
	struct rule_lit *l;
	int rc;

	if (p->t.kind != T_WORD && p->t.kind != T_STR) {
		char b[64];

		return perr(p, p->t.off, "expected a value, found %s",
			    tok_desc(p, b, sizeof(b)));
	}
	if (p->t.kind == T_WORD && rule_field_lookup(p->t.s, p->t.len) >= 0)
		return perr(p, p->t.off, "comparing two fields is not supported "
			    "(quote '%.*s' to compare with that text)",
			    (int)p->t.len, p->t.s);
	rc = rule_expr_new_lit(p->s, p->t.s, p->t.len, p->t.kind == T_WORD,
			       idx);
	if (rc < 0)
		return rc;
	l = &p->s->lits[*idx];
	l->file = p->file;
	place(p, p->t.off, &l->line, &l->col);
	return lex(p);
}

/* "( v, v, ... )": literals stored contiguously from *first. */
static int parse_values(struct parser *p, uint32_t *first, uint32_t *n)
{
	uint32_t idx;
	int rc;

	*first = (uint32_t)p->s->nlits;
	*n = 0;
	if ((rc = lex(p)) < 0)
		return rc;
	while (p->t.kind != T_RP) {
		if (*n) {
			char b[64];

			if (p->t.kind != T_COMMA)
				return perr(p, p->t.off, "expected ',' or ')' "
					    "in the value list, found %s",
					    tok_desc(p, b, sizeof(b)));
			if ((rc = lex(p)) < 0)
				return rc;
		}
		if (p->t.kind == T_END)
			return perr(p, p->t.off, "missing ')' to close the "
				    "value list");
		if ((rc = add_lit(p, &idx)) < 0)
			return rc;
		(*n)++;
	}
	return lex(p);
}

static int parse_cmp(struct parser *p, int field, size_t foff, uint32_t *out)
{
	struct rule_node *nd;
	uint32_t idx;
	int op = p->t.op, rc;

	if ((p->t.kind != T_OP && p->t.kind != T_WORD) || op < 0) {
		char b[64];

		return perr(p, p->t.off, "expected an operator after %s, "
			    "found %s", rule_field_info(field)->name,
			    tok_desc(p, b, sizeof(b)));
	}
	if ((rc = rule_expr_new_node(p->s, op, &idx)) < 0)
		return rc;
	nd = &p->s->nodes[idx];
	nd->field = (uint8_t)field;
	nd->file = p->file;
	place(p, foff, &nd->line, &nd->col);
	*out = idx;
	if ((rc = lex(p)) < 0)
		return rc;
	if (op == RULE_OP_EXISTS)
		return 0;
	if (p->t.kind == T_LP) {
		uint32_t first, n;

		if (op != RULE_OP_IN && op != RULE_OP_CONTAINS &&
		    op != RULE_OP_ICONTAINS && op != RULE_OP_STARTSWITH &&
		    op != RULE_OP_ENDSWITH && op != RULE_OP_GLOB)
			return perr(p, p->t.off, "operator '%s' takes one "
				    "value, not a list (use 'in')",
				    rule_op_name(op));
		if ((rc = parse_values(p, &first, &n)) < 0)
			return rc;
		nd = &p->s->nodes[idx];
		nd->a = first;
		nd->b = n;
		nd->paren = 1;
		return 0;
	}
	if (op == RULE_OP_IN)
		return perr(p, p->t.off, "'in' needs a list in parentheses: "
			    "%s in (a, b) or %s in (list_name)",
			    rule_field_info(field)->name,
			    rule_field_info(field)->name);
	if ((rc = add_lit(p, &p->s->nodes[idx].a)) < 0)
		return rc;
	p->s->nodes[idx].b = 1;
	return 0;
}

static bool is_ident(const char *w, size_t len)
{
	if (!len || !(isalpha((unsigned char)w[0]) || w[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!isalnum((unsigned char)w[i]) && w[i] != '_')
			return false;
	return true;
}

static int parse_primary(struct parser *p, uint32_t *out)
{
	size_t off = p->t.off;
	int field, rc;
	char b[64];

	if (p->t.kind == T_LP) {
		uint32_t line, col;

		if (++p->depth > RULE_EXPR_DEPTH_MAX)
			return perr(p, off, "condition nested deeper than %d "
				    "levels", RULE_EXPR_DEPTH_MAX);
		place(p, off, &line, &col);
		if ((rc = lex(p)) < 0 || (rc = parse_or(p, out)) < 0)
			return rc;
		if (p->t.kind != T_RP)
			return perr(p, p->t.off, "expected ')' to close the "
				    "'(' at line %u column %u, found %s", line,
				    col, tok_desc(p, b, sizeof(b)));
		p->depth--;
		return lex(p);
	}
	if (p->t.kind != T_WORD || p->t.op >= 0 || is_word(p, "and") ||
	    is_word(p, "or"))
		return perr(p, off, "expected a field, a macro name or '(', "
			    "found %s", tok_desc(p, b, sizeof(b)));
	field = rule_field_lookup(p->t.s, p->t.len);
	if (field >= 0) {
		if ((rc = lex(p)) < 0)
			return rc;
		return parse_cmp(p, field, off, out);
	}
	if (memchr(p->t.s, '.', p->t.len))
		return perr(p, off, "unknown field '%.*s' (see rules/README.md "
			    "for the fields)", (int)p->t.len, p->t.s);
	if (!is_ident(p->t.s, p->t.len))
		return perr(p, off, "expected a field, a macro name or '(', "
			    "found %s", tok_desc(p, b, sizeof(b)));
	if ((rc = rule_expr_new_node(p->s, RULE_OP_MACRO, out)) < 0 ||
	    (rc = rule_expr_new_lit(p->s, p->t.s, p->t.len, true,
				    &p->s->nodes[*out].a)) < 0)
		return rc;
	p->s->nodes[*out].file = p->file;
	place(p, off, &p->s->nodes[*out].line, &p->s->nodes[*out].col);
	return lex(p);
}

static int parse_not(struct parser *p, uint32_t *out)
{
	uint32_t idx, kid;
	int rc;

	if (!is_word(p, "not"))
		return parse_primary(p, out);
	if (++p->depth > RULE_EXPR_DEPTH_MAX)
		return perr(p, p->t.off, "condition nested deeper than %d "
			    "levels", RULE_EXPR_DEPTH_MAX);
	if ((rc = lex(p)) < 0 || (rc = parse_not(p, &kid)) < 0)
		return rc;
	p->depth--;
	if ((rc = rule_expr_new_node(p->s, RULE_OP_NOT, &idx)) < 0)
		return rc;
	p->s->nodes[idx].a = kid;
	*out = idx;
	return 0;
}

/* n-ary and/or: children gathered, then stored contiguously in kids. */
static int parse_chain(struct parser *p, const char *kw, enum rule_op op,
		       int (*sub)(struct parser *, uint32_t *), uint32_t *out)
{
	uint32_t local[16], *v = local, idx;
	size_t n = 0, alloc = 16;
	int rc;

	if ((rc = sub(p, &local[0])) < 0)
		return rc;
	n = 1;
	while (is_word(p, kw)) {
		if (n == alloc) {
			uint32_t *nv = v == local ? malloc(alloc * 2 * sizeof(*v))
						  : realloc(v, alloc * 2 * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				goto out_free;
			}
			if (v == local)
				memcpy(nv, local, sizeof(local));
			v = nv;
			alloc *= 2;
		}
		if ((rc = lex(p)) < 0 || (rc = sub(p, &v[n])) < 0)
			goto out_free;
		n++;
	}
	if (n == 1) {
		*out = v[0];
		rc = 0;
		goto out_free;
	}
	if ((rc = rule_expr_new_node(p->s, op, &idx)) < 0 ||
	    (rc = RULE_GROW(p->s->kids, p->s->akids, p->s->nkids + n)) < 0)
		goto out_free;
	memcpy(p->s->kids + p->s->nkids, v, n * sizeof(*v));
	p->s->nodes[idx].a = (uint32_t)p->s->nkids;
	p->s->nodes[idx].b = (uint32_t)n;
	p->s->nkids += n;
	*out = idx;
out_free:
	if (v != local)
		free(v);
	return rc;
}

static int parse_and(struct parser *p, uint32_t *out)
{
	return parse_chain(p, "and", RULE_OP_AND, parse_not, out);
}

static int parse_or(struct parser *p, uint32_t *out)
{
	return parse_chain(p, "or", RULE_OP_OR, parse_and, out);
}

int rule_expr_parse(struct rule_set *s, struct rule_ydoc *d,
		    const struct rule_ynode *n, uint32_t file, uint32_t *root)
{
	struct parser p = { .s = s, .d = d, .file = file };
	char b[64];
	int rc;

	if (n->type != RULE_Y_SCALAR) {
		rule_yerr(d, n, "condition must be a string");
		return -EINVAL;
	}
	rule_ycur_init(&p.cur, d, n);
	p.src = n->str;
	p.len = n->n;
	if ((rc = lex(&p)) < 0)
		return rc;
	if (p.t.kind == T_END) {
		rule_yerr(d, n, "condition is empty");
		return -EINVAL;
	}
	if ((rc = parse_or(&p, root)) < 0)
		return p.failed ? -EINVAL : rc;
	if (p.t.kind != T_END)
		return perr(&p, p.t.off, "expected 'and', 'or' or the end of "
			    "the condition, found %s", tok_desc(&p, b, sizeof(b)));
	return 0;
}
