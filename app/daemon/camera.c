/* SPDX-License-Identifier: MIT */
/*
 * The room's camera, for the daemon (see drd.h and docs/video.md):
 *
 * - opened at start from the board file's [camera]; a camera that cannot be
 *   opened leaves the box recording sound only (an event and a log line say
 *   so; the box does not refuse to start);
 * - the core knows the room is meant to have a camera (cfg.camera: the
 *   board file names one) and hears whether it is usable as events
 *   (DR_EV_CAMERA, drd_camera_tell): at start after the first try, when a
 *   missing camera opens, when one fails or is unplugged. While it is not
 *   usable, the box says so after the welcome and nobody is asked;
 * - a second recorder, given the camera, records the videos; the sound-only
 *   recorder stays as it was, so a sound recording is byte for byte what a
 *   box without a camera makes. The camera streams only while that
 *   recorder records (it starts and stops the camera with each recording);
 * - the camera's own moments (streaming, stopped, failed), told from the
 *   recorder's camera thread through dr_camera_watch, come to the loop
 *   through an eventfd with the time they happened: the camera light
 *   follows them exactly, and the events camera_on, camera_off and
 *   camera_lost carry those times;
 * - a camera that is not there at start (-ENODEV: its driver loads after
 *   `ready`, or it is plugged in later) is tried again while the box is
 *   idle: at a press before the welcome and every DRD_CAM_RETRY_S; the
 *   first time it opens, the event camera ("late":true) says so and from
 *   then on residents are asked;
 * - a camera that fails or is unplugged (found when a recording starts it
 *   or reads from it: nothing watches an idle camera) is told to the core
 *   at once, released once the box is idle, and looked for again in the
 *   same way (camera, "late":true,"again":true when it is back).
 */
#include "drd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/log.h"

