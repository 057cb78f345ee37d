/* SPDX-License-Identifier: MIT */
/* dr_playback: the WAV backend's real-time timeline (gaps become silence),
 * its always-valid header, stop() cancelling, the queue limit, and the ALSA
 * backend through ALSA's "file" plugin (what is played lands in a file). */
#include <alsa/asoundlib.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <cmocka.h>

#include "alsa_test.h"
#include "dev/audio.h"
#include "media/wav.h"
#include "util/conf.h"

static char g_dir[512];

static int16_t *tone(size_t n, int16_t base)
{
	int16_t *s = malloc(n * sizeof(*s));

	for (size_t i = 0; i < n; i++)
		s[i] = (int16_t)(base + (int16_t)(i % 100)); /* never 0 */
	return s;
}

/* Waits (up to timeout_ms) for the next finished request. */
static void wait_done(struct dr_playback *p, struct dr_playback_done *d, int timeout_ms)
{
	struct pollfd pfd = {.fd = dr_playback_fd(p), .events = POLLIN};
	uint64_t end = dt_now_us() + (uint64_t)timeout_ms * 1000u;

	while (dr_playback_collect(p, d) == -EAGAIN) {
		if (dt_now_us() > end)
			fail_msg("no playback done within %d ms", timeout_ms);
		poll(&pfd, 1, 50);
	}
}

static int16_t *read_wav(const char *path, size_t *frames)
{
	struct dr_wav_reader *r = NULL;
	int16_t *s;
	long got;

	assert_int_equal(dr_wav_reader_open(path, &r), 0);
	assert_int_equal(dr_wav_reader_info(r)->rate, 48000);
	assert_int_equal(dr_wav_reader_info(r)->channels, 1);
	*frames = dr_wav_reader_info(r)->frames;
	s = malloc((*frames + 1) * sizeof(*s));
	got = dr_wav_reader_read_mono(r, s, *frames);
	assert_int_equal(got, (long)*frames);
	dr_wav_reader_free(r);
	return s;
}

static void test_wav_timeline_and_header(void **state)
{
	const size_t na = 9600, nb = 4800; /* 200 ms, 100 ms */
	int16_t *a = tone(na, 1000), *b = tone(nb, 5000), *s;
	struct dr_playback_done da, db;
	struct dr_playback *p = NULL;
	char path[600], err[256] = "";
	size_t frames, a0, a1, b0;
	double gap_wav_ms, gap_clock_ms;

	(void)state;
	snprintf(path, sizeof(path), "%s/speaker.wav", g_dir);
	assert_int_equal(dr_playback_open_wav(path, &p, err, sizeof(err)), 0);
	assert_int_equal(dr_playback_play(p, a, na, 11), 0);
	wait_done(p, &da, 5000);
	assert_int_equal(da.token, 11);
	assert_int_equal(da.status, 0);
	/* Paced: the done time is when the last sample would have played. */
	assert_true(da.ended_us - da.started_us >= 195000u);
	assert_true(dt_now_us() >= da.ended_us);

	/* The file is readable while the device is open: header up to date. */
	s = read_wav(path, &frames);
	assert_true(frames >= na);
	free(s);

	dt_sleep_ms(300);
	assert_int_equal(dr_playback_play(p, b, nb, 12), 0);
	wait_done(p, &db, 5000);
	assert_int_equal(db.token, 12);
	assert_int_equal(db.status, 0);
	dr_playback_free(p);

	s = read_wav(path, &frames);
	for (a0 = 0; a0 < frames && s[a0] != a[0]; a0++)
		;
	assert_true(a0 < frames);
	for (size_t i = 0; i < na; i++)
		assert_int_equal(s[a0 + i], a[i]);
	a1 = a0 + na;
	for (b0 = a1; b0 < frames && s[b0] == 0; b0++)
		;
	assert_true(b0 + nb <= frames);
	assert_memory_equal(s + b0, b, nb * sizeof(*b));
	assert_int_equal(frames, b0 + nb); /* it ends with the last prompt */
	/* The gap is silence of about the time that passed (lower bound), and
	 * matches the clock times the device reported. */
	gap_wav_ms = (double)(b0 - a1) / 48.0;
	gap_clock_ms = (double)(db.started_us - da.ended_us) / 1000.0;
	assert_true(gap_wav_ms >= 290.0);
	assert_true(gap_wav_ms - gap_clock_ms < 2.0 && gap_clock_ms - gap_wav_ms < 2.0);
	free(s);
	free(a);
	free(b);
}

