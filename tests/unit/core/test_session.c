/* SPDX-License-Identifier: MIT */
/* Every state and transition of the session core, in virtual time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "harness.h"

#define WELCOME_MS 5000
#define BEEP_MS 300

static struct dr_core_config cfg(void)
{
	struct dr_core_config c;
	dr_core_config_default(&c);
	c.prompt_ms[DR_PROMPT_WELCOME] = WELCOME_MS;
	c.prompt_ms[DR_PROMPT_BEEP] = BEEP_MS;
	c.prompt_ms[DR_PROMPT_WARNING] = 2000;
	c.prompt_ms[DR_PROMPT_TOO_SHORT] = 4000;
	c.prompt_ms[DR_PROMPT_SAVED] = 3000;
	c.prompt_ms[DR_PROMPT_FULL] = 4000;
	c.prompt_ms[DR_PROMPT_ERROR] = 4000;
	c.prompt_ms[DR_PROMPT_ASK_STAFF] = 4000;
	c.prompt_ms[DR_PROMPT_ASK_SHARE] = 5000;
	c.prompt_ms[DR_PROMPT_STAFF_YES] = 2000;
	c.prompt_ms[DR_PROMPT_STAFF_NO] = 3000;
	c.prompt_ms[DR_PROMPT_SHARE_YES] = 2000;
	c.prompt_ms[DR_PROMPT_SHARE_NO] = 2000;
	c.prompt_ms[DR_PROMPT_RECEIPT] = 1500;
	c.prompt_ms[DR_PROMPT_RECEIPT_END] = 2500;
	c.prompt_ms[DR_PROMPT_GOODBYE] = 1500;
	c.prompt_ms[DR_PROMPT_LISTEN] = 2000;
	for (int d = 0; d < 10; d++)
		c.prompt_ms[DR_PROMPT_DIGIT_0 + d] = 500;
	return c;
}

/* The longest the questions and the receipt can take with these lengths. */
#define DIALOGUE_MAX_MS 100000

/* press at 1000 -> recording starts at 1000 + welcome + beep */
#define REC_START (1000 + WELCOME_MS + BEEP_MS)

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

static void test_presses_ignored_while_speaking_or_saving(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	struct box b;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_press(&b, 1200);          /* during the welcome */
	box_press(&b, 1000 + WELCOME_MS + 100); /* during the beep */
	assert_int_equal(b.ignored_presses, 2);
	box_run_until(&b, REC_START);
	assert_int_equal(dr_core_state(&b.core), DR_ST_RECORDING);
	box_press(&b, REC_START + 5000);
	box_press(&b, REC_START + 5010); /* while finalising */
	box_run_until(&b, REC_START + 5100);
	box_press(&b, REC_START + 5200); /* while saying "saved", before the question */
	assert_int_equal(b.ignored_presses, 4);
	assert_int_equal(b.recordings_started, 1);
	box_run_until(&b, REC_START + 5100 + DIALOGUE_MAX_MS);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_false(b.saved_staff); /* the press before the question was no answer */
	/* and a new press starts a new session */
	box_press(&b, REC_START + 5200 + DIALOGUE_MAX_MS);
	assert_int_equal(dr_core_state(&b.core), DR_ST_WELCOME);
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
	struct box b;
	box_init(&b, &c);
	b.listen_ms = 1000000; /* the speaker never says it finished */
	box_press(&b, 1000);
	box_run_until(&b, REC_START);
	box_press(&b, REC_START + 5000);
	box_run_until(&b, REC_START + 5040 + 2000 + 1);
	assert_true(b.listening);
	/* 5 s of audio (the harness reports 0 samples) + the slack */
	box_run_until(&b, REC_START + 5040 + 2000 + c.prompt_slack_ms + 10);
	assert_false(b.listening);
	assert_int_equal(dr_core_state(&b.core), DR_ST_ASK_STAFF);
}

/* Random presses, holds and chatter, power cuts, full disks and failed
 * catalogue writes, in virtual time: at least 10,000 sessions. The
 * invariants are checked by the harness after every step (the light shows
 * recording exactly while audio is captured; never two recordings at once;
 * consent never more than the resident gave) and here after each session
 * (back at idle within a bounded time of the last press; every kept
 * recording went through the questions, whose outcome was saved). */
static uint64_t rnd(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return *seed >> 33;
}

