/* SPDX-License-Identifier: MIT */
/*
 * Stick format 3 (docs/stick-format.md): a video recording goes to the
 * stick as <id>.mkv.sealed and the manifest says "video"; the PC refuses a
 * file name that is not the one its id and media type give; a version-2
 * manifest (a box not yet updated, sound only) is still read, version 1
 * and versions from the future are refused with what to update.
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
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

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
	char audio[DR_STORE_ID_LEN + 1], video[DR_STORE_ID_LEN + 1];
	char audio_hash[65], video_hash[65];
};

/* One recording of the given media type in the catalogue, its file sealed. */
static void record(struct fx *f, enum dr_media media, char id[DR_STORE_ID_LEN + 1],
		   char hash[65])
{
	char path[4096], err[512], body[5000];
	assert_int_equal(dr_store_begin_media(f->s, media, "2026-01-01T00:00:00Z", 0, id, path,
					      sizeof(path), err, sizeof(err)),
			 0);
	/* the catalogue names the file by its media type */
	const char *ext = media == DR_MEDIA_VIDEO ? ".mkv.sealed" : ".opus.sealed";
	assert_string_equal(path + strlen(path) - strlen(ext), ext);
	for (size_t j = 0; j < sizeof(body); j++)
		body[j] = (char)(j * (media == DR_MEDIA_VIDEO ? 7 : 3));
	fx_put_sealed(path, id, f->org_pk, body, sizeof(body));
	assert_int_equal(dr_store_finish(f->s, id, DR_REC_COMPLETE, 1000, NULL, err, sizeof(err)),
			 0);
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(f->s, id, &rec), 0);
	memcpy(hash, rec.blake2b, 65);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	const char *tmp = getenv("DR_TEST_TMP");
	snprintf(f->dir, sizeof(f->dir), "%s/stickvideo-XXXXXX", tmp ? tmp : "/tmp");
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
	char p[4300], err[512];
	snprintf(p, sizeof(p), "%s/device.key", f->keys);
	fx_put(p, dsk, 64, 0600);
	snprintf(p, sizeof(p), "%s/org.pub", f->keys);
	fx_put(p, f->org_pk, 32, 0644);
	assert_int_equal(dr_store_open(f->data, &f->s, err, sizeof(err)), 0);
	record(f, DR_MEDIA_AUDIO, f->audio, f->audio_hash);
	record(f, DR_MEDIA_VIDEO, f->video, f->video_hash);
	assert_int_equal(dr_export_open(f->s, f->keys, &f->x, err, sizeof(err)), 0);
	int fd = fx_open_dir(f->top);
	fx_put_signed(fd, "token",
		   "{\"format\":\"diaryroom-token\",\"version\":1,\"stick_id\":"
		   "\"00112233445566778899aabbccddeeff\",\"name\":\"Test Staff\",\"issued_utc\":"
		   "\"2026-01-01T00:00:00Z\",\"expires_utc\":\"2036-01-01T00:00:00Z\"}\n",
		   f->org_sk);
	close(fd);
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

