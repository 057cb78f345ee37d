/* SPDX-License-Identifier: MIT */
/*
 * Matroska live-mode writer (see mkv.h), written against RFC 9559 (Matroska)
 * and RFC 8794 (EBML). Element IDs are written with their length marker, as
 * the RFCs list them.
 */
#include "mkv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ID_EBML 0x1A45DFA3u
#define ID_EBMLVERSION 0x4286u
#define ID_EBMLREADVERSION 0x42F7u
#define ID_EBMLMAXIDLENGTH 0x42F2u
#define ID_EBMLMAXSIZELENGTH 0x42F3u
#define ID_DOCTYPE 0x4282u
#define ID_DOCTYPEVERSION 0x4287u
#define ID_DOCTYPEREADVERSION 0x4285u
#define ID_SEGMENT 0x18538067u
#define ID_INFO 0x1549A966u
#define ID_TIMESTAMPSCALE 0x2AD7B1u
#define ID_MUXINGAPP 0x4D80u
#define ID_WRITINGAPP 0x5741u
#define ID_TRACKS 0x1654AE6Bu
#define ID_TRACKENTRY 0xAEu
#define ID_TRACKNUMBER 0xD7u
#define ID_TRACKUID 0x73C5u
#define ID_TRACKTYPE 0x83u
#define ID_FLAGLACING 0x9Cu
#define ID_CODECID 0x86u
#define ID_CODECPRIVATE 0x63A2u
#define ID_CODECDELAY 0x56AAu
#define ID_SEEKPREROLL 0x56BBu
#define ID_VIDEO 0xE0u
#define ID_PIXELWIDTH 0xB0u
#define ID_PIXELHEIGHT 0xBAu
#define ID_AUDIO 0xE1u
#define ID_SAMPLINGFREQUENCY 0xB5u
#define ID_CHANNELS 0x9Fu
#define ID_CLUSTER 0x1F43B675u
#define ID_TIMESTAMP 0xE7u
#define ID_SIMPLEBLOCK 0xA3u
#define ID_BLOCKGROUP 0xA0u
#define ID_BLOCK 0xA1u
#define ID_DISCARDPADDING 0x75A2u

#define TRACKTYPE_VIDEO 1
#define TRACKTYPE_AUDIO 2
#define TIMESTAMP_SCALE_NS 1000000u /* 1 ms */
#define MAX_TRACKS 4
/* The cluster header goes in front of the blocks: ID, 8-byte unknown size,
 * Timestamp element (1 + 1 + 8). */
#define CLUSTER_HEAD_MAX 22
#define CLUSTER_MAX_BYTES (8u << 20)
#define CLUSTER_MAX_SPAN_MS 30000

struct buf {
	unsigned char *p;
	size_t len, cap;
};

struct track {
	struct dr_track t;
	unsigned char *priv;     /* copy of codec_private */
	uint64_t last_duration;  /* of the previous packet, track timebase */
};

/* Where a block's 16-bit relative timestamp goes, patched at the flush. */
struct stamp {
	size_t off;
	int64_t ms;
};

struct dr_mkv {
	struct dr_sink sink;
	bool sink_open, finished, headers_written;
	int err;
	char app[64];
	uint64_t uid_seed;
	unsigned ntracks;
	struct track tracks[MAX_TRACKS];
	struct buf cl;         /* CLUSTER_HEAD_MAX reserved, then the blocks */
	struct stamp *stamps;  /* one per block in cl */
	size_t nstamps, capstamps;
	int64_t min_ms, max_ms;
};

static int fail(struct dr_mkv *m, int err)
{
	if (!m->err)
		m->err = err;
	return m->err;
}

