/* SPDX-License-Identifier: MIT */
/* Mapping camera time onto the microphone's sample count (see avclock.h). */
#include "avclock.h"

#include <errno.h>
#include <string.h>

int dr_avclock_init(struct dr_avclock *c, uint32_t rate)
{
	memset(c, 0, sizeof(*c));
	if (!rate)
		return -EINVAL;
	c->rate = rate;
	c->window = rate;
	int err = pthread_mutex_init(&c->mu, NULL);
	return -err;
}

void dr_avclock_destroy(struct dr_avclock *c)
{
	pthread_mutex_destroy(&c->mu);
}

void dr_avclock_reset(struct dr_avclock *c)
{
	pthread_mutex_lock(&c->mu);
	c->have = c->win_have = false;
	c->done = 0;
	c->win_start = 0;
	pthread_mutex_unlock(&c->mu);
}

static double nominal_ns(const struct dr_avclock *c)
{
	return 1e9 / (double)c->rate;
}

void dr_avclock_anchor(struct dr_avclock *c, uint64_t samples, uint64_t t_ns)
{
	double off = (double)t_ns - (double)samples * nominal_ns(c);
	pthread_mutex_lock(&c->mu);
	if (c->win_have && samples >= c->win_start + c->window) {
		if (c->done == 0) {
			c->a_s = c->win_s;
			c->a_off = c->win_off;
		}
		c->b_s = c->win_s;
		c->b_off = c->win_off;
		if (c->done < 2)
			c->done++;
		c->win_have = false;
	}
	if (!c->win_have) {
		c->win_start = samples;
		c->win_have = true;
		c->win_s = (double)samples;
		c->win_off = off;
	} else if (off < c->win_off) {
		c->win_s = (double)samples;
		c->win_off = off;
	}
	c->have = true;
	pthread_mutex_unlock(&c->mu);
}

int dr_avclock_map(struct dr_avclock *c, uint64_t t_ns, double *sample)
{
	pthread_mutex_lock(&c->mu);
	if (!c->have) {
		pthread_mutex_unlock(&c->mu);
		return -EAGAIN;
	}
	double slope = 0, s_ref, off_ref;
	if (c->done >= 1) {
		s_ref = c->b_s;
		off_ref = c->b_off;
		/* the current window's minimum may already be better (later) */
		if (c->done >= 2 && c->b_s - c->a_s >= (double)c->window)
			slope = (c->b_off - c->a_off) / (c->b_s - c->a_s);
	} else {
		s_ref = c->win_s;
		off_ref = c->win_off;
	}
	pthread_mutex_unlock(&c->mu);
	/* t = s * nominal + off_ref + slope * (s - s_ref) */
	double t = (double)t_ns;
	*sample = (t - off_ref + slope * s_ref) / (nominal_ns(c) + slope);
	return 0;
}
