/* SPDX-License-Identifier: MIT */
/*
 * dr_lights: the box's light. The core asks for a pattern (enum dr_light in
 * core/session.h); this module turns it into GPIO line values over time.
 *
 *   [lights]
 *   backend = gpiod | log
 *   chip = <label>
 *   main = <name|offset>       the light in/around the button (required)
 *   recording = <name|offset>  optional separate "recording" lamp: on exactly
 *                              while audio is being recorded
 *   active_low = yes|no
 *
 * Patterns on the main light (documented for staff in docs/lights.md):
 *   see dr_lights_pattern_steps() for the on/off timings.
 * The log backend writes {"ev":"light","pattern":"..."} to the event log and
 * drives no lines. The gpiod backend logs the same line too.
 */
#ifndef DR_LIGHTS_H
#define DR_LIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/session.h"

struct dr_conf;
struct dr_evlog;

struct dr_lights;

int dr_lights_open(const struct dr_conf *board, struct dr_evlog *log, struct dr_lights **out,
		   char *err, size_t errlen);
void dr_lights_free(struct dr_lights *l);
int dr_lights_set(struct dr_lights *l, enum dr_light pattern);
/* A timerfd the loop polls while a pattern blinks (-1 if the backend has no
 * timing); call dr_lights_tick() when it is readable. */
int dr_lights_fd(const struct dr_lights *l);
int dr_lights_tick(struct dr_lights *l);
/* The camera light (the board file's [camera] light line, gpiod backend,
 * requested only on a board whose [camera] backend is not none): on while
 * the camera captures frames. The daemon logs camera_on / camera_off as it
 * sets it; a board without the line ignores it (0). l may be NULL. */
int dr_lights_camera(struct dr_lights *l, bool on);

/* One step of a pattern: main light on/off for ms milliseconds. A pattern is
 * a list of steps repeated forever; a single step means steady. */
struct dr_light_step {
	unsigned char on;
	unsigned short ms;
};
/* The steps of a pattern; returns the count (>=1). */
size_t dr_lights_pattern_steps(enum dr_light pattern, const struct dr_light_step **steps);

#endif
