/* SPDX-License-Identifier: MIT */
/*
 * H.264 from the camera into Matroska: the Annex B splitter (3- and 4-byte
 * start codes, junk before the first), the avcC record from the SPS and
 * PPS, the length-prefixed blocks (AUD and SEI left out, in-band SPS/PPS
 * repeats left out, a changed one refused), and the pass-through encoder:
 * a stream that starts on non-IDR frames is dropped up to its first IDR,
 * parameter sets in a buffer of their own are kept for it, the key flag
 * comes from the NAL units and not the driver's flag, after a drop the
 * frames up to the next IDR are dropped, and a change of SPS mid-stream
 * ends the picture. Then the simulated camera in H.264: Annex B access
 * units, SPS and PPS before every IDR, an IDR every fps * 2 frames and
 * when asked.
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
#include "media/h264.h"
#include "media/videnc.h"

/* NAL units of a made-up stream (types in the first byte's low bits). */
static const unsigned char SPS[] = {0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80, 0xBF};
static const unsigned char SPS2[] = {0x67, 0x42, 0xC0, 0x1F, 0xDA, 0x01, 0x40, 0x16};
static const unsigned char PPS[] = {0x68, 0xCE, 0x3C, 0x80};
static const unsigned char AUD[] = {0x09, 0xF0};
static const unsigned char SEI[] = {0x06, 0x05, 0x01, 0x00, 0x80};
static const unsigned char IDR[] = {0x65, 0x88, 0x84, 0x00, 0x33, 0xFF};
static const unsigned char PSLICE[] = {0x41, 0x9A, 0x02, 0x00, 0x10};

struct au {
	unsigned char b[256];
	size_t n;
};

static void put(struct au *a, const unsigned char *nal, size_t n, bool four)
{
	static const unsigned char sc[] = {0, 0, 0, 1};
	memcpy(a->b + a->n, four ? sc : sc + 1, four ? 4 : 3);
	a->n += four ? 4 : 3;
	memcpy(a->b + a->n, nal, n);
	a->n += n;
}
#define PUT(a, nal, four) put((a), (nal), sizeof(nal), (four))

struct seen {
	size_t n;
	const unsigned char *nal[8];
	size_t len[8];
};

static int on_nal(void *user, const unsigned char *nal, size_t len)
{
	struct seen *s = user;
	assert_true(s->n < 8);
	s->nal[s->n] = nal;
	s->len[s->n++] = len;
	return 0;
}

static void test_splitter(void **state)
{
	(void)state;
	struct au a = {.n = 0};
	a.b[a.n++] = 0x12; /* junk before the first start code */
	a.b[a.n++] = 0x00;
	PUT(&a, AUD, true);
	PUT(&a, SPS, false);
	PUT(&a, PPS, true);
	PUT(&a, IDR, true);
	a.b[a.n++] = 0; /* trailing zeros (cabac_zero_words, padding) */
	a.b[a.n++] = 0;
	struct seen s = {0};
	assert_int_equal(dr_h264_each_nal(a.b, a.n, on_nal, &s), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.len[0], sizeof(AUD));
	assert_memory_equal(s.nal[1], SPS, sizeof(SPS));
	assert_int_equal(s.len[1], sizeof(SPS));
	assert_int_equal(s.len[2], sizeof(PPS)); /* not the next start code's zero */
	assert_int_equal(s.len[3], sizeof(IDR));
	assert_memory_equal(s.nal[3], IDR, sizeof(IDR));

	struct dr_h264_au au;
	assert_int_equal(dr_h264_au_scan(a.b, a.n, &au), 0);
	assert_true(au.idr && au.picture);
	assert_ptr_equal(au.sps, s.nal[1]);
	assert_int_equal(au.pps_len, sizeof(PPS));
	/* nothing but zeros and start codes: no NAL unit */
	static const unsigned char empty[] = {0, 0, 1, 0, 0, 0, 1, 0, 0};
	memset(&s, 0, sizeof(s));
	assert_int_equal(dr_h264_each_nal(empty, sizeof(empty), on_nal, &s), 0);
	assert_int_equal(s.n, 0);
	/* forbidden bit */
	struct au bad = {.n = 0};
	static const unsigned char forbidden[] = {0xE5, 0x00};
	PUT(&bad, forbidden, true);
	assert_int_equal(dr_h264_au_scan(bad.b, bad.n, &au), -EBADMSG);
}

static void test_avcc(void **state)
{
	(void)state;
	unsigned char *c;
	size_t n;
	assert_int_equal(dr_h264_avcc(SPS, sizeof(SPS), PPS, sizeof(PPS), &c, &n), 0);
	const unsigned char want[] = {1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, sizeof(SPS)};
	assert_int_equal(n, 11 + sizeof(SPS) + sizeof(PPS));
	assert_memory_equal(c, want, sizeof(want));
	assert_memory_equal(c + 8, SPS, sizeof(SPS));
	assert_int_equal(c[8 + sizeof(SPS)], 1);
	assert_int_equal(c[10 + sizeof(SPS)], sizeof(PPS));
	assert_memory_equal(c + 11 + sizeof(SPS), PPS, sizeof(PPS));
	free(c);
	/* not an SPS, a short SPS: refused */
	assert_int_equal(dr_h264_avcc(PPS, sizeof(PPS), PPS, sizeof(PPS), &c, &n), -EBADMSG);
	assert_int_equal(dr_h264_avcc(SPS, 3, PPS, sizeof(PPS), &c, &n), -EBADMSG);
	assert_null(c);
}

