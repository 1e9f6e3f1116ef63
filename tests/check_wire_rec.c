/*
 * check_wire_rec.c - unit tests of the upcall record codec (wire_rec.c):
 * round trips of every record, and the decoders on hostile bodies:
 * records cut at every byte, inconsistent lengths, NUL inside strings,
 * out-of-range values, and records grown by a newer agent.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static struct wire_proc sample_proc(void)
{
	struct wire_proc p = {
		.pid = 123, .ppid = 1, .tgid = 123, .uid = 1000, .euid = 0,
		.gid = 100, .start_ns = 123450000000ull, .state = 'S',
		.exe = "/usr/bin/sleep", .exe_len = 14,
	};

	memcpy(p.comm, "sleep", 6);
	return p;
}

START_TEST(test_proc_record_roundtrip)
{
	uint8_t b[256];
	struct wire_proc p = sample_proc(), q;
	size_t off = 0;
	int n = wire_proc_put(b, sizeof(b), &p);

	ck_assert_int_eq(n, (int)WIRE_PROC_FIXED + 14);
	ck_assert_int_eq(wire_proc_next(b, (size_t)n, &off, &q), 0);
	ck_assert_int_eq(q.pid, 123);
	ck_assert_int_eq(q.ppid, 1);
	ck_assert_uint_eq(q.uid, 1000);
	ck_assert_uint_eq(q.euid, 0);
	ck_assert_uint_eq(q.gid, 100);
	ck_assert_uint_eq(q.start_ns, 123450000000ull);
	ck_assert_str_eq(q.comm, "sleep");
	ck_assert_int_eq(q.state, 'S');
	ck_assert_uint_eq(q.exe_len, 14);
	ck_assert_mem_eq(q.exe, "/usr/bin/sleep", 14);
	ck_assert_uint_eq(off, (size_t)n);
	ck_assert_int_eq(wire_proc_next(b, (size_t)n, &off, &q), 1);
}
END_TEST

START_TEST(test_proc_record_cut_at_every_byte_returns_enodata)
{
	uint8_t b[256];
	struct wire_proc p = sample_proc(), q;
	int n = wire_proc_put(b, sizeof(b), &p);

	for (int k = 1; k < n; k++) {
		size_t off = 0;

		ck_assert_int_eq(wire_proc_next(b, (size_t)k, &off, &q),
				 -ENODATA);
		ck_assert_uint_eq(off, 0);
	}
}
END_TEST

START_TEST(test_proc_record_inconsistent_fields_return_ebadmsg)
{
	uint8_t b[256], c[256];
	struct wire_proc p = sample_proc(), q;
	int n = wire_proc_put(b, sizeof(b), &p);
	size_t off;

	memcpy(c, b, (size_t)n);
	wire_put16(c, WIRE_PROC_FIXED - 1);		/* rec_len < fixed */
	off = 0;
	ck_assert_int_eq(wire_proc_next(c, (size_t)n, &off, &q), -EBADMSG);
	memcpy(c, b, (size_t)n);
	wire_put16(c + 30, 15);				/* exe past rec_len */
	off = 0;
	ck_assert_int_eq(wire_proc_next(c, (size_t)n, &off, &q), -EBADMSG);
	memcpy(c, b, (size_t)n);
	memset(c + 40, 'A', WIRE_COMM_LEN);		/* comm without NUL */
	off = 0;
	ck_assert_int_eq(wire_proc_next(c, (size_t)n, &off, &q), -EBADMSG);
	memcpy(c, b, (size_t)n);
	c[WIRE_PROC_FIXED + 3] = 0;			/* NUL inside exe */
	off = 0;
	ck_assert_int_eq(wire_proc_next(c, (size_t)n, &off, &q), -EBADMSG);
	memcpy(c, b, (size_t)n);
	wire_put32(c + 4, 0);				/* pid 0 */
	off = 0;
	ck_assert_int_eq(wire_proc_next(c, (size_t)n, &off, &q), -EBADMSG);
	memcpy(c, b, (size_t)n);
	c[28] = 0;					/* state not printable */
	off = 0;
	ck_assert_int_eq(wire_proc_next(c, (size_t)n, &off, &q), -EBADMSG);
}
END_TEST

START_TEST(test_proc_record_with_later_fields_is_skipped_whole)
{
	uint8_t b[512];
	struct wire_proc p = sample_proc(), q;
	int n = wire_proc_put(b, sizeof(b), &p);
	size_t off = 0;

	/* a newer agent appended 8 bytes to the record */
	memset(b + n, 0xee, 8);
	wire_put16(b, (uint16_t)(n + 8));
	n = wire_proc_put(b + n + 8, sizeof(b) - (size_t)n - 8, &p) + n + 8;
	ck_assert_int_eq(wire_proc_next(b, (size_t)n, &off, &q), 0);
	ck_assert_int_eq(wire_proc_next(b, (size_t)n, &off, &q), 0);
	ck_assert_int_eq(q.pid, 123);
	ck_assert_int_eq(wire_proc_next(b, (size_t)n, &off, &q), 1);
}
END_TEST

