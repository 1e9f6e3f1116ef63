/*
 * rule_util.c - the small pieces of the rule language: the field table,
 * priorities, durations and rates, globs, the error list, and the name
 * table and growable arrays the loader builds with.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rule_int.h"

static const char *const rule_event_types[] = { RULE_EVENT_TYPES, NULL };
static const char *const rule_xcheck_kinds[] = { RULE_XCHECK_KINDS, NULL };
static const char *const rule_xcheck_objects[] = { RULE_XCHECK_OBJECTS, NULL };

#define RULE_FIELD_ROW_(id, nm, ty, fin, vals, ds) \
	[RULE_F_##id] = { .name = nm, .type = ty, .finding = fin, \
			  .values = vals, .desc = ds },
static const struct rule_field_info fields[RULE_F__COUNT] = {
	RULE_FIELDS(RULE_FIELD_ROW_)
};
#undef RULE_FIELD_ROW_

const struct rule_field_info *rule_field_info(enum rule_field f)
{
	return (unsigned)f < RULE_F__COUNT ? &fields[f] : NULL;
}

int rule_field_lookup(const char *name, size_t len)
{
	for (int f = 0; f < RULE_F__COUNT; f++)
		if (strlen(fields[f].name) == len &&
		    !memcmp(fields[f].name, name, len))
			return f;
	return -ENOENT;
}

static const struct {
	const char *name;
	enum rule_priority prio;
} prios[] = {
	{ "emergency", RULE_PRIO_EMERGENCY }, { "emerg", RULE_PRIO_EMERGENCY },
	{ "alert", RULE_PRIO_ALERT }, { "critical", RULE_PRIO_CRITICAL },
	{ "crit", RULE_PRIO_CRITICAL }, { "error", RULE_PRIO_ERROR },
	{ "err", RULE_PRIO_ERROR }, { "warning", RULE_PRIO_WARNING },
	{ "warn", RULE_PRIO_WARNING }, { "notice", RULE_PRIO_NOTICE },
	{ "informational", RULE_PRIO_INFO }, { "info", RULE_PRIO_INFO },
	{ "debug", RULE_PRIO_DEBUG },
};

int rule_priority_parse(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(prios) / sizeof(prios[0]); i++)
		if (strlen(prios[i].name) == len &&
		    !strncasecmp(prios[i].name, s, len))
			return (int)prios[i].prio;
	return -EINVAL;
}

const char *rule_priority_name(enum rule_priority p)
{
	static const char *const names[] = {
		"emergency", "alert", "critical", "error", "warning",
		"notice", "informational", "debug",
	};

	return (unsigned)p < 8 ? names[p] : "invalid";
}

const char *rule_trigger_kind_name(enum rule_trigger_kind k)
{
	static const char *const names[] = { RULE_EVENT_TYPES };

	return (unsigned)k < RULE_TRIG__COUNT ? names[k] : "invalid";
}

/* Number, then unit; whole numbers only; at most 365 days. */
int rule_parse_duration(const char *s, size_t len, uint64_t *ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "min", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && isdigit((unsigned char)s[i])) {
		v = v * 10 + (uint64_t)(s[i++] - '0');
		if (v > 365ull * 86400000)
			return -EINVAL;
	}
	if (i == 0 || i == len)
		return -EINVAL;
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		if (strlen(units[u].unit) != len - i ||
		    memcmp(units[u].unit, s + i, len - i))
			continue;
		if (v * units[u].ms > 365ull * 86400000)
			return -EINVAL;
		*ms = v * units[u].ms;
		return 0;
	}
	return -EINVAL;
}

