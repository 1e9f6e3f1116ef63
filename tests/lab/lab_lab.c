/*
 * lab_lab.c - self-test of the guest lab: boots real guests with -cpu qemu64
 * (4-level paging) and -cpu max (LA57), runs commands over the ground-truth
 * shell, and checks the framing (exit status, exact output, forged markers,
 * timeouts) and that stopping a guest leaves nothing behind.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "labsup.h"

static struct lab_guest q64, max;
static int q64_rc = -1, max_rc = -1;

static void boot(struct lab_guest *g, int *rc, const char *cpu)
{
	struct lab_opts o = { .cpu = cpu };
	char name[64];

	snprintf(name, sizeof(name), "lablab-%s-%d", cpu, (int)getpid());
	*rc = lab_start(name, &o, g);
	if (*rc < 0)
		fprintf(stderr, "lab_lab: lab_start(%s) = %d (%s)\n", name, *rc,
			strerror(-*rc));
}

static void q64_setup(void) { boot(&q64, &q64_rc, "qemu64"); }
static void q64_teardown(void) { lab_stop(&q64); }
static void max_setup(void) { boot(&max, &max_rc, "max"); }
static void max_teardown(void) { lab_stop(&max); }

/* Run cmd on g, expect status and (if non-NULL) exact output. */
static void expect(struct lab_guest *g, const char *cmd, int status, const char *want)
{
	char *out = NULL;
	int rc = lab_run(g, cmd, &out, 30000);

	ck_assert_msg(rc == status, "'%s': status %d, want %d (output '%s')", cmd, rc,
		      status, out ? out : "(null)");
	ck_assert_ptr_nonnull(out);
	if (want)
		ck_assert_str_eq(out, want);
	free(out);
}

START_TEST(test_qemu64_cat_proc_version_returns_linux_banner)
{
	char *out = NULL;

	ck_assert_int_eq(q64_rc, 0);
	ck_assert_int_eq(lab_run(&q64, "cat /proc/version", &out, 30000), 0);
	ck_assert_msg(strncmp(out, "Linux version ", 14) == 0, "got '%s'", out);
	free(out);
}
END_TEST

START_TEST(test_qemu64_cpuinfo_has_no_la57)
{
	ck_assert_int_eq(q64_rc, 0);
	expect(&q64, "grep -cw la57 /proc/cpuinfo", 1, "0\n");
}
END_TEST

START_TEST(test_max_cpuinfo_has_la57)
{
	char *out = NULL;

	ck_assert_int_eq(max_rc, 0);
	expect(&max, "grep -cw la57 /proc/cpuinfo", 0, "1\n");
	ck_assert_int_eq(lab_run(&max, "cat /proc/version", &out, 30000), 0);
	ck_assert_msg(strncmp(out, "Linux version ", 14) == 0, "got '%s'", out);
	free(out);
}
END_TEST

START_TEST(test_exit_status_propagates)
{
	ck_assert_int_eq(q64_rc, 0);
	expect(&q64, "exit 3", 3, "");
	expect(&q64, "false", 1, "");
	expect(&q64, "echo err >&2; exit 255", 255, "err\n");
	expect(&q64, "", 0, "");
}
END_TEST

START_TEST(test_output_imitating_markers_is_returned_verbatim)
{
	static const char fake[] = "0123456789abcdef0123456789abcdef";
	char cmd[256], want[256];

	ck_assert_int_eq(q64_rc, 0);
	snprintf(cmd, sizeof(cmd), "printf 'a\\n%s:E:0\\n%s:B\\n\\n%s:E:7'", fake, fake, fake);
	snprintf(want, sizeof(want), "a\n%s:E:0\n%s:B\n\n%s:E:7", fake, fake, fake);
	expect(&q64, cmd, 0, want);
}
END_TEST

START_TEST(test_output_keeps_exact_bytes_and_newlines)
{
	ck_assert_int_eq(q64_rc, 0);
	expect(&q64, "printf abc", 0, "abc");
	expect(&q64, "printf 'a\\n\\nb\\n\\n'", 0, "a\n\nb\n\n");
	expect(&q64, "printf '\\001\\r\\n\\177\\377'", 0, "\001\r\n\177\377");
}
END_TEST

START_TEST(test_multiline_command_runs_as_one_script)
{
	ck_assert_int_eq(q64_rc, 0);
	expect(&q64, "a=1\nif [ $a = 1 ]; then\n  echo yes\nfi\ncat <<EOF\nhere\nEOF",
	       0, "yes\nhere\n");
}
END_TEST

START_TEST(test_large_output_is_returned_whole)
{
	char *out = NULL;
	size_t i, n;

	ck_assert_int_eq(q64_rc, 0);
	ck_assert_int_eq(lab_run(&q64, "head -c 200000 /dev/zero | tr '\\0' x", &out,
				 60000), 0);
	n = strlen(out);
	ck_assert_uint_eq(n, 200000);
	for (i = 0; i < n && out[i] == 'x'; i++)
		;
	ck_assert_uint_eq(i, n);
	free(out);
}
END_TEST

START_TEST(test_timeout_returns_etimedout_and_channel_recovers)
{
	char *out = (char *)1;

	ck_assert_int_eq(q64_rc, 0);
	ck_assert_int_eq(lab_run(&q64, "sleep 2; echo late", &out, 300), -ETIMEDOUT);
	ck_assert_ptr_null(out);
	/* queued behind the sleeping command; its stale output is skipped */
	expect(&q64, "echo fresh", 0, "fresh\n");
}
END_TEST

