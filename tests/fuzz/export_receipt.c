/* SPDX-License-Identifier: MIT */
/* Fuzz target: the staff stick's receipt (app/export/stickfmt_receipt.c), which the
 * box reads from a stick anyone may have prepared: the outer file, the
 * whole file opened with the fuzz key pair as the box's (the corpus's
 * sealed parts are sealed to it), and the input as a sealed part's
 * contents. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/stickfmt.h"
#include "export_fuzzkey.h"

static void check(const struct dr_receipt *r)
{
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pk[32], sk[64];
	static int ready;
	if (!ready) {
		dr_fuzz_keypair(pk, sk);
		ready = 1;
	}
	struct dr_receipt *r = NULL;
	char err[256], dev[DR_DEVICE_ID_HEX + 1];
	if (dr_receipt_parse_outer((const char *)data, size, dev, err, sizeof(err)) == 0 &&
	    !dr_stick_hex_ok(dev, DR_DEVICE_ID_HEX))
		abort();
	if (dr_receipt_open((const char *)data, size, pk, sk, &r, err, sizeof(err)) == 0)
		check(r);
	dr_receipt_free(r);
	r = NULL;
	if (dr_receipt_parse_contents((const char *)data, size, &r, err, sizeof(err)) == 0)
		check(r);
	dr_receipt_free(r);
	return 0;
}
