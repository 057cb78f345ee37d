/* SPDX-License-Identifier: MIT */
/*
 * The receipt the box writes for the PC, and the consent changes it carries back. See stickfmt.h.
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
	const char *id = dr_sf_get_str(e, "id", DR_STICK_ID_HEX);
	const char *hash = dr_sf_get_str(e, "blake2b", 64);
	const char *rc = dr_sf_get_str(e, "receipt", 4);
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
	const char *rc = dr_sf_get_str(e, "receipt", 4);
	if (!dr_stick_receipt_ok(rc) || dr_sf_get_consent(e, "staff", &c->staff) ||
	    dr_sf_get_consent(e, "share", &c->share))
		return -EBADMSG;
	if (c->share == 1 && c->staff != 1)
		return -EBADMSG; /* sharing needs consent to staff listening */
	int64_t t;
	if (dr_sf_get_time(e, "entered_utc", &t))
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
	struct json_object *o = dr_sf_parse_object(buf, len, DR_STICK_RECEIPT_MAX, what, err, errlen);
	if (!o)
		return -EBADMSG;
	struct dr_receipt *rc = calloc(1, sizeof(*rc));
	int r = rc ? dr_sf_check_header(o, "diaryroom-receipt-contents", DR_STICK_RECEIPT_VERSION, what, err, errlen) : -ENOMEM;
	const char *dev = dr_sf_get_str(o, "device", DR_DEVICE_ID_HEX);
	const char *mh = dr_sf_get_str(o, "manifest_blake2b", 64);
	if (r == 0 && (!dr_stick_hex_ok(dev, DR_DEVICE_ID_HEX) || !dr_stick_hex_ok(mh, 64) ||
		       dr_sf_get_int(o, "manifest_seq", 1, INT64_MAX, &rc->manifest_seq) ||
		       dr_sf_get_time(o, "issued_utc", &rc->issued)))
		r = dr_sf_fail(err, errlen, "%s: bad device, manifest_seq, manifest_blake2b or issued_utc",
			 what);
	if (r == 0) {
		memcpy(rc->device, dev, DR_DEVICE_ID_HEX + 1);
		memcpy(rc->manifest_blake2b, mh, 65);
	}
	struct json_object *ah = NULL, *aw = NULL, *ac = NULL;
	if (r == 0 && (!(ah = dr_sf_get_array(o, "held", &rc->n_held)) ||
		       !(aw = dr_sf_get_array(o, "withdraw", &rc->n_withdraw)) ||
		       !(ac = dr_sf_get_array(o, "consent", &rc->n_consent))))
		r = dr_sf_fail(err, errlen, "%s: bad held, withdraw or consent list", what);
	if (r == 0 && ((rc->n_held && !(rc->held = calloc(rc->n_held, sizeof(*rc->held)))) ||
		       (rc->n_withdraw && !(rc->withdraw = calloc(rc->n_withdraw, sizeof(*rc->withdraw)))) ||
		       (rc->n_consent && !(rc->consent = calloc(rc->n_consent, sizeof(*rc->consent))))))
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < rc->n_held; i++)
		if (parse_held(json_object_array_get_idx(ah, i), &rc->held[i]) < 0)
			r = dr_sf_fail(err, errlen, "%s: bad held entry %zu", what, i);
	for (size_t i = 0; r == 0 && i < rc->n_withdraw; i++) {
		struct json_object *e = json_object_array_get_idx(aw, i);
		const char *s = json_object_is_type(e, json_type_object) ? dr_sf_get_str(e, "receipt", 4) : NULL;
		int64_t t;
		if (!dr_stick_receipt_ok(s) || dr_sf_get_time(e, "entered_utc", &t))
			r = dr_sf_fail(err, errlen, "%s: bad withdrawal %zu", what, i);
		else {
			memcpy(rc->withdraw[i].receipt, s, 5);
			dr_stick_time_format(t, rc->withdraw[i].entered_utc);
		}
	}
	for (size_t i = 0; r == 0 && i < rc->n_consent; i++)
		if (parse_consent_change(json_object_array_get_idx(ac, i), &rc->consent[i]) < 0)
			r = dr_sf_fail(err, errlen, "%s: bad consent change %zu", what, i);
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
	struct json_object *o = dr_sf_parse_object(buf, len, DR_STICK_RECEIPT_MAX, what, err, errlen);
	if (!o)
		return NULL;
	int r = dr_sf_check_header_v(o, "diaryroom-receipt", DR_STICK_RECEIPT_VERSION, what,
			       "made by an older diaryroom-admin: update diaryroom-admin on the "
			       "office PC",
			       "made by a newer diaryroom-admin: update this box's software", err,
			       errlen);
	const char *dev = dr_sf_get_str(o, "device", DR_DEVICE_ID_HEX);
	if (r == 0 && !dr_stick_hex_ok(dev, DR_DEVICE_ID_HEX))
		r = dr_sf_fail(err, errlen, "%s: bad device", what);
	if (r == 0 && !dr_sf_only_keys(o, receipt_outer_keys))
		r = dr_sf_fail(err, errlen, "%s: unexpected member outside the sealed part", what);
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
	if (r == 0 && dr_sf_get_sealed(o, &b64, &blen) < 0)
		r = dr_sf_fail(err, errlen, "receipt: no sealed part");
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
	} else if (dr_sf_get_sealed(o, &b64, &blen) < 0) {
		r = dr_sf_fail(err, errlen, "receipt: no sealed part");
	} else if ((r = dr_stick_unseal(b64, blen, DR_STICK_RECEIPT_MAX, device_pk, device_sk,
					&plain, &plen)) < 0) {
		if (r == -EBADMSG)
			dr_sf_fail(err, errlen, "receipt: its sealed part does not open with this box's key "
					  "(sealed for another box, or altered)");
	}
	json_object_put(o);
	if (r < 0)
		return r;
	r = dr_receipt_parse_contents(plain, plen, out, err, errlen);
	dr_sf_wipe_free(plain, plen);
	if (r == 0 && strcmp((*out)->device, dev)) {
		dr_receipt_free(*out);
		*out = NULL;
		r = dr_sf_fail(err, errlen, "receipt: its sealed part names another box than %s", dev);
	}
	return r;
}
