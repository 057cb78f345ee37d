/* SPDX-License-Identifier: MIT */
/*
 * dr_recorder: the media pipeline of one recording at a time.
 *
 *   capture thread:  dr_capture_read() -> dr_ring (>= 10 s)
 *   camera thread:   dr_camera_read() -> dr_videnc -> dr_vqueue (a byte
 *                    budget), only when a camera is given
 *   encoder thread:  dr_ring -> dr_oggopus -> dr_sink (sound only: Ogg Opus)
 *                    dr_ring + dr_vqueue -> Opus + video, interleaved by
 *                    timestamp -> Matroska -> dr_sink (with a camera)
 *
 * The capture thread does nothing but read the device and copy into the ring,
 * so a sink that stalls for seconds costs no samples until the ring is full.
 * When something finishes (normal stop, a device error, a full disk), the
 * recorder writes to its eventfd; the owner's event loop then calls
 * dr_recorder_collect().
 *
 * With a camera, the sound is the master clock: each frame's grab time is
 * mapped onto the microphone's sample count (avclock.h). A camera that
 * fails or is unplugged mid-recording ends only the picture: the sound
 * carries on into a valid file and the result says so. A camera's own
 * H.264 is passed through; the file's headers wait (at most 3 s, the sound
 * meanwhile in its ring) for its first key frame, whose SPS/PPS make the
 * track's CodecPrivate; without one in time the file is the sound alone
 * (camera_err -ETIMEDOUT), and a changed SPS/PPS ends the picture
 * (-EPROTO). See docs/video.md. A storage stall
 * fills the video queue first: frames that do not fit are dropped and
 * counted; the sound ring is never touched by the picture.
 *
 * Used from one thread (the event loop) apart from its internal threads.
 * dr_recorder_free(NULL) is a no-op; freeing a running recorder stops it and
 * finalises the file first.
 */
#ifndef DR_RECORDER_H
#define DR_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oggopus.h"
#include "sink.h"

struct dr_capture;
struct dr_camera;

struct dr_recorder_params {
	struct dr_oggopus_params enc; /* recording_id/start_utc are per recording */
	unsigned ring_ms;             /* ring buffer size; default 16000, at least 10000 */
	size_t max_samples;           /* stop by itself after this many; 0 = no limit */
	/* Borrowed, must outlive the recorder; NULL (default): sound only,
	 * Ogg Opus, byte for byte as before. Given: Matroska with the Opus
	 * track and a video track; the recorder starts and stops the camera
	 * with each recording. */
	struct dr_camera *camera;
	/* Bytes of coded frames that may wait for the storage; default 8 MiB
	 * (the board file's [camera] queue_mib; see docs/video.md). */
	size_t video_budget;
	unsigned video_kbps;          /* software H.264 target; 0: by picture size */
};
void dr_recorder_params_default(struct dr_recorder_params *p);

struct dr_recorder;

/* The capture device is borrowed (not owned) and must outlive the recorder. */
int dr_recorder_new(struct dr_capture *cap, const struct dr_recorder_params *p,
		    struct dr_recorder **out);
void dr_recorder_free(struct dr_recorder *r);
/* eventfd (EFD_CLOEXEC|EFD_NONBLOCK): readable when a result is ready. */
int dr_recorder_fd(const struct dr_recorder *r);

/* A camera that sends its own H.264 is started now, before the recording
 * (as the resident is told the camera is on), so that its parameter sets
 * are known when the recording starts and the file's headers need not wait
 * for them; its frames are not kept until dr_recorder_start, whose first
 * kept frame is a key frame. A no-op for other cameras (their headers never
 * wait) and without a camera, or when already warm or recording. 0 or
 * -errno (the camera thread could not start: the recording will start it).
 * dr_recorder_cool ends it when the recording does not start after all (a
 * press cancelled it); dr_recorder_free does too. Event loop thread. */
int dr_recorder_warm(struct dr_recorder *r);
void dr_recorder_cool(struct dr_recorder *r);

/* Starts capture now and encoding into `sink` (owned by the recorder from
 * here on, also on failure). -EBUSY if a recording is in progress. */
int dr_recorder_start(struct dr_recorder *r, struct dr_sink sink, const char *recording_id,
		      const char *start_utc);
/* Stops capture now (returns at once); the encoder drains the ring, writes
 * the end-of-stream page and syncs in the background, then signals the fd. */
int dr_recorder_stop(struct dr_recorder *r);
bool dr_recorder_busy(const struct dr_recorder *r);

struct dr_recording_result {
	int status;          /* 0, or -errno of the first failure (capture or sink) */
	bool capture_failed; /* the failure came from the microphone side */
	uint64_t samples;    /* samples encoded into the file */
	uint64_t lost;       /* samples lost to a full ring (should always be 0) */
	size_t ring_high_water; /* most samples ever waiting in the ring */
	uint64_t first_sample_us; /* CLOCK_MONOTONIC time of the first captured sample, 0 if none */
	struct dr_sink_stats sink; /* as counted by a file sink, else zeros */
	/* With a camera (all zero/false without): */
	bool video;              /* the file is Matroska with a video track */
	bool camera_lost;        /* the camera did not start, failed or was unplugged: sound only from then */
	int camera_err;          /* its -errno (-ENODEV: unplugged; H.264: -ETIMEDOUT no key frame
				    in time, -EPROTO its parameters changed), else 0 */
	uint64_t video_frames;   /* frames written into the file */
	uint64_t video_dropped;  /* frames grabbed but dropped: the queue was over budget */
	uint64_t video_gaps;     /* frames the camera itself skipped (sequence gaps) */
	size_t video_high_water; /* most bytes ever waiting in the video queue */
};
/* After the fd became readable: the result of the recording that ended.
 * Returns 0 and fills res, or -EAGAIN if nothing has ended yet. Reads the fd. */
int dr_recorder_collect(struct dr_recorder *r, struct dr_recording_result *res);

/* Blocking convenience for tools and tests: start, run until `samples` have
 * been captured (or the capture ends), stop, wait, collect. */
int dr_recorder_record_blocking(struct dr_recorder *r, struct dr_sink sink, const char *recording_id,
				const char *start_utc, uint64_t samples, struct dr_recording_result *res);

#endif
