/* SPDX-License-Identifier: MIT */
/* What `diaryroom-admin serve` parses from a request (serve_parse.c): the
 * Range header, the Cookie header and form bodies. Pure functions on
 * untrusted bytes, for the server and its fuzz target; any thread; nothing
 * here logs or allocates. */
#ifndef DR_ADMIN_SERVE_PARSE_H
#define DR_ADMIN_SERVE_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* A single byte range ("bytes=A-B", "bytes=A-", "bytes=-N") of a file of
 * size bytes: 0 and [*first, *last] (inclusive) for a satisfiable range;
 * 1 for no range to apply (header NULL, not a bytes range, several ranges,
 * or malformed: the whole file is sent, as RFC 9110 14.2 allows);
 * -ERANGE when unsatisfiable (416). */
int adm_serve_range(const char *header, uint64_t size, uint64_t *first, uint64_t *last);

/* The value of cookie name in a Cookie header (NULL ok) copied into out
 * (n bytes with its NUL): its length, or -ENOENT, or -E2BIG if longer. */
int adm_serve_cookie(const char *header, const char *name, char *out, size_t n);

/* The URL-decoded value of field name in an application/x-www-form-urlencoded
 * body of len bytes (need not be NUL-terminated) into out (n bytes with its
 * NUL): its length, -ENOENT, -E2BIG, or -EINVAL (a bad %-escape, or a
 * decoded NUL or control character other than tab). */
int adm_serve_form(const char *body, size_t len, const char *name, char *out, size_t n);

#endif
