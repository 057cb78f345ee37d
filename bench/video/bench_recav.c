/* SPDX-License-Identifier: MIT */
/*
 * bench_recav: what the recorder's picture costs (bench/video/README.md).
 *
 *   bench_recav track none|pass|h264|h264cam|h264pass WxH FPS SECONDS
 *       The video track alone, for callgrind: frames from the simulated
 *       camera (unpaced, YUYV) through dr_videnc into Matroska (mkv.c)
 *       into a sink that only counts, one Cluster per 0.3 s. pass: each
 *       frame handed on as an MJPEG camera's frame of the size libturbojpeg
 *       made at q75 in bench_video (pass-through copies it untouched);
 *       h264: openh264 as the recorder runs it; none: the frames are made
 *       and nothing else (the baseline). h264pass: the simulated camera
 *       in H.264 (its pattern encoded by openh264 as a UVC H.264 camera
 *       gives it, Annex B) passed through dr_videnc (access units to
 *       length-prefixed blocks, the avcC from the first key frame) into
 *       Matroska; h264cam: that camera's frames made and nothing else
 *       (its baseline: the camera's encoding is the camera's work). The
 *       pattern codes into far fewer bytes than a room, so each access
 *       unit is brought up to the size openh264 made of bench_video's noisy
 *       frames (6.0 MB/min at 640x480 15 fps, 18.8 MB/min at 1280x720
 *       30 fps) with one more slice NAL unit of bytes that, like a coded
 *       slice, hold no 00 00 0x (the bytes are copied and scanned, as a
 *       camera's would be; nothing decodes them here).
 *   bench_recav record WxH FPS SECONDS
 *       The whole recorder in real time: a paced WAV microphone (a tone)
 *       and the paced simulated camera into a durable file; prints peak
 *       RSS, bytes and syncs.
 *   bench_recav sync OUT.mkv SECONDS
 *       Flash and click in real time for the A/V offset over a long
 *       recording: a live WAV microphone that clicks (10 ms of 1 kHz) every
 *       10 s from 5 s on, the simulated camera (320x240, 30 fps) told to
 *       flash half a frame before each click; the plain Matroska file is
 *       left at OUT.mkv for bench/video/av_offset.py.
 * One JSON line on stdout.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "dev/audio.h"
#include "dev/camera.h"
#include "media/container.h"
#include "media/mkv.h"
#include "media/recorder.h"
#include "media/videnc.h"
#include "media/wav.h"

struct count {
	unsigned long long bytes, syncs;
};

static int c_write(void *u, const unsigned char *b, size_t n)
{
	(void)b;
	((struct count *)u)->bytes += n;
	return 0;
}

static int c_sync(void *u)
{
	((struct count *)u)->syncs++;
	return 0;
}

static int c_close(void *u)
{
	(void)u;
	return 0;
}

static const struct dr_sink_ops c_ops = {.write = c_write, .sync = c_sync, .close = c_close};

static struct dr_camera *camera_fmt(unsigned w, unsigned h, unsigned fps, bool paced,
				    enum dr_pixfmt fmt)
{
	struct dr_camera_settings cs;
	memset(&cs, 0, sizeof(cs));
	cs.backend = DR_CAMERA_SIM;
	cs.width = w;
	cs.height = h;
	cs.fps = fps;
	cs.format = fmt;
	struct dr_camera *cam = NULL;
	char err[256];
	if (dr_camera_open_sim(&cs, paced, &cam, err, sizeof(err))) {
		fprintf(stderr, "bench_recav: %s\n", err);
		exit(1);
	}
	return cam;
}

static struct dr_camera *camera(unsigned w, unsigned h, unsigned fps, bool paced)
{
	return camera_fmt(w, h, fps, paced, DR_PIX_YUYV);
}

static int track(const char *mode, unsigned w, unsigned h, unsigned fps, double secs)
{
	bool cam264 = strncmp(mode, "h264", 4) == 0 && mode[4];
	struct dr_camera *cam = camera_fmt(w, h, fps, false, cam264 ? DR_PIX_H264 : DR_PIX_YUYV);
	bool pass = strcmp(mode, "pass") == 0, h264 = strcmp(mode, "h264") == 0;
	bool h264pass = strcmp(mode, "h264pass") == 0;
	/* bench_video's MJPEG q75 frame sizes: 31.3 MB/min at 640x480 15 fps,
	 * 183.6 MB/min at 1280x720 30 fps */
	size_t jpeg = (size_t)w * h <= 640u * 480u ? 34800 : 102000;
	struct dr_videnc *e = NULL;
	struct dr_container c = {0};
	struct count cnt = {0};
	if (pass || h264 || h264pass) {
		enum dr_pixfmt in = pass ? DR_PIX_MJPEG : h264pass ? DR_PIX_H264 : DR_PIX_YUYV;
		if (dr_videnc_new(in, w, h, fps, 0, &e) || dr_mkv_new((struct dr_sink){&c_ops, &cnt}, NULL, &c))
			return 1;
	}
	unsigned long frames = (unsigned long)(secs * fps), per_cluster = fps * 3 / 10;
	dr_camera_start(cam);
	for (unsigned long i = 0; i < frames; i++) {
		struct dr_frame *f;
		if (dr_camera_read(cam, &f))
			return 1;
		if (cam264) {
			size_t want = (size_t)w * h <= 640u * 480u ? 6000000u / 900 : 18800000u / 1800;
			if (f->len + 5 < want && want <= f->cap) {
				unsigned char *q = f->data + f->len;
				q[0] = q[1] = q[2] = 0;
				q[3] = 1;
				q[4] = 0x41; /* a non-IDR slice */
				for (size_t k = 5; k < want - f->len; k++)
					q[k] = (unsigned char)(1 + (k * 131 + i * 7) % 255);
				f->len = want;
			}
		}
		if (e) {
			if (pass) {
				f->format = DR_PIX_MJPEG;
				f->len = jpeg < f->len ? jpeg : f->len;
			}
			unsigned char *data;
			size_t len;
			bool key;
			if (dr_videnc_frame(e, f, &data, &len, &key))
				return 1;
			/* the track is described once it is (H.264: the first key frame) */
			if (!i && (!dr_videnc_ready(e) || dr_container_add_track(c, dr_videnc_track(e)) < 0))
				return 1;
			struct dr_packet p = {.track = 0, .pts = (uint64_t)i * 1000000000u / fps,
					      .key = key, .data = data, .len = len};
			if (len && dr_container_write(c, &p))
				return 1;
			free(data);
			if (per_cluster && (i + 1) % per_cluster == 0 && dr_container_flush(c, 0))
				return 1;
		}
		dr_frame_unref(f);
	}
	if (e) {
		dr_container_finish(c, 0);
		dr_container_free(c);
		dr_videnc_free(e);
	}
	dr_camera_free(cam);
	printf("{\"frames\": %lu, \"bytes\": %llu, \"flushes\": %llu}\n", frames, cnt.bytes,
	       cnt.syncs);
	return 0;
}

