/* SPDX-License-Identifier: MIT */
/*
 * The session state machine. See session.h for the shape; the rules that are
 * not obvious from it:
 *
 * - Every stop, kept or not, goes through FINALISING and waits for the
 *   recorder to report the file closed before anything is said. So there is
 *   never a second recording while the first is still being written, and the
 *   box only says "saved" after the catalogue has it.
 * - A press that arrives while the box is speaking, saving or telling is
 *   ignored (and logged): the light has already shown that the box heard the
 *   first press, and a second press must never cancel a testimony.
 * - Every prompt has a watchdog (its length plus prompt_slack_ms): a speaker
 *   that never reports "done" cannot leave the box stuck.
 */
#include "session.h"

#include <string.h>

struct out {
	struct dr_action *a;
	size_t n;
};

static void emit(struct out *o, struct dr_action act)
{
	if (o->n < DR_MAX_ACTIONS)
		o->a[o->n++] = act;
}

static void set_state(struct dr_core *c, struct out *o, enum dr_state to)
{
	if (c->state == to)
		return;
	emit(o, (struct dr_action){.type = DR_ACT_STATE, .from = c->state, .to = to});
	c->state = to;
}

static void light(struct out *o, enum dr_light l)
{
	emit(o, (struct dr_action){.type = DR_ACT_LIGHT, .light = l});
}

static void play(struct dr_core *c, struct out *o, enum dr_prompt p, uint64_t now)
{
	c->playing = true;
	c->playing_prompt = p;
	c->prompt_deadline = now + c->cfg.prompt_ms[p] + c->cfg.prompt_slack_ms;
	emit(o, (struct dr_action){.type = DR_ACT_PLAY, .prompt = p});
}

static void stop_playback(struct dr_core *c, struct out *o)
{
	if (!c->playing)
		return;
	c->playing = false;
	emit(o, (struct dr_action){.type = DR_ACT_STOP_PLAYBACK});
}

static void stop_recording(struct dr_core *c, struct out *o, enum dr_stop_reason why, bool keep)
{
	stop_playback(c, o); /* e.g. the one-minute warning */
	emit(o, (struct dr_action){.type = DR_ACT_STOP_RECORDING, .keep = keep, .reason = why});
	c->discarding = !keep;
	light(o, DR_LIGHT_BUSY);
}

static enum dr_light idle_light(const struct dr_core *c)
{
	return c->storage_low ? DR_LIGHT_FULL : DR_LIGHT_IDLE;
}

static void go_idle(struct dr_core *c, struct out *o)
{
	light(o, idle_light(c));
	set_state(c, o, DR_ST_IDLE);
}

static void tell(struct dr_core *c, struct out *o, enum dr_prompt p, enum dr_light l, uint64_t now)
{
	light(o, l);
	play(c, o, p, now);
	set_state(c, o, DR_ST_TELLING);
}

static void exit_now(struct dr_core *c, struct out *o)
{
	stop_playback(c, o);
	light(o, DR_LIGHT_OFF);
	set_state(c, o, DR_ST_EXITED);
	emit(o, (struct dr_action){.type = DR_ACT_EXIT});
}

void dr_core_config_default(struct dr_core_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->time_limit_ms = 600000;
	cfg->warning_ms = 60000;
	cfg->min_length_ms = 2000;
	cfg->prompt_slack_ms = 3000;
	for (int i = 0; i < DR_PROMPT_COUNT; i++)
		cfg->prompt_ms[i] = 10000;
}

void dr_core_init(struct dr_core *c, const struct dr_core_config *cfg, uint64_t now_ms)
{
	(void)now_ms;
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	c->state = DR_ST_IDLE;
}

size_t dr_core_start(struct dr_core *c, uint64_t now_ms, struct dr_action out[DR_MAX_ACTIONS])
{
	(void)now_ms;
	struct out o = {out, 0};
	light(&o, idle_light(c));
	return o.n;
}