/* The block: each kept NAL unit after its 4-byte length, in order. */
static void assert_block(const unsigned char *b, size_t n, const unsigned char *const *nal,
			 const size_t *len, size_t count)
{
	size_t i = 0;
	for (size_t k = 0; k < count; k++) {
		assert_true(n - i >= 4 + len[k]);
		size_t l = (size_t)b[i] << 24 | (size_t)b[i + 1] << 16 | (size_t)b[i + 2] << 8 | b[i + 3];
		assert_int_equal(l, len[k]);
		assert_memory_equal(b + i + 4, nal[k], len[k]);
		i += 4 + l;
	}
	assert_int_equal(i, n);
}

static void test_block(void **state)
{
	(void)state;
	unsigned char *c, *b;
	size_t cn, bn;
	assert_int_equal(dr_h264_avcc(SPS, sizeof(SPS), PPS, sizeof(PPS), &c, &cn), 0);
	struct au a = {.n = 0};
	PUT(&a, AUD, true);
	PUT(&a, SPS, true);
	PUT(&a, PPS, true);
	PUT(&a, SEI, false);
	PUT(&a, IDR, true);
	assert_int_equal(dr_h264_au_to_block(a.b, a.n, c, cn, &b, &bn), 0);
	const unsigned char *one[] = {IDR};
	const size_t one_len[] = {sizeof(IDR)};
	assert_block(b, bn, one, one_len, 1); /* AUD, SEI, the repeated SPS/PPS left out */
	free(b);
	struct au two = {.n = 0};
	PUT(&two, PSLICE, false);
	PUT(&two, PSLICE, true);
	assert_int_equal(dr_h264_au_to_block(two.b, two.n, c, cn, &b, &bn), 0);
	const unsigned char *p2[] = {PSLICE, PSLICE};
	const size_t p2_len[] = {sizeof(PSLICE), sizeof(PSLICE)};
	assert_block(b, bn, p2, p2_len, 2);
	free(b);
	/* an SPS that is not the track's: the stream changed */
	struct au changed = {.n = 0};
	PUT(&changed, SPS2, true);
	PUT(&changed, PPS, true);
	PUT(&changed, IDR, true);
	assert_int_equal(dr_h264_au_to_block(changed.b, changed.n, c, cn, &b, &bn), -EPROTO);
	assert_null(b);
	/* a damaged avcC is refused, not read past */
	assert_int_equal(dr_h264_au_to_block(a.b, a.n, c, 9, &b, &bn), -EBADMSG);
	free(c);
}

static struct dr_frame *frame(const struct au *a, bool driver_key)
{
	struct dr_frame *f = dr_frame_new(a->n);
	memcpy(f->data, a->b, a->n);
	f->len = a->n;
	f->format = DR_PIX_H264;
	f->width = 320;
	f->height = 240;
	f->key = driver_key;
	return f;
}

/* One access unit through the encoder: its return, *len, *key. */
static int pass(struct dr_videnc *e, const struct au *a, bool driver_key, size_t *len, bool *key)
{
	struct dr_frame *f = frame(a, driver_key);
	unsigned char *d;
	int r = dr_videnc_frame(e, f, &d, len, key);
	if (r)
		assert_null(d);
	free(d);
	dr_frame_unref(f);
	return r;
}

