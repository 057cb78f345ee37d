/* SPDX-License-Identifier: MIT */
/*
 * Ogg Opus writer: the Opus encoder (opusenc.c) into the Ogg container
 * (ogg.c), with a durable flush whenever flush_ms of audio has been encoded
 * since the last one. The bytes are those of the single-file writer this
 * replaced (tests/unit/media/test_media_golden.c).
 */
#include "oggopus.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "opusenc.h"

/* A cut loses at most flush_ms + a frame + the encoder's look-ahead + what a
 * stalled write still held; 400 keeps that inside the brief's 0.5 s. */
#define DR_FLUSH_MS_MAX 400

struct dr_oggopus {
	struct dr_opusenc *enc;
	struct dr_container c;
	bool finished;
	int err;                /* first failure; every later call returns it */
	uint64_t synced;        /* encoded samples at the last sync */
	uint64_t flush_samples; /* sync once this much more has been encoded */
};

void dr_oggopus_params_default(struct dr_oggopus_params *p)
{
	memset(p, 0, sizeof(*p));
	p->bitrate = 32000;
	p->complexity = 8;
	p->frame_ms = 20;
	p->flush_ms = 300;
}

static struct dr_opusenc_params enc_params(const struct dr_oggopus_params *p)
{
	return (struct dr_opusenc_params){
		.bitrate = p->bitrate,
		.complexity = p->complexity,
		.frame_ms = p->frame_ms,
	};
}

int dr_oggopus_params_check(const struct dr_oggopus_params *p)
{
	if (!p)
		return -EINVAL;
	struct dr_opusenc_params ep = enc_params(p);
	if (dr_opusenc_params_check(&ep) != 0)
		return -EINVAL;
	if (p->flush_ms == 0 || p->flush_ms > DR_FLUSH_MS_MAX)
		return -EINVAL;
	return 0;
}

static int fail(struct dr_oggopus *e, int err)
{
	if (!e->err)
		e->err = err;
	return e->err;
}

static int flush(struct dr_oggopus *e)
{
	int err = dr_container_flush(e->c, dr_opusenc_position(e->enc));
	if (err)
		return fail(e, err);
	e->synced = dr_opusenc_encoded(e->enc);
	return 0;
}

/* Each packet into the container; a durable flush every flush_ms (the
 * caller flushes after the last packet). */
static int on_packet(void *user, const struct dr_packet *p)
{
	struct dr_oggopus *e = user;
	int err = dr_container_write(e->c, p);
	if (err)
		return fail(e, err);
	if (!p->last && dr_opusenc_encoded(e->enc) - e->synced >= e->flush_samples)
		return flush(e);
	return 0;
}

static int write_headers(struct dr_oggopus *e, const struct dr_oggopus_params *p)
{
	unsigned char head[DR_OPUS_HEAD_LEN];
	dr_opusenc_head(e->enc, head);
	unsigned char *tags;
	size_t tags_len;
	int err = dr_opus_tags(p->recording_id, p->start_utc, &tags, &tags_len);
	if (err)
		return err;
	struct dr_track t = {
		.kind = DR_TRACK_AUDIO,
		.codec = "A_OPUS",
		.codec_private = head,
		.codec_private_len = sizeof(head),
		.rate = DR_OPUS_RATE,
		.channels = 1,
		.delay = dr_opusenc_preskip(e->enc),
		.comment = tags,
		.comment_len = tags_len,
	};
	err = dr_container_add_track(e->c, &t);
	free(tags);
	return err < 0 ? err : flush(e);
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
	e->flush_samples = (uint64_t)DR_SAMPLE_RATE / 1000 * p->flush_ms;
	err = dr_ogg_new(sink, p->serial, &e->c); /* owns the sink from here */
	if (err)
		goto err_free;
	struct dr_opusenc_params ep = enc_params(p);
	err = dr_opusenc_new(&ep, on_packet, e, &e->enc);
	if (!err)
		err = write_headers(e, p);
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
	int err = dr_opusenc_write(e->enc, pcm, n);
	return err ? fail(e, err) : 0;
}

int dr_oggopus_finish(struct dr_oggopus *e)
{
	if (e->finished)
		return -EINVAL;
	int err = e->err;
	if (!err)
		err = dr_opusenc_finish(e->enc);
	if (!err)
		err = flush(e);
	e->finished = true;
	return dr_container_finish(e->c, err);
}

uint64_t dr_oggopus_samples(const struct dr_oggopus *e)
{
	return dr_opusenc_accepted(e->enc);
}

void dr_oggopus_free(struct dr_oggopus *e)
{
	if (!e)
		return;
	dr_container_free(e->c);
	dr_opusenc_free(e->enc);
	free(e);
}
