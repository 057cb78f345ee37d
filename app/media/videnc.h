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
 * - H.264 from the camera is refused for now (-ENOTSUP): its parameter sets
 *   only arrive with the first frame, after the headers are written.
 *
 * Not thread-safe: the camera thread encodes; the writer only reads the
 * track description (constant after open). dr_videnc_free(NULL) is a no-op.
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
/* True when frames go through untouched. */
bool dr_videnc_passthrough(const struct dr_videnc *e);

/* Encodes (or copies) one frame. *data is malloc'ed (caller frees), *len
 * its size, *key whether it decodes on its own. A frame the encoder
 * skipped (rate control) gives *len 0, *data NULL. */
int dr_videnc_frame(struct dr_videnc *e, const struct dr_frame *f, unsigned char **data,
		    size_t *len, bool *key);
/* The next frame is to be a key frame (after a drop: what follows must
 * not refer to the frame that was lost). */
void dr_videnc_force_key(struct dr_videnc *e);

#endif
