/* SPDX-License-Identifier: MIT */
/*
 * dr_store: recordings (begin, finish, discard, queries) and the audit log.
 *
 * Every change is one transaction holding both the recordings row and its
 * audit row, committed with synchronous=FULL (see store.c) before the
 * function returns. On any failure the transaction is rolled back, so the
 * catalogue is exactly as it was (for example after a full disk).
 *
 * File names are always made from a validated id, never read back from the
 * catalogue, so a tampered catalogue cannot make discard delete other files.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_priv.h"

#define DR_STORE_ID_BYTES 16
/* Every recording is sealed to the organisation (app/seal/seal.h). A box
 * upgraded from a version before sealing may still hold plain ".opus" files
 * until they leave it: dr_store_rec_path finds those by their old name. */

bool dr_store_id_ok(const char *id)
{
	if (!id || strlen(id) != DR_STORE_ID_LEN)
		return false;
	for (size_t i = 0; i < DR_STORE_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

static int dr_store_state_parse(const char *name, enum dr_rec_state *st)
{
	for (int i = DR_REC_RECORDING; i <= DR_REC_DELETED; i++) {
		if (name && strcmp(name, dr_rec_state_name((enum dr_rec_state)i)) == 0) {
			*st = (enum dr_rec_state)i;
			return 0;
		}
	}
	return -EIO;
}

int dr_store_prepare(struct dr_store *s, const char *sql, sqlite3_stmt **st,
			    const char *what, char *err, size_t errlen)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
	if (rc == SQLITE_OK)
		return 0;
	*st = NULL;
	return dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), err, errlen, "%s: %s", what,
			     sqlite3_errmsg(s->db));
}

/* Steps a statement that returns no rows, then finalizes it. */
int dr_store_step_done(struct dr_store *s, sqlite3_stmt *st, const char *what, char *err,
			      size_t errlen)
{
	int rc = sqlite3_step(st);
	int r = 0;
	if (rc != SQLITE_DONE)
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), err, errlen, "%s: %s", what,
				  sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return r;
}

void dr_store_bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Values for the audit detail expression: texts ?3 ?4 ?5, integers ?6 ?7. */

/* detail_sql is a constant SQL expression over the args producing the
 * detail, e.g. "json_object('reason', ?3)" (json_object escapes for us). */
int dr_store_insert_audit(struct dr_store *s, const char *id, const char *action,
				 const char *detail_sql, const struct dr_store_audit_args *a,
				 const char *what, char *err, size_t errlen)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "INSERT INTO audit (at_utc, recording_id, action, detail) VALUES (%s, ?1, ?2, %s)",
		 DR_STORE_NOW_SQL, detail_sql);
	sqlite3_stmt *st;
	int r = dr_store_prepare(s, sql, &st, what, err, errlen);
	if (r < 0)
		return r;
	dr_store_bind_text_or_null(st, 1, id);
	sqlite3_bind_text(st, 2, action, -1, SQLITE_STATIC);
	/* Binding a number the expression does not use is harmless (SQLITE_RANGE). */
	for (int i = 0; i < 3; i++)
		dr_store_bind_text_or_null(st, 3 + i, a->t[i]);
	for (int i = 0; i < 2; i++)
		sqlite3_bind_int64(st, 6 + i, a->n[i]);
	return dr_store_step_done(s, st, what, err, errlen);
}

/* The state of a recording, -ENOENT if there is no such recording. */
int dr_store_state_of(struct dr_store *s, const char *id, enum dr_rec_state *state,
			     const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int r = dr_store_prepare(s, "SELECT state FROM recordings WHERE id = ?1", &st, what, err,
				 errlen);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = dr_store_state_parse((const char *)sqlite3_column_text(st, 0), state);
	else if (rc == SQLITE_DONE)
		r = dr_store_fail(s, -ENOENT, err, errlen, "%s: no recording %s", what, id);
	else
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), err, errlen, "%s: %s", what,
				  sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return r;
}

