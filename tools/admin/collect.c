/* SPDX-License-Identifier: MIT */
/*
 * collect: from a staff stick into the archive folder, and the signed
 * receipt back onto the stick.
 *
 *   <archive>/<device>/<id>.opus.sealed  every recording as the box sealed it
 *                                    (DRSEAL02, docs/sealed-file.md): the
 *                                    evidence the box signed, kept for every
 *                                    recording; receipts re-hash it, no key
 *                                    needed
 *   <archive>/<device>/<id>.opus     a playable copy, opened with the
 *                                    organisation's key, only of the
 *                                    recordings staff may hear; `unlock`
 *                                    makes one when a resident consents later
 *   <archive>/<device>/index.json    what the archive holds from that box,
 *                                    with the manifest's metadata, and the
 *                                    withdrawals and consent changes staff
 *                                    recorded (sent to the box in every receipt)
 *   <archive>/consent.csv            the consent sheet (all boxes)
 *
 * (Archives made before stick format 2 hold a locked recording as a
 * DRSEAL01 file sealed on the PC, seal.c, and an unlocked one only as its
 * playable copy; such rows have no "sealed_original" and keep working: the
 * file's magic says how to open it.)
 *
 * Idempotent: a recording already in the archive with the right hash is
 * not copied again. A sealed file is imported only if its BLAKE2b matches
 * the device-signed manifest (opened with the organisation's key) both as
 * read from the stick and as read back from the archive after fsync, and it
 * opens with the organisation's key as the recording the manifest names:
 * every message intact, in order, of this recording, ending with its last
 * message unless the manifest says the recording was interrupted (then its
 * Ogg end is finished as the box used to). Anything else is refused with a
 * message and nothing of that recording is kept. Only recordings whose
 * sealed original re-hashes right are listed as held in the receipt.
 *
 * Whether a recording is locked is the manifest's consent with the changes
 * staff recorded applied (the last consent change for its receipt number
 * wins); the archive keeps each recording in the one form that matches it.
 * The retention rule is the box's: every collect deletes the sealed copy of
 * each recording still locked whose start_utc is more than --retention-days
 * (default 30; should match the box's [consent] retention_days) before the
 * command's now, in every box folder of the archive; the index keeps its row
 * with status "expired" and the receipt no longer lists it as held. A
 * playable (consented) copy is never deleted by it.
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
#include "media/recover.h"
#include "seal/seal.h"

#define CHUNK (1u << 20)

/* The catalogue of the archive this command writes (opened, under the
 * archive's lock, by adm_collect or adm_unlock; one per process), and the
 * command's time as text. */
static struct adm_archive *cat;
static struct adm_audit *audit;
static char cat_now[32];

/* A file in the archive, for reading: regular only, never blocking. */
static int open_reg(const char *path)
{
	int fd;
	int r = adm_open_regular_at(AT_FDCWD, path, &fd, NULL);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return fd;
}

struct progress {
	unsigned done, total;
	uint64_t bytes, bytes_total, last_print;
};

static void show(struct progress *p, const char *dev, bool force)
{
	if (!force && p->bytes - p->last_print < (8u << 20))
		return;
	p->last_print = p->bytes;
	fprintf(stderr, "collect: box %s: %u/%u recordings, %.1f/%.1f MB\n", dev, p->done, p->total,
		p->bytes / 1e6, p->bytes_total / 1e6);
}

static int hash_path(const char *path, char hex[65], uint64_t *size)
{
	int fd = open_reg(path);
	if (fd < 0)
		return -errno;
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, 32);
	uint8_t *buf = malloc(CHUNK);
	ssize_t n;
	uint64_t total = 0;
	while (buf && (n = read(fd, buf, CHUNK)) > 0) {
		crypto_generichash_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	free(buf);
	close(fd);
	uint8_t d[32];
	crypto_generichash_final(&h, d, sizeof(d));
	sodium_bin2hex(hex, 65, d, sizeof(d));
	if (size)
		*size = total;
	return 0;
}

/* Opens the sealed file on fd as recording id with the organisation's key,
 * writing the plaintext to out (-1: only check). On failure, why, for
 * people, in why. */
int adm_open_sealed(const struct adm_org *org, int fd, const char *id, int out, bool *final,
		    uint64_t *bytes, char *why, size_t whylen)
{
	struct dr_seal_scan sc;
	*final = false;
	*bytes = 0;
	/* first without the key: the layout, the id, whole messages */
	int r = dr_seal_scan_fd(fd, &sc);
	if (r == -EBADMSG) {
		adm_fmt(why, whylen, "its header is damaged or it is not a sealed recording");
		return r;
	}
	if (r == 0 && strcmp(sc.id, id)) {
		adm_fmt(why, whylen, "it is the file of another recording (%s)", sc.id);
		return -EBADMSG;
	}
	if (r == 0 && sc.trailing) {
		adm_fmt(why, whylen, "there are bytes after its last message");
		return -EBADMSG;
	}
	if (r == 0 && sc.intact_bytes != sc.file_bytes) {
		adm_fmt(why, whylen, "it is damaged from byte %llu (message %llu cut short or altered)",
			(unsigned long long)sc.intact_bytes, (unsigned long long)sc.messages + 1);
		return -EBADMSG;
	}
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	struct dr_seal_reader *rd = NULL;
	if (r == 0 && (r = dr_seal_reader_open_org(fd, id, org->pk, org->sk, &rd)) == -EBADMSG) {
		adm_fmt(why, whylen, "its key is not sealed to this organisation (sealed for another "
				     "organisation, or its header altered)");
		return r;
	}
	uint8_t *buf = r == 0 ? (uint8_t *)adm_secret_new(65536) : NULL;
	if (r == 0 && !buf)
		r = -ENOMEM;
	while (r == 0) {
		ssize_t n = dr_seal_read(rd, buf, 65536);
		if (n < 0) {
			r = (int)n;
			break;
		}
		if (n == 0)
			break;
		*bytes += (uint64_t)n;
		if (out >= 0)
			r = dr_stick_write_all(out, buf, (size_t)n);
	}
	if (r == -EBADMSG)
		adm_fmt(why, whylen, "the message after %.2f s of it does not open: altered, "
				     "reordered, or moved from another recording",
			dr_seal_reader_position(rd) / 48000.0);
	else if (r < 0)
		adm_fmt(why, whylen, "%s", strerror(-r));
	*final = r == 0 && dr_seal_reader_final(rd);
	adm_secret_free(buf);
	dr_seal_reader_free(rd);
	return r;
}

/* The sealed file at path opens with the organisation's key as recording
 * m->id, and ends with its last message unless the box says it was
 * interrupted. Nothing is written. */
