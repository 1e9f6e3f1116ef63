/*
 * alert_cef.c - ArcSight Common Event Format:
 *
 *   CEF:0|upcalld|upcalld|VERSION|signature|name|severity|extension
 *
 * signature is the rule name, name the rule description (or the rule name),
 * severity 0..10 mapped from the syslog severity. The extension uses the
 * standard keys where CEF has one (rt, dvchost, dvcpid, dhost, dpid, dproc,
 * duid, filePath, cat, cnt, externalId, msg) and labelled custom fields
 * (cs1..cs6, cn1..cn3) for the rest. Written to a file by the file sink, or
 * as the MSG of a syslog message (alert_sink_conf.body = ALERT_BODY_CEF).
 *
 * Escaping (CEF rules): in the header '|' and '\' get a backslash and
 * control characters become spaces (a header cannot span lines); in
 * extension values '\' and '=' get a backslash, CR and LF become \r and \n,
 * other controls spaces. The line never exceeds fmt.max_len: fields are
 * capped, and msg, last, gets what is left (cut with ALERT_TRUNC_MARK).
 */
#include <stdio.h>
#include <string.h>

#include "alert.h"

#define FIELD_CAP 256
#define MSG_RESERVE 96	/* kept for msg when other fields compete */

struct cef {
	struct alert_buf *b;
	size_t start, max;
	bool first;
};

int alert_cef_severity(int sev)
{
	static const int map[8] = { 10, 9, 8, 7, 5, 4, 3, 1 };

	return sev >= 0 && sev <= 7 ? map[sev] : 5;
}

static size_t left(const struct cef *c)
{
	size_t used = c->b->len - c->start;

	return used < c->max ? c->max - used : 0;
}

/* Room for key plus cap, keeping `keep` bytes back; 0 if none. */
static size_t fit(struct cef *c, const char *key, size_t cap, size_t keep)
{
	size_t need = strlen(key) + 2, l = left(c);

	if (l < need + keep + 8)
		return 0;
	return cap < l - need - keep ? cap : l - need - keep;
}

static void put_key(struct cef *c, const char *key)
{
	if (!c->first)
		alert_buf_put(c->b, " ", 1);
	alert_buf_puts(c->b, key);
	alert_buf_put(c->b, "=", 1);
	c->first = false;
}

static void ext_str(struct cef *c, const char *key, const char *v, size_t cap)
{
	if (!*v || !(cap = fit(c, key, cap, MSG_RESERVE)))
		return;
	put_key(c, key);
	alert_buf_put_esc(c->b, v, cap, ALERT_ESC_CEF_EXT);
}

static void ext_num(struct cef *c, const char *key, long long v)
{
	if (!fit(c, key, 24, MSG_RESERVE))
		return;
	put_key(c, key);
	alert_buf_put_i64(c->b, v);
}

/* A custom field and its label, both or neither. */
static void ext_custom(struct cef *c, const char *key, const char *label,
		       const char *v)
{
	char lkey[16];

	if (!*v || fit(c, key, 64, MSG_RESERVE + strlen(label) + 16) < 8)
		return;
	snprintf(lkey, sizeof(lkey), "%sLabel", key);
	ext_str(c, lkey, label, 64);
	ext_str(c, key, v, FIELD_CAP);
}

static void ext_custom_num(struct cef *c, const char *key, const char *label,
			   long long v)
{
	char lkey[16];

	if (!fit(c, key, 64, MSG_RESERVE + strlen(label) + 16))
		return;
	snprintf(lkey, sizeof(lkey), "%sLabel", key);
	ext_str(c, lkey, label, 64);
	ext_num(c, key, v);
}

static void put_header(struct alert_buf *b, const struct alert *a)
{
	alert_buf_puts(b, "CEF:0|upcalld|upcalld|");
	alert_buf_put_esc(b, UPCALLD_VERSION, 32, ALERT_ESC_CEF_HDR);
	alert_buf_put(b, "|", 1);
	alert_buf_put_esc(b, a->rule[0] ? a->rule : "upcalld", ALERT_RULE_MAX,
			  ALERT_ESC_CEF_HDR);
	alert_buf_put(b, "|", 1);
	alert_buf_put_esc(b, a->desc[0] ? a->desc : a->rule[0] ? a->rule
			  : "alert", FIELD_CAP, ALERT_ESC_CEF_HDR);
	alert_buf_printf(b, "|%d|", alert_cef_severity(a->priority));
}

static void put_tags(struct cef *c, const struct alert *a)
{
	char joined[ALERT_TAGS_MAX * ALERT_WORD_MAX];
	size_t o = 0;

	joined[0] = '\0';
	for (unsigned int i = 0; i < a->ntags && i < ALERT_TAGS_MAX; i++)
		o += (size_t)snprintf(joined + o, sizeof(joined) - o, "%s%.*s",
				      i ? "," : "", ALERT_WORD_MAX - 1,
				      a->tags[i]);
	ext_custom(c, "cs6", "tags", joined);
}

int alert_cef_format(const struct alert_fmt *f, const struct alert *a,
		     uint64_t seq, struct alert_buf *out)
{
	struct cef c = { .b = out, .start = out->len, .max = f->max_len,
			 .first = true };
	size_t cap;

	put_header(out, a);
	ext_num(&c, "rt", (long long)(a->time_us / 1000));
	ext_str(&c, "dvchost", f->hostname, FIELD_CAP);
	ext_num(&c, "dvcpid", f->pid);
	ext_str(&c, "dhost", a->guest, FIELD_CAP);
	ext_num(&c, "cnt", (long long)(a->dups + 1));
	ext_num(&c, "externalId", (long long)(seq & INT64_MAX));
	ext_str(&c, "cat", a->event, FIELD_CAP);
	if (a->has & ALERT_HAS_PID)
		ext_num(&c, "dpid", a->pid);
	ext_str(&c, "dproc", a->comm, FIELD_CAP);
	if (a->has & ALERT_HAS_UID)
		ext_num(&c, "duid", a->uid);
	ext_str(&c, "filePath", a->path, 2 * FIELD_CAP);
	ext_custom(&c, "cs1", "xcheckKind", a->xkind);
	ext_custom(&c, "cs2", "xcheckObject", a->xobject);
	ext_custom(&c, "cs3", "xcheckReason", a->xreason);
	ext_custom(&c, "cs4", "module", a->module);
	ext_custom(&c, "cs5", "backend", a->backend);
	put_tags(&c, a);
	if (a->has & ALERT_HAS_PPID)
		ext_custom_num(&c, "cn1", "ppid", a->ppid);
	if (a->has & ALERT_HAS_FD)
		ext_custom_num(&c, "cn2", "fd", a->fd);
	if (a->held)
		ext_custom_num(&c, "cn3", "held", (long long)(a->held & INT64_MAX));
	cap = fit(&c, "msg", (size_t)-1, 0);
	if (cap) {
		put_key(&c, "msg");
		alert_buf_put_esc(out, a->output[0] ? a->output : a->rule, cap,
				  ALERT_ESC_CEF_EXT);
	}
	return out->err;
}

int alert_cef_new(const struct alert_sink_conf *c, struct alert_sink **out)
{
	return alert_file_sink_new(c, "cef", alert_cef_format, out);
}
