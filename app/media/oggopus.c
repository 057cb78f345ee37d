/* SPDX-License-Identifier: MIT */
/*
 * Ogg Opus writer (RFC 7845) over libopus and libogg.
 *
 * Per frame the work is: opus_encode straight from the caller's buffer when a
 * whole frame is there (the only copy is of a partial frame into `pending`),
 * ogg_stream_packetin, and a cheap ogg_stream_pageout check. Pages are
 * gathered in `out` and handed to the sink in one write per sync point, so a
 * 400 ms flush interval costs one write and one fdatasync. Nothing is
 * allocated after dr_oggopus_new apart from libogg's own buffers growing to
 * their working size during the first pages.
 */
#include "oggopus.h"

#include <errno.h>
#include <ogg/ogg.h>
#include <opus/opus.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DR_OPUS_MAX_FRAME (DR_SAMPLE_RATE * 60 / 1000) /* 60 ms */
#define DR_OPUS_MAX_PACKET 4000 /* libopus' recommended upper bound */
#define DR_OGG_OUT_BYTES (32 * 1024)
/* A cut loses at most flush_ms + a frame + the encoder's look-ahead + what a
 * stalled write still held; 400 keeps that inside the brief's 0.5 s. */
#define DR_FLUSH_MS_MAX 400

struct dr_oggopus {
	OpusEncoder *enc;
	ogg_stream_state os;
	struct dr_sink sink;
	bool sink_open;
	bool finished;
	int err;                /* first failure; every later call returns it */
	int frame;              /* samples per frame */
	int preskip;            /* encoder lookahead, samples */
	uint64_t accepted;      /* samples given to dr_oggopus_write */
	uint64_t encoded;       /* samples in packets so far (whole frames) */
	uint64_t synced;        /* `encoded` at the last sync */
	uint64_t flush_samples; /* sync once this much more has been encoded */
	int64_t packetno;
	size_t fill;            /* samples waiting in pending */
	size_t out_len;         /* bytes waiting in out */
	int16_t pending[DR_OPUS_MAX_FRAME];
	unsigned char packet[DR_OPUS_MAX_PACKET];
	unsigned char out[DR_OGG_OUT_BYTES];
};

void dr_oggopus_params_default(struct dr_oggopus_params *p)
{
	memset(p, 0, sizeof(*p));
	p->bitrate = 32000;
	p->complexity = 8;
	p->frame_ms = 20;
	p->flush_ms = 300;
}