static int check_opens(const struct adm_org *org, const char *path,
		       const struct dr_manifest_rec *m)
{
	int fd = open_reg(path);
	if (fd < 0)
		return -errno;
	bool final = false;
	uint64_t bytes = 0;
	char why[256];
	int r = adm_open_sealed(org, fd, m->id, -1, &final, &bytes, why, sizeof(why));
	close(fd);
	if (r < 0) {
		fprintf(stderr, "collect: %s: %s: not imported\n", m->file, why);
		return -EBADMSG;
	}
	if (!final && strcmp(m->state, "interrupted")) {
		fprintf(stderr, "collect: %s: it ends before its last message, but the box says the "
				"recording is complete: cut or altered, not imported\n", m->file);
		return -EBADMSG;
	}
	return 0;
}

/* Copies one recording from the stick, verifying it both ways; with org,
 * the copy must also open with the organisation's key (check_opens) before
 * it is kept. */
static int import_one(const struct adm_org *org, int devfd, const struct dr_manifest_rec *m,
		      const char *dst, struct progress *p, const char *dev)
{
	int in;
	size_t size;
	char e[384];
	int r = dr_stick_open_regular(devfd, m->file, m->size, &in, &size, e, sizeof(e));
	if (r < 0 || size != m->size) {
		if (r == 0)
			close(in);
		fprintf(stderr, "collect: %s: %s\n", m->file, r < 0 ? e : "not the manifest's size");
		return -EBADMSG;
	}
	char tmp[4200];
	adm_fmt(tmp, sizeof(tmp), "%s.tmp", dst);
	unlink(tmp);
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		r = -errno;
		close(in);
		fprintf(stderr, "collect: cannot create %s: %s\n", tmp, strerror(-r));
		return r;
	}
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, 32);
	uint8_t *buf = malloc(CHUNK);
	ssize_t n = 0;
	uint64_t got = 0;
	r = buf ? 0 : -ENOMEM;
	while (r == 0 && (n = read(in, buf, CHUNK)) > 0) {
		crypto_generichash_update(&h, buf, (size_t)n);
		r = dr_stick_write_all(out, buf, (size_t)n);
		got += (uint64_t)n;
		p->bytes += (uint64_t)n;
		show(p, dev, false);
	}
	if (r == 0 && n < 0)
		r = -errno;
	free(buf);
	close(in);
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (close(out) < 0 && r == 0)
		r = -errno;
	uint8_t d[32];
	char hex[65];
	crypto_generichash_final(&h, d, sizeof(d));
	sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
	if (r == 0 && (got != m->size || strcmp(hex, m->blake2b))) {
		fprintf(stderr, "collect: %s: the hash is not the manifest's: altered or damaged, "
				"not imported\n", m->file);
		r = -EBADMSG;
	}
	uint64_t bsize = 0;
	if (r == 0 && (hash_path(tmp, hex, &bsize) < 0 || strcmp(hex, m->blake2b) || bsize != m->size)) {
		fprintf(stderr, "collect: %s: the archive copy did not read back correctly\n", tmp);
		r = -EIO;
	}
	if (r == 0 && org)
		r = check_opens(org, tmp, m);
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return adm_fsync_dir_of(dst);
}

/* ---- the archive's index of one box ---- */

/* The box's recordings and changes as the committed catalogue holds them
 * (NULL, reported, if it cannot be read: the caller stops). */
static struct json_object *index_load(const char *dir, const char *dev)
{
	(void)dir;
	return adm_index_load(cat, dev);
}

struct boxes {
	char (*v)[ADM_BOX_HEX + 1];
	size_t n;
};

static int box_add_cb(void *ctx, const char *box)
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
static int cat_boxes(struct boxes *b)
{
	b->v = NULL;
	b->n = 0;
	int r = cat->ops->box_each(cat, box_add_cb, b);
	if (r < 0)
		fprintf(stderr, "archive: %s\n", cat->err);
	return r;
}

static struct json_object *member(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key, json_type_string);
	return v ? json_object_get_string(v) : "";
}

/* Commits the box's working index to the catalogue (one transaction). */
static int index_save(const char *dir, struct json_object *j)
{
	(void)dir;
	return adm_index_save(cat, audit, str_of(j, "device"), j, cat_now);
}

static struct json_object *rec_json(const struct dr_manifest_rec *m, const char *status,
				    const char *collected)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "receipt", json_object_new_string(m->receipt));
	json_object_object_add(o, "state", json_object_new_string(m->state));
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
static bool change_is_for(struct json_object *idx, struct json_object *c, const char *id,
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

static void form_path(char *p, size_t n, const char *dir, const char *id, bool sealed);

/* Applies the recorded changes to the archive's own copies. */
static void index_apply_changes(const char *dir, struct json_object *idx)
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
				/* every copy: playable, the sealed original, and any
				 * half-made one; each removal is recorded */
				static const char *const kinds[] = {"playable", "sealed", "tmp-playable",
								    "tmp-sealed"};
				struct json_object *del = json_object_new_array();
				for (size_t k = 0; k < 4; k++) {
					char name[64], p[4300];
					if (adm_archive_file_name(name, sizeof(name), id, "audio", kinds[k]) < 0 ||
					    adm_fmt(p, sizeof(p), "%s/%s", dir, name) < 0)
						continue;
					if (unlink(p) == 0)
						json_object_array_add(del, json_object_new_string(name));
				}
				char any[4300];
				form_path(any, sizeof(any), dir, id, true);
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

struct change {
	char kind[10], receipt[5], staff[12], share[12], device[DR_DEVICE_ID_HEX + 1];
};

static int parse_changes(const char *path, struct change **out, size_t *n)
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
	return r;
}

/* Which box holds this receipt number: the change's own, else the one
 * whose archive index has it, else the only box on the stick. */
