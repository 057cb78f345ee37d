/* SPDX-License-Identifier: MIT */
/*
 * Ogg container over libogg (see container.h). Pages are gathered in `out`
 * and handed to the sink in one write per durable point, so a 400 ms flush
 * interval costs one write and one fdatasync.
 *
 * Page boundaries: a packet is put into the stream only after the pages the
 * stream has filled so far are taken out (ogg_stream_pageout), and a flush
 * forces out the rest (ogg_stream_flush) without a pageout first; so the
 * pages are exactly those of a writer that pages out after each packet
 * unless that packet is followed by a flush.
 */
#include "container.h"

#include <errno.h>
#include <limits.h>
#include <ogg/ogg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DR_OGG_OUT_BYTES (32 * 1024)

struct dr_ogg {
	ogg_stream_state os;
	struct dr_sink sink;
	bool sink_open;
	bool finished;
	bool has_track;
	int err;        /* first failure; every later call returns it */
	int64_t packetno;
	size_t out_len; /* bytes waiting in out */
	unsigned char out[DR_OGG_OUT_BYTES];
};

static int fail(struct dr_ogg *o, int err)
{
	if (!o->err)
		o->err = err;
	return o->err;
}

/* Hands everything gathered in `out` to the sink. */
static int emit(struct dr_ogg *o)
{
	if (!o->out_len)
		return 0;
	int err = o->sink.ops->write(o->sink.user, o->out, o->out_len);
	o->out_len = 0;
	return err ? fail(o, err) : 0;
}

static int put(struct dr_ogg *o, const unsigned char *p, size_t len)
{
	if (len > sizeof(o->out) - o->out_len) {
		int err = emit(o);
		if (err)
			return err;
	}
	if (len > sizeof(o->out)) {
		int err = o->sink.ops->write(o->sink.user, p, len);
		return err ? fail(o, err) : 0;
	}
	memcpy(o->out + o->out_len, p, len);
	o->out_len += len;
	return 0;
}

static int put_page(struct dr_ogg *o, const ogg_page *og)
{
	int err = put(o, og->header, (size_t)og->header_len);
	return err ? err : put(o, og->body, (size_t)og->body_len);
}

static int pages_out(struct dr_ogg *o, bool force)
{
	ogg_page og;
	while (force ? ogg_stream_flush(&o->os, &og) : ogg_stream_pageout(&o->os, &og)) {
		int err = put_page(o, &og);
		if (err)
			return err;
	}
	return 0;
}

static int packet_in(struct dr_ogg *o, const unsigned char *data, size_t len, int64_t granule,
		     bool bos, bool eos)
{
	if (len > (size_t)LONG_MAX)
		return fail(o, -EINVAL);
	ogg_packet op = {
		.packet = (unsigned char *)data, /* libogg copies it */
		.bytes = (long)len,
		.b_o_s = bos,
		.e_o_s = eos,
		.granulepos = granule,
		.packetno = o->packetno++,
	};
	if (ogg_stream_packetin(&o->os, &op) != 0)
		return fail(o, -ENOMEM);
	return 0;
}

static int ogg_add_track(void *ctx, const struct dr_track *t)
{
	struct dr_ogg *o = ctx;
	if (o->err)
		return o->err;
	if (o->has_track || t->kind != DR_TRACK_AUDIO || !t->codec || strcmp(t->codec, "A_OPUS") != 0)
		return -ENOTSUP;
	if (!t->codec_private || !t->comment)
		return -EINVAL;
	/* RFC 7845 section 3: each header on its own page(s). */
	int err = packet_in(o, t->codec_private, t->codec_private_len, 0, true, false);
	if (!err)
		err = pages_out(o, true);
	if (!err)
		err = packet_in(o, t->comment, t->comment_len, 0, false, false);
	if (!err)
		err = pages_out(o, true);
	if (err)
		return err;
	o->has_track = true;
	return 0;
}

static int ogg_write(void *ctx, const struct dr_packet *p)
{
	struct dr_ogg *o = ctx;
	if (o->err)
		return o->err;
	if (o->finished || !o->has_track || p->track != 0)
		return -EINVAL;
	int err = pages_out(o, false);
	if (err)
		return err;
	uint64_t granule = p->pts + p->duration;
	if (granule > INT64_MAX)
		return fail(o, -EOVERFLOW);
	return packet_in(o, p->data, p->len, (int64_t)granule, false, p->last);
}

static int ogg_flush(void *ctx, uint64_t position)
{
	struct dr_ogg *o = ctx;
	if (o->err)
		return o->err;
	if (o->finished)
		return -EINVAL;
	int err = pages_out(o, true);
	if (!err)
		err = emit(o);
	if (err)
		return err;
	if (o->sink.ops->position)
		(void)o->sink.ops->position(o->sink.user, position);
	err = o->sink.ops->sync(o->sink.user);
	return err ? fail(o, err) : 0;
}

static int ogg_finish(void *ctx, int err)
{
	struct dr_ogg *o = ctx;
	if (o->finished)
		return -EINVAL;
	if (!err)
		err = o->err;
	if (err && o->sink_open) {
		/* Keep what made it out (pages already written) durable. */
		(void)o->sink.ops->sync(o->sink.user);
	}
	o->finished = true;
	o->sink_open = false;
	int cerr = o->sink.ops->close(o->sink.user);
	return err ? err : cerr;
}

static void ogg_free(void *ctx)
{
	struct dr_ogg *o = ctx;
	if (!o)
		return;
	if (o->sink_open)
		o->sink.ops->close(o->sink.user);
	ogg_stream_clear(&o->os);
	free(o);
}

static const struct dr_container_ops ogg_ops = {
	.name = "ogg",
	.add_track = ogg_add_track,
	.write = ogg_write,
	.flush = ogg_flush,
	.finish = ogg_finish,
	.free = ogg_free,
};

int dr_ogg_new(struct dr_sink sink, uint32_t serial, struct dr_container *out)
{
	if (!sink.ops)
		return -EINVAL;
	struct dr_ogg *o = calloc(1, sizeof(*o));
	if (!o || !out) {
		free(o);
		sink.ops->close(sink.user);
		return o ? -EINVAL : -ENOMEM;
	}
	o->sink = sink;
	o->sink_open = true;
	if (ogg_stream_init(&o->os, (int)serial) != 0) {
		ogg_free(o);
		return -ENOMEM;
	}
	*out = (struct dr_container){.ops = &ogg_ops, .ctx = o};
	return 0;
}
