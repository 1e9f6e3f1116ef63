/*
 * profile_file.c - upcalld's binary profile format: saving, and loading
 * with full validation. A profile file is input from disk, so every count,
 * offset and string is checked against the file before anything uses it;
 * the layout lets the check be one linear pass (the cold `ps` budget is
 * 11 ms end to end).
 *
 * Format, version 1, all integers little-endian:
 *   header (96 bytes): "UPCDPROF", u32 version, u32 header size,
 *     u32 nfields, u32 nsizes, u32 nsyms, u32 banner offset (in the pool),
 *     u32 banner length, u32 reserved, u64 offsets of the fields, sizes,
 *     symbols, address-index and string sections, u64 string pool length,
 *     u64 total file size.
 *   fields: nfields x {u32 name, i32 offset}   name: "task_struct.tasks"
 *   sizes:  nsizes  x {u32 name, u32 size}     name: "task_struct"
 *   symbols: nsyms x {u64 addr, u32 name, u8 type, 3 zero bytes}, by name
 *   address index: nsyms x u32 index into symbols, by address
 *   string pool: NUL-terminated strings; its last byte is a NUL, so any
 *     offset inside it starts a terminated string.
 * Tables are keyed by name: entries added to profile.h later read as
 * missing (-1) from old files, and names this build does not know are
 * skipped. Sections come in this order, may be padded, never overlap; the
 * symbols start 8-aligned and the index 4-aligned, so that a loaded file is
 * used in place through a read-only mapping.
 */
#define _GNU_SOURCE	/* mkostemp */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profile_priv.h"

static const char *sym_name(const struct profile *p, uint32_t i)
{
	return p->strings + p->by_name[i].name;
}

/* --- the file format ---------------------------------------------------- */

#define FILE_MAGIC "UPCDPROF"
#define FILE_VERSION 1u
#define HDR_SIZE 96u
#define TABLE_MAX 4096u
#define FILE_MAX ((uint64_t)1 << 30)

enum { SEC_FIELDS, SEC_SIZES, SEC_SYMS, SEC_BYADDR, SEC_STRINGS, SEC_COUNT };
static const char *const sec_names[SEC_COUNT] = {
	"fields", "sizes", "symbols", "address index", "string pool" };

struct file_hdr {
	uint32_t version, header_size, nfields, nsizes, nsyms;
	uint32_t banner_off, banner_len;
	uint64_t off[SEC_COUNT], len[SEC_COUNT];
	uint64_t total;
};

static void put32(uint8_t *b, uint32_t v) { v = htole32(v); memcpy(b, &v, 4); }
static void put64(uint8_t *b, uint64_t v) { v = htole64(v); memcpy(b, &v, 8); }
static uint32_t get32(const uint8_t *b) { uint32_t v; memcpy(&v, b, 4); return le32toh(v); }
static uint64_t get64(const uint8_t *b) { uint64_t v; memcpy(&v, b, 8); return le64toh(v); }

static void hdr_encode(const struct file_hdr *h, uint8_t *b)
{
	memcpy(b, FILE_MAGIC, 8);
	put32(b + 8, h->version);
	put32(b + 12, h->header_size);
	put32(b + 16, h->nfields);
	put32(b + 20, h->nsizes);
	put32(b + 24, h->nsyms);
	put32(b + 28, h->banner_off);
	put32(b + 32, h->banner_len);
	put32(b + 36, 0);
	for (int i = 0; i < SEC_COUNT; i++)
		put64(b + 40 + 8 * i, h->off[i]);
	put64(b + 80, h->len[SEC_STRINGS]);
	put64(b + 88, h->total);
}