static int resolve_device(const struct change *c, const char *archive, char (*devs)[DR_DEVICE_ID_HEX + 1],
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
static void index_add_change(struct json_object *idx, const struct change *c, int64_t now,
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

/* ---- the two forms of a recording in the archive ---- */

/* Locked unless the latest consent change for this recording (id, with
 * its receipt number and start) says staff yes. */
static bool effective_locked(struct json_object *idx, const char *id, const char *receipt,
			     const char *start_utc, bool manifest_locked)
{
	struct json_object *ch = member(idx, "changes", json_type_array);
	size_t n = ch ? json_object_array_length(ch) : 0;
	bool locked = manifest_locked;
	for (size_t i = 0; i < n; i++) {
		struct json_object *c = json_object_array_get_idx(ch, i);
		if (!strcmp(str_of(c, "kind"), "consent") &&
		    change_is_for(idx, c, id, receipt, start_utc))
			locked = strcmp(str_of(c, "staff"), "yes") != 0;
	}
	return locked;
}

/* dir: the box's folder (adm_archive_path); the file name comes from the
 * one path function. An id that is not a recording id gives a path that
 * cannot exist or be made (never one outside the archive). */
static void form_path(char *p, size_t n, const char *dir, const char *id, bool sealed)
{
	char name[64];
	if (adm_archive_file_name(name, sizeof(name), id, "audio", sealed ? "sealed" : "playable") <
		    0 ||
	    adm_fmt(p, n, "%s/%s", dir, name) < 0)
		adm_fmt(p, n, "/dev/null/not-a-recording-id");
}

/* A row of stick format 2: its hash and size are of the box's sealed
 * original, which the archive always keeps. */
static bool row_v2(struct json_object *rec)
{
	struct json_object *v = member(rec, "sealed_original", json_type_boolean);
	return v && json_object_get_boolean(v);
}

/* The first bytes of a file are a box-sealed recording's (DRSEAL02). */
static bool file_is_v2(const char *path)
{
	unsigned char head[8];
	int fd = open_reg(path);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, head, sizeof(head));
	close(fd);
	return n == (ssize_t)sizeof(head) && dr_seal_is_sealed(head, sizeof(head));
}

/* The archive's copy in this form is there and is the recording whose
 * hash (and size, if known) the box signed. v2: the sealed form is the
 * box's original, re-hashed (no key needed); the playable form is there
 * with the hash it was made with. Before format 2: the hash is the
 * playable recording's, and a sealed copy (DRSEAL01) is opened to check. */
static bool form_ok(const struct adm_org *org, const char *dir, const char *dev, const char *id,
		    struct json_object *rec, const char *hash, uint64_t size, bool sealed)
{
	char p[4200], hex[65], ad[128];
	uint64_t got = 0;
	form_path(p, sizeof(p), dir, id, sealed);
	if (row_v2(rec)) {
		const char *want = sealed ? hash : str_of(rec, "playable_blake2b");
		return hash_path(p, hex, &got) == 0 && want[0] && !strcmp(hex, want) &&
		       (!sealed || !size || got == size);
	}
	adm_fmt(ad, sizeof(ad), "%s/%s", dev, id);
	int r = sealed ? adm_unseal_check(p, ad, org->pk, org->sk, hex, &got)
		       : hash_path(p, hex, &got);
	return r == 0 && !strcmp(hex, hash) && (!size || got == size);
}

/* Opens a box-sealed original into <id>.opus (tmp, fsync, rename, fsync
 * folder): refused unless it opens with the organisation's key as this
 * recording; one cut off (no last message: the box was interrupted) has
 * its Ogg end finished by the box's own repair (dr_recover_file) before it
 * is renamed. The playable copy's hash goes into rec. */
static int open_original(const struct adm_org *org, const char *dir, const char *id,
			 struct json_object *rec)
{
	char src[4200], dst[4200], tmp[4300], hex[65];
	form_path(src, sizeof(src), dir, id, true);
	form_path(dst, sizeof(dst), dir, id, false);
	adm_fmt(tmp, sizeof(tmp), "%s.tmp", dst);
	int in = open_reg(src);
	if (in < 0)
		return -errno;
	unlink(tmp);
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		int r = -errno;
		close(in);
		return r;
	}
	bool final = false;
	uint64_t got = 0;
	char why[256];
	int r = adm_open_sealed(org, in, id, out, &final, &got, why, sizeof(why));
	close(in);
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (close(out) < 0 && r == 0)
		r = -errno;
	if (r == 0 && !final) {
		struct dr_recover_result rr;
		r = dr_recover_file(tmp, &rr);
		if (r == -EINVAL)
			r = -ENODATA; /* not even the Ogg headers: nothing to play */
	}
	uint64_t bsize = 0;
	if (r == 0 && hash_path(tmp, hex, &bsize) < 0)
		r = -EIO;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	json_object_object_add(rec, "playable_blake2b", json_object_new_string(hex));
	return adm_fsync_dir_of(dst);
}

/* Opens a sealed copy into <id>.opus (tmp, fsync, rename, fsync folder);
 * refused unless it opens with the organisation's key to the box's hash.
 * Dispatches on the file's magic: DRSEAL02 (the box's original) or
 * DRSEAL01 (sealed on the PC by an archive before format 2). */
static int unseal_to_plain(const struct adm_org *org, const char *dir, const char *dev,
			   const char *id, struct json_object *rec, const char *hash,
			   uint64_t size)
{
	char src[4200], dst[4200], tmp[4300], ad[128], hex[65];
	form_path(src, sizeof(src), dir, id, true);
	if (file_is_v2(src)) {
		if (!row_v2(rec))
			return -EBADMSG; /* a box-sealed file where the PC's should be */
		return open_original(org, dir, id, rec);
	}
	if (row_v2(rec))
		return -EBADMSG;
	form_path(dst, sizeof(dst), dir, id, false);
	adm_fmt(tmp, sizeof(tmp), "%s.tmp", dst);
	adm_fmt(ad, sizeof(ad), "%s/%s", dev, id);
	int in = open_reg(src);
	if (in < 0)
		return -errno;
	unlink(tmp);
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		int r = -errno;
		close(in);
		return r;
	}
	uint64_t got = 0;
	int r = adm_unseal_fd(in, ad, org->pk, org->sk, out, hex, &got);
	close(in);
	if (r == 0 && (strcmp(hex, hash) || (size && got != size)))
		r = -EBADMSG;
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (close(out) < 0 && r == 0)
		r = -errno;
	uint64_t bsize = 0;
	if (r == 0 && (hash_path(tmp, hex, &bsize) < 0 || strcmp(hex, hash) || bsize != got))
		r = -EIO;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return adm_fsync_dir_of(dst);
}

/* Before format 2 only: a playable copy sealed on the PC (DRSEAL01). */
static int seal_plain(const struct adm_org *org, const char *dir, const char *dev, const char *id,
		      const char *hash, uint64_t size)
{
	char src[4200], dst[4200], ad[128];
	form_path(src, sizeof(src), dir, id, false);
	form_path(dst, sizeof(dst), dir, id, true);
	adm_fmt(ad, sizeof(ad), "%s/%s", dev, id);
	int in = open_reg(src);
	if (in < 0)
		return -errno;
	int r = adm_seal_fd(in, size, hash, dst, ad, org->pk, org->sk, NULL);
	close(in);
	return r;
}

/* Makes each archived recording's copies (all, or only the one with id
 * only) what its consent asks for. v2: the sealed original always; a
 * playable copy too if staff may listen. Before format 2: sealed if
 * locked, playable if not. What must go is removed afterwards by
 * forms_tidy, once the index is saved. Returns 0 or the first error
 * (reported). */
