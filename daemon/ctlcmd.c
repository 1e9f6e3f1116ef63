/*
 * ctlcmd.c - the control socket's commands (see ctlcmd.h).
 */
#include "ctlcmd.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "config.h"
#include "guest.h"
#include "rule.h"
#include "scan.h"
#include "trig.h"
#include "upcall.h"
#include "upcalld.h"

/* A live view waiting for its scan. */
struct ctlcmd_view {
	struct ctl *ctl;
	uint64_t client;
	char cmd[8];		/* ps, lsmod, lsof */
	char source[8];		/* memory, guest, diff */
	int32_t pid;		/* lsof filter; -1 = all */
};

static struct json_object *jint(int64_t v)
{
	return json_object_new_int64(v);
}

static struct json_object *ctlcmd_ok(void)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(1));
	return r;
}

static struct json_object *ctlcmd_guest_json(const struct guest *g)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(g->conf.name));
	json_object_object_add(o, "backend", json_object_new_string(g->conf.backend));
	if (!strcmp(g->conf.backend, "xen") && g->conf.domid)
		json_object_object_add(o, "domid", jint(g->conf.domid));
	json_object_object_add(o, "state", json_object_new_string(guest_state_str(g->state)));
	json_object_object_add(o, "events", jint((int64_t)g->st.events));
	json_object_object_add(o, "scans", jint((int64_t)g->st.scans));
	json_object_object_add(o, "upcalls", jint((int64_t)g->st.upcalls));
	json_object_object_add(o, "upcall_failures", jint((int64_t)g->st.upcall_failures));
	json_object_object_add(o, "findings", jint((int64_t)g->st.findings));
	json_object_object_add(o, "alerts", jint((int64_t)g->st.alerts));
	json_object_object_add(o, "breakpoints", jint(g->nbps));
	json_object_object_add(o, "agent_connected",
			       json_object_new_boolean(g->up && upcall_connected(g->up)));
	if (g->error[0])
		json_object_object_add(o, "error", json_object_new_string(g->error));
	return o;
}

static struct json_object *ctlcmd_guests(const struct upcalld *d)
{
	struct json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < d->nguests; i++)
		json_object_array_add(a, ctlcmd_guest_json(d->guests[i]));
	return a;
}

static struct json_object *ctlcmd_sinks(const struct upcalld *d)
{
	struct json_object *a = json_object_new_array();
	size_t i, n = alert_hub_nsinks(d->hub);

	for (i = 0; i < n; i++) {
		const struct alert_sink *s = alert_hub_sink(d->hub, i);
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(s->name));
		json_object_object_add(o, "kind", json_object_new_string(s->ops->kind));
		json_object_object_add(o, "sent", jint((int64_t)s->st.sent));
		json_object_object_add(o, "queued", jint((int64_t)s->st.queued));
		json_object_object_add(o, "dropped", jint((int64_t)alert_sink_dropped(s)));
		json_object_object_add(o, "errors", jint((int64_t)s->st.errors));
		json_object_array_add(a, o);
	}
	return a;
}

static void ctlcmd_status(struct upcalld *d, struct ctl *c, uint64_t client)
{
	struct json_object *r = ctlcmd_ok();
	struct rule_set_stats rs;
	char rules[96];

	rule_set_stats(d->rules, &rs);
	snprintf(rules, sizeof(rules), "%zu (%zu enabled, %zu files)", rs.rules,
		 rs.enabled, rs.files);
	json_object_object_add(r, "version", json_object_new_string(UPCALLD_VERSION));
	json_object_object_add(r, "uptime_s",
			       jint((int64_t)((upcalld_now_ns() - d->started_ns) / 1000000000ull)));
	json_object_object_add(r, "rules", json_object_new_string(rules));
	json_object_object_add(r, "reloads", jint((int64_t)d->st.reloads));
	json_object_object_add(r, "reload_failures", jint((int64_t)d->st.reload_failures));
	json_object_object_add(r, "alerts", jint((int64_t)d->st.alerts));
	json_object_object_add(r, "last_reload_error",
			       d->rules_error[0] ? json_object_new_string(d->rules_error) : NULL);
	json_object_object_add(r, "guests", ctlcmd_guests(d));
	json_object_object_add(r, "sinks", ctlcmd_sinks(d));
	ctl_reply(c, client, r);
}

static void ctlcmd_reload(struct upcalld *d, struct ctl *c, uint64_t client)
{
	struct json_object *r;

	if (upcalld_reload(d)) {
		r = json_object_new_object();
		json_object_object_add(r, "ok", json_object_new_boolean(0));
		json_object_object_add(r, "error", json_object_new_string(
			"reload failed, the old rules keep running"));
		json_object_object_add(r, "errors", json_object_new_array());
		json_object_array_add(json_object_object_get(r, "errors"),
				      json_object_new_string(d->rules_error));
	} else {
		char msg[96];

		r = ctlcmd_ok();
		snprintf(msg, sizeof(msg), "reloaded: %zu rules", rule_set_nrules(d->rules));
		json_object_object_add(r, "message", json_object_new_string(msg));
	}
	ctl_reply(c, client, r);
}

