/* SPDX-License-Identifier: MIT */
/*
 * Parsers of the staff stick's JSON files (json-c, strict mode, UTF-8
 * validated, depth limited) and the Ed25519 helpers. See stickfmt.h.
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

#define JSON_DEPTH 6

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

bool dr_stick_hex_ok(const char *s, size_t n)
{
	if (!s || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool dr_stick_receipt_ok(const char *s)
{
	if (!s || strlen(s) != 4)
		return false;
	for (int i = 0; i < 4; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int dr_stick_time_parse(const char *s, int64_t *t)
{
	if (!s || !t)
		return -EINVAL;
	size_t n = strlen(s);
	/* YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DDTHH:MM:SS.mmmZ */
	if (n != 20 && n != 24)
		return -EINVAL;
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || end != s + 19)
		return -EINVAL;
	if (n == 24 && (end[0] != '.' || end[1] < '0' || end[1] > '9' || end[2] < '0' ||
			end[2] > '9' || end[3] < '0' || end[3] > '9'))
		return -EINVAL;
	if (s[n - 1] != 'Z')
		return -EINVAL;
	if (tm.tm_year < 70 || tm.tm_year > 1100)
		return -EINVAL;
	time_t v = timegm(&tm);
	if (v == (time_t)-1)
		return -EINVAL;
	*t = (int64_t)v;
	return 0;
}

void dr_stick_time_format(int64_t t, char out[32])
{
	time_t v = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&v, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

int dr_stick_verify(const uint8_t *data, size_t len, const uint8_t sig[DR_STICK_SIG_LEN],
		    const uint8_t pk[DR_STICK_PK_LEN])
{
	if (!data || !sig || !pk || sodium_init() < 0)
		return -EINVAL;
	return crypto_sign_verify_detached(sig, data, len, pk) == 0 ? 0 : -EKEYREJECTED;
}

void dr_stick_sign(const uint8_t *data, size_t len, uint8_t sig[DR_STICK_SIG_LEN],
		   const uint8_t sk[DR_STICK_SK_LEN])
{
	crypto_sign_detached(sig, NULL, data, len, sk);
}

void dr_stick_device_id(const uint8_t pk[DR_STICK_PK_LEN], char id[DR_DEVICE_ID_HEX + 1])
{
	sodium_bin2hex(id, DR_DEVICE_ID_HEX + 1, pk, DR_DEVICE_ID_HEX / 2);
}

const char *dr_stick_consent_word(int v)
{
	return v == 1 ? "yes" : v == 0 ? "no" : "unanswered";
}

int dr_stick_consent_parse(const char *w, int *v)
{
	if (!w || !v)
		return -EINVAL;
	if (!strcmp(w, "yes"))
		*v = 1;
	else if (!strcmp(w, "no"))
		*v = 0;
	else if (!strcmp(w, "unanswered"))
		*v = -1;
	else
		return -EINVAL;
	return 0;
}

/* Parses exactly buf[0..len) as one JSON object. */
static struct json_object *parse_object(const char *buf, size_t len, size_t cap,
					const char *what, char *err, size_t errlen)
{
	if (!buf || len == 0 || len > cap || len > INT32_MAX) {
		fail(err, errlen, "%s: empty or larger than %zu bytes", what, cap);
		return NULL;
	}
	if (memchr(buf, '\0', len)) {
		fail(err, errlen, "%s: contains a NUL byte", what);
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok) {
		fail(err, errlen, "%s: out of memory", what);
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
		fail(err, errlen, "%s: not valid JSON (%s)", what,
		     je != json_tokener_success ? json_tokener_error_desc(je) : "trailing bytes");
		json_object_put(o);
		return NULL;
	}
	if (!json_object_is_type(o, json_type_object)) {
		fail(err, errlen, "%s: not a JSON object", what);
		json_object_put(o);
		return NULL;
	}
	return o;
}

static const char *get_str(struct json_object *o, const char *key, size_t maxlen)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v);
	if (!s || (size_t)json_object_get_string_len(v) != strlen(s) || strlen(s) > maxlen)
		return NULL;
	return s;
}

