/* SPDX-License-Identifier: MIT */
/*
 * The Opus track of a Matroska file, read front to back (see mkv_audio.h).
 *
 * The walk is flat: the masters a packet lives in (Segment, Cluster,
 * BlockGroup) are entered by reading only their header, so their children
 * come next in the stream whatever their size (known or unknown, as in
 * live mode); every other element's body is either the one thing wanted
 * (Tracks, a block) or read through unseen.
 */
#include "mkv_audio.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ID_EBML 0x1A45DFA3u
#define ID_DOCTYPE 0x4282u
#define ID_SEGMENT 0x18538067u
#define ID_TRACKS 0x1654AE6Bu
#define ID_TRACKENTRY 0xAEu
#define ID_TRACKNUMBER 0xD7u
#define ID_CODECID 0x86u
#define ID_CODECPRIVATE 0x63A2u
#define ID_CLUSTER 0x1F43B675u
#define ID_SIMPLEBLOCK 0xA3u
#define ID_BLOCKGROUP 0xA0u
#define ID_BLOCK 0xA1u

#define EBML_HEADER_MAX 1024
#define TRACKS_MAX (64 * 1024)
#define UNKNOWN UINT64_MAX
#define PACKET_MAX (1u << 20) /* far above any Opus packet (RFC 6716: 120 ms) */

struct dr_mkv_audio {
	dr_mkv_stream_fn read;
	void *user;
	uint64_t track; /* the Opus track's number */
	int err;        /* sticky: first error, or 1 at the end */
	unsigned char scratch[4096];
};

/* Reads exactly len bytes: 0, -ENODATA if the stream ends first, -errno. */
static int get(struct dr_mkv_audio *r, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		long n = r->read(r->user, (char *)buf + got, len - got);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ENODATA;
		if ((size_t)n > len - got)
			return -EIO; /* a reader that says it gave more than asked */
		got += (size_t)n;
	}
	return 0;
}

static int skip(struct dr_mkv_audio *r, uint64_t len)
{
	while (len > 0) {
		size_t n = len < sizeof(r->scratch) ? (size_t)len : sizeof(r->scratch);
		int err = get(r, r->scratch, n);
		if (err)
			return err;
		len -= n;
	}
	return 0;
}

static unsigned vint_len(unsigned char first)
{
	unsigned n = 1;
	while (n <= 8 && !(first & (0x80u >> (n - 1))))
		n++;
	return n; /* 9: invalid */
}

/* An element header from the stream: 0, -ENODATA (ended), -EBADMSG, -errno. */
static int read_el(struct dr_mkv_audio *r, uint32_t *id, uint64_t *size)
{
	unsigned char b[8];
	int err = get(r, b, 1);
	if (err)
		return err;
	unsigned il = vint_len(b[0]);
	if (il > 4)
		return -EBADMSG;
	if (il > 1 && (err = get(r, b + 1, il - 1)) != 0)
		return err;
	*id = 0;
	for (unsigned i = 0; i < il; i++)
		*id = *id << 8 | b[i];
	if ((err = get(r, b, 1)) != 0)
		return err;
	unsigned sl = vint_len(b[0]);
	if (sl > 8)
		return -EBADMSG;
	if (sl > 1 && (err = get(r, b + 1, sl - 1)) != 0)
		return err;
	uint64_t v = b[0] & (0xFFu >> sl);
	bool ones = v == (0xFFu >> sl);
	for (unsigned i = 1; i < sl; i++) {
		v = v << 8 | b[i];
		ones = ones && b[i] == 0xFF;
	}
	*size = ones ? UNKNOWN : v;
	return 0;
}

/* An element inside a buffer: 0 and *pos past its header, or -EBADMSG. */
static int mem_el(const unsigned char *p, size_t len, size_t *pos, uint32_t *id, size_t *size)
{
	if (*pos >= len)
		return -EBADMSG;
	unsigned il = vint_len(p[*pos]);
	if (il > 4 || il >= len - *pos)
		return -EBADMSG;
	unsigned sl = vint_len(p[*pos + il]);
	if (sl > 8 || sl > len - *pos - il)
		return -EBADMSG;
	*id = 0;
	for (unsigned i = 0; i < il; i++)
		*id = *id << 8 | p[*pos + i];
	uint64_t v = p[*pos + il] & (0xFFu >> sl);
	for (unsigned i = 1; i < sl; i++)
		v = v << 8 | p[*pos + il + i];
	*pos += il + sl;
	if (v > len - *pos)
		return -EBADMSG;
	*size = (size_t)v;
	return 0;
}

