/* SPDX-License-Identifier: MIT */
/*
 * The recorder's picture: the camera thread (grab, encode, queue) and the
 * writer's Matroska side (Opus packets and video packets interleaved by
 * timestamp on the sound's timeline). See recorder.h.
 *
 * Hand-offs: coded frames go through dr_vqueue (a byte budget; a frame that
 * does not fit is dropped and counted, and the encoder is told to make the
 * next one a key frame, so nothing in the file refers to a lost frame);
 * "a frame is there" and "the camera thread has ended" post the writer's
 * `wake` semaphore like the sound does; `video_done` (release/acquire)
 * publishes the camera thread's counters.
 */
#include "recorder_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev/camera.h"
#include "mkv.h"
#include "opusenc.h"

/* H.264 from the camera: how long the file's headers may wait for the
 * camera's first key frame with its parameter sets (a camera starts with
 * one, or gives one when asked, or within its GOP, 2 s on most). */
#define DR_H264_KEY_WAIT_MS 3000
#define DR_VQUEUE_SLOTS 4096 /* 2 min at 30 fps (160 KiB of slots): the byte budget binds first */

int dr_rec_video_new(struct dr_recorder *r)
{
	if (!r->p.video_budget)
		return -EINVAL;
	int err = dr_vqueue_new(r->p.video_budget, DR_VQUEUE_SLOTS, &r->vq);
	if (err)
		return err;
	err = dr_avclock_init(&r->clock, DR_SAMPLE_RATE);
	if (err) {
		dr_vqueue_free(r->vq);
		r->vq = NULL;
	}
	return err;
}

void dr_rec_video_free(struct dr_recorder *r)
{
	if (!r->vq)
		return;
	dr_vqueue_free(r->vq);
	r->vq = NULL;
	dr_avclock_destroy(&r->clock);
}

int dr_rec_video_prepare(struct dr_recorder *r)
{
	enum dr_pixfmt fmt;
	unsigned w, h, fps;
	dr_camera_format(r->p.camera, &fmt, &w, &h, &fps);
	dr_vqueue_clear(r->vq);
	dr_avclock_reset(&r->clock);
	r->video_started = false;
	atomic_store(&r->video_done, false);
	atomic_store(&r->want_key, false);
	atomic_store(&r->video_abandon, 0);
	r->key_asked = r->lead_in = false;
	r->v_grabbed = r->v_dropped = r->v_gaps = 0;
	r->camera_err = 0;
	return dr_videnc_new(fmt, w, h, fps ? fps : 15, r->p.video_kbps, &r->venc);
}

void dr_rec_video_clear(struct dr_recorder *r)
{
	if (r->video_started) {
		pthread_join(r->video_thread, NULL);
		r->video_started = false;
	}
	dr_videnc_free(r->venc);
	r->venc = NULL;
	if (r->vq)
		dr_vqueue_clear(r->vq);
}

/* A frame was lost: what follows must not refer to it. The software
 * encoder is told; a camera's H.264 is asked once for a key frame (where
 * it cannot, its own next one comes within its GOP), when there is room
 * to keep it: while the queue is full the key frame asked for would be
 * dropped too, so a frame dropped for room forgets the question. */
static void need_key_now(struct dr_recorder *r, bool *need_key, bool h264, bool room)
{
	*need_key = true;
	if (!room)
		r->key_asked = false;
	else if (h264 && !r->key_asked && dr_camera_force_key(r->p.camera) != -ENOTSUP)
		r->key_asked = true;
}

/* One grabbed frame into the queue, or counted as dropped. Returns 0, or
 * the -errno that ends the picture (H.264 whose parameters changed). */
