/* SPDX-License-Identifier: MIT */
/*
 * WAV file as the microphone. Paced: frames are handed out no earlier than a
 * real 48 kHz microphone would have produced them, in period steps, on a
 * CLOCK_MONOTONIC timeline that starts at dr_capture_start(); past the end
 * of the file it is silence. Unpaced: as fast as read, 0 at the end.
 * Live (the sound of a room): the timeline starts when the file is opened
 * and runs on between recordings; a recording hears what the file holds at
 * that moment, as a real microphone hears the room, so a late start would
 * cut the first word off here as it would there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture_impl.h"
#include "dev_util.h"
#include "media/wav.h"

struct wav_capture {
	struct dr_capture base;
	struct dr_wav_reader *rd;
	bool paced, live, at_end;
	size_t period;      /* frames */
	uint64_t t0_ns;     /* CLOCK_MONOTONIC at start (live: at open) */
	uint64_t delivered; /* frames since t0 */
};

static int fill(struct wav_capture *w, int16_t *buf, size_t n);

/* Live: drops what the room said while nobody was recording. */
static int skip_to_now(struct wav_capture *w)
{
	int16_t scratch[1024];
	uint64_t now = (dr_dev_mono_ns() - w->t0_ns) / 1000u * DR_AUDIO_RATE / 1000000u;

	while (w->delivered < now && !w->at_end) {
		size_t n = now - w->delivered < 1024 ? (size_t)(now - w->delivered) : 1024;
		int r = fill(w, scratch, n);
		if (r < 0)
			return r;
		w->delivered += n;
	}
	if (w->delivered < now)
		w->delivered = now;
	return 0;
}

static int wav_start(struct dr_capture *c)
{
	struct wav_capture *w = (struct wav_capture *)c;
	int r;

	if (w->live)
		return skip_to_now(w) < 0 ? -EIO : 0;
	r = dr_wav_reader_rewind(w->rd);
	if (r < 0)
		return -EIO;
	w->at_end = false;
	w->delivered = 0;
	w->t0_ns = dr_dev_mono_ns();
	return 0;
}

/* Fills buf[0..n) from the file, then silence past its end. */
static int fill(struct wav_capture *w, int16_t *buf, size_t n)
{
	size_t got = 0;
	long r;

	while (got < n && !w->at_end) {
		r = dr_wav_reader_read_mono(w->rd, buf + got, n - got);
		if (r < 0)
			return -EIO;
		if (r == 0)
			w->at_end = true;
		got += (size_t)r;
	}
	memset(buf + got, 0, (n - got) * sizeof(*buf));
	return (int)got;
}

static ssize_t wav_read(struct dr_capture *c, int16_t *buf, size_t frames)
{
	struct wav_capture *w = (struct wav_capture *)c;
	uint64_t due, now;
	size_t n;
	int r;

	if (!w->paced) {
		r = fill(w, buf, frames);
		if (r < 0)
			return r;
		w->delivered += (uint64_t)r;
		return r;
	}
	/* Whole periods the microphone has produced by now. */
	now = dr_dev_mono_ns();
	due = (now - w->t0_ns) / 1000u * DR_AUDIO_RATE / 1000000u;
	due -= due % w->period;
	if (due < w->delivered + w->period) {
		due = w->delivered + w->period;
		dr_dev_sleep_until_ns(w->t0_ns + due * 1000000000u / DR_AUDIO_RATE);
	}
	n = due - w->delivered;
	if (n > frames)
		n = frames;
	r = fill(w, buf, n);
	if (r < 0)
		return r;
	w->delivered += n;
	return (ssize_t)n;
}

static int wav_stop(struct dr_capture *c)
{
	(void)c;
	return 0;
}

static void wav_destroy(struct dr_capture *c)
{
	struct wav_capture *w = (struct wav_capture *)c;

	dr_wav_reader_free(w->rd);
	free(w);
}

/* Paced: what the microphone has produced by now and not handed out (less
 * than a period). Unpaced: nothing is ever waiting. */
static ssize_t wav_pending(struct dr_capture *c)
{
	struct wav_capture *w = (struct wav_capture *)c;
	uint64_t produced;

	if (!w->paced)
		return 0;
	produced = (dr_dev_mono_ns() - w->t0_ns) / 1000u * DR_AUDIO_RATE / 1000000u;
	return produced > w->delivered ? (ssize_t)(produced - w->delivered) : 0;
}

static const struct dr_capture_ops wav_capture_ops = {
	.name = "wav",
	.start = wav_start,
	.read = wav_read,
	.stop = wav_stop,
	.pending = wav_pending,
	.destroy = wav_destroy,
};

int dr_capture_open_wav_live(const char *path, unsigned period_ms, uint64_t *t0_ns,
			     struct dr_capture **out, char *err, size_t errlen)
{
	int r = dr_capture_open_wav(path, true, period_ms, out, err, errlen);
	struct wav_capture *w;

	if (r < 0)
		return r;
	w = (struct wav_capture *)*out;
	w->live = true;
	w->t0_ns = dr_dev_mono_ns();
	if (t0_ns)
		*t0_ns = w->t0_ns;
	return 0;
}

int dr_capture_open_wav(const char *path, bool paced, unsigned period_ms, struct dr_capture **out,
			char *err, size_t errlen)
{
	const struct dr_wav_info *info;
	struct wav_capture *w;
	int r;

	*out = NULL;
	if (period_ms < 1 || period_ms > 1000) {
		dr_dev_err(err, errlen, "audio: period_ms %u out of range", period_ms);
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		dr_dev_err(err, errlen, "audio: out of memory");
		return -ENOMEM;
	}
	w->base.ops = &wav_capture_ops;
	snprintf(w->base.name, sizeof(w->base.name), "wav:%s", path);
	w->paced = paced;
	w->period = DR_AUDIO_RATE * period_ms / 1000;
	r = dr_wav_reader_open(path, &w->rd);
	if (r < 0) {
		dr_dev_err(err, errlen, "audio: cannot read microphone file %s: %s", path, strerror(-r));
		goto err_free;
	}
	info = dr_wav_reader_info(w->rd);
	if (info->rate != DR_AUDIO_RATE) {
		dr_dev_err(err, errlen, "audio: microphone file %s is %u Hz; it must be 48000 Hz",
			   path, info->rate);
		r = -EINVAL;
		goto err_free;
	}
	*out = &w->base;
	return 0;

err_free:
	wav_destroy(&w->base);
	return r;
}
