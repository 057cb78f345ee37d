/* SPDX-License-Identifier: MIT */
/*
 * Repair of Ogg Opus files cut off by a crash or power failure.
 *
 * Pass 1 walks the file with libogg (ogg_sync_pageseek verifies each page's
 * CRC and reports skipped bytes; ogg_stream_packetout reports a hole where a
 * page is missing) and stops at the first sign of damage: skipped bytes, a
 * page of another stream, a hole, or a packet that is not a valid Opus
 * packet. It counts the packets worth keeping and decides whether the file is
 * already complete (clean to the end, the last page marked end-of-stream with
 * a sane granule position). Pass 2, only for files that need it, walks the
 * file again and re-muxes the headers and the kept packets into
 * "<path>.repair" with granule positions recomputed from the packets
 * themselves, then swaps it in atomically.
 */
#include "recover.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ogg/ogg.h>
#include <opus/opus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sink.h"

#define DR_READ_CHUNK 65536
#define DR_OGG_MAX_PAGE (27 + 255 + 255 * 255)

/* What pass 1 learnt about a file. */
struct scan {
	uint64_t size;          /* file size */
	unsigned char *head;    /* OpusHead packet (copy) */
	long head_len;
	unsigned char *tags;    /* OpusTags packet (copy) */
	long tags_len;
	int serial;
	unsigned preskip;
	uint64_t packets;       /* valid audio packets before any damage */
	uint64_t samples;       /* their decoded length in total (48 kHz) */
	uint64_t last_samples;  /* decoded length of the last of them */
	bool eos;               /* the end-of-stream page was reached intact */
	int64_t eos_granule;
	uint64_t good_end;      /* end of the last page taken whole */
	bool damaged;           /* stopped before the end of the file */
};

/* Pass 2 hands each kept audio packet to this. */
typedef int (*packet_fn)(void *ctx, ogg_packet *op, uint64_t index);