/* A prompt finished (really, or by its watchdog). */
static void prompt_done(struct dr_core *c, struct out *o, enum dr_prompt p, uint64_t now)
{
	if (!c->playing || c->playing_prompt != p)
		return; /* stale: a prompt that was cut off earlier */
	c->playing = false;

	switch (c->state) {
	case DR_ST_WELCOME:
		play(c, o, DR_PROMPT_BEEP, now);
		set_state(c, o, DR_ST_BEEP);
		break;
	case DR_ST_BEEP:
		c->rec_start = now;
		c->warned = false;
		emit(o, (struct dr_action){.type = DR_ACT_START_RECORDING});
		light(o, DR_LIGHT_RECORDING);
		set_state(c, o, DR_ST_RECORDING);
		break;
	case DR_ST_TELLING:
		go_idle(c, o);
		break;
	default:
		break; /* the warning during a recording; anything while stopping */
	}
}

/* The recorder has closed the file (after our stop, or by itself on error). */
static void recording_done(struct dr_core *c, struct out *o, const struct dr_event *ev,
			   uint64_t now)
{
	switch (c->state) {
	case DR_ST_RECORDING:
		/* Ended by itself: the microphone or the disk failed. What was
		 * captured is kept. */
		stop_playback(c, o);
		tell(c, o, DR_PROMPT_ERROR, DR_LIGHT_ERROR, now);
		break;
	case DR_ST_FINALISING:
		/* Seam for the consent questions (they come between here and
		 * the outcome once the recording is safely on disk). */
		if (c->discarding)
			tell(c, o, DR_PROMPT_TOO_SHORT, DR_LIGHT_WELCOME, now);
		else if (ev->status < 0)
			tell(c, o, DR_PROMPT_ERROR, DR_LIGHT_ERROR, now);
		else
			tell(c, o, DR_PROMPT_SAVED, DR_LIGHT_SAVED, now);
		c->discarding = false;
		break;
	case DR_ST_STOPPING:
		exit_now(c, o);
		break;
	default:
		break;
	}
}

static void press(struct dr_core *c, struct out *o, uint64_t now)
{
	switch (c->state) {
	case DR_ST_IDLE:
		if (c->storage_low) {
			tell(c, o, DR_PROMPT_FULL, DR_LIGHT_FULL, now);
		} else {
			light(o, DR_LIGHT_WELCOME);
			play(c, o, DR_PROMPT_WELCOME, now);
			set_state(c, o, DR_ST_WELCOME);
		}
		break;
	case DR_ST_RECORDING:
		if (now - c->rec_start < c->cfg.min_length_ms)
			stop_recording(c, o, DR_STOP_TOO_SHORT, false);
		else
			stop_recording(c, o, DR_STOP_PRESS, true);
		set_state(c, o, DR_ST_FINALISING);
		break;
	default:
		emit(o, (struct dr_action){.type = DR_ACT_IGNORED_PRESS});
		break;
	}
}

static void tick(struct dr_core *c, struct out *o, uint64_t now)
{
	if (c->playing && now >= c->prompt_deadline) {
		/* The speaker never said it finished: carry on without it. */
		enum dr_prompt p = c->playing_prompt;
		emit(o, (struct dr_action){.type = DR_ACT_STOP_PLAYBACK});
		prompt_done(c, o, p, now);
	}
	if (c->state != DR_ST_RECORDING)
		return;
	uint64_t limit = c->rec_start + c->cfg.time_limit_ms;
	if (now >= limit) {
		stop_recording(c, o, DR_STOP_TIME_LIMIT, true);
		set_state(c, o, DR_ST_FINALISING);
		return;
	}
	if (!c->warned && c->cfg.warning_ms < c->cfg.time_limit_ms &&
	    now >= limit - c->cfg.warning_ms) {
		c->warned = true;
		light(o, DR_LIGHT_LAST_MINUTE);
		play(c, o, DR_PROMPT_WARNING, now);
	}
}

static void shutdown(struct dr_core *c, struct out *o)
{
	switch (c->state) {
	case DR_ST_RECORDING:
		/* Keep it whatever its length: the resident did not choose this. */
		stop_recording(c, o, DR_STOP_SHUTDOWN, true);
		set_state(c, o, DR_ST_STOPPING);
		break;
	case DR_ST_FINALISING:
		stop_playback(c, o);
		set_state(c, o, DR_ST_STOPPING);
		break;
	case DR_ST_STOPPING:
	case DR_ST_EXITED:
		break;
	default:
		exit_now(c, o);
		break;
	}
}

size_t dr_core_step(struct dr_core *c, const struct dr_event *ev, uint64_t now_ms,
		    struct dr_action out[DR_MAX_ACTIONS])
{
	struct out o = {out, 0};

