/* SPDX-License-Identifier: MIT */
/* Every state and transition of the session core, in virtual time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core_config.h"
#include "harness.h"

/* press at 1000 -> recording starts at 1000 + welcome + beep */
#define REC_START (1000 + WELCOME_MS + BEEP_MS)

/* The defaults the issue and docs/configuration.md promise. */
static void test_defaults_are_the_promised_ones(void **state)
{
	(void)state;
	struct dr_core_config c;
	memset(&c, 0xa5, sizeof(c));
	dr_core_config_default(&c);
	assert_int_equal(c.time_limit_ms, 10 * 60 * 1000); /* ten minutes */
	assert_int_equal(c.warning_ms, 60 * 1000);         /* a warning a minute before */
	assert_int_equal(c.min_length_ms, 2000);           /* under ~2 s is an accident */
	assert_int_equal(c.answer_ms, 6000);
	assert_int_equal(c.prompt_slack_ms, 3000);
	assert_int_equal(c.finalise_ms, 30000);
	assert_false(c.listen_back);
}

static void test_starts_idle(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.light, DR_LIGHT_IDLE);
	assert_int_equal(dr_core_deadline(&b.core), DR_NO_DEADLINE);
}

static void test_full_session(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);

	box_press(&b, 1000);
	/* the light changes at once, with the press */
	assert_int_equal(b.light, DR_LIGHT_WELCOME);
	assert_int_equal(dr_core_state(&b.core), DR_ST_WELCOME);
	assert_true(b.playing);
	assert_int_equal(b.prompt, DR_PROMPT_WELCOME);

	box_run_until(&b, 1000 + WELCOME_MS);
	assert_int_equal(dr_core_state(&b.core), DR_ST_BEEP);
	assert_int_equal(b.prompt, DR_PROMPT_BEEP);
	assert_false(b.capturing);

	box_run_until(&b, REC_START);
	assert_int_equal(dr_core_state(&b.core), DR_ST_RECORDING);
	assert_true(b.capturing);
	assert_int_equal(b.light, DR_LIGHT_RECORDING);

	box_press(&b, REC_START + 30000);
	assert_int_equal(dr_core_state(&b.core), DR_ST_FINALISING);
	assert_false(b.capturing);
	assert_true(b.finalise_keep);
	assert_int_equal(b.last_stop, DR_STOP_PRESS);
	assert_int_equal(b.light, DR_LIGHT_BUSY);
	/* nothing is said until the file is closed */
	assert_false(b.playing);

	box_run_until(&b, REC_START + 30000 + 40);
	assert_int_equal(dr_core_state(&b.core), DR_ST_ASK_STAFF);
	assert_int_equal(b.prompt, DR_PROMPT_SAVED); /* "thank you, it is kept safely" */
	assert_int_equal(b.light, DR_LIGHT_QUESTION);

	box_run_until(&b, REC_START + 30040 + DIALOGUE_MAX_MS);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.light, DR_LIGHT_IDLE);
	assert_int_equal(b.recordings_started, 1);
	assert_int_equal(b.recordings_kept, 1);
	assert_int_equal(b.violations, 0);
}

static void test_too_short_is_not_kept(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, REC_START);
	box_press(&b, REC_START + 1500);
	assert_false(b.finalise_keep);
	assert_int_equal(b.last_stop, DR_STOP_TOO_SHORT);
	box_run_until(&b, REC_START + 1600);
	assert_int_equal(b.prompt, DR_PROMPT_TOO_SHORT);
	assert_int_equal(b.plays[DR_PROMPT_SAVED], 0);
	box_run_until(&b, REC_START + 10000);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.recordings_discarded, 1);
	assert_int_equal(b.recordings_kept, 0);
	assert_int_equal(b.violations, 0);
}

static void test_exactly_min_length_is_kept(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, REC_START);
	box_press(&b, REC_START + c.min_length_ms);
	assert_true(b.finalise_keep);
}

static void test_time_limit_with_warning(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, REC_START);

	box_run_until(&b, REC_START + c.time_limit_ms - c.warning_ms - 1);
	assert_int_equal(b.plays[DR_PROMPT_WARNING], 0);
	assert_int_equal(b.light, DR_LIGHT_RECORDING);
	box_run_until(&b, REC_START + c.time_limit_ms - c.warning_ms);
	assert_int_equal(b.plays[DR_PROMPT_WARNING], 1);
	assert_int_equal(b.light, DR_LIGHT_LAST_MINUTE);
	assert_true(b.capturing); /* the warning does not stop anything */

	box_run_until(&b, REC_START + c.time_limit_ms - 1);
	assert_true(b.capturing);
	box_run_until(&b, REC_START + c.time_limit_ms);
	assert_false(b.capturing);
	assert_int_equal(b.last_stop, DR_STOP_TIME_LIMIT);
	assert_true(b.finalise_keep);
	box_run_until(&b, REC_START + c.time_limit_ms + DIALOGUE_MAX_MS);
	assert_int_equal(b.plays[DR_PROMPT_SAVED], 1);
	assert_int_equal(b.plays[DR_PROMPT_WARNING], 1);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.violations, 0);
}

static void test_press_during_warning_stops_it(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, REC_START);
	box_press(&b, REC_START + c.time_limit_ms - c.warning_ms + 500);
	assert_false(b.playing); /* the warning was cut */
	assert_false(b.capturing);
	box_run_until(&b, REC_START + c.time_limit_ms + DIALOGUE_MAX_MS);
	assert_int_equal(b.plays[DR_PROMPT_SAVED], 1);
	assert_int_equal(b.violations, 0);
}

/* ---- a press before capture has started cancels ---- */

/* After a cancel: nothing recorded, nothing kept in the catalogue, the box
 * says so and is back at idle, and no recording starts later by itself. */
static void assert_cancelled_then_idle(struct box *b, uint64_t cancel_at)
{
	struct dr_core_config c = b->core.cfg;

	assert_int_equal(dr_core_state(&b->core), DR_ST_TELLING);
	assert_true(b->playing);
	assert_int_equal(b->prompt, DR_PROMPT_CANCELLED);
	assert_int_equal(b->last_stop, DR_STOP_CANCELLED);
	assert_int_equal(b->light, DR_LIGHT_WELCOME); /* speaking, not recording */
	assert_false(b->capturing);
	assert_int_equal(b->prepared_row, BOX_NO_ROW);
	for (int i = 0; i < b->nrows; i++)
		assert_int_equal(b->rows[i].state, ROW_DISCARDED);
	box_run_until(b, cancel_at + c.prompt_ms[DR_PROMPT_CANCELLED]);
	assert_int_equal(dr_core_state(&b->core), DR_ST_IDLE);
	assert_int_equal(b->light, DR_LIGHT_IDLE);
	box_run_until(b, cancel_at + c.time_limit_ms + DIALOGUE_MAX_MS);
	assert_int_equal(dr_core_state(&b->core), DR_ST_IDLE);
	assert_int_equal(b->recordings_started, 0);
	assert_int_equal(b->plays[DR_PROMPT_CANCELLED], 1);
	assert_int_equal(b->plays[DR_PROMPT_SAVED], 0);
	assert_int_equal(b->plays[DR_PROMPT_TOO_SHORT], 0);
	assert_int_equal(b->violations, 0);
}

