/* SPDX-License-Identifier: MIT */
/* A room meant to have a camera whose camera cannot be used (not plugged
 * in, unplugged, failed), told to the core as DR_EV_CAMERA: after the
 * welcome the box says so (no_camera) instead of asking, then the beep, and
 * records sound only; every press timing around it; the camera coming and
 * going at other moments. In virtual time, judged by the harness's own
 * view (harness.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core_config.h"
#include "harness.h"

#define NO_CAMERA_MS 3500                        /* cfg(): no_camera's length */
#define WELCOME_END (1000 + WELCOME_MS)          /* press at 1000 */
#define BEEP_AT (WELCOME_END + NO_CAMERA_MS)     /* the beep after no_camera */
#define CAPTURE_AT (BEEP_AT + BEEP_MS)

/* A camera room whose camera could not be opened; the press at 1000. */
static void missing_camera_session(struct box *b)
{
	struct dr_core_config c = cfg();
	c.camera = true;
	box_init(b, &c);
	box_camera(b, false);
	box_press(b, 1000);
	assert_int_equal(b->prompt, DR_PROMPT_WELCOME);
	assert_int_equal(b->prepares, 0); /* not before the welcome ends */
}

/* From the capture to the sharing question: a stop press, yes to staff. */
static void to_the_sharing_question(struct box *b)
{
	box_run_until(b, b->now + 20000);
	box_press(b, b->now);
	box_run_until(b, b->now + 40 + 3000 + 1000); /* "saved", then the question */
	assert_int_equal(b->prompt, DR_PROMPT_ASK_STAFF);
	box_press(b, b->now + 100);
	box_run_until(b, b->now + 3000);
	assert_int_equal(dr_core_state(&b->core), DR_ST_ASK_SHARE);
}

static void test_missing_camera_is_said_and_sound_only(void **state)
{
	(void)state;
	struct box b;
	missing_camera_session(&b);
	box_run_until(&b, WELCOME_END);
	assert_int_equal(dr_core_state(&b.core), DR_ST_NO_CAMERA);
	assert_int_equal(b.prompt, DR_PROMPT_NO_CAMERA);
	assert_int_equal(b.light, DR_LIGHT_WELCOME); /* the box is speaking: no question */
	assert_int_equal(b.prepares, 1);             /* sound only: known now */
	box_run_until(&b, BEEP_AT);
	assert_int_equal(b.prompt, DR_PROMPT_BEEP);
	box_run_until(&b, CAPTURE_AT);
	assert_true(b.capturing);
	assert_int_equal(b.plays[DR_PROMPT_ASK_CAMERA], 0);
	assert_int_equal(b.plays[DR_PROMPT_CAMERA_ON], 0);
	to_the_sharing_question(&b);
	assert_false(b.rows[0].video);
	assert_int_equal(b.prompt, DR_PROMPT_ASK_SHARE); /* no face to speak of */
	assert_int_equal(b.plays[DR_PROMPT_NO_CAMERA], 1);
	assert_int_equal(b.violations, 0);
}

/* A press while no_camera plays, at its first moment, its middle and its
 * last: "nothing has been recorded", the prepared row discarded, idle. */
static void test_press_during_no_camera_cancels(void **state)
{
	(void)state;
	const uint64_t at[] = {WELCOME_END, WELCOME_END + 1, WELCOME_END + NO_CAMERA_MS / 2,
			       BEEP_AT - 1};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		struct box b;
		missing_camera_session(&b);
		box_press(&b, at[i]);
		assert_int_equal(b.last_stop, DR_STOP_CANCELLED);
		assert_int_equal(b.prompt, DR_PROMPT_CANCELLED);
		assert_int_equal(dr_core_state(&b.core), DR_ST_TELLING);
		assert_int_equal(b.no_camera_cancels, 1);
		box_press(&b, b.now + 300); /* a second press: ignored */
		box_run_until(&b, b.now + 10000);
		assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
		assert_int_equal(b.cancels, 1);
		assert_int_equal(b.recordings_started, 0);
		assert_int_equal(b.rows[0].state, ROW_DISCARDED);
		assert_int_equal(b.plays[DR_PROMPT_BEEP], 0);
		assert_int_equal(b.violations, 0);
	}
}

