/* SPDX-License-Identifier: MIT */
/*
 * Voice disguise by the McAdams coefficient (Patino, Tomashenko, Todisco,
 * Nautsch, Evans: "Speaker anonymisation using the McAdams coefficient",
 * Interspeech 2021; the VoicePrivacy Challenge's signal-processing
 * baseline), for share copies (sharecopy.h).
 *
 * At 16 kHz, in frames of 20 ms every 10 ms (square-root Hann window on
 * analysis and on synthesis, which overlap-add to exactly the input when
 * nothing is changed): linear prediction of order 20 (autocorrelation,
 * Levinson-Durbin) gives the frame's spectral envelope as the poles of an
 * all-pole filter 1/A(z) and its residual e = A(z) x (the voice's
 * excitation). Each complex pole pair at angle phi (radians, 0 < phi < pi)
 * is moved to phi^alpha with its radius kept (still stable); real poles
 * stay. Each frame keeps its energy (the new filter's gain differs). The residual through the new filter is the frame with its formants
 * moved: at alpha 0.8, 500 Hz -> 692 Hz, 1000 -> 1206, 1500 -> 1667,
 * 2500 -> 2509, 4000 -> 3655 (angles under 1 radian, about 2.5 kHz, go
 * up; those above come down): the formants of a vowel no longer sit where
 * the speaker's do. Pitch and timing are the residual's and
 * are kept, and the length is exactly the input's.
 *
 * It hinders casual recognition of a voice by people who know it; it does
 * not stop a determined listener (or a machine) from recognising it, and it
 * does nothing about what is said.
 *
 * Pure computation: any thread; nothing logs.
 */
#ifndef DR_ADMIN_MCADAMS_H
#define DR_ADMIN_MCADAMS_H

#include <stddef.h>

#define ADM_MCADAMS_RATE 16000
#define ADM_MCADAMS_ALPHA 0.8

/* x: n samples at ADM_MCADAMS_RATE, changed in place. alpha in (0.5, 1.5):
 * 1 leaves the envelope as it is. 0, -EINVAL or -ENOMEM. */
int adm_mcadams(float *x, size_t n, double alpha);

#endif
