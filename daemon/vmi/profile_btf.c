/*
 * profile_btf.c - build a profile from a kernel's vmlinux: member offsets
 * and struct sizes from its BTF (libbpf), symbols from System.map text or
 * from vmlinux's own ELF symbol table (libelf), and the banner read out of
 * vmlinux's section contents at linux_banner, which are the exact bytes the
 * guest has in memory. Runs on the trusted host, but the inputs are still
 * parsed defensively (a wrong or damaged file gives an error, not a crash).
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "profile_priv.h"

#define SYSMAP_LINE_MAX 1024
#define SYSMAP_FILE_MAX (512u << 20)

/* --- BTF ---------------------------------------------------------------- */

/*
 * Find member name[0..len) in the struct or union `id`, looking through
 * anonymous members; adds its byte offset to *off and gives its type.
 */
static int btf_member(const struct btf *btf, __u32 id, const char *name,
		      size_t len, __u32 *off, __u32 *mtype, int depth,
		      unsigned int *budget)
{
	const struct btf_type *t;
	const struct btf_member *m;
	int rid = btf__resolve_type(btf, id);

	if (rid < 0 || depth > PROFILE_DEPTH_MAX || !*budget)
		return -ENOENT;
	(*budget)--;	/* anonymous members that fan out and loop */
	t = btf__type_by_id(btf, (__u32)rid);
	if (!t || !(btf_is_struct(t) || btf_is_union(t)))
		return -ENOENT;
	m = btf_members(t);
	for (__u32 i = 0; i < btf_vlen(t); i++) {
		const char *mn = btf__name_by_offset(btf, m[i].name_off);
		__u32 bits = btf_member_bit_offset(t, i), sub = 0;

		if (mn && *mn) {
			if (strlen(mn) != len || memcmp(mn, name, len))
				continue;
			if (btf_member_bitfield_size(t, i) || bits % 8)
				return -ENOENT;	/* bitfields are not offered */
			*off += bits / 8;
			*mtype = m[i].type;
			return 0;
		}
		if (btf_member(btf, m[i].type, name, len, &sub, mtype, depth + 1, budget) == 0) {
			*off += bits / 8 + sub;
			return 0;
		}
	}
	return -ENOENT;
}

/* A dotted member path from struct `id`: its offset or -1. */
static int32_t btf_path(const struct btf *btf, __u32 id, const char *path)
{
	__u32 off = 0, type = id;
	unsigned int budget = PROFILE_SEARCH_MAX;

	while (*path) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);

		if (btf_member(btf, type, path, len, &off, &type, 0, &budget))
			return PROFILE_NOFIELD;
		path += len + (dot ? 1 : 0);
	}
	return off <= PROFILE_OFF_MAX ? (int32_t)off : PROFILE_NOFIELD;
}

/* Struct names the profile needs, each once. */
#define X(id, s, m) s,
static const char *const field_structs[PF_COUNT] = { PROFILE_FIELDS(X) };
#undef X

/* One pass over all types: the first struct (not a forward declaration,
 * which is its own kind) of each needed name. */
static void btf_find_structs(const struct btf *btf, const char *const *names,
			     int n, __u32 *ids)
{
	__u32 cnt = btf__type_cnt(btf);
	int left = n;

	for (__u32 i = 1; i < cnt && left; i++) {
		const struct btf_type *t = btf__type_by_id(btf, i);
		const char *tn;

		if (!btf_is_struct(t) || !t->name_off)
			continue;
		tn = btf__name_by_offset(btf, t->name_off);
		for (int k = 0; tn && k < n; k++) {
			if (!ids[k] && strcmp(tn, names[k]) == 0) {
				ids[k] = i;
				left--;
			}
		}
	}
}

