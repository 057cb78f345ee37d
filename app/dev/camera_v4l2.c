/* SPDX-License-Identifier: MIT */
/*
 * The camera on libv4l2: opened through v4l2_fd_open with
 * V4L2_DISABLE_CONVERSION (the box takes the camera's own formats; no
 * conversion in libv4l2's emulation layer), mmap streaming with a few
 * buffers, each frame copied out into a refcounted dr_frame and its buffer
 * queued again at once. Timestamps are the buffers' (the driver's
 * CLOCK_MONOTONIC grab time); a driver that stamps with another clock gets
 * the time the frame was dequeued instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <libv4l2.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "camera_impl.h"
#include "dev_util.h"
#include "util/dynlib.h"

/* libv4l2 is loaded when a camera is first opened (util/dynlib.h): a box
 * without a camera never maps it. Bookworm's soname (libv4l-0). */
#ifndef DR_V4L2_SONAME
#define DR_V4L2_SONAME "libv4l2.so.0"
#endif
static __typeof__(v4l2_fd_open) *lv_fd_open;
static __typeof__(v4l2_close) *lv_close;
static __typeof__(v4l2_ioctl) *lv_ioctl;
static __typeof__(v4l2_mmap) *lv_mmap;
static __typeof__(v4l2_munmap) *lv_munmap;
static const struct dr_dynsym lv_syms[] = {
	{"v4l2_fd_open", (void **)&lv_fd_open}, {"v4l2_close", (void **)&lv_close},
	{"v4l2_ioctl", (void **)&lv_ioctl},     {"v4l2_mmap", (void **)&lv_mmap},
	{"v4l2_munmap", (void **)&lv_munmap},
};
static struct dr_dynlib lv_lib = DR_DYNLIB_INIT(DR_V4L2_SONAME, lv_syms);

#define NBUF 4
#define MAX_MODES 128
#define READ_TIMEOUT_MS 2000

struct v4l2_camera {
	struct dr_camera base;
	int fd;
	bool streaming;
	unsigned nbuf;
	void *map[NBUF];
	size_t map_len[NBUF];
	bool have_seq;
	uint32_t last_seq;
};

static uint32_t fourcc(enum dr_pixfmt f)
{
	switch (f) {
	case DR_PIX_MJPEG: return V4L2_PIX_FMT_MJPEG;
	case DR_PIX_H264: return V4L2_PIX_FMT_H264;
	case DR_PIX_YUYV: return V4L2_PIX_FMT_YUYV;
	case DR_PIX_NV12: return V4L2_PIX_FMT_NV12;
	default: return 0;
	}
}

static enum dr_pixfmt from_fourcc(uint32_t f)
{
	switch (f) {
	case V4L2_PIX_FMT_MJPEG: case V4L2_PIX_FMT_JPEG: return DR_PIX_MJPEG;
	case V4L2_PIX_FMT_H264: return DR_PIX_H264;
	case V4L2_PIX_FMT_YUYV: return DR_PIX_YUYV;
	case V4L2_PIX_FMT_NV12: return DR_PIX_NV12;
	default: return DR_PIX_AUTO; /* not one the box can use */
	}
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;
	do
		r = lv_ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/* The device errors that mean the camera is gone. */
static int hw_err(int err)
{
	return err == -ENODEV || err == -ENXIO || err == -ENOENT ? -ENODEV : err;
}

/* Every (format, size) the camera offers that the box can use. Stepwise
 * sizes are offered as the wanted size clamped into the range. */
static size_t list_modes(int fd, const struct dr_camera_settings *want,
			 struct dr_camera_mode *modes)
{
	size_t n = 0;
	struct v4l2_fmtdesc fd_ = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
	for (fd_.index = 0; xioctl(fd, VIDIOC_ENUM_FMT, &fd_) == 0; fd_.index++) {
		enum dr_pixfmt f = from_fourcc(fd_.pixelformat);
		if (f == DR_PIX_AUTO || (fd_.flags & V4L2_FMT_FLAG_EMULATED))
			continue;
		struct v4l2_frmsizeenum fs = {.pixel_format = fd_.pixelformat};
		for (fs.index = 0; n < MAX_MODES && xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &fs) == 0;
		     fs.index++) {
			if (fs.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
				modes[n++] = (struct dr_camera_mode){f, fs.discrete.width,
								     fs.discrete.height};
				continue;
			}
			unsigned w = want->width, h = want->height;
			w = w < fs.stepwise.min_width ? fs.stepwise.min_width : w > fs.stepwise.max_width ? fs.stepwise.max_width : w;
			h = h < fs.stepwise.min_height ? fs.stepwise.min_height : h > fs.stepwise.max_height ? fs.stepwise.max_height : h;
			modes[n++] = (struct dr_camera_mode){f, w, h};
			break;
		}
	}
	return n;
}

