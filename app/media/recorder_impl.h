/* SPDX-License-Identifier: MIT */
/*
 * The recorder's insides, shared by recorder.c (sound: the capture thread,
 * the writer thread, the lifecycle) and recorder_video.c (the camera
 * thread and the Matroska writer). Not for other modules.
 */
#ifndef DR_RECORDER_IMPL_H
#define DR_RECORDER_IMPL_H

#include "recorder.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "avclock.h"
#include "ring.h"
#include "videnc.h"
#include "vqueue.h"

#define DR_CAPTURE_CHUNK (DR_SAMPLE_RATE / 100) /* frames per read: 10 ms */
#define DR_ENCODE_CHUNK (DR_SAMPLE_RATE / 10)   /* up to 100 ms per encoder write */
#define DR_FULL_WAIT_SLICE_MS 10
/* Read after a stop, at most: 500 ms, the buffer the ALSA capture asks
 * for (capture_alsa.c), so a device whose buffer is full when the press
 * comes still gives all it heard before it; a device that says it holds
 * more is not believed. Behind PulseAudio's ALSA plugin (which cannot
 * tell its delay) the 48 kHz clock says 345-360 ms at a stop. */
#define DR_TAIL_MAX (DR_SAMPLE_RATE / 2)
#define DR_RING_MS_MIN 10000

struct dr_recorder {
	struct dr_capture *cap; /* borrowed */
	struct dr_recorder_params p;
	struct dr_ring *ring;
	int efd;
	sem_t wake;  /* capture -> encoder: samples or the end are there */
	sem_t space; /* encoder -> capture: room in a full ring */
	size_t frame;     /* samples per Opus frame */
	size_t enc_chunk; /* whole frames, about DR_ENCODE_CHUNK samples */
	int16_t *enc_buf; /* encoder thread's chunk */

	/* The event loop's view. */
	bool started;   /* threads running or not yet collected */
	pthread_t cap_thread, enc_thread;

	/* Per recording; set before the threads start. */
	struct dr_sink sink;
	char *recording_id, *start_utc;
	uint64_t first_sample_us; /* written by the capture thread before capture_done */
	uint64_t max_samples;

	/* Shared between threads. */
	atomic_bool stop;          /* capture should end */
	_Atomic uint64_t stop_us;  /* CLOCK_MONOTONIC of dr_recorder_stop() */
	atomic_bool capture_done;
	atomic_bool cap_waiting;   /* capture thread waits for `space` */
	atomic_uint handshake;     /* see handshake() */
	atomic_bool result_ready;
	atomic_int first_err;
	atomic_bool capture_failed;

	/* Capture thread only (read by the encoder after capture_done). */
	uint64_t captured, lost;
	size_t high_water;

	/* Video (p.camera given); see recorder_video.c. */
	struct dr_vqueue *vq;      /* coded frames, bounded by p.video_budget */
	struct dr_videnc *venc;    /* per recording; used by the camera thread */
	struct dr_avclock clock;   /* audio capture anchors it, the writer maps */
	bool video_started;        /* event loop only: the camera thread runs (joined at collect) */
	bool warm;                 /* event loop only: dr_recorder_warm started it before the start */
	atomic_bool warming;       /* loop -> camera thread: no recording yet, learn the stream only */
	pthread_t video_thread;
	atomic_bool video_done;    /* the camera thread has ended (true without a camera) */
	atomic_bool want_key;      /* writer -> camera thread: make the next frame a key frame */
	atomic_int video_abandon;  /* writer -> camera thread: end the picture with this -errno
				      (H.264: no key frame in time; recorder_video.c) */
	/* camera thread only (read by the writer after video_done) */
	uint64_t v_grabbed, v_dropped, v_gaps;
	bool key_asked;            /* the camera was asked for a key frame (H.264) */
	bool lead_in;              /* waiting for the first key frame after want_key */
	int camera_err;

	/* Encoder thread only (read by collect after result_ready). */
	struct dr_recording_result res;
	struct dr_sink_stats stats;
};

/* recorder.c */
void dr_rec_set_error(struct dr_recorder *r, int err, bool capture);

/* recorder_video.c */
/* At dr_recorder_new when p.camera is given. */
int dr_rec_video_new(struct dr_recorder *r);
void dr_rec_video_free(struct dr_recorder *r);
/* At start (event loop thread): the encoder for this recording. */
int dr_rec_video_prepare(struct dr_recorder *r);
/* The camera thread. */
void *dr_rec_video_main(void *arg);
/* Event loop thread: the camera thread started before the recording (H.264
 * only: its parameter sets learned before the headers are due); ended
 * again if the recording never starts. */
int dr_rec_video_warm(struct dr_recorder *r);
void dr_rec_video_cool(struct dr_recorder *r);
/* After both capture threads are joined: forget this recording's video. */
void dr_rec_video_clear(struct dr_recorder *r);

/* The writer's Matroska side: Opus and the camera's packets, interleaved
 * by timestamp on the sound's timeline. */
struct dr_avwriter;
int dr_avwriter_new(struct dr_recorder *r, struct dr_avwriter **out);
int dr_avwriter_write(struct dr_avwriter *w, const int16_t *pcm, size_t n);
/* Writes packets waiting in the video queue up to the sound written. */
int dr_avwriter_video(struct dr_avwriter *w);
int dr_avwriter_finish(struct dr_avwriter *w);
uint64_t dr_avwriter_samples(const struct dr_avwriter *w);
/* Fills the video fields of r->res. */
void dr_avwriter_result(const struct dr_avwriter *w, struct dr_recording_result *res);
void dr_avwriter_free(struct dr_avwriter *w);

#endif
