/* SPDX-License-Identifier: MIT */
#include "daemon.h"
#include "drd.h"
#include "liveness.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

#include "util/log.h"

void drd_queue_event(struct drd *d, struct dr_event ev)
{
	if (d->nqueue < QUEUE_MAX)
		d->queue[d->nqueue++] = ev;
	else
		DR_LOG_ERR(MOD, "event queue full, event %d dropped", ev.type);
}

void drd_log_error(struct drd *d, const char *what, const char *msg)
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
		drd_log_error(d, "speaker", m);
		/* the core's watchdog carries on without the speaker */
		d->play_token = 0;
		return;
	}
	d->play_token = token;
	d->play_prompt = p;
	dr_evlog_emit(d->log, "prompt", ",\"name\":\"%s\",\"samples\":%zu", dr_prompt_name(p), n);
}
static void carry_out(struct drd *d, const struct dr_action *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (a[i].type) {
		case DR_ACT_STATE:
			dr_evlog_emit(d->log, "state", ",\"from\":\"%s\",\"to\":\"%s\"",
				      dr_state_name(a[i].from), dr_state_name(a[i].to));
			if (a[i].to == DR_ST_IDLE && !d->prepared)
				drd_forget_key(d);
			break;
		case DR_ACT_LIGHT:
			dr_lights_set(d->lights, a[i].light);
			break;
		case DR_ACT_PLAY:
			do_play(d, a[i].prompt);
			break;
		case DR_ACT_PREPARE_RECORDING:
			/* a failure is reported when capture is due */
			drd_camera_choose(d, a[i].video);
			drd_prepare_start(d, a[i].capture_in_ms);
			break;
		case DR_ACT_STICK_BEGIN:
			d->want_stick = true;
			drd_idle_work(d);
			break;
		case DR_ACT_EXPIRE:
			d->want_expire = true;
			drd_idle_work(d);
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
			drd_camera_choose(d, a[i].video);
			drd_start_recording(d);
			break;
		case DR_ACT_STOP_RECORDING:
			drd_stop_recording(d, a[i].keep, a[i].reason);
			break;
		case DR_ACT_IGNORED_PRESS:
			/* "stick": staff have their stick in */
			dr_evlog_emit(d->log, "press_ignored", ",\"state\":\"%s\"",
				      a[i].stick ? "stick" : dr_state_name(dr_core_state(&d->core)));
			break;
		case DR_ACT_EXIT:
			d->quit = true;
			break;
		case DR_ACT_CONSENT:
			drd_consent(d, a[i].staff_yes, a[i].share_yes);
			break;
		case DR_ACT_PLAY_RECORDING:
			drd_play_recording(d);
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
void drd_run_queue(struct drd *d)
{
	while (d->nqueue) {
		struct dr_event e = d->queue[0];
		memmove(d->queue, d->queue + 1, (d->nqueue - 1) * sizeof(d->queue[0]));
		d->nqueue--;
		struct dr_action acts[DR_MAX_ACTIONS];
		uint32_t dropped = d->core.actions_dropped;
		size_t n = dr_core_step(&d->core, &e, dr_mono_ms(), acts);
		if (d->core.actions_dropped != dropped)
			drd_log_error(d, "core", "a step had more actions than DR_MAX_ACTIONS; some were lost");
		carry_out(d, acts, n);
	}
	arm_deadline(d);
}

void drd_feed(struct drd *d, struct dr_event ev)
{
	drd_queue_event(d, ev);
	drd_run_queue(d);
}

static void on_playback_done(struct drd *d)
{
	struct dr_playback_done done;
	while (dr_playback_collect(d->speaker, &done) == 0) {
		if (done.token & LISTEN_BIT) {
			drd_listen_chunk_done(d, &done);
			drd_run_queue(d); /* delivers DR_EV_LISTEN_DONE, if that was the last */
			continue;
		}
		if (done.status < 0 && done.status != -ECANCELED) {
			char m[128];
			snprintf(m, sizeof(m), "playback failed: %s", strerror(-done.status));
			drd_log_error(d, "speaker", m);
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
		drd_feed(d, (struct dr_event){.type = DR_EV_PROMPT_DONE, .prompt = d->play_prompt,
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
		drd_log_error(d, "button", m);
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
		if (edges[i].pressed)
			drd_camera_retry(d); /* a camera that came late: asked from this press */
		drd_feed(d, (struct dr_event){.type = edges[i].pressed ? DR_EV_PRESS : DR_EV_RELEASE});
	}
}

/* The box's running time, persisted (at a storage check at most once a
 * minute, to spare the SD card; before the retention rule; at shutdown): the
 * retention rule's clock, which no wall clock can move. A power cut loses at
 * most the last minute, so the box only ever under-counts its age. */
#define RUN_FLUSH_MS 60000u
void drd_flush_running(struct drd *d)
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
	drd_flush_running(d);
	d->last_expiry_ms = dr_mono_ms();
	int n = dr_store_expire_locked(d->store, d->s->retention_days, err, sizeof(err));
	if (n < 0)
		drd_log_error(d, "retention", err);
	else if (n > 0)
		dr_evlog_emit(d->log, "expired", ",\"count\":%d,\"retention_days\":%u", n,
			      d->s->retention_days);
}

void drd_idle_work(struct drd *d)
{
	if (d->prep_running)
		return; /* again when it is joined */
	if (d->want_expire) {
		d->want_expire = false;
		expire_locked(d);
	}
	if (d->want_stick) {
		d->want_stick = false;
		if (d->stick_present && !d->run && !d->stick)
			drd_stick_begin(d);
	}
}

static void check_storage(struct drd *d)
{
	uint64_t free_bytes;
	if (dr_mono_ms() - d->last_expiry_ms > 3600 * 1000) {
		/* due once an hour; the core runs it when the box is idle */
		d->last_expiry_ms = dr_mono_ms();
		drd_feed(d, (struct dr_event){.type = DR_EV_EXPIRY_DUE});
	}
	if (d->prep_running)
		return; /* the catalogue is the thread's: at the next check */
	if (dr_mono_ms() - d->last_run_flush_ms >= RUN_FLUSH_MS)
		drd_flush_running(d);
	drd_reserve_make(d);
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
	drd_feed(d, (struct dr_event){.type = low ? DR_EV_STORAGE_LOW : DR_EV_STORAGE_OK});
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
		drd_log_error(d, "heartbeat", m);
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
			.listen = {.fd = -1}, .prep_fd = -1, .cam_fd = -1, .cam_retry_fd = -1};
	int status = 0, r;

	r = open_fds(&d);
	if (r < 0) {
		fprintf(stderr, "diaryroomd: cannot set up signals and timers: %s\n", strerror(-r));
		drd_close_all(&d);
		return 1;
	}
	r = drd_liveness_open(s->heartbeat, &d.live);
	if (r < 0) {
		fprintf(stderr, "diaryroomd: cannot set up the heartbeat%s%s: %s\n",
			s->heartbeat[0] ? " " : "", s->heartbeat, strerror(-r));
		drd_close_all(&d);
		return 1;
	}
	if (drd_open_all(&d) < 0) {
		drd_close_all(&d);
		return 1;
	}
	/* The catalogue's slow work runs in its own thread; its id is told so a
	 * test can aim at exactly that thread (strace -p TID). Without it, the
	 * work is done on the loop: slower to answer, never wrong. */
	r = drd_catalogue_start(&d);
	if (r < 0) {
		char m[128];
		snprintf(m, sizeof(m), "cannot start the catalogue thread (%s); its work is done on the loop",
			 strerror(-r));
		drd_log_error(&d, "start", m);
	} else {
		dr_evlog_emit(d.log, "catalogue_thread", ",\"tid\":%d", (int)d.cat_tid);
	}

	struct dr_core_config cc = s->core;
	/* A room meant to have a camera; whether it is usable, the core hears
	 * as events (drd_camera_tell), starting just below. */
	cc.camera = s->cam.backend != DR_CAMERA_NONE;
	for (int p = 0; p < DR_PROMPT_COUNT; p++)
		cc.prompt_ms[p] = dr_prompts_ms(d.prompts, (enum dr_prompt)p);
	dr_core_init(&d.core, &cc, dr_mono_ms());
	struct dr_action acts[DR_MAX_ACTIONS];
	carry_out(&d, acts, dr_core_start(&d.core, dr_mono_ms(), acts));
	drd_camera_tell(&d); /* after the first try to open it (drd_open_all) */
	drd_run_queue(&d);
	{
		char b[PATH_MAX * 2], dd[PATH_MAX * 2];
		dr_evlog_emit(d.log, "ready", ",\"version\":\"%s\",\"board\":\"%s\",\"data\":\"%s\",\"pid\":%d",
			      DR_VERSION, dr_evlog_str(s->board_dir, b, sizeof(b)),
			      dr_evlog_str(s->data_dir, dd, sizeof(dd)), (int)getpid());
	}
	DR_LOG_INFO(MOD, "ready (board %s, data %s)", s->board_dir, s->data_dir);
	beat(&d, drd_liveness_ready(d.live));
	/* The start-up work that can wait for `ready` (each may sync the
	 * catalogue: seconds on a failing card), done before the loop reads its
	 * first event, so a press is never answered before it is done. The
	 * repair of interrupted recordings cannot wait: it is done before
	 * `ready` (drd_open_all), so no recording starts before it. */
	drd_seal_plain_recordings(&d);
	drd_feed(&d, (struct dr_event){.type = DR_EV_EXPIRY_DUE}); /* idle: applied now */
	check_storage(&d);

	enum { FD_SIG, FD_DEADLINE, FD_STORAGE, FD_BUTTON, FD_LIGHTS, FD_SPEAKER, FD_REC, FD_STICK, FD_LIVE, FD_PREP, FD_CAM, FD_COUNT };
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
		pfd[FD_CAM] = (struct pollfd){.fd = drd_camera_fd(&d), .events = POLLIN};
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
				drd_feed(&d, (struct dr_event){.type = DR_EV_SHUTDOWN});
			}
		}
		/* Presses first: a press made while a prompt was ending belongs to
		 * the state it was made in, not to the next question. */
		if (pfd[FD_BUTTON].revents & POLLIN)
			on_button(&d);
		if (pfd[FD_PREP].revents & POLLIN)
			drd_prep_done(&d);
		if (pfd[FD_CAM].revents & POLLIN) { /* before the recording's end: camera_off first */
			drd_camera_changed(&d);
			drd_run_queue(&d); /* DR_EV_CAMERA, if it came or went */
		}
		if (pfd[FD_REC].revents & POLLIN)
			drd_on_recording_done(&d);
		if (pfd[FD_SPEAKER].revents & POLLIN)
			on_playback_done(&d);
		if (pfd[FD_LIGHTS].revents & POLLIN)
			dr_lights_tick(d.lights);
		if (pfd[FD_DEADLINE].revents & POLLIN) {
			drain_fd(d.deadline_fd);
			drd_feed(&d, (struct dr_event){.type = DR_EV_TICK});
		}
		if (pfd[FD_STORAGE].revents & POLLIN) {
			drain_fd(d.storage_fd);
			check_storage(&d);
		}
		if (pfd[FD_STICK].revents & POLLIN) {
			drain_fd(d.stick_fd);
			drd_stick_poll(&d);
		}
		/* Only this loop beats: if it is stuck, the beats stop. */
		if (pfd[FD_LIVE].revents & POLLIN)
			beat(&d, drd_liveness_beat(d.live));
		if (d.run)
			drd_stick_step(&d);
	}
	dr_evlog_emit(d.log, "exit", ",\"status\":%d", status);
	drd_close_all(&d);
	return status;
}