/* "10/min": count, '/', then a unit word or a duration ("10s"). */
int rule_parse_rate(const char *s, size_t len, struct rule_rate *r)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "s", 1000 }, { "sec", 1000 }, { "second", 1000 },
		{ "m", 60000 }, { "min", 60000 }, { "minute", 60000 },
		{ "h", 3600000 }, { "hour", 3600000 }, { "d", 86400000 },
		{ "day", 86400000 },
	};
	const char *slash = memchr(s, '/', len);
	uint64_t count = 0;
	size_t ulen;

	if (!slash || slash == s)
		return -EINVAL;
	for (const char *p = s; p < slash; p++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		count = count * 10 + (uint64_t)(*p - '0');
		if (count > UINT32_MAX)
			return -EINVAL;
	}
	if (count == 0)
		return -EINVAL;
	slash++;
	ulen = len - (size_t)(slash - s);
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		if (strlen(units[u].unit) == ulen &&
		    !memcmp(units[u].unit, slash, ulen)) {
			r->count = (uint32_t)count;
			r->period_ms = units[u].ms;
			return 0;
		}
	}
	if (rule_parse_duration(slash, ulen, &r->period_ms) < 0 ||
	    r->period_ms == 0)
		return -EINVAL;
	r->count = (uint32_t)count;
	return 0;
}

/* Match one glob element ("?", "[...]" or a literal) at p against c. */
static const char *glob_one(const char *p, char c, bool *ok)
{
	if (*p == '?') {
		*ok = true;
		return p + 1;
	}
	if (*p == '[') {
		const char *q = p + 1;
		bool neg = *q == '!' || *q == '^', hit = false;

		if (neg)
			q++;
		do {
			char lo = *q, hi;

			if (!lo)
				goto literal;	/* unclosed: a plain '[' */
			if (lo == '\\' && q[1])
				lo = *++q;
			hi = lo;
			if (q[1] == '-' && q[2] && q[2] != ']') {
				hi = q[2];
				q += 2;
			}
			hit |= (unsigned char)c >= (unsigned char)lo &&
			       (unsigned char)c <= (unsigned char)hi;
			q++;
		} while (*q != ']');
		*ok = hit != neg;
		return q + 1;
	}
literal:
	if (*p == '\\' && p[1])
		p++;
	*ok = *p == c;
	return p + 1;
}

/*
 * The classic single-backtrack algorithm: on a mismatch, retry from the
 * last '*' one character further. O(len * pattern) at worst.
 */
bool rule_glob(const char *pattern, const char *str, size_t len)
{
	const char *p = pattern, *star = NULL;
	size_t i = 0, star_i = 0;

	while (i < len) {
		bool ok = false;

		if (*p == '*') {
			star = ++p;
			star_i = i;
			continue;
		}
		if (*p) {
			const char *next = glob_one(p, str[i], &ok);

			if (ok) {
				p = next;
				i++;
				continue;
			}
		}
		if (!star)
			return false;
		p = star;
		i = ++star_i;
	}
	while (*p == '*')
		p++;
	return *p == 0;
}

void rule_errors_init(struct rule_errors *e)
{
	memset(e, 0, sizeof(*e));
}

void rule_errors_release(struct rule_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].file);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

__attribute__((format(printf, 6, 0)))
static void errors_add(struct rule_errors *e, bool warning, const char *file,
		       unsigned int line, unsigned int col, const char *fmt,
		       va_list ap)
{
	size_t max = e->max ? e->max : RULE_ERRORS_MAX;
	struct rule_error *r;

	if (!warning)
		e->nerrors++;
	if (e->n >= max || RULE_GROW(e->v, e->alloc, e->n + 1) < 0) {
		e->dropped++;
		return;
	}
	r = &e->v[e->n];
	r->file = file ? strdup(file) : NULL;
	r->line = line;
	r->col = col;
	r->warning = warning;
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	e->n++;
}

void rule_errors_add(struct rule_errors *e, const char *file,
		     unsigned int line, unsigned int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errors_add(e, false, file, line, col, fmt, ap);
	va_end(ap);
}

void rule_errors_warn(struct rule_errors *e, const char *file,
		      unsigned int line, unsigned int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errors_add(e, true, file, line, col, fmt, ap);
	va_end(ap);
}

int rule_error_format(const struct rule_error *err, char *buf, size_t len)
{
	const char *kind = err->warning ? "warning" : "error";

	if (err->file && err->line)
		return snprintf(buf, len, "%s:%u:%u: %s: %s", err->file,
				err->line, err->col, kind, err->msg);
	if (err->file)
		return snprintf(buf, len, "%s: %s: %s", err->file, kind,
				err->msg);
	return snprintf(buf, len, "%s: %s", kind, err->msg);
}