static int forms_make(const struct adm_org *org, const char *dir, const char *dev,
		      struct json_object *idx, const char *only)
{
	struct json_object *recs = member(idx, "recordings", json_type_object);
	int first = 0;
	if (!recs)
		return -EBADMSG;
	json_object_object_foreach(recs, id, rec)
	{
		if ((only && strcmp(only, id)) || strcmp(str_of(rec, "status"), "archived"))
			continue;
		struct json_object *lk = member(rec, "locked", json_type_boolean);
		struct json_object *sz = member(rec, "size", json_type_int);
		bool sealed = !lk || json_object_get_boolean(lk);
		uint64_t size = sz ? (uint64_t)json_object_get_int64(sz) : 0;
		const char *hash = str_of(rec, "blake2b");
		char other[4200];
		int r = 0;
		if (row_v2(rec)) {
			if (sealed || form_ok(org, dir, dev, id, rec, hash, size, false))
				continue;
			if (!form_ok(org, dir, dev, id, rec, hash, size, true))
				r = -EBADMSG; /* the original is not the one the box signed */
			else
				r = open_original(org, dir, id, rec);
		} else {
			form_path(other, sizeof(other), dir, id, !sealed);
			if (access(other, F_OK) != 0)
				continue; /* nothing to convert; the receipt re-checks the copy */
			if (form_ok(org, dir, dev, id, rec, hash, size, sealed))
				continue;
			r = sealed ? seal_plain(org, dir, dev, id, hash, size)
				   : unseal_to_plain(org, dir, dev, id, rec, hash, size);
		}
		if (r < 0) {
			fprintf(stderr, "%s: recording %s (receipt %s): could not %s it: %s\n",
				only ? "unlock" : "collect", id, str_of(rec, "receipt"),
				sealed ? "seal" : "open the sealed copy of",
				r == -EBADMSG ? "it is damaged or altered, or not this organisation's"
				: r == -ENODATA ? "nothing playable is left in it"
						: strerror(-r));
			if (!first)
				first = r;
		}
	}
	return first;
}

/* Removes the form a recording must no longer have, once the right one is
 * there and verified. v2: only a playable copy of a locked recording (the
 * original is never removed here). */
static void forms_tidy(const struct adm_org *org, const char *dir, const char *dev,
		       struct json_object *idx, const char *only)
{
	struct json_object *recs = member(idx, "recordings", json_type_object);
	if (!recs)
		return;
	json_object_object_foreach(recs, id, rec)
	{
		if ((only && strcmp(only, id)) || strcmp(str_of(rec, "status"), "archived"))
			continue;
		struct json_object *lk = member(rec, "locked", json_type_boolean);
		struct json_object *sz = member(rec, "size", json_type_int);
		bool sealed = !lk || json_object_get_boolean(lk);
		char other[4200];
		form_path(other, sizeof(other), dir, id, !sealed);
		if (row_v2(rec)) {
			if (sealed && unlink(other) == 0)
				adm_fsync_dir_of(other);
			continue;
		}
		if (access(other, F_OK) == 0 &&
		    form_ok(org, dir, dev, id, rec, str_of(rec, "blake2b"),
			    sz ? (uint64_t)json_object_get_int64(sz) : 0, sealed) &&
		    unlink(other) == 0)
			adm_fsync_dir_of(other);
	}
}

/* ---- the retention rule ---- */

/* Deletes the sealed copy of every recording still locked (after the
 * changes staff recorded) that started more than days ago, as the box does
 * with its own copy: the sealed file is unlinked, the folder fsynced, and
 * the index row kept with status "expired" and the date its retention
 * ended. A playable copy is never touched (a recording whose copy is
 * playable is skipped). Returns how many expired (the caller saves idx). */
static unsigned expire_locked(const char *dir, struct json_object *idx, int64_t now, long days)
{
	struct json_object *recs = member(idx, "recordings", json_type_object);
	unsigned n = 0;
	if (!recs)
		return 0;
	json_object_object_foreach(recs, id, rec)
	{
		int64_t start;
		if (strcmp(str_of(rec, "status"), "archived") ||
		    dr_stick_time_parse(str_of(rec, "start_utc"), &start) < 0 ||
		    now - start <= (int64_t)days * 86400)
			continue;
		struct json_object *lk = member(rec, "locked", json_type_boolean);
		bool row_locked = !lk || json_object_get_boolean(lk) ||
				  strcmp(str_of(rec, "consent_staff"), "yes") != 0;
		if (!effective_locked(idx, id, str_of(rec, "receipt"), str_of(rec, "start_utc"),
				      row_locked))
			continue;
		char p[4200];
		form_path(p, sizeof(p), dir, id, false);
		if (access(p, F_OK) == 0)
			continue; /* a playable copy: sealed first, by forms_make */
		form_path(p, sizeof(p), dir, id, true);
		if (unlink(p) < 0 && errno != ENOENT) {
			fprintf(stderr, "collect: recording %s: cannot delete %s: %s\n", id, p,
				strerror(errno));
			continue;
		}
		if (adm_fsync_dir_of(p) < 0)
			continue; /* the index says expired only once the unlink is durable */
		char ended[32];
		dr_stick_time_format(start + (int64_t)days * 86400, ended);
		json_object_object_add(rec, "status", json_object_new_string("expired"));
		json_object_object_add(rec, "retention_ended_utc", json_object_new_string(ended));
		fprintf(stderr, "collect: recording %s (receipt %s) was locked and its retention period "
				"ended on %s: its sealed copy was deleted from the archive\n",
			id, str_of(rec, "receipt"), ended);
		n++;
	}
	return n;
}

/* This receipt number belongs only to recordings that expired: none the
 * archive still holds, none on the stick's manifest m. */
static bool only_expired(struct json_object *idx, const struct dr_manifest *m, const char *receipt)
{
	struct json_object *recs = member(idx, "recordings", json_type_object);
	bool expired = false;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->recs[i].receipt, receipt) &&
		    !member(recs, m->recs[i].id, json_type_object))
			return false;
	if (!recs)
		return false;
	json_object_object_foreach(recs, id, rec)
	{
		(void)id;
		if (strcmp(str_of(rec, "receipt"), receipt))
			continue;
		if (strcmp(str_of(rec, "status"), "expired"))
			return false;
		expired = true;
	}
	return expired;
}

/* The retention rule over every box folder in the archive (also boxes not
 * on this stick). */
static int expire_archive(const char *archive, int64_t now, long days)
{
	struct boxes bx;
	int r = cat_boxes(&bx) < 0 ? -EBADMSG : 0;
	for (size_t i = 0; r == 0 && i < bx.n; i++) {
		char dir[4200];
		struct json_object *idx = index_load(NULL, bx.v[i]);
		if (!idx || adm_archive_path(dir, sizeof(dir), archive, bx.v[i], NULL, NULL, NULL) < 0)
			r = -EBADMSG;
		if (r == 0 && expire_locked(dir, idx, now, days) > 0)
			r = index_save(dir, idx);
		json_object_put(idx);
	}
	free(bx.v);
	return r;
}

/* ---- the receipt ---- */

/* The receipt: its contents sealed to the box (box_pk: its device key),
 * the outer file signed by the organisation. */
static int write_receipt(int top, const struct adm_org *org, const uint8_t box_pk[32],
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
	char e[384];
	r = dr_stick_subdir(top, "receipt", true, &rfd, e, sizeof(e));
	if (r < 0)
		fprintf(stderr, "collect: %s\n", e);
	else {
		r = adm_write_signed(rfd, m->device, text, org->sk);
		close(rfd);
	}
	json_object_put(o);
	return r;
}

