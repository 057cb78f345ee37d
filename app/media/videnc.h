/* SPDX-License-Identifier: MIT */
/*
 * dr_videnc: camera frames in, Matroska video packets out.
 *
 * - MJPEG from the camera is passed through untouched (V_MJPEG, every frame
 *   a key frame).
 * - Raw frames (YUYV, NV12) are encoded in software with openh264 (BSD-2;
 *   the choice and why not x264 is in docs/video.md) into H.264 constrained
 *   baseline, V_MPEG4/ISO/AVC: the packets are length-prefixed NAL units
 *   (4 bytes), the track's CodecPrivate an avcC record made from the
 *   encoder's parameter sets at open, so the file's headers never wait
 *   for a frame.
 * - H.264 from the camera is passed through: each access unit (Annex B)
 *   becomes one block of length-prefixed NAL units (h264.h; AUD, SEI and
 *   in-band SPS/PPS repeats left out). Its parameter sets arrive only with
 *   the camera's first key frame, so the track is not described at open:
 *   dr_videnc_ready() turns true when the first IDR with an SPS and a PPS
 *   (in it or in buffers before it) has gone through dr_videnc_frame, and
 *   the avcC made from them is the track's CodecPrivate from then on. The
 *   recorder's writer waits (bounded) for that before it writes the
 *   file's headers (recorder_video.c, docs/video.md). Frames before it
 *   give -EAGAIN (dropped: count them). An SPS or PPS later in the stream
 *   that differs from the avcC's gives -EPROTO: the stream changed, the
 *   track would lie; the caller ends the picture there. The key flag is
 *   the access unit's IDR slice, not the driver's buffer flag.
 *
 * Not thread-safe: the camera thread encodes; the writer reads the track
 * description only once dr_videnc_ready() is true (it is constant from
 * then on). dr_videnc_free(NULL) is a no-op.
 */
#ifndef DR_VIDENC_H
#define DR_VIDENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "container.h"
#include "dev/camera.h"

struct dr_videnc;

/* kbps: the software encoder's target (0: 800 at 640x480 and below,
 * 2500 above). -ENOTSUP for a format it cannot use, -ENOMEM, -EIO (the
 * library refused). */
int dr_videnc_new(enum dr_pixfmt format, unsigned width, unsigned height, unsigned fps,
		  unsigned kbps, struct dr_videnc **out);
void dr_videnc_free(struct dr_videnc *e);

/* The track to add to the container (valid while e lives). */
const struct dr_track *dr_videnc_track(const struct dr_videnc *e);
/* The track is described (always, but for H.264 pass-through before its
 * first key frame). Any thread; acquire: the track may be read after. */
bool dr_videnc_ready(const struct dr_videnc *e);
/* True when frames go through untouched (MJPEG, H.264). */
bool dr_videnc_passthrough(const struct dr_videnc *e);

/* Encodes (or copies) one frame. *data is malloc'ed (caller frees), *len
 * its size, *key whether it decodes on its own. A frame the encoder
 * skipped (rate control; H.264 parameter sets alone) gives *len 0, *data
 * NULL. H.264: -EAGAIN before the first key frame, -EPROTO the stream's
 * parameters changed (end the picture), -EBADMSG a damaged access unit. */
int dr_videnc_frame(struct dr_videnc *e, const struct dr_frame *f, unsigned char **data,
		    size_t *len, bool *key);
/* The next frame is to be a key frame (after a drop: what follows must
 * not refer to the frame that was lost). The software encoder makes one;
 * H.264 from the camera: frames up to its next IDR give -EAGAIN (dropped;
 * the camera itself is asked with dr_camera_force_key). */
void dr_videnc_force_key(struct dr_videnc *e);

#endif
