/*
 * rule_int.h - the inside of a rule set, shared by rule.c (set, matching,
 * outputs), rule_expr.c (conditions), rule_load.c and rule_item.c (YAML
 * items). Not for use outside daemon/rule*.c.
 *
 * Everything is kept in flat arrays addressed by 32-bit indexes, so the
 * arrays can grow while loading and the compiled trees stay compact.
 */
#ifndef UPCALLD_RULE_INT_H
#define UPCALLD_RULE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rule.h"
#include "rule_yaml.h"

#define RULE_NONE UINT32_MAX

enum rule_op {
	RULE_OP_TRUE = 1,
	RULE_OP_AND,		/* kids[a .. a+b) */
	RULE_OP_OR,
	RULE_OP_NOT,		/* node a */
	RULE_OP_MACRO,		/* unresolved reference: name in lits[a] */
	RULE_OP_EXISTS,		/* field only */
	RULE_OP_EQ,		/* comparisons: field, lits[a .. a+b) */
	RULE_OP_NE,
	RULE_OP_LT,
	RULE_OP_LE,
	RULE_OP_GT,
	RULE_OP_GE,
	RULE_OP_IN,
	RULE_OP_CONTAINS,
	RULE_OP_ICONTAINS,
	RULE_OP_STARTSWITH,
	RULE_OP_ENDSWITH,
	RULE_OP_GLOB,
};

struct rule_node {
	uint8_t op;
	uint8_t field;		/* enum rule_field */
	uint8_t paren;		/* comparison value written as ( ... ) */
	uint8_t finding;	/* resolved: uses a finding-only field */
	uint8_t type;		/* resolved: the field's enum rule_type */
	uint32_t a, b;
	uint32_t file, line, col;	/* where written */
};

struct rule_lit {
	const char *s;		/* NUL-terminated, in the set's arena */
	uint32_t len;
	uint8_t is_int;		/* i holds the value */
	uint8_t bare;		/* unquoted word: may name a list */
	int64_t i;
	uint32_t file, line, col;
};

/* Output template: a literal span (field < 0) or a field reference. */
struct rule_seg {
	const char *s;
	uint32_t len;
	int32_t field;
};

struct rule_list {
	const char *name;
	uint32_t file, line, col;
	uint32_t *items;	/* lit indexes, in order (appends included) */
	size_t n, alloc;
	uint8_t state;		/* expansion: 0 new, 1 busy, 2 done */
};

struct rule_macro {
	const char *name;
	uint32_t file, line, col;
	uint32_t root;		/* parsed body; RULE_NONE if it failed */
	uint8_t state;		/* resolution: 0 new, 1 busy, 2 done, 3 bad */
	uint16_t depth;
};

/* Open-addressing map from NUL-terminated names to indexes. */
struct rule_names {
	struct rule_name_slot {
		const char *key;
		uint32_t hash, val;
	} *slots;
	size_t n, cap;
};

int rule_names_put(struct rule_names *h, const char *key, uint32_t val);
int rule_names_get(const struct rule_names *h, const char *key, size_t len);
void rule_names_release(struct rule_names *h);

/* Grow *p (elements of size) to hold need; 0 or -ENOMEM. */
int rule_grow(void **p, size_t *alloc, size_t need, size_t size);
#define RULE_GROW(arr, alloc, need) \
	rule_grow((void **)&(arr), &(alloc), (need), sizeof(*(arr)))

struct rule_set {
	struct rule_arena arena;
	const char **files;
	size_t nfiles, afiles;
	struct rule *rules;
	size_t nrules, arules;
	struct rule_list *lists;
	size_t nlists, alists;
	struct rule_macro *macros;
	size_t nmacros, amacros;
	struct rule_trigger *trigs;
	size_t ntrigs, atrigs;
	struct rule_node *nodes;
	size_t nnodes, anodes;
	uint32_t *kids;
	size_t nkids, akids;
	struct rule_lit *lits;
	size_t nlits, alits;
	struct rule_seg *segs;
	size_t nsegs, asegs;
	struct rule_names rule_names, list_names, macro_names, trig_names;
	struct rule_names real_paths;	/* files loaded (realpath) */
	/* per trigger: its enabled rules, trig_rules[trig_first[t] ..] */
	uint32_t *trig_first, *trig_count, *trig_rules;
	struct rule_errors *errs;	/* while loading */
	size_t nerrors0;		/* errs->nerrors when loading began */
	size_t nerr_first;		/* errs->n when loading began */
};

/* rule.c */
struct rule_set *rule_set_new(void);
int rule_set_finish(struct rule_set *s);
void rule_set_sort_errors(const struct rule_set *s, size_t first);
__attribute__((format(printf, 5, 6)))
void rule_set_err(struct rule_set *s, uint32_t file, uint32_t line,
		  uint32_t col, const char *fmt, ...);
int rule_set_add_file(struct rule_set *s, const char *name, uint32_t *idx);

/* rule_expr.c */
int rule_expr_new_node(struct rule_set *s, enum rule_op op, uint32_t *idx);
int rule_expr_new_lit(struct rule_set *s, const char *str, size_t len,
		      bool bare, uint32_t *idx);
int rule_expr_parse(struct rule_set *s, struct rule_ydoc *d,
		    const struct rule_ynode *n, uint32_t file, uint32_t *root);
int rule_expr_resolve(struct rule_set *s, uint32_t root, unsigned int *depth);
int rule_expr_resolve_macros(struct rule_set *s);
bool rule_expr_eval(const struct rule_set *s, uint32_t root,
		    const struct rule_env *env);
int rule_op_parse(const char *w, size_t len);
const char *rule_op_name(enum rule_op op);
int rule_expr_first_finding(const struct rule_set *s, uint32_t root,
			    uint32_t *node);

/* rule_item.c */
int rule_item_load(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		   const struct rule_ynode *item);
/* A literal from a scalar; bare (may name a list) if plain and maybe_list. */
int rule_item_lit(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		  const struct rule_ynode *n, const char *what, bool maybe_list,
		  uint32_t *idx);

/* rule_def.c: the keys of a rule item, v[] indexed by enum rule_key */
enum rule_key {
	K_RULE, K_DESC, K_TRIGGER, K_GUESTS, K_UPCALL, K_CROSSCHECK, K_COND,
	K_OUTPUT, K_PRIORITY, K_TAGS, K_ENABLED, K_EXCEPTIONS, K_RATE,
	K_DEDUP, K__N
};
/* condition and exceptions of r, combined into r->cond (rule_exc.c) */
int rule_def_condition(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		       const struct rule_ynode **v, struct rule *r);
int rule_item_rule(struct rule_set *s, struct rule_ydoc *d, uint32_t file,
		   const struct rule_ynode *item, const struct rule_ynode **v,
		   const char *name);

/* rule_output.c */
int rule_output_parse(struct rule_set *s, struct rule_ydoc *d,
		      const struct rule_ynode *n, struct rule *r);

#endif
