/* SPDX-License-Identifier: MIT */
/*
 * dr_export and the stick formats: tokens, the export run (verified copies,
 * resumption after a damaged copy), the sealed manifest and receipt of
 * format 2 (nothing personal in clear, only the right key opens them,
 * version 1 refused with what to update), receipts (deletion only with the
 * right hash, replay refused), the clock rule, the v3 catalogue columns.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "export_fixture.h"
#include "export/export.h"
#include "export/stickio.h"
#include "media/sink.h"
#include "seal/seal.h"

struct fx {
	char dir[4096], data[4200], keys[4200], stick[4200], top[4300];
	uint8_t org_pk[32], org_sk[64];
	struct dr_store *s;
	struct dr_export *x;
	char ids[2][DR_STORE_ID_LEN + 1];
	char hashes[2][65];
};

/* A receipt as collect writes it: contents sealed to the box (its device
 * key pair box_pk), the outer file signed with sk. */
static void put_receipt(int rfd, const char *device, const char *contents, const uint8_t *box_pk,
			const uint8_t *sk)
{
	char *b64 = NULL;
	assert_int_equal(dr_stick_seal(contents, strlen(contents), box_pk, &b64), 0);
	size_t n = strlen(b64) + 256;
	char *json = malloc(n);
	assert_non_null(json);
	snprintf(json, n,
		 "{\"format\":\"diaryroom-receipt\",\"version\":2,\"device\":\"%s\","
		 "\"sealed\":\"%s\"}\n",
		 device, b64);
	fx_put_signed(rfd, device, json, sk);
	free(json);
	free(b64);
}

static void device_keys(struct fx *f, uint8_t pk[32], uint8_t sk[64])
{
	char kp[4300];
	snprintf(kp, sizeof(kp), "%s/device.key", f->keys);
	FILE *kf = fopen(kp, "re");
	assert_non_null(kf);
	assert_int_equal(fread(sk, 1, 64, kf), 64);
	fclose(kf);
	crypto_sign_ed25519_sk_to_pk(pk, sk);
}

