/*
 * gdbrsp_tdesc.c - the target description: fetch target.xml and the files
 * it includes over qXfer:features:read, read the <reg> elements in order,
 * and compute where each register sits in a `g` reply, so the layout is
 * learned from the stub rather than hard-coded.
 *
 * The XML comes from the peer and is hostile. Target descriptions are a
 * small fixed dialect (gdb-target.dtd), so this is a bounded tag scanner
 * for just that: elements, attributes, comments, processing instructions,
 * DOCTYPE and CDATA are skipped, entities are not expanded (nothing we read
 * needs them), and every loop is bounded by the input length or a cap.
 */
#include "gdbrsp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATTR_MAX 16

struct xattr {
	const char *name, *val;
	size_t nlen, vlen;
};

struct xtag {
	char name[GDBRSP_NAME_MAX];
	struct xattr attr[ATTR_MAX];
	unsigned int nattr;
	bool closing;
};

static const char *find_str(const char *s, const char *end, const char *pat)
{
	size_t pl = strlen(pat);

	for (; s && (size_t)(end - s) >= pl; s++)
		if (!memcmp(s, pat, pl))
			return s;
	return NULL;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == ':' || c == '.' ||
	       c == '-';
}

/* Skip a comment, PI, DOCTYPE or CDATA at p ('<'); NULL if unterminated. */
static const char *skip_special(const char *p, const char *end)
{
	const char *q;

	if (end - p >= 4 && !memcmp(p, "<!--", 4))
		q = find_str(p + 4, end, "-->");
	else if (end - p >= 9 && !memcmp(p, "<![CDATA[", 9))
		q = find_str(p + 9, end, "]]>");
	else if (end - p >= 2 && p[1] == '?')
		q = find_str(p + 2, end, "?>");
	else {
		/* <!DOCTYPE ...>, possibly with an internal subset [ ... ] */
		const char *b = memchr(p, '[', (size_t)(end - p));
		const char *g = memchr(p, '>', (size_t)(end - p));
		if (b && g && b < g)
			g = find_str(b, end, "]>");
		return g ? g + 1 + (g[0] == ']') : NULL;
	}
	return q ? q + (q[0] == '-' || q[0] == ']' ? 3 : 2) : NULL;
}

/* Parse the attributes of a tag from p; returns the char after '>'. */
static const char *parse_attrs(const char *p, const char *end, struct xtag *t)
{
	for (;;) {
		while (p < end && is_space(*p))
			p++;
		if (p >= end)
			return NULL;
		if (*p == '>')
			return p + 1;
		if (*p == '/' && p + 1 < end && p[1] == '>')
			return p + 2;
		const char *n = p;
		while (p < end && is_name_char(*p))
			p++;
		size_t nlen = (size_t)(p - n);
		while (p < end && is_space(*p))
			p++;
		if (!nlen || p >= end || *p != '=')
			return NULL;
		for (p++; p < end && is_space(*p); p++)
			;
		if (p >= end || (*p != '"' && *p != '\''))
			return NULL;
		const char *v = p + 1, *q = memchr(v, *p, (size_t)(end - v));
		if (!q)
			return NULL;
		if (t->nattr < ATTR_MAX)
			t->attr[t->nattr++] = (struct xattr){ n, v, nlen,
							      (size_t)(q - v) };
		p = q + 1;
	}
}

/*
 * Next element tag at or after *pos. Returns 1 with *t filled, 0 at the
 * end of input, -EPROTO on malformed markup.
 */
static int next_tag(const char *end, const char **pos, struct xtag *t)
{
	const char *p = *pos;

	for (;;) {
		p = p < end ? memchr(p, '<', (size_t)(end - p)) : NULL;
		if (!p)
			return 0;
		if (p + 1 < end && (p[1] == '!' || p[1] == '?')) {
			p = skip_special(p, end);
			if (!p)
				return -EPROTO;
			continue;
		}
		break;
	}
	memset(t, 0, sizeof(*t));
	p++;
	if (p < end && *p == '/') {
		t->closing = true;
		p++;
	}
	const char *n = p;
	while (p < end && is_name_char(*p))
		p++;
	if (p == n || (size_t)(p - n) >= sizeof(t->name))
		return -EPROTO;
	memcpy(t->name, n, (size_t)(p - n));
	p = parse_attrs(p, end, t);
	if (!p)
		return -EPROTO;
	*pos = p;
	return 1;
}

