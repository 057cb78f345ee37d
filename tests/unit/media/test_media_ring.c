/* SPDX-License-Identifier: MIT */
/* dr_ring: the lock-free hand-off between the microphone and the encoder. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "media/ring.h"

static void test_rejects_bad_capacity(void **state)
{
	(void)state;
	struct dr_ring *r = NULL;
	assert_int_equal(dr_ring_new(0, &r), -EINVAL);
	assert_int_equal(dr_ring_new(SIZE_MAX, &r), -EINVAL);
	assert_null(r);
	dr_ring_free(NULL);
}

static void test_fifo_wrap_and_full(void **state)
{
	(void)state;
	struct dr_ring *r;
	assert_int_equal(dr_ring_new(10, &r), 0);
	assert_int_equal(dr_ring_capacity(r), 10);
	int16_t in[32], out[32];
	for (int i = 0; i < 32; i++)
		in[i] = (int16_t)(i * 1000 - 7);

	/* Fill beyond capacity: only 10 fit, the caller learns it. */
	assert_int_equal(dr_ring_write(r, in, 13), 10);
	assert_int_equal(dr_ring_used(r), 10);
	assert_int_equal(dr_ring_write(r, in, 1), 0);
	assert_int_equal(dr_ring_high_water(r), 10);

	/* Partial read, then write across the end of the buffer. */
	assert_int_equal(dr_ring_read(r, out, 7), 7);
	assert_memory_equal(out, in, 7 * sizeof(int16_t));
	assert_int_equal(dr_ring_write(r, in + 10, 6), 6);
	assert_int_equal(dr_ring_used(r), 9);
	assert_int_equal(dr_ring_read(r, out, 32), 9);
	assert_memory_equal(out, in + 7, 9 * sizeof(int16_t));
	assert_int_equal(dr_ring_used(r), 0);
	assert_int_equal(dr_ring_read(r, out, 5), 0);

	/* Many laps keep the order. */
	int16_t next = 0, expect = 0;
	for (int lap = 0; lap < 1000; lap++) {
		int16_t buf[7];
		for (int i = 0; i < 7; i++)
			buf[i] = next++;
		assert_int_equal(dr_ring_write(r, buf, 7), 7);
		assert_int_equal(dr_ring_read(r, out, 7), 7);
		for (int i = 0; i < 7; i++)
			assert_int_equal(out[i], expect++);
	}
	assert_int_equal(dr_ring_high_water(r), 10);
	dr_ring_free(r);
}

/* ---- two threads ---- */

#define STRESS_SAMPLES (3u * 1000u * 1000u)

struct stress {
	struct dr_ring *ring;
	uint64_t sum_in, sum_out;
	uint32_t mismatches;
	uint32_t produced, consumed;
};

static int16_t sample_at(uint32_t i)
{
	uint32_t x = i * 2654435761u;
	return (int16_t)(x >> 16);
}

static void *producer(void *arg)
{
	struct stress *s = arg;
	int16_t buf[997];
	uint32_t rng = 1;
	while (s->produced < STRESS_SAMPLES) {
		rng = rng * 1664525u + 1013904223u;
		size_t n = 1 + (rng >> 8) % 997;
		if (n > STRESS_SAMPLES - s->produced)
			n = STRESS_SAMPLES - s->produced;
		for (size_t i = 0; i < n; i++) {
			buf[i] = sample_at(s->produced + (uint32_t)i);
			s->sum_in = s->sum_in * 31 + (uint16_t)buf[i];
		}
		size_t done = 0;
		while (done < n) { /* the test's producer retries instead of losing */
			size_t w = dr_ring_write(s->ring, buf + done, n - done);
			if (!w)
				sched_yield();
			done += w;
		}
		s->produced += (uint32_t)n;
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct stress *s = arg;
	int16_t buf[1500];
	uint32_t rng = 7;
	while (s->consumed < STRESS_SAMPLES) {
		rng = rng * 1664525u + 1013904223u;
		size_t got = dr_ring_read(s->ring, buf, 1 + (rng >> 8) % 1500);
		if (!got)
			sched_yield();
		for (size_t i = 0; i < got; i++) {
			if (buf[i] != sample_at(s->consumed + (uint32_t)i))
				s->mismatches++;
			s->sum_out = s->sum_out * 31 + (uint16_t)buf[i];
		}
		s->consumed += (uint32_t)got;
	}
	return NULL;
}

static void test_two_thread_stress(void **state)
{
	(void)state;
	/* A prime capacity smaller than the chunks, so writes and reads hit
	 * the wrap and the full/empty edges constantly. */
	struct stress s = {0};
	assert_int_equal(dr_ring_new(1021, &s.ring), 0);
	pthread_t p, c;
	assert_int_equal(pthread_create(&c, NULL, consumer, &s), 0);
	assert_int_equal(pthread_create(&p, NULL, producer, &s), 0);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	assert_int_equal(s.consumed, STRESS_SAMPLES);
	assert_int_equal(s.mismatches, 0);
	assert_true(s.sum_in == s.sum_out);
	assert_int_equal(dr_ring_used(s.ring), 0);
	assert_true(dr_ring_high_water(s.ring) <= 1021);
	dr_ring_free(s.ring);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rejects_bad_capacity),
		cmocka_unit_test(test_fifo_wrap_and_full),
		cmocka_unit_test(test_two_thread_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
