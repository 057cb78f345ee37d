/* SPDX-License-Identifier: MIT */
/*
 * dr_ring: a single-producer single-consumer ring of 16-bit samples. The
 * capture thread writes, the encoder thread reads; neither ever blocks or
 * takes a lock (C11 acquire/release atomics), so a stalled SD card on the
 * reader side never delays the microphone.
 *
 * Exactly one thread may call dr_ring_write and exactly one dr_ring_read.
 * dr_ring_free(NULL) is a no-op.
 */
#ifndef DR_RING_H
#define DR_RING_H

#include <stddef.h>
#include <stdint.h>

struct dr_ring;

/* capacity in samples (>0). -ENOMEM / -EINVAL. */
int dr_ring_new(size_t capacity, struct dr_ring **out);
void dr_ring_free(struct dr_ring *r);

/* Copies up to n samples in; returns how many fitted (< n means the ring is
 * full: the caller counts the rest as lost). */
size_t dr_ring_write(struct dr_ring *r, const int16_t *s, size_t n);
/* Copies up to n samples out; returns how many were there. */
size_t dr_ring_read(struct dr_ring *r, int16_t *s, size_t n);
/* Samples waiting (approximate when called from a third thread). */
size_t dr_ring_used(const struct dr_ring *r);
size_t dr_ring_capacity(const struct dr_ring *r);
/* Highest dr_ring_used() ever seen by the writer since creation. */
size_t dr_ring_high_water(const struct dr_ring *r);

#endif