static void hdr_decode(const uint8_t *b, struct file_hdr *h)
{
	h->version = get32(b + 8);
	h->header_size = get32(b + 12);
	h->nfields = get32(b + 16);
	h->nsizes = get32(b + 20);
	h->nsyms = get32(b + 24);
	h->banner_off = get32(b + 28);
	h->banner_len = get32(b + 32);
	for (int i = 0; i < SEC_COUNT; i++)
		h->off[i] = get64(b + 40 + 8 * i);
	h->len[SEC_STRINGS] = get64(b + 80);
	h->total = get64(b + 88);
}

static void hdr_lengths(struct file_hdr *h)
{
	h->len[SEC_FIELDS] = (uint64_t)h->nfields * 8;
	h->len[SEC_SIZES] = (uint64_t)h->nsizes * 8;
	h->len[SEC_SYMS] = (uint64_t)h->nsyms * 16;
	h->len[SEC_BYADDR] = (uint64_t)h->nsyms * 4;
}

/* --- saving ----------------------------------------------------------- */

struct pool {
	char *buf;
	size_t len, cap;
};

static int pool_add(struct pool *pl, const char *s, size_t n, uint32_t *off)
{
	if (pl->len + n + 1 > pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 4096;
		char *nb;

		while (cap < pl->len + n + 1)
			cap *= 2;
		if (cap > PROFILE_POOL_MAX)
			return -E2BIG;
		nb = realloc(pl->buf, cap);
		if (!nb)
			return -ENOMEM;
		pl->buf = nb;
		pl->cap = cap;
	}
	memcpy(pl->buf + pl->len, s, n);
	pl->buf[pl->len + n] = '\0';
	*off = (uint32_t)pl->len;
	pl->len += n + 1;
	return 0;
}

/* A fresh pool laid out in name order (the loader's sort check then reads
 * memory front to back); equal names share one string. */
static int save_pool(const struct profile *p, struct pool *pl, uint32_t *fname,
		     uint32_t *sname, uint32_t *symname, uint32_t *banner_off)
{
	uint32_t dummy;
	int rc = pool_add(pl, "", 0, &dummy);

	if (!rc)
		rc = pool_add(pl, p->banner, p->banner_len, banner_off);
	for (int i = 0; !rc && i < PF_COUNT; i++)
		rc = pool_add(pl, profile_field_names[i], strlen(profile_field_names[i]), &fname[i]);
	for (int i = 0; !rc && i < PS_COUNT; i++)
		rc = pool_add(pl, profile_size_names[i], strlen(profile_size_names[i]), &sname[i]);
	for (uint32_t i = 0; !rc && i < p->nsyms; i++) {
		const char *n = sym_name(p, i);

		if (i && strcmp(n, sym_name(p, i - 1)) == 0)
			symname[i] = symname[i - 1];
		else
			rc = pool_add(pl, n, strlen(n), &symname[i]);
	}
	return rc;
}

static void save_layout(struct file_hdr *h, const struct profile *p, size_t pool_len)
{
	memset(h, 0, sizeof(*h));
	h->version = FILE_VERSION;
	h->header_size = HDR_SIZE;
	h->nfields = PF_COUNT;
	h->nsizes = PS_COUNT;
	h->nsyms = p->nsyms;
	hdr_lengths(h);
	h->len[SEC_STRINGS] = pool_len;
	h->off[SEC_FIELDS] = HDR_SIZE;
	h->off[SEC_SIZES] = h->off[SEC_FIELDS] + h->len[SEC_FIELDS];
	h->off[SEC_SYMS] = (h->off[SEC_SIZES] + h->len[SEC_SIZES] + 7) & ~7ull;
	h->off[SEC_BYADDR] = h->off[SEC_SYMS] + h->len[SEC_SYMS];
	h->off[SEC_STRINGS] = h->off[SEC_BYADDR] + h->len[SEC_BYADDR];
	h->total = h->off[SEC_STRINGS] + pool_len;
}

