/* SPDX-License-Identifier: MIT */
/*
 * dr_prompts: the phrases and beeps the box speaks. Loading checks every
 * phrase and learns its length; nothing is decoded into memory then: a
 * phrase is decoded as it plays, a little at a time, through a
 * dr_prompt_reader (48 kHz mono 16-bit PCM). The files may be:
 *  - "<name>.opus": Ogg Opus of any original rate, decoded with opusfile
 *    (always 48 kHz; stereo is downmixed);
 *  - "<name>.wav": 16/24/32-bit integer or 32/64-bit float PCM, mono or
 *    stereo (downmixed), at any rate from 8 kHz to 192 kHz (8000, 11025,
 *    16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000... Hz). A 48 kHz
 *    file is read as it is. A file at another rate is resampled to 48 kHz
 *    with libsamplerate once: with a cache folder, into
 *    "<cache>/<name>-<hash>.wav" (the hash is of the source file's bytes,
 *    so a changed recording is resampled again and an unchanged one, even
 *    copied anew at every boot, is not), written durably and read from then
 *    on; without one (or if the cache cannot be written), into memory, for
 *    that phrase only.
 * When both exist the .opus is used. A phrase may be at most
 * DR_PROMPT_MAX_SECONDS long. Missing, unreadable or empty prompts of the
 * built-in pack are an error at load with the file named, never a silent
 * box in front of a resident. (A file damaged after its headers is found
 * when it plays: the reader returns an error and the speaker reports it.)
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
 * (dr_prompt_name()). dr_prompts_free(NULL) and dr_prompt_reader_free(NULL)
 * are no-ops.
 *
 * Threads: load and free on one thread; the getters and
 * dr_prompt_reader_open from any thread while the prompts live. A reader
 * belongs to one thread at a time (e.g. opened on the daemon's loop, read
 * and freed by the speaker's thread) and must be freed before the prompts.
 */
#ifndef DR_PROMPTS_H
#define DR_PROMPTS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/session.h"

#define DR_PROMPT_MAX_SECONDS 60 /* longer is refused */
#define DR_PROMPT_MAX_DIRS 8     /* folders in a search path */

struct dr_prompts;
struct dr_prompt_reader;

/* dr_prompts_load_cached with no cache folder. */
int dr_prompts_load(const char *dir, struct dr_prompts **out, char *err, size_t errlen);
/* cache_dir: where phrases at another rate than 48 kHz are kept once
 * resampled (made if missing; NULL: none). On failure *out is untouched and
 * err says why, naming the file. */
int dr_prompts_load_cached(const char *dir, const char *cache_dir, struct dr_prompts **out,
			   char *err, size_t errlen);
void dr_prompts_free(struct dr_prompts *p);
/* Length in samples at 48 kHz (0 for an unknown id). */
size_t dr_prompts_samples(const struct dr_prompts *p, enum dr_prompt id);
/* Length in milliseconds (rounded up). */
uint32_t dr_prompts_ms(const struct dr_prompts *p, enum dr_prompt id);
/* The file a prompt was loaded from (valid until free; NULL for an
 * unknown id), e.g. to log which phrases an organisation replaced. */
const char *dr_prompts_source(const struct dr_prompts *p, enum dr_prompt id);
/* The file read when it plays: the source, or its resampled copy in the
 * cache folder (NULL when held in memory or for an unknown id). */
const char *dr_prompts_play_path(const struct dr_prompts *p, enum dr_prompt id);
/* "<file>: <why>; the built-in phrase is used instead" for the first
 * override that could not be played, or NULL. Valid until free. */
const char *dr_prompts_warning(const struct dr_prompts *p);

/* A phrase from its start. -EINVAL for an unknown id, -ENOMEM, or the
 * error opening its file (-errno). */
int dr_prompt_reader_open(const struct dr_prompts *p, enum dr_prompt id,
			  struct dr_prompt_reader **out);
/* Up to `max` samples into buf: the count (> 0), 0 at the end (after
 * exactly dr_prompts_samples() samples, or earlier if the file has been cut
 * since it was loaded), or -errno (-EIO: it no longer decodes). */
long dr_prompt_reader_read(struct dr_prompt_reader *r, int16_t *buf, size_t max);
void dr_prompt_reader_free(struct dr_prompt_reader *r);

/* The whole phrase decoded into *pcm (malloc'd, the caller frees; also
 * NULL on failure) and its length in *n: for tests and tools. */
int dr_prompts_decode(const struct dr_prompts *p, enum dr_prompt id, int16_t **pcm, size_t *n);

#endif
