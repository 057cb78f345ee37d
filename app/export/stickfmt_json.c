/* SPDX-License-Identifier: MIT */
/*
 * The strict JSON readers every stick file parser shares (stickfmt_priv.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "export/stickfmt.h"
#include "export/stickfmt_priv.h"

int dr_sf_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/* Parses exactly buf[0..len) as one JSON object. */
struct json_object *dr_sf_parse_object(const char *buf, size_t len, size_t cap,
					const char *what, char *err, size_t errlen)
{
	if (!buf || len == 0 || len > cap || len > INT32_MAX) {
		dr_sf_fail(err, errlen, "%s: empty or larger than %zu bytes", what, cap);
		return NULL;
	}
	if (memchr(buf, '\0', len)) {
		dr_sf_fail(err, errlen, "%s: contains a NUL byte", what);
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new_ex(DR_SF_JSON_DEPTH);
	if (!tok) {
		dr_sf_fail(err, errlen, "%s: out of memory", what);
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	struct json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	/* only trailing whitespace may follow the object */
	while (o && end < len && (buf[end] == '\n' || buf[end] == ' ' || buf[end] == '\r' ||
				  buf[end] == '\t'))
		end++;
	if (!o || je != json_tokener_success || end != len) {
		dr_sf_fail(err, errlen, "%s: not valid JSON (%s)", what,
		     je != json_tokener_success ? json_tokener_error_desc(je) : "trailing bytes");
		json_object_put(o);
		return NULL;
	}
	if (!json_object_is_type(o, json_type_object)) {
		dr_sf_fail(err, errlen, "%s: not a JSON object", what);
		json_object_put(o);
		return NULL;
	}
	return o;
}

const char *dr_sf_get_str(struct json_object *o, const char *key, size_t maxlen)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v);
	if (!s || (size_t)json_object_get_string_len(v) != strlen(s) || strlen(s) > maxlen)
		return NULL;
	return s;
}

int dr_sf_get_int(struct json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -EBADMSG;
	errno = 0;
	int64_t x = json_object_get_int64(v);
	if (errno || x < min || x > max)
		return -EBADMSG;
	*out = x;
	return 0;
}

int dr_sf_get_time(struct json_object *o, const char *key, int64_t *out)
{
	const char *s = dr_sf_get_str(o, key, 30);
	return s && dr_stick_time_parse(s, out) == 0 ? 0 : -EBADMSG;
}

int dr_sf_get_bool(struct json_object *o, const char *key, bool *out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
		return -EBADMSG;
	*out = json_object_get_boolean(v);
	return 0;
}

int dr_sf_get_consent(struct json_object *o, const char *key, int *out)
{
	const char *s = dr_sf_get_str(o, key, 16);
	return s && dr_stick_consent_parse(s, out) == 0 ? 0 : -EBADMSG;
}

int dr_sf_copy_str(char *dst, size_t dstlen, const char *src)
{
	if (!src || strlen(src) >= dstlen)
		return -EBADMSG;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

/* The "format" and "version" every file carries. older/newer: what to do
 * about a file of an older or newer version (which program to update). */
int dr_sf_check_header_range(struct json_object *o, const char *format, int64_t min,
			      int64_t max, const char *what, const char *older, const char *newer,
			      int64_t *got, char *err, size_t errlen)
{
	const char *f = dr_sf_get_str(o, "format", 64);
	int64_t v;
	if (!f || strcmp(f, format))
		return dr_sf_fail(err, errlen, "%s: not a %s file", what, format);
	if (dr_sf_get_int(o, "version", 1, 1000000, &v) < 0)
		return dr_sf_fail(err, errlen, "%s: no format version", what);
	if ((v < min || v > max) && min == max)
		return dr_sf_fail(err, errlen, "%s: format version %lld, this program reads version %lld: %s",
			    what, (long long)v, (long long)max, v < min ? older : newer);
	if (v < min || v > max)
		return dr_sf_fail(err, errlen,
			    "%s: format version %lld, this program reads versions %lld to %lld: %s",
			    what, (long long)v, (long long)min, (long long)max,
			    v < min ? older : newer);
	if (got)
		*got = v;
	return 0;
}

int dr_sf_check_header_v(struct json_object *o, const char *format, int64_t version,
			  const char *what, const char *older, const char *newer, char *err,
			  size_t errlen)
{
	return dr_sf_check_header_range(o, format, version, version, what, older, newer, NULL, err,
				  errlen);
}

int dr_sf_check_header(struct json_object *o, const char *format, int64_t version,
			const char *what, char *err, size_t errlen)
{
	return dr_sf_check_header_v(o, format, version, what, "made by an older diaryroom-admin: update it",
			      "update this program", err, errlen);
}

/* Only these members (a sealed file's outer part carries nothing else). */
bool dr_sf_only_keys(struct json_object *o, const char *const *keys)
{
	json_object_object_foreach(o, k, v)
	{
		(void)v;
		bool known = false;
		for (const char *const *p = keys; *p && !known; p++)
			known = !strcmp(k, *p);
		if (!known)
			return false;
	}
	return true;
}

/* The base64 "sealed" member of an outer file. */
int dr_sf_get_sealed(struct json_object *o, const char **b64, size_t *len)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, "sealed", &v) || !json_object_is_type(v, json_type_string))
		return -EBADMSG;
	*b64 = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	return *b64 && *len && strlen(*b64) == *len ? 0 : -EBADMSG;
}

void dr_sf_wipe_free(char *p, size_t n)
{
	if (p)
		sodium_memzero(p, n);
	free(p);
}

struct json_object *dr_sf_get_array(struct json_object *o, const char *key, size_t *n)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	*n = json_object_array_length(v);
	return *n <= DR_STICK_MAX_ENTRIES ? v : NULL;
}

bool dr_sf_name_ok(const char *s)
{
	/* printable: no control characters (it is logged and shown) */
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return s[0] != '\0';
}
