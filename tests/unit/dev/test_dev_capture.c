/* SPDX-License-Identifier: MIT */
/* dr_capture: the WAV backend (samples, silence after the end, rewind on
 * start, real-time pacing) and the ALSA backend through ALSA's "file"
 * plugin, which captures from a raw file through the real ALSA API. */
#include <alsa/asoundlib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "alsa_test.h"
#include "dev/audio.h"
#include "media/wav.h"
#include "util/conf.h"

static char g_dir[512];

static int16_t sample_at(size_t i)
{
	return (int16_t)((int)(i * 7919u % 20000u) - 10000);
}

static void make_wav(const char *path, size_t frames, uint32_t rate)
{
	struct dr_wav_writer *w = NULL;
	int16_t *s = malloc(frames * sizeof(*s));

	for (size_t i = 0; i < frames; i++)
		s[i] = sample_at(i);
	assert_int_equal(dr_wav_writer_open(path, rate, &w), 0);
	assert_int_equal(dr_wav_writer_write(w, s, frames), 0);
	assert_int_equal(dr_wav_writer_close(w), 0);
	free(s);
}

/* Reads until `frames` were delivered or a read returns 0. */
static size_t read_n(struct dr_capture *c, int16_t *buf, size_t frames, size_t chunk)
{
	size_t got = 0;
	ssize_t r;

	while (got < frames) {
		r = dr_capture_read(c, buf + got, frames - got < chunk ? frames - got : chunk);
		assert_true(r >= 0);
		assert_true((size_t)r <= chunk);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static void test_wav_unpaced_samples_end_and_rewind(void **state)
{
	const size_t n = 3 * 4800 + 123;
	char path[600], err[256] = "";
	struct dr_capture *c = NULL;
	int16_t *buf = calloc(n + 1000, sizeof(*buf));

	(void)state;
	snprintf(path, sizeof(path), "%s/mic1.wav", g_dir);
	make_wav(path, n, 48000);
	assert_int_equal(dr_capture_open_wav(path, false, 10, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(dr_capture_name(c), "mic1.wav"));
	for (int round = 0; round < 2; round++) {
		/* Each start begins the file again. */
		assert_int_equal(dr_capture_start(c), 0);
		memset(buf, 0x55, (n + 1000) * sizeof(*buf));
		assert_int_equal(read_n(c, buf, n + 1000, 1000), n);
		for (size_t i = 0; i < n; i++)
			if (buf[i] != sample_at(i))
				fail_msg("round %d: sample %zu is %d, want %d", round, i, buf[i], sample_at(i));
		assert_int_equal(dr_capture_read(c, buf, 100), 0);
		assert_int_equal(dr_capture_stop(c), 0);
	}
	assert_int_equal(dr_capture_xruns(c), 0);
	dr_capture_free(c);
	free(buf);
}

static void test_wav_paced_is_paced_then_silence(void **state)
{
	const size_t n = 24000, total = 24000 + 4800; /* 0.5 s of file, 0.1 s after */
	char path[600], err[256] = "";
	struct dr_capture *c = NULL;
	int16_t *buf = malloc(total * sizeof(*buf));
	uint64_t t0, t1;

	(void)state;
	snprintf(path, sizeof(path), "%s/mic2.wav", g_dir);
	make_wav(path, n, 48000);
	assert_int_equal(dr_capture_open_wav(path, true, 10, &c, err, sizeof(err)), 0);
	assert_int_equal(dr_capture_start(c), 0);
	t0 = dt_now_us();
	/* Asking for more than a period at a time must not run ahead of time. */
	assert_int_equal(read_n(c, buf, n, 4096), n);
	t1 = dt_now_us();
	/* 0.5 s of audio cannot have come in less than ~0.5 s (lower bound only). */
	assert_true(t1 - t0 >= 450000u);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf[i], sample_at(i));
	/* After the end: silence, still paced, never 0. */
	assert_int_equal(read_n(c, buf + n, total - n, 480), total - n);
	for (size_t i = n; i < total; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(dr_capture_stop(c), 0);
	/* Start again: the file from its beginning. */
	assert_int_equal(dr_capture_start(c), 0);
	assert_int_equal(read_n(c, buf, 960, 960), 960);
	for (size_t i = 0; i < 960; i++)
		assert_int_equal(buf[i], sample_at(i));
	dr_capture_free(c);
	free(buf);
}

static void test_wav_wrong_rate_and_missing(void **state)
{
	char path[600], err[256] = "";
	struct dr_capture *c = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/mic44.wav", g_dir);
	make_wav(path, 100, 44100);
	assert_int_equal(dr_capture_open_wav(path, true, 10, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "44100"));
	assert_null(c);
	snprintf(path, sizeof(path), "%s/none.wav", g_dir);
	assert_int_equal(dr_capture_open_wav(path, true, 10, &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "none.wav"));
}

static void test_alsa_file_plugin_capture(void **state)
{
	const size_t n = 9600;
	char path[600], err[256] = "";
	struct dr_capture *c = NULL;
	int16_t *in = malloc(n * sizeof(*in)), *got = malloc(n * sizeof(*got));

	(void)state;
	for (size_t i = 0; i < n; i++)
		in[i] = sample_at(i * 3);
	snprintf(path, sizeof(path), "%s/mic.raw", g_dir);
	dt_write(path, in, n * sizeof(*in));
	assert_int_equal(dr_capture_open_alsa("drtestmic", 10, &c, err, sizeof(err)), 0);
	assert_string_equal(dr_capture_name(c), "alsa:drtestmic");
	assert_int_equal(dr_capture_start(c), 0);
	assert_int_equal(read_n(c, got, n, 1024), n);
	assert_memory_equal(got, in, n * sizeof(*in));
	assert_int_equal(dr_capture_stop(c), 0);
	dr_capture_free(c);
	free(in);
	free(got);
}

static void test_alsa_missing_device(void **state)
{
	char err[256] = "";
	struct dr_capture *c = NULL;

	(void)state;
	assert_int_equal(dr_capture_open_alsa("dr_no_such_pcm", 10, &c, err, sizeof(err)), -ENODEV);
	assert_null(c);
	assert_non_null(strstr(err, "dr_no_such_pcm"));
}

static int open_conf(const char *text, const char *dir, struct dr_capture **c, char *err, size_t len)
{
	struct dr_conf *conf = NULL;
	int r;

	assert_int_equal(dr_conf_parse("board.conf", text, strlen(text), &conf, err, len), 0);
	r = dr_capture_open(conf, dir, c, err, len);
	dr_conf_free(conf);
	return r;
}

static void test_board_file(void **state)
{
	char path[600], err[512] = "";
	struct dr_capture *c = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/board-mic.wav", g_dir);
	make_wav(path, 480, 48000);
	/* Relative to the board folder. */
	assert_int_equal(open_conf("[audio]\ncapture = wav\ncapture_file = board-mic.wav\nperiod_ms = 20\n",
				   g_dir, &c, err, sizeof(err)),
			 0);
	assert_non_null(strstr(dr_capture_name(c), "board-mic.wav"));
	dr_capture_free(c);
	assert_int_equal(open_conf("[audio]\ncapture = alsa\ncapture_device = drtestmic\n", g_dir, &c, err,
				   sizeof(err)),
			 0);
	assert_string_equal(dr_capture_name(c), "alsa:drtestmic");
	dr_capture_free(c);
	assert_int_equal(open_conf("[audio]\ncapture = xyz\n", g_dir, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[audio] capture = xyz: must be alsa or wav"));
	assert_int_equal(open_conf("[audio]\ncapture = wav\n", g_dir, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "capture_file is missing"));
	assert_int_equal(open_conf("[audio]\ncaptrue = wav\n", g_dir, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "captrue"));
	assert_int_equal(open_conf("[audio]\nperiod_ms = 0\n", g_dir, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "period_ms"));
	assert_null(c);
	dr_capture_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wav_unpaced_samples_end_and_rewind),
		cmocka_unit_test(test_wav_paced_is_paced_then_silence),
		cmocka_unit_test(test_wav_wrong_rate_and_missing),
		cmocka_unit_test(test_alsa_file_plugin_capture),
		cmocka_unit_test(test_alsa_missing_device),
		cmocka_unit_test(test_board_file),
	};
	int r;

	dt_mkdtemp(g_dir, sizeof(g_dir), "dev-capture");
	dt_alsa_setup(g_dir);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	snd_config_update_free_global();
	return r;
}