static void make_token(struct fx *f, const char *issued, const char *expires)
{
	char json[512];
	snprintf(json, sizeof(json),
		 "{\"format\":\"diaryroom-token\",\"version\":1,\"stick_id\":"
		 "\"00112233445566778899aabbccddeeff\",\"name\":\"Test Staff\","
		 "\"issued_utc\":\"%s\",\"expires_utc\":\"%s\"}\n",
		 issued, expires);
	int fd = fx_open_dir(f->top);
	fx_put_signed(fd, "token", json, f->org_sk);
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
	fx_put(p, dsk, 64, 0600);
	snprintf(p, sizeof(p), "%s/org.pub", f->keys);
	fx_put(p, f->org_pk, 32, 0644);
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
		fx_put_sealed(path, f->ids[i], f->org_pk, body, sizeof(body));
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
	int fd = fx_open_dir(f->top);
	fx_put_signed(fd, "token",
		   "{\"format\":\"diaryroom-token\",\"version\":1,\"stick_id\":"
		   "\"00112233445566778899aabbccddeeff\",\"name\":\"X\",\"issued_utc\":"
		   "\"2026-01-01T00:00:00Z\",\"expires_utc\":\"2036-01-01T00:00:00Z\"}",
		   sk);
	close(fd);
	assert_int_equal(dr_export_stick_open(f->x, f->stick, now_2026(), &k, err, sizeof(err)),
			 -EKEYREJECTED);
	/* a valid signature over a malformed token */
	fd = fx_open_dir(f->top);
	fx_put_signed(fd, "token", "{\"format\":\"diaryroom-token\",\"version\":1}", f->org_sk);
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

	/* the manifest verifies with the device key; its outer part holds
	 * only what routes it; the organisation's key opens the rest, which
	 * lists both recordings, as sealed files */
	char dev[4400];
	snprintf(dev, sizeof(dev), "%s/export/%s", f->top, dr_export_device_id(f->x));
	int dfd = fx_open_dir(dev);
	char *b, err[512];
	size_t len;
	uint8_t dpk[32], dsk[64];
	device_keys(f, dpk, dsk);
	assert_int_equal(dr_stick_read_signed(dfd, "manifest", DR_STICK_MANIFEST_MAX, dpk, &b, &len,
					      err, sizeof(err)),
			 0);
	struct dr_manifest *m;
	assert_int_equal(dr_manifest_parse_outer(b, len, &m, err, sizeof(err)), 0);
	assert_false(m->opened);
	dr_manifest_free(m);
	for (int i = 0; i < 2; i++) {
		/* nothing of a recording in clear: no id, no hash */
		assert_null(strstr(b, f->ids[i]));
		assert_null(strstr(b, f->hashes[i]));
	}
	assert_null(strstr(b, "receipt"));
	assert_null(strstr(b, "consent"));
	assert_null(strstr(b, "stick_id"));
	/* another organisation's key does not open it */
	uint8_t opk[32], osk[64];
	crypto_sign_keypair(opk, osk);
	assert_int_equal(dr_manifest_open(b, len, opk, osk, &m, err, sizeof(err)), -EBADMSG);
	assert_null(m);
	assert_non_null(strstr(err, "organisation"));
	assert_int_equal(dr_manifest_open(b, len, f->org_pk, f->org_sk, &m, err, sizeof(err)), 0);
	assert_true(m->opened);
	assert_int_equal(m->n, 2);
	assert_true(m->complete);
	for (size_t i = 0; i < m->n; i++) {
		char want[64];
		snprintf(want, sizeof(want), "%s.opus.sealed", m->recs[i].id);
		assert_string_equal(m->recs[i].file, want);
		assert_string_equal(m->recs[i].media, "audio");
	}
	int64_t seq = m->seq;
	dr_manifest_free(m);
	uint8_t d[32];
	char mh[65];
	crypto_generichash(d, 32, (const uint8_t *)b, len, NULL, 0);
	sodium_bin2hex(mh, sizeof(mh), d, 32);
	free(b);

	/* a damaged copy on the stick is found and copied again */
	char fp[4500];
	snprintf(fp, sizeof(fp), "%s/%s.opus.sealed", dev, f->ids[0]);
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
	int rfd = fx_open_dir(dev);
	char json[2048];
	snprintf(json, sizeof(json),
		 "{\"format\":\"diaryroom-receipt-contents\",\"version\":2,\"device\":\"%s\","
		 "\"manifest_seq\":%lld,\"manifest_blake2b\":\"%s\",\"issued_utc\":"
		 "\"2026-01-01T00:00:00Z\",\"held\":[{\"id\":\"%s\",\"blake2b\":\"%s\"},"
		 "{\"id\":\"%s\",\"blake2b\":\"%064d\"}],\"withdraw\":[],\"consent\":[]}",
		 dr_export_device_id(f->x), (long long)seq, mh, f->ids[0], f->hashes[0],
		 f->ids[1], 0);
	struct dr_stick *k;
	assert_int_equal(dr_export_stick_open(f->x, f->stick, now_2026(), &k, err, sizeof(err)), 0);
	struct dr_export_receipt_result res;
	struct dr_store_rec rec;
	/* sealed to another box (the right name, the right signature): refused,
	 * nothing deleted */
	uint8_t bpk[32], bsk[64];
	crypto_sign_keypair(bpk, bsk);
	put_receipt(rfd, dr_export_device_id(f->x), json, bpk, f->org_sk);
	assert_int_equal(dr_export_apply_receipt(f->x, k, &res, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "does not open with this box's key"));
	/* a version-1 receipt (an older diaryroom-admin): refused, says what
	 * to update */
	char v1[2300];
	char *rest = strstr(json, "\"device\"");
	snprintf(v1, sizeof(v1), "{\"format\":\"diaryroom-receipt\",\"version\":1,%s", rest);
	fx_put_signed(rfd, dr_export_device_id(f->x), v1, f->org_sk);
	assert_int_equal(dr_export_apply_receipt(f->x, k, &res, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "update diaryroom-admin"));
	assert_int_equal(dr_store_get(f->s, f->ids[0], &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE);
	/* one that says it is for another box: refused as such */
	put_receipt(rfd, dr_export_device_id(f->x), json, dpk, f->org_sk);
	{
		char *b64 = NULL, outer[8192];
		assert_int_equal(dr_stick_seal(json, strlen(json), dpk, &b64), 0);
		snprintf(outer, sizeof(outer),
			 "{\"format\":\"diaryroom-receipt\",\"version\":2,\"device\":"
			 "\"0123456789abcdef\",\"sealed\":\"%s\"}",
			 b64);
		free(b64);
		fx_put_signed(rfd, dr_export_device_id(f->x), outer, f->org_sk);
	}
	assert_int_equal(dr_export_apply_receipt(f->x, k, &res, err, sizeof(err)), -EXDEV);
	/* the receipt sealed to this box */
	put_receipt(rfd, dr_export_device_id(f->x), json, dpk, f->org_sk);
	assert_int_equal(dr_export_apply_receipt(f->x, k, &res, err, sizeof(err)), 1);
	assert_int_equal(res.deleted, 1);
	assert_int_equal(res.hash_mismatch, 1);
	assert_int_equal(dr_store_get(f->s, f->ids[0], &rec), 0);
	assert_int_equal(rec.state, DR_REC_DELETED);
	assert_int_equal(access(rec.path, F_OK), -1);
	assert_int_equal(dr_store_get(f->s, f->ids[1], &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE);
	assert_int_equal(access(rec.path, F_OK), 0);
	/* replayed: refused, nothing changes */
	put_receipt(rfd, dr_export_device_id(f->x), json, dpk, f->org_sk);
	assert_int_equal(dr_export_apply_receipt(f->x, k, &res, err, sizeof(err)), -EALREADY);
	assert_non_null(strstr(err, "replayed"));
	assert_int_equal(access(rec.path, F_OK), 0);
	dr_export_stick_close(k);
	close(rfd);
	close(dfd);
}

/* A plain recording left from before sealing (the catalogue's hash is its
 * own) never goes to a stick: it stays on the box, counted as failed. */
static void test_plain_recording_not_exported(void **state)
{
	struct fx *f = *state;
	char err[512], path[4096], id[DR_STORE_ID_LEN + 1];
	assert_int_equal(dr_store_begin(f->s, "2026-01-02T00:00:00Z", 0, id, path, sizeof(path), err,
					sizeof(err)),
			 0);
	/* where a box before sealing kept it: <id>.opus, named so in its
	 * catalogue row */
	char plain[4400], sql[256], db_path[4400];
	snprintf(plain, sizeof(plain), "%s/recordings/%s.opus", f->data, id);
	fx_put(plain, "OggS plain audio from before sealing", 36, 0600);
	snprintf(sql, sizeof(sql), "UPDATE recordings SET file = 'recordings/%s.opus' WHERE id = '%s'",
		 id, id);
	sqlite3 *db;
	snprintf(db_path, sizeof(db_path), "%s/catalogue.sqlite", f->data);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(dr_store_finish(f->s, id, DR_REC_COMPLETE, 1000, NULL, err, sizeof(err)), 0);
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(f->s, id, &rec), 0);
	assert_string_equal(rec.path, plain);
	struct dr_export_progress p;
	assert_int_equal(run_export(f, &p), 0);
	assert_int_equal(p.files_done, 2);
	assert_int_equal(p.files_failed, 1);
	char dev[4500];
	snprintf(dev, sizeof(dev), "%s/export/%s/%s.opus.sealed", f->top, dr_export_device_id(f->x),
		 id);
	assert_int_equal(access(dev, F_OK), -1);
	assert_int_equal(access(plain, F_OK), 0);
}

/* The sealed parts' parsers: strict outside, strict inside. */
static void test_sealed_formats(void **state)
{
	(void)state;
	uint8_t pk[32], sk[64];
	crypto_sign_keypair(pk, sk);
	char err[512], *b64 = NULL, outer[8192];
	const char *inner =
		"{\"format\":\"diaryroom-manifest-contents\",\"version\":2,\"device\":"
		"\"0123456789abcdef\",\"seq\":3,\"stick_id\":\"00112233445566778899aabbccddeeff\","
		"\"created_utc\":\"2026-01-01T00:00:00Z\",\"complete\":true,\"recordings\":[]}";
	assert_int_equal(dr_stick_seal(inner, strlen(inner), pk, &b64), 0);
	const char *key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct dr_manifest *m = NULL;
	snprintf(outer, sizeof(outer),
		 "{\"format\":\"diaryroom-manifest\",\"version\":2,\"device\":\"0123456789abcdef\","
		 "\"device_key\":\"%s\",\"seq\":3,\"sealed\":\"%s\"}",
		 key, b64);
	assert_int_equal(dr_manifest_open(outer, strlen(outer), pk, sk, &m, err, sizeof(err)), 0);
	assert_int_equal(m->n, 0);
	assert_string_equal(m->stick_id, "00112233445566778899aabbccddeeff");
	dr_manifest_free(m);
	/* the outer seq is not the sealed one's: refused */
	snprintf(outer, sizeof(outer),
		 "{\"format\":\"diaryroom-manifest\",\"version\":2,\"device\":\"0123456789abcdef\","
		 "\"device_key\":\"%s\",\"seq\":4,\"sealed\":\"%s\"}",
		 key, b64);
	assert_int_equal(dr_manifest_open(outer, strlen(outer), pk, sk, &m, err, sizeof(err)),
			 -EBADMSG);
	/* personal data outside the sealed part: refused */
	snprintf(outer, sizeof(outer),
		 "{\"format\":\"diaryroom-manifest\",\"version\":2,\"device\":\"0123456789abcdef\","
		 "\"device_key\":\"%s\",\"seq\":3,\"sealed\":\"%s\",\"recordings\":[]}",
		 key, b64);
	assert_int_equal(dr_manifest_parse_outer(outer, strlen(outer), &m, err, sizeof(err)),
			 -EBADMSG);
	/* base64 with a stray character: refused */
	snprintf(outer, sizeof(outer),
		 "{\"format\":\"diaryroom-manifest\",\"version\":2,\"device\":\"0123456789abcdef\","
		 "\"device_key\":\"%s\",\"seq\":3,\"sealed\":\"%s \"}",
		 key, b64);
	assert_int_equal(dr_manifest_open(outer, strlen(outer), pk, sk, &m, err, sizeof(err)),
			 -EBADMSG);
	/* a version-1 manifest (a box not yet updated): says what to update */
	snprintf(outer, sizeof(outer),
		 "{\"format\":\"diaryroom-manifest\",\"version\":1,\"device\":\"0123456789abcdef\","
		 "\"device_key\":\"%s\",\"seq\":3,\"stick_id\":\"00112233445566778899aabbccddeeff\","
		 "\"created_utc\":\"2026-01-01T00:00:00Z\",\"recordings\":[]}",
		 key);
	assert_int_equal(dr_manifest_open(outer, strlen(outer), pk, sk, &m, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "update the box's software"));
	free(b64);
}

/* A manifest of any size lists each recording once: a duplicate id in
 * 5,000 entries (first and last) is refused, and the same list without it
 * is taken. */
static void test_manifest_duplicate_ids_any_size(void **state)
{
	(void)state;
	enum { N = 5000 };
	size_t cap = (size_t)N * 420 + 1024, len = 0;
	char *buf = malloc(cap), err[512];
	assert_non_null(buf);
	for (int dup = 1; dup >= 0; dup--) {
		len = (size_t)snprintf(buf, cap,
				       "{\"format\":\"diaryroom-manifest-contents\",\"version\":2,"
				       "\"device\":\"0123456789abcdef\",\"seq\":3,\"stick_id\":"
				       "\"00112233445566778899aabbccddeeff\",\"created_utc\":"
				       "\"2026-01-01T00:00:00Z\",\"complete\":true,\"recordings\":[");
		for (int i = 0; i < N; i++) {
			char id[33];
			snprintf(id, sizeof(id), "%032x", dup && i == N - 1 ? 0 : i);
			len += (size_t)snprintf(
				buf + len, cap - len,
				"%s{\"id\":\"%s\",\"file\":\"%s.opus.sealed\",\"media\":\"audio\","
				"\"state\":\"complete\",\"receipt\":\"%04d\",\"start_utc\":"
				"\"2026-01-01T00:00:00Z\",\"end_utc\":\"2026-01-01T00:00:01Z\","
				"\"duration_ms\":1000,\"size\":10,\"blake2b\":\"%064d\","
				"\"consent_staff\":\"yes\",\"consent_share\":\"no\",\"locked\":false,"
				"\"time_uncertain\":false}",
				i ? "," : "", id, id, i % 10000, 0);
			assert_true(len < cap);
		}
		len += (size_t)snprintf(buf + len, cap - len, "]}");
		struct dr_manifest *m = calloc(1, sizeof(*m));
		assert_non_null(m);
		snprintf(m->device, sizeof(m->device), "0123456789abcdef");
		m->seq = 3;
		int r = dr_manifest_parse_contents(buf, len, m, err, sizeof(err));
		if (dup) {
			assert_int_equal(r, -EBADMSG);
			assert_non_null(strstr(err, "listed twice"));
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(m->n, N);
		}
		dr_manifest_free(m);
	}
	free(buf);
}

/* A manifest entry whose id or file name would reach outside the box's
 * folder is refused, whatever the rest of it says. */
static void test_manifest_hostile_names(void **state)
{
	(void)state;
	static const char *const bad[][2] = {
		{"../../outside/victim", "../../outside/victim.opus.sealed"},
		{"/abs", "/abs.opus.sealed"},
		{"a/b", "a/b.opus.sealed"},
		{"..", "...opus.sealed"},
		{"0123456789abcdef0123456789abcdef", "../0123456789abcdef0123456789abcdef.opus.sealed"},
		{"0123456789abcdef0123456789abcdef", "/tmp/x.opus.sealed"},
		{"0123456789ABCDEF0123456789abcdef", "0123456789ABCDEF0123456789abcdef.opus.sealed"},
		{"0123456789abcdef0123456789abcdef0", "0123456789abcdef0123456789abcdef0.opus.sealed"},
	};
	char buf[2048], err[512];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int len = snprintf(
			buf, sizeof(buf),
			"{\"format\":\"diaryroom-manifest-contents\",\"version\":2,\"device\":"
			"\"0123456789abcdef\",\"seq\":3,\"stick_id\":\"00112233445566778899aabbccddeeff\","
			"\"created_utc\":\"2026-01-01T00:00:00Z\",\"complete\":true,\"recordings\":[{\"id\":"
			"\"%s\",\"file\":\"%s\",\"media\":\"audio\",\"state\":\"complete\",\"receipt\":"
			"\"0001\",\"start_utc\":\"2026-01-01T00:00:00Z\",\"end_utc\":\"2026-01-01T00:00:01Z\","
			"\"duration_ms\":1000,\"size\":10,\"blake2b\":\"%064d\",\"consent_staff\":\"yes\","
			"\"consent_share\":\"no\",\"locked\":false,\"time_uncertain\":false}]}",
			bad[i][0], bad[i][1], 0);
		assert_true(len > 0 && (size_t)len < sizeof(buf));
		struct dr_manifest *m = calloc(1, sizeof(*m));
		assert_non_null(m);
		snprintf(m->device, sizeof(m->device), "0123456789abcdef");
		m->seq = 3;
		assert_int_equal(dr_manifest_parse_contents(buf, (size_t)len, m, err, sizeof(err)),
				 -EBADMSG);
		dr_manifest_free(m);
	}
}

