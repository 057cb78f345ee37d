/* SPDX-License-Identifier: MIT */
#include "daemon.h"
#include "liveness.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/session.h"
#include "dev/audio.h"
#include "dev/button.h"
#include "dev/lights.h"
#include "export/export.h"
#include "media/prompts.h"
#include "media/recorder.h"
#include "media/recover.h"
#include "media/sink.h"
#include "seal/seal.h"
#include "store/store.h"
#include "util/evlog.h"
#include "util/log.h"

#include <opusfile.h>

#define MOD "daemon"
#define QUEUE_MAX 16

/* Playing a recording back to the resident (the optional listen step):
 * decoded in 2 s chunks, at most three queued at the speaker, so memory does
 * not grow with the length of the recording. */
#define LISTEN_BIT 0x80000000u
#define LISTEN_SLOTS 3
#define LISTEN_CHUNK (48000 * 2)
struct listen {
	OggOpusFile *of;
	int fd;                    /* the sealed recording, or -1 */
	struct dr_seal_reader *sr; /* opened with the recording's key */
	int16_t *buf[LISTEN_SLOTS];
	uint32_t token[LISTEN_SLOTS]; /* 0: free */
	uint32_t seq;
	bool eof;
	bool wanted; /* false once the core moved on (skipped) */
};

struct drd {
	const struct drd_settings *s;
	struct dr_evlog *log;
	struct dr_store *store;
	struct dr_prompts *prompts;
	struct dr_playback *speaker;
	struct dr_capture *mic;
	struct dr_recorder *rec;
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
	/* Making the row and the file in a thread, from the welcome on (see
	 * prepare_start). While prep_running the thread owns the rec_ fields
	 * above and the catalogue; prep_fd becomes readable when it is done. */
	pthread_t prep_th;
	bool prep_running;
	bool prep_discard; /* the thread's job: discard what was made, not make it */
	bool prep_cancel;  /* cancelled meanwhile: discard once it is made */
	const char *prep_why;
	uint64_t rec_mono_ms; /* when capture is due to start (CLOCK_MONOTONIC) */
	int prep_fd;
	int prep_rc;
	char prep_err[PATH_MAX + 256];

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

	/* the staff stick (export) */
	struct dr_export *x;      /* NULL: no keys, stick handling off */
	int stick_fd;             /* timerfd: look for a stick every second */
	bool stick_present;       /* the stick folder has something in it */
	dev_t stick_dev;          /* which stick: its folder's device and inode */
	ino_t stick_ino;
	bool stick_handled;       /* this insertion is done with (exported or refused) */
	struct dr_stick *stick;
	struct dr_export_run *run;
	unsigned run_steps;
};

static void queue_event(struct drd *d, struct dr_event ev)
{
	if (d->nqueue < QUEUE_MAX)
		d->queue[d->nqueue++] = ev;
	else
		DR_LOG_ERR(MOD, "event queue full, event %d dropped", ev.type);
}

static void now_utc(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* UTC `ms` from now, as now_utc writes it. */
static void utc_in(char *buf, size_t len, uint32_t ms)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)((ts.tv_nsec / 1000000 + ms) / 1000);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void log_error(struct drd *d, const char *what, const char *msg)
{
	char w[128], m[1024];
	DR_LOG_ERR(MOD, "%s: %s", what, msg);
	dr_evlog_emit(d->log, "error", ",\"what\":\"%s\",\"message\":\"%s\"",
		      dr_evlog_str(what, w, sizeof(w)), dr_evlog_str(msg, m, sizeof(m)));
}

/* ---- actions ---- */

/* A prompt is decoded from its file as it plays, in the speaker's thread:
 * the daemon holds no decoded pack. */
static long prompt_read(void *user, int16_t *buf, size_t max)
{
	return dr_prompt_reader_read(user, buf, max);
}

static void prompt_close(void *user)
{
	dr_prompt_reader_free(user);
}

static void do_play(struct drd *d, enum dr_prompt p)
{
	size_t n = dr_prompts_samples(d->prompts, p);
	uint32_t token = ++d->play_seq;
	struct dr_prompt_reader *rd = NULL;
	int r = dr_prompt_reader_open(d->prompts, p, &rd);
	if (r == 0)
		r = dr_playback_play_source(d->speaker,
					    (struct dr_pcm_source){prompt_read, prompt_close, rd}, token);
	if (r < 0) {
		char m[256];
		snprintf(m, sizeof(m), "cannot play %s: %s", dr_prompt_name(p), strerror(-r));
		log_error(d, "speaker", m);
		/* the core's watchdog carries on without the speaker */
		d->play_token = 0;
		return;
	}
	d->play_token = token;
	d->play_prompt = p;
	dr_evlog_emit(d->log, "prompt", ",\"name\":\"%s\",\"samples\":%zu", dr_prompt_name(p), n);
}

/* The catalogue row and the file, both durable (rec_utc set): on the loop,
 * or in the preparing thread. Logs nothing; err says why not. */
static int prepare_work(struct drd *d, char *err, size_t errlen)
{
	char e2[512];
	int r = dr_store_begin(d->store, d->rec_utc, d->rec_mono_ms, d->rec_id, d->rec_path,
			       sizeof(d->rec_path), err, errlen);
	if (r < 0)
		return r;
	memset(&d->rec_stats, 0, sizeof(d->rec_stats));
	/* A fresh key for this recording; the sink seals everything with it
	 * from the first byte, so nothing playable ever reaches the disk. The
	 * loop reads rec_key only once this work is joined. */
	dr_seal_key_free(d->rec_key);
	d->rec_key = NULL;
	struct dr_sink file;
	r = dr_seal_key_new(&d->rec_key);
	if (r == 0)
		r = dr_file_sink_open(d->rec_path, &d->rec_stats, &file);
	if (r == 0)
		r = dr_seal_sink_new(file, d->rec_id, d->org_pk, d->rec_key, &d->rec_sink);
	if (r < 0) {
		snprintf(err, errlen, "cannot create %s: %s", d->rec_path, strerror(-r));
		dr_seal_key_free(d->rec_key);
		d->rec_key = NULL;
		dr_store_discard(d->store, d->rec_id, "the recording file could not be created", e2,
				 sizeof(e2));
	}
	return r;
}

