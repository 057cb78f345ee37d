/* SPDX-License-Identifier: MIT */
/*
 * dr_avclock: sound is the master clock of a recording with a picture.
 *
 * The microphone's sample count is the file's timeline. The capture thread
 * tells the clock, after each read, that sample number `samples` (counted
 * from the first captured) was heard at CLOCK_MONOTONIC `t_ns` (the read's
 * return time less what the device says it still holds: ALSA's delay, or
 * the simulated capture's equivalent). A camera frame's grab time
 * (CLOCK_MONOTONIC, from the driver's buffer) is mapped onto that
 * timeline.
 *
 * A microphone's crystal is not the system clock's: over ten minutes the
 * two drift apart by tens of milliseconds. The clock fits a line through
 * the anchors: each second of samples keeps its earliest anchor (the one
 * least delayed by thread scheduling; lateness is one-sided); the line
 * passes through the latest completed second's anchor (so the drift is
 * followed second by second) with the slope between the first and the
 * latest such second (the microphone's real rate, for the second since).
 *
 * dr_avclock_anchor from one thread (the audio capture), dr_avclock_map
 * from any; both take a mutex for a few arithmetic operations.
 */
#ifndef DR_AVCLOCK_H
#define DR_AVCLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct dr_avclock {
	pthread_mutex_t mu;
	uint32_t rate;      /* nominal samples per second */
	uint64_t window;    /* samples per anchor window (1 s) */
	bool have;          /* any anchor yet */
	/* the current window's earliest anchor, as offset = t - s * nominal */
	uint64_t win_start;
	double win_s, win_off;
	bool win_have;
	/* the first and latest completed windows */
	int done;           /* completed windows, saturating at 2 */
	double a_s, a_off, b_s, b_off;
};

/* rate: nominal samples per second. 0 or -errno (mutex). */
int dr_avclock_init(struct dr_avclock *c, uint32_t rate);
void dr_avclock_destroy(struct dr_avclock *c);
/* Forgets all anchors (a new recording). */
void dr_avclock_reset(struct dr_avclock *c);
/* Sample number `samples` was heard at t_ns. */
void dr_avclock_anchor(struct dr_avclock *c, uint64_t samples, uint64_t t_ns);
/* The sample number (may be negative: before the first) heard at t_ns.
 * -EAGAIN before the first anchor. */
int dr_avclock_map(struct dr_avclock *c, uint64_t t_ns, double *sample);

#endif
