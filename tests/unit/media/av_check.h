/* SPDX-License-Identifier: MIT */
/* Reading a recording with a picture back (av_check.c). */
#ifndef DR_TEST_AV_CHECK_H
#define DR_TEST_AV_CHECK_H

#include <stddef.h>
#include <stdint.h>

struct decoded {
	int16_t *pcm;
	size_t n;
	size_t frames;
	uint32_t *counter; /* per frame; UINT32_MAX for a flash frame */
	double *t;         /* per frame: its time, s */
};

/* mkvinfo and `ffprobe -v warning` pass the file without a word. */
void avt_assert_tools_clean(const char *path);
/* Decodes dir/plain with ffmpeg: the sound (48 kHz mono), every frame's
 * counter (the simulated camera's pattern) and time. */
void avt_decode(const char *dir, const char *plain, unsigned w, unsigned h, struct decoded *d);
void avt_decoded_free(struct decoded *d);
/* Counters in order (fails otherwise); the frames missing between. */
uint64_t avt_counter_gaps(const struct decoded *d);
/* First sample from `from` above the click level; -1 if none. */
long avt_find_click(const int16_t *s, size_t n, size_t from);
/* The A/V offset of each flash-and-click pair, ms (negative: sound ahead). */
size_t avt_av_offsets(const struct decoded *d, double off_ms[], size_t max);
/* Clicks 2 s apart to the millisecond, at least expect_min of them. */
void avt_assert_clicks_evenly(const struct decoded *d, size_t expect_min);

#endif
