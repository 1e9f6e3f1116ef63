/*
 * denv.h - the daemon's side of the rule engine: the field values of one
 * event or finding (struct denv), served to rules through struct rule_env,
 * and the alert made when a rule fires on them.
 *
 * Ownership: a denv borrows every string it points to; they must outlive
 * the rule_eval / rule_match / denv_alert call that reads them.
 */
#ifndef UPCALLD_DENV_H
#define UPCALLD_DENV_H

#include <stdbool.h>
#include <stdint.h>

#include "rule.h"

struct guest;

struct denv {
	struct guest *g;
	const char *event_type;		/* rule_trigger_kind_name() */
	const char *syscall, *symbol;
	int64_t vcpu;			/* -1: none */
	uint64_t cr3;
	bool has_cr3;
	bool has_proc;
	int32_t pid, ppid;
	uint32_t uid;
	char comm[16];
	const char *exe;
	const char *module;
	const char *file_path;
	int32_t fd;			/* -1: none */
	const char *exec_path;
	const char *xkind, *xobject, *xreason;
};

void denv_init(struct denv *e, struct guest *g, const char *event_type);

/* A rule_env reading e. */
struct rule_env denv_rule_env(struct denv *e);

/* Build the alert for rule r on e and hand it to the daemon's hub. */
int denv_alert(struct denv *e, const struct rule *r);

#endif