static int dr_store_insert_rec(struct dr_store *s, const char *id, enum dr_media media,
			       const char *file, const char *start_utc, uint64_t start_mono_ms,
			       char *err, size_t errlen)
{
	static const char what[] = "cannot record the new recording in the catalogue";
	sqlite3_stmt *st;
	/* created_run_ms: the running-time counter now, exact (the in-memory
	 * sum, not the last flushed value), so that the retention rule never
	 * counts a recording older than it is */
	uint64_t run_ms;
	int r = dr_store_run_now(s, &run_ms);
	if (r < 0)
		return dr_store_fail(s, r, err, errlen, "%s: %s", what, dr_store_errmsg(s));
	r = dr_store_prepare(s,
			     "INSERT INTO recordings (id, state, file, start_utc, start_mono_ms,"
			     " created_utc, updated_utc, created_run_ms, media) VALUES (?1,"
			     " 'recording', ?2, ?3, ?4, " DR_STORE_NOW_SQL ", " DR_STORE_NOW_SQL
			     ", ?5, ?6)",
			     &st, what, err, errlen);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, file, -1, SQLITE_STATIC);
	dr_store_bind_text_or_null(st, 3, start_utc);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)start_mono_ms);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)run_ms);
	sqlite3_bind_text(st, 6, dr_media_name(media), -1, SQLITE_STATIC);
	r = dr_store_step_done(s, st, what, err, errlen);
	if (r < 0)
		return r;
	struct dr_store_audit_args a = {.t = {start_utc, dr_media_name(media)},
					.n = {(sqlite3_int64)start_mono_ms}};
	return dr_store_insert_audit(s, id, "begin",
				     "json_object('start_utc', ?3, 'start_mono_ms', ?6, 'media', ?4)",
				     &a, what, err, errlen);
}

int dr_store_begin(struct dr_store *s, const char *start_utc, uint64_t start_mono_ms,
		   char id[DR_STORE_ID_LEN + 1], char *path, size_t pathlen, char *err, size_t errlen)
{
	return dr_store_begin_media(s, DR_MEDIA_AUDIO, start_utc, start_mono_ms, id, path, pathlen,
				    err, errlen);
}

int dr_store_begin_media(struct dr_store *s, enum dr_media media, const char *start_utc,
			 uint64_t start_mono_ms, char id[DR_STORE_ID_LEN + 1], char *path,
			 size_t pathlen, char *err, size_t errlen)
{
	if (!s || !id || !path || start_mono_ms > INT64_MAX ||
	    (media != DR_MEDIA_AUDIO && media != DR_MEDIA_VIDEO))
		return dr_store_fail(s, -EINVAL, err, errlen, "dr_store_begin: invalid argument");
	int r = -EEXIST;
	/* 128 random bits never collide in practice; the loop only makes sure a
	 * collision (or a stray file) can never make two recordings share a file. */
	for (int attempt = 0; attempt < 3 && r == -EEXIST; attempt++) {
		unsigned char raw[DR_STORE_ID_BYTES];
		randombytes_buf(raw, sizeof(raw));
		char newid[DR_STORE_ID_LEN + 1];
		sodium_bin2hex(newid, sizeof(newid), raw, sizeof(raw));
		char file[64];
		snprintf(file, sizeof(file), DR_STORE_RECDIR "/%s%s" DR_STORE_EXT_SEALED, newid,
			 dr_media_ext(media));
		char abs[PATH_MAX];
		if (dr_store_rec_path_media(s, newid, media, "", abs, sizeof(abs)) < 0 ||
		    strlen(abs) >= pathlen)
			return dr_store_fail(s, -ENAMETOOLONG, err, errlen,
					     "recording path does not fit in %zu bytes", pathlen);
		if (access(abs, F_OK) == 0)
			continue; /* r stays -EEXIST: try another id */

		r = dr_store_txn_begin(s, "cannot start a recording", err, errlen);
		if (r < 0)
			return r;
		r = dr_store_insert_rec(s, newid, media, file, start_utc, start_mono_ms, err, errlen);
		if (r == 0)
			r = dr_store_txn_commit(s, "cannot commit the new recording", err, errlen);
		if (r < 0) {
			bool clash = sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_PRIMARYKEY;
			dr_store_txn_rollback(s);
			if (clash)
				r = -EEXIST; /* the id exists: try another */
			continue;
		}
		memcpy(id, newid, sizeof(newid));
		memcpy(path, abs, strlen(abs) + 1);
	}
	if (r == -EEXIST)
		return dr_store_fail(s, -EIO, err, errlen, "cannot find a free recording id");
	return r;
}

