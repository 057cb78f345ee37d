/* SPDX-License-Identifier: MIT */
/*
 * The camera: a handle over a const ops table (like the microphone's,
 * audio.h) with a real backend on libv4l2 and a simulated one. Frames come
 * out as refcounted buffers carrying the CLOCK_MONOTONIC time they were
 * grabbed, taken from the driver's buffer (never from an assumed frame
 * rate: a camera that slows to 15 fps in the dark just gives fewer frames).
 *
 * Settings (what the board file asks for) are apart from live state (what
 * the device agreed to, dr_camera_format). Board file:
 *
 *   [camera]
 *   backend = v4l2 | sim | none   (none, the default: no camera)
 *   device = usb-046d_HD_Webcam_C270-video-index0
 *            a name in /dev/v4l/by-id, or a /dev/v4l/by-id/... or
 *            /dev/v4l/by-path/... path, or bus:<bus_info> (the driver's
 *            bus_info, VIDIOC_QUERYCAP: a USB port such as
 *            bus:usb-3f980000.usb-1.2, or a platform device such as
 *            bus:platform:vivid-000, for boards without udev's links);
 *            never /dev/videoN (its number changes with the order
 *            devices appear in)
 *   width = 640, height = 480, fps = 15
 *   format = auto | mjpeg | h264 | yuyv | nv12
 *   light = GPIO23   (the camera light's line, on while frames are captured)
 *   queue_mib = 8    (coded frames that may wait for a slow SD card; over
 *                     it frames are dropped and counted, never sound)
 *   sim_unplug_ms = 0 (sim only: unplugged this long into its first
 *                     streaming, and gone for good; 0, the default: never)
 *   sim_h264_fault = none | no_sets | new_sps (sim in h264 only: a camera
 *                     that never sends its parameter sets, or whose SPS
 *                     changes 1.5 s into each stream; tests)
 *   sim_first_frame_ms = 0 (sim only: the first frame comes this long
 *                     after streaming starts, as a USB camera's does while
 *                     it settles its exposure; 0: at once)
 *   sim_appear_ms = 0 (sim only: plugged in this long after the board file
 *                     was read; opening it earlier gives -ENODEV, as a
 *                     camera whose driver is not loaded yet; 0: at once)
 *
 * Errors are negative errno; hardware-state errors are
 *   -ENODEV   no camera there, or it was unplugged;
 *   -ENOTSUP  the camera refuses every format the box can use;
 *   -EIO      the device failed in a way a reopen may fix.
 * Every *_free / *_unref(NULL) is a no-op.
 */
#ifndef DR_CAMERA_H
#define DR_CAMERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dr_conf;

enum dr_pixfmt {
	DR_PIX_AUTO = 0, /* settings only: the best the camera offers */
	DR_PIX_MJPEG,
	DR_PIX_H264,
	DR_PIX_YUYV,
	DR_PIX_NV12,
};

/* "mjpeg", "h264", "yuyv", "nv12" ("auto" for DR_PIX_AUTO). */
const char *dr_pixfmt_name(enum dr_pixfmt f);
/* -EINVAL if the name is none of those. */
int dr_pixfmt_parse(const char *name, enum dr_pixfmt *out);
/* Bytes of one raw frame (YUYV, NV12); 0 for compressed formats. */
size_t dr_pixfmt_frame_bytes(enum dr_pixfmt f, unsigned width, unsigned height);

enum dr_camera_backend {
	DR_CAMERA_NONE,
	DR_CAMERA_V4L2,
	DR_CAMERA_SIM,
};

/* A simulated H.264 camera that misbehaves (tests). NO_SETS: it never
 * sends an SPS or PPS; NEW_SPS: from frame `from` on (the board file's
 * sim_h264_fault: from 1.5 s in) it makes an IDR whose SPS differs from
 * the one before (a stream that changes its parameters). */
enum dr_camera_sim_fault { DR_SIM_H264_OK, DR_SIM_H264_NO_SETS, DR_SIM_H264_NEW_SPS };

struct dr_camera_settings {
	enum dr_camera_backend backend;
	char device[512]; /* v4l2: the resolved /dev/v4l/... path, or bus:<bus_info> */
	unsigned width, height, fps;
	enum dr_pixfmt format;
	char light[64];   /* GPIO line of the camera light; "" if none */
	unsigned queue_mib; /* the recorder's video queue budget (1..256, default 8) */
	unsigned sim_unplug_ms; /* sim only: the camera is unplugged this long after
				   it first starts streaming (tests); 0: never */
	unsigned sim_first_frame_ms; /* sim only: the first frame this long after the start */
	unsigned sim_appear_ms; /* sim only: absent (-ENODEV) until this long after
				   the settings were read (tests); 0: at once */
	enum dr_camera_sim_fault sim_h264_fault; /* sim, format h264 only (tests) */
	uint64_t read_ns;       /* CLOCK_MONOTONIC when the settings were read */
};

/* Reads and checks [camera] (unknown keys refused); a device name without
 * a folder is looked up in /dev/v4l/by-id. err gets "camera: ..." on
 * failure. Any thread. */
int dr_camera_settings_from_board(const struct dr_conf *board,
				  struct dr_camera_settings *s, char *err, size_t errlen);

/* ---- frames ---- */

struct dr_frame {
	unsigned refs;       /* atomic; dr_frame_ref / dr_frame_unref */
	uint64_t t_ns;       /* CLOCK_MONOTONIC when the frame was grabbed */
	uint64_t seq;        /* the device's sequence number */
	enum dr_pixfmt format;
	unsigned width, height;
	bool key;            /* decodable on its own (raw and MJPEG: always) */
	size_t len, cap;
	unsigned char *data; /* len bytes of the frame */
};