static const struct xattr *attr(const struct xtag *t, const char *name)
{
	for (unsigned int i = 0; i < t->nattr; i++)
		if (t->attr[i].nlen == strlen(name) &&
		    !memcmp(t->attr[i].name, name, t->attr[i].nlen))
			return &t->attr[i];
	return NULL;
}

/* A decimal attribute value in [0, max]. */
static int attr_uint(const struct xattr *a, unsigned int max, unsigned int *v)
{
	unsigned long x = 0;

	if (!a || a->vlen == 0 || a->vlen > 9)
		return -EPROTO;
	for (size_t i = 0; i < a->vlen; i++) {
		if (a->val[i] < '0' || a->val[i] > '9')
			return -EPROTO;
		x = x * 10 + (unsigned long)(a->val[i] - '0');
	}
	if (x > max)
		return -EPROTO;
	*v = (unsigned int)x;
	return 0;
}

static int add_reg(struct gdbrsp_tdesc *td, const struct xtag *t)
{
	const struct xattr *name = attr(t, "name");
	struct gdbrsp_reg *r;
	unsigned int bits, regnum = td->next_regnum;

	if (td->nregs >= GDBRSP_REGS_MAX)
		return -E2BIG;
	if (!name || name->vlen == 0 || name->vlen >= GDBRSP_NAME_MAX ||
	    memchr(name->val, '\0', name->vlen))
		return -EPROTO;
	if (attr_uint(attr(t, "bitsize"), GDBRSP_REG_BITS_MAX, &bits) ||
	    bits == 0 || bits % 8)
		return -EPROTO;
	if (attr(t, "regnum") &&
	    attr_uint(attr(t, "regnum"), 100000, &regnum))
		return -EPROTO;
	r = &td->regs[td->nregs++];
	memset(r, 0, sizeof(*r));
	memcpy(r->name, name->val, name->vlen);
	r->bits = bits;
	r->regnum = regnum;
	td->next_regnum = regnum + 1;
	return 0;
}