static void save_fill(uint8_t *buf, const struct file_hdr *h, const struct profile *p,
		      const struct pool *pl, const uint32_t *fname,
		      const uint32_t *sname, const uint32_t *symname)
{
	uint8_t *b;

	hdr_encode(h, buf);
	b = buf + h->off[SEC_FIELDS];
	for (int i = 0; i < PF_COUNT; i++, b += 8) {
		put32(b, fname[i]);
		put32(b + 4, (uint32_t)p->off[i]);
	}
	b = buf + h->off[SEC_SIZES];
	for (int i = 0; i < PS_COUNT; i++, b += 8) {
		put32(b, sname[i]);
		put32(b + 4, p->size[i]);
	}
	b = buf + h->off[SEC_SYMS];
	for (uint32_t i = 0; i < p->nsyms; i++, b += 16) {
		put64(b, p->by_name[i].addr);
		put32(b + 8, symname[i]);
		b[12] = (uint8_t)p->by_name[i].type;
	}
	b = buf + h->off[SEC_BYADDR];
	for (uint32_t i = 0; i < p->nsyms; i++, b += 4)
		put32(b, p->by_addr[i]);
	memcpy(buf + h->off[SEC_STRINGS], pl->buf, pl->len);
}

static int write_atomic(const char *path, const uint8_t *buf, size_t len)
{
	char tmp[PATH_MAX];
	size_t done = 0;
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (done < len && !rc) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno != EINTR)
			rc = -errno;
		else if (n > 0)
			done += (size_t)n;
	}
	if (!rc && (fchmod(fd, 0644) || fsync(fd)))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int profile_save(const struct profile *p, const char *path)
{
	uint32_t fname[PF_COUNT], sname[PS_COUNT], banner_off = 0;
	uint32_t *symname = NULL;
	struct pool pl = { 0 };
	struct file_hdr h;
	uint8_t *buf = NULL;
	int rc;

	if (profile_check(p, NULL, 0))
		return -EINVAL;
	symname = malloc(((size_t)p->nsyms + 1) * sizeof(*symname));
	if (!symname)
		return -ENOMEM;
	rc = save_pool(p, &pl, fname, sname, symname, &banner_off);
	if (rc)
		goto out_free;
	save_layout(&h, p, pl.len);
	h.banner_off = banner_off;
	h.banner_len = p->banner_len;
	buf = calloc(1, h.total);
	if (!buf) {
		rc = -ENOMEM;
		goto out_free;
	}
	save_fill(buf, &h, p, &pl, fname, sname, symname);
	rc = write_atomic(path, buf, h.total);
out_free:
	free(buf);
	free(pl.buf);
	free(symname);
	return rc;
}

/* --- loading ---------------------------------------------------------- */

static int parse_header(const uint8_t *b, size_t n, uint64_t fsize,
			struct file_hdr *h, char *msg, size_t mlen)
{
	uint64_t cursor = HDR_SIZE;

