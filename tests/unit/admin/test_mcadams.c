/* SPDX-License-Identifier: MIT */
/*
 * The McAdams voice disguise (tools/admin/mcadams.c): with alpha 1 it gives
 * back its input (analysis, resynthesis and the overlap-add are exact);
 * with alpha 0.8 a resonance at 500 Hz (a first formant) moves to about
 * 692 Hz, as (2 pi 500 / 16000)^0.8 says; bad arguments are refused.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "mcadams.h"

#define N ADM_MCADAMS_RATE /* 1 s */

/* white noise (a fixed generator) through a resonator at f Hz */
static void vowel(float *x, size_t n, double f)
{
	double r = 0.97, c = 2 * r * cos(2 * M_PI * f / ADM_MCADAMS_RATE), y1 = 0, y2 = 0;
	uint32_t s = 12345;
	for (size_t i = 0; i < n; i++) {
		s = s * 1664525u + 1013904223u;
		double e = ((double)(s >> 8) / (1 << 24) - 0.5) * 0.1;
		double y = e + c * y1 - r * r * y2;
		y2 = y1;
		y1 = y;
		x[i] = (float)y;
	}
}

/* the frequency (300..1000 Hz, 10 Hz steps) where the averaged spectrum
 * of 512-sample Hann frames peaks */
static double peak(const float *x, size_t n)
{
	double best = 0, at = 0, c[512], s[512];
	for (double f = 300; f <= 1000; f += 10) {
		double p = 0, w = 2 * M_PI * f / ADM_MCADAMS_RATE;
		for (int i = 0; i < 512; i++) { /* window and tone once per frequency */
			double h = 0.5 - 0.5 * cos(2 * M_PI * i / 512);
			c[i] = h * cos(w * i);
			s[i] = h * sin(w * i);
		}
		for (size_t k = 0; k + 512 <= n; k += 256) {
			double re = 0, im = 0;
			for (int i = 0; i < 512; i++) {
				re += c[i] * x[k + (size_t)i];
				im -= s[i] * x[k + (size_t)i];
			}
			p += re * re + im * im;
		}
		if (p > best) {
			best = p;
			at = f;
		}
	}
	return at;
}

static void alpha_one_gives_back_the_input(void **state)
{
	(void)state;
	float *x = malloc(N * sizeof(*x)), *y = malloc(N * sizeof(*y));
	assert_non_null(x);
	assert_non_null(y);
	vowel(x, N, 700);
	for (size_t i = 0; i < N; i++)
		y[i] = x[i];
	assert_int_equal(adm_mcadams(y, N, 1.0), 0);
	double e = 0, d = 0;
	for (size_t i = 0; i < N; i++) {
		e += (double)x[i] * x[i];
		d += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
	}
	assert_true(10 * log10(e / d) > 60); /* float rounding only */
	free(x);
	free(y);
}

static void a_formant_moves_as_the_coefficient_says(void **state)
{
	(void)state;
	float *x = malloc(N * sizeof(*x));
	assert_non_null(x);
	vowel(x, N, 500);
	double before = peak(x, N);
	assert_int_equal(adm_mcadams(x, N, ADM_MCADAMS_ALPHA), 0);
	double after = peak(x, N);
	print_message("resonance: %.0f Hz before, %.0f Hz after\n", before, after);
	assert_true(before >= 450 && before <= 550);
	assert_true(after >= 640 && after <= 740); /* 692 expected */
	free(x);
}

static void bad_arguments_are_refused(void **state)
{
	(void)state;
	float x[4] = {0};
	assert_int_equal(adm_mcadams(NULL, 4, 0.8), -EINVAL);
	assert_int_equal(adm_mcadams(x, 4, 0.2), -EINVAL);
	assert_int_equal(adm_mcadams(x, 4, NAN), -EINVAL);
	assert_int_equal(adm_mcadams(x, 0, 0.8), 0);
	assert_int_equal(adm_mcadams(x, 4, 0.8), 0); /* shorter than a frame: fine */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(alpha_one_gives_back_the_input),
		cmocka_unit_test(a_formant_moves_as_the_coefficient_says),
		cmocka_unit_test(bad_arguments_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
