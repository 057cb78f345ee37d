/* SPDX-License-Identifier: MIT */
/*
 * The simulated camera: raw YUYV or NV12 frames of a test pattern, or
 * that pattern in H.264 as a UVC camera gives it (camera_sim_h264.c), paced
 * like a real camera at the configured rate on a CLOCK_MONOTONIC timeline
 * from dr_camera_start (frame i is grabbed at t0 + i/fps).
 *
 * Pattern: the top eighth holds the frame counter (frames since start) as
 * 32 bars, most significant first, luma 235 for 1 and 16 for 0; below, a
 * gradient that moves with the counter (so an encoder has motion to code),
 * luma 32..159, never mistaken for a flash. A flash frame is luma 235
 * everywhere. Chroma is neutral (128).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camera_impl.h"
#include "dev_util.h"
#include "media/h264.h"

#define BRIGHT 235
#define DARK 16

struct sim_camera {
	struct dr_camera base;
	bool paced, started;
	uint64_t t0_ns;
	uint32_t counter;
	int flash;   /* __atomic: frames to flash */
	int unplugged; /* __atomic */
	uint64_t unplug_after_ns; /* settings' sim_unplug_ms; 0: never */
	uint64_t first_frame_ns;  /* settings' sim_first_frame_ms */
	unsigned char *row; /* one row of luma */
	struct dr_sim_h264 *h264; /* format h264: the camera's encoder */
	unsigned char *i420;      /* format h264: the picture it encodes */
	int want_idr;             /* __atomic: dr_camera_force_key */
	enum dr_camera_sim_fault fault; /* dr_camera_sim_h264_fault (set before start) */
	uint64_t fault_from;
};

struct nal_edit {
	struct dr_frame *f;
	size_t out;
	enum dr_camera_sim_fault fault;
};

/* Writes each unit kept back into the frame (from a copy of it), after a
 * 4-byte start code: the output never outgrows the frame's capacity. */
static int edit_nal(void *user, const unsigned char *nal, size_t len)
{
	struct nal_edit *e = user;
	unsigned type = nal[0] & 0x1F;
	if (e->fault == DR_SIM_H264_NO_SETS && (type == DR_NAL_SPS || type == DR_NAL_PPS))
		return 0;
	if (4 + len > e->f->cap - e->out)
		return -ENOBUFS;
	unsigned char *o = e->f->data + e->out;
	memcpy(o + 4, nal, len);
	o[0] = o[1] = o[2] = 0;
	o[3] = 1;
	if (e->fault == DR_SIM_H264_NEW_SPS && type == DR_NAL_SPS && len > 3)
		o[4 + 3] ^= 1; /* level_idc: another stream's SPS */
	e->out += 4 + len;
	return 0;
}

static int apply_fault(struct sim_camera *s, struct dr_frame *f)
{
	if (s->fault == DR_SIM_H264_OK || (s->fault == DR_SIM_H264_NEW_SPS && s->counter < s->fault_from))
		return 0;
	unsigned char *copy = malloc(f->len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, f->data, f->len);
	struct nal_edit e = {.f = f, .out = 0, .fault = s->fault};
	int err = dr_h264_each_nal(copy, f->len, edit_nal, &e);
	free(copy);
	f->len = e.out;
	return err;
}

static void draw_luma_row(const struct sim_camera *s, unsigned y, bool flash)
{
	unsigned w = s->base.width, h = s->base.height;
	if (flash) {
		memset(s->row, BRIGHT, w);
		return;
	}
	if (y < h / 8) {
		unsigned bar = w / 32;
		for (unsigned x = 0; x < w; x++) {
			unsigned i = x / bar;
			s->row[x] = i < 32 && (s->counter >> (31 - i) & 1) ? BRIGHT : DARK;
		}
		return;
	}
	for (unsigned x = 0; x < w; x++)
		s->row[x] = (unsigned char)(32 + ((x + y + s->counter * 4u) & 0x7F));
}

