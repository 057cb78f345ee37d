/* SPDX-License-Identifier: MIT */
/* A model of the shell around dr_core, for tests in virtual time. It carries
 * out the actions the way the daemon does and keeps its OWN view of what
 * happened, so that it can judge the core rather than echo it:
 *
 * - the speaker: which prompt is playing, from when to when (a prompt plays
 *   for its length, or is cut by DR_ACT_STOP_PLAYBACK);
 * - the resident's answers: a press counts as a yes only if it reached the
 *   box while the speaker was playing that question, or within answer_ms
 *   after it ended (the documented rule), never by the core's own flags;
 * - the button: raw edges (chatter, holds) go through dr_debounce, with the
 *   lock-out flush that dr_button does, and the debounced edges are fed in;
 * - the recorder: capture between START and STOP, the file closed
 *   finalise_ms later;
 * - the catalogue the shell keeps: a row made while the beep plays (as the
 *   daemon does), discarded when a cancelled or too-short recording is not
 *   kept, its consent written only when a consent save completes (after a
 *   random delay in chaos mode, or failing), and what survives a power cut.
 *
 * Invariants are checked after every step and counted in `violations`
 * (the light shows recording exactly while capturing; never two recordings
 * at once; consent never more than the presses gave; confirmations only
 * after the answer is durable; a press during the welcome or the beep never
 * leaves a recording running).
 *
 * The rules about work that must never meet a testimony, also judged by the
 * harness's own view: a recording is prepared only while the welcome or the
 * beep plays, and every capture was prepared so; while a stick is in, a
 * press with nothing under way starts nothing; the stick's work and the
 * retention rule start only with nothing under way (no prompt, no capture,
 * no file being closed, no consent being saved, no playback, nothing
 * prepared), once per insertion / due, and are not left waiting once the
 * box is back at idle (box_idle_work_ok).
 *
 * The camera choice (a room with a camera), by the harness's own view of the
 * speaker: the resident chose video if a press reached the box while the
 * camera question played or before answer_ms after it ended; every capture
 * is a video exactly then (not pressing is sound only), nothing is prepared
 * before the choice is known, and the sharing question for a video is the
 * one that says people would see their face (and only for a video).
 *
 * Whether the camera can be used is the shell's to tell (box_camera: the
 * harness's own record of the last DR_EV_CAMERA). As the welcome ends, the
 * next prompt is judged against it: in a room with a camera, the question
 * if the camera is usable and "the camera is not working" (no_camera) if
 * not; in a room without one, the beep. no_camera is never said at any
 * other moment (a camera lost mid-recording is not spoken of), and a press
 * during it cancels, as during the welcome.
 */
#ifndef DR_TEST_CORE_HARNESS_H
#define DR_TEST_CORE_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/debounce.h"
#include "core/session.h"

#define BOX_NEVER UINT64_MAX
#define BOX_NO_ROW (-1)
#define BOX_ROWS 64
#define BOX_DEBOUNCE_MS 30

/* The consent columns of a row: unanswered (NULL in the catalogue) is
 * locked / within the team. */
#define BOX_UNANSWERED (-1)
#define BOX_YES 1

enum box_row_state {
	ROW_PREPARED,    /* made during the beep; capture not started */
	ROW_CAPTURING,
	ROW_CLOSING,     /* stopped; the file is being closed */
	ROW_COMPLETE,
	ROW_INTERRUPTED, /* kept, cut short (failure, or a power cut: recovered) */
	ROW_DISCARDED,
};

struct box_row {
	enum box_row_state state;
	int staff, share;           /* durable consent */
	bool staff_given, share_given; /* the harness's view of the presses */
	bool asked_staff;           /* the staff question was played for it */
	bool video;                 /* captured as a video (the harness's view) */
	int consent_writes, consent_failures;
};

/* A question's answer window, as the speaker played it. */
struct box_window {
	int row;
	uint64_t from, until; /* until: BOX_NEVER while the question plays */
};

