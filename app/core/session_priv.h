/* SPDX-License-Identifier: MIT */
/* The core's own helpers, shared between its files (not an API). Every
 * function here is a step of dr_core_step: pure, no I/O. */
#ifndef DR_SESSION_PRIV_H
#define DR_SESSION_PRIV_H

#include "session.h"

struct out {
	struct dr_action *a;
	size_t n;
	uint32_t *dropped; /* the core's count of actions that did not fit */
};

/* session.c */
void drc_emit(struct out *o, struct dr_action act);
void drc_set_state(struct dr_core *c, struct out *o, enum dr_state to);
void drc_light(struct out *o, enum dr_light l);
void drc_play(struct dr_core *c, struct out *o, enum dr_prompt p, uint64_t now);
void drc_stop_playback(struct dr_core *c, struct out *o);
void drc_play_seq(struct dr_core *c, struct out *o, const enum dr_prompt *p, const uint16_t *pause,
		  size_t n, uint64_t now);
void drc_play_one(struct dr_core *c, struct out *o, enum dr_prompt p, uint64_t now);
void drc_tell(struct dr_core *c, struct out *o, enum dr_prompt p, enum dr_light l, uint64_t now);
void drc_go_idle(struct dr_core *c, struct out *o);
void drc_exit_now(struct dr_core *c, struct out *o);

void drc_prepare(struct dr_core *c, struct out *o, enum dr_prompt from);
void drc_start_beep(struct dr_core *c, struct out *o, uint64_t now);

/* session_camera.c */
void drc_ask_camera(struct dr_core *c, struct out *o, uint64_t now);
void drc_camera_press(struct dr_core *c, struct out *o, uint64_t now);
void drc_camera_prompt_done(struct dr_core *c, struct out *o, enum dr_prompt p, uint64_t now);
void drc_no_camera(struct dr_core *c, struct out *o, uint64_t now);
void drc_camera_no_answer(struct dr_core *c, struct out *o, uint64_t now);

/* session_dialogue.c */
enum dr_prompt drc_share_question(const struct dr_core *c);
void drc_ask(struct dr_core *c, struct out *o, enum dr_state st, uint64_t now, bool first);
void drc_read_receipt(struct dr_core *c, struct out *o, uint64_t now);
void drc_save_consent(struct dr_core *c, struct out *o);
void drc_recording_done(struct dr_core *c, struct out *o, const struct dr_event *ev, uint64_t now);
void drc_answer_yes(struct dr_core *c, struct out *o);
void drc_consent_saved(struct dr_core *c, struct out *o, const struct dr_event *ev, uint64_t now);
void drc_listen_done(struct dr_core *c, struct out *o, uint64_t now);

#endif
