/* SPDX-License-Identifier: MIT */
/* Unit tests of dr_conf: the format, every error path, the limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/conf.h"

static struct dr_conf *parse_ok(const char *text)
{
	struct dr_conf *c = NULL;
	char err[256] = "";
	int r = dr_conf_parse("t.conf", text, strlen(text), &c, err, sizeof(err));
	if (r != 0)
		fail_msg("unexpected parse error %d: %s", r, err);
	return c;
}

/* Parses text that must fail with -EINVAL and a message naming "t.conf:<line>:"
 * and containing `what`. */
static void parse_bad(const char *text, size_t len, unsigned line, const char *what)
{
	struct dr_conf *c = NULL;
	char err[256] = "";
	int r = dr_conf_parse("t.conf", text, len, &c, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
	assert_null(c);
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "t.conf:%u: ", line);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", err, prefix);
	if (!strstr(err, what))
		fail_msg("message '%s' does not mention '%s'", err, what);
}

#define PARSE_BAD(lit, line, what) parse_bad((lit), sizeof(lit) - 1, (line), (what))

static void test_format(void **state)
{
	(void)state;
	struct dr_conf *c = parse_ok("# a comment\n"
				     "; another comment\n"
				     "\n"
				     "name = diary room one  \n"
				     "   indented=yes\n"
				     "[audio]\r\n"
				     "rate = 48000\r\n"
				     "device = hw:CARD=Loopback,DEV=1\n"
				     "greeting = \"  keep my blanks  \"\n"
				     "hash = value # not a comment\n"
				     "empty =\n"
				     "eq = a=b\n"
				     "[ gpio.button-1 ]\n"
				     "rate = 5\n"
				     "quotes = say \"hi\"\n"
				     "unicode = caf\xc3\xa9\n"
				     "[audio]\n"
				     "more = 1"); /* no final newline */
	assert_string_equal(dr_conf_get(c, "", "name"), "diary room one");
	assert_string_equal(dr_conf_get(c, NULL, "indented"), "yes");
	assert_string_equal(dr_conf_get(c, "audio", "rate"), "48000");
	assert_string_equal(dr_conf_get(c, "audio", "device"), "hw:CARD=Loopback,DEV=1");
	assert_string_equal(dr_conf_get(c, "audio", "greeting"), "  keep my blanks  ");
	assert_string_equal(dr_conf_get(c, "audio", "hash"), "value # not a comment");
	assert_string_equal(dr_conf_get(c, "audio", "empty"), "");
	assert_string_equal(dr_conf_get(c, "audio", "eq"), "a=b");
	assert_string_equal(dr_conf_get(c, "audio", "more"), "1");
	assert_string_equal(dr_conf_get(c, "gpio.button-1", "rate"), "5");
	assert_string_equal(dr_conf_get(c, "gpio.button-1", "quotes"), "say \"hi\"");
	assert_string_equal(dr_conf_get(c, "gpio.button-1", "unicode"), "caf\xc3\xa9");
	/* keys are per section */
	assert_null(dr_conf_get(c, "", "rate"));
	assert_null(dr_conf_get(c, "audio", "name"));
	assert_null(dr_conf_get(c, "nosuch", "rate"));
	assert_string_equal(dr_conf_get_str(c, "audio", "missing", "dflt"), "dflt");
	assert_string_equal(dr_conf_get_str(c, "audio", "rate", "dflt"), "48000");
	assert_null(dr_conf_get_str(c, "audio", "missing", NULL));
	dr_conf_free(c);
	dr_conf_free(NULL);
}

