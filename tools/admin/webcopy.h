/* SPDX-License-Identifier: MIT */
/*
 * The browser copy of a video recording (docs/video.md, "The office PC"):
 * the box's Matroska (H.264 picture, Opus sound) made into WebM that every
 * browser plays: the picture re-encoded to VP8 (libvpx through FFmpeg's
 * libavcodec), the Opus sound copied packet for packet. Every timestamp is
 * kept, so the copy lasts as long as the original and its sound and picture
 * are as far apart as in the original.
 *
 * Built only where FFmpeg's libraries are (the office PC, amd64:
 * tools/install-deps); elsewhere adm_webcopy returns -ENOTSUP.
 *
 * One thread at a time (FFmpeg's log level is process-wide: set to quiet).
 */
#ifndef DR_ADMIN_WEBCOPY_H
#define DR_ADMIN_WEBCOPY_H

#include <stddef.h>

/* in_path: a playable Matroska recording (a regular file, not followed if
 * a symbolic link); out_path: made new through "<out_path>.tmp", synced,
 * renamed and its folder synced; nothing is left at either on failure.
 * Returns 0, or a negative errno with why (for people) in why: -EBADMSG
 * for a file that is not a recording of the box's kind (no H.264 picture
 * or no Opus sound, damaged), -ENOTSUP without FFmpeg. */
int adm_webcopy(const char *in_path, const char *out_path, char *why, size_t whylen);

#endif
