/*
 * rule.h - upcalld's rule language: YAML rule files (lists, macros, rules in
 * the spirit of Falco) compiled at load time into a compact expression tree,
 * indexed by trigger, and matched against events without allocating.
 *
 * The daemon supplies field values through struct rule_env (a getter); the
 * engine never sees daemon structures. The language is documented, key by
 * key, in rules/README.md.
 *
 * Two kinds of rules:
 *  - event rules (no upcall, no crosscheck): the condition is evaluated on
 *    the trigger event itself (e.g. execve of a file in /tmp).
 *  - finding rules (upcall and/or crosscheck): the trigger makes the daemon
 *    run the upcall and cross-check; the condition is then evaluated once per
 *    finding (hidden process, forged reply...) with rule_eval().
 *
 * Ownership: a struct rule_set owns every rule, string and compiled tree in
 * it; pointers handed out (struct rule, names, tags) live until
 * rule_set_free(). A loaded set is immutable and may be shared read-only.
 * struct rule_errors owns its messages; release with rule_errors_release().
 */
#ifndef UPCALLD_RULE_H
#define UPCALLD_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RULE_ERR_MSG 320		/* bytes per error message */
#define RULE_ERRORS_MAX 100		/* default cap on errors kept */
#define RULE_FILE_MAX (16u << 20)	/* cap on one YAML file's size */
#define RULE_STR_MAX (64u << 10)	/* cap on one YAML string */
#define RULE_YAML_DEPTH_MAX 64		/* cap on YAML nesting */
#define RULE_YAML_NODES_MAX (2u << 20)	/* cap on YAML nodes per file */
#define RULE_EXPR_DEPTH_MAX 64		/* cap on one condition's nesting */
#define RULE_EVAL_DEPTH_MAX 256		/* cap including macro expansion */
#define RULE_RULES_MAX 1000000u		/* cap on rules in a set */
#define RULE_FILES_MAX 10000u		/* cap on files in a set */

enum rule_type {
	RULE_T_STR = 1,
	RULE_T_INT,
};

/* Values of the enumerated string fields (NULL-terminated lists). */
#define RULE_EVENT_TYPES "cr3_write", "new_address_space", "syscall", \
	"breakpoint", "interval"
#define RULE_XCHECK_KINDS "hidden", "phantom", "mismatch", "silent", "forged"
#define RULE_XCHECK_OBJECTS "process", "module", "file"

/*
 * The fields a condition or output may use:
 * X(ID, name, type, finding-only, enum values or NULL, description).
 * Finding-only fields exist only in rules with upcall or crosscheck.
 */
#define RULE_FIELDS(X) \
	X(GUEST_NAME, "guest.name", RULE_T_STR, 0, NULL, "guest (domain) name") \
	X(EVENT_TYPE, "event.type", RULE_T_STR, 0, rule_event_types, \
	  "what fired: cr3_write, new_address_space, syscall, breakpoint, interval") \
	X(EVENT_SYSCALL, "event.syscall", RULE_T_STR, 0, NULL, \
	  "syscall name of a syscall trigger (execve)") \
	X(EVENT_SYMBOL, "event.symbol", RULE_T_STR, 0, NULL, \
	  "kernel symbol of the breakpoint hit") \
	X(EVENT_VCPU, "event.vcpu", RULE_T_INT, 0, NULL, "vCPU that raised the event") \
	X(EVENT_CR3, "event.cr3", RULE_T_INT, 0, NULL, "new CR3 value (cr3 triggers)") \
	X(PROC_PID, "proc.pid", RULE_T_INT, 0, NULL, "process id (tgid)") \
	X(PROC_PPID, "proc.ppid", RULE_T_INT, 0, NULL, "parent process id") \
	X(PROC_NAME, "proc.name", RULE_T_STR, 0, NULL, "command name (comm)") \
	X(PROC_UID, "proc.uid", RULE_T_INT, 0, NULL, "real user id") \
	X(PROC_EXE, "proc.exe", RULE_T_STR, 0, NULL, "executable path") \
	X(PROC_CMDLINE, "proc.cmdline", RULE_T_STR, 0, NULL, \
	  "command line, when the source provides it") \
	X(MODULE_NAME, "module.name", RULE_T_STR, 0, NULL, "kernel module name") \
	X(FILE_PATH, "file.path", RULE_T_STR, 0, NULL, "path of an open file") \
	X(FILE_FD, "file.fd", RULE_T_INT, 0, NULL, "file descriptor number") \
	X(EXEC_PATH, "exec.path", RULE_T_STR, 0, NULL, \
	  "file being executed (execve/execveat triggers)") \
	X(XCHECK_KIND, "xcheck.kind", RULE_T_STR, 1, rule_xcheck_kinds, \
	  "finding: hidden, phantom, mismatch, silent, forged") \
	X(XCHECK_OBJECT, "xcheck.object", RULE_T_STR, 1, rule_xcheck_objects, \
	  "object of the finding: process, module, file") \
	X(XCHECK_REASON, "xcheck.reason", RULE_T_STR, 1, NULL, \
	  "human-readable detail of the finding")

