/* SPDX-License-Identifier: MIT */
/*
 * The session state machine. See session.h for the shape; the rules that are
 * not obvious from it (the part after the recording, from listen-back to the
 * receipt, is in session_dialogue.c; the names in session_names.c):
 *
 * - Every stop, kept or not, goes through FINALISING and waits for the
 *   recorder to report the file closed (and catalogued, with its receipt
 *   number) before anything is said. So there is never a second recording
 *   while the first is still being written, and the box only says "saved"
 *   once the catalogue has it.
 * - A press during the welcome, "the camera is not working" or the beep
 *   (before capture has started)
 *   cancels: nothing has been recorded yet, so nothing is lost, and a quick
 *   press-press means "not now". The shell discards the catalogue row and
 *   file it made while the beep played (DR_ACT_STOP_RECORDING with
 *   DR_STOP_CANCELLED), the box says "nothing has been recorded", then idle.
 *   Chatter is not a second press: the debouncer swallows it.
 * - A press that arrives while the box is saving, saying "thank you" or a
 *   confirmation, or reading the receipt is ignored (and logged): once a
 *   testimony exists, a second press must never cancel it.
 * - A press is an answer only once the question itself has started playing,
 *   and only until answer_ms after it ended. A press during "thank you" or
 *   during the confirmation of the previous answer is not an answer, so a
 *   double press cannot give consent to sharing.
 * - Consent is saved (DR_ACT_CONSENT) and its confirmation is only spoken
 *   after DR_EV_CONSENT_SAVED; a power cut in between leaves the recording
 *   as locked as it was.
 * - Every prompt has a watchdog (its length plus prompt_slack_ms): a speaker
 *   that never reports "done" cannot leave the box stuck.
 */
#include "session.h"
#include "session_priv.h"

#include <string.h>




void drc_emit(struct out *o, struct dr_action act)
{
	if (o->n < DR_MAX_ACTIONS)
		o->a[o->n++] = act;
	else
		(*o->dropped)++; /* a bug in the core: the tests fail on it */
}

void drc_set_state(struct dr_core *c, struct out *o, enum dr_state to)
{
	if (c->state == to)
		return;
	drc_emit(o, (struct dr_action){.type = DR_ACT_STATE, .from = c->state, .to = to});
	c->state = to;
}

void drc_light(struct out *o, enum dr_light l)
{
	drc_emit(o, (struct dr_action){.type = DR_ACT_LIGHT, .light = l});
}

void drc_play(struct dr_core *c, struct out *o, enum dr_prompt p, uint64_t now)
{
	c->playing = true;
	c->playing_prompt = p;
	c->prompt_deadline = now + c->cfg.prompt_ms[p] + c->cfg.prompt_slack_ms;
	drc_emit(o, (struct dr_action){.type = DR_ACT_PLAY, .prompt = p});
	if (p == DR_PROMPT_ASK_STAFF || p == DR_PROMPT_ASK_SHARE || p == DR_PROMPT_ASK_SHARE_VIDEO ||
	    p == DR_PROMPT_ASK_CAMERA) {
		c->question_open = true; /* from its first word, a press answers it */
		c->answer_until = DR_NO_DEADLINE;
		drc_light(o, DR_LIGHT_QUESTION);
	}
}

void drc_stop_playback(struct dr_core *c, struct out *o)
{
	c->seq_n = c->seq_i = 0;
	c->pause_until = DR_NO_DEADLINE;
	if (!c->playing)
		return;
	c->playing = false;
	drc_emit(o, (struct dr_action){.type = DR_ACT_STOP_PLAYBACK});
}

/* Plays prompts one after another, with a pause after each. */
void drc_play_seq(struct dr_core *c, struct out *o, const enum dr_prompt *p,
		     const uint16_t *pause, size_t n, uint64_t now)
{
	if (n > DR_SEQ_MAX)
		n = DR_SEQ_MAX;
	memcpy(c->seq, p, n * sizeof(*p));
	for (size_t i = 0; i < n; i++)
		c->seq_pause[i] = pause ? pause[i] : 0;
	c->seq_n = (uint8_t)n;
	c->seq_i = 0;
	c->pause_until = DR_NO_DEADLINE;
	drc_play(c, o, c->seq[0], now);
}