static int video_frame(struct dr_recorder *r, struct dr_frame *f, bool *need_key, size_t *last_len)
{
	bool pass = dr_videnc_passthrough(r->venc);
	/* Skip the encoder's work for a frame that could not be kept anyway. */
	if (!dr_vqueue_room(r->vq, pass ? f->len : *last_len)) {
		r->v_dropped++;
		need_key_now(r, need_key, f->format == DR_PIX_H264, false);
		return 0;
	}
	if (atomic_exchange_explicit(&r->want_key, false, memory_order_relaxed)) {
		/* the writer left out frames from before the first sample: the
		 * picture starts at the next key frame; what waits for it is not
		 * in the recording, so not counted */
		r->lead_in = true;
		need_key_now(r, need_key, f->format == DR_PIX_H264, true);
	}
	if (*need_key)
		dr_videnc_force_key(r->venc);
	unsigned char *data;
	size_t len;
	bool key;
	int err = dr_videnc_frame(r->venc, f, &data, &len, &key);
	if (err == -EPROTO)
		return err;
	if (err) { /* H.264 before its first key frame, damaged, or the encoder failed */
		if (!(r->lead_in && err == -EAGAIN))
			r->v_dropped++;
		need_key_now(r, need_key, f->format == DR_PIX_H264, true);
		return 0;
	}
	if (!len)
		return 0; /* the encoder skipped it; parameter sets alone */
	struct dr_vpacket p = {.t_ns = f->t_ns, .seq = f->seq, .key = key, .len = len, .data = data};
	if (*need_key && !key) {
		free(data);
		if (!r->lead_in)
			r->v_dropped++;
		need_key_now(r, need_key, f->format == DR_PIX_H264, true);
		return 0;
	}
	if (!dr_vqueue_push(r->vq, &p)) {
		free(data);
		r->v_dropped++;
		need_key_now(r, need_key, f->format == DR_PIX_H264, false);
		return 0;
	}
	*need_key = false;
	if (key)
		r->key_asked = r->lead_in = false;
	*last_len = len;
	return 0;
}

/* Before the recording (dr_recorder_warm): the camera's H.264 goes
 * through the encoder only so that it learns the parameter sets; nothing
 * is kept. -EPROTO (they changed) ends the picture as in a recording. */
static int warm_frame(struct dr_recorder *r, const struct dr_frame *f)
{
	unsigned char *data;
	size_t len;
	bool key;
	int err = dr_videnc_frame(r->venc, f, &data, &len, &key);
	free(data);
	return err == -EPROTO ? err : 0;
}

int dr_rec_video_warm(struct dr_recorder *r)
{
	enum dr_pixfmt fmt;
	unsigned w, h, fps;
	dr_camera_format(r->p.camera, &fmt, &w, &h, &fps);
	if (fmt != DR_PIX_H264)
		return 0; /* the headers never wait for other cameras */
	int err = dr_rec_video_prepare(r);
	if (err)
		goto err_clear;
	atomic_store(&r->stop, false);
	atomic_store_explicit(&r->warming, true, memory_order_release);
	err = -pthread_create(&r->video_thread, NULL, dr_rec_video_main, r);
	if (err)
		goto err_clear;
	pthread_setname_np(r->video_thread, "dr-camera");
	r->video_started = r->warm = true;
	return 0;

err_clear:
	atomic_store(&r->warming, false);
	dr_rec_video_clear(r);
	return err;
}

void dr_rec_video_cool(struct dr_recorder *r)
{
	atomic_store(&r->stop, true);
	dr_rec_video_clear(r); /* joins the camera thread, which stops the camera */
	atomic_store(&r->stop, false);
	atomic_store(&r->warming, false);
	atomic_store(&r->video_done, true);
	r->warm = false;
}

void *dr_rec_video_main(void *arg)
{
	struct dr_recorder *r = arg;
	struct dr_camera *cam = r->p.camera;
	int err = dr_camera_start(cam);
	if (err) {
		r->camera_err = err;
		goto out_signal;
	}
	uint64_t gaps0 = dr_camera_dropped(cam);
	bool need_key = false, warming = atomic_load_explicit(&r->warming, memory_order_acquire);
	size_t last_len = 1;
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		struct dr_frame *f = NULL;
		if (warming && !atomic_load_explicit(&r->warming, memory_order_acquire)) {
			warming = false; /* the recording started: count from here */
			gaps0 = dr_camera_dropped(cam);
		}
		err = atomic_load_explicit(&r->video_abandon, memory_order_relaxed);
		if (err) /* the writer gave up on the picture (no key frame in time) */
			goto out_failed;
		err = dr_camera_read(cam, &f);
		if (err == -EAGAIN || err == -EINTR)
			continue;
		if (err) {
			r->camera_err = err; /* unplugged, or failed: the sound goes on */
			break;
		}
		if (warming) {
			err = warm_frame(r, f);
		} else {
			r->v_grabbed++;
			err = video_frame(r, f, &need_key, &last_len);
			sem_post(&r->wake);
		}
		dr_frame_unref(f);
		if (err) /* a warm frame refused, or the stream changed its parameters:
			  * the picture ends; the sound goes on */
			goto out_failed;
	}
	goto out_stop;

out_failed:
	r->camera_err = err;
	dr_camera_fail(cam, err);
out_stop:
	r->v_gaps = dr_camera_dropped(cam) - gaps0;
	dr_camera_stop(cam);
out_signal:
	atomic_store_explicit(&r->video_done, true, memory_order_release);
	sem_post(&r->wake);
	return NULL;
}

/* ---- the writer's side ---- */