/* ---- the consent sheet ---- */

static void csv_field(FILE *f, const char *s, bool last)
{
	/* quoted; a leading = + - @ would be a formula in a spreadsheet */
	fputc('"', f);
	if (*s == '=' || *s == '+' || *s == '-' || *s == '@')
		fputc('\'', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
	fputs(last ? "\r\n" : ",", f);
}

static int write_consent_sheet(const char *archive)
{
	char p[4200], tmp[4300];
	adm_fmt(p, sizeof(p), "%s/consent.csv", archive);
	adm_fmt(tmp, sizeof(tmp), "%s.tmp", p);
	struct boxes bx;
	if (cat_boxes(&bx) < 0)
		return -EBADMSG;
	/* 0600 whatever the umask or the folder's mode */
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 && fchmod(fd, 0600) == 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		free(bx.v);
		return r;
	}
	fputs("box,recording,receipt,start_utc,duration_s,staff_may_listen,may_share,locked,"
	      "time_uncertain,status,collected_utc,blake2b,stored\r\n", f);
	bool bad = false;
	for (size_t bi = 0; bi < bx.n; bi++) {
		const char *box = bx.v[bi];
		char dir[4200];
		struct json_object *idx = index_load(NULL, box);
		struct json_object *recs = member(idx, "recordings", json_type_object);
		bad = bad || !idx ||
		      adm_archive_path(dir, sizeof(dir), archive, box, NULL, NULL, NULL) < 0;
		if (recs && !bad) {
			json_object_object_foreach(recs, id, r)
			{
				char dur[32];
				struct json_object *dv = member(r, "duration_ms", json_type_int);
				adm_fmt(dur, sizeof(dur), "%.1f", dv ? json_object_get_int64(dv) / 1000.0 : 0.0);
				struct json_object *lk = member(r, "locked", json_type_boolean);
				struct json_object *tu = member(r, "time_uncertain", json_type_boolean);
				csv_field(f, box, false);
				csv_field(f, id, false);
				csv_field(f, str_of(r, "receipt"), false);
				csv_field(f, str_of(r, "start_utc"), false);
				csv_field(f, dur, false);
				csv_field(f, str_of(r, "consent_staff"), false);
				csv_field(f, str_of(r, "consent_share"), false);
				csv_field(f, lk && json_object_get_boolean(lk) ? "yes" : "no", false);
				csv_field(f, tu && json_object_get_boolean(tu) ? "yes" : "no", false);
				csv_field(f, str_of(r, "status"), false);
				csv_field(f, str_of(r, "collected_utc"), false);
				csv_field(f, str_of(r, "blake2b"), false);
				/* what the archive folder holds: playable, or sealed
				 * (locked: opens only with diaryroom-admin unlock) */
				char pp[4300], ps[4300];
				form_path(pp, sizeof(pp), dir, id, false);
				form_path(ps, sizeof(ps), dir, id, true);
				const char *stored = !strcmp(str_of(r, "status"), "withdrawn") ? "deleted"
						     : !strcmp(str_of(r, "status"), "expired")	 ? "expired"
						     : access(pp, F_OK) == 0			 ? "playable"
						     : access(ps, F_OK) == 0			 ? "sealed"
												 : "missing";
				csv_field(f, stored, true);
			}
		}
		json_object_put(idx);
	}
	free(bx.v);
	int r = bad ? -EBADMSG : fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, p) < 0)
		r = -errno;
	if (r == 0)
		r = adm_fsync_dir_of(p);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* ---- one box's export on the stick ---- */

/* Consent only widens through staff: a manifest that claims wider consent
 * for a recording the archive holds than the archive's own records (old:
 * the row as committed, with staff's changes) is not applied to it; row
 * keeps the archive's consent, and the claim goes into the consent
 * history as refused. */
static void consent_no_wider(struct json_object *old, struct json_object *row,
			     const struct dr_manifest_rec *x, const char *dev)
{
	const char *ost = str_of(old, "consent_staff"), *osh = str_of(old, "consent_share");
	bool wider = (x->consent_staff == 1 && strcmp(ost, "yes")) ||
		     (x->consent_share == 1 && strcmp(osh, "yes"));
	if (!wider)
		return;
	const char *st = dr_stick_consent_word(x->consent_staff);
	const char *sh = dr_stick_consent_word(x->consent_share);
	fprintf(stderr, "collect: box %s, recording %s (receipt %s): the manifest claims wider "
			"consent (staff %s, share %s) than the archive's records (staff %s, share "
			"%s): refused for this recording; consent given later comes only through "
			"staff (unlock, --changes)\n",
		dev, x->id, x->receipt, st, sh, ost, osh);
	struct json_object *lk = member(old, "locked", json_type_boolean);
	json_object_object_add(row, "consent_staff", json_object_new_string(ost));
	json_object_object_add(row, "consent_share", json_object_new_string(osh));
	json_object_object_add(row, "locked",
			       json_object_new_boolean(!lk || json_object_get_boolean(lk)));
	char why[128];
	adm_fmt(why, sizeof(why), "export manifest claimed staff %s, share %s", st, sh);
	json_object_object_add(row, "_refused", json_object_new_string(why));
	json_object_object_add(row, "_refused_staff", json_object_new_string(st));
	json_object_object_add(row, "_refused_share", json_object_new_string(sh));
}

