/* SPDX-License-Identifier: MIT */
/* Camera: dispatch over the backend ops, the board-file settings, frames,
 * format negotiation and the simulated pattern's read-back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camera_impl.h"
#include "dev_util.h"
#include "util/conf.h"

static const char *const pix_names[] = {"auto", "mjpeg", "h264", "yuyv", "nv12"};

const char *dr_pixfmt_name(enum dr_pixfmt f)
{
	return (unsigned)f < sizeof(pix_names) / sizeof(pix_names[0]) ? pix_names[f] : "?";
}

int dr_pixfmt_parse(const char *name, enum dr_pixfmt *out)
{
	for (unsigned i = 0; i < sizeof(pix_names) / sizeof(pix_names[0]); i++) {
		if (name && !strcmp(name, pix_names[i])) {
			*out = (enum dr_pixfmt)i;
			return 0;
		}
	}
	return -EINVAL;
}

size_t dr_pixfmt_frame_bytes(enum dr_pixfmt f, unsigned width, unsigned height)
{
	size_t px = (size_t)width * height;
	return f == DR_PIX_YUYV ? 2 * px : f == DR_PIX_NV12 ? px + px / 2 : 0;
}

/* /dev/videoN, /dev/video-anything: numbered in the order devices appear. */
static bool unstable_name(const char *dev)
{
	return !strncmp(dev, "/dev/video", 10);
}