/* An include names a sibling file: no path, nothing that breaks qXfer. */
static int href_copy(const struct xattr *a, char *out)
{
	if (!a || a->vlen == 0 || a->vlen >= GDBRSP_HREF_MAX)
		return -EPROTO;
	for (size_t i = 0; i < a->vlen; i++) {
		char c = a->val[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return -EPROTO;
	}
	memcpy(out, a->val, a->vlen);
	out[a->vlen] = '\0';
	return 0;
}

struct loader {
	struct gdbrsp_tdesc *td;
	int (*fetch)(void *ctx, const char *annex, char **xml, size_t *len);
	void *ctx;
};

static int load_file(struct loader *l, const char *annex, unsigned int depth);

static void take_arch(struct gdbrsp_tdesc *td, const char *p, const char *end)
{
	const char *q = memchr(p, '<', (size_t)(end - p));
	size_t n = q ? (size_t)(q - p) : 0;

	if (n >= sizeof(td->arch))
		n = sizeof(td->arch) - 1;
	memcpy(td->arch, p, n);
	td->arch[n] = '\0';
}

static int parse_text(struct loader *l, const char *x, size_t len,
		      unsigned int depth)
{
	const char *pos = x, *end = x + len;
	struct xtag t;
	char href[GDBRSP_HREF_MAX];
	int r;

	while ((r = next_tag(end, &pos, &t)) > 0) {
		if (t.closing)
			continue;
		if (!strcmp(t.name, "reg"))
			r = add_reg(l->td, &t);
		else if (!strcmp(t.name, "xi:include") ||
			 !strcmp(t.name, "include")) {
			r = href_copy(attr(&t, "href"), href);
			if (!r)
				r = load_file(l, href, depth + 1);
		} else if (!strcmp(t.name, "architecture"))
			take_arch(l->td, pos, end);
		if (r < 0)
			return r;
	}
	return r;
}

static int load_file(struct loader *l, const char *annex, unsigned int depth)
{
	char *xml = NULL;
	size_t len = 0;
	int err;

	if (depth > GDBRSP_XML_DEPTH || l->td->files >= GDBRSP_XML_FILES)
		return -E2BIG;
	l->td->files++;
	err = l->fetch(l->ctx, annex, &xml, &len);
	if (err)
		return err;
	err = len > GDBRSP_XML_MAX ? -E2BIG : parse_text(l, xml, len, depth);
	free(xml);
	return err;
}

static int cmp_regnum(const void *a, const void *b)
{
	const struct gdbrsp_reg *x = a, *y = b;

	return (x->regnum > y->regnum) - (x->regnum < y->regnum);
}

static int layout(struct gdbrsp_tdesc *td)
{
	size_t off = 0;

	qsort(td->regs, td->nregs, sizeof(td->regs[0]), cmp_regnum);
	for (unsigned int i = 0; i < td->nregs; i++) {
		if (i && td->regs[i].regnum == td->regs[i - 1].regnum)
			return -EPROTO;
		td->regs[i].offset = off;
		off += td->regs[i].bits / 8;
		if (off > GDBRSP_PKT_MAX / 2)	/* two hex digits a byte */
			return -E2BIG;
	}
	td->g_bytes = off;
	return td->nregs ? 0 : -EPROTO;
}

int gdbrsp_tdesc_load(struct gdbrsp_tdesc *td,
		      int (*fetch)(void *ctx, const char *annex, char **xml,
				   size_t *len),
		      void *ctx)
{
	struct loader l = { td, fetch, ctx };
	int err;

	memset(td, 0, sizeof(*td));
	err = load_file(&l, "target.xml", 0);
	return err ? err : layout(td);
}

const struct gdbrsp_reg *gdbrsp_tdesc_find(const struct gdbrsp_tdesc *td,
					   const char *name)
{
	for (unsigned int i = 0; i < td->nregs; i++)
		if (!strcmp(td->regs[i].name, name))
			return &td->regs[i];
	return NULL;
}

/* Append one qXfer reply's data ("m..."/"l...") to *buf. */
static int xfer_chunk(char *reply, size_t rlen, char **buf, size_t *len)
{
	int n = gdbrsp_unescape(reply + 1, rlen - 1);

	if (n < 0)
		return -EPROTO;
	if ((size_t)n > GDBRSP_XML_MAX - *len)
		return -E2BIG;
	memcpy(*buf + *len, reply + 1, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = '\0';
	return n;
}

int gdbrsp_tdesc_xfer(struct gdbrsp *g, const char *annex, char **xml,
		      size_t *len)
{
	char cmd[GDBRSP_HREF_MAX + 64];
	const char *reply;
	size_t rlen, got = 0;
	char *buf = malloc(GDBRSP_XML_MAX + 1);
	int err;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		snprintf(cmd, sizeof(cmd), "qXfer:features:read:%s:%zx,ffb",
			 annex, got);
		err = gdbrsp_command(g, cmd, false, &reply, &rlen);
		if (err)
			break;
		if (rlen == 0 || reply[0] == 'E') {
			err = -ENOENT;
			break;
		}
		if (reply[0] != 'm' && reply[0] != 'l') {
			err = -EPROTO;
			break;
		}
		/* reply points into g's buffer: unescape works in place */
		err = xfer_chunk((char *)reply, rlen, &buf, &got);
		if (err < 0 || reply[0] == 'l')
			break;
		if (err == 0) {	/* "m" with no data would never end */
			err = -EPROTO;
			break;
		}
	}
	if (err < 0) {
		free(buf);
		return err;
	}
	*xml = buf;
	*len = got;
	return 0;
}

static int xfer_fetch(void *ctx, const char *annex, char **xml, size_t *len)
{
	return gdbrsp_tdesc_xfer(ctx, annex, xml, len);
}

int gdbrsp_tdesc_fetch(struct gdbrsp *g, struct gdbrsp_tdesc *td)
{
	return gdbrsp_tdesc_load(td, xfer_fetch, g);
}