int dr_store_finish(struct dr_store *s, const char *id, enum dr_rec_state state,
		    uint64_t duration_ms, const char *note, char *err, size_t errlen)
{
	if (!s || !dr_store_id_ok(id))
		return dr_store_fail(s, -EINVAL, err, errlen, "finish: invalid recording id");
	if (state != DR_REC_COMPLETE && state != DR_REC_INTERRUPTED)
		return dr_store_fail(s, -EINVAL, err, errlen,
				     "finish %s: a recording can only finish as complete or "
				     "interrupted, not %s",
				     id, dr_rec_state_name(state));
	if (duration_ms > INT64_MAX)
		return dr_store_fail(s, -EINVAL, err, errlen, "finish %s: duration out of range", id);
	char what[96];
	snprintf(what, sizeof(what), "finish %s", id);
	enum dr_rec_state cur;
	int r = dr_store_state_of(s, id, &cur, what, err, errlen);
	if (r < 0)
		return r;
	if (cur != DR_REC_RECORDING)
		return dr_store_fail(s, -EINVAL, err, errlen, "%s: the recording is already %s",
				     what, dr_rec_state_name(cur));

	/* Make the file durable before the catalogue says it is kept, and hash
	 * exactly what is durable. */
	char path[PATH_MAX];
	r = dr_store_rec_path(s, id, "", path, sizeof(path));
	if (r < 0)
		return dr_store_fail(s, r, err, errlen, "%s: path too long", what);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		int e = errno;
		return dr_store_fail(s, -e, err, errlen, "%s: cannot open %s: %s", what, path,
				     strerror(e));
	}
	struct stat stbuf;
	char hex[65];
	if (fsync(fd) < 0 || fstat(fd, &stbuf) < 0) {
		int e = errno;
		close(fd);
		return dr_store_fail(s, dr_store_os_errno(e, -e), err, errlen,
				     "%s: cannot sync %s: %s", what, path, strerror(e));
	}
	r = dr_hash_fd(fd, hex);
	close(fd);
	if (r < 0)
		return dr_store_fail(s, r, err, errlen, "%s: cannot hash %s: %s", what, path,
				     strerror(-r));
	r = dr_store_sync_dir(s->recdir);
	if (r < 0)
		return dr_store_fail(s, r, err, errlen, "%s: cannot sync %s: %s", what, s->recdir,
				     strerror(-r));

	r = dr_store_txn_begin(s, what, err, errlen);
	if (r < 0)
		return r;
	sqlite3_stmt *st;
	r = dr_store_prepare(s,
			     "UPDATE recordings SET state = ?2,"
			     " end_utc = CASE WHEN ?2 = 'complete' THEN " DR_STORE_NOW_SQL " END,"
			     " duration_ms = ?3, size_bytes = ?4, blake2b = ?5, note = ?6,"
			     " updated_utc = " DR_STORE_NOW_SQL
			     " WHERE id = ?1 AND state = 'recording'",
			     &st, what, err, errlen);
	if (r < 0)
		goto err_rollback;
	const char *stname = dr_rec_state_name(state);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, stname, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)duration_ms);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)stbuf.st_size);
	sqlite3_bind_text(st, 5, hex, -1, SQLITE_STATIC);
	dr_store_bind_text_or_null(st, 6, note);
	r = dr_store_step_done(s, st, what, err, errlen);
	if (r == 0 && sqlite3_changes(s->db) != 1)
		r = dr_store_fail(s, -EIO, err, errlen, "%s: the recording changed meanwhile", what);
	if (r == 0) {
		struct dr_store_audit_args a = {
			.t = {stname, hex, note},
			.n = {(sqlite3_int64)duration_ms, (sqlite3_int64)stbuf.st_size},
		};
		r = dr_store_insert_audit(s, id, "finish",
					  "json_object('state', ?3, 'duration_ms', ?6,"
					  " 'size_bytes', ?7, 'blake2b', ?4, 'note', ?5)",
					  &a, what, err, errlen);
	}
	if (r == 0)
		r = dr_store_txn_commit(s, what, err, errlen);
	if (r < 0)
		goto err_rollback;
	return 0;

