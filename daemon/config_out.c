/*
 * config_out.c - the "outputs:" section of upcalld.yaml: syslog (unix
 * socket or UDP), JSON lines, CEF and syslog over TLS, one or several of
 * each, validated with positions like the rest of the configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

static const char *const out_kinds[] = { "syslog", "json", "cef", "tls", NULL };
static const char *const out_keys[][9] = {
	[CONFIG_OUT_SYSLOG] = { "socket", "udp", "facility", "format",
				"min_priority", NULL },
	[CONFIG_OUT_JSON] = { "path", "min_priority", NULL },
	[CONFIG_OUT_CEF] = { "path", "syslog", "min_priority", NULL },
	[CONFIG_OUT_TLS] = { "host", "port", "ca", "cert", "key", "verify",
			     "min_priority", NULL },
};

static int facility_parse(const char *s)
{
	static const char *const names[] = {
		"kern", "user", "mail", "daemon", "auth", "syslog", "lpr",
		"news", "uucp", "cron", "authpriv", "ftp",
	};

	for (int i = 0; i < 12; i++)
		if (!strcmp(s, names[i]))
			return i;
	if (!strncmp(s, "local", 5) && s[5] >= '0' && s[5] <= '7' && !s[6])
		return 16 + s[5] - '0';
	return -EINVAL;
}

/* "host:port" or "[v6]:port" into o->host, o->port. */
static int host_port(struct cload *L, const struct rule_ynode *n,
		     struct config_output *o)
{
	const char *s, *colon;
	char *h;
	unsigned long port;
	char *end;

	if (rule_ystr(L->d, n, "udp", true, &s) < 0)
		return -EINVAL;
	colon = strrchr(s, ':');
	if (!colon || colon == s)
		goto bad;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port == 0 || port > 65535)
		goto bad;
	if (s[0] == '[' && colon[-1] == ']')
		h = rule_arena_strndup(L->c->arena, s + 1, (size_t)(colon - s) - 2);
	else
		h = rule_arena_strndup(L->c->arena, s, (size_t)(colon - s));
	if (!h)
		return -ENOMEM;
	o->host = h;
	o->port = (uint16_t)port;
	return 0;
bad:
	rule_yerr(L->d, n, "udp must be HOST:PORT (port 1-65535)");
	return -EINVAL;
}

static int out_syslog(struct cload *L, const struct rule_ynode **v,
		      const struct rule_ynode *n, struct config_output *o)
{
	int rc = 0;

	o->facility = 3;	/* daemon */
	if (v[0] && v[1]) {
		rule_yerr(L->d, v[1], "syslog takes socket or udp, not both");
		return -EINVAL;
	}
	if (v[0])
		rc = config_get_path(L, v[0], "socket", &o->path);
	else if (v[1])
		rc = host_port(L, v[1], o);
	else
		o->path = "/dev/log";
	if (v[2]) {
		int f = v[2]->type == RULE_Y_SCALAR ? facility_parse(v[2]->str)
						    : -EINVAL;
		if (f < 0) {
			rule_yerr(L->d, v[2], "unknown facility (kern, user, "
				  "daemon, auth, authpriv, local0..local7, ...)");
			rc = -EINVAL;
		}
		o->facility = f < 0 ? 3 : f;
	}
	if (v[3]) {
		if (v[3]->type == RULE_Y_SCALAR && !strcmp(v[3]->str, "rfc5424")) {
			o->format = CONFIG_RFC5424;
		} else if (v[3]->type == RULE_Y_SCALAR &&
			   !strcmp(v[3]->str, "rfc3164")) {
			o->format = CONFIG_RFC3164;
		} else {
			rule_yerr(L->d, v[3], "format must be rfc5424 or rfc3164");
			rc = -EINVAL;
		}
	}
	(void)n;
	return rc;
}

