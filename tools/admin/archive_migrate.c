/* SPDX-License-Identifier: MIT */
/*
 * An archive made before the catalogue kept, per box, <box>/index.json
 * (recordings by id, and the changes staff entered). On the first open,
 * every box folder's index.json goes into the catalogue in one transaction;
 * once it is committed each is renamed index.json.migrated (kept, never
 * read again). An index that is not a regular file, cannot be read, is not
 * JSON, or holds a row whose id is not a recording id stops everything with
 * a message: nothing is migrated and no new archive is begun.
 *
 * A box folder the catalogue does not list and that has no index.json
 * (the catalogue deleted or replaced) is refused too: repair rebuilds it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "archive.h"
#include "archive_priv.h"

#define INDEX_MAX (64u << 20)

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : "";
}

static bool jbool(struct json_object *o, const char *k, bool dflt)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_boolean)
		       ? json_object_get_boolean(v)
		       : dflt;
}

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_int)
		       ? json_object_get_int64(v)
		       : 0;
}

/* 1 if src does not fit (then cut): a row is never stored altered */
static int copy(char *dst, size_t n, const char *src)
{
	size_t k = strnlen(src, n);
	int cut = k == n;
	if (cut)
		k = n - 1;
	memcpy(dst, src, k);
	dst[k] = 0;
	return cut;
}
#define COPY(dst, src) (bad |= copy((dst), sizeof(dst), (src)))

/* Reads <box>/index.json (a regular file, without blocking) and parses it. */
static int load_index(int dirfd, const char *box, struct json_object **out, char *err,
		      size_t errlen)
{
	char rel[64];
	snprintf(rel, sizeof(rel), "%.16s/index.json", box);
	int fd;
	uint64_t size;
	int r = adm_open_regular_at(dirfd, rel, &fd, &size);
	if (r == -ENOENT)
		return r;
	if (r < 0 || size > INDEX_MAX) {
		snprintf(err, errlen, "%s cannot be read (%s): the archive cannot be migrated; "
				      "nothing was changed",
			 rel, r == -EINVAL ? "not a regular file: a symlink, FIFO or device"
			 : r < 0	   ? strerror(-r)
					   : "too large");
		if (fd >= 0)
			close(fd);
		return r < 0 ? -EBADMSG : -EFBIG;
	}
	char *b = malloc(size + 1);
	size_t got = 0;
	ssize_t n = 1;
	while (b && got < size && (n = read(fd, b + got, size - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (!b)
		return -ENOMEM;
	b[got] = 0;
	struct json_tokener *tok = json_tokener_new();
	struct json_object *j = tok ? json_tokener_parse_ex(tok, b, (int)got) : NULL;
	bool whole = tok && json_tokener_get_error(tok) == json_tokener_success &&
		     (size_t)json_tokener_get_parse_end(tok) == got;
	json_tokener_free(tok);
	free(b);
	struct json_object *recs;
	if (n < 0 || got != size || !j || !whole || !json_object_is_type(j, json_type_object) ||
	    !json_object_object_get_ex(j, "recordings", &recs) ||
	    !json_object_is_type(recs, json_type_object) ||
	    strcmp(jstr(j, "format"), "diaryroom-archive-index")) {
		snprintf(err, errlen, "%s is damaged (cut short, altered, or not an archive index): "
				      "the archive cannot be migrated; nothing was changed",
			 rel);
		json_object_put(j);
		return -EBADMSG;
	}
	*out = j;
	return 0;
}

static int migrate_box(struct adm_archive *a, const char *box, struct json_object *idx, char *err,
		       size_t errlen)
{
	struct json_object *recs, *ch;
	json_object_object_get_ex(idx, "recordings", &recs);
	int r = a->ops->box_add(a, box, ""), bad = 0;
	json_object_object_foreach(recs, id, o)
	{
		if (r < 0)
			break;
		if (!adm_rec_id_ok(id) || !json_object_is_type(o, json_type_object)) {
			snprintf(err, errlen, "%s/index.json lists a recording whose id is not a "
					      "recording id (altered?): the archive cannot be migrated; "
					      "nothing was changed", box);
			return -EBADMSG;
		}
		struct adm_rec x = {0};
		COPY(x.box, box);
		COPY(x.id, id);
		COPY(x.receipt, jstr(o, "receipt"));
		COPY(x.state, jstr(o, "state"));
		COPY(x.media, "audio");
		adm_archive_file_name(x.file, sizeof(x.file), id, "audio", "sealed");
		COPY(x.start_utc, jstr(o, "start_utc"));
		COPY(x.end_utc, jstr(o, "end_utc"));
		x.duration_ms = jint(o, "duration_ms");
		x.size = (uint64_t)jint(o, "size");
		COPY(x.blake2b, jstr(o, "blake2b"));
		COPY(x.playable_blake2b, jstr(o, "playable_blake2b"));
		COPY(x.consent_staff, jstr(o, "consent_staff"));
		COPY(x.consent_share, jstr(o, "consent_share"));
		x.locked = jbool(o, "locked", true);
		x.time_uncertain = jbool(o, "time_uncertain", false);
		x.sealed_original = jbool(o, "sealed_original", false);
		COPY(x.status, jstr(o, "status"));
		COPY(x.collected_utc, jstr(o, "collected_utc"));
		COPY(x.retention_ended_utc, jstr(o, "retention_ended_utc"));
		r = bad ? -EBADMSG : a->ops->rec_put(a, &x);
		if (r < 0) {
			snprintf(err, errlen, "%s/index.json: recording %s: %s: the archive cannot be "
					      "migrated; nothing was changed", box, id, a->err);
			return -EBADMSG;
		}
		struct adm_consent c = {0};
		COPY(c.box, box);
		COPY(c.id, id);
		COPY(c.at_utc, x.collected_utc);
		COPY(c.staff, x.consent_staff);
		COPY(c.share, x.consent_share);
		COPY(c.source, "migration");
		COPY(c.detail, "as the archive's index.json held it");
		r = a->ops->consent_add(a, &c);
	}
	if (r == 0 && json_object_object_get_ex(idx, "changes", &ch) &&
	    json_object_is_type(ch, json_type_array)) {
		size_t n = json_object_array_length(ch);
		for (size_t i = 0; r == 0 && i < n; i++) {
			struct json_object *e = json_object_array_get_idx(ch, i);
			struct adm_change c = {0};
			COPY(c.box, box);
			COPY(c.kind, jstr(e, "kind"));
			COPY(c.receipt, jstr(e, "receipt"));
			COPY(c.staff, jstr(e, "staff"));
			COPY(c.share, jstr(e, "share"));
			COPY(c.entered_utc, jstr(e, "entered_utc"));
			r = bad ? -EBADMSG : a->ops->change_add(a, &c);
			if (r < 0)
				snprintf(err, errlen, "%s/index.json: change %zu: %s: the archive "
						      "cannot be migrated; nothing was changed",
					 box, i, a->err);
		}
	}
	if (r < 0 && !err[0])
		snprintf(err, errlen, "%s", a->err);
	return r;
}

struct known {
	char (*boxes)[ADM_BOX_HEX + 1];
	size_t n;
};

static int add_known(void *ctx, const char *box)
{
	struct known *k = ctx;
	void *nb = realloc(k->boxes, (k->n + 1) * sizeof(*k->boxes));
	if (!nb)
		return -ENOMEM;
	k->boxes = nb;
	memcpy(k->boxes[k->n++], box, ADM_BOX_HEX + 1);
	return 0;
}

static bool is_known(const struct known *k, const char *box)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->boxes[i], box))
			return true;
	return false;
}

