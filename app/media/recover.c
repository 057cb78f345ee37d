/* SPDX-License-Identifier: MIT */
/*
 * Repair of Ogg Opus files cut off by a crash, a power failure or a full disk.
 *
 * Pass 1 walks the file with libogg (ogg_sync_pageseek verifies each page's
 * CRC and reports skipped bytes; ogg_stream_packetout reports a hole where a
 * page is missing) and stops at the first sign of damage: skipped bytes, a
 * page of another stream, a hole, or a packet that is not a valid Opus
 * packet. It counts the packets worth keeping, notes the page (offset, and
 * lacing values used) the last of them ends on, checks whether the pages up
 * to there are laid out as RFC 7845 asks (so that they can stay as they are),
 * and decides whether the file is already complete (clean to the end, the
 * last page marked end-of-stream with a sane granule position).
 *
 * A file that needs repair is then either repaired in place (only the page
 * the last kept packet ends on is rewritten, never longer than it was, and
 * the file truncated after it: no free space needed), or, for a foreign
 * layout, re-muxed (pass 2) into "<path>.repair" with granule positions
 * recomputed from the packets themselves and swapped in atomically.
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
#include <sys/statvfs.h>
#include <unistd.h>

#include "sink.h"

#define DR_READ_CHUNK 65536
#define DR_OGG_MAX_PAGE (27 + 255 + 255 * 255)

/* Where a kept packet ends: the page it completes on, and how many of that
 * page's lacing values it and the packets before it on the page take. */
struct endpoint {
	uint64_t off; /* the page's offset */
	long len;     /* the page's length */
	int segs;     /* lacing values through the end of the packet */
	bool set;
};

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
	struct endpoint tags_end; /* where the OpusTags packet ends */
	struct endpoint last_end; /* where the last kept audio packet ends */
	/* A repair in place keeps the pages before the one it rewrites as they
	 * are, so they must be as RFC 7845 asks. Offsets of the first page that
	 * is not (UINT64_MAX: none): layout_bad, a header packet sharing its
	 * page or a continued flag that does not match the page before;
	 * granule_bad, a granule position other than the running total of the
	 * packets (0 on header pages, -1 where no packet ends). */
	uint64_t layout_bad;
	uint64_t granule_bad;
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

static void note_bad(uint64_t *first, uint64_t off)
{
	if (off < *first)
		*first = off;
}

/* The lacing value (exclusive) at which the next packet completed on a page
 * ends, given where the previous one ended. */
static int next_packet_end(const ogg_page *og, int seg)
{
	int nsegs = og->header[26];
	while (seg < nsegs && og->header[27 + seg] == 255)
		seg++;
	return seg < nsegs ? seg + 1 : nsegs;
}

static int scan_file(int fd, struct scan *s, uint64_t limit, packet_fn fn, void *ctx)
{
	ogg_sync_state oy;
	ogg_stream_state os;
	bool have_stream = false;
	uint64_t off = 0, index = 0;
	int err = 0;
	bool stop = false, at_eof = false;
	bool open_packet = false; /* the page before ended inside a packet */

	s->layout_bad = s->granule_bad = UINT64_MAX;
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
		int nsegs = og.header[26];
		if ((ogg_page_continued(&og) != 0) != open_packet)
			note_bad(&s->layout_bad, off);
		/* Every packet completed on this page; a packet continuing on the
		 * next page stays inside libogg until that page arrives. */
		int seg = 0, ended = 0;
		bool header = false; /* the last packet ended here is a header */
		for (;;) {
			ogg_packet op;
			int pr = ogg_stream_packetout(&os, &op);
			if (pr == 0)
				break;
			if (pr < 0) {
				stop = true; /* a page is missing */
				break;
			}
			bool was_head = !s->head, was_tags = s->head && !s->tags;
			int t = take_packet(s, &op, &index, limit, fn, ctx);
			if (t < 0)
				err = t;
			if (t != 0) {
				stop = true;
				break;
			}
			seg = next_packet_end(&og, seg);
			ended++;
			header = was_head || was_tags;
			struct endpoint e = {.off = off, .len = r, .segs = seg, .set = true};
			if (header && seg != nsegs)
				note_bad(&s->layout_bad, off); /* RFC 7845: headers end their pages */
			if (was_tags)
				s->tags_end = e;
			else if (!was_head)
				s->last_end = e;
		}
		if (stop)
			break;
		int64_t want = ended == 0 ? -1 : header ? 0 : (int64_t)s->samples;
		if (!ogg_page_eos(&og) && ogg_page_granulepos(&og) != want)
			note_bad(&s->granule_bad, off);
		if (nsegs > 0)
			open_packet = og.header[27 + nsegs - 1] == 255;
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

/* ---- repair in place ---- */

static int pread_full(int fd, unsigned char *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* shorter than pass 1 saw: changed under us */
		done += (size_t)n;
	}
	return 0;
}

