/*
 * alert_json.c - JSON lines with Elastic Common Schema names, one alert per
 * line, built with json-c and written by the file sink (reopened on
 * request, for log rotation).
 *
 * ECS fields are nested objects ({"event":{"kind":"alert"}}), which is
 * what ECS documents and what Elasticsearch maps; `host` is the guest the
 * alert is about and `observer` is this dom0. What ECS has no name for
 * goes under `upcalld.*`. event.severity is the syslog severity (0 =
 * emergency .. 7 = debug), also spelled out in log.syslog.severity.
 *
 * json-c escapes quotes and control characters but passes bytes >= 0x80
 * through as they are, so every string is made valid UTF-8 (U+FFFD for bad
 * bytes) before it reaches json-c: the line is always valid JSON.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "alert.h"

#define ECS_VERSION "8.11.0"

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = alert_utf8_len(p, 4);

		if (!n)
			return false;
		p += n;
	}
	return true;
}

static json_object *jstr(const char *s)
{
	struct alert_buf b;
	json_object *o;

	if (utf8_valid(s))
		return json_object_new_string(s);
	alert_buf_init(&b, 0);
	alert_buf_put_esc(&b, s, (size_t)-1, ALERT_ESC_NONE);
	o = b.err ? json_object_new_string("") : json_object_new_string(b.p);
	alert_buf_release(&b);
	return o;
}

/*
 * Keys are string literals, each added once: json-c need not copy them or
 * look for an old value (a third of the formatting cost otherwise).
 */
static void add(json_object *o, const char *key, json_object *v)
{
	json_object_object_add_ex(o, key, v, JSON_C_OBJECT_ADD_KEY_IS_NEW |
				  JSON_C_OBJECT_KEY_IS_CONSTANT);
}

/* The child object `key` of parent, created on first use. */
static json_object *sub(json_object *parent, const char *key)
{
	json_object *o;

	if (json_object_object_get_ex(parent, key, &o))
		return o;
	o = json_object_new_object();
	add(parent, key, o);
	return o;
}

static void put_s(json_object *o, const char *key, const char *v)
{
	if (*v)
		add(o, key, jstr(v));
}

static void put_i(json_object *o, const char *key, int64_t v)
{
	add(o, key, json_object_new_int64(v));
}

static json_object *categories(const struct alert *a)
{
	json_object *c = json_object_new_array();

	json_object_array_add(c, json_object_new_string("intrusion_detection"));
	if (a->has & ALERT_HAS_PID || a->comm[0])
		json_object_array_add(c, json_object_new_string("process"));
	if (a->path[0])
		json_object_array_add(c, json_object_new_string("file"));
	if (a->module[0])
		json_object_array_add(c, json_object_new_string("driver"));
	return c;
}

static void put_event(json_object *root, const struct alert *a, uint64_t seq)
{
	json_object *ev = sub(root, "event"), *sev, *ty;

	put_s(ev, "kind", "alert");
	add(ev, "category", categories(a));
	ty = json_object_new_array();
	json_object_array_add(ty, json_object_new_string("info"));
	add(ev, "type", ty);
	put_i(ev, "severity", a->priority);
	put_i(ev, "sequence", (int64_t)(seq & INT64_MAX));
	put_s(ev, "module", "upcalld");
	put_s(ev, "dataset", "upcalld.alert");
	put_s(sub(root, "log"), "level", alert_severity_str(a->priority));
	sev = sub(sub(sub(root, "log"), "syslog"), "severity");
	put_i(sev, "code", a->priority);
	put_s(sev, "name", alert_severity_str(a->priority));
}

static void put_subject(json_object *root, const struct alert *a)
{
	json_object *p = sub(root, "process");

	if (a->has & ALERT_HAS_PID)
		put_i(p, "pid", a->pid);
	if (a->has & ALERT_HAS_PPID)
		put_i(sub(p, "parent"), "pid", a->ppid);
	put_s(p, "name", a->comm);
	if (!json_object_object_length(p))
		json_object_object_del(root, "process");
	if (a->has & ALERT_HAS_UID) {
		char uid[16];

		snprintf(uid, sizeof(uid), "%u", a->uid);
		put_s(sub(root, "user"), "id", uid);	/* ECS: keyword */
	}
	if (a->path[0])
		put_s(sub(root, "file"), "path", a->path);
	if (a->ntags) {
		json_object *t = json_object_new_array();

		for (unsigned int i = 0; i < a->ntags && i < ALERT_TAGS_MAX; i++)
			json_object_array_add(t, jstr(a->tags[i]));
		add(root, "tags", t);
	}
}

static void put_upcalld(json_object *root, const struct alert *a)
{
	json_object *u = sub(root, "upcalld"), *x;

	put_s(sub(u, "guest"), "backend", a->backend);
	if (!json_object_object_length(sub(u, "guest")))
		json_object_object_del(u, "guest");
	put_s(u, "trigger", a->event);
	x = sub(u, "xcheck");
	put_s(x, "kind", a->xkind);
	put_s(x, "object", a->xobject);
	put_s(x, "reason", a->xreason);
	if (!json_object_object_length(x))
		json_object_object_del(u, "xcheck");
	if (a->module[0])
		put_s(sub(u, "module"), "name", a->module);
	if (a->has & ALERT_HAS_FD)
		put_i(u, "fd", a->fd);
	if (a->dups)
		put_i(u, "dups", (int64_t)(a->dups & INT64_MAX));
	if (a->held)
		put_i(u, "held", (int64_t)(a->held & INT64_MAX));
	if (a->summary)
		add(u, "summary", json_object_new_boolean(1));
}

int alert_json_format(const struct alert_fmt *f, const struct alert *a,
		      uint64_t seq, struct alert_buf *out)
{
	json_object *root = json_object_new_object(), *o;
	char ts[ALERT_TIME_MAX];
	const char *js;

	if (!root)
		return -ENOMEM;
	if (!alert_time_str(a->time_us, ts))
		alert_time_str(0, ts);
	put_s(root, "@timestamp", ts);
	put_s(root, "message", a->output[0] ? a->output : a->rule);
	put_s(sub(root, "ecs"), "version", ECS_VERSION);
	put_event(root, a, seq);
	put_s(sub(root, "rule"), "name", a->rule);
	put_s(sub(root, "rule"), "description", a->desc);
	put_s(sub(root, "host"), "name", a->guest);
	o = sub(root, "observer");
	put_s(o, "hostname", f->hostname);
	put_s(o, "type", "ids");
	put_s(o, "vendor", "upcalld");
	put_s(o, "product", "upcalld");
	put_s(o, "version", UPCALLD_VERSION);
	put_subject(root, a);
	put_upcalld(root, a);
	js = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (js)
		alert_buf_puts(out, js);
	json_object_put(root);
	return js ? out->err : -ENOMEM;
}

int alert_json_new(const struct alert_sink_conf *c, struct alert_sink **out)
{
	return alert_file_sink_new(c, "json", alert_json_format, out);
}
