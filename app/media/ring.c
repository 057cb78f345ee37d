/* SPDX-License-Identifier: MIT */
/*
 * Single-producer single-consumer sample ring.
 *
 * `head` (next sample to write) and `tail` (next sample to read) run over
 * [0, 2 * capacity): the buffer index is the position modulo capacity, and
 * the extra lap tells a full ring (head - tail == capacity) from an empty one
 * without a counter that could wrap (a 32-bit size_t would overflow after a
 * day of audio). Only the writer stores head, only the reader stores
 * tail. The writer publishes samples with a release store of head that the
 * reader's acquire load of head pairs with; the reader hands space back with
 * a release store of tail that the writer's acquire load pairs with, so the
 * writer never overwrites samples the reader is still copying out.
 */
#include "ring.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define DR_RING_CACHELINE 64

struct dr_ring {
	/* Each index on its own cache line: the two threads do not share one. */
	alignas(DR_RING_CACHELINE) atomic_size_t head; /* written by the producer */
	alignas(DR_RING_CACHELINE) atomic_size_t tail; /* written by the consumer */
	alignas(DR_RING_CACHELINE) atomic_size_t high_water; /* producer only */
	size_t capacity;
	int16_t *buf;
};

int dr_ring_new(size_t capacity, struct dr_ring **out)
{
	if (!out || capacity == 0 || capacity > SIZE_MAX / 4 / sizeof(int16_t))
		return -EINVAL;
	struct dr_ring *r = aligned_alloc(DR_RING_CACHELINE, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->buf = malloc(capacity * sizeof(int16_t));
	if (!r->buf) {
		free(r);
		return -ENOMEM;
	}
	r->capacity = capacity;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->high_water, 0);
	*out = r;
	return 0;
}

void dr_ring_free(struct dr_ring *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

static inline size_t ring_distance(const struct dr_ring *r, size_t from, size_t to)
{
	return to >= from ? to - from : to + 2 * r->capacity - from;
}

static inline size_t ring_advance(const struct dr_ring *r, size_t pos, size_t n)
{
	pos += n; /* pos < 2 * capacity and n <= capacity: no overflow */
	return pos >= 2 * r->capacity ? pos - 2 * r->capacity : pos;
}

static inline size_t ring_index(const struct dr_ring *r, size_t pos)
{
	return pos >= r->capacity ? pos - r->capacity : pos;
}

size_t dr_ring_write(struct dr_ring *r, const int16_t *s, size_t n)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	size_t used = ring_distance(r, tail, head);
	size_t space = r->capacity - used;
	if (n > space)
		n = space;
	if (n) {
		size_t at = ring_index(r, head);
		size_t first = r->capacity - at;
		if (first > n)
			first = n;
		memcpy(r->buf + at, s, first * sizeof(int16_t));
		memcpy(r->buf, s + first, (n - first) * sizeof(int16_t));
		atomic_store_explicit(&r->head, ring_advance(r, head, n), memory_order_release);
	}
	used += n;
	if (used > atomic_load_explicit(&r->high_water, memory_order_relaxed))
		atomic_store_explicit(&r->high_water, used, memory_order_relaxed);
	return n;
}

size_t dr_ring_read(struct dr_ring *r, int16_t *s, size_t n)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	size_t used = ring_distance(r, tail, head);
	if (n > used)
		n = used;
	if (n) {
		size_t at = ring_index(r, tail);
		size_t first = r->capacity - at;
		if (first > n)
			first = n;
		memcpy(s, r->buf + at, first * sizeof(int16_t));
		memcpy(s + first, r->buf, (n - first) * sizeof(int16_t));
		atomic_store_explicit(&r->tail, ring_advance(r, tail, n), memory_order_release);
	}
	return n;
}

size_t dr_ring_used(const struct dr_ring *r)
{
	/* From a third thread the two loads may see different moments; the
	 * result is then approximate, but clamped to a possible value. */
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	size_t used = ring_distance(r, tail, head);
	return used > r->capacity ? r->capacity : used;
}

size_t dr_ring_capacity(const struct dr_ring *r)
{
	return r->capacity;
}

size_t dr_ring_high_water(const struct dr_ring *r)
{
	return atomic_load_explicit(&r->high_water, memory_order_relaxed);
}
