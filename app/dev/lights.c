/* SPDX-License-Identifier: MIT */
/*
 * The box's light: pattern step tables (documented for staff in
 * docs/lights.md) run on a CLOCK_MONOTONIC timerfd. The step shown is
 * computed from the time since the pattern was set, so a late tick never
 * makes the rhythm drift. Every change of pattern is written to the event
 * log as {"ev":"light","pattern":"<name>"}, whatever the backend.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "dev_util.h"
#include "lights_impl.h"
#include "util/conf.h"
#include "util/evlog.h"

#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

/* A single step is steady (its ms is unused). */
static const struct dr_light_step steps_off[] = {{0, 0}};
/* Ready: on, with a short dip every 3 s so it reads as "alive and waiting"
 * and never looks like recording (which is steady). */
static const struct dr_light_step steps_idle[] = {{1, 2800}, {0, 200}};
/* The press was taken, the box is speaking: an immediate dip (the answer to
 * the press), then a dip every second, so that when recording starts and the
 * light goes steady the change is plain to see. */
static const struct dr_light_step steps_welcome[] = {{0, 250}, {1, 750}};
/* Recording: steady on, the whole time. The only steady-on pattern. */
static const struct dr_light_step steps_recording[] = {{1, 0}};
/* Less than a minute left: slow blink. */
static const struct dr_light_step steps_last_minute[] = {{1, 1000}, {0, 500}};
/* Saving, nothing to do: quicker even blink. */
static const struct dr_light_step steps_busy[] = {{1, 250}, {0, 250}};
/* Saved (and, after a staff stick, "done"): mostly off, one slow flash every
 * 2 s. Shown through the confirmations and the receipt, so it must never
 * look like recording (steady on) or like a question (even blink). */
static const struct dr_light_step steps_saved[] = {{1, 500}, {0, 1500}};
/* Tell staff: three short flashes, pause. */
static const struct dr_light_step steps_error[] = {{1, 150}, {0, 150}, {1, 150},
						   {0, 150}, {1, 150}, {0, 1500}};
/* Storage nearly full, tell staff: two short flashes, long pause. */
static const struct dr_light_step steps_full[] = {{1, 150}, {0, 150}, {1, 150}, {0, 2500}};
/* A question is open: a slow, even blink, "press now for yes". */
static const struct dr_light_step steps_question[] = {{1, 700}, {0, 700}};

static const struct {
	const struct dr_light_step *steps;
	size_t n;
} dr_light_tables[DR_LIGHT_COUNT] = {
	[DR_LIGHT_OFF] = {steps_off, NSTEPS(steps_off)},
	[DR_LIGHT_IDLE] = {steps_idle, NSTEPS(steps_idle)},
	[DR_LIGHT_WELCOME] = {steps_welcome, NSTEPS(steps_welcome)},
	[DR_LIGHT_RECORDING] = {steps_recording, NSTEPS(steps_recording)},
	[DR_LIGHT_LAST_MINUTE] = {steps_last_minute, NSTEPS(steps_last_minute)},
	[DR_LIGHT_BUSY] = {steps_busy, NSTEPS(steps_busy)},
	[DR_LIGHT_SAVED] = {steps_saved, NSTEPS(steps_saved)},
	[DR_LIGHT_ERROR] = {steps_error, NSTEPS(steps_error)},
	[DR_LIGHT_FULL] = {steps_full, NSTEPS(steps_full)},
	[DR_LIGHT_QUESTION] = {steps_question, NSTEPS(steps_question)},
};

size_t dr_lights_pattern_steps(enum dr_light pattern, const struct dr_light_step **steps)
{
	if ((unsigned)pattern >= DR_LIGHT_COUNT)
		pattern = DR_LIGHT_OFF;
	*steps = dr_light_tables[pattern].steps;
	return dr_light_tables[pattern].n;
}

bool dr_lights_recording_lamp(enum dr_light pattern)
{
	return pattern == DR_LIGHT_RECORDING || pattern == DR_LIGHT_LAST_MINUTE;
}

struct dr_lights {
	const struct dr_lights_ops *ops;
	void *be;
	struct dr_evlog *log;
	int tfd;
	enum dr_light pattern; /* DR_LIGHT_COUNT before the first set */
	uint64_t t0_ns;	       /* when the pattern was set */
};

