/* SPDX-License-Identifier: MIT */
/*
 * The recorder: a capture thread and an encoder thread joined by a lock-free
 * ring (see recorder.h).
 *
 * Hand-offs between the threads:
 *  - samples: the ring (acquire/release inside dr_ring);
 *  - "there is something for you": the `wake` semaphore, posted by the
 *    capture thread after every read (sem_post costs no system call while
 *    nobody is waiting);
 *  - "capture is over": `capture_done`, stored with release after the
 *    capture thread's last ring write and its counters, loaded with acquire
 *    by the encoder, which then drains the ring and finishes the file;
 *  - "the result is ready": `result_ready` (release/acquire) and then the
 *    eventfd for the owner's poll loop.
 *
 * Ring full. That means the encoder has been stuck for the ring's whole
 * length (16 s by default), so something is being lost whatever we do. The
 * capture thread then waits for room (the `space` semaphore, in 10 ms slices
 * so stop() is still seen at once) instead of dropping: a file source faster
 * than real time (an unpaced WAV in a tool) then loses nothing, and a live
 * microphone overruns in the device instead, which its backend recovers from
 * and counts (dr_capture_xruns). The result's `lost` is both: samples that
 * never made it into the ring because it was full, plus device overruns
 * during the recording.
 */
#include "recorder_impl.h"

#include "util/evlog.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "dev/audio.h"
#include "ring.h"

void dr_recorder_params_default(struct dr_recorder_params *p)
{
	memset(p, 0, sizeof(*p));
	dr_oggopus_params_default(&p->enc);
	p->ring_ms = 16000;
	p->max_samples = 0;
	p->camera = NULL;
	p->video_budget = (size_t)8 << 20;
	p->video_kbps = 0;
}

void dr_rec_set_error(struct dr_recorder *r, int err, bool capture)
{
	int none = 0;
	if (atomic_compare_exchange_strong(&r->first_err, &none, err) && capture)
		atomic_store(&r->capture_failed, true);
}

static void deadline_after_ms(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_nsec += ms * 1000000L;
	ts->tv_sec += ts->tv_nsec / 1000000000L;
	ts->tv_nsec %= 1000000000L;
}

/*
 * Both threads pass through one read-modify-write of `handshake` between
 * their store and their load (capture: cap_waiting, then the ring's tail;
 * encoder: the ring's tail, then cap_waiting). RMWs of one variable are
 * totally ordered, and the later acquires the earlier, so either the encoder
 * sees cap_waiting and posts `space`, or the capture thread sees the room:
 * no lost wake-up. (A fence would do the same, but ThreadSanitizer cannot
 * follow fences.)
 */
static void handshake(struct dr_recorder *r)
{
	atomic_fetch_add_explicit(&r->handshake, 1, memory_order_acq_rel);
}

/* Copies one read into the ring, waiting for room if it is full (see
 * "Ring full" above). */
static void capture_push(struct dr_recorder *r, const int16_t *buf, size_t n)
{
	size_t w = dr_ring_write(r->ring, buf, n);
	if (w < n) {
		atomic_store_explicit(&r->cap_waiting, true, memory_order_relaxed);
		handshake(r);
		while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
			w += dr_ring_write(r->ring, buf + w, n - w);
			if (w == n)
				break;
			sem_post(&r->wake);
			struct timespec deadline;
			deadline_after_ms(&deadline, DR_FULL_WAIT_SLICE_MS);
			(void)sem_clockwait(&r->space, CLOCK_MONOTONIC, &deadline);
		}
		atomic_store_explicit(&r->cap_waiting, false, memory_order_relaxed);
	}
	r->lost += n - w; /* only when stopped while waiting */
	size_t used = dr_ring_used(r->ring);
	if (used > r->high_water)
		r->high_water = used;
}

/* Reads up to `want` frames (bounded by the time limit) into the ring.
 * Returns frames read, 0 at the end of the input or the limit, -errno. */