static void *prepare_thread(void *arg)
{
	struct drd *d = arg;
	uint64_t one = 1;
	if (d->prep_discard) {
		d->rec_sink.ops->close(d->rec_sink.user);
		d->prep_rc = dr_store_discard(d->store, d->rec_id, d->prep_why, d->prep_err,
					      sizeof(d->prep_err));
	} else {
		d->prep_rc = prepare_work(d, d->prep_err, sizeof(d->prep_err));
	}
	while (write(d->prep_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	return NULL;
}

static void forget_key(struct drd *d);

/* Waits for the preparing thread (at once when prep_fd is readable): the
 * row and file are then prepared, or the failure is reported. */
static void prepare_join(struct drd *d)
{
	uint64_t v;
	if (!d->prep_running)
		return;
	pthread_join(d->prep_th, NULL);
	while (read(d->prep_fd, &v, sizeof(v)) > 0)
		;
	d->prep_running = false;
	if (d->prep_discard)
		forget_key(d); /* a cancelled recording's key goes with it */
	if (d->prep_rc < 0) {
		log_error(d, "store", d->prep_err);
		d->prep_cancel = false;
		return;
	}
	if (!d->prep_discard)
		d->prepared = true;
}

static int prep_spawn(struct drd *d, bool discard)
{
	d->prep_discard = discard;
	if (d->prep_fd < 0 || pthread_create(&d->prep_th, NULL, prepare_thread, d) != 0)
		return -1;
	d->prep_running = true;
	return 0;
}

static void unprepare_recording(struct drd *d, const char *why);

/* Makes the catalogue row and the file, both durable, before capture
 * starts: begun in a thread when the welcome starts (prepare_start), so
 * the syncs (tens of ms on an SD card, seconds on a failing one) hold up
 * neither the loop nor the first syllable after the beep; here it is
 * waited for, or done on the spot if it was not begun. */
static int prepare_recording(struct drd *d)
{
	char err[PATH_MAX + 256];
	int r;

	prepare_join(d);
	if (d->prep_cancel) {
		d->prep_cancel = false;
		unprepare_recording(d, "cancelled by a press before recording began; nothing was recorded");
	}
	if (d->prepared)
		return 0;
	if (d->rec_active) {
		/* The last recording is still being closed (a storage that hung
		 * past the core's limit): its id, path and counters stay as they
		 * are until it is collected, and no new one starts meanwhile. */
		log_error(d, "store", "the last recording is still being saved; not starting another");
		return -EBUSY;
	}
	now_utc(d->rec_utc, sizeof(d->rec_utc));
	d->rec_mono_ms = dr_mono_ms();
	r = prepare_work(d, err, sizeof(err));
	if (r < 0) {
		log_error(d, "store", err);
		return r;
	}
	d->prepared = true;
	return 0;
}

/* The resident's session is over (or never began): the recording's key is
 * wiped; from now on only the organisation's key opens the recording. */
static void forget_key(struct drd *d)
{
	if (!d->rec_key || d->prep_running)
		return; /* none, or the preparing thread owns it until joined */
	dr_seal_key_free(d->rec_key);
	d->rec_key = NULL;
	dr_evlog_emit(d->log, "key_wiped", ",\"id\":\"%s\"", d->dialogue_id[0] ? d->dialogue_id : d->rec_id);
}

/* Starts making the row and the file in a thread, as the welcome starts.
 * Nothing else touches the catalogue meanwhile: the loop's other users of
 * it (the stick, the retention rule, consent) wait for idle or for a later
 * step of the session, and each waits for this thread first. */
static void prepare_start(struct drd *d, uint32_t capture_in_ms)
{
	if (d->prepared || d->prep_running || d->rec_active || d->prep_fd < 0)
		return;
	/* The row's start time is when capture is due: after the prompts
	 * still to play (the welcome and the beep), not now. */
	utc_in(d->rec_utc, sizeof(d->rec_utc), capture_in_ms);
	d->rec_mono_ms = dr_mono_ms() + capture_in_ms;
	d->prep_cancel = false;
	prep_spawn(d, false); /* failing that, made on the spot at the beep's end */
}

/* A prepared recording that never started, discarded in the thread (the
 * catalogue's commit must not hold up the "cancelled" the resident hears). */
static void unprepare_async(struct drd *d, const char *why)
{
	if (!d->prepared)
		return;
	if (d->prep_running) /* cannot be: prepared only once joined */
		prepare_join(d);
	d->prepared = false;
	d->prep_why = why;
	if (prep_spawn(d, true) < 0) {
		d->prepared = true;
		unprepare_recording(d, why);
	}
}

/* A prepared recording that never started (shutdown during the beep, or a
 * press that cancelled it): the row and the file are discarded. */
static void unprepare_recording(struct drd *d, const char *why)
{
	char err[512];
	if (!d->prepared)
		return;
	d->prepared = false;
	d->rec_sink.ops->close(d->rec_sink.user);
	forget_key(d);
	if (dr_store_discard(d->store, d->rec_id, why, err, sizeof(err)) < 0)
		log_error(d, "store", err);
}

static void do_start_recording(struct drd *d)
{
	char err[512];
	int r = prepare_recording(d);
	if (r < 0)
		goto err_report;
	d->prepared = false; /* the sink belongs to the recorder from here on */
	r = dr_recorder_start(d->rec, d->rec_sink, d->rec_id, d->rec_utc);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot start recording: %s", strerror(-r));
		log_error(d, "microphone", err);
		dr_store_discard(d->store, d->rec_id, "the microphone did not start; nothing was recorded",
				 err, sizeof(err));
		goto err_report;
	}
	d->rec_active = true;
	d->rec_keep = true;
	dr_evlog_emit(d->log, "recording_started", ",\"id\":\"%s\",\"start_utc\":\"%s\"", d->rec_id,
		      d->rec_utc);
	return;

err_report:
	queue_event(d, (struct dr_event){.type = DR_EV_RECORDING_DONE, .status = r < 0 ? r : -EIO});
}

static void do_stop_recording(struct drd *d, bool keep, enum dr_stop_reason why)
{
	if (why == DR_STOP_CANCELLED) {
		/* A press during the welcome or the beep: capture never began.
		 * Only what was prepared goes (once it is made, if its thread is
		 * still at it: the press is answered now); a recording still
		 * being closed (rec_active) is not this one and is left alone. */
		if (d->prep_running && !d->prep_discard) {
			d->prep_cancel = true;
			dr_evlog_emit(d->log, "recording_stopping",
				      ",\"id\":\"\",\"reason\":\"%s\",\"keep\":false", dr_stop_reason_name(why));
			return;
		}
		dr_evlog_emit(d->log, "recording_stopping", ",\"id\":\"%s\",\"reason\":\"%s\",\"keep\":false",
			      d->prepared ? d->rec_id : "", dr_stop_reason_name(why));
		unprepare_async(d, "cancelled by a press before recording began; nothing was recorded");
		return;
	}
	if (!d->rec_active)
		return;
	d->rec_keep = keep;
	d->rec_reason = why;
	dr_recorder_stop(d->rec);
	dr_evlog_emit(d->log, "recording_stopping", ",\"id\":\"%s\",\"reason\":\"%s\",\"keep\":%s",
		      d->rec_id, dr_stop_reason_name(why), keep ? "true" : "false");
}

/* The answers are durable (or not) before the core hears back, and only
 * then does it speak the confirmation. Not pressing is recorded as
 * "unanswered": the recording stays locked / within the team. */
static void do_consent(struct drd *d, bool staff_yes, bool share_yes)
{
	char err[512];
	int r = -ENOENT;
	if (d->dialogue_id[0])
		r = dr_store_set_consent(d->store, d->dialogue_id,
					 staff_yes ? DR_CONSENT_YES : DR_CONSENT_UNANSWERED,
					 share_yes ? DR_CONSENT_YES : DR_CONSENT_UNANSWERED, "resident",
					 err, sizeof(err));
	if (r < 0)
		log_error(d, "consent", d->dialogue_id[0] ? err : "no recording to record consent for");
	dr_evlog_emit(d->log, "consent", ",\"id\":\"%s\",\"staff\":%s,\"share\":%s,\"status\":%d",
		      d->dialogue_id, staff_yes ? "true" : "false", share_yes ? "true" : "false", r);
	queue_event(d, (struct dr_event){.type = DR_EV_CONSENT_SAVED, .status = r});
}

/* ---- the staff stick ---- */

/* A stick is there when its mount folder is a mount point (the hot-plug
 * unit mounts it there: a brand-new empty stick counts, and is refused for
 * having no token) or, on the simulated board, when a folder with something
 * in it appears. *st says which stick (a new mount or a new folder has
 * another device or inode). */
static bool stick_there(const char *mount, struct stat *st)
{
	int fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	struct stat parent;
	if (fstat(fd, st) < 0) {
		close(fd);
		return false;
	}
	if (fstatat(fd, "..", &parent, 0) == 0 && st->st_dev != parent.st_dev) {
		close(fd);
		return true;
	}
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return false;
	}
	bool any = false;
	struct dirent *de;
	while (!any && (de = readdir(dir)))
		any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(dir);
	return any;
}