void profile_btf_resolve(const struct btf *btf, struct profile *p)
{
	const char *names[PF_COUNT + PS_COUNT];
	__u32 ids[PF_COUNT + PS_COUNT] = { 0 };

	for (int i = 0; i < PF_COUNT; i++)
		names[i] = field_structs[i];
	for (int i = 0; i < PS_COUNT; i++)
		names[PF_COUNT + i] = profile_size_names[i];
	btf_find_structs(btf, names, PF_COUNT + PS_COUNT, ids);
	for (int i = 0; i < PF_COUNT; i++) {
		const char *member = profile_field_names[i] + strlen(field_structs[i]) + 1;

		p->off[i] = ids[i] ? btf_path(btf, ids[i], member) : PROFILE_NOFIELD;
	}
	for (int i = 0; i < PS_COUNT; i++) {
		__s64 sz = ids[PF_COUNT + i] ? btf__resolve_size(btf, ids[PF_COUNT + i]) : 0;

		p->size[i] = (sz > 0 && sz <= PROFILE_SIZE_MAX) ? (uint32_t)sz : 0;
	}
}

/* --- System.map --------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "<hex> <letter> <name>": 1 for a symbol to keep, 0 to skip. */
static int sysmap_line(const char *l, size_t n, uint64_t *addr, char *type,
		       const char **name, size_t *nlen)
{
	size_t i = 0, nd = 0, s;
	uint64_t a = 0;

	while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
		n--;
	for (; i < n && hexval(l[i]) >= 0; i++, nd++)
		a = a << 4 | (uint64_t)hexval(l[i]);
	if (nd == 0 || nd > 16 || i + 3 >= n || l[i] != ' ')
		return 0;
	i++;
	*type = l[i];
	if (!((*type >= 'a' && *type <= 'z') || (*type >= 'A' && *type <= 'Z')) ||
	    l[i + 1] != ' ' || strchr("aAUNn", *type))
		return 0;	/* absolute, undefined, debug: not in memory */
	s = i + 2;
	for (i = s; i < n; i++)
		if (l[i] <= ' ' || l[i] > '~')
			return 0;	/* an extra field or a strange byte */
	if (i == s || i - s > PROFILE_NAME_MAX)
		return 0;
	*addr = a;
	*name = l + s;
	*nlen = i - s;
	return 1;
}

static int slurp(FILE *f, char **buf, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	char *b = malloc(cap), *nb;

	while (b) {
		n += fread(b + n, 1, cap - n, f);
		if (n < cap)
			break;
		if (cap >= SYSMAP_FILE_MAX) {
			free(b);
			return -EFBIG;
		}
		nb = realloc(b, cap * 2);
		if (!nb)
			free(b);
		b = nb;
		cap *= 2;
	}
	if (!b)
		return -ENOMEM;
	if (ferror(f)) {
		free(b);
		return -EIO;
	}
	*buf = b;
	*len = n;
	return 0;
}

int profile_sysmap_parse(struct profile_builder *b, FILE *f,
			 unsigned long *skipped, char *err, size_t errlen)
{
	size_t len, pos = 0;
	char *buf = NULL;
	int rc = slurp(f, &buf, &len);

	*skipped = 0;
	if (rc) {
		profile_err(err, errlen, "%s", strerror(-rc));
		return rc;
	}
	while (pos < len && !rc) {
		const char *l = buf + pos, *nl = memchr(l, '\n', len - pos), *name;
		size_t n = nl ? (size_t)(nl - l) : len - pos, nlen;
		uint64_t addr;
		char type;

		pos += n + 1;
		if (n > SYSMAP_LINE_MAX || !sysmap_line(l, n, &addr, &type, &name, &nlen)) {
			(*skipped)++;
			continue;
		}
		rc = profile_builder_add(b, name, nlen, addr, type);
	}
	free(buf);
	if (rc == -E2BIG)
		profile_err(err, errlen, "more than %u symbols", PROFILE_SYMS_MAX);
	else if (rc)
		profile_err(err, errlen, "%s", strerror(-rc));
	else if (!b->p->nsyms) {
		profile_err(err, errlen, "no symbols (%lu lines skipped); Debian's /boot/System.map-* is a stub, the real one is in linux-image-*-dbg",
			    *skipped);
		rc = -EINVAL;
	}
	return rc;
}

