/* SPDX-License-Identifier: MIT */
/* dr_recorder: capture thread -> ring -> encoder thread -> durable file, with
 * the real WAV microphone backend of app/dev. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dev/audio.h"
#include "media/recorder.h"
#include "media/recover.h"
#include "media_test.h"

static char *dir;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0)
		;
}

/* A microphone file of n samples of test signal; returns the signal. */
static int16_t *make_mic(const char *name, size_t n)
{
	int16_t *s = malloc(n * sizeof(int16_t));
	mt_chirp(s, n);
	assert_int_equal(mt_write_wav(mt_path(dir, name), s, n, 48000, 1), 0);
	return s;
}

static struct dr_capture *open_mic(const char *name, bool paced)
{
	struct dr_capture *c = NULL;
	char err[256];
	int rc = dr_capture_open_wav(mt_path(dir, name), paced, 10, &c, err, sizeof(err));
	if (rc)
		fail_msg("capture: %s", err);
	return c;
}

static struct dr_sink file_sink(const char *name)
{
	struct dr_sink s;
	unlink(mt_path(dir, name));
	assert_int_equal(dr_file_sink_open(mt_path(dir, name), NULL, &s), 0);
	return s;
}

/* A sink in front of a file sink that stalls once (a slow SD card) or
 * starts failing (a full one). */
struct wrap {
	struct dr_sink inner;
	int writes;
	int stall_on_write;   /* stall this write (1-based), 0 = never */
	unsigned stall_ms;
	bool stalled;
	size_t fail_after;    /* fail once this many bytes were written */
	size_t bytes;
	int closes;
};

static int wrap_write(void *user, const unsigned char *buf, size_t len)
{
	struct wrap *w = user;
	w->writes++;
	if (w->stall_on_write && w->writes == w->stall_on_write) {
		sleep_ms(w->stall_ms);
		w->stalled = true;
	}
	if (w->fail_after && w->bytes + len > w->fail_after)
		return -ENOSPC;
	w->bytes += len;
	return w->inner.ops->write(w->inner.user, buf, len);
}

static int wrap_sync(void *user)
{
	struct wrap *w = user;
	return w->inner.ops->sync(w->inner.user);
}

static int wrap_close(void *user)
{
	struct wrap *w = user;
	w->closes++;
	return w->inner.ops->close(w->inner.user);
}

static const struct dr_sink_ops wrap_ops = {.write = wrap_write, .sync = wrap_sync, .close = wrap_close};

static struct dr_recorder *new_recorder(struct dr_capture *cap, unsigned ring_ms, int complexity)
{
	struct dr_recorder_params p;
	dr_recorder_params_default(&p);
	assert_int_equal(p.ring_ms, 16000);
	if (ring_ms)
		p.ring_ms = ring_ms;
	if (complexity >= 0)
		p.enc.complexity = complexity;
	struct dr_recorder *r = NULL;
	assert_int_equal(dr_recorder_new(cap, &p, &r), 0);
	return r;
}

static void check_file(const char *name, const int16_t *in, size_t n)
{
	uint64_t probed;
	assert_int_equal(dr_oggopus_probe(mt_path(dir, name), &probed), 0);
	assert_int_equal(probed, n);
	int16_t *d;
	size_t dn;
	assert_int_equal(mt_decode(mt_path(dir, name), &d, &dn), 0);
	assert_int_equal(dn, n);
	double c = mt_energy_corr(in, d, n, 0);
	if (c < 0.95)
		fail_msg("%s: decoded audio does not match the microphone (energy correlation %.3f)",
			 name, c);
	free(d);
}

static void test_params(void **state)
{
	(void)state;
	free(make_mic("p.wav", 4800));
	struct dr_capture *cap = open_mic("p.wav", false);
	struct dr_recorder_params p;
	dr_recorder_params_default(&p);
	struct dr_recorder *r = NULL;
	p.ring_ms = 9999; /* the brief: at least 10 s of ring */
	assert_int_equal(dr_recorder_new(cap, &p, &r), -EINVAL);
	dr_recorder_params_default(&p);
	p.enc.frame_ms = 25;
	assert_int_equal(dr_recorder_new(cap, &p, &r), -EINVAL);
	assert_null(r);
	dr_recorder_free(NULL);
	dr_capture_free(cap);
}

/* A file source far faster than real time and longer than the ring: the
 * capture thread waits for room instead of dropping, so a tool can encode
 * a whole WAV file. */
