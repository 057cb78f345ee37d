/* SPDX-License-Identifier: MIT */
/* Fuzz target: the staff stick's revocations file parser (app/export/stickfmt.c),
 * which reads bytes from a stick anyone may have prepared. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/stickfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dr_revocations *r = NULL;
	char err[256];
	if (dr_revocations_parse((const char *)data, size, &r, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < r->n; i++)
			if (!dr_stick_hex_ok(r->ids[i], DR_STICK_ID_HEX))
				abort();
	}
	dr_revocations_free(r);
	return 0;
}
