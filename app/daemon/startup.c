/* SPDX-License-Identifier: MIT */
#include "drd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "liveness.h"
#include "media/recover.h"
#include "util/log.h"

/* ---- results from the media threads ---- */

/* The room kept in the data folder for marking recordings in the catalogue
 * after the disk has filled up (media/recover.h): made while there is plenty
 * of room, released when the disk is full (free space below `below`;
 * UINT64_MAX: now). */
void drd_reserve_release(struct drd *d, uint64_t below)
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
		drd_log_error(d, "storage", m);
	}
}

void drd_reserve_make(struct drd *d)
{
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/%s", d->s->data_dir, DR_RESERVE_NAME);
	if (dr_reserve_make(p, DR_RESERVE_BYTES) > 0)
		dr_evlog_emit(d->log, "reserve", ",\"made\":true");
}

/* Repairs a recording cut off by a crash, a power failure or a full disk,
 * in place, by its kind. A sealed recording, sound (.opus.sealed) or video
 * (.mkv.sealed), is repaired without its key (truncated after its last
 * whole message: app/seal; a video's messages are its Matroska Clusters,
 * and each message's position is the sound's sample count, so samples is
 * the sound it keeps either way); a plain one from before sealing (sound
 * only, .opus) by the Ogg repair. -ENODATA: nothing to keep. */
int drd_repair_recording(const char *path, uint64_t *samples, uint64_t *dropped,
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
	if (n < 5 || strcmp(path + n - 5, ".opus"))
		return -ENOTSUP; /* only sound was ever kept in clear */
	struct dr_recover_result rr;
	int r = dr_recover_file(path, &rr);
	if (r == -ENOENT || r == -EINVAL)
		return -ENODATA;
	*samples = rr.samples;
	*dropped = rr.dropped_bytes;
	*was_complete = rr.was_complete;
	return r;
}

/* ---- start-up ---- */

struct pending_rec {
	char id[DR_STORE_ID_LEN + 1];
	char path[PATH_MAX];
	enum dr_media media;
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
	l->v[l->n].media = rec->media;
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
		r = drd_repair_recording(l.v[i].path, &samples, &dropped, &whole);
		if (r == 0) {
			uint64_t ms = samples * 1000 / DR_SAMPLE_RATE;
			if (dr_store_finish(d->store, l.v[i].id, DR_REC_INTERRUPTED, ms,
					    "cut off by a power failure or crash; repaired at start-up",
					    err, sizeof(err)) < 0) {
				char m[sizeof(err) + 160];
				snprintf(m, sizeof(m), "recording %s is repaired but cannot be marked in "
					 "the catalogue (%s); it is marked at the next start", l.v[i].id, err);
				drd_log_error(d, "recovery", m);
				continue;
			}
			dr_evlog_emit(d->log, "recovered",
				      ",\"id\":\"%s\",\"duration_ms\":%" PRIu64 ",\"dropped_bytes\":%" PRIu64
				      ",\"was_complete\":%s%s",
				      l.v[i].id, ms, dropped, whole ? "true" : "false",
				      l.v[i].media == DR_MEDIA_VIDEO ? ",\"media\":\"video\"" : "");
			DR_LOG_INFO(MOD, "recovered recording %s (%" PRIu64 " ms)", l.v[i].id, ms);
		} else if (r == -ENODATA) {
			/* Cut off before any audio reached the disk. */
			if (dr_store_discard(d->store, l.v[i].id,
					     "cut off before any audio was written; nothing to keep",
					     err, sizeof(err)) < 0)
				drd_log_error(d, "recovery", err);
			dr_evlog_emit(d->log, "recovered", ",\"id\":\"%s\",\"duration_ms\":0,\"empty\":true",
				      l.v[i].id);
		} else {
			snprintf(err, sizeof(err), "cannot repair %s: %s (left for the next start)",
				 l.v[i].path, strerror(-r));
			drd_log_error(d, "recovery", err);
		}
	}
	free(l.v);
	return 0;
}

/* Seals one recording kept in clear by a version from before sealing into
 * <id>.opus.sealed (via a temporary name, synced), then lets the catalogue
 * name it and delete the plain file. The key is made and dropped here: from
 * then on only the organisation's key opens it. */
