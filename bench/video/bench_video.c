/* SPDX-License-Identifier: MIT */
/*
 * bench_video: the cost of encoding raw camera frames in software, to choose
 * the encoder for cameras without compression (issue 12, step 3).
 *
 *   bench_video CODEC WIDTHxHEIGHT FPS SECONDS
 *   CODEC: none (frames only: the baseline) | mjpeg (libturbojpeg) |
 *          x264 | openh264 | vp8 (libvpx)
 *
 * Frames come from the simulated camera (NV12, unpaced) and are converted to
 * I420, which every encoder here takes, with a little sensor-like noise
 * added to the luma; "none" does exactly that and
 * nothing else, so callgrind's count for a codec less the count for "none"
 * is the encoder's own. Every encoder runs single-threaded (instruction
 * counts do not depend on scheduling) in its real-time setting, at the same
 * target bitrate where it has one (DR_BENCH_KBPS, default 800 for 640x480,
 * 2500 above). Prints one JSON line: codec, size, frames, bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>
#include <vpx/vp8cx.h>
#include <vpx/vpx_encoder.h>
#include <x264.h>

#include "bench_video.h"
#include "dev/camera.h"

struct enc {
	const char *name;
	unsigned w, h, fps, kbps;
	size_t bytes;
	tjhandle tj;
	x264_t *x264;
	void *oh;
	vpx_codec_ctx_t vpx;
	bool vpx_open;
};

static void die(const char *what)
{
	fprintf(stderr, "bench_video: %s\n", what);
	exit(1);
}

static void open_enc(struct enc *e)
{
	if (!strcmp(e->name, "mjpeg")) {
		if (!(e->tj = tjInitCompress()))
			die("tjInitCompress");
	} else if (!strcmp(e->name, "x264")) {
		x264_param_t p;
		if (x264_param_default_preset(&p, "ultrafast", "zerolatency") < 0)
			die("x264 preset");
		p.i_width = (int)e->w;
		p.i_height = (int)e->h;
		p.i_fps_num = e->fps;
		p.i_fps_den = 1;
		p.i_csp = X264_CSP_I420;
		p.i_threads = 1;
		p.i_keyint_max = (int)e->fps * 2;
		p.rc.i_rc_method = X264_RC_ABR;
		p.rc.i_bitrate = (int)e->kbps;
		p.b_repeat_headers = 1;
		p.i_log_level = X264_LOG_NONE;
		if (x264_param_apply_profile(&p, "baseline") < 0 || !(e->x264 = x264_encoder_open(&p)))
			die("x264_encoder_open");
	} else if (!strcmp(e->name, "openh264")) {
		if (!(e->oh = bv_openh264_open(e->w, e->h, e->fps, e->kbps)))
			die("openh264 InitializeExt");
	} else if (!strcmp(e->name, "vp8")) {
		vpx_codec_enc_cfg_t cfg;
		if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0))
			die("vpx config");
		cfg.g_w = e->w;
		cfg.g_h = e->h;
		cfg.g_timebase.num = 1;
		cfg.g_timebase.den = (int)e->fps;
		cfg.rc_target_bitrate = e->kbps;
		cfg.g_threads = 1;
		cfg.g_lag_in_frames = 0;
		cfg.rc_end_usage = VPX_CBR;
		cfg.kf_max_dist = e->fps * 2;
		if (vpx_codec_enc_init(&e->vpx, vpx_codec_vp8_cx(), &cfg, 0) ||
		    vpx_codec_control(&e->vpx, VP8E_SET_CPUUSED, 8))
			die("vpx init");
		e->vpx_open = true;
	} else if (strcmp(e->name, "none")) {
		die("codec must be none, mjpeg, x264, openh264 or vp8");
	}
}

static void vpx_drain(struct enc *e)
{
	vpx_codec_iter_t it = NULL;
	const vpx_codec_cx_pkt_t *pkt;
	while ((pkt = vpx_codec_get_cx_data(&e->vpx, &it)))
		if (pkt->kind == VPX_CODEC_CX_FRAME_PKT)
			e->bytes += pkt->data.frame.sz;
}

/* One I420 frame (planes y, u, v). */
static void encode(struct enc *e, unsigned char *const pl[3], long i)
{
	unsigned w = e->w, h = e->h;
	if (e->tj) {
		const unsigned char *planes[3] = {pl[0], pl[1], pl[2]};
		int strides[3] = {(int)w, (int)w / 2, (int)w / 2};
		unsigned char *jpeg = NULL;
		unsigned long len = 0;
		if (tjCompressFromYUVPlanes(e->tj, planes, (int)w, strides, (int)h, TJSAMP_420, &jpeg,
					    &len, 75, TJFLAG_FASTDCT) != 0)
			die("tjCompressFromYUVPlanes");
		e->bytes += len;
		tjFree(jpeg);
	} else if (e->x264) {
		x264_picture_t in, out;
		x264_picture_init(&in);
		in.img.i_csp = X264_CSP_I420;
		in.img.i_plane = 3;
		for (int k = 0; k < 3; k++) {
			in.img.plane[k] = pl[k];
			in.img.i_stride[k] = k ? (int)w / 2 : (int)w;
		}
		in.i_pts = i;
		x264_nal_t *nal;
		int n;
		int sz = x264_encoder_encode(e->x264, &nal, &n, &in, &out);
		if (sz < 0)
			die("x264_encoder_encode");
		e->bytes += (size_t)sz;
	} else if (e->oh) {
		long n = bv_openh264_encode(e->oh, pl, w, h, i, e->fps);
		if (n < 0)
			die("openh264 EncodeFrame");
		e->bytes += (size_t)n;
	} else if (e->vpx_open) {
		vpx_image_t img;
		if (!vpx_img_wrap(&img, VPX_IMG_FMT_I420, w, h, 1, pl[0]))
			die("vpx_img_wrap");
		if (vpx_codec_encode(&e->vpx, &img, i, 1, 0, VPX_DL_REALTIME))
			die("vpx_codec_encode");
		vpx_drain(e);
	}
}

