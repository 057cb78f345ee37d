/* SPDX-License-Identifier: MIT */
/*
 * The strict JSON readers the stick file parsers share (stickfmt_json.c):
 * stickfmt.c (tokens, revocations, sealing), stickfmt_receipt.c and
 * stickfmt_manifest.c. Private to dr_stickfmt.
 *
 * - dr_sf_fail writes the message into err (when given) and returns
 *   -EBADMSG, so a parser can `return dr_sf_fail(...)`.
 * - The getters return NULL / -EBADMSG for a missing member or one of the
 *   wrong type or range; strings are json-c's (valid while the object lives).
 * - dr_sf_parse_object parses exactly buf[0..len) (at most cap bytes, no
 *   NUL, strict, UTF-8 validated, depth DR_SF_JSON_DEPTH) as one object; the
 *   caller puts the result. NULL with err set on any failure.
 * Any thread; no state.
 */
#ifndef DR_STICKFMT_PRIV_H
#define DR_STICKFMT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define DR_SF_JSON_DEPTH 6

int dr_sf_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
struct json_object *dr_sf_parse_object(const char *buf, size_t len, size_t cap, const char *what,
				       char *err, size_t errlen);
const char *dr_sf_get_str(struct json_object *o, const char *key, size_t maxlen);
int dr_sf_get_int(struct json_object *o, const char *key, int64_t min, int64_t max, int64_t *out);
int dr_sf_get_time(struct json_object *o, const char *key, int64_t *out);
int dr_sf_get_bool(struct json_object *o, const char *key, bool *out);
int dr_sf_get_consent(struct json_object *o, const char *key, int *out);
/* -EBADMSG when src is NULL or does not fit dstlen with its NUL. */
int dr_sf_copy_str(char *dst, size_t dstlen, const char *src);
/* The "format" and "version" every file carries, version in [min, max].
 * older/newer: what to do about a file of an older or newer version (which
 * program to update); *got (if given) the version read. */
int dr_sf_check_header_range(struct json_object *o, const char *format, int64_t min, int64_t max,
			     const char *what, const char *older, const char *newer, int64_t *got,
			     char *err, size_t errlen);
int dr_sf_check_header_v(struct json_object *o, const char *format, int64_t version,
			 const char *what, const char *older, const char *newer, char *err,
			 size_t errlen);
/* Exactly this version; an older file was made by an older diaryroom-admin. */
int dr_sf_check_header(struct json_object *o, const char *format, int64_t version,
		       const char *what, char *err, size_t errlen);
/* True when o has no member outside the NULL-ended keys. */
bool dr_sf_only_keys(struct json_object *o, const char *const *keys);
/* The base64 "sealed" member of an outer file (non-empty, no NUL). */
int dr_sf_get_sealed(struct json_object *o, const char **b64, size_t *len);
/* Wipes n bytes of p, then frees it; p may be NULL. */
void dr_sf_wipe_free(char *p, size_t n);
/* The array member key with its length, NULL if missing or longer than
 * DR_STICK_MAX_ENTRIES. */
struct json_object *dr_sf_get_array(struct json_object *o, const char *key, size_t *n);
/* Non-empty and printable: no control characters (it is logged and shown). */
bool dr_sf_name_ok(const char *s);

#endif
