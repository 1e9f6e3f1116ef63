/*
 * check_profile_btf.c - profiles from vmlinux: member offsets from BTF made
 * here with libbpf's writer (anonymous unions and structs, dotted paths,
 * typedefs, a forward declaration before the struct, bitfields, cyclic
 * anonymous members), System.map parsing with hostile lines, and the whole
 * of profile_from_vmlinux on a small ELF written here with libelf (.BTF,
 * .rodata with the banner, .symtab), with and without a System.map.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "profile_priv.h"

#define TEXT 0xffffffff81000000ull
#define RODATA 0xffffffff82000000ull
#define DATA 0xffffffff82a00000ull
#define BANNER "Linux version 6.1.0-unit (gcc) #1 SMP\n"

static char dir[64], elf_path[128], map_path[128];

static void setup(void)
{
	strcpy(dir, "/tmp/check_profile_btf.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(elf_path, sizeof(elf_path), "%s/vmlinux", dir);
	snprintf(map_path, sizeof(map_path), "%s/System.map", dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int st(struct btf *b, const char *name, unsigned int size)
{
	int id = btf__add_struct(b, name, size);

	ck_assert_int_gt(id, 0);
	return id;
}

static void fld(struct btf *b, const char *name, int type, unsigned int bit_off,
		unsigned int bits)
{
	ck_assert_int_eq(btf__add_field(b, name, type, bit_off, bits), 0);
}

/* Kernel-like types, offsets in bits as BTF has them. */
static struct btf *make_btf(void)
{
	struct btf *b = btf__new_empty();
	int u32, u64, vp, chr, lh, anon_s, anon_u, layout, td, cyc, arr;

	ck_assert_ptr_nonnull(b);
	u32 = btf__add_int(b, "unsigned int", 4, 0);
	u64 = btf__add_int(b, "long long unsigned int", 8, 0);
	chr = btf__add_int(b, "char", 1, BTF_INT_CHAR);
	vp = btf__add_ptr(b, 0);
	ck_assert_int_gt(btf__add_fwd(b, "cred", BTF_FWD_STRUCT), 0);
	lh = st(b, "list_head", 16);
	fld(b, "next", vp, 0, 0);
	fld(b, "prev", vp, 64, 0);
	/* struct qstr { union { struct { u32 hash, len; }; u64 hash_len; }; name; } */
	anon_s = st(b, NULL, 8);
	fld(b, "hash", u32, 0, 0);
	fld(b, "len", u32, 32, 0);
	anon_u = btf__add_union(b, NULL, 8);
	fld(b, NULL, anon_s, 0, 0);
	fld(b, "hash_len", u64, 0, 0);
	st(b, "qstr", 16);
	fld(b, NULL, anon_u, 0, 0);
	fld(b, "name", vp, 64, 0);
	layout = st(b, "module_layout", 16);
	fld(b, "base", vp, 0, 0);
	fld(b, "size", u32, 64, 0);
	td = btf__add_typedef(b, "module_layout_t", layout);
	arr = btf__add_array(b, u32, chr, 56);
	st(b, "module", 96);
	fld(b, "state", u32, 0, 0);
	fld(b, "list", lh, 64, 0);
	fld(b, "name", arr, 192, 0);
	fld(b, "core_layout", td, 640, 0);
	st(b, "cred", 176);
	fld(b, "usage", u64, 0, 0);
	fld(b, "uid", u32, 64, 0);
	fld(b, "gid", u32, 96, 0);
	st(b, "task_struct", 9728);
	fld(b, "__state", u32, 0, 0);
	fld(b, "flags", u32, 35, 3);		/* a bitfield: not offered */
	fld(b, "tasks", lh, 2192 * 8, 0);
	fld(b, "pid", u32, 2416 * 8, 0);
	/* xa_node: an anonymous member that contains itself */
	cyc = btf__type_cnt(b);
	ck_assert_int_eq(st(b, NULL, 8), cyc);
	fld(b, NULL, cyc, 0, 0);
	st(b, "xa_node", 64);
	fld(b, NULL, cyc, 0, 0);
	fld(b, "slots", vp, 320, 0);
	/* pid: an anonymous member fanning out ten ways at every level */
	cyc = btf__type_cnt(b);
	ck_assert_int_eq(st(b, NULL, 8), cyc);
	for (int i = 0; i < 10; i++)
		fld(b, NULL, cyc, 0, 0);
	st(b, "pid", 64);
	fld(b, NULL, cyc, 0, 0);
	fld(b, "tasks", lh, 128, 0);
	return b;
}