static void test_press_during_welcome_cancels(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	assert_int_equal(dr_core_state(&b.core), DR_ST_WELCOME);
	box_press(&b, 3000); /* halfway through the welcome */
	assert_int_equal(b.plays[DR_PROMPT_BEEP], 0); /* the welcome was cut, no beep */
	assert_int_equal(b.nrows, 1); /* prepared as the welcome began, then discarded */
	assert_int_equal(b.ignored_presses, 0);
	assert_cancelled_then_idle(&b, 3000);
	/* and the next press is a new session */
	box_press(&b, b.now + 1000);
	assert_int_equal(dr_core_state(&b.core), DR_ST_WELCOME);
	assert_int_equal(b.prompt, DR_PROMPT_WELCOME);
}

static void test_press_during_beep_cancels_and_discards_the_row(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, 1000 + WELCOME_MS + 100);
	assert_int_equal(dr_core_state(&b.core), DR_ST_BEEP);
	/* the shell has made the row and the file while the beep plays */
	assert_int_equal(b.nrows, 1);
	assert_int_equal(b.rows[0].state, ROW_PREPARED);
	box_press(&b, 1000 + WELCOME_MS + 100);
	assert_int_equal(b.rows[0].state, ROW_DISCARDED); /* as a too-short one */
	assert_cancelled_then_idle(&b, 1000 + WELCOME_MS + 100);
}

/* A nervous double tap at the start, as raw contact edges with chatter:
 * the second tap cancels; nothing is recorded. */
static void test_double_press_at_the_start_records_nothing(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	static const uint64_t taps[][2] = {{1000, 1120}, {1300, 1390}};
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < 5; k++) /* down, bouncing for 4 ms */
			box_raw(&b, taps[i][0] + (uint64_t)k, k % 2 == 0);
		for (int k = 0; k < 5; k++) /* up, bouncing */
			box_raw(&b, taps[i][1] + (uint64_t)k, k % 2 == 1);
	}
	assert_int_equal(b.presses, 2); /* the bouncing was no press */
	assert_cancelled_then_idle(&b, 1300);
}

/* The grace: contacts that bounce within the debounce window are one press,
 * so a single bouncy press records as normal. */
static void test_chatter_is_not_a_second_press(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	static const uint64_t down[] = {1000, 1003, 1004, 1010, 1011, 1020, 1021};
	for (size_t k = 0; k < sizeof(down) / sizeof(down[0]); k++)
		box_raw(&b, down[k], k % 2 == 0);
	box_raw(&b, 1300, false);
	box_raw(&b, 1302, true);
	box_raw(&b, 1304, false);
	assert_int_equal(b.presses, 1);
	box_run_until(&b, REC_START);
	assert_int_equal(dr_core_state(&b.core), DR_ST_RECORDING);
	assert_true(b.capturing);
	assert_int_equal(b.plays[DR_PROMPT_CANCELLED], 0);
	assert_int_equal(b.violations, 0);
}

/* Once capture has started a press stops it as it always did: too short
 * (discarded, "too short") or kept; never "cancelled". */
static void test_press_after_capture_started_stops_normally(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, REC_START);
	assert_true(b.capturing);
	box_press(&b, REC_START); /* the moment the beep has ended */
	assert_int_equal(b.last_stop, DR_STOP_TOO_SHORT);
	assert_false(b.finalise_keep);
	box_run_until(&b, REC_START + 40);
	assert_int_equal(b.prompt, DR_PROMPT_TOO_SHORT);
	assert_int_equal(b.rows[0].state, ROW_DISCARDED);
	box_run_until(&b, REC_START + 10000);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);

	uint64_t t = b.now + 1000, rs = t + WELCOME_MS + BEEP_MS;
	box_press(&b, t);
	box_run_until(&b, rs);
	box_press(&b, rs + 5000);
	assert_int_equal(b.last_stop, DR_STOP_PRESS);
	assert_true(b.finalise_keep);
	assert_int_equal(b.light, DR_LIGHT_BUSY);
	box_run_until(&b, rs + 5000 + 40);
	assert_int_equal(b.rows[1].state, ROW_COMPLETE);
	assert_int_equal(b.prompt, DR_PROMPT_SAVED);
	assert_int_equal(b.plays[DR_PROMPT_CANCELLED], 0);
	assert_int_equal(b.recordings_kept, 1);
	assert_int_equal(b.violations, 0);
}

static void test_presses_ignored_while_saving_or_telling(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	/* press, press (cancel), press while "nothing has been recorded" */
	box_press(&b, 1000);
	box_press(&b, 1400);
	box_press(&b, 1900);
	assert_int_equal(b.ignored_presses, 1);
	assert_int_equal(dr_core_state(&b.core), DR_ST_TELLING);
	box_run_until(&b, 1400 + 4500);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.recordings_started, 0);

	uint64_t t = 10000, rs = t + WELCOME_MS + BEEP_MS;
	box_press(&b, t);
	box_run_until(&b, rs);
	box_press(&b, rs + 5000);
	box_press(&b, rs + 5010); /* while finalising */
	box_run_until(&b, rs + 5100);
	box_press(&b, rs + 5200); /* while saying "saved", before the question */
	assert_int_equal(b.ignored_presses, 3);
	assert_int_equal(b.recordings_started, 1);
	box_run_until(&b, rs + 5100 + DIALOGUE_MAX_MS);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_false(b.saved_staff); /* the press before the question was no answer */
	assert_int_equal(b.violations, 0);
}

static void test_release_does_nothing(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_event(&b, (struct dr_event){.type = DR_EV_RELEASE});
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	box_press(&b, 1000);
	box_run_until(&b, REC_START + 3000);
	box_event(&b, (struct dr_event){.type = DR_EV_RELEASE});
	assert_true(b.capturing);
}

static void test_storage_low_refuses_to_start(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_event(&b, (struct dr_event){.type = DR_EV_STORAGE_LOW});
	assert_int_equal(b.light, DR_LIGHT_FULL);
	box_press(&b, 1000);
	assert_int_equal(b.prompt, DR_PROMPT_FULL);
	assert_int_equal(dr_core_state(&b.core), DR_ST_TELLING);
	box_run_until(&b, 10000);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.light, DR_LIGHT_FULL);
	assert_int_equal(b.recordings_started, 0);

	box_event(&b, (struct dr_event){.type = DR_EV_STORAGE_OK});
	assert_int_equal(b.light, DR_LIGHT_IDLE);
	box_press(&b, 11000);
	assert_int_equal(dr_core_state(&b.core), DR_ST_WELCOME);
}

static void test_storage_low_during_recording_does_not_stop_it(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, REC_START);
	box_event(&b, (struct dr_event){.type = DR_EV_STORAGE_LOW});
	assert_true(b.capturing);
	assert_int_equal(b.light, DR_LIGHT_RECORDING);
	box_press(&b, REC_START + 5000);
	box_run_until(&b, REC_START + 5000 + DIALOGUE_MAX_MS);
	assert_int_equal(b.light, DR_LIGHT_FULL);
	assert_int_equal(b.recordings_kept, 1);
}

static void test_microphone_failure_keeps_what_was_said(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, REC_START + 4000);
	/* the recorder ends by itself with an error */
	b.capturing = false;
	b.recorder_busy = false;
	box_event(&b, (struct dr_event){.type = DR_EV_RECORDING_DONE, .status = -19, .samples = 192000});
	assert_int_equal(b.prompt, DR_PROMPT_ERROR);
	assert_int_equal(b.light, DR_LIGHT_ERROR);
	box_run_until(&b, REC_START + 20000);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.violations, 0);
}

