/* SPDX-License-Identifier: MIT */
/*
 * The receipt written back to the stick: only what the committed catalogue
 * holds and re-hashes right.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "admin.h"
#include "archive.h"
#include "archive_index.h"
#include "archive_keep.h"
#include "audit.h"
#include "collect_priv.h"
#include "media/recover.h"
#include "seal/seal.h"


/* ---- the receipt ---- */

/* The receipt: its contents sealed to the box (box_pk: its device key),
 * the outer file signed by the organisation. */
int write_receipt(int top, const struct adm_org *org, const uint8_t box_pk[32],
			 const char *dir, const struct dr_manifest *m, const char *manifest_hash,
			 struct json_object *idx, int64_t now, unsigned *held)
{
	struct json_object *j = json_object_new_object();
	struct json_object *ah = json_object_new_array(), *aw = json_object_new_array(),
			   *ac = json_object_new_array();
	char t[32];
	dr_stick_time_format(now, t);
	json_object_object_add(j, "format", json_object_new_string("diaryroom-receipt-contents"));
	json_object_object_add(j, "version", json_object_new_int(DR_STICK_RECEIPT_VERSION));
	json_object_object_add(j, "device", json_object_new_string(m->device));
	json_object_object_add(j, "manifest_seq", json_object_new_int64(m->seq));
	json_object_object_add(j, "manifest_blake2b", json_object_new_string(manifest_hash));
	json_object_object_add(j, "issued_utc", json_object_new_string(t));
	*held = 0;
	struct json_object *recs = member(idx, "recordings", json_type_object);
	if (recs) {
		json_object_object_foreach(recs, id, r)
		{
			if (strcmp(str_of(r, "status"), "archived"))
				continue;
			/* held only if the archive copy is there and right, now
			 * (a sealed copy: opened with the organisation's key) */
			const char *hex = str_of(r, "blake2b");
			if (row_v2(r) ? !form_ok(org, dir, m->device, id, r, hex, 0, true)
				      : !form_ok(org, dir, m->device, id, r, hex, 0, false) &&
						!form_ok(org, dir, m->device, id, r, hex, 0, true))
				continue;
			struct json_object *e = json_object_new_object();
			json_object_object_add(e, "id", json_object_new_string(id));
			json_object_object_add(e, "blake2b", json_object_new_string(hex));
			json_object_object_add(e, "receipt", json_object_new_string(str_of(r, "receipt")));
			json_object_array_add(ah, e);
			(*held)++;
		}
	}
	struct json_object *ch = member(idx, "changes", json_type_array);
	size_t n = ch ? json_object_array_length(ch) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *c = json_object_array_get_idx(ch, i);
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "receipt", json_object_new_string(str_of(c, "receipt")));
		json_object_object_add(e, "entered_utc", json_object_new_string(str_of(c, "entered_utc")));
		if (!strcmp(str_of(c, "kind"), "withdraw")) {
			json_object_array_add(aw, e);
		} else {
			json_object_object_add(e, "staff", json_object_new_string(str_of(c, "staff")));
			json_object_object_add(e, "share", json_object_new_string(str_of(c, "share")));
			json_object_array_add(ac, e);
		}
	}
	json_object_object_add(j, "held", ah);
	json_object_object_add(j, "withdraw", aw);
	json_object_object_add(j, "consent", ac);
	const char *inner = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE);
	char *b64 = NULL;
	int r = dr_stick_seal(inner, strlen(inner), box_pk, &b64);
	json_object_put(j);
	if (r < 0) {
		fprintf(stderr, "collect: cannot seal the receipt: %s\n", strerror(-r));
		return r;
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "format", json_object_new_string("diaryroom-receipt"));
	json_object_object_add(o, "version", json_object_new_int(DR_STICK_RECEIPT_VERSION));
	json_object_object_add(o, "device", json_object_new_string(m->device));
	json_object_object_add(o, "sealed", json_object_new_string(b64));
	free(b64);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	int rfd;
	char e[384] = "";
	r = dr_stick_subdir(top, "receipt", true, &rfd, e, sizeof(e));
	if (r < 0)
		fprintf(stderr, "collect: %s\n", e);
	else {
		r = adm_write_signed(rfd, m->device, text, org->sk);
		/* verified: read back from the stick, signed, the bytes written */
		char *back = NULL;
		size_t blen = 0;
		if (r == 0 &&
		    (dr_stick_read_signed(rfd, m->device, DR_STICK_RECEIPT_MAX, org->pk, &back, &blen,
					  e, sizeof(e)) < 0 ||
		     blen != strlen(text) || memcmp(back, text, blen))) {
			fprintf(stderr, "collect: box %s: the receipt did not read back right from "
					"the stick (%s): run collect again\n",
				m->device, e[0] ? e : "its bytes differ");
			r = -EIO;
		}
		free(back);
		close(rfd);
	}
	json_object_put(o);
	return r;
}
