/* SPDX-License-Identifier: MIT */
/* Reading a recording with a picture back, for test_media_recorder_av:
 * the reference tools, the decoded sound and frames, clicks and flashes. */
#include "av_check.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dev/camera.h"
#include "media_test.h"

#define RATE 48000


void avt_assert_tools_clean(const char *path)
{
	char out[8192];
	int st = mt_run(out, sizeof(out), "mkvinfo '%s' >/dev/null 2>&1", path);
	if (st)
		fail_msg("mkvinfo %d on %s", st, path);
	st = mt_run(out, sizeof(out), "ffprobe -v warning -i '%s' 2>&1", path);
	if (st || out[0])
		fail_msg("ffprobe %d on %s:\n%s", st, path, out);
}


void avt_decoded_free(struct decoded *d)
{
	free(d->pcm);
	free(d->counter);
	free(d->t);
}

void avt_decode(const char *dir, const char *plain, unsigned w, unsigned h, struct decoded *d)
{
	memset(d, 0, sizeof(*d));
	char out[4096];
	const char *p = mt_path(dir, plain);
	const char *raw = mt_path(dir, "dec.gray");
	const char *pcm = mt_path(dir, "dec.s16");
	int st = mt_run(out, sizeof(out),
			"ffmpeg -nostdin -v error -y -i '%s' -map 0:v -fps_mode passthrough -f rawvideo "
			"-pix_fmt gray '%s' -map 0:a -f s16le -ac 1 -ar 48000 '%s' 2>&1",
			p, raw, pcm);
	if (st)
		fail_msg("ffmpeg %d: %s", st, out);
	unsigned char *buf;
	size_t len;
	assert_int_equal(mt_read_file(pcm, &buf, &len), 0);
	d->pcm = (int16_t *)buf;
	d->n = len / 2;
	assert_int_equal(mt_read_file(raw, &buf, &len), 0);
	size_t fb = (size_t)w * h;
	d->frames = len / fb;
	d->counter = calloc(d->frames + 1, sizeof(uint32_t));
	d->t = calloc(d->frames + 1, sizeof(double));
	for (size_t i = 0; i < d->frames; i++) {
		uint32_t c = 0;
		int rc = dr_camera_pattern_counter(buf + i * fb, w, w, h, &c);
		if (rc < 0)
			fail_msg("frame %zu: no counter", i);
		d->counter[i] = rc == 0 ? UINT32_MAX : c;
	}
	free(buf);
	/* Frame times: packets in decode order (no B-frames in baseline). */
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		 "ffprobe -v error -select_streams v -show_entries packet=pts_time -of csv=p=0 '%s'", p);
	FILE *f = popen(cmd, "re");
	assert_non_null(f);
	size_t i = 0;
	char line[256];
	while (fgets(line, sizeof(line), f) && i < d->frames)
		d->t[i++] = atof(line);
	pclose(f);
	assert_int_equal(i, d->frames);
}

/* Counters in order; returns the frames missing between the first and the
 * last (gaps), flash frames standing for the counter they replaced. */
uint64_t avt_counter_gaps(const struct decoded *d)
{
	uint64_t gaps = 0;
	int64_t prev = -1;
	for (size_t i = 0; i < d->frames; i++) {
		int64_t c = d->counter[i] == UINT32_MAX ? prev + 1 : (int64_t)d->counter[i];
		if (prev >= 0) {
			if (c <= prev)
				fail_msg("frame %zu: counter %lld after %lld", i, (long long)c, (long long)prev);
			gaps += (uint64_t)(c - prev - 1);
		}
		prev = c;
	}
	return gaps;
}

/* First sample from `from` above the click level; -1 if none. */
long avt_find_click(const int16_t *s, size_t n, size_t from)
{
	for (size_t i = from; i < n; i++)
		if (abs(s[i]) > 15000)
			return (long)i;
	return -1;
}

/* A/V offset of each flash-and-click pair, ms: the click's time in the
 * decoded sound less the flash frame's time in the decoded picture
 * (negative: the sound is ahead). Returns how many pairs were found. */
size_t avt_av_offsets(const struct decoded *d, double off_ms[], size_t max)
{
	size_t k = 0;
	long from = 0;
	for (; k < max; k++) {
		long a = avt_find_click(d->pcm, d->n, (size_t)from);
		if (a < 0)
			break;
		from = a + RATE / 2;
		double at = (double)a / RATE, best = 1e9;
		for (size_t i = 0; i < d->frames; i++)
			if (d->counter[i] == UINT32_MAX && fabs(d->t[i] - at) < fabs(best - at))
				best = d->t[i];
		assert_true(best < 1e8);
		off_ms[k] = (at - best) * 1000.0;
	}
	return k;
}

/* Every click of the microphone in the decoded sound, 2 s apart to the
 * sample's precision: no sound lost or doubled anywhere. */
void avt_assert_clicks_evenly(const struct decoded *d, size_t expect_min)
{
	long from = 0, prev = -1;
	size_t k = 0;
	for (;; k++) {
		long a = avt_find_click(d->pcm, d->n, (size_t)from);
		if (a < 0)
			break;
		if (prev >= 0 && labs(a - prev - 2 * RATE) > RATE / 1000)
			fail_msg("click %zu at %ld, %ld samples after the one before (want %d)", k, a,
				 a - prev, 2 * RATE);
		prev = a;
		from = a + RATE / 2;
	}
	assert_true(k >= expect_min);
}

