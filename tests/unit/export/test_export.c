/* SPDX-License-Identifier: MIT */
/*
 * dr_export and the stick formats: tokens, the export run (verified copies,
 * resumption after a damaged copy), receipts (deletion only with the right
 * hash, replay refused), the clock rule, the v3 catalogue columns.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "export/export.h"
#include "export/stickio.h"

struct fx {
	char dir[4096], data[4200], keys[4200], stick[4200], top[4300];
	uint8_t org_pk[32], org_sk[64];
	struct dr_store *s;
	struct dr_export *x;
	char ids[2][DR_STORE_ID_LEN + 1];
	char hashes[2][65];
};

static void put(const char *path, const void *b, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
}

static void put_signed(int dirfd, const char *base, const char *json, const uint8_t *sk)
{
	uint8_t sig[64];
	char n[128], e[256];
	dr_stick_sign((const uint8_t *)json, strlen(json), sig, sk);
	snprintf(n, sizeof(n), "%s.json", base);
	assert_int_equal(dr_stick_write_atomic(dirfd, n, json, strlen(json), e, sizeof(e)), 0);
	snprintf(n, sizeof(n), "%s.sig", base);
	assert_int_equal(dr_stick_write_atomic(dirfd, n, sig, 64, e, sizeof(e)), 0);
}

static int open_dir(const char *p)
{
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void make_token(struct fx *f, const char *issued, const char *expires)
{
	char json[512];
	snprintf(json, sizeof(json),
		 "{\"format\":\"diaryroom-token\",\"version\":1,\"stick_id\":"
		 "\"00112233445566778899aabbccddeeff\",\"name\":\"Test Staff\","
		 "\"issued_utc\":\"%s\",\"expires_utc\":\"%s\"}\n",
		 issued, expires);
	int fd = open_dir(f->top);
	put_signed(fd, "token", json, f->org_sk);
	close(fd);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	const char *tmp = getenv("DR_TEST_TMP");
	snprintf(f->dir, sizeof(f->dir), "%s/export-XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->dir);
	snprintf(f->stick, sizeof(f->stick), "%s/stick", f->dir);
	snprintf(f->top, sizeof(f->top), "%s/DIARYRM", f->stick);
	assert_int_equal(mkdir(f->keys, 0700), 0);
	assert_int_equal(mkdir(f->stick, 0755), 0);
	assert_int_equal(mkdir(f->top, 0755), 0);
	crypto_sign_keypair(f->org_pk, f->org_sk);
	uint8_t dpk[32], dsk[64];
	crypto_sign_keypair(dpk, dsk);
	char p[4300];
	snprintf(p, sizeof(p), "%s/device.key", f->keys);
	put(p, dsk, 64, 0600);
	snprintf(p, sizeof(p), "%s/org.pub", f->keys);
	put(p, f->org_pk, 32, 0644);
	char err[512];
	assert_int_equal(dr_store_open(f->data, &f->s, err, sizeof(err)), 0);
	for (int i = 0; i < 2; i++) {
		char path[4096];
		assert_int_equal(dr_store_begin(f->s, "2026-01-01T00:00:00Z", 0, f->ids[i], path,
						sizeof(path), err, sizeof(err)),
				 0);
		char body[3000];
		for (size_t j = 0; j < sizeof(body); j++)
			body[j] = (char)(j * (i + 3));
		put(path, body, sizeof(body), 0600);
		assert_int_equal(dr_store_finish(f->s, f->ids[i], DR_REC_COMPLETE, 1000, NULL, err,
						 sizeof(err)),
				 0);
		struct dr_store_rec rec;
		assert_int_equal(dr_store_get(f->s, f->ids[i], &rec), 0);
		memcpy(f->hashes[i], rec.blake2b, 65);
	}
	assert_int_equal(dr_export_open(f->s, f->keys, &f->x, err, sizeof(err)), 0);
	make_token(f, "2026-01-01T00:00:00Z", "2036-01-01T00:00:00Z");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	dr_export_close(f->x);
	dr_store_close(f->s);
	free(f);
	return 0;
}

static int64_t now_2026(void)
{
	int64_t t;
	dr_stick_time_parse("2026-06-01T00:00:00Z", &t);
	return t;
}

static int run_export(struct fx *f, struct dr_export_progress *p)
{
	struct dr_stick *k;
	char err[512];
	int r = dr_export_stick_open(f->x, f->stick, now_2026(), &k, err, sizeof(err));
	if (r < 0)
		return r;
	struct dr_export_run *run;
	assert_int_equal(dr_export_begin(f->x, k, &run, err, sizeof(err)), 0);
	while ((r = dr_export_step(run, p, err, sizeof(err))) > 0)
		;
	dr_export_run_free(run);
	dr_export_stick_close(k);
	return r;
}

static void test_token_checks(void **state)
{
	struct fx *f = *state;
	struct dr_stick *k = NULL;
	char err[512];
	assert_int_equal(dr_export_stick_open(f->x, f->stick, now_2026(), &k, err, sizeof(err)), 0);
	assert_string_equal(dr_export_stick_token(k)->name, "Test Staff");
	dr_export_stick_close(k);
	/* expired */
	make_token(f, "2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z");
	assert_int_equal(dr_export_stick_open(f->x, f->stick, now_2026(), &k, err, sizeof(err)),
			 -EKEYEXPIRED);
	assert_null(k);
	/* a token signed by someone else */
	uint8_t pk[32], sk[64];
	crypto_sign_keypair(pk, sk);
	int fd = open_dir(f->top);
	put_signed(fd, "token",
		   "{\"format\":\"diaryroom-token\",\"version\":1,\"stick_id\":"
		   "\"00112233445566778899aabbccddeeff\",\"name\":\"X\",\"issued_utc\":"
		   "\"2026-01-01T00:00:00Z\",\"expires_utc\":\"2036-01-01T00:00:00Z\"}",
		   sk);
	close(fd);
	assert_int_equal(dr_export_stick_open(f->x, f->stick, now_2026(), &k, err, sizeof(err)),
			 -EKEYREJECTED);
	/* a valid signature over a malformed token */
	fd = open_dir(f->top);
	put_signed(fd, "token", "{\"format\":\"diaryroom-token\",\"version\":1}", f->org_sk);
	close(fd);
	assert_int_equal(dr_export_stick_open(f->x, f->stick, now_2026(), &k, err, sizeof(err)),
			 -EBADMSG);
	/* the parsers refuse trailing bytes and bad times */
	struct dr_token t;
	assert_int_equal(dr_token_parse("{} x", 4, &t, err, sizeof(err)), -EBADMSG);
	int64_t v;
	assert_int_equal(dr_stick_time_parse("2026-13-01T00:00:00Z", &v), -EINVAL);
	assert_int_equal(dr_stick_time_parse("2026-01-01T00:00:00", &v), -EINVAL);
}

