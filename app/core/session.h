/* SPDX-License-Identifier: MIT */
/*
 * dr_core: the session logic of the box, as a pure state machine.
 *
 * It takes events (a button edge, a prompt finished, the deadline reached, a
 * recording finalised, a device error, storage low/ok, shutdown) with the
 * current time, and returns actions (set the light, play a prompt, start or
 * stop recording, exit). It does no I/O, reads no clock and allocates
 * nothing, so every press timing can be tested in virtual time.
 *
 *   idle --press--> welcome --prompt done--> beep --prompt done--> recording
 *   (a room with a camera: welcome --> ask_camera ("filmed as well? press for
 *    yes"): a press while it plays or within answer_ms after is yes: "the
 *    camera is on", then the beep; no press: sound only, the beep.
 *    If the camera cannot be used as the welcome ends: welcome -->
 *    no_camera ("the camera is not working today, so only your voice will
 *    be recorded") --> the beep, sound only; nobody is asked)
 *   welcome/no_camera/beep --press--> telling "cancelled" (nothing recorded) --> idle
 *   recording --press (>= min length) / time limit--> finalising
 *   recording --press (< min length)--> finalising --> telling "too short" --> idle
 *   finalising --recording done--> [listen: "here it is", the recording; a press skips]
 *     --> ask_staff ("saved", "may staff listen?", twice)
 *   ask_staff --press--> saving consent --saved--> ask_share (twice) ...
 *   ask_staff --no press after the 2nd asking--> saving consent --> receipt
 *   ask_share --press / no press--> saving consent --saved--> receipt
 *   receipt (the number, twice, slowly; goodbye) --> idle
 *   idle --press, storage low--> telling "full" --> idle
 *
 * The camera (cfg.camera: the room is meant to have one, the board file
 * names it) is usable or not as the owner last said (DR_EV_CAMERA: .status
 * 0 usable, -errno not; not usable until told). The owner tells it at
 * start-up after its first try to open the camera, when a camera that was
 * missing opens, and when one is lost (unplugged or failed, found when it
 * is next used). The core looks at it as the welcome ends: usable, the
 * resident is asked; not, the box says so and records sound only. Nothing
 * is said when it changes at any other moment (a camera lost during a
 * recording: the sound carries on; the next resident hears no_camera until
 * the owner says it is back). A press during no_camera cancels, as during
 * the welcome and the beep: nothing is recorded yet, and a resident who
 * only wanted to be filmed (who signs, say) can say "not now" before the
 * beep.
 *
 * Besides the session, the core decides when the box may do the things that
 * must never meet a testimony:
 * - a recording is prepared (its catalogue row and file made, durably) while
 *   the welcome and the beep play: DR_ACT_PREPARE_RECORDING as each starts
 *   (the owner ignores the second if the first is made or under way); in a
 *   room with a camera, not before the choice is known (a video is another
 *   kind of file): as "the camera is on" or no_camera starts, or as the
 *   beep starts;
 * - while a staff stick is in (DR_EV_STICK_IN .. DR_EV_STICK_OUT) a press in
 *   idle starts nothing (DR_ACT_IGNORED_PRESS with .stick), and the stick's
 *   work (DR_ACT_STICK_BEGIN, once per insertion) starts only in idle: at
 *   once if the box is idle, else when the session is over;
 * - the retention rule (DR_EV_EXPIRY_DUE) runs only in idle: DR_ACT_EXPIRE
 *   at once if idle, else when the session is over.
 *
 * Consent is durable before it is spoken back: the core asks for it to be
 * saved (DR_ACT_CONSENT) and only speaks the confirmation after the owner
 * reports DR_EV_CONSENT_SAVED. Not pressing is always the safe answer: the
 * recording stays locked (staff) or within the team (sharing).
 *
 * The owner arms a timer for dr_core_deadline() and sends DR_EV_TICK when it
 * passes (early or repeated ticks are harmless).
 *
 * The struct is public so it can live on the stack; its fields are private.
 */
#ifndef DR_SESSION_H
#define DR_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DR_NO_DEADLINE UINT64_MAX

