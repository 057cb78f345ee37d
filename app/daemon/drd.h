/* SPDX-License-Identifier: MIT */
/*
 * The daemon's own parts, shared between its files (not a library API):
 *   daemon.c    the event loop, and carrying out the core's actions;
 *   recording.c a recording: its preparation thread, start and stop, and
 *               the catalogue's commits after it (finish, receipt, consent);
 *   stick.c     the staff stick: noticing it, and the export step by step;
 *   listen.c    playing the recording back to the resident;
 *   camera.c    the room's camera: opened at start, the video recorder,
 *               the camera light and its events;
 *   startup.c   opening everything, the repair of recordings cut off by a
 *               crash, the sealing of recordings kept in clear by an older
 *               version, and closing down.
 * Every function here runs on the event loop's thread unless it says so.
 */
#ifndef DRD_DRD_H
#define DRD_DRD_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/session.h"
#include "dev/audio.h"
#include "dev/button.h"
#include "dev/camera.h"
#include "dev/lights.h"
#include "export/export.h"
#include "media/mkv_audio.h"
#include "media/prompts.h"
#include "media/recorder.h"
#include "media/sink.h"
#include "seal/seal.h"
#include "settings.h"
#include "store/store.h"
#include "util/evlog.h"

#include <opusfile.h>

#define MOD "daemon"
#define QUEUE_MAX 16
#define DRD_CAM_RETRY_S 2 /* a camera not there at start is looked for this often */

/* Playing a recording back to the resident (the optional listen step):
 * decoded in 2 s chunks, at most three queued at the speaker, so memory does
 * not grow with the length of the recording. */
#define LISTEN_BIT 0x80000000u
#define LISTEN_SLOTS 3
#define LISTEN_CHUNK (48000 * 2)
struct listen {
	OggOpusFile *of;           /* a sound recording (Ogg Opus), or */
	struct dr_mkv_audio *mkv;  /* a video's Opus track (Matroska), */
	struct OpusDecoder *dec;   /* decoded here */
	unsigned channels;         /* of the video's Opus track */
	unsigned skip;             /* pre-skip samples still to drop */
	int fd;                    /* the sealed recording, or -1 */
	struct dr_seal_reader *sr; /* opened with the recording's key */
	int16_t *buf[LISTEN_SLOTS];
	uint32_t token[LISTEN_SLOTS]; /* 0: free */
	uint32_t seq;
	bool eof;
	bool wanted; /* false once the core moved on (skipped) */
};

enum drd_job {
	DRD_JOB_PREPARE, /* make the row and the file */
	DRD_JOB_DISCARD, /* discard what was made (a cancelled recording) */
	DRD_JOB_FINISH,  /* the recording is closed: finish its row, give it a number */
	DRD_JOB_CONSENT, /* save the resident's answers */
};

/* The commits after a recording: what the loop hands the thread, and what
 * the thread hands back (messages are logged by the loop). */
struct drd_commit {
	struct dr_recording_result res; /* in (DRD_JOB_FINISH) */
	bool staff_yes, share_yes;      /* in (DRD_JOB_CONSENT) */
	const char *state;              /* out: the row's state, for the log */
	int status;                     /* out: 0, or what went wrong */
	int ev_status;                  /* out: what the core hears */
	uint64_t duration_ms;
	char receipt[5];
	bool numbered;                  /* a receipt was asked for (complete) */
	bool logged;                    /* recording_finalised is logged */
	char msg[2][800];
	int nmsg;
};

/* A moment of the camera, told by the recorder's camera thread (camera.c). */
#define DRD_CAM_CHANGES 8
struct drd_cam_change {
	enum dr_camera_change what;
	int err;
	uint64_t t_us; /* CLOCK_MONOTONIC */
};

