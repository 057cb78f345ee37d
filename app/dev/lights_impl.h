/* SPDX-License-Identifier: MIT */
/*
 * Private to app/dev (and its tests): the lights backend ops. The generic
 * part (lights.c) runs the pattern step tables on a timerfd and calls
 * drive() with the wanted line states; a backend only sets lines.
 */
#ifndef DR_DEV_LIGHTS_IMPL_H
#define DR_DEV_LIGHTS_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "lights.h"

struct dr_lights_ops {
	const char *name;
	/* false: no lines to drive, so no timer (dr_lights_fd() is -1). */
	bool timed;
	/* Sets the main light and the recording lamp. 0 or -errno. */
	int (*drive)(void *be, bool main_on, bool recording_on);
	/* The camera light ([camera] light); NULL: the board has none. */
	int (*camera)(void *be, bool on);
	void (*destroy)(void *be);
};

/* Takes ownership of be (destroyed by ops->destroy, also on failure).
 * log may be NULL. */
int dr_lights_create(const struct dr_lights_ops *ops, void *be, struct dr_evlog *log,
		     struct dr_lights **out, char *err, size_t errlen);

/* true for the patterns during which the recording lamp is lit. */
bool dr_lights_recording_lamp(enum dr_light pattern);

int dr_lights_gpiod_open(const struct dr_conf *board, void **be, const struct dr_lights_ops **ops,
			 char *err, size_t errlen);

#endif
