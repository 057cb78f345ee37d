/* SPDX-License-Identifier: MIT */
/* The camera (app/dev/camera*.c): board-file settings that name a camera
 * the way that survives a reboot, the simulated camera's frames (a counter
 * a test can read back, real-time pacing, a flash on command, unplugging),
 * and the V4L2 backend's choice of format among what a camera offers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "dev/camera.h"
#include "util/conf.h"

static char err[512];

static int settings(const char *text, struct dr_camera_settings *s)
{
	struct dr_conf *c;
	assert_int_equal(dr_conf_parse("board.conf", text, strlen(text), &c, err, sizeof(err)), 0);
	err[0] = '\0';
	int r = dr_camera_settings_from_board(c, s, err, sizeof(err));
	dr_conf_free(c);
	return r;
}

static void test_settings(void **state)
{
	(void)state;
	struct dr_camera_settings s;
	assert_int_equal(settings("[board]\nname = x\n", &s), 0);
	assert_int_equal(s.backend, DR_CAMERA_NONE);
	assert_int_equal(s.width, 640);
	assert_int_equal(s.height, 480);
	assert_int_equal(s.fps, 15);
	assert_int_equal(s.format, DR_PIX_AUTO);
	assert_int_equal(s.queue_mib, 8); /* the recorder's video queue, for the Zero 2 W */
	assert_int_equal(settings("[camera]\nbackend = sim\nqueue_mib = 24\n", &s), 0);
	assert_int_equal(s.queue_mib, 24);
	assert_int_equal(settings("[camera]\nbackend = sim\nqueue_mib = 0\n", &s), -EINVAL);

	assert_int_equal(settings("[camera]\nbackend = v4l2\ndevice = usb-046d_C270-video-index0\n"
				  "width = 1280\nheight = 720\nfps = 30\nformat = mjpeg\nlight = GPIO23\n",
				  &s),
			 0);
	assert_string_equal(s.device, "/dev/v4l/by-id/usb-046d_C270-video-index0");
	assert_int_equal(s.format, DR_PIX_MJPEG);
	assert_int_equal(s.fps, 30);
	assert_string_equal(s.light, "GPIO23");
	assert_int_equal(settings("[camera]\nbackend = v4l2\n"
				  "device = /dev/v4l/by-path/platform-3f980000.usb-usb-0:1.2:1.0-video-index0\n",
				  &s),
			 0);
	assert_string_equal(s.device, "/dev/v4l/by-path/platform-3f980000.usb-usb-0:1.2:1.0-video-index0");

	/* The driver's bus_info: a USB port, or a platform device (vivid) */
	assert_int_equal(settings("[camera]\nbackend = v4l2\ndevice = bus:platform:vivid-000\n", &s), 0);
	assert_string_equal(s.device, "bus:platform:vivid-000");
	assert_int_equal(settings("[camera]\nbackend = v4l2\ndevice = bus:\n", &s), -EINVAL);
	assert_int_equal(settings("[camera]\nbackend = v4l2\n"
				  "device = bus:0123456789012345678901234567890123\n",
				  &s),
			 -EINVAL);
	/* A number changes with the order cameras appear in: refused, saying
	 * what to write instead. */
	assert_int_equal(settings("[camera]\nbackend = v4l2\ndevice = /dev/video0\n", &s), -EINVAL);
	assert_non_null(strstr(err, "/dev/v4l/by-id"));
	assert_int_equal(settings("[camera]\nbackend = v4l2\ndevice = ../video0\n", &s), -EINVAL);
	assert_int_equal(settings("[camera]\nbackend = v4l2\n", &s), -EINVAL);
	assert_non_null(strstr(err, "device is missing"));
	assert_int_equal(settings("[camera]\nbackend = sim\nformat = rgb\n", &s), -EINVAL);
	assert_non_null(strstr(err, "format = rgb"));
	assert_int_equal(settings("[camera]\nbackend = sim\nwidth = 641\n", &s), -EINVAL);
	assert_int_equal(settings("[camera]\nbackend = sim\nfps = 0\n", &s), -EINVAL);
	assert_int_equal(settings("[camera]\nbackend = webcam\n", &s), -EINVAL);
	assert_int_equal(settings("[camera]\nbackend = sim\nwdith = 640\n", &s), -EINVAL);
	assert_non_null(strstr(err, "wdith"));
}

/* The luma plane of a frame (YUYV: every other byte). Caller frees. */
static unsigned char *luma(const struct dr_frame *f)
{
	size_t px = (size_t)f->width * f->height;
	unsigned char *y = malloc(px);
	assert_non_null(y);
	for (size_t i = 0; i < px; i++)
		y[i] = f->format == DR_PIX_YUYV ? f->data[2 * i] : f->data[i];
	return y;
}

static int counter_of(const struct dr_frame *f, uint32_t *v, int noise)
{
	unsigned char *y = luma(f);
	uint32_t x = 99;
	for (size_t i = 0; noise && i < (size_t)f->width * f->height; i++) {
		x = x * 1103515245u + 12345u;
		int n = y[i] + (int)((x >> 16) % (2u * noise + 1)) - noise;
		y[i] = (unsigned char)(n < 0 ? 0 : n > 255 ? 255 : n);
	}
	int r = dr_camera_pattern_counter(y, f->width, f->width, f->height, v);
	free(y);
	return r;
}