static void test_device_error_event_stops_and_keeps(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, REC_START + 4000);
	box_event(&b, (struct dr_event){.type = DR_EV_DEVICE_ERROR, .status = -5});
	assert_false(b.capturing);
	assert_true(b.finalise_keep);
	assert_int_equal(b.last_stop, DR_STOP_DEVICE_ERROR);
	b.record_status = -5;
	box_run_until(&b, REC_START + 4100);
	assert_int_equal(b.prompt, DR_PROMPT_ERROR);
}

static void test_failed_save_is_told(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	b.record_status = -28; /* ENOSPC while closing */
	box_press(&b, 1000);
	box_run_until(&b, REC_START);
	box_press(&b, REC_START + 5000);
	box_run_until(&b, REC_START + 5100);
	assert_int_equal(b.prompt, DR_PROMPT_ERROR);
	assert_int_equal(b.plays[DR_PROMPT_SAVED], 0);
}

static void test_storage_that_hangs_cannot_hang_the_box(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	b.finalise_ms = 10000000; /* the file is never reported closed */
	box_press(&b, 1000);
	box_run_until(&b, REC_START);
	box_press(&b, REC_START + 5000);
	box_run_until(&b, REC_START + 5000 + c.finalise_ms - 1);
	assert_int_equal(dr_core_state(&b.core), DR_ST_FINALISING);
	assert_int_equal(b.plays[DR_PROMPT_ERROR], 0);
	box_run_until(&b, REC_START + 5000 + c.finalise_ms);
	assert_int_equal(b.prompt, DR_PROMPT_ERROR);
	assert_int_equal(b.light, DR_LIGHT_ERROR);
	assert_int_equal(b.plays[DR_PROMPT_SAVED], 0); /* never "kept safely" */
	box_run_until(&b, REC_START + 5000 + c.finalise_ms + 10000);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	/* the late "closed" report changes nothing */
	b.recorder_busy = false;
	box_event(&b, (struct dr_event){.type = DR_EV_RECORDING_DONE, .receipt = "1234"});
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.plays[DR_PROMPT_ASK_STAFF], 0);
}

static void test_silent_speaker_cannot_hang_the_box(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	/* the speaker never reports done: drop the prompt-end from the model */
	b.playing = false;
	uint64_t d = dr_core_deadline(&b.core);
	assert_int_equal(d, 1000 + WELCOME_MS + c.prompt_slack_ms);
	box_run_until(&b, d);
	assert_int_equal(dr_core_state(&b.core), DR_ST_BEEP);
	b.playing = false;
	box_run_until(&b, d + BEEP_MS + c.prompt_slack_ms);
	assert_int_equal(dr_core_state(&b.core), DR_ST_RECORDING);
}

static void test_stale_prompt_done_is_ignored(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	/* a done for a prompt that is not playing */
	box_event(&b, (struct dr_event){.type = DR_EV_PROMPT_DONE, .prompt = DR_PROMPT_SAVED});
	assert_int_equal(dr_core_state(&b.core), DR_ST_WELCOME);
	box_event(&b, (struct dr_event){.type = DR_EV_PROMPT_DONE, .prompt = (enum dr_prompt)99});
	assert_int_equal(dr_core_state(&b.core), DR_ST_WELCOME);
}

static void test_shutdown_while_recording_finalises_then_exits(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, REC_START + 500); /* shorter than the minimum: kept anyway */
	box_event(&b, (struct dr_event){.type = DR_EV_SHUTDOWN});
	assert_false(b.capturing);
	assert_true(b.finalise_keep);
	assert_int_equal(b.last_stop, DR_STOP_SHUTDOWN);
	assert_int_equal(dr_core_state(&b.core), DR_ST_STOPPING);
	assert_false(b.exited);
	box_press(&b, REC_START + 510);
	assert_int_equal(b.ignored_presses, 1);
	box_run_until(&b, REC_START + 600);
	assert_true(b.exited);
	assert_int_equal(b.light, DR_LIGHT_OFF);
	assert_int_equal(dr_core_state(&b.core), DR_ST_EXITED);
	assert_int_equal(b.recordings_kept, 1);
	/* nothing happens after exit */
	struct dr_action a[DR_MAX_ACTIONS];
	struct dr_event ev = {.type = DR_EV_PRESS};
	assert_int_equal(dr_core_step(&b.core, &ev, REC_START + 700, a), 0);
}

static void test_shutdown_in_other_states_exits_at_once(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	enum dr_state want[] = {DR_ST_IDLE, DR_ST_WELCOME, DR_ST_BEEP, DR_ST_ASK_STAFF,
				DR_ST_FINALISING, DR_ST_RECEIPT};
	uint64_t at[] = {500, 2000, 1000 + WELCOME_MS + 100, REC_START + 5100, REC_START + 5010,
			 REC_START + 5100 + 40000};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct box b;
		box_init(&b, &c);
		b.finalise_ms = 50;
		box_press(&b, 1000);
		box_run_until(&b, REC_START);
		if (want[i] == DR_ST_IDLE) {
			box_init(&b, &c);
		} else if (want[i] == DR_ST_WELCOME || want[i] == DR_ST_BEEP) {
			box_init(&b, &c);
			box_press(&b, 1000);
			box_run_until(&b, at[i]);
		} else {
			box_press(&b, REC_START + 5000);
			box_run_until(&b, at[i]);
		}
		assert_int_equal(dr_core_state(&b.core), want[i]);
		box_event(&b, (struct dr_event){.type = DR_EV_SHUTDOWN});
		if (want[i] == DR_ST_FINALISING) {
			assert_false(b.exited); /* waits for the file */
			box_run_until(&b, at[i] + 100);
		}
		assert_true(b.exited);
		assert_false(b.playing);
		assert_int_equal(b.violations, 0);
	}
}

static void test_names(void **state)
{
	(void)state;
	for (int s = 0; s < DR_ST_COUNT; s++)
		assert_string_not_equal(dr_state_name((enum dr_state)s), "?");
	for (int p = 0; p < DR_PROMPT_COUNT; p++)
		assert_string_not_equal(dr_prompt_name((enum dr_prompt)p), "?");
	for (int l = 0; l < DR_LIGHT_COUNT; l++)
		assert_string_not_equal(dr_light_name((enum dr_light)l), "?");
	assert_string_equal(dr_state_name(DR_ST_COUNT), "?");
	assert_string_equal(dr_prompt_name(DR_PROMPT_TOO_SHORT), "too_short");
	assert_string_equal(dr_prompt_name(DR_PROMPT_CANCELLED), "cancelled");
	assert_string_equal(dr_prompt_name(DR_PROMPT_COUNT), "?");
	assert_string_equal(dr_stop_reason_name(DR_STOP_CANCELLED), "cancelled");
}


/* ---- the consent questions and the receipt ---- */

/* Record, stop, and run until the first question has been asked; returns
 * the time its prompt started. */