static int collect_device(const struct adm_org *org, int top, int devfd, const char *dev,
			  const char *archive, const struct change *chg, size_t nchg,
			  char (*devs)[DR_DEVICE_ID_HEX + 1], size_t ndev, int64_t now, long days,
			  bool *bad)
{
	char p[4200], *b, e[384];
	size_t len;
	adm_fmt(p, sizeof(p), "%s/devices/%s.pub", org->dir, dev);
	if (adm_read_file(p, 32, &b, &len) < 0 || len != 32) {
		fprintf(stderr, "collect: box %s was not provisioned by this organisation: skipped\n",
			dev);
		*bad = true;
		return 0;
	}
	uint8_t pk[32];
	memcpy(pk, b, 32);
	free(b);
	int r = dr_stick_read_signed(devfd, "manifest", DR_STICK_MANIFEST_MAX, pk, &b, &len, e,
				     sizeof(e));
	struct dr_manifest *m = NULL;
	char mh[65];
	uint8_t sig[DR_STICK_SIG_LEN];
	bool keep_sig = false;
	if (r == 0) {
		/* kept in the catalogue for repair: the signature read again
		 * must be of these very bytes */
		keep_sig = dr_stick_read_sig(devfd, "manifest.sig", sig, e, sizeof(e)) == 0 &&
			   crypto_sign_verify_detached(sig, (const uint8_t *)b, len, pk) == 0;
		/* its personal part is sealed to the organisation */
		r = dr_manifest_open(b, len, org->pk, org->sk, &m, e, sizeof(e));
		if (r == 0 && strcmp(m->device, dev)) {
			adm_fmt(e, sizeof(e), "it is in the folder of box %s but names box %s", dev,
				m->device);
			r = -EBADMSG;
		}
		uint8_t d[32];
		crypto_generichash(d, sizeof(d), (const uint8_t *)b, len, NULL, 0);
		sodium_bin2hex(mh, sizeof(mh), d, sizeof(d));
		if (r == 0 && keep_sig) {
			r = cat->ops->begin(cat);
			if (r == 0)
				r = cat->ops->box_add(cat, dev, cat_now);
			if (r == 0)
				r = cat->ops->manifest_keep(cat, dev, m->seq, b, len, sig, sizeof(sig));
			if (r == 0)
				r = cat->ops->commit(cat);
			if (r == 0)
				r = adm_keep_manifest(cat->dirfd, dev, m->seq, b, len, sig, sizeof(sig));
			if (r < 0) {
				cat->ops->rollback(cat);
				fprintf(stderr, "collect: box %s: keeping its manifest: %s\n", dev,
					cat->err[0] ? cat->err : strerror(-r));
				free(b);
				dr_manifest_free(m);
				return r;
			}
		}
		free(b);
	}
	if (r < 0) {
		fprintf(stderr, "collect: box %s: manifest refused (%s): nothing imported from it\n",
			dev, e);
		dr_manifest_free(m);
		*bad = true;
		return 0;
	}
	char dir[4200];
	/* the box is in the catalogue (committed above) before its folder
	 * holds anything */
	if (adm_archive_path(dir, sizeof(dir), archive, dev, NULL, NULL, NULL) < 0 ||
	    (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
		dr_manifest_free(m);
		return -EINVAL;
	}
	struct stat dst;
	if (lstat(dir, &dst) < 0 || !S_ISDIR(dst.st_mode)) {
		fprintf(stderr, "collect: %s is not a folder (a symlink?): refused\n", dir);
		dr_manifest_free(m);
		return -EBADMSG;
	}
	struct json_object *idx = index_load(dir, dev);
	struct json_object *recs = member(idx, "recordings", json_type_object);
	if (!recs) {
		json_object_put(idx);
		dr_manifest_free(m);
		return -EBADMSG;
	}
	struct progress pr = {.total = (unsigned)m->n};
	for (size_t i = 0; i < m->n; i++)
		pr.bytes_total += m->recs[i].size;
	char t[32];
	dr_stick_time_format(now, t);
	unsigned imported = 0, already = 0, failed = 0, sealed_n = 0;
	/* staff's changes first: they decide which recordings are locked */
	for (size_t i = 0; i < nchg; i++) {
		char cd[DR_DEVICE_ID_HEX + 1];
		if (resolve_device(&chg[i], archive, devs, ndev, cd) < 0 || strcmp(cd, dev))
			continue;
		if (only_expired(idx, m, chg[i].receipt)) {
			/* nothing left to change; and the number may be given to a
			 * new recording later, which this change is not about */
			fprintf(stderr, "collect: receipt %s: the retention period of that locked "
					"recording ended; it was deleted: change not recorded\n",
				chg[i].receipt);
			continue;
		}
		index_add_change(idx, &chg[i], now, false);
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct dr_manifest_rec *x = &m->recs[i];
		struct json_object *old = member(recs, x->id, json_type_object);
		if (old && (!strcmp(str_of(old, "status"), "withdrawn") ||
			    !strcmp(str_of(old, "status"), "expired"))) {
			pr.done++;
			continue;
		}
		/* a locked recording is only ever kept sealed (forms_make opens
		 * the others once the index says which are locked) */
		bool locked = effective_locked(idx, x->id, x->receipt, x->start_utc,
					       x->locked || x->consent_staff != 1);
		sealed_n += locked;
		form_path(p, sizeof(p), dir, x->id, true);
		if (old && row_v2(old) && form_ok(org, dir, dev, x->id, old, x->blake2b, x->size, true)) {
			already++;
			pr.bytes += x->size;
		} else if (import_one(org, devfd, x, p, &pr, dev) == 0) {
			imported++;
		} else {
			failed++;
			*bad = true;
			pr.done++;
			continue;
		}
		pr.done++;
		const char *coll = old && str_of(old, "collected_utc")[0] ? str_of(old, "collected_utc") : t;
		char keep[32];
		adm_fmt(keep, sizeof(keep), "%s", coll);
		struct json_object *row = rec_json(x, "archived", keep);
		if (old)
			consent_no_wider(old, row, x, dev);
		const char *ph = old && row_v2(old) ? str_of(old, "playable_blake2b") : "";
		if (ph[0])
			json_object_object_add(row, "playable_blake2b", json_object_new_string(ph));
		json_object_object_add(recs, x->id, row);
		show(&pr, dev, true);
	}
	index_apply_changes(dir, idx);
	if (forms_make(org, dir, dev, idx, NULL) < 0)
		*bad = true;
	r = index_save(dir, idx);
	if (r == 0)
		forms_tidy(org, dir, dev, idx, NULL);
	/* before the receipt: an expired recording is not held any more */
	unsigned expired = r == 0 ? expire_locked(dir, idx, now, days) : 0;
	if (expired)
		r = index_save(dir, idx);
	unsigned held = 0;
	if (r == 0)
		r = write_receipt(top, org, pk, dir, m, mh, idx, now, &held);
	if (r == 0) {
		struct adm_receipt rc = {.seq = m->seq, .held = held};
		adm_fmt(rc.box, sizeof(rc.box), "%s", dev);
		adm_fmt(rc.sent_utc, sizeof(rc.sent_utc), "%s", cat_now);
		adm_fmt(rc.manifest_blake2b, sizeof(rc.manifest_blake2b), "%s", mh);
		r = cat->ops->begin(cat);
		if (r == 0)
			r = cat->ops->receipt_add(cat, &rc);
		if (r == 0)
			r = cat->ops->commit(cat);
		if (r < 0) {
			cat->ops->rollback(cat);
			fprintf(stderr, "collect: box %s: %s\n", dev, cat->err);
		}
	}
	fprintf(stderr,
		"collect: box %s, export %lld: %u imported, %u already in the archive, %u failed "
		"verification; receipt lists %u held; %u locked (kept sealed); %u expired\n",
		dev, (long long)m->seq, imported, already, failed, held, sealed_n, expired);
	json_object_put(idx);
	dr_manifest_free(m);
	return r;
}

/* Takes the archive's lock, then opens (and if need be migrates) its
 * catalogue into cat. */
static int cat_open(const char *who, const char *archive, bool create, bool wait, int *lockfd,
		    int64_t now)
{
	char err[512];
	*lockfd = -1;
	if (create && mkdir(archive, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "%s: cannot make %s: %s\n", who, archive, strerror(errno));
		return -errno;
	}
	int dfd = open(archive, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		int r = -errno;
		fprintf(stderr, "%s: no archive at %s (%s)\n", who, archive, strerror(errno));
		return r;
	}
	int r = adm_archive_lock(dfd, wait, who, lockfd);
	close(dfd);
	if (r < 0)
		return r;
	r = adm_archive_open(archive, true, &cat, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "%s: %s\n%s: stopped: nothing was changed. `diaryroom-admin check` "
				"says what is wrong; `diaryroom-admin repair` rebuilds what it can\n",
			who, err, who);
		adm_archive_unlock(*lockfd);
		*lockfd = -1;
		return r;
	}
	r = adm_audit_open(cat->dirfd, &audit);
	if (r < 0) {
		fprintf(stderr, "%s: the archive's audit log cannot be opened (%s): stopped; nothing "
				"was changed. `diaryroom-admin audit --verify` says more\n",
			who, strerror(-r));
		adm_archive_close(cat);
		cat = NULL;
		adm_archive_unlock(*lockfd);
		*lockfd = -1;
		return r;
	}
	dr_stick_time_format(now, cat_now);
	return 0;
}

