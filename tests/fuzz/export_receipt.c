/* SPDX-License-Identifier: MIT */
/* Fuzz target: the staff stick's receipt file parser (app/export/stickfmt.c),
 * which reads bytes from a stick anyone may have prepared. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/stickfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dr_receipt *r = NULL;
	char err[256];
	if (dr_receipt_parse((const char *)data, size, &r, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < r->n_held; i++)
			if (!dr_stick_hex_ok(r->held[i].id, DR_STICK_ID_HEX))
				abort();
		for (size_t i = 0; i < r->n_withdraw; i++)
			if (!dr_stick_receipt_ok(r->withdraw[i].receipt))
				abort();
		for (size_t i = 0; i < r->n_consent; i++)
			if (r->consent[i].share == 1 && r->consent[i].staff != 1)
				abort();
	}
	dr_receipt_free(r);
	return 0;
}
