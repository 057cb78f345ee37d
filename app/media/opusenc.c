/* SPDX-License-Identifier: MIT */
/*
 * Opus encoder over libopus (see opusenc.h).
 *
 * Per frame the work is opus_encode straight from the caller's buffer when a
 * whole frame is there (the only copy is of a partial frame into `pending`)
 * and one call of the emit callback. Nothing is allocated after
 * dr_opusenc_new.
 */
#include "opusenc.h"

#include <errno.h>
#include <opus/opus.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DR_OPUS_MAX_FRAME (DR_OPUS_RATE * 60 / 1000) /* 60 ms */
#define DR_OPUS_MAX_PACKET 4000 /* libopus' recommended upper bound */

struct dr_opusenc {
	OpusEncoder *enc;
	dr_opusenc_emit_fn emit;
	void *user;
	bool finished;
	int err;            /* first failure; every later call returns it */
	int frame;          /* samples per frame */
	uint32_t preskip;   /* encoder lookahead, samples */
	uint64_t accepted;  /* samples given to dr_opusenc_write */
	uint64_t encoded;   /* samples in packets so far (whole frames) */
	size_t fill;        /* samples waiting in pending */
	int16_t pending[DR_OPUS_MAX_FRAME];
	unsigned char packet[DR_OPUS_MAX_PACKET];
};

int dr_opusenc_params_check(const struct dr_opusenc_params *p)
{
	if (!p)
		return -EINVAL;
	if (p->bitrate < 6000 || p->bitrate > 510000)
		return -EINVAL;
	if (p->complexity < 0 || p->complexity > 10)
		return -EINVAL;
	if (p->frame_ms != 10 && p->frame_ms != 20 && p->frame_ms != 40 && p->frame_ms != 60)
		return -EINVAL;
	return 0;
}

static int opus_to_errno(int oerr)
{
	switch (oerr) {
	case OPUS_BAD_ARG:
		return -EINVAL;
	case OPUS_ALLOC_FAIL:
		return -ENOMEM;
	case OPUS_UNIMPLEMENTED:
		return -ENOTSUP;
	default:
		return -EIO;
	}
}

static int fail(struct dr_opusenc *e, int err)
{
	if (!e->err)
		e->err = err;
	return e->err;
}

/* Encodes one whole frame; `end` is where the packet ends on the output
 * timeline (the running count, or the trimmed total on the last packet). */
static int encode_frame(struct dr_opusenc *e, const int16_t *pcm, uint64_t end, bool last)
{
	opus_int32 n = opus_encode(e->enc, pcm, e->frame, e->packet, (opus_int32)sizeof(e->packet));
	if (n < 0)
		return fail(e, opus_to_errno(n));
	uint64_t pts = e->encoded;
	e->encoded += (uint64_t)e->frame;
	struct dr_packet p = {
		.track = 0,
		.pts = pts,
		.duration = end - pts,
		.key = true,
		.last = last,
		.data = e->packet,
		.len = (size_t)n,
	};
	int err = e->emit(e->user, &p);
	return err ? fail(e, err) : 0;
}

static int encoder_setup(struct dr_opusenc *e, const struct dr_opusenc_params *p)
{
	int oerr = OPUS_OK;
	/*
	 * OPUS_APPLICATION_VOIP rather than AUDIO: this is one voice talking
	 * into a room microphone, and what matters is that every word is
	 * understood. VOIP adds libopus' adaptive high-pass (rumble, handling
	 * and DC from cheap USB microphones take no bits) and tunes SILK and
	 * the mode/bandwidth decisions for intelligibility; at 32 kbit/s mono
	 * with OPUS_SIGNAL_VOICE both modes run SILK/hybrid at full band, so
	 * AUDIO's aim of waveform fidelity buys nothing audible for speech,
	 * and the lookahead (6.5 ms) is the same for both.
	 */
	e->enc = opus_encoder_create(DR_OPUS_RATE, 1, OPUS_APPLICATION_VOIP, &oerr);
	if (!e->enc)
		return opus_to_errno(oerr);
	opus_int32 lookahead = 0;
	if (opus_encoder_ctl(e->enc, OPUS_SET_BITRATE(p->bitrate)) != OPUS_OK ||
	    opus_encoder_ctl(e->enc, OPUS_SET_VBR(1)) != OPUS_OK ||
	    /* Unconstrained VBR (as opusenc does): a file has no channel
	     * whose rate we must respect, so let hard syllables take bits. */
	    opus_encoder_ctl(e->enc, OPUS_SET_VBR_CONSTRAINT(0)) != OPUS_OK ||
	    opus_encoder_ctl(e->enc, OPUS_SET_COMPLEXITY(p->complexity)) != OPUS_OK ||
	    opus_encoder_ctl(e->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) != OPUS_OK ||
	    opus_encoder_ctl(e->enc, OPUS_GET_LOOKAHEAD(&lookahead)) != OPUS_OK)
		return -EINVAL;
	if (lookahead < 0 || lookahead > 0xFFFF)
		return -EIO;
	e->preskip = (uint32_t)lookahead;
	return 0;
}

