/*
 * profile_isf.c - build a profile from a Volatility 3 ISF JSON file (what
 * dwarf2json emits): member offsets from "user_types" (looking through
 * anonymous members, which dwarf2json marks "anonymous": true and names
 * "unnamed_field_<off>"), struct sizes, "base_types" as a sanity check,
 * symbol addresses from "symbols", and the banner from the linux_banner
 * symbol's "constant_data" (base64) when the producer stored it.
 * Missing pieces give missing fields (-1); pieces of the wrong JSON type,
 * and absurd offsets, give -EINVAL with the JSON path in the message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "profile_priv.h"

#define ISF_FILE_MAX (1u << 30)
#define ISF_DEPTH 64		/* JSON nesting; ISF needs about 6 */
#define ISF_KEY_MAX 256

struct isf {
	const char *path;
	struct json_object *types;	/* "user_types", may be NULL */
	unsigned int budget;		/* member searches left for one path */
	char *err;
	size_t errlen;
};

/* o[key] if it has type t; NULL if absent; -EINVAL in *rc if mistyped. */
static struct json_object *get(struct isf *x, struct json_object *o, const char *key,
			       enum json_type t, const char *where, int *rc)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	if (!json_object_is_type(v, t)) {
		profile_err(x->err, x->errlen, "%s: %s.%s is a %s, not a %s", x->path, where,
			    key, json_type_to_name(json_object_get_type(v)), json_type_to_name(t));
		*rc = -EINVAL;
		return NULL;
	}
	return v;
}

/* An integer in [0, max], or -EINVAL with a message. */
static int get_uint(struct isf *x, struct json_object *o, const char *key,
		    uint64_t max, const char *where, uint64_t *out)
{
	int rc = 0;
	struct json_object *v = get(x, o, key, json_type_int, where, &rc);

	if (!v)
		return rc ? rc : -ENOENT;
	if (json_object_get_int64(v) < 0 || json_object_get_uint64(v) > max) {
		profile_err(x->err, x->errlen, "%s: %s.%s = %s is out of range", x->path,
			    where, key, json_object_to_json_string(v));
		return -EINVAL;
	}
	*out = json_object_get_uint64(v);
	return 0;
}

static bool isf_anonymous(const char *name, struct json_object *f)
{
	struct json_object *a;

	if (json_object_object_get_ex(f, "anonymous", &a))
		return json_object_get_boolean(a);
	return strncmp(name, "unnamed_field", 13) == 0;
}

/*
 * One field object: its offset, and the struct/union it is (NULL if none).
 * -ENOENT for a bitfield (not offered).
 */
static int isf_field(struct isf *x, struct json_object *f, const char *where,
		     uint64_t *off, const char **sub)
{
	struct json_object *t, *k, *n;
	int rc = 0;

	if (!json_object_is_type(f, json_type_object)) {
		profile_err(x->err, x->errlen, "%s: %s is not an object", x->path, where);
		return -EINVAL;
	}
	rc = get_uint(x, f, "offset", PROFILE_OFF_MAX, where, off);
	if (rc == -ENOENT)
		profile_err(x->err, x->errlen, "%s: %s has no offset", x->path, where);
	if (rc)
		return -EINVAL;
	t = get(x, f, "type", json_type_object, where, &rc);
	k = get(x, t, "kind", json_type_string, where, &rc);
	n = get(x, t, "name", json_type_string, where, &rc);
	if (rc)
		return rc;
	if (k && !strcmp(json_object_get_string(k), "bitfield"))
		return -ENOENT;
	*sub = (k && n && (!strcmp(json_object_get_string(k), "struct") ||
			   !strcmp(json_object_get_string(k), "union")))
		? json_object_get_string(n) : NULL;
	return 0;
}

/* Member name in user type tname, through anonymous members. */
static int isf_member(struct isf *x, const char *tname, const char *name,
		      uint64_t *off, const char **sub, int depth)
{
	struct json_object *t, *fields, *f;
	struct json_object_iterator it, end;
	char where[2 * ISF_KEY_MAX];
	int rc = 0;

	if (!x->budget)
		return -ENOENT;	/* anonymous members that fan out and loop */
	x->budget--;
	snprintf(where, sizeof(where), "user_types.%s", tname);
	t = get(x, x->types, tname, json_type_object, "user_types", &rc);
	fields = get(x, t, "fields", json_type_object, where, &rc);
	if (!fields || depth > PROFILE_DEPTH_MAX)
		return rc ? rc : -ENOENT;
	snprintf(where, sizeof(where), "user_types.%s.fields.%s", tname, name);
	if (json_object_object_get_ex(fields, name, &f))
		return isf_field(x, f, where, off, sub);
	it = json_object_iter_begin(fields);
	end = json_object_iter_end(fields);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *an = json_object_iter_peek_name(&it), *anon = NULL;
		uint64_t base, inner = 0;

		f = json_object_iter_peek_value(&it);
		if (!json_object_is_type(f, json_type_object) || !isf_anonymous(an, f))
			continue;
		snprintf(where, sizeof(where), "user_types.%s.fields.%s", tname, an);
		rc = isf_field(x, f, where, &base, &anon);
		if (rc == -ENOENT || (!rc && !anon))
			continue;
		if (!rc)
			rc = isf_member(x, anon, name, &inner, sub, depth + 1);
		if (rc != -ENOENT) {
			*off = base + inner;
			return rc;
		}
	}
	return -ENOENT;
}