static void test_clock_unset_flags(void **state)
{
	struct fx *f = *state;
	struct dr_stick *k;
	char err[512];
	assert_int_equal(dr_export_stick_open(f->x, f->stick, 86400, &k, err, sizeof(err)), 0);
	struct dr_export_clock_result cr;
	assert_int_equal(dr_export_clock_check(f->x, k, 86400, &cr, err, sizeof(err)), 1);
	int64_t want;
	dr_stick_time_parse("2026-01-01T00:00:00Z", &want);
	assert_int_equal(cr.set_to, want);
	assert_int_equal(cr.refused, 0);
	/* checked again with a right clock: not corrected, nothing more flagged */
	assert_int_equal(dr_export_clock_check(f->x, k, now_2026(), &cr, err, sizeof(err)), 0);
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
	assert_true(dr_store_schema_version(f->s) >= 3);
}

/* ---- the clock rule ---- */

static int64_t t_of(const char *iso)
{
	int64_t t;
	assert_int_equal(dr_stick_time_parse(iso, &t), 0);
	return t;
}

static void test_clock_judge(void **state)
{
	(void)state;
	struct dr_clock_judgement j;
	/* a fresh box: justified from the floor plus its running time */
	struct dr_store_clock c = {.run_ms = 10 * 86400000ull};
	dr_export_clock_judge(&c, t_of("2100-01-01T00:00:00Z"), NULL, &j);
	assert_int_equal(j.verdict, DR_CLOCK_AHEAD);
	assert_false(j.changed);
	assert_int_equal(j.justified, DR_EXPORT_CLOCK_FLOOR + 10 * 86400);
	dr_export_clock_judge(&c, t_of("2027-03-01T00:00:00Z"), NULL, &j);
	assert_int_equal(j.verdict, DR_CLOCK_FORWARD);
	assert_true(j.after.trusted && j.after.prev);
	assert_int_equal(j.after.prev_utc, DR_EXPORT_CLOCK_FLOOR);
	/* a box that trusts 2026-06-01 and has run 100 days since */
	c = (struct dr_store_clock){.run_ms = 200 * 86400000ull, .trusted = true,
				    .trusted_utc = t_of("2026-06-01T00:00:00Z"),
				    .trusted_run_ms = 100 * 86400000ull};
	int64_t jt = t_of("2026-09-09T00:00:00Z");
	dr_export_clock_judge(&c, jt + 366 * 86400 + 1, NULL, &j);
	assert_int_equal(j.verdict, DR_CLOCK_AHEAD); /* one second past the bound */
	dr_export_clock_judge(&c, jt + 366 * 86400, NULL, &j);
	assert_int_equal(j.verdict, DR_CLOCK_FORWARD); /* at the bound */
	dr_export_clock_judge(&c, jt + 60, NULL, &j);
	assert_int_equal(j.verdict, DR_CLOCK_AGREE);
	uint64_t exp_run = 150 * 86400000ull; /* an export at 2026-07-21 by the box's time */
	dr_export_clock_judge(&c, t_of("2026-07-01T00:00:00Z"), &exp_run, &j);
	assert_int_equal(j.verdict, DR_CLOCK_OLD); /* no forward move to undo */
	assert_false(j.changed);
	dr_export_clock_judge(&c, t_of("1990-01-01T00:00:00Z"), NULL, &j);
	assert_int_equal(j.verdict, DR_CLOCK_BEHIND);
	assert_false(j.changed);
	/* after a forward move nobody confirmed (from 2026-03-03, by 90 days) */
	c.prev = true;
	c.prev_utc = t_of("2026-03-03T00:00:00Z");
	c.prev_run_ms = 100 * 86400000ull; /* L = 2026-06-11 */
	/* a receipt signed before the export it answers, by the box's time:
	 * the move was wrong, back to it (never before L) */
	dr_export_clock_judge(&c, t_of("2026-07-01T00:00:00Z"), &exp_run, &j);
	assert_int_equal(j.verdict, DR_CLOCK_BACK);
	assert_int_equal(j.after.trusted_utc, t_of("2026-07-01T00:00:00Z"));
	assert_false(j.after.prev);
	dr_export_clock_judge(&c, t_of("2026-06-10T23:55:00Z"), &exp_run, &j);
	assert_int_equal(j.verdict, DR_CLOCK_BACK);
	assert_int_equal(j.after.trusted_utc, t_of("2026-06-11T00:00:00Z"));
	/* before L too: it contradicts both anchors; nothing is believed */
	dr_export_clock_judge(&c, t_of("2026-05-01T00:00:00Z"), &exp_run, &j);
	assert_int_equal(j.verdict, DR_CLOCK_OLD);
	assert_false(j.changed);
	/* a receipt signed hours after that export (collected, inserted a
	 * few hours later): consistent, it confirms the move */
	dr_export_clock_judge(&c, t_of("2026-07-21T05:00:00Z"), &exp_run, &j);
	assert_int_equal(j.verdict, DR_CLOCK_OLD);
	assert_false(j.after.prev);
	assert_int_equal(j.after.trusted_utc, c.trusted_utc);
	/* the same time on a token (maybe stale) moves nothing */
	dr_export_clock_judge(&c, t_of("2026-07-01T00:00:00Z"), NULL, &j);
	assert_int_equal(j.verdict, DR_CLOCK_OLD);
	assert_false(j.changed);
}