START_TEST(test_guest_has_key_and_upcall_port)
{
	unsigned char key[64];
	char cmd[64], want[80];
	int fd, i;
	ssize_t n;

	ck_assert_int_eq(q64_rc, 0);
	fd = open(q64.key_path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, key, sizeof(key));
	close(fd);
	ck_assert_int_eq(n, 32);
	for (i = 0; i < 32; i++)
		sprintf(want + 2 * i, "%02x", key[i]);
	strcat(want, "\n");
	snprintf(cmd, sizeof(cmd), "xxd -p -c 32 /etc/upcalld/agent.key");
	expect(&q64, cmd, 0, want);
	expect(&q64, "test -c /dev/virtio-ports/org.upcalld.0", 0, "");
	expect(&q64, "grep -c nokaslr /proc/cmdline", 1, "0\n");
}
END_TEST

/* Programs in build/guest (from tests/lab/guest) are copied to the guest /usr/bin. */
START_TEST(test_guest_programs_from_build_guest_run_in_guest)
{
	const char *b = getenv("UPCALLD_BUILD");
	char dir[512], cmd[600];
	struct dirent *e;
	DIR *d;

	ck_assert_int_eq(q64_rc, 0);
	snprintf(dir, sizeof(dir), "%s/guest", b && *b ? b : "build");
	d = opendir(dir);
	if (!d)
		return;		/* none built: lab.sh copies nothing */
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(cmd, sizeof(cmd), "test -x /usr/bin/%s", e->d_name);
		expect(&q64, cmd, 0, "");
	}
	closedir(d);
	snprintf(cmd, sizeof(cmd), "%s/labproc", dir);
	if (access(cmd, X_OK) == 0)
		expect(&q64, "p=$(labproc -d -n lab_marker -o /tmp/held) && "
		       "cat /proc/$p/comm && readlink /proc/$p/fd/3 && kill $p",
		       0, "lab_marker\n/tmp/held\n");
}
END_TEST

START_TEST(test_run_on_unconnected_guest_returns_enotconn)
{
	struct lab_guest g = { .gt_fd = -1 };
	char *out = (char *)1;

	ck_assert_int_eq(lab_run(&g, "true", &out, 1000), -ENOTCONN);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_start_with_bad_name_fails)
{
	struct lab_guest g;
	char longname[80];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(lab_start(longname, NULL, &g), -EINVAL);
	ck_assert_int_eq(g.gt_fd, -1);
	ck_assert_int_eq(lab_start("../escape", NULL, &g), -EINVAL);
	ck_assert_int_eq(g.gt_fd, -1);
	ck_assert_int_eq(lab_start("", NULL, &g), -EINVAL);
	ck_assert_int_eq(g.gt_fd, -1);
}
END_TEST

static int pid_is_running(pid_t pid)
{
	char path[64], buf[8];
	int fd;
	ssize_t n;

	/* a zombie (already dead, not yet reaped) has an empty cmdline */
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n > 0;
}

START_TEST(test_stop_removes_ram_file_and_ends_qemu)
{
	struct lab_guest g;
	struct stat st;
	char name[64], *out = (char *)1;
	pid_t pid;

	snprintf(name, sizeof(name), "lablab-life-%d", (int)getpid());
	ck_assert_int_eq(lab_start(name, NULL, &g), 0);
	ck_assert_int_eq(stat(g.ram_path, &st), 0);
	ck_assert_int_eq(st.st_size, 512 << 20);
	pid = g.qemu_pid;
	ck_assert(pid_is_running(pid));
	ck_assert_int_eq(lab_stop(&g), 0);
	ck_assert_int_eq(stat(g.ram_path, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert(!pid_is_running(pid));
	ck_assert_int_eq(access(g.gt_path, F_OK), -1);
	ck_assert_int_eq(lab_stop(&g), 0);
	ck_assert_int_eq(lab_run(&g, "true", &out, 1000), -ENOTCONN);
}
END_TEST

static Suite *lab_suite(void)
{
	Suite *s = suite_create("lab");
	TCase *tq = tcase_create("qemu64"), *tm = tcase_create("max");
	TCase *tl = tcase_create("lifecycle");

	tcase_add_unchecked_fixture(tq, q64_setup, q64_teardown);
	tcase_set_timeout(tq, 120);
	tcase_add_test(tq, test_qemu64_cat_proc_version_returns_linux_banner);
	tcase_add_test(tq, test_qemu64_cpuinfo_has_no_la57);
	tcase_add_test(tq, test_exit_status_propagates);
	tcase_add_test(tq, test_output_imitating_markers_is_returned_verbatim);
	tcase_add_test(tq, test_output_keeps_exact_bytes_and_newlines);
	tcase_add_test(tq, test_multiline_command_runs_as_one_script);
	tcase_add_test(tq, test_large_output_is_returned_whole);
	tcase_add_test(tq, test_timeout_returns_etimedout_and_channel_recovers);
	tcase_add_test(tq, test_guest_has_key_and_upcall_port);
	tcase_add_test(tq, test_guest_programs_from_build_guest_run_in_guest);
	suite_add_tcase(s, tq);

	tcase_add_unchecked_fixture(tm, max_setup, max_teardown);
	tcase_set_timeout(tm, 120);
	tcase_add_test(tm, test_max_cpuinfo_has_la57);
	suite_add_tcase(s, tm);

	tcase_set_timeout(tl, 180);
	tcase_add_test(tl, test_run_on_unconnected_guest_returns_enotconn);
	tcase_add_test(tl, test_start_with_bad_name_fails);
	tcase_add_test(tl, test_stop_removes_ram_file_and_ends_qemu);
	suite_add_tcase(s, tl);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lab_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
