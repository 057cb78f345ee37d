/* SPDX-License-Identifier: MIT */
/*
 * The resident's camera choice, in a room meant to have a camera
 * (cfg.camera): after the welcome the box asks whether they want to be
 * filmed as well, if the camera is usable (the owner's last DR_EV_CAMERA,
 * looked at as the welcome ends).
 *
 * - A press while the question plays, or within answer_ms after it ended,
 *   is yes: the question is cut, the box says "the camera is on", then the
 *   beep, and the recording is a video. Asked once: no press is sound only,
 *   and the beep follows the end of the answer window.
 * - A press during "the camera is on" is ignored (a double press on yes
 *   must not cancel what was just chosen); a press during the beep cancels,
 *   as in a room without a camera.
 * - The recording is prepared only once the choice is known (a video is
 *   another kind of file): as "the camera is on", "the camera is not
 *   working" or the beep starts.
 * - A camera that cannot be used as the welcome ends: nobody is asked; the
 *   box says "the camera is not working today, so only your voice will be
 *   recorded" (no_camera), then the beep, and records sound only. A press
 *   during it cancels, as during the welcome: nothing is recorded yet, and
 *   someone who came to be filmed (who signs, say) can stop before the
 *   beep. (A press during "the camera is on" is ignored because it follows
 *   a yes; no_camera follows no question, so a press there is not a second
 *   press on anything.)
 * - The camera coming or going at any other moment changes nothing in the
 *   session under way and is not spoken of: a camera lost mid-recording
 *   leaves the sound carrying on; the next welcome is followed by no_camera
 *   until the owner says the camera is usable again.
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

void drc_no_camera(struct dr_core *c, struct out *o, uint64_t now)
{
	c->video = false; /* the welcome's light stays: the box is speaking */
	drc_play_one(c, o, DR_PROMPT_NO_CAMERA, now);
	drc_prepare(c, o, DR_PROMPT_NO_CAMERA); /* sound only: known now */
	drc_set_state(c, o, DR_ST_NO_CAMERA);
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
