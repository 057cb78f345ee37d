/* SPDX-License-Identifier: MIT */
/*
 * The export's manifest (docs/stick-format.md, "manifest.json"): the outer
 * part (what routes and verifies it) and the sealed part (everything about
 * the residents, sealed to the organisation), signed with the device key,
 * written atomically (signature first), read back and checked, then the
 * export recorded as finished in the catalogue. Called by run.c on the
 * event loop's thread once every file has been verified.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "export/export_priv.h"

struct manifest_in {
	struct dr_export *x;
	struct dr_stick *k;
	const struct dr_store_export_rec *recs;
	const bool *ok;
	size_t n;
	const struct dr_export_progress *p;
};

static struct json_object *manifest_rec(const struct dr_store_export_rec *r)
{
	struct json_object *o = json_object_new_object();
	char file[DR_STICK_ID_HEX + 13];
	const char *media = dr_media_name(r->rec.media);
	dr_stick_rec_file(r->rec.id, media, file);
	bool locked = r->rec.consent_staff != DR_CONSENT_YES;
	json_object_object_add(o, "id", json_object_new_string(r->rec.id));
	json_object_object_add(o, "file", json_object_new_string(file));
	json_object_object_add(o, "media", json_object_new_string(media));
	json_object_object_add(o, "state", json_object_new_string(
						   r->rec.state == DR_REC_INTERRUPTED ? "interrupted" : "complete"));
	json_object_object_add(o, "receipt", json_object_new_string(r->rec.receipt));
	json_object_object_add(o, "start_utc", json_object_new_string(r->rec.start_utc));
	json_object_object_add(o, "end_utc", json_object_new_string(r->end_utc));
	json_object_object_add(o, "duration_ms", json_object_new_int64((int64_t)r->rec.duration_ms));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)r->rec.size));
	json_object_object_add(o, "blake2b", json_object_new_string(r->rec.blake2b));
	json_object_object_add(o, "consent_staff",
			       json_object_new_string(dr_stick_consent_word(r->rec.consent_staff)));
	json_object_object_add(o, "consent_share",
			       json_object_new_string(dr_stick_consent_word(r->rec.consent_share)));
	json_object_object_add(o, "locked", json_object_new_boolean(locked));
	json_object_object_add(o, "time_uncertain", json_object_new_boolean(r->time_uncertain));
	if (r->time_uncertain)
		json_object_object_add(o, "box_clock_utc",
				       json_object_new_string(r->created_utc_box));
	return o;
}

/* The manifest's bytes: the outer part (what routes and verifies it) and
 * the sealed part (everything about the residents), sealed to the
 * organisation. *out is malloc'd, ends with a newline. */
static int manifest_text(const struct manifest_in *mi, char **out, size_t *outlen, unsigned *count)
{
	struct dr_export *x = mi->x;
	char hexkey[2 * DR_STICK_PK_LEN + 1];
	sodium_bin2hex(hexkey, sizeof(hexkey), x->device_pk, sizeof(x->device_pk));
	struct json_object *in = json_object_new_object();
	struct json_object *a = json_object_new_array();
	struct json_object *m = json_object_new_object();
	char *b64 = NULL;
	int r = in && a && m ? 0 : -ENOMEM;
	if (r < 0) {
		json_object_put(a);
		goto out;
	}
	char created[32];
	dr_stick_time_format((int64_t)time(NULL), created);
	json_object_object_add(in, "format", json_object_new_string("diaryroom-manifest-contents"));
	json_object_object_add(in, "version", json_object_new_int(DR_STICK_MANIFEST_VERSION));
	json_object_object_add(in, "device", json_object_new_string(x->device_id));
	json_object_object_add(in, "seq", json_object_new_int64(mi->p->seq));
	json_object_object_add(in, "stick_id", json_object_new_string(mi->k->token.stick_id));
	json_object_object_add(in, "created_utc", json_object_new_string(created));
	json_object_object_add(in, "complete", json_object_new_boolean(!mi->p->stick_full &&
									  !mi->p->files_failed));
	*count = 0;
	for (size_t i = 0; i < mi->n; i++)
		if (mi->ok[i]) {
			json_object_array_add(a, manifest_rec(&mi->recs[i]));
			(*count)++;
		}
	json_object_object_add(in, "recordings", a);
	const char *inner = json_object_to_json_string_ext(in, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE);
	if ((r = dr_stick_seal(inner, strlen(inner), x->org_pk, &b64)) < 0)
		goto out;
	json_object_object_add(m, "format", json_object_new_string("diaryroom-manifest"));
	json_object_object_add(m, "version", json_object_new_int(DR_STICK_MANIFEST_VERSION));
	json_object_object_add(m, "device", json_object_new_string(x->device_id));
	json_object_object_add(m, "device_key", json_object_new_string(hexkey));
	json_object_object_add(m, "seq", json_object_new_int64(mi->p->seq));
	json_object_object_add(m, "sealed", json_object_new_string(b64));
	const char *text = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text);
	char *body = malloc(len + 2);
	if (!body) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(body, text, len);
	body[len++] = '\n';
	*out = body;
	*outlen = len;
out:
	json_object_put(in);
	json_object_put(m);
	free(b64);
	return r;
}

int dr_export_write_manifest(struct dr_export *x, struct dr_stick *k, int devfd,
			     const struct dr_store_export_rec *recs, const bool *ok, size_t n,
			     const struct dr_export_progress *p, char *err, size_t errlen)
{
	const struct manifest_in in = {.x = x, .k = k, .recs = recs, .ok = ok, .n = n, .p = p};
	const struct manifest_in *mi = &in;
	char *body = NULL;
	size_t len = 0;
	unsigned count = 0;
	int r = manifest_text(mi, &body, &len, &count);
	uint8_t sig[DR_STICK_SIG_LEN], d[32];
	char mh[65], e[384];
	snprintf(e, sizeof(e), "%s", r < 0 ? strerror(-r) : "");
	if (r == 0) {
		dr_stick_sign((const uint8_t *)body, len, sig, x->device_sk);
		crypto_generichash(d, sizeof(d), (const uint8_t *)body, len, NULL, 0);
		sodium_bin2hex(mh, sizeof(mh), d, sizeof(d));
		/* the signature first: a cut between the two leaves a pair that
		 * does not verify, which the PC refuses as a whole */
		r = dr_stick_write_atomic(devfd, "manifest.sig", sig, sizeof(sig), e, sizeof(e));
		if (r == 0)
			r = dr_stick_write_atomic(devfd, "manifest.json", body, len, e, sizeof(e));
	}
	free(body);
	if (r < 0)
		return dr_export_fail(err, errlen, r, "export: %s", e);
	/* read it back: the manifest is what the archive trusts */
	char *back;
	size_t blen;
	r = dr_stick_read_signed(devfd, "manifest", DR_STICK_MANIFEST_MAX, x->device_pk, &back,
				 &blen, e, sizeof(e));
	if (r < 0)
		return dr_export_fail(err, errlen, r, "export: the manifest did not read back: %s", e);
	free(back);
	if ((r = dr_store_export_finish(x->store, mi->p->seq, mh, count, e, sizeof(e))) < 0)
		return dr_export_fail(err, errlen, r, "export: %s", e);
	return 0;
}

