/* SPDX-License-Identifier: MIT */
/* Video packets for the recorder (see videnc.h). */
#include "videnc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "h264.h"
#include "openh264_lib.h"

struct dr_videnc {
	struct dr_track track;
	enum dr_pixfmt format;
	unsigned w, h, fps;
	ISVCEncoder *oh;         /* NULL: pass-through */
	unsigned char *i420;     /* the raw frame converted for openh264 */
	unsigned char *avcc;
	size_t avcc_len;
	/* H.264 pass-through: the track is described once the first key frame
	 * with its parameter sets came (camera thread writes, release). */
	atomic_bool ready;
	unsigned char *sps, *pps; /* copies of sets that came before their key frame */
	size_t sps_len, pps_len;
	uint64_t frames;
	uint64_t t0_ns; /* the first frame's grab time */
	bool force_key;
};

struct lenbuf {
	unsigned char *p;
	size_t len, cap;
	const unsigned char *sps, *pps;
	size_t sps_len, pps_len;
};

static int lb_put(struct lenbuf *b, const unsigned char *nal, size_t len)
{
	if (b->len + 4 + len > b->cap) {
		size_t cap = (b->len + 4 + len) * 2;
		unsigned char *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	b->p[b->len++] = (unsigned char)(len >> 24);
	b->p[b->len++] = (unsigned char)(len >> 16);
	b->p[b->len++] = (unsigned char)(len >> 8);
	b->p[b->len++] = (unsigned char)len;
	memcpy(b->p + b->len, nal, len);
	b->len += len;
	return 0;
}

static int on_nal(void *user, const unsigned char *nal, size_t len)
{
	return lb_put(user, nal, len);
}

static int on_param_set(void *user, const unsigned char *nal, size_t len)
{
	struct lenbuf *b = user;
	if ((nal[0] & 0x1F) == 7 && !b->sps) {
		b->sps = nal;
		b->sps_len = len;
	} else if ((nal[0] & 0x1F) == 8 && !b->pps) {
		b->pps = nal;
		b->pps_len = len;
	}
	return 0;
}

/* Walks openh264's output layers as one Annex B byte run each. */
static int each_layer(const SFrameBSInfo *info, dr_h264_nal_fn fn, void *user)
{
	for (int l = 0; l < info->iLayerNum; l++) {
		const SLayerBSInfo *li = &info->sLayerInfo[l];
		size_t n = 0;
		for (int k = 0; k < li->iNalCount; k++)
			n += (size_t)li->pNalLengthInByte[k];
		int err = dr_h264_each_nal(li->pBsBuf, n, fn, user);
		if (err)
			return err;
	}
	return 0;
}

/* ISO/IEC 14496-15 AVCDecoderConfigurationRecord from the SPS and PPS. */
static int make_avcc(struct dr_videnc *e)
{
	SFrameBSInfo info;
	memset(&info, 0, sizeof(info));
	if ((*e->oh)->EncodeParameterSets(e->oh, &info) != 0)
		return -EIO;
	struct lenbuf b = {0};
	each_layer(&info, on_param_set, &b);
	int err = dr_h264_avcc(b.sps, b.sps_len, b.pps, b.pps_len, &e->avcc, &e->avcc_len);
	return err == -ENOMEM ? err : err ? -EIO : 0;
}

static int open_openh264(struct dr_videnc *e, unsigned kbps)
{
	int lr = dr_openh264_load();
	if (lr < 0)
		return lr;
	if (dr_oh_create(&e->oh) != 0 || !e->oh) {
		e->oh = NULL;
		return -EIO;
	}
	int quiet = WELS_LOG_QUIET; /* library code does not log */
	(*e->oh)->SetOption(e->oh, ENCODER_OPTION_TRACE_LEVEL, &quiet);
	SEncParamExt p;
	(*e->oh)->GetDefaultParams(e->oh, &p);
	p.iUsageType = CAMERA_VIDEO_REAL_TIME;
	p.fMaxFrameRate = (float)e->fps;
	p.iPicWidth = (int)e->w;
	p.iPicHeight = (int)e->h;
	p.iTargetBitrate = (int)kbps * 1000;
	p.iRCMode = RC_BITRATE_MODE;
	p.iMultipleThreadIdc = 1;
	p.uiIntraPeriod = e->fps * 2; /* a key frame every 2 s */
	p.bEnableFrameSkip = false;   /* every frame grabbed is in the file */
	p.iSpatialLayerNum = 1;
	p.sSpatialLayers[0].iVideoWidth = (int)e->w;
	p.sSpatialLayers[0].iVideoHeight = (int)e->h;
	p.sSpatialLayers[0].fFrameRate = (float)e->fps;
	p.sSpatialLayers[0].iSpatialBitrate = p.iTargetBitrate;
	p.sSpatialLayers[0].iMaxSpatialBitrate = p.iTargetBitrate * 2;
	if ((*e->oh)->InitializeExt(e->oh, &p) != 0)
		return -EIO;
	int fmt = videoFormatI420;
	(*e->oh)->SetOption(e->oh, ENCODER_OPTION_DATAFORMAT, &fmt);
	e->i420 = malloc((size_t)e->w * e->h * 3 / 2);
	if (!e->i420)
		return -ENOMEM;
	return make_avcc(e);
}

int dr_videnc_new(enum dr_pixfmt format, unsigned width, unsigned height, unsigned fps,
		  unsigned kbps, struct dr_videnc **out)
{
	if (!out || !width || !height || !fps || width > 4096 || height > 4096)
		return -EINVAL;
	if (format != DR_PIX_MJPEG && format != DR_PIX_H264 && format != DR_PIX_YUYV &&
	    format != DR_PIX_NV12)
		return -ENOTSUP;
	if ((format == DR_PIX_YUYV || format == DR_PIX_NV12) && (width % 2 || height % 2))
		return -ENOTSUP;
	struct dr_videnc *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->format = format;
	e->w = width;
	e->h = height;
	e->fps = fps;
	e->track.kind = DR_TRACK_VIDEO;
	e->track.width = width;
	e->track.height = height;
	if (format == DR_PIX_MJPEG) {
		e->track.codec = "V_MJPEG";
		atomic_init(&e->ready, true);
	} else if (format == DR_PIX_H264) {
		/* CodecPrivate from the first key frame (dr_videnc_ready). */
		e->track.codec = "V_MPEG4/ISO/AVC";
		atomic_init(&e->ready, false);
	} else {
		atomic_init(&e->ready, true);
		if (!kbps)
			kbps = (uint64_t)width * height <= 640u * 480u ? 800 : 2500;
		int err = open_openh264(e, kbps);
		if (err) {
			dr_videnc_free(e);
			return err;
		}
		e->track.codec = "V_MPEG4/ISO/AVC";
		e->track.codec_private = e->avcc;
		e->track.codec_private_len = e->avcc_len;
	}
	*out = e;
	return 0;
}

void dr_videnc_free(struct dr_videnc *e)
{
	if (!e)
		return;
	if (e->oh) {
		(*e->oh)->Uninitialize(e->oh);
		dr_oh_destroy(e->oh);
	}
	free(e->i420);
	free(e->avcc);
	free(e->sps);
	free(e->pps);
	free(e);
}

const struct dr_track *dr_videnc_track(const struct dr_videnc *e)
{
	return &e->track;
}

bool dr_videnc_ready(const struct dr_videnc *e)
{
	return atomic_load_explicit(&e->ready, memory_order_acquire);
}

bool dr_videnc_passthrough(const struct dr_videnc *e)
{
	return !e->oh;
}

void dr_videnc_force_key(struct dr_videnc *e)
{
	e->force_key = true;
}

/* YUYV or NV12 to I420 (4:2:0: YUYV's chroma of two rows averaged). */
static void to_i420(const struct dr_videnc *e, const unsigned char *src)
{
	unsigned w = e->w, h = e->h;
	unsigned char *y = e->i420, *u = y + (size_t)w * h, *v = u + (size_t)w * h / 4;
	if (e->format == DR_PIX_NV12) {
		memcpy(y, src, (size_t)w * h);
		const unsigned char *uv = src + (size_t)w * h;
		for (size_t i = 0; i < (size_t)w * h / 4; i++) {
			u[i] = uv[2 * i];
			v[i] = uv[2 * i + 1];
		}
		return;
	}
	for (unsigned r = 0; r < h; r++) {
		const unsigned char *s = src + (size_t)r * w * 2;
		unsigned char *yo = y + (size_t)r * w;
		for (unsigned x = 0; x < w; x++)
			yo[x] = s[2 * x];
		if (r % 2)
			continue;
		const unsigned char *s2 = s + (size_t)w * 2;
		unsigned char *uo = u + (size_t)(r / 2) * (w / 2), *vo = v + (size_t)(r / 2) * (w / 2);
		for (unsigned x = 0; x < w / 2; x++) {
			uo[x] = (unsigned char)((s[4 * x + 1] + s2[4 * x + 1] + 1) / 2);
			vo[x] = (unsigned char)((s[4 * x + 3] + s2[4 * x + 3] + 1) / 2);
		}
	}
}

/* Keeps a copy of a parameter set that came before its key frame (a
 * camera may send them in a buffer of their own). */
static int keep_set(unsigned char **dst, size_t *dst_len, const unsigned char *p, size_t n)
{
	unsigned char *c = malloc(n);
	if (!c)
		return -ENOMEM;
	memcpy(c, p, n);
	free(*dst);
	*dst = c;
	*dst_len = n;
	return 0;
}

/* The camera's access unit (Annex B) to a block. Before the track is
 * described, everything up to the first IDR with an SPS and a PPS (in it
 * or in the buffers before it) is dropped: -EAGAIN, counted by the
 * caller. */
static int h264_frame(struct dr_videnc *e, const struct dr_frame *f, unsigned char **data,
		      size_t *len, bool *key)
{
	struct dr_h264_au au;
	int err = dr_h264_au_scan(f->data, f->len, &au);
	if (err)
		return err;
	if (!atomic_load_explicit(&e->ready, memory_order_relaxed)) {
		if (au.sps && (err = keep_set(&e->sps, &e->sps_len, au.sps, au.sps_len)))
			return err;
		if (au.pps && (err = keep_set(&e->pps, &e->pps_len, au.pps, au.pps_len)))
			return err;
		if (!au.picture)
			return 0; /* parameter sets alone: kept for the key frame */
		if (!au.idr || !e->sps || !e->pps)
			return -EAGAIN;
		err = dr_h264_avcc(e->sps, e->sps_len, e->pps, e->pps_len, &e->avcc, &e->avcc_len);
		if (err)
			return err;
		e->track.codec_private = e->avcc;
		e->track.codec_private_len = e->avcc_len;
		free(e->sps);
		free(e->pps);
		e->sps = e->pps = NULL;
		e->force_key = false;
		atomic_store_explicit(&e->ready, true, memory_order_release);
	}
	if (e->force_key && au.picture && !au.idr)
		return -EAGAIN; /* refers to a frame that was lost: until the next IDR */
	if (!au.picture) {
		/* in-band repeats equal to the avcC are left out; others lie */
		err = dr_h264_au_to_block(f->data, f->len, e->avcc, e->avcc_len, data, len);
		free(*data);
		*data = NULL;
		*len = 0;
		return err;
	}
	err = dr_h264_au_to_block(f->data, f->len, e->avcc, e->avcc_len, data, len);
	if (err)
		return err;
	*key = au.idr; /* from the NAL units, not the driver's flag */
	if (au.idr)
		e->force_key = false;
	e->frames++;
	return 0;
}

int dr_videnc_frame(struct dr_videnc *e, const struct dr_frame *f, unsigned char **data,
		    size_t *len, bool *key)
{
	*data = NULL;
	*len = 0;
	*key = false;
	if (f->format != e->format || f->width != e->w || f->height != e->h)
		return -EINVAL;
	if (e->format == DR_PIX_H264)
		return h264_frame(e, f, data, len, key);
	if (!e->oh) {
		if (!f->len)
			return 0;
		*data = malloc(f->len);
		if (!*data)
			return -ENOMEM;
		memcpy(*data, f->data, f->len);
		*len = f->len;
		*key = true;
		return 0;
	}
	if (f->len < dr_pixfmt_frame_bytes(f->format, f->width, f->height))
		return -EINVAL;
	to_i420(e, f->data);
	if (e->force_key) {
		(*e->oh)->ForceIntraFrame(e->oh, true);
		e->force_key = false;
	}
	SSourcePicture pic;
	memset(&pic, 0, sizeof(pic));
	pic.iColorFormat = videoFormatI420;
	pic.iPicWidth = (int)e->w;
	pic.iPicHeight = (int)e->h;
	pic.pData[0] = e->i420;
	pic.pData[1] = e->i420 + (size_t)e->w * e->h;
	pic.pData[2] = pic.pData[1] + (size_t)e->w * e->h / 4;
	pic.iStride[0] = (int)e->w;
	pic.iStride[1] = pic.iStride[2] = (int)e->w / 2;
	if (!e->frames)
		e->t0_ns = f->t_ns;
	pic.uiTimeStamp = (long long)((f->t_ns - e->t0_ns) / 1000000u);
	SFrameBSInfo info;
	memset(&info, 0, sizeof(info));
	if ((*e->oh)->EncodeFrame(e->oh, &pic, &info) != cmResultSuccess)
		return -EIO;
	e->frames++;
	if (info.eFrameType == videoFrameTypeSkip || info.eFrameType == videoFrameTypeInvalid)
		return 0;
	struct lenbuf b = {0};
	int err = each_layer(&info, on_nal, &b);
	if (err) {
		free(b.p);
		return err;
	}
	*data = b.p;
	*len = b.len;
	*key = info.eFrameType == videoFrameTypeIDR;
	return 0;
}
