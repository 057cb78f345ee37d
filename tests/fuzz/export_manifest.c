/* SPDX-License-Identifier: MIT */
/* Fuzz target: the staff stick's manifest file parser (app/export/stickfmt.c),
 * which reads bytes from a stick anyone may have prepared. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/stickfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dr_manifest *m = NULL;
	char err[256];
	if (dr_manifest_parse((const char *)data, size, &m, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < m->n; i++) {
			/* a name from the stick is never a path */
			if (strchr(m->recs[i].file, 0x2f) || strncmp(m->recs[i].file, m->recs[i].id, 32))
				abort();
		}
	}
	dr_manifest_free(m);
	return 0;
}
