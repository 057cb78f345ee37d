/* SPDX-License-Identifier: MIT */
/*
 * The forms a recording is kept in (the box's sealed original, a playable
 * copy), and the retention rule.
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


/* ---- the two forms of a recording in the archive ---- */

/* Locked unless the latest consent change for this recording (id, with
 * its receipt number and start) says staff yes. */
bool effective_locked(struct json_object *idx, const char *id, const char *receipt,
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

/* A working row's media type: "audio" or "video" (a row from before the
 * catalogue knew media types is sound). */
const char *rec_media(struct json_object *rec)
{
	const char *m = str_of(rec, "media");
	return m[0] ? m : "audio";
}

/* dir: the box's folder (adm_archive_path); the file name comes from the
 * one path function, by the recording's media type and kind ("sealed",
 * "playable", "opened", "tmp-..."; archive.h). An id that is not a
 * recording id, or a media type that is not one, gives a path that cannot
 * exist or be made (never one outside the archive). */
void form_path_kind(char *p, size_t n, const char *dir, const char *id, const char *media,
		    const char *kind)
{
	char name[64];
	if (adm_archive_file_name(name, sizeof(name), id, media, kind) < 0 ||
	    adm_fmt(p, n, "%s/%s", dir, name) < 0)
		adm_fmt(p, n, "/dev/null/not-a-recording-id");
}

/* The sealed original (sealed) or the playable copy. */
void form_path(char *p, size_t n, const char *dir, const char *id, const char *media, bool sealed)
{
	form_path_kind(p, n, dir, id, media, sealed ? "sealed" : "playable");
}

/* A row of stick format 2: its hash and size are of the box's sealed
 * original, which the archive always keeps. */
bool row_v2(struct json_object *rec)
{
	struct json_object *v = member(rec, "sealed_original", json_type_boolean);
	return v && json_object_get_boolean(v);
}

/* The first bytes of a file are a box-sealed recording's (DRSEAL02). */
bool file_is_v2(const char *path)
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
bool form_ok(const struct adm_org *org, const char *dir, const char *dev, const char *id,
		    struct json_object *rec, const char *hash, uint64_t size, bool sealed)
{
	char p[4200], hex[65], ad[128];
	uint64_t got = 0;
	form_path(p, sizeof(p), dir, id, rec_media(rec), sealed);
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

/* Opens the sealed file `src` with the organisation's key into a new file
 * `tmp` (a leftover of that name is replaced), synced and closed; *final says
 * whether the box finished it. Returns 0 or negative errno; on failure tmp
 * may be left behind, for the caller to unlink. */
int open_sealed_into(const struct adm_org *org, const char *src, const char *id, const char *tmp,
		     bool *final, char *why, size_t whylen)
{
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
	int r = adm_open_sealed(org, in, id, out, final, &got, why, whylen);
	close(in);
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (close(out) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Opens a box-sealed original into <id>.opus (tmp, fsync, rename, fsync
 * folder): refused unless it opens with the organisation's key as this
 * recording; one cut off (no last message: the box was interrupted) has
 * its Ogg end finished by the box's own repair (dr_recover_file) before it
 * is renamed. A video's playable form is its browser copy (open_video,
 * collect_video.c). The playable copy's hash goes into rec. */
int open_original(const struct adm_org *org, const char *dir, const char *id,
			 struct json_object *rec)
{
	if (!strcmp(rec_media(rec), "video"))
		return open_video(org, dir, id, rec);
	char src[4200], dst[4200], tmp[4300], hex[65];
	form_path(src, sizeof(src), dir, id, "audio", true);
	form_path(dst, sizeof(dst), dir, id, "audio", false);
	adm_fmt(tmp, sizeof(tmp), "%s.tmp", dst);
	bool final = false;
	char why[256];
	int r = open_sealed_into(org, src, id, tmp, &final, why, sizeof(why));
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
int unseal_to_plain(const struct adm_org *org, const char *dir, const char *dev,
			   const char *id, struct json_object *rec, const char *hash,
			   uint64_t size)
{
	char src[4200], dst[4200], tmp[4300], ad[128], hex[65];
	form_path(src, sizeof(src), dir, id, rec_media(rec), true);
	if (file_is_v2(src)) {
		if (!row_v2(rec))
			return -EBADMSG; /* a box-sealed file where the PC's should be */
		return open_original(org, dir, id, rec);
	}
	if (row_v2(rec))
		return -EBADMSG;
	/* before format 2: sound only */
	form_path(src, sizeof(src), dir, id, "audio", true);
	form_path(dst, sizeof(dst), dir, id, "audio", false);
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
int seal_plain(const struct adm_org *org, const char *dir, const char *dev, const char *id,
		      const char *hash, uint64_t size)
{
	char src[4200], dst[4200], ad[128];
	form_path(src, sizeof(src), dir, id, "audio", false);
	form_path(dst, sizeof(dst), dir, id, "audio", true);
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
int forms_make(const struct adm_org *org, const char *dir, const char *dev,
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
			form_path(other, sizeof(other), dir, id, "audio", !sealed);
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
 * there and verified. v2: a playable copy of a locked recording, and what a
 * killed run left half made (the original is never removed here). */
void forms_tidy(const struct adm_org *org, const char *dir, const char *dev,
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
		form_path(other, sizeof(other), dir, id, rec_media(rec), !sealed);
		if (row_v2(rec)) {
			bool gone = sealed && unlink(other) == 0;
			/* half-made copies (a video's opened Matroska among them):
			 * nothing else writes here while collect holds the lock */
			static const char *const left[] = {"tmp-playable", "tmp-opened", "opened"};
			for (size_t k = 0; k < 3; k++) {
				char p[4200];
				if (k == 2 && (!sealed || strcmp(rec_media(rec), "video")))
					continue; /* a sound's opened form is its playable copy */
				form_path_kind(p, sizeof(p), dir, id, rec_media(rec), left[k]);
				gone = unlink(p) == 0 || gone;
			}
			if (gone)
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
unsigned expire_locked(const char *dir, struct json_object *idx, int64_t now, long days)
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
		form_path(p, sizeof(p), dir, id, rec_media(rec), false);
		if (access(p, F_OK) == 0)
			continue; /* a playable copy: sealed first, by forms_make */
		form_path(p, sizeof(p), dir, id, rec_media(rec), true);
		bool gone = unlink(p) == 0;
		if (!gone && errno != ENOENT) {
			fprintf(stderr, "collect: recording %s: cannot delete %s: %s\n", id, p,
				strerror(errno));
			continue;
		}
		if (adm_fsync_dir_of(p) < 0)
			continue; /* the catalogue says expired only once the unlink is durable */
		if (gone) {
			/* recorded as deleted (catalogue events, audit log) */
			char name[64];
			struct json_object *del = json_object_new_array();
			if (adm_archive_file_name(name, sizeof(name), id, rec_media(rec), "sealed") == 0)
				json_object_array_add(del, json_object_new_string(name));
			json_object_object_add(rec, "_deleted", del);
		}
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
bool only_expired(struct json_object *idx, const struct dr_manifest *m, const char *receipt)
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

struct due_ctx {
	int64_t now;
	long days;
};

/* 1 (stops the listing) at an archived row past retention: the box needs
 * expire_locked's full look; rows only, no working copy */
static int any_due(void *ctx, const struct adm_rec *r)
{
	const struct due_ctx *c = ctx;
	int64_t start;
	return !strcmp(r->status, "archived") && dr_stick_time_parse(r->start_utc, &start) == 0 &&
	       c->now - start > (int64_t)c->days * 86400;
}

/* The boxes with a row any_due says is past retention (rows come in
 * start order; the list is sorted and made unique after) */
struct due_boxes {
	struct due_ctx c;
	struct boxes b;
};

static int box_cmp(const void *x, const void *y)
{
	return strcmp(x, y);
}

static int due_box(void *ctx, const struct adm_rec *r)
{
	struct due_boxes *d = ctx;
	if (!any_due(&d->c, r) || (d->b.n && !strcmp(d->b.v[d->b.n - 1], r->box)))
		return 0;
	void *nv = realloc(d->b.v, (d->b.n + 1) * sizeof(*d->b.v));
	if (!nv)
		return -ENOMEM;
	d->b.v = nv;
	snprintf(d->b.v[d->b.n++], sizeof(*d->b.v), "%s", r->box);
	return 0;
}

/* The retention rule over the archive (also boxes not on this stick). One
 * catalogue query, on the start_utc index, finds the rows that started
 * before the retention (start_utc is YYYY-MM-DDTHH:MM:SS[.mmm]Z, so the
 * text order is the time order, and dr_stick_time_parse only moves a start
 * later, never earlier, than its text: the query misses no row any_due
 * takes); a box is loaded as a working copy only if one of them is past
 * retention (the same first test as expire_locked's), and expire_locked
 * decides, with the staff's consent changes, which of its recordings are
 * locked and expire. */
int expire_archive(const char *archive, int64_t now, long days)
{
	char to[32];
	dr_stick_time_format(now - (int64_t)days * 86400 - 1, to);
	struct due_boxes d = {.c = {now, days}};
	int r = cat->ops->rec_each(cat, &(struct adm_query){.to_utc = to, .by_start = true},
				   due_box, &d) < 0
			? -EBADMSG
			: 0;
	if (d.b.n)
		qsort(d.b.v, d.b.n, sizeof(*d.b.v), box_cmp);
	size_t n = 0;
	for (size_t i = 0; i < d.b.n; i++)
		if (!n || strcmp(d.b.v[n - 1], d.b.v[i]))
			memmove(d.b.v[n++], d.b.v[i], sizeof(*d.b.v));
	d.b.n = n;
	for (size_t i = 0; r == 0 && i < d.b.n; i++) {
		char dir[4200];
		struct json_object *idx = index_load(NULL, d.b.v[i]);
		if (!idx || adm_archive_path(dir, sizeof(dir), archive, d.b.v[i], NULL, NULL, NULL) < 0)
			r = -EBADMSG;
		if (r == 0 && expire_locked(dir, idx, now, days) > 0)
			r = index_save(dir, idx);
		json_object_put(idx);
	}
	free(d.b.v);
	return r;
}