#define RULE_FIELD_ENUM_(id, name, type, fin, vals, desc) RULE_F_##id,
enum rule_field {
	RULE_FIELDS(RULE_FIELD_ENUM_)
	RULE_F__COUNT
};
#undef RULE_FIELD_ENUM_

struct rule_field_info {
	const char *name;
	enum rule_type type;
	bool finding;			/* only in finding rules */
	const char *const *values;	/* allowed values, NULL = any */
	const char *desc;
};

/* The table row of f; NULL if f is out of range. */
const struct rule_field_info *rule_field_info(enum rule_field f);
/* The field named name[0..len), or -ENOENT. */
int rule_field_lookup(const char *name, size_t len);

/* A field's value for one event, as the daemon's getter reports it. */
struct rule_value {
	enum rule_type type;
	int64_t i;		/* RULE_T_INT */
	const char *s;		/* RULE_T_STR: not necessarily NUL-terminated */
	size_t len;
};

/*
 * How the engine reads fields. get() fills *out and returns 0, or returns
 * -ENOENT when the field has no value for this event (the comparison is
 * then false and outputs print <NA>). Strings must stay valid for the
 * duration of the rule_match/rule_eval/rule_format_output call. A value of
 * the wrong type counts as absent.
 */
struct rule_env {
	void *ctx;
	int (*get)(void *ctx, enum rule_field f, struct rule_value *out);
};

/* Syslog severities; the numeric value is the syslog severity. */
enum rule_priority {
	RULE_PRIO_EMERGENCY = 0,
	RULE_PRIO_ALERT,
	RULE_PRIO_CRITICAL,
	RULE_PRIO_ERROR,
	RULE_PRIO_WARNING,
	RULE_PRIO_NOTICE,
	RULE_PRIO_INFO,
	RULE_PRIO_DEBUG,
};

/* Syslog and Falco spellings, any case ("Warning", "err", "INFO"). */
int rule_priority_parse(const char *s, size_t len);
const char *rule_priority_name(enum rule_priority p);

enum rule_trigger_kind {
	RULE_TRIG_CR3_WRITE = 0,
	RULE_TRIG_NEW_ADDRESS_SPACE,
	RULE_TRIG_SYSCALL,
	RULE_TRIG_BREAKPOINT,
	RULE_TRIG_INTERVAL,
	RULE_TRIG__COUNT
};

const char *rule_trigger_kind_name(enum rule_trigger_kind k);

/*
 * One distinct trigger of a set. Rules sharing a trigger share the entry,
 * so the daemon places one breakpoint / arms one timer per entry.
 */
struct rule_trigger {
	enum rule_trigger_kind kind;
	const char *name;	/* syscall name or kernel symbol, else NULL */
	uint64_t interval_ms;	/* RULE_TRIG_INTERVAL */
	size_t index;		/* position in the set */
};

/*
 * The kernel symbol to break on: "__x64_sys_<name>" for syscalls, the
 * symbol itself for breakpoints. -EINVAL for other kinds, -ENOSPC if short.
 */
