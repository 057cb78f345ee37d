/* SPDX-License-Identifier: MIT */
/*
 * Reading a Matroska file back far enough to repair it (see mkv.h): an EBML
 * (RFC 8794) element walker that reads only element headers, the Cluster
 * Timestamp and block headers, so a long video costs a few reads per block
 * and no memory. Everything read is treated as hostile: every size is
 * checked against the bytes that are there before it is used.
 */
#include "mkv.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID_EBML 0x1A45DFA3u
#define ID_DOCTYPE 0x4282u
#define ID_SEGMENT 0x18538067u
#define ID_SEEKHEAD 0x114D9B74u
#define ID_INFO 0x1549A966u
#define ID_TRACKS 0x1654AE6Bu
#define ID_CUES 0x1C53BB6Bu
#define ID_TAGS 0x1254C367u
#define ID_CHAPTERS 0x1043A770u
#define ID_ATTACHMENTS 0x1941A469u
#define ID_CLUSTER 0x1F43B675u
#define ID_VOID 0xECu
#define ID_CRC32 0xBFu
#define ID_TIMESTAMP 0xE7u
#define ID_POSITION 0xA7u
#define ID_PREVSIZE 0xABu
#define ID_SIMPLEBLOCK 0xA3u
#define ID_BLOCKGROUP 0xA0u
#define ID_BLOCK 0xA1u

#define EBML_HEADER_MAX 1024

struct scanner {
	dr_mkv_read_fn read;
	void *user;
	uint64_t size;
};

/* An element header: its ID (with the length marker), the body's size
 * (UINT64_MAX: unknown) and where the body starts. */
struct el {
	uint64_t start, body, size;
	uint32_t id;
};

#define UNKNOWN UINT64_MAX

/* Reads exactly len bytes at off inside the file: 0, -ENODATA past the end,
 * or -errno. */
static int rd(const struct scanner *s, uint64_t off, void *buf, size_t len)
{
	if (off > s->size || len > s->size - off)
		return -ENODATA;
	long n = s->read(s->user, off, buf, len);
	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -ENODATA;
}

static unsigned vint_len(unsigned char first)
{
	unsigned n = 1;
	while (n <= 8 && !(first & (0x80u >> (n - 1))))
		n++;
	return n; /* 9: invalid */
}

/* Reads an element header at off: 0, -ENODATA (cut off), -EBADMSG (not an
 * element), or -errno. */
static int read_el(const struct scanner *s, uint64_t off, struct el *e)
{
	unsigned char b[12];
	size_t have = s->size - off < sizeof(b) ? (size_t)(s->size - off) : sizeof(b);
	if (off >= s->size)
		return -ENODATA;
	int err = rd(s, off, b, have);
	if (err)
		return err;
	unsigned il = vint_len(b[0]);
	if (il > 4)
		return -EBADMSG;
	if (il >= have)
		return -ENODATA;
	unsigned sl = vint_len(b[il]);
	if (sl > 8)
		return -EBADMSG;
	if (il + sl > have)
		return -ENODATA;
	uint32_t id = 0;
	for (unsigned i = 0; i < il; i++)
		id = id << 8 | b[i];
	uint64_t v = b[il] & (0xFFu >> sl);
	bool ones = v == (0xFFu >> sl);
	for (unsigned i = 1; i < sl; i++) {
		v = v << 8 | b[il + i];
		ones = ones && b[il + i] == 0xFF;
	}
	e->start = off;
	e->id = id;
	e->body = off + il + sl;
	e->size = ones ? UNKNOWN : v;
	return 0;
}

/* The body lies whole inside [0, end). */
static bool whole(const struct el *e, uint64_t end)
{
	return e->size != UNKNOWN && e->body <= end && e->size <= end - e->body;
}

static bool top_level(uint32_t id)
{
	switch (id) {
	case ID_SEEKHEAD: case ID_INFO: case ID_TRACKS: case ID_CUES: case ID_TAGS:
	case ID_CHAPTERS: case ID_ATTACHMENTS: case ID_CLUSTER: case ID_VOID: case ID_CRC32:
		return true;
	default:
		return false;
	}
}

static int read_uint(const struct scanner *s, const struct el *e, uint64_t *v)
{
	unsigned char b[8];
	if (e->size > 8)
		return -EBADMSG;
	int err = rd(s, e->body, b, (size_t)e->size);
	if (err)
		return err;
	*v = 0;
	for (size_t i = 0; i < e->size; i++)
		*v = *v << 8 | b[i];
	return 0;
}

/* A block's timestamp relative to its cluster: track number (vint), then a
 * signed 16-bit value. */
static int block_rel(const struct scanner *s, uint64_t body, uint64_t size, int64_t *rel)
{
	unsigned char b[11];
	if (size < 4)
		return -EBADMSG;
	size_t n = size < sizeof(b) ? (size_t)size : sizeof(b);
	int err = rd(s, body, b, n);
	if (err)
		return err;
	unsigned tl = vint_len(b[0]);
	if (tl > 8 || tl + 3 > size)
		return -EBADMSG;
	*rel = (int16_t)(uint16_t)(b[tl] << 8 | b[tl + 1]);
	return 0;
}

/* Walks a Cluster's children. Returns 0 with *end where it ends (at the
 * next top-level element or the end of the segment), -EBADMSG or -ENODATA
 * when it is damaged or cut off, or -errno. */