enum dr_state {
	DR_ST_IDLE,
	DR_ST_WELCOME,    /* the welcome prompt is playing */
	DR_ST_BEEP,       /* the beep before recording is playing */
	DR_ST_RECORDING,
	DR_ST_FINALISING, /* capture stopped, file being closed and catalogued */
	DR_ST_LISTEN,     /* optional: the resident hears their recording back */
	DR_ST_ASK_STAFF,  /* "would you like staff to listen?": a press is yes */
	DR_ST_ASK_SHARE,  /* "may we share it beyond the team?": a press is yes */
	DR_ST_SAVING_CONSENT, /* waiting for the answer to be durable */
	DR_ST_RECEIPT,    /* saying the receipt number */
	DR_ST_TELLING,    /* speaking an outcome (too short, full, error); then idle */
	DR_ST_STOPPING,   /* shutdown requested; waiting for the recording to close */
	DR_ST_EXITED,
	DR_ST_ASK_CAMERA, /* "would you like to be filmed as well?": a press is yes */
	DR_ST_NO_CAMERA,  /* "the camera is not working today": sound only; a press cancels */
	DR_ST_COUNT
};

/* Every phrase and sound the box can play. File names are dr_prompt_name(). */
enum dr_prompt {
	DR_PROMPT_WELCOME,   /* "...press the button again when you have finished" */
	DR_PROMPT_BEEP,      /* the start-of-recording beep */
	DR_PROMPT_WARNING,   /* "one minute left" */
	DR_PROMPT_TOO_SHORT, /* a press-press under the minimum: nothing kept */
	DR_PROMPT_SAVED,     /* "thank you, your recording is saved" */
	DR_PROMPT_FULL,      /* storage nearly full: cannot record now */
	DR_PROMPT_ERROR,     /* something went wrong; tell staff */
	DR_PROMPT_ASK_STAFF, /* "would you like staff to listen ...? press for yes" */
	DR_PROMPT_ASK_SHARE, /* "may we share it outside the team ...? press for yes" */
	DR_PROMPT_STAFF_YES, /* "staff may listen to it" */
	DR_PROMPT_STAFF_NO,  /* "staff will not listen to it unless you tell them" */
	DR_PROMPT_SHARE_YES, /* "it may be shared, without your name" */
	DR_PROMPT_SHARE_NO,  /* "it will stay with the team" */
	DR_PROMPT_RECEIPT,   /* "your recording number is" */
	DR_PROMPT_RECEIPT_END, /* "tell staff this number if you change your mind" */
	DR_PROMPT_GOODBYE,
	DR_PROMPT_LISTEN,    /* "here is your recording; press to skip" (optional step) */
	DR_PROMPT_DIGIT_0,   /* ... DR_PROMPT_DIGIT_0 + 9 */
	/* Added after the digits so every earlier value keeps its number. */
	DR_PROMPT_CANCELLED = DR_PROMPT_DIGIT_0 + 10, /* a press during the welcome or
							 the beep: nothing recorded */
	DR_PROMPT_ASK_CAMERA,  /* "be filmed as well? press for yes; if not, only your voice" */
	DR_PROMPT_CAMERA_ON,   /* "the camera is on" (the resident said yes) */
	DR_PROMPT_ASK_SHARE_VIDEO, /* the sharing question for a video: people
				      would see your face */
	DR_PROMPT_NO_CAMERA,   /* a room with a camera that cannot be used now: "only
				  your voice will be recorded" (instead of ask_camera) */
	DR_PROMPT_COUNT
};

/* Light patterns; how each looks is in dev/lights.h and docs/lights.md. */
enum dr_light {
	DR_LIGHT_OFF,
	DR_LIGHT_IDLE,        /* ready: press to start */
	DR_LIGHT_WELCOME,     /* a press was taken; the box is speaking */
	DR_LIGHT_RECORDING,   /* recording (the whole time) */
	DR_LIGHT_LAST_MINUTE, /* recording, less than a minute left */
	DR_LIGHT_BUSY,        /* saving; presses are not needed */
	DR_LIGHT_SAVED,       /* saved */
	DR_LIGHT_ERROR,       /* something is wrong: tell staff */
	DR_LIGHT_FULL,        /* storage nearly full: tell staff */
	DR_LIGHT_QUESTION,    /* a question is open: press for yes */
	DR_LIGHT_COUNT
};