err_rollback:
	dr_store_txn_rollback(s);
	return r;
}

int dr_store_discard(struct dr_store *s, const char *id, const char *reason, char *err,
		     size_t errlen)
{
	if (!s || !dr_store_id_ok(id))
		return dr_store_fail(s, -EINVAL, err, errlen, "discard: invalid recording id");
	char what[96];
	snprintf(what, sizeof(what), "discard %s", id);
	enum dr_rec_state cur;
	int r = dr_store_state_of(s, id, &cur, what, err, errlen);
	if (r < 0)
		return r;
	if (cur == DR_REC_COMPLETE || cur == DR_REC_INTERRUPTED)
		return dr_store_fail(s, -EPERM, err, errlen,
				     "%s: the recording is kept (%s); refusing to delete it", what,
				     dr_rec_state_name(cur));

	/* Delete first, then record it: a power cut in between leaves a row in
	 * state "recording" with no file, which recovery discards again. The
	 * other order could leave the words of a discarded recording on disk. */
	static const char *const suffixes[] = {"", ".repair"};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char path[PATH_MAX];
		r = dr_store_rec_path(s, id, suffixes[i], path, sizeof(path));
		if (r < 0)
			return dr_store_fail(s, r, err, errlen, "%s: path too long", what);
		if (unlink(path) < 0 && errno != ENOENT) {
			int e = errno;
			return dr_store_fail(s, dr_store_os_errno(e, -e), err, errlen,
					     "%s: cannot delete %s: %s", what, path, strerror(e));
		}
	}
	r = dr_store_sync_dir(s->recdir);
	if (r < 0)
		return dr_store_fail(s, r, err, errlen, "%s: cannot sync %s: %s", what, s->recdir,
				     strerror(-r));
	if (cur == DR_REC_DISCARDED)
		return 0; /* already recorded as discarded; the file is gone for sure now */

	r = dr_store_txn_begin(s, what, err, errlen);
	if (r < 0)
		return r;
	sqlite3_stmt *st;
	r = dr_store_prepare(s,
			     "UPDATE recordings SET state = 'discarded', updated_utc = " DR_STORE_NOW_SQL
			     " WHERE id = ?1 AND state = 'recording'",
			     &st, what, err, errlen);
	if (r < 0)
		goto err_rollback;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = dr_store_step_done(s, st, what, err, errlen);
	if (r == 0 && sqlite3_changes(s->db) != 1)
		r = dr_store_fail(s, -EIO, err, errlen, "%s: the recording changed meanwhile", what);
	if (r == 0) {
		struct dr_store_audit_args a = {.t = {reason}};
		r = dr_store_insert_audit(s, id, "discard", "json_object('reason', ?3)", &a, what,
					  err, errlen);
	}
	if (r == 0)
		r = dr_store_txn_commit(s, what, err, errlen);
	if (r < 0)
		goto err_rollback;
	return 0;

err_rollback:
	dr_store_txn_rollback(s);
	return r;
}

#define DR_STORE_REC_COLUMNS \
	"id, state, file, start_utc, duration_ms, size_bytes, blake2b, receipt, consent_staff," \
	" consent_share, media"

