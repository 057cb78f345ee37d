/* SPDX-License-Identifier: MIT */
/*
 * The simulated camera's H.264 (camera_impl.h): its pattern encoded with
 * openh264 the way a UVC H.264 camera delivers it. One access unit per
 * frame in Annex B (start codes), the SPS and PPS before every IDR (with
 * the same ids and bytes each time), an IDR every 2 s (a GOP of fps * 2)
 * or when asked (dr_camera_force_key), no frame skipping, 800 kbit/s up to
 * 640x480 and 2500 above. openh264 is loaded through the table the
 * recorder's encoder uses (media/openh264_lib.h): app/dev already links
 * dr_media, and the table is the only thing shared.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "camera_impl.h"
#include "media/openh264_lib.h"

struct dr_sim_h264 {
	ISVCEncoder *oh;
	unsigned w, h;
};

int dr_sim_h264_new(unsigned w, unsigned h, unsigned fps, struct dr_sim_h264 **out)
{
	*out = NULL;
	int err = dr_openh264_load();
	if (err)
		return err;
	struct dr_sim_h264 *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->w = w;
	e->h = h;
	if (dr_oh_create(&e->oh) != 0 || !e->oh) {
		free(e);
		return -EIO;
	}
	int quiet = WELS_LOG_QUIET;
	(*e->oh)->SetOption(e->oh, ENCODER_OPTION_TRACE_LEVEL, &quiet);
	SEncParamExt p;
	(*e->oh)->GetDefaultParams(e->oh, &p);
	int kbps = (uint64_t)w * h <= 640u * 480u ? 800 : 2500;
	p.iUsageType = CAMERA_VIDEO_REAL_TIME;
	p.fMaxFrameRate = (float)fps;
	p.iPicWidth = (int)w;
	p.iPicHeight = (int)h;
	p.iTargetBitrate = kbps * 1000;
	p.iRCMode = RC_BITRATE_MODE;
	p.iMultipleThreadIdc = 1;
	p.uiIntraPeriod = fps * 2;
	p.eSpsPpsIdStrategy = CONSTANT_ID; /* a camera's sets do not change */
	p.bEnableFrameSkip = false;
	p.iSpatialLayerNum = 1;
	p.sSpatialLayers[0].iVideoWidth = (int)w;
	p.sSpatialLayers[0].iVideoHeight = (int)h;
	p.sSpatialLayers[0].fFrameRate = (float)fps;
	p.sSpatialLayers[0].iSpatialBitrate = p.iTargetBitrate;
	p.sSpatialLayers[0].iMaxSpatialBitrate = p.iTargetBitrate * 2;
	int fmt = videoFormatI420;
	if ((*e->oh)->InitializeExt(e->oh, &p) != 0 ||
	    (*e->oh)->SetOption(e->oh, ENCODER_OPTION_DATAFORMAT, &fmt) != 0) {
		dr_sim_h264_free(e);
		return -EIO;
	}
	*out = e;
	return 0;
}

void dr_sim_h264_free(struct dr_sim_h264 *e)
{
	if (!e)
		return;
	if (e->oh) {
		(*e->oh)->Uninitialize(e->oh);
		dr_oh_destroy(e->oh);
	}
	free(e);
}

int dr_sim_h264_encode(struct dr_sim_h264 *e, const unsigned char *i420, uint64_t t_ms, bool idr,
		       struct dr_frame *f)
{
	if (idr)
		(*e->oh)->ForceIntraFrame(e->oh, true);
	SSourcePicture pic;
	memset(&pic, 0, sizeof(pic));
	pic.iColorFormat = videoFormatI420;
	pic.iPicWidth = (int)e->w;
	pic.iPicHeight = (int)e->h;
	pic.pData[0] = (unsigned char *)i420;
	pic.pData[1] = pic.pData[0] + (size_t)e->w * e->h;
	pic.pData[2] = pic.pData[1] + (size_t)e->w * e->h / 4;
	pic.iStride[0] = (int)e->w;
	pic.iStride[1] = pic.iStride[2] = (int)e->w / 2;
	pic.uiTimeStamp = (long long)t_ms;
	SFrameBSInfo info;
	memset(&info, 0, sizeof(info));
	if ((*e->oh)->EncodeFrame(e->oh, &pic, &info) != cmResultSuccess)
		return -EIO;
	f->len = 0;
	f->key = info.eFrameType == videoFrameTypeIDR;
	if (info.eFrameType == videoFrameTypeSkip || info.eFrameType == videoFrameTypeInvalid)
		return 0;
	for (int l = 0; l < info.iLayerNum; l++) {
		const SLayerBSInfo *li = &info.sLayerInfo[l];
		size_t n = 0;
		for (int k = 0; k < li->iNalCount; k++)
			n += (size_t)li->pNalLengthInByte[k];
		if (n > f->cap - f->len)
			return -ENOBUFS;
		memcpy(f->data + f->len, li->pBsBuf, n); /* Annex B, as openh264 writes it */
		f->len += n;
	}
	return 0;
}
