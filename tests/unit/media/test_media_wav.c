/* SPDX-License-Identifier: MIT */
/* dr_wav: the simulated microphone's and speaker's file format. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "media/wav.h"
#include "media_test.h"

static char *dir;

/* A little WAV builder: chunks appended to a buffer. */
struct wb {
	unsigned char b[8192];
	size_t n;
};

static void wb_bytes(struct wb *w, const void *p, size_t n)
{
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void wb_u16(struct wb *w, uint16_t v)
{
	unsigned char p[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
	wb_bytes(w, p, 2);
}

static void wb_u32(struct wb *w, uint32_t v)
{
	unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 24)};
	wb_bytes(w, p, 4);
}

static void wb_riff(struct wb *w)
{
	w->n = 0;
	wb_bytes(w, "RIFF", 4);
	wb_u32(w, 0); /* patched by wb_done, or left lying on purpose */
	wb_bytes(w, "WAVE", 4);
}

static void wb_fmt(struct wb *w, uint16_t tag, uint16_t ch, uint32_t rate, uint16_t bits)
{
	wb_bytes(w, "fmt ", 4);
	wb_u32(w, 16);
	wb_u16(w, tag);
	wb_u16(w, ch);
	wb_u32(w, rate);
	wb_u32(w, rate * ch * bits / 8);
	wb_u16(w, (uint16_t)(ch * bits / 8));
	wb_u16(w, bits);
}

static void wb_fmt_ext(struct wb *w, uint16_t ch, const unsigned char guid[16])
{
	wb_bytes(w, "fmt ", 4);
	wb_u32(w, 40);
	wb_u16(w, 0xFFFE);
	wb_u16(w, ch);
	wb_u32(w, 48000);
	wb_u32(w, 48000u * ch * 2);
	wb_u16(w, (uint16_t)(ch * 2));
	wb_u16(w, 16);
	wb_u16(w, 22);        /* cbSize */
	wb_u16(w, 16);        /* valid bits */
	wb_u32(w, ch == 1 ? 0x4 : 0x3); /* channel mask */
	wb_bytes(w, guid, 16);
}

static void wb_data(struct wb *w, const int16_t *s, size_t n, uint32_t claimed)
{
	wb_bytes(w, "data", 4);
	wb_u32(w, claimed);
	for (size_t i = 0; i < n; i++)
		wb_u16(w, (uint16_t)s[i]);
}

static void wb_done(struct wb *w)
{
	uint32_t riff = (uint32_t)w->n - 8;
	memcpy(w->b + 4, &riff, 4);
}

static const unsigned char guid_pcm[16] = {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
					   0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71};
static const unsigned char guid_float[16] = {0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
					     0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71};

static int open_mem(const struct wb *w, struct dr_wav_reader **r)
{
	*r = NULL;
	return dr_wav_reader_open_mem(w->b, w->n, r);
}

static void test_writer_reader_round_trip(void **state)
{
	(void)state;
	const char *path = mt_path(dir, "round.wav");
	enum { N = 48000 + 123 };
	int16_t *s = malloc(N * sizeof(int16_t));
	mt_chirp(s, N);
	s[0] = INT16_MIN;
	s[1] = INT16_MAX;
	struct dr_wav_writer *w;
	assert_int_equal(dr_wav_writer_open(path, 48000, &w), 0);
	for (size_t off = 0; off < N; off += 1000) {
		size_t k = N - off < 1000 ? N - off : 1000;
		assert_int_equal(dr_wav_writer_write(w, s + off, k), 0);
	}
	assert_int_equal(dr_wav_writer_frames(w), N);
	assert_int_equal(dr_wav_writer_close(w), 0);

	struct dr_wav_reader *r;
	assert_int_equal(dr_wav_reader_open(path, &r), 0);
	const struct dr_wav_info *info = dr_wav_reader_info(r);
	assert_int_equal(info->rate, 48000);
	assert_int_equal(info->channels, 1);
	assert_int_equal(info->frames, N);
	int16_t *back = malloc(N * sizeof(int16_t));
	/* Read in odd pieces, then rewind and read again in one go. */
	size_t got = 0;
	long k;
	while ((k = dr_wav_reader_read_mono(r, back + got, 777)) > 0)
		got += (size_t)k;
	assert_int_equal(k, 0);
	assert_int_equal(got, N);
	assert_memory_equal(back, s, N * sizeof(int16_t));
	assert_int_equal(dr_wav_reader_rewind(r), 0);
	memset(back, 0, N * sizeof(int16_t));
	assert_int_equal(dr_wav_reader_read_mono(r, back, N + 50), N);
	assert_memory_equal(back, s, N * sizeof(int16_t));
	dr_wav_reader_free(r);

	/* The memory reader agrees with the file reader. */
	unsigned char *file;
	size_t len;
	assert_int_equal(mt_read_file(path, &file, &len), 0);
	assert_int_equal(len, 44 + 2 * N);
	assert_int_equal(dr_wav_reader_open_mem(file, len, &r), 0);
	assert_int_equal(dr_wav_reader_info(r)->frames, N);
	assert_int_equal(dr_wav_reader_read_mono(r, back, N), N);
	assert_memory_equal(back, s, N * sizeof(int16_t));
	dr_wav_reader_free(r);
	free(file);
	free(back);
	free(s);
}