/* A dotted path in struct s: 0 and *off, -ENOENT if absent, -EINVAL. */
static int isf_path(struct isf *x, const char *s, const char *path, int32_t *out)
{
	char key[ISF_KEY_MAX];
	const char *type = s;
	uint64_t total = 0;

	x->budget = PROFILE_SEARCH_MAX;
	while (*path) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		uint64_t off = 0;
		int rc;

		if (!type || len >= sizeof(key))
			return -ENOENT;
		memcpy(key, path, len);
		key[len] = '\0';
		rc = isf_member(x, type, key, &off, &type, 0);
		if (rc)
			return rc;
		total += off;
		path += len + (dot ? 1 : 0);
	}
	if (total > PROFILE_OFF_MAX)
		return -ENOENT;
	*out = (int32_t)total;
	return 0;
}

#define X(id, s, m) s,
static const char *const isf_structs[PF_COUNT] = { PROFILE_FIELDS(X) };
#undef X

static int isf_types(struct isf *x, struct profile *p)
{
	for (int i = 0; i < PF_COUNT && x->types; i++) {
		const char *member = profile_field_names[i] + strlen(isf_structs[i]) + 1;
		int rc = isf_path(x, isf_structs[i], member, &p->off[i]);

		if (rc == -ENOENT)
			p->off[i] = PROFILE_NOFIELD;
		else if (rc)
			return rc;
	}
	for (int i = 0; i < PS_COUNT && x->types; i++) {
		const char *n = profile_size_names[i];
		struct json_object *t;
		uint64_t sz = 0;
		int rc = 0;

		t = get(x, x->types, n, json_type_object, "user_types", &rc);
		if (!rc && t)
			rc = get_uint(x, t, "size", PROFILE_SIZE_MAX, n, &sz);
		if (rc && rc != -ENOENT)
			return rc;
		p->size[i] = rc ? 0 : (uint32_t)sz;
	}
	return 0;
}

/* upcalld reads x86-64 guests: refuse an ISF that says otherwise. */
static int isf_base_types(struct isf *x, struct json_object *root)
{
	struct json_object *bt, *ptr, *endian;
	uint64_t sz;
	int rc = 0;

	bt = get(x, root, "base_types", json_type_object, "(root)", &rc);
	ptr = get(x, bt, "pointer", json_type_object, "base_types", &rc);
	endian = get(x, ptr, "endian", json_type_string, "base_types.pointer", &rc);
	if (rc || !ptr)
		return rc;
	rc = get_uint(x, ptr, "size", 64, "base_types.pointer", &sz);
	if (rc == -ENOENT)
		rc = 0;
	else if (!rc && sz != 8)
		rc = -EINVAL;
	if (!rc && endian && strcmp(json_object_get_string(endian), "little"))
		rc = -EINVAL;
	if (rc)
		profile_err(x->err, x->errlen, "%s: base_types.pointer is not a 64-bit little-endian pointer: not an x86-64 kernel",
			    x->path);
	return rc;
}

static int isf_banner(struct isf *x, struct json_object *sym, struct profile *p)
{
	unsigned char buf[PROFILE_BANNER_MAX * 2];
	struct json_object *cd;
	const char *s;
	int rc = 0, n;
	size_t len;

	cd = get(x, sym, "constant_data", json_type_string, "symbols.linux_banner", &rc);
	if (!cd)
		return rc;
	s = json_object_get_string(cd);
	len = (size_t)json_object_get_string_len(cd);
	n = len <= sizeof(buf) / 3 * 4 ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len) : -1;
	if (n < 0 || profile_set_banner(p, (const char *)buf, (size_t)n)) {
		profile_err(x->err, x->errlen, "%s: symbols.linux_banner.constant_data is not base64 of a banner under %d bytes",
			    x->path, PROFILE_BANNER_MAX);
		return -EINVAL;
	}
	return 0;
}

static int isf_symbol(struct isf *x, struct profile_builder *b, const char *name,
		      struct json_object *sym)
{
	struct json_object *t, *k;
	char where[ISF_KEY_MAX + 16];
	uint64_t addr;
	int rc;