static void test_unpaced_file_every_sample(void **state)
{
	(void)state;
	const size_t N = 48000 * 12 + 321;
	int16_t *in = make_mic("long.wav", N);
	struct dr_capture *cap = open_mic("long.wav", false);
	struct dr_recorder *r = new_recorder(cap, 10000, 0);
	struct dr_recording_result res;
	assert_int_equal(dr_recorder_record_blocking(r, file_sink("long.opus"), "id-long",
						     "2024-01-01T00:00:00Z", 0, &res),
			 0);
	assert_int_equal(res.status, 0);
	assert_false(res.capture_failed);
	assert_int_equal(res.lost, 0);
	assert_int_equal(res.samples, N);
	assert_true(res.ring_high_water <= 10000 * 48);
	/* the file sink's own counters came through */
	assert_true(res.sink.bytes > 0 && res.sink.writes > 0);
	assert_true(res.sink.syncs >= N / (400 * 48));
	assert_false(dr_recorder_busy(r));
	check_file("long.opus", in, N);

	/* And again with the same recorder, stopping by itself at a limit. */
	assert_int_equal(dr_recorder_record_blocking(r, file_sink("short.opus"), NULL, NULL, 30001, &res),
			 0);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.samples, 30001);
	check_file("short.opus", in, 30001);
	dr_recorder_free(r);
	dr_capture_free(cap);
	free(in);
}

/*
 * The stall test: a real-time microphone, and a card that blocks one write
 * for 5 s in the middle of the recording. The ring takes the audio
 * meanwhile: nothing is lost and the file has every sample.
 */
static void test_stalled_sink_loses_nothing(void **state)
{
	(void)state;
	const size_t N = 48000 * 6;
	int16_t *in = make_mic("stall.wav", N);
	struct dr_capture *cap = open_mic("stall.wav", true);
	struct dr_recorder *r = new_recorder(cap, 0, -1);
	/* write 1: headers; 2: first 400 ms; 3: at 0.8 s of audio */
	struct wrap w = {.inner = file_sink("stall.opus"), .stall_on_write = 3, .stall_ms = 5000};
	struct dr_sink s = {&wrap_ops, &w};
	struct dr_recording_result res;
	assert_int_equal(dr_recorder_record_blocking(r, s, "id-stall", NULL, N, &res), 0);
	assert_true(w.stalled);
	assert_int_equal(w.closes, 1);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.lost, 0);
	assert_int_equal(res.samples, N);
	/* The stall really overlapped the capture: seconds piled up. */
	print_message("ring high water during the stall: %.2f s\n",
		      (double)res.ring_high_water / 48000);
	assert_true(res.ring_high_water >= 48000 * 4);
	check_file("stall.opus", in, N);
	dr_recorder_free(r);
	dr_capture_free(cap);
	free(in);
}

static void test_stop_is_prompt_and_async(void **state)
{
	(void)state;
	int16_t *in = make_mic("stop.wav", 48000 * 10);
	struct dr_capture *cap = open_mic("stop.wav", true);
	struct dr_recorder *r = new_recorder(cap, 0, -1);
	int fd = dr_recorder_fd(r);
	struct dr_recording_result res;
	assert_int_equal(dr_recorder_collect(r, &res), -EAGAIN);
	assert_int_equal(dr_recorder_stop(r), -EINVAL);

	uint64_t t0 = now_ms();
	assert_int_equal(dr_recorder_start(r, file_sink("stop.opus"), "id-stop", NULL), 0);
	assert_true(dr_recorder_busy(r));
	/* One recording at a time; the refused sink is closed, not leaked. */
	struct mt_memsink m = {0};
	assert_int_equal(dr_recorder_start(r, mt_memsink(&m), NULL, NULL), -EBUSY);
	assert_int_equal(m.closes, 1);
	sleep_ms(300);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 0); /* nothing has ended */
	assert_int_equal(dr_recorder_collect(r, &res), -EAGAIN);
	assert_int_equal(dr_recorder_stop(r), 0);
	uint64_t t_stop = now_ms();
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_int_equal(dr_recorder_collect(r, &res), 0);
	assert_false(dr_recorder_busy(r));
	assert_int_equal(poll(&pfd, 1, 0), 0); /* collect read the fd */
	assert_int_equal(res.status, 0);
	assert_int_equal(res.lost, 0);
	/* Capture ended within a period of stop(): the paced microphone
	 * cannot have produced more than the time since start plus one
	 * period (10 ms), plus one read in flight. */
	uint64_t bound = (t_stop - t0) * 48 + 2 * 480;
	print_message("stopped after %llu ms: %llu samples (bound %llu)\n",
		      (unsigned long long)(t_stop - t0), (unsigned long long)res.samples,
		      (unsigned long long)bound);
	assert_true(res.samples <= bound);
	assert_true(res.samples >= 48 * 100); /* it did record meanwhile */
	check_file("stop.opus", in, (size_t)res.samples);
	dr_recorder_free(r);
	dr_capture_free(cap);
	free(in);
}