/* Before it (the welcome) and after it (the beep) a press cancels too; a
 * press once capture began stops it (too short: not kept). */
static void test_presses_around_no_camera(void **state)
{
	(void)state;
	struct box b;
	missing_camera_session(&b);
	box_press(&b, WELCOME_END - 1);
	assert_int_equal(b.cancels, 1);
	assert_int_equal(b.plays[DR_PROMPT_NO_CAMERA], 0);
	assert_int_equal(b.violations, 0);

	missing_camera_session(&b);
	box_press(&b, BEEP_AT); /* the beep has just started */
	assert_int_equal(b.cancels, 1);
	assert_int_equal(b.rows[0].state, ROW_DISCARDED);
	assert_int_equal(b.recordings_started, 0);
	assert_int_equal(b.violations, 0);

	missing_camera_session(&b);
	box_press(&b, CAPTURE_AT + 500);
	assert_int_equal(b.recordings_started, 1);
	assert_int_equal(b.last_stop, DR_STOP_TOO_SHORT);
	box_run_until(&b, b.now + 10000);
	assert_int_equal(b.plays[DR_PROMPT_TOO_SHORT], 1);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.violations, 0);
}

/* A camera lost during a video: nothing is said, the recording goes on to
 * the stop press and is kept; the next resident hears no_camera, and once
 * the camera is back the one after is asked again. */
static void test_camera_lost_mid_recording_is_told_to_the_next_resident(void **state)
{
	(void)state;
	struct box b;
	struct dr_core_config c = cfg();
	c.camera = true;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, WELCOME_END);
	assert_int_equal(b.prompt, DR_PROMPT_ASK_CAMERA);
	box_press(&b, WELCOME_END + 1000); /* yes */
	box_run_until(&b, b.now + 5000);
	assert_true(b.capturing);
	assert_true(b.rows[0].video);
	int played = b.nplayed;
	box_camera(&b, false); /* unplugged mid-recording */
	box_run_until(&b, b.now + 10000);
	assert_true(b.capturing);
	assert_int_equal(b.nplayed, played); /* nothing said */
	assert_int_equal(b.light, DR_LIGHT_RECORDING);
	box_press(&b, b.now);
	box_run_until(&b, b.now + DIALOGUE_MAX_MS);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);
	assert_int_equal(b.rows[0].state, ROW_COMPLETE);
	assert_int_equal(b.plays[DR_PROMPT_NO_CAMERA], 0);

	uint64_t t = b.now + 1000; /* the next resident */
	box_press(&b, t);
	box_run_until(&b, t + WELCOME_MS);
	assert_int_equal(b.prompt, DR_PROMPT_NO_CAMERA);
	box_run_until(&b, t + WELCOME_MS + NO_CAMERA_MS + BEEP_MS + 20000);
	assert_true(b.capturing);
	assert_false(b.rows[1].video);
	box_press(&b, b.now);
	box_run_until(&b, b.now + DIALOGUE_MAX_MS);
	assert_int_equal(dr_core_state(&b.core), DR_ST_IDLE);

	box_camera(&b, true); /* plugged back in, found while idle */
	t = b.now + 1000;
	box_press(&b, t);
	box_run_until(&b, t + WELCOME_MS);
	assert_int_equal(b.prompt, DR_PROMPT_ASK_CAMERA);
	assert_int_equal(b.plays[DR_PROMPT_NO_CAMERA], 1);
	assert_int_equal(b.violations, 0);
}

/* The camera's state is looked at as the welcome ends: one that comes back
 * during the welcome is offered; one lost during it is not. */
