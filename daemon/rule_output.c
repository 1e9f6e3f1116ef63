/*
 * rule_output.c - output templates: "%proc.name (pid %proc.pid)" split at
 * load time into literal spans and field references (unknown fields are
 * load errors, with their position), and expanded per alert into a caller
 * buffer with guest-supplied bytes escaped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rule_int.h"

static int add_seg(struct rule_set *s, const char *str, size_t len, int field)
{
	if (RULE_GROW(s->segs, s->asegs, s->nsegs + 1) < 0)
		return -ENOMEM;
	s->segs[s->nsegs++] = (struct rule_seg){ .s = str,
						 .len = (uint32_t)len,
						 .field = field };
	return 0;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* One %field at text[i] (after the '%'); returns the field or -EINVAL. */
static int template_field(struct rule_ydoc *d, struct rule_ycur *cur, const struct rule *r,
			  const char *text, size_t i, size_t *end)
{
	size_t j = i;
	unsigned int line, col;
	int f;

	while (text[j] && name_char(text[j]))
		j++;
	while (j > i && text[j - 1] == '.')	/* "%proc.name." ends a sentence */
		j--;
	f = j > i ? rule_field_lookup(text + i, j - i) : -ENOENT;
	rule_ycur_pos(cur, i - 1, &line, &col);
	if (f < 0 && j == i) {
		rule_yerr_at(d, line, col, "'%%' in output must be followed by "
			     "a field name (write %%%% for a literal %%)");
		return -EINVAL;
	}
	if (f < 0) {
		rule_yerr_at(d, line, col, "unknown field '%%%.*s' in output "
			     "(write %%%% for a literal %%)",
			     (int)(j - i > 64 ? 64 : j - i), text + i);
		return -EINVAL;
	}
	if (rule_field_info(f)->finding && !rule_is_finding_rule(r)) {
		rule_yerr_at(d, line, col, "rule '%s' outputs %s, which only "
			     "findings have: add 'upcall' or 'crosscheck'",
			     r->name, rule_field_info(f)->name);
		return -EINVAL;
	}
	*end = j;
	return f;
}

int rule_output_parse(struct rule_set *s, struct rule_ydoc *d,
		      const struct rule_ynode *n, struct rule *r)
{
	/* literal spans point into this copy: the YAML tree is freed */
	const char *text = rule_arena_strndup(&s->arena, n->str, n->n);
	struct rule_ycur cur;
	size_t lit = 0, i = 0;
	int rc = 0;

	if (!text)
		return -ENOMEM;
	rule_ycur_init(&cur, d, n);
	r->out_first = (uint32_t)s->nsegs;
	while (i < n->n) {
		size_t end;
		int f;

		if (text[i] != '%') {
			i++;
			continue;
		}
		if (i > lit && add_seg(s, text + lit, i - lit, -1) < 0)
			return -ENOMEM;
		if (text[i + 1] == '%') {
			if (add_seg(s, "%", 1, -1) < 0)
				return -ENOMEM;
			lit = i = i + 2;
			continue;
		}
		f = template_field(d, &cur, r, text, i + 1, &end);
		if (f < 0) {
			rc = -EINVAL;
			end = i + 1;
		} else if (add_seg(s, NULL, 0, f) < 0) {
			return -ENOMEM;
		}
		lit = i = end;
	}
	if (i > lit && add_seg(s, text + lit, i - lit, -1) < 0)
		return -ENOMEM;
	r->out_n = (uint32_t)(s->nsegs - r->out_first);
	return rc;
}

struct out {
	char *buf;
	size_t len, used;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->used < o->len) {
		size_t room = o->len - o->used - 1;

		memcpy(o->buf + o->used, s, n < room ? n : room);
	}
	o->used += n;
}

/* Guest text: control bytes and DEL become \xNN. */
static void put_escaped(struct out *o, const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[5];

		if (c >= 0x20 && c != 0x7f)
			continue;
		put(o, s + run, i - run);
		snprintf(esc, sizeof(esc), "\\x%02x", c);
		put(o, esc, 4);
		run = i + 1;
	}
	put(o, s + run, n - run);
}

size_t rule_format_output(const struct rule *r, const struct rule_env *env,
			  char *buf, size_t len)
{
	const struct rule_set *s = r->set;
	struct out o = { .buf = buf, .len = len };

	for (uint32_t k = 0; k < r->out_n; k++) {
		const struct rule_seg *sg = &s->segs[r->out_first + k];
		enum rule_type want;
		struct rule_value v;
		char num[24];

		if (sg->field < 0) {
			put(&o, sg->s, sg->len);
			continue;
		}
		want = rule_field_info(sg->field)->type;
		if (env->get(env->ctx, sg->field, &v) != 0 || v.type != want ||
		    (want == RULE_T_STR && !v.s && v.len)) {
			put(&o, "<NA>", 4);
		} else if (want == RULE_T_INT) {
			snprintf(num, sizeof(num), "%" PRId64, v.i);
			put(&o, num, strlen(num));
		} else {
			put_escaped(&o, v.s ? v.s : "", v.s ? v.len : 0);
		}
	}
	if (len)
		buf[o.used < len ? o.used : len - 1] = 0;
	return o.used;
}