static int scan_cluster(const struct scanner *s, const struct el *c, uint64_t seg_end,
			uint64_t *end, uint64_t *blocks, int64_t *last_ms)
{
	uint64_t limit = c->size == UNKNOWN ? seg_end : c->body + c->size;
	if (limit > seg_end)
		return -ENODATA;
	uint64_t pos = c->body, cluster_ts = 0, n = 0;
	bool have_ts = false;
	int64_t latest = -1;
	while (pos < limit) {
		struct el e;
		int err = read_el(s, pos, &e);
		if (err)
			return err;
		if (c->size == UNKNOWN && (top_level(e.id) || e.id == ID_EBML))
			break;
		if (!whole(&e, limit))
			return -ENODATA;
		int64_t rel = 0;
		switch (e.id) {
		case ID_TIMESTAMP:
			err = read_uint(s, &e, &cluster_ts);
			if (!err && cluster_ts > INT64_MAX / 4)
				err = -EBADMSG;
			have_ts = true;
			break;
		case ID_SIMPLEBLOCK:
			err = have_ts ? block_rel(s, e.body, e.size, &rel) : -EBADMSG;
			break;
		case ID_BLOCKGROUP: {
			struct el b;
			err = have_ts ? read_el(s, e.body, &b) : -EBADMSG;
			if (!err && (b.id != ID_BLOCK || !whole(&b, e.body + e.size)))
				err = -EBADMSG;
			if (!err)
				err = block_rel(s, b.body, b.size, &rel);
			break;
		}
		case ID_POSITION: case ID_PREVSIZE: case ID_VOID: case ID_CRC32:
			break;
		default:
			err = -EBADMSG;
		}
		if (err)
			return err == -ENODATA ? -EBADMSG : err; /* whole() held */
		if (e.id == ID_SIMPLEBLOCK || e.id == ID_BLOCKGROUP) {
			n++;
			int64_t ts = (int64_t)cluster_ts + rel;
			if (ts > latest)
				latest = ts;
		}
		pos = e.body + e.size;
	}
	if (!have_ts)
		return -EBADMSG;
	*end = pos;
	*blocks += n;
	if (latest > *last_ms)
		*last_ms = latest;
	return 0;
}

static int check_ebml_header(const struct scanner *s, uint64_t *end)
{
	struct el h;
	int err = read_el(s, 0, &h);
	if (err || h.id != ID_EBML || !whole(&h, s->size) || h.size > EBML_HEADER_MAX)
		return -EINVAL;
	bool matroska = false;
	for (uint64_t pos = h.body; pos < h.body + h.size;) {
		struct el e;
		if (read_el(s, pos, &e) != 0 || !whole(&e, h.body + h.size))
			return -EINVAL;
		if (e.id == ID_DOCTYPE) {
			char t[9] = {0};
			if (e.size > 8 || rd(s, e.body, t, (size_t)e.size) != 0)
				return -EINVAL;
			matroska = strcmp(t, "matroska") == 0 || strcmp(t, "webm") == 0;
		}
		pos = e.body + e.size;
	}
	*end = h.body + h.size;
	return matroska ? 0 : -EINVAL;
}

int dr_mkv_scan(dr_mkv_read_fn read, void *user, uint64_t size, struct dr_mkv_scan *out)
{
	struct scanner s = {read, user, size};
	memset(out, 0, sizeof(*out));
	out->last_ts_ms = -1;
	uint64_t pos;
	int err = check_ebml_header(&s, &pos);
	if (err)
		return err;
	struct el seg;
	err = read_el(&s, pos, &seg);
	if (err == -ENODATA || err == -EBADMSG || (!err && seg.id != ID_SEGMENT))
		return -EINVAL;
	if (err)
		return err;
	uint64_t seg_end = seg.size == UNKNOWN || !whole(&seg, size) ? size : seg.body + seg.size;
	bool info = false, tracks = false, damaged = false;
	uint64_t keep = seg.body;
	for (pos = seg.body; pos < seg_end;) {
		struct el e;
		err = read_el(&s, pos, &e);
		if (err == -ENODATA || err == -EBADMSG || (!err && !top_level(e.id))) {
			damaged = true;
			break;
		}
		if (err)
			return err;
		uint64_t end;
		if (e.id == ID_CLUSTER) {
			if (!info || !tracks)
				break;
			uint64_t blocks = out->blocks;
			int64_t last = out->last_ts_ms;
			err = scan_cluster(&s, &e, seg_end, &end, &blocks, &last);
			if (err == -ENODATA || err == -EBADMSG) {
				damaged = true;
				break;
			}
			if (err)
				return err;
			out->clusters++;
			out->blocks = blocks;
			out->last_ts_ms = last;
		} else {
			if (!whole(&e, seg_end)) {
				damaged = true;
				break;
			}
			end = e.body + e.size;
			info = info || e.id == ID_INFO;
			tracks = tracks || e.id == ID_TRACKS;
		}
		keep = pos = end;
	}
	if (!info || !tracks)
		return -EINVAL;
	out->keep = keep;
	out->was_complete = !damaged && keep == size;
	return 0;
}

static long fd_read(void *user, uint64_t off, void *buf, size_t len)
{
	int fd = *(int *)user;
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (long)got;
}

int dr_mkv_repair(const char *path, struct dr_mkv_repair_result *res)
{
	memset(res, 0, sizeof(*res));
	res->last_ts_ms = -1;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	struct stat st;
	int err = 0;
	if (fstat(fd, &st) != 0)
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -EINVAL;
	struct dr_mkv_scan sc;
	if (!err)
		err = dr_mkv_scan(fd_read, &fd, (uint64_t)st.st_size, &sc);
	if (!err) {
		res->was_complete = sc.was_complete;
		res->bytes = sc.keep;
		res->dropped_bytes = (uint64_t)st.st_size - sc.keep;
		res->last_ts_ms = sc.last_ts_ms;
		if (!sc.was_complete && (ftruncate(fd, (off_t)sc.keep) != 0 || fdatasync(fd) != 0))
			err = -errno;
	}
	if (close(fd) != 0 && !err)
		err = -errno;
	return err;
}