static int record(unsigned w, unsigned h, unsigned fps, double secs)
{
	char dir[] = "/tmp/bench_recav.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char wav[64], out[64];
	snprintf(wav, sizeof(wav), "%s/mic.wav", dir);
	snprintf(out, sizeof(out), "%s/rec.mkv", dir);
	size_t n = (size_t)((secs + 2) * 48000);
	int16_t *s = malloc(n * sizeof(int16_t));
	for (size_t i = 0; i < n; i++)
		s[i] = (int16_t)(8000 * sin(2 * M_PI * 440.0 * (double)i / 48000));
	struct dr_wav_writer *ww;
	if (dr_wav_writer_open(wav, 48000, &ww) || dr_wav_writer_write(ww, s, n) ||
	    dr_wav_writer_close(ww))
		return 1;
	free(s);
	struct dr_capture *cap;
	char err[256];
	if (dr_capture_open_wav(wav, true, 10, &cap, err, sizeof(err)))
		return 1;
	struct dr_camera *cam = camera(w, h, fps, true);
	struct dr_recorder_params p;
	dr_recorder_params_default(&p);
	p.camera = cam;
	struct dr_recorder *r;
	if (dr_recorder_new(cap, &p, &r))
		return 1;
	struct dr_sink sink;
	struct dr_sink_stats st = {0};
	if (dr_file_sink_open(out, &st, &sink))
		return 1;
	struct dr_recording_result res;
	int rc = dr_recorder_record_blocking(r, sink, "bench", NULL, (uint64_t)(secs * 48000), &res);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"peak_rss_kb\": %ld, \"bytes\": %llu, \"syncs\": %llu, \"frames\": %llu, "
	       "\"dropped\": %llu, \"status\": %d, \"seconds\": %.3f}\n",
	       ru.ru_maxrss, (unsigned long long)st.bytes, (unsigned long long)st.syncs,
	       (unsigned long long)res.video_frames, (unsigned long long)res.video_dropped,
	       rc ? rc : res.status, (double)res.samples / 48000);
	dr_recorder_free(r);
	dr_camera_free(cam);
	dr_capture_free(cap);
	unlink(out);
	unlink(wav);
	rmdir(dir);
	return 0;
}

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = {(time_t)(t_ns / 1000000000u), (long)(t_ns % 1000000000u)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
		;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int sync_run(const char *out, double secs)
{
	char wav[] = "/tmp/bench_recav_sync.XXXXXX";
	int fd = mkstemp(wav);
	if (fd < 0)
		return 1;
	close(fd);
	size_t n = (size_t)((secs + 3) * 48000);
	int16_t *s = calloc(n, sizeof(int16_t));
	for (size_t i = 0; i < n; i++)
		s[i] = (int16_t)(2000 * sin(2 * M_PI * 220.0 * (double)i / 48000));
	for (size_t c = 5 * 48000; c + 480 < n; c += 10 * 48000)
		for (size_t i = 0; i < 480; i++)
			s[c + i] = (int16_t)(30000 * sin(2 * M_PI * 1000.0 * (double)i / 48000));
	struct dr_wav_writer *ww;
	if (dr_wav_writer_open(wav, 48000, &ww) || dr_wav_writer_write(ww, s, n) ||
	    dr_wav_writer_close(ww))
		return 1;
	free(s);
	struct dr_capture *cap;
	char err[256];
	uint64_t t0;
	if (dr_capture_open_wav_live(wav, 10, &t0, &cap, err, sizeof(err)))
		return 1;
	struct dr_camera *cam = camera(320, 240, 30, true);
	struct dr_recorder_params p;
	dr_recorder_params_default(&p);
	p.camera = cam;
	struct dr_recorder *r;
	struct dr_sink sink;
	if (dr_recorder_new(cap, &p, &r) || dr_file_sink_open(out, NULL, &sink))
		return 1;
	sleep_until(t0 + 200000000u);
	if (dr_recorder_start(r, sink, "bench", NULL))
		return 1;
	uint64_t end = t0 + 200000000u + (uint64_t)(secs * 1e9);
	for (uint64_t c = 5000000000u; t0 + c + 100000000u < end; c += 10000000000u) {
		sleep_until(t0 + c - 1000000000u / 30 / 2);
		dr_camera_sim_flash(cam);
	}
	sleep_until(end);
	dr_recorder_stop(r);
	struct pollfd pfd = {.fd = dr_recorder_fd(r), .events = POLLIN};
	struct dr_recording_result res;
	while (poll(&pfd, 1, -1) >= 0 && dr_recorder_collect(r, &res) == -EAGAIN)
		;
	printf("{\"status\": %d, \"seconds\": %.3f, \"frames\": %llu, \"dropped\": %llu, "
	       "\"now_ns\": %llu}\n",
	       res.status, (double)res.samples / 48000, (unsigned long long)res.video_frames,
	       (unsigned long long)res.video_dropped, (unsigned long long)now_ns());
	dr_recorder_free(r);
	dr_camera_free(cam);
	dr_capture_free(cap);
	unlink(wav);
	return res.status ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned w, h, fps;
	if (argc >= 5 && strcmp(argv[1], "track") == 0 && argc == 6 &&
	    sscanf(argv[3], "%ux%u", &w, &h) == 2 && (fps = (unsigned)atoi(argv[4])))
		return track(argv[2], w, h, fps, atof(argv[5]));
	if (argc == 5 && strcmp(argv[1], "record") == 0 && sscanf(argv[2], "%ux%u", &w, &h) == 2 &&
	    (fps = (unsigned)atoi(argv[3])))
		return record(w, h, fps, atof(argv[4]));
	if (argc == 4 && strcmp(argv[1], "sync") == 0)
		return sync_run(argv[2], atof(argv[3]));
	fprintf(stderr, "usage: bench_recav track none|pass|h264 WxH FPS SECONDS\n"
			"       bench_recav record WxH FPS SECONDS\n"
			"       bench_recav sync OUT.mkv SECONDS\n");
	return 2;
}
