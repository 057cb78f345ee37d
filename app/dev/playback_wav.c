/* SPDX-License-Identifier: MIT */
/*
 * WAV file as the speaker, run in the playback worker thread. Frame k of the
 * file is the sound at CLOCK_MONOTONIC open_time + k / 48000 s: the gap
 * before each prompt is written as silence (up to "now"), then the prompt is
 * written in 10 ms steps, each no earlier than a speaker would play it. So
 * the WAV's timeline is the box's timeline since the device was opened, and
 * it ends with the end of the last prompt played. The header is patched
 * after every prompt and several times a second while playing, so a test
 * can read the file while the daemon runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture_impl.h"
#include "dev_util.h"
#include "media/wav.h"
#include "playback_impl.h"

#define STEP_FRAMES (DR_AUDIO_RATE / 100)	   /* 10 ms */
#define FLUSH_FRAMES (DR_AUDIO_RATE / 4)	   /* header refresh while playing */
#define SILENCE_CHUNK 4800

static const int16_t dr_silence[SILENCE_CHUNK];

struct wav_playback {
	struct dr_wav_writer *w;
	uint64_t t0_ns;
	uint64_t written; /* frames in the file */
};

static uint64_t frame_ns(const struct wav_playback *wp, uint64_t frame)
{
	return wp->t0_ns + frame * 1000000000u / DR_AUDIO_RATE;
}

/* Silence from the end of the file up to now. */
static int fill_gap(struct dr_playback *p, struct wav_playback *wp)
{
	uint64_t due = (dr_dev_mono_ns() - wp->t0_ns) / 1000u * DR_AUDIO_RATE / 1000000u;
	size_t k;
	int r;

	while (wp->written < due) {
		if (dr_pb_cancelled(p))
			return -ECANCELED;
		k = due - wp->written < SILENCE_CHUNK ? (size_t)(due - wp->written) : SILENCE_CHUNK;
		r = dr_wav_writer_write(wp->w, dr_silence, k);
		if (r < 0)
			return r;
		wp->written += k;
	}
	return 0;
}

static int wav_play(struct dr_playback *p, void *be, const int16_t *pcm, size_t n,
		    unsigned flags, uint64_t *started_us, uint64_t *ended_us)
{
	struct wav_playback *wp = be;
	size_t off = 0, k, since_flush = 0;
	int r, f;

	if (dr_pb_cancelled(p)) {
		r = -ECANCELED;
		goto out;
	}
	/* A continued chunk follows the last one's end, gapless. */
	r = flags & DR_PB_CONT ? 0 : fill_gap(p, wp);
	if (r < 0)
		goto out;
	*started_us = frame_ns(wp, wp->written) / 1000u;
	while (off < n) {
		k = n - off < STEP_FRAMES ? n - off : STEP_FRAMES;
		r = dr_wav_writer_write(wp->w, pcm + off, k);
		if (r < 0)
			goto out;
		off += k;
		wp->written += k;
		since_flush += k;
		if (since_flush >= FLUSH_FRAMES) {
			since_flush = 0;
			r = dr_wav_writer_flush(wp->w);
			if (r < 0)
				goto out;
		}
		if (!dr_pb_sleep_until(p, frame_ns(wp, wp->written))) {
			r = -ECANCELED;
			goto out;
		}
	}
	r = 0;
out:
	f = dr_wav_writer_flush(wp->w);
	if (r == 0 && f < 0)
		r = f;
	*ended_us = r == 0 ? frame_ns(wp, wp->written) / 1000u : dr_dev_mono_ns() / 1000u;
	return r;
}

static void wav_destroy(void *be)
{
	struct wav_playback *wp = be;

	if (!wp)
		return;
	dr_wav_writer_close(wp->w);
	free(wp);
}

static const struct dr_playback_ops wav_playback_ops = {
	.name = "wav",
	.play = wav_play,
	.destroy = wav_destroy,
};

int dr_playback_open_wav(const char *path, struct dr_playback **out, char *err, size_t errlen)
{
	struct wav_playback *wp;
	char name[160];
	int r;

	*out = NULL;
	wp = calloc(1, sizeof(*wp));
	if (!wp) {
		dr_dev_err(err, errlen, "audio: out of memory");
		return -ENOMEM;
	}
	r = dr_wav_writer_open(path, DR_AUDIO_RATE, &wp->w);
	if (r < 0) {
		dr_dev_err(err, errlen, "audio: cannot write speaker file %s: %s", path, strerror(-r));
		free(wp);
		return r;
	}
	wp->t0_ns = dr_dev_mono_ns();
	snprintf(name, sizeof(name), "wav:%s", path);
	return dr_playback_create(&wav_playback_ops, wp, name, out, err, errlen);
}