static void sim_frames(enum dr_pixfmt fmt)
{
	struct dr_camera_settings s = {.backend = DR_CAMERA_SIM, .width = 320, .height = 240,
				       .fps = 30, .format = fmt};
	struct dr_camera *c;
	assert_int_equal(dr_camera_open_sim(&s, false, &c, err, sizeof(err)), 0);
	enum dr_pixfmt got;
	unsigned w, h, fps;
	dr_camera_format(c, &got, &w, &h, &fps);
	assert_int_equal(got, fmt == DR_PIX_AUTO ? DR_PIX_YUYV : fmt);
	assert_int_equal(w, 320);
	assert_int_equal(fps, 30);
	assert_int_equal(dr_camera_start(c), 0);
	struct dr_frame *f, *first = NULL;
	for (uint32_t i = 0; i < 12; i++) {
		if (i == 7)
			assert_int_equal(dr_camera_sim_flash(c), 0);
		assert_int_equal(dr_camera_read(c, &f), 0);
		assert_int_equal(f->len, dr_pixfmt_frame_bytes(got, 320, 240));
		assert_true(f->key);
		assert_int_equal(f->seq, i);
		if (!first)
			first = dr_frame_ref(f);
		/* Timestamps from the (simulated) grab time, 1/30 s apart. */
		assert_int_equal(f->t_ns - first->t_ns, (uint64_t)i * 1000000000u / 30);
		uint32_t v = 0;
		if (i == 7) {
			assert_int_equal(counter_of(f, &v, 0), 0); /* the flash */
		} else {
			assert_int_equal(counter_of(f, &v, 0), 1);
			assert_int_equal(v, i);
			/* and still after lossy coding's worth of noise */
			assert_int_equal(counter_of(f, &v, 40), 1);
			assert_int_equal(v, i);
		}
		dr_frame_unref(f);
	}
	dr_frame_unref(first);
	assert_int_equal(dr_camera_dropped(c), 0);
	assert_int_equal(dr_camera_sim_unplug(c), 0);
	assert_int_equal(dr_camera_read(c, &f), -ENODEV);
	assert_null(f);
	assert_int_equal(dr_camera_stop(c), 0);
	dr_camera_free(c);
}

static void test_sim_yuyv(void **state)
{
	(void)state;
	sim_frames(DR_PIX_AUTO);
}

