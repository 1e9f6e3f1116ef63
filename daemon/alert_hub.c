/*
 * alert_hub.c - the dispatcher: per-rule token bucket, deduplication,
 * fan-out to the sinks, and summaries of what was held back or dropped.
 *
 * Policy, and why:
 * - Dedup first, then the rate limit: a duplicate costs no token.
 * - A duplicate is the same rule, guest and key fields (cross-check kind
 *   and object, pid, fd, comm, module, path) within dedup_window_us of the
 *   last copy that went out; uid, ppid and the output text are not key
 *   fields (output may carry timestamps). Keys are SHA-256 digests, so a
 *   guest cannot craft a collision that hides its alert behind another.
 * - Held-back counts are never lost: they ride on the next alert that goes
 *   out for that key (alert.dups) or rule (alert.held); tick() sends a
 *   summary alert when none comes.
 * - Tables are fixed-size and set-associative (bounded memory whatever a
 *   guest triggers); evicting an entry with a pending count sends its
 *   summary first.
 * - Sink drops are counted by the sinks; tick() logs a drop summary to the
 *   daemon's own log every summary_us when anything was dropped.
 */
#include <limits.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "alert.h"

#define SETS 128
#define WAYS 4
#define LIMITS_MAX 512

struct hub_rule {
	bool used;
	uint8_t prio;
	char rule[ALERT_RULE_MAX];
	char guest[ALERT_GUEST_MAX];	/* the latest, for summaries */
	uint32_t burst, per_min;	/* per_min 0 = unlimited */
	uint64_t tokens_m;		/* milli-tokens */
	uint64_t refill_us, seen_us;
	uint64_t held;			/* since the last one went out */
	struct alert_rule_stats st;
};

struct hub_dup {
	bool used;
	uint8_t prio;
	unsigned char key[16];
	uint64_t sent_us;		/* the window starts here */
	uint64_t window_us;		/* the window's length (the rule's own) */
	uint64_t dups;			/* suppressed since sent_us */
	char rule[ALERT_RULE_MAX];
	char guest[ALERT_GUEST_MAX];
};

struct hub_limit {
	char rule[ALERT_RULE_MAX];
	bool has_rate;			/* burst/per_min override the default */
	uint32_t burst, per_min;
	uint64_t dedup_us;		/* 0: the hub's window */
};

struct alert_hub {
	struct alert_hub_conf c;
	struct alert_sink **sinks;
	size_t n, cap;
	struct hub_rule rules[SETS * WAYS];
	struct hub_dup dups[SETS * WAYS];
	struct hub_limit limits[LIMITS_MAX];
	size_t nlimits;
	uint64_t next_summary;
	struct alert tmp;		/* the copy that carries counts */
};


static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
	return h;
}

int alert_hub_new(const struct alert_hub_conf *c, struct alert_hub **out)
{
	struct alert_hub *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	if (c)
		h->c = *c;
	if (!h->c.rate_burst)
		h->c.rate_burst = 20;
	if (!h->c.rate_per_min)
		h->c.rate_per_min = 60;
	if (!h->c.dedup_window_us)
		h->c.dedup_window_us = 60000000;
	if (!h->c.summary_us)
		h->c.summary_us = 60000000;
	if (!h->c.log)
		h->c.log = alert_log_syslog;
	*out = h;
	return 0;
}

static void drop_summary(struct alert_hub *h, struct alert_sink *s)
{
	const uint64_t *d = s->st.dropped;
	uint64_t total = alert_sink_dropped(s);
	char msg[512];

	if (total == s->drops_reported)
		return;
	snprintf(msg, sizeof(msg),
		 "alert sink %s: %llu alerts dropped since the last report "
		 "(totals: queue_full %llu, io %llu, format %llu, closed %llu; "
		 "sent %llu, queued %llu, errors %llu; last error: %s)",
		 s->name, (unsigned long long)(total - s->drops_reported),
		 (unsigned long long)d[ALERT_DROP_QUEUE_FULL],
		 (unsigned long long)d[ALERT_DROP_IO],
		 (unsigned long long)d[ALERT_DROP_FORMAT],
		 (unsigned long long)d[ALERT_DROP_CLOSED],
		 (unsigned long long)s->st.sent,
		 (unsigned long long)s->st.queued,
		 (unsigned long long)s->st.errors,
		 s->last_error[0] ? s->last_error : "none");
	h->c.log(h->c.log_ctx, LOG_WARNING, msg);
	s->drops_reported = total;
}

void alert_hub_free(struct alert_hub *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		alert_sink_close(h->sinks[i]);
		drop_summary(h, h->sinks[i]);
		h->sinks[i]->ops->free(h->sinks[i]);
	}
	free(h->sinks);
	free(h);
}

