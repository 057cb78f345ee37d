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
#include "export/stickfmt_priv.h"

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

int dr_token_parse(const char *buf, size_t len, struct dr_token *t, char *err, size_t errlen)
{
	static const char what[] = "staff token";
	if (!t)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	struct json_object *o = dr_sf_parse_object(buf, len, DR_STICK_TOKEN_MAX, what, err, errlen);
	if (!o)
		return -EBADMSG;
	int r = dr_sf_check_header(o, "diaryroom-token", DR_STICK_TOKEN_VERSION, what, err, errlen);
	const char *id = dr_sf_get_str(o, "stick_id", DR_STICK_ID_HEX);
	const char *name = dr_sf_get_str(o, "name", DR_STICK_NAME_MAX);
	if (r == 0 && (!dr_stick_hex_ok(id, DR_STICK_ID_HEX) || dr_sf_copy_str(t->stick_id, sizeof(t->stick_id), id)))
		r = dr_sf_fail(err, errlen, "%s: bad stick_id", what);
	if (r == 0 && (!name || !dr_sf_name_ok(name) || dr_sf_copy_str(t->name, sizeof(t->name), name)))
		r = dr_sf_fail(err, errlen, "%s: bad name", what);
	if (r == 0 && (dr_sf_get_time(o, "issued_utc", &t->issued) || dr_sf_get_time(o, "expires_utc", &t->expires)))
		r = dr_sf_fail(err, errlen, "%s: bad issued_utc or expires_utc", what);
	if (r == 0 && t->expires <= t->issued)
		r = dr_sf_fail(err, errlen, "%s: expires before it was issued", what);
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
	struct json_object *o = dr_sf_parse_object(buf, len, DR_STICK_REVOKED_MAX, what, err, errlen);
	if (!o)
		return -EBADMSG;
	struct dr_revocations *rv = calloc(1, sizeof(*rv));
	int r = rv ? dr_sf_check_header(o, "diaryroom-revocations", DR_STICK_REVOKED_VERSION, what, err, errlen) : -ENOMEM;
	if (r == 0 && (dr_sf_get_int(o, "serial", 1, INT64_MAX, &rv->serial) ||
		       dr_sf_get_time(o, "issued_utc", &rv->issued)))
		r = dr_sf_fail(err, errlen, "%s: bad serial or issued_utc", what);
	struct json_object *a = NULL;
	if (r == 0 && !(a = dr_sf_get_array(o, "revoked", &rv->n)))
		r = dr_sf_fail(err, errlen, "%s: bad revoked list", what);
	if (r == 0 && rv->n && !(rv->ids = calloc(rv->n, sizeof(*rv->ids))))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < rv->n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		const char *id = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
		if (!dr_stick_hex_ok(id, DR_STICK_ID_HEX))
			r = dr_sf_fail(err, errlen, "%s: bad stick id at %zu", what, i);
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