static int get_int(struct json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
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

static int get_time(struct json_object *o, const char *key, int64_t *out)
{
	const char *s = get_str(o, key, 30);
	return s && dr_stick_time_parse(s, out) == 0 ? 0 : -EBADMSG;
}

static int get_bool(struct json_object *o, const char *key, bool *out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
		return -EBADMSG;
	*out = json_object_get_boolean(v);
	return 0;
}

static int get_consent(struct json_object *o, const char *key, int *out)
{
	const char *s = get_str(o, key, 16);
	return s && dr_stick_consent_parse(s, out) == 0 ? 0 : -EBADMSG;
}

static int copy_str(char *dst, size_t dstlen, const char *src)
{
	if (!src || strlen(src) >= dstlen)
		return -EBADMSG;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

/* The "format" and "version" every file carries. older/newer: what to do
 * about a file of an older or newer version (which program to update). */
static int check_header_range(struct json_object *o, const char *format, int64_t min,
			      int64_t max, const char *what, const char *older, const char *newer,
			      int64_t *got, char *err, size_t errlen)
{
	const char *f = get_str(o, "format", 64);
	int64_t v;
	if (!f || strcmp(f, format))
		return fail(err, errlen, "%s: not a %s file", what, format);
	if (get_int(o, "version", 1, 1000000, &v) < 0)
		return fail(err, errlen, "%s: no format version", what);
	if ((v < min || v > max) && min == max)
		return fail(err, errlen, "%s: format version %lld, this program reads version %lld: %s",
			    what, (long long)v, (long long)max, v < min ? older : newer);
	if (v < min || v > max)
		return fail(err, errlen,
			    "%s: format version %lld, this program reads versions %lld to %lld: %s",
			    what, (long long)v, (long long)min, (long long)max,
			    v < min ? older : newer);
	if (got)
		*got = v;
	return 0;
}

static int check_header_v(struct json_object *o, const char *format, int64_t version,
			  const char *what, const char *older, const char *newer, char *err,
			  size_t errlen)
{
	return check_header_range(o, format, version, version, what, older, newer, NULL, err,
				  errlen);
}

static int check_header(struct json_object *o, const char *format, int64_t version,
			const char *what, char *err, size_t errlen)
{
	return check_header_v(o, format, version, what, "made by an older diaryroom-admin: update it",
			      "update this program", err, errlen);
}

/* Only these members (a sealed file's outer part carries nothing else). */
static bool only_keys(struct json_object *o, const char *const *keys)
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

/* ---- sealing to a key pair's holder ---- */

int dr_stick_seal(const void *plain, size_t len, const uint8_t ed_pk[DR_STICK_PK_LEN],
		  char **b64)
{
	if (!plain || !ed_pk || !b64 || len > SIZE_MAX / 2 || sodium_init() < 0)
		return -EINVAL;
	*b64 = NULL;
	uint8_t xpk[crypto_box_PUBLICKEYBYTES];
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, ed_pk) != 0)
		return -EINVAL;
	size_t clen = len + crypto_box_SEALBYTES;
	uint8_t *c = malloc(clen);
	size_t blen = sodium_base64_encoded_len(clen, sodium_base64_VARIANT_ORIGINAL);
	char *b = malloc(blen);
	if (!c || !b) {
		free(c);
		free(b);
		return -ENOMEM;
	}
	if (crypto_box_seal(c, plain, len, xpk) != 0) {
		free(c);
		free(b);
		return -EINVAL;
	}
	sodium_bin2base64(b, blen, c, clen, sodium_base64_VARIANT_ORIGINAL);
	free(c);
	*b64 = b;
	return 0;
}