	if (c->state == DR_ST_EXITED)
		return 0;
	switch (ev->type) {
	case DR_EV_PRESS:
		press(c, &o, now_ms);
		break;
	case DR_EV_RELEASE:
		break;
	case DR_EV_TICK:
		tick(c, &o, now_ms);
		break;
	case DR_EV_PROMPT_DONE:
		if ((unsigned)ev->prompt < DR_PROMPT_COUNT)
			prompt_done(c, &o, ev->prompt, now_ms);
		break;
	case DR_EV_RECORDING_DONE:
		recording_done(c, &o, ev, now_ms);
		break;
	case DR_EV_DEVICE_ERROR:
		if (c->state == DR_ST_RECORDING) {
			stop_recording(c, &o, DR_STOP_DEVICE_ERROR, true);
			set_state(c, &o, DR_ST_FINALISING);
		}
		break;
	case DR_EV_STORAGE_LOW:
	case DR_EV_STORAGE_OK:
		c->storage_low = ev->type == DR_EV_STORAGE_LOW;
		if (c->state == DR_ST_IDLE)
			light(&o, idle_light(c));
		break;
	case DR_EV_SHUTDOWN:
		shutdown(c, &o);
		break;
	}
	return o.n;
}

uint64_t dr_core_deadline(const struct dr_core *c)
{
	uint64_t d = DR_NO_DEADLINE;

	if (c->playing)
		d = c->prompt_deadline;
	if (c->state == DR_ST_RECORDING) {
		uint64_t limit = c->rec_start + c->cfg.time_limit_ms;
		if (!c->warned && c->cfg.warning_ms < c->cfg.time_limit_ms &&
		    limit - c->cfg.warning_ms < d)
			d = limit - c->cfg.warning_ms;
		if (limit < d)
			d = limit;
	}
	return d;
}

enum dr_state dr_core_state(const struct dr_core *c)
{
	return c->state;
}

bool dr_core_recording(const struct dr_core *c)
{
	return c->state == DR_ST_RECORDING;
}

const char *dr_state_name(enum dr_state s)
{
	static const char *const names[DR_ST_COUNT] = {
		[DR_ST_IDLE] = "idle",           [DR_ST_WELCOME] = "welcome",
		[DR_ST_BEEP] = "beep",           [DR_ST_RECORDING] = "recording",
		[DR_ST_FINALISING] = "finalising", [DR_ST_TELLING] = "telling",
		[DR_ST_STOPPING] = "stopping",   [DR_ST_EXITED] = "exited",
	};
	return (unsigned)s < DR_ST_COUNT ? names[s] : "?";
}

const char *dr_prompt_name(enum dr_prompt p)
{
	static const char *const names[DR_PROMPT_COUNT] = {
		[DR_PROMPT_WELCOME] = "welcome",     [DR_PROMPT_BEEP] = "beep",
		[DR_PROMPT_WARNING] = "warning",     [DR_PROMPT_TOO_SHORT] = "too_short",
		[DR_PROMPT_SAVED] = "saved",         [DR_PROMPT_FULL] = "full",
		[DR_PROMPT_ERROR] = "error",
	};
	return (unsigned)p < DR_PROMPT_COUNT ? names[p] : "?";
}

const char *dr_light_name(enum dr_light l)
{
	static const char *const names[DR_LIGHT_COUNT] = {
		[DR_LIGHT_OFF] = "off",           [DR_LIGHT_IDLE] = "idle",
		[DR_LIGHT_WELCOME] = "welcome",   [DR_LIGHT_RECORDING] = "recording",
		[DR_LIGHT_LAST_MINUTE] = "last_minute", [DR_LIGHT_BUSY] = "busy",
		[DR_LIGHT_SAVED] = "saved",       [DR_LIGHT_ERROR] = "error",
		[DR_LIGHT_FULL] = "full",
	};
	return (unsigned)l < DR_LIGHT_COUNT ? names[l] : "?";
}

const char *dr_stop_reason_name(enum dr_stop_reason r)
{
	switch (r) {
	case DR_STOP_PRESS: return "press";
	case DR_STOP_TIME_LIMIT: return "time_limit";
	case DR_STOP_DEVICE_ERROR: return "device_error";
	case DR_STOP_SHUTDOWN: return "shutdown";
	case DR_STOP_TOO_SHORT: return "too_short";
	}
	return "?";
}