START_TEST(test_record_put_refuses_bad_fields_and_small_buffers)
{
	uint8_t b[8192];
	struct wire_proc p = sample_proc();
	struct wire_module m = { .name = "x", .name_len = 1 };
	struct wire_file f = { .pid = 1, .fd = 0, .link = "/", .link_len = 1 };

	ck_assert_int_eq(wire_proc_put(b, WIRE_PROC_FIXED, &p), -ENOSPC);
	p.exe_len = WIRE_PATH_MAX + 1;
	ck_assert_int_eq(wire_proc_put(b, sizeof(b), &p), -EINVAL);
	p = sample_proc();
	memset(p.comm, 'z', WIRE_COMM_LEN);
	ck_assert_int_eq(wire_proc_put(b, sizeof(b), &p), -EINVAL);
	m.name_len = 0;
	ck_assert_int_eq(wire_module_put(b, sizeof(b), &m), -EINVAL);
	m.name_len = WIRE_MODNAME_MAX + 1;
	ck_assert_int_eq(wire_module_put(b, sizeof(b), &m), -EINVAL);
	m.name_len = 1;
	m.state = 4;
	ck_assert_int_eq(wire_module_put(b, sizeof(b), &m), -EINVAL);
	ck_assert_int_eq(wire_file_put(b, WIRE_FILE_FIXED, &f), -ENOSPC);
	f.link_len = WIRE_PATH_MAX + 1;
	ck_assert_int_eq(wire_file_put(b, sizeof(b), &f), -EINVAL);
}
END_TEST

START_TEST(test_module_and_file_records_roundtrip_and_hostile_variants)
{
	uint8_t b[512];
	struct wire_module m = { .state = WIRE_MOD_LIVE, .flags =
		WIRE_MOD_HAS_BASE, .size = 45056, .base = 0xffffffffc0123000ull,
		.name = "virtio_console", .name_len = 14 }, m2;
	struct wire_file f = { .pid = 9, .fd = 3, .link = "socket:[1234]",
		.link_len = 13 }, f2;
	int a = wire_module_put(b, sizeof(b), &m);
	int c = wire_file_put(b + a, sizeof(b) - (size_t)a, &f);
	size_t off = 0;

	ck_assert_int_eq(wire_module_next(b, (size_t)a, &off, &m2), 0);
	ck_assert_uint_eq(m2.base, m.base);
	ck_assert_uint_eq(m2.size, 45056);
	ck_assert_mem_eq(m2.name, "virtio_console", 14);
	off = (size_t)a;
	ck_assert_int_eq(wire_file_next(b, (size_t)(a + c), &off, &f2), 0);
	ck_assert_int_eq(f2.fd, 3);
	ck_assert_mem_eq(f2.link, "socket:[1234]", 13);
	b[4] = 9;					/* state */
	off = 0;
	ck_assert_int_eq(wire_module_next(b, (size_t)a, &off, &m2), -EBADMSG);
	b[4] = 0;
	b[5] = 0;					/* empty name */
	off = 0;
	ck_assert_int_eq(wire_module_next(b, (size_t)a, &off, &m2), -EBADMSG);
	wire_put32(b + a + 8, (uint32_t)-5);		/* negative fd */
	off = (size_t)a;
	ck_assert_int_eq(wire_file_next(b, (size_t)(a + c), &off, &f2),
			 -EBADMSG);
	wire_put32(b + a + 8, 3);
	b[a + WIRE_FILE_FIXED + 2] = 0;			/* NUL in link */
	off = (size_t)a;
	ck_assert_int_eq(wire_file_next(b, (size_t)(a + c), &off, &f2),
			 -EBADMSG);
}
END_TEST

START_TEST(test_info_record_and_files_args)
{
	uint8_t b[128];
	struct wire_info i = { .max_version = 1, .queries = 0x1e,
		.clk_tck = 100, .frame_body_max = WIRE_FRAME_BODY_MAX,
		.agent = "upcalld-agent 1", .agent_len = 15 }, j;
	int n = wire_info_put(b, sizeof(b), &i);
	size_t off = 0;
	int32_t pid;

	ck_assert_int_eq(wire_info_next(b, (size_t)n, &off, &j), 0);
	ck_assert_uint_eq(j.clk_tck, 100);
	ck_assert_uint_eq(j.queries, 0x1e);
	ck_assert_mem_eq(j.agent, "upcalld-agent 1", 15);
	ck_assert_int_eq(wire_files_args_put(b, sizeof(b), WIRE_PID_ALL), 8);
	ck_assert_int_eq(wire_files_args_get(b, 8, &pid), 0);
	ck_assert_int_eq(pid, WIRE_PID_ALL);
	ck_assert_int_eq(wire_files_args_get(b, 7, &pid), -ENODATA);
	wire_put32(b, 0);
	ck_assert_int_eq(wire_files_args_get(b, 8, &pid), -EINVAL);
	wire_put32(b, (uint32_t)-7);
	ck_assert_int_eq(wire_files_args_get(b, 8, &pid), -EINVAL);
}
END_TEST

START_TEST(test_strings_name_every_enum_value)
{
	ck_assert_str_eq(wire_query_str(WIRE_Q_PROCS), "procs");
	ck_assert_str_eq(wire_query_str(999), "unknown");
	ck_assert_str_eq(wire_status_str(WIRE_ST_UNSUPPORTED), "unsupported");
	ck_assert_str_eq(wire_status_str(1000), "unknown");
	ck_assert_str_eq(wire_reject_str(WIRE_REJ_OVERSIZE), "oversize body");
}
END_TEST

static Suite *wire_rec_suite(void)
{
	Suite *s = suite_create("wire_rec");
	TCase *r = tcase_create("records");

	tcase_add_test(r, test_proc_record_roundtrip);
	tcase_add_test(r, test_proc_record_cut_at_every_byte_returns_enodata);
	tcase_add_test(r, test_proc_record_inconsistent_fields_return_ebadmsg);
	tcase_add_test(r, test_proc_record_with_later_fields_is_skipped_whole);
	tcase_add_test(r, test_record_put_refuses_bad_fields_and_small_buffers);
	tcase_add_test(r, test_module_and_file_records_roundtrip_and_hostile_variants);
	tcase_add_test(r, test_info_record_and_files_args);
	tcase_add_test(r, test_strings_name_every_enum_value);
	suite_add_tcase(s, r);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wire_rec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