static void stick_end(struct drd *d, enum dr_light l)
{
	dr_export_run_free(d->run);
	d->run = NULL;
	dr_export_stick_close(d->stick);
	d->stick = NULL;
	d->stick_handled = true;
	dr_lights_set(d->lights, l);
}

static void stick_refused(struct drd *d, const char *why)
{
	char m[1024];
	DR_LOG_WARN(MOD, "staff stick refused: %s", why);
	dr_evlog_emit(d->log, "stick_refused", ",\"reason\":\"%s\"", dr_evlog_str(why, m, sizeof(m)));
	stick_end(d, DR_LIGHT_ERROR);
}

/* A stick has been inserted and the box is idle: verify it, set the clock,
 * apply the archive's receipt, and start the export (run step by step from
 * the loop, so the box stays responsive). */
static void stick_begin(struct drd *d)
{
	char err[1024];
	const char *mount = d->s->stick_mount;
	int r;

	dr_evlog_emit(d->log, "stick", ",\"present\":true");
	dr_lights_set(d->lights, DR_LIGHT_BUSY);
	r = dr_export_stick_open(d->x, mount, (int64_t)time(NULL), &d->stick, err, sizeof(err));
	if (r < 0) {
		stick_refused(d, err);
		return;
	}
	/* the clock: the stick's signed times judged against the box's own
	 * record of time (a refused one changes nothing and is logged) */
	struct dr_export_clock_result cr;
	r = dr_export_clock_check(d->x, d->stick, (int64_t)time(NULL), &cr, err, sizeof(err));
	if (r < 0) {
		log_error(d, "clock", err);
	} else {
		if (cr.refused) {
			char m[512];
			DR_LOG_WARN(MOD, "signed time refused: %s", cr.reason);
			dr_evlog_emit(d->log, "clock_refused", ",\"reason\":\"%s\",\"trusted\":%lld",
				      dr_evlog_str(cr.reason, m, sizeof(m)), (long long)cr.trusted);
		}
		if (r == 1) {
			struct timespec ts = {.tv_sec = (time_t)cr.set_to};
			int ok = clock_settime(CLOCK_REALTIME, &ts) == 0;
			dr_evlog_emit(d->log, "clock_set", ",\"to\":%lld,\"back\":%s,\"ok\":%s",
				      (long long)cr.set_to, cr.moved_back ? "true" : "false",
				      ok ? "true" : "false");
			if (!ok)
				DR_LOG_WARN(MOD, "cannot set the clock: %s", strerror(errno));
		}
	}
	struct dr_export_receipt_result rr;
	r = dr_export_apply_receipt(d->x, d->stick, &rr, err, sizeof(err));
	if (r < 0) {
		char m[1024];
		DR_LOG_WARN(MOD, "archive receipt refused: %s", err);
		dr_evlog_emit(d->log, "receipt_refused", ",\"reason\":\"%s\"", dr_evlog_str(err, m, sizeof(m)));
	} else if (r == 1) {
		dr_evlog_emit(d->log, "receipt_applied",
			      ",\"deleted\":%u,\"withdrawn\":%u,\"consent_changed\":%u,\"hash_mismatch\":%u",
			      rr.deleted, rr.withdrawn, rr.consent_changed, rr.hash_mismatch);
	}
	r = dr_export_begin(d->x, d->stick, &d->run, err, sizeof(err));
	if (r < 0) {
		log_error(d, "export", err);
		stick_end(d, DR_LIGHT_ERROR);
		return;
	}
	d->run_steps = 0;
}

/* One bounded piece of the export (about 1 MiB of I/O). */
static void stick_step(struct drd *d)
{
	char err[1024];
	struct dr_export_progress p = {0};
	int r = dr_export_step(d->run, &p, err, sizeof(err));
	if (r == 1) {
		if (++d->run_steps % 8 == 1)
			dr_evlog_emit(d->log, "export_progress",
				      ",\"files_done\":%u,\"files_total\":%u,\"bytes_done\":%" PRIu64
				      ",\"bytes_total\":%" PRIu64,
				      p.files_done, p.files_total, p.bytes_done, p.bytes_total);
		return;
	}
	if (r == 0) {
		dr_evlog_emit(d->log, "export_done",
			      ",\"files\":%u,\"failed\":%u,\"stick_full\":%s,\"seq\":%lld", p.files_done,
			      p.files_failed, p.stick_full ? "true" : "false", (long long)p.seq);
		stick_end(d, p.files_failed || p.stick_full ? DR_LIGHT_ERROR : DR_LIGHT_SAVED);
		return;
	}
	log_error(d, "export", err);
	stick_end(d, DR_LIGHT_ERROR);
}

/* The stick has gone (or another took its place): drop what was under way.
 * Nothing is lost: an export counts only what it has verified. */
static void stick_gone(struct drd *d)
{
	bool cut = d->run != NULL;
	d->stick_present = false;
	dr_evlog_emit(d->log, "stick", ",\"present\":false,\"during_export\":%s", cut ? "true" : "false");
	dr_export_run_free(d->run);
	d->run = NULL;
	dr_export_stick_close(d->stick);
	d->stick = NULL;
	d->stick_handled = false;
	if (dr_core_state(&d->core) == DR_ST_IDLE)
		dr_lights_set(d->lights, d->storage_low ? DR_LIGHT_FULL : DR_LIGHT_IDLE);
}

/* Every second: has a stick come or gone? A stick swapped for another
 * between two looks is seen as the first going and the second coming. */
