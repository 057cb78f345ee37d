/* SPDX-License-Identifier: MIT */
/* org.key's parser: see orgkey.h. */
#include "orgkey.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <json-c/json.h>

static int get_hex(struct json_object *o, const char *key, uint8_t *b, size_t n)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return -EBADMSG;
	const char *s = json_object_get_string(v);
	size_t got = 0;
	if (strlen(s) != 2 * n || sodium_hex2bin(b, n, s, strlen(s), NULL, &got, NULL) || got != n)
		return -EBADMSG;
	return 0;
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

int adm_orgkey_parse(const char *text, size_t len, struct adm_orgkey *k)
{
	memset(k, 0, sizeof(*k));
	if (len > 65536)
		return -EBADMSG;
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_object *j = json_tokener_parse_ex(tok, text, (int)len);
	bool whole = j && json_tokener_get_error(tok) == json_tokener_success;
	json_tokener_free(tok);
	int64_t ops = 0, mem = 0;
	int r = whole && json_object_is_type(j, json_type_object) ? 0 : -EBADMSG;
	if (r == 0 &&
	    (get_hex(j, "salt", k->salt, sizeof(k->salt)) ||
	     get_hex(j, "nonce", k->nonce, sizeof(k->nonce)) ||
	     get_hex(j, "sealed_secret_key", k->box, sizeof(k->box)) ||
	     get_hex(j, "public_key", k->pk, sizeof(k->pk)) ||
	     get_int(j, "opslimit", crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_OPSLIMIT_SENSITIVE,
		     &ops) ||
	     get_int(j, "memlimit", crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_MEMLIMIT_SENSITIVE,
		     &mem)))
		r = -EBADMSG;
	json_object_put(j);
	if (r < 0) {
		memset(k, 0, sizeof(*k));
		return r;
	}
	k->ops = (unsigned long long)ops;
	k->mem = (size_t)mem;
	return 0;
}