/* Writes a receipt answering export seq (manifest hash mh), issued at
 * issued, with the given "held", "withdraw" and "consent" arrays: sealed to
 * this box and signed by the organisation, as collect writes it. */
static void put_receipt_answering(struct fx *f, int64_t seq, const char *mh, const char *issued,
				  const char *held, const char *withdraw, const char *consent)
{
	char dir[4400];
	snprintf(dir, sizeof(dir), "%s/receipt", f->top);
	mkdir(dir, 0755);
	int rfd = fx_open_dir(dir);
	size_t cap = strlen(held) + strlen(withdraw) + strlen(consent) + 1024;
	char *json = malloc(cap);
	assert_non_null(json);
	snprintf(json, cap,
		 "{\"format\":\"diaryroom-receipt-contents\",\"version\":2,\"device\":\"%s\","
		 "\"manifest_seq\":%lld,\"manifest_blake2b\":\"%s\",\"issued_utc\":\"%s\","
		 "\"held\":%s,\"withdraw\":%s,\"consent\":%s}",
		 dr_export_device_id(f->x), (long long)seq, mh, issued, held, withdraw, consent);
	uint8_t dpk[32], dsk[64];
	device_keys(f, dpk, dsk);
	put_receipt(rfd, dr_export_device_id(f->x), json, dpk, f->org_sk);
	sodium_memzero(dsk, sizeof(dsk));
	free(json);
	close(rfd);
}