static void test_sim_nv12(void **state)
{
	(void)state;
	sim_frames(DR_PIX_NV12);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Paced like a real camera: never a frame before its time, and its
 * timestamp is when it was grabbed on the CLOCK_MONOTONIC timeline. */
static void test_sim_paced(void **state)
{
	(void)state;
	struct dr_camera_settings s = {.backend = DR_CAMERA_SIM, .width = 64, .height = 16,
				       .fps = 25, .format = DR_PIX_YUYV};
	struct dr_camera *c;
	assert_int_equal(dr_camera_open(&s, &c, err, sizeof(err)), 0);
	assert_string_equal(dr_camera_name(c), "sim");
	uint64_t t0 = mono_ns();
	assert_int_equal(dr_camera_start(c), 0);
	for (int i = 0; i < 6; i++) {
		struct dr_frame *f;
		assert_int_equal(dr_camera_read(c, &f), 0);
		uint64_t now = mono_ns();
		assert_true(f->t_ns >= t0 + (uint64_t)i * 40000000u);
		assert_true(now >= f->t_ns);
		dr_frame_unref(f);
	}
	assert_true(mono_ns() - t0 >= 5u * 40000000u);
	dr_camera_free(c);
}

static void test_sim_refused(void **state)
{
	(void)state;
	struct dr_camera_settings s = {.backend = DR_CAMERA_SIM, .width = 320, .height = 240,
				       .fps = 15, .format = DR_PIX_MJPEG};
	struct dr_camera *c = (struct dr_camera *)&s;
	assert_int_equal(dr_camera_open_sim(&s, false, &c, err, sizeof(err)), -ENOTSUP);
	assert_null(c);
	s.backend = DR_CAMERA_NONE;
	assert_int_equal(dr_camera_open(&s, &c, err, sizeof(err)), 0);
	assert_null(c);
	dr_camera_free(NULL);
	dr_frame_unref(NULL);
	uint32_t v;
	unsigned char grey[64 * 16];
	memset(grey, 128, sizeof(grey)); /* no bars: not our pattern */
	assert_int_equal(dr_camera_pattern_counter(grey, 64, 64, 16, &v), -EINVAL);
}

static void test_v4l2_absent(void **state)
{
	(void)state;
	struct dr_camera_settings s = {.backend = DR_CAMERA_V4L2, .width = 640, .height = 480,
				       .fps = 15};
	strcpy(s.device, "/dev/v4l/by-id/usb-no-such-camera-video-index0");
	struct dr_camera *c;
	assert_int_equal(dr_camera_open(&s, &c, err, sizeof(err)), -ENODEV);
	assert_null(c);
	assert_non_null(strstr(err, "no camera there"));
	/* A bus_info no camera here has: not there (-ENODEV: looked for again
	 * later by the daemon), not an error in the board file. */
	strcpy(s.device, "bus:usb-no-such-port-9.9");
	assert_int_equal(dr_camera_open(&s, &c, err, sizeof(err)), -ENODEV);
	assert_null(c);
	assert_non_null(strstr(err, "no camera there"));
	/* Something that is not a camera at all. */
	strcpy(s.device, "/dev/null");
	int r = dr_camera_open_v4l2(&s, &c, err, sizeof(err));
	assert_true(r == -ENOTSUP || r == -ENODEV);
	assert_null(c);
}

static int negotiate(const struct dr_camera_mode *m, size_t n, enum dr_pixfmt f, unsigned w,
		     unsigned h, struct dr_camera_mode *out)
{
	struct dr_camera_settings s = {.width = w, .height = h, .fps = 15, .format = f};
	return dr_camera_negotiate(m, n, &s, out);
}

static void test_negotiate(void **state)
{
	(void)state;
	struct dr_camera_mode out;
	const struct dr_camera_mode webcam[] = {
		{DR_PIX_YUYV, 640, 480}, {DR_PIX_YUYV, 1280, 720}, {DR_PIX_YUYV, 320, 240},
		{DR_PIX_MJPEG, 1280, 720}, {DR_PIX_MJPEG, 640, 480}, {DR_PIX_MJPEG, 1920, 1080},
	};
	size_t n = sizeof(webcam) / sizeof(webcam[0]);
	/* auto: the camera's own compression is passed through. */
	assert_int_equal(negotiate(webcam, n, DR_PIX_AUTO, 640, 480, &out), 0);
	assert_int_equal(out.format, DR_PIX_MJPEG);
	assert_int_equal(out.width, 640);
	assert_int_equal(out.height, 480);
	assert_int_equal(negotiate(webcam, n, DR_PIX_YUYV, 1280, 720, &out), 0);
	assert_int_equal(out.format, DR_PIX_YUYV);
	assert_int_equal(out.width, 1280);
	/* A size not offered: the nearest by area. */
	assert_int_equal(negotiate(webcam, n, DR_PIX_MJPEG, 800, 600, &out), 0);
	assert_int_equal(out.width, 640);
	assert_int_equal(negotiate(webcam, n, DR_PIX_MJPEG, 1600, 900, &out), 0);
	assert_int_equal(out.width, 1280);
	assert_int_equal(negotiate(webcam, n, DR_PIX_MJPEG, 1920, 1000, &out), 0);
	assert_int_equal(out.width, 1920);
	/* A format not offered is refused, not swapped for another. */
	assert_int_equal(negotiate(webcam, n, DR_PIX_H264, 640, 480, &out), -ENOTSUP);
	assert_int_equal(negotiate(webcam, n, DR_PIX_NV12, 640, 480, &out), -ENOTSUP);
	/* auto order: H.264 before raw; NV12 when that is all there is. */
	const struct dr_camera_mode pi[] = {{DR_PIX_NV12, 640, 480}, {DR_PIX_H264, 640, 480}};
	assert_int_equal(negotiate(pi, 2, DR_PIX_AUTO, 640, 480, &out), 0);
	assert_int_equal(out.format, DR_PIX_H264);
	assert_int_equal(negotiate(pi, 1, DR_PIX_AUTO, 640, 480, &out), 0);
	assert_int_equal(out.format, DR_PIX_NV12);
	/* A UVC H.264 camera offers MJPEG too: auto takes MJPEG, h264 asked is H.264. */
	const struct dr_camera_mode uvc[] = {{DR_PIX_MJPEG, 1280, 720}, {DR_PIX_H264, 1280, 720},
					     {DR_PIX_YUYV, 640, 480}};
	assert_int_equal(negotiate(uvc, 3, DR_PIX_AUTO, 1280, 720, &out), 0);
	assert_int_equal(out.format, DR_PIX_MJPEG);
	assert_int_equal(negotiate(uvc, 3, DR_PIX_H264, 1280, 720, &out), 0);
	assert_int_equal(out.format, DR_PIX_H264);
	assert_int_equal(out.width, 1280);
	/* Nothing usable (the backend lists only formats the box knows). */
	assert_int_equal(negotiate(pi, 0, DR_PIX_AUTO, 640, 480, &out), -ENOTSUP);
	/* Equally near: the larger. */
	const struct dr_camera_mode tie[] = {{DR_PIX_YUYV, 100, 100}, {DR_PIX_YUYV, 300, 100}};
	assert_int_equal(negotiate(tie, 2, DR_PIX_YUYV, 200, 100, &out), 0);
	assert_int_equal(out.width, 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings),   cmocka_unit_test(test_sim_yuyv),
		cmocka_unit_test(test_sim_nv12),   cmocka_unit_test(test_sim_paced),
		cmocka_unit_test(test_sim_refused), cmocka_unit_test(test_v4l2_absent),
		cmocka_unit_test(test_negotiate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
