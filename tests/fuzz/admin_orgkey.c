/* SPDX-License-Identifier: MIT */
/* Fuzz target: org.key's parser (tools/admin/orgkey.c). Checked: a key
 * accepted never asks Argon2id for more than init-org's "sensitive". */
#include <stdlib.h>

#include "orgkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct adm_orgkey k;
	if (adm_orgkey_parse((const char *)data, size, &k) == 0 &&
	    (k.ops > crypto_pwhash_OPSLIMIT_SENSITIVE || k.mem > crypto_pwhash_MEMLIMIT_SENSITIVE ||
	     k.ops < 1))
		abort();
	return 0;
}