/* --- the ELF file --------------------------------------------------------- */

struct vmlinux {
	const char *path;
	int fd;
	Elf *elf;
	size_t nsec;
	GElf_Shdr *sh;		/* all section headers */
};

static void vmlinux_close(struct vmlinux *v)
{
	free(v->sh);
	if (v->elf)
		elf_end(v->elf);
	if (v->fd >= 0)
		close(v->fd);
}

static int vmlinux_open(struct vmlinux *v, const char *path, char *err, size_t errlen)
{
	memset(v, 0, sizeof(*v));
	v->path = path;
	v->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (v->fd < 0) {
		int rc = -errno;

		profile_err(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	elf_version(EV_CURRENT);
	v->elf = elf_begin(v->fd, ELF_C_READ_MMAP, NULL);
	if (!v->elf || elf_kind(v->elf) != ELF_K_ELF || gelf_getclass(v->elf) != ELFCLASS64 ||
	    elf_getshdrnum(v->elf, &v->nsec) || v->nsec > 65536) {
		profile_err(err, errlen, "%s: not a 64-bit ELF file", path);
		return -EINVAL;
	}
	v->sh = calloc(v->nsec + 1, sizeof(*v->sh));
	if (!v->sh)
		return -ENOMEM;
	for (size_t i = 0; i < v->nsec; i++) {
		Elf_Scn *scn = elf_getscn(v->elf, i);

		if (!scn || !gelf_getshdr(scn, &v->sh[i])) {
			profile_err(err, errlen, "%s: bad section header %zu", path, i);
			return -EINVAL;
		}
	}
	return 0;
}

/* The System.map type letter nm would give. */
static char elf_sym_type(const GElf_Sym *s, const GElf_Shdr *sh)
{
	int bind = GELF_ST_BIND(s->st_info);
	char c;

	if (bind == STB_WEAK)
		return GELF_ST_TYPE(s->st_info) == STT_OBJECT ? 'V' : 'W';
	if (sh->sh_type == SHT_NOBITS)
		c = 'b';
	else if (sh->sh_flags & SHF_EXECINSTR)
		c = 't';
	else if (sh->sh_flags & SHF_WRITE)
		c = 'd';
	else
		c = 'r';
	return bind == STB_LOCAL ? c : (char)(c - 'a' + 'A');
}

/* What scripts/mksysmap leaves out of System.map: local labels and the
 * export tables' bookkeeping. */
static bool skip_name(const char *n)
{
	static const char *const prefixes[] = {
		"$", ".L", "__crc_", "__kstrtab_", "__kstrtabns_",
	};

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(n, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

/* Symbols from .symtab, leaving out what System.map leaves out. */
static int vmlinux_symbols(struct vmlinux *v, struct profile_builder *b,
			   char *err, size_t errlen)
{
	size_t i = 0;
	int rc = 0;

	while (i < v->nsec && v->sh[i].sh_type != SHT_SYMTAB)
		i++;
	if (i == v->nsec) {
		profile_err(err, errlen, "%s: no symbol table (stripped?); give --system-map", v->path);
		return -EINVAL;
	}
	Elf_Data *d = elf_getdata(elf_getscn(v->elf, i), NULL);
	size_t n = d && v->sh[i].sh_entsize ? v->sh[i].sh_size / v->sh[i].sh_entsize : 0;

	for (size_t k = 1; k < n && !rc; k++) {
		GElf_Sym s;
		const char *name;
		int type;

		if (!gelf_getsym(d, (int)k, &s))
			break;
		type = GELF_ST_TYPE(s.st_info);
		if (type == STT_SECTION || type == STT_FILE || s.st_shndx == SHN_UNDEF ||
		    s.st_shndx >= v->nsec || s.st_shndx >= SHN_LORESERVE)
			continue;	/* absolute, common, or not a place in memory */
		name = elf_strptr(v->elf, v->sh[i].sh_link, s.st_name);
		if (!name || !*name || strlen(name) > PROFILE_NAME_MAX || skip_name(name))
			continue;
		rc = profile_builder_add(b, name, strlen(name), s.st_value,
					 elf_sym_type(&s, &v->sh[s.st_shndx]));
	}
	if (rc)
		profile_err(err, errlen, "%s: symbol table: %s", v->path,
			    rc == -E2BIG ? "too many symbols" : strerror(-rc));
	else if (!b->p->nsyms) {
		profile_err(err, errlen, "%s: no usable symbols", v->path);
		rc = -EINVAL;
	}
	return rc;
}

/* linux_banner's bytes in the section that holds them in memory. */
static int vmlinux_banner(struct vmlinux *v, struct profile *p, bool sysmap,
			  char *err, size_t errlen)
{
	uint64_t a = p->known[PSYM_LINUX_BANNER];
	char buf[PROFILE_BANNER_MAX];
	const char *hint = sysmap ? " (is System.map from another build?)" : "";

	if (!a) {
		profile_err(err, errlen, "%s: no linux_banner symbol", v->path);
		return -EINVAL;
	}
	for (size_t i = 0; i < v->nsec; i++) {
		const GElf_Shdr *s = &v->sh[i];
		uint64_t avail, want;

		if (s->sh_type != SHT_PROGBITS || !(s->sh_flags & SHF_ALLOC) ||
		    a < s->sh_addr || a - s->sh_addr >= s->sh_size)
			continue;
		avail = s->sh_size - (a - s->sh_addr);
		want = avail < sizeof(buf) ? avail : sizeof(buf);
		if (pread(v->fd, buf, want, (off_t)(s->sh_offset + (a - s->sh_addr))) != (ssize_t)want ||
		    strnlen(buf, want) == want || strncmp(buf, "Linux version ", 14)) {
			profile_err(err, errlen, "%s: no \"Linux version\" string at linux_banner %#llx%s",
				    v->path, (unsigned long long)a, hint);
			return -EINVAL;
		}
		return profile_set_banner(p, buf, want);
	}
	profile_err(err, errlen, "%s: linux_banner %#llx is in no section%s", v->path,
		    (unsigned long long)a, hint);
	return -EINVAL;
}

static int symbols_from_sysmap(const char *sysmap, struct profile_builder *b,
			       char *err, size_t errlen)
{
	unsigned long skipped;
	char msg[256] = "";
	FILE *f = fopen(sysmap, "re");
	int rc;

	if (!f) {
		rc = -errno;
		profile_err(err, errlen, "%s: %s", sysmap, strerror(-rc));
		return rc;
	}
	rc = profile_sysmap_parse(b, f, &skipped, msg, sizeof(msg));
	fclose(f);
	if (rc)
		profile_err(err, errlen, "%s: %s", sysmap, msg);
	return rc;
}

int profile_from_vmlinux(const char *vmlinux, const char *sysmap,
			 struct profile **out, char *err, size_t errlen)
{
	struct profile_builder b;
	struct vmlinux v;
	struct btf *btf;
	int rc;

	*out = NULL;
	rc = profile_builder_init(&b, vmlinux);
	if (rc)
		return rc;
	rc = vmlinux_open(&v, vmlinux, err, errlen);
	if (rc)
		goto out_close;
	btf = btf__parse_elf(vmlinux, NULL);
	if (!btf) {
		rc = -errno ? -errno : -EINVAL;
		profile_err(err, errlen, "%s: no usable BTF (.BTF section): %s", vmlinux,
			    strerror(-rc));
		goto out_close;
	}
	profile_btf_resolve(btf, b.p);
	btf__free(btf);
	rc = sysmap ? symbols_from_sysmap(sysmap, &b, err, errlen)
		    : vmlinux_symbols(&v, &b, err, errlen);
	if (!rc)
		rc = profile_builder_finish(&b, out, err, errlen);
	if (!rc && (rc = vmlinux_banner(&v, *out, sysmap != NULL, err, errlen))) {
		profile_free(*out);
		*out = NULL;
	}
out_close:
	vmlinux_close(&v);
	profile_builder_release(&b);
	return rc;
}
