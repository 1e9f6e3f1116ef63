/*
 * config.c - loading and checking upcalld.yaml. Built on the rule loader's
 * YAML layer, so the configuration gets the same error quality: every
 * problem reported with file:line:column, unknown and duplicate keys
 * refused, and all errors of the file in one run.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "config.h"
#include "hv.h"
#include "config_int.h"

static const char *const top_keys[] = {
	"guests", "rules", "outputs", "control_socket", "rate_limit",
	"watchdog", NULL,
};
static const char *const guest_keys[] = {
	"match", "backend", "profiles", "key_dir", "ram", "gdb", "upcall",
	"upcall_timeout", "breakpoints", NULL,
};
static const char *const rate_keys[] = { "rate", "burst", "dedup", NULL };

static char *cstrdup(struct cload *L, const char *s)
{
	return rule_arena_strndup(L->c->arena, s, strlen(s));
}

static bool is_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* %n and %% only; reports the first bad sequence at its column. */
static int check_template(struct cload *L, const struct rule_ynode *n,
			  const char *what, bool *has_name)
{
	*has_name = false;
	for (size_t i = 0; i < n->n; i++) {
		if (n->str[i] != '%')
			continue;
		if (n->str[i + 1] == 'n') {
			*has_name = true;
		} else if (n->str[i + 1] != '%') {
			struct rule_ycur cur;
			unsigned int line, col;

			rule_ycur_init(&cur, L->d, n);
			rule_ycur_pos(&cur, i, &line, &col);
			rule_yerr_at(L->d, line, col, "%s: bad template '%%%c' "
				     "(%%n is the guest name, %%%% a percent "
				     "sign)", what, n->str[i + 1] ? n->str[i + 1]
				     : ' ');
			return -EINVAL;
		}
		i++;
	}
	return 0;
}

/* A path, made absolute against the configuration file's directory. */
int config_get_path(struct cload *L, const struct rule_ynode *n,
		    const char *what, const char **out)
{
	const char *s;
	char *p;

	if (rule_ystr(L->d, n, what, true, &s) < 0)
		return -EINVAL;
	if (s[0] == '/' || !strcmp(s, "-")) {
		p = cstrdup(L, s);
	} else {
		p = rule_arena_alloc(L->c->arena, strlen(L->base) + n->n + 2);
		if (p)
			sprintf(p, "%s/%s", L->base, s);
	}
	if (!p)
		return -ENOMEM;
	*out = p;
	return 0;
}

int config_get_str(struct cload *L, const struct rule_ynode *n,
		   const char *what, const char **out)
{
	const char *s;

	if (rule_ystr(L->d, n, what, true, &s) < 0)
		return -EINVAL;
	return (*out = cstrdup(L, s)) ? 0 : -ENOMEM;
}

int config_get_prio(struct cload *L, const struct rule_ynode *n,
		    enum rule_priority *p)
{
	int v = n && n->type == RULE_Y_SCALAR ?
		rule_priority_parse(n->str, n->n) : -EINVAL;

	if (v < 0) {
		rule_yerr(L->d, n, "unknown priority (emergency, alert, "
			  "critical, error, warning, notice, informational, "
			  "debug)");
		return -EINVAL;
	}
	*p = (enum rule_priority)v;
	return 0;
}

/* qemu path templates: required ones present, and %n if match is a glob. */
static int qemu_paths(struct cload *L, struct config_guest *g,
		      const struct rule_ynode **v)
{
	static const char *const names[] = { "ram", "gdb", "upcall" };
	const char **dst[] = { &g->ram, &g->gdb, &g->upcall };
	int rc = 0;

	for (int k = 0; k < 3; k++) {
		const struct rule_ynode *n = v[4 + k];
		bool has_name;

		if (!n) {
			if (k < 2) {
				rule_yerr(L->d, v[0], "qemu guest '%s' needs "
					  "'%s'", g->match, names[k]);
				rc = -EINVAL;
			}
			continue;
		}
		if (config_get_path(L, n, names[k], dst[k]) < 0 ||
		    check_template(L, n, names[k], &has_name) < 0) {
			rc = -EINVAL;
			continue;
		}
		if (!has_name && is_glob(g->match)) {
			rule_yerr(L->d, n, "%s has no %%n but match '%s' fits "
				  "several guests", names[k], g->match);
			rc = -EINVAL;
		}
	}
	return rc;
}