static uint64_t mem_uint(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n && i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* OpusHead (RFC 7845 section 5.1), mapping family 0 only. */
static bool opus_head(const unsigned char *p, size_t n, struct dr_mkv_audio_info *info)
{
	if (n < 19 || memcmp(p, "OpusHead", 8) != 0 || (p[8] & 0xF0) != 0 || p[18] != 0)
		return false;
	if (p[9] < 1 || p[9] > 2)
		return false;
	info->channels = p[9];
	info->pre_skip = (unsigned)p[10] | (unsigned)p[11] << 8;
	return true;
}

/* The first TrackEntry with CodecID A_OPUS and a valid OpusHead. */
static int parse_tracks(struct dr_mkv_audio *r, const unsigned char *p, size_t len,
			struct dr_mkv_audio_info *info)
{
	for (size_t pos = 0; pos < len;) {
		uint32_t id;
		size_t size;
		if (mem_el(p, len, &pos, &id, &size) != 0)
			return -EINVAL;
		if (id == ID_TRACKENTRY) {
			const unsigned char *e = p + pos;
			uint64_t number = 0;
			bool opus = false, head = false;
			struct dr_mkv_audio_info in = {0};
			for (size_t q = 0; q < size;) {
				uint32_t cid;
				size_t cs;
				if (mem_el(e, size, &q, &cid, &cs) != 0)
					return -EINVAL;
				if (cid == ID_TRACKNUMBER && cs >= 1 && cs <= 8)
					number = mem_uint(e + q, cs);
				else if (cid == ID_CODECID)
					opus = cs == 6 && memcmp(e + q, "A_OPUS", 6) == 0;
				else if (cid == ID_CODECPRIVATE)
					head = opus_head(e + q, cs, &in);
				q += cs;
			}
			if (opus && head && number > 0) {
				r->track = number;
				*info = in;
				return 0;
			}
		}
		pos += size;
	}
	return -EINVAL;
}

static int check_ebml_header(struct dr_mkv_audio *r)
{
	uint32_t id;
	uint64_t size;
	unsigned char h[EBML_HEADER_MAX];
	if (read_el(r, &id, &size) != 0 || id != ID_EBML || size > EBML_HEADER_MAX ||
	    get(r, h, (size_t)size) != 0)
		return -EINVAL;
	bool matroska = false;
	for (size_t pos = 0; pos < size;) {
		uint32_t cid;
		size_t cs;
		if (mem_el(h, (size_t)size, &pos, &cid, &cs) != 0)
			return -EINVAL;
		if (cid == ID_DOCTYPE)
			matroska = (cs == 8 && memcmp(h + pos, "matroska", 8) == 0) ||
				   (cs == 4 && memcmp(h + pos, "webm", 4) == 0);
		pos += cs;
	}
	return matroska ? 0 : -EINVAL;
}

int dr_mkv_audio_open(dr_mkv_stream_fn read, void *user, struct dr_mkv_audio **out,
		      struct dr_mkv_audio_info *info)
{
	*out = NULL;
	memset(info, 0, sizeof(*info));
	struct dr_mkv_audio *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->read = read;
	r->user = user;
	int err = check_ebml_header(r);
	while (!err) {
		uint32_t id;
		uint64_t size;
		err = read_el(r, &id, &size);
		if (err)
			break;
		if (id == ID_SEGMENT)
			continue; /* its children follow */
		if (size == UNKNOWN || id == ID_CLUSTER || id == ID_EBML) {
			err = -EINVAL; /* nothing but a Segment may be open-ended here */
			break;
		}
		if (id != ID_TRACKS) {
			err = skip(r, size);
			continue;
		}
		if (size > TRACKS_MAX) {
			err = -EINVAL;
			break;
		}
		unsigned char *t = malloc(size ? (size_t)size : 1);
		if (!t) {
			err = -ENOMEM;
			break;
		}
		err = get(r, t, (size_t)size);
		if (!err)
			err = parse_tracks(r, t, (size_t)size, info);
		free(t);
		if (!err) {
			*out = r;
			return 0;
		}
	}
	free(r);
	memset(info, 0, sizeof(*info));
	return err == -ENODATA || err == -EBADMSG ? -EINVAL : err;
}

/* A block's body of `size` bytes: the packet if it is the Opus track's
 * (>0), 0 if it is another track's or empty (read through), or an error. */
static long block(struct dr_mkv_audio *r, uint64_t size, void *buf, size_t cap)
{
	unsigned char h[11];
	if (size < 4)
		return -EBADMSG;
	int err = get(r, h, 1);
	if (err)
		return err;
	unsigned tl = vint_len(h[0]);
	if (tl > 8 || tl + 3 > size)
		return -EBADMSG;
	if ((err = get(r, h + 1, tl + 2)) != 0)
		return err;
	uint64_t track = h[0] & (0xFFu >> tl);
	for (unsigned i = 1; i < tl; i++)
		track = track << 8 | h[i];
	uint64_t payload = size - tl - 3;
	if (track != r->track || payload == 0)
		return skip(r, payload);
	if (h[tl + 2] & 0x06)
		return -EBADMSG; /* laced */
	if (payload > cap)
		return -EMSGSIZE;
	err = get(r, buf, (size_t)payload);
	return err ? err : (long)payload;
}

long dr_mkv_audio_next(struct dr_mkv_audio *r, void *buf, size_t cap)
{
	if (cap > PACKET_MAX)
		cap = PACKET_MAX;
	while (!r->err) {
		uint32_t id;
		uint64_t size;
		long n = read_el(r, &id, &size);
		if (!n) {
			if (id == ID_SEGMENT || id == ID_CLUSTER || id == ID_BLOCKGROUP)
				continue; /* its children follow */
			if (size == UNKNOWN)
				n = -EBADMSG;
			else if (id == ID_SIMPLEBLOCK || id == ID_BLOCK)
				n = block(r, size, buf, cap);
			else
				n = skip(r, size);
		}
		if (n > 0)
			return n;
		if (n == -ENODATA)
			r->err = 1;
		else if (n < 0)
			r->err = (int)n;
	}
	return r->err > 0 ? 0 : r->err;
}

void dr_mkv_audio_free(struct dr_mkv_audio *r)
{
	free(r);
}