static int seal_plain(struct drd *d, const char *id, const char *plain, uint64_t duration_ms,
		      char *err, size_t errlen)
{
	char sealed[PATH_MAX], tmp[PATH_MAX + 8];
	size_t n = strlen(plain);
	snprintf(sealed, sizeof(sealed), "%.*s.opus.sealed", (int)(n - 5), plain);
	snprintf(tmp, sizeof(tmp), "%s.tmp", sealed);
	unlink(tmp); /* a cut earlier */
	struct dr_seal_key *key = NULL;
	struct dr_sink file, sink;
	int in = open(plain, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	int r = in < 0 ? -errno : dr_seal_key_new(&key);
	if (r == 0)
		r = dr_file_sink_open(tmp, NULL, &file);
	if (r == 0)
		r = dr_seal_sink_new(file, id, d->org_pk, key, &sink);
	dr_seal_key_free(key);
	if (r < 0) {
		snprintf(err, errlen, "cannot seal %s: %s", plain, strerror(-r));
		if (in >= 0)
			close(in);
		return r;
	}
	unsigned char buf[65536];
	ssize_t got;
	while (r == 0 && (got = read(in, buf, sizeof(buf))) != 0) {
		if (got < 0)
			r = errno == EINTR ? 0 : -errno;
		else if ((r = sink.ops->write(sink.user, buf, (size_t)got)) == 0)
			r = sink.ops->sync(sink.user); /* one message per 64 KiB */
	}
	close(in);
	explicit_bzero(buf, sizeof(buf));
	if (r == 0)
		(void)sink.ops->position(sink.user, duration_ms * (DR_SAMPLE_RATE / 1000));
	int c = sink.ops->close(sink.user); /* the FINAL message, synced */
	if (r == 0)
		r = c;
	if (r == 0 && rename(tmp, sealed) < 0)
		r = -errno;
	if (r == 0)
		r = dr_sync_parent_dir(sealed);
	if (r < 0) {
		unlink(tmp);
		snprintf(err, errlen, "cannot seal %s: %s", plain, strerror(-r));
		return r;
	}
	return dr_store_replace_plain(d->store, id, err, errlen);
}

struct plain_list {
	char (*id)[DR_STORE_ID_LEN + 1];
	uint64_t *ms;
	size_t n;
};

static int collect_held(void *user, const struct dr_store_export_rec *x)
{
	struct plain_list *l = user;
	void *a = realloc(l->id, (l->n + 1) * sizeof(*l->id));
	if (!a)
		return -ENOMEM;
	l->id = a;
	void *b = realloc(l->ms, (l->n + 1) * sizeof(*l->ms));
	if (!b)
		return -ENOMEM;
	l->ms = b;
	memcpy(l->id[l->n], x->rec.id, sizeof(l->id[l->n]));
	l->ms[l->n] = x->rec.duration_ms;
	l->n++;
	return 0;
}

/* A box upgraded from a version before sealing: every recording it still
 * holds in clear is sealed to the organisation now, so nothing readable is
 * left on its card, and it can go to a staff stick (which takes only sealed
 * recordings). Needs the organisation's key; a failure leaves the plain file
 * as it was, for the next start. */
void drd_seal_plain_recordings(struct drd *d)
{
	struct plain_list l = {0};
	char err[PATH_MAX + 256], plain[PATH_MAX];
	if (!d->have_org || dr_store_export_each(d->store, collect_held, &l) < 0) {
		free(l.id);
		free(l.ms);
		return;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (dr_store_plain_path(d->store, l.id[i], plain, sizeof(plain)) < 0)
			continue;
		if (seal_plain(d, l.id[i], plain, l.ms[i], err, sizeof(err)) < 0)
			drd_log_error(d, "seal", err);
		else
			dr_evlog_emit(d->log, "sealed_plain", ",\"id\":\"%s\"", l.id[i]);
	}
	free(l.id);
	free(l.ms);
}

int drd_open_all(struct drd *d)
{
	const struct drd_settings *s = d->s;
	char err[1024];
	int r;

	r = dr_evlog_open(s->event_log[0] ? s->event_log : NULL, &d->log);
	if (r < 0) {
		fprintf(stderr, "diaryroomd: cannot open event log %s: %s\n", s->event_log, strerror(-r));
		return r;
	}
	drd_reserve_release(d, DR_RESERVE_BYTES); /* only if the disk is full */
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
		drd_log_error(d, "seal", m);
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
		drd_log_error(d, "prompts", dr_prompts_warning(d->prompts));
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
	r = drd_camera_open(d);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot set up the camera's events: %s", strerror(-r));
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
			drd_log_error(d, "export", m);
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

void drd_close_all(struct drd *d)
{
	drd_catalogue_stop(d);
	if (d->store)
		drd_unprepare_recording(d, "stopped before recording began; nothing was recorded");
	if (d->speaker)
		dr_playback_stop(d->speaker);
	dr_button_free(d->button);
	dr_lights_free(d->lights);
	dr_recorder_free(d->rec); /* finalises a recording still open */
	if (d->rec_sound != d->rec)
		dr_recorder_free(d->rec_sound);
	if (d->rec_av != d->rec)
		dr_recorder_free(d->rec_av);
	d->rec = d->rec_sound = d->rec_av = NULL;
	drd_camera_close(d);
	dr_seal_key_free(d->rec_key);
	d->rec_key = NULL;
	dr_capture_free(d->mic);
	dr_playback_free(d->speaker);
	drd_listen_close(d);
	dr_prompts_free(d->prompts);
	if (d->store)
		drd_flush_running(d);
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
