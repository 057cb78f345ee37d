/* SPDX-License-Identifier: MIT */
/*
 * openh264, loaded the first time something needs it (util/dynlib.h): the
 * recorder's encoder for raw frames (videnc.c) and the simulated camera's
 * H.264 (app/dev/camera_sim_h264.c) share this one table, so a sound-only
 * box never maps the library. Any thread may call dr_openh264_load.
 */
#ifndef DR_MEDIA_OPENH264_LIB_H
#define DR_MEDIA_OPENH264_LIB_H

#include <wels/codec_api.h>

/* Set once dr_openh264_load returned 0. */
extern __typeof__(WelsCreateSVCEncoder) *dr_oh_create;
extern __typeof__(WelsDestroySVCEncoder) *dr_oh_destroy;

/* 0; -ENOTSUP: openh264 is not installed; -ENOSYS: it lacks a symbol. */
int dr_openh264_load(void);

#endif
