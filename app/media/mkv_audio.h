/* SPDX-License-Identifier: MIT */
/*
 * Reading the Opus track back out of a Matroska file, front to back, from a
 * stream that cannot seek (a sealed recording being decrypted): what the
 * box's listen-back plays from a video recording.
 *
 * Written for the files mkv.c writes, but every byte is treated as hostile:
 * sizes are checked before use, element bodies that are not wanted are read
 * through in bounded steps, Tracks is read into memory only up to 64 KiB,
 * and an Opus block larger than the caller's buffer is an error, not a
 * larger allocation. Laced blocks are refused (mkv.c never laces).
 *
 * Not thread-safe; one reader per file. dr_mkv_audio_free(NULL) is a no-op.
 */
#ifndef DR_MKV_AUDIO_H
#define DR_MKV_AUDIO_H

#include <stddef.h>
#include <stdint.h>

/* Reads up to len bytes from the stream; returns the bytes read (0 at its
 * end) or -errno. */
typedef long (*dr_mkv_stream_fn)(void *user, void *buf, size_t len);

struct dr_mkv_audio;

struct dr_mkv_audio_info {
	unsigned channels; /* from OpusHead: 1 or 2 */
	unsigned pre_skip; /* samples at 48 kHz to drop from the decoded start */
};

/*
 * Reads the headers up to and including Tracks and finds the first track
 * whose CodecID is A_OPUS with a valid OpusHead. The stream stays the
 * caller's. -EINVAL: not Matroska, or no usable Opus track; -ENOMEM;
 * other -errno from read.
 */
int dr_mkv_audio_open(dr_mkv_stream_fn read, void *user, struct dr_mkv_audio **out,
		      struct dr_mkv_audio_info *info);

/*
 * The next Opus packet, in file order, into buf. Returns its length (>0),
 * 0 at the end of the stream (also a stream cut between or inside
 * elements: a cut file plays to where it was cut), -EBADMSG when the file
 * is damaged, -EMSGSIZE when a packet is larger than cap, or -errno from
 * read. After an error, every later call returns it again.
 */
long dr_mkv_audio_next(struct dr_mkv_audio *r, void *buf, size_t cap);

void dr_mkv_audio_free(struct dr_mkv_audio *r);

#endif