int alert_hub_add(struct alert_hub *h, struct alert_sink *s, uint64_t now)
{
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 4;
		struct alert_sink **v = realloc(h->sinks, ncap * sizeof(*v));

		if (!v) {
			alert_sink_free(s);
			return -ENOMEM;
		}
		h->sinks = v;
		h->cap = ncap;
	}
	s->log = h->c.log;
	s->log_ctx = h->c.log_ctx;
	h->sinks[h->n++] = s;
	/* A sink that cannot open now retries from tick: keep it. */
	alert_sink_open(s, now);
	return 0;
}

size_t alert_hub_nsinks(const struct alert_hub *h)
{
	return h->n;
}

struct alert_sink *alert_hub_sink(const struct alert_hub *h, size_t i)
{
	return i < h->n ? h->sinks[i] : NULL;
}

static void fanout(struct alert_hub *h, const struct alert *a, uint64_t now)
{
	char msg[ALERT_OUTPUT_MAX + ALERT_RULE_MAX + ALERT_GUEST_MAX + 64];

	if (!h->n) {	/* no sink configured: the daemon log is the last resort */
		snprintf(msg, sizeof(msg), "alert rule=%s guest=%s: %s",
			 a->rule, a->guest, a->output);
		h->c.log(h->c.log_ctx, LOG_ALERT, msg);
		return;
	}
	for (size_t i = 0; i < h->n; i++) {
		/* a threshold is the operator's choice, not a drop: counted apart */
		if (a->priority > h->sinks[i]->max_severity && !a->summary) {
			h->sinks[i]->filtered++;
			continue;
		}
		alert_sink_emit(h->sinks[i], a, now);
	}
}

static void send_summary(struct alert_hub *h, const char *rule,
			 const char *guest, int prio, uint64_t dups,
			 uint64_t held, uint64_t now)
{
	struct alert *a = &h->tmp;
	char out[ALERT_OUTPUT_MAX];

	alert_init(a, alert_now_real(), prio);
	a->summary = true;
	a->dups = dups;
	a->held = held;
	alert_set_str(a, rule, rule);
	alert_set_str(a, guest, guest);
	if (dups)
		snprintf(out, sizeof(out), "%llu duplicate alerts suppressed "
			 "(rule %s, guest %s)", (unsigned long long)dups, rule,
			 guest);
	else
		snprintf(out, sizeof(out), "%llu alerts held back by the rate "
			 "limit of rule %s", (unsigned long long)held, rule);
	alert_set_str(a, output, out);
	fanout(h, a, now);
}

static const struct hub_limit *limit_find(const struct alert_hub *h,
					  const char *rule)
{
	for (size_t i = 0; i < h->nlimits; i++)
		if (!strcmp(h->limits[i].rule, rule))
			return &h->limits[i];
	return NULL;
}

static void rule_reset(struct alert_hub *h, struct hub_rule *r,
		       const char *rule, uint64_t now)
{
	const struct hub_limit *l = limit_find(h, rule);

	memset(r, 0, sizeof(*r));
	r->used = true;
	alert_copy(r->rule, sizeof(r->rule), rule);
	if (l && !l->has_rate)
		l = NULL;
	r->burst = l ? l->burst : h->c.rate_burst;
	r->per_min = l ? l->per_min : h->c.no_rate_limit ? 0 : h->c.rate_per_min;
	r->tokens_m = (uint64_t)r->burst * 1000;
	r->refill_us = now;
}

static struct hub_rule *rule_get(struct alert_hub *h, const char *rule,
				 uint64_t now)
{
	struct hub_rule *set = &h->rules[(fnv1a(rule) % SETS) * WAYS];
	struct hub_rule *victim = &set[0];

	for (int w = 0; w < WAYS; w++) {
		if (set[w].used && !strcmp(set[w].rule, rule))
			return &set[w];
		if (!set[w].used)
			victim = &set[w];
		else if (victim->used && set[w].seen_us < victim->seen_us)
			victim = &set[w];
	}
	if (victim->used && victim->held)
		send_summary(h, victim->rule, victim->guest, victim->prio, 0,
			     victim->held, now);
	rule_reset(h, victim, rule, now);
	return victim;
}

