/* SPDX-License-Identifier: MIT */
/*
 * dr_button: the one big button, as debounced edges with CLOCK_MONOTONIC
 * timestamps. Backends, from the board file:
 *
 *   [button]
 *   backend = gpiod | script | fifo
 *   chip = <label>        gpiod: the gpiochip is found by its LABEL (e.g.
 *                         "pinctrl-rp1" on a Pi 5), never by number
 *   line = <name|offset>  gpiod: line name (e.g. "GPIO17") or offset
 *   active_low = yes|no   gpiod: pressed reads as 0 (button to ground)
 *   bias = pull-up|pull-down|disable|as-is
 *   debounce_ms = 30      software debounce, every backend
 *   script = presses.txt  script: timed presses (see below)
 *   fifo = /run/diaryroom/button   fifo: created if missing
 *
 * Script and FIFO lines (blank lines and # comments ignored):
 *   <ms> press [<hold_ms>]   down at <ms>, up <hold_ms> later (default 150)
 *   <ms> down | <ms> up      a raw edge
 * In a script, <ms> counts from when the button was opened. In the FIFO
 * <ms> is optional and relative to when the line arrives ("press",
 * "press 3000", "down", "up").
 *
 * Raw edges go through the software debouncer (core/debounce.h) in every
 * backend, so chatter in a script behaves like chatter on a real contact.
 */
#ifndef DR_BUTTON_H
#define DR_BUTTON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dr_conf;

struct dr_button_edge {
	bool pressed;  /* true: went down; false: came up */
	uint64_t t_us; /* CLOCK_MONOTONIC */
};

struct dr_button;

int dr_button_open(const struct dr_conf *board, const char *board_dir, struct dr_button **out,
		   char *err, size_t errlen);
void dr_button_free(struct dr_button *b);
/* Poll this fd for POLLIN. */
int dr_button_fd(const struct dr_button *b);
/* Reads what is pending without blocking and returns up to max debounced
 * edges (0 if none), or -errno (-ENODEV: chip gone). */
int dr_button_read(struct dr_button *b, struct dr_button_edge *edges, size_t max);
/* Script backend: true once every scripted edge has been delivered. */
bool dr_button_script_done(const struct dr_button *b);

#endif
