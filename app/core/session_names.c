/* SPDX-License-Identifier: MIT */
/* The names of the core's states, prompts, lights and reasons (for the
 * event log and the prompt files). */
#include "session.h"

#include <stddef.h>

const char *dr_state_name(enum dr_state s)
{
	static const char *const names[DR_ST_COUNT] = {
		[DR_ST_IDLE] = "idle",           [DR_ST_WELCOME] = "welcome",
		[DR_ST_BEEP] = "beep",           [DR_ST_RECORDING] = "recording",
		[DR_ST_FINALISING] = "finalising", [DR_ST_LISTEN] = "listen",
		[DR_ST_ASK_STAFF] = "ask_staff",
		[DR_ST_ASK_SHARE] = "ask_share", [DR_ST_SAVING_CONSENT] = "saving_consent",
		[DR_ST_RECEIPT] = "receipt",     [DR_ST_TELLING] = "telling",
		[DR_ST_STOPPING] = "stopping",   [DR_ST_EXITED] = "exited",
		[DR_ST_ASK_CAMERA] = "ask_camera", [DR_ST_NO_CAMERA] = "no_camera",
	};
	return (unsigned)s < DR_ST_COUNT ? names[s] : "?";
}

const char *dr_prompt_name(enum dr_prompt p)
{
	static const char *const names[DR_PROMPT_COUNT] = {
		[DR_PROMPT_WELCOME] = "welcome",       [DR_PROMPT_BEEP] = "beep",
		[DR_PROMPT_WARNING] = "warning",       [DR_PROMPT_TOO_SHORT] = "too_short",
		[DR_PROMPT_SAVED] = "saved",           [DR_PROMPT_FULL] = "full",
		[DR_PROMPT_ERROR] = "error",           [DR_PROMPT_ASK_STAFF] = "ask_staff",
		[DR_PROMPT_ASK_SHARE] = "ask_share",   [DR_PROMPT_STAFF_YES] = "staff_yes",
		[DR_PROMPT_STAFF_NO] = "staff_no",     [DR_PROMPT_SHARE_YES] = "share_yes",
		[DR_PROMPT_SHARE_NO] = "share_no",     [DR_PROMPT_RECEIPT] = "receipt",
		[DR_PROMPT_RECEIPT_END] = "receipt_end", [DR_PROMPT_GOODBYE] = "goodbye",
		[DR_PROMPT_LISTEN] = "listen",
		[DR_PROMPT_DIGIT_0] = "digit_0",       [DR_PROMPT_DIGIT_0 + 1] = "digit_1",
		[DR_PROMPT_DIGIT_0 + 2] = "digit_2",   [DR_PROMPT_DIGIT_0 + 3] = "digit_3",
		[DR_PROMPT_DIGIT_0 + 4] = "digit_4",   [DR_PROMPT_DIGIT_0 + 5] = "digit_5",
		[DR_PROMPT_DIGIT_0 + 6] = "digit_6",   [DR_PROMPT_DIGIT_0 + 7] = "digit_7",
		[DR_PROMPT_DIGIT_0 + 8] = "digit_8",   [DR_PROMPT_DIGIT_0 + 9] = "digit_9",
		[DR_PROMPT_CANCELLED] = "cancelled",   [DR_PROMPT_ASK_CAMERA] = "ask_camera",
		[DR_PROMPT_CAMERA_ON] = "camera_on",   [DR_PROMPT_ASK_SHARE_VIDEO] = "ask_share_video",
		[DR_PROMPT_NO_CAMERA] = "no_camera",
	};
	return (unsigned)p < DR_PROMPT_COUNT ? names[p] : "?";
}

const char *dr_light_name(enum dr_light l)
{
	static const char *const names[DR_LIGHT_COUNT] = {
		[DR_LIGHT_OFF] = "off",           [DR_LIGHT_IDLE] = "idle",
		[DR_LIGHT_WELCOME] = "welcome",   [DR_LIGHT_RECORDING] = "recording",
		[DR_LIGHT_LAST_MINUTE] = "last_minute", [DR_LIGHT_BUSY] = "busy",
		[DR_LIGHT_SAVED] = "saved",       [DR_LIGHT_ERROR] = "error",
		[DR_LIGHT_FULL] = "full",         [DR_LIGHT_QUESTION] = "question",
	};
	return (unsigned)l < DR_LIGHT_COUNT ? names[l] : "?";
}

const char *dr_stop_reason_name(enum dr_stop_reason r)
{
	switch (r) {
	case DR_STOP_PRESS: return "press";
	case DR_STOP_TIME_LIMIT: return "time_limit";
	case DR_STOP_DEVICE_ERROR: return "device_error";
	case DR_STOP_SHUTDOWN: return "shutdown";
	case DR_STOP_TOO_SHORT: return "too_short";
	case DR_STOP_CANCELLED: return "cancelled";
	}
	return "?";
}