static bool take_token(struct hub_rule *r, uint64_t now)
{
	uint64_t cap = (uint64_t)r->burst * 1000, el, add;

	if (!r->per_min)
		return true;
	el = now > r->refill_us ? now - r->refill_us : 0;
	if (el > 3600000000ull) {	/* an hour refills any bucket */
		r->tokens_m = cap;
		r->refill_us = now;
	} else {
		add = el * r->per_min / 60000;	/* milli-tokens */
		/* Advance only by the time converted: no rounding drift. */
		r->refill_us += add * 60000 / r->per_min;
		r->tokens_m = r->tokens_m + add > cap ? cap : r->tokens_m + add;
		if (r->tokens_m == cap)
			r->refill_us = now;
	}
	if (r->tokens_m < 1000)
		return false;
	r->tokens_m -= 1000;
	return true;
}

/* The override entry of a rule, made if it has none; NULL when full. */
static struct hub_limit *limit_get(struct alert_hub *h, const char *rule)
{
	struct hub_limit *l = (struct hub_limit *)limit_find(h, rule);

	if (!l && h->nlimits < LIMITS_MAX) {
		l = &h->limits[h->nlimits++];
		alert_copy(l->rule, sizeof(l->rule), rule);
	}
	return l;
}

int alert_hub_set_rule_limit(struct alert_hub *h, const char *rule,
			     uint32_t burst, uint32_t per_min)
{
	struct hub_limit *l;

	if (!rule || (per_min && !burst) || per_min > 1000000)
		return -EINVAL;
	if (!(l = limit_get(h, rule)))
		return -ENOSPC;
	l->has_rate = true;
	l->burst = burst;
	l->per_min = per_min;
	for (size_t i = 0; i < SETS * WAYS; i++)
		if (h->rules[i].used && !strcmp(h->rules[i].rule, l->rule)) {
			h->rules[i].burst = burst;
			h->rules[i].per_min = per_min;
			h->rules[i].tokens_m = (uint64_t)burst * 1000;
		}
	return 0;
}

int alert_hub_set_rule_dedup(struct alert_hub *h, const char *rule,
			     uint64_t window_us)
{
	struct hub_limit *l;

	if (!rule)
		return -EINVAL;
	if (!(l = limit_get(h, rule)))
		return -ENOSPC;
	l->dedup_us = window_us;
	return 0;
}

static uint64_t dedup_window(const struct alert_hub *h, const char *rule)
{
	const struct hub_limit *l = limit_find(h, rule);

	return l && l->dedup_us ? l->dedup_us : h->c.dedup_window_us;
}

int alert_hub_rule_stats(const struct alert_hub *h, const char *rule,
			 struct alert_rule_stats *st)
{
	for (size_t i = 0; i < SETS * WAYS; i++)
		if (h->rules[i].used && !strcmp(h->rules[i].rule, rule)) {
			*st = h->rules[i].st;
			return 0;
		}
	return -ENOENT;
}

/* Fields joined with NULs ("a","bc" differs from "ab","c"), then SHA-256. */
static void dup_key(const struct alert *a, unsigned char key[16])
{
	const struct { const char *s; size_t cap; } f[] = {
		{ a->rule, sizeof(a->rule) }, { a->guest, sizeof(a->guest) },
		{ a->xkind, sizeof(a->xkind) }, { a->xobject, sizeof(a->xobject) },
		{ a->comm, sizeof(a->comm) }, { a->module, sizeof(a->module) },
		{ a->path, sizeof(a->path) },
	};
	unsigned char buf[sizeof(struct alert)], md[SHA256_DIGEST_LENGTH];
	size_t o = 0;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		size_t n = strnlen(f[i].s, f[i].cap);

		memcpy(buf + o, f[i].s, n);
		o += n;
		buf[o++] = 0;
	}
	o += (size_t)snprintf((char *)buf + o, 64, "%d:%d",
			      a->has & ALERT_HAS_PID ? a->pid : -1,
			      a->has & ALERT_HAS_FD ? a->fd : -1);
	SHA256(buf, o, md);
	memcpy(key, md, 16);
}

static struct hub_dup *dup_get(struct alert_hub *h, const unsigned char *key,
			       bool *found, uint64_t now)
{
	unsigned int idx = ((unsigned int)key[0] | (unsigned int)key[1] << 8) % SETS;
	struct hub_dup *set = &h->dups[idx * WAYS], *victim = &set[0];

	for (int w = 0; w < WAYS; w++) {
		if (set[w].used && !memcmp(set[w].key, key, 16)) {
			*found = true;
			return &set[w];
		}
		if (!set[w].used)
			victim = &set[w];
		else if (victim->used && set[w].sent_us < victim->sent_us)
			victim = &set[w];
	}
	*found = false;
	if (victim->used && victim->dups)
		send_summary(h, victim->rule, victim->guest, victim->prio,
			     victim->dups, 0, now);
	memset(victim, 0, sizeof(*victim));
	return victim;
}

