/*
 * rule_yaml.c - YAML to a positioned tree, for the rule loader and the
 * configuration. libyaml's event API rather than its document API, so that
 * aliases are seen (and refused: no billion laughs), nesting and node counts
 * are capped while parsing, and every node keeps its position.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "rule_yaml.h"

#define ARENA_CHUNK (64u << 10)

struct rule_arena_chunk {
	struct rule_arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

void *rule_arena_alloc(struct rule_arena *a, size_t n)
{
	struct rule_arena_chunk *c = a->head;

	n = (n + 15) & ~(size_t)15;
	if (n > SIZE_MAX / 2)
		return NULL;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		if (n > ARENA_CHUNK / 4 && a->head) {
			/* a big one-off: keep the current chunk on top */
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	void *p = (char *)c->data + c->used;

	c->used += n;
	a->total += n;
	return p;
}

char *rule_arena_strndup(struct rule_arena *a, const char *s, size_t n)
{
	char *p = rule_arena_alloc(a, n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

void rule_arena_release(struct rule_arena *a)
{
	while (a->head) {
		struct rule_arena_chunk *next = a->head->next;

		free(a->head);
		a->head = next;
	}
	a->total = 0;
}

int rule_yaml_read_file(const char *path, char **buf, size_t *len,
			struct rule_errors *errs)
{
	struct stat st;
	char *b = NULL;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		rule_errors_add(errs, path, 0, 0, "cannot open: %s", strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		rule_errors_add(errs, path, 0, 0, "not a regular file");
		goto out_close;
	}
	if ((uint64_t)st.st_size > RULE_FILE_MAX) {
		rc = -EFBIG;
		rule_errors_add(errs, path, 0, 0, "file larger than %u bytes",
				RULE_FILE_MAX);
		goto out_close;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		rc = -ENOMEM;
		goto out_close;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			rule_errors_add(errs, path, 0, 0, "read failed: %s",
					strerror(-rc));
			free(b);
			goto out_close;
		}
		got += (size_t)r;
	}
	b[got] = 0;
	*buf = b;
	*len = got;
	rc = 0;
out_close:
	close(fd);
	return rc;
}

__attribute__((format(printf, 4, 0)))
static void yerr_v(struct rule_ydoc *d, unsigned int line, unsigned int col,
		   const char *fmt, va_list ap)
{
	char msg[RULE_ERR_MSG];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	rule_errors_add(d->errs, d->file, line, col, "%s", msg);
}

void rule_yerr(struct rule_ydoc *d, const struct rule_ynode *n,
	       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	yerr_v(d, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
}

void rule_yerr_at(struct rule_ydoc *d, unsigned int line, unsigned int col,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	yerr_v(d, line, col, fmt, ap);
	va_end(ap);
}

bool rule_ydoc_failed(const struct rule_ydoc *d)
{
	return d->errs->nerrors != d->nerrors0;
}

/* The tree builder: a stack of open collections and their children. */
struct frame {
	struct rule_ynode *node;
	struct rule_ynode **kids;
	size_t n, alloc;
};

struct builder {
	struct rule_ydoc *d;
	struct frame stack[RULE_YAML_DEPTH_MAX + 1];
	int depth;
	size_t ci, bi;		/* char index <-> byte offset cursor */
};

/* libyaml marks count characters; the tree needs byte offsets. */
static size_t mark_to_byte(struct builder *b, size_t index)
{
	const unsigned char *s = (const unsigned char *)b->d->buf;

	if (index < b->ci) {
		b->ci = 0;
		b->bi = b->d->len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3) ? 3 : 0;
	}
	while (b->ci < index && b->bi < b->d->len) {
		b->bi++;
		while (b->bi < b->d->len && (s[b->bi] & 0xc0) == 0x80)
			b->bi++;
		b->ci++;
	}
	return b->bi;
}

static struct rule_ynode *new_node(struct builder *b, int type,
				   const yaml_mark_t *m)
{
	struct rule_ynode *n;

	if (++b->d->nodes > RULE_YAML_NODES_MAX) {
		if (b->d->nodes == RULE_YAML_NODES_MAX + 1)
			rule_yerr_at(b->d, (unsigned)m->line + 1,
				     (unsigned)m->column + 1,
				     "more than %u YAML nodes in one file",
				     RULE_YAML_NODES_MAX);
		return NULL;
	}
	n = rule_arena_alloc(&b->d->arena, sizeof(*n));
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->type = (uint8_t)type;
	n->line = (uint32_t)m->line + 1;
	n->col = (uint32_t)m->column + 1;
	return n;
}

static int add_kid(struct builder *b, struct rule_ynode *n)
{
	struct frame *f;

	if (b->depth == 0) {
		b->d->root = n;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (f->n == f->alloc) {
		size_t na = f->alloc ? f->alloc * 2 : 8;
		void *p = realloc(f->kids, na * sizeof(*f->kids));

		if (!p)
			return -ENOMEM;
		f->kids = p;
		f->alloc = na;
	}
	f->kids[f->n++] = n;
	return 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	struct rule_ydoc *d = b->d;
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	struct rule_ynode *n = new_node(b, RULE_Y_SCALAR, &ev->start_mark);

	if (!n)
		return d->nodes > RULE_YAML_NODES_MAX ? -EINVAL : -ENOMEM;
	if (len > RULE_STR_MAX) {
		rule_yerr(d, n, "string of %zu bytes is longer than the limit "
			  "of %u", len, RULE_STR_MAX);
		len = 0;
	}
	n->style = (uint8_t)ev->data.scalar.style;
	n->off = (uint32_t)mark_to_byte(b, ev->start_mark.index);
	n->n = (uint32_t)len;
	n->str = rule_arena_strndup(&d->arena, v, len);
	if (!n->str)
		return -ENOMEM;
	return add_kid(b, n);
}

static int on_start(struct builder *b, const yaml_event_t *ev, int type)
{
	struct rule_ynode *n;

	if (b->depth >= RULE_YAML_DEPTH_MAX) {
		rule_yerr_at(b->d, (unsigned)ev->start_mark.line + 1,
			     (unsigned)ev->start_mark.column + 1,
			     "YAML nested deeper than %d levels",
			     RULE_YAML_DEPTH_MAX);
		return -EINVAL;
	}
	n = new_node(b, type, &ev->start_mark);
	if (!n)
		return b->d->nodes > RULE_YAML_NODES_MAX ? -EINVAL : -ENOMEM;
	if (add_kid(b, n) < 0)
		return -ENOMEM;
	b->stack[b->depth++] = (struct frame){ .node = n };
	return 0;
}

static int on_end(struct builder *b)
{
	struct frame *f = &b->stack[--b->depth];
	int rc = 0;

	f->node->n = (uint32_t)f->n;
	if (f->n) {
		f->node->kids = rule_arena_alloc(&b->d->arena,
						 f->n * sizeof(*f->kids));
		if (f->node->kids)
			memcpy(f->node->kids, f->kids, f->n * sizeof(*f->kids));
		else
			rc = -ENOMEM;	/* popped: the caller's cleanup won't see f */
	}
	free(f->kids);
	f->kids = NULL;
	return rc;
}

/* Turn libyaml's error into "YAML syntax error: problem (context)". */
static void syntax_error(struct builder *b, const yaml_parser_t *p)
{
	const yaml_mark_t *m = &p->problem_mark;
	unsigned int line = (unsigned)m->line + 1, col = (unsigned)m->column + 1;

	if (p->error == YAML_READER_ERROR) {
		/* reader errors carry a byte offset, not a mark */
		size_t off = p->problem_offset < b->d->len ? p->problem_offset
							   : b->d->len;
		line = 1;
		col = 1;
		for (size_t i = 0; i < off; i++) {
			if (b->d->buf[i] == '\n') {
				line++;
				col = 1;
			} else if ((b->d->buf[i] & 0xc0) != 0x80) {
				col++;
			}
		}
		rule_yerr_at(b->d, line, col, "invalid text: %s",
			     p->problem ? p->problem : "unreadable");
		return;
	}
	if (p->error == YAML_MEMORY_ERROR) {
		rule_yerr_at(b->d, 0, 0, "out of memory parsing YAML");
		return;
	}
	rule_yerr_at(b->d, line, col, "YAML syntax error: %s%s%s%s",
		     p->problem ? p->problem : "unknown problem",
		     p->context ? " (" : "", p->context ? p->context : "",
		     p->context ? ")" : "");
}

static int on_event(struct builder *b, const yaml_event_t *ev, int *docs)
{
	yaml_mark_t m = ev->start_mark;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1) {
			rule_yerr_at(b->d, (unsigned)m.line + 1,
				     (unsigned)m.column + 1,
				     "only one YAML document per file");
			return -EINVAL;
		}
		return 0;
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(b, ev, RULE_Y_SEQ);
	case YAML_MAPPING_START_EVENT:
		return on_start(b, ev, RULE_Y_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_end(b);
	case YAML_ALIAS_EVENT:
		rule_yerr_at(b->d, (unsigned)m.line + 1, (unsigned)m.column + 1,
			     "YAML aliases (*%s) are not supported",
			     (const char *)ev->data.alias.anchor);
		/* keep the shape: stand in an empty scalar */
		{
			yaml_event_t e = { .type = YAML_SCALAR_EVENT,
					   .start_mark = m };
			e.data.scalar.value = (yaml_char_t *)"";
			return on_scalar(b, &e);
		}
	default:
		return 0;
	}
}

int rule_ydoc_parse(struct rule_ydoc *d, const char *file, const char *buf,
		    size_t len, struct rule_errors *errs)
{
	struct builder b = { .d = d };
	yaml_parser_t p;
	int rc = 0, docs = 0;
	bool done = false;

	memset(d, 0, sizeof(*d));
	d->file = file;
	d->buf = buf;
	d->len = len;
	d->errs = errs;
	d->nerrors0 = errs->nerrors;
	b.ci = 0;
	b.bi = len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3) ? 3 : 0;
	if (len >= 2 && ((unsigned char)buf[0] == 0xfe ||
			 (unsigned char)buf[0] == 0xff)) {
		rule_yerr_at(d, 1, 1, "file must be UTF-8 (UTF-16 found)");
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	while (!done) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&p, &ev)) {
			syntax_error(&b, &p);
			rc = -EINVAL;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		rc = on_event(&b, &ev, &docs);
		yaml_event_delete(&ev);
		if (rc < 0)
			break;
	}
	yaml_parser_delete(&p);
	while (b.depth > 0)
		free(b.stack[--b.depth].kids);
	if (rc < 0)
		d->root = NULL;	/* never walk a half-built tree */
	return rc;
}

void rule_ydoc_release(struct rule_ydoc *d)
{
	rule_arena_release(&d->arena);
	d->root = NULL;
}
