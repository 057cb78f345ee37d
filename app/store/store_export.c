/* SPDX-License-Identifier: MIT */
/*
 * Export to staff sticks (schema v3): the held recordings listed, an
 * export's rows begun, marked and finished, and the helpers the receipt's
 * side (store_receipt.c) shares.
 *
 * Deletion order is always: mark the row (durably, with its audit row), then
 * delete the file. A cut in between leaves a 'deleted' row with a stray file
 * (removed again by the next confirmation pass), never a held row whose file
 * is gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_priv.h"


static void col_text(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const char *v = (const char *)sqlite3_column_text(st, i);
	snprintf(out, outlen, "%s", v ? v : "");
}

static enum dr_consent col_consent(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return DR_CONSENT_UNANSWERED;
	return sqlite3_column_int(st, i) == 1 ? DR_CONSENT_YES : DR_CONSENT_NO;
}

int dr_store_export_each(struct dr_store *s,
			 int (*fn)(void *user, const struct dr_store_export_rec *rec), void *user)
{
	if (!s || !fn)
		return -EINVAL;
	sqlite3_stmt *st;
	int r = dr_store_prepare(s,
				 "SELECT id, state, start_utc, duration_ms, size_bytes, blake2b,"
				 " receipt, consent_staff, consent_share, end_utc, time_uncertain,"
				 " created_utc_box, export_seq, media FROM recordings WHERE " DR_STORE_HELD_SQL
				 " ORDER BY rowid",
				 &st, "list held recordings", NULL, 0);
	if (r < 0)
		return r;
	struct dr_store_export_rec *recs = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		if (!dr_store_id_ok(id))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct dr_store_export_rec *nr = realloc(recs, ncap * sizeof(*nr));
			if (!nr) {
				r = -ENOMEM;
				break;
			}
			recs = nr;
			cap = ncap;
		}
		struct dr_store_export_rec *x = &recs[n++];
		memset(x, 0, sizeof(*x));
		memcpy(x->rec.id, id, DR_STORE_ID_LEN + 1);
		const char *state = (const char *)sqlite3_column_text(st, 1);
		x->rec.state = state && !strcmp(state, "interrupted") ? DR_REC_INTERRUPTED
								     : DR_REC_COMPLETE;
		dr_store_rec_path(s, id, "", x->rec.path, sizeof(x->rec.path));
		/* as dr_store_rec_path names the file: audio unless it says video */
		if (dr_media_parse((const char *)sqlite3_column_text(st, 13), &x->rec.media) < 0)
			x->rec.media = DR_MEDIA_AUDIO;
		col_text(st, 2, x->rec.start_utc, sizeof(x->rec.start_utc));
		x->rec.duration_ms = (uint64_t)sqlite3_column_int64(st, 3);
		x->rec.size = (uint64_t)sqlite3_column_int64(st, 4);
		col_text(st, 5, x->rec.blake2b, sizeof(x->rec.blake2b));
		col_text(st, 6, x->rec.receipt, sizeof(x->rec.receipt));
		x->rec.consent_staff = col_consent(st, 7);
		x->rec.consent_share = col_consent(st, 8);
		col_text(st, 9, x->end_utc, sizeof(x->end_utc));
		x->time_uncertain = sqlite3_column_int(st, 10) != 0;
		col_text(st, 11, x->created_utc_box, sizeof(x->created_utc_box));
		x->export_seq = sqlite3_column_int64(st, 12);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), NULL, 0,
				  "list held recordings: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = fn(user, &recs[i]);
	free(recs);
	return r;
}

int dr_store_run_audited(struct dr_store *s, const struct dr_store_x *x, const char *id,
			 const char *action, const char *detail_sql,
			 const struct dr_store_audit_args *a, const char *what, char *err,
			 size_t errlen, int *changes)
{
	int r = dr_store_txn_begin(s, what, err, errlen);
	if (r < 0)
		return r;
	sqlite3_stmt *st;
	if ((r = dr_store_prepare(s, x->sql, &st, what, err, errlen)) < 0)
		goto err_rollback;
	for (int i = 0; i < 3; i++)
		dr_store_bind_text_or_null(st, 1 + i, x->t[i]);
	for (int i = 0; i < 2; i++)
		sqlite3_bind_int64(st, 4 + i, x->n[i]);
	if ((r = dr_store_step_done(s, st, what, err, errlen)) < 0)
		goto err_rollback;
	int ch = sqlite3_changes(s->db);
	if (changes)
		*changes = ch;
	if (ch > 0 && action &&
	    (r = dr_store_insert_audit(s, id, action, detail_sql, a, what, err, errlen)) < 0)
		goto err_rollback;
	if ((r = dr_store_txn_commit(s, what, err, errlen)) < 0)
		goto err_rollback;
	return 0;

err_rollback:
	dr_store_txn_rollback(s);
	return r;
}

int dr_store_query_int64(struct dr_store *s, const char *sql, const char *arg, int64_t *out)
{
	sqlite3_stmt *st;
	int r = dr_store_prepare(s, sql, &st, "query", NULL, 0);
	if (r < 0)
		return r;
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		r = -ENOENT;
	else
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), NULL, 0, "query: %s",
				  sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return r;
}

