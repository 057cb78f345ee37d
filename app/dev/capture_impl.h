/* SPDX-License-Identifier: MIT */
/*
 * Private to app/dev: the capture ops table and the shared handle. Each
 * backend embeds struct dr_capture as its first member and hands a const ops
 * table (the alsa-utils axfer style: context + const ops + backends).
 */
#ifndef DR_DEV_CAPTURE_IMPL_H
#define DR_DEV_CAPTURE_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "audio.h"

#define DR_AUDIO_RATE 48000u

struct dr_capture_ops {
	const char *name;
	int (*start)(struct dr_capture *c);
	ssize_t (*read)(struct dr_capture *c, int16_t *buf, size_t frames);
	int (*stop)(struct dr_capture *c);
	/* Frames captured before now that read has not returned yet; NULL: 0. */
	ssize_t (*pending)(struct dr_capture *c);
	void (*destroy)(struct dr_capture *c); /* frees the backend and c */
};

struct dr_capture {
	const struct dr_capture_ops *ops;
	uint64_t xruns; /* frames lost; __atomic: written by the capture thread */
	char name[160]; /* "alsa:hw:0", "wav:/path/mic.wav" */
};

#endif
