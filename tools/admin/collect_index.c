/* SPDX-License-Identifier: MIT */
/*
 * One box of the archive as collect and unlock work on it (loaded from and
 * committed to the catalogue), and the changes staff enter.
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


/* ---- the archive's index of one box ---- */

/* The box's recordings and changes as the committed catalogue holds them
 * (NULL, reported, if it cannot be read: the caller stops). */
struct json_object *index_load(const char *dir, const char *dev)
{
	(void)dir;
	return adm_index_load(cat, dev);
}


int box_add_cb(void *ctx, const char *box)
{
	struct boxes *b = ctx;
	void *nv = realloc(b->v, (b->n + 1) * sizeof(*b->v));
	if (!nv)
		return -ENOMEM;
	b->v = nv;
	memcpy(b->v[b->n++], box, ADM_BOX_HEX + 1);
	return 0;
}

/* Every box the committed catalogue lists (free b->v). */
int cat_boxes(struct boxes *b)
{
	b->v = NULL;
	b->n = 0;
	int r = cat->ops->box_each(cat, box_add_cb, b);
	if (r < 0)
		fprintf(stderr, "archive: %s\n", cat->err);
	return r;
}

struct json_object *member(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key, json_type_string);
	return v ? json_object_get_string(v) : "";
}

/* Commits the box's working index to the catalogue (one transaction). */
int index_save(const char *dir, struct json_object *j)
{
	(void)dir;
	return adm_index_save(cat, audit, str_of(j, "device"), j, cat_now);
}

struct json_object *rec_json(const struct dr_manifest_rec *m, const char *status,
				    const char *collected)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "receipt", json_object_new_string(m->receipt));
	json_object_object_add(o, "state", json_object_new_string(m->state));
	json_object_object_add(o, "media", json_object_new_string(m->media));
	json_object_object_add(o, "start_utc", json_object_new_string(m->start_utc));
	json_object_object_add(o, "end_utc", json_object_new_string(m->end_utc));
	json_object_object_add(o, "duration_ms", json_object_new_int64((int64_t)m->duration_ms));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)m->size));
	json_object_object_add(o, "blake2b", json_object_new_string(m->blake2b));
	json_object_object_add(o, "consent_staff",
			       json_object_new_string(dr_stick_consent_word(m->consent_staff)));
	json_object_object_add(o, "consent_share",
			       json_object_new_string(dr_stick_consent_word(m->consent_share)));
	json_object_object_add(o, "locked", json_object_new_boolean(m->locked));
	json_object_object_add(o, "time_uncertain", json_object_new_boolean(m->time_uncertain));
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "collected_utc", json_object_new_string(collected));
	/* blake2b and size are of the box's sealed original */
	json_object_object_add(o, "sealed_original", json_object_new_boolean(true));
	return o;
}

/* A receipt number is unique only among what a box holds: after its rest
 * (docs/stick-format.md) the box may give it to a new recording. A change
 * staff entered (c) is for the recording that held the number when it was
 * entered: recording id (receipt, start_utc), if it started at or before the
 * change's entered_utc and no other recording of this box with that number
 * started after it and by then. A start that cannot be read counts as
 * "before" only if no other recording has the number. */
bool change_is_for(struct json_object *idx, struct json_object *c, const char *id,
			  const char *receipt, const char *start_utc)
{
	int64_t entered, start, other;
	if (strcmp(str_of(c, "receipt"), receipt) ||
	    dr_stick_time_parse(str_of(c, "entered_utc"), &entered) < 0)
		return false;
	bool known = dr_stick_time_parse(start_utc, &start) == 0;
	if (known && start > entered)
		return false; /* made after the change was entered */
	struct json_object *recs = member(idx, "recordings", json_type_object);
	if (!recs)
		return true;
	json_object_object_foreach(recs, oid, r)
	{
		if (!strcmp(oid, id) || strcmp(str_of(r, "receipt"), receipt))
			continue;
		if (!known)
			return false;
		if (dr_stick_time_parse(str_of(r, "start_utc"), &other) == 0 && other > start &&
		    other <= entered)
			return false; /* a later holder of the number had it by then */
	}
	return true;
}