static int dr_store_fill_rec(struct dr_store *s, sqlite3_stmt *st, struct dr_store_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	const char *id = (const char *)sqlite3_column_text(st, 0);
	const char *state = (const char *)sqlite3_column_text(st, 1);
	const char *file = (const char *)sqlite3_column_text(st, 2);
	const char *start = (const char *)sqlite3_column_text(st, 3);
	const char *hash = (const char *)sqlite3_column_text(st, 6);
	if (!dr_store_id_ok(id) || dr_store_state_parse(state, &rec->state) < 0 || !file ||
	    dr_media_parse((const char *)sqlite3_column_text(st, 10), &rec->media) < 0)
		return dr_store_fail(s, -EIO, NULL, 0, "catalogue row with a bad id, state or media");
	memcpy(rec->id, id, DR_STORE_ID_LEN + 1);
	int n = snprintf(rec->path, sizeof(rec->path), "%s/%s", s->dir, file);
	if (n < 0 || (size_t)n >= sizeof(rec->path))
		return dr_store_fail(s, -ENAMETOOLONG, NULL, 0, "recording %s: path too long", id);
	snprintf(rec->start_utc, sizeof(rec->start_utc), "%s", start ? start : "");
	sqlite3_int64 d = sqlite3_column_int64(st, 4), z = sqlite3_column_int64(st, 5);
	rec->duration_ms = d > 0 ? (uint64_t)d : 0;
	rec->size = z > 0 ? (uint64_t)z : 0;
	snprintf(rec->blake2b, sizeof(rec->blake2b), "%s", hash ? hash : "");
	const char *receipt = (const char *)sqlite3_column_text(st, 7);
	snprintf(rec->receipt, sizeof(rec->receipt), "%s", receipt ? receipt : "");
	for (int i = 0; i < 2; i++) {
		enum dr_consent *c = i ? &rec->consent_share : &rec->consent_staff;
		if (sqlite3_column_type(st, 8 + i) == SQLITE_NULL)
			*c = DR_CONSENT_UNANSWERED;
		else
			*c = sqlite3_column_int(st, 8 + i) ? DR_CONSENT_YES : DR_CONSENT_NO;
	}
	return 0;
}

int dr_store_get(struct dr_store *s, const char *id, struct dr_store_rec *rec)
{
	if (!s || !id || !rec)
		return -EINVAL;
	sqlite3_stmt *st;
	int r = dr_store_prepare(s, "SELECT " DR_STORE_REC_COLUMNS " FROM recordings WHERE id = ?1",
				 &st, "get", NULL, 0);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = dr_store_fill_rec(s, st, rec);
	else if (rc == SQLITE_DONE)
		r = dr_store_fail(s, -ENOENT, NULL, 0, "no recording %s", id);
	else
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), NULL, 0, "get %s: %s", id,
				  sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return r;
}

int dr_store_each(struct dr_store *s, enum dr_rec_state state,
		  int (*fn)(void *user, const struct dr_store_rec *rec), void *user)
{
	if (!s || !fn)
		return -EINVAL;
	/* Read everything first, then call back: fn may change the catalogue
	 * (recovery finishes or discards the rows it is handed). */
	sqlite3_stmt *st;
	int r = dr_store_prepare(s,
				 "SELECT " DR_STORE_REC_COLUMNS
				 " FROM recordings WHERE state = ?1 ORDER BY rowid",
				 &st, "list", NULL, 0);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, dr_rec_state_name(state), -1, SQLITE_STATIC);
	struct dr_store_rec *recs = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct dr_store_rec *nr = realloc(recs, ncap * sizeof(*nr));
			if (!nr) {
				r = -ENOMEM;
				break;
			}
			recs = nr;
			cap = ncap;
		}
		r = dr_store_fill_rec(s, st, &recs[n]);
		if (r < 0)
			break;
		n++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), NULL, 0, "list: %s",
				  sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = fn(user, &recs[i]);
	free(recs);
	return r;
}

int dr_store_audit(struct dr_store *s, const char *id, const char *action, const char *detail)
{
	if (!s || !action || !*action)
		return -EINVAL;
	struct dr_store_audit_args a = {.t = {detail}};
	return dr_store_insert_audit(s, id, action, "?3", &a, "audit", NULL, 0);
}

