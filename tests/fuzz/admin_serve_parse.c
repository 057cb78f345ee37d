/* SPDX-License-Identifier: MIT */
/* Fuzz target: what `diaryroom-admin serve` parses from a request
 * (tools/admin/serve_parse.c): the Range header against a file size, the
 * Cookie header, and form bodies. The first byte picks the parser (and for
 * Range, the next 8 the size). Checked: a range given is inside the file;
 * a value returned fits its buffer, NUL-terminated, with no control
 * character from a form. */
#include <stdlib.h>
#include <string.h>

#include "serve_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 9 || size > 8192)
		return 0;
	uint64_t fsize = 0;
	memcpy(&fsize, data + 1, 8);
	if (data[0] & 1)
		fsize &= 0xffff; /* small files too */
	char *s = malloc(size - 9 + 1);
	if (!s)
		return 0;
	memcpy(s, data + 9, size - 9);
	s[size - 9] = '\0';
	char out[70];
	switch (data[0] % 3) {
	case 0: {
		uint64_t a = 0, b = 0;
		int r = adm_serve_range(s, fsize, &a, &b);
		if (r == 0 && (a > b || b >= fsize))
			abort();
		break;
	}
	case 1: {
		int r = adm_serve_cookie(s, "dr_session", out, sizeof(out));
		if (r >= 0 && ((size_t)r >= sizeof(out) || strlen(out) != (size_t)r))
			abort();
		break;
	}
	default: {
		int r = adm_serve_form(data[0] & 4 ? s : (const char *)data + 9, size - 9, "pass",
				       out, sizeof(out));
		if (r >= 0 && ((size_t)r >= sizeof(out) || out[r] != '\0'))
			abort();
		for (int i = 0; i < r; i++)
			if ((unsigned char)out[i] < 0x20 && out[i] != '\t')
				abort();
		break;
	}
	}
	free(s);
	return 0;
}