static void test_writer_flush_leaves_playable_file(void **state)
{
	(void)state;
	const char *path = mt_path(dir, "flush.wav");
	int16_t s[4800];
	mt_chirp(s, 4800);
	struct dr_wav_writer *w;
	assert_int_equal(dr_wav_writer_open(path, 48000, &w), 0);
	assert_int_equal(dr_wav_writer_write(w, s, 4800), 0);
	assert_int_equal(dr_wav_writer_flush(w), 0);
	assert_int_equal(dr_wav_writer_write(w, s, 100), 0);
	/* A crash now: what a reader sees is the state at the last flush. */
	unsigned char *file;
	size_t len;
	assert_int_equal(mt_read_file(path, &file, &len), 0);
	struct dr_wav_reader *r;
	assert_int_equal(dr_wav_reader_open_mem(file, len, &r), 0);
	assert_int_equal(dr_wav_reader_info(r)->frames, 4800);
	int16_t back[4800];
	assert_int_equal(dr_wav_reader_read_mono(r, back, 4800), 4800);
	assert_memory_equal(back, s, sizeof(s));
	dr_wav_reader_free(r);
	free(file);
	/* And a flush after more writes patches the sizes again. */
	assert_int_equal(dr_wav_writer_flush(w), 0);
	assert_int_equal(dr_wav_reader_open(path, &r), 0);
	assert_int_equal(dr_wav_reader_info(r)->frames, 4900);
	dr_wav_reader_free(r);
	assert_int_equal(dr_wav_writer_close(w), 0);
	assert_int_equal(dr_wav_writer_close(NULL), 0);
	dr_wav_reader_free(NULL);
}

static void test_stereo_is_downmixed(void **state)
{
	(void)state;
	int16_t lr[] = {1000, 3000, -2000, -4000, INT16_MAX, INT16_MAX, INT16_MIN, INT16_MIN, 5, -6};
	struct wb w;
	wb_riff(&w);
	wb_fmt(&w, 1, 2, 44100, 16);
	wb_data(&w, lr, 10, 20);
	wb_done(&w);
	struct dr_wav_reader *r;
	assert_int_equal(open_mem(&w, &r), 0);
	assert_int_equal(dr_wav_reader_info(r)->channels, 2);
	assert_int_equal(dr_wav_reader_info(r)->rate, 44100);
	assert_int_equal(dr_wav_reader_info(r)->frames, 5);
	int16_t m[8];
	assert_int_equal(dr_wav_reader_read_mono(r, m, 8), 5);
	assert_int_equal(m[0], 2000);
	assert_int_equal(m[1], -3000);
	assert_int_equal(m[2], INT16_MAX);
	assert_int_equal(m[3], INT16_MIN);
	assert_int_equal(m[4], -1); /* (5 - 6) / 2 rounded down */
	dr_wav_reader_free(r);
}