struct dr_avwriter {
	struct dr_recorder *r;
	struct dr_container c;
	struct dr_opusenc *enc;
	int vtrack;
	uint32_t preskip;
	uint64_t synced, flush_samples;
	uint64_t audio_ns;   /* file time the sound written so far reaches */
	int64_t last_vms;    /* last video block's ms, -1 none */
	uint64_t frames;     /* video packets written */
	uint64_t skipped;    /* left out waiting for a key frame (counted as dropped) */
	bool need_key;       /* a packet was not written: wait for a key frame */
	int err;
};

static int avw_fail(struct dr_avwriter *w, int err)
{
	if (!w->err)
		w->err = err;
	return w->err;
}

/* Writes queued video packets whose time on the sound's timeline is at
 * or before `until_ns`; with discard_rest, the later ones are thrown
 * away (after the end of the sound). Frames grabbed before the first
 * sample are not in the recording: left out, not counted as dropped. */
static int write_video_until(struct dr_avwriter *w, uint64_t until_ns, bool discard_rest)
{
	struct dr_vpacket vp;
	if (w->vtrack < 0) { /* no video track: nothing of the picture is written */
		while (dr_vqueue_peek(w->r->vq, &vp))
			dr_vqueue_pop(w->r->vq);
		return w->err;
	}
	while (!w->err && dr_vqueue_peek(w->r->vq, &vp)) {
		double s;
		if (dr_avclock_map(&w->r->clock, vp.t_ns, &s) < 0)
			return 0; /* no sound yet: wait */
		if (s < 0) { /* before the first sample: not in the recording */
			dr_vqueue_pop(w->r->vq);
			if (!w->frames && !w->need_key) {
				w->need_key = true;
				atomic_store_explicit(&w->r->want_key, true, memory_order_relaxed);
			}
			continue;
		}
		uint64_t ns = (uint64_t)(s * (1e9 / DR_SAMPLE_RATE));
		if (ns > until_ns) {
			if (!discard_rest)
				return 0;
			dr_vqueue_pop(w->r->vq);
			continue;
		}
		if (w->need_key && !vp.key) { /* refers to a frame not written */
			dr_vqueue_pop(w->r->vq);
			if (w->frames) /* a gap; before the first, the picture just starts later */
				w->skipped++;
			continue;
		}
		/* Strictly increasing at the file's 1 ms scale. */
		int64_t ms = (int64_t)(ns / 1000000u);
		if (ms <= w->last_vms) {
			ms = w->last_vms + 1;
			ns = (uint64_t)ms * 1000000u;
		}
		struct dr_packet p = {
			.track = (unsigned)w->vtrack,
			.pts = ns,
			.duration = 0,
			.key = vp.key,
			.data = vp.data,
			.len = vp.len,
		};
		int err = dr_container_write(w->c, &p);
		dr_vqueue_pop(w->r->vq);
		if (err)
			return avw_fail(w, err);
		w->need_key = false;
		w->last_vms = ms;
		w->frames++;
	}
	return w->err;
}

static int avw_flush(struct dr_avwriter *w)
{
	int err = dr_container_flush(w->c, dr_opusenc_position(w->enc));
	if (err)
		return avw_fail(w, err);
	w->synced = dr_opusenc_encoded(w->enc);
	return 0;
}

/* Each Opus packet: the picture up to its start first, then the packet;
 * a durable flush (one Cluster) every flush_ms of sound. */
static int on_audio(void *user, const struct dr_packet *p)
{
	struct dr_avwriter *w = user;
	uint64_t start = p->pts > w->preskip ? p->pts - w->preskip : 0;
	int err = write_video_until(w, start * 1000000000u / DR_SAMPLE_RATE, false);
	if (!err)
		err = dr_container_write(w->c, p);
	if (err)
		return avw_fail(w, err);
	uint64_t end = p->pts + p->duration;
	end = end > w->preskip ? end - w->preskip : 0;
	w->audio_ns = end * 1000000000u / DR_SAMPLE_RATE;
	if (!p->last && dr_opusenc_encoded(w->enc) - w->synced >= w->flush_samples)
		return avw_flush(w);
	return 0;
}

/* H.264 from the camera: the track's CodecPrivate comes with the first
 * key frame, and the headers are written once, so the writer waits for it
 * here, before anything is written, at most DR_H264_KEY_WAIT_MS from the
 * start (the sound meanwhile waits in its ring, which holds 16 s). 0, or
 * -ETIMEDOUT (no key frame with its parameter sets in time), or the
 * camera thread's error (it ended first: unplugged, failed, or the
 * recording stopped). */