int dr_stick_unseal(const char *b64, size_t b64len, size_t cap,
		    const uint8_t ed_pk[DR_STICK_PK_LEN], const uint8_t ed_sk[DR_STICK_SK_LEN],
		    char **plain, size_t *plen)
{
	if (!b64 || !ed_pk || !ed_sk || !plain || !plen || sodium_init() < 0)
		return -EINVAL;
	*plain = NULL;
	*plen = 0;
	size_t max = b64len / 4 * 3 + 3;
	if (max > cap + crypto_box_SEALBYTES + 3)
		return -EBADMSG;
	uint8_t *c = malloc(max ? max : 1);
	if (!c)
		return -ENOMEM;
	size_t clen = 0;
	const char *end = NULL;
	if (sodium_base642bin(c, max, b64, b64len, NULL, &clen, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != b64 + b64len || clen < crypto_box_SEALBYTES ||
	    clen - crypto_box_SEALBYTES > cap) {
		free(c);
		return -EBADMSG;
	}
	size_t n = clen - crypto_box_SEALBYTES;
	uint8_t xpk[crypto_box_PUBLICKEYBYTES];
	uint8_t *xsk = sodium_malloc(crypto_box_SECRETKEYBYTES);
	char *p = malloc(n + 1);
	int r = xsk && p ? 0 : -ENOMEM;
	if (r == 0 && (crypto_sign_ed25519_pk_to_curve25519(xpk, ed_pk) != 0 ||
		       crypto_sign_ed25519_sk_to_curve25519(xsk, ed_sk) != 0))
		r = -EINVAL;
	if (r == 0 && crypto_box_seal_open((uint8_t *)p, c, clen, xpk, xsk) != 0)
		r = -EBADMSG;
	sodium_free(xsk);
	free(c);
	if (r < 0) {
		free(p);
		return r;
	}
	p[n] = '\0';
	*plain = p;
	*plen = n;
	return 0;
}

/* The base64 "sealed" member of an outer file. */
static int get_sealed(struct json_object *o, const char **b64, size_t *len)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, "sealed", &v) || !json_object_is_type(v, json_type_string))
		return -EBADMSG;
	*b64 = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	return *b64 && *len && strlen(*b64) == *len ? 0 : -EBADMSG;
}

static void wipe_free(char *p, size_t n)
{
	if (p)
		sodium_memzero(p, n);
	free(p);
}

static struct json_object *get_array(struct json_object *o, const char *key, size_t *n)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	*n = json_object_array_length(v);
	return *n <= DR_STICK_MAX_ENTRIES ? v : NULL;
}

static bool name_ok(const char *s)
{
	/* printable: no control characters (it is logged and shown) */
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return s[0] != '\0';
}

int dr_token_parse(const char *buf, size_t len, struct dr_token *t, char *err, size_t errlen)
{
	static const char what[] = "staff token";
	if (!t)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	struct json_object *o = parse_object(buf, len, DR_STICK_TOKEN_MAX, what, err, errlen);
	if (!o)
		return -EBADMSG;
	int r = check_header(o, "diaryroom-token", DR_STICK_TOKEN_VERSION, what, err, errlen);
	const char *id = get_str(o, "stick_id", DR_STICK_ID_HEX);
	const char *name = get_str(o, "name", DR_STICK_NAME_MAX);
	if (r == 0 && (!dr_stick_hex_ok(id, DR_STICK_ID_HEX) || copy_str(t->stick_id, sizeof(t->stick_id), id)))
		r = fail(err, errlen, "%s: bad stick_id", what);
	if (r == 0 && (!name || !name_ok(name) || copy_str(t->name, sizeof(t->name), name)))
		r = fail(err, errlen, "%s: bad name", what);
	if (r == 0 && (get_time(o, "issued_utc", &t->issued) || get_time(o, "expires_utc", &t->expires)))
		r = fail(err, errlen, "%s: bad issued_utc or expires_utc", what);
	if (r == 0 && t->expires <= t->issued)
		r = fail(err, errlen, "%s: expires before it was issued", what);
	json_object_put(o);
	if (r < 0)
		memset(t, 0, sizeof(*t));
	return r;
}

void dr_revocations_free(struct dr_revocations *r)
{
	if (!r)
		return;
	free(r->ids);
	free(r);
}

