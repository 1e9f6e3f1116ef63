/*
 * alert.c - the alert record and the text handling every sink shares:
 * UTF-8 validation, bounded copies with a truncation marker, a growable
 * buffer with a hard limit, and escaping per output format.
 *
 * Escaping is where hostile guest text (comm, paths, module names) meets
 * line- and field-oriented formats: no control character ever reaches an
 * output raw (except through json-c, which escapes them itself), so a
 * guest cannot forge a log line or a field.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert.h"

#define MARK_LEN (sizeof(ALERT_TRUNC_MARK) - 1)

void alert_init(struct alert *a, uint64_t time_us, int priority)
{
	memset(a, 0, sizeof(*a));
	a->time_us = time_us;
	a->priority = priority < 0 ? 0 : priority > 7 ? 7 : (uint8_t)priority;
}

size_t alert_utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp, min;
	size_t len, i;

	if (!n)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	/* Byte by byte: a NUL stops it, so a C string is never overrun. */
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool alert_copy(char *dst, size_t cap, const char *src)
{
	const unsigned char *p = (const unsigned char *)(src ? src : "");
	size_t o = 0, safe = 0, room;
	bool mark;

	if (!cap)
		return true;
	room = cap - 1;
	mark = room > MARK_LEN;
	while (*p) {
		size_t n = alert_utf8_len(p, 4), cn = n;
		const unsigned char *c = p;

		if (!n) {
			c = (const unsigned char *)"\xef\xbf\xbd";
			cn = 3, n = 1;
		}
		if (o + cn > room) {
			if (mark) {
				memcpy(dst + safe, ALERT_TRUNC_MARK, MARK_LEN);
				o = safe + MARK_LEN;
			}
			dst[o] = '\0';
			return true;
		}
		memcpy(dst + o, c, cn);
		o += cn;
		p += n;
		if (o + MARK_LEN <= room)
			safe = o;
	}
	dst[o] = '\0';
	/* Repaired bytes show as a difference in length or content. */
	return src && strcmp(dst, src) != 0;
}

int alert_add_tag(struct alert *a, const char *tag)
{
	if (a->ntags >= ALERT_TAGS_MAX)
		return -ENOSPC;
	alert_copy(a->tags[a->ntags++], ALERT_WORD_MAX, tag);
	return 0;
}

static uint64_t now_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void put_digits(char *p, unsigned int v, int n)
{
	while (n--) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

bool alert_time_str(uint64_t us, char *buf)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999) {
		snprintf(buf, ALERT_TIME_MAX, "-");
		return false;
	}
	/* By hand: snprintf here was a tenth of a syslog line's cost. */
	put_digits(buf, (unsigned int)tm.tm_year + 1900, 4);
	buf[4] = '-';
	put_digits(buf + 5, (unsigned int)tm.tm_mon + 1, 2);
	buf[7] = '-';
	put_digits(buf + 8, (unsigned int)tm.tm_mday, 2);
	buf[10] = 'T';
	put_digits(buf + 11, (unsigned int)tm.tm_hour, 2);
	buf[13] = ':';
	put_digits(buf + 14, (unsigned int)tm.tm_min, 2);
	buf[16] = ':';
	put_digits(buf + 17, (unsigned int)tm.tm_sec, 2);
	buf[19] = '.';
	put_digits(buf + 20, (unsigned int)(us % 1000000), 6);
	memcpy(buf + 26, "Z", 2);
	return true;
}

uint64_t alert_now_mono(void)
{
	return now_clock(CLOCK_MONOTONIC);
}

uint64_t alert_now_real(void)
{
	return now_clock(CLOCK_REALTIME);
}

const char *alert_severity_str(int sev)
{
	static const char *const n[] = { "emergency", "alert", "critical",
		"error", "warning", "notice", "informational", "debug" };

	return sev >= 0 && sev <= 7 ? n[sev] : "invalid";
}

const char *alert_drop_str(enum alert_drop d)
{
	static const char *const n[] = { "queue_full", "io", "format",
					 "closed" };

	return d < ALERT_DROP__N ? n[d] : "?";
}


/* --- buffer -------------------------------------------------------------- */

void alert_buf_init(struct alert_buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit ? limit : 1u << 20;
}

void alert_buf_release(struct alert_buf *b)
{
	free(b->p);
	alert_buf_init(b, b->limit);
}

void alert_buf_reset(struct alert_buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->p)
		b->p[0] = '\0';
}

