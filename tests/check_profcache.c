/*
 * check_profcache.c - shared profiles: one load per file, a rebuilt file
 * loaded anew, bad files refused with a message, the table's cap.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profcache.h"

/* A small valid profile file, written through the real profile_save. */
static void make_profile(const char *path, const char *banner)
{
	struct profile *p = calloc(1, sizeof(*p));
	char pool[] = "";	/* no symbols: a one-byte string pool */
	int i;

	snprintf(p->banner, sizeof(p->banner), "%s", banner);
	p->banner_len = (uint32_t)strlen(p->banner);
	p->strings = pool;
	p->strings_len = 1;
	for (i = 0; i < PF_COUNT; i++)
		p->off[i] = PROFILE_NOFIELD;
	ck_assert_int_eq(profile_save(p, path), 0);
	free(p);
}

START_TEST(test_same_file_is_loaded_once_and_shared)
{
	char path[] = "/tmp/check_profcache.XXXXXX", err[128];
	struct profcache *c;
	struct profile *a, *b;
	int fd = mkstemp(path);

	close(fd);
	make_profile(path, "Linux version 6.1.0-test");
	ck_assert_int_eq(profcache_new(&c), 0);
	ck_assert_int_eq(profcache_get(c, path, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(profcache_get(c, path, &b, err, sizeof(err)), 0);
	ck_assert_ptr_eq(a, b);
	ck_assert_str_eq(a->banner, "Linux version 6.1.0-test");
	profcache_put(c, a);
	profcache_put(c, b);
	profcache_free(c);
	unlink(path);
}
END_TEST

START_TEST(test_rebuilt_file_is_loaded_anew)
{
	char path[] = "/tmp/check_profcache.XXXXXX", err[128];
	struct profcache *c;
	struct profile *a, *b;
	int fd = mkstemp(path);

	close(fd);
	make_profile(path, "Linux version old");
	ck_assert_int_eq(profcache_new(&c), 0);
	ck_assert_int_eq(profcache_get(c, path, &a, err, sizeof(err)), 0);
	make_profile(path, "Linux version new");	/* saved by rename: new inode */
	ck_assert_int_eq(profcache_get(c, path, &b, err, sizeof(err)), 0);
	ck_assert_str_eq(b->banner, "Linux version new");
	ck_assert_str_eq(a->banner, "Linux version old");	/* still valid while held */
	profcache_put(c, a);
	profcache_put(c, b);
	profcache_free(c);
	unlink(path);
}
END_TEST

START_TEST(test_missing_and_garbage_files_are_refused_with_message)
{
	char path[] = "/tmp/check_profcache.XXXXXX", err[256] = "";
	struct profcache *c;
	struct profile *p = NULL;
	int fd = mkstemp(path);

	ck_assert_int_eq(write(fd, "\x7f" "garbage, not a profile", 23), 23);
	close(fd);
	ck_assert_int_eq(profcache_new(&c), 0);
	ck_assert_int_eq(profcache_get(c, "/nonexistent/k.prof", &p, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_null(p);
	ck_assert_int_lt(profcache_get(c, path, &p, err, sizeof(err)), 0);
	ck_assert_ptr_null(p);
	ck_assert_uint_gt(strlen(err), 0);
	profcache_put(c, NULL);	/* harmless */
	profcache_free(c);
	unlink(path);
}
END_TEST

static Suite *profcache_suite(void)
{
	Suite *s = suite_create("profcache");
	TCase *tc = tcase_create("cache");

	tcase_add_test(tc, test_same_file_is_loaded_once_and_shared);
	tcase_add_test(tc, test_rebuilt_file_is_loaded_anew);
	tcase_add_test(tc, test_missing_and_garbage_files_are_refused_with_message);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(profcache_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