/* A frame with room for cap bytes and one reference; NULL on no memory. */
struct dr_frame *dr_frame_new(size_t cap);
/* Another reference, for another thread (any thread may call these). */
struct dr_frame *dr_frame_ref(struct dr_frame *f);
/* Frees the frame when the last reference goes. */
void dr_frame_unref(struct dr_frame *f);

/* ---- the camera ---- */

struct dr_camera;

/* Opens the camera the settings name; *out is NULL for backend none
 * (returns 0). */
int dr_camera_open(const struct dr_camera_settings *s, struct dr_camera **out, char *err,
		   size_t errlen);
/* libv4l2 on s->device with the format negotiated from s. */
int dr_camera_open_v4l2(const struct dr_camera_settings *s, struct dr_camera **out, char *err,
			size_t errlen);
/* The simulated camera (raw YUYV or NV12, or H.264 as a UVC camera gives
 * it: Annex B, SPS and PPS before every IDR, an IDR every 2 s; auto is
 * YUYV): a test pattern
 * whose frame counter is drawn as 32 bars a test can read back after
 * decoding (dr_camera_pattern_counter). paced: frames no earlier than a
 * real camera at s->fps would give them, on a CLOCK_MONOTONIC timeline from
 * dr_camera_start; unpaced: as fast as read, with the same timestamps. */
int dr_camera_open_sim(const struct dr_camera_settings *s, bool paced, struct dr_camera **out,
		       char *err, size_t errlen);
void dr_camera_free(struct dr_camera *c);
/* "v4l2:/dev/v4l/by-id/...", "sim" */
const char *dr_camera_name(const struct dr_camera *c);
/* What the device agreed to (valid after open). */
void dr_camera_format(const struct dr_camera *c, enum dr_pixfmt *format, unsigned *width,
		      unsigned *height, unsigned *fps);

/* Called from the capture thread only: */
int dr_camera_start(struct dr_camera *c);
/* Blocks until the next frame (or 2 s: -EAGAIN); the caller owns the one
 * reference of *out. -ENODEV unplugged. */
int dr_camera_read(struct dr_camera *c, struct dr_frame **out);
int dr_camera_stop(struct dr_camera *c);
/* A camera delivering H.264: the next frame is to be a key frame (IDR),
 * so a picture that lost a frame can start again without waiting for the
 * camera's own next one. V4L2: V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME, if the
 * camera has it; -ENOTSUP (or the driver's error) otherwise, which the
 * caller may ignore: the next key frame comes by itself. */
int dr_camera_force_key(struct dr_camera *c);
/* The camera's user gives up on its picture (err: why, e.g. -EPROTO, the
 * stream changed its parameters): the watcher hears DR_CAMERA_FAILED with
 * err, as for a failed read. Call dr_camera_stop after it. */
void dr_camera_fail(struct dr_camera *c, int err);

/* What a watcher hears (dr_camera_watch). */
enum dr_camera_change {
	DR_CAMERA_STREAMING, /* dr_camera_start succeeded: frames are being captured */
	DR_CAMERA_STOPPED,   /* dr_camera_stop: no more frames */
	DR_CAMERA_FAILED,    /* start or a read failed (err: -ENODEV unplugged, ...) */
};
/* Tells fn, on the thread that calls dr_camera_start / _read / _stop (the
 * recorder's camera thread), the moment the camera starts or stops
 * streaming or fails: what the daemon's camera light and events follow.
 * fn must not block. Set it (or NULL) while no thread uses the camera. */
void dr_camera_watch(struct dr_camera *c, void (*fn)(void *user, enum dr_camera_change what, int err),
		     void *user);

/* Frames the device dropped (gaps in its sequence numbers), since open. */
uint64_t dr_camera_dropped(const struct dr_camera *c);

/* Simulated camera only (any thread): the next frame is all white (a
 * flash, for sync tests); the next read fails with -ENODEV (unplugged).
 * -ENOTSUP on a real camera. */
int dr_camera_sim_flash(struct dr_camera *c);
int dr_camera_sim_unplug(struct dr_camera *c);
/* Simulated camera in H.264 only (tests; before dr_camera_start): a
 * camera that misbehaves (enum above). -ENOTSUP otherwise. */
int dr_camera_sim_h264_fault(struct dr_camera *c, enum dr_camera_sim_fault fault, uint64_t from);

/* ---- the simulated pattern, read back ---- */

/* Reads the frame counter drawn by the simulated camera from a decoded
 * frame's luma plane (8-bit, `stride` bytes per row): 32 bars across the
 * top eighth, most significant first, bright for 1. Survives lossy coding.
 * Returns 1 with *counter, 0 for a flash frame (all bright), -EINVAL if the
 * bars are not there. */
int dr_camera_pattern_counter(const unsigned char *luma, size_t stride, unsigned width,
			      unsigned height, uint32_t *counter);

/* ---- format negotiation (the V4L2 backend's logic, pure) ---- */

struct dr_camera_mode {
	enum dr_pixfmt format;
	unsigned width, height;
};

/* Chooses among the modes a camera offers: the wanted format (or for auto,
 * the first offered of MJPEG, H.264, YUYV, NV12: compressed formats are
 * passed through, raw ones cost an encoder), then the offered size of that
 * format closest to the wanted one (by area, then the larger). Returns 0
 * with *out, or -ENOTSUP when no offered format is usable or the wanted
 * one is not offered. */
int dr_camera_negotiate(const struct dr_camera_mode *offered, size_t n,
			const struct dr_camera_settings *want, struct dr_camera_mode *out);

#endif
