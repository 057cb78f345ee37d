/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: dr_evlog_str() on arbitrary bytes and buffer sizes. The output
 * must always be NUL-terminated inside the buffer and be a valid JSON string
 * body: no raw control characters, only known escapes, valid UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/evlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_json_body(const unsigned char *s)
{
	while (*s) {
		unsigned char c = *s;
		if (c < 0x20 || c == '"')
			abort();
		if (c == '\\') {
			c = s[1];
			if (c == 'u') {
				for (int i = 2; i < 6; i++)
					if (!s[i] || !strchr("0123456789abcdef", s[i]))
						abort();
				s += 6;
			} else if (c && strchr("\"\\/bfnrt", c)) {
				s += 2;
			} else {
				abort();
			}
			continue;
		}
		size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
						 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
		if (!n)
			abort();
		uint32_t cp = n == 1 ? c : c & (0x7f >> n);
		for (size_t i = 1; i < n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				abort();
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			abort();
		s += n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	unsigned long buflen = size ? (unsigned long)data[0] % 64 + 1 : 1;
	for (int round = 0; round < 2; round++) {
		char *buf = malloc(buflen);
		if (!buf)
			break;
		memset(buf, 'Z', buflen);
		dr_evlog_str(in, buf, buflen);
		if (!memchr(buf, '\0', buflen))
			abort();
		check_json_body((const unsigned char *)buf);
		free(buf);
		buflen = size * 6 + 1; /* always large enough for the whole string */
	}
	free(in);
	return 0;
}