static void test_extensible_and_unknown_chunks(void **state)
{
	(void)state;
	int16_t s[] = {1, 2, 3, 4, 5};
	struct wb w;
	struct dr_wav_reader *r;
	int16_t m[8];

	/* LIST before fmt, an odd-sized junk chunk (with its pad byte)
	 * between fmt and data, extensible PCM. */
	wb_riff(&w);
	wb_bytes(&w, "LIST", 4);
	wb_u32(&w, 4);
	wb_bytes(&w, "INFO", 4);
	wb_fmt_ext(&w, 1, guid_pcm);
	wb_bytes(&w, "junk", 4);
	wb_u32(&w, 3);
	wb_bytes(&w, "abc\0", 4);
	wb_data(&w, s, 5, 10);
	wb_bytes(&w, "LIST", 4); /* trailing chunk after data: ignored */
	wb_u32(&w, 2);
	wb_bytes(&w, "zz", 2);
	wb_done(&w);
	assert_int_equal(open_mem(&w, &r), 0);
	assert_int_equal(dr_wav_reader_info(r)->frames, 5);
	assert_int_equal(dr_wav_reader_read_mono(r, m, 8), 5);
	assert_memory_equal(m, s, sizeof(s));
	dr_wav_reader_free(r);

	/* Extensible IEEE float of 16 bits: no such thing. */
	wb_riff(&w);
	wb_fmt_ext(&w, 1, guid_float);
	wb_data(&w, s, 5, 10);
	wb_done(&w);
	assert_int_equal(open_mem(&w, &r), -ENOTSUP);
	assert_null(r);

	/* An unknown subformat GUID (A-law in an extensible header). */
	unsigned char guid_alaw[16];
	memcpy(guid_alaw, guid_pcm, 16);
	guid_alaw[0] = 0x06;
	wb_riff(&w);
	wb_fmt_ext(&w, 1, guid_alaw);
	wb_data(&w, s, 5, 10);
	assert_int_equal(open_mem(&w, &r), -ENOTSUP);
}

/* fmt for any sample size, plain or extensible. */
static void wb_fmt_any(struct wb *w, uint16_t tag, uint16_t ch, uint32_t rate, uint16_t bits, bool ext)
{
	uint16_t align = (uint16_t)(ch * bits / 8);
	wb_bytes(w, "fmt ", 4);
	wb_u32(w, ext ? 40 : 16);
	wb_u16(w, ext ? 0xFFFE : tag);
	wb_u16(w, ch);
	wb_u32(w, rate);
	wb_u32(w, rate * align);
	wb_u16(w, align);
	wb_u16(w, bits);
	if (ext) {
		wb_u16(w, 22);
		wb_u16(w, bits);
		wb_u32(w, ch == 1 ? 0x4 : 0x3);
		wb_bytes(w, tag == 3 ? guid_float : guid_pcm, 16);
	}
}

static void wb_data_raw(struct wb *w, const void *p, uint32_t len)
{
	wb_bytes(w, "data", 4);
	wb_u32(w, len);
	wb_bytes(w, p, len);
}

/* Prompts recorded by real people come in every sample format: 24 and
 * 32-bit integers, 32 and 64-bit floats, plain or extensible headers. */