static uint64_t to_staff_question(struct box *b)
{
	box_press(b, 1000);
	box_run_until(b, REC_START);
	box_press(b, REC_START + 5000);
	box_run_until(b, REC_START + 5040 + 3000 + 300); /* file closed; "saved"; pause */
	assert_int_equal(dr_core_state(&b->core), DR_ST_ASK_STAFF);
	assert_true(b->playing);
	assert_int_equal(b->prompt, DR_PROMPT_ASK_STAFF);
	return b->now;
}

static void assert_receipt_read_twice(const struct box *b, int from)
{
	static const enum dr_prompt digits[4] = {DR_PROMPT_DIGIT_0 + 4, DR_PROMPT_DIGIT_0 + 7,
						 DR_PROMPT_DIGIT_0 + 2, DR_PROMPT_DIGIT_0 + 9};
	int i = box_played_at(b, DR_PROMPT_RECEIPT, from);
	assert_true(i >= 0);
	for (int rep = 0; rep < 2; rep++) {
		assert_int_equal(b->played[i++], DR_PROMPT_RECEIPT);
		for (int d = 0; d < 4; d++)
			assert_int_equal(b->played[i++], digits[d]);
		assert_int_equal(b->played[i++], DR_PROMPT_RECEIPT_END);
	}
	assert_int_equal(b->played[i], DR_PROMPT_GOODBYE);
}

static void test_no_answer_keeps_it_locked(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	uint64_t t = to_staff_question(&b);
	box_run_until(&b, t + DIALOGUE_MAX_MS);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.plays[DR_PROMPT_ASK_STAFF], 2); /* asked twice */
	assert_int_equal(b.plays[DR_PROMPT_ASK_SHARE], 0); /* only after a yes */
	assert_int_equal(b.plays[DR_PROMPT_STAFF_NO], 1);
	assert_int_equal(b.plays[DR_PROMPT_STAFF_YES], 0);
	assert_int_equal(b.consents_saved, 1); /* "asked, no answer" is recorded */
	assert_false(b.saved_staff);
	assert_false(b.saved_share);
	assert_receipt_read_twice(&b, 0);
	assert_int_equal(b.violations, 0);
}

static void test_yes_to_staff_then_no_answer_to_sharing(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	uint64_t t = to_staff_question(&b);
	box_press(&b, t + 1000); /* during the question */
	assert_int_equal(dr_core_state(&b.core), DR_ST_SAVING_CONSENT);
	assert_false(b.playing); /* the question stops at once */
	assert_true(b.consent_pending);
	/* the confirmation is only spoken after the answer is durable */
	assert_int_equal(b.plays[DR_PROMPT_STAFF_YES], 0);
	box_run_until(&b, t + 1000);
	assert_int_equal(b.consents_saved, 1);
	assert_true(b.saved_staff);
	assert_int_equal(b.prompt, DR_PROMPT_STAFF_YES);
	box_run_until(&b, t + 1000 + DIALOGUE_MAX_MS);
	assert_int_equal(b.plays[DR_PROMPT_ASK_SHARE], 2);
	assert_int_equal(b.plays[DR_PROMPT_SHARE_NO], 1);
	assert_int_equal(b.plays[DR_PROMPT_SHARE_YES], 0);
	assert_true(b.saved_staff);
	assert_false(b.saved_share);
	assert_int_equal(b.consents_saved, 2);
	assert_receipt_read_twice(&b, 0);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.violations, 0);
}

static void test_yes_to_both(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	uint64_t t = to_staff_question(&b);
	box_press(&b, t + 500);
	box_run_until(&b, t + 500 + 2000 + 100); /* "staff may listen", then a pause */
	assert_false(b.playing);
	box_press(&b, t + 500 + 2000 + 200); /* in the pause: not an answer yet */
	assert_int_equal(b.ignored_presses, 1);
	box_run_until(&b, t + 500 + 2000 + 500 + 10); /* the share question */
	assert_int_equal(dr_core_state(&b.core), DR_ST_ASK_SHARE);
	assert_int_equal(b.prompt, DR_PROMPT_ASK_SHARE);
	assert_int_equal(b.light, DR_LIGHT_QUESTION);
	assert_false(b.pressed_share);
	/* answered in the window after the question ended */
	box_press(&b, t + 500 + 2000 + 500 + 5000 + 3000);
	box_run_until(&b, t + DIALOGUE_MAX_MS);
	assert_true(b.saved_staff);
	assert_true(b.saved_share);
	assert_int_equal(b.plays[DR_PROMPT_SHARE_YES], 1);
	assert_int_equal(b.plays[DR_PROMPT_ASK_SHARE], 1);
	assert_receipt_read_twice(&b, 0);
	assert_int_equal(b.violations, 0);
}

static void test_answer_at_the_second_asking(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	uint64_t t = to_staff_question(&b);
	/* question 4 s + window 6 s, then asked again */
	box_run_until(&b, t + 4000 + 6000 + 100);
	assert_int_equal(b.plays[DR_PROMPT_ASK_STAFF], 2);
	box_press(&b, t + 4000 + 6000 + 500);
	box_run_until(&b, t + 12000);
	assert_true(b.saved_staff);
	assert_int_equal(b.violations, 0);
}

static void test_press_after_the_last_window_is_not_an_answer(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	uint64_t t = to_staff_question(&b);
	box_run_until(&b, t + 2 * (4000 + 6000) + 10);
	assert_int_equal(b.consents_saved, 1);
	assert_false(b.saved_staff);
	box_press(&b, t + 2 * (4000 + 6000) + 500); /* during "staff will not listen" */
	assert_int_equal(b.ignored_presses, 1);
	box_run_until(&b, t + DIALOGUE_MAX_MS);
	assert_false(b.saved_staff);
	assert_int_equal(b.violations, 0);
}

static void test_double_press_gives_no_sharing(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	uint64_t t = to_staff_question(&b);
	box_press(&b, t + 1000);
	box_press(&b, t + 1150); /* the second press of a double press */
	box_press(&b, t + 1300);
	box_run_until(&b, t + DIALOGUE_MAX_MS);
	assert_true(b.saved_staff);
	assert_false(b.saved_share);
	assert_int_equal(b.ignored_presses, 2);
	assert_int_equal(b.violations, 0);
}

static void test_presses_while_the_receipt_is_read_are_ignored(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	uint64_t t = to_staff_question(&b);
	box_run_until(&b, t + 2 * (4000 + 6000) + 3000 + 100);
	assert_int_equal(dr_core_state(&b.core), DR_ST_RECEIPT);
	for (int i = 0; i < 5; i++)
		box_press(&b, b.now + 700);
	assert_int_equal(b.ignored_presses, 5);
	assert_int_equal(b.recordings_started, 1);
	box_run_until(&b, t + DIALOGUE_MAX_MS);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_receipt_read_twice(&b, 0);
}

static void test_receipt_digits_are_said_slowly(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	uint64_t t = to_staff_question(&b);
	box_run_until(&b, t + 2 * (4000 + 6000) + 3000 + 1); /* "your number is" starts */
	assert_int_equal(b.prompt, DR_PROMPT_RECEIPT);
	uint64_t start = b.now;
	box_run_until(&b, start + 1500 + 1); /* it ended: a pause, not the next digit */
	assert_false(b.playing);
	box_run_until(&b, start + 1500 + c.digit_pause_ms);
	assert_true(b.playing);
	assert_int_equal(b.prompt, DR_PROMPT_DIGIT_0 + 4);
}