static void draw(struct sim_camera *s, unsigned char *p, bool flash)
{
	unsigned w = s->base.width, h = s->base.height;
	if (s->base.format == DR_PIX_YUYV) {
		for (unsigned y = 0; y < h; y++) {
			draw_luma_row(s, y, flash);
			unsigned char *o = p + (size_t)y * w * 2;
			for (unsigned x = 0; x < w; x++) {
				o[2 * x] = s->row[x];
				o[2 * x + 1] = 128;
			}
		}
		return;
	}
	for (unsigned y = 0; y < h; y++) { /* NV12 (and I420): Y plane, then chroma */
		draw_luma_row(s, y, flash);
		memcpy(p + (size_t)y * w, s->row, w);
	}
	memset(p + (size_t)w * h, 128, (size_t)w * h / 2);
}

static int sim_start(struct dr_camera *c)
{
	struct sim_camera *s = (struct sim_camera *)c;
	if (__atomic_load_n(&s->unplugged, __ATOMIC_ACQUIRE))
		return -ENODEV;
	s->t0_ns = dr_dev_mono_ns() + s->first_frame_ns;
	s->counter = 0;
	s->started = true;
	if (s->h264) /* a camera's stream starts with an IDR */
		__atomic_store_n(&s->want_idr, 1, __ATOMIC_RELEASE);
	return 0;
}