	if (n < HDR_SIZE) {
		profile_err(msg, mlen, "truncated: %zu bytes, shorter than the %u-byte header", n, HDR_SIZE);
		return -EINVAL;
	}
	if (memcmp(b, FILE_MAGIC, 8)) {
		profile_err(msg, mlen, "bad magic: neither an upcalld profile nor ISF JSON");
		return -EINVAL;
	}
	hdr_decode(b, h);
	if (h->version != FILE_VERSION || h->header_size != HDR_SIZE) {
		profile_err(msg, mlen, "unsupported version %u with header size %u (this build reads version %u, %u bytes)",
			    h->version, h->header_size, FILE_VERSION, HDR_SIZE);
		return -EINVAL;
	}
	if (h->total != fsize || fsize > FILE_MAX) {
		profile_err(msg, mlen, "truncated or padded: header says %llu bytes, file has %llu",
			    (unsigned long long)h->total, (unsigned long long)fsize);
		return -EINVAL;
	}
	if (h->nfields > TABLE_MAX || h->nsizes > TABLE_MAX || h->nsyms > PROFILE_SYMS_MAX) {
		profile_err(msg, mlen, "absurd counts: %u fields, %u sizes, %u symbols (caps %u, %u, %u)",
			    h->nfields, h->nsizes, h->nsyms, TABLE_MAX, TABLE_MAX, PROFILE_SYMS_MAX);
		return -EINVAL;
	}
	if (h->len[SEC_STRINGS] == 0 || h->len[SEC_STRINGS] > PROFILE_POOL_MAX ||
	    h->banner_len >= PROFILE_BANNER_MAX) {
		profile_err(msg, mlen, "bad string pool length %llu or banner length %u",
			    (unsigned long long)h->len[SEC_STRINGS], h->banner_len);
		return -EINVAL;
	}
	hdr_lengths(h);
	for (int i = 0; i < SEC_COUNT; i++) {
		if (h->off[i] < cursor || h->off[i] > h->total ||
		    h->len[i] > h->total - h->off[i]) {
			profile_err(msg, mlen, "%s section (offset %llu, %llu bytes) out of place or past the end",
				    sec_names[i], (unsigned long long)h->off[i],
				    (unsigned long long)h->len[i]);
			return -EINVAL;
		}
		cursor = h->off[i] + h->len[i];
	}
	return 0;
}