static int load_guest(struct cload *L, const struct rule_ynode *n,
		      struct config_guest *g)
{
	const struct rule_ynode *v[10];
	const char *be, *bp;
	int rc = rule_ymap(L->d, n, "a guest entry", guest_keys, v);

	*g = (struct config_guest){ .line = n->line, .col = n->col,
		.upcall_timeout_ms = CONFIG_UPCALL_TIMEOUT_DEFAULT_MS };
	if (!v[0] || !v[1] || !v[2]) {
		rule_yerr(L->d, n, "a guest entry needs match, backend and "
			  "profiles");
		return -EINVAL;
	}
	if (config_get_str(L, v[0], "match", &g->match) < 0 ||
	    rule_ystr(L->d, v[1], "backend", true, &be) < 0)
		return -EINVAL;
	if (!strcmp(be, "xen")) {
		g->backend = CONFIG_BACKEND_XEN;
	} else if (!strcmp(be, "qemu")) {
		g->backend = CONFIG_BACKEND_QEMU;
	} else {
		rule_yerr(L->d, v[1], "unknown backend '%.32s' (xen or qemu)", be);
		return -EINVAL;
	}
	if (config_get_path(L, v[2], "profiles", &g->profiles) < 0 ||
	    (v[3] && config_get_path(L, v[3], "key_dir", &g->key_dir) < 0))
		rc = -EINVAL;
	if (g->backend == CONFIG_BACKEND_QEMU) {
		if (qemu_paths(L, g, v) < 0)
			rc = -EINVAL;
	} else {
		for (int k = 4; k < 7; k++)
			if (v[k]) {
				rule_yerr(L->d, v[k], "'%s' is only for backend "
					  "qemu", guest_keys[k]);
				rc = -EINVAL;
			}
	}
	if (v[8] && g->backend != CONFIG_BACKEND_XEN) {
		rule_yerr(L->d, v[8], "'breakpoints' is only for backend xen");
		rc = -EINVAL;
	} else if (v[8] && rule_ystr(L->d, v[8], "breakpoints", true, &bp) < 0) {
		rc = -EINVAL;
	} else if (v[8] && strcmp(bp, "int3") && strcmp(bp, "debugreg")) {
		rule_yerr(L->d, v[8], "unknown breakpoints '%.32s' (int3 or debugreg)", bp);
		rc = -EINVAL;
	} else if (v[8]) {
		g->debugreg_bps = !strcmp(bp, "debugreg");
	}
	if (v[7] && rule_yduration(L->d, v[7], "upcall_timeout",
				   &g->upcall_timeout_ms) < 0)
		rc = -EINVAL;
	else if (v[7] && (g->upcall_timeout_ms == 0 ||
			  g->upcall_timeout_ms > CONFIG_UPCALL_TIMEOUT_MAX_MS)) {
		rule_yerr(L->d, v[7], "upcall_timeout must be more than 0 and "
			  "at most %ds", CONFIG_UPCALL_TIMEOUT_MAX_MS / 1000);
		rc = -EINVAL;
	}
	return rc;
}

static int load_guests(struct cload *L, const struct rule_ynode *n)
{
	struct rule_ynode *const *items, *one;
	struct config *c = L->c;
	size_t cnt;
	int rc = 0;

	if (rule_yseq(L->d, n, "guests", false, &items, &cnt, &one) < 0)
		return -EINVAL;
	if (cnt > CONFIG_GUESTS_MAX) {
		rule_yerr(L->d, n, "more than %d guest entries", CONFIG_GUESTS_MAX);
		return -EINVAL;
	}
	c->guests = rule_arena_alloc(c->arena, (cnt ? cnt : 1) * sizeof(*c->guests));
	if (!c->guests)
		return -ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		struct config_guest *g = &c->guests[c->nguests];
		int r = load_guest(L, items[i], g);

		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			rc = r;
			continue;
		}
		for (size_t j = 0; j < c->nguests; j++)
			if (!strcmp(c->guests[j].match, g->match)) {
				rule_yerr(L->d, items[i], "guest match '%s' "
					  "repeats the entry at line %u",
					  g->match, c->guests[j].line);
				rc = -EINVAL;
			}
		c->nguests++;
	}
	if (cnt == 0)
		rule_errors_warn(L->d->errs, L->d->file, n->line, n->col,
				 "no guests configured: upcalld will watch "
				 "nothing");
	return rc;
}

