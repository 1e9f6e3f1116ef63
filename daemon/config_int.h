/*
 * config_int.h - what config.c and config_out.c share while loading
 * upcalld.yaml. Not for use outside daemon/config*.c.
 */
#ifndef UPCALLD_CONFIG_INT_H
#define UPCALLD_CONFIG_INT_H

#include "config.h"
#include "rule_yaml.h"

struct cload {
	struct config *c;
	struct rule_ydoc *d;
	const char *base;	/* directory for relative paths */
};

/* Typed readers; each reports its own errors and returns 0 or -errno. */
int config_get_path(struct cload *L, const struct rule_ynode *n,
		    const char *what, const char **out);
int config_get_str(struct cload *L, const struct rule_ynode *n,
		   const char *what, const char **out);
int config_get_prio(struct cload *L, const struct rule_ynode *n,
		    enum rule_priority *p);

int config_load_outputs(struct cload *L, const struct rule_ynode *n);

#endif
