/* SPDX-License-Identifier: MIT */
/* Points ALSA at tests/data/alsa/filepcm.conf.in, filled in for a scratch
 * folder: PCM "drtestmic" captures from <dir>/mic.raw, "drtestspk" plays
 * into <dir>/speaker.raw. Must run before any other ALSA call of the
 * process (ALSA reads its configuration once). */
#ifndef DR_TEST_ALSA_H
#define DR_TEST_ALSA_H

#include "dev_test.h"

static inline void dt_alsa_setup(const char *dir)
{
	char in[1024], out[1024], env[2200];
	const char *src = getenv("DR_SOURCE_DIR");
	char *tmpl, *p, *text;
	size_t n = 0;

	snprintf(in, sizeof(in), "%s/tests/data/alsa/filepcm.conf.in", src ? src : ".");
	tmpl = dt_read(in, NULL);
	if (!tmpl)
		abort();
	text = calloc(1, strlen(tmpl) + 8 * strlen(dir) + 1);
	for (p = tmpl; *p;) {
		if (!strncmp(p, "@DIR@", 5)) {
			strcpy(text + n, dir);
			n += strlen(dir);
			p += 5;
		} else {
			text[n++] = *p++;
		}
	}
	snprintf(out, sizeof(out), "%s/filepcm.conf", dir);
	dt_write(out, text, n);
	free(text);
	free(tmpl);
	snprintf(env, sizeof(env), "%s", out); /* alone: see filepcm.conf.in */
	setenv("ALSA_CONFIG_PATH", env, 1);
}

#endif
