/* SPDX-License-Identifier: MIT */
/* H.264 Annex B to Matroska's length-prefixed form, and the avcC record
 * (see h264.h). */
#include "h264.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Where the next start code (00 00 01) at or after i begins; n if none.
 * memchr finds the zeros: a coded slice has few (emulation prevention
 * keeps 00 00 0x out of it), so this costs a fraction of an instruction
 * per byte. */
static size_t next_start(const unsigned char *p, size_t i, size_t n)
{
	while (n >= 3 && i <= n - 3) {
		const unsigned char *z = memchr(p + i, 0, n - 2 - i);
		if (!z)
			return n;
		i = (size_t)(z - p);
		if (p[i + 1] == 0 && p[i + 2] == 1)
			return i;
		i++;
	}
	return n;
}

int dr_h264_each_nal(const unsigned char *p, size_t n, dr_h264_nal_fn fn, void *user)
{
	if (!p)
		return 0;
	size_t i = next_start(p, 0, n);
	while (i < n) {
		size_t start = i + 3, end = next_start(p, start, n);
		size_t stop = end;
		while (stop > start && p[stop - 1] == 0) /* a 4-byte start code's zero, trailing zeros */
			stop--;
		if (stop > start) {
			int err = fn(user, p + start, stop - start);
			if (err)
				return err;
		}
		i = end;
	}
	return 0;
}

static int on_scan(void *user, const unsigned char *nal, size_t len)
{
	struct dr_h264_au *au = user;
	(void)len;
	if (nal[0] & 0x80)
		return -EBADMSG; /* forbidden_zero_bit */
	unsigned type = nal[0] & 0x1F;
	au->nals++;
	if (type == DR_NAL_SPS && !au->sps) {
		au->sps = nal;
		au->sps_len = len;
	} else if (type == DR_NAL_PPS && !au->pps) {
		au->pps = nal;
		au->pps_len = len;
	} else if (type >= DR_NAL_SLICE && type <= DR_NAL_IDR) {
		au->picture = true;
		if (type == DR_NAL_IDR)
			au->idr = true;
	}
	return 0;
}

int dr_h264_au_scan(const unsigned char *p, size_t n, struct dr_h264_au *out)
{
	memset(out, 0, sizeof(*out));
	int err = dr_h264_each_nal(p, n, on_scan, out);
	if (err)
		memset(out, 0, sizeof(*out));
	return err;
}

int dr_h264_avcc(const unsigned char *sps, size_t sps_len, const unsigned char *pps,
		 size_t pps_len, unsigned char **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (!sps || !pps || sps_len < 4 || pps_len < 1 || (sps[0] & 0x9F) != DR_NAL_SPS ||
	    (pps[0] & 0x9F) != DR_NAL_PPS)
		return -EBADMSG;
	if (sps_len > 0xFFFF || pps_len > 0xFFFF)
		return -E2BIG;
	size_t len = 11 + sps_len + pps_len;
	unsigned char *a = malloc(len);
	if (!a)
		return -ENOMEM;
	*out = a;
	*out_len = len;
	a[0] = 1;        /* configurationVersion */
	a[1] = sps[1];   /* AVCProfileIndication */
	a[2] = sps[2];   /* profile_compatibility (the constraint flags) */
	a[3] = sps[3];   /* AVCLevelIndication */
	a[4] = 0xFF;     /* reserved, lengthSizeMinusOne = 3 */
	a[5] = 0xE1;     /* reserved, one SPS */
	a[6] = (unsigned char)(sps_len >> 8);
	a[7] = (unsigned char)sps_len;
	memcpy(a + 8, sps, sps_len);
	a += 8 + sps_len;
	a[0] = 1; /* one PPS */
	a[1] = (unsigned char)(pps_len >> 8);
	a[2] = (unsigned char)pps_len;
	memcpy(a + 3, pps, pps_len);
	return 0;
}

/* The avcC's one SPS and one PPS (as dr_h264_avcc writes them). */
static int avcc_sets(const unsigned char *a, size_t n, const unsigned char **sps, size_t *sps_len,
		     const unsigned char **pps, size_t *pps_len)
{
	if (!a || n < 8 || a[0] != 1 || (a[5] & 0x1F) != 1)
		return -EBADMSG;
	size_t sl = (size_t)a[6] << 8 | a[7];
	if (sl > n - 8 || n - 8 - sl < 3 || a[8 + sl] != 1)
		return -EBADMSG;
	size_t pl = (size_t)a[9 + sl] << 8 | a[10 + sl];
	if (pl > n - 11 - sl)
		return -EBADMSG;
	*sps = a + 8;
	*sps_len = sl;
	*pps = a + 11 + sl;
	*pps_len = pl;
	return 0;
}

struct block {
	unsigned char *p;
	size_t len, cap;
	const unsigned char *sps, *pps;
	size_t sps_len, pps_len;
};

static int on_block(void *user, const unsigned char *nal, size_t len)
{
	struct block *b = user;
	if (nal[0] & 0x80)
		return -EBADMSG;
	switch (nal[0] & 0x1F) {
	case DR_NAL_AUD:
	case DR_NAL_SEI:
	case DR_NAL_END_SEQ:
	case DR_NAL_END_STREAM:
	case DR_NAL_FILLER:
		return 0;
	case DR_NAL_SPS:
		if (len == b->sps_len && memcmp(nal, b->sps, len) == 0)
			return 0;
		return -EPROTO;
	case DR_NAL_PPS:
		if (len == b->pps_len && memcmp(nal, b->pps, len) == 0)
			return 0;
		return -EPROTO;
	default:
		break;
	}
	if (len > UINT32_MAX)
		return -E2BIG;
	if (b->len + 4 + len > b->cap) {
		size_t cap = (b->len + 4 + len) * 2;
		unsigned char *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	unsigned char *o = b->p + b->len;
	o[0] = (unsigned char)(len >> 24);
	o[1] = (unsigned char)(len >> 16);
	o[2] = (unsigned char)(len >> 8);
	o[3] = (unsigned char)len;
	memcpy(o + 4, nal, len);
	b->len += 4 + len;
	return 0;
}

int dr_h264_au_to_block(const unsigned char *p, size_t n, const unsigned char *avcc,
			size_t avcc_len, unsigned char **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	struct block b = {0};
	int err = avcc_sets(avcc, avcc_len, &b.sps, &b.sps_len, &b.pps, &b.pps_len);
	if (!err)
		err = dr_h264_each_nal(p, n, on_block, &b);
	if (err) {
		free(b.p);
		return err;
	}
	*out = b.p;
	*out_len = b.len;
	return 0;
}
