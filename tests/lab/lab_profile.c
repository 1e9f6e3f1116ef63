/*
 * lab_profile.c - profiles of the lab's real guest kernel (the Debian cloud
 * kernel's vmlinux and System.map from the lab cache) checked against a
 * booted guest: every field resolves but those the kernel version lacks,
 * the banner is byte for byte the one in guest RAM and /proc/version, the
 * symbol addresses are the guest's /proc/kallsyms minus the KASLR slide,
 * and the ELF symbol table, System.map, a saved file and the lab's cached
 * kernel.prof all give the same profile.
 */
#define _GNU_SOURCE	/* memmem */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "labsup.h"
#include "profile.h"

static struct lab_guest g;
static struct profile *prof;
static int up_rc = -1;
static char up_err[512];

static void up(void)
{
	struct lab_opts o = { .cpu = "qemu64" };
	char name[64];

	snprintf(name, sizeof(name), "labprof-%d", (int)getpid());
	up_rc = lab_start(name, &o, &g);
	if (up_rc) {
		snprintf(up_err, sizeof(up_err), "lab_start: %s", strerror(-up_rc));
		return;
	}
	up_rc = profile_from_vmlinux(g.vmlinux, g.sysmap, &prof, up_err, sizeof(up_err));
}

static void down(void)
{
	profile_free(prof);
	prof = NULL;
	lab_stop(&g);
}

static char *run(const char *cmd)
{
	char *out = NULL;
	int rc = lab_run(&g, cmd, &out, 30000);

	ck_assert_msg(rc == 0, "'%s': %d (%s)", cmd, rc, out ? out : "");
	return out;
}

/* 6.4 replaced module.core_layout with module.mem[] of module_memory. */
static bool since_6_4(const struct profile *p)
{
	int major = 0, minor = 0;

	ck_assert_int_eq(sscanf(p->banner, "Linux version %d.%d", &major, &minor), 2);
	return major > 6 || (major == 6 && minor >= 4);
}

START_TEST(test_every_field_resolves_but_those_of_other_versions)
{
	bool new = false;

	ck_assert_msg(up_rc == 0, "%s", up_err);
	new = since_6_4(prof);
	for (int i = 0; i < PF_COUNT; i++) {
		bool other = new ? (i == PF_MODULE_CORE_BASE || i == PF_MODULE_CORE_SIZE)
				 : (i == PF_MODULE_MEM || i == PF_MODULE_MEMORY_BASE ||
				    i == PF_MODULE_MEMORY_SIZE);

		ck_assert_msg(profile_has(prof, i) != other, "%s = %d", profile_field_names[i],
			      profile_off(prof, i));
	}
	for (int i = 0; i < PS_COUNT; i++)
		ck_assert_msg(prof->size[i] || (!new && i == PS_MODULE_MEMORY), "size %d is 0", i);
	for (int i = 0; i < PSYM_COUNT; i++)
		ck_assert_msg(prof->known[i], "known symbol %d missing", i);
	/* layouts that have not moved in years */
	ck_assert_int_eq(profile_off(prof, PF_QSTR_NAME), 8);
	ck_assert_int_eq(profile_off(prof, PF_PATH_DENTRY), 8);
	ck_assert_int_eq(profile_off(prof, PF_MODULE_LIST), 8);
	ck_assert_int_eq(profile_off(prof, PF_FDTABLE_MAX_FDS), 0);
	ck_assert_uint_eq(prof->size[PS_HLIST_NODE], 16);
	ck_assert_uint_gt(prof->nsyms, 50000);
}
END_TEST

