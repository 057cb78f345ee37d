/* SPDX-License-Identifier: MIT */
/*
 * dr_debounce: software debounce of one button, as a pure function of raw
 * edges and their times (no I/O, no clock).
 *
 * The first edge that changes the debounced level is passed on at once (a
 * press must feel instant), then raw edges are ignored for `interval_us`.
 * Physical edges alternate, so when a raw edge arrives after the lock-out
 * with the level we already report, a change was swallowed during the
 * lock-out: the missed edge is reported first (at the time it happened),
 * then this one. A tap shorter than the interval is therefore never lost.
 */
#ifndef DR_DEBOUNCE_H
#define DR_DEBOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dr_debounce {
	uint64_t interval_us;
	bool level;          /* debounced: true = pressed */
	uint64_t last_emit_us;
	bool have_emitted;
	bool pending;        /* an opposite raw edge was swallowed in the lock-out */
	uint64_t pending_us;
};

void dr_debounce_init(struct dr_debounce *d, uint64_t interval_us);
/* Feed one raw edge (pressed = new raw level). Writes 0, 1 or 2 debounced
 * edges into out[] (levels and times) and returns the count. */
size_t dr_debounce_feed(struct dr_debounce *d, bool pressed, uint64_t t_us, bool out_level[2],
			uint64_t out_t[2]);

#endif