int alert_emit(struct alert_hub *h, const struct alert *a, uint64_t now)
{
	unsigned char key[16];
	struct hub_rule *r;
	struct hub_dup *d = NULL;
	bool found = false;

	if (!h || !a)
		return -EINVAL;
	r = rule_get(h, a->rule, now);
	r->seen_us = now;
	r->prio = a->priority;
	alert_copy(r->guest, sizeof(r->guest), a->guest);
	if (!h->c.no_dedup) {
		dup_key(a, key);
		d = dup_get(h, key, &found, now);
		if (found && now - d->sent_us < d->window_us) {
			d->dups++;
			r->st.dups++;
			return ALERT_DUP;
		}
	}
	if (!take_token(r, now)) {
		r->held++;
		r->st.held++;
		if (d && !found)
			d->used = false;	/* nothing went out to dedup against */
		return ALERT_RATE_LIMITED;
	}
	if ((d && d->dups) || r->held) {
		h->tmp = *a;
		h->tmp.dups = d ? d->dups : 0;
		h->tmp.held = r->held;
		a = &h->tmp;
	}
	if (d) {
		d->used = true;
		memcpy(d->key, key, 16);
		d->sent_us = now;
		d->window_us = dedup_window(h, a->rule);
		d->dups = 0;
		d->prio = a->priority;
		alert_copy(d->rule, sizeof(d->rule), a->rule);
		alert_copy(d->guest, sizeof(d->guest), a->guest);
	}
	r->held = 0;
	r->st.emitted++;
	fanout(h, a, now);
	return ALERT_SENT;
}

size_t alert_hub_pollfds(struct alert_hub *h, struct pollfd *fds, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n && n < max; i++) {
		short ev;
		int fd = alert_sink_poll_fd(h->sinks[i], &ev);

		if (fd < 0)
			continue;
		fds[n].fd = fd;
		fds[n].events = ev;
		fds[n].revents = 0;
		n++;
	}
	return n;
}

void alert_hub_dispatch(struct alert_hub *h, const struct pollfd *fds,
			size_t n, uint64_t now)
{
	for (size_t i = 0; i < h->n; i++) {
		short ev;
		int fd = alert_sink_poll_fd(h->sinks[i], &ev);

		for (size_t j = 0; fd >= 0 && j < n; j++)
			if (fds[j].fd == fd && fds[j].revents) {
				alert_sink_on_ready(h->sinks[i],
						    fds[j].revents, now);
				break;
			}
	}
}

/*
 * Expired dedup windows and held rule counts become summary alerts.
 * Returns true while counts are still pending.
 */
static bool tick_counts(struct alert_hub *h, uint64_t now)
{
	bool pending = false;

	for (size_t i = 0; i < SETS * WAYS; i++) {
		struct hub_dup *d = &h->dups[i];
		struct hub_rule *r = &h->rules[i];

		if (d->used && now - d->sent_us >= d->window_us) {
			if (d->dups)
				send_summary(h, d->rule, d->guest, d->prio,
					     d->dups, 0, now);
			d->used = false;
		}
		/* Held counts go out when the bucket allows one more. */
		if (r->used && r->held && take_token(r, now)) {
			send_summary(h, r->rule, r->guest, r->prio, 0, r->held,
				     now);
			r->held = 0;
		}
		pending |= (d->used && d->dups) || (r->used && r->held);
	}
	return pending;
}

int alert_hub_tick(struct alert_hub *h, uint64_t now)
{
	uint64_t next = h->c.summary_us;
	bool pending = tick_counts(h, now);

	for (size_t i = 0; i < h->n; i++) {
		int64_t w = alert_sink_tick(h->sinks[i], now);

		if (w >= 0 && (uint64_t)w < next)
			next = (uint64_t)w;
	}
	if (!h->next_summary)
		h->next_summary = now + h->c.summary_us;
	if (now >= h->next_summary) {
		for (size_t i = 0; i < h->n; i++)
			drop_summary(h, h->sinks[i]);
		h->next_summary = now + h->c.summary_us;
	}
	if (h->next_summary - now < next)
		next = h->next_summary - now;
	/* Pending counts are re-checked once a second. */
	if (pending && next > 1000000)
		next = 1000000;
	return next / 1000 >= INT_MAX ? INT_MAX : (int)((next + 999) / 1000);
}

int alert_hub_reopen(struct alert_hub *h, uint64_t now)
{
	int first = 0;

	for (size_t i = 0; i < h->n; i++) {
		int r = alert_sink_open(h->sinks[i], now);

		if (r && !first)
			first = r;
	}
	return first;
}
