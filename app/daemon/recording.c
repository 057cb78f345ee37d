/* SPDX-License-Identifier: MIT */
/* A recording: made ready while the welcome plays (in a thread), started,
 * stopped, and committed to the catalogue afterwards. See drd.h. */
#include "drd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "util/log.h"

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


/* The catalogue row and the file, both durable (rec_utc set): on the loop,
 * or in the preparing thread. Logs nothing; err says why not. */
static int prepare_work(struct drd *d, char *err, size_t errlen)
{
	char e2[512];
	int r = dr_store_begin_media(d->store, d->rec_video ? DR_MEDIA_VIDEO : DR_MEDIA_AUDIO,
				     d->rec_utc, d->rec_mono_ms, d->rec_id, d->rec_path,
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

static void finish_work(struct drd *d);
static void finish_receipt(struct drd *d);
static void log_finalised(struct drd *d);
static void finish_done(struct drd *d);
static void consent_work(struct drd *d);
static void consent_done(struct drd *d);

/* One job, in the catalogue thread. */
static void run_job(struct drd *d)
{
	switch (d->prep_job) {
	case DRD_JOB_DISCARD:
		d->rec_sink.ops->close(d->rec_sink.user);
		d->prep_rc = dr_store_discard(d->store, d->rec_id, d->prep_why, d->prep_err,
					      sizeof(d->prep_err));
		break;
	case DRD_JOB_PREPARE:
		d->prep_rc = prepare_work(d, d->prep_err, sizeof(d->prep_err));
		break;
	case DRD_JOB_FINISH:
		finish_work(d);
		finish_receipt(d);
		break;
	case DRD_JOB_CONSENT:
		consent_work(d);
		break;
	}
}

/* The catalogue thread: waits for a job, does it, wakes the loop (prep_fd
 * first, then cat_done, so the loop never drains prep_fd before this job's
 * wake-up is in it), until told to quit. */
static void *catalogue_thread(void *arg)
{
	struct drd *d = arg;
	uint64_t one = 1;
	pthread_mutex_lock(&d->cat_mu);
	d->cat_tid = gettid();
	pthread_cond_broadcast(&d->cat_cv);
	for (;;) {
		while (!d->cat_job && !d->cat_quit)
			pthread_cond_wait(&d->cat_cv, &d->cat_mu);
		if (!d->cat_job)
			break;
		d->cat_job = false;
		pthread_mutex_unlock(&d->cat_mu);
		run_job(d);
		while (write(d->prep_fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&d->cat_mu);
		d->cat_done = true;
		pthread_cond_broadcast(&d->cat_cv);
	}
	pthread_mutex_unlock(&d->cat_mu);
	return NULL;
}

int drd_catalogue_start(struct drd *d)
{
	if (d->prep_fd < 0)
		return -EBADF;
	int r = pthread_mutex_init(&d->cat_mu, NULL);
	if (r)
		return -r;
	r = pthread_cond_init(&d->cat_cv, NULL);
	if (r)
		goto err_mutex;
	d->cat_tid = 0;
	d->cat_job = d->cat_done = d->cat_quit = false;
	r = pthread_create(&d->prep_th, NULL, catalogue_thread, d);
	if (r)
		goto err_cond;
	pthread_mutex_lock(&d->cat_mu);
	while (!d->cat_tid)
		pthread_cond_wait(&d->cat_cv, &d->cat_mu);
	pthread_mutex_unlock(&d->cat_mu);
	d->cat_started = true;
	return 0;

err_cond:
	pthread_cond_destroy(&d->cat_cv);
err_mutex:
	pthread_mutex_destroy(&d->cat_mu);
	return -r;
}

void drd_catalogue_stop(struct drd *d)
{
	drd_prepare_join(d);
	if (!d->cat_started)
		return;
	pthread_mutex_lock(&d->cat_mu);
	d->cat_quit = true;
	pthread_cond_broadcast(&d->cat_cv);
	pthread_mutex_unlock(&d->cat_mu);
	pthread_join(d->prep_th, NULL);
	pthread_cond_destroy(&d->cat_cv);
	pthread_mutex_destroy(&d->cat_mu);
	d->cat_started = false;
}

/* Waits for the thread's job (at once when prep_fd is readable) and takes
 * its results: the row and file prepared, or discarded; for the commits
 * after a recording, the event for the core is queued (the caller runs
 * the queue). */
void drd_prepare_join(struct drd *d)
{
	uint64_t v;
	if (!d->prep_running)
		return;
	pthread_mutex_lock(&d->cat_mu);
	while (!d->cat_done)
		pthread_cond_wait(&d->cat_cv, &d->cat_mu);
	pthread_mutex_unlock(&d->cat_mu);
	while (read(d->prep_fd, &v, sizeof(v)) > 0)
		;
	d->prep_running = false;
	if (d->prep_job == DRD_JOB_FINISH) {
		finish_done(d);
		return;
	}
	if (d->prep_job == DRD_JOB_CONSENT) {
		consent_done(d);
		return;
	}
	if (d->prep_job == DRD_JOB_DISCARD)
		drd_forget_key(d); /* a cancelled recording's key goes with it */
	if (d->prep_rc < 0) {
		drd_log_error(d, "store", d->prep_err);
		d->prep_cancel = false;
		return;
	}
	if (d->prep_job == DRD_JOB_PREPARE) {
		d->prepared = true;
		drd_camera_warm(d); /* its row and id are made: camera_on names it */
	}
}

/* Hands the catalogue thread a job (none may be under way). */
static int prep_spawn(struct drd *d, enum drd_job job)
{
	if (!d->cat_started || d->prep_running)
		return -1;
	pthread_mutex_lock(&d->cat_mu);
	d->prep_job = job;
	d->cat_done = false;
	d->cat_job = true;
	pthread_cond_broadcast(&d->cat_cv);
	pthread_mutex_unlock(&d->cat_mu);
	d->prep_running = true;
	return 0;
}

/* Makes the catalogue row and the file, both durable, before capture
 * starts: begun in a thread when the welcome starts (prepare_start), so
 * the syncs (tens of ms on an SD card, seconds on a failing one) hold up
 * neither the loop nor the first syllable after the beep; here it is
 * waited for, or done on the spot if it was not begun. */
static int prepare_recording(struct drd *d)
{
	char err[PATH_MAX + 256];
	int r;

	if (d->rec_active || (d->prep_running && d->prep_job != DRD_JOB_PREPARE &&
			      d->prep_job != DRD_JOB_DISCARD)) {
		/* The last recording is still being closed (a storage that hung
		 * past the core's limit): its id, path and counters stay as they
		 * are until it is collected, and no new one starts meanwhile. */
		drd_log_error(d, "store", "the last recording is still being saved; not starting another");
		return -EBUSY;
	}
	drd_prepare_join(d);
	if (d->prep_cancel) {
		d->prep_cancel = false;
		drd_unprepare_recording(d, "cancelled by a press before recording began; nothing was recorded");
	}
	if (d->prepared)
		return 0;
	now_utc(d->rec_utc, sizeof(d->rec_utc));
	d->rec_mono_ms = dr_mono_ms();
	r = prepare_work(d, err, sizeof(err));
	if (r < 0) {
		drd_log_error(d, "store", err);
		return r;
	}
	d->prepared = true;
	return 0;
}

/* The resident's session is over (or never began): the recording's key is
 * wiped; from now on only the organisation's key opens the recording. */
void drd_forget_key(struct drd *d)
{
	if (!d->rec_key || (d->prep_running && d->prep_job == DRD_JOB_PREPARE))
		return; /* none, or the preparing thread owns it until joined */
	dr_seal_key_free(d->rec_key);
	d->rec_key = NULL;
	dr_evlog_emit(d->log, "key_wiped", ",\"id\":\"%s\"", d->dialogue_id[0] ? d->dialogue_id : d->rec_id);
}

/* Starts making the row and the file in a thread, as the welcome starts.
 * Nothing else touches the catalogue meanwhile: the loop's other users of
 * it (the stick, the retention rule, consent) wait for idle or for a later
 * step of the session, and each waits for this thread first. */
void drd_prepare_start(struct drd *d, uint32_t capture_in_ms)
{
	if (d->prepared || d->prep_running || d->rec_active || d->prep_fd < 0)
		return;
	/* The row's start time is when capture is due: after the prompts
	 * still to play (the welcome and the beep), not now. */
	utc_in(d->rec_utc, sizeof(d->rec_utc), capture_in_ms);
	d->rec_mono_ms = dr_mono_ms() + capture_in_ms;
	d->prep_cancel = false;
	prep_spawn(d, DRD_JOB_PREPARE); /* failing that, made on the spot at the beep's end */
}

/* A prepared recording that never started, discarded in the thread (the
 * catalogue's commit must not hold up the "cancelled" the resident hears). */
void drd_unprepare_async(struct drd *d, const char *why)
{
	if (!d->prepared)
		return;
	if (d->prep_running) /* cannot be: prepared only once joined */
		drd_prepare_join(d);
	d->prepared = false;
	d->prep_why = why;
	drd_camera_cool(d);
	if (prep_spawn(d, DRD_JOB_DISCARD) < 0) {
		d->prepared = true;
		drd_unprepare_recording(d, why);
	}
}

/* A prepared recording that never started (shutdown during the beep, or a
 * press that cancelled it): the row and the file are discarded. */
void drd_unprepare_recording(struct drd *d, const char *why)
{
	char err[512];
	if (!d->prepared)
		return;
	d->prepared = false;
	drd_camera_cool(d);
	d->rec_sink.ops->close(d->rec_sink.user);
	drd_forget_key(d);
	if (dr_store_discard(d->store, d->rec_id, why, err, sizeof(err)) < 0)
		drd_log_error(d, "store", err);
}

void drd_start_recording(struct drd *d)
{
	char err[512];
	int r = prepare_recording(d);
	if (r < 0)
		goto err_report;
	d->prepared = false; /* the sink belongs to the recorder from here on */
	d->rec = drd_camera_recorder(d); /* a video's, or sound only */
	r = dr_recorder_start(d->rec, d->rec_sink, d->rec_id, d->rec_utc);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot start recording: %s", strerror(-r));
		drd_log_error(d, "microphone", err);
		dr_store_discard(d->store, d->rec_id, "the microphone did not start; nothing was recorded",
				 err, sizeof(err));
		goto err_report;
	}
	d->rec_active = true;
	d->rec_keep = true;
	dr_evlog_emit(d->log, "recording_started", ",\"id\":\"%s\",\"start_utc\":\"%s\"%s", d->rec_id,
		      d->rec_utc, d->rec == d->rec_av ? ",\"media\":\"video\"" : "");
	return;

err_report:
	drd_queue_event(d, (struct dr_event){.type = DR_EV_RECORDING_DONE, .status = r < 0 ? r : -EIO});
}

void drd_stop_recording(struct drd *d, bool keep, enum dr_stop_reason why)
{
	if (why == DR_STOP_CANCELLED) {
		/* A press during the welcome or the beep: capture never began.
		 * Only what was prepared goes (once it is made, if its thread is
		 * still at it: the press is answered now); a recording still
		 * being closed (rec_active) is not this one and is left alone. */
		if (d->prep_running && d->prep_job == DRD_JOB_PREPARE) {
			d->prep_cancel = true;
			dr_evlog_emit(d->log, "recording_stopping",
				      ",\"id\":\"\",\"reason\":\"%s\",\"keep\":false", dr_stop_reason_name(why));
			return;
		}
		dr_evlog_emit(d->log, "recording_stopping", ",\"id\":\"%s\",\"reason\":\"%s\",\"keep\":false",
			      d->prepared ? d->rec_id : "", dr_stop_reason_name(why));
		drd_unprepare_async(d, "cancelled by a press before recording began; nothing was recorded");
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
 * then does it speak the confirmation: saved in the thread, so the loop
 * answers presses and keeps the light right meanwhile (the core shows
 * "busy" until DR_EV_CONSENT_SAVED). Not pressing is recorded as
 * "unanswered": the recording stays locked / within the team. */
void drd_consent(struct drd *d, bool staff_yes, bool share_yes)
{
	drd_prepare_join(d); /* nothing runs now in a session that got this far */
	d->commit.staff_yes = staff_yes;
	d->commit.share_yes = share_yes;
	if (!d->s->commits_in_thread || prep_spawn(d, DRD_JOB_CONSENT) < 0) {
		consent_work(d);
		consent_done(d);
	}
}

/* In the thread (or on the loop if no thread could be made). */
static void consent_work(struct drd *d)
{
	struct drd_commit *c = &d->commit;
	c->nmsg = 0;
	c->status = -ENOENT;
	if (!d->dialogue_id[0]) {
		snprintf(c->msg[c->nmsg++], sizeof(c->msg[0]), "no recording to record consent for");
		return;
	}
	c->status = dr_store_set_consent(d->store, d->dialogue_id,
					 c->staff_yes ? DR_CONSENT_YES : DR_CONSENT_UNANSWERED,
					 c->share_yes ? DR_CONSENT_YES : DR_CONSENT_UNANSWERED, "resident",
					 c->msg[0], sizeof(c->msg[0]));
	if (c->status < 0)
		c->nmsg = 1;
}

static void consent_done(struct drd *d)
{
	struct drd_commit *c = &d->commit;
	for (int i = 0; i < c->nmsg; i++)
		drd_log_error(d, "consent", c->msg[i]);
	dr_evlog_emit(d->log, "consent", ",\"id\":\"%s\",\"staff\":%s,\"share\":%s,\"status\":%d",
		      d->dialogue_id, c->staff_yes ? "true" : "false", c->share_yes ? "true" : "false",
		      c->status);
	drd_queue_event(d, (struct dr_event){.type = DR_EV_CONSENT_SAVED, .status = c->status});
}

/* The row and file are made: collected now, so a failure is told at once,
 * and a cancelled one discarded. */
void drd_prep_done(struct drd *d)
{
	enum drd_job job = d->prep_job;
	enum dr_state st = dr_core_state(&d->core);
	drd_prepare_join(d);
	if (d->prep_cancel) {
		d->prep_cancel = false;
		drd_unprepare_async(d, "cancelled by a press before recording began; nothing was recorded");
	} else if (job == DRD_JOB_DISCARD && (st == DR_ST_WELCOME || st == DR_ST_BEEP)) {
		drd_prepare_start(d, 0); /* a new session began meanwhile */
	}
	drd_run_queue(d); /* what the commits after a recording report */
	drd_idle_work(d);
}

/* The recorder has closed the file: its row is finished and it is given
 * its receipt number in the thread (two commits: seconds on a failing
 * card), while the loop goes on answering presses; the core hears of it
 * (DR_EV_RECORDING_DONE) only once both are durable. */
void drd_on_recording_done(struct drd *d)
{
	struct drd_commit *c = &d->commit;
	if (dr_recorder_collect(d->rec, &c->res) < 0)
		return;
	drd_camera_recorded(d, &c->res);
	if (c->res.status == -ENOSPC && d->rec_keep && c->res.samples)
		drd_reserve_release(d, UINT64_MAX); /* room for the catalogue */
	drd_prepare_join(d); /* none runs while a recording is open */
	d->commit.logged = false;
	if (!d->s->commits_in_thread || prep_spawn(d, DRD_JOB_FINISH) < 0) {
		/* on the loop, in the order the strace guards count */
		finish_work(d);
		log_finalised(d);
		finish_receipt(d);
		finish_done(d);
		drd_run_queue(d);
	}
}

__attribute__((format(printf, 2, 3))) static void finish_msg(struct drd_commit *c, const char *fmt, ...)
{
	va_list ap;
	if (c->nmsg >= 2)
		return;
	va_start(ap, fmt);
	vsnprintf(c->msg[c->nmsg++], sizeof(c->msg[0]), fmt, ap);
	va_end(ap);
}

/* In the thread (or on the loop if no thread could be made). */
static void finish_work(struct drd *d)
{
	struct drd_commit *c = &d->commit;
	const struct dr_recording_result *res = &c->res;
	char err[512], note[160];

	c->state = "complete";
	c->nmsg = 0;
	c->status = res->status;
	c->duration_ms = res->samples * 1000 / 48000;
	c->receipt[0] = '\0';
	c->numbered = false;
	if (d->rec_keep && res->samples == 0 && c->status == 0)
		c->status = -ENODATA; /* nothing to say "saved" about */
	if (!d->rec_keep || res->samples == 0) {
		const char *why = !d->rec_keep ? "too short: the resident pressed again within the minimum length"
					       : "nothing was captured";
		c->state = "discarded";
		if (dr_store_discard(d->store, d->rec_id, why, err, sizeof(err)) < 0)
			finish_msg(c, "%s", err);
	} else if (res->status < 0) {
		/* Cut short by the microphone or the disk: make the file whole
		 * and keep what there is (in place: needs no room). */
		uint64_t samples = 0, dropped = 0;
		bool whole = false;
		snprintf(note, sizeof(note), "ended by %s failure: %s",
			 res->capture_failed ? "microphone" : "storage", strerror(-res->status));
		int r = drd_repair_recording(d->rec_path, &samples, &dropped, &whole);
		if (r == 0) {
			c->duration_ms = samples * 1000 / DR_SAMPLE_RATE;
			c->state = "interrupted";
			if (dr_store_finish(d->store, d->rec_id, DR_REC_INTERRUPTED, c->duration_ms, note,
					    err, sizeof(err)) < 0) {
				finish_msg(c, "recording %s is repaired but cannot be marked in the "
					   "catalogue (%s); it is marked at the next start", d->rec_id, err);
				c->state = "recording";
			}
		} else {
			finish_msg(c, "recording %s could not be repaired (%s); it stays marked as "
				   "recording and is tried again at the next start", d->rec_id, strerror(-r));
			c->state = "recording";
		}
	} else {
		snprintf(note, sizeof(note), "stopped by %s", dr_stop_reason_name(d->rec_reason));
		if (dr_store_finish(d->store, d->rec_id, DR_REC_COMPLETE, c->duration_ms, note, err,
				    sizeof(err)) < 0) {
			finish_msg(c, "%s", err);
			c->status = -EIO;
			c->state = "recording";
		}
	}
	c->ev_status = c->status;
}

/* The receipt number of a complete recording (in the thread, or on the
 * loop). */
static void finish_receipt(struct drd *d)
{
	struct drd_commit *c = &d->commit;
	char err[512];
	if (c->status == 0 && !strcmp(c->state, "complete")) {
		/* The number the resident will hear: durable before it is said. */
		c->numbered = true;
		if (dr_store_assign_receipt(d->store, d->rec_id, c->receipt, err, sizeof(err)) < 0) {
			/* No number to withdraw by: no questions either. The
			 * recording is kept, locked; the box says "tell staff". */
			finish_msg(c, "%s", err);
			c->receipt[0] = '\0';
			c->ev_status = -EIO;
		}
	}
}

static void log_finalised(struct drd *d)
{
	struct drd_commit *c = &d->commit;
	const struct dr_recording_result *res = &c->res;
	for (int i = 0; i < c->nmsg; i++)
		drd_log_error(d, "store", c->msg[i]);
	c->nmsg = 0;
	if (res->lost)
		DR_LOG_ERR(MOD, "recording %s lost %" PRIu64 " samples to a full ring buffer", d->rec_id,
			   res->lost);
	dr_evlog_emit(d->log, "recording_finalised",
		      ",\"id\":\"%s\",\"state\":\"%s\",\"duration_ms\":%" PRIu64 ",\"samples\":%" PRIu64
		      ",\"lost\":%" PRIu64 ",\"ring_high_water\":%zu,\"first_sample_us\":%" PRIu64 ",\"bytes\":%" PRIu64
		      ",\"writes\":%" PRIu64 ",\"syncs\":%" PRIu64 ",\"status\":%d",
		      d->rec_id, c->state, c->duration_ms, res->samples, res->lost, res->ring_high_water,
		      res->first_sample_us, d->rec_stats.bytes, d->rec_stats.writes, d->rec_stats.syncs,
		      res->status);
	c->logged = true;
}

static void finish_done(struct drd *d)
{
	struct drd_commit *c = &d->commit;
	const struct dr_recording_result *res = &c->res;
	d->rec_active = false;
	if (!c->logged)
		log_finalised(d);
	for (int i = 0; i < c->nmsg; i++)
		drd_log_error(d, "store", c->msg[i]);
	struct dr_event ev = {.type = DR_EV_RECORDING_DONE, .status = c->ev_status, .samples = res->samples};
	memcpy(ev.receipt, c->receipt, sizeof(ev.receipt));
	d->dialogue_id[0] = '\0';
	if (c->numbered) {
		if (ev.receipt[0])
			memcpy(d->dialogue_id, d->rec_id, sizeof(d->dialogue_id));
		dr_evlog_emit(d->log, "receipt", ",\"id\":\"%s\",\"assigned\":%s", d->rec_id,
			      ev.receipt[0] ? "true" : "false");
	}
	drd_queue_event(d, ev);
}
