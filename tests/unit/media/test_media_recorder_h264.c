/* SPDX-License-Identifier: MIT */
/*
 * The recorder with a camera that gives H.264 (the simulated camera in
 * H.264, paced, 320x240 at 15 fps), passed through into Matroska:
 *
 * - the storage stalls for 2 s with a small video budget: frames that
 *   did not fit are dropped and counted, the P frames after them (which
 *   refer to a lost frame) are dropped and counted too until the key frame
 *   the camera was asked for, so every gap in the picture is counted, the
 *   picture after a gap starts on a key frame and decodes without an error,
 *   and no sample of sound is lost;
 * - a camera that never sends its parameter sets: after the bounded wait
 *   the file is the sound alone (one track, valid), the result says why
 *   (-ETIMEDOUT), no sound lost;
 * - a camera whose SPS changes mid-stream: the picture ends there
 *   (-EPROTO), the sound carries on to the stop, the file is valid.
 *
 * Real time, about 12 s: label "video".
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "dev/audio.h"
#include "dev/camera.h"
#include "media/recorder.h"
#include "av_check.h"
#include "media_test.h"

#define RATE 48000
#define W 320
#define H 240
#define FPS 15
#define ID "0123456789abcdef0123456789abcdef"

static char *dir;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t t)
{
	struct timespec ts = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
		;
}

/* A file sink that stops once for stall_ns at stall_at_ns. */
struct stall {
	struct dr_sink inner;
	uint64_t stall_at_ns, stall_ns;
	bool stalled;
};

static int st_write(void *u, const unsigned char *b, size_t n)
{
	struct stall *s = u;
	if (s->stall_ns && !s->stalled && mono_ns() >= s->stall_at_ns) {
		s->stalled = true;
		sleep_until_ns(mono_ns() + s->stall_ns);
	}
	return s->inner.ops->write(s->inner.user, b, n);
}

static int st_sync(void *u)
{
	struct stall *s = u;
	return s->inner.ops->sync(s->inner.user);
}

static int st_close(void *u)
{
	struct stall *s = u;
	return s->inner.ops->close(s->inner.user);
}

static const struct dr_sink_ops st_ops = {.write = st_write, .sync = st_sync, .close = st_close};

struct run {
	struct dr_recording_result res;
	double wall;
	struct stall st;
};

/* Records secs of a 440 Hz tone and the H.264 camera into name.mkv. */
static void record(const char *name, double secs, size_t budget, enum dr_camera_sim_fault fault,
		   uint64_t fault_from, uint64_t stall_at_ms, uint64_t stall_ms, struct run *run)
{
	memset(run, 0, sizeof(*run));
	char wav[64], mkv[64];
	snprintf(wav, sizeof(wav), "%s.wav", name);
	snprintf(mkv, sizeof(mkv), "%s.mkv", name);
	size_t n = (size_t)(secs + 3) * RATE;
	int16_t *s = malloc(n * sizeof(int16_t));
	for (size_t i = 0; i < n; i++)
		s[i] = (int16_t)(8000 * sin(2 * M_PI * 440.0 * (double)i / RATE));
	assert_int_equal(mt_write_wav(mt_path(dir, wav), s, n, RATE, 1), 0);
	free(s);
	uint64_t t0;
	struct dr_capture *cap = NULL;
	char err[256];
	if (dr_capture_open_wav_live(mt_path(dir, wav), 10, &t0, &cap, err, sizeof(err)))
		fail_msg("%s", err);
	struct dr_camera_settings cs;
	memset(&cs, 0, sizeof(cs));
	cs.backend = DR_CAMERA_SIM;
	cs.width = W;
	cs.height = H;
	cs.fps = FPS;
	cs.format = DR_PIX_H264;
	struct dr_camera *cam = NULL;
	if (dr_camera_open_sim(&cs, true, &cam, err, sizeof(err)))
		fail_msg("%s", err);
	if (fault)
		assert_int_equal(dr_camera_sim_h264_fault(cam, fault, fault_from), 0);
	struct dr_recorder_params p;
	dr_recorder_params_default(&p);
	p.camera = cam;
	if (budget)
		p.video_budget = budget;
	struct dr_recorder *r = NULL;
	assert_int_equal(dr_recorder_new(cap, &p, &r), 0);
	struct dr_sink file;
	assert_int_equal(dr_file_sink_open(mt_path(dir, mkv), NULL, &file), 0);
	run->st.inner = file;
	sleep_until_ns(t0 + 200000000u);
	uint64_t start = mono_ns();
	if (stall_ms) {
		run->st.stall_at_ns = start + stall_at_ms * 1000000u;
		run->st.stall_ns = stall_ms * 1000000u;
	}
	assert_int_equal(dr_recorder_start(r, (struct dr_sink){&st_ops, &run->st}, ID, NULL), 0);
	sleep_until_ns(start + (uint64_t)(secs * 1e9));
	uint64_t stop = mono_ns();
	assert_int_equal(dr_recorder_stop(r), 0);
	for (;;) {
		struct pollfd pfd = {.fd = dr_recorder_fd(r), .events = POLLIN};
		assert_true(poll(&pfd, 1, 30000) == 1);
		int e = dr_recorder_collect(r, &run->res);
		if (e != -EAGAIN) {
			assert_int_equal(e, 0);
			break;
		}
	}
	run->wall = (double)(stop - start) / 1e9;
	dr_recorder_free(r);
	dr_camera_free(cam);
	dr_capture_free(cap);
}

static bool have_tools(void)
{
	if (mt_have_tool("mkvinfo") && mt_have_tool("ffprobe") && mt_have_tool("ffmpeg"))
		return true;
	printf("mkvinfo/ffprobe/ffmpeg missing: tools/install-deps installs them\n");
	return false;
}

