/* SPDX-License-Identifier: MIT */
/* A share copy's sound: decode, disguise, normalise, encode (sharecopy.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ebur128.h>
#include <opus/opusfile.h>
#include <samplerate.h>

#include "util/log.h"
#include "mcadams.h"
#include "media/oggopus.h"
#include "sharecopy.h"

#define RATE 48000
#define CEILING 0.891 /* -1 dBFS */
#define LOOK (RATE / 200) /* the limiter's ramps: 5 ms */
#define ROUNDS 4
#define MAX_SAMPLES ((size_t)RATE * 3600 * 4) /* 4 hours: far beyond any recording */

static int decode(const uint8_t *ogg, size_t len, float **pcm, size_t *n, char *why, size_t wl)
{
	int e;
	*pcm = NULL;
	*n = 0;
	OggOpusFile *of = op_open_memory(ogg, len, &e);
	if (!of)
		return dr_errf(why, wl, -EBADMSG, "not an Ogg Opus recording (opusfile: %d)", e);
	size_t cap = RATE * 10, got = 0;
	float *x = malloc(cap * sizeof(*x)), buf[5760 * 2];
	int r = x ? 0 : -ENOMEM;
	while (r == 0) {
		int li, k = op_read_float(of, buf, (int)(sizeof(buf) / sizeof(*buf)), &li);
		if (k == 0)
			break;
		if (k < 0) {
			r = dr_errf(why, wl, -EBADMSG, "the recording is damaged (opusfile: %d)", k);
			break;
		}
		int ch = op_channel_count(of, li);
		if (got + (size_t)k > MAX_SAMPLES) {
			r = dr_errf(why, wl, -EBADMSG, "the recording is longer than 4 hours");
			break;
		}
		if (got + (size_t)k > cap) {
			size_t nc = (got + (size_t)k) * 2;
			float *p = realloc(x, nc * sizeof(*p));
			if (!p) {
				r = -ENOMEM;
				break;
			}
			x = p;
			cap = nc;
		}
		for (int i = 0; i < k; i++) { /* mono: the channels' mean */
			float s = 0;
			for (int c = 0; c < ch; c++)
				s += buf[i * ch + c];
			x[got++] = s / (float)ch;
		}
	}
	op_free(of);
	if (r < 0) {
		free(x);
		return r;
	}
	*pcm = x;
	*n = got;
	return 0;
}

/* 48 kHz -> 16 kHz, McAdams, -> 48 kHz, n kept */
static int disguise(float *x, size_t n, char *why, size_t wl)
{
	size_t m = n / 3 + 64;
	float *lo = calloc(m, sizeof(*lo)), *hi = calloc(n + 64, sizeof(*hi));
	int r = lo && hi ? 0 : -ENOMEM;
	SRC_DATA d = {.data_in = x, .data_out = lo, .input_frames = (long)n,
		      .output_frames = (long)m, .src_ratio = 1.0 / 3};
	if (r == 0 && src_simple(&d, SRC_SINC_MEDIUM_QUALITY, 1))
		r = dr_errf(why, wl, -EIO, "resampling failed");
	if (r == 0)
		r = adm_mcadams(lo, (size_t)d.output_frames_gen, ADM_MCADAMS_ALPHA);
	SRC_DATA u = {.data_in = lo, .data_out = hi, .input_frames = d.output_frames_gen,
		      .output_frames = (long)(n + 64), .src_ratio = 3.0};
	if (r == 0 && src_simple(&u, SRC_SINC_MEDIUM_QUALITY, 1))
		r = dr_errf(why, wl, -EIO, "resampling failed");
	if (r == 0) { /* exactly n samples: the last few padded with silence */
		size_t k = (size_t)u.output_frames_gen < n ? (size_t)u.output_frames_gen : n;
		memcpy(x, hi, k * sizeof(*x));
		memset(x + k, 0, (n - k) * sizeof(*x));
	}
	free(lo);
	free(hi);
	return r;
}

static int loudness(const float *x, size_t n, double *lufs)
{
	ebur128_state *st = ebur128_init(1, RATE, EBUR128_MODE_I);
	if (!st)
		return -ENOMEM;
	int r = ebur128_add_frames_float(st, x, n) == EBUR128_SUCCESS &&
				ebur128_loudness_global(st, lufs) == EBUR128_SUCCESS
			? 0
			: -EIO;
	ebur128_destroy(&st);
	return r;
}

/* Every sample under CEILING: g[i] is the least gain any peak within LOOK
 * of i needs, averaged over +-LOOK (so every gain around a peak is at most
 * what the peak needs, and it ramps in and out over LOOK samples). */