int dr_revocations_parse(const char *buf, size_t len, struct dr_revocations **out, char *err,
			 size_t errlen)
{
	static const char what[] = "revocation list";
	if (!out)
		return -EINVAL;
	*out = NULL;
	struct json_object *o = parse_object(buf, len, DR_STICK_REVOKED_MAX, what, err, errlen);
	if (!o)
		return -EBADMSG;
	struct dr_revocations *rv = calloc(1, sizeof(*rv));
	int r = rv ? check_header(o, "diaryroom-revocations", DR_STICK_REVOKED_VERSION, what, err, errlen) : -ENOMEM;
	if (r == 0 && (get_int(o, "serial", 1, INT64_MAX, &rv->serial) ||
		       get_time(o, "issued_utc", &rv->issued)))
		r = fail(err, errlen, "%s: bad serial or issued_utc", what);
	struct json_object *a = NULL;
	if (r == 0 && !(a = get_array(o, "revoked", &rv->n)))
		r = fail(err, errlen, "%s: bad revoked list", what);
	if (r == 0 && rv->n && !(rv->ids = calloc(rv->n, sizeof(*rv->ids))))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < rv->n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		const char *id = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
		if (!dr_stick_hex_ok(id, DR_STICK_ID_HEX))
			r = fail(err, errlen, "%s: bad stick id at %zu", what, i);
		else
			memcpy(rv->ids[i], id, DR_STICK_ID_HEX + 1);
	}
	json_object_put(o);
	if (r < 0) {
		dr_revocations_free(rv);
		return r;
	}
	*out = rv;
	return 0;
}

void dr_receipt_free(struct dr_receipt *r)
{
	if (!r)
		return;
	free(r->held);
	free(r->withdraw);
	free(r->consent);
	free(r);
}

static int parse_held(struct json_object *e, struct dr_receipt_held *h)
{
	if (!json_object_is_type(e, json_type_object))
		return -EBADMSG;
	const char *id = get_str(e, "id", DR_STICK_ID_HEX);
	const char *hash = get_str(e, "blake2b", 64);
	const char *rc = get_str(e, "receipt", 4);
	if (!dr_stick_hex_ok(id, DR_STICK_ID_HEX) || !dr_stick_hex_ok(hash, 64))
		return -EBADMSG;
	if (rc && rc[0] && !dr_stick_receipt_ok(rc))
		return -EBADMSG;
	memcpy(h->id, id, DR_STICK_ID_HEX + 1);
	memcpy(h->blake2b, hash, 65);
	snprintf(h->receipt, sizeof(h->receipt), "%s", rc ? rc : "");
	return 0;
}

static int parse_consent_change(struct json_object *e, struct dr_receipt_consent *c)
{
	if (!json_object_is_type(e, json_type_object))
		return -EBADMSG;
	const char *rc = get_str(e, "receipt", 4);
	if (!dr_stick_receipt_ok(rc) || get_consent(e, "staff", &c->staff) ||
	    get_consent(e, "share", &c->share))
		return -EBADMSG;
	if (c->share == 1 && c->staff != 1)
		return -EBADMSG; /* sharing needs consent to staff listening */
	int64_t t;
	if (get_time(e, "entered_utc", &t))
		return -EBADMSG;
	dr_stick_time_format(t, c->entered_utc);
	memcpy(c->receipt, rc, 5);
	return 0;
}