static void test_camera_state_is_taken_as_the_welcome_ends(void **state)
{
	(void)state;
	struct box b;
	missing_camera_session(&b);
	box_run_until(&b, WELCOME_END - 100);
	box_camera(&b, true);
	box_run_until(&b, WELCOME_END);
	assert_int_equal(b.prompt, DR_PROMPT_ASK_CAMERA);
	assert_int_equal(b.violations, 0);

	struct dr_core_config c = cfg();
	c.camera = true;
	box_init(&b, &c);
	box_press(&b, 1000);
	box_run_until(&b, WELCOME_END - 100);
	box_camera(&b, false);
	box_run_until(&b, WELCOME_END);
	assert_int_equal(b.prompt, DR_PROMPT_NO_CAMERA);
	box_press(&b, WELCOME_END + 500); /* not a yes to anything: cancels */
	assert_int_equal(b.cancels, 1);
	assert_int_equal(b.plays[DR_PROMPT_ASK_CAMERA], 0);
	assert_int_equal(b.violations, 0);
}

/* The core never asks before it is told: a camera room whose camera has
 * not been reported is treated as one that cannot be used. */
static void test_camera_not_yet_told_is_not_offered(void **state)
{
	(void)state;
	struct dr_core_config c = cfg();
	c.camera = true;
	struct dr_core core;
	struct dr_action a[DR_MAX_ACTIONS];
	dr_core_init(&core, &c, 0);
	dr_core_start(&core, 0, a);
	dr_core_step(&core, &(struct dr_event){.type = DR_EV_PRESS}, 1000, a);
	size_t n = dr_core_step(&core, &(struct dr_event){.type = DR_EV_PROMPT_DONE,
							   .prompt = DR_PROMPT_WELCOME},
				WELCOME_END, a);
	bool said = false;
	for (size_t i = 0; i < n; i++) {
		assert_false(a[i].type == DR_ACT_PLAY && a[i].prompt == DR_PROMPT_ASK_CAMERA);
		said = said || (a[i].type == DR_ACT_PLAY && a[i].prompt == DR_PROMPT_NO_CAMERA);
		if (a[i].type == DR_ACT_PREPARE_RECORDING) {
			assert_false(a[i].video);
			assert_int_equal(a[i].capture_in_ms, NO_CAMERA_MS + BEEP_MS);
		}
	}
	assert_true(said);
}

/* A room without a camera never speaks of one, whatever it is told. */
static void test_room_without_a_camera_says_nothing_of_it(void **state)
{
	(void)state;
	struct box b;
	struct dr_core_config c = cfg();
	box_init(&b, &c);
	box_camera(&b, false);
	box_press(&b, 1000);
	box_run_until(&b, WELCOME_END);
	assert_int_equal(b.prompt, DR_PROMPT_BEEP);
	box_camera(&b, true);
	box_run_until(&b, b.now + 20000);
	box_press(&b, b.now);
	box_run_until(&b, b.now + DIALOGUE_MAX_MS);
	assert_int_equal(b.plays[DR_PROMPT_NO_CAMERA], 0);
	assert_int_equal(b.plays[DR_PROMPT_ASK_CAMERA], 0);
	assert_int_equal(b.violations, 0);
}

/* Shutdown during no_camera: nothing was recorded; the box exits at once. */
static void test_shutdown_during_no_camera_exits(void **state)
{
	(void)state;
	struct box b;
	missing_camera_session(&b);
	box_run_until(&b, WELCOME_END + 100);
	box_event(&b, (struct dr_event){.type = DR_EV_SHUTDOWN});
	assert_true(b.exited);
	assert_int_equal(b.recordings_started, 0);
	assert_int_equal(b.violations, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_camera_is_said_and_sound_only),
		cmocka_unit_test(test_press_during_no_camera_cancels),
		cmocka_unit_test(test_presses_around_no_camera),
		cmocka_unit_test(test_camera_lost_mid_recording_is_told_to_the_next_resident),
		cmocka_unit_test(test_camera_state_is_taken_as_the_welcome_ends),
		cmocka_unit_test(test_camera_not_yet_told_is_not_offered),
		cmocka_unit_test(test_room_without_a_camera_says_nothing_of_it),
		cmocka_unit_test(test_shutdown_during_no_camera_exits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
