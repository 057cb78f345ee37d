/* SPDX-License-Identifier: MIT */
/*
 * ALSA playback backend, run in the playback worker thread. The PCM is
 * non-blocking: writes wait on the PCM's poll descriptors and the cancel
 * eventfd together, so dr_playback_stop() silences the speaker at once
 * (snd_pcm_drop) and a device that stops taking data is reported (-EIO after
 * a few seconds) instead of hanging. After the last write the PCM is
 * drained, so ended_us is when the last sample was really played.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "alsa_impl.h"
#include "capture_impl.h"
#include "dev_util.h"
#include "playback_impl.h"

#define PERIOD_MS 25
#define BUFFER_MS 250
#define STALL_MS 3000
#define MAX_PFDS 8

struct alsa_playback {
	snd_pcm_t *pcm;
	snd_pcm_uframes_t period, buffer;
	uint64_t underruns;
};

/* Waits until the PCM can take data, for at most timeout_ms, or until
 * cancelled. 1 ready (or timed out: the caller checks progress), 0
 * cancelled, <0 ALSA error. */
static int wait_writable(struct dr_playback *p, struct alsa_playback *a, int timeout_ms)
{
	struct pollfd pfd[MAX_PFDS + 1];
	unsigned short revents;
	int n, r;

	n = snd_pcm_poll_descriptors_count(a->pcm);
	if (n <= 0 || n > MAX_PFDS)
		return -EIO;
	pfd[0] = (struct pollfd){.fd = dr_pb_wake_fd(p), .events = POLLIN};
	r = snd_pcm_poll_descriptors(a->pcm, pfd + 1, (unsigned)n);
	if (r < 0)
		return r;
	r = poll(pfd, (nfds_t)n + 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 1 : -errno;
	if (dr_pb_cancelled(p))
		return 0;
	if (r == 0)
		return 1;
	r = snd_pcm_poll_descriptors_revents(a->pcm, pfd + 1, (unsigned)n, &revents);
	if (r < 0)
		return r;
	if (revents & POLLERR) {
		/* An xrun or a suspend shows as POLLERR; a vanished device
		 * as a state error. Let the next write tell which. */
		switch (snd_pcm_state(a->pcm)) {
		case SND_PCM_STATE_XRUN:
			return -EPIPE;
		case SND_PCM_STATE_SUSPENDED:
			return -ESTRPIPE;
		case SND_PCM_STATE_DISCONNECTED:
			return -ENODEV;
		default:
			break;
		}
	}
	return 1;
}

/* Underrun or suspend: recover and go on; anything else is fatal. */
static int recover(struct alsa_playback *a, int e)
{
	int r;

	if (e == -EPIPE) {
		a->underruns++;
		r = snd_pcm_prepare(a->pcm);
	} else if (e == -ESTRPIPE) {
		r = dr_alsa_resume(a->pcm);
	} else {
		return dr_alsa_fatal(e);
	}
	return r < 0 ? dr_alsa_fatal(r) : 0;
}

static int write_all(struct dr_playback *p, struct alsa_playback *a, const int16_t *pcm, size_t n,
		     uint64_t *started_us)
{
	uint64_t last_progress = dr_dev_mono_ns();
	snd_pcm_sframes_t w;
	size_t off = 0;
	int r;

	while (off < n) {
		if (dr_pb_cancelled(p))
			return -ECANCELED;
		w = snd_pcm_writei(a->pcm, pcm + off, n - off);
		if (w > 0) {
			if (!*started_us)
				*started_us = dr_dev_mono_ns() / 1000u;
			off += (size_t)w;
			last_progress = dr_dev_mono_ns();
			continue;
		}
		if (w == -EAGAIN || w == 0) {
			if (dr_dev_mono_ns() - last_progress > STALL_MS * 1000000ull)
				return -EIO;
			r = wait_writable(p, a, 500);
			if (r == 0)
				return -ECANCELED;
			if (r > 0)
				continue;
			w = r;
		}
		r = recover(a, (int)w);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Plays out what is queued in the device; returns when the last sample has
 * been played, or on cancel, or when the device stops making progress. */
static int drain(struct dr_playback *p, struct alsa_playback *a)
{
	snd_pcm_sframes_t delay = 0;
	uint64_t deadline;
	int r;

	if (snd_pcm_state(a->pcm) == SND_PCM_STATE_PREPARED) {
		/* Less than the start threshold was written. */
		r = snd_pcm_start(a->pcm);
		if (r < 0)
			return r == -EPIPE ? 0 : recover(a, r);
	}
	if (snd_pcm_delay(a->pcm, &delay) < 0 || delay < 0)
		delay = 0;
	deadline = dr_dev_mono_ns() + (uint64_t)delay * 1000000000u / DR_AUDIO_RATE +
		   STALL_MS * 1000000ull;
	r = snd_pcm_drain(a->pcm);
	if (r == 0)
		return 0;
	if (r == -EPIPE)
		return 0; /* it underran: everything was played */
	if (r != -EAGAIN)
		return recover(a, r) < 0 ? dr_alsa_fatal(r) : 0;
	/* Non-blocking drain: wait for the state to leave DRAINING. */
	while (snd_pcm_state(a->pcm) == SND_PCM_STATE_DRAINING) {
		if (dr_dev_mono_ns() > deadline)
			return -EIO;
		if (!dr_pb_sleep_until(p, dr_dev_mono_ns() + 5000000u))
			return -ECANCELED;
	}
	switch (snd_pcm_state(a->pcm)) {
	case SND_PCM_STATE_DISCONNECTED:
		return -ENODEV;
	case SND_PCM_STATE_SUSPENDED:
		return dr_alsa_resume(a->pcm) < 0 ? -EIO : 0;
	default:
		return 0;
	}
}

static int alsa_play(struct dr_playback *p, void *be, const int16_t *pcm, size_t n,
		     unsigned flags, uint64_t *started_us, uint64_t *ended_us)
{
	struct alsa_playback *a = be;
	int r;

	if (!(flags & DR_PB_CONT)) {
		r = snd_pcm_prepare(a->pcm);
		if (r < 0) {
			r = recover(a, r);
			if (r < 0)
				return r;
		}
	}
	r = write_all(p, a, pcm, n, started_us);
	if (r == 0 && !(flags & DR_PB_MORE))
		r = drain(p, a);
	if (r < 0)
		snd_pcm_drop(a->pcm);
	*ended_us = dr_dev_mono_ns() / 1000u;
	return r;
}

static void alsa_destroy(void *be)
{
	struct alsa_playback *a = be;

	if (!a)
		return;
	snd_pcm_close(a->pcm);
	free(a);
}

static const struct dr_playback_ops alsa_playback_ops = {
	.name = "alsa",
	.play = alsa_play,
	.destroy = alsa_destroy,
};

int dr_playback_open_alsa(const char *device, struct dr_playback **out, char *err, size_t errlen)
{
	struct alsa_playback *a;
	char name[160];
	int r;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a) {
		dr_dev_err(err, errlen, "audio: out of memory");
		return -ENOMEM;
	}
	r = dr_alsa_open(device, SND_PCM_STREAM_PLAYBACK, PERIOD_MS, BUFFER_MS, &a->pcm, &a->period,
			 &a->buffer, err, errlen);
	if (r < 0) {
		free(a);
		return r;
	}
	snprintf(name, sizeof(name), "alsa:%s", device);
	return dr_playback_create(&alsa_playback_ops, a, name, out, err, errlen);
}