/* Load rules into a throwaway set: report every error, change nothing. */
static void ctlcmd_validate(struct upcalld *d, struct ctl *c, uint64_t client,
			    struct json_object *req)
{
	struct json_object *paths = json_object_object_get(req, "paths");
	size_t n = paths && json_object_is_type(paths, json_type_array)
			   ? json_object_array_length(paths) : 0, i;
	const char **v = calloc(n ? n : 1, sizeof(*v));
	struct json_object *r, *errs = json_object_new_array();
	struct rule_errors e;
	struct rule_set *set = NULL;
	char line[512];
	int rc;

	for (i = 0; v && i < n; i++) {
		struct json_object *p = json_object_array_get_idx(paths, i);

		if (!json_object_is_type(p, json_type_string)) {
			free(v);
			json_object_put(errs);
			ctl_reply_error(c, client, "paths must be a list of strings");
			return;
		}
		v[i] = json_object_get_string(p);
	}
	if (!v) {
		json_object_put(errs);
		ctl_reply_error(c, client, "out of memory");
		return;
	}
	rule_errors_init(&e);
	rc = n ? rule_set_load_dir(v, n, &set, &e)
	       : rule_set_load_dir(d->cfg->rule_paths, d->cfg->nrule_paths, &set, &e);
	for (i = 0; i < e.n; i++) {
		rule_error_format(&e.v[i], line, sizeof(line));
		json_object_array_add(errs, json_object_new_string(line));
	}
	r = json_object_new_object();
	json_object_object_add(r, "ok", json_object_new_boolean(rc == 0));
	json_object_object_add(r, "errors", errs);
	snprintf(line, sizeof(line), rc ? "invalid: %zu errors" : "valid: %zu rules",
		 rc ? e.nerrors : rule_set_nrules(set));
	json_object_object_add(r, rc ? "error" : "message", json_object_new_string(line));
	rule_set_free(set);
	rule_errors_release(&e);
	free(v);
	ctl_reply(c, client, r);
}

/* --- live views ---------------------------------------------------------- */

static struct json_object *ctlcmd_procs(const struct snap *s)
{
	struct json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < s->nprocs; i++) {
		const struct xcheck_proc *p = &s->procs[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "pid", jint(p->pid));
		json_object_object_add(o, "ppid", jint(p->ppid));
		json_object_object_add(o, "uid", jint(p->uid));
		json_object_object_add(o, "comm", json_object_new_string(p->comm));
		json_object_object_add(o, "start_ns", jint((int64_t)p->start_ns));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *ctlcmd_mods(const struct snap *s)
{
	struct json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < s->nmods; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(s->mods[i].name));
		json_object_object_add(o, "size", jint((int64_t)s->mods[i].size));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *ctlcmd_files(const struct snap *s, int32_t pid)
{
	struct json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < s->nfiles; i++) {
		const struct xcheck_file *f = &s->files[i];
		struct json_object *o;

		if (pid >= 0 && f->pid != pid)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "pid", jint(f->pid));
		json_object_object_add(o, "fd", jint(f->fd));
		json_object_object_add(o, "path", json_object_new_string(f->path ? f->path : ""));
		json_object_array_add(a, o);
	}
	return a;
}

static void ctlcmd_findings_add(struct json_object *a, const struct xcheck_result *xr,
				int32_t pid)
{
	size_t i;

	for (i = 0; i < xr->n; i++) {
		const struct xcheck_finding *f = &xr->v[i];
		struct json_object *o;

		if (pid >= 0 && f->pid != pid)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "kind", json_object_new_string(xcheck_kind_str(f->kind)));
		json_object_object_add(o, "object", json_object_new_string(xcheck_object_str(f->object)));
		json_object_object_add(o, "pid", f->pid >= 0 ? jint(f->pid) : NULL);
		json_object_object_add(o, "fd", f->fd >= 0 ? jint(f->fd) : NULL);
		json_object_object_add(o, "name", json_object_new_string(f->name));
		json_object_object_add(o, "detail", json_object_new_string(f->detail));
		json_object_array_add(a, o);
	}
}