int dr_store_export_begin(struct dr_store *s, const char *stick_id, const char *stick_name,
			  int64_t *seq, char *err, size_t errlen)
{
	if (!s || !stick_id || !seq)
		return -EINVAL;
	struct dr_store_x x = {
		.sql = "INSERT INTO exports (stick_id, stick_name, started_utc) VALUES (?1, ?2, " DR_STORE_NOW_SQL ")",
		.t = {stick_id, stick_name},
	};
	struct dr_store_audit_args a = {.t = {stick_id, stick_name}};
	int r = dr_store_run_audited(s, &x, NULL, "export_begin",
			    "json_object('stick', ?3, 'name', ?4, 'seq', last_insert_rowid())", &a,
			    "cannot start the export", err, errlen, NULL);
	if (r < 0)
		return r;
	/* the audit insert changed last_insert_rowid(): read the run back */
	sqlite3_stmt *st;
	r = dr_store_prepare(s, "SELECT max(seq) FROM exports", &st, "cannot start the export",
			     err, errlen);
	if (r < 0)
		return r;
	if (sqlite3_step(st) == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	else
		r = dr_store_fail(s, -EIO, err, errlen, "cannot start the export: %s",
				  sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return r;
}

int dr_store_export_mark(struct dr_store *s, int64_t seq, const char *id, char *err,
			 size_t errlen)
{
	if (!s || !dr_store_id_ok(id))
		return -EINVAL;
	struct dr_store_x x = {
		.sql = "UPDATE recordings SET exported_utc = " DR_STORE_NOW_SQL ", export_seq = ?4,"
		       " updated_utc = " DR_STORE_NOW_SQL " WHERE id = ?1 AND " DR_STORE_HELD_SQL,
		.t = {id},
		.n = {seq},
	};
	struct dr_store_audit_args a = {.n = {seq}};
	int ch = 0;
	int r = dr_store_run_audited(s, &x, id, "exported",
			    "json_object('seq', ?6, 'verified', 'read back, hash matched')", &a,
			    "cannot record the export", err, errlen, &ch);
	if (r == 0 && ch == 0)
		r = dr_store_fail(s, -ENOENT, err, errlen, "cannot record the export: %s is not held",
				  id);
	return r;
}

int dr_store_export_finish(struct dr_store *s, int64_t seq, const char *manifest_blake2b,
			   unsigned count, char *err, size_t errlen)
{
	if (!s || !manifest_blake2b || strlen(manifest_blake2b) != 64)
		return -EINVAL;
	/* the running time now, persisted, for finished_run_ms (best effort:
	 * the value last persisted is at most a minute older, and older only
	 * makes the clock rule more careful) */
	dr_store_running_flush(s, NULL, 0);
	struct dr_store_x x = {
		.sql = "UPDATE exports SET finished_utc = " DR_STORE_NOW_SQL ", manifest_blake2b = ?1,"
		       " count = ?5, finished_run_ms = (SELECT CAST(value AS INTEGER) FROM meta"
		       " WHERE key = 'running_ms') WHERE seq = ?4",
		.t = {manifest_blake2b},
		.n = {seq, count},
	};
	struct dr_store_audit_args a = {.t = {manifest_blake2b}, .n = {seq, count}};
	return dr_store_run_audited(s, &x, NULL, "export_done",
			   "json_object('seq', ?6, 'count', ?7, 'manifest_blake2b', ?3)", &a,
			   "cannot finish the export", err, errlen, NULL);
}

int dr_store_export_lookup(struct dr_store *s, int64_t seq, char manifest_blake2b[65])
{
	if (!s || !manifest_blake2b)
		return -EINVAL;
	manifest_blake2b[0] = '\0';
	sqlite3_stmt *st;
	int r = dr_store_prepare(s,
				 "SELECT manifest_blake2b FROM exports WHERE seq = ?1"
				 " AND finished_utc IS NOT NULL",
				 &st, "look up an export", NULL, 0);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		col_text(st, 0, manifest_blake2b, 65);
	else if (rc == SQLITE_DONE)
		r = -ENOENT;
	else
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), NULL, 0,
				  "look up an export: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	if (r == 0 && strlen(manifest_blake2b) != 64)
		r = -ENOENT;
	return r;
}

int dr_store_export_run_ms(struct dr_store *s, int64_t seq, uint64_t *run_ms)
{
	if (!s || !run_ms)
		return -EINVAL;
	sqlite3_stmt *st;
	int r = dr_store_prepare(s,
				 "SELECT finished_run_ms FROM exports WHERE seq = ?1 AND"
				 " finished_run_ms IS NOT NULL",
				 &st, "look up an export", NULL, 0);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, seq);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(st, 0);
		*run_ms = v > 0 ? (uint64_t)v : 0;
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), NULL, 0,
				  "look up an export: %s", sqlite3_errmsg(s->db));
	}
	sqlite3_finalize(st);
	return r;
}