static int out_tls(struct cload *L, const struct rule_ynode **v,
		   const struct rule_ynode *n, struct config_output *o)
{
	uint64_t port = 6514;
	int rc = 0;

	o->verify = true;
	if (!v[0]) {
		rule_yerr(L->d, n, "tls needs 'host'");
		return -EINVAL;
	}
	if (config_get_str(L, v[0], "host", &o->host) < 0)
		rc = -EINVAL;
	if (v[5] && rule_ybool(L->d, v[5], "verify", &o->verify) < 0)
		rc = -EINVAL;
	if (v[1] && (rule_yuint(L->d, v[1], "port", 65535, &port) < 0 ||
		     port == 0)) {
		if (port == 0)
			rule_yerr(L->d, v[1], "port must be 1-65535");
		rc = -EINVAL;
	}
	o->port = (uint16_t)port;
	for (int k = 2; k < 5; k++)
		if (v[k] && config_get_path(L, v[k], out_keys[CONFIG_OUT_TLS][k],
				     k == 2 ? &o->ca : k == 3 ? &o->cert
					    : &o->key) < 0)
			rc = -EINVAL;
	if (!v[3] != !v[4]) {
		rule_yerr(L->d, n, "tls: cert and key go together");
		rc = -EINVAL;
	}
	if (o->verify && !v[2]) {
		rule_yerr(L->d, n, "tls: verify needs 'ca' (or verify: false)");
		rc = -EINVAL;
	}
	if (!o->verify)
		rule_errors_warn(L->d->errs, L->d->file, v[5]->line, v[5]->col,
				 "tls: verify: false accepts any server "
				 "certificate");
	return rc;
}

static int load_output(struct cload *L, enum config_output_kind kind,
		       const struct rule_ynode *n, struct config_output *o)
{
	const struct rule_ynode *v[9];
	char what[32];
	int rc, mp;

	snprintf(what, sizeof(what), "a %s output", out_kinds[kind - 1]);
	rc = rule_ymap(L->d, n, what, out_keys[kind], v);
	*o = (struct config_output){ .kind = kind, .line = n->line,
				     .col = n->col,
				     .min_priority = RULE_PRIO_DEBUG };
	if (rc < 0)
		return rc;
	for (mp = 0; out_keys[kind][mp]; mp++)
		if (!strcmp(out_keys[kind][mp], "min_priority"))
			break;
	if (v[mp] && config_get_prio(L, v[mp], &o->min_priority) < 0)
		rc = -EINVAL;
	switch (kind) {
	case CONFIG_OUT_SYSLOG:
		return out_syslog(L, v, n, o) < 0 ? -EINVAL : rc;
	case CONFIG_OUT_JSON:
		if (!v[0]) {
			rule_yerr(L->d, n, "json needs 'path'");
			return -EINVAL;
		}
		return config_get_path(L, v[0], "path", &o->path) < 0 ? -EINVAL : rc;
	case CONFIG_OUT_CEF:
		if (!v[0] == !(v[1] && rule_ybool(L->d, v[1], "syslog",
						  &o->via_syslog) == 0 &&
			       o->via_syslog)) {
			rule_yerr(L->d, n, "cef takes path or syslog: true");
			return -EINVAL;
		}
		return v[0] && config_get_path(L, v[0], "path", &o->path) < 0 ?
		       -EINVAL : rc;
	default:
		return out_tls(L, v, n, o) < 0 ? -EINVAL : rc;
	}
}

/* outputs: {KIND: {...} or [{...}, ...], ...} */
int config_load_outputs(struct cload *L, const struct rule_ynode *n)
{
	const struct rule_ynode *v[5];
	struct config *c = L->c;
	bool syslog = false, cef_syslog = false;
	int rc = rule_ymap(L->d, n, "outputs", out_kinds, v);

	c->outputs = rule_arena_alloc(c->arena, CONFIG_OUTPUTS_MAX *
				      sizeof(*c->outputs));
	if (!c->outputs)
		return -ENOMEM;
	for (int k = 0; k < 4; k++) {
		struct rule_ynode *const *items, *one;
		size_t cnt;

		if (!v[k])
			continue;
		if (v[k]->type == RULE_Y_MAP) {
			one = (struct rule_ynode *)v[k];
			items = &one;
			cnt = 1;
		} else if (rule_yseq(L->d, v[k], out_kinds[k], false, &items,
				     &cnt, &one) < 0) {
			rc = -EINVAL;
			continue;
		}
		for (size_t i = 0; i < cnt; i++) {
			struct config_output *o = &c->outputs[c->noutputs];

			if (c->noutputs >= CONFIG_OUTPUTS_MAX) {
				rule_yerr(L->d, items[i], "more than %d outputs",
					  CONFIG_OUTPUTS_MAX);
				return -EINVAL;
			}
			syslog |= k + 1 == CONFIG_OUT_SYSLOG;	/* even if bad */
			if (load_output(L, k + 1, items[i], o) < 0) {
				rc = -EINVAL;
				continue;
			}
			cef_syslog |= o->via_syslog;
			c->noutputs++;
		}
	}
	if (cef_syslog && !syslog) {
		rule_yerr(L->d, n, "cef with syslog: true needs a syslog output");
		rc = -EINVAL;
	}
	return rc;
}
