/* SPDX-License-Identifier: MIT */
/* bench_video's encoders that live in their own files. */
#ifndef DR_BENCH_VIDEO_H
#define DR_BENCH_VIDEO_H

void *bv_openh264_open(unsigned w, unsigned h, unsigned fps, unsigned kbps);
/* Bytes of the coded frame, or -1. */
long bv_openh264_encode(void *enc, unsigned char *const pl[3], unsigned w, unsigned h, long i,
			unsigned fps);
void bv_openh264_close(void *enc);

#endif