static void test_export_resume_and_receipt(void **state)
{
	struct fx *f = *state;
	struct dr_export_progress p;
	assert_int_equal(run_export(f, &p), 0);
	assert_int_equal(p.files_done, 2);
	assert_int_equal(p.files_failed, 0);
	assert_int_equal(p.bytes_done, p.bytes_total);

	/* the manifest verifies with the device key and lists both */
	char dev[4400];
	snprintf(dev, sizeof(dev), "%s/export/%s", f->top, dr_export_device_id(f->x));
	int dfd = open_dir(dev);
	char *b, err[512];
	size_t len;
	uint8_t dpk[32];
	char kp[4300];
	snprintf(kp, sizeof(kp), "%s/device.key", f->keys);
	FILE *kf = fopen(kp, "re");
	uint8_t dsk[64];
	assert_int_equal(fread(dsk, 1, 64, kf), 64);
	fclose(kf);
	crypto_sign_ed25519_sk_to_pk(dpk, dsk);
	assert_int_equal(dr_stick_read_signed(dfd, "manifest", DR_STICK_MANIFEST_MAX, dpk, &b, &len,
					      err, sizeof(err)),
			 0);
	struct dr_manifest *m;
	assert_int_equal(dr_manifest_parse(b, len, &m, err, sizeof(err)), 0);
	assert_int_equal(m->n, 2);
	int64_t seq = m->seq;
	dr_manifest_free(m);
	uint8_t d[32];
	char mh[65];
	crypto_generichash(d, 32, (const uint8_t *)b, len, NULL, 0);
	sodium_bin2hex(mh, sizeof(mh), d, 32);
	free(b);

	/* a damaged copy on the stick is found and copied again */
	char fp[4500];
	snprintf(fp, sizeof(fp), "%s/%s.opus", dev, f->ids[0]);
	int fd = open(fp, O_WRONLY | O_CLOEXEC);
	assert_int_equal(pwrite(fd, "XX", 2, 100), 2);
	close(fd);
	assert_int_equal(run_export(f, &p), 0);
	assert_int_equal(p.files_done, 2);
	char hex[65];
	assert_int_equal(dr_hash_file(fp, hex), 0);
	assert_string_equal(hex, f->hashes[0]);

	/* a receipt for the first export, before the second one: the archive
	 * holds id 0 with the right hash and id 1 with a wrong one */
	snprintf(dev, sizeof(dev), "%s/receipt", f->top);
	mkdir(dev, 0755);
	int rfd = open_dir(dev);
	char json[2048];
	snprintf(json, sizeof(json),
		 "{\"format\":\"diaryroom-receipt\",\"version\":1,\"device\":\"%s\","
		 "\"manifest_seq\":%lld,\"manifest_blake2b\":\"%s\",\"issued_utc\":"
		 "\"2026-01-01T00:00:00Z\",\"held\":[{\"id\":\"%s\",\"blake2b\":\"%s\"},"
		 "{\"id\":\"%s\",\"blake2b\":\"%064d\"}],\"withdraw\":[],\"consent\":[]}",
		 dr_export_device_id(f->x), (long long)seq, mh, f->ids[0], f->hashes[0],
		 f->ids[1], 0);
	put_signed(rfd, dr_export_device_id(f->x), json, f->org_sk);
	struct dr_stick *k;
	assert_int_equal(dr_export_stick_open(f->x, f->stick, now_2026(), &k, err, sizeof(err)), 0);
	struct dr_export_receipt_result res;
	assert_int_equal(dr_export_apply_receipt(f->x, k, &res, err, sizeof(err)), 1);
	assert_int_equal(res.deleted, 1);
	assert_int_equal(res.hash_mismatch, 1);
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(f->s, f->ids[0], &rec), 0);
	assert_int_equal(rec.state, DR_REC_DELETED);
	assert_int_equal(access(rec.path, F_OK), -1);
	assert_int_equal(dr_store_get(f->s, f->ids[1], &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE);
	assert_int_equal(access(rec.path, F_OK), 0);
	/* replayed: refused, nothing changes */
	put_signed(rfd, dr_export_device_id(f->x), json, f->org_sk);
	assert_int_equal(dr_export_apply_receipt(f->x, k, &res, err, sizeof(err)), -EALREADY);
	assert_non_null(strstr(err, "replayed"));
	assert_int_equal(access(rec.path, F_OK), 0);
	dr_export_stick_close(k);
	close(rfd);
	close(dfd);
}

