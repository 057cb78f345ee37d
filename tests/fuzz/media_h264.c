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