START_TEST(test_btf_offsets_through_anonymous_members_and_paths)
{
	struct btf *b = make_btf();
	struct profile_builder pb;
	struct profile *p;

	ck_assert_int_eq(profile_builder_init(&pb, "t"), 0);
	p = pb.p;
	profile_btf_resolve(b, p);
	ck_assert_int_eq(p->off[PF_QSTR_LEN], 4);	/* union -> struct */
	ck_assert_int_eq(p->off[PF_QSTR_NAME], 8);
	ck_assert_int_eq(p->off[PF_MODULE_LIST], 8);
	ck_assert_int_eq(p->off[PF_MODULE_NAME], 24);
	ck_assert_int_eq(p->off[PF_MODULE_STATE], 0);
	ck_assert_int_eq(p->off[PF_MODULE_CORE_BASE], 80);	/* via a typedef */
	ck_assert_int_eq(p->off[PF_MODULE_CORE_SIZE], 88);
	ck_assert_int_eq(p->off[PF_CRED_UID], 8);	/* not the forward decl */
	ck_assert_int_eq(p->off[PF_CRED_GID], 12);
	ck_assert_int_eq(p->off[PF_CRED_EUID], PROFILE_NOFIELD);
	ck_assert_int_eq(p->off[PF_TASK_TASKS], 2192);
	ck_assert_int_eq(p->off[PF_TASK_PID], 2416);
	ck_assert_int_eq(p->off[PF_TASK_FLAGS], PROFILE_NOFIELD);	/* bitfield */
	ck_assert_int_eq(p->off[PF_XA_NODE_SLOTS], 40);
	ck_assert_int_eq(p->off[PF_XA_NODE_SHIFT], PROFILE_NOFIELD);	/* cycle */
	ck_assert_int_eq(p->off[PF_PID_NUMBERS], PROFILE_NOFIELD);	/* fan-out */
	ck_assert_int_eq(p->off[PF_PID_TASKS], 16);
	ck_assert_int_eq(p->off[PF_MODULE_MEM], PROFILE_NOFIELD);
	ck_assert_int_eq(p->off[PF_MODULE_MEMORY_BASE], PROFILE_NOFIELD);
	ck_assert_uint_eq(p->size[PS_TASK_STRUCT], 9728);
	ck_assert_uint_eq(p->size[PS_MODULE], 96);
	ck_assert_uint_eq(p->size[PS_MODULE_MEMORY], 0);
	profile_builder_release(&pb);
	btf__free(b);
}
END_TEST

/* --- System.map ----------------------------------------------------------- */

static int parse_map(const char *text, size_t len, struct profile_builder *b,
		     unsigned long *skipped, char *err, size_t errlen)
{
	FILE *f = fmemopen((void *)text, len, "r");
	int rc;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(profile_builder_init(b, "map"), 0);
	rc = profile_sysmap_parse(b, f, skipped, err, errlen);
	fclose(f);
	return rc;
}

static bool has_sym(const struct profile_builder *b, const char *name, uint64_t addr, char t)
{
	for (uint32_t i = 0; i < b->p->nsyms; i++)
		if (!strcmp(b->p->strings + b->p->by_name[i].name, name))
			return b->p->by_name[i].addr == addr && b->p->by_name[i].type == t;
	return false;
}