/* The folder holds anything but "." and "..". */
static bool dir_has_files(int dirfd, const char *box)
{
	int fd = openat(dirfd, box, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return fd < 0; /* cannot look: say it has */
	}
	struct dirent *de;
	bool any = false;
	while (!any && (de = readdir(d)))
		any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return any;
}

int adm_archive_migrate(struct adm_archive *a, bool refuse_unknown, char *err, size_t errlen)
{
	err[0] = 0;
	struct known k = {0};
	int r = a->ops->box_each(a, add_known, &k);
	if (r < 0) {
		snprintf(err, errlen, "%s", a->err);
		return r;
	}
	int dfd = dup(a->dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		free(k.boxes);
		snprintf(err, errlen, "cannot list the archive folder");
		return -EIO;
	}
	char (*todo)[ADM_BOX_HEX + 1] = NULL, (*done_)[ADM_BOX_HEX + 1] = NULL;
	size_t ntodo = 0, ndone = 0;
	struct dirent *de;
	bool began = false;
	while (r == 0 && (de = readdir(d))) {
		if (!adm_box_ok(de->d_name))
			continue;
		struct json_object *idx = NULL;
		int lr = load_index(a->dirfd, de->d_name, &idx, err, errlen);
		if (lr == -ENOENT) {
			if (refuse_unknown && !is_known(&k, de->d_name) &&
			    dir_has_files(a->dirfd, de->d_name)) {
				snprintf(err, errlen, "box folder %s is not in the catalogue (was the "
						      "catalogue deleted or replaced?): refused; "
						      "`diaryroom-admin repair` rebuilds it from the "
						      "files and the kept manifests", de->d_name);
				r = -EBADMSG;
			}
			continue;
		}
		if (lr < 0) {
			r = lr;
			break;
		}
		void *nd = realloc(done_, (ndone + 1) * sizeof(*done_));
		if (!nd) {
			json_object_put(idx);
			r = -ENOMEM;
			break;
		}
		done_ = nd;
		memcpy(done_[ndone++], de->d_name, ADM_BOX_HEX + 1);
		if (is_known(&k, de->d_name)) {
			json_object_put(idx); /* migrated before, renamed not yet */
			continue;
		}
		if (!began) {
			r = a->ops->begin(a);
			began = r == 0;
			if (r < 0)
				snprintf(err, errlen, "%s", a->err);
		}
		if (r == 0)
			r = migrate_box(a, de->d_name, idx, err, errlen);
		json_object_put(idx);
		ntodo++;
	}
	closedir(d);
	free(todo);
	free(k.boxes);
	if (began && r == 0) {
		r = a->ops->commit(a);
		if (r < 0)
			snprintf(err, errlen, "%s", a->err);
	} else if (began) {
		a->ops->rollback(a);
	}
	for (size_t i = 0; r == 0 && i < ndone; i++) {
		char from[64], to[64];
		snprintf(from, sizeof(from), "%.16s/index.json", done_[i]);
		snprintf(to, sizeof(to), "%.16s/index.json.migrated", done_[i]);
		if (renameat(a->dirfd, from, a->dirfd, to) == 0)
			fsync(a->dirfd);
	}
	if (r == 0 && ntodo)
		fprintf(stderr, "archive: %zu box folder(s) of an older archive (index.json) moved "
				"into the catalogue; each index.json kept as index.json.migrated\n",
			ntodo);
	free(done_);
	return r;
}