void drc_play_one(struct dr_core *c, struct out *o, enum dr_prompt p, uint64_t now)
{
	drc_play_seq(c, o, &p, NULL, 1, now);
}

static void stop_recording(struct dr_core *c, struct out *o, enum dr_stop_reason why, bool keep,
			   uint64_t now)
{
	drc_stop_playback(c, o); /* e.g. the time-limit warning */
	drc_emit(o, (struct dr_action){.type = DR_ACT_STOP_RECORDING, .keep = keep, .reason = why});
	c->discarding = !keep;
	c->finalise_deadline = now + c->cfg.finalise_ms;
	drc_light(o, DR_LIGHT_BUSY);
}

static enum dr_light idle_light(const struct dr_core *c)
{
	return c->storage_low ? DR_LIGHT_FULL : DR_LIGHT_IDLE;
}

/* In idle: the work that waited for the session to be over. */
static void idle_work(struct dr_core *c, struct out *o)
{
	if (c->stick_in && !c->stick_begun) {
		c->stick_begun = true;
		drc_emit(o, (struct dr_action){.type = DR_ACT_STICK_BEGIN});
	}
	if (c->expiry_due) {
		c->expiry_due = false;
		drc_emit(o, (struct dr_action){.type = DR_ACT_EXPIRE});
	}
}

void drc_go_idle(struct dr_core *c, struct out *o)
{
	c->question_open = false;
	c->answer_until = DR_NO_DEADLINE;
	drc_light(o, idle_light(c));
	drc_set_state(c, o, DR_ST_IDLE);
	idle_work(c, o);
}

/* The welcome, "the camera is on", "the camera is not working" or the beep
 * has started: capture is due
 * after what is left of them. */
void drc_prepare(struct dr_core *c, struct out *o, enum dr_prompt from)
{
	uint32_t ms = c->cfg.prompt_ms[DR_PROMPT_BEEP];
	if (from == DR_PROMPT_WELCOME || from == DR_PROMPT_CAMERA_ON || from == DR_PROMPT_NO_CAMERA)
		ms += c->cfg.prompt_ms[from];
	drc_emit(o, (struct dr_action){.type = DR_ACT_PREPARE_RECORDING, .capture_in_ms = ms,
				       .video = c->video});
}

void drc_start_beep(struct dr_core *c, struct out *o, uint64_t now)
{
	drc_play_one(c, o, DR_PROMPT_BEEP, now);
	drc_prepare(c, o, DR_PROMPT_BEEP);
	drc_set_state(c, o, DR_ST_BEEP);
}

void drc_tell(struct dr_core *c, struct out *o, enum dr_prompt p, enum dr_light l, uint64_t now)
{
	c->question_open = false;
	c->answer_until = DR_NO_DEADLINE;
	drc_light(o, l);
	drc_play_one(c, o, p, now);
	drc_set_state(c, o, DR_ST_TELLING);
}

void drc_exit_now(struct dr_core *c, struct out *o)
{
	drc_stop_playback(c, o);
	drc_light(o, DR_LIGHT_OFF);
	drc_set_state(c, o, DR_ST_EXITED);
	drc_emit(o, (struct dr_action){.type = DR_ACT_EXIT});
}

void dr_core_config_default(struct dr_core_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->time_limit_ms = 600000;
	cfg->warning_ms = 60000;
	cfg->min_length_ms = 2000;
	cfg->prompt_slack_ms = 3000;
	cfg->answer_ms = 6000;
	cfg->digit_pause_ms = 400;
	cfg->finalise_ms = 30000;
	for (int i = 0; i < DR_PROMPT_COUNT; i++)
		cfg->prompt_ms[i] = 10000;
}