static void test_stop_cancels_everything(void **state)
{
	const size_t n = 96000; /* 2 s */
	int16_t *a = tone(n, 300);
	struct dr_playback_done d[3];
	struct dr_playback *p = NULL;
	char path[600], err[256] = "";
	size_t frames;
	int16_t *s;

	(void)state;
	snprintf(path, sizeof(path), "%s/cancel.wav", g_dir);
	assert_int_equal(dr_playback_open_wav(path, &p, err, sizeof(err)), 0);
	assert_int_equal(dr_playback_play(p, a, n, 1), 0);
	assert_int_equal(dr_playback_play(p, a, n, 2), 0);
	assert_int_equal(dr_playback_play(p, a, n, 3), 0);
	dt_sleep_ms(150);
	assert_int_equal(dr_playback_stop(p), 0);
	for (int i = 0; i < 3; i++) {
		wait_done(p, &d[i], 10000);
		assert_int_equal(d[i].status, -ECANCELED);
	}
	/* Each reported exactly once, whatever the order. */
	assert_int_equal(d[0].token + d[1].token + d[2].token, 6);
	assert_true(d[0].token != d[1].token && d[1].token != d[2].token && d[0].token != d[2].token);
	assert_int_equal(dr_playback_collect(p, &d[0]), -EAGAIN);
	/* Playing again after a stop works. */
	assert_int_equal(dr_playback_play(p, a, 480, 4), 0);
	wait_done(p, &d[0], 5000);
	assert_int_equal(d[0].token, 4);
	assert_int_equal(d[0].status, 0);
	dr_playback_free(p);
	/* Far less than the 6 s queued went out. */
	s = read_wav(path, &frames);
	assert_true(frames < 48000u * 3 / 2);
	free(s);
	free(a);
}

static void test_queue_limit(void **state)
{
	int16_t *a = tone(48000, 300);
	struct dr_playback *p = NULL;
	struct dr_playback_done d;
	char path[600], err[256] = "";
	int accepted = 0, r;

	(void)state;
	snprintf(path, sizeof(path), "%s/queue.wav", g_dir);
	assert_int_equal(dr_playback_open_wav(path, &p, err, sizeof(err)), 0);
	for (int i = 0; i < 12; i++) {
		r = dr_playback_play(p, a, 48000, (uint32_t)i);
		if (r == 0)
			accepted++;
		else
			assert_int_equal(r, -EAGAIN);
	}
	/* 8 queued, plus possibly one the worker already took. */
	assert_true(accepted >= 8 && accepted <= 9);
	assert_int_equal(dr_playback_stop(p), 0);
	for (int i = 0; i < accepted; i++) {
		wait_done(p, &d, 5000);
		assert_int_equal(d.status, -ECANCELED);
	}
	dr_playback_free(p);
	/* Freeing with requests still queued does not hang or leak. */
	assert_int_equal(dr_playback_open_wav(path, &p, err, sizeof(err)), 0);
	assert_int_equal(dr_playback_play(p, a, 48000, 1), 0);
	assert_int_equal(dr_playback_play(p, a, 48000, 2), 0);
	dr_playback_free(p);
	dr_playback_free(NULL);
	free(a);
}

static void test_alsa_file_plugin_playback(void **state)
{
	const size_t na = 4800, nb = 2000;
	int16_t *a = tone(na, 1200), *b = tone(nb, 7000);
	struct dr_playback *p = NULL;
	struct dr_playback_done d;
	char path[600], err[256] = "";
	size_t len, frames;
	int16_t *s;

	(void)state;
	assert_int_equal(dr_playback_open_alsa("drtestspk", &p, err, sizeof(err)), 0);
	assert_int_equal(dr_playback_play(p, a, na, 21), 0);
	assert_int_equal(dr_playback_play(p, b, nb, 22), 0);
	wait_done(p, &d, 5000);
	assert_int_equal(d.token, 21);
	assert_int_equal(d.status, 0);
	assert_true(d.ended_us >= d.started_us);
	wait_done(p, &d, 5000);
	assert_int_equal(d.token, 22);
	assert_int_equal(d.status, 0);
	dr_playback_free(p);

	snprintf(path, sizeof(path), "%s/speaker.raw", g_dir);
	s = (int16_t *)dt_read(path, &len);
	assert_non_null(s);
	frames = len / sizeof(*s);
	/* Both prompts, in order, each exactly; anything else is silence
	 * (ALSA may pad a period). */
	assert_true(frames >= na + nb);
	assert_memory_equal(s, a, na * sizeof(*a));
	{
		size_t b0 = na;

		while (b0 < frames && s[b0] == 0)
			b0++;
		assert_true(b0 + nb <= frames);
		assert_memory_equal(s + b0, b, nb * sizeof(*b));
		for (size_t i = b0 + nb; i < frames; i++)
			assert_int_equal(s[i], 0);
	}
	free(s);
	free(a);
	free(b);
}

