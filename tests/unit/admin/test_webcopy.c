/* SPDX-License-Identifier: MIT */
/*
 * The browser copy of a video (tools/admin/webcopy.c) of a recording made
 * as the box makes it: the WAV microphone (live) with a click every second
 * and the simulated camera flashing with each click, through the recorder
 * into Matroska. The copy must pass `ffprobe -v warning` without a word,
 * be WebM with VP8 and Opus, last as long as the original (60 ms), show
 * every frame's counter in order, keep each flash as far from its click
 * as the original does, and carry every Opus packet at its original time; a cut recording, finished by the Matroska repair,
 * is copied to its last cluster; a cut sealed video opens with dr-test-org
 * and with `diaryroom-admin open` (the Matroska repair); what is not a recording is refused and leaves
 * nothing. Real time: about 10 s (3.4 s of recording). Skipped
 * without ffmpeg/ffprobe.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "av_check.h"
#include "dev/audio.h"
#include "dev/camera.h"
#include "media/mkv.h"
#include "media/recorder.h"
#include "media_test.h"
#include "seal/seal.h"
#include "webcopy.h"

#define RATE 48000
#define W 320
#define H 240
#define FPS 30
#define ID "0123456789abcdef0123456789abcdef"

static char *dir;
static bool recorded;
static uint8_t org_pk[32], org_sk[64];

static void sleep_until_ns(uint64_t t)
{
	struct timespec ts = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
		;
}

/* Quiet noise and a click (10 ms of 1 kHz near full scale) every second
 * from 0.75 s, in a WAV of secs seconds; the click times into clicks. */
static void make_mic(const char *name, unsigned secs, size_t clicks[], size_t *nclicks)
{
	size_t len = (size_t)secs * RATE;
	int16_t *s = calloc(len, sizeof(int16_t));
	assert_non_null(s);
	for (size_t i = 0; i < len; i++)
		s[i] = (int16_t)((int)((i * 2654435761u) >> 20) % 2000 - 1000);
	*nclicks = 0;
	for (size_t c = RATE * 3 / 4; c + RATE / 100 < len; c += RATE) {
		for (size_t i = 0; i < RATE / 100; i++)
			s[c + i] = (int16_t)(30000.0 * sin(2 * M_PI * 1000.0 * (double)i / RATE));
		clicks[(*nclicks)++] = c;
	}
	assert_int_equal(mt_write_wav(mt_path(dir, name), s, len, RATE, 1), 0);
	free(s);
}

/* dir/rec.mkv.sealed: 3.4 s, the camera flashing with each click, sealed
 * as the box seals it (a throw-away organisation: dir/org); opened into
 * dir/rec.mkv. */
