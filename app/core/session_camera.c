/* SPDX-License-Identifier: MIT */
/*
 * The resident's camera choice, in a room with a camera (cfg.camera): after
 * the welcome the box asks whether they want to be filmed as well.
 *
 * - A press while the question plays, or within answer_ms after it ended,
 *   is yes: the question is cut, the box says "the camera is on", then the
 *   beep, and the recording is a video. Asked once: no press is sound only,
 *   and the beep follows the end of the answer window.
 * - A press during "the camera is on" is ignored (a double press on yes
 *   must not cancel what was just chosen); a press during the beep cancels,
 *   as in a room without a camera.
 * - The recording is prepared only once the choice is known (a video is
 *   another kind of file): as "the camera is on" or the beep starts.
 */
#include "session.h"
#include "session_priv.h"

void drc_ask_camera(struct dr_core *c, struct out *o, uint64_t now)
{
	c->video = false;
	c->answer_until = DR_NO_DEADLINE;
	drc_play_one(c, o, DR_PROMPT_ASK_CAMERA, now); /* the question light; open */
	drc_set_state(c, o, DR_ST_ASK_CAMERA);
}

void drc_camera_press(struct dr_core *c, struct out *o, uint64_t now)
{
	if (!c->question_open) {
		/* "the camera is on" is playing */
		drc_emit(o, (struct dr_action){.type = DR_ACT_IGNORED_PRESS});
		return;
	}
	drc_stop_playback(c, o);
	c->question_open = false;
	c->answer_until = DR_NO_DEADLINE;
	c->video = true;
	drc_light(o, DR_LIGHT_WELCOME);
	drc_play_one(c, o, DR_PROMPT_CAMERA_ON, now);
	drc_prepare(c, o, DR_PROMPT_CAMERA_ON);
}

void drc_camera_prompt_done(struct dr_core *c, struct out *o, enum dr_prompt p, uint64_t now)
{
	if (p == DR_PROMPT_ASK_CAMERA)
		c->answer_until = now + c->cfg.answer_ms; /* a press still counts */
	else if (p == DR_PROMPT_CAMERA_ON)
		drc_start_beep(c, o, now);
}

void drc_camera_no_answer(struct dr_core *c, struct out *o, uint64_t now)
{
	c->video = false;
	drc_light(o, DR_LIGHT_WELCOME);
	drc_start_beep(c, o, now);
}