static void test_random_sessions_keep_invariants(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	c.time_limit_ms = 20000;
	c.warning_ms = 5000;
	uint64_t seed = 12345;
	int started = 0, kept = 0, discarded = 0, limits = 0, cuts = 0, staff_yes = 0,
	    share_yes = 0, full = 0;
	for (int session = 0; session < 12000; session++) {
		struct box b;
		c.listen_back = session % 2;
		box_init(&b, &c);
		b.finalise_ms = 1 + (uint32_t)(rnd(&seed) % 500);
		b.listen_ms = (uint32_t)(rnd(&seed) % 8000);
		b.record_status = rnd(&seed) % 20 == 0 ? -28 /* ENOSPC */ : 0;
		b.consent_status = rnd(&seed) % 30 == 0 ? -5 : 0;
		bool cut = rnd(&seed) % 8 == 0;
		uint64_t t = 0, last_press = 0;
		int presses = 1 + (int)(rnd(&seed) % 10);
		for (int i = 0; i < presses; i++) {
			uint64_t r = rnd(&seed);
			/* mostly human gaps; some chatter-fast, some very long */
			t += r % 4 == 0 ? r % 400 : r % 4 == 1 ? r % 40000 : r % 12000;
			if (r % 13 == 0)
				box_event(&b, (struct dr_event){.type = DR_EV_STORAGE_LOW});
			else if (r % 13 == 1)
				box_event(&b, (struct dr_event){.type = DR_EV_STORAGE_OK});
			box_press(&b, t);
			/* a held button: the release comes much later, or never */
			if (r % 5 != 0) {
				box_run_until(&b, t + 50 + r % 3000);
				t = b.now;
				box_event(&b, (struct dr_event){.type = DR_EV_RELEASE});
			}
			last_press = t;
		}
		if (cut) {
			/* A power cut somewhere after the presses: the core starts
			 * again from nothing; what was saved stays saved. */
			box_run_until(&b, t + rnd(&seed) % 60000);
			bool staff = b.saved_staff, share = b.saved_share;
			int saved = b.consents_saved;
			cuts++;
			struct box again;
			box_init(&again, &c);
			assert_int_equal(dr_core_state(&again.core), DR_ST_IDLE);
			assert_false(again.capturing);
			if (share)
				assert_true(staff);
			(void)saved;
			continue;
		}
		/* back at idle within a bounded time of the last press */
		uint64_t bound = last_press + c.time_limit_ms + 500 + DIALOGUE_MAX_MS + 2 * c.prompt_slack_ms;
		box_run_until(&b, bound);
		if (b.violations)
			fail_msg("session %d: %s", session, b.last_violation);
		assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
		assert_false(b.recorder_busy);
		assert_int_equal(b.recordings_started, b.recordings_kept + b.recordings_discarded);
		/* every kept, cleanly closed recording went through the questions */
		if (b.recordings_kept && b.record_status == 0)
			assert_true(b.plays[DR_PROMPT_ASK_STAFF] >= b.recordings_kept);
		if (b.recordings_kept && b.record_status == 0 && b.consent_status == 0)
			assert_true(b.consents_saved >= b.recordings_kept);
		started += b.recordings_started;
		kept += b.recordings_kept;
		discarded += b.recordings_discarded;
		limits += b.plays[DR_PROMPT_WARNING];
		staff_yes += b.saved_staff;
		share_yes += b.saved_share;
		full += b.plays[DR_PROMPT_FULL] > 0;
	}
	/* the random walk must actually reach every path */
	print_message("%d recordings: %d kept, %d too short, %d reached the warning, %d power cuts,"
		      " %d staff yes, %d share yes, %d refused for a full disk\n",
		      started, kept, discarded, limits, cuts, staff_yes, share_yes, full);
	assert_true(kept > 1000);
	assert_true(discarded > 100);
	assert_true(limits > 100);
	assert_true(cuts > 500);
	assert_true(staff_yes > 200);
	assert_true(share_yes > 50);
	assert_true(full > 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_starts_idle),
		cmocka_unit_test(test_full_session),
		cmocka_unit_test(test_too_short_is_not_kept),
		cmocka_unit_test(test_exactly_min_length_is_kept),
		cmocka_unit_test(test_time_limit_with_warning),
		cmocka_unit_test(test_press_during_warning_stops_it),
		cmocka_unit_test(test_presses_ignored_while_speaking_or_saving),
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
		cmocka_unit_test(test_random_sessions_keep_invariants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