/* The signed manifest of the last export: its seq and hash. */
static void last_manifest(struct fx *f, int64_t *seq, char mh[65])
{
	char dev[4400];
	snprintf(dev, sizeof(dev), "%s/export/%s/manifest.json", f->top, dr_export_device_id(f->x));
	size_t len;
	FILE *fp = fopen(dev, "re");
	assert_non_null(fp);
	char *b = malloc(1 << 20);
	len = fread(b, 1, 1 << 20, fp);
	fclose(fp);
	uint8_t d[32];
	crypto_generichash(d, 32, (const uint8_t *)b, len, NULL, 0);
	sodium_bin2hex(mh, 65, d, 32);
	struct dr_manifest *m;
	char err[256];
	assert_int_equal(dr_manifest_parse_outer(b, len, &m, err, sizeof(err)), 0);
	*seq = m->seq;
	dr_manifest_free(m);
	free(b);
}

static int clock_insert(struct fx *f, int64_t box_now, struct dr_export_clock_result *cr)
{
	struct dr_stick *k;
	char err[512];
	int r = dr_export_stick_open(f->x, f->stick, box_now, &k, err, sizeof(err));
	if (r < 0)
		return r;
	r = dr_export_clock_check(f->x, k, box_now, cr, err, sizeof(err));
	dr_export_stick_close(k);
	return r;
}