void dr_core_init(struct dr_core *c, const struct dr_core_config *cfg, uint64_t now_ms)
{
	(void)now_ms;
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	c->state = DR_ST_IDLE;
	c->pause_until = DR_NO_DEADLINE;
	c->answer_until = DR_NO_DEADLINE;
	c->listen_deadline = DR_NO_DEADLINE;
}

size_t dr_core_start(struct dr_core *c, uint64_t now_ms, struct dr_action out[DR_MAX_ACTIONS])
{
	(void)now_ms;
	struct out o = {out, 0, &c->actions_dropped};
	drc_light(&o, idle_light(c));
	return o.n;
}

/* The last prompt of a sequence has finished. */
static void seq_done(struct dr_core *c, struct out *o, enum dr_prompt p, uint64_t now)
{
	switch (c->state) {
	case DR_ST_WELCOME:
		if (c->cfg.camera && c->camera_ok)
			drc_ask_camera(c, o, now);
		else if (c->cfg.camera)
			drc_no_camera(c, o, now); /* then the beep */
		else
			drc_start_beep(c, o, now);
		break;
	case DR_ST_NO_CAMERA:
		drc_start_beep(c, o, now);
		break;
	case DR_ST_ASK_CAMERA:
		drc_camera_prompt_done(c, o, p, now);
		break;
	case DR_ST_BEEP:
		c->rec_start = now;
		c->warned = false;
		c->rec_video = c->video;
		drc_emit(o, (struct dr_action){.type = DR_ACT_START_RECORDING, .video = c->video});
		drc_light(o, DR_LIGHT_RECORDING);
		drc_set_state(c, o, DR_ST_RECORDING);
		break;
	case DR_ST_ASK_STAFF:
	case DR_ST_ASK_SHARE:
		if (p == DR_PROMPT_SHARE_YES || p == DR_PROMPT_SHARE_NO || p == DR_PROMPT_STAFF_NO) {
			drc_read_receipt(c, o, now);
		} else if (p == DR_PROMPT_ASK_STAFF || p == DR_PROMPT_ASK_SHARE ||
			   p == DR_PROMPT_ASK_SHARE_VIDEO) {
			c->answer_until = now + c->cfg.answer_ms; /* a press still counts */
		}
		break;
	case DR_ST_RECEIPT:
	case DR_ST_TELLING:
		drc_go_idle(c, o);
		break;
	case DR_ST_LISTEN:
		/* "here is your recording" is over: play it, with a watchdog
		 * of its own length plus the slack. */
		c->listen_deadline = now + c->rec_samples / 48 + c->cfg.prompt_slack_ms;
		drc_emit(o, (struct dr_action){.type = DR_ACT_PLAY_RECORDING});
		break;
	default:
		break; /* the warning during a recording; anything while stopping */
	}
}

/* A prompt finished (really, or by its watchdog). */
static void prompt_done(struct dr_core *c, struct out *o, enum dr_prompt p, uint64_t now)
{
	if (!c->playing || c->playing_prompt != p)
		return; /* stale: a prompt that was cut off earlier */
	c->playing = false;
	if (c->seq_n && c->seq_i + 1 < c->seq_n) {
		uint16_t pause = c->seq_pause[c->seq_i];
		c->seq_i++;
		if (pause)
			c->pause_until = now + pause;
		else
			drc_play(c, o, c->seq[c->seq_i], now);
		return;
	}
	c->seq_n = c->seq_i = 0;
	seq_done(c, o, p, now);
}

static void cancel(struct dr_core *c, struct out *o, uint64_t now)
{
	drc_stop_playback(c, o);
	drc_emit(o, (struct dr_action){.type = DR_ACT_STOP_RECORDING, .keep = false,
				   .reason = DR_STOP_CANCELLED});
	drc_tell(c, o, DR_PROMPT_CANCELLED, DR_LIGHT_WELCOME, now);
}