struct drd {
	const struct drd_settings *s;
	struct dr_evlog *log;
	struct dr_store *store;
	struct dr_prompts *prompts;
	struct dr_playback *speaker;
	struct dr_capture *mic;
	struct dr_recorder *rec;       /* the one recording now, or last: rec_sound or rec_av */
	struct dr_recorder *rec_sound; /* sound only (Ogg Opus) */
	struct dr_recorder *rec_av;    /* with the camera (Matroska); NULL: no camera */
	/* The room's camera (camera.c): NULL when the board has none or it
	 * could not be opened (sound only). */
	struct dr_camera *cam;
	int cam_fd;               /* eventfd: the camera thread told a change */
	pthread_mutex_t cam_lock; /* guards cam_changes */
	bool cam_lock_made;
	struct drd_cam_change cam_changes[DRD_CAM_CHANGES];
	size_t cam_nchanges;
	bool cam_light;           /* the camera light is on */
	int cam_retry_fd;         /* timerfd while a camera not there yet is awaited, or -1 */
	bool cam_broken;          /* cam failed or was unplugged: released when idle */
	bool cam_lost;            /* it was lost and has not opened since */
	int cam_err;              /* why the camera cannot be used now (-errno), else 0 */
	bool rec_video;           /* the recording prepared or under way is a video */
	struct dr_button *button;
	struct dr_lights *lights;
	struct dr_core core;
	int sig_fd, deadline_fd, storage_fd;
	struct drd_liveness *live; /* heartbeat to systemd / the watchdog script */
	bool live_failing;         /* a beat failed (reported once) */
	bool stopping;             /* STOPPING=1 sent */

	/* the prompt the core is waiting for */
	uint32_t play_seq, play_token;
	enum dr_prompt play_prompt;
	/* prompts the core cut short, still to be logged as done */
	uint32_t cut_token[4];
	enum dr_prompt cut_prompt[4];

	/* the recording in progress (capturing or being closed) */
	bool rec_active;
	char rec_id[DR_STORE_ID_LEN + 1];
	char rec_path[PATH_MAX];
	bool rec_keep;
	enum dr_stop_reason rec_reason;
	struct dr_sink_stats rec_stats;
	bool prepared;            /* row and file made, capture not started yet */
	struct dr_sink rec_sink;
	char rec_utc[40];
	/* The catalogue's slow work, one job at a time in one long-lived
	 * thread (the catalogue thread, started before `ready`, joined at
	 * shutdown), so that no sync holds up the loop: making the row and the
	 * file from the welcome on (see drd_prepare_start), discarding them,
	 * and the commits after a recording (finish and receipt number, then
	 * consent). The loop hands it a job under cat_mu (cat_job); the thread
	 * makes prep_fd readable, then sets cat_done. While prep_running the
	 * thread owns the rec_ fields above, `commit` and the catalogue. */
	pthread_t prep_th;
	bool cat_started;      /* the thread runs; else every job is done on the loop */
	pthread_mutex_t cat_mu;
	pthread_cond_t cat_cv;
	bool cat_job;          /* under cat_mu: handed, not yet taken */
	bool cat_done;         /* under cat_mu: the job handed last is done */
	bool cat_quit;         /* under cat_mu: leave once no job is waiting */
	pid_t cat_tid;         /* its thread id, told in the `catalogue_thread` event */
	bool prep_running;
	enum drd_job prep_job;
	bool prep_cancel;  /* cancelled meanwhile: discard once it is made */
	const char *prep_why;
	uint64_t rec_mono_ms; /* when capture is due to start (CLOCK_MONOTONIC) */
	int prep_fd;
	int prep_rc;
	char prep_err[PATH_MAX + 256];
	struct drd_commit commit;

	/* Sealing (app/seal): the organisation's public key from the keydir
	 * (without it the box does not record), and the key of the recording
	 * the resident's session is about, in locked memory, wiped when the
	 * session ends; after that the box itself cannot read the recording. */
	bool have_org;
	uint8_t org_pk[DR_SEAL_ORG_PK_BYTES];
	struct dr_seal_key *rec_key;

	/* the recording the consent questions are about */
	char dialogue_id[DR_STORE_ID_LEN + 1];
	uint64_t last_expiry_ms;
	uint64_t last_run_flush_ms; /* the running time was last persisted */

	bool storage_low;
	bool storage_known;
	bool button_dead;
	bool quit;

	struct dr_event queue[QUEUE_MAX];
	size_t nqueue;

	struct listen listen;

	/* The core's DR_ACT_STICK_BEGIN and DR_ACT_EXPIRE, waiting for the
	 * catalogue (a thread of recording.c may hold it): drd_idle_work. */
	bool want_stick, want_expire;

	/* the staff stick (export) */
	struct dr_export *x;      /* NULL: no keys, stick handling off */
	int stick_fd;             /* timerfd: look for a stick every second */
	bool stick_present;       /* the stick folder has something in it */
	dev_t stick_dev;          /* which stick: its folder's device and inode */
	ino_t stick_ino;
	struct dr_stick *stick;
	struct dr_export_run *run;
	unsigned run_steps;
};

