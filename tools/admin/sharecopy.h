/* SPDX-License-Identifier: MIT */
/*
 * A share copy's sound (docs/staff-page.md, "Share copies"): a recording's
 * playable Ogg Opus made podcast-ready.
 *
 *   decode (opusfile, 48 kHz mono float)
 *   -> optionally disguise the voice (mcadams.h, at 16 kHz: libsamplerate
 *      down and up again, so the copy has no sound above 8 kHz)
 *   -> normalise to -16 LUFS integrated (ITU-R BS.1770 / EBU R128 as
 *      libebur128 measures it): one gain, then a look-ahead peak limiter
 *      holding samples under -1 dBFS (its ramps last 5 ms before and after
 *      a peak), measured again and the gain corrected, up to 4 rounds
 *   -> Ogg Opus, mono, 64 kbit/s (the recorder's own encoder, dr_oggopus).
 *
 * The copy has exactly the original's number of samples.
 *
 * One thread at a time per call; nothing logs.
 */
#ifndef DR_ADMIN_SHARECOPY_H
#define DR_ADMIN_SHARECOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADM_SHARE_LUFS (-16.0)

struct adm_sharecopy_out {
	uint8_t *ogg; /* the copy's bytes, owned (free) */
	size_t len;
	double lufs;	/* the copy's integrated loudness before encoding */
	uint64_t samples;
};

/* ogg: len bytes of an Ogg Opus file. 0, or a negative errno with why (for
 * people) in why: -EBADMSG not Ogg Opus or damaged, -ENODATA silent (no
 * loudness to normalise), -ENOMEM. out->ogg is NULL on failure. */
int adm_sharecopy(const uint8_t *ogg, size_t len, bool disguise, struct adm_sharecopy_out *out,
		  char *why, size_t whylen);

/* The same from x: n float samples at 48 kHz, mono (a video's sound,
 * sharevideo.h), owned by this call and freed by it, also on failure. */
int adm_sharecopy_pcm(float *x, size_t n, bool disguise, struct adm_sharecopy_out *out,
		      char *why, size_t whylen);

#endif
