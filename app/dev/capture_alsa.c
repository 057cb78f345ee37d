/* SPDX-License-Identifier: MIT */
/*
 * ALSA capture backend. The PCM is opened non-blocking so a stalled device
 * is noticed (-EIO after a few seconds without data) instead of hanging the
 * capture thread; dr_capture_read() waits with snd_pcm_wait().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "alsa_impl.h"
#include "capture_impl.h"
#include "dev_util.h"

/* No data for this long on a running capture: the device is stuck. */
#define STALL_MS 3000

struct alsa_capture {
	struct dr_capture base;
	snd_pcm_t *pcm;
	snd_pcm_uframes_t period, buffer;
	uint64_t t0_ns;     /* CLOCK_MONOTONIC when started */
	uint64_t delivered; /* frames read since started (or the last overrun) */
};

static int64_t ts_diff_us(const snd_htimestamp_t *a, const snd_htimestamp_t *b)
{
	return ((int64_t)a->tv_sec - b->tv_sec) * 1000000 + (a->tv_nsec - b->tv_nsec) / 1000;
}

/* Frames lost in an overrun: the full buffer discarded by prepare, plus the
 * time the device was stopped (an estimate; ALSA does not count them). */
static uint64_t lost_frames(struct alsa_capture *a)
{
	snd_pcm_status_t *st;
	snd_htimestamp_t trig, now;
	uint64_t lost = a->buffer;
	int64_t us;

	if (snd_pcm_status_malloc(&st) < 0)
		return lost;
	if (snd_pcm_status(a->pcm, st) >= 0) {
		snd_pcm_status_get_trigger_htstamp(st, &trig);
		snd_pcm_status_get_htstamp(st, &now);
		us = ts_diff_us(&now, &trig);
		if (us > 0 && us < 3600LL * 1000000)
			lost += (uint64_t)us * DR_AUDIO_RATE / 1000000;
	}
	snd_pcm_status_free(st);
	return lost;
}

/* Recovers from an overrun or suspend; other errors are returned mapped. */
static int recover(struct alsa_capture *a, int e)
{
	int r;

	if (e == -EPIPE || e == -ESTRPIPE) {
		__atomic_fetch_add(&a->base.xruns, lost_frames(a), __ATOMIC_RELAXED);
		r = e == -EPIPE ? snd_pcm_prepare(a->pcm) : dr_alsa_resume(a->pcm);
		if (r >= 0 && snd_pcm_state(a->pcm) == SND_PCM_STATE_PREPARED)
			r = snd_pcm_start(a->pcm);
		a->t0_ns = dr_dev_mono_ns(); /* alsa_pending's clock starts again */
		a->delivered = 0;
		return r < 0 ? dr_alsa_fatal(r) : 0;
	}
	return dr_alsa_fatal(e);
}

static int alsa_start(struct dr_capture *c)
{
	struct alsa_capture *a = (struct alsa_capture *)c;
	int r;

	snd_pcm_drop(a->pcm);
	r = snd_pcm_prepare(a->pcm);
	if (r >= 0)
		r = snd_pcm_start(a->pcm);
	a->t0_ns = dr_dev_mono_ns();
	a->delivered = 0;
	return r < 0 ? dr_alsa_fatal(r) : 0;
}

static ssize_t alsa_read(struct dr_capture *c, int16_t *buf, size_t frames)
{
	struct alsa_capture *a = (struct alsa_capture *)c;
	snd_pcm_uframes_t want = frames < a->period ? frames : a->period;
	snd_pcm_sframes_t avail, n;
	int r, waited_ms = 0;

	for (;;) {
		avail = snd_pcm_avail(a->pcm);
		if (avail < 0) {
			r = recover(a, (int)avail);
			if (r < 0)
				return r;
			continue;
		}
		if ((snd_pcm_uframes_t)avail >= want) {
			n = snd_pcm_readi(a->pcm, buf, frames < (size_t)avail ? frames : (size_t)avail);
			if (n > 0) {
				a->delivered += (uint64_t)n;
				return n;
			}
			if (n == -EAGAIN || n == 0)
				continue;
			r = recover(a, (int)n);
			if (r < 0)
				return r;
			continue;
		}
		if (waited_ms >= STALL_MS)
			return -EIO;
		r = snd_pcm_wait(a->pcm, 500);
		if (r == 0) {
			waited_ms += 500;
		} else if (r < 0) {
			r = recover(a, r);
			if (r < 0)
				return r;
		}
	}
}

static int alsa_stop(struct dr_capture *c)
{
	struct alsa_capture *a = (struct alsa_capture *)c;
	int r = snd_pcm_drop(a->pcm);

	return r < 0 ? dr_alsa_fatal(r) : 0;
}

static void alsa_destroy(struct dr_capture *c)
{
	struct alsa_capture *a = (struct alsa_capture *)c;

	snd_pcm_close(a->pcm);
	free(a);
}

/*
 * Frames heard and not yet read:
 *  - snd_pcm_delay(): for capture, the buffer plus the hardware's latency;
 *    exact on a sound card;
 *  - when it cannot tell (0: a plugin in front of a sound server, such as
 *    PulseAudio's, which holds back a couple of hundred milliseconds), the
 *    clock: 48 kHz since the start (or the last overrun), less what was
 *    read. Off by the crystal's drift (100 ppm is 60 ms in 10 minutes).
 * After an overrun (the delay fails) nothing: the device threw its buffer
 * away, and what a read would give next was heard after the overrun.
 * The caller bounds what it waits for.
 */
static ssize_t alsa_pending(struct dr_capture *c)
{
	struct alsa_capture *a = (struct alsa_capture *)c;
	snd_pcm_sframes_t d = 0;
	uint64_t heard;

	if (snd_pcm_delay(a->pcm, &d) < 0)
		return 0;
	if (d > 0)
		return (ssize_t)d;
	heard = (dr_dev_mono_ns() - a->t0_ns) / 1000u * DR_AUDIO_RATE / 1000000u;
	return heard > a->delivered ? (ssize_t)(heard - a->delivered) : 0;
}

static const struct dr_capture_ops alsa_capture_ops = {
	.name = "alsa",
	.start = alsa_start,
	.read = alsa_read,
	.stop = alsa_stop,
	.pending = alsa_pending,
	.destroy = alsa_destroy,
};

int dr_capture_open_alsa(const char *device, unsigned period_ms, struct dr_capture **out,
			 char *err, size_t errlen)
{
	struct alsa_capture *a;
	int r;

	*out = NULL;
	if (period_ms < 1 || period_ms > 1000) {
		dr_dev_err(err, errlen, "audio: period_ms %u out of range", period_ms);
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		dr_dev_err(err, errlen, "audio: out of memory");
		return -ENOMEM;
	}
	a->base.ops = &alsa_capture_ops;
	snprintf(a->base.name, sizeof(a->base.name), "alsa:%s", device);
	/* A half-second buffer rides out scheduling hiccups. */
	r = dr_alsa_open(device, SND_PCM_STREAM_CAPTURE, period_ms, 500, &a->pcm, &a->period,
			 &a->buffer, err, errlen);
	if (r < 0) {
		free(a);
		return r;
	}
	*out = &a->base;
	return 0;
}