/* Signed times decades ahead or behind are refused and change nothing; a
 * correct stick is still accepted afterwards. */
static void test_hostile_signed_times(void **state)
{
	struct fx *f = *state;
	struct dr_export_clock_result cr;
	int64_t now = t_of("2026-01-01T00:05:00Z");
	assert_int_equal(clock_insert(f, now, &cr), 0); /* agrees */
	assert_int_equal(cr.refused, 0);
	struct dr_store_clock before, after;
	assert_int_equal(dr_store_clock_get(f->s, &before), 0);
	make_token(f, "2100-01-01T00:00:00Z", "2101-01-01T00:00:00Z");
	assert_int_equal(clock_insert(f, now, &cr), 0);
	assert_int_equal(cr.refused, 1);
	assert_non_null(strstr(cr.reason, "2100-01-01"));
	assert_true(cr.trusted < t_of("2026-01-02T00:00:00Z"));
	/* the box's own clock read 2100 (moved by something else): set back to
	 * what the box can justify */
	assert_int_equal(clock_insert(f, t_of("2100-01-01T00:00:00Z"), &cr), 1);
	assert_true(cr.set_to < t_of("2026-01-02T00:00:00Z"));
	make_token(f, "1990-01-01T00:00:00Z", "2100-01-01T00:00:00Z");
	assert_int_equal(clock_insert(f, now, &cr), 0);
	assert_int_equal(cr.refused, 1);
	assert_int_equal(dr_store_clock_get(f->s, &after), 0);
	assert_int_equal(after.trusted_utc, before.trusted_utc);
	assert_int_equal(after.prev, before.prev);
	/* a correct stick */
	make_token(f, "2026-01-01T00:01:00Z", "2026-02-01T00:00:00Z");
	assert_int_equal(clock_insert(f, now, &cr), 0);
	assert_int_equal(cr.refused, 0);
}

/* A stick from a PC whose clock was 7 months ahead moves the box forward
 * (within the bound); a correct stick is not refused as expired; the
 * receipt from a correct PC takes the box back. */