int dr_oggopus_params_check(const struct dr_oggopus_params *p)
{
	if (!p)
		return -EINVAL;
	if (p->bitrate < 6000 || p->bitrate > 510000)
		return -EINVAL;
	if (p->complexity < 0 || p->complexity > 10)
		return -EINVAL;
	if (p->frame_ms != 10 && p->frame_ms != 20 && p->frame_ms != 40 && p->frame_ms != 60)
		return -EINVAL;
	if (p->flush_ms == 0 || p->flush_ms > DR_FLUSH_MS_MAX)
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

static int fail(struct dr_oggopus *e, int err)
{
	if (!e->err)
		e->err = err;
	return e->err;
}

/* Hands everything gathered in `out` to the sink. */
static int emit(struct dr_oggopus *e)
{
	if (!e->out_len)
		return 0;
	int err = e->sink.ops->write(e->sink.user, e->out, e->out_len);
	e->out_len = 0;
	return err ? fail(e, err) : 0;
}

static int put(struct dr_oggopus *e, const unsigned char *p, size_t len)
{
	if (len > sizeof(e->out) - e->out_len) {
		int err = emit(e);
		if (err)
			return err;
	}
	if (len > sizeof(e->out)) {
		int err = e->sink.ops->write(e->sink.user, p, len);
		return err ? fail(e, err) : 0;
	}
	memcpy(e->out + e->out_len, p, len);
	e->out_len += len;
	return 0;
}

static int put_page(struct dr_oggopus *e, const ogg_page *og)
{
	int err = put(e, og->header, (size_t)og->header_len);
	return err ? err : put(e, og->body, (size_t)og->body_len);
}

/* Ends the current page (whatever is in it) and makes everything durable. */
static int flush_and_sync(struct dr_oggopus *e)
{
	ogg_page og;
	while (ogg_stream_flush(&e->os, &og)) {
		int err = put_page(e, &og);
		if (err)
			return err;
	}
	int err = emit(e);
	if (err)
		return err;
	if (e->sink.ops->position) {
		/* What a file ending here decodes to: the packets so far less the
		 * decoder's pre-skip, and never more than was given (the padding
		 * of the last frame is cut off by the end-of-stream granule). */
		uint64_t out = e->encoded > (uint64_t)e->preskip ? e->encoded - (uint64_t)e->preskip : 0;
		(void)e->sink.ops->position(e->sink.user, out < e->accepted ? out : e->accepted);
	}
	err = e->sink.ops->sync(e->sink.user);
	if (err)
		return fail(e, err);
	e->synced = e->encoded;
	return 0;
}

static int packet_in(struct dr_oggopus *e, unsigned char *data, long len, int64_t granule, bool bos,
		     bool eos)
{
	ogg_packet op = {
		.packet = data,
		.bytes = len,
		.b_o_s = bos,
		.e_o_s = eos,
		.granulepos = granule,
		.packetno = e->packetno++,
	};
	if (ogg_stream_packetin(&e->os, &op) != 0)
		return fail(e, -ENOMEM);
	return 0;
}

/* Encodes one whole frame. granule: position of the packet's end (the running
 * count, or the trimmed total on the last packet). */
static int encode_frame(struct dr_oggopus *e, const int16_t *pcm, uint64_t granule, bool eos)
{
	opus_int32 n = opus_encode(e->enc, pcm, e->frame, e->packet, (opus_int32)sizeof(e->packet));
	if (n < 0)
		return fail(e, opus_to_errno(n));
	e->encoded += (uint64_t)e->frame;
	int err = packet_in(e, e->packet, n, (int64_t)granule, false, eos);
	if (err)
		return err;
	if (eos)
		return 0; /* the caller flushes */
	if (e->encoded - e->synced >= e->flush_samples)
		return flush_and_sync(e);
	ogg_page og;
	while (ogg_stream_pageout(&e->os, &og)) {
		err = put_page(e, &og);
		if (err)
			return err;
	}
	return 0;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* RFC 7845 section 5.1: the identification header, on a page of its own. */
static int write_head(struct dr_oggopus *e)
{
	unsigned char h[19];
	memcpy(h, "OpusHead", 8);
	h[8] = 1;  /* version */
	h[9] = 1;  /* channels */
	h[10] = (unsigned char)e->preskip;
	h[11] = (unsigned char)(e->preskip >> 8);
	put_le32(h + 12, DR_SAMPLE_RATE); /* input sample rate */
	h[16] = 0; /* output gain, Q7.8 dB */
	h[17] = 0;
	h[18] = 0; /* channel mapping family 0: mono or stereo, no table */
	return packet_in(e, h, sizeof(h), 0, true, false);
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

/* RFC 7845 section 5.2: the comment header, starting and ending its pages. */
static int write_tags(struct dr_oggopus *e, const struct dr_oggopus_params *p)
{
	const char *vendor = opus_get_version_string();
	const char *id = p->recording_id, *start = p->start_utc;
	size_t vlen = strlen(vendor);
	size_t len = 8 + 4 + vlen + 4 + tag_len("ENCODER=", "diaryroom") +
		     tag_len("DIARYROOM_ID=", id) + tag_len("DIARYROOM_START=", start);
	if (len > INT32_MAX)
		return fail(e, -EINVAL);
	unsigned char *t = malloc(len);
	if (!t)
		return fail(e, -ENOMEM);
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
	int err = packet_in(e, t, (long)len, 0, false, false);
	free(t);
	return err;
}

static int encoder_setup(struct dr_oggopus *e, const struct dr_oggopus_params *p)
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
	e->enc = opus_encoder_create(DR_SAMPLE_RATE, 1, OPUS_APPLICATION_VOIP, &oerr);
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
	e->preskip = (int)lookahead;
	return 0;
}

int dr_oggopus_new(const struct dr_oggopus_params *p, struct dr_sink sink, struct dr_oggopus **out)
{
	int err = dr_oggopus_params_check(p);
	if (err || !out || !sink.ops) {
		if (sink.ops)
			sink.ops->close(sink.user);
		return err ? err : -EINVAL;
	}
	struct dr_oggopus *e = calloc(1, sizeof(*e));
	if (!e) {
		sink.ops->close(sink.user);
		return -ENOMEM;
	}
	e->sink = sink;
	e->sink_open = true;
	e->frame = DR_SAMPLE_RATE / 1000 * p->frame_ms;
	e->flush_samples = (uint64_t)DR_SAMPLE_RATE / 1000 * p->flush_ms;
	if (ogg_stream_init(&e->os, (int)p->serial) != 0) {
		err = -ENOMEM;
		goto err_free;
	}
	err = encoder_setup(e, p);
	if (err)
		goto err_free;
	ogg_page og;
	err = write_head(e);
	while (!err && ogg_stream_flush(&e->os, &og))
		err = put_page(e, &og);
	if (!err)
		err = write_tags(e, p);
	if (!err)
		err = flush_and_sync(e);
	if (err)
		goto err_free;
	*out = e;
	return 0;

err_free:
	dr_oggopus_free(e);
	return err;
}

int dr_oggopus_write(struct dr_oggopus *e, const int16_t *pcm, size_t n)
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

static int finish_stream(struct dr_oggopus *e)
{
	/* The decoder's output runs preskip behind the input: encode (zero
	 * padded) frames until every accepted sample has come out, and let the
	 * last granule position cut the padding off (RFC 7845 section 4.4). */
	uint64_t total = e->accepted + (uint64_t)e->preskip;
	bool eos = false;
	while (!eos) {
		memset(e->pending + e->fill, 0, ((size_t)e->frame - e->fill) * sizeof(int16_t));
		e->fill = 0;
		eos = e->encoded + (uint64_t)e->frame >= total;
		int err = encode_frame(e, e->pending, eos ? total : e->encoded + (uint64_t)e->frame, eos);
		if (err)
			return err;
	}
	return flush_and_sync(e);
}

int dr_oggopus_finish(struct dr_oggopus *e)
{
	if (e->finished)
		return -EINVAL;
	int err = e->err ? e->err : finish_stream(e);
	if (err && e->sink_open) {
		/* Keep what made it out (pages already written) durable. */
		(void)e->sink.ops->sync(e->sink.user);
	}
	e->finished = true;
	e->sink_open = false;
	int cerr = e->sink.ops->close(e->sink.user);
	return err ? err : cerr;
}

uint64_t dr_oggopus_samples(const struct dr_oggopus *e)
{
	return e->accepted;
}

void dr_oggopus_free(struct dr_oggopus *e)
{
	if (!e)
		return;
	if (e->sink_open)
		e->sink.ops->close(e->sink.user);
	if (e->enc)
		opus_encoder_destroy(e->enc);
	ogg_stream_clear(&e->os);
	free(e);
}
