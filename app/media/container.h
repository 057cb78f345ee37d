/* SPDX-License-Identifier: MIT */
/*
 * dr_container: how timestamped packets become a file. A context plus a
 * const ops table (the alsa-utils axfer style), so the recorder can write
 * Ogg (ogg.c, sound only) or Matroska (mkv.c, sound and picture) without
 * knowing which. Containers write through a struct dr_sink only (sink.h),
 * so the durable file sink or the sealing layer (app/seal) can sit behind.
 *
 * Usage: dr_ogg_new/dr_mkv_new(sink, ...) -> add_track per track ->
 * write packets in timestamp order per track -> flush at each durable point
 * -> finish -> free. All ops return 0 (add_track: the track number, from
 * 0) or a negative errno; the first failure is sticky (every later op
 * returns it). Not thread-safe: one thread (the recorder's writer) drives a
 * container. dr_container_free on a zero dr_container is a no-op.
 */
#ifndef DR_CONTAINER_H
#define DR_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink.h"

enum dr_track_kind {
	DR_TRACK_AUDIO,
	DR_TRACK_VIDEO,
};

/* Codec ids are Matroska's (RFC 9559 codec registry): "A_OPUS",
 * "V_MJPEG", "V_MPEG4/ISO/AVC", "V_VP8". */
struct dr_track {
	enum dr_track_kind kind;
	const char *codec;
	/* Codec setup (OpusHead for A_OPUS, avcC for AVC); copied. */
	const unsigned char *codec_private;
	size_t codec_private_len;
	/* Audio: packet timestamps count samples at `rate`, including the
	 * decoder's pre-skip (`delay` samples dropped at the start). */
	uint32_t rate;
	unsigned channels;
	uint32_t delay;
	/* Opus: how far before a seek point decoding must start, ns. */
	uint64_t seek_preroll_ns;
	/* Video: packet timestamps are ns. */
	unsigned width, height;
	/* Ogg only: the comment header packet (OpusTags), on pages of its own
	 * after the identification header; copied. */
	const unsigned char *comment;
	size_t comment_len;
};

struct dr_packet {
	unsigned track;
	/* Start of the packet in the track's timebase (see dr_track). */
	uint64_t pts;
	/* Samples (audio) or ns (video) it lasts; on the last audio packet
	 * only what is to be played (the padding trimmed off). */
	uint64_t duration;
	bool key;  /* decodable on its own (every Opus packet is) */
	bool last; /* last packet of its track */
	const unsigned char *data;
	size_t len;
};

struct dr_container_ops {
	const char *name; /* "ogg", "matroska" */
	/* Before the first packet. Returns the track number or -errno
	 * (-ENOTSUP: a codec or kind this container does not hold). */
	int (*add_track)(void *ctx, const struct dr_track *t);
	/* data is only read during the call. */
	int (*write)(void *ctx, const struct dr_packet *p);
	/* Durable point: ends the current page (Ogg) or Cluster (Matroska),
	 * hands everything to the sink, tells the sink's optional position
	 * op `position` (48 kHz samples a file cut here decodes to), then
	 * syncs. */
	int (*flush)(void *ctx, uint64_t position);
	/* Closes the sink. `err` is the caller's own failure, if any: then
	 * (or after a container failure) what was written is synced first,
	 * best effort, and the first error is returned. After this only
	 * free. */
	int (*finish)(void *ctx, int err);
	/* Closes the sink if finish was not called (a crash-like end: no
	 * end-of-stream marks) and frees. */
	void (*free)(void *ctx);
};

struct dr_container {
	const struct dr_container_ops *ops;
	void *ctx;
};

static inline int dr_container_add_track(struct dr_container c, const struct dr_track *t)
{
	return c.ops->add_track(c.ctx, t);
}

static inline int dr_container_write(struct dr_container c, const struct dr_packet *p)
{
	return c.ops->write(c.ctx, p);
}

static inline int dr_container_flush(struct dr_container c, uint64_t position)
{
	return c.ops->flush(c.ctx, position);
}

static inline int dr_container_finish(struct dr_container c, int err)
{
	return c.ops->finish(c.ctx, err);
}

static inline void dr_container_free(struct dr_container c)
{
	if (c.ops)
		c.ops->free(c.ctx);
}

/*
 * Ogg (RFC 3533) holding one Opus track as RFC 7845 lays it out: the
 * identification header (the track's codec_private) on the first page, the
 * comment header on pages of its own, then audio pages whose granule
 * position is the end of their last packet (pts + duration); the last
 * packet's page is marked end-of-stream. The sink is owned from here on,
 * also on failure (closed).
 */
int dr_ogg_new(struct dr_sink sink, uint32_t serial, struct dr_container *out);

#endif
