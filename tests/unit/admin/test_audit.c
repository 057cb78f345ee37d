/* SPDX-License-Identifier: MIT */
/*
 * The archive's audit log (tools/admin/audit*.c): entries read back as
 * written; every kind of tampering (an entry edited, removed, reordered,
 * the log cut or removed, an entry edited and rehashed) is reported at the
 * entry where it happened; an interrupted append is not taken for
 * tampering; concurrent appenders all land; hostile files are refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "audit.h"

struct fx {
	char dir[4096];
	int dirfd;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("DR_TEST_TMP");
	snprintf(f->dir, sizeof(f->dir), "%s/auditXXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*state = f;
	return f->dirfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	close(f->dirfd);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void add_n(struct fx *f, int n)
{
	struct adm_audit *a;
	assert_int_equal(adm_audit_open(f->dirfd, &a), 0);
	for (int i = 0; i < n; i++) {
		char rec[32];
		snprintf(rec, sizeof(rec), "rec%d", i);
		assert_int_equal(adm_audit_add(a, "staff", "open", "box1", rec, "1234", NULL), 0);
	}
	adm_audit_close(a);
}

/* The log's bytes, and its lines. */
static char *slurp(struct fx *f, const char *name, size_t *len)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	FILE *fp = fopen(p, "rb");
	assert_non_null(fp);
	char *b = malloc(1 << 20);
	*len = fread(b, 1, 1 << 20, fp);
	b[*len] = '\0';
	fclose(fp);
	return b;
}

static void put(struct fx *f, const char *name, const char *b, size_t len)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	FILE *fp = fopen(p, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(b, 1, len, fp), len);
	fclose(fp);
}

