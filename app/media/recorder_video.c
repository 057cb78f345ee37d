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

#include "dev/camera.h"
#include "mkv.h"
#include "opusenc.h"

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

/* One grabbed frame into the queue, or counted as dropped. */
static void video_frame(struct dr_recorder *r, struct dr_frame *f, bool *need_key, size_t *last_len)
{
	bool pass = dr_videnc_passthrough(r->venc);
	/* Skip the encoder's work for a frame that could not be kept anyway. */
	if (!dr_vqueue_room(r->vq, pass ? f->len : *last_len)) {
		r->v_dropped++;
		*need_key = true;
		return;
	}
	if (atomic_exchange_explicit(&r->want_key, false, memory_order_relaxed))
		*need_key = true;
	if (*need_key && !pass)
		dr_videnc_force_key(r->venc);
	unsigned char *data;
	size_t len;
	bool key;
	int err = dr_videnc_frame(r->venc, f, &data, &len, &key);
	if (err) {
		r->v_dropped++;
		*need_key = true;
		return;
	}
	if (!len)
		return; /* the encoder skipped it */
	struct dr_vpacket p = {.t_ns = f->t_ns, .seq = f->seq, .key = key, .len = len, .data = data};
	if ((*need_key && !key) || !dr_vqueue_push(r->vq, &p)) {
		free(data);
		r->v_dropped++;
		*need_key = true;
		return;
	}
	*need_key = false;
	*last_len = len;
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
	bool need_key = false;
	size_t last_len = 1;
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		struct dr_frame *f = NULL;
		err = dr_camera_read(cam, &f);
		if (err == -EAGAIN || err == -EINTR)
			continue;
		if (err) {
			r->camera_err = err; /* unplugged, or failed: the sound goes on */
			break;
		}
		r->v_grabbed++;
		video_frame(r, f, &need_key, &last_len);
		dr_frame_unref(f);
		sem_post(&r->wake);
	}
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
	w->vtrack = dr_container_add_track(w->c, dr_videnc_track(r->venc));
	if (w->vtrack < 0) {
		err = w->vtrack;
		goto err_free;
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