START_TEST(test_banner_is_the_one_in_guest_ram_and_proc_version)
{
	struct stat st;
	char *out;
	void *ram;
	int fd;

	ck_assert_msg(up_rc == 0, "%s", up_err);
	ck_assert_uint_gt(prof->banner_len, 20);
	fd = open(g.ram_path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ram = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(ram, MAP_FAILED);
	/* with its NUL: the whole string, not a prefix of a longer one */
	ck_assert_ptr_nonnull(memmem(ram, (size_t)st.st_size, prof->banner, prof->banner_len + 1));
	munmap(ram, (size_t)st.st_size);
	close(fd);
	out = run("cat /proc/version");
	ck_assert_str_eq(out, prof->banner);
	free(out);
}
END_TEST

static unsigned long long kallsyms(const char *name)
{
	unsigned long long a = 0;
	char cmd[128], *out;

	snprintf(cmd, sizeof(cmd), "grep ' %s$' /proc/kallsyms | head -n1", name);
	out = run(cmd);
	ck_assert_msg(sscanf(out, "%llx", &a) == 1, "%s: '%s'", name, out);
	free(out);
	return a;
}

START_TEST(test_symbols_are_kallsyms_minus_the_slide)
{
	static const char *const names[] = {
		"init_task", "init_pid_ns", "linux_banner", "page_offset_base",
		"init_top_pgt", "start_kernel", "do_sys_openat2",
	};
	unsigned long long slide;

	ck_assert_msg(up_rc == 0, "%s", up_err);
	slide = kallsyms("_text") - prof->known[PSYM_TEXT];
	ck_assert_uint_ne(slide, 0);	/* KASLR is on */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t a;

		ck_assert_msg(profile_sym(prof, names[i], &a) == 0, "%s", names[i]);
		ck_assert_msg(kallsyms(names[i]) - slide == a, "%s", names[i]);
	}
}
END_TEST

static void expect_same(const struct profile *a, const struct profile *b)
{
	ck_assert_str_eq(a->banner, b->banner);
	ck_assert_mem_eq(a->off, b->off, sizeof(a->off));
	ck_assert_mem_eq(a->size, b->size, sizeof(a->size));
	ck_assert_mem_eq(a->known, b->known, sizeof(a->known));
	ck_assert_uint_eq(a->nsyms, b->nsyms);
	for (uint32_t i = 0; i < a->nsyms; i++) {
		const char *n = a->strings + a->by_name[i].name;

		ck_assert_str_eq(n, b->strings + b->by_name[i].name);
		ck_assert_msg(a->by_name[i].addr == b->by_name[i].addr, "%s", n);
		ck_assert_msg(a->by_name[i].type == b->by_name[i].type, "%s: %c, %c", n,
			      a->by_name[i].type, b->by_name[i].type);
	}
}

START_TEST(test_elf_symtab_saved_file_and_cache_agree)
{
	char path[] = "/tmp/lab_profile.XXXXXX", err[512] = "";
	struct profile *p;
	int fd;

	ck_assert_msg(up_rc == 0, "%s", up_err);
	ck_assert_msg(profile_from_vmlinux(g.vmlinux, NULL, &p, err, sizeof(err)) == 0, "%s", err);
	expect_same(prof, p);
	profile_free(p);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(profile_save(prof, path), 0);
	ck_assert_msg(profile_load(path, &p, err, sizeof(err)) == 0, "%s", err);
	unlink(path);
	expect_same(prof, p);
	profile_free(p);
	if (!g.profile[0])
		return;		/* lab.sh found no mkprofile to make one */
	ck_assert_msg(profile_load(g.profile, &p, err, sizeof(err)) == 0, "%s", err);
	expect_same(prof, p);
	profile_free(p);
}
END_TEST

static Suite *lab_profile_suite(void)
{
	Suite *s = suite_create("lab_profile");
	TCase *t = tcase_create("real_kernel");

	tcase_add_unchecked_fixture(t, up, down);
	tcase_set_timeout(t, 180);
	tcase_add_test(t, test_every_field_resolves_but_those_of_other_versions);
	tcase_add_test(t, test_banner_is_the_one_in_guest_ram_and_proc_version);
	tcase_add_test(t, test_symbols_are_kallsyms_minus_the_slide);
	tcase_add_test(t, test_elf_symtab_saved_file_and_cache_agree);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lab_profile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