static void test_consent_not_saved_is_not_spoken_back(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	b.consent_status = -5;
	uint64_t t = to_staff_question(&b);
	box_press(&b, t + 1000);
	box_run_until(&b, t + DIALOGUE_MAX_MS);
	assert_int_equal(b.plays[DR_PROMPT_STAFF_YES], 0);
	assert_int_equal(b.plays[DR_PROMPT_ASK_SHARE], 0);
	assert_int_equal(b.plays[DR_PROMPT_ERROR], 1);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
}

static void test_no_receipt_number_is_told_as_an_error(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, REC_START);
	box_press(&b, REC_START + 5000);
	b.capturing = false;
	b.recorder_busy = false;
	box_event(&b, (struct dr_event){.type = DR_EV_RECORDING_DONE, .status = 0, .receipt = ""});
	box_run_until(&b, REC_START + 5000 + DIALOGUE_MAX_MS);
	assert_int_equal(b.plays[DR_PROMPT_RECEIPT], 0);
	assert_int_equal(b.plays[DR_PROMPT_ERROR], 1);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
}

static void test_shutdown_mid_question_keeps_what_was_answered(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	uint64_t t = to_staff_question(&b);
	box_press(&b, t + 1000);
	box_run_until(&b, t + 1000 + 2000 + 100); /* now asking about sharing */
	assert_int_equal(dr_core_state(&b.core), DR_ST_ASK_SHARE);
	box_event(&b, (struct dr_event){.type = DR_EV_SHUTDOWN});
	assert_true(b.exited);
	assert_true(b.saved_staff);
	assert_false(b.saved_share);
}

static void test_listen_back_plays_the_recording_before_the_questions(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	c.listen_back = true;
	c.prompt_ms[DR_PROMPT_LISTEN] = 2000;
	c.prompt_ms[DR_PROMPT_ASK_CAMERA] = 4000;
	c.prompt_ms[DR_PROMPT_CAMERA_ON] = 2000;
	c.prompt_ms[DR_PROMPT_ASK_SHARE_VIDEO] = 6000;
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, REC_START);
	box_press(&b, REC_START + 5000);
	box_run_until(&b, REC_START + 5040);
	assert_int_equal(dr_core_state(&b.core), DR_ST_LISTEN);
	assert_int_equal(b.prompt, DR_PROMPT_LISTEN);
	box_press(&b, REC_START + 5500); /* a press during "here it is" skips it all */
	assert_false(b.listening);
	assert_int_equal(dr_core_state(&b.core), DR_ST_ASK_STAFF);
	assert_int_equal(b.listens, 0);
	assert_false(b.saved_staff); /* the skip was not an answer */
	box_run_until(&b, REC_START + 5500 + DIALOGUE_MAX_MS);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);

	/* the next time, nobody presses: the whole recording is played */
	box_press(&b, b.now + 1000);
	uint64_t rs = b.now + WELCOME_MS + BEEP_MS;
	box_run_until(&b, rs);
	box_press(&b, rs + 4000);
	box_run_until(&b, rs + 4040 + 2000);
	assert_true(b.listening);
	assert_int_equal(b.plays[DR_PROMPT_ASK_STAFF], 2);
	box_run_until(&b, rs + 4040 + 2000 + 3000);
	assert_false(b.listening);
	assert_int_equal(dr_core_state(&b.core), DR_ST_ASK_STAFF);
	assert_int_equal(b.listens, 1);
	box_run_until(&b, rs + 10000 + DIALOGUE_MAX_MS);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.violations, 0);
}

static void test_listen_back_watchdog(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	c.listen_back = true;
	c.prompt_ms[DR_PROMPT_LISTEN] = 2000;
	c.prompt_ms[DR_PROMPT_ASK_CAMERA] = 4000;
	c.prompt_ms[DR_PROMPT_CAMERA_ON] = 2000;
	c.prompt_ms[DR_PROMPT_ASK_SHARE_VIDEO] = 6000;
	struct box b;
	box_init(&b, &c);
	b.listen_ms = 1000000; /* the speaker never says it finished */
	box_press(&b, 1000);
	box_run_until(&b, REC_START);
	box_press(&b, REC_START + 5000);
	box_run_until(&b, REC_START + 5040 + 2000 + 1);
	assert_true(b.listening);
	/* 5 s of audio + the slack */
	box_run_until(&b, REC_START + 5040 + 2000 + 5000 + c.prompt_slack_ms - 10);
	assert_true(b.listening);
	box_run_until(&b, REC_START + 5040 + 2000 + 5000 + c.prompt_slack_ms + 10);
	assert_false(b.listening);
	assert_int_equal(dr_core_state(&b.core), DR_ST_ASK_STAFF);
}

static uint64_t rnd(uint64_t *seed)
{
	return box_rnd(seed);
}

/* ---- the work that must never meet a testimony ---- */

/* The row and file are prepared as the welcome starts, for a capture due
 * after the welcome and the beep (asked again as the beep starts: the
 * shell makes them once); the capture uses that row. */
static void test_a_recording_is_prepared_as_the_welcome_starts(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	assert_int_equal(b.prepares, 1); /* capture_in_ms checked by the harness */
	assert_int_equal(b.nrows, 1);
	box_run_until(&b, 1000 + WELCOME_MS);
	assert_int_equal(b.prepares, 2);
	assert_int_equal(b.nrows, 1);
	box_run_until(&b, REC_START);
	assert_true(b.capturing);
	assert_int_equal(b.rec_row, 0);
	assert_int_equal(b.violations, 0);
}

/* Staff have their stick in: its work starts at once in idle, and a press
 * starts nothing until the stick is out. */
static void test_press_with_a_stick_in_starts_nothing(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_run_until(&b, 500);
	box_stick(&b, true);
	assert_int_equal(b.stick_begins, 1);
	box_press(&b, 1000);
	assert_int_equal(b.stick_presses_ignored, 1);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.plays[DR_PROMPT_WELCOME], 0);
	assert_int_equal(b.nrows, 0);
	box_run_until(&b, 2000);
	box_stick(&b, false);
	assert_int_equal(b.light, DR_LIGHT_IDLE);
	box_press(&b, 3000);
	assert_int_equal(dr_core_state(&b.core), DR_ST_WELCOME);
	assert_int_equal(b.stick_begins, 1);
	assert_int_equal(b.violations, 0);
}

/* A stick put in, or the retention rule falling due, during a session
 * waits for its end: then each runs once, and a press during the session
 * still does what it does there. */
static void test_stick_and_retention_wait_for_the_end_of_a_session(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, REC_START + 1000);
	box_stick(&b, true);
	box_expiry_due(&b);
	box_expiry_due(&b);
	assert_int_equal(b.stick_begins, 0);
	assert_int_equal(b.expiries, 0);
	box_press(&b, REC_START + 10000); /* the stick does not stop the press */
	assert_int_equal(dr_core_state(&b.core), DR_ST_FINALISING);
	box_run_until(&b, REC_START + 10040 + DIALOGUE_MAX_MS);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.stick_begins, 1);
	assert_int_equal(b.expiries, 1);
	assert_true(box_idle_work_ok(&b));
	assert_int_equal(b.violations, 0);
}

/* ---- the camera question (a room with a camera) ---- */

#define CAMERA_ASKED (1000 + WELCOME_MS) /* press at 1000 */