static void test_wrong_forward_move_recovers(void **state)
{
	struct fx *f = *state;
	struct dr_export_clock_result cr;
	int64_t real = t_of("2026-01-01T00:05:00Z");
	assert_int_equal(clock_insert(f, real, &cr), 0);
	make_token(f, "2026-08-01T00:00:00Z", "2027-08-01T00:00:00Z");
	assert_int_equal(clock_insert(f, real, &cr), 1);
	assert_int_equal(cr.set_to, t_of("2026-08-01T00:00:00Z"));
	/* a correct stick made today, for a month: accepted, not "expired" */
	make_token(f, "2026-01-01T00:06:00Z", "2026-02-01T00:00:00Z");
	struct dr_export_progress p;
	assert_int_equal(run_export(f, &p), 0);
	assert_int_equal(p.files_done, 2);
	int64_t seq;
	char mh[65];
	last_manifest(f, &seq, mh);
	/* the correct PC's receipt: back to its time */
	put_receipt_answering(f, seq, mh, "2026-01-01T00:20:00Z", "[]", "[]", "[]");
	assert_int_equal(clock_insert(f, t_of("2026-08-01T00:00:00Z"), &cr), 1);
	assert_true(cr.moved_back);
	assert_int_equal(cr.set_to, t_of("2026-01-01T00:20:00Z"));
	assert_int_equal(cr.refused, 0);
	/* and the receipt then applies as usual */
	struct dr_stick *k;
	char err[512];
	assert_int_equal(dr_export_stick_open(f->x, f->stick, 0, &k, err, sizeof(err)), 0);
	struct dr_export_receipt_result res;
	assert_int_equal(dr_export_apply_receipt(f->x, k, &res, err, sizeof(err)), 1);
	dr_export_stick_close(k);
}

/* ---- receipt numbers ---- */

static int count_held(void *user, const struct dr_store_export_rec *r)
{
	(void)r;
	(*(int *)user)++;
	return 0;
}

/* A receipt signed by the organisation that lists every number 1000-9999 as
 * held changes nothing that matters: the box still gives numbers. */
static void test_all_numbers_receipt_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct dr_export_progress p;
	assert_int_equal(run_export(f, &p), 0);
	int64_t seq;
	char mh[65];
	last_manifest(f, &seq, mh);
	size_t cap = 9000 * 160 + 16;
	char *held = malloc(cap);
	assert_non_null(held);
	size_t n = 0;
	held[n++] = '[';
	for (int i = 1000; i <= 9999; i++)
		n += (size_t)snprintf(held + n, cap - n,
				      "%s{\"id\":\"%032x\",\"blake2b\":\"%064d\",\"receipt\":\"%d\"}",
				      i > 1000 ? "," : "", i, 0, i);
	held[n++] = ']';
	held[n] = '\0';
	put_receipt_answering(f, seq, mh, "2026-01-01T00:00:00Z", held, "[]", "[]");
	free(held);
	struct dr_stick *k;
	char err[512];
	assert_int_equal(dr_export_stick_open(f->x, f->stick, 0, &k, err, sizeof(err)), 0);
	struct dr_export_receipt_result res;
	assert_int_equal(dr_export_apply_receipt(f->x, k, &res, err, sizeof(err)), 1);
	dr_export_stick_close(k);
	assert_int_equal(res.deleted, 0);
	int nheld = 0;
	assert_int_equal(dr_store_export_each(f->s, count_held, &nheld), 0);
	assert_int_equal(nheld, 2);
	/* no number was set resting by it */
	char dbp[4300];
	snprintf(dbp, sizeof(dbp), "%s/catalogue.sqlite", f->data);
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(dbp, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM receipts_held", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	for (int i = 0; i < 20; i++) {
		char id[DR_STORE_ID_LEN + 1], path[4096], r[5];
		assert_int_equal(dr_store_begin(f->s, "2026-01-01T00:00:00Z", 0, id, path, sizeof(path),
						err, sizeof(err)),
				 0);
		fx_put(path, "x", 1, 0600);
		assert_int_equal(dr_store_finish(f->s, id, DR_REC_COMPLETE, 1000, NULL, err, sizeof(err)),
				 0);
		assert_int_equal(dr_store_assign_receipt(f->s, id, r, err, sizeof(err)), 0);
	}
}

/* A withdrawal or consent change entered at the office for an old receipt
 * number never lands on a newer recording the box gave the same number
 * after the old one's rest: only the recording that held the number when
 * the change was entered is changed. */