static void test_passthrough(void **state)
{
	(void)state;
	struct dr_videnc *e = NULL;
	assert_int_equal(dr_videnc_new(DR_PIX_H264, 320, 240, 15, 0, &e), 0);
	assert_true(dr_videnc_passthrough(e));
	assert_false(dr_videnc_ready(e));
	assert_string_equal(dr_videnc_track(e)->codec, "V_MPEG4/ISO/AVC");
	struct au p = {.n = 0}, sets = {.n = 0}, idr = {.n = 0}, idr_sets = {.n = 0}, changed = {.n = 0};
	PUT(&p, AUD, true);
	PUT(&p, PSLICE, true);
	PUT(&sets, SPS, true);
	PUT(&sets, PPS, true);
	PUT(&idr, IDR, true);
	PUT(&idr_sets, SPS, true);
	PUT(&idr_sets, PPS, true);
	PUT(&idr_sets, IDR, true);
	PUT(&changed, SPS2, true);
	PUT(&changed, PPS, true);
	PUT(&changed, IDR, true);
	size_t len;
	bool key;
	/* the stream starts mid-GOP: dropped until the first IDR (even one the
	 * driver calls a key frame) */
	assert_int_equal(pass(e, &p, true, &len, &key), -EAGAIN);
	assert_int_equal(pass(e, &idr, true, &len, &key), -EAGAIN); /* no SPS/PPS yet */
	assert_false(dr_videnc_ready(e));
	/* parameter sets in a buffer of their own, then the IDR */
	assert_int_equal(pass(e, &sets, false, &len, &key), 0);
	assert_int_equal(len, 0);
	assert_false(dr_videnc_ready(e));
	assert_int_equal(pass(e, &idr, false, &len, &key), 0); /* the driver's flag is wrong */
	assert_true(key);
	assert_int_equal(len, 4 + sizeof(IDR));
	assert_true(dr_videnc_ready(e));
	const struct dr_track *t = dr_videnc_track(e);
	unsigned char *c;
	size_t cn;
	assert_int_equal(dr_h264_avcc(SPS, sizeof(SPS), PPS, sizeof(PPS), &c, &cn), 0);
	assert_int_equal(t->codec_private_len, cn);
	assert_memory_equal(t->codec_private, c, cn);
	free(c);
	assert_int_equal(pass(e, &p, true, &len, &key), 0); /* a P frame the driver flags */
	assert_false(key);
	assert_int_equal(len, 4 + sizeof(PSLICE));
	/* a frame was lost: P frames dropped up to the next IDR */
	dr_videnc_force_key(e);
	assert_int_equal(pass(e, &p, false, &len, &key), -EAGAIN);
	assert_int_equal(pass(e, &p, false, &len, &key), -EAGAIN);
	assert_int_equal(pass(e, &idr_sets, false, &len, &key), 0);
	assert_true(key);
	assert_int_equal(len, 4 + sizeof(IDR)); /* the repeated sets left out */
	assert_int_equal(pass(e, &p, false, &len, &key), 0);
	assert_false(key);
	/* the stream changed its SPS: the picture must end */
	assert_int_equal(pass(e, &changed, true, &len, &key), -EPROTO);
	dr_videnc_free(e);
}

static void test_sim_camera(void **state)
{
	(void)state;
	struct dr_camera_settings cs;
	memset(&cs, 0, sizeof(cs));
	cs.backend = DR_CAMERA_SIM;
	cs.width = 160;
	cs.height = 120;
	cs.fps = 10;
	cs.format = DR_PIX_H264;
	struct dr_camera *cam = NULL;
	char err[256];
	assert_int_equal(dr_camera_open_sim(&cs, false, &cam, err, sizeof(err)), 0);
	enum dr_pixfmt fmt;
	unsigned w, h, fps;
	dr_camera_format(cam, &fmt, &w, &h, &fps);
	assert_int_equal(fmt, DR_PIX_H264);
	struct dr_videnc *e = NULL;
	assert_int_equal(dr_videnc_new(fmt, w, h, fps, 0, &e), 0);
	assert_int_equal(dr_camera_start(cam), 0);
	unsigned char *first_sps = NULL;
	size_t first_sps_len = 0;
	uint64_t t0 = 0;
	for (int i = 0; i < 56; i++) {
		struct dr_frame *f;
		assert_int_equal(dr_camera_read(cam, &f), 0);
		if (i == 0)
			t0 = f->t_ns; /* the pacing clock's: frame i at t0 + i / fps */
		assert_int_equal(f->t_ns - t0, (uint64_t)i * 100000000u);
		assert_int_equal(f->seq, (uint64_t)i);
		/* Annex B */
		assert_true(f->len > 4);
		assert_true(f->data[0] == 0 && f->data[1] == 0 &&
			    (f->data[2] == 1 || (f->data[2] == 0 && f->data[3] == 1)));
		struct dr_h264_au au;
		assert_int_equal(dr_h264_au_scan(f->data, f->len, &au), 0);
		assert_true(au.picture);
		/* an IDR at the start, every fps * 2 frames, and when asked (33:
		 * the GOP counts from there) */
		bool want_idr = i == 0 || i == 20 || i == 33 || i == 53;
		assert_int_equal(au.idr, want_idr);
		assert_int_equal(f->key, want_idr);
		/* SPS and PPS before every IDR, the same each time */
		assert_int_equal(au.sps != NULL, want_idr);
		assert_int_equal(au.pps != NULL, want_idr);
		if (au.sps && !first_sps) {
			first_sps = malloc(au.sps_len);
			memcpy(first_sps, au.sps, au.sps_len);
			first_sps_len = au.sps_len;
		} else if (au.sps) {
			assert_int_equal(au.sps_len, first_sps_len);
			assert_memory_equal(au.sps, first_sps, first_sps_len);
		}
		unsigned char *d;
		size_t len;
		bool key;
		assert_int_equal(dr_videnc_frame(e, f, &d, &len, &key), 0);
		assert_true(len > 4);
		assert_int_equal(key, want_idr);
		free(d);
		dr_frame_unref(f);
		if (i == 32)
			assert_int_equal(dr_camera_force_key(cam), 0);
	}
	assert_true(dr_videnc_ready(e));
	free(first_sps);
	dr_camera_stop(cam);
	dr_videnc_free(e);
	dr_camera_free(cam);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_splitter),  cmocka_unit_test(test_avcc),
		cmocka_unit_test(test_block),     cmocka_unit_test(test_passthrough),
		cmocka_unit_test(test_sim_camera),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
