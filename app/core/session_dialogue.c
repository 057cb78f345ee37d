/* SPDX-License-Identifier: MIT */
/* The session after the recording: listen-back, the consent questions and
 * their saving, the receipt number (see session.c for the rules). */
#include "session.h"
#include "session_priv.h"

#include <string.h>

#define RECEIPT_REPEAT_PAUSE_MS 900

/* For a video, the sharing question says people would see their face. */
enum dr_prompt drc_share_question(const struct dr_core *c)
{
	return c->rec_video ? DR_PROMPT_ASK_SHARE_VIDEO : DR_PROMPT_ASK_SHARE;
}

void drc_ask(struct dr_core *c, struct out *o, enum dr_state st, uint64_t now, bool first)
{
	enum dr_prompt q = st == DR_ST_ASK_STAFF ? DR_PROMPT_ASK_STAFF : drc_share_question(c);
	c->question_open = false;
	c->answer_until = DR_NO_DEADLINE;
	drc_light(o, DR_LIGHT_QUESTION);
	if (first && st == DR_ST_ASK_STAFF) {
		enum dr_prompt seq[2] = {DR_PROMPT_SAVED, q};
		uint16_t pause[2] = {300, 0};
		drc_play_seq(c, o, seq, pause, 2, now);
	} else {
		drc_play_one(c, o, q, now);
	}
	c->asked = first ? 1 : (uint8_t)(c->asked + 1);
	drc_set_state(c, o, st);
}

/* Say the receipt number twice, slowly, then goodbye. */
void drc_read_receipt(struct dr_core *c, struct out *o, uint64_t now)
{
	c->question_open = false;
	c->answer_until = DR_NO_DEADLINE;
	if (strlen(c->receipt) != 4) {
		/* No number could be given (a catalogue failure): the recording
		 * is kept and locked; say that something needs staff. */
		drc_tell(c, o, DR_PROMPT_ERROR, DR_LIGHT_ERROR, now);
		return;
	}
	enum dr_prompt seq[DR_SEQ_MAX];
	uint16_t pause[DR_SEQ_MAX];
	size_t n = 0;
	for (int rep = 0; rep < 2; rep++) {
		seq[n] = DR_PROMPT_RECEIPT;
		pause[n++] = (uint16_t)c->cfg.digit_pause_ms;
		for (int i = 0; i < 4; i++) {
			seq[n] = (enum dr_prompt)(DR_PROMPT_DIGIT_0 + (c->receipt[i] - '0'));
			pause[n++] = (uint16_t)c->cfg.digit_pause_ms;
		}
		seq[n] = DR_PROMPT_RECEIPT_END;
		pause[n++] = RECEIPT_REPEAT_PAUSE_MS;
	}
	seq[n] = DR_PROMPT_GOODBYE;
	pause[n++] = 0;
	drc_light(o, DR_LIGHT_SAVED);
	drc_play_seq(c, o, seq, pause, n, now);
	drc_set_state(c, o, DR_ST_RECEIPT);
}

void drc_save_consent(struct dr_core *c, struct out *o)
{
	c->question_open = false;
	c->answer_until = DR_NO_DEADLINE;
	drc_light(o, DR_LIGHT_BUSY);
	drc_emit(o, (struct dr_action){.type = DR_ACT_CONSENT, .staff_yes = c->staff_yes,
				   .share_yes = c->share_yes});
	drc_set_state(c, o, DR_ST_SAVING_CONSENT);
}

/* The recorder has closed the file (after our stop, or by itself on error). */
void drc_recording_done(struct dr_core *c, struct out *o, const struct dr_event *ev,
			   uint64_t now)
{
	switch (c->state) {
	case DR_ST_RECORDING:
		/* Ended by itself: the microphone or the disk failed. What was
		 * captured is kept (locked: nobody was asked). */
		drc_stop_playback(c, o);
		drc_tell(c, o, DR_PROMPT_ERROR, DR_LIGHT_ERROR, now);
		break;
	case DR_ST_FINALISING:
		if (c->discarding) {
			drc_tell(c, o, DR_PROMPT_TOO_SHORT, DR_LIGHT_WELCOME, now);
		} else if (ev->status < 0) {
			drc_tell(c, o, DR_PROMPT_ERROR, DR_LIGHT_ERROR, now);
		} else {
			memcpy(c->receipt, ev->receipt, sizeof(c->receipt));
			c->receipt[4] = '\0';
			c->staff_yes = c->share_yes = c->asked_share = false;
			c->rec_samples = ev->samples;
			if (c->cfg.listen_back) {
				drc_light(o, DR_LIGHT_WELCOME);
				drc_play_one(c, o, DR_PROMPT_LISTEN, now);
				drc_set_state(c, o, DR_ST_LISTEN);
			} else {
				drc_ask(c, o, DR_ST_ASK_STAFF, now, true);
			}
		}
		c->discarding = false;
		break;
	case DR_ST_STOPPING:
		drc_exit_now(c, o);
		break;
	default:
		break;
	}
}

void drc_answer_yes(struct dr_core *c, struct out *o)
{
	drc_stop_playback(c, o);
	if (c->state == DR_ST_ASK_STAFF)
		c->staff_yes = true;
	else
		c->share_yes = true;
	drc_save_consent(c, o);
}

void drc_consent_saved(struct dr_core *c, struct out *o, const struct dr_event *ev, uint64_t now)
{
	if (c->state != DR_ST_SAVING_CONSENT)
		return;
	if (ev->status < 0) {
		/* Not durable: say nothing about the answer; tell staff. */
		drc_tell(c, o, DR_PROMPT_ERROR, DR_LIGHT_ERROR, now);
		return;
	}
	enum dr_prompt confirm;
	enum dr_state st;
	if (c->share_yes) {
		confirm = DR_PROMPT_SHARE_YES;
		st = DR_ST_ASK_SHARE;
	} else if (c->staff_yes && c->asked_share) {
		confirm = DR_PROMPT_SHARE_NO;
		st = DR_ST_ASK_SHARE;
	} else if (c->staff_yes) {
		confirm = DR_PROMPT_STAFF_YES;
		st = DR_ST_ASK_STAFF;
	} else {
		confirm = DR_PROMPT_STAFF_NO;
		st = DR_ST_ASK_STAFF;
	}
	drc_light(o, DR_LIGHT_SAVED);
	if (confirm == DR_PROMPT_STAFF_YES) {
		/* "staff may listen", a pause, then the sharing question: a
		 * press before the question has started is no answer to it. */
		enum dr_prompt seq[2] = {DR_PROMPT_STAFF_YES, drc_share_question(c)};
		uint16_t pause[2] = {500, 0};
		c->asked = 1;
		drc_play_seq(c, o, seq, pause, 2, now);
		drc_set_state(c, o, DR_ST_ASK_SHARE);
		return;
	}
	drc_play_one(c, o, confirm, now);
	drc_set_state(c, o, st);
}

/* A press before capture began: cut the welcome or the beep, have the shell
 * discard what it prepared, and say that nothing was recorded. */

void drc_listen_done(struct dr_core *c, struct out *o, uint64_t now)
{
	if (c->state != DR_ST_LISTEN)
		return;
	c->listen_deadline = DR_NO_DEADLINE;
	drc_ask(c, o, DR_ST_ASK_STAFF, now, true);
}
