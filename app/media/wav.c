/* SPDX-License-Identifier: MIT */
/*
 * RIFF/WAVE reader (file or memory: 16/24/32-bit integer or 32/64-bit float
 * PCM, mono or stereo) and 16-bit mono writer.
 *
 * The reader walks the chunk list once at open. Every size read from the file
 * is checked against the bytes really there: a chunk that claims to run past
 * the end is cut at the end (a "data" chunk) or ends the walk (anything
 * else), so a truncated or lying header never makes us read outside the file
 * or promise frames that do not exist.
 */
#include "wav.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DR_WAV_FORMAT_PCM 0x0001
#define DR_WAV_FORMAT_FLOAT 0x0003
#define DR_WAV_FORMAT_EXTENSIBLE 0xFFFE
#define DR_WAV_HEADER_BYTES 44
#define DR_WAV_MAX_DATA (UINT32_MAX - (DR_WAV_HEADER_BYTES - 8))

/* The tail shared by the KSDATAFORMAT_SUBTYPE_* GUIDs of
 * WAVE_FORMAT_EXTENSIBLE, xxxxxxxx-0000-0010-8000-00aa00389b71, as stored:
 * the first four bytes hold the format tag (1 PCM, 3 IEEE float). */
static const unsigned char dr_wav_guid_tail[12] = {
	0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
};

struct dr_wav_reader {
	int fd;                   /* -1 when reading from memory */
	const unsigned char *mem; /* the whole file when fd < 0 */
	uint64_t size;            /* real size of the file / buffer */
	uint64_t data_off;        /* first byte of sample data */
	uint64_t pos;             /* next frame to read */
	uint16_t block;           /* bytes per frame */
	struct dr_wav_info info;
};