static int wait_video_track(struct dr_recorder *r)
{
	struct timespec now, until;
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t deadline = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec +
			    (uint64_t)DR_H264_KEY_WAIT_MS * 1000000u;
	while (!dr_videnc_ready(r->venc)) {
		if (atomic_load_explicit(&r->video_done, memory_order_acquire))
			return r->camera_err ? r->camera_err : -ENODATA;
		clock_gettime(CLOCK_MONOTONIC, &now);
		uint64_t t = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
		if (t >= deadline)
			return -ETIMEDOUT;
		/* woken by every frame and every 10 ms of sound; 50 ms at most */
		t = t + 50000000u < deadline ? t + 50000000u : deadline;
		until.tv_sec = (time_t)(t / 1000000000u);
		until.tv_nsec = (long)(t % 1000000000u);
		(void)sem_clockwait(&r->wake, CLOCK_MONOTONIC, &until);
	}
	return 0;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

int dr_avwriter_new(struct dr_recorder *r, struct dr_avwriter **out)
{
	struct dr_avwriter *w = calloc(1, sizeof(*w));
	if (!w) {
		r->sink.ops->close(r->sink.user);
		return -ENOMEM;
	}
	w->r = r;
	w->last_vms = -1;
	w->flush_samples = (uint64_t)DR_SAMPLE_RATE / 1000 * r->p.enc.flush_ms;
	struct dr_mkv_params mp = {.app = NULL, .uid_seed = fnv1a(r->recording_id)};
	int err = dr_mkv_new(r->sink, &mp, &w->c); /* owns the sink from here */
	if (err)
		goto err_free;
	struct dr_opusenc_params ep = {
		.bitrate = r->p.enc.bitrate,
		.complexity = r->p.enc.complexity,
		.frame_ms = r->p.enc.frame_ms,
	};
	err = dr_opusenc_new(&ep, on_audio, w, &w->enc);
	if (err)
		goto err_free;
	unsigned char head[DR_OPUS_HEAD_LEN];
	dr_opusenc_head(w->enc, head);
	w->preskip = dr_opusenc_preskip(w->enc);
	struct dr_track at = {
		.kind = DR_TRACK_AUDIO,
		.codec = "A_OPUS",
		.codec_private = head,
		.codec_private_len = sizeof(head),
		.rate = DR_OPUS_RATE,
		.channels = 1,
		.delay = w->preskip,
		.seek_preroll_ns = 80000000u,
	};
	err = dr_container_add_track(w->c, &at);
	if (err < 0)
		goto err_free;
	int verr = wait_video_track(r);
	if (verr) {
		/* No picture to describe: the file is the sound alone, and the
		 * camera thread ends the picture (its watcher hears why). */
		w->vtrack = -1;
		atomic_store_explicit(&r->video_abandon, verr, memory_order_relaxed);
	} else {
		w->vtrack = dr_container_add_track(w->c, dr_videnc_track(r->venc));
		if (w->vtrack < 0) {
			err = w->vtrack;
			goto err_free;
		}
	}
	err = avw_flush(w); /* the headers, durable before the first sound */
	if (err)
		goto err_free;
	*out = w;
	return 0;

err_free:
	dr_avwriter_free(w);
	return err;
}

int dr_avwriter_write(struct dr_avwriter *w, const int16_t *pcm, size_t n)
{
	if (w->err)
		return w->err;
	int err = dr_opusenc_write(w->enc, pcm, n);
	return err ? avw_fail(w, err) : 0;
}

int dr_avwriter_video(struct dr_avwriter *w)
{
	return write_video_until(w, w->audio_ns, false);
}

int dr_avwriter_finish(struct dr_avwriter *w)
{
	int err = w->err;
	if (!err)
		err = dr_opusenc_finish(w->enc);
	/* The picture up to the end of the sound; frames after it are not
	 * in the recording. */
	if (!err)
		err = write_video_until(w, w->audio_ns, true);
	if (!err)
		err = avw_flush(w);
	return dr_container_finish(w->c, err);
}

uint64_t dr_avwriter_samples(const struct dr_avwriter *w)
{
	return dr_opusenc_accepted(w->enc);
}

void dr_avwriter_result(const struct dr_avwriter *w, struct dr_recording_result *res)
{
	const struct dr_recorder *r = w->r;
	res->video = true;
	res->camera_err = r->camera_err;
	res->camera_lost = r->camera_err != 0;
	res->video_frames = w->frames;
	res->video_dropped = r->v_dropped + w->skipped;
	res->video_gaps = r->v_gaps;
	res->video_high_water = dr_vqueue_high_water(r->vq);
}

void dr_avwriter_free(struct dr_avwriter *w)
{
	if (!w)
		return;
	dr_container_free(w->c);
	dr_opusenc_free(w->enc);
	free(w);
}