static int sim_read(struct dr_camera *c, struct dr_frame **out)
{
	struct sim_camera *s = (struct sim_camera *)c;
	if (__atomic_load_n(&s->unplugged, __ATOMIC_ACQUIRE))
		return -ENODEV;
	if (!s->started)
		return -EINVAL;
	uint64_t t = s->t0_ns + (uint64_t)s->counter * 1000000000u / c->fps;
	if (s->unplug_after_ns && t - s->t0_ns >= s->unplug_after_ns) {
		/* [camera] sim_unplug_ms: pulled out, and gone for good */
		if (s->paced)
			dr_dev_sleep_until_ns(s->t0_ns + s->unplug_after_ns);
		__atomic_store_n(&s->unplugged, 1, __ATOMIC_RELEASE);
		return -ENODEV;
	}
	if (s->paced)
		dr_dev_sleep_until_ns(t);
	size_t len = s->h264 ? (size_t)c->width * c->height * 2 + 65536
			     : dr_pixfmt_frame_bytes(c->format, c->width, c->height);
	struct dr_frame *f = dr_frame_new(len);
	if (!f)
		return -ENOMEM;
	bool flash = false;
	int left = __atomic_load_n(&s->flash, __ATOMIC_ACQUIRE);
	while (left > 0 && !__atomic_compare_exchange_n(&s->flash, &left, left - 1, false,
							 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
	flash = left > 0;
	f->key = true;
	if (s->h264) {
		draw(s, s->i420, flash);
		bool idr = __atomic_exchange_n(&s->want_idr, 0, __ATOMIC_ACQ_REL) != 0;
		if (s->fault == DR_SIM_H264_NEW_SPS && s->counter == s->fault_from)
			idr = true;
		int err = dr_sim_h264_encode(s->h264, s->i420, (t - s->t0_ns) / 1000000u, idr, f);
		if (!err)
			err = apply_fault(s, f);
		if (err) {
			dr_frame_unref(f);
			return err == -ENOBUFS ? -EIO : err;
		}
	} else {
		draw(s, f->data, flash);
		f->len = len;
	}
	f->t_ns = t;
	f->seq = s->counter++;
	f->format = c->format;
	f->width = c->width;
	f->height = c->height;
	*out = f;
	return 0;
}

static int sim_stop(struct dr_camera *c)
{
	((struct sim_camera *)c)->started = false;
	return 0;
}

static int sim_flash(struct dr_camera *c)
{
	__atomic_add_fetch(&((struct sim_camera *)c)->flash, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static int sim_force_key(struct dr_camera *c)
{
	struct sim_camera *s = (struct sim_camera *)c;
	if (!s->h264)
		return -ENOTSUP;
	__atomic_store_n(&s->want_idr, 1, __ATOMIC_RELEASE);
	return 0;
}

static int sim_fault(struct dr_camera *c, enum dr_camera_sim_fault fault, uint64_t from)
{
	struct sim_camera *s = (struct sim_camera *)c;
	if (!s->h264)
		return -ENOTSUP;
	s->fault = fault;
	s->fault_from = from;
	return 0;
}

static int sim_unplug(struct dr_camera *c)
{
	__atomic_store_n(&((struct sim_camera *)c)->unplugged, 1, __ATOMIC_RELEASE);
	return 0;
}

static void sim_destroy(struct dr_camera *c)
{
	struct sim_camera *s = (struct sim_camera *)c;
	dr_sim_h264_free(s->h264);
	free(s->i420);
	free(s->row);
	free(s);
}

static const struct dr_camera_ops sim_ops = {
	.name = "sim",
	.start = sim_start,
	.read = sim_read,
	.stop = sim_stop,
	.flash = sim_flash,
	.unplug = sim_unplug,
	.force_key = sim_force_key,
	.fault = sim_fault,
	.destroy = sim_destroy,
};

int dr_camera_open_sim(const struct dr_camera_settings *st, bool paced, struct dr_camera **out,
		       char *err, size_t errlen)
{
	*out = NULL;
	enum dr_pixfmt fmt = st->format == DR_PIX_AUTO ? DR_PIX_YUYV : st->format;
	if (fmt != DR_PIX_YUYV && fmt != DR_PIX_NV12 && fmt != DR_PIX_H264) {
		dr_dev_err(err, errlen, "camera: sim: format %s refused (the simulated camera gives yuyv, nv12 or h264)",
			   dr_pixfmt_name(fmt));
		return -ENOTSUP;
	}
	if (st->width < 64 || st->height < 16 || st->width % 2 || st->height % 2 || !st->fps ||
	    st->width > 4096 || st->height > 4096) {
		dr_dev_err(err, errlen, "camera: sim: %ux%u at %u fps is not a size it can draw",
			   st->width, st->height, st->fps);
		return -EINVAL;
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	if (st->sim_appear_ms && now_ns - st->read_ns < (uint64_t)st->sim_appear_ms * 1000000u) {
		dr_dev_err(err, errlen, "camera: sim: not plugged in yet ([camera] sim_appear_ms)");
		return -ENODEV;
	}
	struct sim_camera *s = calloc(1, sizeof(*s));
	if (!s || !(s->row = malloc(st->width))) {
		free(s);
		dr_dev_err(err, errlen, "camera: sim: out of memory");
		return -ENOMEM;
	}
	s->base.ops = &sim_ops;
	s->base.format = fmt;
	s->base.width = st->width;
	s->base.height = st->height;
	s->base.fps = st->fps;
	snprintf(s->base.name, sizeof(s->base.name), "sim");
	if (fmt == DR_PIX_H264) {
		int r = dr_sim_h264_new(st->width, st->height, st->fps, &s->h264);
		if (!r && !(s->i420 = malloc((size_t)st->width * st->height * 3 / 2)))
			r = -ENOMEM;
		if (r) {
			dr_dev_err(err, errlen, "camera: sim: no H.264 encoder (openh264): %s", strerror(-r));
			sim_destroy(&s->base);
			return r == -ENOMEM ? r : -ENOTSUP;
		}
	}
	if (st->sim_h264_fault && !s->h264) {
		dr_dev_err(err, errlen, "camera: sim: sim_h264_fault needs format = h264");
		sim_destroy(&s->base);
		return -EINVAL;
	}
	s->fault = st->sim_h264_fault;
	s->fault_from = (uint64_t)st->fps * 3 / 2;
	s->paced = paced;
	s->unplug_after_ns = (uint64_t)st->sim_unplug_ms * 1000000u;
	s->first_frame_ns = (uint64_t)st->sim_first_frame_ms * 1000000u;
	*out = &s->base;
	return 0;
}