START_TEST(test_sysmap_keeps_good_lines_and_skips_hostile_ones)
{
	static const char head[] =
		"ffffffff81000000 T _text\n"
		"ffffffff81000010 t static_fn\n"
		"00000000000001ea A kexec_control_code_size\n"
		"                 U undefined_sym\n"
		"zzzzffff81000000 T bad_hex\n"
		"ffffffff810000001 T seventeen_digits\n"
		"ffffffff81000020 T\n"
		"ffffffff81000030\n"
		"ffffffff81000040 T name extra_field\n"
		"ffffffff81000050 T caf\xc3\xa9\n"
		"ffffffff81000060 TT two_letters\n"
		"ffffffff81000070 T with\0nul\n"
		"ffffffff81000080\tT\ttabs\n"
		"ffffffff81000090 T crlf_name\r\n"
		"\n"
		"ffffffff810000a0 T ";
	static const char tail[] = "\nffffffff810000b0 d last_no_newline";
	size_t len = sizeof(head) - 1 + 5000 + sizeof(tail) - 1;
	char *text = malloc(len);
	struct profile_builder b;
	unsigned long skipped;
	char err[256];

	memcpy(text, head, sizeof(head) - 1);
	memset(text + sizeof(head) - 1, 'a', 5000);	/* an overlong line */
	memcpy(text + sizeof(head) - 1 + 5000, tail, sizeof(tail) - 1);
	ck_assert_int_eq(parse_map(text, len, &b, &skipped, err, sizeof(err)), 0);
	ck_assert_uint_eq(b.p->nsyms, 4);
	ck_assert(has_sym(&b, "_text", 0xffffffff81000000ull, 'T'));
	ck_assert(has_sym(&b, "static_fn", 0xffffffff81000010ull, 't'));
	ck_assert(has_sym(&b, "crlf_name", 0xffffffff81000090ull, 'T'));
	ck_assert(has_sym(&b, "last_no_newline", 0xffffffff810000b0ull, 'd'));
	ck_assert_uint_eq(skipped, 13);
	profile_builder_release(&b);
	free(text);
}
END_TEST

START_TEST(test_sysmap_debian_stub_is_refused_with_a_hint)
{
	static const char stub[] =
		"ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n";
	struct profile_builder b;
	unsigned long skipped;
	char err[256];

	ck_assert_int_eq(parse_map(stub, sizeof(stub) - 1, &b, &skipped, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "stub"));
	ck_assert_uint_eq(skipped, 1);
	profile_builder_release(&b);
	ck_assert_int_eq(parse_map("", 0, &b, &skipped, err, sizeof(err)), -EINVAL);
	profile_builder_release(&b);
}
END_TEST

START_TEST(test_sysmap_name_length_cap)
{
	char text[2 * PROFILE_NAME_MAX + 64];
	struct profile_builder b;
	unsigned long skipped;
	int n;

	n = sprintf(text, "ffffffff81000000 T %0*d\n", PROFILE_NAME_MAX, 0);
	n += sprintf(text + n, "ffffffff81000000 T %0*d\n", PROFILE_NAME_MAX + 1, 0);
	ck_assert_int_eq(parse_map(text, (size_t)n, &b, &skipped, NULL, 0), 0);
	ck_assert_uint_eq(b.p->nsyms, 1);
	ck_assert_uint_eq(skipped, 1);
	profile_builder_release(&b);
}
END_TEST

/* --- a small vmlinux ------------------------------------------------------ */

struct sec {
	const char *name;
	GElf_Word type;
	GElf_Xword flags;
	GElf_Addr addr;
	const void *data;
	size_t size;
	Elf_Type dtype;
};

static void add_sec(Elf *e, const struct sec *s, GElf_Word name, GElf_Word link,
		    GElf_Word info)
{
	Elf_Scn *scn = elf_newscn(e);
	Elf_Data *d = elf_newdata(scn);
	GElf_Shdr sh;

	ck_assert_ptr_nonnull(d);
	d->d_buf = (void *)s->data;
	d->d_size = s->size;
	d->d_type = s->dtype;
	d->d_align = 8;
	d->d_version = EV_CURRENT;
	ck_assert_ptr_nonnull(gelf_getshdr(scn, &sh));
	sh.sh_name = name;
	sh.sh_type = s->type;
	sh.sh_flags = s->flags;
	sh.sh_addr = s->addr;
	sh.sh_link = link;
	sh.sh_info = info;
	sh.sh_addralign = 8;
	sh.sh_entsize = s->dtype == ELF_T_SYM ? sizeof(Elf64_Sym) : 0;
	ck_assert(gelf_update_shdr(scn, &sh));
}

static Elf64_Sym sym(GElf_Word name, int bind, int type, GElf_Half shndx, GElf_Addr v)
{
	return (Elf64_Sym){ .st_name = name, .st_info = (unsigned char)ELF64_ST_INFO(bind, type),
			    .st_shndx = shndx, .st_value = v };
}

