/* SPDX-License-Identifier: MIT */
/* The prompt lengths and settings the core's scripted tests run with
 * (test_session.c, test_session_camera.c). */
#ifndef DR_TEST_CORE_CONFIG_H
#define DR_TEST_CORE_CONFIG_H

#include "core/session.h"

#define WELCOME_MS 5000
#define BEEP_MS 300

static inline struct dr_core_config cfg(void)
{
	struct dr_core_config c;
	dr_core_config_default(&c);
	c.prompt_ms[DR_PROMPT_WELCOME] = WELCOME_MS;
	c.prompt_ms[DR_PROMPT_BEEP] = BEEP_MS;
	c.prompt_ms[DR_PROMPT_WARNING] = 2000;
	c.prompt_ms[DR_PROMPT_TOO_SHORT] = 4000;
	c.prompt_ms[DR_PROMPT_CANCELLED] = 4500;
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
	c.prompt_ms[DR_PROMPT_ASK_CAMERA] = 4000;
	c.prompt_ms[DR_PROMPT_CAMERA_ON] = 2000;
	c.prompt_ms[DR_PROMPT_ASK_SHARE_VIDEO] = 6000;
	c.prompt_ms[DR_PROMPT_NO_CAMERA] = 3500;
	for (int d = 0; d < 10; d++)
		c.prompt_ms[DR_PROMPT_DIGIT_0 + d] = 500;
	return c;
}

/* The longest the questions and the receipt can take with these lengths. */
#define DIALOGUE_MAX_MS 100000

#endif