int dr_receipt_parse_contents(const char *buf, size_t len, struct dr_receipt **out, char *err,
			      size_t errlen)
{
	static const char what[] = "receipt (sealed part)";
	if (!out)
		return -EINVAL;
	*out = NULL;
	struct json_object *o = parse_object(buf, len, DR_STICK_RECEIPT_MAX, what, err, errlen);
	if (!o)
		return -EBADMSG;
	struct dr_receipt *rc = calloc(1, sizeof(*rc));
	int r = rc ? check_header(o, "diaryroom-receipt-contents", DR_STICK_RECEIPT_VERSION, what, err, errlen) : -ENOMEM;
	const char *dev = get_str(o, "device", DR_DEVICE_ID_HEX);
	const char *mh = get_str(o, "manifest_blake2b", 64);
	if (r == 0 && (!dr_stick_hex_ok(dev, DR_DEVICE_ID_HEX) || !dr_stick_hex_ok(mh, 64) ||
		       get_int(o, "manifest_seq", 1, INT64_MAX, &rc->manifest_seq) ||
		       get_time(o, "issued_utc", &rc->issued)))
		r = fail(err, errlen, "%s: bad device, manifest_seq, manifest_blake2b or issued_utc",
			 what);
	if (r == 0) {
		memcpy(rc->device, dev, DR_DEVICE_ID_HEX + 1);
		memcpy(rc->manifest_blake2b, mh, 65);
	}
	struct json_object *ah = NULL, *aw = NULL, *ac = NULL;
	if (r == 0 && (!(ah = get_array(o, "held", &rc->n_held)) ||
		       !(aw = get_array(o, "withdraw", &rc->n_withdraw)) ||
		       !(ac = get_array(o, "consent", &rc->n_consent))))
		r = fail(err, errlen, "%s: bad held, withdraw or consent list", what);
	if (r == 0 && ((rc->n_held && !(rc->held = calloc(rc->n_held, sizeof(*rc->held)))) ||
		       (rc->n_withdraw && !(rc->withdraw = calloc(rc->n_withdraw, sizeof(*rc->withdraw)))) ||
		       (rc->n_consent && !(rc->consent = calloc(rc->n_consent, sizeof(*rc->consent))))))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < rc->n_held; i++)
		if (parse_held(json_object_array_get_idx(ah, i), &rc->held[i]) < 0)
			r = fail(err, errlen, "%s: bad held entry %zu", what, i);
	for (size_t i = 0; r == 0 && i < rc->n_withdraw; i++) {
		struct json_object *e = json_object_array_get_idx(aw, i);
		const char *s = json_object_is_type(e, json_type_object) ? get_str(e, "receipt", 4) : NULL;
		int64_t t;
		if (!dr_stick_receipt_ok(s) || get_time(e, "entered_utc", &t))
			r = fail(err, errlen, "%s: bad withdrawal %zu", what, i);
		else {
			memcpy(rc->withdraw[i].receipt, s, 5);
			dr_stick_time_format(t, rc->withdraw[i].entered_utc);
		}
	}
	for (size_t i = 0; r == 0 && i < rc->n_consent; i++)
		if (parse_consent_change(json_object_array_get_idx(ac, i), &rc->consent[i]) < 0)
			r = fail(err, errlen, "%s: bad consent change %zu", what, i);
	json_object_put(o);
	if (r < 0) {
		dr_receipt_free(rc);
		return r;
	}
	*out = rc;
	return 0;
}

static const char *const receipt_outer_keys[] = {"format", "version", "device", "sealed", NULL};

/* The outer receipt: o (the caller puts it) and its device. */
static struct json_object *receipt_outer(const char *buf, size_t len, char device[DR_DEVICE_ID_HEX + 1],
					 char *err, size_t errlen)
{
	static const char what[] = "receipt";
	struct json_object *o = parse_object(buf, len, DR_STICK_RECEIPT_MAX, what, err, errlen);
	if (!o)
		return NULL;
	int r = check_header_v(o, "diaryroom-receipt", DR_STICK_RECEIPT_VERSION, what,
			       "made by an older diaryroom-admin: update diaryroom-admin on the "
			       "office PC",
			       "made by a newer diaryroom-admin: update this box's software", err,
			       errlen);
	const char *dev = get_str(o, "device", DR_DEVICE_ID_HEX);
	if (r == 0 && !dr_stick_hex_ok(dev, DR_DEVICE_ID_HEX))
		r = fail(err, errlen, "%s: bad device", what);
	if (r == 0 && !only_keys(o, receipt_outer_keys))
		r = fail(err, errlen, "%s: unexpected member outside the sealed part", what);
	if (r < 0) {
		json_object_put(o);
		return NULL;
	}
	memcpy(device, dev, DR_DEVICE_ID_HEX + 1);
	return o;
}

int dr_receipt_parse_outer(const char *buf, size_t len, char device[DR_DEVICE_ID_HEX + 1],
			   char *err, size_t errlen)
{
	if (!device)
		return -EINVAL;
	struct json_object *o = receipt_outer(buf, len, device, err, errlen);
	const char *b64;
	size_t blen;
	int r = o ? 0 : -EBADMSG;
	if (r == 0 && get_sealed(o, &b64, &blen) < 0)
		r = fail(err, errlen, "receipt: no sealed part");
	json_object_put(o);
	return r;
}