static int setup(struct v4l2_camera *v, const struct dr_camera_settings *s, char *err,
		 size_t errlen)
{
	struct v4l2_capability cap;
	memset(&cap, 0, sizeof(cap));
	int r = xioctl(v->fd, VIDIOC_QUERYCAP, &cap);
	uint32_t caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
	if (r < 0 || !(caps & V4L2_CAP_VIDEO_CAPTURE) || !(caps & V4L2_CAP_STREAMING)) {
		dr_dev_err(err, errlen, "camera: %s is not a video capture device", s->device);
		return r == -ENODEV ? -ENODEV : -ENOTSUP;
	}
	struct dr_camera_mode *modes = calloc(MAX_MODES, sizeof(*modes));
	if (!modes)
		return -ENOMEM;
	size_t n = list_modes(v->fd, s, modes);
	struct dr_camera_mode m;
	r = dr_camera_negotiate(modes, n, s, &m);
	free(modes);
	if (r < 0) {
		dr_dev_err(err, errlen, "camera: %s offers no %s format the box can use", s->device,
			   s->format == DR_PIX_AUTO ? "" : dr_pixfmt_name(s->format));
		return -ENOTSUP;
	}
	struct v4l2_format fmt = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
	fmt.fmt.pix.width = m.width;
	fmt.fmt.pix.height = m.height;
	fmt.fmt.pix.pixelformat = fourcc(m.format);
	fmt.fmt.pix.field = V4L2_FIELD_NONE;
	r = xioctl(v->fd, VIDIOC_S_FMT, &fmt);
	if (r < 0 || fmt.fmt.pix.pixelformat != fourcc(m.format)) {
		dr_dev_err(err, errlen, "camera: %s refused %s %ux%u", s->device,
			   dr_pixfmt_name(m.format), m.width, m.height);
		return r < 0 ? hw_err(r) == -ENODEV ? -ENODEV : -ENOTSUP : -ENOTSUP;
	}
	v->base.format = m.format;
	v->base.width = fmt.fmt.pix.width;
	v->base.height = fmt.fmt.pix.height;
	/* Ask for the rate; many cameras set their own (and slow down in the
	 * dark): the frames' own timestamps are what count. */
	struct v4l2_streamparm parm = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE};
	parm.parm.capture.timeperframe.numerator = 1;
	parm.parm.capture.timeperframe.denominator = s->fps;
	v->base.fps = s->fps;
	if (xioctl(v->fd, VIDIOC_S_PARM, &parm) == 0 && parm.parm.capture.timeperframe.numerator)
		v->base.fps = parm.parm.capture.timeperframe.denominator /
			      parm.parm.capture.timeperframe.numerator;
	struct v4l2_requestbuffers req = {.count = NBUF, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					  .memory = V4L2_MEMORY_MMAP};
	r = xioctl(v->fd, VIDIOC_REQBUFS, &req);
	if (r < 0 || req.count < 2) {
		dr_dev_err(err, errlen, "camera: %s: no streaming buffers", s->device);
		return r < 0 ? hw_err(r) : -ENOMEM;
	}
	v->nbuf = req.count > NBUF ? NBUF : req.count;
	for (unsigned i = 0; i < v->nbuf; i++) {
		struct v4l2_buffer b = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP,
					.index = i};
		if ((r = xioctl(v->fd, VIDIOC_QUERYBUF, &b)) < 0)
			return hw_err(r);
		void *p = lv_mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, b.m.offset);
		if (p == MAP_FAILED)
			return -errno;
		v->map[i] = p;
		v->map_len[i] = b.length;
	}
	return 0;
}