static int load_rules(struct cload *L, const struct rule_ynode *n)
{
	struct rule_ynode *const *items, *one;
	struct config *c = L->c;
	size_t cnt;
	int rc = 0;

	if (rule_yseq(L->d, n, "rules", true, &items, &cnt, &one) < 0)
		return -EINVAL;
	if (cnt == 0 || cnt > CONFIG_RULE_DIRS_MAX) {
		rule_yerr(L->d, n, "rules lists 1 to %d directories or files",
			  CONFIG_RULE_DIRS_MAX);
		return -EINVAL;
	}
	c->rule_paths = rule_arena_alloc(c->arena, cnt * sizeof(char *));
	if (!c->rule_paths)
		return -ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		int r = config_get_path(L, items[i], "a rules path",
				 &c->rule_paths[c->nrule_paths]);

		if (r == -ENOMEM)
			return r;
		if (r < 0)
			rc = r;
		else
			c->nrule_paths++;
	}
	return rc;
}

static int load_rate(struct cload *L, const struct rule_ynode *n)
{
	const struct rule_ynode *v[3];
	struct config *c = L->c;
	uint64_t burst;
	int rc = rule_ymap(L->d, n, "rate_limit", rate_keys, v);

	if (v[0] && v[0]->type == RULE_Y_SCALAR &&
	    !strcmp(v[0]->str, "unlimited")) {
		c->rate.count = 0;
	} else if (v[0] && (v[0]->type != RULE_Y_SCALAR ||
			    rule_parse_rate(v[0]->str, v[0]->n, &c->rate) < 0)) {
		rule_yerr(L->d, v[0], "rate: bad rate (COUNT/UNIT as in 60/min, "
			  "or unlimited)");
		rc = -EINVAL;
	}
	if (v[1] && rule_yuint(L->d, v[1], "burst", 100000, &burst) < 0)
		rc = -EINVAL;
	else if (v[1])
		c->burst = (uint32_t)burst;
	if (v[2] && rule_yduration(L->d, v[2], "dedup", &c->dedup_ms) < 0)
		rc = -EINVAL;
	return rc;
}


static int load_top(struct cload *L, const struct rule_ynode *root)
{
	const struct rule_ynode *v[7];
	struct config *c = L->c;
	int rc = rule_ymap(L->d, root, "the configuration", top_keys, v);

	if (!root || root->type != RULE_Y_MAP)
		return -EINVAL;
	if (!v[0] || !v[1]) {
		rule_yerr(L->d, root, "the configuration needs 'guests' and "
			  "'rules'");
		rc = -EINVAL;
	}
	int r[6] = { 0 };

	if (v[0])
		r[0] = load_guests(L, v[0]);
	if (v[1])
		r[1] = load_rules(L, v[1]);
	if (v[2])
		r[2] = config_load_outputs(L, v[2]);
	if (v[3])
		r[3] = config_get_path(L, v[3], "control_socket",
				       &c->control_socket);
	if (v[4])
		r[4] = load_rate(L, v[4]);
	if (v[5])
		r[5] = rule_ybool(L->d, v[5], "watchdog", &c->watchdog);
	for (int k = 0; k < 6; k++) {
		if (r[k] == -ENOMEM)
			return -ENOMEM;
		if (r[k] < 0)
			rc = -EINVAL;
	}
	if (!v[2])
		rule_errors_warn(L->d->errs, L->d->file, root->line, root->col,
				 "no outputs: alerts go only to the daemon's "
				 "log");
	return rc;
}

static struct config *config_new(void)
{
	struct config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->arena = calloc(1, sizeof(*c->arena));
	if (!c->arena) {
		free(c);
		return NULL;
	}
	c->control_socket = CONFIG_SOCKET_DEFAULT;
	c->rate = (struct rule_rate){ .count = 60, .period_ms = 60000 };
	c->burst = 20;
	c->dedup_ms = 60000;
	c->watchdog = true;
	return c;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	rule_arena_release(c->arena);
	free(c->arena);
	free(c);
}

int config_load_buf(const char *name, const char *buf, size_t len,
		    const char *base_dir, struct config **out,
		    struct rule_errors *errs)
{
	struct config *c = config_new();
	struct rule_ydoc d;
	struct cload L = { .c = c, .d = &d, .base = base_dir ? base_dir : "." };
	size_t nerr0 = errs->nerrors, first = errs->n;
	int rc;