static void test_empty_and_new(void **state)
{
	(void)state;
	/* a leading UTF-8 byte order mark is skipped; anywhere else it is an error */
	struct dr_conf *bom = parse_ok("\xef\xbb\xbf[audio]\nrate = 1\n");
	assert_string_equal(dr_conf_get(bom, "audio", "rate"), "1");
	dr_conf_free(bom);
	PARSE_BAD("a = 1\n\xef\xbb\xbf[audio]\n", 2, "expected 'key = value'");
	struct dr_conf *c = NULL;
	char err[128];
	assert_int_equal(dr_conf_parse("t.conf", "", 0, &c, err, sizeof(err)), 0);
	assert_null(dr_conf_get(c, "", "x"));
	dr_conf_free(c);
	assert_int_equal(dr_conf_new(&c), 0);
	long v = 0;
	assert_int_equal(dr_conf_get_int(c, "a", "b", 7, 0, 10, &v, NULL, 0), 0);
	assert_int_equal(v, 7);
	bool b = false;
	assert_int_equal(dr_conf_get_bool(c, "a", "b", true, &b, NULL, 0), 0);
	assert_true(b);
	dr_conf_free(c);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	PARSE_BAD("a = 1\njust words\n", 2, "expected 'key = value'");
	PARSE_BAD("= 1\n", 1, "bad key ''");
	PARSE_BAD("a b = 1\n", 1, "bad key 'a b'");
	PARSE_BAD("k\xc3\xa9y = 1\n", 1, "bad key");
	PARSE_BAD("\n\n[audio\n", 3, "must end with ']'");
	PARSE_BAD("[audio] # note\n", 1, "must end with ']'");
	PARSE_BAD("[]\n", 1, "bad section name ''");
	PARSE_BAD("[a/b]\n", 1, "bad section name 'a/b'");
	PARSE_BAD("k = \"open\n", 1, "unterminated quoted value for 'k'");
	PARSE_BAD("k = \"\n", 1, "unterminated quoted value");
	PARSE_BAD("k = a\x01z\n", 1, "control character");
	PARSE_BAD("k = a\x7fz\n", 1, "control character");
	PARSE_BAD("k = a\0z\n", 1, "control character (byte 0x00)");
	PARSE_BAD("a = 1\n[s]\nb = 1\n\nb = 2\n", 5,
		  "duplicate key 'b' in [s] (first set on line 3)");
	PARSE_BAD("a = 1\na=2\n", 2, "duplicate key 'a' in the top level");
	/* A reopened section still refuses a repeated key. */
	PARSE_BAD("[s]\nb = 1\n[t]\n[s]\nb = 2\n", 5, "duplicate key 'b'");

	/* The same key in different sections is fine. */
	struct dr_conf *c = parse_ok("a = 0\n[s]\na = 1\n[t]\na = 2\n");
	assert_string_equal(dr_conf_get(c, "t", "a"), "2");
	dr_conf_free(c);

	/* err may be NULL */
	c = NULL;
	assert_int_equal(dr_conf_parse("t.conf", "oops\n", 5, &c, NULL, 0), -EINVAL);
	assert_null(c);
}

static void test_line_limit(void **state)
{
	(void)state;
	char text[1100];
	/* exactly 1023 bytes (plus CR LF) is fine */
	memset(text, 'x', sizeof(text));
	memcpy(text, "k = ", 4);
	memcpy(text + 1023, "\r\n", 2);
	struct dr_conf *c = NULL;
	char err[256] = "";
	assert_int_equal(dr_conf_parse("t.conf", text, 1025, &c, err, sizeof(err)), 0);
	assert_int_equal(strlen(dr_conf_get(c, "", "k")), 1019);
	dr_conf_free(c);
	/* 1024 bytes is too long, also without a final newline */
	memset(text, 'x', sizeof(text));
	memcpy(text, "a = 1\nk = ", 10);
	parse_bad(text, 6 + 1024, 2, "longer than 1023 bytes");
	text[6 + 1024] = '\n';
	parse_bad(text, 6 + 1025, 2, "longer than 1023 bytes");
}

static void test_file_limit(void **state)
{
	(void)state;
	size_t limit = 256 * 1024;
	char *text = malloc(limit + 1);
	assert_non_null(text);
	/* many distinct keys: also exercises the index growing */
	size_t o = 0;
	unsigned n = 0;
	while (o + 32 < limit)
		o += (size_t)sprintf(text + o, "key%u = %u\n", n, n), n++;
	while (o < limit)
		text[o++] = '\n';
	struct dr_conf *c = NULL;
	char err[256] = "";
	assert_int_equal(dr_conf_parse("t.conf", text, limit, &c, err, sizeof(err)), 0);
	for (unsigned i = 0; i < n; i += 997) {
		char key[32], val[32];
		snprintf(key, sizeof(key), "key%u", i);
		snprintf(val, sizeof(val), "%u", i);
		assert_string_equal(dr_conf_get(c, "", key), val);
	}
	dr_conf_free(c);
	text[limit] = '\n';
	c = NULL;
	assert_int_equal(dr_conf_parse("t.conf", text, limit + 1, &c, err, sizeof(err)), -EFBIG);
	assert_null(c);
	assert_non_null(strstr(err, "t.conf: "));
	assert_non_null(strstr(err, "limit"));
	free(text);
}