static void test_clock_unset_flags(void **state)
{
	struct fx *f = *state;
	struct dr_stick *k;
	char err[512];
	assert_int_equal(dr_export_stick_open(f->x, f->stick, 86400, &k, err, sizeof(err)), 0);
	int64_t set_to = 0;
	assert_int_equal(dr_export_clock_check(f->x, k, 86400, &set_to, err, sizeof(err)), 1);
	int64_t want;
	dr_stick_time_parse("2026-01-01T00:00:00Z", &want);
	assert_int_equal(set_to, want);
	/* checked again with a right clock: not corrected, nothing more flagged */
	assert_int_equal(dr_export_clock_check(f->x, k, now_2026(), &set_to, err, sizeof(err)), 0);
	dr_export_stick_close(k);
	/* nothing new since the last check */
	assert_int_equal(dr_store_clock_checked(f->s, true, "2026-02-01T00:00:00Z", "test", err,
						sizeof(err)),
			 0);
}

static int count_uncertain(void *user, const struct dr_store_export_rec *r)
{
	int *n = user;
	*n += r->time_uncertain && r->created_utc_box[0];
	return 0;
}

static void test_clock_flags_recordings(void **state)
{
	struct fx *f = *state;
	char err[512];
	assert_int_equal(dr_store_clock_checked(f->s, true, "2026-02-01T00:00:00Z", "test", err,
						sizeof(err)),
			 2);
	int n = 0;
	assert_int_equal(dr_store_export_each(f->s, count_uncertain, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(dr_store_schema_version(f->s), 3);
}

/* A recording on the box that no longer matches the hash its catalogue
 * holds (a failing SD card) is not exported as if it were sound: the file
 * fails, nothing of it is left on the stick, and the other is exported. */
static void test_export_refuses_a_changed_box_file(void **state)
{
	struct fx *f = *state;
	struct dr_export_progress p;
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(f->s, f->ids[1], &rec), 0);
	int fd = open(rec.path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\xff", 1, 2999), 1);
	close(fd);
	assert_int_equal(run_export(f, &p), 0);
	assert_int_equal(p.files_done, 1);
	assert_int_equal(p.files_failed, 1);
	char fp[4500];
	snprintf(fp, sizeof(fp), "%s/export/%s/%s.opus", f->top, dr_export_device_id(f->x), f->ids[1]);
	assert_int_equal(access(fp, F_OK), -1);
	strcat(fp, ".tmp");
	assert_int_equal(access(fp, F_OK), -1);
	snprintf(fp, sizeof(fp), "%s/export/%s/%s.opus", f->top, dr_export_device_id(f->x), f->ids[0]);
	char hex[65];
	assert_int_equal(dr_hash_file(fp, hex), 0);
	assert_string_equal(hex, f->hashes[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_resume_and_receipt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_refuses_a_changed_box_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_unset_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_flags_recordings, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