struct box {
	struct dr_core core;
	uint64_t now;
	/* chaos: random speaker lengths, silent speakers, consent delays and
	 * failures (random sessions); off for the scripted tests */
	bool chaos;
	uint64_t seed;
	/* the speaker */
	bool playing;
	enum dr_prompt prompt;
	uint64_t prompt_end;    /* BOX_NEVER: the speaker never says it is done */
	/* the recorder */
	bool recorder_busy;     /* capture running or file being closed */
	bool capturing;         /* capture running */
	uint64_t capture_start;
	uint64_t rec_samples;
	uint64_t finalise_at;   /* when the recorder will report done */
	bool finalise_keep;
	uint32_t finalise_ms;   /* how long the recorder takes to close a file */
	int record_status;      /* status the next recording reports */
	enum dr_stop_reason last_stop;
	/* the catalogue */
	struct box_row rows[BOX_ROWS];
	int nrows;
	int prepared_row, rec_row, dialogue_row;
	/* consent saving */
	bool consent_pending;   /* a DR_ACT_CONSENT waits to be reported saved */
	uint64_t consent_at;    /* when it will be */
	int consent_row;
	bool consent_staff, consent_share;
	int consent_status;     /* what saving reports (chaos: drawn per save) */
	int consents_saved;
	bool saved_staff, saved_share; /* the last answers the core asked to save */
	/* the harness's view of the resident */
	struct box_window staff_win, share_win;
	bool pressed_staff, pressed_share; /* given for the current dialogue */
	bool cancel_expected;   /* a press reached the box during the welcome or beep */
	/* the light */
	enum dr_light light;
	bool exited;
	/* the button */
	struct dr_debounce deb;
	uint64_t flush_at;      /* end of a lock-out holding a swallowed edge */
	uint64_t last_press;    /* when the last debounced press reached the core */
	int presses;
	/* history */
	int plays[DR_PROMPT_COUNT];
	int recordings_started, recordings_kept, recordings_discarded, cancels;
	int ignored_presses, presses_while_saving;
	enum dr_prompt played[256];
	int nplayed;
	int violations;         /* invariant failures seen */
	char last_violation[200];
	/* the recording played back (listen step) */
	bool listening;
	uint64_t listen_end;
	uint32_t listen_ms;     /* scripted: how long the playback takes */
	int listens;
	/* the staff stick and the retention rule (the harness's view) */
	bool stick_in, stick_begun;
	bool expiry_due;
	int stick_begins, expiries, stick_presses_ignored, stick_begins_deferred,
	    expiries_deferred, prepares;
	/* the camera question */
	struct box_window camera_win; /* until is exclusive here */
	bool camera_chosen;
	int camera_asked, videos, sound_only_with_camera, camera_yes_after, share_video_asked;
	/* whether the camera can be used, as the shell last told the core */
	bool camera_ok;
	enum dr_prompt last_prompt; /* the prompt played before this one */
	bool any_prompt;
	int no_camera_told, no_camera_cancels, camera_changes, asked_after_no_camera;
};

static inline uint64_t box_rnd(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return *seed >> 33;
}

static inline void box_violation(struct box *b, const char *what)
{
	b->violations++;
	snprintf(b->last_violation, sizeof(b->last_violation), "t=%llu: %s",
		 (unsigned long long)b->now, what);
}

static inline int box_new_row(struct box *b)
{
	if (b->nrows == BOX_ROWS) {
		box_violation(b, "too many recordings for the model");
		return BOX_NO_ROW;
	}
	b->rows[b->nrows] = (struct box_row){.state = ROW_PREPARED, .staff = BOX_UNANSWERED,
					     .share = BOX_UNANSWERED};
	return b->nrows++;
}

/* The speaker stops (its end, or cut): a question's window runs on. */
static inline void box_speaker_ends(struct box *b)
{
	if (!b->playing)
		return;
	b->playing = false;
	if (b->prompt == DR_PROMPT_ASK_STAFF)
		b->staff_win.until = b->now + b->core.cfg.answer_ms;
	if (b->prompt == DR_PROMPT_ASK_SHARE || b->prompt == DR_PROMPT_ASK_SHARE_VIDEO)
		b->share_win.until = b->now + b->core.cfg.answer_ms;
	if (b->prompt == DR_PROMPT_ASK_CAMERA)
		b->camera_win.until = b->now + b->core.cfg.answer_ms;
}

