/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of dr_evlog: every line is one valid JSON object (checked by a
 * strict validator here and, when python3 is on the PATH, by json.loads),
 * hostile strings are escaped, concurrent writers never tear a line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/evlog.h"

/* ---- a strict JSON (RFC 8259) validator ---------------------------------- */

struct json {
	const unsigned char *p, *end;
	char *out; /* decoded string content of the last string, if non-NULL */
	size_t outlen, outcap;
	int depth;
};

static void jws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static void jout(struct json *j, const void *b, size_t n)
{
	if (!j->out || j->outlen + n >= j->outcap)
		return;
	memcpy(j->out + j->outlen, b, n);
	j->outlen += n;
	j->out[j->outlen] = '\0';
}

static int jhex(struct json *j, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		if (j->p >= j->end)
			return -1;
		unsigned char c = *j->p++;
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			*v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			*v |= c - 'A' + 10;
		else
			return -1;
	}
	return 0;
}

static void jout_cp(struct json *j, unsigned cp)
{
	unsigned char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	jout(j, b, n);
}

static int jstring(struct json *j)
{
	if (j->p >= j->end || *j->p != '"')
		return -1;
	j->p++;
	j->outlen = 0;
	if (j->out)
		j->out[0] = '\0';
	while (j->p < j->end) {
		unsigned char c = *j->p;
		if (c == '"') {
			j->p++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			j->p++;
			if (j->p >= j->end)
				return -1;
			unsigned char e = *j->p++;
			const char *simple = strchr("\"\\/bfnrt", e);
			if (e && simple) {
				static const char map[] = "\"\\/\b\f\n\r\t";
				jout(j, &map[simple - "\"\\/bfnrt"], 1);
			} else if (e == 'u') {
				unsigned v;
				if (jhex(j, &v))
					return -1;
				if (v >= 0xd800 && v <= 0xdbff) {
					unsigned lo;
					if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
						return -1;
					j->p += 2;
					if (jhex(j, &lo) || lo < 0xdc00 || lo > 0xdfff)
						return -1;
					v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
				} else if (v >= 0xdc00 && v <= 0xdfff) {
					return -1;
				}
				jout_cp(j, v);
			} else {
				return -1;
			}
			continue;
		}
		if (c < 0x80) {
			jout(j, &c, 1);
			j->p++;
			continue;
		}
		/* UTF-8, strictly */
		size_t n;
		unsigned cp;
		if (c >= 0xc2 && c <= 0xdf)
			n = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 4, cp = c & 0x07;
		else
			return -1;
		if ((size_t)(j->end - j->p) < n)
			return -1;
		for (size_t i = 1; i < n; i++) {
			if ((j->p[i] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (j->p[i] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		jout(j, j->p, n);
		j->p += n;
	}
	return -1;
}

static int jvalue(struct json *j);

static int jnumber(struct json *j)
{
	const unsigned char *s = j->p;
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p >= j->end)
		return -1;
	if (*j->p == '0') {
		j->p++;
	} else if (*j->p >= '1' && *j->p <= '9') {
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	} else {
		return -1;
	}
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return -1;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return -1;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	return j->p > s ? 0 : -1;
}

static int jlit(struct json *j, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return -1;
	j->p += n;
	return 0;
}

static int jcontainer(struct json *j, char open, char close, bool object)
{
	if (++j->depth > 64)
		return -1;
	j->p++; /* open */
	(void)open;
	jws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return 0;
	}
	for (;;) {
		jws(j);
		if (object) {
			char *saved = j->out;
			j->out = NULL;
			int r = jstring(j);
			j->out = saved;
			if (r)
				return -1;
			jws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return -1;
			jws(j);
		}
		if (jvalue(j))
			return -1;
		jws(j);
		if (j->p >= j->end)
			return -1;
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p == close) {
			j->p++;
			j->depth--;
			return 0;
		}
		return -1;
	}
}

static int jvalue(struct json *j)
{
	jws(j);
	if (j->p >= j->end)
		return -1;
	switch (*j->p) {
	case '{':
		return jcontainer(j, '{', '}', true);
	case '[':
		return jcontainer(j, '[', ']', false);
	case '"':
		return jstring(j);
	case 't':
		return jlit(j, "true");
	case 'f':
		return jlit(j, "false");
	case 'n':
		return jlit(j, "null");
	default:
		return jnumber(j);
	}
}

/* Is [s, s+n) exactly one JSON object? */
static bool json_object_ok(const char *s, size_t n)
{
	struct json j = {.p = (const unsigned char *)s, .end = (const unsigned char *)s + n};
	jws(&j);
	if (j.p >= j.end || *j.p != '{' || jvalue(&j))
		return false;
	jws(&j);
	return j.p == j.end;
}

/* Decodes the escaped content of a JSON string (without quotes) into out. */
static bool json_string_decode(const char *escaped, char *out, size_t outcap)
{
	size_t n = strlen(escaped);
	char *quoted = malloc(n + 3);
	assert_non_null(quoted);
	quoted[0] = '"';
	memcpy(quoted + 1, escaped, n);
	memcpy(quoted + 1 + n, "\"", 2);
	struct json j = {.p = (const unsigned char *)quoted,
			 .end = (const unsigned char *)quoted + n + 2,
			 .out = out,
			 .outcap = outcap};
	bool ok = jstring(&j) == 0 && j.p == j.end;
	free(quoted);
	return ok;
}

static void test_validator_can_fail(void **state)
{
	(void)state;
	/* the validator itself must reject what is not JSON */
	static const char *const bad[] = {"{", "{\"a\":}", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}",
					  "{\"a\":\"\xc0\x80\"}", "{\"a\":\"\xed\xa0\x80\"}",
					  "{\"a\":01}", "{\"a\":1,}", "{\"a\":\"\\ud800\"}", "[]",
					  "{} x", "{\"a\":tru}", "{\"a\":\"\xff\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (json_object_ok(bad[i], strlen(bad[i])))
			fail_msg("validator accepted %s", bad[i]);
	static const char *const good[] = {"{}", "{\"a\":[1,-2.5e3,true,null,{\"b\":\"\\u00e9\\n\"}]}",
					   "{\"a\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!json_object_ok(good[i], strlen(good[i])))
			fail_msg("validator refused %s", good[i]);
}

/* ---- helpers ------------------------------------------------------------- */

static char tmpdir[4096];

static int make_tmpdir(void **state)
{
	(void)state;
	const char *base = getenv("DR_TEST_TMP");
	snprintf(tmpdir, sizeof(tmpdir), "%s/evlog-XXXXXX", base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		if (n + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Every line of the file is one valid JSON object; returns the line count. */
static size_t check_lines(const char *path)
{
	size_t len;
	char *buf = slurp(path, &len);
	size_t lines = 0;
	if (len)
		assert_int_equal(buf[len - 1], '\n');
	for (char *p = buf; p < buf + len;) {
		char *nl = memchr(p, '\n', (size_t)(buf + len - p));
		assert_non_null(nl);
		if (!json_object_ok(p, (size_t)(nl - p)))
			fail_msg("line %zu is not a JSON object: %.*s", lines + 1, (int)(nl - p), p);
		lines++;
		p = nl + 1;
	}
	free(buf);

	/* A second opinion from python's json module, when there is one. */
	if (system("command -v python3 >/dev/null 2>&1") == 0) {
		char cmd[4500];
		snprintf(cmd, sizeof(cmd),
			 "python3 -c 'import json,sys\n"
			 "for l in open(sys.argv[1], \"rb\").read().decode(\"utf-8\").splitlines():\n"
			 "  o = json.loads(l)\n"
			 "  assert isinstance(o, dict) and isinstance(o[\"t_us\"], int) and "
			 "isinstance(o[\"ev\"], str)\n' '%s'",
			 path);
		assert_int_equal(system(cmd), 0);
	}
	return lines;
}

/* ---- tests --------------------------------------------------------------- */

static const char *const hostile[] = {
	"plain",
	"\"quoted\" and \\backslashed\\",
	"new\nline\r\n\ttab",
	"\x01\x02\x1f\x7f bell\a backspace\b formfeed\f vt\v esc\x1b[31m",
	"}\n{\"t_us\":0,\"ev\":\"forged\"}",
	"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\x99",
	"bad utf8: \xff \xfe \xc0\x80 \xed\xa0\x80 \xf4\x90\x80\x80 \xc3 \xe2\x82",
	"trailing lone lead byte \xf0",
	"\\u0000 is not a NUL",
	"",
};

static void test_str_escapes(void **state)
{
	(void)state;
	char buf[256], dec[256];
	assert_string_equal(dr_evlog_str("a\"b\\c\nd\x01", buf, sizeof(buf)),
			    "a\\\"b\\\\c\\nd\\u0001");
	assert_string_equal(dr_evlog_str("caf\xc3\xa9", buf, sizeof(buf)), "caf\xc3\xa9");
	assert_string_equal(dr_evlog_str("x\xffy", buf, sizeof(buf)), "x\\ufffdy");
	assert_string_equal(dr_evlog_str(NULL, buf, sizeof(buf)), "");
	assert_ptr_equal(dr_evlog_str("abc", buf, sizeof(buf)), buf);

	/* valid text survives the round trip unchanged */
	static const char *const valid[] = {"plain", "\"q\" \\ / \n\r\t\x01\x1f\x7f",
					    "caf\xc3\xa9 \xf0\x9f\x8e\x99", ""};
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		dr_evlog_str(valid[i], buf, sizeof(buf));
		assert_true(json_string_decode(buf, dec, sizeof(dec)));
		assert_string_equal(dec, valid[i]);
	}

	/* every single byte, and every truncation length, gives a valid string */
	for (int c = 1; c < 256; c++) {
		char s[4] = {'a', (char)c, 'b', 0};
		dr_evlog_str(s, buf, sizeof(buf));
		if (!json_string_decode(buf, dec, sizeof(dec)))
			fail_msg("byte 0x%02x escaped to invalid JSON: %s", c, buf);
	}
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		for (unsigned long n = 1; n < 200; n++) {
			char small[200];
			memset(small, 'Z', sizeof(small));
			dr_evlog_str(hostile[i], small, n);
			size_t got = strlen(small);
			assert_true(got < n); /* always terminated within the buffer */
			if (!json_string_decode(small, dec, sizeof(dec)))
				fail_msg("'%s' truncated to %lu escaped to invalid JSON: %s",
					 hostile[i], n, small);
			/* truncation gives a prefix of the full escape */
			dr_evlog_str(hostile[i], buf, sizeof(buf));
			assert_memory_equal(small, buf, got);
		}
	}
	/* a zero-length buffer is left alone */
	buf[0] = 'Q';
	dr_evlog_str("abc", buf, 0);
	assert_int_equal(buf[0], 'Q');
}

static void test_emit_file(void **state)
{
	(void)state;
	char path[4200];
	snprintf(path, sizeof(path), "%s/events.jsonl", tmpdir);
	mode_t old = umask(0);
	struct dr_evlog *l = NULL;
	assert_int_equal(dr_evlog_open(path, &l), 0);
	umask(old);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);

	/* the fd is close-on-exec */
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		bool found = false;
		struct dirent *de;
		while ((de = readdir(d))) {
			char link[300], target[4200];
			snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
			ssize_t n = readlink(link, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (strcmp(target, path) == 0) {
				int fl = fcntl(atoi(de->d_name), F_GETFD);
				assert_true(fl >= 0 && (fl & FD_CLOEXEC));
				found = true;
			}
		}
		closedir(d);
		if (path[0] == '/')
			assert_true(found);
	}

	uint64_t before = dr_mono_us();
	assert_int_equal(dr_evlog_emit(l, "state", ",\"from\":\"%s\",\"to\":\"%s\"", "idle",
				       "welcome"),
			 0);
	assert_int_equal(dr_evlog_emit(l, "tick", NULL), 0);
	assert_int_equal(dr_evlog_emit_at(l, 42, "light", ",\"pattern\":\"%s\"", "breathe"), 0);
	char buf[512];
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		assert_int_equal(dr_evlog_emit(l, "hostile", ",\"i\":%zu,\"s\":\"%s\"", i,
					       dr_evlog_str(hostile[i], buf, sizeof(buf))),
				 0);
	/* the event name is escaped too */
	assert_int_equal(dr_evlog_emit(l, "ev\"il\n", NULL), 0);
	/* a line longer than any internal buffer */
	char *big = malloc(100000);
	assert_non_null(big);
	memset(big, 'x', 99999);
	big[99999] = '\0';
	assert_int_equal(dr_evlog_emit(l, "big", ",\"s\":\"%s\"", big), 0);
	free(big);
	uint64_t after = dr_mono_us();
	dr_evlog_free(l);

	size_t n = check_lines(path);
	assert_int_equal(n, 3 + sizeof(hostile) / sizeof(hostile[0]) + 2);

	size_t len;
	char *text = slurp(path, &len);
	unsigned long long t1 = 0;
	assert_int_equal(sscanf(text, "{\"t_us\":%llu,\"ev\":\"state\",\"from\":\"idle\",\"to\":"
				      "\"welcome\"}\n",
				&t1),
			 1);
	assert_true(t1 >= before && t1 <= after);
	assert_non_null(strstr(text, "{\"t_us\":42,\"ev\":\"light\",\"pattern\":\"breathe\"}\n"));
	assert_non_null(strstr(text, "\"ev\":\"tick\"}\n"));
	assert_non_null(strstr(text, "\"ev\":\"ev\\\"il\\n\"}\n"));
	/* nothing forged a line of its own */
	assert_null(strstr(text, "\"ev\":\"forged\""));
	free(text);

	/* O_APPEND: a second open keeps what is there */
	assert_int_equal(dr_evlog_open(path, &l), 0);
	assert_int_equal(dr_evlog_emit(l, "again", NULL), 0);
	dr_evlog_free(l);
	assert_int_equal(check_lines(path), n + 1);
}

static void test_discard_and_errors(void **state)
{
	(void)state;
	struct dr_evlog *l = NULL;
	assert_int_equal(dr_evlog_open(NULL, &l), 0);
	assert_non_null(l);
	assert_int_equal(dr_evlog_emit(l, "x", ",\"a\":%d", 1), 0);
	dr_evlog_free(l);
	assert_int_equal(dr_evlog_emit(NULL, "x", NULL), 0);
	dr_evlog_free(NULL);

	char path[4200];
	snprintf(path, sizeof(path), "%s/no/such/dir/log", tmpdir);
	l = NULL;
	assert_int_equal(dr_evlog_open(path, &l), -ENOENT);
	assert_null(l);
}

static void test_stderr(void **state)
{
	(void)state;
	char path[4200];
	snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	struct dr_evlog *l = NULL;
	int r = dr_evlog_open("-", &l);
	if (r == 0) {
		dr_evlog_emit_at(l, 7, "to_stderr", NULL);
		dr_evlog_free(l);
	}
	dup2(saved, 2);
	close(saved);
	close(fd);
	assert_int_equal(r, 0);
	size_t len;
	char *text = slurp(path, &len);
	assert_string_equal(text, "{\"t_us\":7,\"ev\":\"to_stderr\"}\n");
	free(text);
	/* stderr itself is still open and usable */
	assert_true(fcntl(2, F_GETFD) >= 0);
}

#define THREADS 4
#define PER_THREAD 400

struct writer {
	struct dr_evlog *l;
	int id;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char pad[3000];
	memset(pad, 'a' + w->id, sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int i = 0; i < PER_THREAD; i++)
		if (dr_evlog_emit(w->l, "w", ",\"id\":%d,\"i\":%d,\"pad\":\"%s\"", w->id, i,
				  pad + (i * 7) % 2000) != 0)
			return (void *)1;
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	char path[4200];
	snprintf(path, sizeof(path), "%s/threads.jsonl", tmpdir);
	struct dr_evlog *l = NULL;
	assert_int_equal(dr_evlog_open(path, &l), 0);
	pthread_t th[THREADS];
	struct writer w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct writer){.l = l, .id = i};
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		void *ret;
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	dr_evlog_free(l);
	assert_int_equal(check_lines(path), THREADS * PER_THREAD);

	/* each thread's lines are all there, in order */
	size_t len;
	char *text = slurp(path, &len);
	int next[THREADS] = {0};
	for (char *p = text; p < text + len; p = strchr(p, '\n') + 1) {
		int id, i;
		assert_int_equal(sscanf(strstr(p, "\"id\":"), "\"id\":%d,\"i\":%d", &id, &i), 2);
		assert_true(id >= 0 && id < THREADS);
		assert_int_equal(i, next[id]);
		next[id]++;
	}
	free(text);
}

static void test_mono(void **state)
{
	(void)state;
	uint64_t a = dr_mono_us(), b = dr_mono_us();
	assert_true(b >= a);
	uint64_t ms = dr_mono_ms();
	assert_true(ms >= a / 1000 && ms <= dr_mono_us() / 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validator_can_fail),
		cmocka_unit_test(test_str_escapes),
		cmocka_unit_test(test_emit_file),
		cmocka_unit_test(test_discard_and_errors),
		cmocka_unit_test(test_stderr),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_mono),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, NULL);
}