/* Runs a session in a camera room with a press at `yes_at` (0: none) and
 * answers yes to staff, so the sharing question is heard. */
static void camera_session(struct box *b, uint64_t yes_at)
{
	struct dr_core_config c = cfg();
	c.camera = true;
	box_init(b, &c);
	box_press(b, 1000);
	assert_int_equal(b->prepares, 0); /* not before the choice is known */
	box_run_until(b, CAMERA_ASKED);
	assert_int_equal(dr_core_state(&b->core), DR_ST_ASK_CAMERA);
	assert_int_equal(b->prompt, DR_PROMPT_ASK_CAMERA);
	assert_int_equal(b->light, DR_LIGHT_QUESTION);
	if (yes_at)
		box_press(b, yes_at);
}

static void finish_and_hear_the_sharing_question(struct box *b)
{
	box_run_until(b, b->now + 20000);
	assert_true(b->capturing);
	box_press(b, b->now + 5000);
	box_run_until(b, b->now + 40 + 3000 + 1000); /* "saved", then the question */
	assert_int_equal(b->prompt, DR_PROMPT_ASK_STAFF);
	box_press(b, b->now + 100);
	box_run_until(b, b->now + 3000);
	assert_int_equal(dr_core_state(&b->core), DR_ST_ASK_SHARE);
}

static void test_camera_yes_during_the_question_films(void **state)
{
	(void)state;
	struct box b;
	camera_session(&b, CAMERA_ASKED + 1000);
	assert_int_equal(b.prompt, DR_PROMPT_CAMERA_ON); /* the question was cut */
	box_press(&b, b.now + 300); /* a second press on yes changes nothing */
	assert_int_equal(b.ignored_presses, 1);
	assert_int_equal(b.cancels, 0);
	finish_and_hear_the_sharing_question(&b);
	assert_true(b.rows[0].video);
	assert_int_equal(b.prompt, DR_PROMPT_ASK_SHARE_VIDEO);
	assert_int_equal(b.plays[DR_PROMPT_ASK_SHARE], 0);
	assert_int_equal(b.violations, 0);
}

static void test_camera_yes_just_after_the_question_films(void **state)
{
	(void)state;
	struct box b;
	struct dr_core_config c = cfg();
	camera_session(&b, CAMERA_ASKED + 4000 + c.answer_ms - 1);
	assert_int_equal(b.prompt, DR_PROMPT_CAMERA_ON);
	finish_and_hear_the_sharing_question(&b);
	assert_true(b.rows[0].video);
	assert_int_equal(b.violations, 0);
}

static void test_camera_no_press_is_sound_only(void **state)
{
	(void)state;
	struct box b;
	struct dr_core_config c = cfg();
	camera_session(&b, 0);
	box_run_until(&b, CAMERA_ASKED + 4000 + c.answer_ms);
	assert_int_equal(dr_core_state(&b.core), DR_ST_BEEP);
	assert_int_equal(b.plays[DR_PROMPT_CAMERA_ON], 0);
	assert_int_equal(b.prepares, 1);
	finish_and_hear_the_sharing_question(&b);
	assert_false(b.rows[0].video);
	assert_int_equal(b.prompt, DR_PROMPT_ASK_SHARE);
	assert_int_equal(b.violations, 0);
}

static void test_camera_press_in_the_beep_still_cancels(void **state)
{
	(void)state;
	struct box b;
	camera_session(&b, CAMERA_ASKED + 500);
	box_run_until(&b, CAMERA_ASKED + 500 + 2000 + 100); /* "camera on", then the beep */
	assert_int_equal(b.prompt, DR_PROMPT_BEEP);
	box_press(&b, b.now);
	assert_int_equal(b.cancels, 1);
	assert_int_equal(b.recordings_started, 0);
	assert_int_equal(b.rows[0].state, ROW_DISCARDED);
	assert_int_equal(b.violations, 0);
}

/* ---- random sessions ---- */

/* At least this many; DR_RANDOM_SESSIONS in the environment can ask for
 * more (never fewer). */
#define RANDOM_SESSIONS_MIN 20000
/* Back at idle within this long of the last press, whatever happened: a
 * recording to the time limit, the listen-back, both questions asked
 * twice, slow consent saves, the receipt, silent speakers. */
#define IDLE_BOUND_MS 200000

enum raw_kind { RAW_UP, RAW_DOWN, RAW_STORAGE_LOW, RAW_STORAGE_OK, RAW_DEVICE_ERROR, RAW_STICK_IN,
		RAW_STICK_OUT, RAW_EXPIRY_DUE, RAW_CAMERA_OK, RAW_CAMERA_MISSING };

struct raw {
	uint64_t t;
	enum raw_kind kind;
};

struct plan {
	struct raw e[512];
	int n;
};

static void plan_add(struct plan *p, uint64_t t, enum raw_kind k)
{
	if (p->n == (int)(sizeof(p->e) / sizeof(p->e[0])))
		return;
	/* keep it in time order (later additions may be earlier) */
	int i = p->n++;
	while (i > 0 && p->e[i - 1].t > t) {
		p->e[i] = p->e[i - 1];
		i--;
	}
	p->e[i] = (struct raw){t, k};
}

/* The contacts settle on `level` at t, maybe bouncing first (an even number
 * of extra edges); a worn switch bounces for longer than the debounce
 * window. Returns the time of the last edge. */
static uint64_t contacts(struct plan *p, uint64_t t, bool level, uint64_t *seed)
{
	uint64_t r = rnd(seed);
	int bounces = r % 3 == 0 ? 2 * (int)(r / 3 % 4) : 0;
	uint64_t span = r % 16 == 0 ? 80 : 25;

	plan_add(p, t, level ? RAW_DOWN : RAW_UP);
	for (int k = 1; k <= bounces; k++) {
		t += 1 + rnd(seed) % (span / (uint64_t)bounces + 1);
		plan_add(p, t, (k % 2 == 0) == level ? RAW_DOWN : RAW_UP);
	}
	return t;
}

/* A person at the button: presses at human, nervous and very long gaps,
 * taps and holds, with the storage filling and emptying and the odd
 * microphone failure along the way. Returns the time of the last edge. */
