/* SPDX-License-Identifier: MIT */
/*
 * Audio devices: capture (the microphone) and playback (the speaker), each a
 * handle over a const ops table with a real backend (ALSA) and a simulated one
 * (WAV files). All audio is 48 kHz, mono, signed 16-bit.
 *
 * Backends are chosen by the board file:
 *
 *   [audio]
 *   capture = alsa | wav         playback = alsa | wav
 *   capture_device = hw:CARD=... (alsa)     playback_device = ... (alsa)
 *   capture_file = mic.wav       (wav; relative paths are relative to the
 *                                 board folder; --set overrides)
 *   playback_file = speaker.wav  (wav)
 *   period_ms = 10               (alsa period / wav pacing step)
 *
 * Errors are negative errno. A hardware-state error is reported as:
 * -ENODEV  the device is gone or was never there (unplugged microphone),
 * -EIO     the device failed in a way a reopen may fix.
 * Every *_free(NULL) is a no-op.
 */
#ifndef DR_AUDIO_H
#define DR_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dr_conf;

/* ---- capture ---- */

struct dr_capture;

/* Opens the backend named in the board's [audio] section. board_dir resolves
 * relative file names. err gets "audio: <what>" on failure. */
int dr_capture_open(const struct dr_conf *board, const char *board_dir, struct dr_capture **out,
		    char *err, size_t errlen);
/* ALSA capture on a named PCM (e.g. "hw:0", or a "file" plugin PCM). */
int dr_capture_open_alsa(const char *device, unsigned period_ms, struct dr_capture **out,
			 char *err, size_t errlen);
/* WAV file as microphone. Each start() begins the file again from its first
 * sample. paced: deliver in real time (CLOCK_MONOTONIC, period_ms steps) like
 * a real microphone; otherwise as fast as read. After the end of the file it
 * delivers silence (paced) or returns 0 (unpaced). The WAV must be 48 kHz;
 * stereo is downmixed. */
int dr_capture_open_wav(const char *path, bool paced, unsigned period_ms, struct dr_capture **out,
			char *err, size_t errlen);
/* WAV file as the sound of the room: paced, on a timeline that starts now
 * (*t0_ns gets its CLOCK_MONOTONIC time, if not NULL) and runs on between
 * recordings; start() does not go back to the first sample, a recording
 * hears what the file holds at that moment. For tests of what a real
 * microphone would hear around the beep. */
int dr_capture_open_wav_live(const char *path, unsigned period_ms, uint64_t *t0_ns,
			     struct dr_capture **out, char *err, size_t errlen);
void dr_capture_free(struct dr_capture *c);
const char *dr_capture_name(const struct dr_capture *c);

/* Called from the capture thread only: */
int dr_capture_start(struct dr_capture *c);
/* Blocks until at least one period is there; returns frames read (>0), 0 at
 * the end of a non-paced input, or -errno (-ENODEV unplugged, -EIO). Recovers
 * from overruns by itself (counted). */
ssize_t dr_capture_read(struct dr_capture *c, int16_t *buf, size_t frames);
int dr_capture_stop(struct dr_capture *c);
/* Frames the microphone has already heard (before now) that a read has not
 * returned yet: the device's buffer plus its latency (a sound server's, say).
 * 0 when the backend cannot tell; never negative. */
ssize_t dr_capture_pending(struct dr_capture *c);
/* Samples the device dropped before we read them (xruns), since open. */
uint64_t dr_capture_xruns(const struct dr_capture *c);

/* ---- playback ---- */

struct dr_playback;

int dr_playback_open(const struct dr_conf *board, const char *board_dir,
		     struct dr_playback **out, char *err, size_t errlen);
int dr_playback_open_alsa(const char *device, struct dr_playback **out, char *err, size_t errlen);
/* Everything played goes into a 48 kHz mono WAV, paced in real time. Gaps
 * between prompts are written as silence (by CLOCK_MONOTONIC), so the WAV's
 * timeline matches the box's. The header is kept valid as it goes. */
int dr_playback_open_wav(const char *path, struct dr_playback **out, char *err, size_t errlen);
void dr_playback_free(struct dr_playback *p);

/* eventfd (CLOEXEC|NONBLOCK) readable when a play request has finished. */
int dr_playback_fd(const struct dr_playback *p);
/* Queue pcm (borrowed: must stay valid until it is reported done) under
 * `token`. Plays in a background thread; at most 8 queued. Returns at once. */
int dr_playback_play(struct dr_playback *p, const int16_t *pcm, size_t n, uint32_t token);
/* A sound made as it plays (a prompt decoded from its file a chunk at a
 * time): read() gives up to `max` samples (> 0), 0 at its end, or -errno;
 * close() frees it. Both are called from the playback thread, except that a
 * source never started (stopped while queued, or refused) is closed by the
 * caller of dr_playback_stop / dr_playback_free / dr_playback_play_source. */
struct dr_pcm_source {
	long (*read)(void *user, int16_t *buf, size_t max);
	void (*close)(void *user);
	void *user;
};
/* Queue a source under `token`, like dr_playback_play: its chunks are
 * played back to back, as one sound, and reported done once. Takes the
 * source (closed also on failure). */
int dr_playback_play_source(struct dr_playback *p, struct dr_pcm_source src, uint32_t token);
/* Abandon everything queued or playing; each is still reported done
 * (with status -ECANCELED). */
int dr_playback_stop(struct dr_playback *p);

struct dr_playback_done {
	uint32_t token;
	int status;          /* 0 played to the end, -ECANCELED, or -errno */
	uint64_t started_us; /* CLOCK_MONOTONIC when its first sample went out */
	uint64_t ended_us;   /* when its last sample had been played */
};
/* Next finished request; -EAGAIN when none. */
int dr_playback_collect(struct dr_playback *p, struct dr_playback_done *done);

#endif