static void stick_poll(struct drd *d)
{
	struct stat st;
	bool there = stick_there(d->s->stick_mount, &st);
	if (there && d->stick_present && (st.st_dev != d->stick_dev || st.st_ino != d->stick_ino))
		stick_gone(d);
	if (there == d->stick_present)
		goto maybe_begin;
	if (!there) {
		stick_gone(d);
		return;
	}
	d->stick_present = true;
	d->stick_dev = st.st_dev;
	d->stick_ino = st.st_ino;
maybe_begin:
	/* A stick waits until the box is idle: never during a testimony. */
	if (d->stick_present && !d->stick_handled && !d->run && !d->stick &&
	    dr_core_state(&d->core) == DR_ST_IDLE && !d->prep_running)
		stick_begin(d);
}

static bool stick_busy(const struct drd *d)
{
	return d->stick_present && d->x;
}

/* ---- the listen step ---- */

static bool listen_busy(const struct listen *l)
{
	for (int i = 0; i < LISTEN_SLOTS; i++)
		if (l->token[i])
			return true;
	return false;
}

static void listen_close(struct drd *d)
{
	struct listen *l = &d->listen;
	if (l->of)
		op_free(l->of);
	dr_seal_reader_free(l->sr);
	if (l->fd >= 0)
		close(l->fd);
	for (int i = 0; i < LISTEN_SLOTS; i++)
		free(l->buf[i]);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

/* opusfile reads the sealed recording through the recording's key. */
static int listen_read(void *stream, unsigned char *ptr, int nbytes)
{
	ssize_t n = dr_seal_read(stream, ptr, nbytes > 0 ? (size_t)nbytes : 0);
	return n < 0 ? -1 : (int)n;
}

static const OpusFileCallbacks listen_cb = {.read = listen_read};

/* Opens the recording the questions are about, with the key kept for the
 * session (NULL: cannot). */
static OggOpusFile *listen_open(struct drd *d, struct listen *l)
{
	struct dr_store_rec rec;
	int err = 0;
	if (!d->dialogue_id[0] || !d->rec_key || dr_store_get(d->store, d->dialogue_id, &rec) < 0)
		return NULL;
	l->fd = open(rec.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (l->fd < 0 || dr_seal_reader_open_key(l->fd, d->dialogue_id, d->rec_key, &l->sr) < 0)
		return NULL;
	return op_open_callbacks(l->sr, &listen_cb, NULL, 0, &err);
}

/* Decode the next chunk into a free slot and queue it. */
static void listen_fill(struct drd *d, int slot)
{
	struct listen *l = &d->listen;
	size_t n = 0;
	while (!l->eof && n < LISTEN_CHUNK) {
		int got = op_read(l->of, l->buf[slot] + n, (int)(LISTEN_CHUNK - n), NULL);
		if (got == OP_HOLE)
			continue;
		if (got <= 0) {
			l->eof = true;
			break;
		}
		n += (size_t)got;
	}
	if (n == 0)
		return;
	uint32_t token = LISTEN_BIT | (++l->seq & ~LISTEN_BIT);
	if (dr_playback_play(d->speaker, l->buf[slot], n, token) == 0)
		l->token[slot] = token;
	else
		l->eof = true;
}

/* Finished (played out, skipped or failed): tell the core once. */
static void listen_finish(struct drd *d)
{
	bool wanted = d->listen.wanted;
	listen_close(d);
	dr_evlog_emit(d->log, "listen_done", ",\"skipped\":%s", wanted ? "false" : "true");
	if (wanted)
		queue_event(d, (struct dr_event){.type = DR_EV_LISTEN_DONE});
}

static void do_play_recording(struct drd *d)
{
	struct listen *l = &d->listen;
	listen_close(d);
	l->wanted = true;
	l->of = listen_open(d, l);
	for (int i = 0; l->of && i < LISTEN_SLOTS; i++)
		if (!(l->buf[i] = malloc(LISTEN_CHUNK * sizeof(int16_t))))
			l->eof = true;
	if (!l->of) {
		log_error(d, "listen", "cannot open the recording to play it back");
		listen_finish(d);
		return;
	}
	dr_evlog_emit(d->log, "listen", ",\"id\":\"%s\"", d->dialogue_id);
	for (int i = 0; i < LISTEN_SLOTS && !l->eof; i++)
		listen_fill(d, i);
	if (!listen_busy(l))
		listen_finish(d);
}

static void listen_chunk_done(struct drd *d, const struct dr_playback_done *done)
{
	struct listen *l = &d->listen;
	for (int i = 0; i < LISTEN_SLOTS; i++) {
		if (l->token[i] != done->token)
			continue;
		l->token[i] = 0;
		if (done->status < 0)
			l->eof = true;
		else if (l->wanted && !l->eof)
			listen_fill(d, i);
	}
	if (l->of && !listen_busy(l))
		listen_finish(d);
}

static void carry_out(struct drd *d, const struct dr_action *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (a[i].type) {
		case DR_ACT_STATE:
			dr_evlog_emit(d->log, "state", ",\"from\":\"%s\",\"to\":\"%s\"",
				      dr_state_name(a[i].from), dr_state_name(a[i].to));
			if (a[i].to == DR_ST_IDLE && !d->prepared)
				forget_key(d);
			break;
		case DR_ACT_LIGHT:
			dr_lights_set(d->lights, a[i].light);
			break;
		case DR_ACT_PLAY:
			do_play(d, a[i].prompt);
			if (a[i].prompt == DR_PROMPT_WELCOME || a[i].prompt == DR_PROMPT_BEEP)
				/* a failure is reported at the start */
				prepare_start(d, dr_prompts_ms(d->prompts, DR_PROMPT_BEEP) +
						 (a[i].prompt == DR_PROMPT_WELCOME
							  ? dr_prompts_ms(d->prompts, DR_PROMPT_WELCOME)
							  : 0));
			break;
		case DR_ACT_STOP_PLAYBACK:
			if (d->play_token) {
				/* Its prompt_done is still logged; the core, which
				 * moved on, does not hear of it. */
				memmove(d->cut_token + 1, d->cut_token, sizeof(d->cut_token) - sizeof(d->cut_token[0]));
				memmove(d->cut_prompt + 1, d->cut_prompt, sizeof(d->cut_prompt) - sizeof(d->cut_prompt[0]));
				d->cut_token[0] = d->play_token;
				d->cut_prompt[0] = d->play_prompt;
			}
			d->play_token = 0;
			dr_playback_stop(d->speaker);
			break;
		case DR_ACT_START_RECORDING:
			do_start_recording(d);
			break;
		case DR_ACT_STOP_RECORDING:
			do_stop_recording(d, a[i].keep, a[i].reason);
			break;
		case DR_ACT_IGNORED_PRESS:
			dr_evlog_emit(d->log, "press_ignored", ",\"state\":\"%s\"",
				      dr_state_name(dr_core_state(&d->core)));
			break;
		case DR_ACT_EXIT:
			d->quit = true;
			break;
		case DR_ACT_CONSENT:
			do_consent(d, a[i].staff_yes, a[i].share_yes);
			break;
		case DR_ACT_PLAY_RECORDING:
			do_play_recording(d);
			break;
		case DR_ACT_STOP_RECORDING_PLAYBACK:
			d->listen.wanted = false;
			dr_playback_stop(d->speaker);
			break;
		}
	}
}

static void arm_deadline(struct drd *d)
{
	uint64_t dl = dr_core_deadline(&d->core);
	struct itimerspec its = {0};
	if (dl != DR_NO_DEADLINE) {
		its.it_value.tv_sec = (time_t)(dl / 1000);
		its.it_value.tv_nsec = (long)(dl % 1000) * 1000000L;
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(d->deadline_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Feeds every queued event to the core, carrying out its actions (which may
 * queue more events), then re-arms the deadline timer. */
static void run_queue(struct drd *d)
{
	while (d->nqueue) {
		struct dr_event e = d->queue[0];
		memmove(d->queue, d->queue + 1, (d->nqueue - 1) * sizeof(d->queue[0]));
		d->nqueue--;
		struct dr_action acts[DR_MAX_ACTIONS];
		uint32_t dropped = d->core.actions_dropped;
		size_t n = dr_core_step(&d->core, &e, dr_mono_ms(), acts);
		if (d->core.actions_dropped != dropped)
			log_error(d, "core", "a step had more actions than DR_MAX_ACTIONS; some were lost");
		carry_out(d, acts, n);
	}
	arm_deadline(d);
}

static void feed(struct drd *d, struct dr_event ev)
{
	queue_event(d, ev);
	run_queue(d);
}

/* ---- results from the media threads ---- */

/* The room kept in the data folder for marking recordings in the catalogue
 * after the disk has filled up (media/recover.h): made while there is plenty
 * of room, released when the disk is full (free space below `below`;
 * UINT64_MAX: now). */
static void reserve_release(struct drd *d, uint64_t below)
{
	char p[PATH_MAX + 32], m[PATH_MAX + 128];
	snprintf(p, sizeof(p), "%s/%s", d->s->data_dir, DR_RESERVE_NAME);
	int r = dr_reserve_release(p, below);
	if (r > 0) {
		DR_LOG_WARN(MOD, "data folder full: released the %u KiB kept for the catalogue",
			    DR_RESERVE_BYTES / 1024);
		dr_evlog_emit(d->log, "reserve", ",\"released\":true");
	} else if (r < 0) {
		snprintf(m, sizeof(m), "cannot release %s: %s", p, strerror(-r));
		log_error(d, "storage", m);
	}
}

static void reserve_make(struct drd *d)
{
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/%s", d->s->data_dir, DR_RESERVE_NAME);
	if (dr_reserve_make(p, DR_RESERVE_BYTES) > 0)
		dr_evlog_emit(d->log, "reserve", ",\"made\":true");
}

/* Repairs a recording cut off by a crash, a power failure or a full disk,
 * in place. A sealed recording is repaired without its key (truncated after
 * its last whole message: app/seal); a plain one from before sealing by the
 * Ogg repair. samples: the audio it holds. -ENODATA: nothing to keep. */
static int repair_recording(const char *path, uint64_t *samples, uint64_t *dropped,
			    bool *was_complete)
{
	size_t n = strlen(path);
	if (n > 7 && !strcmp(path + n - 7, ".sealed")) {
		struct dr_seal_scan sc;
		int r = dr_seal_repair(path, &sc);
		if (r == -EBADMSG || r == -ENODATA)
			return -ENODATA;
		*samples = sc.position;
		*dropped = sc.file_bytes - sc.intact_bytes;
		*was_complete = sc.final;
		return r;
	}
	struct dr_recover_result rr;
	int r = dr_recover_file(path, &rr);
	if (r == -ENOENT || r == -EINVAL)
		return -ENODATA;
	*samples = rr.samples;
	*dropped = rr.dropped_bytes;
	*was_complete = rr.was_complete;
	return r;
}

static void on_recording_done(struct drd *d)
{
	struct dr_recording_result res;
	char err[512], note[160];
	const char *state = "complete";
	int status;
	uint64_t duration_ms;

	if (dr_recorder_collect(d->rec, &res) < 0)
		return;
	d->rec_active = false;
	status = res.status;
	duration_ms = res.samples * 1000 / 48000;

	if (d->rec_keep && res.samples == 0 && status == 0)
		status = -ENODATA; /* nothing to say "saved" about */
	if (!d->rec_keep || res.samples == 0) {
		const char *why = !d->rec_keep ? "too short: the resident pressed again within the minimum length"
					       : "nothing was captured";
		state = "discarded";
		if (dr_store_discard(d->store, d->rec_id, why, err, sizeof(err)) < 0)
			log_error(d, "store", err);
	} else if (res.status < 0) {
		/* Cut short by the microphone or the disk: make the file whole
		 * and keep what there is. */
		uint64_t samples = 0, dropped = 0;
		bool whole = false;
		snprintf(note, sizeof(note), "ended by %s failure: %s",
			 res.capture_failed ? "microphone" : "storage", strerror(-res.status));
		if (res.status == -ENOSPC)
			reserve_release(d, UINT64_MAX); /* room for the catalogue */
		/* in place: needs no room */
		int r = repair_recording(d->rec_path, &samples, &dropped, &whole);
		if (r == 0) {
			duration_ms = samples * 1000 / DR_SAMPLE_RATE;
			state = "interrupted";
			if (dr_store_finish(d->store, d->rec_id, DR_REC_INTERRUPTED, duration_ms, note, err,
					    sizeof(err)) < 0) {
				char m[700];
				snprintf(m, sizeof(m), "recording %s is repaired but cannot be marked in the "
					 "catalogue (%s); it is marked at the next start", d->rec_id, err);
				log_error(d, "store", m);
				state = "recording";
			}
		} else {
			snprintf(err, sizeof(err), "recording %s could not be repaired (%s); it stays "
				 "marked as recording and is tried again at the next start",
				 d->rec_id, strerror(-r));
			log_error(d, "store", err);
			state = "recording";
		}
	} else {
		snprintf(note, sizeof(note), "stopped by %s", dr_stop_reason_name(d->rec_reason));
		if (dr_store_finish(d->store, d->rec_id, DR_REC_COMPLETE, duration_ms, note, err,
				    sizeof(err)) < 0) {
			log_error(d, "store", err);
			status = -EIO;
			state = "recording";
		}
	}
	if (res.lost)
		DR_LOG_ERR(MOD, "recording %s lost %" PRIu64 " samples to a full ring buffer", d->rec_id,
			   res.lost);
	dr_evlog_emit(d->log, "recording_finalised",
		      ",\"id\":\"%s\",\"state\":\"%s\",\"duration_ms\":%" PRIu64 ",\"samples\":%" PRIu64
		      ",\"lost\":%" PRIu64 ",\"ring_high_water\":%zu,\"first_sample_us\":%" PRIu64 ",\"bytes\":%" PRIu64
		      ",\"writes\":%" PRIu64 ",\"syncs\":%" PRIu64 ",\"status\":%d",
		      d->rec_id, state, duration_ms, res.samples, res.lost, res.ring_high_water,
		      res.first_sample_us, d->rec_stats.bytes, d->rec_stats.writes, d->rec_stats.syncs, res.status);
	struct dr_event ev = {.type = DR_EV_RECORDING_DONE, .status = status, .samples = res.samples};
	d->dialogue_id[0] = '\0';
	if (status == 0 && !strcmp(state, "complete")) {
		/* The number the resident will hear: durable before it is said. */
		if (dr_store_assign_receipt(d->store, d->rec_id, ev.receipt, err, sizeof(err)) < 0) {
			/* No number to withdraw by: no questions either. The
			 * recording is kept, locked; the box says "tell staff". */
			log_error(d, "store", err);
			ev.receipt[0] = '\0';
			ev.status = -EIO;
		} else {
			memcpy(d->dialogue_id, d->rec_id, sizeof(d->dialogue_id));
		}
		dr_evlog_emit(d->log, "receipt", ",\"id\":\"%s\",\"assigned\":%s", d->rec_id,
			      ev.receipt[0] ? "true" : "false");
	}
	feed(d, ev);
}

static void on_playback_done(struct drd *d)
{
	struct dr_playback_done done;
	while (dr_playback_collect(d->speaker, &done) == 0) {
		if (done.token & LISTEN_BIT) {
			listen_chunk_done(d, &done);
			run_queue(d); /* delivers DR_EV_LISTEN_DONE, if that was the last */
			continue;
		}
		if (done.status < 0 && done.status != -ECANCELED) {
			char m[128];
			snprintf(m, sizeof(m), "playback failed: %s", strerror(-done.status));
			log_error(d, "speaker", m);
		}
		for (size_t i = 0; done.token && i < sizeof(d->cut_token) / sizeof(d->cut_token[0]); i++) {
			if (d->cut_token[i] != done.token)
				continue;
			d->cut_token[i] = 0;
			dr_evlog_emit(d->log, "prompt_done",
				      ",\"name\":\"%s\",\"status\":%d,\"started_us\":%" PRIu64 ",\"ended_us\":%" PRIu64,
				      dr_prompt_name(d->cut_prompt[i]), done.status, done.started_us, done.ended_us);
		}
		if (done.token != d->play_token || !d->play_token)
			continue; /* cut off earlier; the core has moved on */
		d->play_token = 0;
		dr_evlog_emit(d->log, "prompt_done",
			      ",\"name\":\"%s\",\"status\":%d,\"started_us\":%" PRIu64 ",\"ended_us\":%" PRIu64,
			      dr_prompt_name(d->play_prompt), done.status, done.started_us, done.ended_us);
		feed(d, (struct dr_event){.type = DR_EV_PROMPT_DONE, .prompt = d->play_prompt,
					  .status = done.status});
	}
}

static void on_button(struct drd *d)
{
	struct dr_button_edge edges[16];
	int n = dr_button_read(d->button, edges, 16);
	if (n < 0) {
		char m[128];
		snprintf(m, sizeof(m), "cannot read the button: %s", strerror(-n));
		log_error(d, "button", m);
		if (n != -EAGAIN && n != -EINTR) {
			/* Gone (e.g. -ENODEV): stop polling it rather than spin, and
			 * show staff something is wrong. The supervisor's restart
			 * reopens it. */
			d->button_dead = true;
			dr_lights_set(d->lights, DR_LIGHT_ERROR);
		}
		return;
	}
	for (int i = 0; i < n; i++) {
		dr_evlog_emit_at(d->log, edges[i].t_us, "button", ",\"edge\":\"%s\"",
				 edges[i].pressed ? "down" : "up");
		if (edges[i].pressed && stick_busy(d) && dr_core_state(&d->core) == DR_ST_IDLE) {
			/* Staff have their stick in: no new session until it is out. */
			dr_evlog_emit(d->log, "press_ignored", ",\"state\":\"stick\"");
			continue;
		}
		feed(d, (struct dr_event){.type = edges[i].pressed ? DR_EV_PRESS : DR_EV_RELEASE});
	}
}

/* The box's running time, persisted (at a storage check at most once a
 * minute, to spare the SD card; before the retention rule; at shutdown): the
 * retention rule's clock, which no wall clock can move. A power cut loses at
 * most the last minute, so the box only ever under-counts its age. */
#define RUN_FLUSH_MS 60000u
static void flush_running(struct drd *d)
{
	char err[512];
	d->last_run_flush_ms = dr_mono_ms();
	if (dr_store_running_flush(d->store, err, sizeof(err)) < 0)
		DR_LOG_WARN(MOD, "%s", err);
}

/* The retention rule: locked recordings whose age in the box's running time
 * reached retention_days go. */
static void expire_locked(struct drd *d)
{
	char err[512];
	flush_running(d);
	d->last_expiry_ms = dr_mono_ms();
	int n = dr_store_expire_locked(d->store, d->s->retention_days, err, sizeof(err));
	if (n < 0)
		log_error(d, "retention", err);
	else if (n > 0)
		dr_evlog_emit(d->log, "expired", ",\"count\":%d,\"retention_days\":%u", n,
			      d->s->retention_days);
}

static void check_storage(struct drd *d)
{
	uint64_t free_bytes;
	if (dr_mono_ms() - d->last_expiry_ms > 3600 * 1000 && dr_core_state(&d->core) == DR_ST_IDLE &&
	    !d->prep_running)
		expire_locked(d);
	else if (dr_mono_ms() - d->last_run_flush_ms >= RUN_FLUSH_MS)
		flush_running(d);
	reserve_make(d);
	if (dr_store_free_bytes(d->store, &free_bytes) < 0)
		return;
	/* Low storage and a box with no organisation key both mean the box
	 * cannot record now: the core refuses new recordings in the same way. */
	bool low = free_bytes < d->s->storage_low_bytes || !d->have_org;
	if (d->storage_known && low == d->storage_low)
		return;
	d->storage_known = true;
	d->storage_low = low;
	dr_evlog_emit(d->log, "storage", ",\"free_mb\":%" PRIu64 ",\"low\":%s,\"can_record\":%s",
		      free_bytes / (1024 * 1024),
		      free_bytes < d->s->storage_low_bytes ? "true" : "false", low ? "false" : "true");
	if (low && d->have_org)
		DR_LOG_WARN(MOD, "storage nearly full: %" PRIu64 " MiB free; new recordings are refused",
			    free_bytes / (1024 * 1024));
	feed(d, (struct dr_event){.type = low ? DR_EV_STORAGE_LOW : DR_EV_STORAGE_OK});
}

/* ---- start-up ---- */

struct pending_rec {
	char id[DR_STORE_ID_LEN + 1];
	char path[PATH_MAX];
};
struct pending_list {
	struct pending_rec *v;
	size_t n;
};

static int collect_pending(void *user, const struct dr_store_rec *rec)
{
	struct pending_list *l = user;
	struct pending_rec *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	l->v = nv;
	snprintf(l->v[l->n].id, sizeof(l->v[l->n].id), "%s", rec->id);
	snprintf(l->v[l->n].path, sizeof(l->v[l->n].path), "%s", rec->path);
	l->n++;
	return 0;
}

/* Recordings still marked "recording" were cut off by a crash or power cut:
 * repair each and keep it, marked interrupted. */
static int recover_interrupted(struct drd *d)
{
	struct pending_list l = {0};
	char err[PATH_MAX + 256];
	int r = dr_store_each(d->store, DR_REC_RECORDING, collect_pending, &l);
	if (r < 0) {
		free(l.v);
		return r;
	}
	for (size_t i = 0; i < l.n; i++) {
		uint64_t samples = 0, dropped = 0;
		bool whole = false;
		r = repair_recording(l.v[i].path, &samples, &dropped, &whole);
		if (r == 0) {
			uint64_t ms = samples * 1000 / DR_SAMPLE_RATE;
			if (dr_store_finish(d->store, l.v[i].id, DR_REC_INTERRUPTED, ms,
					    "cut off by a power failure or crash; repaired at start-up",
					    err, sizeof(err)) < 0) {
				char m[sizeof(err) + 160];
				snprintf(m, sizeof(m), "recording %s is repaired but cannot be marked in "
					 "the catalogue (%s); it is marked at the next start", l.v[i].id, err);
				log_error(d, "recovery", m);
				continue;
			}
			dr_evlog_emit(d->log, "recovered",
				      ",\"id\":\"%s\",\"duration_ms\":%" PRIu64 ",\"dropped_bytes\":%" PRIu64
				      ",\"was_complete\":%s",
				      l.v[i].id, ms, dropped, whole ? "true" : "false");
			DR_LOG_INFO(MOD, "recovered recording %s (%" PRIu64 " ms)", l.v[i].id, ms);
		} else if (r == -ENODATA) {
			/* Cut off before any audio reached the disk. */
			if (dr_store_discard(d->store, l.v[i].id,
					     "cut off before any audio was written; nothing to keep",
					     err, sizeof(err)) < 0)
				log_error(d, "recovery", err);
			dr_evlog_emit(d->log, "recovered", ",\"id\":\"%s\",\"duration_ms\":0,\"empty\":true",
				      l.v[i].id);
		} else {
			snprintf(err, sizeof(err), "cannot repair %s: %s (left for the next start)",
				 l.v[i].path, strerror(-r));
			log_error(d, "recovery", err);
		}
	}
	free(l.v);
	return 0;
}

static int open_all(struct drd *d)
{
	const struct drd_settings *s = d->s;
	char err[1024];
	int r;

	r = dr_evlog_open(s->event_log[0] ? s->event_log : NULL, &d->log);
	if (r < 0) {
		fprintf(stderr, "diaryroomd: cannot open event log %s: %s\n", s->event_log, strerror(-r));
		return r;
	}
	reserve_release(d, DR_RESERVE_BYTES); /* only if the disk is full */
	r = dr_store_open(s->data_dir, &d->store, err, sizeof(err));
	if (r < 0)
		goto fail;
	r = recover_interrupted(d);
	if (r < 0) {
		snprintf(err, sizeof(err), "recovery failed: %s", strerror(-r));
		goto fail;
	}
	/* Without the organisation's key nothing can be sealed, so nothing is
	 * recorded: the box says so (the "cannot record" light and phrase). */
	d->have_org = dr_seal_load_org_pub(s->keydir, d->org_pk, err, sizeof(err)) == 0;
	if (!d->have_org) {
		char m[1200];
		snprintf(m, sizeof(m), "the box is not provisioned, so it will not record: %s", err);
		log_error(d, "seal", m);
		dr_evlog_emit(d->log, "cannot_record", ",\"reason\":\"no organisation key\"");
	}
	{
		/* A phrase recorded at another rate is resampled once, into
		 * the data folder (media/prompts.h). */
		char cache[PATH_MAX + 32];
		snprintf(cache, sizeof(cache), "%s/prompt-cache", s->data_dir);
		r = dr_prompts_load_cached(s->prompts_dir, cache, &d->prompts, err, sizeof(err));
	}
	if (r < 0)
		goto fail;
	if (dr_prompts_warning(d->prompts))
		log_error(d, "prompts", dr_prompts_warning(d->prompts));
	r = dr_playback_open(s->board, s->board_dir, &d->speaker, err, sizeof(err));
	if (r < 0)
		goto fail;
	r = dr_capture_open(s->board, s->board_dir, &d->mic, err, sizeof(err));
	if (r < 0)
		goto fail;
	{
		char m[256];
		dr_evlog_emit(d->log, "mic", ",\"name\":\"%s\"",
			      dr_evlog_str(dr_capture_name(d->mic), m, sizeof(m)));
	}
	r = dr_recorder_new(d->mic, &s->rec, &d->rec);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot set up the recorder: %s", strerror(-r));
		goto fail;
	}
	r = dr_lights_open(s->board, d->log, &d->lights, err, sizeof(err));
	if (r < 0)
		goto fail;
	r = dr_button_open(s->board, s->board_dir, &d->button, err, sizeof(err));
	if (r < 0)
		goto fail;
	if (s->stick_mount[0]) {
		r = dr_export_open(d->store, s->keydir, &d->x, err, sizeof(err));
		if (r < 0) {
			/* Recording works without keys; only the stick does not. */
			char m[1100];
			snprintf(m, sizeof(m), "staff sticks cannot be used until the box is provisioned: %s", err);
			log_error(d, "export", m);
			d->x = NULL;
		}
	}
	return 0;

fail:
	fprintf(stderr, "diaryroomd: %s\n", err);
	{
		char m[1024];
		dr_evlog_emit(d->log, "error", ",\"what\":\"start\",\"message\":\"%s\"",
			      dr_evlog_str(err, m, sizeof(m)));
	}
	return r;
}

static void close_all(struct drd *d)
{
	prepare_join(d);
	if (d->store)
		unprepare_recording(d, "stopped before recording began; nothing was recorded");
	if (d->speaker)
		dr_playback_stop(d->speaker);
	dr_button_free(d->button);
	dr_lights_free(d->lights);
	dr_recorder_free(d->rec); /* finalises a recording still open */
	dr_seal_key_free(d->rec_key);
	d->rec_key = NULL;
	dr_capture_free(d->mic);
	dr_playback_free(d->speaker);
	listen_close(d);
	dr_prompts_free(d->prompts);
	if (d->store)
		flush_running(d);
	dr_store_close(d->store);
	dr_export_run_free(d->run);
	dr_export_stick_close(d->stick);
	dr_export_close(d->x);
	dr_evlog_free(d->log);
	drd_liveness_free(d->live);
	if (d->stick_fd >= 0)
		close(d->stick_fd);
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	if (d->deadline_fd >= 0)
		close(d->deadline_fd);
	if (d->storage_fd >= 0)
		close(d->storage_fd);
	if (d->prep_fd >= 0)
		close(d->prep_fd);
}

static int open_fds(struct drd *d)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP); /* a closed terminal must not lose a recording */
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->deadline_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	d->storage_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	d->stick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	d->prep_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->sig_fd < 0 || d->deadline_fd < 0 || d->storage_fd < 0 || d->stick_fd < 0 || d->prep_fd < 0)
		return -errno;
	struct itimerspec every_s = {.it_interval = {.tv_sec = 1}, .it_value = {.tv_sec = 1}};
	timerfd_settime(d->stick_fd, 0, &every_s, NULL);
	struct itimerspec its = {
		.it_interval = {.tv_sec = d->s->storage_check_ms / 1000,
				.tv_nsec = (long)(d->s->storage_check_ms % 1000) * 1000000L},
	};
	its.it_value = its.it_interval;
	timerfd_settime(d->storage_fd, 0, &its, NULL);
	return 0;
}