static int run_export(struct fx *f, struct dr_export_progress *p)
{
	struct dr_stick *k;
	char err[512];
	int64_t now;
	dr_stick_time_parse("2026-06-01T00:00:00Z", &now);
	int r = dr_export_stick_open(f->x, f->stick, now, &k, err, sizeof(err));
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

static void file_hash(const char *dev, const char *name, char hex[65])
{
	char p[4600];
	snprintf(p, sizeof(p), "%s/%s", dev, name);
	assert_int_equal(dr_hash_file(p, hex), 0);
}

/* A video and a sound-only recording through the real export: each under
 * the name its media type gives, verified, and listed so in a version-3
 * manifest that the PC opens; a second run keeps them and removes a stale
 * video no longer held. */
static void test_video_round_trip(void **state)
{
	struct fx *f = *state;
	struct dr_export_progress p;
	assert_int_equal(run_export(f, &p), 0);
	assert_int_equal(p.files_done, 2);
	assert_int_equal(p.files_failed, 0);
	char dev[4400], name[64], hex[65], err[512];
	snprintf(dev, sizeof(dev), "%s/export/%s", f->top, dr_export_device_id(f->x));
	snprintf(name, sizeof(name), "%s.mkv.sealed", f->video);
	file_hash(dev, name, hex);
	assert_string_equal(hex, f->video_hash);
	snprintf(name, sizeof(name), "%s.opus.sealed", f->audio);
	file_hash(dev, name, hex);
	assert_string_equal(hex, f->audio_hash);

	int dfd = fx_open_dir(dev);
	char *b;
	size_t len;
	uint8_t dsk[64], dpk[32];
	char kp[4300];
	snprintf(kp, sizeof(kp), "%s/device.key", f->keys);
	FILE *kf = fopen(kp, "re");
	assert_non_null(kf);
	assert_int_equal(fread(dsk, 1, 64, kf), 64);
	fclose(kf);
	crypto_sign_ed25519_sk_to_pk(dpk, dsk);
	assert_int_equal(dr_stick_read_signed(dfd, "manifest", DR_STICK_MANIFEST_MAX, dpk, &b, &len,
					      err, sizeof(err)),
			 0);
	struct dr_manifest *m;
	assert_int_equal(dr_manifest_open(b, len, f->org_pk, f->org_sk, &m, err, sizeof(err)), 0);
	free(b);
	assert_int_equal(m->version, 3);
	assert_int_equal(m->n, 2);
	int seen = 0;
	for (size_t i = 0; i < m->n; i++) {
		const struct dr_manifest_rec *r = &m->recs[i];
		bool video = !strcmp(r->id, f->video);
		assert_true(video || !strcmp(r->id, f->audio));
		snprintf(name, sizeof(name), "%s%s", r->id, video ? ".mkv.sealed" : ".opus.sealed");
		assert_string_equal(r->file, name);
		assert_string_equal(r->media, video ? "video" : "audio");
		assert_string_equal(r->blake2b, video ? f->video_hash : f->audio_hash);
		seen |= video ? 1 : 2;
	}
	assert_int_equal(seen, 3);
	dr_manifest_free(m);

	/* a video the box no longer holds, and a cut copy, are not kept */
	char stale[64];
	snprintf(stale, sizeof(stale), "%032x.mkv.sealed", 7u);
	int fd = openat(dfd, stale, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(name, sizeof(name), "%s.mkv.sealed.tmp", f->video);
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(run_export(f, &p), 0);
	assert_int_equal(p.files_failed, 0);
	struct stat st;
	assert_int_equal(fstatat(dfd, stale, &st, 0), -1);
	assert_int_equal(fstatat(dfd, name, &st, 0), -1);
	snprintf(name, sizeof(name), "%s.mkv.sealed", f->video);
	file_hash(dev, name, hex);
	assert_string_equal(hex, f->video_hash);
	close(dfd);
}

/* The sealed part of a manifest of the given version with one recording. */
static int contents(char *buf, size_t cap, int version, const char *id, const char *file,
		    const char *media)
{
	return snprintf(
		buf, cap,
		"{\"format\":\"diaryroom-manifest-contents\",\"version\":%d,\"device\":"
		"\"0123456789abcdef\",\"seq\":3,\"stick_id\":\"00112233445566778899aabbccddeeff\","
		"\"created_utc\":\"2026-01-01T00:00:00Z\",\"complete\":true,\"recordings\":[{\"id\":"
		"\"%s\",\"file\":\"%s\",\"media\":\"%s\",\"state\":\"interrupted\",\"receipt\":"
		"\"0001\",\"start_utc\":\"2026-01-01T00:00:00Z\",\"end_utc\":\"2026-01-01T00:00:01Z\","
		"\"duration_ms\":1000,\"size\":10,\"blake2b\":\"%064d\",\"consent_staff\":\"yes\","
		"\"consent_share\":\"no\",\"locked\":false,\"time_uncertain\":false}]}",
		version, id, file, media, 0);
}

static int parse(int version, const char *id, const char *file, const char *media)
{
	char buf[2048], err[512];
	int len = contents(buf, sizeof(buf), version, id, file, media);
	assert_true(len > 0 && (size_t)len < sizeof(buf));
	struct dr_manifest *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	snprintf(m->device, sizeof(m->device), "0123456789abcdef");
	m->seq = 3;
	int r = dr_manifest_parse_contents(buf, (size_t)len, m, err, sizeof(err));
	if (r == 0) {
		assert_int_equal(m->version, version);
		assert_string_equal(m->recs[0].file, file);
		assert_string_equal(m->recs[0].media, media);
	}
	dr_manifest_free(m);
	return r;
}

/* A file name that is not the one its id and media type give is refused:
 * the PC never opens a name it did not derive. */
static void test_file_name_follows_media(void **state)
{
	(void)state;
	const char *id = "0123456789abcdef0123456789abcdef";
	assert_int_equal(parse(3, id, "0123456789abcdef0123456789abcdef.mkv.sealed", "video"), 0);
	assert_int_equal(parse(3, id, "0123456789abcdef0123456789abcdef.opus.sealed", "audio"), 0);
	assert_int_equal(parse(3, id, "0123456789abcdef0123456789abcdef.opus.sealed", "video"),
			 -EBADMSG);
	assert_int_equal(parse(3, id, "0123456789abcdef0123456789abcdef.mkv.sealed", "audio"),
			 -EBADMSG);
	assert_int_equal(parse(3, id, "0123456789abcdef0123456789abcdef.mkv", "video"), -EBADMSG);
	assert_int_equal(parse(3, id, "0123456789abcdef0123456789abcdef.webm.sealed", "webm"),
			 -EBADMSG);
	assert_int_equal(parse(3, id, "ffffffffffffffffffffffffffffffff.mkv.sealed", "video"),
			 -EBADMSG);
	assert_int_equal(parse(3, id, "../0123456789abcdef0123456789abcdef.mkv.sealed", "video"),
			 -EBADMSG);
	/* version 2 is sound only */
	assert_int_equal(parse(2, id, "0123456789abcdef0123456789abcdef.mkv.sealed", "video"),
			 -EBADMSG);
	char out[DR_STICK_ID_HEX + 13];
	assert_int_equal(dr_stick_rec_file(id, "video", out), 0);
	assert_string_equal(out, "0123456789abcdef0123456789abcdef.mkv.sealed");
	assert_int_equal(dr_stick_rec_file("../x", "video", out), -EINVAL);
	assert_string_equal(out, "");
	assert_int_equal(dr_stick_rec_file(id, "picture", out), -EINVAL);
}

/* A whole manifest of the given outer version around the given contents. */
static int open_manifest(const uint8_t pk[32], const uint8_t sk[64], int outer_version,
			 const char *inner, struct dr_manifest **m, char *err, size_t errlen)
{
	char *b64 = NULL, outer[8192];
	assert_int_equal(dr_stick_seal(inner, strlen(inner), pk, &b64), 0);
	snprintf(outer, sizeof(outer),
		 "{\"format\":\"diaryroom-manifest\",\"version\":%d,\"device\":\"0123456789abcdef\","
		 "\"device_key\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		 "\",\"seq\":3,\"sealed\":\"%s\"}",
		 outer_version, b64);
	free(b64);
	return dr_manifest_open(outer, strlen(outer), pk, sk, m, err, errlen);
}

/* A box not yet updated writes version 2: still read (sound only); version
 * 1 and a version from the future are refused saying what to update; the
 * sealed part must be of the outer file's version. */
static void test_versions_read(void **state)
{
	(void)state;
	uint8_t pk[32], sk[64];
	crypto_sign_keypair(pk, sk);
	const char *id = "0123456789abcdef0123456789abcdef";
	char inner[2048], err[512];
	struct dr_manifest *m = NULL;
	contents(inner, sizeof(inner), 2, id, "0123456789abcdef0123456789abcdef.opus.sealed",
		 "audio");
	assert_int_equal(open_manifest(pk, sk, 2, inner, &m, err, sizeof(err)), 0);
	assert_int_equal(m->version, 2);
	assert_int_equal(m->n, 1);
	assert_string_equal(m->recs[0].media, "audio");
	assert_string_equal(m->recs[0].state, "interrupted");
	dr_manifest_free(m);
	/* a version-3 outer file around a version-2 sealed part: refused */
	assert_int_equal(open_manifest(pk, sk, 3, inner, &m, err, sizeof(err)), -EBADMSG);
	assert_null(m);
	contents(inner, sizeof(inner), 3, id, "0123456789abcdef0123456789abcdef.mkv.sealed",
		 "video");
	assert_int_equal(open_manifest(pk, sk, 3, inner, &m, err, sizeof(err)), 0);
	assert_int_equal(m->version, 3);
	dr_manifest_free(m);
	assert_int_equal(open_manifest(pk, sk, 1, inner, &m, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "update the box's software"));
	assert_int_equal(open_manifest(pk, sk, 4, inner, &m, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "update diaryroom-admin"));
	assert_null(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_video_round_trip, setup, teardown),
		cmocka_unit_test(test_file_name_follows_media),
		cmocka_unit_test(test_versions_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