/* daemon.c */
void drd_queue_event(struct drd *d, struct dr_event ev);
/* Feeds every queued event to the core, carrying out its actions. */
void drd_run_queue(struct drd *d);
void drd_feed(struct drd *d, struct dr_event ev);
/* Logs at error level and emits an "error" event. */
void drd_log_error(struct drd *d, const char *what, const char *msg);
void drd_flush_running(struct drd *d);
/* Carries out the stick's work and the retention rule the core asked for,
 * once no thread holds the catalogue. */
void drd_idle_work(struct drd *d);

/* recording.c */
/* Starts the catalogue thread (once prep_fd is open) and learns its thread
 * id; on failure jobs are done on the loop. */
int drd_catalogue_start(struct drd *d);
/* Waits for the job under way, collects it, and joins the thread; accepts
 * a thread never started. */
void drd_catalogue_stop(struct drd *d);
void drd_prepare_start(struct drd *d, uint32_t capture_in_ms);
void drd_prepare_join(struct drd *d);
/* prep_fd became readable: collect the thread's work. */
void drd_prep_done(struct drd *d);
void drd_unprepare_async(struct drd *d, const char *why);
void drd_unprepare_recording(struct drd *d, const char *why);
void drd_forget_key(struct drd *d);
void drd_start_recording(struct drd *d);
void drd_stop_recording(struct drd *d, bool keep, enum dr_stop_reason why);
void drd_consent(struct drd *d, bool staff_yes, bool share_yes);
/* The recorder's fd became readable. */
void drd_on_recording_done(struct drd *d);

/* stick.c */
void drd_stick_poll(struct drd *d);
void drd_stick_step(struct drd *d);
/* Verifies the stick, sets the clock, applies the archive's receipt and
 * begins the export (DR_ACT_STICK_BEGIN). */
void drd_stick_begin(struct drd *d);

/* listen.c */
void drd_listen_close(struct drd *d);
void drd_play_recording(struct drd *d);
void drd_listen_chunk_done(struct drd *d, const struct dr_playback_done *done);

/* camera.c */
/* Opens the board's camera and the video recorder (after the sound-only
 * recorder, d->rec, is made). A camera that cannot be opened is reported
 * (event camera_unavailable) and the box records sound only: returns 0;
 * <0 only when the eventfd or lock cannot be made. */
int drd_camera_open(struct drd *d);
/* Frees the camera, once both recorders are freed. Accepts a partly opened d. */
void drd_camera_close(struct drd *d);
/* Queues DR_EV_CAMERA (usable or not) for the core, in a room whose board
 * file names a camera; the caller runs the queue. At start-up, after the
 * first try to open it. */
void drd_camera_tell(struct drd *d);
int drd_camera_fd(const struct drd *d);
/* The core chose (DR_ACT_PREPARE_RECORDING / DR_ACT_START_RECORDING):
 * a video or sound only, unless the file is made already. */
void drd_camera_choose(struct drd *d, bool video);
/* The recorder for the recording being started. */
/* A video's camera started as its recording is prepared (the resident
 * is told the camera is on), where the camera needs it (its own H.264:
 * dr_recorder_warm); ended if the recording never starts. */
void drd_camera_warm(struct drd *d);
void drd_camera_cool(struct drd *d);
struct dr_recorder *drd_camera_recorder(struct drd *d);
/* The camera's fd became readable: the camera light and the events; a
 * camera that failed is told to the core (DR_EV_CAMERA, queued: the caller
 * runs the queue) and looked for again. */
void drd_camera_changed(struct drd *d);
/* A camera that was not there at start, or failed or was unplugged since:
 * if the box is idle (a press before the welcome, and every
 * DRD_CAM_RETRY_S from the camera's fd), releases the one that failed and
 * tries to open it again; once opened, queues DR_EV_CAMERA (usable) for
 * the core (the caller runs the queue). Never blocks. */
void drd_camera_retry(struct drd *d);
/* A recording was collected: its video figures (event video_finalised). */
void drd_camera_recorded(struct drd *d, const struct dr_recording_result *res);

/* startup.c */
/* Opens everything and repairs interrupted recordings; messages to stderr. */
int drd_open_all(struct drd *d);
/* Closes what drd_open_all and the loop opened; accepts a partly opened d. */
void drd_close_all(struct drd *d);
/* Seals the recordings an older version kept in clear (after `ready`). */
void drd_seal_plain_recordings(struct drd *d);
void drd_reserve_release(struct drd *d, uint64_t below);
void drd_reserve_make(struct drd *d);
int drd_repair_recording(const char *path, uint64_t *samples, uint64_t *dropped, bool *was_complete);

#endif
