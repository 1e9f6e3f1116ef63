/*
 * rule_yschema.c - strict readers over the YAML tree of rule_yaml.c: mapping
 * schemas (unknown and duplicate keys are errors), typed scalars, and the
 * mapping from an offset inside a scalar's value back to line:column in the
 * file, so that an error deep inside a multi-line condition points at the
 * right character.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "rule_yaml.h"

#define SCHEMA_KEYS_MAX 32

static void src_step(struct rule_ycur *c)
{
	const char *s = c->d->buf;
	size_t len = c->d->len;

	if (c->soff >= len)
		return;
	if (s[c->soff++] == '\n') {
		c->line++;
		c->col = 1;
	} else if (c->soff >= len || (s[c->soff] & 0xc0) != 0x80) {
		c->col++;
	}
}

static bool src_ws(const struct rule_ycur *c)
{
	char ch = c->soff < c->d->len ? c->d->buf[c->soff] : 0;

	if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
		return true;
	/* an escaped line break in a double-quoted scalar yields nothing */
	return c->n->style == YAML_DOUBLE_QUOTED_SCALAR_STYLE && ch == '\\' &&
	       c->soff + 1 < c->d->len &&
	       (c->d->buf[c->soff + 1] == '\n' || c->d->buf[c->soff + 1] == '\r');
}

void rule_ycur_init(struct rule_ycur *c, const struct rule_ydoc *d,
		    const struct rule_ynode *n)
{
	*c = (struct rule_ycur){ .d = d, .n = n, .soff = n->off,
				 .line = n->line, .col = n->col };
	switch (n->style) {
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
	case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
		src_step(c);
		break;
	case YAML_LITERAL_SCALAR_STYLE:
	case YAML_FOLDED_SCALAR_STYLE:
		/* skip the header line ("|", ">-", "| # comment") */
		while (c->soff < d->len && d->buf[c->soff] != '\n')
			src_step(c);
		src_step(c);
		break;
	default:
		break;
	}
}

static bool val_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Consume the value character at c->voff and its source text. */
static void cur_consume(struct rule_ycur *c)
{
	const char *v = c->n->str;
	const char *s = c->d->buf;

	if (val_ws(v[c->voff])) {
		/* folded breaks and indentation: the value has fewer chars */
		if (c->n->style == YAML_DOUBLE_QUOTED_SCALAR_STYLE &&
		    c->soff + 1 < c->d->len && s[c->soff] == '\\' &&
		    strchr("tnr ", s[c->soff + 1])) {
			src_step(c);
			src_step(c);
		}
		c->voff++;
		return;
	}
	while (src_ws(c))
		src_step(c);
	if (c->n->style == YAML_DOUBLE_QUOTED_SCALAR_STYLE &&
	    c->soff + 1 < c->d->len && s[c->soff] == '\\') {
		char k = s[c->soff + 1];
		int n = k == 'x' ? 4 : k == 'u' ? 6 : k == 'U' ? 10 : 2;

		while (n-- > 0)
			src_step(c);
		c->voff++;
		while (c->voff < c->n->n && (v[c->voff] & 0xc0) == 0x80)
			c->voff++;
		return;
	}
	if (c->n->style == YAML_SINGLE_QUOTED_SCALAR_STYLE &&
	    c->soff + 1 < c->d->len && s[c->soff] == '\'' &&
	    s[c->soff + 1] == '\'')
		src_step(c);
	src_step(c);
	c->voff++;
}

void rule_ycur_pos(struct rule_ycur *c, size_t voff, unsigned int *line,
		   unsigned int *col)
{
	if (voff > c->n->n)
		voff = c->n->n;
	while (c->voff < voff)
		cur_consume(c);
	if (c->voff < c->n->n && !val_ws(c->n->str[c->voff]))
		while (src_ws(c))
			src_step(c);
	*line = c->line;
	*col = c->col;
}