static void cat_close(int lockfd)
{
	adm_audit_close(audit);
	audit = NULL;
	adm_archive_close(cat);
	cat = NULL;
	adm_archive_unlock(lockfd);
}

static int collect_locked(struct adm_org *org, const char *stick, const char *archive,
			  const char *changes, int64_t now, long retention_days);

int adm_collect(struct adm_org *org, const char *stick, const char *archive,
		const char *changes, int64_t now, long retention_days, bool wait)
{
	int lockfd;
	if (retention_days < 1 || retention_days > 3650) {
		fprintf(stderr, "collect: --retention-days is 1 to 3650\n");
		return -EINVAL;
	}
	int r = cat_open("collect", archive, true, wait, &lockfd, now);
	if (r < 0)
		return r;
	r = collect_locked(org, stick, archive, changes, now, retention_days);
	cat_close(lockfd);
	return r;
}

static int collect_locked(struct adm_org *org, const char *stick, const char *archive,
			  const char *changes, int64_t now, long retention_days)
{
	if (retention_days < 1 || retention_days > 3650) {
		fprintf(stderr, "collect: --retention-days is 1 to 3650\n");
		return -EINVAL;
	}
	struct change *chg;
	size_t nchg;
	if (parse_changes(changes, &chg, &nchg) < 0)
		return -EINVAL;
	if (mkdir(archive, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "collect: cannot make %s: %s\n", archive, strerror(errno));
		free(chg);
		return -errno;
	}
	int mfd = open(stick, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int top = -1, efd = -1;
	char e[384];
	int r = mfd < 0 ? -errno : dr_stick_subdir(mfd, DR_STICK_TOP, false, &top, e, sizeof(e));
	if (mfd >= 0)
		close(mfd);
	if (r == 0)
		r = dr_stick_subdir(top, "export", false, &efd, e, sizeof(e));
	if (r < 0) {
		fprintf(stderr, "collect: nothing to collect on %s\n", stick);
		if (top >= 0)
			close(top);
		free(chg);
		return r;
	}
	/* the boxes on this stick */
	char(*devs)[DR_DEVICE_ID_HEX + 1] = NULL;
	size_t ndev = 0;
	int dfd = dup(efd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!dr_stick_hex_ok(de->d_name, DR_DEVICE_ID_HEX)) {
			fprintf(stderr, "collect: ignoring %s on the stick (not a box's folder)\n",
				de->d_name);
			continue;
		}
		void *nd = realloc(devs, (ndev + 1) * sizeof(*devs));
		if (!nd)
			break;
		devs = nd;
		memcpy(devs[ndev++], de->d_name, DR_DEVICE_ID_HEX + 1);
	}
	if (d)
		closedir(d);
	bool bad = false;
	for (size_t i = 0; r == 0 && i < ndev; i++) {
		int devfd;
		if (dr_stick_subdir(efd, devs[i], false, &devfd, e, sizeof(e)) < 0) {
			fprintf(stderr, "collect: %s\n", e);
			bad = true;
			continue;
		}
		r = collect_device(org, top, devfd, devs[i], archive, chg, nchg, devs, ndev, now,
				   retention_days, &bad);
		close(devfd);
	}
	if (r == 0)
		r = expire_archive(archive, now, retention_days);
	if (r == 0)
		r = write_consent_sheet(archive);
	close(efd);
	close(top);
	free(devs);
	free(chg);
	if (r < 0) {
		fprintf(stderr, "collect: failed: %s\n", strerror(-r));
		return r;
	}
	fprintf(stderr, "collect: done; consent sheet %s/consent.csv\n", archive);
	return bad ? 1 : 0;
}

/* ---- unlock: a resident consents later, against their receipt number ---- */

static int unlock_locked(struct adm_org *org, const char *archive, const char *receipt,
			 const char *share, const char *box, int64_t now);

int adm_unlock(struct adm_org *org, const char *archive, const char *receipt,
	       const char *share, const char *box, int64_t now, bool wait)
{
	int lockfd;
	int r = cat_open("unlock", archive, false, wait, &lockfd, now);
	if (r < 0)
		return r;
	r = unlock_locked(org, archive, receipt, share, box, now);
	cat_close(lockfd);
	return r;
}