/* Splits the log into lines (each with its newline). */
static int lines(char *b, char *out[], int max)
{
	int n = 0;
	for (char *p = b; *p && n < max;) {
		out[n++] = p;
		char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

static void join_put(struct fx *f, char *ls[], const int *order, int n)
{
	char *b = malloc(1 << 20);
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		char *l = ls[order[i]];
		size_t m = (size_t)(strchr(l, '\n') - l) + 1;
		memcpy(b + len, l, m);
		len += m;
	}
	put(f, ADM_AUDIT_LOG, b, len);
	free(b);
}

/* adm_audit_verify's verdict and what it said. */
static int verify(struct fx *f, char *said, size_t n)
{
	FILE *m = fmemopen(said, n, "w");
	int r = adm_audit_verify(f->dirfd, m);
	fclose(m);
	return r;
}

struct collected {
	int n;
	char actions[8][64], actors[8][64], details[8][256];
	uint64_t seqs[8];
	int nulls;
};

static int collect_cb(const struct adm_audit_entry *e, void *ctx)
{
	struct collected *c = ctx;
	if (c->n < 8) {
		snprintf(c->actions[c->n], 64, "%s", e->action);
		snprintf(c->actors[c->n], 64, "%s", e->actor);
		snprintf(c->details[c->n], 256, "%s", e->detail ? e->detail : "(none)");
		c->seqs[c->n] = e->seq;
		if (!e->box && !e->recording && !e->receipt)
			c->nulls++;
	}
	c->n++;
	return 0;
}

static void test_entries_read_back_as_written(void **state)
{
	struct fx *f = *state;
	char said[2048];
	assert_int_equal(verify(f, said, sizeof(said)), 0); /* nothing yet */
	struct adm_audit *a;
	assert_int_equal(adm_audit_open(f->dirfd, &a), 0);
	const char *hostile = "a \"quote\"\nnew line\\ and ü, \x01";
	assert_int_equal(adm_audit_add(a, NULL, "import", "box1", "rec", "0042", hostile), 0);
	assert_int_equal(adm_audit_add(a, "alice", "export", NULL, NULL, NULL, NULL), 0);
	adm_audit_close(a);
	assert_int_equal(verify(f, said, sizeof(said)), 0);
	assert_non_null(strstr(said, "intact: 2 entries"));

	int fd = adm_audit_open_read(f->dirfd);
	assert_true(fd >= 0);
	struct collected c = {0};
	struct adm_audit_end end;
	assert_int_equal(adm_audit_read_fd(fd, NULL, collect_cb, &c, &end), 0);
	close(fd);
	assert_int_equal(c.n, 2);
	assert_int_equal(end.seq, 2);
	assert_string_equal(c.actions[0], "import");
	assert_string_equal(c.details[0], hostile);
	assert_string_equal(c.actions[1], "export");
	assert_string_equal(c.actors[1], "alice");
	assert_int_equal(c.nulls, 1);
	assert_true(c.seqs[0] == 1 && c.seqs[1] == 2);
	/* actor NULL: the OS user */
	size_t len;
	char *b = slurp(f, ADM_AUDIT_LOG, &len);
	assert_non_null(strstr(b, "\"os_user\":"));
	assert_int_equal(len, strlen(b)); /* one line per entry, no NULs */
	char *ls[4];
	assert_int_equal(lines(b, ls, 4), 2);
	free(b);
}

static void test_field_too_long_is_refused(void **state)
{
	struct fx *f = *state;
	struct adm_audit *a;
	assert_int_equal(adm_audit_open(f->dirfd, &a), 0);
	char *big = malloc(ADM_AUDIT_FIELD_MAX + 2);
	memset(big, 'x', ADM_AUDIT_FIELD_MAX + 1);
	big[ADM_AUDIT_FIELD_MAX + 1] = '\0';
	assert_int_equal(adm_audit_add(a, NULL, "open", NULL, NULL, NULL, big), -E2BIG);
	assert_int_equal(adm_audit_add(a, NULL, "", NULL, NULL, NULL, NULL), -EINVAL);
	free(big);
	adm_audit_close(a);
	char said[1024];
	assert_int_equal(verify(f, said, sizeof(said)), 0);
}

static void test_edited_entry_is_found(void **state)
{
	struct fx *f = *state;
	add_n(f, 3);
	size_t len;
	char *b = slurp(f, ADM_AUDIT_LOG, &len);
	char *p = strstr(b, "rec1");
	assert_non_null(p);
	p[3] = '7'; /* entry 2 now names another recording */
	put(f, ADM_AUDIT_LOG, b, len);
	free(b);
	char said[1024];
	assert_int_equal(verify(f, said, sizeof(said)), 1);
	assert_non_null(strstr(said, "line 2 (after entry 1)"));
	assert_non_null(strstr(said, "edited"));
	/* appending checks only the log's end: the next entry is added, and the
	 * edit stays visible */
	add_n(f, 1);
	assert_int_equal(verify(f, said, sizeof(said)), 1);
	assert_non_null(strstr(said, "line 2 (after entry 1)"));
}

static void test_removed_entry_is_found(void **state)
{
	struct fx *f = *state;
	add_n(f, 4);
	size_t len;
	char *b = slurp(f, ADM_AUDIT_LOG, &len);
	char *ls[8];
	assert_int_equal(lines(b, ls, 8), 4);
	join_put(f, ls, (int[]){0, 2, 3}, 3);
	free(b);
	char said[1024];
	assert_int_equal(verify(f, said, sizeof(said)), 1);
	assert_non_null(strstr(said, "line 2: entry 3 follows entry 1 (entries 2 to 2 were removed)"));
}

static void test_reordered_entries_are_found(void **state)
{
	struct fx *f = *state;
	add_n(f, 4);
	size_t len;
	char *b = slurp(f, ADM_AUDIT_LOG, &len);
	char *ls[8];
	assert_int_equal(lines(b, ls, 8), 4);
	join_put(f, ls, (int[]){0, 2, 1, 3}, 4);
	free(b);
	char said[1024];
	assert_int_equal(verify(f, said, sizeof(said)), 1);
	assert_non_null(strstr(said, "line 2"));
}

static void test_cut_log_is_found(void **state)
{
	struct fx *f = *state;
	add_n(f, 4);
	size_t len;
	char *b = slurp(f, ADM_AUDIT_LOG, &len);
	char *ls[8];
	assert_int_equal(lines(b, ls, 8), 4);
	join_put(f, ls, (int[]){0, 1}, 2);
	free(b);
	char said[1024];
	assert_int_equal(verify(f, said, sizeof(said)), 1);
	assert_non_null(strstr(said, "after entry 2: the log was cut (4 entries were written"));
	struct adm_audit *a;
	assert_int_equal(adm_audit_open(f->dirfd, &a), 0);
	assert_int_equal(adm_audit_add(a, NULL, "open", NULL, NULL, NULL, NULL), -EBADMSG);
	adm_audit_close(a);
	assert_int_equal(verify(f, said, sizeof(said)), 1); /* nothing was added over it */
	assert_non_null(strstr(said, "after entry 2: the log was cut"));
}

static void test_removed_log_is_found(void **state)
{
	struct fx *f = *state;
	add_n(f, 2);
	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", f->dir, ADM_AUDIT_LOG);
	assert_int_equal(unlink(p), 0);
	char said[1024];
	assert_int_equal(verify(f, said, sizeof(said)), 1);
	assert_non_null(strstr(said, "audit.log was removed"));
	struct adm_audit *a;
	assert_int_equal(adm_audit_open(f->dirfd, &a), -EBADMSG); /* no new chain is started */
	assert_null(a);
}

/* The last entry rewritten with a new hash that chains correctly: only the
 * head record can tell. */
static void test_rehashed_last_entry_is_found(void **state)
{
	struct fx *f = *state;
	add_n(f, 3);
	size_t len;
	char *b = slurp(f, ADM_AUDIT_LOG, &len);
	char *ls[8];
	assert_int_equal(lines(b, ls, 8), 3);
	char *last = ls[2];
	char *rec = strstr(last, "rec2");
	rec[3] = '9';
	char *hk = strstr(last, ",\"hash\":\"");
	uint8_t h[32];
	crypto_generichash(h, sizeof(h), (const uint8_t *)last, (size_t)(hk - last), NULL, 0);
	char hex[65];
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	memcpy(hk + 9, hex, 64);
	put(f, ADM_AUDIT_LOG, b, len);
	free(b);
	char said[1024];
	assert_int_equal(verify(f, said, sizeof(said)), 1);
	assert_non_null(strstr(said, "broken at entry 3: it is not the entry that was written"));
}

/* A crash in the middle of an append: the entry half written, or written
 * without its head record. Neither is tampering; the next append goes on. */
static void test_interrupted_appends_are_not_tampering(void **state)
{
	struct fx *f = *state;
	add_n(f, 2);
	size_t hlen;
	char *head = slurp(f, ADM_AUDIT_HEAD, &hlen);
	add_n(f, 1);
	put(f, ADM_AUDIT_HEAD, head, hlen); /* entry 3 written, its head not */
	free(head);
	char said[2048];
	assert_int_equal(verify(f, said, sizeof(said)), 0);
	assert_non_null(strstr(said, "head record was not updated"));
	add_n(f, 1);
	assert_int_equal(verify(f, said, sizeof(said)), 0);
	assert_non_null(strstr(said, "intact: 4 entries"));

	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", f->dir, ADM_AUDIT_LOG);
	FILE *fp = fopen(p, "ab");
	fputs("{\"seq\":5,\"time\":\"2026-", fp); /* torn */
	fclose(fp);
	assert_int_equal(verify(f, said, sizeof(said)), 0);
	assert_non_null(strstr(said, "unfinished entry after entry 4"));
	add_n(f, 1);
	assert_int_equal(verify(f, said, sizeof(said)), 0);
	assert_non_null(strstr(said, "intact: 5 entries"));
	assert_null(strstr(said, "unfinished"));
}

static void test_concurrent_appenders_all_land(void **state)
{
	struct fx *f = *state;
	enum { KIDS = 4, EACH = 40 };
	pid_t kids[KIDS];
	for (int k = 0; k < KIDS; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			struct adm_audit *a;
			int bad = adm_audit_open(f->dirfd, &a) != 0;
			for (int i = 0; i < EACH && !bad; i++)
				bad = adm_audit_add(a, NULL, "import", "box", NULL, NULL, NULL) != 0;
			adm_audit_close(a);
			_exit(bad);
		}
	}
	for (int k = 0; k < KIDS; k++) {
		int st;
		assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	char said[1024];
	assert_int_equal(verify(f, said, sizeof(said)), 0);
	assert_non_null(strstr(said, "intact: 160 entries"));
}

static void test_hostile_files_are_refused(void **state)
{
	struct fx *f = *state;
	char p[4200], target[4200];
	snprintf(p, sizeof(p), "%s/%s", f->dir, ADM_AUDIT_LOG);
	snprintf(target, sizeof(target), "%s/elsewhere", f->dir);
	put(f, "elsewhere", "", 0);
	assert_int_equal(symlink(target, p), 0);
	struct adm_audit *a;
	assert_int_equal(adm_audit_open(f->dirfd, &a), -EBADMSG);
	char said[1024];
	assert_int_equal(verify(f, said, sizeof(said)), 1);
	assert_non_null(strstr(said, "not a regular file"));
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0600), 0); /* must not wait for a writer */
	assert_int_equal(adm_audit_open(f->dirfd, &a), -EBADMSG);
	assert_int_equal(verify(f, said, sizeof(said)), 1);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
		T(test_entries_read_back_as_written),
		T(test_field_too_long_is_refused),
		T(test_edited_entry_is_found),
		T(test_removed_entry_is_found),
		T(test_reordered_entries_are_found),
		T(test_cut_log_is_found),
		T(test_removed_log_is_found),
		T(test_rehashed_last_entry_is_found),
		T(test_interrupted_appends_are_not_tampering),
		T(test_concurrent_appenders_all_land),
		T(test_hostile_files_are_refused),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
