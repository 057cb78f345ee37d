/* SPDX-License-Identifier: MIT */
/*
 * H.264 byte streams for Matroska (pure functions, no state, any thread):
 * the camera's Annex B access units (NAL units after 00 00 01 or
 * 00 00 00 01 start codes) become V_MPEG4/ISO/AVC blocks (each NAL unit
 * after its 4-byte big-endian length), and the track's CodecPrivate is an
 * AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1, "avcC") made
 * from one SPS and one PPS.
 *
 * The bytes come from outside the box (a camera), so nothing is trusted:
 * NAL units are bounded by the buffer, a NAL unit with its forbidden bit
 * set or an SPS shorter than its fixed header is refused (-EBADMSG), and
 * sizes that do not fit the record's 16-bit fields are refused (-E2BIG).
 */
#ifndef DR_MEDIA_H264_H
#define DR_MEDIA_H264_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	DR_NAL_SLICE = 1,
	DR_NAL_IDR = 5,
	DR_NAL_SEI = 6,
	DR_NAL_SPS = 7,
	DR_NAL_PPS = 8,
	DR_NAL_AUD = 9,
	DR_NAL_END_SEQ = 10,
	DR_NAL_END_STREAM = 11,
	DR_NAL_FILLER = 12,
};

/* Calls fn for each non-empty NAL unit of an Annex B byte run (the
 * trailing zeros of a 4-byte start code are not part of the unit before
 * it). Bytes before the first start code are ignored. Stops at fn's first
 * non-zero return and returns it; 0 otherwise. */
typedef int (*dr_h264_nal_fn)(void *user, const unsigned char *nal, size_t len);
int dr_h264_each_nal(const unsigned char *p, size_t n, dr_h264_nal_fn fn, void *user);

/* What one access unit holds (pointers into the scanned buffer). */
struct dr_h264_au {
	const unsigned char *sps, *pps; /* the first of each, NULL if none */
	size_t sps_len, pps_len;
	bool idr;       /* an IDR slice: decodable on its own (the key flag) */
	bool picture;   /* any coded slice (types 1..5) */
	unsigned nals;  /* NAL units seen */
};
/* -EBADMSG: a NAL unit with the forbidden bit set. */
int dr_h264_au_scan(const unsigned char *p, size_t n, struct dr_h264_au *out);

/* The avcC record (4-byte NAL lengths, one SPS, one PPS) into a malloc'ed
 * *out (caller frees; NULL on failure). -EBADMSG: not an SPS / PPS, or the
 * SPS is shorter than 4 bytes; -E2BIG: a set over 65535 bytes; -ENOMEM. */
int dr_h264_avcc(const unsigned char *sps, size_t sps_len, const unsigned char *pps,
		 size_t pps_len, unsigned char **out, size_t *out_len);

/* One access unit (Annex B) to a Matroska block: every NAL unit after its
 * 4-byte length, into a malloc'ed *out (caller frees; NULL and *out_len 0
 * when nothing is kept or on failure). Dropped: access unit delimiters,
 * SEI, end of sequence/stream, filler, and SPS/PPS equal to the avcC's
 * (in-band repeats). -EPROTO: an SPS or PPS that differs from the avcC's
 * (the stream changed its parameters: the track's CodecPrivate would lie
 * about what follows); -EBADMSG: a damaged NAL unit or avcC; -ENOMEM. */
int dr_h264_au_to_block(const unsigned char *p, size_t n, const unsigned char *avcc,
			size_t avcc_len, unsigned char **out, size_t *out_len);

#endif