static void record(void)
{
	size_t clicks[8], nclicks;
	make_mic("mic.wav", 5, clicks, &nclicks);
	uint64_t t0;
	struct dr_capture *cap = NULL;
	char err[256];
	if (dr_capture_open_wav_live(mt_path(dir, "mic.wav"), 10, &t0, &cap, err, sizeof(err)))
		fail_msg("%s", err);
	struct dr_camera_settings cs;
	memset(&cs, 0, sizeof(cs));
	cs.backend = DR_CAMERA_SIM;
	cs.width = W;
	cs.height = H;
	cs.fps = FPS;
	cs.format = DR_PIX_YUYV;
	struct dr_camera *cam = NULL;
	if (dr_camera_open_sim(&cs, true, &cam, err, sizeof(err)))
		fail_msg("%s", err);
	struct dr_recorder_params p;
	dr_recorder_params_default(&p);
	p.camera = cam;
	struct dr_recorder *r = NULL;
	assert_int_equal(dr_recorder_new(cap, &p, &r), 0);
	struct dr_sink file, sink;
	struct dr_seal_key *key;
	assert_int_equal(dr_seal_key_new(&key), 0);
	assert_int_equal(dr_file_sink_open(mt_path(dir, "rec.mkv.sealed"), NULL, &file), 0);
	assert_int_equal(dr_seal_sink_new(file, ID, org_pk, key, &sink), 0);
	dr_seal_key_free(key);
	sleep_until_ns(t0 + 100000000u);
	assert_int_equal(dr_recorder_start(r, sink, ID, "2026-12-04T12:00:00Z"), 0);
	for (size_t k = 0; k < nclicks && clicks[k] < (size_t)RATE * 3; k++) {
		sleep_until_ns(t0 + clicks[k] * 1000000000ull / RATE - 1000000000ull / FPS / 2);
		assert_int_equal(dr_camera_sim_flash(cam), 0);
	}
	sleep_until_ns(t0 + 3500000000ull);
	assert_int_equal(dr_recorder_stop(r), 0);
	struct dr_recording_result res;
	for (;;) {
		struct pollfd pfd = {.fd = dr_recorder_fd(r), .events = POLLIN};
		assert_true(poll(&pfd, 1, 30000) == 1);
		int e = dr_recorder_collect(r, &res);
		if (e != -EAGAIN) {
			assert_int_equal(e, 0);
			break;
		}
	}
	assert_int_equal(res.status, 0);
	assert_true(res.video);
	dr_recorder_free(r);
	dr_camera_free(cam);
	dr_capture_free(cap);
	int in = open(mt_path(dir, "rec.mkv.sealed"), O_RDONLY | O_CLOEXEC);
	int out = open(mt_path(dir, "rec.mkv"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(in >= 0 && out >= 0);
	bool final = false;
	assert_int_equal(dr_seal_open_fd_org(in, ID, org_pk, org_sk, out, &final, NULL), 0);
	assert_true(final);
	close(in);
	close(out);
}

static int setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	crypto_sign_keypair(org_pk, org_sk);
	dir = mt_tmpdir("webcopy");
	if (!dir || mkdir(mt_path(dir, "org"), 0700) < 0 ||
	    mt_write_file(mt_path(dir, "org/org.pub"), org_pk, 32) < 0 ||
	    mt_write_file(mt_path(dir, "org/org.sk"), org_sk, 64) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mt_rmtree(dir);
	return 0;
}

/* The recording, once for all tests; skips without the reference tools. */
static void need_recording(void)
{
	if (!mt_have_tool("ffprobe") || !mt_have_tool("ffmpeg")) {
		printf("ffprobe/ffmpeg missing: tools/install-deps installs them\n");
		skip();
	}
	if (!recorded)
		record();
	recorded = true;
}

/* Where the last packet of any stream ends, s: the length a player shows
 * (the box's Matroska is written as it goes and carries no Duration). */
static double media_end(const char *path)
{
	char cmd[4200], line[256];
	snprintf(cmd, sizeof(cmd),
		 "ffprobe -v error -show_entries packet=pts_time,duration_time -of csv=p=0 '%s'",
		 path);
	FILE *f = popen(cmd, "re");
	assert_non_null(f);
	double end = 0;
	while (fgets(line, sizeof(line), f)) {
		double pts = 0, dur = 0;
		if (sscanf(line, "%lf,%lf", &pts, &dur) >= 1 && pts + dur > end)
			end = pts + dur;
	}
	pclose(f);
	return end;
}

/* ffprobe -v warning says nothing about it. */
static void assert_clean(const char *path)
{
	char out[8192];
	int st = mt_run(out, sizeof(out), "ffprobe -v warning -i '%s' 2>&1", path);
	if (st || out[0])
		fail_msg("ffprobe %d on %s:\n%s", st, path, out);
}

/* WebM (its EBML DocType), one VP8 picture and one Opus sound. */
static void assert_webm(const char *path)
{
	unsigned char *b;
	size_t len;
	assert_int_equal(mt_read_file(path, &b, &len), 0);
	assert_true(len > 64);
	assert_non_null(memmem(b, 64, "\x42\x82\x84webm", 7));
	free(b);
	char out[256];
	assert_int_equal(mt_run(out, sizeof(out),
				"ffprobe -v error -show_entries stream=codec_name -of csv=p=0 '%s'",
				path),
			 0);
	assert_string_equal(out, "vp8\nopus\n");
}

static void test_browser_copy(void **state)
{
	(void)state;
	need_recording();
	char mkv[4200], webm[4200]; /* mt_path's buffers are reused */
	snprintf(mkv, sizeof(mkv), "%s", mt_path(dir, "rec.mkv"));
	snprintf(webm, sizeof(webm), "%s", mt_path(dir, "rec.webm"));
	char why[256];
	assert_int_equal(adm_webcopy(mkv, webm, why, sizeof(why)), 0);
	assert_clean(webm);
	assert_webm(webm);
	struct stat st;
	assert_int_equal(stat(mt_path(dir, "rec.webm.tmp"), &st), -1);
	double d0 = media_end(mkv), d1 = media_end(webm);
	printf("duration: original %.3f s, copy %.3f s\n", d0, d1);
	if (fabs(d0 - d1) > 0.060)
		fail_msg("the copy lasts %.3f s, the original %.3f s", d1, d0);
	struct decoded a, b;
	avt_decode(dir, "rec.mkv", W, H, &a);
	avt_decode(dir, "rec.webm", W, H, &b);
	/* every frame, counters in order, no more gaps than the original */
	assert_int_equal(b.frames, a.frames);
	assert_int_equal(avt_counter_gaps(&b), avt_counter_gaps(&a));
	for (size_t i = 0; i < a.frames; i++) {
		assert_int_equal(b.counter[i], a.counter[i]);
		if (fabs(b.t[i] - a.t[i]) > 0.0015)
			fail_msg("frame %zu at %.4f s in the copy, %.4f s in the original", i, b.t[i],
				 a.t[i]);
	}
	/* the sound and the picture as far apart as in the original */
	double oa[8], ob[8];
	size_t ka = avt_av_offsets(&a, oa, 8), kb = avt_av_offsets(&b, ob, 8);
	assert_true(ka >= 2);
	assert_int_equal(kb, ka);
	for (size_t i = 0; i < ka; i++) {
		printf("A/V offset, click %zu: original %+.1f ms, copy %+.1f ms\n", i, oa[i], ob[i]);
		if (fabs(oa[i] - ob[i]) > 1.5)
			fail_msg("click %zu: %+.1f ms in the copy, %+.1f ms in the original", i, ob[i],
				 oa[i]);
	}
	avt_decoded_free(&a);
	avt_decoded_free(&b);
	/* the sound as recorded: every Opus packet at its original time (none
	 * moved by the codec delay, none before zero in the file) */
	static char pa[16384], pb[16384];
#define SOUND_PACKETS "ffprobe -v error -select_streams a:0 -show_entries packet=pts_time,size " \
			"-of csv=p=0 '%s'"
	assert_int_equal(mt_run(pa, sizeof(pa), SOUND_PACKETS, mkv), 0);
	assert_int_equal(mt_run(pb, sizeof(pb), SOUND_PACKETS, webm), 0);
#undef SOUND_PACKETS
	assert_true(strlen(pa) > 100);
	if (strcmp(pa, pb))
		fail_msg("the copy's Opus packets differ from the original's:\n%.60s...\n%.60s...",
			 pb, pa);
}

/* Cut off mid-cluster (a power failure), finished by the Matroska repair:
 * the copy plays to the repaired original's last frame. */
static void test_cut_copy(void **state)
{
	(void)state;
	need_recording();
	unsigned char *b;
	size_t len;
	assert_int_equal(mt_read_file(mt_path(dir, "rec.mkv"), &b, &len), 0);
	char cut[4200], cutw[4200]; /* mt_path's buffers are reused */
	snprintf(cut, sizeof(cut), "%s", mt_path(dir, "cut.mkv"));
	snprintf(cutw, sizeof(cutw), "%s", mt_path(dir, "cut.webm"));
	assert_int_equal(mt_write_file(cut, b, len * 6 / 10), 0);
	free(b);
	struct dr_mkv_repair_result rr;
	assert_int_equal(dr_mkv_repair(cut, &rr), 0);
	assert_false(rr.was_complete);
	char why[256];
	assert_int_equal(adm_webcopy(cut, cutw, why, sizeof(why)), 0);
	assert_clean(cutw);
	assert_webm(cutw);
	struct decoded a, c;
	avt_decode(dir, "cut.mkv", W, H, &a);
	avt_decode(dir, "cut.webm", W, H, &c);
	assert_true(a.frames > FPS);
	assert_int_equal(c.frames, a.frames);
	assert_int_equal(c.counter[c.frames - 1], a.counter[a.frames - 1]);
	printf("cut: last frame at %.3f s (original), %.3f s (copy); last block %lld ms\n",
	       a.t[a.frames - 1], c.t[c.frames - 1], (long long)rr.last_ts_ms);
	for (size_t i = 0; i < a.frames; i++)
		if (fabs(c.t[i] - a.t[i]) > 0.0015)
			fail_msg("cut: frame %zu at %.4f s in the copy, %.4f s in the original", i,
				 c.t[i], a.t[i]);
	double d0 = media_end(cut), d1 = media_end(cutw);
	if (fabs(d0 - d1) > 0.060)
		fail_msg("the cut copy lasts %.3f s, the repaired original %.3f s", d1, d0);
	avt_decoded_free(&a);
	avt_decoded_free(&c);
}

/* A sealed video the box cut off (a power failure; the box repaired its
 * sealed file, as it does before exporting it) opens with `dr-test-org
 * open` (the office PC's way: the Matroska repair, not the Ogg one) into a
 * file ffprobe passes, whose browser copy plays too. */
static void test_open_cut_sealed_video(void **state)
{
	(void)state;
	need_recording();
	unsigned char *b;
	size_t len;
	assert_int_equal(mt_read_file(mt_path(dir, "rec.mkv.sealed"), &b, &len), 0);
	char sealed[4200], plain[4200], webm[4200], out[512];
	snprintf(sealed, sizeof(sealed), "%s", mt_path(dir, "cut.mkv.sealed"));
	snprintf(plain, sizeof(plain), "%s", mt_path(dir, "opened.mkv"));
	snprintf(webm, sizeof(webm), "%s", mt_path(dir, "opened.webm"));
	assert_int_equal(mt_write_file(sealed, b, len / 2 + 77), 0);
	free(b);
	struct dr_seal_scan sc;
	assert_int_equal(dr_seal_repair(sealed, &sc), 0);
	assert_false(sc.final);
	int st = mt_run(out, sizeof(out), "'%s' open '%s' '%s' '%s' 2>&1", DR_TEST_ORG,
			mt_path(dir, "org"), sealed, plain);
	if (st)
		fail_msg("dr-test-org open: %d %s", st, out);
	assert_string_equal(out, "cut " ID "\n");
	assert_clean(plain);
	char why[256];
	assert_int_equal(adm_webcopy(plain, webm, why, sizeof(why)), 0);
	assert_clean(webm);
	struct decoded d;
	avt_decode(dir, "opened.webm", W, H, &d);
	assert_true(d.frames > FPS);
	avt_counter_gaps(&d);
	avt_decoded_free(&d);
}

static int fd_write(void *u, const unsigned char *b, size_t n)
{
	return write((int)(intptr_t)u, b, n) == (ssize_t)n ? 0 : -EIO;
}

static int fd_sync(void *u)
{
	return fsync((int)(intptr_t)u) == 0 ? 0 : -errno;
}

static int fd_close(void *u)
{
	return close((int)(intptr_t)u) == 0 ? 0 : -errno;
}

static const struct dr_sink_ops fd_ops = {fd_write, fd_sync, fd_close, NULL};

/* `diaryroom-admin open` on a sealed video cut in the middle of a cluster
 * (its messages here are 20,000-byte slices of the Matroska file, so the
 * last intact message ends inside a cluster): it opens, says it finished a
 * cut recording, and the Matroska repair leaves a file ffprobe passes and
 * a whole number of clusters. */
static void test_admin_open_cut_video(void **state)
{
	(void)state;
	need_recording();
	char org[4200], sealed[4200], plain[4200], out[2048];
	snprintf(org, sizeof(org), "%s", mt_path(dir, "adminorg"));
	snprintf(sealed, sizeof(sealed), "%s", mt_path(dir, ID ".mkv.sealed"));
	snprintf(plain, sizeof(plain), "%s", mt_path(dir, "admin-opened.mkv"));
	int st = mt_run(out, sizeof(out),
			"DIARYROOM_PASSPHRASE='a long passphrase for tests' '%s' init-org --org '%s' "
			"--kdf interactive 2>&1",
			DR_ADMIN, org);
	if (st)
		fail_msg("init-org: %d %s", st, out);
	unsigned char *pk, *b;
	size_t pklen, len;
	char pub[4300];
	snprintf(pub, sizeof(pub), "%s/org.pub", org);
	assert_int_equal(mt_read_file(pub, &pk, &pklen), 0);
	assert_int_equal(pklen, 32);
	assert_int_equal(mt_read_file(mt_path(dir, "rec.mkv"), &b, &len), 0);
	int fd = open(sealed, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	struct dr_seal_key *key;
	struct dr_sink s;
	assert_int_equal(dr_seal_key_new(&key), 0);
	assert_int_equal(dr_seal_sink_new((struct dr_sink){&fd_ops, (void *)(intptr_t)fd}, ID, pk,
					  key, &s),
			 0);
	/* 60 % of the recording, in slices */
	for (size_t off = 0; off < len * 6 / 10; off += 20000) {
		size_t n = len * 6 / 10 - off < 20000 ? len * 6 / 10 - off : 20000;
		assert_int_equal(s.ops->write(s.user, b + off, n), 0);
		assert_int_equal(s.ops->sync(s.user), 0);
	}
	free(b);
	free(pk);
	dr_seal_key_free(key);
	/* its FINAL message cut short, as a power cut leaves it */
	assert_int_equal(s.ops->close(s.user), 0);
	struct stat sst;
	assert_int_equal(stat(sealed, &sst), 0);
	assert_int_equal(truncate(sealed, sst.st_size - 5), 0);
	struct dr_seal_scan sc;
	assert_int_equal(dr_seal_repair(sealed, &sc), 0);
	assert_false(sc.final);
	st = mt_run(out, sizeof(out),
		    "DIARYROOM_PASSPHRASE='a long passphrase for tests' '%s' open --org '%s' '%s' "
		    "'%s' 2>&1",
		    DR_ADMIN, org, sealed, plain);
	if (st)
		fail_msg("diaryroom-admin open: %d %s", st, out);
	assert_non_null(strstr(out, "it was cut off by a power failure: its end was finished"));
	assert_clean(plain);
	struct decoded d;
	avt_decode(dir, "admin-opened.mkv", W, H, &d);
	assert_true(d.frames > FPS);
	avt_counter_gaps(&d);
	avt_decoded_free(&d);
}

/* What is not a recording of the box's kind, or not a regular file, is
 * refused with a reason, and nothing is left behind. */
static void test_refused(void **state)
{
	(void)state;
	char why[256];
	struct stat st;
	const char *junk = mt_path(dir, "junk.mkv");
	assert_int_equal(mt_write_file(junk, "OggS not a matroska file at all", 31), 0);
	assert_int_equal(adm_webcopy(junk, mt_path(dir, "junk.webm"), why, sizeof(why)), -EBADMSG);
	assert_true(why[0]);
	assert_int_equal(stat(mt_path(dir, "junk.webm"), &st), -1);
	assert_int_equal(stat(mt_path(dir, "junk.webm.tmp"), &st), -1);
	assert_int_equal(mkfifo(mt_path(dir, "fifo.mkv"), 0600), 0);
	assert_int_equal(adm_webcopy(mt_path(dir, "fifo.mkv"), mt_path(dir, "fifo.webm"), why,
				     sizeof(why)),
			 -EBADMSG);
	assert_int_equal(symlink("junk.mkv", mt_path(dir, "link.mkv")), 0);
	assert_true(adm_webcopy(mt_path(dir, "link.mkv"), mt_path(dir, "link.webm"), why,
				sizeof(why)) < 0);
	assert_int_equal(stat(mt_path(dir, "link.webm"), &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_browser_copy),
		cmocka_unit_test(test_cut_copy),
		cmocka_unit_test(test_open_cut_sealed_video),
		cmocka_unit_test(test_admin_open_cut_video),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
