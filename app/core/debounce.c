/* SPDX-License-Identifier: MIT */
#include "debounce.h"

void dr_debounce_init(struct dr_debounce *d, uint64_t interval_us)
{
	*d = (struct dr_debounce){.interval_us = interval_us};
}

size_t dr_debounce_feed(struct dr_debounce *d, bool pressed, uint64_t t_us, bool out_level[2],
			uint64_t out_t[2])
{
	size_t n = 0;

	if (d->have_emitted && t_us < d->last_emit_us + d->interval_us) {
		/* Lock-out: remember the raw level, report nothing yet. */
		d->pending = pressed != d->level;
		d->pending_us = t_us;
		return 0;
	}
	if (pressed == d->level) {
		if (!d->pending)
			return 0; /* a repeated raw level: nothing happened */
		/* The opposite edge was swallowed in the lock-out: report it. */
		out_level[n] = !d->level;
		out_t[n] = d->pending_us;
		n++;
	}
	out_level[n] = pressed;
	out_t[n] = t_us;
	n++;
	d->level = pressed;
	d->last_emit_us = t_us;
	d->have_emitted = true;
	d->pending = false;
	return n;
}
