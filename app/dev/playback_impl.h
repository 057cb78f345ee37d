/* SPDX-License-Identifier: MIT */
/*
 * Private to app/dev: the playback handle shared by the backends. The
 * generic part (playback.c) owns the queue, the worker thread and the
 * completion eventfd; a backend only plays one buffer at a time, in the
 * worker thread, and must give up promptly once dr_pb_cancelled() is true
 * (dr_pb_wake_fd() becomes readable at that moment, so it can poll on it).
 */
#ifndef DR_DEV_PLAYBACK_IMPL_H
#define DR_DEV_PLAYBACK_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio.h"

/* flags of play(): */
#define DR_PB_CONT 1u /* this continues the last chunk, with no gap before it */
#define DR_PB_MORE 2u /* another chunk follows at once: do not wait for the end */

struct dr_playback_ops {
	const char *name;
	/* Plays pcm[0..n) to the end (with DR_PB_MORE: until it is all handed
	 * to the device). Returns 0, -ECANCELED, or -errno; sets *started_us /
	 * *ended_us (CLOCK_MONOTONIC) as far as it got. A cancelled or failed
	 * chunk ends the sound (the device is silenced). */
	int (*play)(struct dr_playback *p, void *be, const int16_t *pcm, size_t n, unsigned flags,
		    uint64_t *started_us, uint64_t *ended_us);
	void (*destroy)(void *be); /* after the worker has stopped */
};

/* Takes ownership of be (destroyed by ops->destroy, also on failure). */
int dr_playback_create(const struct dr_playback_ops *ops, void *be, const char *name,
		       struct dr_playback **out, char *err, size_t errlen);

bool dr_pb_cancelled(const struct dr_playback *p);
int dr_pb_wake_fd(const struct dr_playback *p);
/* Sleeps until CLOCK_MONOTONIC t_ns or until cancelled; false if cancelled. */
bool dr_pb_sleep_until(const struct dr_playback *p, uint64_t t_ns);

#endif