static int limit(float *x, size_t n)
{
	float *need = malloc(n * sizeof(*need)), *m = malloc(n * sizeof(*m));
	if (!need || !m) {
		free(need);
		free(m);
		return -ENOMEM;
	}
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		float a = fabsf(x[i]);
		need[i] = a > CEILING ? (float)CEILING / a : 1.0f;
		any |= a > CEILING;
	}
	if (any) {
		for (size_t i = 0; i < n; i++)
			m[i] = 1.0f;
		for (size_t j = 0; j < n; j++) { /* only around the peaks */
			if (need[j] >= 1.0f)
				continue;
			size_t lo = j > LOOK ? j - LOOK : 0, hi = j + LOOK < n ? j + LOOK : n - 1;
			for (size_t i = lo; i <= hi; i++)
				m[i] = need[j] < m[i] ? need[j] : m[i];
		}
		double sum = 0;
		for (size_t i = 0; i < n && i <= LOOK; i++)
			sum += m[i];
		for (size_t i = 0; i < n; i++) { /* a running mean of m over [i-LOOK, i+LOOK] */
			size_t lo = i > LOOK ? i - LOOK : 0, hi = i + LOOK < n ? i + LOOK : n - 1;
			double g = sum / (double)(hi - lo + 1);
			x[i] *= (float)(g < need[i] ? g : need[i]);
			if (i + LOOK + 1 < n)
				sum += m[i + LOOK + 1];
			if (i >= LOOK)
				sum -= m[i - LOOK];
		}
	}
	free(need);
	free(m);
	return 0;
}

static int normalise(float *x, size_t n, double *lufs, char *why, size_t wl)
{
	double l;
	int r = loudness(x, n, &l);
	if (r < 0)
		return dr_errf(why, wl, r, "the loudness could not be measured");
	if (!isfinite(l) || l < -70)
		return dr_errf(why, wl, -ENODATA, "the recording is silent: there is nothing to normalise");
	/* a decoded peak over full scale is limited even if the level is right */
	float top = 0;
	for (size_t i = 0; i < n; i++)
		top = fabsf(x[i]) > top ? fabsf(x[i]) : top;
	for (int round = 0; round < ROUNDS && (fabs(l - ADM_SHARE_LUFS) > 0.2 || top > CEILING);
	     round++) {
		top = 0;
		float g = (float)pow(10, (ADM_SHARE_LUFS - l) / 20);
		for (size_t i = 0; i < n; i++)
			x[i] *= g;
		if ((r = limit(x, n)) < 0 || (r = loudness(x, n, &l)) < 0)
			return dr_errf(why, wl, r, "the loudness could not be measured");
	}
	*lufs = l;
	return 0;
}

/* the encoder's sink: a growing buffer */
struct mem {
	uint8_t *p;
	size_t len, cap;
};

static int mem_write(void *u, const unsigned char *buf, size_t len)
{
	struct mem *m = u;
	if (m->len + len > m->cap) {
		size_t cap = (m->len + len) * 2;
		uint8_t *p = realloc(m->p, cap);
		if (!p)
			return -ENOMEM;
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

static int mem_nothing(void *u)
{
	(void)u;
	return 0;
}

static int encode(const float *x, size_t n, struct mem *m, char *why, size_t wl)
{
	static const struct dr_sink_ops ops = {.write = mem_write, .sync = mem_nothing,
					       .close = mem_nothing};
	struct dr_oggopus_params p;
	dr_oggopus_params_default(&p);
	p.bitrate = 64000;
	p.complexity = 10;
	p.flush_ms = 400;
	p.serial = 0x5a4e; /* one stream per file */
	struct dr_oggopus *e;
	int r = dr_oggopus_new(&p, (struct dr_sink){&ops, m}, &e);
	if (r < 0)
		return dr_errf(why, wl, r, "the Opus encoder could not start");
	int16_t buf[4800];
	for (size_t i = 0; i < n && r == 0;) {
		size_t k = n - i < 4800 ? n - i : 4800;
		for (size_t j = 0; j < k; j++) {
			float v = x[i + j] * 32767.0f;
			buf[j] = (int16_t)lrintf(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
		}
		r = dr_oggopus_write(e, buf, k);
		i += k;
	}
	if (r == 0)
		r = dr_oggopus_finish(e);
	dr_oggopus_free(e);
	return r < 0 ? dr_errf(why, wl, r, "the Opus encoder failed") : 0;
}

int adm_sharecopy_pcm(float *x, size_t n, bool disg, struct adm_sharecopy_out *out, char *why,
		      size_t whylen)
{
	memset(out, 0, sizeof(*out));
	int r = 0;
	if (n == 0)
		r = dr_errf(why, whylen, -ENODATA, "the recording holds no sound");
	if (r == 0 && disg)
		r = disguise(x, n, why, whylen);
	if (r == 0)
		r = normalise(x, n, &out->lufs, why, whylen);
	struct mem m = {0};
	if (r == 0)
		r = encode(x, n, &m, why, whylen);
	free(x);
	if (r < 0) {
		free(m.p);
		return r == -ENOMEM ? dr_errf(why, whylen, r, "out of memory") : r;
	}
	out->ogg = m.p;
	out->len = m.len;
	out->samples = n;
	return 0;
}

int adm_sharecopy(const uint8_t *ogg, size_t len, bool disg, struct adm_sharecopy_out *out,
		  char *why, size_t whylen)
{
	memset(out, 0, sizeof(*out));
	float *x;
	size_t n;
	int r = decode(ogg, len, &x, &n, why, whylen);
	return r < 0 ? r : adm_sharecopy_pcm(x, n, disg, out, why, whylen);
}
