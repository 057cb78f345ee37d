/* SPDX-License-Identifier: MIT */
/* The McAdams-coefficient voice disguise (mcadams.h). */
#include <complex.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mcadams.h"

#define ORDER 20
#define WIN 320 /* 20 ms at 16 kHz */
#define HOP (WIN / 2)

/* Levinson-Durbin on the autocorrelation of x: a[0] = 1, a[1..ORDER] with
 * A(z) = sum a[k] z^-k the prediction-error filter (minimum phase). false
 * for a silent frame. */
static bool lpc(const double *x, size_t n, double a[ORDER + 1])
{
	double r[ORDER + 1];
	for (int k = 0; k <= ORDER; k++) {
		double s = 0;
		for (size_t i = (size_t)k; i < n; i++)
			s += x[i] * x[i - (size_t)k];
		r[k] = s;
	}
	if (r[0] <= 1e-12)
		return false;
	r[0] *= 1.0 + 1e-9; /* a little white noise: keeps the recursion stable */
	double e = r[0], tmp[ORDER + 1];
	memset(a, 0, sizeof(double) * (ORDER + 1));
	a[0] = 1;
	for (int i = 1; i <= ORDER; i++) {
		double acc = r[i];
		for (int j = 1; j < i; j++)
			acc += a[j] * r[i - j];
		double k = -acc / e;
		memcpy(tmp, a, sizeof(tmp));
		for (int j = 1; j < i; j++)
			a[j] = tmp[j] + k * tmp[i - j];
		a[i] = k;
		e *= 1 - k * k;
		if (e <= 0)
			return false;
	}
	return true;
}

/* The roots of z^ORDER + a[1] z^(ORDER-1) + ... + a[ORDER] (Durand-Kerner:
 * every root refined at once from points on a circle). */
static void roots(const double a[ORDER + 1], double complex z[ORDER])
{
	for (int i = 0; i < ORDER; i++)
		z[i] = 0.9 * cexp(I * (2 * M_PI * i / ORDER + 0.4));
	for (int it = 0; it < 500; it++) {
		double moved = 0;
		for (int i = 0; i < ORDER; i++) {
			double complex p = 1, q = 1;
			for (int k = 1; k <= ORDER; k++)
				p = p * z[i] + a[k];
			for (int j = 0; j < ORDER; j++)
				if (j != i)
					q *= z[i] - z[j];
			if (cabs(q) < 1e-300)
				q = 1e-300;
			double complex d = p / q;
			z[i] -= d;
			moved = fmax(moved, cabs(d));
		}
		if (moved < 1e-12)
			break;
	}
}

/* a[] from its roots: prod (1 - z_k z^-1), real part */
static void poly(const double complex z[ORDER], double a[ORDER + 1])
{
	double complex c[ORDER + 1] = {1};
	for (int k = 0; k < ORDER; k++)
		for (int j = k + 1; j >= 1; j--)
			c[j] -= z[k] * c[j - 1];
	for (int j = 0; j <= ORDER; j++)
		a[j] = creal(c[j]);
}

static void warp(const double a[ORDER + 1], double b[ORDER + 1], double alpha)
{
	double complex z[ORDER];
	roots(a, z);
	for (int i = 0; i < ORDER; i++) {
		double ang = carg(z[i]), rad = cabs(z[i]);
		if (rad > 0.9999) /* keep the filter stable whatever the root finder gave */
			rad = 0.9999;
		if (fabs(cimag(z[i])) < 1e-9) { /* a real pole stays */
			z[i] = creal(z[i]) < 0 ? -rad : rad;
			continue;
		}
		double na = pow(fabs(ang), alpha);
		if (na > M_PI)
			na = M_PI;
		z[i] = rad * cexp(I * (ang < 0 ? -na : na)); /* pairs stay conjugate */
	}
	poly(z, b);
}

int adm_mcadams(float *x, size_t n, double alpha)
{
	if (!x || !(alpha > 0.5 && alpha < 1.5))
		return -EINVAL;
	if (n == 0)
		return 0;
	/* padded by a frame each side, so every sample is in two frames */
	size_t total = n + 2 * WIN;
	double *in = calloc(total, sizeof(*in)), *out = calloc(total, sizeof(*out));
	if (!in || !out) {
		free(in);
		free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		in[WIN + i] = x[i];
	double w[WIN]; /* square-root periodic Hann: w^2 overlap-adds to 1 at WIN/2 */
	for (int i = 0; i < WIN; i++)
		w[i] = sqrt(0.5 - 0.5 * cos(2 * M_PI * i / WIN));
	for (size_t s = 0; s + WIN <= total; s += HOP) {
		double f[WIN], e[WIN], y[WIN], a[ORDER + 1], b[ORDER + 1];
		for (int i = 0; i < WIN; i++)
			f[i] = in[s + (size_t)i] * w[i];
		if (!lpc(f, WIN, a)) {
			for (int i = 0; i < WIN; i++)
				out[s + (size_t)i] += f[i] * w[i];
			continue;
		}
		warp(a, b, alpha);
		for (int i = 0; i < WIN; i++) { /* residual: e = A(z) f */
			double acc = f[i];
			for (int k = 1; k <= ORDER && k <= i; k++)
				acc += a[k] * f[i - k];
			e[i] = acc;
		}
		for (int i = 0; i < WIN; i++) { /* y = e / B(z) */
			double acc = e[i];
			for (int k = 1; k <= ORDER && k <= i; k++)
				acc -= b[k] * y[i - k];
			y[i] = acc;
		}
		/* the new filter's gain is not the old one's: the frame keeps its
		 * energy, so the voice keeps its loudness contour */
		double ef = 0, ey = 0;
		for (int i = 0; i < WIN; i++) {
			ef += f[i] * f[i];
			ey += y[i] * y[i];
		}
		double g = ey > 1e-20 ? sqrt(ef / ey) : 0;
		for (int i = 0; i < WIN; i++)
			out[s + (size_t)i] += g * y[i] * w[i];
	}
	for (size_t i = 0; i < n; i++)
		x[i] = (float)out[WIN + i];
	free(in);
	free(out);
	return 0;
}