static void test_alsa_missing_device(void **state)
{
	struct dr_playback *p = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(dr_playback_open_alsa("dr_no_such_pcm", &p, err, sizeof(err)), -ENODEV);
	assert_null(p);
	assert_non_null(strstr(err, "dr_no_such_pcm"));
}

static void test_board_file(void **state)
{
	struct dr_playback *p = NULL;
	struct dr_conf *c = NULL;
	char err[512] = "", path[600];
	const char *t1 = "[audio]\nplayback = wav\nplayback_file = board-speaker.wav\n";
	const char *t2 = "[audio]\nplayback = hdmi\n";

	(void)state;
	assert_int_equal(dr_conf_parse("board.conf", t1, strlen(t1), &c, err, sizeof(err)), 0);
	assert_int_equal(dr_playback_open(c, g_dir, &p, err, sizeof(err)), 0);
	dr_playback_free(p);
	dr_conf_free(c);
	snprintf(path, sizeof(path), "%s/board-speaker.wav", g_dir);
	/* The relative name was resolved against the board folder. */
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(dr_conf_parse("board.conf", t2, strlen(t2), &c, err, sizeof(err)), 0);
	assert_int_equal(dr_playback_open(c, g_dir, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[audio] playback = hdmi: must be alsa or wav"));
	assert_null(p);
	dr_conf_free(c);
}

/* ---- sources: a sound made as it plays (a prompt decoded chunk by chunk) ---- */

struct tsrc {
	const int16_t *s;
	size_t n, pos;
	size_t step;   /* at most this much per read (varied) */
	size_t fail_at; /* read fails (-EIO) once pos reaches this; 0: never */
	int closed;
};

static long tsrc_read(void *user, int16_t *buf, size_t max)
{
	struct tsrc *t = user;
	size_t k = t->step + t->pos % 777; /* uneven chunks */

	if (t->fail_at && t->pos >= t->fail_at)
		return -EIO;
	if (k > max)
		k = max;
	if (k > t->n - t->pos)
		k = t->n - t->pos;
	memcpy(buf, t->s + t->pos, k * sizeof(*buf));
	t->pos += k;
	return (long)k;
}

static void tsrc_close(void *user)
{
	((struct tsrc *)user)->closed++;
}

static struct dr_pcm_source tsrc_of(struct tsrc *t)
{
	return (struct dr_pcm_source){tsrc_read, tsrc_close, t};
}

/* A source comes out as one sound: every sample, in order, with nothing
 * between its chunks, reported done once; the source is closed once. */
static void check_source_gapless(struct dr_playback *p, const char *raw_or_wav, bool wav)
{
	const size_t n = 30011;
	int16_t *a = tone(n, 900), *s;
	struct tsrc t = {.s = a, .n = n, .step = 1000};
	struct dr_playback_done d;
	size_t frames, a0, len = 0;

	assert_int_equal(dr_playback_play_source(p, tsrc_of(&t), 31), 0);
	wait_done(p, &d, 5000);
	assert_int_equal(d.token, 31);
	assert_int_equal(d.status, 0);
	/* Paced as one sound: about 625 ms from its first sample to its last. */
	if (wav)
		assert_true(d.ended_us - d.started_us >= 620000u);
	assert_int_equal(dr_playback_collect(p, &d), -EAGAIN);
	assert_int_equal(t.closed, 1);
	dr_playback_free(p);
	if (wav) {
		s = read_wav(raw_or_wav, &frames);
	} else {
		s = (int16_t *)dt_read(raw_or_wav, &len);
		assert_non_null(s);
		frames = len / sizeof(*s);
	}
	for (a0 = 0; a0 < frames && s[a0] != a[0]; a0++)
		;
	assert_true(a0 + n <= frames);
	assert_memory_equal(s + a0, a, n * sizeof(*a));
	free(s);
	free(a);
}

static void test_source_wav_gapless(void **state)
{
	struct dr_playback *p = NULL;
	char path[600], err[256] = "";

	(void)state;
	snprintf(path, sizeof(path), "%s/source.wav", g_dir);
	assert_int_equal(dr_playback_open_wav(path, &p, err, sizeof(err)), 0);
	check_source_gapless(p, path, true);
}

static void test_source_alsa_gapless(void **state)
{
	struct dr_playback *p = NULL;
	char path[600], err[256] = "";

	(void)state;
	snprintf(path, sizeof(path), "%s/speaker.raw", g_dir);
	unlink(path);
	assert_int_equal(dr_playback_open_alsa("drtestspk", &p, err, sizeof(err)), 0);
	check_source_gapless(p, path, false);
}

/* Stopped while it plays, stopped while queued, failing half-way, refused,
 * or left queued at free: each source is closed exactly once, and each
 * request reported once. */
static void test_source_stop_fail_free(void **state)
{
	const size_t n = 96000; /* 2 s */
	int16_t *a = tone(n, 300);
	struct tsrc t1 = {.s = a, .n = n, .step = 4800}, t2 = t1, t3 = t1, t4 = t1, t5 = t1;
	struct dr_playback_done d[2];
	struct dr_playback *p = NULL;
	char path[600], err[256] = "";

	(void)state;
	snprintf(path, sizeof(path), "%s/source-stop.wav", g_dir);
	assert_int_equal(dr_playback_open_wav(path, &p, err, sizeof(err)), 0);
	assert_int_equal(dr_playback_play_source(p, tsrc_of(&t1), 1), 0);
	assert_int_equal(dr_playback_play_source(p, tsrc_of(&t2), 2), 0);
	dt_sleep_ms(250);
	assert_int_equal(dr_playback_stop(p), 0);
	wait_done(p, &d[0], 5000);
	wait_done(p, &d[1], 5000);
	assert_int_equal(d[0].status, -ECANCELED);
	assert_int_equal(d[1].status, -ECANCELED);
	assert_int_equal(d[0].token + d[1].token, 3);
	assert_true(t1.pos < n); /* it stopped reading */
	assert_int_equal(t1.closed, 1);
	assert_int_equal(t2.closed, 1);
	assert_int_equal(t2.pos, 0);

	/* A source that fails after 0.3 s: its error is the request's. */
	t3.fail_at = 14400;
	assert_int_equal(dr_playback_play_source(p, tsrc_of(&t3), 3), 0);
	wait_done(p, &d[0], 5000);
	assert_int_equal(d[0].token, 3);
	assert_int_equal(d[0].status, -EIO);
	assert_int_equal(t3.closed, 1);

	/* Refused (no read function): closed at once. */
	assert_int_equal(dr_playback_play_source(p, (struct dr_pcm_source){NULL, tsrc_close, &t4}, 4),
			 -EINVAL);
	assert_int_equal(t4.closed, 1);

	/* Freed while one plays and one waits. */
	t4 = t1;
	t4.closed = t4.pos = 0;
	assert_int_equal(dr_playback_play_source(p, tsrc_of(&t4), 5), 0);
	assert_int_equal(dr_playback_play_source(p, tsrc_of(&t5), 6), 0);
	dt_sleep_ms(50);
	dr_playback_free(p);
	assert_int_equal(t4.closed, 1);
	assert_int_equal(t5.closed, 1);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wav_timeline_and_header),
		cmocka_unit_test(test_stop_cancels_everything),
		cmocka_unit_test(test_queue_limit),
		cmocka_unit_test(test_alsa_file_plugin_playback),
		cmocka_unit_test(test_alsa_missing_device),
		cmocka_unit_test(test_board_file),
		cmocka_unit_test(test_source_wav_gapless),
		cmocka_unit_test(test_source_alsa_gapless),
		cmocka_unit_test(test_source_stop_fail_free),
	};
	int r;

	dt_mkdtemp(g_dir, sizeof(g_dir), "dev-playback");
	dt_alsa_setup(g_dir);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	snd_config_update_free_global();
	return r;
}