/* Consent may only be spoken back once it is durable in the row. */
static inline void box_check_confirmation(struct box *b, enum dr_prompt p)
{
	const struct box_row *r = b->dialogue_row >= 0 ? &b->rows[b->dialogue_row] : NULL;
	bool bad = false;

	switch (p) {
	case DR_PROMPT_STAFF_YES:
		bad = !r || r->staff != BOX_YES;
		break;
	case DR_PROMPT_STAFF_NO:
		bad = !r || r->staff == BOX_YES || !r->consent_writes;
		break;
	case DR_PROMPT_SHARE_YES:
		bad = !r || r->share != BOX_YES;
		break;
	case DR_PROMPT_SHARE_NO:
		bad = !r || r->share == BOX_YES || r->staff != BOX_YES;
		break;
	default:
		return;
	}
	if (bad || b->consent_pending)
		box_violation(b, "a confirmation spoken before the answer was durable");
}

static inline void box_play(struct box *b, enum dr_prompt p)
{
	uint32_t len = b->core.cfg.prompt_ms[p];

	if (b->playing)
		box_violation(b, "a prompt started over another");
	if (b->cancel_expected) {
		/* the press during the welcome, no_camera or the beep must be
		 * answered with "nothing has been recorded" */
		if (p != DR_PROMPT_CANCELLED)
			box_violation(b, "a press during the welcome, no_camera or the beep did not cancel");
		if (b->prompt == DR_PROMPT_NO_CAMERA)
			b->no_camera_cancels++;
		b->cancel_expected = false;
	}
	if (b->any_prompt && b->last_prompt == DR_PROMPT_WELCOME && p != DR_PROMPT_CANCELLED) {
		/* the welcome is over: what follows is judged by the camera */
		enum dr_prompt want = !b->core.cfg.camera ? DR_PROMPT_BEEP
				      : b->camera_ok     ? DR_PROMPT_ASK_CAMERA
							 : DR_PROMPT_NO_CAMERA;
		if (p != want)
			box_violation(b, p == DR_PROMPT_ASK_CAMERA && !b->camera_ok
					      ? "the camera question while the camera cannot be used"
					 : want == DR_PROMPT_NO_CAMERA
					      ? "the camera cannot be used, but the box did not say so"
					      : "after the welcome, not what the camera's state calls for");
	}
	if (p == DR_PROMPT_NO_CAMERA) {
		if (!b->core.cfg.camera)
			box_violation(b, "\"the camera is not working\" in a room without a camera");
		if (b->camera_ok)
			box_violation(b, "\"the camera is not working\" while it works");
		if (!b->any_prompt || b->last_prompt != DR_PROMPT_WELCOME)
			box_violation(b, "\"the camera is not working\" other than just after the welcome");
		b->no_camera_told++;
	}
	if (p == DR_PROMPT_ASK_CAMERA && b->no_camera_told)
		b->asked_after_no_camera++;
	b->last_prompt = p;
	b->any_prompt = true;
	if (p == DR_PROMPT_CANCELLED)
		b->cancels++;
	box_check_confirmation(b, p);
	if (b->nplayed < 256)
		b->played[b->nplayed++] = p;
	b->plays[p]++;
	b->playing = true;
	b->prompt = p;
	if (b->chaos) {
		uint64_t r = box_rnd(&b->seed);
		len = (uint32_t)((uint64_t)len * (80 + r % 31) / 100); /* 80..110 % */
		b->prompt_end = r % 97 == 0 ? BOX_NEVER : b->now + len;
	} else {
		b->prompt_end = b->now + len;
	}
	if (p == DR_PROMPT_ASK_STAFF) {
		b->staff_win = (struct box_window){b->dialogue_row, b->now, BOX_NEVER};
		if (b->dialogue_row >= 0)
			b->rows[b->dialogue_row].asked_staff = true;
		else
			box_violation(b, "a question with no recording");
	}
	if (p == DR_PROMPT_ASK_SHARE || p == DR_PROMPT_ASK_SHARE_VIDEO) {
		b->share_win = (struct box_window){b->dialogue_row, b->now, BOX_NEVER};
		bool video = b->dialogue_row >= 0 && b->rows[b->dialogue_row].video;
		if (video != (p == DR_PROMPT_ASK_SHARE_VIDEO))
			box_violation(b, video ? "a video's sharing question did not say people would see the face"
					       : "a sound recording's sharing question spoke of a face");
		b->share_video_asked += p == DR_PROMPT_ASK_SHARE_VIDEO;
	}
	if (p == DR_PROMPT_ASK_CAMERA) {
		if (!b->core.cfg.camera)
			box_violation(b, "the camera question in a room without a camera");
		b->camera_win = (struct box_window){0, b->now, BOX_NEVER};
		b->camera_chosen = false;
		b->camera_asked++;
	}
	if (p == DR_PROMPT_CAMERA_ON && !b->camera_chosen)
		box_violation(b, "\"the camera is on\" without a yes to the camera");
	if (p == DR_PROMPT_WELCOME) {
		/* a new session: sound only unless chosen */
		b->camera_chosen = false;
		b->camera_win.until = 0;
	}
}

