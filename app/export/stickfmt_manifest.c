/* SPDX-License-Identifier: MIT */
/*
 * The export's manifest: its outer (signed) part and its sealed contents. See stickfmt.h.
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
	const char *id = dr_sf_get_str(e, "id", DR_STICK_ID_HEX);
	const char *file = dr_sf_get_str(e, "file", sizeof(m->file) - 1);
	const char *state = dr_sf_get_str(e, "state", 15);
	const char *media = dr_sf_get_str(e, "media", sizeof(m->media) - 1);
	const char *rc = dr_sf_get_str(e, "receipt", 4);
	const char *hash = dr_sf_get_str(e, "blake2b", 64);
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
	if (dr_sf_get_int(e, "duration_ms", 0, INT64_MAX, &dur) || dr_sf_get_int(e, "size", 0, INT64_MAX, &size) ||
	    dr_sf_get_consent(e, "consent_staff", &m->consent_staff) ||
	    dr_sf_get_consent(e, "consent_share", &m->consent_share) || dr_sf_get_bool(e, "locked", &m->locked) ||
	    dr_sf_get_bool(e, "time_uncertain", &m->time_uncertain))
		return -EBADMSG;
	if (dr_sf_copy_str(m->start_utc, sizeof(m->start_utc), dr_sf_get_str(e, "start_utc", 39)) ||
	    dr_sf_copy_str(m->end_utc, sizeof(m->end_utc), dr_sf_get_str(e, "end_utc", 39)))
		return -EBADMSG;
	/* optional: the box's own clock reading of a time_uncertain recording */
	const char *bc = json_object_object_get_ex(e, "box_clock_utc", NULL)
				 ? dr_sf_get_str(e, "box_clock_utc", 39) : "";
	if (dr_sf_copy_str(m->box_clock_utc, sizeof(m->box_clock_utc), bc))
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
	struct json_object *o = dr_sf_parse_object(buf, len, DR_STICK_MANIFEST_MAX, what, err, errlen);
	if (!o)
		return NULL;
	struct dr_manifest *m = calloc(1, sizeof(*m));
	int64_t version = 0;
	int r = m ? dr_sf_check_header_range(o, "diaryroom-manifest", DR_STICK_MANIFEST_VERSION_MIN,
				       DR_STICK_MANIFEST_VERSION, what,
				       "written by a box with older software (its recordings are "
				       "not sealed): update the box's software, then export again",
				       "written by a box with newer software: update diaryroom-admin",
				       &version, err, errlen)
		  : -ENOMEM;
	const char *dev = dr_sf_get_str(o, "device", DR_DEVICE_ID_HEX);
	const char *key = dr_sf_get_str(o, "device_key", 2 * DR_STICK_PK_LEN);
	const char *b64;
	size_t blen;
	if (r == 0 && (!dr_stick_hex_ok(dev, DR_DEVICE_ID_HEX) ||
		       !dr_stick_hex_ok(key, 2 * DR_STICK_PK_LEN) ||
		       dr_sf_get_int(o, "seq", 1, INT64_MAX, &m->seq) || dr_sf_get_sealed(o, &b64, &blen)))
		r = dr_sf_fail(err, errlen, "%s: bad device, device_key, seq or sealed part", what);
	if (r == 0 && strncmp(dev, key, DR_DEVICE_ID_HEX))
		r = dr_sf_fail(err, errlen, "%s: device id does not match its key", what);
	if (r == 0 && !dr_sf_only_keys(o, manifest_outer_keys))
		r = dr_sf_fail(err, errlen, "%s: unexpected member outside the sealed part", what);
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
	dr_sf_get_sealed(o, &b64, &blen);
	int r = dr_stick_unseal(b64, blen, DR_STICK_MANIFEST_MAX, org_pk, org_sk, &plain, &plen);
	json_object_put(o);
	if (r == -EBADMSG)
		dr_sf_fail(err, errlen, "manifest: its sealed part does not open with this organisation's "
				  "key (sealed for another organisation, or altered)");
	if (r == 0)
		r = dr_manifest_parse_contents(plain, plen, m, err, errlen);
	dr_sf_wipe_free(plain, plen);
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
	struct json_object *o = dr_sf_parse_object(buf, len, DR_STICK_MANIFEST_MAX, what, err, errlen);
	if (!o)
		return -EBADMSG;
	/* the sealed part is of the outer file's version (a struct not made by
	 * the outer parser: any this program reads) */
	int64_t v = 0;
	int r = m->version
			? dr_sf_check_header(o, "diaryroom-manifest-contents", m->version, what, err, errlen)
			: dr_sf_check_header_range(o, "diaryroom-manifest-contents",
					     DR_STICK_MANIFEST_VERSION_MIN, DR_STICK_MANIFEST_VERSION,
					     what, "made by an older box: update it",
					     "update this program", &v, err, errlen);
	if (r == 0 && !m->version)
		m->version = (int)v;
	const char *dev = dr_sf_get_str(o, "device", DR_DEVICE_ID_HEX);
	const char *stick = dr_sf_get_str(o, "stick_id", DR_STICK_ID_HEX);
	const char *created = dr_sf_get_str(o, "created_utc", 39);
	int64_t seq = 0;
	if (r == 0 && (!dr_stick_hex_ok(dev, DR_DEVICE_ID_HEX) ||
		       !dr_stick_hex_ok(stick, DR_STICK_ID_HEX) || !created ||
		       dr_sf_get_int(o, "seq", 1, INT64_MAX, &seq) ||
		       dr_sf_get_bool(o, "complete", &m->complete)))
		r = dr_sf_fail(err, errlen, "%s: bad device, stick_id, created_utc, seq or complete", what);
	if (r == 0 && (strcmp(dev, m->device) || seq != m->seq))
		r = dr_sf_fail(err, errlen, "%s: its device or seq is not the outer file's", what);
	if (r == 0) {
		memcpy(m->stick_id, stick, DR_STICK_ID_HEX + 1);
		snprintf(m->created_utc, sizeof(m->created_utc), "%s", created);
	}
	struct json_object *a = NULL;
	if (r == 0 && !(a = dr_sf_get_array(o, "recordings", &m->n)))
		r = dr_sf_fail(err, errlen, "%s: bad recordings list", what);
	if (r == 0 && m->n && !(m->recs = calloc(m->n, sizeof(*m->recs))))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < m->n; i++)
		if (parse_mrec(json_object_array_get_idx(a, i), m->version, &m->recs[i]) < 0)
			r = dr_sf_fail(err, errlen, "%s: bad recording entry %zu", what, i);
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
			r = dr_sf_fail(err, errlen, "%s: recording %s listed twice", what, by_id[i]->id);
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