enum dr_event_type {
	DR_EV_PRESS,          /* debounced button down */
	DR_EV_RELEASE,        /* debounced button up */
	DR_EV_TICK,           /* the deadline has passed */
	DR_EV_PROMPT_DONE,    /* .prompt finished (or failed: .status < 0) */
	DR_EV_RECORDING_DONE, /* the recording was finalised: .status, .samples, .receipt */
	DR_EV_CONSENT_SAVED,  /* the answers of DR_ACT_CONSENT are durable (.status 0) or not */
	DR_EV_LISTEN_DONE,    /* the recording has been played back (or could not be) */
	DR_EV_DEVICE_ERROR,   /* .status: the microphone or speaker failed */
	DR_EV_STORAGE_LOW,    /* free space fell below the threshold */
	DR_EV_STORAGE_OK,
	DR_EV_SHUTDOWN,       /* SIGTERM: finish what is being recorded, then exit */
	DR_EV_STICK_IN,       /* a staff stick is in (and the box can use sticks) */
	DR_EV_STICK_OUT,      /* it has gone */
	DR_EV_EXPIRY_DUE,     /* the retention rule is due (the owner's timer) */
	DR_EV_CAMERA,         /* the room's camera is usable (.status 0) or not (-errno) */
};

struct dr_event {
	enum dr_event_type type;
	enum dr_prompt prompt; /* DR_EV_PROMPT_DONE */
	int status;            /* 0 or -errno (DR_EV_CAMERA: 0 usable) */
	uint64_t samples;      /* DR_EV_RECORDING_DONE */
	char receipt[5];       /* DR_EV_RECORDING_DONE: 4 digits, "" if it has none */
};

enum dr_action_type {
	DR_ACT_STATE,           /* .from -> .to (for the event log) */
	DR_ACT_LIGHT,           /* .light */
	DR_ACT_PLAY,            /* .prompt */
	DR_ACT_STOP_PLAYBACK,   /* cut whatever is playing */
	DR_ACT_START_RECORDING,
	DR_ACT_STOP_RECORDING,  /* .keep: false = too short, delete it. With .reason
				   DR_STOP_CANCELLED no capture was started: discard
				   whatever was prepared for it (the catalogue row and
				   file made during the beep), at once; no
				   DR_EV_RECORDING_DONE is expected */
	DR_ACT_IGNORED_PRESS,   /* a press that does nothing here (for the log) */
	DR_ACT_CONSENT,         /* save .staff_yes/.share_yes durably (false: not given),
				   then report DR_EV_CONSENT_SAVED */
	DR_ACT_PLAY_RECORDING,  /* play the recording back, then report DR_EV_LISTEN_DONE */
	DR_ACT_STOP_RECORDING_PLAYBACK,
	DR_ACT_EXIT,
	DR_ACT_PREPARE_RECORDING, /* make the row and file for a capture due in
				     .capture_in_ms (the welcome or the beep has
				     just started); nothing if already made or
				     being made */
	DR_ACT_STICK_BEGIN,     /* the box is idle: do the stick's work now */
	DR_ACT_EXPIRE,          /* the box is idle: apply the retention rule now */
};

enum dr_stop_reason {
	DR_STOP_PRESS,
	DR_STOP_TIME_LIMIT,
	DR_STOP_DEVICE_ERROR,
	DR_STOP_SHUTDOWN,
	DR_STOP_TOO_SHORT,
	DR_STOP_CANCELLED, /* a press during the welcome or the beep: never started */
};

struct dr_action {
	enum dr_action_type type;
	enum dr_state from, to;
	enum dr_light light;
	enum dr_prompt prompt;
	bool keep;
	enum dr_stop_reason reason;
	bool staff_yes, share_yes; /* DR_ACT_CONSENT */
	bool stick;               /* DR_ACT_IGNORED_PRESS: because a stick is in */
	uint32_t capture_in_ms;   /* DR_ACT_PREPARE_RECORDING */
	bool video;               /* DR_ACT_PREPARE_RECORDING, DR_ACT_START_RECORDING:
				     the resident chose to be filmed as well */
};