static ssize_t capture_once(struct dr_recorder *r, int16_t *buf, size_t want)
{
	if (r->max_samples && r->max_samples - r->captured < want)
		want = (size_t)(r->max_samples - r->captured);
	if (!want)
		return 0;
	ssize_t n = dr_capture_read(r->cap, buf, want);
	if (n <= 0)
		return n;
	if ((size_t)n > want)
		n = (ssize_t)want;
	if (r->captured == 0) /* when the first sample reached the microphone */
		r->first_sample_us = dr_mono_us() - (uint64_t)n * 1000000u / DR_SAMPLE_RATE;
	capture_push(r, buf, (size_t)n);
	r->captured += (uint64_t)n;
	if (r->p.camera) { /* the sound's clock, for the picture (avclock.h) */
		ssize_t pend = dr_capture_pending(r->cap);
		uint64_t held = pend > 0 ? (uint64_t)pend * 1000000000u / DR_SAMPLE_RATE : 0;
		uint64_t now = dr_mono_us() * 1000u;
		dr_avclock_anchor(&r->clock, r->captured, now > held ? now - held : 0);
	}
	sem_post(&r->wake);
	return n;
}

/*
 * After a stop: what the microphone heard before the stop but the device
 * still holds (its buffer, a sound server's latency: tens of milliseconds,
 * more behind PulseAudio) is read too, so the last words before the press
 * are in the file. Frames heard after the stop are not wanted.
 */
static void capture_tail(struct dr_recorder *r, int16_t *buf)
{
	uint64_t stop_us = atomic_load(&r->stop_us);
	uint64_t now = dr_mono_us();
	uint64_t after = now > stop_us ? (now - stop_us) * DR_SAMPLE_RATE / 1000000u : 0;
	ssize_t pending = dr_capture_pending(r->cap);

	if (!stop_us || pending <= 0 || (uint64_t)pending <= after)
		return;
	uint64_t owed = (uint64_t)pending - after;
	if (owed > DR_TAIL_MAX) /* a device that says more is not believed */
		owed = DR_TAIL_MAX;
	while (owed) {
		ssize_t n = capture_once(r, buf, owed < DR_CAPTURE_CHUNK ? owed : DR_CAPTURE_CHUNK);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n <= 0)
			return; /* the recording is over anyway: what we have is kept */
		owed -= (uint64_t)n < owed ? (uint64_t)n : owed;
	}
}

static void *capture_main(void *arg)
{
	struct dr_recorder *r = arg;
	int16_t buf[DR_CAPTURE_CHUNK];
	bool stopped = true; /* ended by dr_recorder_stop(), not by itself */
	int err = dr_capture_start(r->cap);
	if (err < 0) {
		dr_rec_set_error(r, err, true);
		goto out_signal;
	}
	uint64_t xruns = dr_capture_xruns(r->cap);
	/* acquire: a stop seen here comes with its stop_us (capture_tail) */
	while (!atomic_load_explicit(&r->stop, memory_order_acquire)) {
		ssize_t n = capture_once(r, buf, DR_CAPTURE_CHUNK);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n < 0)
			dr_rec_set_error(r, (int)n, true);
		if (n <= 0) { /* a failure, the end of a file source, the limit */
			stopped = false;
			break;
		}
	}
	if (stopped && !atomic_load(&r->first_err))
		capture_tail(r, buf);
	r->lost += dr_capture_xruns(r->cap) - xruns;
	dr_capture_stop(r->cap);
out_signal:
	/* The recording ends with its sound (a stop, the limit, a failed
	 * microphone): the camera thread too. */
	if (r->p.camera)
		atomic_store(&r->stop, true);
	atomic_store_explicit(&r->capture_done, true, memory_order_release);
	sem_post(&r->wake);
	return NULL;
}

/* Takes up to n samples out of the ring and lets a waiting capture thread
 * know there is room. */