static uint64_t plan_session(struct plan *p, uint64_t *seed, const struct dr_core_config *c)
{
	uint64_t t = 100;
	int presses = 1 + (int)(rnd(seed) % 10);
	uint64_t prelude = c->prompt_ms[DR_PROMPT_WELCOME] + c->prompt_ms[DR_PROMPT_BEEP];
	if (c->camera) /* the question, its answer window, "the camera is on" */
		prelude += c->prompt_ms[DR_PROMPT_ASK_CAMERA] + c->answer_ms + c->prompt_ms[DR_PROMPT_CAMERA_ON];

	for (int i = 0; i < presses; i++) {
		uint64_t r = rnd(seed);
		switch (r % 8) {
		case 0: t += 60 + r / 8 % 640; break;          /* a double press */
		case 1: t += r / 8 % (prelude + 600); break;   /* during the welcome or beep */
		case 2: t += r / 8 % 400; break;
		case 3: t += r / 8 % 40000; break;
		default: t += r / 8 % 12000; break;
		}
		if (r % 13 == 0)
			plan_add(p, t, RAW_STORAGE_LOW);
		else if (r % 13 == 1)
			plan_add(p, t, RAW_STORAGE_OK);
		if (r % 37 == 0)
			plan_add(p, t + rnd(seed) % 30000, RAW_DEVICE_ERROR);
		if (r % 17 == 0) {
			/* staff put their stick in, at any moment, for a while */
			uint64_t in = t + rnd(seed) % 30000;
			plan_add(p, in, RAW_STICK_IN);
			if (rnd(seed) % 3)
				plan_add(p, in + rnd(seed) % 20000, RAW_STICK_OUT);
		}
		if (r % 11 == 0)
			plan_add(p, t + rnd(seed) % 30000, RAW_EXPIRY_DUE);
		if (c->camera && r % 5 == 0) {
			/* the camera is unplugged (found at any moment: at a
			 * start, mid-recording) or comes back */
			uint64_t at = t + rnd(seed) % (prelude + 30000);
			plan_add(p, at, rnd(seed) % 2 ? RAW_CAMERA_OK : RAW_CAMERA_MISSING);
			if (rnd(seed) % 2)
				plan_add(p, at + rnd(seed) % 20000,
					 rnd(seed) % 2 ? RAW_CAMERA_OK : RAW_CAMERA_MISSING);
		}
		t = contacts(p, t, true, seed);
		if (i == presses - 1 && r % 6 == 0)
			break; /* held down to the end */
		uint64_t h = rnd(seed);
		t += h % 10 == 0 ? 2000 + h % 28000 : 40 + h % 1500; /* how long it is held */
		t = contacts(p, t, false, seed);
	}
	return p->e[p->n - 1].t;
}

struct tally {
	int started, kept, too_short, cancels, limits, cuts, cuts_in_dialogue, staff_yes,
	    share_yes, full, presses_while_saving, consent_failures, stick_ignored, stick_deferred,
	    stick_begins, expiry_deferred, expiries, camera_asked, videos, sound_only_with_camera,
	    camera_yes_after, share_video_asked, no_camera_told, no_camera_cancels, camera_changes,
	    asked_after_no_camera;
	uint64_t slowest_idle;
};

static void check_session(struct box *b, int session, const char *when)
{
	if (b->violations)
		fail_msg("session %d (%s): %d violation(s), the last: %s", session, when, b->violations,
			 b->last_violation);
	if (!box_catalogue_ok(b))
		fail_msg("session %d (%s): %s", session, when, b->last_violation);
}

/* Random presses (raw contact edges through the debouncer: bounces, taps,
 * holds, double presses), power cuts at any moment, full disks, failed
 * and slow catalogue writes, silent speakers, in virtual time. The
 * harness judges every step by its own view (see harness.h); here, after
 * every session, cut or not: no violation, and the catalogue is never
 * more than the presses gave; then, if the power was not cut, the box is
 * back at idle within IDLE_BOUND_MS of the last press with nothing left
 * half made, and every kept recording was asked about and its answer
 * saved (or the failure told). */