/* At most this many actions come out of one step. */
#define DR_MAX_ACTIONS 8

struct dr_core_config {
	uint32_t time_limit_ms;  /* default 600000 (10 min) */
	uint32_t warning_ms;     /* warning this long before the limit; default 60000 */
	uint32_t min_length_ms;  /* shorter is an accident; default 2000 */
	uint32_t prompt_ms[DR_PROMPT_COUNT]; /* lengths, for the playback watchdog */
	uint32_t prompt_slack_ms; /* a prompt not reported done after its length
				     plus this is taken as done; default 3000 */
	uint32_t answer_ms;      /* how long after a question a press still counts; default 6000 */
	uint32_t digit_pause_ms; /* silence between the digits of the receipt; default 400 */
	bool listen_back;        /* let the resident hear the recording before the questions */
	uint32_t finalise_ms;    /* a file not reported closed after this is told as an
				    error (the recorder keeps trying); default 30000 */
	bool camera;             /* the room is meant to have a camera (the board file
				    names one): ask before recording while it is
				    usable (DR_EV_CAMERA), else say it is not */
};

#define DR_SEQ_MAX 16
void dr_core_config_default(struct dr_core_config *cfg);

struct dr_core {
	struct dr_core_config cfg;
	enum dr_state state;
	bool storage_low;
	bool warned;
	bool playing;
	enum dr_prompt playing_prompt;
	uint64_t prompt_deadline;
	uint64_t rec_start;
	bool discarding; /* the recording being finalised is too short: not kept */
	/* a sequence of prompts with pauses (questions, the receipt) */
	enum dr_prompt seq[DR_SEQ_MAX];
	uint16_t seq_pause[DR_SEQ_MAX];
	uint8_t seq_n, seq_i;
	uint64_t pause_until;   /* DR_NO_DEADLINE when not pausing */
	/* the questions */
	bool question_open;     /* the question has been heard: a press is an answer */
	uint8_t asked;          /* how often the current question was asked */
	uint64_t answer_until;  /* DR_NO_DEADLINE when not waiting for an answer */
	bool staff_yes, share_yes;
	bool asked_share;       /* the sharing question went unanswered */
	char receipt[5];
	uint64_t listen_deadline; /* watchdog for the recording's playback */
	uint64_t finalise_deadline; /* watchdog for closing the file */
	uint64_t rec_samples;
	bool camera_ok;         /* the owner's last DR_EV_CAMERA said usable */
	bool video;             /* this session's choice: filmed as well */
	bool rec_video;         /* the recording the questions are about is a video */
	bool stick_in;          /* a staff stick is in */
	bool stick_begun;       /* DR_ACT_STICK_BEGIN was given for it */
	bool expiry_due;        /* DR_EV_EXPIRY_DUE came while not idle */
	uint32_t actions_dropped; /* actions that did not fit in DR_MAX_ACTIONS: always 0 */
};

void dr_core_init(struct dr_core *c, const struct dr_core_config *cfg, uint64_t now_ms);
/* Actions to take at start-up (state idle, light idle). Returns the count. */
size_t dr_core_start(struct dr_core *c, uint64_t now_ms, struct dr_action out[DR_MAX_ACTIONS]);
/* Feed one event; writes the actions into out and returns their count. */
size_t dr_core_step(struct dr_core *c, const struct dr_event *ev, uint64_t now_ms,
		    struct dr_action out[DR_MAX_ACTIONS]);
/* When the core next needs a DR_EV_TICK, or DR_NO_DEADLINE. */
uint64_t dr_core_deadline(const struct dr_core *c);
enum dr_state dr_core_state(const struct dr_core *c);
/* True while audio is being captured into a recording. */
bool dr_core_recording(const struct dr_core *c);

const char *dr_state_name(enum dr_state s);
const char *dr_prompt_name(enum dr_prompt p);
const char *dr_light_name(enum dr_light l);
const char *dr_stop_reason_name(enum dr_stop_reason r);

#endif
