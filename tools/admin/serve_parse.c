/* SPDX-License-Identifier: MIT */
/* Request parsing for `diaryroom-admin serve` (serve_parse.h). */
#include "serve_parse.h"

#include <errno.h>
#include <string.h>

static int digits(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*v = x;
	return 0;
}

int adm_serve_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
	if (!h || strncmp(h, "bytes=", 6))
		return 1;
	const char *p = h + 6;
	while (*p == ' ')
		p++;
	uint64_t a = 0, b = 0;
	if (*p == '-') {
		p++;
		if (digits(&p, &b) < 0)
			return 1;
		while (*p == ' ')
			p++;
		if (*p)
			return 1; /* several ranges or junk */
		if (b == 0 || size == 0)
			return -ERANGE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 0;
	}
	if (digits(&p, &a) < 0 || *p++ != '-')
		return 1;
	int have_b = *p >= '0' && *p <= '9';
	if (have_b && digits(&p, &b) < 0)
		return 1;
	while (*p == ' ')
		p++;
	if (*p)
		return 1;
	if (have_b && b < a)
		return 1; /* invalid: ignored */
	if (a >= size)
		return -ERANGE;
	*first = a;
	*last = have_b && b < size - 1 ? b : size - 1;
	return 0;
}

int adm_serve_cookie(const char *h, const char *name, char *out, size_t n)
{
	if (!h || !n)
		return -ENOENT;
	size_t nl = strlen(name);
	const char *p = h;
	while (*p) {
		while (*p == ' ' || *p == ';')
			p++;
		const char *e = p;
		while (*e && *e != ';')
			e++;
		if ((size_t)(e - p) > nl && !strncmp(p, name, nl) && p[nl] == '=') {
			size_t vl = (size_t)(e - p) - nl - 1;
			if (vl >= n)
				return -E2BIG;
			memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			return (int)vl;
		}
		p = e;
	}
	return -ENOENT;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int adm_serve_form(const char *body, size_t len, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name), i = 0;
	if (!n)
		return -E2BIG;
	while (i < len) {
		size_t e = i;
		while (e < len && body[e] != '&')
			e++;
		if (e - i > nl && !memcmp(body + i, name, nl) && body[i + nl] == '=') {
			size_t o = 0;
			for (size_t k = i + nl + 1; k < e; k++) {
				unsigned char c = (unsigned char)body[k];
				if (c == '+')
					c = ' ';
				else if (c == '%') {
					int h1 = k + 2 < e ? hexval(body[k + 1]) : -1;
					int h2 = h1 >= 0 ? hexval(body[k + 2]) : -1;
					if (h2 < 0)
						return -EINVAL;
					c = (unsigned char)(h1 * 16 + h2);
					k += 2;
				}
				if ((c < 0x20 && c != '\t') || c == 0x7f)
					return -EINVAL;
				if (o + 1 >= n)
					return -E2BIG;
				out[o++] = (char)c;
			}
			out[o] = '\0';
			return (int)o;
		}
		i = e + 1;
	}
	return -ENOENT;
}