/* Applies the recorded changes to the archive's own copies. */
void index_apply_changes(const char *dir, struct json_object *idx)
{
	struct json_object *recs = member(idx, "recordings", json_type_object);
	struct json_object *ch = member(idx, "changes", json_type_array);
	size_t n = ch ? json_object_array_length(ch) : 0;
	for (size_t i = 0; recs && i < n; i++) {
		struct json_object *c = json_object_array_get_idx(ch, i);
		const char *kind = str_of(c, "kind"), *rc = str_of(c, "receipt");
		json_object_object_foreach(recs, id, r)
		{
			if (!change_is_for(idx, c, id, str_of(r, "receipt"), str_of(r, "start_utc")) ||
			    !strcmp(str_of(r, "status"), "withdrawn"))
				continue;
			if (!strcmp(kind, "withdraw")) {
				/* every copy: playable (a video's browser copy), the
				 * sealed original, an opened one, and any half-made
				 * one; each removal is recorded */
				static const char *const kinds[] = {"playable", "sealed", "tmp-playable",
								    "tmp-sealed", "opened", "tmp-opened"};
				struct json_object *del = json_object_new_array();
				for (size_t k = 0; k < 6; k++) {
					char name[64], p[4300];
					if (adm_archive_file_name(name, sizeof(name), id, rec_media(r),
								  kinds[k]) < 0 ||
					    adm_fmt(p, sizeof(p), "%s/%s", dir, name) < 0)
						continue;
					if (unlink(p) == 0)
						json_object_array_add(del, json_object_new_string(name));
				}
				char any[4300];
				form_path(any, sizeof(any), dir, id, rec_media(r), true);
				adm_fsync_dir_of(any);
				json_object_object_add(r, "_deleted", del);
				json_object_object_add(r, "status", json_object_new_string("withdrawn"));
				fprintf(stderr, "collect: recording %s (receipt %s) withdrawn: deleted from "
						"the archive\n", id, rc);
			} else if (!strcmp(kind, "consent")) {
				const char *st = str_of(c, "staff"), *sh = str_of(c, "share");
				json_object_object_add(r, "consent_staff", json_object_new_string(st));
				json_object_object_add(r, "consent_share", json_object_new_string(sh));
				json_object_object_add(r, "locked",
						       json_object_new_boolean(strcmp(st, "yes") != 0));
			}
		}
	}
}

/* ---- changes entered by staff ---- */


int parse_changes(const char *path, struct change **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!path)
		return 0;
	char *b;
	size_t len;
	if (adm_read_file(path, 1u << 20, &b, &len) < 0) {
		fprintf(stderr, "collect: cannot read %s\n", path);
		return -ENOENT;
	}
	int r = 0, line = 0;
	char *save = NULL;
	for (char *l = strtok_r(b, "\n", &save); l && r == 0; l = strtok_r(NULL, "\n", &save)) {
		line++;
		while (*l == ' ' || *l == '\t')
			l++;
		if (!*l || *l == '#')
			continue;
		struct change c = {0};
		char w[5][40] = {{0}};
		int k = sscanf(l, "%39s %39s %39s %39s %39s", w[0], w[1], w[2], w[3], w[4]);
		bool ok = k >= 2 && dr_stick_receipt_ok(w[1]);
		const char *dev = NULL;
		if (ok && !strcmp(w[0], "withdraw")) {
			adm_fmt(c.kind, sizeof(c.kind), "withdraw");
			dev = k >= 3 ? w[2] : NULL;
			ok = k <= 3;
		} else if (ok && !strcmp(w[0], "consent") && k >= 4 && !strncmp(w[2], "staff=", 6) &&
			   !strncmp(w[3], "share=", 6)) {
			int st, sh;
			ok = dr_stick_consent_parse(w[2] + 6, &st) == 0 &&
			     dr_stick_consent_parse(w[3] + 6, &sh) == 0 && !(sh == 1 && st != 1) && k <= 5;
			adm_fmt(c.kind, sizeof(c.kind), "consent");
			adm_fmt(c.staff, sizeof(c.staff), "%s", w[2] + 6);
			adm_fmt(c.share, sizeof(c.share), "%s", w[3] + 6);
			dev = k >= 5 ? w[4] : NULL;
		} else {
			ok = false;
		}
		if (ok && dev && !dr_stick_hex_ok(dev, DR_DEVICE_ID_HEX))
			ok = false;
		if (!ok) {
			fprintf(stderr, "collect: %s:%d: expected 'withdraw NNNN [box]' or 'consent NNNN "
					"staff=yes|no share=yes|no [box]' (sharing needs staff=yes)\n",
				path, line);
			r = -EINVAL;
			break;
		}
		memcpy(c.receipt, w[1], 5);
		adm_fmt(c.device, sizeof(c.device), "%s", dev ? dev : "");
		struct change *nc = realloc(*out, (*n + 1) * sizeof(*nc));
		if (!nc) {
			r = -ENOMEM;
			break;
		}
		*out = nc;
		(*out)[(*n)++] = c;
	}
	free(b);
	if (r < 0) {
		/* a refused line refuses the whole file: nothing accepted is kept */
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return r;
}