static void press(struct dr_core *c, struct out *o, uint64_t now)
{
	switch (c->state) {
	case DR_ST_LISTEN:
		/* a press skips the playback and goes on to the questions */
		drc_stop_playback(c, o);
		if (c->listen_deadline != DR_NO_DEADLINE)
			drc_emit(o, (struct dr_action){.type = DR_ACT_STOP_RECORDING_PLAYBACK});
		drc_listen_done(c, o, now);
		break;
	case DR_ST_IDLE:
		if (c->stick_in) {
			/* staff have their stick in: no session until it is out */
			drc_emit(o, (struct dr_action){.type = DR_ACT_IGNORED_PRESS, .stick = true});
		} else if (c->storage_low) {
			drc_tell(c, o, DR_PROMPT_FULL, DR_LIGHT_FULL, now);
		} else {
			c->video = false; /* sound only unless chosen */
			drc_light(o, DR_LIGHT_WELCOME);
			drc_play_one(c, o, DR_PROMPT_WELCOME, now);
			if (!c->cfg.camera) /* else once the choice is known */
				drc_prepare(c, o, DR_PROMPT_WELCOME);
			drc_set_state(c, o, DR_ST_WELCOME);
		}
		break;
	case DR_ST_WELCOME:
	case DR_ST_NO_CAMERA:
	case DR_ST_BEEP:
		cancel(c, o, now);
		break;
	case DR_ST_ASK_CAMERA:
		drc_camera_press(c, o, now);
		break;
	case DR_ST_RECORDING:
		if (now - c->rec_start < c->cfg.min_length_ms)
			stop_recording(c, o, DR_STOP_TOO_SHORT, false, now);
		else
			stop_recording(c, o, DR_STOP_PRESS, true, now);
		drc_set_state(c, o, DR_ST_FINALISING);
		break;
	case DR_ST_ASK_STAFF:
	case DR_ST_ASK_SHARE:
		if (c->question_open)
			drc_answer_yes(c, o);
		else /* "thank you" or a confirmation is playing */
			drc_emit(o, (struct dr_action){.type = DR_ACT_IGNORED_PRESS});
		break;
	default:
		drc_emit(o, (struct dr_action){.type = DR_ACT_IGNORED_PRESS});
		break;
	}
}

static void tick(struct dr_core *c, struct out *o, uint64_t now)
{
	if (c->playing && now >= c->prompt_deadline) {
		/* The speaker never said it finished: carry on without it. */
		enum dr_prompt p = c->playing_prompt;
		drc_emit(o, (struct dr_action){.type = DR_ACT_STOP_PLAYBACK});
		prompt_done(c, o, p, now);
	}
	if (!c->playing && c->pause_until != DR_NO_DEADLINE && now >= c->pause_until) {
		c->pause_until = DR_NO_DEADLINE;
		drc_play(c, o, c->seq[c->seq_i], now);
	}
	if (c->state == DR_ST_LISTEN && c->listen_deadline != DR_NO_DEADLINE &&
	    now >= c->listen_deadline) {
		drc_emit(o, (struct dr_action){.type = DR_ACT_STOP_RECORDING_PLAYBACK});
		drc_listen_done(c, o, now);
	}
	if (c->answer_until != DR_NO_DEADLINE && now >= c->answer_until) {
		/* No press: ask once more, then take silence as the safe answer. */
		c->answer_until = DR_NO_DEADLINE;
		c->question_open = false;
		if (c->state == DR_ST_ASK_CAMERA) {
			drc_camera_no_answer(c, o, now); /* sound only */
		} else if (c->asked < 2) {
			drc_ask(c, o, c->state, now, false);
		} else {
			if (c->state == DR_ST_ASK_SHARE)
				c->asked_share = true;
			drc_save_consent(c, o);
		}
	}
	if (c->state == DR_ST_FINALISING && now >= c->finalise_deadline) {
		/* The file is not reported closed (a storage that hangs): do not
		 * leave the resident waiting in silence. The recorder goes on
		 * trying; what it closes is catalogued (or recovered at the next
		 * start), and a new recording is refused while it is busy. */
		c->discarding = false;
		drc_tell(c, o, DR_PROMPT_ERROR, DR_LIGHT_ERROR, now);
		return;
	}
	if (c->state != DR_ST_RECORDING)
		return;
	uint64_t limit = c->rec_start + c->cfg.time_limit_ms;
	if (now >= limit) {
		stop_recording(c, o, DR_STOP_TIME_LIMIT, true, now);
		drc_set_state(c, o, DR_ST_FINALISING);
		return;
	}
	if (!c->warned && c->cfg.warning_ms < c->cfg.time_limit_ms &&
	    now >= limit - c->cfg.warning_ms) {
		c->warned = true;
		drc_light(o, DR_LIGHT_LAST_MINUTE);
		drc_play_one(c, o, DR_PROMPT_WARNING, now);
	}
}