static int find_name(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* One name-keyed table: fields (signed offsets) or sizes. */
static int load_table(struct profile *p, const uint8_t *t, uint32_t count, bool fields,
		      char *msg, size_t mlen)
{
	uint8_t seen[(int)PF_COUNT + (int)PS_COUNT] = { 0 };

	for (uint32_t i = 0; i < count; i++, t += 8) {
		uint32_t name = get32(t), v = get32(t + 4);
		const char *s;
		int k;

		if (name >= p->strings_len) {
			profile_err(msg, mlen, "%s entry %u: name offset %u outside the string pool",
				    fields ? "field" : "size", i, name);
			return -EINVAL;
		}
		s = p->strings + name;
		if (fields ? ((int32_t)v != PROFILE_NOFIELD && v > PROFILE_OFF_MAX)
			   : v > PROFILE_SIZE_MAX) {
			profile_err(msg, mlen, "%s %s: absurd value %d", fields ? "field" : "size",
				    s, (int32_t)v);
			return -EINVAL;
		}
		k = fields ? find_name(profile_field_names, PF_COUNT, s)
			   : find_name(profile_size_names, PS_COUNT, s);
		if (k < 0)
			continue;	/* written by a newer build */
		if (seen[k]++) {
			profile_err(msg, mlen, "duplicate entry %s", s);
			return -EINVAL;
		}
		if (fields)
			p->off[k] = (int32_t)v;
		else
			p->size[k] = v;
	}
	return 0;
}

static int load_banner(struct profile *p, const struct file_hdr *h, char *msg, size_t mlen)
{
	const char *s = p->strings + h->banner_off;

	if (!h->banner_len)
		return 0;
	if (h->banner_off >= p->strings_len ||
	    h->banner_len >= p->strings_len - h->banner_off ||
	    memchr(s, '\0', h->banner_len) || s[h->banner_len]) {
		profile_err(msg, mlen, "banner (offset %u, %u bytes) is not a string in the pool",
			    h->banner_off, h->banner_len);
		return -EINVAL;
	}
	return profile_set_banner(p, s, h->banner_len);
}

/* Point the tables into the mapping m and check them. */
static int load_sections(const uint8_t *m, struct profile *p, const struct file_hdr *h,
			 char *msg, size_t mlen)
{
	int rc;

	if (h->off[SEC_SYMS] % 8 || h->off[SEC_BYADDR] % 4) {
		profile_err(msg, mlen, "misaligned symbol tables (offsets %llu, %llu)",
			    (unsigned long long)h->off[SEC_SYMS],
			    (unsigned long long)h->off[SEC_BYADDR]);
		return -EINVAL;
	}
	p->nsyms = h->nsyms;
	p->by_name = (struct profile_symbol *)(m + h->off[SEC_SYMS]);
	p->by_addr = (uint32_t *)(m + h->off[SEC_BYADDR]);
	p->strings = (char *)(m + h->off[SEC_STRINGS]);
	p->strings_len = h->len[SEC_STRINGS];
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (uint32_t i = 0; i < p->nsyms; i++) {	/* a private writable map */
		p->by_name[i].addr = le64toh(p->by_name[i].addr);
		p->by_name[i].name = le32toh(p->by_name[i].name);
		p->by_addr[i] = le32toh(p->by_addr[i]);
	}
#endif
	if (!profile_pool_ok(p)) {
		profile_err(msg, mlen, "string pool does not end in a NUL");
		return -EINVAL;
	}
	rc = load_table(p, m + h->off[SEC_FIELDS], h->nfields, true, msg, mlen);
	if (!rc)
		rc = load_table(p, m + h->off[SEC_SIZES], h->nsizes, false, msg, mlen);
	if (!rc)
		rc = load_banner(p, h, msg, mlen);
	return rc ? rc : profile_check(p, msg, mlen);
}

static bool looks_json(const uint8_t *b, size_t n)
{
	size_t i = 0;

	if (n >= 3 && !memcmp(b, "\xef\xbb\xbf", 3))
		i = 3;	/* UTF-8 byte order mark */
	while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
		i++;
	return i < n && b[i] == '{';
}

static int load_binary(const uint8_t *m, size_t size, const char *path,
		       struct profile **out, char *msg, size_t mlen)
{
	struct file_hdr h;
	struct profile *p;
	int rc = parse_header(m, size, size, &h, msg, mlen);

	if (rc)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (int i = 0; i < PF_COUNT; i++)
		p->off[i] = PROFILE_NOFIELD;
	snprintf(p->source, sizeof(p->source), "%s", path);
	rc = load_sections(m, p, &h, msg, mlen);
	if (rc) {
		free(p);
		return rc;
	}
	p->map = (void *)m;
	p->map_len = size;
	profile_fill_known(p);
	*out = p;
	return 0;
}

/* Map the whole file, populated at once: far cheaper than reading it into
 * fresh memory, and the validation touches every page anyway. */
static int map_file(int fd, const char *path, uint8_t **m, size_t *size,
		    char *err, size_t errlen)
{
	int prot = PROT_READ;
	struct stat st;

	if (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
		prot |= PROT_WRITE;
	if (fstat(fd, &st)) {
		profile_err(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0 || (uint64_t)st.st_size > FILE_MAX) {
		profile_err(err, errlen, "%s: %s", path, !S_ISREG(st.st_mode) ? "not a regular file"
			    : st.st_size ? "larger than 1 GiB" : "empty file");
		return -EINVAL;
	}
	*size = (size_t)st.st_size;
	*m = mmap(NULL, *size, prot, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (*m == MAP_FAILED) {
		int rc = -errno;

		profile_err(err, errlen, "%s: cannot map: %s", path, strerror(-rc));
		return rc;
	}
	return 0;
}

int profile_load(const char *path, struct profile **out, char *err, size_t errlen)
{
	char msg[400] = "";
	uint8_t *m = NULL;
	size_t size = 0;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);	/* a FIFO must not hang us */
	if (fd < 0) {
		rc = -errno;
		profile_err(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = map_file(fd, path, &m, &size, err, errlen);
	close(fd);
	if (rc)
		return rc;
	if (looks_json(m, size < 4096 ? size : 4096)) {
		munmap(m, size);
		return profile_from_isf(path, out, err, errlen);
	}
	rc = load_binary(m, size, path, out, msg, sizeof(msg));
	if (rc) {
		munmap(m, size);
		profile_err(err, errlen, "%s: %s", path, msg[0] ? msg : strerror(-rc));
	}
	return rc;
}