	snprintf(where, sizeof(where), "symbols.%.*s", ISF_KEY_MAX, name);
	if (!json_object_is_type(sym, json_type_object)) {
		profile_err(x->err, x->errlen, "%s: %s is not an object", x->path, where);
		return -EINVAL;
	}
	rc = get_uint(x, sym, "address", UINT64_MAX, where, &addr);
	if (rc == -ENOENT || (!rc && addr == 0))
		return 0;	/* dwarf2json writes 0 for "not known" */
	t = get(x, sym, "type", json_type_object, where, &rc);
	k = get(x, t, "kind", json_type_string, where, &rc);
	if (rc)
		return rc;
	if (!strcmp(name, "linux_banner") && (rc = isf_banner(x, sym, b->p)))
		return rc;
	rc = profile_builder_add(b, name, strlen(name), addr,
				 k && !strcmp(json_object_get_string(k), "function") ? 'T' : 'D');
	if (rc == -E2BIG)
		profile_err(x->err, x->errlen, "%s: more than %u symbols", x->path, PROFILE_SYMS_MAX);
	return rc == -EINVAL ? 0 : rc;	/* an unusable name: skip it */
}

static int isf_symbols(struct isf *x, struct json_object *root, struct profile_builder *b)
{
	struct json_object_iterator it, end;
	struct json_object *syms;
	int rc = 0;

	syms = get(x, root, "symbols", json_type_object, "(root)", &rc);
	if (!syms)
		return rc;
	it = json_object_iter_begin(syms);
	end = json_object_iter_end(syms);
	for (; !rc && !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		rc = isf_symbol(x, b, json_object_iter_peek_name(&it),
				json_object_iter_peek_value(&it));
	return rc;
}

/* The whole file, NUL-terminated, in *buf (caller frees). */
static int isf_slurp(struct isf *x, char **buf, size_t *len)
{
	struct stat st;
	size_t done = 0;
	int fd, rc = 0;

	fd = open(x->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st)) {
		rc = -errno;
		profile_err(x->err, x->errlen, "%s: %s", x->path, strerror(-rc));
	} else if (!S_ISREG(st.st_mode) || st.st_size > ISF_FILE_MAX) {
		profile_err(x->err, x->errlen, "%s: not a regular file under 1 GiB", x->path);
		rc = -EINVAL;
	} else if (!(*buf = malloc((size_t)st.st_size + 1))) {
		rc = -ENOMEM;
	}
	while (!rc && done < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + done, (size_t)st.st_size - done);

		if (n <= 0) {
			rc = n ? -errno : -EINVAL;
			profile_err(x->err, x->errlen, "%s: read failed", x->path);
		}
		done += n > 0 ? (size_t)n : 0;
	}
	if (fd >= 0)
		close(fd);
	if (!rc) {
		(*buf)[done] = '\0';
		*len = done;
	}
	return rc;
}

static int isf_read(struct isf *x, struct json_object **root)
{
	struct json_tokener *tok = json_tokener_new_ex(ISF_DEPTH);
	char *buf = NULL;
	size_t len = 0, end;
	int rc = tok ? isf_slurp(x, &buf, &len) : -ENOMEM;

	if (rc)
		goto out;
	*root = json_tokener_parse_ex(tok, buf, (int)len);
	end = json_tokener_get_parse_end(tok);
	while (end < len && strchr(" \t\r\n", buf[end]) && buf[end])
		end++;
	if (!*root || json_tokener_get_error(tok) != json_tokener_success || end != len) {
		enum json_tokener_error je = json_tokener_get_error(tok);

		profile_err(x->err, x->errlen, "%s: bad JSON at byte %zu: %s", x->path,
			    json_tokener_get_parse_end(tok),
			    je == json_tokener_continue ? "unexpected end of file"
			    : je == json_tokener_success ? "trailing data after the document"
			    : json_tokener_error_desc(je));
		json_object_put(*root);
		*root = NULL;
		rc = -EINVAL;
	}
out:
	if (tok)
		json_tokener_free(tok);
	free(buf);
	return rc;
}

static int isf_build(struct isf *x, struct json_object *root, struct profile_builder *b)
{
	struct json_object *syms;
	int rc = 0;

	if (!json_object_is_type(root, json_type_object)) {
		profile_err(x->err, x->errlen, "%s: not an ISF file (the document is not an object)", x->path);
		return -EINVAL;
	}
	x->types = get(x, root, "user_types", json_type_object, "(root)", &rc);
	syms = get(x, root, "symbols", json_type_object, "(root)", &rc);
	if (!rc && !x->types && !syms) {
		profile_err(x->err, x->errlen, "%s: not an ISF file (no user_types, no symbols)", x->path);
		rc = -EINVAL;
	}
	if (!rc)
		rc = isf_base_types(x, root);
	if (!rc)
		rc = isf_types(x, b->p);
	if (!rc)
		rc = isf_symbols(x, root, b);
	return rc;
}

int profile_from_isf(const char *path, struct profile **out, char *err, size_t errlen)
{
	struct isf x = { .path = path, .err = err, .errlen = errlen };
	struct json_object *root = NULL;
	struct profile_builder b;
	int rc;

	*out = NULL;
	rc = profile_builder_init(&b, path);
	if (rc)
		return rc;
	rc = isf_read(&x, &root);
	if (!rc)
		rc = isf_build(&x, root, &b);
	if (!rc)
		rc = profile_builder_finish(&b, out, err, errlen);
	json_object_put(root);
	profile_builder_release(&b);
	return rc;
}
