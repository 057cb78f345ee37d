/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: dr_conf_parse() on arbitrary bytes, then every getter, the
 * checks and --set overrides on whatever parsed. Board files and the daemon
 * config are hand-edited, so the parser must survive anything.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dr_conf *c = NULL;
	char err[256];
	int r = dr_conf_parse("fuzz.conf", (const char *)data, size, &c, err, sizeof(err));
	if (r < 0) {
		if (c || !memchr(err, '\0', sizeof(err)))
			abort(); /* failure must not hand out a config, message must be a string */
		return 0;
	}
	static const char *const sections[] = {"", "audio", "button", "gpio", "a", "s", NULL};
	static const char *const keys[] = {"rate", "device", "line", "a", "k", "key0", NULL};
	for (size_t s = 0; sections[s]; s++) {
		for (size_t k = 0; keys[k]; k++) {
			const char *v = dr_conf_get(c, sections[s], keys[k]);
			if (v && strlen(v) > 1023)
				abort(); /* no value can be longer than a line */
			long n;
			bool b;
			(void)dr_conf_get_int(c, sections[s], keys[k], 0, -100000, 100000, &n, err,
					      sizeof(err));
			(void)dr_conf_get_bool(c, sections[s], keys[k], false, &b, err, sizeof(err));
			(void)dr_conf_get_str(c, sections[s], keys[k], "d");
		}
		(void)dr_conf_check_keys(c, sections[s], keys, err, sizeof(err));
	}
	(void)dr_conf_check_sections(c, sections, err, sizeof(err));
	/* override with a key taken from the input, and read it back */
	char dotted[64];
	size_t n = size < sizeof(dotted) - 1 ? size : sizeof(dotted) - 1;
	memcpy(dotted, data, n);
	dotted[n] = '\0';
	if (dr_conf_set(c, dotted, "v") == 0) {
		const char *dot = strrchr(dotted, '.');
		char sec[64] = "";
		if (dot)
			memcpy(sec, dotted, (size_t)(dot - dotted)), sec[dot - dotted] = '\0';
		const char *v = dr_conf_get(c, sec, dot ? dot + 1 : dotted);
		if (!v || strcmp(v, "v") != 0)
			abort();
	}
	dr_conf_free(c);
	return 0;
}