static void shutdown(struct dr_core *c, struct out *o, uint64_t now)
{
	switch (c->state) {
	case DR_ST_RECORDING:
		/* Keep it whatever its length: the resident did not choose this. */
		stop_recording(c, o, DR_STOP_SHUTDOWN, true, now);
		drc_set_state(c, o, DR_ST_STOPPING);
		break;
	case DR_ST_FINALISING:
		drc_stop_playback(c, o);
		drc_set_state(c, o, DR_ST_STOPPING);
		break;
	case DR_ST_STOPPING:
	case DR_ST_EXITED:
		break;
	default:
		/* Mid-questions: what was answered is saved; the rest stays the
		 * safe answer (locked, within the team). */
		drc_exit_now(c, o);
		break;
	}
}

size_t dr_core_step(struct dr_core *c, const struct dr_event *ev, uint64_t now_ms,
		    struct dr_action out[DR_MAX_ACTIONS])
{
	struct out o = {out, 0, &c->actions_dropped};

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
		drc_recording_done(c, &o, ev, now_ms);
		break;
	case DR_EV_CONSENT_SAVED:
		drc_consent_saved(c, &o, ev, now_ms);
		break;
	case DR_EV_LISTEN_DONE:
		drc_listen_done(c, &o, now_ms);
		break;
	case DR_EV_DEVICE_ERROR:
		if (c->state == DR_ST_RECORDING) {
			stop_recording(c, &o, DR_STOP_DEVICE_ERROR, true, now_ms);
			drc_set_state(c, &o, DR_ST_FINALISING);
		}
		break;
	case DR_EV_STORAGE_LOW:
	case DR_EV_STORAGE_OK:
		c->storage_low = ev->type == DR_EV_STORAGE_LOW;
		if (c->state == DR_ST_IDLE)
			drc_light(&o, idle_light(c));
		break;
	case DR_EV_SHUTDOWN:
		shutdown(c, &o, now_ms);
		break;
	case DR_EV_STICK_IN:
		c->stick_in = true;
		if (c->state == DR_ST_IDLE)
			idle_work(c, &o);
		break;
	case DR_EV_STICK_OUT:
		c->stick_in = c->stick_begun = false;
		if (c->state == DR_ST_IDLE)
			drc_light(&o, idle_light(c));
		break;
	case DR_EV_EXPIRY_DUE:
		c->expiry_due = true;
		if (c->state == DR_ST_IDLE)
			idle_work(c, &o);
		break;
	case DR_EV_CAMERA:
		/* looked at as the next welcome ends; nothing is said now */
		c->camera_ok = ev->status == 0;
		break;
	}
	return o.n;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t dr_core_deadline(const struct dr_core *c)
{
	uint64_t d = DR_NO_DEADLINE;

	if (c->playing)
		d = c->prompt_deadline;
	else
		d = min_u64(d, c->pause_until);
	d = min_u64(d, c->answer_until);
	if (c->state == DR_ST_LISTEN)
		d = min_u64(d, c->listen_deadline);
	if (c->state == DR_ST_FINALISING)
		d = min_u64(d, c->finalise_deadline);
	if (c->state == DR_ST_RECORDING) {
		uint64_t limit = c->rec_start + c->cfg.time_limit_ms;
		if (!c->warned && c->cfg.warning_ms < c->cfg.time_limit_ms)
			d = min_u64(d, limit - c->cfg.warning_ms);
		d = min_u64(d, limit);
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
