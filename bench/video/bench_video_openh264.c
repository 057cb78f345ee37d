/* SPDX-License-Identifier: MIT */
/* bench_video's openh264 encoder, in a file of its own: openh264's and
 * x264's headers both define NAL_SLICE and friends. */
#include <stdlib.h>
#include <string.h>

#include <wels/codec_api.h>

#include "bench_video.h"

void *bv_openh264_open(unsigned w, unsigned h, unsigned fps, unsigned kbps)
{
	ISVCEncoder *oh;
	if (WelsCreateSVCEncoder(&oh) != 0)
		return NULL;
	SEncParamExt p;
	(*oh)->GetDefaultParams(oh, &p);
	p.iUsageType = CAMERA_VIDEO_REAL_TIME;
	p.fMaxFrameRate = (float)fps;
	p.iPicWidth = (int)w;
	p.iPicHeight = (int)h;
	p.iTargetBitrate = (int)kbps * 1000;
	p.iRCMode = RC_BITRATE_MODE;
	p.iMultipleThreadIdc = 1;
	p.uiIntraPeriod = fps * 2;
	p.iSpatialLayerNum = 1;
	p.sSpatialLayers[0].iVideoWidth = (int)w;
	p.sSpatialLayers[0].iVideoHeight = (int)h;
	p.sSpatialLayers[0].fFrameRate = (float)fps;
	p.sSpatialLayers[0].iSpatialBitrate = p.iTargetBitrate;
	p.sSpatialLayers[0].iMaxSpatialBitrate = p.iTargetBitrate * 2;
	if ((*oh)->InitializeExt(oh, &p) != 0) {
		WelsDestroySVCEncoder(oh);
		return NULL;
	}
	return oh;
}

long bv_openh264_encode(void *enc, unsigned char *const pl[3], unsigned w, unsigned h,
			long i, unsigned fps)
{
	ISVCEncoder *oh = enc;
	SSourcePicture pic;
	memset(&pic, 0, sizeof(pic));
	pic.iColorFormat = videoFormatI420;
	pic.iPicWidth = (int)w;
	pic.iPicHeight = (int)h;
	for (int k = 0; k < 3; k++) {
		pic.pData[k] = pl[k];
		pic.iStride[k] = k ? (int)w / 2 : (int)w;
	}
	pic.uiTimeStamp = i * 1000 / fps;
	SFrameBSInfo info;
	memset(&info, 0, sizeof(info));
	if ((*oh)->EncodeFrame(oh, &pic, &info) != 0)
		return -1;
	long bytes = 0;
	for (int l = 0; l < info.iLayerNum; l++)
		for (int k = 0; k < info.sLayerInfo[l].iNalCount; k++)
			bytes += info.sLayerInfo[l].pNalLengthInByte[k];
	return bytes;
}

void bv_openh264_close(void *enc)
{
	ISVCEncoder *oh = enc;
	(*oh)->Uninitialize(oh);
	WelsDestroySVCEncoder(oh);
}