/* Nothing of a session is under way, by the harness's own view. */
static inline bool box_quiet(const struct box *b)
{
	return !b->playing && !b->recorder_busy && !b->consent_pending && !b->listening &&
	       b->prepared_row == BOX_NO_ROW &&
	       (b->light == DR_LIGHT_IDLE || b->light == DR_LIGHT_FULL);
}

/* The row and the file for the capture to come: made while the welcome or
 * the beep plays (as the daemon does, in its thread). */
static inline void box_prepare(struct box *b, uint32_t capture_in_ms, bool video)
{
	if (!b->playing || (b->prompt != DR_PROMPT_WELCOME && b->prompt != DR_PROMPT_BEEP &&
			    b->prompt != DR_PROMPT_CAMERA_ON && b->prompt != DR_PROMPT_NO_CAMERA))
		box_violation(b, "a recording prepared outside the welcome, \"camera on\", "
				 "\"the camera is not working\" and the beep");
	if (b->core.cfg.camera && b->prompt == DR_PROMPT_WELCOME)
		box_violation(b, "a recording prepared before the camera choice was known");
	if (video != b->camera_chosen)
		box_violation(b, "a recording prepared of another kind than the resident chose");
	if (b->recorder_busy && b->capturing)
		box_violation(b, "a recording prepared during a capture");
	uint32_t due = b->core.cfg.prompt_ms[DR_PROMPT_BEEP];
	if (b->prompt == DR_PROMPT_WELCOME || b->prompt == DR_PROMPT_CAMERA_ON ||
	    b->prompt == DR_PROMPT_NO_CAMERA)
		due += b->core.cfg.prompt_ms[b->prompt];
	if (capture_in_ms != due)
		box_violation(b, "a recording prepared with the wrong start time");
	b->prepares++;
	if (b->prepared_row == BOX_NO_ROW)
		b->prepared_row = box_new_row(b);
}

static inline void box_stick_begin(struct box *b)
{
	if (!b->stick_in)
		box_violation(b, "the stick's work with no stick in");
	else if (b->stick_begun)
		box_violation(b, "the stick's work begun twice for one insertion");
	if (!box_quiet(b))
		box_violation(b, "the stick's work begun while a session was under way");
	b->stick_begun = true;
	b->stick_begins++;
}

static inline void box_expire(struct box *b)
{
	if (!b->expiry_due)
		box_violation(b, "the retention rule run when it was not due");
	if (!box_quiet(b))
		box_violation(b, "the retention rule run while a session was under way");
	b->expiry_due = false;
	b->expiries++;
}

static inline void box_start_recording(struct box *b, bool video)
{
	if (video != b->camera_chosen)
		box_violation(b, video ? "filmed without a yes to the camera"
				       : "a yes to the camera recorded as sound only");
	if (b->core.cfg.camera) {
		b->videos += video;
		b->sound_only_with_camera += !video;
	}
	if (b->recorder_busy)
		box_violation(b, "two recordings at once");
	if (b->cancel_expected)
		box_violation(b, "a press during the welcome or the beep left a recording running");
	if (b->prepared_row == BOX_NO_ROW)
		box_violation(b, "a capture started with nothing prepared during the welcome and the beep");
	int row = b->prepared_row != BOX_NO_ROW ? b->prepared_row : box_new_row(b);
	b->prepared_row = BOX_NO_ROW;
	b->rec_row = row;
	if (row >= 0) {
		b->rows[row].state = ROW_CAPTURING;
		b->rows[row].video = video;
	}
	b->recorder_busy = b->capturing = true;
	b->capture_start = b->now;
	b->recordings_started++;
}