static void test_wider_sample_formats(void **state)
{
	(void)state;
	struct wb w;
	struct dr_wav_reader *r;
	int16_t m[8];
	float f[8];

	/* 24-bit stereo: 0x123456 and -0x123456 per frame, then full scale. */
	static const unsigned char s24[] = {
		0x56, 0x34, 0x12, 0x56, 0x34, 0x12, /* 0x123456, 0x123456 */
		0xaa, 0xcb, 0xed, 0x56, 0x34, 0x12, /* -0x123456, 0x123456 */
		0xff, 0xff, 0x7f, 0x00, 0x00, 0x80, /* max, min */
	};
	for (int ext = 0; ext < 2; ext++) {
		wb_riff(&w);
		wb_fmt_any(&w, 1, 2, 96000, 24, ext);
		wb_data_raw(&w, s24, sizeof(s24));
		wb_done(&w);
		assert_int_equal(open_mem(&w, &r), 0);
		const struct dr_wav_info *info = dr_wav_reader_info(r);
		assert_int_equal(info->rate, 96000);
		assert_int_equal(info->bits, 24);
		assert_int_equal(info->is_float, 0);
		assert_int_equal(info->frames, 3);
		assert_int_equal(dr_wav_reader_read_mono(r, m, 8), 3);
		assert_int_equal(m[0], 0x1234);
		assert_int_equal(m[1], -1); /* (-0x1235 + 0x1234) / 2: each floored, then the mean */
		assert_int_equal(m[2], -1); /* (32767 - 32768) / 2, rounded down */
		assert_int_equal(dr_wav_reader_rewind(r), 0);
		assert_int_equal(dr_wav_reader_read_mono_float(r, f, 8), 3);
		assert_true(f[0] == (float)(0x123456 / 8388608.0));
		assert_true(f[1] == 0.0f);
		assert_true(fabsf(f[2] - (-0.5f / 8388608.0f)) < 1e-9f);
		dr_wav_reader_free(r);
	}

	/* 32-bit integer mono. */
	int32_t s32[] = {0x7fffffff, INT32_MIN, 0x00010000, -0x00010001};
	wb_riff(&w);
	wb_fmt_any(&w, 1, 1, 11025, 32, false);
	wb_data_raw(&w, s32, sizeof(s32));
	wb_done(&w);
	assert_int_equal(open_mem(&w, &r), 0);
	assert_int_equal(dr_wav_reader_read_mono(r, m, 8), 4);
	assert_int_equal(m[0], INT16_MAX);
	assert_int_equal(m[1], INT16_MIN);
	assert_int_equal(m[2], 1);
	assert_int_equal(m[3], -2);
	dr_wav_reader_free(r);

	/* 32-bit float, plain and extensible: rounded, clipped, NaN as 0. */
	float fl[] = {0.5f, -0.25f, 1.5f, -7.0f, NAN, INFINITY, 1.0f / 65536, -1.0f};
	for (int ext = 0; ext < 2; ext++) {
		wb_riff(&w);
		wb_fmt_any(&w, 3, 1, 22050, 32, ext);
		wb_data_raw(&w, fl, sizeof(fl));
		wb_done(&w);
		assert_int_equal(open_mem(&w, &r), 0);
		assert_int_equal(dr_wav_reader_info(r)->is_float, 1);
		assert_int_equal(dr_wav_reader_read_mono(r, m, 8), 8);
		int16_t want[] = {16384, -8192, INT16_MAX, INT16_MIN, 0, INT16_MAX, 1, INT16_MIN};
		assert_memory_equal(m, want, sizeof(want));
		assert_int_equal(dr_wav_reader_rewind(r), 0);
		assert_int_equal(dr_wav_reader_read_mono_float(r, f, 8), 8);
		float wantf[] = {0.5f, -0.25f, 1.0f, -1.0f, 0.0f, 1.0f, 1.0f / 65536, -1.0f};
		assert_memory_equal(f, wantf, sizeof(wantf));
		dr_wav_reader_free(r);
	}

	/* 64-bit float stereo. */
	double dl[] = {0.5, 0.25, -1.0, 1.0};
	wb_riff(&w);
	wb_fmt_any(&w, 3, 2, 32000, 64, false);
	wb_data_raw(&w, dl, sizeof(dl));
	wb_done(&w);
	assert_int_equal(open_mem(&w, &r), 0);
	assert_int_equal(dr_wav_reader_info(r)->bits, 64);
	assert_int_equal(dr_wav_reader_info(r)->frames, 2);
	assert_int_equal(dr_wav_reader_read_mono_float(r, f, 8), 2);
	assert_true(f[0] == 0.375f && f[1] == 0.0f);
	dr_wav_reader_free(r);

	/* 16-bit as floats: exactly s / 32768. */
	int16_t s16[] = {INT16_MIN, -1, 0, 12345, INT16_MAX};
	wb_riff(&w);
	wb_fmt(&w, 1, 1, 8000, 16);
	wb_data(&w, s16, 5, 10);
	wb_done(&w);
	assert_int_equal(open_mem(&w, &r), 0);
	assert_int_equal(dr_wav_reader_info(r)->bits, 16);
	assert_int_equal(dr_wav_reader_read_mono_float(r, f, 3), 3);
	assert_int_equal(dr_wav_reader_read_mono_float(r, f + 3, 8), 2); /* the position is shared */
	assert_int_equal(dr_wav_reader_read_mono_float(r, f + 5, 3), 0);
	for (int i = 0; i < 5; i++)
		assert_true(f[i] == (float)(s16[i] / 32768.0));
	dr_wav_reader_free(r);

	/* Refused: 8-bit, 16-bit float, 64-bit integer; 24-bit with a block
	 * align that is not 3 bytes a channel. */
	static const struct {
		uint16_t tag, bits;
		int want;
	} bad[] = {{1, 8, -ENOTSUP}, {3, 16, -ENOTSUP}, {1, 64, -ENOTSUP}, {3, 24, -ENOTSUP}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wb_riff(&w);
		wb_fmt_any(&w, bad[i].tag, 1, 48000, bad[i].bits, false);
		wb_data_raw(&w, s32, sizeof(s32));
		assert_int_equal(open_mem(&w, &r), bad[i].want);
	}
	wb_riff(&w);
	wb_fmt_any(&w, 1, 1, 48000, 24, false);
	w.b[32] = 4; /* block align 4 for one 24-bit channel */
	wb_data_raw(&w, s32, sizeof(s32));
	assert_int_equal(open_mem(&w, &r), -EINVAL);
}

