/* SPDX-License-Identifier: MIT */
/* Fuzz target: the staff stick's token file parser (app/export/stickfmt.c),
 * which reads bytes from a stick anyone may have prepared. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/stickfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dr_token t;
	char err[256];
	if (dr_token_parse((const char *)data, size, &t, err, sizeof(err)) == 0) {
		/* what was accepted is what the format allows */
		if (!dr_stick_hex_ok(t.stick_id, DR_STICK_ID_HEX) || t.expires <= t.issued ||
		    strlen(t.name) > DR_STICK_NAME_MAX)
			abort();
	}
	return 0;
}
