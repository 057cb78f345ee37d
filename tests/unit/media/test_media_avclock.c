/* SPDX-License-Identifier: MIT */
/*
 * dr_avclock on a simulated clock (no waiting): a microphone whose crystal
 * runs fast or slow against CLOCK_MONOTONIC, reads that return late by a
 * random scheduling delay, and camera frames mapped onto the sound's
 * sample count, checked at the start and after ten minutes.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "media/avclock.h"

#define RATE 48000
#define READ 480 /* samples per read: 10 ms */

/* Runs `secs` of simulated capture with the microphone off by `ppm` and
 * checks frames at every second: the mapped sample is within `tol_ms` of
 * the true one. Returns the worst error, ms. */
static double run(double ppm, double secs, double tol_ms)
{
	struct dr_avclock c;
	assert_int_equal(dr_avclock_init(&c, RATE), 0);
	double r = RATE * (1.0 + ppm * 1e-6); /* true samples per second */
	double t0 = 5e9;                      /* when sample 0 was heard, ns */
	double s_ = 0;
	assert_int_equal(dr_avclock_map(&c, 1, &s_), -EAGAIN);
	srand(7);
	double worst = 0;
	uint64_t total = (uint64_t)(secs * RATE);
	for (uint64_t s = READ; s <= total; s += READ) {
		/* the read returns when sample s is heard, plus 0..3 ms late, and
		 * says nothing is pending (what it cannot see is the lateness) */
		double late = (double)(rand() % 3000) * 1000.0;
		dr_avclock_anchor(&c, s, (uint64_t)(t0 + (double)s / r * 1e9 + late));
		if (s % RATE == 0 && s >= RATE) { /* a frame grabbed 20 ms ago */
			double tf = t0 + (double)s / r * 1e9 - 20e6;
			double got;
			assert_int_equal(dr_avclock_map(&c, (uint64_t)tf, &got), 0);
			double want = (tf - t0) / 1e9 * r;
			double err_ms = fabs(got - want) / RATE * 1000.0;
			if (err_ms > worst)
				worst = err_ms;
			if (err_ms > tol_ms)
				fail_msg("%.0f ppm, at %.0f s: frame mapped %.2f ms off", ppm,
					 (double)s / RATE, err_ms);
		}
	}
	/* before the first sample: negative */
	double got;
	assert_int_equal(dr_avclock_map(&c, (uint64_t)(t0 - 1e9), &got), 0);
	assert_true(got < -RATE * 0.9);
	dr_avclock_destroy(&c);
	return worst;
}

/* Ten minutes with the microphone 100 ppm fast or slow (60 ms over the
 * recording: more than the tolerance if not followed), within 5 ms
 * throughout, when the tolerance is -40/+60 ms. */
static void test_drift_followed_ten_minutes(void **state)
{
	(void)state;
	double w1 = run(100, 600, 5.0);
	double w2 = run(-100, 600, 5.0);
	double w3 = run(0, 600, 5.0);
	printf("worst mapping error over 10 min: +100 ppm %.2f ms, -100 ppm %.2f ms, 0 ppm %.2f ms\n",
	       w1, w2, w3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drift_followed_ten_minutes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