static int cam_start(struct dr_camera *c)
{
	struct v4l2_camera *v = (struct v4l2_camera *)c;
	for (unsigned i = 0; i < v->nbuf; i++) {
		struct v4l2_buffer b = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP,
					.index = i};
		int r = xioctl(v->fd, VIDIOC_QBUF, &b);
		if (r < 0 && r != -EINVAL) /* EINVAL: already queued */
			return hw_err(r);
	}
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	int r = xioctl(v->fd, VIDIOC_STREAMON, &type);
	if (r < 0)
		return hw_err(r);
	v->streaming = true;
	v->have_seq = false;
	return 0;
}

static int cam_read(struct dr_camera *c, struct dr_frame **out)
{
	struct v4l2_camera *v = (struct v4l2_camera *)c;
	if (!v->streaming)
		return -EINVAL;
	struct pollfd pfd = {.fd = v->fd, .events = POLLIN};
	int pr;
	do
		pr = poll(&pfd, 1, READ_TIMEOUT_MS);
	while (pr < 0 && errno == EINTR);
	if (pr < 0)
		return -errno;
	if (pr == 0)
		return -EAGAIN;
	if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL) && !(pfd.revents & POLLIN))
		return -ENODEV;
	struct v4l2_buffer b = {.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP};
	int r = xioctl(v->fd, VIDIOC_DQBUF, &b);
	if (r == -EAGAIN)
		return -EAGAIN;
	if (r < 0)
		return r == -EIO ? -EIO : hw_err(r);
	uint64_t now = dr_dev_mono_ns();
	int ret = 0;
	struct dr_frame *f = NULL;
	if (b.index >= v->nbuf || b.bytesused > v->map_len[b.index] || (b.flags & V4L2_BUF_FLAG_ERROR)) {
		ret = -EAGAIN; /* a damaged frame: counted, not handed out */
		__atomic_add_fetch(&c->dropped, 1, __ATOMIC_RELAXED);
	} else if (!(f = dr_frame_new(b.bytesused))) {
		ret = -ENOMEM;
	} else {
		memcpy(f->data, v->map[b.index], b.bytesused);
		f->len = b.bytesused;
		bool mono = (b.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
		f->t_ns = mono ? (uint64_t)b.timestamp.tv_sec * 1000000000u + (uint64_t)b.timestamp.tv_usec * 1000u
			       : now;
		f->seq = b.sequence;
		f->format = c->format;
		f->width = c->width;
		f->height = c->height;
		/* A hint only: the recorder takes H.264's key flag from the
		 * access unit's NAL units (an IDR slice), as some cameras do not
		 * set the buffer flag. Each buffer is one whole access unit. */
		f->key = c->format != DR_PIX_H264 || (b.flags & V4L2_BUF_FLAG_KEYFRAME);
		if (v->have_seq && b.sequence > v->last_seq + 1)
			__atomic_add_fetch(&c->dropped, b.sequence - v->last_seq - 1, __ATOMIC_RELAXED);
		v->have_seq = true;
		v->last_seq = b.sequence;
	}
	r = xioctl(v->fd, VIDIOC_QBUF, &b);
	if (r < 0 && !ret)
		ret = hw_err(r);
	if (ret) {
		dr_frame_unref(f);
		return ret;
	}
	*out = f;
	return 0;
}

static int cam_stop(struct dr_camera *c)
{
	struct v4l2_camera *v = (struct v4l2_camera *)c;
	if (!v->streaming)
		return 0;
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	v->streaming = false;
	return hw_err(xioctl(v->fd, VIDIOC_STREAMOFF, &type));
}