/* The whole sound, none lost. */
static void assert_sound_whole(const struct run *run)
{
	assert_int_equal(run->res.status, 0);
	assert_int_equal(run->res.lost, 0);
	if (fabs((double)run->res.samples / RATE - run->wall) > 0.1)
		fail_msg("%.3f s of sound for %.3f s", (double)run->res.samples / RATE, run->wall);
}

/* ffprobe's key flag of each video packet, in order: 'K' or '_'. */
static size_t key_flags(const char *mkv, char *flags, size_t max)
{
	char out[65536];
	int st = mt_run(out, sizeof(out),
			"ffprobe -v error -select_streams v -show_entries packet=flags -of csv=p=0 '%s' 2>&1",
			mt_path(dir, mkv));
	assert_int_equal(st, 0);
	size_t n = 0;
	for (char *l = strtok(out, "\n"); l && n < max; l = strtok(NULL, "\n"))
		flags[n++] = l[0];
	return n;
}

static void test_stall_drops_to_key(void **state)
{
	(void)state;
	if (!have_tools())
		skip();
	struct run run;
	/* 12 KiB of queue: under 2 s of the pattern's picture */
	record("stall", 4.5, 12 * 1024, DR_SIM_H264_OK, 0, 1000, 2000, &run);
	assert_sound_whole(&run);
	const struct dr_recording_result *res = &run.res;
	printf("frames %llu, dropped %llu, camera gaps %llu\n", (unsigned long long)res->video_frames,
	       (unsigned long long)res->video_dropped, (unsigned long long)res->video_gaps);
	assert_true(res->video && !res->camera_lost);
	assert_true(res->video_dropped >= 5);
	avt_assert_tools_clean(mt_path(dir, "stall.mkv"));
	char out[4096];
	/* every picture decodes: none refers to a frame that was dropped */
	assert_int_equal(mt_run(out, sizeof(out), "ffmpeg -nostdin -v error -i '%s' -f null - 2>&1",
				mt_path(dir, "stall.mkv")), 0);
	if (out[0])
		fail_msg("the decoder complains: %s", out);
	struct decoded d;
	avt_decode(dir, "stall.mkv", W, H, &d);
	assert_int_equal(d.frames, res->video_frames);
	assert_int_equal(avt_counter_gaps(&d), res->video_dropped + res->video_gaps);
	char flags[1024];
	assert_int_equal(key_flags("stall.mkv", flags, sizeof(flags)), d.frames);
	assert_int_equal(flags[0], 'K');
	size_t gaps = 0;
	for (size_t i = 1; i < d.frames; i++) {
		if (d.counter[i] != d.counter[i - 1] + 1) {
			/* the picture comes back within a few frames of the storage
			 * (at 3 s, frame 45; by 3.7 s): the camera was asked for a key frame,
			 * its own next one is 2 s after the last (frame 60 or later) */
			printf("gap: %u to %u\n", d.counter[i - 1], d.counter[i]);
			if (d.counter[i] > 56)
				fail_msg("the picture came back at frame %u, 45 is the stall's end", d.counter[i]);
			gaps++;
			if (flags[i] != 'K')
				fail_msg("frame %zu (counter %u) after a gap is not a key frame", i, d.counter[i]);
		}
	}
	assert_true(gaps >= 1);
	avt_decoded_free(&d);
}

static void test_no_key_frame(void **state)
{
	(void)state;
	if (!have_tools())
		skip();
	struct run run;
	record("nosets", 3.5, 0, DR_SIM_H264_NO_SETS, 0, 0, 0, &run);
	assert_sound_whole(&run);
	assert_true(run.res.video);
	assert_true(run.res.camera_lost);
	assert_int_equal(run.res.camera_err, -ETIMEDOUT);
	assert_int_equal(run.res.video_frames, 0);
	avt_assert_tools_clean(mt_path(dir, "nosets.mkv"));
	char out[4096];
	assert_int_equal(mt_run(out, sizeof(out),
				"ffprobe -v error -show_entries stream=codec_type -of csv=p=0 '%s' 2>&1",
				mt_path(dir, "nosets.mkv")),
			 0);
	assert_string_equal(out, "audio\n"); /* the sound alone, no broken video track */
	assert_int_equal(mt_run(out, sizeof(out),
				"ffmpeg -nostdin -v error -i '%s' -f s16le -ac 1 -ar 48000 - | wc -c",
				mt_path(dir, "nosets.mkv")),
			 0);
	assert_int_equal(strtoull(out, NULL, 10) / 2, run.res.samples); /* every sample in the file */
}

static void test_sps_change(void **state)
{
	(void)state;
	if (!have_tools())
		skip();
	struct run run;
	record("newsps", 2.5, 0, DR_SIM_H264_NEW_SPS, 22, 0, 0, &run);
	assert_sound_whole(&run);
	assert_true(run.res.video && run.res.camera_lost);
	assert_int_equal(run.res.camera_err, -EPROTO);
	avt_assert_tools_clean(mt_path(dir, "newsps.mkv"));
	struct decoded d;
	avt_decode(dir, "newsps.mkv", W, H, &d);
	assert_int_equal(d.frames, run.res.video_frames);
	assert_true(d.frames >= 15);
	/* the picture ends before the frame whose SPS changed (22: 1.47 s) */
	assert_true(d.counter[d.frames - 1] < 22);
	assert_int_equal(d.n, run.res.samples);
	avt_decoded_free(&d);
}

static int setup(void **state)
{
	(void)state;
	dir = mt_tmpdir("rech264");
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mt_rmtree(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stall_drops_to_key),
		cmocka_unit_test(test_no_key_frame),
		cmocka_unit_test(test_sps_change),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