static void ctlcmd_view_done(void *arg, struct scan *s)
{
	struct ctlcmd_view *v = arg;
	const struct snap *sn = !strcmp(v->source, "guest") ? &s->ans : &s->m1;
	struct json_object *r, *f;

	if (s->cancelled || s->error || (strcmp(v->source, "memory") && s->failed)) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s: %s", s->g->conf.name,
			 s->cancelled ? "guest went away" :
			 s->error ? strerror(-s->error) : s->fail_detail);
		ctl_reply_error(v->ctl, v->client, msg);
		free(v);
		return;
	}
	r = ctlcmd_ok();
	json_object_object_add(r, "guest", json_object_new_string(s->g->conf.name));
	json_object_object_add(r, "source", json_object_new_string(v->source));
	if (!strcmp(v->source, "diff")) {
		f = json_object_new_array();
		ctlcmd_findings_add(f, &s->xr_procs, -1);
		ctlcmd_findings_add(f, &s->xr_modules, -1);
		ctlcmd_findings_add(f, &s->xr_files, v->pid);
		json_object_object_add(r, "findings", f);
	} else if (!strcmp(v->cmd, "ps")) {
		json_object_object_add(r, "processes", ctlcmd_procs(sn));
	} else if (!strcmp(v->cmd, "lsmod")) {
		json_object_object_add(r, "modules", ctlcmd_mods(sn));
	} else {
		json_object_object_add(r, "files", ctlcmd_files(sn, v->pid));
	}
	ctl_reply(v->ctl, v->client, r);
	free(v);
}

static struct guest *ctlcmd_find_guest(struct upcalld *d, const char *name)
{
	size_t i;

	for (i = 0; name && i < d->nguests; i++)
		if (!strcmp(d->guests[i]->conf.name, name))
			return d->guests[i];
	return NULL;
}

static void ctlcmd_view(struct upcalld *d, struct ctl *c, uint64_t client,
			const char *cmd, struct json_object *req)
{
	const char *name = json_object_get_string(json_object_object_get(req, "guest"));
	const char *src = json_object_get_string(json_object_object_get(req, "source"));
	struct json_object *jpid = json_object_object_get(req, "pid");
	struct guest *g = ctlcmd_find_guest(d, name);
	struct ctlcmd_view *v;
	struct scan_req sr = { .done = ctlcmd_view_done, .event_type = "operator" };
	int rc;

	if (!src)
		src = "memory";
	if (!g || (strcmp(src, "memory") && strcmp(src, "guest") && strcmp(src, "diff"))) {
		ctl_reply_error(c, client, g ? "source must be memory, guest or diff"
					     : "no such guest");
		return;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		ctl_reply_error(c, client, "out of memory");
		return;
	}
	*v = (struct ctlcmd_view){ .ctl = c, .client = client,
				   .pid = jpid ? json_object_get_int(jpid) : -1 };
	snprintf(v->cmd, sizeof(v->cmd), "%s", cmd);
	snprintf(v->source, sizeof(v->source), "%s", src);
	sr.what = !strcmp(cmd, "ps") ? SNAP_PROCS :
		  !strcmp(cmd, "lsmod") ? SNAP_MODULES : SNAP_PROCS | SNAP_FILES;
	sr.memory_only = !strcmp(src, "memory");
	sr.arg = v;
	rc = scan_start(g, &sr, NULL, 0);
	if (rc) {
		char msg[400];

		snprintf(msg, sizeof(msg), "%.64s: %s%s%s", name, strerror(-rc),
			 g->error[0] ? ": " : "", g->error);
		ctl_reply_error(c, client, msg);
		free(v);
	}
}

/* Run the guest's interval rules now instead of at their next period. */
static void ctlcmd_check(struct upcalld *d, struct ctl *c, uint64_t client,
			 struct json_object *req)
{
	const char *name = json_object_get_string(json_object_object_get(req, "guest"));
	struct guest *g = ctlcmd_find_guest(d, name);
	struct json_object *r;
	char msg[256];
	unsigned int n;

	if (!g || !g->hv) {
		ctl_reply_error(c, client, g ? "guest is not attached" : "no such guest");
		return;
	}
	n = trig_fire_intervals(g);
	r = ctlcmd_ok();
	snprintf(msg, sizeof(msg), "%s: %u interval trigger(s) fired; alerts follow "
		 "when the guest has answered", g->conf.name, n);
	json_object_object_add(r, "message", json_object_new_string(msg));
	ctl_reply(c, client, r);
}

void ctlcmd_request(void *ctx, struct ctl *c, uint64_t client,
		    struct json_object *req)
{
	struct upcalld *d = ctx;
	const char *cmd = json_object_get_string(json_object_object_get(req, "cmd"));
	struct json_object *r;

	if (!strcmp(cmd, "status")) {
		ctlcmd_status(d, c, client);
	} else if (!strcmp(cmd, "guests")) {
		r = ctlcmd_ok();
		json_object_object_add(r, "guests", ctlcmd_guests(d));
		ctl_reply(c, client, r);
	} else if (!strcmp(cmd, "reload")) {
		ctlcmd_reload(d, c, client);
	} else if (!strcmp(cmd, "validate")) {
		ctlcmd_validate(d, c, client, req);
	} else if (!strcmp(cmd, "check")) {
		ctlcmd_check(d, c, client, req);
	} else if (!strcmp(cmd, "ps") || !strcmp(cmd, "lsmod") || !strcmp(cmd, "lsof")) {
		ctlcmd_view(d, c, client, cmd, req);
	} else {
		ctl_reply_error(c, client, "unknown command");
	}
}