static void cam_destroy(struct dr_camera *c)
{
	struct v4l2_camera *v = (struct v4l2_camera *)c;
	if (v->fd >= 0) {
		(void)cam_stop(c);
		for (unsigned i = 0; i < NBUF; i++)
			if (v->map[i])
				lv_munmap(v->map[i], v->map_len[i]);
		struct v4l2_requestbuffers req = {.count = 0, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
						  .memory = V4L2_MEMORY_MMAP};
		(void)xioctl(v->fd, VIDIOC_REQBUFS, &req);
		lv_close(v->fd);
	}
	free(v);
}

/* H.264: ask for an IDR next (after a frame was lost). Cameras without
 * the control say so (-EINVAL, -ENOTTY): the caller ignores it and waits
 * for the camera's own next key frame. */
static int cam_force_key(struct dr_camera *c)
{
	struct v4l2_camera *v = (struct v4l2_camera *)c;
	if (c->format != DR_PIX_H264)
		return -ENOTSUP;
	struct v4l2_control ctl = {.id = V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME, .value = 1};
	return xioctl(v->fd, VIDIOC_S_CTRL, &ctl);
}

static const struct dr_camera_ops v4l2_ops = {
	.name = "v4l2",
	.start = cam_start,
	.read = cam_read,
	.stop = cam_stop,
	.force_key = cam_force_key,
	.destroy = cam_destroy,
};

/* The video capture node whose driver says bus_info `bus` (a camera may
 * have several nodes: metadata, vivid's output; only a capture node is
 * taken), lowest number first, into path: 0 or -ENODEV. */
static int find_by_bus(const char *bus, char *path, size_t len)
{
	for (int i = 0; i < 64; i++) {
		snprintf(path, len, "/dev/video%d", i);
		int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		struct stat st;
		struct v4l2_capability cap;
		int qr = -1;
		if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode)) {
			do
				qr = ioctl(fd, VIDIOC_QUERYCAP, &cap);
			while (qr < 0 && errno == EINTR);
		}
		close(fd);
		if (qr < 0)
			continue;
		uint32_t caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
		if ((caps & V4L2_CAP_VIDEO_CAPTURE) && (caps & V4L2_CAP_STREAMING) &&
		    strncmp((const char *)cap.bus_info, bus, sizeof(cap.bus_info)) == 0)
			return 0;
	}
	return -ENODEV;
}

int dr_camera_open_v4l2(const struct dr_camera_settings *s, struct dr_camera **out, char *err,
			size_t errlen)
{
	*out = NULL;
	int lr = dr_dynlib_load(&lv_lib);
	if (lr < 0) {
		dr_dev_err(err, errlen, "camera: %s is not installed (package libv4l-0)", DR_V4L2_SONAME);
		return -ENOTSUP;
	}
	char path[64];
	const char *dev = s->device;
	if (!strncmp(dev, "bus:", 4)) {
		if (find_by_bus(dev + 4, path, sizeof(path)) < 0) {
			dr_dev_err(err, errlen, "camera: %s: no camera there", dev);
			return -ENODEV;
		}
		dev = path;
	}
	struct v4l2_camera *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->base.ops = &v4l2_ops;
	snprintf(v->base.name, sizeof(v->base.name), "v4l2:%s", s->device);
	int fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		dr_dev_err(err, errlen, "camera: %s: %s", s->device,
			   e == ENOENT || e == ENODEV || e == ENXIO ? "no camera there" : strerror(e));
		free(v);
		return e == ENOENT || e == ENODEV || e == ENXIO ? -ENODEV : -e;
	}
	/* Asked before libv4l2 sees it (which would print to stderr about
	 * anything that is not a camera). */
	struct v4l2_capability cap;
	int qr;
	do
		qr = ioctl(fd, VIDIOC_QUERYCAP, &cap);
	while (qr < 0 && errno == EINTR);
	v->fd = qr < 0 ? -1 : lv_fd_open(fd, V4L2_DISABLE_CONVERSION);
	if (v->fd < 0) {
		int e = errno;
		close(fd);
		free(v);
		dr_dev_err(err, errlen, "camera: %s is not a video device", s->device);
		return e == ENODEV ? -ENODEV : -ENOTSUP;
	}
	int r = setup(v, s, err, errlen);
	if (r < 0) {
		cam_destroy(&v->base);
		return r;
	}
	*out = &v->base;
	return 0;
}
