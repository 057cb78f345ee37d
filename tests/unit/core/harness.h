/* SPDX-License-Identifier: MIT */
/* A tiny model of the shell around dr_core, for tests in virtual time: it
 * carries out the actions the way the daemon does (a prompt plays for its
 * length, a stopped recording reports done a little later) and records what
 * happened so tests can assert on it. */
#ifndef DR_TEST_CORE_HARNESS_H
#define DR_TEST_CORE_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/session.h"

struct box {
	struct dr_core core;
	uint64_t now;
	/* the shell's view */
	bool recorder_busy;     /* capture running or file being closed */
	bool capturing;         /* capture running */
	uint64_t finalise_at;   /* when the recorder will report done */
	bool finalise_keep;
	bool playing;
	enum dr_prompt prompt;
	uint64_t prompt_end;
	enum dr_light light;
	bool exited;
	/* history */
	int plays[DR_PROMPT_COUNT];
	int recordings_started, recordings_kept, recordings_discarded;
	int ignored_presses;
	enum dr_stop_reason last_stop;
	int violations;         /* invariant failures seen */
	char last_violation[160];
	uint32_t finalise_ms;   /* how long the recorder takes to close a file */
	int record_status;      /* status the next recording reports */
	/* consent */
	bool consent_pending;   /* a DR_ACT_CONSENT waits to be reported saved */
	int consent_status;     /* what saving it reports */
	int consents_saved;
	bool saved_staff, saved_share; /* the last answers saved */
	bool pressed_staff, pressed_share; /* the resident pressed while that question was open */
	enum dr_prompt played[256];
	int nplayed;
	/* the recording played back (listen step) */
	bool listening;
	uint64_t listen_end;
	uint32_t listen_ms;
	int listens;
};

static inline void box_violation(struct box *b, const char *what)
{
	b->violations++;
	snprintf(b->last_violation, sizeof(b->last_violation), "t=%llu: %s",
		 (unsigned long long)b->now, what);
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
			if (b->nplayed < 256)
				b->played[b->nplayed++] = a[i].prompt;
			b->playing = true;
			b->prompt = a[i].prompt;
			b->prompt_end = b->now + b->core.cfg.prompt_ms[a[i].prompt];
			b->plays[a[i].prompt]++;
			break;
		case DR_ACT_STOP_PLAYBACK:
			b->playing = false;
			break;
		case DR_ACT_START_RECORDING:
			if (b->recorder_busy)
				box_violation(b, "two recordings at once");
			b->recorder_busy = b->capturing = true;
			b->recordings_started++;
			break;
		case DR_ACT_STOP_RECORDING:
			if (!b->capturing)
				box_violation(b, "stop without a recording");
			b->capturing = false;
			b->finalise_at = b->now + b->finalise_ms;
			b->finalise_keep = a[i].keep;
			b->last_stop = a[i].reason;
			break;
		case DR_ACT_IGNORED_PRESS:
			b->ignored_presses++;
			break;
		case DR_ACT_EXIT:
			b->exited = true;
			break;
		case DR_ACT_PLAY_RECORDING:
			if (b->listening || b->capturing)
				box_violation(b, "playback of the recording at the wrong time");
			b->listening = true;
			b->listens++;
			b->listen_end = b->now + b->listen_ms;
			break;
		case DR_ACT_STOP_RECORDING_PLAYBACK:
			b->listening = false;
			break;
		case DR_ACT_CONSENT:
			if (a[i].share_yes && !a[i].staff_yes)
				box_violation(b, "sharing without staff consent");
			if (a[i].staff_yes && !b->pressed_staff)
				box_violation(b, "staff consent that was not given");
			if (a[i].share_yes && !b->pressed_share)
				box_violation(b, "share consent that was not given");
			b->consent_pending = true;
			b->saved_staff = a[i].staff_yes;
			b->saved_share = a[i].share_yes;
			break;
		}
	}
	bool lit = b->light == DR_LIGHT_RECORDING || b->light == DR_LIGHT_LAST_MINUTE;
	if (lit != b->capturing)
		box_violation(b, "recording light differs from capture");
	if (dr_core_recording(&b->core) != b->capturing)
		box_violation(b, "core state differs from capture");
}

static inline void box_init(struct box *b, const struct dr_core_config *cfg)
{
	memset(b, 0, sizeof(*b));
	b->finalise_ms = 40;
	b->listen_ms = 3000;
	b->light = DR_LIGHT_OFF;
	dr_core_init(&b->core, cfg, 0);
	struct dr_action a[DR_MAX_ACTIONS];
	size_t n = dr_core_start(&b->core, 0, a);
	box_apply(b, a, n);
}

static inline void box_event(struct box *b, struct dr_event ev)
{
	struct dr_action a[DR_MAX_ACTIONS];
	size_t n = dr_core_step(&b->core, &ev, b->now, a);
	box_apply(b, a, n);
}

/* Advance virtual time to t, delivering prompt ends, recorder results and
 * deadline ticks in time order. */
static inline void box_run_until(struct box *b, uint64_t t)
{
	for (int guard = 0;; guard++) {
		if (guard > 100000) {
			box_violation(b, "core keeps asking for ticks without progress");
			break;
		}
		uint64_t next = t;
		int what = 0;
		if (b->playing && b->prompt_end <= next) {
			next = b->prompt_end;
			what = 1;
		}
		if (b->consent_pending) {
			next = b->now;
			what = 4;
		} else if (b->listening && b->listen_end <= next) {
			next = b->listen_end;
			what = 5;
		} else if (b->recorder_busy && !b->capturing && b->finalise_at <= next) {
			next = b->finalise_at;
			what = 2;
		}
		uint64_t d = dr_core_deadline(&b->core);
		if (d != DR_NO_DEADLINE && d <= next) {
			next = d;
			what = 3;
		}
		if (!what)
			break;
		if (next > b->now)
			b->now = next;
		if (what == 1) {
			b->playing = false;
			box_event(b, (struct dr_event){.type = DR_EV_PROMPT_DONE, .prompt = b->prompt});
		} else if (what == 2) {
			b->recorder_busy = false;
			if (b->finalise_keep)
				b->recordings_kept++;
			else
				b->recordings_discarded++;
			b->pressed_staff = b->pressed_share = false;
			box_event(b, (struct dr_event){.type = DR_EV_RECORDING_DONE,
						       .status = b->record_status, .receipt = "4729"});
		} else if (what == 5) {
			b->listening = false;
			box_event(b, (struct dr_event){.type = DR_EV_LISTEN_DONE});
		} else if (what == 4) {
			b->consent_pending = false;
			if (b->consent_status == 0)
				b->consents_saved++;
			box_event(b, (struct dr_event){.type = DR_EV_CONSENT_SAVED,
						       .status = b->consent_status});
		} else {
			box_event(b, (struct dr_event){.type = DR_EV_TICK});
		}
	}
	b->now = t;
}

static inline void box_press(struct box *b, uint64_t at)
{
	box_run_until(b, at);
	if (b->core.question_open && b->core.state == DR_ST_ASK_STAFF)
		b->pressed_staff = true;
	if (b->core.question_open && b->core.state == DR_ST_ASK_SHARE)
		b->pressed_share = true;
	box_event(b, (struct dr_event){.type = DR_EV_PRESS});
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
