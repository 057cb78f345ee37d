/* SPDX-License-Identifier: MIT */
/*
 * dr_videnc: an MJPEG camera's frames pass through untouched; raw frames
 * (NV12, YUYV) become H.264 whose packets are whole length-prefixed NAL
 * units and whose avcC record is there before the first frame; a key
 * frame comes when asked for (after a drop); what it cannot use is
 * refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dev/camera.h"
#include "media/videnc.h"

static struct dr_camera *sim(enum dr_pixfmt f, unsigned w, unsigned h)
{
	struct dr_camera_settings cs;
	memset(&cs, 0, sizeof(cs));
	cs.backend = DR_CAMERA_SIM;
	cs.width = w;
	cs.height = h;
	cs.fps = 15;
	cs.format = f;
	struct dr_camera *c = NULL;
	char err[256];
	assert_int_equal(dr_camera_open_sim(&cs, false, &c, err, sizeof(err)), 0);
	assert_int_equal(dr_camera_start(c), 0);
	return c;
}

/* The packet is NAL units with 4-byte big-endian lengths, exactly. */
static void assert_length_prefixed(const unsigned char *p, size_t len)
{
	size_t i = 0, nals = 0;
	while (i < len) {
		assert_true(len - i >= 5);
		size_t n = (size_t)p[i] << 24 | (size_t)p[i + 1] << 16 | (size_t)p[i + 2] << 8 | p[i + 3];
		assert_true(n > 0 && n <= len - i - 4);
		assert_int_equal(p[i + 4] & 0x80, 0); /* forbidden_zero_bit */
		i += 4 + n;
		nals++;
	}
	assert_int_equal(i, len);
	assert_true(nals > 0);
}

static void test_mjpeg_passes_through(void **state)
{
	(void)state;
	struct dr_videnc *e = NULL;
	assert_int_equal(dr_videnc_new(DR_PIX_MJPEG, 640, 480, 15, 0, &e), 0);
	assert_true(dr_videnc_passthrough(e));
	assert_string_equal(dr_videnc_track(e)->codec, "V_MJPEG");
	struct dr_frame *f = dr_frame_new(5000);
	for (size_t i = 0; i < 5000; i++)
		f->data[i] = (unsigned char)(i * 7 + 3);
	f->len = 5000;
	f->format = DR_PIX_MJPEG;
	f->width = 640;
	f->height = 480;
	unsigned char *d;
	size_t len;
	bool key;
	assert_int_equal(dr_videnc_frame(e, f, &d, &len, &key), 0);
	assert_int_equal(len, 5000);
	assert_memory_equal(d, f->data, 5000);
	assert_true(key);
	free(d);
	f->width = 320; /* not what the track says */
	assert_int_equal(dr_videnc_frame(e, f, &d, &len, &key), -EINVAL);
	dr_frame_unref(f);
	dr_videnc_free(e);
	dr_videnc_free(NULL);
}

static void encode_raw(enum dr_pixfmt fmt)
{
	struct dr_videnc *e = NULL;
	assert_int_equal(dr_videnc_new(fmt, 160, 120, 15, 300, &e), 0);
	assert_false(dr_videnc_passthrough(e));
	const struct dr_track *t = dr_videnc_track(e);
	assert_string_equal(t->codec, "V_MPEG4/ISO/AVC");
	assert_int_equal(t->width, 160);
	/* avcC: version 1, 4-byte lengths, one SPS, one PPS */
	assert_true(t->codec_private_len > 11);
	assert_int_equal(t->codec_private[0], 1);
	assert_int_equal(t->codec_private[4], 0xFF);
	assert_int_equal(t->codec_private[5], 0xE1);
	assert_int_equal(t->codec_private[8] & 0x1F, 7); /* the SPS */
	struct dr_camera *c = sim(fmt, 160, 120);
	for (int i = 0; i < 8; i++) {
		struct dr_frame *f;
		assert_int_equal(dr_camera_read(c, &f), 0);
		if (i == 5)
			dr_videnc_force_key(e);
		unsigned char *d;
		size_t len;
		bool key;
		assert_int_equal(dr_videnc_frame(e, f, &d, &len, &key), 0);
		assert_true(len > 0);
		assert_length_prefixed(d, len);
		/* the first frame and the one asked for are key frames, the rest not */
		assert_int_equal(key, i == 0 || i == 5);
		free(d);
		dr_frame_unref(f);
	}
	dr_camera_free(c);
	dr_videnc_free(e);
}

static void test_nv12_to_h264(void **state)
{
	(void)state;
	encode_raw(DR_PIX_NV12);
}

static void test_yuyv_to_h264(void **state)
{
	(void)state;
	encode_raw(DR_PIX_YUYV);
}

static void test_refused(void **state)
{
	(void)state;
	struct dr_videnc *e = NULL;
	assert_int_equal(dr_videnc_new(DR_PIX_AUTO, 640, 480, 15, 0, &e), -ENOTSUP);
	assert_int_equal(dr_videnc_new(DR_PIX_NV12, 161, 120, 15, 0, &e), -ENOTSUP);
	assert_int_equal(dr_videnc_new(DR_PIX_NV12, 0, 120, 15, 0, &e), -EINVAL);
	assert_int_equal(dr_videnc_new(DR_PIX_NV12, 160, 120, 0, 0, &e), -EINVAL);
	assert_null(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mjpeg_passes_through),
		cmocka_unit_test(test_nv12_to_h264),
		cmocka_unit_test(test_yuyv_to_h264),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