static int reserve(struct buf *b, size_t more)
{
	if (more <= b->cap - b->len)
		return 0;
	if (more > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < more)
		cap *= 2;
	unsigned char *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Callers reserve first; these only append. */
static void put_bytes(struct buf *b, const void *p, size_t n)
{
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_be(struct buf *b, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		b->p[b->len + i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	b->len += n;
}

static unsigned id_len(uint32_t id)
{
	return id > 0xFFFFFF ? 4 : id > 0xFFFF ? 3 : id > 0xFF ? 2 : 1;
}

static unsigned uint_len(uint64_t v)
{
	unsigned n = 1;
	while (n < 8 && v >> (8 * n))
		n++;
	return n;
}

/* An EBML variable-size integer: the shortest that holds v (all ones is
 * reserved for "unknown"). */
static void put_vsize(struct buf *b, uint64_t v)
{
	unsigned n = 1;
	while (n < 8 && v >= (1ull << (7 * n)) - 1)
		n++;
	put_be(b, v | (1ull << (7 * n)), n);
}

static int el_open(struct buf *b, uint32_t id, uint64_t size)
{
	int err = reserve(b, 4 + 8 + (size < SIZE_MAX - 16 ? (size_t)size : 0));
	if (err)
		return err;
	put_be(b, id, id_len(id));
	put_vsize(b, size);
	return 0;
}

static int el_uint(struct buf *b, uint32_t id, uint64_t v)
{
	unsigned n = uint_len(v);
	int err = el_open(b, id, n);
	if (!err)
		put_be(b, v, n);
	return err;
}

static int el_bin(struct buf *b, uint32_t id, const void *p, size_t n)
{
	int err = el_open(b, id, n);
	if (!err)
		put_bytes(b, p, n);
	return err;
}

static int el_str(struct buf *b, uint32_t id, const char *s)
{
	return el_bin(b, id, s, strlen(s));
}

static int el_float(struct buf *b, uint32_t id, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	int err = el_open(b, id, 8);
	if (!err)
		put_be(b, bits, 8);
	return err;
}

/* A master element: children built in `inner`, then appended. */
static int el_master(struct buf *b, uint32_t id, const struct buf *inner)
{
	return el_bin(b, id, inner->p, inner->len);
}

static int track_entry(struct dr_mkv *m, unsigned i, struct buf *out)
{
	const struct track *tr = &m->tracks[i];
	const struct dr_track *t = &tr->t;
	struct buf e = {0}, sub = {0};
	int err = el_uint(&e, ID_TRACKNUMBER, i + 1);
	if (!err) /* any nonzero, unique in the file */
		err = el_uint(&e, ID_TRACKUID, ((m->uid_seed * 0x9E3779B97F4A7C15ull) ^ (i + 1)) | 1);
	if (!err)
		err = el_uint(&e, ID_TRACKTYPE,
			      t->kind == DR_TRACK_AUDIO ? TRACKTYPE_AUDIO : TRACKTYPE_VIDEO);
	if (!err)
		err = el_uint(&e, ID_FLAGLACING, 0);
	if (!err)
		err = el_str(&e, ID_CODECID, t->codec);
	if (!err && tr->priv)
		err = el_bin(&e, ID_CODECPRIVATE, tr->priv, t->codec_private_len);
	if (t->kind == DR_TRACK_AUDIO) {
		if (!err && t->delay)
			err = el_uint(&e, ID_CODECDELAY, (uint64_t)t->delay * 1000000000u / t->rate);
		if (!err && t->seek_preroll_ns)
			err = el_uint(&e, ID_SEEKPREROLL, t->seek_preroll_ns);
		if (!err)
			err = el_float(&sub, ID_SAMPLINGFREQUENCY, (double)t->rate);
		if (!err)
			err = el_uint(&sub, ID_CHANNELS, t->channels);
		if (!err)
			err = el_master(&e, ID_AUDIO, &sub);
	} else {
		if (!err)
			err = el_uint(&sub, ID_PIXELWIDTH, t->width);
		if (!err)
			err = el_uint(&sub, ID_PIXELHEIGHT, t->height);
		if (!err)
			err = el_master(&e, ID_VIDEO, &sub);
	}
	if (!err)
		err = el_master(out, ID_TRACKENTRY, &e);
	free(e.p);
	free(sub.p);
	return err;
}

static int write_headers(struct dr_mkv *m)
{
	struct buf h = {0}, inner = {0}, tracks = {0};
	int err = el_uint(&inner, ID_EBMLVERSION, 1);
	if (!err)
		err = el_uint(&inner, ID_EBMLREADVERSION, 1);
	if (!err)
		err = el_uint(&inner, ID_EBMLMAXIDLENGTH, 4);
	if (!err)
		err = el_uint(&inner, ID_EBMLMAXSIZELENGTH, 8);
	if (!err)
		err = el_str(&inner, ID_DOCTYPE, "matroska");
	if (!err)
		err = el_uint(&inner, ID_DOCTYPEVERSION, 4);
	if (!err)
		err = el_uint(&inner, ID_DOCTYPEREADVERSION, 2);
	if (!err)
		err = el_master(&h, ID_EBML, &inner);
	if (!err)
		err = reserve(&h, 12);
	if (!err) { /* Segment of unknown size: all ones in 8 bytes */
		put_be(&h, ID_SEGMENT, 4);
		put_be(&h, 0x01FFFFFFFFFFFFFFull, 8);
	}
	inner.len = 0;
	if (!err)
		err = el_uint(&inner, ID_TIMESTAMPSCALE, TIMESTAMP_SCALE_NS);
	if (!err)
		err = el_str(&inner, ID_MUXINGAPP, m->app);
	if (!err)
		err = el_str(&inner, ID_WRITINGAPP, m->app);
	if (!err)
		err = el_master(&h, ID_INFO, &inner);
	for (unsigned i = 0; !err && i < m->ntracks; i++)
		err = track_entry(m, i, &tracks);
	if (!err)
		err = el_master(&h, ID_TRACKS, &tracks);
	if (!err) {
		err = m->sink.ops->write(m->sink.user, h.p, h.len);
		m->headers_written = !err;
	}
	free(h.p);
	free(inner.p);
	free(tracks.p);
	return err ? fail(m, err) : 0;
}

/* Writes the cluster gathered so far (if any), in one sink write. */
static int write_cluster(struct dr_mkv *m)
{
	if (!m->nstamps)
		return 0;
	for (size_t i = 0; i < m->nstamps; i++) {
		int64_t rel = m->stamps[i].ms - m->min_ms;
		m->cl.p[m->stamps[i].off] = (unsigned char)((uint64_t)rel >> 8);
		m->cl.p[m->stamps[i].off + 1] = (unsigned char)rel;
	}
	struct buf h = {.p = (unsigned char[CLUSTER_HEAD_MAX]){0}, .cap = CLUSTER_HEAD_MAX};
	put_be(&h, ID_CLUSTER, 4);
	put_be(&h, 0x01FFFFFFFFFFFFFFull, 8);
	unsigned n = uint_len((uint64_t)m->min_ms);
	put_be(&h, ID_TIMESTAMP, 1);
	put_vsize(&h, n);
	put_be(&h, (uint64_t)m->min_ms, n);
	size_t start = CLUSTER_HEAD_MAX - h.len;
	memcpy(m->cl.p + start, h.p, h.len);
	int err = m->sink.ops->write(m->sink.user, m->cl.p + start, m->cl.len - start);
	m->cl.len = CLUSTER_HEAD_MAX;
	m->nstamps = 0;
	return err ? fail(m, err) : 0;
}

static int64_t packet_ms(const struct track *tr, uint64_t pts)
{
	uint64_t ns = pts;
	if (tr->t.kind == DR_TRACK_AUDIO)
		ns = pts / tr->t.rate * 1000000000u + pts % tr->t.rate * 1000000000u / tr->t.rate;
	return (int64_t)(ns / TIMESTAMP_SCALE_NS);
}

static int mkv_write(void *ctx, const struct dr_packet *p)
{
	struct dr_mkv *m = ctx;
	if (m->err)
		return m->err;
	if (m->finished || p->track >= m->ntracks || (!p->data && p->len))
		return -EINVAL;
	if (!m->headers_written) {
		int err = write_headers(m);
		if (err)
			return err;
	}
	struct track *tr = &m->tracks[p->track];
	if (p->pts > INT64_MAX / 2)
		return -EOVERFLOW;
	int64_t ms = packet_ms(tr, p->pts);
	if (m->nstamps) {
		int64_t lo = ms < m->min_ms ? ms : m->min_ms;
		int64_t hi = ms > m->max_ms ? ms : m->max_ms;
		if (m->cl.len > CLUSTER_MAX_BYTES || hi - lo > CLUSTER_MAX_SPAN_MS) {
			int err = write_cluster(m);
			if (err)
				return err;
		}
	}
	/* Opus: the trimmed end of the last packet is DiscardPadding (ns). */
	uint64_t pad = 0;
	if (tr->t.kind == DR_TRACK_AUDIO && p->last && p->duration < tr->last_duration)
		pad = (tr->last_duration - p->duration) * 1000000000u / tr->t.rate;
	tr->last_duration = p->duration;
	size_t blen = 4 + p->len; /* track number (1 byte), timestamp, flags */
	int err = reserve(&m->cl, 2 * 12 + blen + 16);
	if (!err && m->nstamps == m->capstamps) {
		size_t cap = m->capstamps ? 2 * m->capstamps : 64;
		struct stamp *s = realloc(m->stamps, cap * sizeof(*s));
		if (!s)
			err = -ENOMEM;
		else {
			m->stamps = s;
			m->capstamps = cap;
		}
	}
	if (err)
		return fail(m, err);
	if (pad) {
		unsigned pn = uint_len(pad) + (pad >> (8 * uint_len(pad) - 1) & 1); /* signed */
		put_be(&m->cl, ID_BLOCKGROUP, 1);
		put_vsize(&m->cl, 1 + 8 + blen + 2 + 1 + pn);
		put_be(&m->cl, ID_BLOCK, 1);
		put_be(&m->cl, (1ull << 56) | blen, 8);
	} else {
		put_be(&m->cl, ID_SIMPLEBLOCK, 1);
		put_be(&m->cl, (1ull << 56) | blen, 8);
	}
	put_be(&m->cl, 0x80u | (p->track + 1), 1);
	m->stamps[m->nstamps++] = (struct stamp){.off = m->cl.len, .ms = ms};
	put_be(&m->cl, 0, 2);
	/* SimpleBlock flags: keyframe; a Block has no key flag (its absence
	 * of ReferenceBlock says it). */
	put_be(&m->cl, pad ? 0 : (p->key ? 0x80u : 0), 1);
	put_bytes(&m->cl, p->data, p->len);
	if (pad) {
		unsigned pn = uint_len(pad) + (pad >> (8 * uint_len(pad) - 1) & 1);
		put_be(&m->cl, ID_DISCARDPADDING, 2);
		put_vsize(&m->cl, pn);
		put_be(&m->cl, pad, pn);
	}
	if (m->nstamps == 1 || ms < m->min_ms)
		m->min_ms = ms;
	if (m->nstamps == 1 || ms > m->max_ms)
		m->max_ms = ms;
	return 0;
}

static int mkv_add_track(void *ctx, const struct dr_track *t)
{
	struct dr_mkv *m = ctx;
	if (m->err)
		return m->err;
	if (m->headers_written || m->finished || m->ntracks == MAX_TRACKS || !t->codec)
		return -EINVAL;
	if (t->kind == DR_TRACK_AUDIO ? (t->rate == 0 || t->channels == 0)
				      : (t->kind != DR_TRACK_VIDEO || !t->width || !t->height))
		return -EINVAL;
	struct track *tr = &m->tracks[m->ntracks];
	memset(tr, 0, sizeof(*tr));
	tr->t = *t;
	tr->t.comment = NULL; /* Ogg only */
	tr->t.comment_len = 0;
	if (t->codec_private_len) {
		if (!t->codec_private)
			return -EINVAL;
		tr->priv = malloc(t->codec_private_len);
		if (!tr->priv)
			return fail(m, -ENOMEM);
		memcpy(tr->priv, t->codec_private, t->codec_private_len);
	}
	tr->t.codec_private = tr->priv;
	return (int)m->ntracks++;
}

static int mkv_flush(void *ctx, uint64_t position)
{
	struct dr_mkv *m = ctx;
	if (m->err)
		return m->err;
	if (m->finished)
		return -EINVAL;
	int err = m->headers_written ? 0 : write_headers(m);
	if (!err)
		err = write_cluster(m);
	if (err)
		return err;
	if (m->sink.ops->position)
		(void)m->sink.ops->position(m->sink.user, position);
	err = m->sink.ops->sync(m->sink.user);
	return err ? fail(m, err) : 0;
}

static int mkv_finish(void *ctx, int err)
{
	struct dr_mkv *m = ctx;
	if (m->finished)
		return -EINVAL;
	if (!err)
		err = m->err;
	if (err && m->sink_open)
		(void)m->sink.ops->sync(m->sink.user);
	m->finished = true;
	m->sink_open = false;
	int cerr = m->sink.ops->close(m->sink.user);
	return err ? err : cerr;
}

static void mkv_free(void *ctx)
{
	struct dr_mkv *m = ctx;
	if (!m)
		return;
	if (m->sink_open)
		m->sink.ops->close(m->sink.user);
	for (unsigned i = 0; i < m->ntracks; i++)
		free(m->tracks[i].priv);
	free(m->cl.p);
	free(m->stamps);
	free(m);
}

static const struct dr_container_ops mkv_ops = {
	.name = "matroska",
	.add_track = mkv_add_track,
	.write = mkv_write,
	.flush = mkv_flush,
	.finish = mkv_finish,
	.free = mkv_free,
};

int dr_mkv_new(struct dr_sink sink, const struct dr_mkv_params *p, struct dr_container *out)
{
	if (!sink.ops)
		return -EINVAL;
	const char *app = p && p->app ? p->app : "diaryroom";
	int err = 0;
	struct dr_mkv *m = NULL;
	if (!out || strlen(app) >= sizeof(m->app))
		err = -EINVAL;
	else if (!(m = calloc(1, sizeof(*m))) || reserve(&m->cl, 64 * 1024) != 0)
		err = -ENOMEM;
	if (err) {
		if (m)
			free(m->cl.p);
		free(m);
		sink.ops->close(sink.user);
		return err;
	}
	m->sink = sink;
	m->sink_open = true;
	strcpy(m->app, app);
	m->uid_seed = p ? p->uid_seed : 0;
	m->cl.len = CLUSTER_HEAD_MAX;
	*out = (struct dr_container){.ops = &mkv_ops, .ctx = m};
	return 0;
}