static uint16_t rd16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd24(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void wr32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* Converts little-endian samples in place (nothing to do on LE hosts). */
static void le16_to_host(int16_t *s, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (size_t i = 0; i < n; i++)
		s[i] = (int16_t)__builtin_bswap16((uint16_t)s[i]);
#else
	(void)s;
	(void)n;
#endif
}

/* Reads exactly len bytes at off (the caller has checked they exist). */
static int reader_read_at(const struct dr_wav_reader *r, uint64_t off, void *buf, size_t len)
{
	if (off > r->size || len > r->size - off)
		return -EINVAL;
	if (r->fd < 0) {
		memcpy(buf, r->mem + off, len);
		return 0;
	}
	unsigned char *p = buf;
	while (len) {
		ssize_t n = pread(r->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* the file shrank under us */
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int parse_fmt(struct dr_wav_reader *r, const unsigned char *f, uint32_t len)
{
	if (len < 16)
		return -EINVAL;
	uint32_t tag = rd16(f);
	uint16_t channels = rd16(f + 2);
	uint32_t rate = rd32(f + 4);
	uint16_t align = rd16(f + 12);
	uint16_t bits = rd16(f + 14);
	if (tag == DR_WAV_FORMAT_EXTENSIBLE) {
		if (len < 40 || rd16(f + 16) < 22)
			return -EINVAL;
		if (memcmp(f + 28, dr_wav_guid_tail, sizeof(dr_wav_guid_tail)) != 0)
			return -ENOTSUP;
		tag = rd32(f + 24);
		/* Valid bits may be fewer than the container's (24 in 32): the
		 * samples are left-justified, so reading the container is right. */
		uint16_t valid_bits = rd16(f + 18);
		if (valid_bits != 0 && valid_bits > bits)
			return -EINVAL;
	}
	if (tag == DR_WAV_FORMAT_PCM) {
		if (bits != 16 && bits != 24 && bits != 32)
			return -ENOTSUP;
	} else if (tag == DR_WAV_FORMAT_FLOAT) {
		if (bits != 32 && bits != 64)
			return -ENOTSUP;
	} else {
		return -ENOTSUP;
	}
	if (channels < 1 || channels > 2)
		return -ENOTSUP;
	if (rate == 0 || align != channels * (bits / 8))
		return -EINVAL;
	r->info.rate = rate;
	r->info.channels = channels;
	r->info.bits = bits;
	r->info.is_float = tag == DR_WAV_FORMAT_FLOAT;
	r->block = align;
	return 0;
}

static int reader_parse(struct dr_wav_reader *r)
{
	unsigned char hdr[12];
	if (r->size < sizeof(hdr))
		return -EINVAL;
	int err = reader_read_at(r, 0, hdr, sizeof(hdr));
	if (err)
		return err;
	if (memcmp(hdr, "RIFF", 4) != 0 || memcmp(hdr + 8, "WAVE", 4) != 0)
		return -EINVAL;
	/* The RIFF size is not used: the real file size bounds everything. */
	bool have_fmt = false, have_data = false;
	uint64_t data_len = 0;
	uint64_t off = sizeof(hdr);
	while (r->size - off >= 8) {
		unsigned char ch[8];
		err = reader_read_at(r, off, ch, sizeof(ch));
		if (err)
			return err;
		uint32_t len = rd32(ch + 4);
		uint64_t body = off + 8;
		uint64_t avail = r->size - body;
		if (memcmp(ch, "fmt ", 4) == 0 && !have_fmt) {
			unsigned char f[40];
			if (len > avail)
				return -EINVAL;
			uint32_t take = len < sizeof(f) ? len : (uint32_t)sizeof(f);
			err = reader_read_at(r, body, f, take);
			if (!err)
				err = parse_fmt(r, f, take);
			if (err)
				return err;
			have_fmt = true;
		} else if (memcmp(ch, "data", 4) == 0 && !have_data) {
			r->data_off = body;
			/* Streaming writers leave 0xFFFFFFFF; liars claim more than
			 * there is. Either way the file's end is the data's end. */
			data_len = len > avail ? avail : len;
			have_data = true;
		}
		if (have_fmt && have_data)
			break;
		if (len > avail)
			break; /* this chunk runs past the end: nothing follows it */
		off = body + len + (len & 1u);
		if (off > r->size)
			break;
	}
	if (!have_fmt || !have_data)
		return -EINVAL;
	r->info.frames = data_len / r->block;
	return 0;
}

static int reader_new(int fd, const void *mem, uint64_t size, struct dr_wav_reader **out)
{
	struct dr_wav_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->mem = mem;
	r->size = size;
	int err = reader_parse(r);
	if (err) {
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

int dr_wav_reader_open(const char *path, struct dr_wav_reader **out)
{
	if (!path || !out)
		return -EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	int err = reader_new(fd, NULL, (uint64_t)st.st_size, out);
	if (err)
		close(fd);
	return err;
}

int dr_wav_reader_open_mem(const void *buf, size_t len, struct dr_wav_reader **out)
{
	if ((!buf && len) || !out)
		return -EINVAL;
	return reader_new(-1, buf, len, out);
}

const struct dr_wav_info *dr_wav_reader_info(const struct dr_wav_reader *r)
{
	return &r->info;
}

/* How many of `frames` are left to read (and fit a long). */
static size_t frames_left(const struct dr_wav_reader *r, size_t frames)
{
	uint64_t left = r->info.frames - r->pos;
	if (frames > left)
		frames = (size_t)left;
	if (frames > LONG_MAX / 4)
		frames = LONG_MAX / 4;
	return frames;
}

/* One float sample as stored, NaN as 0, clamped to [-1, 1]. */
static float float_sample(const struct dr_wav_reader *r, const unsigned char *p)
{
	double v;
	if (r->info.bits == 32) {
		uint32_t u = rd32(p);
		float f;
		memcpy(&f, &u, sizeof(f));
		v = f;
	} else {
		uint64_t u = rd64(p);
		memcpy(&v, &u, sizeof(v));
	}
	if (!(v >= -1.0)) /* NaN too */
		return v != v ? 0.0f : -1.0f;
	return v > 1.0 ? 1.0f : (float)v;
}

/* One integer sample, scaled to 32 bits (left-justified). */
static int32_t int_sample(const struct dr_wav_reader *r, const unsigned char *p)
{
	switch (r->info.bits) {
	case 16:
		return (int32_t)((uint32_t)rd16(p) << 16);
	case 24:
		return (int32_t)(rd24(p) << 8);
	default:
		return (int32_t)rd32(p);
	}
}

/* One sample as a 16-bit value (floats rounded and clipped). */
static int32_t s16_sample(const struct dr_wav_reader *r, const unsigned char *p)
{
	if (!r->info.is_float)
		return int_sample(r, p) >> 16;
	float v = float_sample(r, p) * 32768.0f; /* within [-32768, 32768] */
	int32_t s = v < 0 ? -(int32_t)(0.5f - v) : (int32_t)(v + 0.5f);
	return s > INT16_MAX ? INT16_MAX : s;
}

/* One sample as a float, full scale 1.0. */
static double f_sample(const struct dr_wav_reader *r, const unsigned char *p)
{
	return r->info.is_float ? float_sample(r, p) : int_sample(r, p) / 2147483648.0;
}

/* The frames of the next chunk, as raw bytes, into raw (room for at least
 * one frame; returns how many frames it holds, or -errno). */
#define DR_WAV_CHUNK_BYTES 8192
static long read_chunk(struct dr_wav_reader *r, uint64_t frame, size_t want, unsigned char *raw)
{
	size_t k = DR_WAV_CHUNK_BYTES / r->block;
	if (k > want)
		k = want;
	int err = reader_read_at(r, r->data_off + frame * r->block, raw, k * r->block);
	return err ? err : (long)k;
}

long dr_wav_reader_read_mono(struct dr_wav_reader *r, int16_t *buf, size_t frames)
{
	frames = frames_left(r, frames);
	if (frames == 0)
		return 0;
	if (r->info.channels == 1 && r->info.bits == 16 && !r->info.is_float) {
		/* The simulated microphone's format: straight into buf. */
		int err = reader_read_at(r, r->data_off + r->pos * 2, buf, frames * 2);
		if (err)
			return err;
		le16_to_host(buf, frames);
	} else {
		unsigned char raw[DR_WAV_CHUNK_BYTES];
		size_t bytes = r->info.bits / 8;
		for (size_t done = 0; done < frames;) {
			long k = read_chunk(r, r->pos + done, frames - done, raw);
			if (k < 0)
				return k;
			for (size_t i = 0; i < (size_t)k; i++) {
				const unsigned char *p = raw + i * r->block;
				int32_t v = s16_sample(r, p);
				if (r->info.channels == 2)
					v = (v + s16_sample(r, p + bytes)) >> 1;
				buf[done + i] = (int16_t)v;
			}
			done += (size_t)k;
		}
	}
	r->pos += frames;
	return (long)frames;
}

long dr_wav_reader_read_mono_float(struct dr_wav_reader *r, float *buf, size_t frames)
{
	frames = frames_left(r, frames);
	unsigned char raw[DR_WAV_CHUNK_BYTES];
	size_t bytes = r->info.bits / 8;
	for (size_t done = 0; done < frames;) {
		long k = read_chunk(r, r->pos + done, frames - done, raw);
		if (k < 0)
			return k;
		for (size_t i = 0; i < (size_t)k; i++) {
			const unsigned char *p = raw + i * r->block;
			double v = f_sample(r, p);
			if (r->info.channels == 2)
				v = (v + f_sample(r, p + bytes)) / 2;
			buf[done + i] = (float)v;
		}
		done += (size_t)k;
	}
	r->pos += frames;
	return (long)frames;
}

int dr_wav_reader_rewind(struct dr_wav_reader *r)
{
	r->pos = 0;
	return 0;
}

void dr_wav_reader_free(struct dr_wav_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

/* ---- writer ---- */

struct dr_wav_writer {
	FILE *f;
	uint32_t rate;
	uint64_t frames;
	int err; /* first write error, returned again by flush and close */
};

static void header_fill(unsigned char h[DR_WAV_HEADER_BYTES], uint32_t rate, uint64_t frames)
{
	uint32_t data = (uint32_t)(frames * 2);
	memcpy(h, "RIFF", 4);
	wr32(h + 4, data + DR_WAV_HEADER_BYTES - 8);
	memcpy(h + 8, "WAVEfmt ", 8);
	wr32(h + 16, 16);
	wr16(h + 20, DR_WAV_FORMAT_PCM);
	wr16(h + 22, 1);
	wr32(h + 24, rate);
	wr32(h + 28, rate * 2);
	wr16(h + 32, 2);
	wr16(h + 34, 16);
	memcpy(h + 36, "data", 4);
	wr32(h + 40, data);
}

int dr_wav_writer_open(const char *path, uint32_t rate, struct dr_wav_writer **out)
{
	if (!path || !out || rate == 0 || rate > UINT32_MAX / 2)
		return -EINVAL;
	struct dr_wav_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->f = fopen(path, "wbe");
	if (!w->f) {
		int err = -errno;
		free(w);
		return err;
	}
	w->rate = rate;
	unsigned char h[DR_WAV_HEADER_BYTES];
	header_fill(h, rate, 0);
	if (fwrite(h, sizeof(h), 1, w->f) != 1 || fflush(w->f) != 0) {
		int err = errno ? -errno : -EIO;
		fclose(w->f);
		free(w);
		return err;
	}
	*out = w;
	return 0;
}

int dr_wav_writer_write(struct dr_wav_writer *w, const int16_t *s, size_t n)
{
	if (w->err)
		return w->err;
	if (n > (DR_WAV_MAX_DATA / 2) - w->frames)
		return -EFBIG;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	int16_t tmp[512];
	for (size_t done = 0; done < n;) {
		size_t k = n - done > 512 ? 512 : n - done;
		for (size_t i = 0; i < k; i++)
			tmp[i] = (int16_t)__builtin_bswap16((uint16_t)s[done + i]);
		if (fwrite(tmp, 2, k, w->f) != k) {
			w->err = errno ? -errno : -EIO;
			return w->err;
		}
		done += k;
	}
#else
	if (n && fwrite(s, 2, n, w->f) != n) {
		w->err = errno ? -errno : -EIO;
		return w->err;
	}
#endif
	w->frames += n;
	return 0;
}

int dr_wav_writer_flush(struct dr_wav_writer *w)
{
	if (w->err)
		return w->err;
	if (fflush(w->f) != 0) {
		w->err = errno ? -errno : -EIO;
		return w->err;
	}
	/* pwrite leaves the stream's own position alone. */
	unsigned char h[DR_WAV_HEADER_BYTES];
	header_fill(h, w->rate, w->frames);
	ssize_t n;
	do
		n = pwrite(fileno(w->f), h, sizeof(h), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(h)) {
		w->err = n < 0 ? -errno : -EIO;
		return w->err;
	}
	return 0;
}

uint64_t dr_wav_writer_frames(const struct dr_wav_writer *w)
{
	return w->frames;
}

int dr_wav_writer_close(struct dr_wav_writer *w)
{
	if (!w)
		return 0;
	int err = dr_wav_writer_flush(w);
	if (fclose(w->f) != 0 && !err)
		err = -errno;
	free(w);
	return err;
}
