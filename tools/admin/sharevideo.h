/* SPDX-License-Identifier: MIT */
/*
 * A video recording's sound, for its share copy: the Opus packets of the
 * archive's WebM copy, decoded to 48 kHz mono (sharevideo.c with FFmpeg's
 * libraries; sharevideo_none.c says it cannot). Any thread; no globals.
 */
#ifndef DR_ADMIN_SHAREVIDEO_H
#define DR_ADMIN_SHAREVIDEO_H

#include <stddef.h>
#include <stdint.h>

/* webm: len bytes of a WebM (Matroska) file, borrowed. On success *pcm is
 * *n float samples at 48 kHz, mono (the channels' mean), owned by the caller
 * (free). 0, or a negative errno with why (for staff) and *pcm NULL, also on
 * failure: -ENOTSUP on a build without FFmpeg, -EBADMSG for a file that is
 * damaged or holds no Opus sound. */
int adm_sharevideo_sound(const uint8_t *webm, size_t len, float **pcm, size_t *n, char *why,
			 size_t whylen);

#endif
