/*
 * check_gdbrsp_tdesc.c - the target description parser on QEMU's own
 * layout and on odd and hostile XML: includes followed in place, regnum
 * attributes, comments/DOCTYPE/CDATA skipped, and every malformed or
 * oversized input refused with a defined error (no crash, no unbounded
 * recursion). Files are served from memory through the fetch callback.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdbrsp.h"

struct file {
	const char *name, *xml;
};

static struct gdbrsp_tdesc td;

static int fetch(void *ctx, const char *annex, char **xml, size_t *len)
{
	for (const struct file *f = ctx; f->name; f++)
		if (!strcmp(f->name, annex)) {
			*xml = strdup(f->xml);
			*len = strlen(f->xml);
			return *xml ? 0 : -ENOMEM;
		}
	return -ENOENT;
}

static int load1(const char *target)
{
	struct file files[] = { { "target.xml", target }, { NULL, NULL } };

	return gdbrsp_tdesc_load(&td, fetch, files);
}

static size_t off(const char *name)
{
	const struct gdbrsp_reg *r = gdbrsp_tdesc_find(&td, name);

	ck_assert_msg(r != NULL, "no register %s", name);
	return r->offset;
}

/* QEMU 7.2's x86-64 target.xml and the head of i386-64bit.xml. */
static const char qemu_target[] =
	"<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
	"<target><architecture>i386:x86-64</architecture>"
	"<xi:include href=\"i386-64bit.xml\"/></target>";
static const char qemu_core[] =
	"<?xml version=\"1.0\"?>\n<!-- Copyright (C) 2010-2017 Free Software "
	"Foundation, Inc. -->\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
	"<feature name=\"org.gnu.gdb.i386.core\">\n"
	"  <flags id=\"i386_eflags\" size=\"4\">\n"
	"\t<field name=\"\" start=\"22\" end=\"31\"/>\n"
	"\t<field name=\"CF\" start=\"0\" end=\"0\"/>\n  </flags>\n"
	"  <reg name=\"rax\" bitsize=\"64\" type=\"int64\"/>\n"
	"  <reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>\n"
	"  <reg name=\"rcx\" bitsize=\"64\" type=\"int64\"/>\n"
	"  <reg name=\"rdx\" bitsize=\"64\" type=\"int64\"/>\n"
	"  <reg name=\"rsi\" bitsize=\"64\" type=\"int64\"/>\n"
	"  <reg name=\"rdi\" bitsize=\"64\" type=\"int64\"/>\n"
	"  <reg name=\"rbp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
	"  <reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
	"  <reg name=\"r8\" bitsize=\"64\"/> <reg name=\"r9\" bitsize=\"64\"/>\n"
	"  <reg name=\"r10\" bitsize=\"64\"/><reg name=\"r11\" bitsize=\"64\"/>\n"
	"  <reg name=\"r12\" bitsize=\"64\"/><reg name=\"r13\" bitsize=\"64\"/>\n"
	"  <reg name=\"r14\" bitsize=\"64\"/><reg name=\"r15\" bitsize=\"64\"/>\n"
	"  <reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n"
	"  <reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\"/>\n"
	"  <reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>\n"
	"  <reg name=\"ss\" bitsize=\"32\"/><reg name=\"ds\" bitsize=\"32\"/>\n"
	"  <reg name=\"es\" bitsize=\"32\"/><reg name=\"fs\" bitsize=\"32\"/>\n"
	"  <reg name=\"gs\" bitsize=\"32\"/>\n"
	"  <reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"  <reg name='fs_base' bitsize='64' type='int64'/>\n"
	"  <reg name=\"cr3\" bitsize=\"64\" type=\"int64\"/>\n"
	"</feature>\n";