int rule_trigger_symbol(const struct rule_trigger *t, char *buf, size_t len);
/* hv capability bits (hv.h HV_CAP_*) t needs but caps lacks; 0 if none. */
unsigned int rule_trigger_missing_caps(const struct rule_trigger *t,
				       unsigned int caps);

/* Objects an upcall queries / a cross-check compares (bit set). */
enum rule_object {
	RULE_OBJ_PROCESSES = 1u << 0,
	RULE_OBJ_MODULES = 1u << 1,
	RULE_OBJ_FILES = 1u << 2,
};

/* "count per period": 10/min is {10, 60000}. count 0 = unlimited. */
struct rule_rate {
	uint32_t count;
	uint64_t period_ms;
};

struct rule_set;
struct rule_node;

/* One rule: read-only for callers. */
struct rule {
	const char *name;
	const char *desc;
	const char *file;		/* where it was defined */
	unsigned int line, col;
	size_t index;			/* position in the set */
	const struct rule_trigger *trigger;
	enum rule_priority priority;
	unsigned int upcall;		/* enum rule_object: queries to make */
	unsigned int crosscheck;	/* enum rule_object: always within upcall */
	const char *const *guests;	/* name globs; nguests 0 = all guests */
	size_t nguests;
	const char *const *tags;
	size_t ntags;
	bool enabled;
	struct rule_rate rate_limit;	/* count 0 = none */
	uint64_t dedup_ms;		/* 0 = no deduplication */

	/* engine-private */
	const struct rule_set *set;
	uint32_t trig;			/* index of trigger */
	uint32_t cond;			/* root node, UINT32_MAX = true */
	uint32_t out_first, out_n;	/* output template segments */
};

static inline bool rule_is_finding_rule(const struct rule *r)
{
	return r->upcall != 0;
}

/* Errors with positions. file:line:col is 1-based; line 0 = no position. */
struct rule_error {
	char *file;		/* owned; NULL when not about a file */
	unsigned int line, col;
	bool warning;		/* reported but did not fail the load */
	char msg[RULE_ERR_MSG];
};

struct rule_errors {
	struct rule_error *v;
	size_t n, alloc;
	size_t max;		/* 0 = RULE_ERRORS_MAX */
	size_t dropped;		/* errors past max (still counted) */
	size_t nerrors;		/* errors (not warnings), dropped included */
};

void rule_errors_init(struct rule_errors *e);
void rule_errors_release(struct rule_errors *e);
__attribute__((format(printf, 5, 6)))
void rule_errors_add(struct rule_errors *e, const char *file,
		     unsigned int line, unsigned int col, const char *fmt, ...);
__attribute__((format(printf, 5, 6)))
void rule_errors_warn(struct rule_errors *e, const char *file,
		      unsigned int line, unsigned int col, const char *fmt, ...);
/* "file:line:col: error: msg" (the parts that exist). Returns snprintf's. */
int rule_error_format(const struct rule_error *err, char *buf, size_t len);
/*
 * Sort entries [first, n) by file, then line and column (stable). Files
 * rank in the order of files[] (may be NULL), others by first appearance.
 */
void rule_errors_sort_files(struct rule_errors *e, size_t first,
			    const char *const *files, size_t nfiles);
void rule_errors_sort(struct rule_errors *e, size_t first);
/* One line per error, then "... N more errors" if some were dropped. */
void rule_errors_print(const struct rule_errors *e, FILE *f);

/*
 * Load rules from paths, in order: a directory contributes its *.yaml files
 * in sorted (strcmp) order; a regular file is loaded as is. Later files may
 * extend lists (append: true) and enable/disable earlier rules.
 * Returns 0 and *out, or -EINVAL (errors in errs, every one found up to the
 * cap, sorted by file and position; a missing path is one of them) or
 * -ENOMEM; on failure *out is untouched and nothing is left allocated.
 * Warnings (a file named twice is loaded once) may be added on success:
 * print errs either way. errs must be initialised by the caller and may
 * already hold entries.
 */
int rule_set_load_dir(const char *const *paths, size_t n,
		      struct rule_set **out, struct rule_errors *errs);
/* The same for one in-memory file; name is used in error positions. */
int rule_set_load_buf(const char *name, const char *buf, size_t len,
		      struct rule_set **out, struct rule_errors *errs);