static void test_withdrawal_does_not_reach_a_reused_number(void **state)
{
	struct fx *f = *state;
	char err[512], r0[5], r1[5];
	assert_int_equal(dr_store_assign_receipt(f->s, f->ids[0], r0, err, sizeof(err)), 0);
	assert_int_equal(dr_store_assign_receipt(f->s, f->ids[1], r1, err, sizeof(err)), 0);
	/* recording 0 is made "2026-01-01"; the archive confirms it */
	assert_int_equal(dr_store_confirm_delete(f->s, f->ids[0], f->hashes[0], 1, err, sizeof(err)),
			 1);
	/* a year and more of running time later, with every other number
	 * resting or held, the box gives r0 again, to a recording made now */
	struct dr_store_clock c;
	assert_int_equal(dr_store_clock_get(f->s, &c), 0);
	(void)c;
	char sql_path[4300];
	snprintf(sql_path, sizeof(sql_path), "%s/catalogue.sqlite", f->data);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(sql_path, &db), SQLITE_OK);
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "UPDATE meta SET value = 400 * 86400000 WHERE key = 'running_ms';"
		 "WITH RECURSIVE n(x) AS (SELECT 1000 UNION ALL SELECT x + 1 FROM n WHERE x < 9999)"
		 " INSERT OR REPLACE INTO receipts_held SELECT x, 'archive', 'x', 390 * 86400000"
		 " FROM n WHERE x != %s",
		 r0);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(dr_store_running_flush(f->s, err, sizeof(err)), 0);
	char id2[DR_STORE_ID_LEN + 1], path[4096], r2[5];
	assert_int_equal(dr_store_begin(f->s, NULL, 0, id2, path, sizeof(path), err, sizeof(err)), 0);
	fx_put(path, "yy", 2, 0600);
	assert_int_equal(dr_store_finish(f->s, id2, DR_REC_COMPLETE, 1000, NULL, err, sizeof(err)), 0);
	assert_int_equal(dr_store_assign_receipt(f->s, id2, r2, err, sizeof(err)), 0);
	assert_string_equal(r2, r0); /* reused */

	/* the office entered a withdrawal and a consent change for r0 in 2026
	 * (about the old recording); every receipt repeats them */
	struct dr_export_progress p;
	assert_int_equal(run_export(f, &p), 0);
	int64_t seq;
	char mh[65];
	last_manifest(f, &seq, mh);
	char w[256], cs[256];
	snprintf(w, sizeof(w), "[{\"receipt\":\"%s\",\"entered_utc\":\"2026-02-01T00:00:00Z\"}]", r0);
	snprintf(cs, sizeof(cs),
		 "[{\"receipt\":\"%s\",\"staff\":\"yes\",\"share\":\"yes\","
		 "\"entered_utc\":\"2026-01-15T00:00:00Z\"}]",
		 r0);
	put_receipt_answering(f, seq, mh, "2026-02-01T00:00:00Z", "[]", w, cs);
	struct dr_stick *k;
	assert_int_equal(dr_export_stick_open(f->x, f->stick, 0, &k, err, sizeof(err)), 0);
	struct dr_export_receipt_result res;
	assert_int_equal(dr_export_apply_receipt(f->x, k, &res, err, sizeof(err)), 1);
	dr_export_stick_close(k);
	assert_int_equal(res.withdrawn, 0);
	assert_int_equal(res.consent_changed, 0);
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(f->s, id2, &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE);
	assert_int_equal(rec.consent_staff, DR_CONSENT_UNANSWERED); /* still locked */
	assert_int_equal(access(rec.path, F_OK), 0);

	/* a withdrawal entered after the new recording was made reaches it */
	assert_int_equal(run_export(f, &p), 0);
	last_manifest(f, &seq, mh);
	snprintf(w, sizeof(w), "[{\"receipt\":\"%s\",\"entered_utc\":\"2999-01-01T00:00:00Z\"}]", r0);
	put_receipt_answering(f, seq, mh, "2026-02-01T00:00:00Z", "[]", w, "[]");
	assert_int_equal(dr_export_stick_open(f->x, f->stick, 0, &k, err, sizeof(err)), 0);
	assert_int_equal(dr_export_apply_receipt(f->x, k, &res, err, sizeof(err)), 1);
	dr_export_stick_close(k);
	assert_int_equal(res.withdrawn, 1);
	assert_int_equal(dr_store_get(f->s, id2, &rec), 0);
	assert_int_equal(rec.state, DR_REC_WITHDRAWN);
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
	snprintf(fp, sizeof(fp), "%s/export/%s/%s.opus.sealed", f->top, dr_export_device_id(f->x), f->ids[1]);
	assert_int_equal(access(fp, F_OK), -1);
	strcat(fp, ".tmp");
	assert_int_equal(access(fp, F_OK), -1);
	snprintf(fp, sizeof(fp), "%s/export/%s/%s.opus.sealed", f->top, dr_export_device_id(f->x), f->ids[0]);
	char hex[65];
	assert_int_equal(dr_hash_file(fp, hex), 0);
	assert_string_equal(hex, f->hashes[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_resume_and_receipt, setup, teardown),
		cmocka_unit_test(test_sealed_formats),
		cmocka_unit_test(test_manifest_duplicate_ids_any_size),
		cmocka_unit_test(test_manifest_hostile_names),
		cmocka_unit_test_setup_teardown(test_plain_recording_not_exported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_refuses_a_changed_box_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_unset_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_flags_recordings, setup, teardown),
		cmocka_unit_test(test_clock_judge),
		cmocka_unit_test_setup_teardown(test_hostile_signed_times, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_forward_move_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_numbers_receipt_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_withdrawal_does_not_reach_a_reused_number, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