	if (!c)
		return -ENOMEM;
	if (len > RULE_FILE_MAX) {
		rule_errors_add(errs, name, 0, 0, "text larger than %u bytes",
				RULE_FILE_MAX);
		config_free(c);
		return -EINVAL;
	}
	rc = rule_ydoc_parse(&d, name, buf, len, errs);
	if (rc == 0 && !d.root) {
		rule_errors_add(errs, name, 1, 1, "the configuration is empty");
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = load_top(&L, d.root);
	if (rc == 0 && !(c->path = rule_arena_strndup(c->arena, name,
						      strlen(name))))
		rc = -ENOMEM;
	rule_ydoc_release(&d);
	rule_errors_sort(errs, first);
	if (rc == 0 && errs->nerrors != nerr0)
		rc = -EINVAL;
	if (rc < 0) {
		config_free(c);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	*out = c;
	return 0;
}

int config_load(const char *path, struct config **out, struct rule_errors *errs)
{
	char *buf, *dir;
	size_t len;
	int rc = rule_yaml_read_file(path, &buf, &len, errs);

	if (rc < 0)
		return rc == -ENOENT || rc == -ENOMEM ? rc : -EINVAL;
	dir = strdup(path);
	if (!dir) {
		free(buf);
		return -ENOMEM;
	}
	rc = config_load_buf(path, buf, len, dirname(dir), out, errs);
	free(dir);
	free(buf);
	return rc;
}

const struct config_guest *config_guest_find(const struct config *c,
					     const char *name)
{
	for (size_t i = 0; i < c->nguests; i++)
		if (rule_glob(c->guests[i].match, name, strlen(name)))
			return &c->guests[i];
	return NULL;
}

int config_expand(const char *tmpl, const char *name, char *buf, size_t len)
{
	size_t used = 0, nlen = strlen(name);

	if (!nlen || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return -EINVAL;
	for (const char *p = tmpl; *p; p++) {
		const char *add = p;
		size_t n = 1;

		if (p[0] == '%' && p[1] == 'n') {
			add = name;
			n = nlen;
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			p++;
		}
		if (used + n >= len)
			return -ENOSPC;
		memcpy(buf + used, add, n);
		used += n;
	}
	if (len == 0)
		return -ENOSPC;
	buf[used] = 0;
	return (int)used;
}

const char *config_backend_name(enum config_backend b)
{
	return b == CONFIG_BACKEND_XEN ? "xen" : b == CONFIG_BACKEND_QEMU ?
	       "qemu" : "invalid";
}

unsigned int config_backend_caps(enum config_backend b)
{
	unsigned int base = HV_CAP_MEM | HV_CAP_REGS | HV_CAP_PAUSE |
			    HV_CAP_BREAKPOINT;

	if (b == CONFIG_BACKEND_XEN)
		return base | HV_CAP_CR3_EVENT;	/* HVM/PVH guests */
	if (b == CONFIG_BACKEND_QEMU)
		return base | HV_CAP_CR3_APPROX | HV_CAP_BP_INVISIBLE;
	return 0;
}

/* Rules against each backend the configuration uses (once per backend). */
static size_t check_backends(const struct config *c, const struct rule_set *s,
			     struct rule_errors *errs)
{
	bool seen[3] = { false };
	size_t refused = 0;

	for (size_t i = 0; i < c->nguests; i++) {
		enum config_backend b = c->guests[i].backend;

		if (seen[b])
			continue;
		seen[b] = true;
		refused += rule_set_check_caps(s, NULL, config_backend_caps(b),
					       errs);
	}
	return refused;
}

int config_check(const char *path, FILE *out)
{
	struct rule_errors errs;
	struct config *c = NULL;
	struct rule_set *s = NULL;
	struct rule_set_stats st;
	int rc;

	rule_errors_init(&errs);
	rc = config_load(path, &c, &errs);
	if (rc == 0)
		rc = rule_set_load_dir(c->rule_paths, c->nrule_paths, &s, &errs);
	if (rc == 0 && check_backends(c, s, &errs) > 0)
		rc = -EINVAL;
	rule_errors_print(&errs, out);
	if (rc == 0) {
		rule_set_stats(s, &st);
		fprintf(out, "%s: OK: %zu guest entries, %zu outputs; %zu rules "
			"(%zu enabled), %zu macros, %zu lists from %zu files\n",
			path, c->nguests, c->noutputs, st.rules, st.enabled,
			st.macros, st.lists, st.files);
	} else {
		fprintf(out, "%s: %zu error%s\n", path, errs.nerrors,
			errs.nerrors == 1 ? "" : "s");
	}
	rule_set_free(s);
	config_free(c);
	rule_errors_release(&errs);
	return rc == -ENOMEM ? rc : rc < 0 ? -EINVAL : 0;
}
