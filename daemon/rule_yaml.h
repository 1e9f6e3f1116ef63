/*
 * rule_yaml.h - the YAML layer shared by the rule loader and the daemon
 * configuration: a small tree built from libyaml's events (every node keeps
 * its 1-based line:column), strict schema helpers (unknown and duplicate
 * keys are errors), positions inside scalars for expression errors, and a
 * bump arena for strings that must outlive the tree.
 *
 * Internal to daemon/rule*.c and daemon/config.c.
 *
 * Ownership: a struct rule_ydoc owns its nodes and strings (its arena) and
 * borrows the text buffer and the error list passed to rule_ydoc_parse().
 */
#ifndef UPCALLD_RULE_YAML_H
#define UPCALLD_RULE_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rule.h"

/* Bump allocator: pointers stay valid until rule_arena_release(). */
struct rule_arena_chunk;
struct rule_arena {
	struct rule_arena_chunk *head;
	size_t total;		/* bytes handed out */
};

void *rule_arena_alloc(struct rule_arena *a, size_t n);
char *rule_arena_strndup(struct rule_arena *a, const char *s, size_t n);
void rule_arena_release(struct rule_arena *a);

enum rule_ytype {
	RULE_Y_SCALAR = 1,
	RULE_Y_SEQ,
	RULE_Y_MAP,
};

struct rule_ynode {
	uint8_t type;		/* enum rule_ytype */
	uint8_t style;		/* libyaml's yaml_scalar_style_t (scalars) */
	uint32_t line, col;	/* 1-based */
	uint32_t off;		/* scalars: byte offset of the token start */
	uint32_t n;		/* scalar: length; seq: items; map: 2 * pairs */
	const char *str;	/* scalar: NUL-terminated */
	struct rule_ynode **kids;	/* seq: items; map: key, value, ... */
};

struct rule_ydoc {
	const char *file;	/* name used in errors (borrowed) */
	const char *buf;	/* the text (borrowed) */
	size_t len;
	struct rule_ynode *root;	/* NULL for an empty document */
	struct rule_errors *errs;	/* borrowed */
	size_t nerrors0;	/* errs->nerrors when parsing began */
	size_t nodes;
	struct rule_arena arena;
};

/*
 * Read a whole file (at most RULE_FILE_MAX bytes). Returns 0 with a
 * malloc'd, NUL-terminated *buf, or -errno with an error in errs.
 */
int rule_yaml_read_file(const char *path, char **buf, size_t *len,
			struct rule_errors *errs);

/*
 * Parse buf into d. Syntax errors (libyaml's message and position), over-deep
 * nesting and too many nodes stop the parse: -EINVAL and no tree. Aliases
 * and over-long strings are reported but the tree is kept (with empty
 * strings in their place) so the caller can report more: check
 * rule_ydoc_failed() at the end. Returns 0, -EINVAL or -ENOMEM; d must be
 * released with rule_ydoc_release() either way.
 */
int rule_ydoc_parse(struct rule_ydoc *d, const char *file, const char *buf,
		    size_t len, struct rule_errors *errs);
void rule_ydoc_release(struct rule_ydoc *d);

/* Did this document report errors (since parsing began)? */
bool rule_ydoc_failed(const struct rule_ydoc *d);

__attribute__((format(printf, 3, 4)))
void rule_yerr(struct rule_ydoc *d, const struct rule_ynode *n,
	       const char *fmt, ...);
__attribute__((format(printf, 4, 5)))
void rule_yerr_at(struct rule_ydoc *d, unsigned int line, unsigned int col,
		  const char *fmt, ...);

/*
 * Maps value offsets inside one scalar back to line:column in the file,
 * for errors inside conditions and output templates. Offsets must be asked
 * in non-decreasing order (linear time overall).
 */
struct rule_ycur {
	const struct rule_ydoc *d;
	const struct rule_ynode *n;
	size_t voff, soff;	/* position in the value / the source text */
	unsigned int line, col;
};

void rule_ycur_init(struct rule_ycur *c, const struct rule_ydoc *d,
		    const struct rule_ynode *n);
void rule_ycur_pos(struct rule_ycur *c, size_t voff, unsigned int *line,
		   unsigned int *col);

/*
 * Schema walk of a mapping: keys is NULL-terminated; vals[i] receives the
 * value of keys[i] or NULL. Reports "not a mapping", unknown keys (listing
 * the known ones) and duplicate keys. Returns 0 or -EINVAL.
 */
int rule_ymap(struct rule_ydoc *d, const struct rule_ynode *map,
	      const char *what, const char *const *keys,
	      const struct rule_ynode **vals);

/* Typed scalar readers: report "WHAT must be ..." at n and return -EINVAL. */
int rule_ystr(struct rule_ydoc *d, const struct rule_ynode *n,
	      const char *what, bool nonempty, const char **s);
int rule_ybool(struct rule_ydoc *d, const struct rule_ynode *n,
	       const char *what, bool *out);
int rule_yduration(struct rule_ydoc *d, const struct rule_ynode *n,
		   const char *what, uint64_t *ms);
int rule_yuint(struct rule_ydoc *d, const struct rule_ynode *n,
	       const char *what, uint64_t max, uint64_t *out);
/*
 * A sequence of scalars, or one scalar taken as a one-item list when
 * allow_scalar. *items points into the tree.
 */
int rule_yseq(struct rule_ydoc *d, const struct rule_ynode *n,
	      const char *what, bool allow_scalar,
	      struct rule_ynode *const **items, size_t *count,
	      struct rule_ynode **one);

#endif