static size_t encoder_read(struct dr_recorder *r, size_t n)
{
	size_t got = dr_ring_read(r->ring, r->enc_buf, n);
	if (got)
		handshake(r);
	if (got && atomic_load_explicit(&r->cap_waiting, memory_order_relaxed))
		sem_post(&r->space);
	return got;
}

static void *encoder_main(void *arg)
{
	struct dr_recorder *r = arg;
	struct dr_oggopus *enc = NULL;
	struct dr_oggopus_params ep = r->p.enc;
	ep.recording_id = r->recording_id;
	ep.start_utc = r->start_utc;
	if (ep.serial == 0 && r->recording_id) {
		/* A stream serial of its own per recording (FNV-1a of the id), so
		 * files can be chained or concatenated without a clash. */
		uint32_t h = 2166136261u;
		for (const char *c = r->recording_id; *c; c++)
			h = (h ^ (unsigned char)*c) * 16777619u;
		ep.serial = h;
	}
	/* The headers are written (and synced) here, not in start(), so a slow
	 * card delays nothing: capture is already filling the ring. */
	struct dr_avwriter *avw = NULL;
	int err = r->p.camera ? dr_avwriter_new(r, &avw) : dr_oggopus_new(&ep, r->sink, &enc);
	if (err) {
		dr_rec_set_error(r, err, false);
		atomic_store(&r->stop, true);
	}
	for (;;) {
		bool done = atomic_load_explicit(&r->capture_done, memory_order_acquire);
		for (;;) {
			size_t used = dr_ring_used(r->ring);
			if (!done)
				used -= used % r->frame; /* whole frames: no copy in the encoder */
			if (used == 0)
				break;
			size_t got = encoder_read(r, used < r->enc_chunk ? used : r->enc_chunk);
			if (!enc && !avw)
				continue; /* failed: just keep the capture thread unblocked */
			err = avw ? dr_avwriter_write(avw, r->enc_buf, got)
				  : dr_oggopus_write(enc, r->enc_buf, got);
			if (err) {
				dr_rec_set_error(r, err, false);
				atomic_store(&r->stop, true);
				/* Finish below makes what was written durable. */
			}
		}
		if (avw && !err) {
			err = dr_avwriter_video(avw);
			if (err) {
				dr_rec_set_error(r, err, false);
				atomic_store(&r->stop, true);
			}
		}
		/* With a camera, the end waits for the camera thread too: its
		 * last frames before the stop belong in the file. */
		if (done && atomic_load_explicit(&r->video_done, memory_order_acquire))
			break;
		while (sem_wait(&r->wake) < 0 && errno == EINTR)
			;
	}
	memset(&r->res, 0, sizeof(r->res));
	if (enc) {
		err = dr_oggopus_finish(enc);
		if (err)
			dr_rec_set_error(r, err, false);
		r->res.samples = dr_oggopus_samples(enc);
		dr_oggopus_free(enc);
	}
	if (avw) {
		err = dr_avwriter_finish(avw);
		if (err)
			dr_rec_set_error(r, err, false);
		r->res.samples = dr_avwriter_samples(avw);
		dr_avwriter_result(avw, &r->res);
		dr_avwriter_free(avw);
	}
	r->res.status = atomic_load(&r->first_err);
	r->res.capture_failed = atomic_load(&r->capture_failed);
	r->res.lost = r->lost;
	r->res.ring_high_water = r->high_water;
	r->res.first_sample_us = r->first_sample_us;
	r->res.sink = r->stats;
	atomic_store_explicit(&r->result_ready, true, memory_order_release);
	uint64_t one = 1;
	while (write(r->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	return NULL;
}

int dr_recorder_new(struct dr_capture *cap, const struct dr_recorder_params *p,
		    struct dr_recorder **out)
{
	if (!cap || !p || !out || p->ring_ms < DR_RING_MS_MIN || p->ring_ms > 600000 ||
	    dr_oggopus_params_check(&p->enc) != 0)
		return -EINVAL;
	struct dr_recorder *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cap = cap;
	r->p = *p;
	r->p.enc.recording_id = NULL;
	r->p.enc.start_utc = NULL;
	r->frame = (size_t)(DR_SAMPLE_RATE / 1000 * p->enc.frame_ms);
	r->enc_chunk = DR_ENCODE_CHUNK / r->frame * r->frame;
	if (r->enc_chunk == 0)
		r->enc_chunk = r->frame;
	int err = dr_ring_new((size_t)p->ring_ms * (DR_SAMPLE_RATE / 1000), &r->ring);
	if (err)
		goto err_free;
	r->enc_buf = malloc(r->enc_chunk * sizeof(int16_t));
	if (!r->enc_buf) {
		err = -ENOMEM;
		goto err_free_ring;
	}
	if (p->camera) {
		err = dr_rec_video_new(r);
		if (err)
			goto err_free_buf;
	}
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		err = -errno;
		goto err_free_video;
	}
	if (sem_init(&r->wake, 0, 0) < 0) {
		err = -errno;
		goto err_close_efd;
	}
	if (sem_init(&r->space, 0, 0) < 0) {
		err = -errno;
		goto err_destroy_wake;
	}
	*out = r;
	return 0;

err_destroy_wake:
	sem_destroy(&r->wake);
err_close_efd:
	close(r->efd);
err_free_video:
	dr_rec_video_free(r);
err_free_buf:
	free(r->enc_buf);
err_free_ring:
	dr_ring_free(r->ring);
err_free:
	free(r);
	return err;
}

int dr_recorder_fd(const struct dr_recorder *r)
{
	return r->efd;
}

bool dr_recorder_busy(const struct dr_recorder *r)
{
	return r->started;
}

static void drain_fd(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

static void recording_clear(struct dr_recorder *r)
{
	free(r->recording_id);
	free(r->start_utc);
	r->recording_id = NULL;
	r->start_utc = NULL;
}

static int recorder_start(struct dr_recorder *r, struct dr_sink sink, const char *recording_id,
			  const char *start_utc, uint64_t max_samples)
{
	if (!sink.ops)
		return -EINVAL;
	if (r->started) {
		sink.ops->close(sink.user);
		return -EBUSY;
	}
	int err = 0;
	r->recording_id = recording_id ? strdup(recording_id) : NULL;
	r->start_utc = start_utc ? strdup(start_utc) : NULL;
	if ((recording_id && !r->recording_id) || (start_utc && !r->start_utc)) {
		err = -ENOMEM;
		goto err_close_sink;
	}
	r->sink = sink;
	r->max_samples = max_samples;
	r->captured = r->lost = 0;
	r->high_water = 0;
	memset(&r->stats, 0, sizeof(r->stats));
	(void)dr_file_sink_watch_stats(sink, &r->stats); /* zeros for other sinks */
	atomic_store(&r->stop, false);
	atomic_store(&r->stop_us, 0);
	atomic_store(&r->capture_done, false);
	atomic_store(&r->cap_waiting, false);
	atomic_store(&r->result_ready, false);
	atomic_store(&r->first_err, 0);
	atomic_store(&r->capture_failed, false);
	while (sem_trywait(&r->wake) == 0)
		;
	while (sem_trywait(&r->space) == 0)
		;
	/* Without a camera there is no camera thread to wait for. A warm
	 * camera thread runs already (its encoder made): from now on it keeps
	 * frames, starting at a key frame. */
	if (r->warm) {
		atomic_store(&r->want_key, true);
		atomic_store_explicit(&r->warming, false, memory_order_release);
	} else {
		atomic_store(&r->video_done, true);
		if (r->p.camera) {
			err = dr_rec_video_prepare(r); /* video_done false from here */
			if (err)
				goto err_close_sink;
		}
	}

	/* The encoder thread owns the sink from here, so start it first; if the
	 * capture thread cannot start, it finalises an empty recording. */
	err = -pthread_create(&r->enc_thread, NULL, encoder_main, r);
	if (err)
		goto err_close_sink;
	pthread_setname_np(r->enc_thread, "dr-encode");
	err = -pthread_create(&r->cap_thread, NULL, capture_main, r);
	if (!err)
		pthread_setname_np(r->cap_thread, "dr-capture");
	if (!err && r->p.camera && !r->warm) {
		/* A camera thread that cannot start is a camera lost at once:
		 * the sound goes on. */
		int verr = -pthread_create(&r->video_thread, NULL, dr_rec_video_main, r);
		if (verr) {
			r->camera_err = verr;
			atomic_store_explicit(&r->video_done, true, memory_order_release);
		} else {
			r->video_started = true;
			pthread_setname_np(r->video_thread, "dr-camera");
		}
	}
	r->warm = false; /* its thread is the recording's now */
	if (err) {
		dr_rec_set_error(r, err, true);
		atomic_store(&r->stop, true); /* a camera thread started warm ends */
		atomic_store_explicit(&r->video_done, true, memory_order_release);
		atomic_store_explicit(&r->capture_done, true, memory_order_release);
		sem_post(&r->wake);
		pthread_join(r->enc_thread, NULL);
		drain_fd(r->efd);
		dr_rec_video_clear(r);
		recording_clear(r);
		return err;
	}
	r->started = true;
	return 0;

err_close_sink:
	sink.ops->close(sink.user);
	recording_clear(r);
	return err;
}

int dr_recorder_warm(struct dr_recorder *r)
{
	if (!r->p.camera || r->started || r->warm)
		return 0;
	return dr_rec_video_warm(r);
}

void dr_recorder_cool(struct dr_recorder *r)
{
	if (r && r->warm && !r->started)
		dr_rec_video_cool(r);
}

int dr_recorder_start(struct dr_recorder *r, struct dr_sink sink, const char *recording_id,
		      const char *start_utc)
{
	return recorder_start(r, sink, recording_id, start_utc, r->p.max_samples);
}

int dr_recorder_stop(struct dr_recorder *r)
{
	if (!r->started)
		return -EINVAL;
	uint64_t none = 0;
	atomic_compare_exchange_strong(&r->stop_us, &none, dr_mono_us());
	atomic_store(&r->stop, true);
	return 0;
}

int dr_recorder_collect(struct dr_recorder *r, struct dr_recording_result *res)
{
	if (!r->started || !atomic_load_explicit(&r->result_ready, memory_order_acquire))
		return -EAGAIN;
	drain_fd(r->efd);
	pthread_join(r->cap_thread, NULL);
	pthread_join(r->enc_thread, NULL);
	dr_rec_video_clear(r);
	r->started = false;
	recording_clear(r);
	if (res)
		*res = r->res;
	return 0;
}

int dr_recorder_record_blocking(struct dr_recorder *r, struct dr_sink sink, const char *recording_id,
				const char *start_utc, uint64_t samples, struct dr_recording_result *res)
{
	uint64_t max = r->p.max_samples;
	if (samples && (!max || samples < max))
		max = samples;
	int err = recorder_start(r, sink, recording_id, start_utc, max);
	if (err)
		return err;
	for (;;) {
		struct pollfd pfd = {.fd = r->efd, .events = POLLIN};
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
		err = dr_recorder_collect(r, res);
		if (err != -EAGAIN)
			return err;
	}
}

void dr_recorder_free(struct dr_recorder *r)
{
	if (!r)
		return;
	dr_recorder_cool(r);
	if (r->started) {
		atomic_store(&r->stop, true);
		pthread_join(r->cap_thread, NULL);
		pthread_join(r->enc_thread, NULL);
		dr_rec_video_clear(r);
		recording_clear(r);
	}
	dr_rec_video_free(r);
	sem_destroy(&r->space);
	sem_destroy(&r->wake);
	close(r->efd);
	free(r->enc_buf);
	dr_ring_free(r->ring);
	free(r);
}
