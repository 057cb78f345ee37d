/* SPDX-License-Identifier: MIT */
/*
 * dr_prompts: the phrases and beeps the box speaks, loaded once at start-up
 * from a prompt folder, decoded to 48 kHz mono PCM held in memory:
 *  - "<name>.opus": Ogg Opus of any original rate, decoded with opusfile
 *    (always 48 kHz; stereo is downmixed);
 *  - "<name>.wav": 16/24/32-bit integer or 32/64-bit float PCM, mono or
 *    stereo (downmixed), at any rate from 8 kHz to 192 kHz (8000, 11025,
 *    16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000... Hz),
 *    resampled to 48 kHz with libsoxr (high quality); a 48 kHz 16-bit file
 *    is taken sample for sample.
 * When both exist the .opus is used. A phrase may be at most
 * DR_PROMPT_MAX_SECONDS long. Missing, unreadable or empty prompts of the
 * built-in pack are an error at start-up with the file named, never a silent
 * box in front of a resident.
 *
 * `dir` may be a search path: folders separated by ':', e.g.
 * "/data/prompts-override:/usr/share/diaryroom/prompts/en". Each phrase is
 * taken from the first folder that has it (so an organisation's recordings
 * in an override folder replace single phrases of the built-in pack, which
 * comes last and must hold every phrase the others lack). Every folder but
 * the last must exist (a typo in an override folder is an error, not a
 * silently unused recording); files in them with names that are no prompt's
 * are not read. A folder name cannot contain ':'. A phrase in an override
 * folder that cannot be played (damaged, a format the box does not read) is
 * passed over for the next folder's, so one bad file on a card does not
 * silence the box; dr_prompts_warning() names the first such file.
 *
 * The prompt names are those of enum dr_prompt in core/session.h
 * (dr_prompt_name()). dr_prompts_free(NULL) is a no-op.
 */
#ifndef DR_PROMPTS_H
#define DR_PROMPTS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/session.h"

#define DR_PROMPT_MAX_SECONDS 60 /* longer is refused (memory on a Zero 2 W) */
#define DR_PROMPT_MAX_DIRS 8     /* folders in a search path */

struct dr_prompts;

int dr_prompts_load(const char *dir, struct dr_prompts **out, char *err, size_t errlen);
void dr_prompts_free(struct dr_prompts *p);
/* PCM of a prompt (valid until free) and its length in samples. */
const int16_t *dr_prompts_pcm(const struct dr_prompts *p, enum dr_prompt id, size_t *n);
/* Length in milliseconds (rounded up). */
uint32_t dr_prompts_ms(const struct dr_prompts *p, enum dr_prompt id);
/* Added: the file a prompt was loaded from (valid until free; NULL for an
 * unknown id), e.g. to log which phrases an organisation replaced. */
const char *dr_prompts_source(const struct dr_prompts *p, enum dr_prompt id);
/* Added: "<file>: <why>; the built-in phrase is used instead" for the first
 * override that could not be played, or NULL. Valid until free. */
const char *dr_prompts_warning(const struct dr_prompts *p);

#endif
