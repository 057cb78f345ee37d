/* SPDX-License-Identifier: MIT */
/*
 * dr_prompts: the phrases and beeps the box speaks, loaded once at start-up
 * from a prompt folder (one Ogg Opus file per prompt, "<name>.opus", decoded
 * with opusfile to 48 kHz mono PCM held in memory; a "<name>.wav" at 48 kHz
 * mono is accepted too). Missing or undecodable prompts are an error at
 * start-up, never a silent box in front of a resident.
 *
 * The prompt names are those of enum dr_prompt in core/session.h
 * (dr_prompt_name()). dr_prompts_free(NULL) is a no-op.
 */
#ifndef DR_PROMPTS_H
#define DR_PROMPTS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/session.h"

struct dr_prompts;

int dr_prompts_load(const char *dir, struct dr_prompts **out, char *err, size_t errlen);
void dr_prompts_free(struct dr_prompts *p);
/* PCM of a prompt (valid until free) and its length in samples. */
const int16_t *dr_prompts_pcm(const struct dr_prompts *p, enum dr_prompt id, size_t *n);
/* Length in milliseconds (rounded up). */
uint32_t dr_prompts_ms(const struct dr_prompts *p, enum dr_prompt id);

#endif
