/* SPDX-License-Identifier: MIT */
/*
 * dr_opusenc: 48 kHz mono 16-bit PCM in, timestamped Opus packets out (to a
 * callback), for any container (container.h).
 *
 * Packet timestamps count 48 kHz samples on the encoder's output timeline:
 * the first `preskip` samples (the encoder's look-ahead) are to be dropped by
 * the decoder. Every packet is one whole frame; the last one (from
 * dr_opusenc_finish) has `last` set and a duration trimmed so the decoded
 * length equals the samples given, exactly.
 *
 * Not thread-safe; one encoder per recording. dr_opusenc_free(NULL) is a
 * no-op.
 */
#ifndef DR_OPUSENC_H
#define DR_OPUSENC_H

#include <stddef.h>
#include <stdint.h>

#include "container.h"

#define DR_OPUS_RATE 48000
#define DR_OPUS_HEAD_LEN 19

struct dr_opusenc_params {
	int bitrate;    /* bits/s, 6000..510000 (VBR, unconstrained) */
	int complexity; /* 0..10 */
	int frame_ms;   /* 10, 20, 40 or 60 */
};

/* 0 if dr_opusenc_new would accept p, else -EINVAL. */
int dr_opusenc_params_check(const struct dr_opusenc_params *p);

/* Called with each packet (track 0, key); p->data is valid during the call
 * only. A nonzero return stops the encoder, which returns it. */
typedef int (*dr_opusenc_emit_fn)(void *user, const struct dr_packet *p);

struct dr_opusenc;

int dr_opusenc_new(const struct dr_opusenc_params *p, dr_opusenc_emit_fn emit, void *user,
		   struct dr_opusenc **out);
/* Any number of samples; partial frames are kept until the next call. */
int dr_opusenc_write(struct dr_opusenc *e, const int16_t *pcm, size_t n);
/* Encodes the remainder (zero padded) up to the last packet. After this
 * only the getters and dr_opusenc_free. */
int dr_opusenc_finish(struct dr_opusenc *e);
void dr_opusenc_free(struct dr_opusenc *e);

/* The decoder's pre-skip (the encoder's look-ahead), samples. */
uint32_t dr_opusenc_preskip(const struct dr_opusenc *e);
/* Samples given so far. */
uint64_t dr_opusenc_accepted(const struct dr_opusenc *e);
/* Samples in packets so far (whole frames, pre-skip included). */
uint64_t dr_opusenc_encoded(const struct dr_opusenc *e);
/* What a file holding the packets so far decodes to: encoded less the
 * pre-skip, never more than was given. */
uint64_t dr_opusenc_position(const struct dr_opusenc *e);

/* RFC 7845 section 5.1 identification header (mono, 48 kHz, mapping family
 * 0), the Ogg header and Matroska's CodecPrivate for A_OPUS. */
void dr_opusenc_head(const struct dr_opusenc *e, unsigned char head[DR_OPUS_HEAD_LEN]);

/* RFC 7845 section 5.2 comment header: libopus' vendor string,
 * ENCODER=diaryroom, DIARYROOM_ID=<id> and DIARYROOM_START=<start> (each
 * left out when NULL). *out is malloc'ed; the caller frees it. */
int dr_opus_tags(const char *id, const char *start, unsigned char **out, size_t *len);

#endif