void rule_set_free(struct rule_set *set);

struct rule_set_stats {
	size_t files, rules, enabled, lists, macros, triggers, nodes;
};
void rule_set_stats(const struct rule_set *set, struct rule_set_stats *st);

size_t rule_set_nrules(const struct rule_set *set);
const struct rule *rule_set_rule(const struct rule_set *set, size_t i);
const struct rule *rule_set_find(const struct rule_set *set, const char *name);
size_t rule_set_ntriggers(const struct rule_set *set);
const struct rule_trigger *rule_set_trigger(const struct rule_set *set,
					    size_t i);

/* Does r apply to the guest called name (its guests globs)? */
bool rule_applies_to(const struct rule *r, const char *name);

/*
 * Refuse rules a backend cannot serve: for every enabled rule applying to
 * guest (NULL = every rule) whose trigger or cross-check needs a capability
 * missing from caps (hv.h HV_CAP_* bits), add an error naming the rule and
 * the capability. Returns the number of rules refused.
 */
size_t rule_set_check_caps(const struct rule_set *set, const char *guest,
			   unsigned int caps, struct rule_errors *errs);

/*
 * The rules of a set that run on one guest: those applying to its name,
 * enabled, and served by its backend's caps. Refusals go to errs (may be
 * NULL). Borrows set, which must outlive it.
 */
struct rule_guest;
int rule_guest_new(const struct rule_set *set, const char *name,
		   unsigned int caps, struct rule_guest **out,
		   struct rule_errors *errs);
void rule_guest_free(struct rule_guest *g);
bool rule_guest_runs(const struct rule_guest *g, const struct rule *r);
/* Does any rule running on this guest use trigger t? (arm it or not) */
bool rule_guest_uses_trigger(const struct rule_guest *g,
			     const struct rule_trigger *t);

/*
 * Match an event against the rules of one trigger. For each enabled rule
 * of the trigger that runs on guest (NULL: rules whose guests globs match
 * the env's guest.name), calls cb(rule, arg):
 *  - event rules: when the condition (and no exception) holds;
 *  - finding rules: always (the daemon then runs the upcall/cross-check
 *    and calls rule_eval() per finding).
 * Stops at the first negative cb return and returns it; else the number
 * of callbacks made. Allocates nothing.
 */
int rule_match_trigger(const struct rule_set *set,
		       const struct rule_guest *guest,
		       const struct rule_trigger *t,
		       const struct rule_env *env,
		       int (*cb)(const struct rule *r, void *arg), void *arg);
/*
 * The same over every trigger of a kind. For syscall and breakpoint kinds
 * only triggers whose name equals the env's event.syscall / event.symbol
 * are used; for interval, all interval triggers.
 */
int rule_match(const struct rule_set *set, const struct rule_guest *guest,
	       enum rule_trigger_kind kind, const struct rule_env *env,
	       int (*cb)(const struct rule *r, void *arg), void *arg);

/* The rule's condition and exceptions on env: true when it should alert. */
bool rule_eval(const struct rule *r, const struct rule_env *env);

/*
 * Expand r's output template with env's values into buf (always
 * NUL-terminated when len > 0). Absent fields print <NA>; control bytes in
 * values are escaped as \xNN so guest strings cannot forge log lines.
 * Returns the length the full text needs (like snprintf).
 */
size_t rule_format_output(const struct rule *r, const struct rule_env *env,
			  char *buf, size_t len);

/*
 * Shell-style glob match of str[0..len) against NUL-terminated pattern
 * (*, ?, [abc], [a-z], [!x], \ escapes). Linear-time backtracking: safe on
 * hostile strings.
 */
bool rule_glob(const char *pattern, const char *str, size_t len);

/* Parse "500ms", "10s", "5m", "1h", "2d" into milliseconds; -EINVAL. */
int rule_parse_duration(const char *s, size_t len, uint64_t *ms);
/* Parse "10/min", "5/s", "100/h", "3/10s"; -EINVAL. */
int rule_parse_rate(const char *s, size_t len, struct rule_rate *r);

#endif