static inline void box_stop_recording(struct box *b, bool keep, enum dr_stop_reason why)
{
	b->last_stop = why;
	if (!b->capturing) {
		if (why != DR_STOP_CANCELLED || keep) {
			box_violation(b, "stop without a recording");
			return;
		}
		/* cancelled before capture: what the beep prepared goes */
		if (b->prepared_row != BOX_NO_ROW)
			b->rows[b->prepared_row].state = ROW_DISCARDED;
		b->prepared_row = BOX_NO_ROW;
		return;
	}
	if (why == DR_STOP_CANCELLED)
		box_violation(b, "a recording that had started was cancelled");
	b->capturing = false;
	b->rec_samples = (b->now - b->capture_start) * 48;
	b->finalise_at = b->now + b->finalise_ms;
	b->finalise_keep = keep;
	if (b->rec_row >= 0)
		b->rows[b->rec_row].state = ROW_CLOSING;
}

static inline void box_consent(struct box *b, bool staff, bool share)
{
	int row = b->dialogue_row;

	if (share && !staff)
		box_violation(b, "sharing without staff consent");
	if (row < 0) {
		box_violation(b, "consent with no recording to record it for");
	} else {
		if (staff && !b->rows[row].staff_given)
			box_violation(b, "staff consent that was not given");
		if (share && !b->rows[row].share_given)
			box_violation(b, "share consent that was not given");
	}
	if (b->consent_pending)
		box_violation(b, "two consent saves at once");
	b->consent_pending = true;
	b->consent_row = row;
	b->consent_staff = staff;
	b->consent_share = share;
	b->consent_at = b->now;
	if (b->chaos) {
		uint64_t r = box_rnd(&b->seed);
		b->consent_at += r % 4 == 0 ? r % 3000 : r % 200;
		b->consent_status = r % 23 == 0 ? -5 : 0;
	}
	b->saved_staff = staff;
	b->saved_share = share;
}

static inline void box_apply(struct box *b, const struct dr_action *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (a[i].type) {
		case DR_ACT_STATE:
			break;
		case DR_ACT_LIGHT:
			b->light = a[i].light;
			break;
		case DR_ACT_PLAY:
			box_play(b, a[i].prompt);
			break;
		case DR_ACT_STOP_PLAYBACK:
			box_speaker_ends(b);
			break;
		case DR_ACT_START_RECORDING:
			box_start_recording(b, a[i].video);
			break;
		case DR_ACT_STOP_RECORDING:
			box_stop_recording(b, a[i].keep, a[i].reason);
			break;
		case DR_ACT_IGNORED_PRESS:
			b->ignored_presses++;
			b->stick_presses_ignored += a[i].stick;
			break;
		case DR_ACT_PREPARE_RECORDING:
			box_prepare(b, a[i].capture_in_ms, a[i].video);
			break;
		case DR_ACT_STICK_BEGIN:
			box_stick_begin(b);
			break;
		case DR_ACT_EXPIRE:
			box_expire(b);
			break;
		case DR_ACT_EXIT:
			b->exited = true;
			break;
		case DR_ACT_PLAY_RECORDING:
			if (b->listening || b->capturing || b->playing)
				box_violation(b, "playback of the recording at the wrong time");
			b->listening = true;
			b->listens++;
			b->listen_end = b->now + b->listen_ms;
			if (b->chaos) /* its own length, give or take; sometimes silent */
				b->listen_end = box_rnd(&b->seed) % 29 == 0
							? BOX_NEVER
							: b->now + b->rec_samples / 48 + box_rnd(&b->seed) % 500;
			break;
		case DR_ACT_STOP_RECORDING_PLAYBACK:
			b->listening = false;
			break;
		case DR_ACT_CONSENT:
			box_consent(b, a[i].staff_yes, a[i].share_yes);
			break;
		}
	}
	bool lit = b->light == DR_LIGHT_RECORDING || b->light == DR_LIGHT_LAST_MINUTE;
	if (lit != b->capturing)
		box_violation(b, "recording light differs from capture");
	if (dr_core_recording(&b->core) != b->capturing)
		box_violation(b, "core state differs from capture");
}