static int pwrite_full(int fd, const unsigned char *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/*
 * Rewrites the page at e so that it ends with the packet e ends: the lacing
 * values after e->segs and their bytes go (a packet continued on a page that
 * was lost, or packets found invalid), the end-of-stream flag is set or
 * cleared, the granule position set, the CRC recomputed. The new page is
 * never longer than the old one, so this needs no room on the disk; when only
 * the header changes, only the header is written. Its new length goes to
 * *len, its sequence number to *seq.
 */
static int rewrite_page(int fd, const struct endpoint *e, bool eos, int64_t granule, long *len,
			uint32_t *seq)
{
	if (e->len < 27 || e->len > DR_OGG_MAX_PAGE)
		return -EIO;
	unsigned char *p = malloc((size_t)e->len);
	if (!p)
		return -ENOMEM;
	int err = pread_full(fd, p, (size_t)e->len, e->off);
	int nsegs = p[26];
	long body = 0, keep = 0;
	if (!err && (memcmp(p, "OggS", 4) != 0 || 27 + nsegs > e->len || e->segs > nsegs))
		err = -EIO;
	for (int i = 0; !err && i < nsegs; i++) {
		body += p[27 + i];
		if (i < e->segs)
			keep += p[27 + i];
	}
	if (!err && 27 + nsegs + body != e->len)
		err = -EIO; /* not the page pass 1 read: changed under us */
	if (err)
		goto out_free;
	*seq = le32(p + 18);
	unsigned char flags = (unsigned char)(eos ? p[5] | 0x04 : p[5] & ~0x04);
	*len = 27 + e->segs + keep;
	if (e->segs == nsegs && flags == p[5] && le64(p + 6) == (uint64_t)granule)
		goto out_free; /* already right */
	p[5] = flags;
	put_le64(p + 6, (uint64_t)granule);
	p[26] = (unsigned char)e->segs;
	memmove(p + 27 + e->segs, p + 27 + nsegs, (size_t)keep);
	ogg_page og = {
		.header = p,
		.header_len = 27 + e->segs,
		.body = p + 27 + e->segs,
		.body_len = keep,
	};
	ogg_page_checksum_set(&og);
	err = pwrite_full(fd, p, (size_t)(e->segs == nsegs ? og.header_len : *len), e->off);
out_free:
	free(p);
	return err;
}

/* The end-of-stream page of an empty recording, the same packets the re-mux
 * writes (see remux_file): one-byte packets (TOC alone: 20 ms CELT, one
 * empty frame, decoded as silence) until the pre-skip is covered, granule
 * position the pre-skip (nothing left to play). */
static long silent_page(unsigned char *pg, int serial, uint32_t seq, unsigned preskip)
{
	int n = 0;
	for (int64_t g = 0; g < (int64_t)preskip || n == 0; g += 960)
		n++;
	memcpy(pg, "OggS", 4);
	pg[4] = 0;
	pg[5] = 0x04;
	put_le64(pg + 6, preskip);
	put_le32(pg + 14, (uint32_t)serial);
	put_le32(pg + 18, seq);
	put_le32(pg + 22, 0);
	pg[26] = (unsigned char)n;
	memset(pg + 27, 1, (size_t)n);
	memset(pg + 27 + n, 0xF8, (size_t)n);
	ogg_page og = {.header = pg, .header_len = 27 + n, .body = pg + 27 + n, .body_len = n};
	ogg_page_checksum_set(&og);
	return 27 + 2L * n;
}

/* The file's pages up to the one to be rewritten can stay as they are. */
static bool can_repair_in_place(const struct scan *s)
{
	const struct endpoint *e = s->packets ? &s->last_end : &s->tags_end;
	return e->set && s->layout_bad > e->off && s->granule_bad >= e->off;
}

/* The kept packets' last page, made the end-of-stream page, the rest cut
 * off; or, with no audio kept, the end-of-stream page of an empty recording
 * after the headers. */
static int repair_in_place(const char *path, const struct stat *was, const struct scan *s,
			   struct dr_recover_result *res)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	struct stat st;
	int err = fstat(fd, &st) < 0 ? -errno : 0;
	if (!err && (st.st_dev != was->st_dev || st.st_ino != was->st_ino ||
		     (uint64_t)st.st_size != s->size))
		err = -EIO; /* changed under us */
	bool audio = s->packets > 0;
	const struct endpoint *e = audio ? &s->last_end : &s->tags_end;
	uint64_t end = e->off + (uint64_t)e->len;
	/* The damaged tail first: nothing kept is in it, and it frees room. */
	if (!err && s->size > end && ftruncate(fd, (off_t)end) < 0)
		err = -errno;
	long len = 0;
	uint32_t seq = 0;
	if (!err)
		err = rewrite_page(fd, e, audio, audio ? final_granule(s) : 0, &len, &seq);
	if (!err) {
		end = e->off + (uint64_t)len;
		if (len < e->len && ftruncate(fd, (off_t)end) < 0)
			err = -errno;
	}
	uint64_t kept_end = end; /* of what the file held */
	if (!err && !audio) {
		unsigned char pg[27 + 2 * 255];
		long n = silent_page(pg, s->serial, seq + 1, s->preskip);
		err = pwrite_full(fd, pg, (size_t)n, end);
		end += (uint64_t)n;
	}
	if (!err && fdatasync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (err)
		return err;
	int64_t fin = audio ? final_granule(s) : (int64_t)s->preskip;
	res->samples = fin > (int64_t)s->preskip ? (uint64_t)fin - s->preskip : 0;
	res->bytes = end;
	res->dropped_bytes = s->size - kept_end;
	res->in_place = true;
	return 0;
}

int dr_recover_file(const char *path, struct dr_recover_result *res)
{
	return dr_recover_file_mode(path, DR_RECOVER_AUTO, res);
}

int dr_recover_file_mode(const char *path, enum dr_recover_mode mode,
			 struct dr_recover_result *res)
{
	if (!path || !res || (mode != DR_RECOVER_AUTO && mode != DR_RECOVER_IN_PLACE &&
			      mode != DR_RECOVER_COPY))
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st = {0};
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
	if (!s.damaged && s.eos && g == s.eos_granule && g >= (int64_t)s.preskip) {
		res->was_complete = true;
		res->samples = (uint64_t)g - s.preskip;
		res->bytes = s.size;
		goto out_close;
	}
	/* Less audio than the pre-skip is no audio: an empty recording (a
	 * granule position below the pre-skip is invalid). */
	if (s.packets && g < (int64_t)s.preskip)
		s.packets = 0;

	bool in_place = mode != DR_RECOVER_COPY && can_repair_in_place(&s);
	if (mode == DR_RECOVER_IN_PLACE && !in_place) {
		err = -ENOTSUP;
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
	if (in_place) {
		(void)unlink(tmp); /* a leftover of a copy that was cut short */
		err = repair_in_place(path, &st, &s, res);
	} else {
		struct dr_sink_stats out = {0};
		err = remux_file(fd, path, tmp, &s, &out);
		if (!err) {
			int64_t fin = s.packets ? g : (int64_t)s.preskip;
			res->samples = fin > (int64_t)s.preskip ? (uint64_t)fin - s.preskip : 0;
			res->bytes = out.bytes;
			res->dropped_bytes = s.size - s.good_end;
		}
	}
	free(tmp);

out_close:
	scan_clear(&s);
	close(fd);
	return err;
}

/* ---- the space reserve ---- */

/* Bytes free for an unprivileged writer on the filesystem holding `path`'s
 * folder. */
static int free_bytes_near(const char *path, uint64_t *bytes)
{
	char dir[PATH_MAX];
	int r = dr_parent_dir(path, dir, sizeof(dir));
	if (r < 0)
		return r;
	struct statvfs v;
	if (statvfs(dir, &v) < 0)
		return -errno;
	*bytes = (uint64_t)v.f_bavail * v.f_frsize;
	return 0;
}

int dr_reserve_make(const char *path, uint64_t bytes)
{
	if (!path || bytes == 0 || bytes > (uint64_t)INT64_MAX / 2)
		return -EINVAL;
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size >= bytes)
			return 0;
		if (unlink(path) < 0) /* made only in part (cut off) */
			return -errno;
	} else if (errno != ENOENT) {
		return -errno;
	}
	uint64_t avail;
	int err = free_bytes_near(path, &avail);
	if (err)
		return err;
	if (avail / 2 < bytes)
		return 0; /* it must never take the last of the room */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	int e = posix_fallocate(fd, 0, (off_t)bytes);
	if (!e && fsync(fd) < 0)
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (e) {
		unlink(path);
		return e == ENOSPC ? 0 : -e;
	}
	err = dr_sync_parent_dir(path);
	return err ? err : 1;
}

int dr_reserve_release(const char *path, uint64_t bytes)
{
	if (!path)
		return -EINVAL;
	if (bytes != UINT64_MAX) {
		uint64_t avail;
		int err = free_bytes_near(path, &avail);
		if (err == -ENOENT)
			return 0; /* no folder yet: no reserve either */
		if (err)
			return err;
		if (avail >= bytes)
			return 0;
	}
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -errno;
	int err = dr_sync_parent_dir(path);
	return err ? err : 1;
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