static void test_get_int(void **state)
{
	(void)state;
	struct dr_conf *c = parse_ok("[audio]\n"
				     "rate = 48000\n"
				     "neg = -5\n"
				     "plus = +7\n"
				     "junk = 12abc\n"
				     "empty =\n"
				     "blank = \" 12\"\n"
				     "huge = 99999999999999999999999\n"
				     "frac = 1.5\n"
				     "hex = 0x10\n");
	long v = 0;
	char err[256] = "";
	assert_int_equal(dr_conf_get_int(c, "audio", "rate", 1, 8000, 96000, &v, err, sizeof(err)),
			 0);
	assert_int_equal(v, 48000);
	assert_int_equal(dr_conf_get_int(c, "audio", "neg", 1, -10, 10, &v, err, sizeof(err)), 0);
	assert_int_equal(v, -5);
	assert_int_equal(dr_conf_get_int(c, "audio", "plus", 1, -10, 10, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 7);
	/* absent: default, even when the default is outside the range */
	v = 0;
	assert_int_equal(dr_conf_get_int(c, "audio", "none", 42, 0, 1, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 42);

	/* out of range: names the place, the key and the range; *out untouched */
	v = 123;
	assert_int_equal(dr_conf_get_int(c, "audio", "rate", 1, 8000, 44100, &v, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(v, 123);
	assert_string_equal(err,
			    "t.conf:2: [audio] rate = '48000': must be a whole number from 8000 to 44100");
	static const char *const bad[] = {"junk", "empty", "blank", "huge", "frac", "hex"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(dr_conf_get_int(c, "audio", bad[i], 1, -1000, 1000, &v, err,
						 sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, bad[i]));
		assert_non_null(strstr(err, "from -1000 to 1000"));
	}
	/* err may be NULL */
	assert_int_equal(dr_conf_get_int(c, "audio", "junk", 1, 0, 9, &v, NULL, 0), -EINVAL);
	dr_conf_free(c);
}

static void test_get_bool(void **state)
{
	(void)state;
	struct dr_conf *c = parse_ok("a=yes\nb=NO\nc=True\nd=false\ne=on\nf=OFF\ng=1\nh=0\n"
				     "i=maybe\nj=\nk=2\n");
	const char *keys = "abcdefgh";
	for (int i = 0; keys[i]; i++) {
		char k[2] = {keys[i], 0};
		bool v = i % 2 == 0 ? false : true;
		assert_int_equal(dr_conf_get_bool(c, "", k, false, &v, NULL, 0), 0);
		assert_int_equal(v, i % 2 == 0);
	}
	char err[256] = "";
	bool v = true;
	assert_int_equal(dr_conf_get_bool(c, "", "i", true, &v, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.conf:9: i = 'maybe': must be yes or no (also true/false, on/off, 1/0)");
	assert_int_equal(dr_conf_get_bool(c, "", "j", true, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(dr_conf_get_bool(c, "", "k", true, &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(dr_conf_get_bool(c, "", "absent", true, &v, err, sizeof(err)), 0);
	assert_true(v);
	dr_conf_free(c);
}

static void test_set(void **state)
{
	(void)state;
	struct dr_conf *c = parse_ok("top = 1\n[audio]\nrate = 48000\n[a.b]\nc = 1\n");
	assert_int_equal(dr_conf_set(c, "audio.rate", "16000"), 0);
	assert_string_equal(dr_conf_get(c, "audio", "rate"), "16000");
	assert_int_equal(dr_conf_set(c, "audio.new", " spaced "), 0);
	assert_string_equal(dr_conf_get(c, "audio", "new"), " spaced ");
	assert_int_equal(dr_conf_set(c, "top", "2"), 0);
	assert_string_equal(dr_conf_get(c, "", "top"), "2");
	/* the section is everything before the last dot */
	assert_int_equal(dr_conf_set(c, "a.b.c", "9"), 0);
	assert_string_equal(dr_conf_get(c, "a.b", "c"), "9");
	assert_int_equal(dr_conf_set(c, "fresh.key", "x"), 0);
	assert_string_equal(dr_conf_get(c, "fresh", "key"), "x");

	static const char *const bad[] = {"", ".x", "a.", "a b.c", "a.b c", "[a].b", "a..", "a.b/c"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dr_conf_set(c, bad[i], "1"), -EINVAL);
	assert_int_equal(dr_conf_set(c, NULL, "1"), -EINVAL);
	assert_int_equal(dr_conf_set(c, "a.b", NULL), -EINVAL);

	/* errors about overridden values name --set, not the file */
	assert_int_equal(dr_conf_set(c, "audio.rate", "fast"), 0);
	long v;
	char err[256];
	assert_int_equal(dr_conf_get_int(c, "audio", "rate", 0, 1, 2, &v, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "--set audio.rate = 'fast': must be a whole number from 1 to 2");

	/* and --set works on an empty configuration */
	struct dr_conf *e;
	assert_int_equal(dr_conf_new(&e), 0);
	assert_int_equal(dr_conf_set(e, "x.y", "z"), 0);
	assert_string_equal(dr_conf_get(e, "x", "y"), "z");
	const char *const known[] = {"audio", NULL};
	assert_int_equal(dr_conf_check_sections(e, known, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--set: unknown section [x] (a typo?)");
	dr_conf_free(e);
	dr_conf_free(c);
}

static void test_check(void **state)
{
	(void)state;
	struct dr_conf *c = parse_ok("name = x\n[audio]\nrate = 1\ndevcie = hw:0\n[gpio]\n[lihgts]\n");
	char err[256] = "";
	const char *const audio_keys[] = {"rate", "device", NULL};
	assert_int_equal(dr_conf_check_keys(c, "audio", audio_keys, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.conf:4: [audio] devcie: unknown key (a typo?)");
	const char *const audio_all[] = {"rate", "devcie", NULL};
	assert_int_equal(dr_conf_check_keys(c, "audio", audio_all, err, sizeof(err)), 0);
	const char *const top_keys[] = {"name", NULL};
	assert_int_equal(dr_conf_check_keys(c, "", top_keys, err, sizeof(err)), 0);
	assert_int_equal(dr_conf_check_keys(c, NULL, top_keys, err, sizeof(err)), 0);
	const char *const none[] = {NULL};
	assert_int_equal(dr_conf_check_keys(c, "", none, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.conf:1: name: unknown key (a typo?)");
	/* a section with no keys has no unknown keys */
	assert_int_equal(dr_conf_check_keys(c, "gpio", none, err, sizeof(err)), 0);

	const char *const secs[] = {"audio", "gpio", "lights", NULL};
	assert_int_equal(dr_conf_check_sections(c, secs, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.conf:6: unknown section [lihgts] (a typo?)");
	const char *const secs2[] = {"audio", "lihgts", NULL};
	/* an empty section is still present and still checked */
	assert_int_equal(dr_conf_check_sections(c, secs2, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.conf:5: unknown section [gpio] (a typo?)");
	const char *const secs3[] = {"audio", "lihgts", "gpio", NULL};
	assert_int_equal(dr_conf_check_sections(c, secs3, err, sizeof(err)), 0);
	/* "" is always allowed */
	struct dr_conf *t = parse_ok("a = 1\n");
	assert_int_equal(dr_conf_check_sections(t, none, err, sizeof(err)), 0);
	dr_conf_free(t);
	dr_conf_free(c);
}

static char tmpdir[4096];

static int make_tmpdir(void **state)
{
	(void)state;
	const char *base = getenv("DR_TEST_TMP");
	snprintf(tmpdir, sizeof(tmpdir), "%s/conf-XXXXXX", base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_load(void **state)
{
	(void)state;
	char path[4200], err[4400];
	struct dr_conf *c = NULL;

	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	assert_int_equal(dr_conf_load(path, &c, err, sizeof(err)), -ENOENT);
	assert_null(c);
	assert_non_null(strstr(err, path));

	assert_int_equal(dr_conf_load(tmpdir, &c, err, sizeof(err)), -EISDIR);
	assert_null(c);

	snprintf(path, sizeof(path), "%s/board.conf", tmpdir);
	write_file(path, "[button]\nline = 3\nactive_low = yes\n", 35);
	assert_int_equal(dr_conf_load(path, &c, err, sizeof(err)), 0);
	long line;
	assert_int_equal(dr_conf_get_int(c, "button", "line", 0, 0, 63, &line, err, sizeof(err)), 0);
	assert_int_equal(line, 3);
	assert_int_equal(dr_conf_get_int(c, "button", "line", 0, 4, 63, &line, err, sizeof(err)),
			 -EINVAL);
	/* the file name is the one given */
	char want[4300];
	snprintf(want, sizeof(want), "%s:2: [button] line = '3'", path);
	assert_non_null(strstr(err, want));
	dr_conf_free(c);

	snprintf(path, sizeof(path), "%s/bad.conf", tmpdir);
	write_file(path, "[button]\nline 3\n", 16);
	c = NULL;
	assert_int_equal(dr_conf_load(path, &c, err, sizeof(err)), -EINVAL);
	assert_null(c);
	snprintf(want, sizeof(want), "%s:2: ", path);
	assert_non_null(strstr(err, want));

	snprintf(path, sizeof(path), "%s/big.conf", tmpdir);
	size_t big = 256 * 1024 + 1;
	char *text = malloc(big);
	assert_non_null(text);
	memset(text, '\n', big);
	write_file(path, text, big);
	free(text);
	assert_int_equal(dr_conf_load(path, &c, err, sizeof(err)), -EFBIG);
	assert_null(c);
	assert_non_null(strstr(err, "limit"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),     cmocka_unit_test(test_empty_and_new),
		cmocka_unit_test(test_syntax_errors), cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_file_limit), cmocka_unit_test(test_get_int),
		cmocka_unit_test(test_get_bool),   cmocka_unit_test(test_set),
		cmocka_unit_test(test_check),      cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, NULL);
}