static inline void box_event(struct box *b, struct dr_event ev)
{
	struct dr_action a[DR_MAX_ACTIONS];
	size_t n = dr_core_step(&b->core, &ev, b->now, a);
	box_apply(b, a, n);
	if (b->core.actions_dropped)
		box_violation(b, "the core dropped actions (more than DR_MAX_ACTIONS in one step)");
}

static inline void box_init(struct box *b, const struct dr_core_config *cfg)
{
	memset(b, 0, sizeof(*b));
	b->finalise_ms = 40;
	b->listen_ms = 3000;
	b->light = DR_LIGHT_OFF;
	b->prepared_row = b->rec_row = b->dialogue_row = b->consent_row = BOX_NO_ROW;
	b->staff_win = b->share_win = (struct box_window){BOX_NO_ROW, 0, 0};
	b->flush_at = BOX_NEVER;
	dr_debounce_init(&b->deb, BOX_DEBOUNCE_MS * 1000u);
	dr_core_init(&b->core, cfg, 0);
	struct dr_action a[DR_MAX_ACTIONS];
	size_t n = dr_core_start(&b->core, 0, a);
	box_apply(b, a, n);
	if (cfg->camera) { /* as the daemon, after its first try: usually usable */
		b->camera_ok = true;
		box_event(b, (struct dr_event){.type = DR_EV_CAMERA, .status = 0});
	}
}

/* The shell tells the core the camera can be used now, or not. */
static inline void box_camera(struct box *b, bool ok)
{
	b->camera_changes += ok != b->camera_ok;
	b->camera_ok = ok;
	box_event(b, (struct dr_event){.type = DR_EV_CAMERA, .status = ok ? 0 : -19 /* ENODEV */});
}

/* A debounced press reaches the core now. Whether it is an answer, or a
 * cancel, is judged from the speaker, before the core sees it. */
static inline void box_deliver_press(struct box *b)
{
	const struct box_window *w[2] = {&b->staff_win, &b->share_win};

	for (int k = 0; k < 2; k++) {
		if (w[k]->row < 0 || b->now < w[k]->from || b->now > w[k]->until)
			continue;
		if (k == 0) {
			b->rows[w[k]->row].staff_given = true;
			b->pressed_staff = true;
		} else {
			b->rows[w[k]->row].share_given = true;
			b->pressed_share = true;
		}
	}
	if (b->playing && (b->prompt == DR_PROMPT_WELCOME || b->prompt == DR_PROMPT_BEEP ||
			   b->prompt == DR_PROMPT_NO_CAMERA))
		b->cancel_expected = true;
	if (b->now >= b->camera_win.from && b->now < b->camera_win.until && !b->camera_chosen) {
		b->camera_chosen = true; /* yes to the camera */
		b->camera_yes_after += !b->playing;
	}
	if (b->consent_pending)
		b->presses_while_saving++;
	b->presses++;
	b->last_press = b->now;
	bool stick_idle = b->stick_in && box_quiet(b);
	bool confirming = b->playing && b->prompt == DR_PROMPT_CAMERA_ON;
	int cancels = b->cancels;
	int started = b->plays[DR_PROMPT_WELCOME] + b->plays[DR_PROMPT_FULL];
	box_event(b, (struct dr_event){.type = DR_EV_PRESS});
	if (stick_idle && b->plays[DR_PROMPT_WELCOME] + b->plays[DR_PROMPT_FULL] != started)
		box_violation(b, "a press started a session while a staff stick was in");
	if (confirming && b->cancels != cancels)
		box_violation(b, "a second press on yes to the camera cancelled the session");
	if (b->cancel_expected)
		box_violation(b, "a press during the welcome, no_camera or the beep was ignored");
	b->cancel_expected = false;
}

static inline void box_debounced(struct box *b, const bool *lv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (lv[i])
			box_deliver_press(b);
		else
			box_event(b, (struct dr_event){.type = DR_EV_RELEASE});
	}
}