/* Sections 1 .text, 2 .rodata, 3 .data, 4 .BTF, 5 .symtab, 6 .strtab, 7 .shstrtab. */
static void write_vmlinux(bool btf, bool symtab)
{
	static const char shstr[] = "\0.text\0.rodata\0.data\0.BTF\0.symtab\0.strtab\0.shstrtab";
	static const char str[] = "\0main.c\0static_fn\0abs_sym\0_text\0linux_banner\0"
				  "init_task\0weak_fn\0undef\0.Ltmp\0modules";
	static uint8_t text[0x100], rodata[0x200], data[0x100];
	Elf64_Sym syms[] = {
		sym(0, 0, 0, 0, 0),
		sym(1, STB_LOCAL, STT_FILE, SHN_ABS, 0),
		sym(0, STB_LOCAL, STT_SECTION, 1, TEXT),
		sym(8, STB_LOCAL, STT_FUNC, 1, TEXT + 0x10),
		sym(18, STB_LOCAL, STT_NOTYPE, SHN_ABS, 0x1234),
		sym(69, STB_LOCAL, STT_NOTYPE, 1, TEXT + 0x20),
		sym(26, STB_GLOBAL, STT_NOTYPE, 1, TEXT),
		sym(32, STB_GLOBAL, STT_OBJECT, 2, RODATA + 0x40),
		sym(45, STB_GLOBAL, STT_OBJECT, 3, DATA + 0x80),
		sym(55, STB_WEAK, STT_FUNC, 1, TEXT + 0x30),
		sym(63, STB_GLOBAL, STT_NOTYPE, SHN_UNDEF, 0),
		sym(75, STB_LOCAL, STT_OBJECT, 3, DATA + 0x90),
	};
	struct btf *b = make_btf();
	uint32_t btf_len;
	const void *raw = btf__raw_data(b, &btf_len);
	const struct sec secs[] = {
		{ ".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, TEXT, text, sizeof(text), ELF_T_BYTE },
		{ ".rodata", SHT_PROGBITS, SHF_ALLOC, RODATA, rodata, sizeof(rodata), ELF_T_BYTE },
		{ ".data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, DATA, data, sizeof(data), ELF_T_BYTE },
		{ btf ? ".BTF" : ".data", SHT_PROGBITS, 0, 0, raw, btf_len, ELF_T_BYTE },
		{ ".symtab", SHT_SYMTAB, 0, 0, syms, symtab ? sizeof(syms) : 0, ELF_T_SYM },
		{ ".strtab", SHT_STRTAB, 0, 0, str, sizeof(str), ELF_T_BYTE },
		{ ".shstrtab", SHT_STRTAB, 0, 0, shstr, sizeof(shstr), ELF_T_BYTE },
	};
	static const GElf_Word names[] = { 1, 7, 15, 21, 26, 34, 42 };
	int fd = open(elf_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	Elf *e;
	GElf_Ehdr eh;

	strcpy((char *)rodata + 0x40, BANNER);
	strcpy((char *)rodata + 0x100, "not a banner");
	ck_assert_int_ge(fd, 0);
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_WRITE, NULL);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(gelf_newehdr(e, ELFCLASS64));
	ck_assert_ptr_nonnull(gelf_getehdr(e, &eh));
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	for (int i = 0; i < 7; i++)
		add_sec(e, &secs[i], btf || i != 3 ? names[i] : 15, i == 4 ? 6 : 0,
			i == 4 ? 6 : 0);
	eh.e_shstrndx = 7;
	ck_assert(gelf_update_ehdr(e, &eh));
	ck_assert_int_gt(elf_update(e, ELF_C_WRITE), 0);
	elf_end(e);
	close(fd);
	btf__free(b);
}

static void write_map(const char *text)
{
	FILE *f = fopen(map_path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_vmlinux_symtab_gives_symbols_banner_and_offsets)
{
	struct profile *p;
	char err[256] = "";
	uint64_t a;

	write_vmlinux(true, true);
	ck_assert_msg(profile_from_vmlinux(elf_path, NULL, &p, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(p->banner, BANNER);
	ck_assert_uint_eq(p->nsyms, 6);	/* no file, section, absolute, undefined, .L */
	ck_assert_int_eq(profile_sym(p, "abs_sym", &a), -ENOENT);
	ck_assert_int_eq(profile_sym(p, ".Ltmp", &a), -ENOENT);
	ck_assert_int_eq(profile_sym(p, "static_fn", &a), 0);
	ck_assert_uint_eq(a, TEXT + 0x10);
	ck_assert_uint_eq(p->known[PSYM_TEXT], TEXT);
	ck_assert_uint_eq(p->known[PSYM_INIT_TASK], DATA + 0x80);
	ck_assert_uint_eq(p->known[PSYM_MODULES], DATA + 0x90);
	ck_assert_str_eq(profile_sym_at(p, TEXT + 0x11, &a), "static_fn");
	for (uint32_t i = 0; i < p->nsyms; i++) {
		const char *n = p->strings + p->by_name[i].name;
		char want = !strcmp(n, "static_fn") ? 't' : !strcmp(n, "_text") ? 'T'
			  : !strcmp(n, "linux_banner") ? 'R' : !strcmp(n, "init_task") ? 'D'
			  : !strcmp(n, "weak_fn") ? 'W' : !strcmp(n, "modules") ? 'd' : '?';

		ck_assert_msg(p->by_name[i].type == want, "%s: %c", n, p->by_name[i].type);
	}
	ck_assert_int_eq(p->off[PF_QSTR_LEN], 4);
	ck_assert_uint_eq(p->size[PS_TASK_STRUCT], 9728);
	ck_assert_str_eq(p->source, elf_path);
	profile_free(p);
}
END_TEST

START_TEST(test_vmlinux_with_matching_sysmap_uses_its_symbols)
{
	struct profile *p;
	char err[256] = "";

	write_vmlinux(true, false);
	write_map("ffffffff81000000 T _text\n"
		  "ffffffff82000040 D linux_banner\n"
		  "ffffffff82a00080 D init_task\n");
	ck_assert_msg(profile_from_vmlinux(elf_path, map_path, &p, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(p->nsyms, 3);
	ck_assert_str_eq(p->banner, BANNER);
	profile_free(p);
}
END_TEST

START_TEST(test_sysmap_from_another_build_is_refused)
{
	struct profile *p = (struct profile *)1;
	char err[256] = "";

	write_vmlinux(true, true);
	write_map("ffffffff82000100 D linux_banner\n");
	ck_assert_int_eq(profile_from_vmlinux(elf_path, map_path, &p, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert_msg(strstr(err, "another build"), "%s", err);
	write_map("ffffffff90000000 D linux_banner\n");
	ck_assert_int_eq(profile_from_vmlinux(elf_path, map_path, &p, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "in no section"), "%s", err);
	write_map("ffffffff81000000 T _text\n");
	ck_assert_int_eq(profile_from_vmlinux(elf_path, map_path, &p, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "no linux_banner"), "%s", err);
}
END_TEST

START_TEST(test_vmlinux_without_btf_symtab_or_elf_is_refused)
{
	struct profile *p;
	char err[256] = "";

	write_vmlinux(false, true);
	ck_assert_int_lt(profile_from_vmlinux(elf_path, NULL, &p, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "no usable BTF"), "%s", err);
	write_vmlinux(true, false);
	ck_assert_int_eq(profile_from_vmlinux(elf_path, NULL, &p, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "no usable symbols"), "%s", err);
	write_map("not an ELF file\n");
	ck_assert_int_eq(profile_from_vmlinux(map_path, NULL, &p, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "not a 64-bit ELF"), "%s", err);
	ck_assert_int_eq(profile_from_vmlinux("/nonexistent", NULL, &p, err, sizeof(err)), -ENOENT);
	write_vmlinux(true, true);
	ck_assert_int_eq(profile_from_vmlinux(elf_path, "/nonexistent", &p, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "/nonexistent"), "%s", err);
}
END_TEST

static Suite *profile_btf_suite(void)
{
	Suite *s = suite_create("profile_btf");
	TCase *t = tcase_create("btf"), *m = tcase_create("sysmap"), *v = tcase_create("vmlinux");

	tcase_add_checked_fixture(v, setup, teardown);
	tcase_add_test(t, test_btf_offsets_through_anonymous_members_and_paths);
	tcase_add_test(m, test_sysmap_keeps_good_lines_and_skips_hostile_ones);
	tcase_add_test(m, test_sysmap_debian_stub_is_refused_with_a_hint);
	tcase_add_test(m, test_sysmap_name_length_cap);
	tcase_add_test(v, test_vmlinux_symtab_gives_symbols_banner_and_offsets);
	tcase_add_test(v, test_vmlinux_with_matching_sysmap_uses_its_symbols);
	tcase_add_test(v, test_sysmap_from_another_build_is_refused);
	tcase_add_test(v, test_vmlinux_without_btf_symtab_or_elf_is_refused);
	suite_add_tcase(s, t);
	suite_add_tcase(s, m);
	suite_add_tcase(s, v);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(profile_btf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