START_TEST(test_qemu_description_gives_qemu_offsets)
{
	struct file files[] = { { "target.xml", qemu_target },
				{ "i386-64bit.xml", qemu_core },
				{ NULL, NULL } };

	ck_assert_int_eq(gdbrsp_tdesc_load(&td, fetch, files), 0);
	ck_assert_str_eq(td.arch, "i386:x86-64");
	ck_assert_uint_eq(td.nregs, 27);
	ck_assert_uint_eq(off("rax"), 0);
	ck_assert_uint_eq(off("rsp"), 56);
	ck_assert_uint_eq(off("rip"), 128);
	ck_assert_uint_eq(off("eflags"), 136);
	ck_assert_uint_eq(off("gs"), 160);
	ck_assert_uint_eq(off("st0"), 164);
	ck_assert_uint_eq(off("fs_base"), 174);
	ck_assert_uint_eq(off("cr3"), 182);
	ck_assert_uint_eq(td.g_bytes, 190);
	ck_assert_ptr_null(gdbrsp_tdesc_find(&td, "CF"));	/* a field */
	ck_assert_uint_eq(td.files, 2);
}
END_TEST

START_TEST(test_include_is_read_in_place)
{
	struct file files[] = {
		{ "target.xml", "<target><reg name=\"a\" bitsize=\"8\"/>"
				"<xi:include href=\"mid.xml\"/>"
				"<reg name=\"c\" bitsize=\"8\"/></target>" },
		{ "mid.xml", "<feature><reg name=\"b\" bitsize=\"16\"/></feature>" },
		{ NULL, NULL } };

	ck_assert_int_eq(gdbrsp_tdesc_load(&td, fetch, files), 0);
	ck_assert_uint_eq(off("a"), 0);
	ck_assert_uint_eq(off("b"), 1);
	ck_assert_uint_eq(off("c"), 3);
}
END_TEST

START_TEST(test_regnum_attribute_orders_the_g_packet)
{
	ck_assert_int_eq(load1("<target><feature>"
			       "<reg name=\"x\" bitsize=\"32\" regnum=\"2\"/>"
			       "<reg name=\"y\" bitsize=\"64\"/>"
			       "<reg name=\"z\" bitsize=\"8\" regnum=\"0\"/>"
			       "<reg name=\"w\" bitsize=\"16\"/>"
			       "</feature></target>"), 0);
	/* numbers: z=0 w=1 x=2 y=3 */
	ck_assert_uint_eq(off("z"), 0);
	ck_assert_uint_eq(off("w"), 1);
	ck_assert_uint_eq(off("x"), 3);
	ck_assert_uint_eq(off("y"), 7);
}
END_TEST

START_TEST(test_comments_doctype_pi_and_cdata_are_skipped)
{
	ck_assert_int_eq(load1("<?xml version=\"1.0\"?>"
			       "<!DOCTYPE target [ <!ENTITY a \"<reg name='bad' bitsize='8'/>\"> ]>"
			       "<!-- <reg name=\"c1\" bitsize=\"8\"/> -->"
			       "<target><![CDATA[<reg name=\"c2\" bitsize=\"8\"/>]]>"
			       "<reg\n\tname = \"r\"\tbitsize='64' />"
			       "</target>"), 0);
	ck_assert_uint_eq(td.nregs, 1);
	ck_assert_uint_eq(off("r"), 0);
}
END_TEST

static const struct {
	const char *xml;
	int err;
} hostile[] = {
	{ "", -EPROTO },				/* no registers */
	{ "<target></target>", -EPROTO },
	{ "<reg name=\"a\"/>", -EPROTO },		/* no bitsize */
	{ "<reg name=\"a\" bitsize=\"12\"/>", -EPROTO },	/* not bytes */
	{ "<reg name=\"a\" bitsize=\"0\"/>", -EPROTO },
	{ "<reg name=\"a\" bitsize=\"-8\"/>", -EPROTO },
	{ "<reg name=\"a\" bitsize=\"99999999999\"/>", -EPROTO },
	{ "<reg name=\"a\" bitsize=\"4096\"/>", -EPROTO },	/* over cap */
	{ "<reg bitsize=\"8\"/>", -EPROTO },		/* no name */
	{ "<reg name=\"\" bitsize=\"8\"/>", -EPROTO },
	{ "<reg name=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" bitsize=\"8\"/>",
	  -EPROTO },					/* name too long */
	{ "<reg name=\"a\" bitsize=\"8", -EPROTO },	/* unterminated */
	{ "<reg name=\"a\" bitsize=8/>", -EPROTO },	/* unquoted */
	{ "<reg name=\"a\" bitsize=\"8\"", -EPROTO },
	{ "<!-- never closed <reg name=\"a\" bitsize=\"8\"/>", -EPROTO },
	{ "<![CDATA[ never closed", -EPROTO },
	{ "<?pi never closed", -EPROTO },
	{ "<!DOCTYPE x [ never closed", -EPROTO },
	{ "< reg name=\"a\" bitsize=\"8\"/>", -EPROTO },
	{ "<reg name=\"a\" bitsize=\"8\"/><reg name=\"b\" bitsize=\"8\" "
	  "regnum=\"0\"/>", -EPROTO },			/* duplicate regnum */
	{ "<reg name=\"a\" bitsize=\"8\" regnum=\"x\"/>", -EPROTO },
	{ "<xi:include href=\"../../etc/passwd\"/>", -EPROTO },
	{ "<xi:include href=\"a:b,c\"/>", -EPROTO },	/* breaks qXfer */
	{ "<xi:include/>", -EPROTO },
	{ "<xi:include href=\"missing.xml\"/>", -ENOENT },
	{ "<xi:include href=\"target.xml\"/>", -E2BIG },	/* cycle */
};