int dr_store_plain_path(struct dr_store *s, const char *id, char *path, size_t pathlen)
{
	struct stat st;
	if (!s || !dr_store_id_ok(id) || !path)
		return -EINVAL;
	int n = snprintf(path, pathlen, "%s/" DR_STORE_RECDIR "/%s" DR_STORE_EXT_PLAIN, s->dir, id);
	if (n < 0 || (size_t)n >= pathlen)
		return -ENAMETOOLONG;
	if (lstat(path, &st) < 0)
		return -errno;
	return S_ISREG(st.st_mode) ? 0 : -EINVAL;
}

int dr_store_replace_plain(struct dr_store *s, const char *id, char *err, size_t errlen)
{
	char plain[PATH_MAX], sealed[PATH_MAX], what[96], hex[65];
	struct stat st;
	if (!s || !dr_store_id_ok(id))
		return dr_store_fail(s, -EINVAL, err, errlen, "replace: invalid recording id");
	snprintf(what, sizeof(what), "seal %s", id);
	int n = snprintf(sealed, sizeof(sealed), "%s/" DR_STORE_RECDIR "/%s" DR_STORE_EXT_PLAIN DR_STORE_EXT_SEALED, s->dir, id);
	int m = snprintf(plain, sizeof(plain), "%s/" DR_STORE_RECDIR "/%s" DR_STORE_EXT_PLAIN, s->dir,
			 id);
	if (n < 0 || (size_t)n >= sizeof(sealed) || m < 0 || (size_t)m >= sizeof(plain))
		return dr_store_fail(s, -ENAMETOOLONG, err, errlen, "%s: path too long", what);
	int fd = open(sealed, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		return dr_store_fail(s, -e, err, errlen, "%s: cannot open %s: %s", what, sealed,
				     strerror(e));
	}
	int r = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? dr_hash_fd(fd, hex) : -EINVAL;
	close(fd);
	if (r < 0)
		return dr_store_fail(s, r, err, errlen, "%s: cannot hash %s: %s", what, sealed,
				     strerror(-r));
	char file[64];
	snprintf(file, sizeof(file), DR_STORE_RECDIR "/%s" DR_STORE_EXT_PLAIN DR_STORE_EXT_SEALED, id);
	if ((r = dr_store_txn_begin(s, what, err, errlen)) < 0)
		return r;
	sqlite3_stmt *q;
	if ((r = dr_store_prepare(s,
				  "UPDATE recordings SET file = ?2, size_bytes = ?3, blake2b = ?4, "
				  "updated_utc = " DR_STORE_NOW_SQL
				  " WHERE id = ?1 AND state IN ('complete', 'interrupted')",
				  &q, what, err, errlen)) < 0)
		goto err_rollback;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, file, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)st.st_size);
	sqlite3_bind_text(q, 4, hex, -1, SQLITE_STATIC);
	if ((r = dr_store_step_done(s, q, what, err, errlen)) < 0)
		goto err_rollback;
	if (sqlite3_changes(s->db) != 1) {
		r = dr_store_fail(s, -ENOENT, err, errlen, "%s: not a recording the box holds", what);
		goto err_rollback;
	}
	struct dr_store_audit_args a = {.t = {hex}, .n = {(sqlite3_int64)st.st_size}};
	if ((r = dr_store_insert_audit(s, id, "sealed",
				       "json_object('blake2b', ?3, 'size_bytes', ?6, 'was', 'plain')",
				       &a, what, err, errlen)) < 0 ||
	    (r = dr_store_txn_commit(s, what, err, errlen)) < 0)
		goto err_rollback;
	/* The catalogue names the sealed file now; the plain one goes. A cut
	 * before this leaves it, and the next start seals it again. */
	if (unlink(plain) < 0 && errno != ENOENT) {
		int e = errno;
		return dr_store_fail(s, -e, err, errlen, "%s: cannot delete %s: %s", what, plain,
				     strerror(e));
	}
	(void)dr_store_sync_dir(s->recdir);
	return 0;

err_rollback:
	dr_store_txn_rollback(s);
	return r;
}