static void test_malformed_headers(void **state)
{
	(void)state;
	int16_t s[64];
	mt_chirp(s, 64);
	struct wb good, w;
	struct dr_wav_reader *r;
	wb_riff(&good);
	wb_fmt(&good, 1, 1, 48000, 16);
	wb_data(&good, s, 64, 128);
	wb_done(&good);
	assert_int_equal(open_mem(&good, &r), 0);
	dr_wav_reader_free(r);

	/* Every cut inside the header is refused (never a crash or a read
	 * past the end: ASan watches). */
	for (size_t cut = 0; cut < 44; cut++) {
		w = good;
		w.n = cut;
		assert_true(open_mem(&w, &r) < 0);
		assert_null(r);
	}
	/* A cut inside the samples: only the frames really there, and an odd
	 * trailing byte is not half a sample. */
	w = good;
	w.n = 44 + 21;
	assert_int_equal(open_mem(&w, &r), 0);
	assert_int_equal(dr_wav_reader_info(r)->frames, 10);
	dr_wav_reader_free(r);

	/* A data size larger than the file (streaming writers leave
	 * 0xFFFFFFFF): clamped to the file. */
	w = good;
	memset(w.b + 40, 0xFF, 4);
	assert_int_equal(open_mem(&w, &r), 0);
	assert_int_equal(dr_wav_reader_info(r)->frames, 64);
	int16_t m[128];
	assert_int_equal(dr_wav_reader_read_mono(r, m, 128), 64);
	assert_memory_equal(m, s, sizeof(s));
	dr_wav_reader_free(r);

	/* fmt claiming to be longer than the file. */
	w = good;
	w.b[16] = 0xFF;
	w.b[17] = 0xFF;
	assert_int_equal(open_mem(&w, &r), -EINVAL);

	/* Not RIFF, not WAVE. */
	w = good;
	memcpy(w.b, "RIFX", 4);
	assert_int_equal(open_mem(&w, &r), -EINVAL);
	w = good;
	memcpy(w.b + 8, "AVI ", 4);
	assert_int_equal(open_mem(&w, &r), -EINVAL);

	/* Formats we do not take. */
	wb_riff(&w);
	wb_fmt(&w, 1, 1, 48000, 8);
	wb_data(&w, s, 4, 8);
	assert_int_equal(open_mem(&w, &r), -ENOTSUP);
	wb_riff(&w);
	wb_fmt(&w, 1, 3, 48000, 16);
	wb_data(&w, s, 6, 12);
	assert_int_equal(open_mem(&w, &r), -ENOTSUP);
	wb_riff(&w);
	wb_fmt(&w, 3, 1, 48000, 16); /* float tag */
	wb_data(&w, s, 4, 8);
	assert_int_equal(open_mem(&w, &r), -ENOTSUP);
	wb_riff(&w);
	wb_fmt(&w, 1, 1, 0, 16); /* rate 0 */
	wb_data(&w, s, 4, 8);
	assert_int_equal(open_mem(&w, &r), -EINVAL);
	w = good;
	w.b[32] = 4; /* block align that does not match one 16-bit channel */
	assert_int_equal(open_mem(&w, &r), -EINVAL);

	/* No data chunk, no fmt chunk. */
	wb_riff(&w);
	wb_fmt(&w, 1, 1, 48000, 16);
	assert_int_equal(open_mem(&w, &r), -EINVAL);
	wb_riff(&w);
	wb_data(&w, s, 4, 8);
	assert_int_equal(open_mem(&w, &r), -EINVAL);

	/* A chunk size that would wrap a 32-bit offset. */
	wb_riff(&w);
	wb_bytes(&w, "junk", 4);
	wb_u32(&w, 0xFFFFFFF9u);
	wb_fmt(&w, 1, 1, 48000, 16);
	wb_data(&w, s, 4, 8);
	assert_int_equal(open_mem(&w, &r), -EINVAL);

	assert_int_equal(dr_wav_reader_open_mem(NULL, 0, &r), -EINVAL);
	assert_int_equal(dr_wav_reader_open(mt_path(dir, "missing.wav"), &r), -ENOENT);
}

static int setup(void **state)
{
	(void)state;
	dir = mt_tmpdir("wav");
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
		cmocka_unit_test(test_writer_reader_round_trip),
		cmocka_unit_test(test_writer_flush_leaves_playable_file),
		cmocka_unit_test(test_stereo_is_downmixed),
		cmocka_unit_test(test_extensible_and_unknown_chunks),
		cmocka_unit_test(test_malformed_headers),
		cmocka_unit_test(test_wider_sample_formats),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