int dr_receipt_open(const char *buf, size_t len, const uint8_t device_pk[DR_STICK_PK_LEN],
		    const uint8_t device_sk[DR_STICK_SK_LEN], struct dr_receipt **out, char *err,
		    size_t errlen)
{
	if (!out || !device_pk || !device_sk)
		return -EINVAL;
	*out = NULL;
	char dev[DR_DEVICE_ID_HEX + 1], mine[DR_DEVICE_ID_HEX + 1];
	struct json_object *o = receipt_outer(buf, len, dev, err, errlen);
	if (!o)
		return -EBADMSG;
	dr_stick_device_id(device_pk, mine);
	const char *b64;
	size_t blen;
	char *plain = NULL;
	size_t plen = 0;
	int r = 0;
	if (strcmp(dev, mine)) {
		if (err && errlen)
			snprintf(err, errlen, "it is for box %s, this is box %s", dev, mine);
		r = -EXDEV;
	} else if (get_sealed(o, &b64, &blen) < 0) {
		r = fail(err, errlen, "receipt: no sealed part");
	} else if ((r = dr_stick_unseal(b64, blen, DR_STICK_RECEIPT_MAX, device_pk, device_sk,
					&plain, &plen)) < 0) {
		if (r == -EBADMSG)
			fail(err, errlen, "receipt: its sealed part does not open with this box's key "
					  "(sealed for another box, or altered)");
	}
	json_object_put(o);
	if (r < 0)
		return r;
	r = dr_receipt_parse_contents(plain, plen, out, err, errlen);
	wipe_free(plain, plen);
	if (r == 0 && strcmp((*out)->device, dev)) {
		dr_receipt_free(*out);
		*out = NULL;
		r = fail(err, errlen, "receipt: its sealed part names another box than %s", dev);
	}
	return r;
}

void dr_manifest_free(struct dr_manifest *m)
{
	if (!m)
		return;
	free(m->recs);
	free(m);
}

int dr_stick_rec_file(const char *id, const char *media, char out[DR_STICK_ID_HEX + 13])
{
	if (!out)
		return -EINVAL;
	out[0] = '\0';
	const char *ext = !media ? NULL
			  : !strcmp(media, "audio") ? ".opus.sealed"
			  : !strcmp(media, "video") ? ".mkv.sealed"
						    : NULL;
	if (!ext || !dr_stick_hex_ok(id, DR_STICK_ID_HEX))
		return -EINVAL;
	snprintf(out, DR_STICK_ID_HEX + 13, "%s%s", id, ext);
	return 0;
}

/* One recording of a manifest of the given version (2: sound only). */
static int parse_mrec(struct json_object *e, int version, struct dr_manifest_rec *m)
{
	if (!json_object_is_type(e, json_type_object))
		return -EBADMSG;
	const char *id = get_str(e, "id", DR_STICK_ID_HEX);
	const char *file = get_str(e, "file", sizeof(m->file) - 1);
	const char *state = get_str(e, "state", 15);
	const char *media = get_str(e, "media", sizeof(m->media) - 1);
	const char *rc = get_str(e, "receipt", 4);
	const char *hash = get_str(e, "blake2b", 64);
	int64_t dur, size;
	if (!dr_stick_hex_ok(id, DR_STICK_ID_HEX) || !dr_stick_hex_ok(hash, 64) || !file || !state ||
	    !rc || !media || (version < 3 && strcmp(media, "audio")))
		return -EBADMSG;
	/* the file name is derived, never taken from the stick as a path */
	char want[sizeof(m->file)];
	if (dr_stick_rec_file(id, media, want) < 0 || strcmp(file, want) ||
	    (strcmp(state, "complete") && strcmp(state, "interrupted")))
		return -EBADMSG;
	if (rc[0] && !dr_stick_receipt_ok(rc))
		return -EBADMSG;
	if (get_int(e, "duration_ms", 0, INT64_MAX, &dur) || get_int(e, "size", 0, INT64_MAX, &size) ||
	    get_consent(e, "consent_staff", &m->consent_staff) ||
	    get_consent(e, "consent_share", &m->consent_share) || get_bool(e, "locked", &m->locked) ||
	    get_bool(e, "time_uncertain", &m->time_uncertain))
		return -EBADMSG;
	if (copy_str(m->start_utc, sizeof(m->start_utc), get_str(e, "start_utc", 39)) ||
	    copy_str(m->end_utc, sizeof(m->end_utc), get_str(e, "end_utc", 39)))
		return -EBADMSG;
	/* optional: the box's own clock reading of a time_uncertain recording */
	const char *bc = json_object_object_get_ex(e, "box_clock_utc", NULL)
				 ? get_str(e, "box_clock_utc", 39) : "";
	if (copy_str(m->box_clock_utc, sizeof(m->box_clock_utc), bc))
		return -EBADMSG;
	memcpy(m->id, id, DR_STICK_ID_HEX + 1);
	memcpy(m->file, file, strlen(file) + 1);
	memcpy(m->state, state, strlen(state) + 1);
	memcpy(m->media, media, strlen(media) + 1);
	memcpy(m->receipt, rc, strlen(rc) + 1);
	memcpy(m->blake2b, hash, 65);
	m->duration_ms = (uint64_t)dur;
	m->size = (uint64_t)size;
	/* locked is what consent says, whatever the stick claims */
	if (m->locked != (m->consent_staff != 1))
		return -EBADMSG;
	return 0;
}