int dr_opusenc_new(const struct dr_opusenc_params *p, dr_opusenc_emit_fn emit, void *user,
		   struct dr_opusenc **out)
{
	int err = dr_opusenc_params_check(p);
	if (err)
		return err;
	if (!emit || !out)
		return -EINVAL;
	struct dr_opusenc *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->emit = emit;
	e->user = user;
	e->frame = DR_OPUS_RATE / 1000 * p->frame_ms;
	err = encoder_setup(e, p);
	if (err) {
		dr_opusenc_free(e);
		return err;
	}
	*out = e;
	return 0;
}

int dr_opusenc_write(struct dr_opusenc *e, const int16_t *pcm, size_t n)
{
	if (e->err)
		return e->err;
	if (e->finished)
		return -EINVAL;
	e->accepted += n;
	size_t frame = (size_t)e->frame;
	if (e->fill) {
		size_t take = frame - e->fill;
		if (take > n)
			take = n;
		memcpy(e->pending + e->fill, pcm, take * sizeof(int16_t));
		e->fill += take;
		pcm += take;
		n -= take;
		if (e->fill < frame)
			return 0;
		e->fill = 0;
		int err = encode_frame(e, e->pending, e->encoded + frame, false);
		if (err)
			return err;
	}
	for (; n >= frame; pcm += frame, n -= frame) {
		int err = encode_frame(e, pcm, e->encoded + frame, false);
		if (err)
			return err;
	}
	if (n) {
		memcpy(e->pending, pcm, n * sizeof(int16_t));
		e->fill = n;
	}
	return 0;
}

int dr_opusenc_finish(struct dr_opusenc *e)
{
	if (e->err)
		return e->err;
	if (e->finished)
		return -EINVAL;
	e->finished = true;
	/* The decoder's output runs preskip behind the input: encode (zero
	 * padded) frames until every accepted sample has come out; the last
	 * packet's duration cuts the padding off (RFC 7845 section 4.4). */
	uint64_t total = e->accepted + e->preskip;
	bool last = false;
	while (!last) {
		memset(e->pending + e->fill, 0, ((size_t)e->frame - e->fill) * sizeof(int16_t));
		e->fill = 0;
		last = e->encoded + (uint64_t)e->frame >= total;
		int err = encode_frame(e, e->pending, last ? total : e->encoded + (uint64_t)e->frame,
				       last);
		if (err)
			return err;
	}
	return 0;
}

void dr_opusenc_free(struct dr_opusenc *e)
{
	if (!e)
		return;
	if (e->enc)
		opus_encoder_destroy(e->enc);
	free(e);
}

uint32_t dr_opusenc_preskip(const struct dr_opusenc *e)
{
	return e->preskip;
}

uint64_t dr_opusenc_accepted(const struct dr_opusenc *e)
{
	return e->accepted;
}

uint64_t dr_opusenc_encoded(const struct dr_opusenc *e)
{
	return e->encoded;
}

uint64_t dr_opusenc_position(const struct dr_opusenc *e)
{
	uint64_t out = e->encoded > e->preskip ? e->encoded - e->preskip : 0;
	return out < e->accepted ? out : e->accepted;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

void dr_opusenc_head(const struct dr_opusenc *e, unsigned char h[DR_OPUS_HEAD_LEN])
{
	memcpy(h, "OpusHead", 8);
	h[8] = 1;  /* version */
	h[9] = 1;  /* channels */
	h[10] = (unsigned char)e->preskip;
	h[11] = (unsigned char)(e->preskip >> 8);
	put_le32(h + 12, DR_OPUS_RATE); /* input sample rate */
	h[16] = 0; /* output gain, Q7.8 dB */
	h[17] = 0;
	h[18] = 0; /* channel mapping family 0: mono or stereo, no table */
}

static size_t tag_len(const char *key, const char *value)
{
	return value ? 4 + strlen(key) + strlen(value) : 0;
}

static unsigned char *put_tag(unsigned char *p, const char *key, const char *value)
{
	if (!value)
		return p;
	size_t k = strlen(key), v = strlen(value);
	put_le32(p, (uint32_t)(k + v));
	memcpy(p + 4, key, k);
	memcpy(p + 4 + k, value, v);
	return p + 4 + k + v;
}

int dr_opus_tags(const char *id, const char *start, unsigned char **out, size_t *outlen)
{
	const char *vendor = opus_get_version_string();
	size_t vlen = strlen(vendor);
	size_t len = 8 + 4 + vlen + 4 + tag_len("ENCODER=", "diaryroom") +
		     tag_len("DIARYROOM_ID=", id) + tag_len("DIARYROOM_START=", start);
	if (len > INT32_MAX)
		return -EINVAL;
	unsigned char *t = malloc(len);
	if (!t)
		return -ENOMEM;
	unsigned char *q = t;
	memcpy(q, "OpusTags", 8);
	put_le32(q + 8, (uint32_t)vlen);
	memcpy(q + 12, vendor, vlen);
	q += 12 + vlen;
	put_le32(q, 1u + (id != NULL) + (start != NULL));
	q += 4;
	q = put_tag(q, "ENCODER=", "diaryroom");
	q = put_tag(q, "DIARYROOM_ID=", id);
	put_tag(q, "DIARYROOM_START=", start);
	*out = t;
	*outlen = len;
	return 0;
}
