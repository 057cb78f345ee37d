/* SPDX-License-Identifier: MIT */
/* Private to app/dev: ALSA set-up shared by the capture and playback backends. */
#ifndef DR_DEV_ALSA_IMPL_H
#define DR_DEV_ALSA_IMPL_H

#include <alsa/asoundlib.h>
#include <stddef.h>

/* Opens `device` non-blocking for `stream` and sets 48 kHz mono S16_LE
 * interleaved, a period near period_ms and a buffer near buffer_ms with at
 * least 4 periods. On failure *out is NULL and err says why ("audio: ..."). */
int dr_alsa_open(const char *device, snd_pcm_stream_t stream, unsigned period_ms,
		 unsigned buffer_ms, snd_pcm_t **out, snd_pcm_uframes_t *period,
		 snd_pcm_uframes_t *buffer, char *err, size_t errlen);
/* Maps an ALSA error to the module's contract: -ENODEV (gone), -EIO (other). */
int dr_alsa_fatal(int e);
/* Resumes a suspended PCM (waits up to ~5 s), preparing it if resume is not
 * supported. 0 or a negative ALSA error. */
int dr_alsa_resume(snd_pcm_t *pcm);

#endif
