/* SPDX-License-Identifier: MIT */
/* Fuzz target: the camera's H.264 (outside input) through the Annex B
 * splitter, the avcC builder, the block converter and the pass-through
 * encoder's state (media/h264.h, media/videnc.h). Nothing may be read
 * outside the input; every block must be whole length-prefixed NAL units
 * with none of the dropped types; an avcC must hold what it was made of;
 * the encoder must answer only what its header says. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev/camera.h"
#include "media/h264.h"
#include "media/videnc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct span {
	const uint8_t *lo, *hi;
};

static int in_bounds(void *user, const unsigned char *nal, size_t len)
{
	const struct span *s = user;
	if (!len || nal < s->lo || nal + len > s->hi)
		abort();
	return 0;
}

/* The splitter against the plainest reading of Annex B, byte by byte:
 * the same units, in the same order. */
struct walk {
	const unsigned char *nal[4096];
	size_t len[4096];
	size_t n, at;
	bool differ;
};

static int record_nal(void *user, const unsigned char *nal, size_t len)
{
	struct walk *w = user;
	if (w->n < 4096) {
		w->nal[w->n] = nal;
		w->len[w->n] = len;
	}
	w->n++;
	return 0;
}

static void reference_split(const uint8_t *p, size_t n, struct walk *w)
{
	size_t i = 0;
	while (i + 3 <= n && !(p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1))
		i++;
	while (i + 3 <= n) {
		size_t start = i + 3, end = start;
		while (end + 3 <= n && !(p[end] == 0 && p[end + 1] == 0 && p[end + 2] == 1))
			end++;
		if (end + 3 > n)
			end = n;
		size_t stop = end;
		while (stop > start && p[stop - 1] == 0)
			stop--;
		if (stop > start) {
			if (w->at >= w->n || w->at >= 4096 || w->nal[w->at] != p + start ||
			    w->len[w->at] != stop - start)
				w->differ = true;
			w->at++;
		}
		i = end;
	}
	if (w->at != w->n)
		w->differ = true;
}

static void check_block(const unsigned char *b, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (n - i < 5)
			abort();
		size_t l = (size_t)b[i] << 24 | (size_t)b[i + 1] << 16 | (size_t)b[i + 2] << 8 | b[i + 3];
		if (!l || l > n - i - 4)
			abort();
		unsigned t = b[i + 4] & 0x1F;
		if ((b[i + 4] & 0x80) || t == 6 || t == 7 || t == 8 || (t >= 9 && t <= 12))
			abort();
		i += 4 + l;
	}
}

/* One access unit through the pass-through encoder. */
static void through(struct dr_videnc *e, const uint8_t *p, size_t n)
{
	struct dr_frame *f = dr_frame_new(n ? n : 1);
	if (!f)
		return;
	if (n)
		memcpy(f->data, p, n);
	f->len = n;
	f->format = DR_PIX_H264;
	f->width = 64;
	f->height = 48;
	unsigned char *d;
	size_t len;
	bool key;
	int err = dr_videnc_frame(e, f, &d, &len, &key);
	if (err && err != -EAGAIN && err != -EPROTO && err != -EBADMSG && err != -ENOMEM && err != -E2BIG)
		abort();
	if (err && d)
		abort();
	if (!err && len) {
		if (!dr_videnc_ready(e))
			abort();
		check_block(d, len);
	}
	free(d);
	dr_frame_unref(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span s = {data, data + size};
	dr_h264_each_nal(data, size, in_bounds, &s);
	static struct walk w;
	memset(&w, 0, sizeof(w));
	dr_h264_each_nal(data, size, record_nal, &w);
	reference_split(data, size, &w);
	if (w.differ)
		abort();
	struct dr_h264_au au;
	if (dr_h264_au_scan(data, size, &au) == 0 && au.sps && au.pps) {
		unsigned char *c, *b;
		size_t cn, bn;
		int err = dr_h264_avcc(au.sps, au.sps_len, au.pps, au.pps_len, &c, &cn);
		if (!err) {
			if (cn != 11 + au.sps_len + au.pps_len || memcmp(c + 8, au.sps, au.sps_len) != 0 ||
			    memcmp(c + 11 + au.sps_len, au.pps, au.pps_len) != 0)
				abort();
			err = dr_h264_au_to_block(data, size, c, cn, &b, &bn);
			if (!err)
				check_block(b, bn);
			else if (b)
				abort();
			free(b);
			/* the avcC cut short: refused, never read past */
			for (size_t k = 0; k < cn; k += 3) {
				if (dr_h264_au_to_block(data, size, c, k, &b, &bn) == 0)
					abort();
			}
			free(c);
		}
	}
	/* the encoder's state across access units: the input in halves, then whole */
	struct dr_videnc *e = NULL;
	if (dr_videnc_new(DR_PIX_H264, 64, 48, 15, 0, &e) != 0)
		abort();
	through(e, data, size / 2);
	through(e, data + size / 2, size - size / 2);
	dr_videnc_force_key(e);
	through(e, data, size);
	dr_videnc_free(e);
	return 0;
}