static void scan_clear(struct scan *s)
{
	free(s->head);
	free(s->tags);
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* RFC 7845 5.1; only what we can re-mux and check: mono or stereo, family 0. */
static int check_head(const unsigned char *p, long len, unsigned *preskip)
{
	if (len < 19 || memcmp(p, "OpusHead", 8) != 0)
		return -EINVAL;
	if ((p[8] & 0xF0) != 0 || p[9] < 1 || p[9] > 2 || p[18] != 0)
		return -EINVAL;
	*preskip = le16(p + 10);
	return 0;
}

/* RFC 7845 5.2: every length inside the packet must fit. */
static int check_tags(const unsigned char *p, long len)
{
	if (len < 16 || memcmp(p, "OpusTags", 8) != 0)
		return -EINVAL;
	uint64_t left = (uint64_t)len - 8;
	const unsigned char *q = p + 8;
	uint32_t vlen = le32(q);
	if (vlen > left - 4)
		return -EINVAL;
	q += 4 + vlen;
	left -= 4 + (uint64_t)vlen;
	if (left < 4)
		return -EINVAL;
	uint32_t count = le32(q);
	q += 4;
	left -= 4;
	for (uint32_t i = 0; i < count; i++) {
		if (left < 4)
			return -EINVAL;
		uint32_t clen = le32(q);
		if (clen > left - 4)
			return -EINVAL;
		q += 4 + clen;
		left -= 4 + (uint64_t)clen;
	}
	return 0;
}

/* Decoded length of a well-formed Opus packet, or < 0. */
static int packet_samples(const ogg_packet *op)
{
	if (op->bytes < 1 || op->bytes > INT32_MAX)
		return -1;
	unsigned char toc;
	const unsigned char *frames[48];
	opus_int16 sizes[48];
	if (opus_packet_parse(op->packet, (opus_int32)op->bytes, &toc, frames, sizes, NULL) < 0)
		return -1;
	int n = opus_packet_get_nb_samples(op->packet, (opus_int32)op->bytes, 48000);
	return n > 0 ? n : -1;
}

static unsigned char *copy_packet(const ogg_packet *op)
{
	unsigned char *p = malloc((size_t)op->bytes);
	if (p)
		memcpy(p, op->packet, (size_t)op->bytes);
	return p;
}

/* Takes one packet: the headers, then audio. Returns 1 to stop (damage or
 * enough packets), 0 to go on, < 0 on error. */
static int take_packet(struct scan *s, ogg_packet *op, uint64_t *index, uint64_t limit,
		       packet_fn fn, void *ctx)
{
	if (!s->head) {
		if (!op->b_o_s || check_head(op->packet, op->bytes, &s->preskip) != 0)
			return 1;
		s->head = copy_packet(op);
		s->head_len = op->bytes;
		return s->head ? 0 : -ENOMEM;
	}
	if (!s->tags) {
		if (check_tags(op->packet, op->bytes) != 0)
			return 1;
		s->tags = copy_packet(op);
		s->tags_len = op->bytes;
		return s->tags ? 0 : -ENOMEM;
	}
	if (*index >= limit)
		return 1;
	int n = packet_samples(op);
	if (n < 0)
		return 1;
	if (fn) {
		int err = fn(ctx, op, *index);
		if (err)
			return err;
	}
	(*index)++;
	s->packets = *index;
	s->samples += (uint64_t)n;
	s->last_samples = (uint64_t)n;
	return 0;
}

/* Walks the file's pages. Stops at the first damage or after `limit` audio
 * packets; fills s (which must be zeroed). */

/* Reads the next chunk of the file into the Ogg sync layer: 0 (at_eof set at
 * the end of the file) or -errno. */
static int sync_feed(int fd, ogg_sync_state *oy, bool *at_eof)
{
	char *buf = ogg_sync_buffer(oy, DR_READ_CHUNK);
	if (!buf)
		return -ENOMEM;
	ssize_t n;
	do
		n = read(fd, buf, DR_READ_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		*at_eof = true;
	else
		ogg_sync_wrote(oy, (long)n);
	return 0;
}

static int scan_file(int fd, struct scan *s, uint64_t limit, packet_fn fn, void *ctx)
{
	ogg_sync_state oy;
	ogg_stream_state os;
	bool have_stream = false;
	uint64_t off = 0, index = 0;
	int err = 0;
	bool stop = false, at_eof = false;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	ogg_sync_init(&oy);
	while (!stop) {
		ogg_page og;
		long r = ogg_sync_pageseek(&oy, &og);
		if (r == 0) {
			if (at_eof)
				break;
			if ((err = sync_feed(fd, &oy, &at_eof)) < 0)
				break;
			continue;
		}
		if (r < 0)
			break; /* bytes skipped: a torn or corrupt page */
		if (!have_stream) {
			s->serial = ogg_page_serialno(&og);
			if (ogg_stream_init(&os, s->serial) != 0) {
				err = -ENOMEM;
				break;
			}
			have_stream = true;
		}
		if (ogg_page_serialno(&og) != s->serial || ogg_stream_pagein(&os, &og) != 0)
			break;
		/* Every packet completed on this page; a packet continuing on the
		 * next page stays inside libogg until that page arrives. */
		for (;;) {
			ogg_packet op;
			int pr = ogg_stream_packetout(&os, &op);
			if (pr == 0)
				break;
			if (pr < 0) {
				stop = true; /* a page is missing */
				break;
			}
			int t = take_packet(s, &op, &index, limit, fn, ctx);
			if (t < 0)
				err = t;
			if (t != 0) {
				stop = true;
				break;
			}
		}
		if (stop)
			break;
		off += (uint64_t)r;
		s->good_end = off;
		if (ogg_page_eos(&og)) {
			s->eos = s->tags != NULL;
			s->eos_granule = ogg_page_granulepos(&og);
			break;
		}
	}
	s->damaged = s->good_end != s->size;
	if (have_stream)
		ogg_stream_clear(&os);
	ogg_sync_clear(&oy);
	return err;
}

/* The final granule position for the kept packets: the one the EOS page
 * gave when it is intact and consistent (it trims the encoder's padding),
 * else all decoded samples. */
static int64_t final_granule(const struct scan *s)
{
	if (s->eos && s->eos_granule >= (int64_t)s->preskip &&
	    (uint64_t)s->eos_granule <= s->samples &&
	    (uint64_t)s->eos_granule + s->last_samples > s->samples)
		return s->eos_granule;
	return (int64_t)s->samples;
}

/* ---- pass 2: writing the repaired file ---- */

struct remux {
	ogg_stream_state os;
	struct dr_sink sink;
	uint64_t keep;      /* audio packets to write */
	int64_t granule;    /* running */
	int64_t final;      /* granule of the last packet */
	int64_t packetno;
};

static int remux_pages(struct remux *m, bool flush)
{
	ogg_page og;
	while (flush ? ogg_stream_flush(&m->os, &og) : ogg_stream_pageout(&m->os, &og)) {
		int err = m->sink.ops->write(m->sink.user, og.header, (size_t)og.header_len);
		if (!err)
			err = m->sink.ops->write(m->sink.user, og.body, (size_t)og.body_len);
		if (err)
			return err;
	}
	return 0;
}

static int remux_packet(struct remux *m, unsigned char *data, long len, int64_t granule, bool bos,
			bool eos)
{
	ogg_packet op = {
		.packet = data,
		.bytes = len,
		.b_o_s = bos,
		.e_o_s = eos,
		.granulepos = granule,
		.packetno = m->packetno++,
	};
	if (ogg_stream_packetin(&m->os, &op) != 0)
		return -ENOMEM;
	return remux_pages(m, bos || eos || granule == 0);
}

static int remux_audio(void *ctx, ogg_packet *op, uint64_t index)
{
	struct remux *m = ctx;
	int n = packet_samples(op);
	if (n < 0)
		return -EIO; /* pass 1 accepted it: the file changed under us */
	m->granule += n;
	bool last = index + 1 == m->keep;
	return remux_packet(m, op->packet, op->bytes, last ? m->final : m->granule, false, last);
}


static int remux_file(int fd, const char *path, const char *tmp, struct scan *s,
		      struct dr_sink_stats *st)
{
	struct remux m = {.keep = s->packets, .final = final_granule(s)};
	(void)unlink(tmp); /* a leftover of a repair that was cut short */
	int err = dr_file_sink_open(tmp, st, &m.sink);
	if (err)
		return err;
	if (ogg_stream_init(&m.os, s->serial) != 0) {
		m.sink.ops->close(m.sink.user);
		unlink(tmp);
		return -ENOMEM;
	}
	err = remux_packet(&m, s->head, s->head_len, 0, true, false);
	if (!err)
		err = remux_packet(&m, s->tags, s->tags_len, 0, false, false);
	if (!err && m.keep) {
		struct scan again = {.size = s->size};
		err = scan_file(fd, &again, m.keep, remux_audio, &m);
		if (!err && again.packets != m.keep)
			err = -EIO; /* the file changed under us */
		scan_clear(&again);
	} else if (!err) {
		/* Nothing survived after the headers: a packet that is a TOC
		 * byte alone (20 ms CELT, mono, one empty frame; decoders
		 * conceal it as silence) with a granule position that says "no
		 * samples" gives the EOS page something to sit on: a valid,
		 * empty recording. */
		unsigned char silent = 0xF8;
		int64_t g = 0;
		bool last = false;
		while (!err && !last) {
			g += 960;
			last = g >= (int64_t)s->preskip;
			err = remux_packet(&m, &silent, 1, last ? (int64_t)s->preskip : g,
					   false, last);
		}
	}
	if (!err)
		err = remux_pages(&m, true);
	if (!err)
		err = m.sink.ops->sync(m.sink.user);
	ogg_stream_clear(&m.os);
	int cerr = m.sink.ops->close(m.sink.user);
	if (!err)
		err = cerr;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	return dr_sync_parent_dir(path);
}

int dr_recover_file(const char *path, struct dr_recover_result *res)
{
	if (!path || !res)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int err = fstat(fd, &st) < 0 ? -errno : 0;
	if (!err && !S_ISREG(st.st_mode))
		err = -EINVAL;
	struct scan s = {.size = (uint64_t)st.st_size};
	if (!err)
		err = scan_file(fd, &s, UINT64_MAX, NULL, NULL);
	if (!err && (!s.head || !s.tags))
		err = -EINVAL;
	if (err)
		goto out_close;

	int64_t g = final_granule(&s);
	if (!s.damaged && s.eos && g == s.eos_granule) {
		res->was_complete = true;
		res->samples = (uint64_t)g - s.preskip;
		res->bytes = s.size;
		goto out_close;
	}

	size_t plen = strlen(path);
	char *tmp = malloc(plen + sizeof(".repair"));
	if (!tmp) {
		err = -ENOMEM;
		goto out_close;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".repair", sizeof(".repair"));
	struct dr_sink_stats out = {0};
	err = remux_file(fd, path, tmp, &s, &out);
	free(tmp);
	if (!err) {
		int64_t fin = s.packets ? g : (int64_t)s.preskip;
		res->samples = fin > (int64_t)s.preskip ? (uint64_t)fin - s.preskip : 0;
		res->bytes = out.bytes;
		res->dropped_bytes = s.size - s.good_end;
	}

out_close:
	scan_clear(&s);
	close(fd);
	return err;
}

/* ---- probe ---- */

/* The serial number and pre-skip from the first page, which must be the
 * OpusHead page at offset 0. */
static int probe_head(int fd, int *serial, unsigned *preskip)
{
	ogg_sync_state oy;
	ogg_sync_init(&oy);
	int err = -EINVAL;
	char *b = ogg_sync_buffer(&oy, DR_OGG_MAX_PAGE);
	ssize_t n = -1;
	if (b) {
		do
			n = pread(fd, b, DR_OGG_MAX_PAGE, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			err = -errno;
	} else {
		err = -ENOMEM;
	}
	if (n > 0) {
		ogg_sync_wrote(&oy, (long)n);
		ogg_page og;
		ogg_stream_state os;
		if (ogg_sync_pageseek(&oy, &og) > 0 && ogg_page_bos(&og) &&
		    ogg_stream_init(&os, ogg_page_serialno(&og)) == 0) {
			ogg_packet op;
			if (ogg_stream_pagein(&os, &og) == 0 && ogg_stream_packetout(&os, &op) == 1 &&
			    check_head(op.packet, op.bytes, preskip) == 0) {
				*serial = ogg_page_serialno(&og);
				err = 0;
			}
			ogg_stream_clear(&os);
		}
	}
	ogg_sync_clear(&oy);
	return err;
}

/* The last intact page of stream `serial` in [from, size), or 0 if none. */
static int probe_tail(int fd, uint64_t from, int serial, bool *found, bool *eos, int64_t *granule)
{
	if (lseek(fd, (off_t)from, SEEK_SET) < 0)
		return -errno;
	ogg_sync_state oy;
	ogg_sync_init(&oy);
	int err = 0;
	bool at_eof = false;
	for (;;) {
		ogg_page og;
		long r = ogg_sync_pageseek(&oy, &og);
		if (r > 0) {
			if (ogg_page_serialno(&og) == serial) {
				*found = true;
				*eos = ogg_page_eos(&og);
				*granule = ogg_page_granulepos(&og);
			}
			continue;
		}
		if (r < 0)
			continue; /* garbage skipped */
		if (at_eof)
			break;
		if ((err = sync_feed(fd, &oy, &at_eof)) < 0)
			break;
	}
	ogg_sync_clear(&oy);
	return err;
}

int dr_oggopus_probe(const char *path, uint64_t *samples)
{
	if (!path || !samples)
		return -EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int err = fstat(fd, &st) < 0 ? -errno : 0;
	int serial = 0;
	unsigned preskip = 0;
	if (!err)
		err = probe_head(fd, &serial, &preskip);
	/* Look at the last 64 KiB, then further back while garbage hides the
	 * last page (each window reads to the end, so no page is split). */
	uint64_t size = (uint64_t)st.st_size, window = 65536;
	bool found = false, eos = false;
	int64_t granule = -1;
	while (!err && !found) {
		uint64_t from = size > window ? size - window : 0;
		err = probe_tail(fd, from, serial, &found, &eos, &granule);
		if (from == 0)
			break;
		window *= 4;
	}
	close(fd);
	if (err)
		return err;
	if (!found || !eos || granule < (int64_t)preskip)
		return -EINVAL;
	*samples = (uint64_t)granule - preskip;
	return 0;
}
