/* SPDX-License-Identifier: MIT */
/* dr-prompts-check: loads a prompt folder (or a search path
 * "override:pack") with the box's own loader, as diaryroomd does at start,
 * and prints one line per prompt: "<name> <samples> <ms> <file>". With
 * NAME OUT.wav it also writes that prompt's 48 kHz PCM to a WAV file.
 * Exits 1 with the loader's message when the box would refuse the pack.
 * A helper of the tool tests (test_replace_prompt.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/oggopus.h"
#include "media/prompts.h"
#include "media/wav.h"

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 4) {
		fprintf(stderr, "usage: %s PROMPT-FOLDER[:FOLDER...] [NAME OUT.wav]\n", argv[0]);
		return 2;
	}
	struct dr_prompts *p = NULL;
	char err[1024] = "";
	int rc = dr_prompts_load(argv[1], &p, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	int found = argc == 2;
	for (int id = 0; id < DR_PROMPT_COUNT; id++) {
		size_t n = dr_prompts_samples(p, id);
		printf("%s %zu %u %s\n", dr_prompt_name(id), n, (unsigned)dr_prompts_ms(p, id),
		       dr_prompts_source(p, id));
		if (argc == 4 && !strcmp(argv[2], dr_prompt_name(id))) {
			struct dr_wav_writer *w = NULL;
			int16_t *pcm = NULL;
			rc = dr_prompts_decode(p, id, &pcm, &n);
			if (!rc)
				rc = dr_wav_writer_open(argv[3], DR_SAMPLE_RATE, &w);
			if (!rc)
				rc = dr_wav_writer_write(w, pcm, n);
			int rc2 = w ? dr_wav_writer_close(w) : 0;
			free(pcm);
			if (rc || rc2) {
				fprintf(stderr, "%s: cannot write %s\n", argv[0], argv[3]);
				dr_prompts_free(p);
				return 1;
			}
			found = 1;
		}
	}
	dr_prompts_free(p);
	if (!found) {
		fprintf(stderr, "%s: no prompt is called %s\n", argv[0], argv[2]);
		return 1;
	}
	return 0;
}