static void test_random_sessions_keep_invariants(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	c.time_limit_ms = 20000;
	c.warning_ms = 5000;
	uint64_t seed = 12345;
	struct tally n = {0};
	const char *env = getenv("DR_RANDOM_SESSIONS");
	long sessions = env ? strtol(env, NULL, 10) : 0;
	if (sessions < RANDOM_SESSIONS_MIN)
		sessions = RANDOM_SESSIONS_MIN;
	struct box b;
	struct plan plan;

	for (int session = 0; session < sessions; session++) {
		c.listen_back = rnd(&seed) % 2;
		c.camera = rnd(&seed) % 2;
		box_init(&b, &c);
		if (c.camera && rnd(&seed) % 3 == 0)
			box_camera(&b, false); /* could not be opened at start */
		b.chaos = true;
		b.seed = rnd(&seed) * 2 + 1;
		b.finalise_ms = 1 + (uint32_t)(rnd(&seed) % 500);
		b.record_status = rnd(&seed) % 20 == 0 ? -28 /* ENOSPC */ : 0;
		plan.n = 0;
		uint64_t last = plan_session(&plan, &seed, &c);
		bool cut = rnd(&seed) % 5 == 0;
		uint64_t cut_at = cut ? 100 + rnd(&seed) % (last + 60000) : BOX_NEVER;

		for (int i = 0; i < plan.n && plan.e[i].t <= cut_at; i++) {
			const struct raw *e = &plan.e[i];
			if (e->kind == RAW_UP || e->kind == RAW_DOWN) {
				box_raw(&b, e->t, e->kind == RAW_DOWN);
				continue;
			}
			box_run_until(&b, e->t);
			if (e->kind == RAW_STICK_IN || e->kind == RAW_STICK_OUT) {
				box_stick(&b, e->kind == RAW_STICK_IN);
				continue;
			}
			if (e->kind == RAW_EXPIRY_DUE) {
				box_expiry_due(&b);
				continue;
			}
			if (e->kind == RAW_CAMERA_OK || e->kind == RAW_CAMERA_MISSING) {
				box_camera(&b, e->kind == RAW_CAMERA_OK);
				continue;
			}
			box_event(&b, (struct dr_event){
				.type = e->kind == RAW_STORAGE_LOW ? DR_EV_STORAGE_LOW
					: e->kind == RAW_STORAGE_OK ? DR_EV_STORAGE_OK
								     : DR_EV_DEVICE_ERROR,
				.status = -5});
		}
		n.started += b.recordings_started;
		n.cancels += b.cancels;
		n.presses_while_saving += b.presses_while_saving;
		n.stick_ignored += b.stick_presses_ignored;
		n.stick_deferred += b.stick_begins_deferred;
		n.stick_begins += b.stick_begins;
		n.expiry_deferred += b.expiries_deferred;
		n.expiries += b.expiries;
		n.camera_asked += b.camera_asked;
		n.videos += b.videos;
		n.sound_only_with_camera += b.sound_only_with_camera;
		n.camera_yes_after += b.camera_yes_after;
		n.share_video_asked += b.share_video_asked;
		n.no_camera_told += b.no_camera_told;
		n.no_camera_cancels += b.no_camera_cancels;
		n.camera_changes += b.camera_changes;
		n.asked_after_no_camera += b.asked_after_no_camera;
		if (cut) {
			/* The power goes: check what the catalogue holds, then
			 * the box starts again from nothing. */
			box_run_until(&b, cut_at);
			enum dr_state st = dr_core_state(&b.core);
			n.cuts++;
			n.cuts_in_dialogue += st == DR_ST_ASK_STAFF || st == DR_ST_ASK_SHARE ||
					      st == DR_ST_SAVING_CONSENT || st == DR_ST_RECEIPT;
			check_session(&b, session, "before the power cut");
			box_power_cut(&b);
			check_session(&b, session, "after the power cut");
			struct dr_core again;
			struct dr_action a[DR_MAX_ACTIONS];
			dr_core_init(&again, &c, 0);
			size_t k = dr_core_start(&again, 0, a);
			assert_int_equal(dr_core_state(&again), DR_ST_IDLE);
			assert_false(dr_core_recording(&again));
			assert_true(k >= 1 && a[k - 1].type == DR_ACT_LIGHT &&
				    a[k - 1].light == DR_LIGHT_IDLE);
			continue;
		}
		uint64_t from = b.last_press > last ? b.last_press : last;
		box_run_until(&b, from + IDLE_BOUND_MS);
		check_session(&b, session, "at the end");
		if (dr_core_state(&b.core) != DR_ST_IDLE)
			fail_msg("session %d: %s, not idle, %d ms after the last press", session,
				 dr_state_name(dr_core_state(&b.core)), IDLE_BOUND_MS);
		assert_true(b.light == DR_LIGHT_IDLE || b.light == DR_LIGHT_FULL);
		if (!box_idle_work_ok(&b))
			fail_msg("session %d: %s", session, b.last_violation);
		assert_false(b.recorder_busy);
		assert_false(b.consent_pending);
		assert_false(b.playing);
		assert_int_equal(b.recordings_started, b.recordings_kept + b.recordings_discarded);
		for (int i = 0; i < b.nrows; i++) {
			const struct box_row *r = &b.rows[i];
			if (r->state == ROW_PREPARED || r->state == ROW_CAPTURING || r->state == ROW_CLOSING)
				fail_msg("session %d: row %d left half made (%d)", session, i, r->state);
			if (r->state != ROW_COMPLETE)
				continue;
			/* every kept, cleanly closed recording was asked about,
			 * and its answer saved (or the failure told) */
			if (!r->asked_staff || r->consent_writes + r->consent_failures == 0)
				fail_msg("session %d: recording %d was not asked about", session, i);
			n.staff_yes += r->staff == BOX_YES;
			n.share_yes += r->share == BOX_YES;
			n.consent_failures += r->consent_failures;
		}
		n.kept += b.recordings_kept;
		n.too_short += b.plays[DR_PROMPT_TOO_SHORT];
		n.limits += b.plays[DR_PROMPT_WARNING];
		n.full += b.plays[DR_PROMPT_FULL] > 0;
	}
	/* the random walk must actually reach every path */
	print_message("%ld sessions, %d recordings: %d kept, %d too short, %d cancelled by a press "
		      "in the welcome or beep, %d reached the warning; %d power cuts (%d in the "
		      "dialogue); %d staff yes, %d share yes; %d presses while saving consent, %d "
		      "failed consent saves; %d refused for a full disk; %d presses ignored for a "
		      "stick; %d sticks served (%d put in during a session); %d expiries (%d due during "
		      "a session); in rooms with a camera: asked %d times, %d videos (%d by a press "
		      "after the question ended), %d sound only, %d sharing questions for a video; the "
		      "camera came or went %d times, told unusable %d times (%d cancelled by a press "
		      "during it, %d asked again once it was back)\n",
		      sessions, n.started, n.kept, n.too_short, n.cancels, n.limits, n.cuts,
		      n.cuts_in_dialogue, n.staff_yes, n.share_yes, n.presses_while_saving,
		      n.consent_failures, n.full, n.stick_ignored, n.stick_begins, n.stick_deferred,
		      n.expiries, n.expiry_deferred, n.camera_asked, n.videos, n.camera_yes_after,
		      n.sound_only_with_camera, n.share_video_asked, n.camera_changes, n.no_camera_told,
		      n.no_camera_cancels, n.asked_after_no_camera);
	assert_true(n.kept > 1000);
	assert_true(n.too_short > 100);
	assert_true(n.cancels > 1000);
	assert_true(n.limits > 100);
	assert_true(n.cuts > 1000);
	assert_true(n.cuts_in_dialogue > 200);
	assert_true(n.staff_yes > 200);
	assert_true(n.share_yes > 50);
	assert_true(n.presses_while_saving > 100);
	assert_true(n.consent_failures > 20);
	assert_true(n.full > 50);
	assert_true(n.stick_ignored > 200);
	assert_true(n.stick_begins > 500);
	assert_true(n.stick_deferred > 200);
	assert_true(n.expiries > 500);
	assert_true(n.expiry_deferred > 200);
	assert_true(n.videos > 500);
	assert_true(n.camera_yes_after > 100);
	assert_true(n.sound_only_with_camera > 500);
	assert_true(n.share_video_asked > 200);
	assert_true(n.camera_changes > 1000);
	assert_true(n.no_camera_told > 500);
	assert_true(n.no_camera_cancels > 50);
	assert_true(n.asked_after_no_camera > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_the_promised_ones),
		cmocka_unit_test(test_starts_idle),
		cmocka_unit_test(test_full_session),
		cmocka_unit_test(test_too_short_is_not_kept),
		cmocka_unit_test(test_exactly_min_length_is_kept),
		cmocka_unit_test(test_time_limit_with_warning),
		cmocka_unit_test(test_press_during_warning_stops_it),
		cmocka_unit_test(test_press_during_welcome_cancels),
		cmocka_unit_test(test_press_during_beep_cancels_and_discards_the_row),
		cmocka_unit_test(test_double_press_at_the_start_records_nothing),
		cmocka_unit_test(test_chatter_is_not_a_second_press),
		cmocka_unit_test(test_press_after_capture_started_stops_normally),
		cmocka_unit_test(test_presses_ignored_while_saving_or_telling),
		cmocka_unit_test(test_release_does_nothing),
		cmocka_unit_test(test_storage_low_refuses_to_start),
		cmocka_unit_test(test_storage_low_during_recording_does_not_stop_it),
		cmocka_unit_test(test_microphone_failure_keeps_what_was_said),
		cmocka_unit_test(test_device_error_event_stops_and_keeps),
		cmocka_unit_test(test_failed_save_is_told),
		cmocka_unit_test(test_silent_speaker_cannot_hang_the_box),
		cmocka_unit_test(test_storage_that_hangs_cannot_hang_the_box),
		cmocka_unit_test(test_stale_prompt_done_is_ignored),
		cmocka_unit_test(test_shutdown_while_recording_finalises_then_exits),
		cmocka_unit_test(test_shutdown_in_other_states_exits_at_once),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_no_answer_keeps_it_locked),
		cmocka_unit_test(test_yes_to_staff_then_no_answer_to_sharing),
		cmocka_unit_test(test_yes_to_both),
		cmocka_unit_test(test_answer_at_the_second_asking),
		cmocka_unit_test(test_press_after_the_last_window_is_not_an_answer),
		cmocka_unit_test(test_double_press_gives_no_sharing),
		cmocka_unit_test(test_presses_while_the_receipt_is_read_are_ignored),
		cmocka_unit_test(test_receipt_digits_are_said_slowly),
		cmocka_unit_test(test_consent_not_saved_is_not_spoken_back),
		cmocka_unit_test(test_no_receipt_number_is_told_as_an_error),
		cmocka_unit_test(test_shutdown_mid_question_keeps_what_was_answered),
		cmocka_unit_test(test_listen_back_plays_the_recording_before_the_questions),
		cmocka_unit_test(test_listen_back_watchdog),
		cmocka_unit_test(test_a_recording_is_prepared_as_the_welcome_starts),
		cmocka_unit_test(test_press_with_a_stick_in_starts_nothing),
		cmocka_unit_test(test_stick_and_retention_wait_for_the_end_of_a_session),
		cmocka_unit_test(test_camera_yes_during_the_question_films),
		cmocka_unit_test(test_camera_yes_just_after_the_question_films),
		cmocka_unit_test(test_camera_no_press_is_sound_only),
		cmocka_unit_test(test_camera_press_in_the_beep_still_cancels),
		cmocka_unit_test(test_random_sessions_keep_invariants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