int dr_camera_settings_from_board(const struct dr_conf *board, struct dr_camera_settings *s,
				  char *err, size_t errlen)
{
	static const char *const known[] = {"backend", "device", "width", "height", "fps",
					    "format", "light", "queue_mib", "sim_unplug_ms",
					    "sim_appear_ms", "sim_h264_fault", "sim_first_frame_ms", NULL};
	memset(s, 0, sizeof(*s));
	int r = dr_dev_check_keys(board, "camera", known, "camera: ", err, errlen);
	if (r < 0)
		return r;
	const char *backend = dr_conf_get_str(board, "camera", "backend", "none");
	if (!strcmp(backend, "none"))
		s->backend = DR_CAMERA_NONE;
	else if (!strcmp(backend, "v4l2"))
		s->backend = DR_CAMERA_V4L2;
	else if (!strcmp(backend, "sim"))
		s->backend = DR_CAMERA_SIM;
	else {
		dr_dev_err(err, errlen, "camera: board.conf: [camera] backend = %s: must be v4l2, sim or none",
			   backend);
		return -EINVAL;
	}
	long w, h, fps, q;
	if ((r = dr_conf_get_int(board, "camera", "queue_mib", 8, 1, 256, &q, err, errlen)) < 0)
		return r;
	s->queue_mib = (unsigned)q;
	if ((r = dr_conf_get_int(board, "camera", "sim_unplug_ms", 0, 0, 86400000, &q, err, errlen)) < 0)
		return r;
	s->sim_unplug_ms = (unsigned)q;
	if ((r = dr_conf_get_int(board, "camera", "sim_appear_ms", 0, 0, 86400000, &q, err, errlen)) < 0)
		return r;
	s->sim_appear_ms = (unsigned)q;
	if ((r = dr_conf_get_int(board, "camera", "sim_first_frame_ms", 0, 0, 10000, &q, err, errlen)) < 0)
		return r;
	s->sim_first_frame_ms = (unsigned)q;
	const char *fault = dr_conf_get_str(board, "camera", "sim_h264_fault", "none");
	if (!strcmp(fault, "none"))
		s->sim_h264_fault = DR_SIM_H264_OK;
	else if (!strcmp(fault, "no_sets"))
		s->sim_h264_fault = DR_SIM_H264_NO_SETS;
	else if (!strcmp(fault, "new_sps"))
		s->sim_h264_fault = DR_SIM_H264_NEW_SPS;
	else {
		dr_dev_err(err, errlen,
			   "camera: board.conf: [camera] sim_h264_fault = %s: must be none, no_sets or new_sps",
			   fault);
		return -EINVAL;
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	s->read_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	if ((r = dr_conf_get_int(board, "camera", "width", 640, 16, 4096, &w, err, errlen)) < 0 ||
	    (r = dr_conf_get_int(board, "camera", "height", 480, 16, 4096, &h, err, errlen)) < 0 ||
	    (r = dr_conf_get_int(board, "camera", "fps", 15, 1, 120, &fps, err, errlen)) < 0)
		return r;
	if (w % 2 || h % 2) {
		dr_dev_err(err, errlen, "camera: board.conf: [camera] width and height must be even");
		return -EINVAL;
	}
	s->width = (unsigned)w;
	s->height = (unsigned)h;
	s->fps = (unsigned)fps;
	const char *fmt = dr_conf_get_str(board, "camera", "format", "auto");
	if (dr_pixfmt_parse(fmt, &s->format) < 0) {
		dr_dev_err(err, errlen,
			   "camera: board.conf: [camera] format = %s: must be auto, mjpeg, h264, yuyv or nv12",
			   fmt);
		return -EINVAL;
	}
	const char *light = dr_conf_get_str(board, "camera", "light", "");
	if (strlen(light) >= sizeof(s->light)) {
		dr_dev_err(err, errlen, "camera: board.conf: [camera] light: name too long");
		return -EINVAL;
	}
	strcpy(s->light, light);
	const char *dev = dr_conf_get_str(board, "camera", "device", "");
	if (s->backend != DR_CAMERA_V4L2)
		return 0;
	if (!*dev) {
		dr_dev_err(err, errlen, "camera: board.conf: [camera] device is missing (needed by backend = v4l2)");
		return -EINVAL;
	}
	if (!strncmp(dev, "bus:", 4)) {
		/* The driver's bus_info (VIDIOC_QUERYCAP): the port a USB camera
		 * is plugged into, or a platform device's name (vivid) */
		if (!dev[4] || strlen(dev + 4) >= 32) {
			dr_dev_err(err, errlen,
				   "camera: board.conf: [camera] device = %s: bus: needs a bus_info of 1 to 31 characters",
				   dev);
			return -EINVAL;
		}
		snprintf(s->device, sizeof(s->device), "%s", dev);
		return 0;
	}
	if (unstable_name(dev)) {
		dr_dev_err(err, errlen,
			   "camera: board.conf: [camera] device = %s: name the camera by /dev/v4l/by-id, "
			   "/dev/v4l/by-path or bus:<bus_info>, not its number",
			   dev);
		return -EINVAL;
	}
	int n;
	if (!strncmp(dev, "/dev/v4l/by-id/", 15) || !strncmp(dev, "/dev/v4l/by-path/", 17))
		n = snprintf(s->device, sizeof(s->device), "%s", dev);
	else if (!strchr(dev, '/') && strcmp(dev, ".") && strcmp(dev, ".."))
		n = snprintf(s->device, sizeof(s->device), "/dev/v4l/by-id/%s", dev);
	else {
		dr_dev_err(err, errlen,
			   "camera: board.conf: [camera] device = %s: must be a name in /dev/v4l/by-id "
			   "or a /dev/v4l/by-id/ or /dev/v4l/by-path/ path",
			   dev);
		return -EINVAL;
	}
	if (n < 0 || (size_t)n >= sizeof(s->device)) {
		dr_dev_err(err, errlen, "camera: board.conf: [camera] device: name too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

struct dr_frame *dr_frame_new(size_t cap)
{
	struct dr_frame *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->data = malloc(cap ? cap : 1);
	if (!f->data) {
		free(f);
		return NULL;
	}
	f->cap = cap;
	f->refs = 1;
	return f;
}

struct dr_frame *dr_frame_ref(struct dr_frame *f)
{
	if (f)
		__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
	return f;
}

void dr_frame_unref(struct dr_frame *f)
{
	if (f && __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(f->data);
		free(f);
	}
}

int dr_camera_open(const struct dr_camera_settings *s, struct dr_camera **out, char *err,
		   size_t errlen)
{
	*out = NULL;
	switch (s->backend) {
	case DR_CAMERA_NONE:
		return 0;
	case DR_CAMERA_V4L2:
		return dr_camera_open_v4l2(s, out, err, errlen);
	case DR_CAMERA_SIM:
		return dr_camera_open_sim(s, true, out, err, errlen);
	}
	return -EINVAL;
}

void dr_camera_free(struct dr_camera *c)
{
	if (c)
		c->ops->destroy(c);
}

const char *dr_camera_name(const struct dr_camera *c)
{
	return c ? c->name : "none";
}

void dr_camera_format(const struct dr_camera *c, enum dr_pixfmt *format, unsigned *width,
		      unsigned *height, unsigned *fps)
{
	*format = c->format;
	*width = c->width;
	*height = c->height;
	*fps = c->fps;
}

void dr_camera_watch(struct dr_camera *c, void (*fn)(void *user, enum dr_camera_change what, int err),
		     void *user)
{
	c->watch = fn;
	c->watch_user = user;
}

static void tell(struct dr_camera *c, enum dr_camera_change what, int err)
{
	if (c->watch)
		c->watch(c->watch_user, what, err);
}

int dr_camera_start(struct dr_camera *c)
{
	int r = c->ops->start(c);
	tell(c, r == 0 ? DR_CAMERA_STREAMING : DR_CAMERA_FAILED, r);
	return r;
}

int dr_camera_read(struct dr_camera *c, struct dr_frame **out)
{
	*out = NULL;
	int r = c->ops->read(c, out);
	if (r < 0 && r != -EAGAIN && r != -EINTR)
		tell(c, DR_CAMERA_FAILED, r);
	return r;
}

int dr_camera_stop(struct dr_camera *c)
{
	int r = c->ops->stop(c);
	tell(c, DR_CAMERA_STOPPED, 0);
	return r;
}

int dr_camera_force_key(struct dr_camera *c)
{
	return c->ops->force_key ? c->ops->force_key(c) : -ENOTSUP;
}

int dr_camera_sim_h264_fault(struct dr_camera *c, enum dr_camera_sim_fault fault, uint64_t from)
{
	return c->ops->fault ? c->ops->fault(c, fault, from) : -ENOTSUP;
}

void dr_camera_fail(struct dr_camera *c, int err)
{
	tell(c, DR_CAMERA_FAILED, err);
}

uint64_t dr_camera_dropped(const struct dr_camera *c)
{
	return __atomic_load_n(&c->dropped, __ATOMIC_RELAXED);
}

int dr_camera_sim_flash(struct dr_camera *c)
{
	return c->ops->flash ? c->ops->flash(c) : -ENOTSUP;
}

int dr_camera_sim_unplug(struct dr_camera *c)
{
	return c->ops->unplug ? c->ops->unplug(c) : -ENOTSUP;
}

/* Mean luma of a rectangle's middle half (away from edges a codec blurs). */
static unsigned mean_luma(const unsigned char *y, size_t stride, unsigned x0, unsigned x1,
			  unsigned y0, unsigned y1)
{
	unsigned qx = (x1 - x0) / 4, qy = (y1 - y0) / 4;
	uint64_t sum = 0, n = 0;
	for (unsigned r = y0 + qy; r < y1 - qy; r++)
		for (unsigned x = x0 + qx; x < x1 - qx; x++, n++)
			sum += y[(size_t)r * stride + x];
	return n ? (unsigned)(sum / n) : 0;
}

int dr_camera_pattern_counter(const unsigned char *luma, size_t stride, unsigned width,
			      unsigned height, uint32_t *counter)
{
	if (!luma || width < 64 || height < 16 || stride < width)
		return -EINVAL;
	if (mean_luma(luma, stride, 0, width, height / 4, height) > 200 &&
	    mean_luma(luma, stride, 0, width, 0, height / 8) > 200)
		return 0; /* a flash */
	uint32_t v = 0;
	unsigned bar = width / 32;
	for (unsigned i = 0; i < 32; i++) {
		unsigned m = mean_luma(luma, stride, i * bar, (i + 1) * bar, 0, height / 8);
		if (m > 96 && m < 160)
			return -EINVAL; /* neither bright nor dark: not our bars */
		v = v << 1 | (m >= 160);
	}
	*counter = v;
	return 1;
}

static unsigned area_distance(unsigned w, unsigned h, const struct dr_camera_settings *want)
{
	uint64_t a = (uint64_t)w * h, b = (uint64_t)want->width * want->height;
	uint64_t d = a > b ? a - b : b - a;
	return d > UINT32_MAX ? UINT32_MAX : (unsigned)d;
}

int dr_camera_negotiate(const struct dr_camera_mode *offered, size_t n,
			const struct dr_camera_settings *want, struct dr_camera_mode *out)
{
	static const enum dr_pixfmt pref[] = {DR_PIX_MJPEG, DR_PIX_H264, DR_PIX_YUYV, DR_PIX_NV12};
	enum dr_pixfmt fmt = DR_PIX_AUTO;
	for (size_t p = 0; p < sizeof(pref) / sizeof(pref[0]) && fmt == DR_PIX_AUTO; p++) {
		if (want->format != DR_PIX_AUTO && want->format != pref[p])
			continue;
		for (size_t i = 0; i < n; i++)
			if (offered[i].format == pref[p] && offered[i].width && offered[i].height)
				fmt = pref[p];
	}
	if (fmt == DR_PIX_AUTO)
		return -ENOTSUP;
	const struct dr_camera_mode *best = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct dr_camera_mode *m = &offered[i];
		if (m->format != fmt || !m->width || !m->height)
			continue;
		if (!best)
			best = m;
		unsigned d = area_distance(m->width, m->height, want);
		unsigned bd = area_distance(best->width, best->height, want);
		bool exact = m->width == want->width && m->height == want->height;
		bool best_exact = best->width == want->width && best->height == want->height;
		if (best_exact)
			continue;
		if (exact || d < bd ||
		    (d == bd && (uint64_t)m->width * m->height > (uint64_t)best->width * best->height))
			best = m;
	}
	*out = *best;
	return 0;
}