/* Which box holds this receipt number: the change's own, else the one
 * whose archive index has it, else the only box on the stick. */
int resolve_device(const struct change *c, const char *archive, char (*devs)[DR_DEVICE_ID_HEX + 1],
			  size_t ndev, char out[DR_DEVICE_ID_HEX + 1])
{
	if (c->device[0]) {
		memcpy(out, c->device, DR_DEVICE_ID_HEX + 1);
		return 0;
	}
	int found = 0;
	struct boxes bx;
	(void)archive;
	if (cat_boxes(&bx) < 0)
		return -EBADMSG;
	for (size_t bi = 0; bi < bx.n; bi++) {
		const char *name = bx.v[bi];
		struct json_object *idx = index_load(NULL, name);
		if (!idx) {
			free(bx.v);
			return -EBADMSG;
		}
		struct json_object *recs = member(idx, "recordings", json_type_object);
		bool has = false;
		if (recs) {
			json_object_object_foreach(recs, id, r)
			{
				(void)id;
				has = has || !strcmp(str_of(r, "receipt"), c->receipt);
			}
		}
		json_object_put(idx);
		if (has) {
			found++;
			memcpy(out, name, DR_DEVICE_ID_HEX + 1);
		}
	}
	free(bx.v);
	if (found == 1)
		return 0;
	if (found == 0 && ndev == 1) {
		memcpy(out, devs[0], DR_DEVICE_ID_HEX + 1);
		return 0;
	}
	fprintf(stderr, "collect: receipt %s: %s; add the box's id to the line\n", c->receipt,
		found ? "more than one box has this number" : "no box known to have this number");
	return -EINVAL;
}

/* latest: compare with the latest change for this receipt number only (an
 * unlock must count even if the same answer was entered before a later
 * one); else with every change (a --changes file given again adds nothing). */
void index_add_change(struct json_object *idx, const struct change *c, int64_t now,
			     bool latest)
{
	struct json_object *ch = member(idx, "changes", json_type_array);
	if (!ch)
		return;
	size_t n = json_object_array_length(ch);
	for (size_t i = n; i-- > 0;) {
		struct json_object *e = json_object_array_get_idx(ch, i);
		if (latest && strcmp(str_of(e, "receipt"), c->receipt))
			continue;
		if (!strcmp(str_of(e, "kind"), c->kind) && !strcmp(str_of(e, "receipt"), c->receipt) &&
		    !strcmp(str_of(e, "staff"), c->staff) && !strcmp(str_of(e, "share"), c->share))
			return; /* entered before */
		if (latest)
			break;
	}
	char t[32];
	dr_stick_time_format(now, t);
	struct json_object *e = json_object_new_object();
	json_object_object_add(e, "kind", json_object_new_string(c->kind));
	json_object_object_add(e, "receipt", json_object_new_string(c->receipt));
	if (!strcmp(c->kind, "consent")) {
		json_object_object_add(e, "staff", json_object_new_string(c->staff));
		json_object_object_add(e, "share", json_object_new_string(c->share));
	}
	json_object_object_add(e, "entered_utc", json_object_new_string(t));
	json_object_array_add(ch, e);
}