static void known_keys(const char *const *keys, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = 0;
	for (size_t i = 0; keys[i] && used < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
				 keys[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

int rule_ymap(struct rule_ydoc *d, const struct rule_ynode *map,
	      const char *what, const char *const *keys,
	      const struct rule_ynode **vals)
{
	const struct rule_ynode *seen[SCHEMA_KEYS_MAX];
	size_t nk = 0;
	int rc = 0;

	while (keys[nk] && nk < SCHEMA_KEYS_MAX) {
		vals[nk] = NULL;
		seen[nk] = NULL;
		nk++;
	}
	if (!map || map->type != RULE_Y_MAP) {
		rule_yerr(d, map, "%s must be a mapping", what);
		return -EINVAL;
	}
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct rule_ynode *k = map->kids[i];
		size_t j;

		if (k->type != RULE_Y_SCALAR) {
			rule_yerr(d, k, "keys of %s must be plain words", what);
			rc = -EINVAL;
			continue;
		}
		for (j = 0; j < nk; j++)
			if (!strcmp(keys[j], k->str) && strlen(k->str) == k->n)
				break;
		if (j == nk) {
			char list[200];

			known_keys(keys, list, sizeof(list));
			rule_yerr(d, k, "unknown key '%.64s' in %s (known: %s)",
				  k->str, what, list);
			rc = -EINVAL;
		} else if (seen[j]) {
			rule_yerr(d, k, "duplicate key '%s' in %s (first at "
				  "line %u column %u)", keys[j], what,
				  seen[j]->line, seen[j]->col);
			rc = -EINVAL;
		} else {
			seen[j] = k;
			vals[j] = map->kids[i + 1];
		}
	}
	return rc;
}

int rule_ystr(struct rule_ydoc *d, const struct rule_ynode *n,
	      const char *what, bool nonempty, const char **s)
{
	if (!n || n->type != RULE_Y_SCALAR) {
		rule_yerr(d, n, "%s must be a string", what);
		return -EINVAL;
	}
	if (nonempty && n->n == 0) {
		rule_yerr(d, n, "%s must not be empty", what);
		return -EINVAL;
	}
	if (strlen(n->str) != n->n) {
		rule_yerr(d, n, "%s contains a NUL byte", what);
		return -EINVAL;
	}
	*s = n->str;
	return 0;
}

int rule_ybool(struct rule_ydoc *d, const struct rule_ynode *n,
	       const char *what, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	if (n && n->type == RULE_Y_SCALAR && n->style == YAML_PLAIN_SCALAR_STYLE) {
		for (size_t i = 0; i < 3; i++) {
			if (!strcasecmp(n->str, yes[i])) {
				*out = true;
				return 0;
			}
			if (!strcasecmp(n->str, no[i])) {
				*out = false;
				return 0;
			}
		}
	}
	rule_yerr(d, n, "%s must be true or false", what);
	return -EINVAL;
}

int rule_yduration(struct rule_ydoc *d, const struct rule_ynode *n,
		   const char *what, uint64_t *ms)
{
	if (n && n->type == RULE_Y_SCALAR &&
	    rule_parse_duration(n->str, n->n, ms) == 0)
		return 0;
	rule_yerr(d, n, "%s: bad duration '%.40s' (a number and a unit: "
		  "500ms, 10s, 5m, 1h, 1d)",
		  what, n && n->type == RULE_Y_SCALAR ? n->str : "");
	return -EINVAL;
}

int rule_yuint(struct rule_ydoc *d, const struct rule_ynode *n,
	       const char *what, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!n || n->type != RULE_Y_SCALAR || n->n == 0)
		goto bad;
	for (i = 0; i < n->n; i++) {
		if (n->str[i] < '0' || n->str[i] > '9')
			goto bad;
		v = v * 10 + (uint64_t)(n->str[i] - '0');
		if (v > max)
			goto bad;
	}
	*out = v;
	return 0;
bad:
	rule_yerr(d, n, "%s must be a whole number from 0 to %llu", what,
		  (unsigned long long)max);
	return -EINVAL;
}

int rule_yseq(struct rule_ydoc *d, const struct rule_ynode *n,
	      const char *what, bool allow_scalar,
	      struct rule_ynode *const **items, size_t *count,
	      struct rule_ynode **one)
{
	if (n && n->type == RULE_Y_SEQ) {
		*items = n->kids;
		*count = n->n;
		return 0;
	}
	if (n && allow_scalar && n->type == RULE_Y_SCALAR) {
		*one = (struct rule_ynode *)n;
		*items = one;
		*count = 1;
		return 0;
	}
	rule_yerr(d, n, "%s must be a list%s", what,
		  allow_scalar ? " or a single value" : "");
	return -EINVAL;
}