static int unlock_locked(struct adm_org *org, const char *archive, const char *receipt,
			 const char *share, const char *box, int64_t now)
{
	int sh;
	if (!dr_stick_receipt_ok(receipt) || dr_stick_consent_parse(share, &sh) < 0 || sh < 0 ||
	    (box && !dr_stick_hex_ok(box, DR_DEVICE_ID_HEX))) {
		fprintf(stderr, "unlock: --receipt is the 4-digit number, --share yes or no, --box "
				"the box's 16-character id\n");
		return -EINVAL;
	}
	/* find it: exactly one recording the archive holds with this number */
	char dev[DR_DEVICE_ID_HEX + 1] = "", id[128] = "", gone[128] = "", ended[32] = "";
	bool locked = false;
	int found = 0;
	struct boxes bx;
	if (cat_boxes(&bx) < 0)
		return -EBADMSG;
	for (size_t bi = 0; bi < bx.n; bi++) {
		const char *bname = bx.v[bi];
		if (box && strcmp(box, bname))
			continue;
		struct json_object *idx = index_load(NULL, bname);
		if (!idx) {
			free(bx.v);
			return -EBADMSG;
		}
		struct json_object *recs = member(idx, "recordings", json_type_object);
		if (recs) {
			json_object_object_foreach(recs, rid, r)
			{
				if (strcmp(str_of(r, "receipt"), receipt))
					continue;
				if (!strcmp(str_of(r, "status"), "expired")) {
					adm_fmt(gone, sizeof(gone), "%s", rid);
					adm_fmt(ended, sizeof(ended), "%s", str_of(r, "retention_ended_utc"));
				}
				if (strcmp(str_of(r, "status"), "archived"))
					continue;
				struct json_object *lk = member(r, "locked", json_type_boolean);
				found++;
				locked = !lk || json_object_get_boolean(lk);
				adm_fmt(dev, sizeof(dev), "%s", bname);
				adm_fmt(id, sizeof(id), "%s", rid);
			}
		}
		json_object_put(idx);
	}
	free(bx.v);
	if (!found && gone[0]) {
		fprintf(stderr, "unlock: recording %s (receipt %s) was locked: the retention period "
				"ended on %s; the recording was deleted. Nothing changed\n",
			gone, receipt, ended[0] ? ended : "(unknown)");
		return -ENOENT;
	}
	if (found != 1) {
		fprintf(stderr, found ? "unlock: more than one box has a recording numbered %s: add "
					"--box ID (the consent sheet's box column)\n"
				      : "unlock: the archive holds no recording numbered %s (withdrawn, "
					"never collected, or a wrong number): nothing changed\n",
			receipt);
		return found ? -EINVAL : -ENOENT;
	}
	if (!locked) {
		fprintf(stderr, "unlock: recording %s (receipt %s) is not locked: staff may already "
				"listen to it; nothing changed\n", id, receipt);
		return -EALREADY;
	}
	char odir[sizeof(org->dir)];
	memcpy(odir, org->dir, sizeof(odir));
	int r = adm_org_load(odir, true, org);
	if (r < 0)
		return r; /* wrong passphrase: said */
	char dir[4200], p[4200];
	if (adm_archive_path(dir, sizeof(dir), archive, dev, NULL, NULL, NULL) < 0)
		return -EBADMSG;
	struct json_object *idx = index_load(dir, dev);
	if (!member(idx, "recordings", json_type_object)) {
		json_object_put(idx);
		return -EBADMSG;
	}
	struct change c = {0};
	adm_fmt(c.kind, sizeof(c.kind), "consent");
	memcpy(c.receipt, receipt, 5);
	adm_fmt(c.staff, sizeof(c.staff), "yes");
	adm_fmt(c.share, sizeof(c.share), "%s", sh ? "yes" : "no");
	adm_fmt(c.device, sizeof(c.device), "%s", dev);
	index_add_change(idx, &c, now, true);
	index_apply_changes(dir, idx);
	/* open the sealed copy (checked against the box's hash) before anything
	 * is recorded: a damaged or altered one changes nothing */
	r = forms_make(org, dir, dev, idx, id);
	form_path(p, sizeof(p), dir, id, false);
	if (r == 0 && access(p, F_OK) != 0)
		r = -ENOENT;
	if (r < 0) {
		fprintf(stderr, "unlock: recording %s (receipt %s) stays locked; nothing changed\n",
			id, receipt);
		json_object_put(idx);
		return r;
	}
	r = index_save(dir, idx);
	if (r == 0)
		forms_tidy(org, dir, dev, idx, id);
	json_object_put(idx);
	if (r == 0)
		r = adm_audit_add(audit, NULL, "unlock", dev, id, receipt,
				  sh ? "staff yes, share yes" : "staff yes, share no");
	if (r == 0)
		r = write_consent_sheet(archive);
	if (r < 0) {
		fprintf(stderr, "unlock: could not update the archive: %s\n", strerror(-r));
		return r;
	}
	printf("recording %s (receipt %s) unlocked: %s (staff may listen; share: %s). The box "
	       "learns this consent from the next collect.\n", id, receipt, p, sh ? "yes" : "no");
	return 0;
}

/* ---- manifest: what a stick holds, for staff and tests ---- */

int adm_show_manifests(const struct adm_org *org, const char *stick)
{
	int mfd = open(stick, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int top = -1, efd = -1;
	char e[384];
	int r = mfd < 0 ? -errno : dr_stick_subdir(mfd, DR_STICK_TOP, false, &top, e, sizeof(e));
	if (mfd >= 0)
		close(mfd);
	if (r == 0)
		r = dr_stick_subdir(top, "export", false, &efd, e, sizeof(e));
	if (top >= 0)
		close(top);
	if (r < 0) {
		fprintf(stderr, "manifest: no export on %s\n", stick);
		return r;
	}
	struct json_object *all = json_object_new_object();
	int dfd = dup(efd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	bool bad = false;
	while (d && (de = readdir(d))) {
		if (!dr_stick_hex_ok(de->d_name, DR_DEVICE_ID_HEX))
			continue;
		char p[4200], *b;
		size_t len;
		uint8_t pk[32];
		int devfd = -1;
		struct dr_manifest *m = NULL;
		adm_fmt(p, sizeof(p), "%s/devices/%s.pub", org->dir, de->d_name);
		r = adm_read_file(p, 32, &b, &len);
		if (r == 0 && len != 32)
			r = -EBADMSG;
		if (r == 0) {
			memcpy(pk, b, 32);
			free(b);
			r = dr_stick_subdir(efd, de->d_name, false, &devfd, e, sizeof(e));
		} else {
			adm_fmt(e, sizeof(e), "not provisioned by this organisation");
		}
		if (r == 0)
			r = dr_stick_read_signed(devfd, "manifest", DR_STICK_MANIFEST_MAX, pk, &b, &len, e,
						 sizeof(e));
		if (devfd >= 0)
			close(devfd);
		if (r == 0) {
			r = dr_manifest_open(b, len, org->pk, org->sk, &m, e, sizeof(e));
			free(b);
		}
		if (r < 0) {
			fprintf(stderr, "manifest: box %s: %s\n", de->d_name, e);
			bad = true;
			continue;
		}
		struct json_object *o = json_object_new_object();
		struct json_object *a = json_object_new_array();
		json_object_object_add(o, "seq", json_object_new_int64(m->seq));
		json_object_object_add(o, "stick_id", json_object_new_string(m->stick_id));
		json_object_object_add(o, "created_utc", json_object_new_string(m->created_utc));
		json_object_object_add(o, "complete", json_object_new_boolean(m->complete));
		for (size_t i = 0; i < m->n; i++) {
			struct json_object *x = rec_json(&m->recs[i], "on the stick", "");
			json_object_object_add(x, "id", json_object_new_string(m->recs[i].id));
			json_object_object_add(x, "file", json_object_new_string(m->recs[i].file));
			json_object_object_add(x, "media", json_object_new_string(m->recs[i].media));
			if (m->recs[i].box_clock_utc[0])
				json_object_object_add(x, "box_clock_utc",
						       json_object_new_string(m->recs[i].box_clock_utc));
			json_object_object_del(x, "status");
			json_object_object_del(x, "collected_utc");
			json_object_object_del(x, "sealed_original");
			json_object_array_add(a, x);
		}
		json_object_object_add(o, "recordings", a);
		json_object_object_add(all, m->device, o);
		dr_manifest_free(m);
	}
	if (d)
		closedir(d);
	close(efd);
	printf("%s\n", json_object_to_json_string_ext(all, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(all);
	return bad ? 1 : 0;
}