/* On the recorder's camera thread: queue the change, wake the loop. */
static void on_change(void *user, enum dr_camera_change what, int err)
{
	struct drd *d = user;
	uint64_t one = 1;
	pthread_mutex_lock(&d->cam_lock);
	if (d->cam_nchanges < DRD_CAM_CHANGES)
		d->cam_changes[d->cam_nchanges++] =
			(struct drd_cam_change){.what = what, .err = err, .t_us = dr_mono_us()};
	pthread_mutex_unlock(&d->cam_lock);
	while (write(d->cam_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Opens the camera and its recorder. 0, or -errno with err saying why. */
static int camera_try(struct drd *d, char *err, size_t errlen)
{
	const struct drd_settings *s = d->s;
	err[0] = '\0';
	int r = dr_camera_open(&s->cam, &d->cam, err, errlen);
	if (r == 0 && d->cam) {
		struct dr_recorder_params p = s->rec;
		p.camera = d->cam;
		p.video_budget = (size_t)s->cam.queue_mib << 20;
		r = dr_recorder_new(d->mic, &p, &d->rec_av);
		if (r < 0)
			snprintf(err, errlen, "camera: cannot set up the video recorder: %s", strerror(-r));
	} else if (r == 0) {
		r = -ENODEV;
	}
	if (r < 0) {
		dr_camera_free(d->cam);
		d->cam = NULL;
		if (!err[0])
			snprintf(err, errlen, "camera: %s", strerror(-r));
		return r;
	}
	dr_camera_watch(d->cam, on_change, d);
	return 0;
}

/* Looks for a missing camera every DRD_CAM_RETRY_S from now on. */
static void await_camera(struct drd *d)
{
	if (d->cam_retry_fd >= 0)
		return;
	d->cam_retry_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct itimerspec its = {.it_interval = {.tv_sec = DRD_CAM_RETRY_S},
				 .it_value = {.tv_sec = DRD_CAM_RETRY_S}};
	if (d->cam_retry_fd >= 0)
		timerfd_settime(d->cam_retry_fd, 0, &its, NULL);
}

static void stop_awaiting(struct drd *d)
{
	if (d->cam_retry_fd >= 0)
		close(d->cam_retry_fd);
	d->cam_retry_fd = -1;
}

/* Not there (yet): worth looking for again. Anything else (no format the
 * box can use) will not mend itself. */
static bool may_appear(int err)
{
	return err == -ENODEV || err == -ENOENT;
}

void drd_camera_tell(struct drd *d)
{
	if (d->s->cam.backend == DR_CAMERA_NONE)
		return;
	bool ok = d->cam && !d->cam_broken;
	drd_queue_event(d, (struct dr_event){.type = DR_EV_CAMERA,
					     .status = ok ? 0 : d->cam_err < 0 ? d->cam_err : -ENODEV});
}

static void camera_opened(struct drd *d, bool late, bool again)
{
	char n[700];
	enum dr_pixfmt f;
	unsigned w, h, fps;
	dr_camera_format(d->cam, &f, &w, &h, &fps);
	dr_evlog_emit(d->log, "camera",
		      ",\"name\":\"%s\",\"format\":\"%s\",\"width\":%u,\"height\":%u,\"fps\":%u,\"late\":%s%s",
		      dr_evlog_str(dr_camera_name(d->cam), n, sizeof(n)), dr_pixfmt_name(f), w, h, fps,
		      late ? "true" : "false", again ? ",\"again\":true" : "");
	DR_LOG_INFO(MOD, "camera %s: %s %ux%u at %u fps%s", dr_camera_name(d->cam), dr_pixfmt_name(f), w,
		    h, fps,
		    again  ? " (back after it was lost: residents are asked again)"
		    : late ? " (plugged in after start: residents are asked from now on)"
			   : "");
}

int drd_camera_open(struct drd *d)
{
	const struct drd_settings *s = d->s;
	char err[1024], m[1200], n[700];

	d->rec_sound = d->rec;
	if (s->cam.backend == DR_CAMERA_NONE)
		return 0;
	d->cam_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->cam_fd < 0)
		return -errno;
	if (pthread_mutex_init(&d->cam_lock, NULL) != 0)
		return -ENOMEM;
	d->cam_lock_made = true;
	int r = camera_try(d, err, sizeof(err));
	d->cam_err = r;
	if (r == 0) {
		camera_opened(d, false, false);
		return 0;
	}
	/* Sound only: the box records as in a room without a camera. Told
	 * once; a camera that is not there yet (its driver loads after the
	 * box is ready, or it is plugged in later) is looked for again while
	 * the box is idle, silently. */
	bool awaited = may_appear(r);
	snprintf(m, sizeof(m), "the camera cannot be used, so the box records sound only%s: %s",
		 awaited ? " until it appears" : "", err);
	DR_LOG_WARN(MOD, "%s", m);
	dr_evlog_emit(d->log, "camera_unavailable", ",\"error\":%d,\"message\":\"%s\"", r,
		      dr_evlog_str(m, n, sizeof(n)));
	if (awaited)
		await_camera(d);
	return 0;
}

/* The camera failed: its recorder and handle go (no recording uses them:
 * the box is idle), so it can be opened afresh. */
static void camera_release(struct drd *d)
{
	uint64_t v;
	if (d->rec == d->rec_av)
		d->rec = d->rec_sound;
	dr_recorder_free(d->rec_av);
	d->rec_av = NULL;
	dr_camera_free(d->cam);
	d->cam = NULL;
	d->cam_broken = false;
	pthread_mutex_lock(&d->cam_lock);
	d->cam_nchanges = 0;
	pthread_mutex_unlock(&d->cam_lock);
	while (read(d->cam_fd, &v, sizeof(v)) > 0)
		;
}

void drd_camera_retry(struct drd *d)
{
	char err[1024];
	if ((d->cam && !d->cam_broken) || d->cam_retry_fd < 0 ||
	    dr_core_state(&d->core) != DR_ST_IDLE || d->prepared || d->prep_running || d->rec_active)
		return;
	if (d->cam_broken)
		camera_release(d);
	int r = camera_try(d, err, sizeof(err));
	if (r < 0) {
		d->cam_err = r; /* told when it was found; not again at every try */
		if (!may_appear(r) && r != -EIO) /* -EIO: a reopen may mend it */
			stop_awaiting(d);
		return;
	}
	stop_awaiting(d);
	d->cam_err = 0;
	camera_opened(d, true, d->cam_lost);
	d->cam_lost = false;
	drd_camera_tell(d); /* idle: the next resident is asked */
}

int drd_camera_fd(const struct drd *d)
{
	/* a failed camera's last changes are read when its recording ends */
	return d->cam && !d->cam_broken ? d->cam_fd : d->cam_retry_fd;
}

void drd_camera_choose(struct drd *d, bool video)
{
	if (d->prepared || (d->prep_running && d->prep_job == DRD_JOB_PREPARE))
		return; /* the file is made: its kind is chosen */
	d->rec_video = video && d->cam && !d->cam_broken;
}

void drd_camera_warm(struct drd *d)
{
	if (d->rec_video && d->rec_av && !d->cam_broken)
		(void)dr_recorder_warm(d->rec_av); /* failing that, it starts with the recording */
}

void drd_camera_cool(struct drd *d)
{
	dr_recorder_cool(d->rec_av);
}

struct dr_recorder *drd_camera_recorder(struct drd *d)
{
	return d->rec_video && d->rec_av ? d->rec_av : d->rec_sound;
}

static void set_light(struct drd *d, bool on)
{
	d->cam_light = on;
	dr_lights_camera(d->lights, on);
}

void drd_camera_changed(struct drd *d)
{
	struct drd_cam_change ch[DRD_CAM_CHANGES];
	size_t n;
	char m[256], e[300];
	uint64_t v;

	if (d->cam_retry_fd >= 0) {
		while (read(d->cam_retry_fd, &v, sizeof(v)) > 0)
			;
		drd_camera_retry(d);
	}
	if (!d->cam || d->cam_fd < 0)
		return;
	while (read(d->cam_fd, &v, sizeof(v)) > 0)
		;
	pthread_mutex_lock(&d->cam_lock);
	n = d->cam_nchanges;
	memcpy(ch, d->cam_changes, n * sizeof(ch[0]));
	d->cam_nchanges = 0;
	pthread_mutex_unlock(&d->cam_lock);
	for (size_t i = 0; i < n; i++) {
		switch (ch[i].what) {
		case DR_CAMERA_STREAMING:
			set_light(d, true);
			dr_evlog_emit_at(d->log, ch[i].t_us, "camera_on", ",\"id\":\"%s\"", d->rec_id);
			break;
		case DR_CAMERA_STOPPED:
			if (!d->cam_light)
				break; /* failed earlier: already off and told */
			set_light(d, false);
			dr_evlog_emit_at(d->log, ch[i].t_us, "camera_off", ",\"id\":\"%s\"", d->rec_id);
			break;
		case DR_CAMERA_FAILED:
			/* Unplugged or failed: the sound carries on to the stop. */
			if (d->cam_light)
				set_light(d, false);
			snprintf(m, sizeof(m), "the camera %s during recording %s (%s); the sound carries on",
				 ch[i].err == -ENODEV ? "was unplugged" : "failed", d->rec_id,
				 strerror(-ch[i].err));
			DR_LOG_WARN(MOD, "%s", m);
			dr_evlog_emit_at(d->log, ch[i].t_us, "camera_lost",
					 ",\"id\":\"%s\",\"error\":%d,\"message\":\"%s\"", d->rec_id, ch[i].err,
					 dr_evlog_str(m, e, sizeof(e)));
			/* Nothing is said now; the next resident is told it
			 * cannot be used until it is back. */
			if (!d->cam_broken) {
				d->cam_broken = d->cam_lost = true;
				d->cam_err = ch[i].err < 0 ? ch[i].err : -EIO;
				drd_camera_tell(d);
				await_camera(d);
			}
			break;
		}
	}
	if (n == DRD_CAM_CHANGES)
		DR_LOG_WARN(MOD, "camera: more changes than the loop could keep; some were not logged");
}

void drd_camera_recorded(struct drd *d, const struct dr_recording_result *res)
{
	drd_camera_changed(d); /* its camera_off comes before what follows */
	if (!res->video)
		return;
	if (res->video_dropped)
		DR_LOG_WARN(MOD, "recording %s: %" PRIu64 " video frames dropped (the storage was slow)",
			    d->rec_id, res->video_dropped);
	dr_evlog_emit(d->log, "video_finalised",
		      ",\"id\":\"%s\",\"frames\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"camera_gaps\":%" PRIu64
		      ",\"queue_high_water\":%zu,\"camera_lost\":%s,\"camera_error\":%d",
		      d->rec_id, res->video_frames, res->video_dropped, res->video_gaps, res->video_high_water,
		      res->camera_lost ? "true" : "false", res->camera_err);
}

void drd_camera_close(struct drd *d)
{
	/* After the recorders and the lights (which turn the camera light
	 * off) are freed: no camera thread runs now. */
	dr_camera_free(d->cam);
	d->cam = NULL;
	if (d->cam_fd >= 0)
		close(d->cam_fd);
	d->cam_fd = -1;
	stop_awaiting(d);
	if (d->cam_lock_made)
		pthread_mutex_destroy(&d->cam_lock);
	d->cam_lock_made = false;
}
