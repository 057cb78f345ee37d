/* SPDX-License-Identifier: MIT */
/*
 * dr_oggopus: 48 kHz mono 16-bit PCM in, Ogg Opus (RFC 7845) out through a
 * dr_sink.
 *
 * - ID header with the encoder's real lookahead as pre-skip, input rate 48000,
 *   channel mapping family 0; comment header with vendor string,
 *   DIARYROOM_ID=<recording id>, DIARYROOM_START=<UTC ISO-8601 start time> and
 *   ENCODER=diaryroom; each header on its own page (RFC 7845 section 3).
 * - Granule positions count 48 kHz samples including pre-skip; the last page
 *   is marked end-of-stream and its granule trims the padding of the last
 *   frame, so the decoded length equals the samples given, exactly.
 * - Durability: a page is flushed and the sink synced whenever `flush_ms` of
 *   audio has been accepted since the last sync, so a cut loses at most
 *   flush_ms of encoded audio (plus what has not reached dr_oggopus_write).
 *
 * Not thread-safe; one encoder per recording. dr_oggopus_free(NULL) is a no-op.
 */
#ifndef DR_OGGOPUS_H
#define DR_OGGOPUS_H

#include <stddef.h>
#include <stdint.h>

#include "sink.h"

#define DR_SAMPLE_RATE 48000

struct dr_oggopus_params {
	int bitrate;            /* bits/s, default 32000 (VBR) */
	int complexity;         /* 0..10, default 8 */
	int frame_ms;           /* 10, 20, 40 or 60; default 20 */
	unsigned flush_ms;      /* page flush + sync interval; default 300, max 400 */
	uint32_t serial;        /* Ogg stream serial number */
	const char *recording_id; /* goes in the comment header; may be NULL */
	const char *start_utc;    /* goes in the comment header; may be NULL */
};

/* Fills the defaults above. */
void dr_oggopus_params_default(struct dr_oggopus_params *p);
/* 0 if dr_oggopus_new would accept p, else -EINVAL. */
int dr_oggopus_params_check(const struct dr_oggopus_params *p);

struct dr_oggopus;

/* Writes both headers and syncs. The sink is owned by the encoder from here
 * on, also on failure (it is closed). */
int dr_oggopus_new(const struct dr_oggopus_params *p, struct dr_sink sink,
		   struct dr_oggopus **out);
/* Any number of samples; partial frames are kept until the next call. */
int dr_oggopus_write(struct dr_oggopus *e, const int16_t *pcm, size_t n);
/* Encodes the remainder (padded), writes the end-of-stream page, syncs and
 * closes the sink. After this only dr_oggopus_free is allowed. */
int dr_oggopus_finish(struct dr_oggopus *e);
/* Samples accepted so far. */
uint64_t dr_oggopus_samples(const struct dr_oggopus *e);
/* Closes the sink (if not finished: without an end-of-stream page, like a
 * crash would) and frees. */
void dr_oggopus_free(struct dr_oggopus *e);

#endif
