/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/debounce.h"

struct edges {
	bool level[64];
	uint64_t t[64];
	size_t n;
};

static void feed(struct dr_debounce *d, struct edges *e, bool level, uint64_t t)
{
	bool l[2];
	uint64_t tt[2];
	size_t k = dr_debounce_feed(d, level, t, l, tt);
	for (size_t i = 0; i < k; i++) {
		e->level[e->n] = l[i];
		e->t[e->n] = tt[i];
		e->n++;
	}
}

static void test_clean_press_release(void **state)
{
	(void)state;
	struct dr_debounce d;
	struct edges e = {0};
	dr_debounce_init(&d, 30000);
	feed(&d, &e, true, 1000000);
	feed(&d, &e, false, 1200000);
	assert_int_equal(e.n, 2);
	assert_true(e.level[0]);
	assert_int_equal(e.t[0], 1000000); /* passed on at once, not delayed */
	assert_false(e.level[1]);
}

static void test_chatter_is_one_press(void **state)
{
	(void)state;
	struct dr_debounce d;
	struct edges e = {0};
	dr_debounce_init(&d, 30000);
	uint64_t t = 1000000;
	for (int i = 0; i < 9; i++) /* down up down ... down within 9 ms */
		feed(&d, &e, i % 2 == 0, t + (uint64_t)i * 1000);
	for (int i = 0; i < 9; i++) /* release chatter 200 ms later, ends up */
		feed(&d, &e, i % 2 == 1 ? true : false, t + 200000 + (uint64_t)i * 1000);
	assert_int_equal(e.n, 2);
	assert_true(e.level[0]);
	assert_false(e.level[1]);
}

static void test_tap_shorter_than_interval_not_lost(void **state)
{
	(void)state;
	struct dr_debounce d;
	struct edges e = {0};
	dr_debounce_init(&d, 30000);
	feed(&d, &e, true, 1000000);
	feed(&d, &e, false, 1010000); /* swallowed by the lock-out */
	assert_int_equal(e.n, 1);
	feed(&d, &e, true, 3000000); /* the next tap */
	assert_int_equal(e.n, 3);
	assert_false(e.level[1]);
	assert_int_equal(e.t[1], 1010000); /* the missed release, at its time */
	assert_true(e.level[2]);
	assert_int_equal(e.t[2], 3000000);
}

static void test_repeated_level_ignored(void **state)
{
	(void)state;
	struct dr_debounce d;
	struct edges e = {0};
	dr_debounce_init(&d, 30000);
	feed(&d, &e, false, 1000000); /* already up */
	assert_int_equal(e.n, 0);
	feed(&d, &e, true, 2000000);
	feed(&d, &e, true, 3000000);
	assert_int_equal(e.n, 1);
}

static void test_zero_interval_passes_everything(void **state)
{
	(void)state;
	struct dr_debounce d;
	struct edges e = {0};
	dr_debounce_init(&d, 0);
	for (int i = 0; i < 10; i++)
		feed(&d, &e, i % 2 == 0, 1000 + (uint64_t)i);
	assert_int_equal(e.n, 10);
}

/* Chatter that goes on for the whole lock-out, at several configured
 * intervals: the contact bounces every 2 ms from the first edge, with a last
 * bounce 1.5 ms before the lock-out ends and settling 1 ms before it ends.
 * One press and one release, each at its first edge. Any lock-out shorter
 * than configured by more than 1.5 ms (half of it, say) reports more. */
static void bounce(struct dr_debounce *d, struct edges *e, uint64_t t0, uint64_t iv, bool to)
{
	for (uint64_t t = 0; t + 2000 <= iv; t += 2000)
		feed(d, e, (t / 2000) % 2 == 0 ? to : !to, t0 + t);
	feed(d, e, !to, t0 + iv - 1500);
	feed(d, e, to, t0 + iv - 1000);
}

static void test_chatter_spanning_the_whole_interval_is_one_press(void **state)
{
	(void)state;
	static const uint64_t intervals_ms[] = {10, 30, 50};
	for (size_t k = 0; k < sizeof(intervals_ms) / sizeof(intervals_ms[0]); k++) {
		uint64_t iv = intervals_ms[k] * 1000;
		struct dr_debounce d;
		struct edges e = {0};
		dr_debounce_init(&d, iv);
		uint64_t t0 = 1000000, t1 = t0 + 300000;
		bounce(&d, &e, t0, iv, true);
		assert_int_equal(e.n, 1);
		assert_true(e.level[0]);
		assert_int_equal(e.t[0], t0);
		bounce(&d, &e, t1, iv, false); /* the release, 300 ms later */
		assert_int_equal(e.n, 2);
		assert_false(e.level[1]);
		assert_int_equal(e.t[1], t1);
		/* nothing was held back to be reported later */
		feed(&d, &e, false, t1 + 5 * iv);
		assert_int_equal(e.n, 2);
	}
}

/* The lock-out is no longer than configured: a real release 1 ms after the
 * lock-out ends is reported when it happens, at its own time. */
static void test_edge_just_after_the_interval_passes_at_once(void **state)
{
	(void)state;
	struct dr_debounce d;
	struct edges e = {0};
	dr_debounce_init(&d, 30000);
	feed(&d, &e, true, 1000000);
	feed(&d, &e, false, 1031000);
	assert_int_equal(e.n, 2);
	assert_false(e.level[1]);
	assert_int_equal(e.t[1], 1031000);
}

/* Whatever the raw sequence, debounced edges alternate, start with a press,
 * and are in time order. */
static void test_random_edges_alternate(void **state)
{
	(void)state;
	uint64_t seed = 7;
	for (int run = 0; run < 2000; run++) {
		struct dr_debounce d;
		struct edges e = {0};
		dr_debounce_init(&d, 20000);
		uint64_t t = 0;
		bool level = false;
		for (int i = 0; i < 30 && e.n < 60; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			t += (seed >> 40) % 50000;
			level = !level;
			feed(&d, &e, level, t);
		}
		for (size_t i = 0; i < e.n; i++) {
			assert_int_equal(e.level[i], i % 2 == 0);
			if (i)
				assert_true(e.t[i] >= e.t[i - 1]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_press_release),
		cmocka_unit_test(test_chatter_is_one_press),
		cmocka_unit_test(test_tap_shorter_than_interval_not_lost),
		cmocka_unit_test(test_repeated_level_ignored),
		cmocka_unit_test(test_zero_interval_passes_everything),
		cmocka_unit_test(test_random_edges_alternate),
		cmocka_unit_test(test_chatter_spanning_the_whole_interval_is_one_press),
		cmocka_unit_test(test_edge_just_after_the_interval_passes_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
