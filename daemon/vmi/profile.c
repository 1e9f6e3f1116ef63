/*
 * profile.c - kernel profiles in memory: the builder the BTF and ISF
 * sources share (collect symbols, then sort them by name and index them by
 * address), symbol lookups by name and by address, and freeing. The file
 * format is in profile_file.c.
 */
#define _GNU_SOURCE	/* qsort_r */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "profile_priv.h"

#define X(id, s, m) s "." m,
const char *const profile_field_names[PF_COUNT] = { PROFILE_FIELDS(X) };
#undef X
#define X(id, s) s,
const char *const profile_size_names[PS_COUNT] = { PROFILE_SIZES(X) };
const char *const profile_sym_names[PSYM_COUNT] = { PROFILE_SYMBOLS(X) };
#undef X

_Static_assert(sizeof(struct profile_symbol) == 16, "symbol record is 16 bytes");

void profile_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void profile_free(struct profile *p)
{
	if (!p)
		return;
	if (p->map) {
		munmap(p->map, p->map_len);
	} else {
		free(p->by_name);
		free(p->by_addr);
		free(p->strings);
	}
	free(p);
}

static const char *sym_name(const struct profile *p, uint32_t i)
{
	return p->strings + p->by_name[i].name;
}

int profile_sym(const struct profile *p, const char *name, uint64_t *addr)
{
	uint32_t lo = 0, hi = p->nsyms;

	if (!name)
		return -ENOENT;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (strcmp(sym_name(p, mid), name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Among equal names the global one sorts first (see by_name_cmp). */
	if (lo == p->nsyms || strcmp(sym_name(p, lo), name) != 0)
		return -ENOENT;
	if (addr)
		*addr = p->by_name[lo].addr;
	return 0;
}

const char *profile_sym_at(const struct profile *p, uint64_t addr, uint64_t *off)
{
	uint32_t lo = 0, hi = p->nsyms;
	const struct profile_symbol *s;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (p->by_name[p->by_addr[mid]].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	s = &p->by_name[p->by_addr[lo - 1]];
	if (off)
		*off = addr - s->addr;
	return p->strings + s->name;
}

int profile_set_banner(struct profile *p, const char *s, size_t len)
{
	size_t n = strnlen(s, len);

	if (n >= PROFILE_BANNER_MAX)
		return -EINVAL;
	memcpy(p->banner, s, n);
	p->banner[n] = '\0';
	p->banner_len = (uint32_t)n;
	return 0;
}

/* --- building ------------------------------------------------------------ */

int profile_builder_init(struct profile_builder *b, const char *source)
{
	struct profile *p;

	memset(b, 0, sizeof(*b));
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (int i = 0; i < PF_COUNT; i++)
		p->off[i] = PROFILE_NOFIELD;
	snprintf(p->source, sizeof(p->source), "%s", source ? source : "");
	b->p = p;
	return 0;
}

void profile_builder_release(struct profile_builder *b)
{
	profile_free(b->p);
	b->p = NULL;
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem, size_t max)
{
	size_t ncap = *cap ? *cap : 1024;
	void *n;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -E2BIG;
	while (ncap < need)
		ncap *= 2;
	if (ncap > max)
		ncap = max;
	n = realloc(*buf, ncap * elem);
	if (!n)
		return -ENOMEM;
	*buf = n;
	*cap = ncap;
	return 0;
}

int profile_builder_add(struct profile_builder *b, const char *name,
			size_t len, uint64_t addr, char type)
{
	struct profile *p = b->p;
	size_t cap = b->cap;
	int rc;

	if (len == 0 || len > PROFILE_NAME_MAX || memchr(name, '\0', len))
		return -EINVAL;
	rc = grow((void **)&p->by_name, &cap, (size_t)p->nsyms + 1,
		  sizeof(*p->by_name), PROFILE_SYMS_MAX);
	b->cap = (uint32_t)cap;
	if (!rc)
		rc = grow((void **)&p->strings, &b->pool_cap,
			  p->strings_len + len + 1, 1, PROFILE_POOL_MAX);
	if (rc)
		return rc;
	memcpy(p->strings + p->strings_len, name, len);
	p->strings[p->strings_len + len] = '\0';
	p->by_name[p->nsyms] = (struct profile_symbol){
		.addr = addr, .name = (uint32_t)p->strings_len, .type = type };
	p->strings_len += len + 1;
	p->nsyms++;
	return 0;
}

static bool is_global(char type)
{
	return type >= 'A' && type <= 'Z';
}

/* Name order; for equal names the global one first, then lower address. */
static int by_name_cmp(const void *a, const void *b, void *pool)
{
	const struct profile_symbol *x = a, *y = b;
	int c = strcmp((char *)pool + x->name, (char *)pool + y->name);

	if (c)
		return c;
	if (is_global(x->type) != is_global(y->type))
		return is_global(x->type) ? -1 : 1;
	return (x->addr > y->addr) - (x->addr < y->addr);
}

/* Address order; at one address the global one last, so that
 * profile_sym_at (which takes the last at or below) names it. */
static int by_addr_cmp(const void *a, const void *b, void *syms)
{
	const struct profile_symbol *s = syms;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;

	if (s[i].addr != s[j].addr)
		return s[i].addr < s[j].addr ? -1 : 1;
	if (is_global(s[i].type) != is_global(s[j].type))
		return is_global(s[i].type) ? 1 : -1;
	return (i > j) - (i < j);
}

void profile_fill_known(struct profile *p)
{
	for (int i = 0; i < PSYM_COUNT; i++) {
		uint64_t a = 0;

		if (profile_sym(p, profile_sym_names[i], &a))
			a = 0;
		p->known[i] = a;
	}
}

int profile_builder_finish(struct profile_builder *b, struct profile **out,
			   char *err, size_t errlen)
{
	struct profile *p = b->p;

	/* Keep the pool non-empty and NUL-terminated even with no symbols. */
	if (!p->strings) {
		p->strings = calloc(1, 1);
		p->strings_len = 1;
	}
	if (!p->strings) {
		profile_err(err, errlen, "%s: out of memory", p->source);
		return -ENOMEM;
	}
	p->by_addr = malloc(((size_t)p->nsyms + 1) * sizeof(*p->by_addr));
	if (!p->by_addr) {
		profile_err(err, errlen, "%s: out of memory", p->source);
		return -ENOMEM;
	}
	if (p->nsyms) {
		qsort_r(p->by_name, p->nsyms, sizeof(*p->by_name), by_name_cmp, p->strings);
		for (uint32_t i = 0; i < p->nsyms; i++)
			p->by_addr[i] = i;
		qsort_r(p->by_addr, p->nsyms, sizeof(*p->by_addr), by_addr_cmp, p->by_name);
	}
	profile_fill_known(p);
	*out = p;
	b->p = NULL;
	return 0;
}

/* --- validation (of loaded files, and of profiles about to be saved) ---- */

bool profile_pool_ok(const struct profile *p)
{
	return p->strings && p->strings_len >= 1 &&
	       p->strings_len <= PROFILE_POOL_MAX &&
	       p->strings[p->strings_len - 1] == '\0';
}

/* The pool ends in a NUL, so a name at an offset inside it is terminated. */
static int check_syms(const struct profile *p, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < p->nsyms; i++) {
		const struct profile_symbol *s = &p->by_name[i];

		if (s->name >= p->strings_len || p->strings[s->name] == '\0') {
			profile_err(err, errlen, "symbol %u: name offset %u outside the string pool (%zu bytes) or empty",
				    i, s->name, p->strings_len);
			return -EINVAL;
		}
		if (s->type < '!' || s->type > '~') {
			profile_err(err, errlen, "symbol %s: bad type byte 0x%02x",
				    sym_name(p, i), (unsigned char)s->type);
			return -EINVAL;
		}
		if (i && strcmp(sym_name(p, i - 1), sym_name(p, i)) > 0) {
			profile_err(err, errlen, "symbols not sorted by name at %u (%s after %s)",
				    i, sym_name(p, i), sym_name(p, i - 1));
			return -EINVAL;
		}
	}
	return 0;
}

static int check_by_addr(const struct profile *p, char *err, size_t errlen)
{
	uint64_t prev = 0;

	for (uint32_t i = 0; i < p->nsyms; i++) {
		uint32_t j = p->by_addr[i];

		if (j >= p->nsyms) {
			profile_err(err, errlen, "address index %u: entry %u past %u symbols",
				    i, j, p->nsyms);
			return -EINVAL;
		}
		if (p->by_name[j].addr < prev) {
			profile_err(err, errlen, "address index not sorted at %u (%s)",
				    i, sym_name(p, j));
			return -EINVAL;
		}
		prev = p->by_name[j].addr;
	}
	return 0;
}

int profile_check(const struct profile *p, char *err, size_t errlen)
{
	int rc;

	if (!profile_pool_ok(p)) {
		profile_err(err, errlen, "string pool empty, too large, or not NUL-terminated");
		return -EINVAL;
	}
	if (p->nsyms > PROFILE_SYMS_MAX || (p->nsyms && (!p->by_name || !p->by_addr))) {
		profile_err(err, errlen, "bad symbol table (%u symbols)", p->nsyms);
		return -EINVAL;
	}
	if (p->banner_len >= PROFILE_BANNER_MAX || p->banner[p->banner_len] ||
	    strlen(p->banner) != p->banner_len) {
		profile_err(err, errlen, "bad banner length %u", p->banner_len);
		return -EINVAL;
	}
	rc = check_syms(p, err, errlen);
	return rc ? rc : check_by_addr(p, err, errlen);
}