static const char *const manifest_outer_keys[] = {"format", "version", "device", "device_key",
							 "seq", "sealed", NULL};

/* The outer manifest into a new *out; o is returned for its sealed part. */
static struct json_object *manifest_outer(const char *buf, size_t len, struct dr_manifest **out,
					  char *err, size_t errlen)
{
	static const char what[] = "manifest";
	*out = NULL;
	struct json_object *o = parse_object(buf, len, DR_STICK_MANIFEST_MAX, what, err, errlen);
	if (!o)
		return NULL;
	struct dr_manifest *m = calloc(1, sizeof(*m));
	int64_t version = 0;
	int r = m ? check_header_range(o, "diaryroom-manifest", DR_STICK_MANIFEST_VERSION_MIN,
				       DR_STICK_MANIFEST_VERSION, what,
				       "written by a box with older software (its recordings are "
				       "not sealed): update the box's software, then export again",
				       "written by a box with newer software: update diaryroom-admin",
				       &version, err, errlen)
		  : -ENOMEM;
	const char *dev = get_str(o, "device", DR_DEVICE_ID_HEX);
	const char *key = get_str(o, "device_key", 2 * DR_STICK_PK_LEN);
	const char *b64;
	size_t blen;
	if (r == 0 && (!dr_stick_hex_ok(dev, DR_DEVICE_ID_HEX) ||
		       !dr_stick_hex_ok(key, 2 * DR_STICK_PK_LEN) ||
		       get_int(o, "seq", 1, INT64_MAX, &m->seq) || get_sealed(o, &b64, &blen)))
		r = fail(err, errlen, "%s: bad device, device_key, seq or sealed part", what);
	if (r == 0 && strncmp(dev, key, DR_DEVICE_ID_HEX))
		r = fail(err, errlen, "%s: device id does not match its key", what);
	if (r == 0 && !only_keys(o, manifest_outer_keys))
		r = fail(err, errlen, "%s: unexpected member outside the sealed part", what);
	if (r < 0) {
		dr_manifest_free(m);
		json_object_put(o);
		return NULL;
	}
	memcpy(m->device, dev, DR_DEVICE_ID_HEX + 1);
	memcpy(m->device_key, key, 2 * DR_STICK_PK_LEN + 1);
	m->version = (int)version;
	*out = m;
	return o;
}

int dr_manifest_parse_outer(const char *buf, size_t len, struct dr_manifest **out, char *err,
			    size_t errlen)
{
	if (!out)
		return -EINVAL;
	struct json_object *o = manifest_outer(buf, len, out, err, errlen);
	json_object_put(o);
	return o ? 0 : -EBADMSG;
}

int dr_manifest_open(const char *buf, size_t len, const uint8_t org_pk[DR_STICK_PK_LEN],
		     const uint8_t org_sk[DR_STICK_SK_LEN], struct dr_manifest **out, char *err,
		     size_t errlen)
{
	if (!out || !org_pk || !org_sk)
		return -EINVAL;
	struct dr_manifest *m;
	struct json_object *o = manifest_outer(buf, len, &m, err, errlen);
	*out = NULL;
	if (!o)
		return -EBADMSG;
	const char *b64 = NULL;
	size_t blen = 0;
	char *plain = NULL;
	size_t plen = 0;
	get_sealed(o, &b64, &blen);
	int r = dr_stick_unseal(b64, blen, DR_STICK_MANIFEST_MAX, org_pk, org_sk, &plain, &plen);
	json_object_put(o);
	if (r == -EBADMSG)
		fail(err, errlen, "manifest: its sealed part does not open with this organisation's "
				  "key (sealed for another organisation, or altered)");
	if (r == 0)
		r = dr_manifest_parse_contents(plain, plen, m, err, errlen);
	wipe_free(plain, plen);
	if (r < 0) {
		dr_manifest_free(m);
		return r;
	}
	*out = m;
	return 0;
}