void rule_errors_print(const struct rule_errors *e, FILE *f)
{
	char line[RULE_ERR_MSG + 4200];

	for (size_t i = 0; i < e->n; i++) {
		rule_error_format(&e->v[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
	if (e->dropped)
		fprintf(f, "... and %zu more errors not shown\n", e->dropped);
}

static size_t file_rank(const char *file, const char *const *files,
			size_t nfiles, const struct rule_errors *e, size_t first)
{
	if (!file)
		return 0;
	for (size_t i = 0; i < nfiles; i++)
		if (!strcmp(files[i], file))
			return i + 1;
	for (size_t i = first; i < e->n; i++)	/* else first appearance */
		if (e->v[i].file && !strcmp(e->v[i].file, file))
			return nfiles + 1 + i;
	return SIZE_MAX;
}

void rule_errors_sort_files(struct rule_errors *e, size_t first,
			    const char *const *files, size_t nfiles)
{
	size_t n = e->n > first ? e->n - first : 0;
	size_t *rank = n ? malloc(n * sizeof(*rank)) : NULL;

	if (!rank)
		return;
	for (size_t i = 0; i < n; i++)
		rank[i] = file_rank(e->v[first + i].file, files, nfiles, e,
				    first);
	/* insertion sort: stable, and the list is capped and mostly sorted */
	for (size_t i = 1; i < n; i++) {
		struct rule_error x = e->v[first + i];
		size_t rx = rank[i], j = i;

		while (j > 0) {
			const struct rule_error *p = &e->v[first + j - 1];
			size_t rp = rank[j - 1];

			if (rp < rx || (rp == rx && (p->line < x.line ||
			    (p->line == x.line && p->col <= x.col))))
				break;
			e->v[first + j] = *p;
			rank[j] = rp;
			j--;
		}
		e->v[first + j] = x;
		rank[j] = rx;
	}
	free(rank);
}

void rule_errors_sort(struct rule_errors *e, size_t first)
{
	rule_errors_sort_files(e, first, NULL, 0);
}

int rule_grow(void **p, size_t *alloc, size_t need, size_t size)
{
	size_t na;
	void *np;

	if (need <= *alloc)
		return 0;
	na = *alloc ? *alloc : 8;
	while (na < need)
		na *= 2;
	if (na > SIZE_MAX / size)
		return -ENOMEM;
	np = realloc(*p, na * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*alloc = na;
	return 0;
}

static uint32_t hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

int rule_names_put(struct rule_names *h, const char *key, uint32_t val)
{
	size_t len = strlen(key);
	uint32_t hv = hash(key, len);

	if (rule_names_get(h, key, len) >= 0)
		return -EEXIST;
	if ((h->n + 1) * 2 > h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 64;
		struct rule_name_slot *ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (size_t i = 0; i < h->cap; i++) {
			size_t j;

			if (!h->slots[i].key)
				continue;
			for (j = h->slots[i].hash & (ncap - 1); ns[j].key;
			     j = (j + 1) & (ncap - 1))
				;
			ns[j] = h->slots[i];
		}
		free(h->slots);
		h->slots = ns;
		h->cap = ncap;
	}
	size_t j = hv & (h->cap - 1);

	while (h->slots[j].key)
		j = (j + 1) & (h->cap - 1);
	h->slots[j] = (struct rule_name_slot){ key, hv, val };
	h->n++;
	return 0;
}

int rule_names_get(const struct rule_names *h, const char *key, size_t len)
{
	uint32_t hv;

	if (!h->cap)
		return -ENOENT;
	hv = hash(key, len);
	for (size_t j = hv & (h->cap - 1); h->slots[j].key;
	     j = (j + 1) & (h->cap - 1)) {
		const struct rule_name_slot *sl = &h->slots[j];

		if (sl->hash == hv && !strncmp(sl->key, key, len) &&
		    sl->key[len] == 0)
			return (int)sl->val;
	}
	return -ENOENT;
}

void rule_names_release(struct rule_names *h)
{
	free(h->slots);
	memset(h, 0, sizeof(*h));
}