static inline void box_arm_flush(struct box *b)
{
	b->flush_at = b->deb.pending ? (b->deb.last_emit_us + b->deb.interval_us) / 1000u : BOX_NEVER;
}

/* The dr_button flush: the lock-out ended with a swallowed change. */
static inline void box_flush(struct box *b)
{
	bool lv[2];
	uint64_t t[2];
	size_t n = 0;

	b->flush_at = BOX_NEVER;
	if (b->deb.pending)
		n = dr_debounce_feed(&b->deb, !b->deb.level, b->now * 1000u, lv, t);
	box_debounced(b, lv, n);
	box_arm_flush(b);
}

/* The earliest of the pending happenings wins; on a tie, the first asked. */
static inline void box_pick(uint64_t at, int id, uint64_t *next, int *what)
{
	if (at == BOX_NEVER)
		return;
	if (*what ? at < *next : at <= *next) {
		*next = at;
		*what = id;
	}
}

/* Advance virtual time to t, delivering prompt ends, recorder results,
 * consent saves, button flushes and deadline ticks in time order. */
static inline void box_run_until(struct box *b, uint64_t t)
{
	uint64_t stuck_at = BOX_NEVER;
	int stuck = 0;

	for (;;) {
		uint64_t next = t, d = dr_core_deadline(&b->core);
		int what = 0;
		if (b->playing)
			box_pick(b->prompt_end, 1, &next, &what);
		if (b->recorder_busy && !b->capturing)
			box_pick(b->finalise_at, 2, &next, &what);
		if (b->consent_pending)
			box_pick(b->consent_at, 4, &next, &what);
		if (b->listening)
			box_pick(b->listen_end, 5, &next, &what);
		box_pick(b->flush_at, 6, &next, &what);
		box_pick(d == DR_NO_DEADLINE ? BOX_NEVER : d, 3, &next, &what);
		if (!what)
			break;
		if (next > b->now)
			b->now = next;
		if (b->now == stuck_at) {
			if (++stuck > 1000) {
				box_violation(b, "core keeps asking for ticks without progress");
				break;
			}
		} else {
			stuck_at = b->now;
			stuck = 0;
		}
		if (what == 1) {
			enum dr_prompt p = b->prompt;
			box_speaker_ends(b);
			box_event(b, (struct dr_event){.type = DR_EV_PROMPT_DONE, .prompt = p});
		} else if (what == 2) {
			int row = b->rec_row;
			b->recorder_busy = false;
			b->dialogue_row = BOX_NO_ROW; /* as the daemon's dialogue_id */
			if (b->finalise_keep)
				b->recordings_kept++;
			else
				b->recordings_discarded++;
			if (row >= 0) {
				b->rows[row].state = !b->finalise_keep       ? ROW_DISCARDED
						     : b->record_status == 0 ? ROW_COMPLETE
									     : ROW_INTERRUPTED;
				if (b->rows[row].state == ROW_COMPLETE)
					b->dialogue_row = row;
			}
			b->rec_row = BOX_NO_ROW;
			b->pressed_staff = b->pressed_share = false;
			box_event(b, (struct dr_event){.type = DR_EV_RECORDING_DONE,
						       .status = b->record_status,
						       .samples = b->rec_samples, .receipt = "4729"});
		} else if (what == 5) {
			b->listening = false;
			box_event(b, (struct dr_event){.type = DR_EV_LISTEN_DONE});
		} else if (what == 4) {
			b->consent_pending = false;
			if (b->consent_row >= 0) {
				struct box_row *r = &b->rows[b->consent_row];
				if (b->consent_status == 0) {
					r->staff = b->consent_staff ? BOX_YES : BOX_UNANSWERED;
					r->share = b->consent_share ? BOX_YES : BOX_UNANSWERED;
					r->consent_writes++;
				} else {
					r->consent_failures++;
				}
			}
			if (b->consent_status == 0)
				b->consents_saved++;
			box_event(b, (struct dr_event){.type = DR_EV_CONSENT_SAVED,
						       .status = b->consent_status});
		} else if (what == 6) {
			box_flush(b);
		} else {
			box_event(b, (struct dr_event){.type = DR_EV_TICK});
		}
	}
	b->now = t;
}