START_TEST(test_hostile_description_is_refused)
{
	int err = load1(hostile[_i].xml);

	ck_assert_msg(err == hostile[_i].err, "case %d '%s': got %d, want %d", _i,
		      hostile[_i].xml, err, hostile[_i].err);
}
END_TEST

START_TEST(test_too_many_registers_is_refused)
{
	size_t cap = (GDBRSP_REGS_MAX + 1) * 40 + 32, o = 0;
	char *x = malloc(cap);

	ck_assert_ptr_nonnull(x);
	for (unsigned int i = 0; i <= GDBRSP_REGS_MAX; i++)
		o += (size_t)snprintf(x + o, cap - o,
				      "<reg name=\"r%u\" bitsize=\"8\"/>", i);
	ck_assert_int_eq(load1(x), -E2BIG);
	free(x);
}
END_TEST

START_TEST(test_g_packet_over_cap_is_refused)
{
	size_t cap = 140 * 48, o = 0;
	char *x = malloc(cap);

	ck_assert_ptr_nonnull(x);
	/* 140 registers of 2048 bits = 35 KiB > GDBRSP_PKT_MAX / 2 */
	for (unsigned int i = 0; i < 140; i++)
		o += (size_t)snprintf(x + o, cap - o,
				      "<reg name=\"z%u\" bitsize=\"2048\"/>", i);
	ck_assert_int_eq(load1(x), -E2BIG);
	free(x);
}
END_TEST

START_TEST(test_deep_include_chain_is_capped)
{
	struct file files[] = {
		{ "target.xml", "<xi:include href=\"a.xml\"/>" },
		{ "a.xml", "<xi:include href=\"b.xml\"/>" },
		{ "b.xml", "<xi:include href=\"c.xml\"/>" },
		{ "c.xml", "<xi:include href=\"d.xml\"/>" },
		{ "d.xml", "<xi:include href=\"e.xml\"/>" },
		{ "e.xml", "<reg name=\"r\" bitsize=\"8\"/>" },
		{ NULL, NULL } };

	ck_assert_int_eq(gdbrsp_tdesc_load(&td, fetch, files), -E2BIG);
}
END_TEST

static Suite *tdesc_suite(void)
{
	Suite *s = suite_create("gdbrsp_tdesc");
	TCase *c = tcase_create("parse");

	tcase_add_test(c, test_qemu_description_gives_qemu_offsets);
	tcase_add_test(c, test_include_is_read_in_place);
	tcase_add_test(c, test_regnum_attribute_orders_the_g_packet);
	tcase_add_test(c, test_comments_doctype_pi_and_cdata_are_skipped);
	tcase_add_loop_test(c, test_hostile_description_is_refused, 0,
			    (int)(sizeof(hostile) / sizeof(hostile[0])));
	tcase_add_test(c, test_too_many_registers_is_refused);
	tcase_add_test(c, test_g_packet_over_cap_is_refused);
	tcase_add_test(c, test_deep_include_chain_is_capped);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tdesc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