static void close_enc(struct enc *e)
{
	if (e->tj)
		tjDestroy(e->tj);
	if (e->x264) {
		x264_nal_t *nal;
		int n;
		x264_picture_t out;
		while (x264_encoder_delayed_frames(e->x264) > 0) {
			int sz = x264_encoder_encode(e->x264, &nal, &n, NULL, &out);
			if (sz <= 0)
				break;
			e->bytes += (size_t)sz;
		}
		x264_encoder_close(e->x264);
	}
	if (e->oh)
		bv_openh264_close(e->oh);
	if (e->vpx_open) {
		if (vpx_codec_encode(&e->vpx, NULL, -1, 1, 0, VPX_DL_REALTIME) == 0)
			vpx_drain(e);
		vpx_codec_destroy(&e->vpx);
	}
}

int main(int argc, char **argv)
{
	struct enc e = {0};
	double seconds;
	if (argc != 5 || sscanf(argv[2], "%ux%u", &e.w, &e.h) != 2 || sscanf(argv[3], "%u", &e.fps) != 1 ||
	    sscanf(argv[4], "%lf", &seconds) != 1 || !e.fps || seconds <= 0)
		die("usage: bench_video none|mjpeg|x264|openh264|vp8 WIDTHxHEIGHT FPS SECONDS");
	e.name = argv[1];
	const char *kbps = getenv("DR_BENCH_KBPS");
	e.kbps = kbps ? (unsigned)atoi(kbps) : (uint64_t)e.w * e.h > 640 * 480 ? 2500 : 800;
	struct dr_camera_settings s = {.backend = DR_CAMERA_SIM, .width = e.w, .height = e.h,
				       .fps = e.fps, .format = DR_PIX_NV12};
	char err[256];
	struct dr_camera *cam;
	if (dr_camera_open_sim(&s, false, &cam, err, sizeof(err)) != 0 || dr_camera_start(cam) != 0)
		die(err);
	open_enc(&e);
	size_t px = (size_t)e.w * e.h;
	unsigned char *i420 = malloc(px * 3 / 2);
	if (!i420)
		die("no memory");
	unsigned char *pl[3] = {i420, i420 + px, i420 + px + px / 4};
	long frames = (long)(seconds * e.fps + 0.5);
	uint32_t noise = 1;
	for (long i = 0; i < frames; i++) {
		struct dr_frame *f;
		if (dr_camera_read(cam, &f) != 0)
			die("camera read");
		memcpy(pl[0], f->data, px); /* NV12 -> I420: split the UV plane */
		const unsigned char *uv = f->data + px;
		for (size_t k = 0; k < px / 4; k++) {
			pl[1][k] = uv[2 * k];
			pl[2][k] = uv[2 * k + 1];
		}
		dr_frame_unref(f);
		/* Sensor noise, as a real camera has (the bare test pattern is
		 * far easier to code than a face in a room): +-6 on luma. */
		for (size_t k = 0; k < px; k++) {
			noise = noise * 1103515245u + 12345u;
			int v = pl[0][k] + (int)((noise >> 16) % 13) - 6;
			pl[0][k] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
		encode(&e, pl, i);
	}
	close_enc(&e);
	free(i420);
	dr_camera_free(cam);
	printf("{\"codec\": \"%s\", \"width\": %u, \"height\": %u, \"fps\": %u, \"frames\": %ld, "
	       "\"kbps_target\": %u, \"bytes\": %zu}\n",
	       e.name, e.w, e.h, e.fps, frames, e.kbps, e.bytes);
	return 0;
}