/* The microphone fails mid-recording (here: its file is cut short, which
 * the WAV backend reports as -EIO; a pulled USB microphone is -ENODEV on
 * the same path): what was captured is finalised and the failure reported. */
static void test_capture_failure_keeps_what_was_said(void **state)
{
	(void)state;
	int16_t *in = make_mic("fail.wav", 48000 * 10);
	struct dr_capture *cap = open_mic("fail.wav", true);
	struct dr_recorder *r = new_recorder(cap, 0, -1);
	assert_int_equal(dr_recorder_start(r, file_sink("capfail.opus"), NULL, NULL), 0);
	sleep_ms(300);
	assert_int_equal(truncate(mt_path(dir, "fail.wav"), 44 + 2 * 4800), 0);
	struct pollfd pfd = {.fd = dr_recorder_fd(r), .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	struct dr_recording_result res;
	assert_int_equal(dr_recorder_collect(r, &res), 0);
	assert_true(res.status == -EIO || res.status == -ENODEV);
	assert_true(res.capture_failed);
	assert_true(res.samples >= 4800);
	check_file("capfail.opus", in, (size_t)res.samples);
	dr_recorder_free(r);
	dr_capture_free(cap);
	free(in);
}

/* The card fills up: capture stops, the failure is reported, and the part
 * written is recoverable. */
static void test_full_disk_stops_and_reports(void **state)
{
	(void)state;
	int16_t *in = make_mic("full.wav", 48000 * 10);
	struct dr_capture *cap = open_mic("full.wav", true);
	struct dr_recorder *r = new_recorder(cap, 0, -1);
	struct wrap w = {.inner = file_sink("full.opus"), .fail_after = 3000};
	struct dr_sink s = {&wrap_ops, &w};
	struct dr_recording_result res;
	assert_int_equal(dr_recorder_record_blocking(r, s, NULL, NULL, 48000 * 10, &res), 0);
	assert_int_equal(res.status, -ENOSPC);
	assert_false(res.capture_failed);
	assert_int_equal(w.closes, 1);
	/* It stopped long before the 10 s asked for. */
	assert_true(res.samples < 48000 * 5);
	struct dr_recover_result rec;
	assert_int_equal(dr_recover_file(mt_path(dir, "full.opus"), &rec), 0);
	assert_false(rec.was_complete);
	assert_true(rec.samples > 0);
	check_file("full.opus", in, (size_t)rec.samples);

	/* Not even the headers fit: reported at once, nothing recorded. */
	struct wrap w2 = {.inner = file_sink("full2.opus"), .fail_after = 10};
	s.user = &w2;
	assert_int_equal(dr_recorder_record_blocking(r, s, NULL, NULL, 48000 * 10, &res), 0);
	assert_int_equal(res.status, -ENOSPC);
	assert_false(res.capture_failed);
	assert_int_equal(res.samples, 0);
	assert_int_equal(w2.closes, 1);
	dr_recorder_free(r);
	dr_capture_free(cap);
	free(in);
}

static void test_free_while_recording_finalises(void **state)
{
	(void)state;
	int16_t *in = make_mic("free.wav", 48000 * 10);
	struct dr_capture *cap = open_mic("free.wav", true);
	struct dr_recorder *r = new_recorder(cap, 0, -1);
	struct mt_memsink m = {0};
	assert_int_equal(dr_recorder_start(r, file_sink("free.opus"), NULL, NULL), 0);
	sleep_ms(200);
	dr_recorder_free(r);
	uint64_t n;
	assert_int_equal(dr_oggopus_probe(mt_path(dir, "free.opus"), &n), 0);
	assert_true(n >= 4800);
	check_file("free.opus", in, (size_t)n);

	/* Another sink than a file sink: no file counters. */
	r = new_recorder(cap, 0, -1);
	struct dr_recording_result res;
	assert_int_equal(dr_recorder_record_blocking(r, mt_memsink(&m), NULL, NULL, 4800, &res), 0);
	assert_int_equal(res.samples, 4800);
	assert_int_equal(res.sink.bytes, 0);
	assert_int_equal(res.sink.syncs, 0);
	assert_true(m.len > 0);
	assert_int_equal(m.closes, 1);
	mt_memsink_free(&m);
	dr_recorder_free(r);
	dr_capture_free(cap);
	free(in);
}

static int setup(void **state)
{
	(void)state;
	dir = mt_tmpdir("recorder");
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
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_unpaced_file_every_sample),
		cmocka_unit_test(test_stalled_sink_loses_nothing),
		cmocka_unit_test(test_stop_is_prompt_and_async),
		cmocka_unit_test(test_capture_failure_keeps_what_was_said),
		cmocka_unit_test(test_full_disk_stops_and_reports),
		cmocka_unit_test(test_free_while_recording_finalises),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
