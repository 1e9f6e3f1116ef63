/*
 * denv.c - field values for rules, and alerts from fired rules.
 */
#include "denv.h"

#include <errno.h>
#include <string.h>

#include "alert.h"
#include "guest.h"
#include "upcalld.h"

void denv_init(struct denv *e, struct guest *g, const char *event_type)
{
	memset(e, 0, sizeof(*e));
	e->g = g;
	e->event_type = event_type;
	e->vcpu = -1;
	e->fd = -1;
}

static int denv_str(const char *s, struct rule_value *v)
{
	if (!s)
		return -ENOENT;
	v->type = RULE_T_STR;
	v->s = s;
	v->len = strlen(s);
	return 0;
}

static int denv_int(bool has, int64_t i, struct rule_value *v)
{
	if (!has)
		return -ENOENT;
	v->type = RULE_T_INT;
	v->i = i;
	return 0;
}

static int denv_get(void *ctx, enum rule_field f, struct rule_value *v)
{
	const struct denv *e = ctx;

	switch (f) {
	case RULE_F_GUEST_NAME: return denv_str(e->g->conf.name, v);
	case RULE_F_EVENT_TYPE: return denv_str(e->event_type, v);
	case RULE_F_EVENT_SYSCALL: return denv_str(e->syscall, v);
	case RULE_F_EVENT_SYMBOL: return denv_str(e->symbol, v);
	case RULE_F_EVENT_VCPU: return denv_int(e->vcpu >= 0, e->vcpu, v);
	case RULE_F_EVENT_CR3: return denv_int(e->has_cr3, (int64_t)e->cr3, v);
	case RULE_F_PROC_PID: return denv_int(e->has_proc, e->pid, v);
	case RULE_F_PROC_PPID: return denv_int(e->has_proc, e->ppid, v);
	case RULE_F_PROC_NAME: return denv_str(e->has_proc ? e->comm : NULL, v);
	case RULE_F_PROC_UID: return denv_int(e->has_proc, e->uid, v);
	case RULE_F_PROC_EXE: return denv_str(e->exe, v);
	case RULE_F_PROC_CMDLINE: return -ENOENT;
	case RULE_F_MODULE_NAME: return denv_str(e->module, v);
	case RULE_F_FILE_PATH: return denv_str(e->file_path, v);
	case RULE_F_FILE_FD: return denv_int(e->fd >= 0, e->fd, v);
	case RULE_F_EXEC_PATH: return denv_str(e->exec_path, v);
	case RULE_F_XCHECK_KIND: return denv_str(e->xkind, v);
	case RULE_F_XCHECK_OBJECT: return denv_str(e->xobject, v);
	case RULE_F_XCHECK_REASON: return denv_str(e->xreason, v);
	case RULE_F__COUNT: break;
	}
	return -ENOENT;
}

struct rule_env denv_rule_env(struct denv *e)
{
	return (struct rule_env){ .ctx = e, .get = denv_get };
}

static void denv_fill_alert(const struct denv *e, struct alert *a)
{
	alert_set_str(a, guest, e->g->conf.name);
	alert_set_str(a, backend, e->g->conf.backend);
	alert_set_str(a, event, e->event_type);
	if (e->has_proc) {
		a->has |= ALERT_HAS_PID | ALERT_HAS_PPID | ALERT_HAS_UID;
		a->pid = e->pid;
		a->ppid = e->ppid;
		a->uid = e->uid;
		alert_set_str(a, comm, e->comm);
	}
	if (e->fd >= 0) {
		a->has |= ALERT_HAS_FD;
		a->fd = e->fd;
	}
	if (e->module)
		alert_set_str(a, module, e->module);
	if (e->exec_path)
		alert_set_str(a, path, e->exec_path);
	else if (e->file_path)
		alert_set_str(a, path, e->file_path);
	if (e->xkind)
		alert_set_str(a, xkind, e->xkind);
	if (e->xobject)
		alert_set_str(a, xobject, e->xobject);
	if (e->xreason)
		alert_set_str(a, xreason, e->xreason);
}

int denv_alert(struct denv *e, const struct rule *r)
{
	struct rule_env env = denv_rule_env(e);
	char out[ALERT_OUTPUT_MAX];
	struct alert a;
	size_t i;

	alert_init(&a, alert_now_real(), (int)r->priority);
	alert_set_str(&a, rule, r->name);
	alert_set_str(&a, desc, r->desc);
	/* through alert_set_str: guest text must reach sinks as valid UTF-8 */
	rule_format_output(r, &env, out, sizeof(out));
	alert_set_str(&a, output, out);
	denv_fill_alert(e, &a);
	for (i = 0; i < r->ntags; i++)
		alert_add_tag(&a, r->tags[i]);
	e->g->st.alerts++;
	return upcalld_alert(e->g->d, &a);
}