/* A beat from the loop; a failure is told once, and again once it recovers. */
static void beat(struct drd *d, int r)
{
	if (r < 0 && !d->live_failing) {
		char m[256];
		snprintf(m, sizeof(m), "cannot tell the supervisor the daemon is alive: %s", strerror(-r));
		log_error(d, "heartbeat", m);
	} else if (r == 0 && d->live_failing) {
		DR_LOG_INFO(MOD, "heartbeat works again");
	}
	d->live_failing = r < 0;
}

static void drain_fd(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) > 0)
		;
}

int drd_run(const struct drd_settings *s)
{
	struct drd d = {.s = s, .sig_fd = -1, .deadline_fd = -1, .storage_fd = -1, .stick_fd = -1,
			.listen = {.fd = -1}, .prep_fd = -1};
	int status = 0, r;

	r = open_fds(&d);
	if (r < 0) {
		fprintf(stderr, "diaryroomd: cannot set up signals and timers: %s\n", strerror(-r));
		close_all(&d);
		return 1;
	}
	r = drd_liveness_open(s->heartbeat, &d.live);
	if (r < 0) {
		fprintf(stderr, "diaryroomd: cannot set up the heartbeat%s%s: %s\n",
			s->heartbeat[0] ? " " : "", s->heartbeat, strerror(-r));
		close_all(&d);
		return 1;
	}
	if (open_all(&d) < 0) {
		close_all(&d);
		return 1;
	}

	struct dr_core_config cc = s->core;
	for (int p = 0; p < DR_PROMPT_COUNT; p++)
		cc.prompt_ms[p] = dr_prompts_ms(d.prompts, (enum dr_prompt)p);
	dr_core_init(&d.core, &cc, dr_mono_ms());
	expire_locked(&d);
	struct dr_action acts[DR_MAX_ACTIONS];
	carry_out(&d, acts, dr_core_start(&d.core, dr_mono_ms(), acts));
	check_storage(&d);
	{
		char b[PATH_MAX * 2], dd[PATH_MAX * 2];
		dr_evlog_emit(d.log, "ready", ",\"version\":\"%s\",\"board\":\"%s\",\"data\":\"%s\",\"pid\":%d",
			      DR_VERSION, dr_evlog_str(s->board_dir, b, sizeof(b)),
			      dr_evlog_str(s->data_dir, dd, sizeof(dd)), (int)getpid());
	}
	DR_LOG_INFO(MOD, "ready (board %s, data %s)", s->board_dir, s->data_dir);
	beat(&d, drd_liveness_ready(d.live));

	enum { FD_SIG, FD_DEADLINE, FD_STORAGE, FD_BUTTON, FD_LIGHTS, FD_SPEAKER, FD_REC, FD_STICK, FD_LIVE, FD_PREP, FD_COUNT };
	struct pollfd pfd[FD_COUNT];
	while (!d.quit) {
		pfd[FD_SIG] = (struct pollfd){.fd = d.sig_fd, .events = POLLIN};
		pfd[FD_DEADLINE] = (struct pollfd){.fd = d.deadline_fd, .events = POLLIN};
		pfd[FD_STORAGE] = (struct pollfd){.fd = d.storage_fd, .events = POLLIN};
		pfd[FD_BUTTON] = (struct pollfd){.fd = d.button_dead ? -1 : dr_button_fd(d.button),
						 .events = POLLIN};
		pfd[FD_LIGHTS] = (struct pollfd){.fd = dr_lights_fd(d.lights), .events = POLLIN};
		pfd[FD_SPEAKER] = (struct pollfd){.fd = dr_playback_fd(d.speaker), .events = POLLIN};
		pfd[FD_REC] = (struct pollfd){.fd = dr_recorder_fd(d.rec), .events = POLLIN};
		pfd[FD_STICK] = (struct pollfd){.fd = d.x ? d.stick_fd : -1, .events = POLLIN};
		pfd[FD_LIVE] = (struct pollfd){.fd = drd_liveness_fd(d.live), .events = POLLIN};
		pfd[FD_PREP] = (struct pollfd){.fd = d.prep_running ? d.prep_fd : -1, .events = POLLIN};
		/* While an export runs, do a step of it between events. */
		if (poll(pfd, FD_COUNT, d.run ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			DR_LOG_ERR(MOD, "poll: %s", strerror(errno));
			status = 2;
			break;
		}
		if (pfd[FD_SIG].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(d.sig_fd, &si, sizeof(si)) == sizeof(si)) {
				dr_evlog_emit(d.log, "signal", ",\"signal\":%u", si.ssi_signo);
				if (!d.stopping) {
					d.stopping = true;
					drd_liveness_stopping(d.live);
				}
				feed(&d, (struct dr_event){.type = DR_EV_SHUTDOWN});
			}
		}
		/* Presses first: a press made while a prompt was ending belongs to
		 * the state it was made in, not to the next question. */
		if (pfd[FD_BUTTON].revents & POLLIN)
			on_button(&d);
		if (pfd[FD_PREP].revents & POLLIN) {
			/* The row and file are made: collected now, so a failure
			 * is told at once, and a cancelled one discarded. */
			bool made = !d.prep_discard;
			enum dr_state st = dr_core_state(&d.core);
			prepare_join(&d);
			if (d.prep_cancel) {
				d.prep_cancel = false;
				unprepare_async(&d, "cancelled by a press before recording began; nothing was recorded");
			} else if (!made && (st == DR_ST_WELCOME || st == DR_ST_BEEP)) {
				prepare_start(&d, 0); /* a new session began meanwhile */
			}
		}
		if (pfd[FD_REC].revents & POLLIN)
			on_recording_done(&d);
		if (pfd[FD_SPEAKER].revents & POLLIN)
			on_playback_done(&d);
		if (pfd[FD_LIGHTS].revents & POLLIN)
			dr_lights_tick(d.lights);
		if (pfd[FD_DEADLINE].revents & POLLIN) {
			drain_fd(d.deadline_fd);
			feed(&d, (struct dr_event){.type = DR_EV_TICK});
		}
		if (pfd[FD_STORAGE].revents & POLLIN) {
			drain_fd(d.storage_fd);
			check_storage(&d);
		}
		if (pfd[FD_STICK].revents & POLLIN) {
			drain_fd(d.stick_fd);
			stick_poll(&d);
		}
		/* Only this loop beats: if it is stuck, the beats stop. */
		if (pfd[FD_LIVE].revents & POLLIN)
			beat(&d, drd_liveness_beat(d.live));
		if (d.run)
			stick_step(&d);
	}
	dr_evlog_emit(d.log, "exit", ",\"status\":%d", status);
	close_all(&d);
	return status;
}