static bool buf_grow(struct alert_buf *b, size_t n)
{
	size_t want, ncap;
	char *np;

	if (b->err)
		return false;
	if (n >= b->limit || b->len + n + 1 > b->limit) {
		b->err = -E2BIG;
		return false;
	}
	want = b->len + n + 1;
	if (want <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 256;
	while (ncap < want)
		ncap *= 2;
	if (ncap > b->limit)
		ncap = b->limit;
	np = realloc(b->p, ncap);
	if (!np) {
		b->err = -ENOMEM;
		return false;
	}
	b->p = np;
	b->cap = ncap;
	return true;
}

void alert_buf_put(struct alert_buf *b, const void *s, size_t n)
{
	if (!buf_grow(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void alert_buf_puts(struct alert_buf *b, const char *s)
{
	alert_buf_put(b, s, strlen(s));
}

/* One vsnprintf into the free space; a second only if it did not fit. */
void alert_buf_printf(struct alert_buf *b, const char *fmt, ...)
{
	size_t avail;
	va_list ap;
	int n;

	if (!buf_grow(b, 64))
		return;
	avail = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, avail, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < avail) {
		b->len += (size_t)n;
		return;
	}
	b->p[b->len] = '\0';
	if (n < 0 || !buf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void alert_buf_put_i64(struct alert_buf *b, int64_t v)
{
	char t[24], *e = t + sizeof(t), *q = e;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do
		*--q = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--q = '-';
	alert_buf_put(b, q, (size_t)(e - q));
}

static size_t esc_hex(char *t, const char *pre, uint32_t cp, int digits)
{
	static const char hx[] = "0123456789abcdef";
	size_t n = strlen(pre);

	memcpy(t, pre, n);
	while (digits--)
		t[n++] = hx[(cp >> (4 * digits)) & 0xf];
	return n;
}

/* One character of p escaped for mode into t[8]; *adv = input bytes. */
static size_t esc_char(const unsigned char *p, enum alert_esc mode, char *t,
		       size_t *adv)
{
	size_t n = alert_utf8_len(p, 4);
	uint32_t cp = p[0];
	static const char *const special[] = {
		[ALERT_ESC_NONE] = "", [ALERT_ESC_MSG] = "\\",
		[ALERT_ESC_SD] = "\"\\]", [ALERT_ESC_CEF_HDR] = "|\\",
		[ALERT_ESC_CEF_EXT] = "\\=",
	};

	*adv = n ? n : 1;
	if (!n) {
		memcpy(t, "\xef\xbf\xbd", 3);
		return 3;
	}
	if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		cp = p[1];	/* C1 control U+0080..U+009F */
	if (mode != ALERT_ESC_NONE &&
	    (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))) {
		if (mode == ALERT_ESC_MSG || mode == ALERT_ESC_SD)
			return cp < 0x80 ? esc_hex(t, "\\x", cp, 2)
					 : esc_hex(t, "\\u", cp, 4);
		if (mode == ALERT_ESC_CEF_EXT && (cp == '\n' || cp == '\r')) {
			t[0] = '\\';
			t[1] = cp == '\n' ? 'n' : 'r';
			return 2;
		}
		t[0] = ' ';
		return 1;
	}
	if (n == 1 && cp && strchr(special[mode], (int)cp)) {
		t[0] = '\\';
		t[1] = (char)cp;
		return 2;
	}
	memcpy(t, p, n);
	return n;
}

/* Printable ASCII that mode leaves alone (NUL is not: it ends runs). */
static bool esc_plain(unsigned char c, enum alert_esc mode)
{
	if (c < 0x20 || c >= 0x7f)
		return false;
	switch (mode) {
	case ALERT_ESC_MSG:
		return c != '\\';
	case ALERT_ESC_SD:
		return c != '"' && c != '\\' && c != ']';
	case ALERT_ESC_CEF_HDR:
		return c != '|' && c != '\\';
	case ALERT_ESC_CEF_EXT:
		return c != '\\' && c != '=';
	default:
		return true;
	}
}

bool alert_buf_put_esc(struct alert_buf *b, const char *s, size_t cap,
		       enum alert_esc mode)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t start = b->len, safe = b->len;
	bool mark = cap > MARK_LEN;

	while (*p && !b->err) {
		const unsigned char *q = p;
		char t[8];
		size_t adv, tn;

		/* Runs of plain ASCII go in one copy while far from the cap. */
		while (esc_plain(*q, mode))
			q++;
		if (q > p && b->len - start + (size_t)(q - p) + MARK_LEN <= cap) {
			alert_buf_put(b, p, (size_t)(q - p));
			p = q;
			safe = b->len;
			continue;
		}
		tn = esc_char(p, mode, t, &adv);

		if (b->len - start + tn > cap) {
			if (mark)
				b->len = safe;
			if (b->p)
				b->p[b->len] = '\0';
			if (mark)
				alert_buf_put(b, ALERT_TRUNC_MARK, MARK_LEN);
			return true;
		}
		alert_buf_put(b, t, tn);
		p += adv;
		if (b->len - start + MARK_LEN <= cap)
			safe = b->len;
	}
	return false;
}

/* --- bounded message queue ---------------------------------------------- */

int alert_queue_init(struct alert_queue *q, unsigned int max, size_t max_bytes)
{
	memset(q, 0, sizeof(*q));
	q->max = max ? max : 1024;
	q->max_bytes = max_bytes ? max_bytes : 4u << 20;
	q->ring = calloc(q->max, sizeof(*q->ring));
	return q->ring ? 0 : -ENOMEM;
}

unsigned int alert_queue_release(struct alert_queue *q)
{
	unsigned int n = q->count;

	while (q->count)
		alert_queue_pop(q);
	free(q->ring);
	q->ring = NULL;
	return n;
}

bool alert_queue_full(const struct alert_queue *q, size_t len)
{
	return q->count >= q->max || q->bytes + len > q->max_bytes;
}

int alert_queue_push(struct alert_queue *q, const void *data, size_t len)
{
	struct alert_msg *m;

	if (!q->ring || alert_queue_full(q, len))
		return -ENOBUFS;
	m = malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	m->len = len;
	memcpy(m->data, data, len);
	q->ring[(q->head + q->count) % q->max] = m;
	q->count++;
	q->bytes += len;
	return 0;
}

void alert_queue_pop(struct alert_queue *q)
{
	struct alert_msg *m;

	if (!q->count)
		return;
	m = q->ring[q->head];
	q->ring[q->head] = NULL;
	q->head = (q->head + 1) % q->max;
	q->count--;
	q->bytes -= m->len;
	free(m);
}
