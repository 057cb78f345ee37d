/* SPDX-License-Identifier: MIT */
/*
 * Private to app/dev: the camera ops table and the shared handle. Each
 * backend embeds struct dr_camera as its first member (like capture_impl.h).
 */
#ifndef DR_DEV_CAMERA_IMPL_H
#define DR_DEV_CAMERA_IMPL_H

#include "camera.h"

struct dr_camera_ops {
	const char *name;
	int (*start)(struct dr_camera *c);
	int (*read)(struct dr_camera *c, struct dr_frame **out);
	int (*stop)(struct dr_camera *c);
	/* NULL: -ENOTSUP */
	int (*flash)(struct dr_camera *c);
	int (*unplug)(struct dr_camera *c);
	int (*force_key)(struct dr_camera *c); /* H.264: the next frame an IDR */
	int (*fault)(struct dr_camera *c, enum dr_camera_sim_fault fault, uint64_t from);
	void (*destroy)(struct dr_camera *c); /* frees the backend and c */
};

struct dr_camera {
	const struct dr_camera_ops *ops;
	enum dr_pixfmt format;
	unsigned width, height, fps;
	uint64_t dropped; /* __atomic: written by the capture thread */
	char name[600];
	/* dr_camera_watch: set before the capture thread starts */
	void (*watch)(void *user, enum dr_camera_change what, int err);
	void *watch_user;
};

/* The simulated camera's H.264 encoder (camera_sim_h264.c): one I420
 * picture in, one Annex B access unit into f (f->len, and f->key for an
 * IDR; f->cap must hold it: -ENOBUFS). Camera thread only. */
struct dr_sim_h264;
int dr_sim_h264_new(unsigned w, unsigned h, unsigned fps, struct dr_sim_h264 **out);
void dr_sim_h264_free(struct dr_sim_h264 *e);
int dr_sim_h264_encode(struct dr_sim_h264 *e, const unsigned char *i420, uint64_t t_ms, bool idr,
		       struct dr_frame *f);

#endif