static int rec_id_cmp(const void *a, const void *b)
{
	const struct dr_manifest_rec *const *x = a, *const *y = b;
	return strcmp((*x)->id, (*y)->id);
}

int dr_manifest_parse_contents(const char *buf, size_t len, struct dr_manifest *m, char *err,
			       size_t errlen)
{
	static const char what[] = "manifest (sealed part)";
	if (!m || m->opened)
		return -EINVAL;
	struct json_object *o = parse_object(buf, len, DR_STICK_MANIFEST_MAX, what, err, errlen);
	if (!o)
		return -EBADMSG;
	/* the sealed part is of the outer file's version (a struct not made by
	 * the outer parser: any this program reads) */
	int64_t v = 0;
	int r = m->version
			? check_header(o, "diaryroom-manifest-contents", m->version, what, err, errlen)
			: check_header_range(o, "diaryroom-manifest-contents",
					     DR_STICK_MANIFEST_VERSION_MIN, DR_STICK_MANIFEST_VERSION,
					     what, "made by an older box: update it",
					     "update this program", &v, err, errlen);
	if (r == 0 && !m->version)
		m->version = (int)v;
	const char *dev = get_str(o, "device", DR_DEVICE_ID_HEX);
	const char *stick = get_str(o, "stick_id", DR_STICK_ID_HEX);
	const char *created = get_str(o, "created_utc", 39);
	int64_t seq = 0;
	if (r == 0 && (!dr_stick_hex_ok(dev, DR_DEVICE_ID_HEX) ||
		       !dr_stick_hex_ok(stick, DR_STICK_ID_HEX) || !created ||
		       get_int(o, "seq", 1, INT64_MAX, &seq) ||
		       get_bool(o, "complete", &m->complete)))
		r = fail(err, errlen, "%s: bad device, stick_id, created_utc, seq or complete", what);
	if (r == 0 && (strcmp(dev, m->device) || seq != m->seq))
		r = fail(err, errlen, "%s: its device or seq is not the outer file's", what);
	if (r == 0) {
		memcpy(m->stick_id, stick, DR_STICK_ID_HEX + 1);
		snprintf(m->created_utc, sizeof(m->created_utc), "%s", created);
	}
	struct json_object *a = NULL;
	if (r == 0 && !(a = get_array(o, "recordings", &m->n)))
		r = fail(err, errlen, "%s: bad recordings list", what);
	if (r == 0 && m->n && !(m->recs = calloc(m->n, sizeof(*m->recs))))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < m->n; i++)
		if (parse_mrec(json_object_array_get_idx(a, i), m->version, &m->recs[i]) < 0)
			r = fail(err, errlen, "%s: bad recording entry %zu", what, i);
	/* no id twice, however many there are: sorted, each against the next */
	const struct dr_manifest_rec **by_id =
		r == 0 && m->n > 1 ? malloc(m->n * sizeof(*by_id)) : NULL;
	if (r == 0 && m->n > 1 && !by_id)
		r = -ENOMEM;
	for (size_t i = 0; by_id && i < m->n; i++)
		by_id[i] = &m->recs[i];
	if (by_id)
		qsort(by_id, m->n, sizeof(*by_id), rec_id_cmp);
	for (size_t i = 1; by_id && r == 0 && i < m->n; i++)
		if (!strcmp(by_id[i - 1]->id, by_id[i]->id))
			r = fail(err, errlen, "%s: recording %s listed twice", what, by_id[i]->id);
	free(by_id);
	json_object_put(o);
	if (r < 0) {
		free(m->recs);
		m->recs = NULL;
		m->n = 0;
		return r;
	}
	m->opened = true;
	return 0;
}