static void arm(struct dr_lights *l, uint64_t t_ns)
{
	struct itimerspec its = {0};

	if (l->tfd < 0)
		return;
	its.it_value.tv_sec = (time_t)(t_ns / 1000000000u);
	its.it_value.tv_nsec = (long)(t_ns % 1000000000u);
	timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Shows the step due now and arms the timer for the next one. */
static int show(struct dr_lights *l)
{
	const struct dr_light_step *st;
	size_t n = dr_lights_pattern_steps(l->pattern, &st), i = 0;
	bool rec = dr_lights_recording_lamp(l->pattern);
	uint64_t cycle_ms = 0, pos_ms, start_ms, now = dr_dev_mono_ns();

	if (n == 1) {
		arm(l, 0);
		return l->ops->drive(l->be, st[0].on, rec);
	}
	for (size_t k = 0; k < n; k++)
		cycle_ms += st[k].ms;
	pos_ms = (now - l->t0_ns) / 1000000u;
	start_ms = pos_ms - pos_ms % cycle_ms; /* start of this cycle */
	pos_ms %= cycle_ms;
	while (pos_ms >= st[i].ms) {
		pos_ms -= st[i].ms;
		start_ms += st[i].ms;
		i++;
	}
	arm(l, l->t0_ns + (start_ms + st[i].ms) * 1000000u);
	return l->ops->drive(l->be, st[i].on, rec);
}

int dr_lights_set(struct dr_lights *l, enum dr_light pattern)
{
	if ((unsigned)pattern >= DR_LIGHT_COUNT)
		return -EINVAL;
	if (pattern == l->pattern)
		return 0;
	l->pattern = pattern;
	l->t0_ns = dr_dev_mono_ns();
	if (l->log)
		dr_evlog_emit(l->log, "light", ",\"pattern\":\"%s\"", dr_light_name(pattern));
	return show(l);
}

int dr_lights_fd(const struct dr_lights *l)
{
	return l->tfd;
}

int dr_lights_tick(struct dr_lights *l)
{
	uint64_t expiries;

	if (l->tfd < 0)
		return 0;
	if (read(l->tfd, &expiries, sizeof(expiries)) < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0; /* not due yet */
		return -errno;
	}
	if (l->pattern == DR_LIGHT_COUNT)
		return 0;
	return show(l);
}

int dr_lights_camera(struct dr_lights *l, bool on)
{
	return l && l->ops->camera ? l->ops->camera(l->be, on) : 0;
}

void dr_lights_free(struct dr_lights *l)
{
	if (!l)
		return;
	dr_lights_camera(l, false);
	l->ops->drive(l->be, false, false);
	l->ops->destroy(l->be);
	if (l->tfd >= 0)
		close(l->tfd);
	free(l);
}

int dr_lights_create(const struct dr_lights_ops *ops, void *be, struct dr_evlog *log,
		     struct dr_lights **out, char *err, size_t errlen)
{
	struct dr_lights *l;
	int r;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l) {
		r = -ENOMEM;
		goto err_destroy_be;
	}
	l->ops = ops;
	l->be = be;
	l->log = log;
	l->pattern = DR_LIGHT_COUNT;
	l->tfd = -1;
	if (ops->timed) {
		l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (l->tfd < 0) {
			r = -errno;
			free(l);
			goto err_destroy_be;
		}
	}
	*out = l;
	return 0;

err_destroy_be:
	ops->destroy(be);
	dr_dev_err(err, errlen, "lights: %s", strerror(-r));
	return r;
}

/* ---- log backend: no lines; the pattern changes are in the event log ---- */

static int log_drive(void *be, bool main_on, bool recording_on)
{
	(void)be;
	(void)main_on;
	(void)recording_on;
	return 0;
}

static void log_destroy(void *be)
{
	(void)be;
}

static const struct dr_lights_ops log_ops = {
	.name = "log",
	.timed = false,
	.drive = log_drive,
	.destroy = log_destroy,
};

int dr_lights_open(const struct dr_conf *board, struct dr_evlog *log, struct dr_lights **out,
		   char *err, size_t errlen)
{
	static const char *const known[] = {"backend", "chip", "main", "recording", "active_low", NULL};
	const struct dr_lights_ops *ops;
	const char *backend;
	void *be = NULL;
	int r;

	*out = NULL;
	r = dr_dev_check_keys(board, "lights", known, "", err, errlen);
	if (r < 0)
		return r;
	backend = dr_conf_get_str(board, "lights", "backend", "gpiod");
	if (!strcmp(backend, "log")) {
		ops = &log_ops;
	} else if (!strcmp(backend, "gpiod")) {
		r = dr_lights_gpiod_open(board, &be, &ops, err, errlen);
		if (r < 0)
			return r;
	} else {
		dr_dev_err(err, errlen, "board.conf: [lights] backend = %s: must be gpiod or log", backend);
		return -EINVAL;
	}
	return dr_lights_create(ops, be, log, out, err, errlen);
}