/* A debounced press at `at` (scripted tests). */
static inline void box_press(struct box *b, uint64_t at)
{
	box_run_until(b, at);
	box_deliver_press(b);
}

/* A raw edge from the button contacts at `at` (pressed = the new level),
 * through the debouncer, as dr_button does. */
static inline void box_raw(struct box *b, uint64_t at, bool pressed)
{
	bool lv[2];
	uint64_t t[2];

	box_run_until(b, at);
	size_t n = dr_debounce_feed(&b->deb, pressed, at * 1000u, lv, t);
	box_debounced(b, lv, n);
	box_arm_flush(b);
}

/* A staff stick comes or goes; the retention rule falls due. */
static inline void box_stick(struct box *b, bool in)
{
	if (in == b->stick_in)
		return;
	b->stick_in = in;
	b->stick_begun = false;
	if (in && !box_quiet(b))
		b->stick_begins_deferred++;
	box_event(b, (struct dr_event){.type = in ? DR_EV_STICK_IN : DR_EV_STICK_OUT});
}

static inline void box_expiry_due(struct box *b)
{
	if (!box_quiet(b) && !b->expiry_due)
		b->expiries_deferred++;
	b->expiry_due = true;
	box_event(b, (struct dr_event){.type = DR_EV_EXPIRY_DUE});
}

/* Back at idle, nothing waits that could run: a stick that is in has been
 * served and a due retention rule applied. */
static inline bool box_idle_work_ok(struct box *b)
{
	if (b->stick_in && !b->stick_begun) {
		box_violation(b, "a staff stick left waiting with the box idle");
		return false;
	}
	if (b->expiry_due) {
		box_violation(b, "the retention rule left waiting with the box idle");
		return false;
	}
	return true;
}

/* The catalogue is never more than the resident gave; every kept
 * recording has a consent state, and without a yes it is locked. Returns
 * false (with a violation) if not. */
static inline bool box_catalogue_ok(struct box *b)
{
	for (int i = 0; i < b->nrows; i++) {
		const struct box_row *r = &b->rows[i];
		bool kept = r->state == ROW_COMPLETE || r->state == ROW_INTERRUPTED;

		if (r->staff != BOX_UNANSWERED && r->staff != BOX_YES)
			box_violation(b, "a recording with no consent state");
		else if (r->share != BOX_UNANSWERED && r->share != BOX_YES)
			box_violation(b, "a recording with no sharing state");
		else if (r->staff == BOX_YES && !r->staff_given)
			box_violation(b, "catalogue: staff consent that was not given");
		else if (r->share == BOX_YES && !r->share_given)
			box_violation(b, "catalogue: share consent that was not given");
		else if (r->share == BOX_YES && r->staff != BOX_YES)
			box_violation(b, "catalogue: shared but locked");
		else if (!kept && (r->staff == BOX_YES || r->share == BOX_YES))
			box_violation(b, "catalogue: consent on a recording not kept");
		else if (r->state == ROW_INTERRUPTED && r->staff == BOX_YES)
			box_violation(b, "catalogue: consent on a recording nobody was asked about");
		else
			continue;
		return false;
	}
	return true;
}

/* The power goes: what was durable stays; at the next start the recovery
 * keeps what was being captured or closed (interrupted, locked) and drops
 * a row whose capture never began. */
static inline void box_power_cut(struct box *b)
{
	for (int i = 0; i < b->nrows; i++) {
		struct box_row *r = &b->rows[i];
		if (r->state == ROW_PREPARED)
			r->state = ROW_DISCARDED;
		else if (r->state == ROW_CAPTURING || r->state == ROW_CLOSING)
			r->state = ROW_INTERRUPTED;
	}
	b->consent_pending = false; /* not durable: as if never asked */
	b->playing = b->capturing = b->recorder_busy = b->listening = false;
	b->prepared_row = b->rec_row = BOX_NO_ROW;
}

/* Index of the first play of p at or after `from`, or -1. */
static inline int box_played_at(const struct box *b, enum dr_prompt p, int from)
{
	for (int i = from; i < b->nplayed; i++)
		if (b->played[i] == p)
			return i;
	return -1;
}

#endif
