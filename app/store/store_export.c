/* SPDX-License-Identifier: MIT */
/*
 * Export to staff sticks, confirmation by the archive, withdrawals by
 * receipt number, the revocation list and the clock check (schema v3).
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

#define HELD_SQL "state IN ('complete', 'interrupted')"

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
				 " created_utc_box, export_seq, media FROM recordings WHERE " HELD_SQL
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

/* Runs one statement with up to 3 text and 2 integer parameters (?1..?3
 * text, ?4..?5 integer) and the audit row, in one transaction. */
struct dr_store_x {
	const char *sql;
	const char *t[3];
	sqlite3_int64 n[2];
};

static int run_audited(struct dr_store *s, const struct dr_store_x *x, const char *id,
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
	int r = run_audited(s, &x, NULL, "export_begin",
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
		       " updated_utc = " DR_STORE_NOW_SQL " WHERE id = ?1 AND " HELD_SQL,
		.t = {id},
		.n = {seq},
	};
	struct dr_store_audit_args a = {.n = {seq}};
	int ch = 0;
	int r = run_audited(s, &x, id, "exported",
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
	return run_audited(s, &x, NULL, "export_done",
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

static int query_int64(struct dr_store *s, const char *sql, const char *arg, int64_t *out)
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

int dr_store_receipt_last_seq(struct dr_store *s, int64_t *seq)
{
	if (!s || !seq)
		return -EINVAL;
	return query_int64(s, "SELECT coalesce(max(seq), 0) FROM exports WHERE receipt_utc IS NOT NULL",
			   NULL, seq);
}

int dr_store_receipt_applied(struct dr_store *s, int64_t seq, const char *detail, char *err,
			     size_t errlen)
{
	if (!s)
		return -EINVAL;
	struct dr_store_x x = {
		.sql = "UPDATE exports SET receipt_utc = " DR_STORE_NOW_SQL " WHERE seq = ?4",
		.n = {seq},
	};
	struct dr_store_audit_args a = {.t = {detail}, .n = {seq}};
	int ch = 0;
	int r = run_audited(s, &x, NULL, "receipt_applied",
			    "json_object('seq', ?6, 'detail', ?3)", &a,
			    "cannot record the receipt", err, errlen, &ch);
	if (r == 0 && ch == 0)
		r = dr_store_fail(s, -ENOENT, err, errlen, "cannot record the receipt: no export %lld",
				  (long long)seq);
	return r;
}

static int unlink_rec_file(struct dr_store *s, const char *id, const char *what, char *err,
			   size_t errlen)
{
	char path[4096];
	if (dr_store_rec_path(s, id, "", path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	if (unlink(path) < 0 && errno != ENOENT)
		return dr_store_fail(s, -errno, err, errlen, "%s: cannot delete %s", what, path);
	dr_store_sync_dir(s->recdir);
	return 0;
}

/* A receipt number leaves the box now (inside the caller's transaction):
 * it rests from now, even if it was resting already. */
static int release_sql(struct dr_store *s, const char *receipt, const char *source,
		       const char *what, char *err, size_t errlen)
{
	uint64_t run_ms;
	int r = dr_store_run_now(s, &run_ms);
	if (r < 0)
		return dr_store_fail(s, r, err, errlen, "%s: %s", what, dr_store_errmsg(s));
	sqlite3_stmt *st;
	if ((r = dr_store_prepare(s,
				  "INSERT INTO receipts_held (receipt, source, added_utc, released_run_ms)"
				  " VALUES (?1, ?2, " DR_STORE_NOW_SQL ", ?3) ON CONFLICT (receipt) DO"
				  " UPDATE SET source = excluded.source, added_utc = excluded.added_utc,"
				  " released_run_ms = max(released_run_ms, excluded.released_run_ms)",
				  &st, what, err, errlen)) < 0)
		return r;
	sqlite3_bind_text(st, 1, receipt, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)run_ms);
	return dr_store_step_done(s, st, what, err, errlen);
}

int dr_store_confirm_delete(struct dr_store *s, const char *id, const char *blake2b,
			    int64_t seq, char *err, size_t errlen)
{
	static const char what[] = "cannot delete a recording the archive confirmed";
	if (!s || !dr_store_id_ok(id) || !blake2b)
		return -EINVAL;
	struct dr_store_rec rec;
	int r = dr_store_get(s, id, &rec);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (rec.state == DR_REC_DELETED) {
		/* a cut after marking: finish removing the file */
		r = unlink_rec_file(s, id, what, err, errlen);
		return r < 0 ? r : 0;
	}
	if (rec.state != DR_REC_COMPLETE && rec.state != DR_REC_INTERRUPTED)
		return 0;
	if (strcmp(rec.blake2b, blake2b) != 0 || strlen(blake2b) != 64)
		return dr_store_fail(s, -EBADMSG, err, errlen,
				     "%s: the archive's hash for %s is not the box's", what, id);
	if ((r = dr_store_txn_begin(s, what, err, errlen)) < 0)
		return r;
	sqlite3_stmt *st;
	if ((r = dr_store_prepare(s,
				  "UPDATE recordings SET state = 'deleted', confirmed_utc = " DR_STORE_NOW_SQL
				  ", deleted_utc = " DR_STORE_NOW_SQL ", updated_utc = " DR_STORE_NOW_SQL
				  " WHERE id = ?1 AND blake2b = ?2 AND " HELD_SQL,
				  &st, what, err, errlen)) < 0)
		goto err_rollback;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, blake2b, -1, SQLITE_STATIC);
	if ((r = dr_store_step_done(s, st, what, err, errlen)) < 0)
		goto err_rollback;
	/* its number leaves the box now: it rests before it is given again */
	if (rec.receipt[0] && (r = release_sql(s, rec.receipt, "archive", what, err, errlen)) < 0)
		goto err_rollback;
	struct dr_store_audit_args a = {.t = {blake2b}, .n = {seq}};
	if ((r = dr_store_insert_audit(s, id, "delete",
				       "json_object('reason', 'archive confirmed a verified copy',"
				       " 'blake2b', ?3, 'receipt_for_seq', ?6)",
				       &a, what, err, errlen)) < 0)
		goto err_rollback;
	if ((r = dr_store_txn_commit(s, what, err, errlen)) < 0)
		goto err_rollback;
	r = unlink_rec_file(s, id, what, err, errlen);
	return r < 0 ? r : 1;

err_rollback:
	dr_store_txn_rollback(s);
	return r;
}

static bool receipt_ok(const char *r)
{
	if (!r || strlen(r) != DR_STORE_RECEIPT_LEN)
		return false;
	for (int i = 0; i < DR_STORE_RECEIPT_LEN; i++)
		if (r[i] < '0' || r[i] > '9')
			return false;
	return true;
}

int dr_store_find_receipt(struct dr_store *s, const char *receipt, const char *made_before_utc,
			  char id[DR_STORE_ID_LEN + 1])
{
	if (!s || !receipt_ok(receipt) || !id)
		return -EINVAL;
	sqlite3_stmt *st;
	int r = dr_store_prepare(s,
				 "SELECT id FROM recordings WHERE receipt = ?1 AND " HELD_SQL
				 " AND (?2 IS NULL OR created_utc <= ?2) ORDER BY rowid DESC LIMIT 1",
				 &st, "find a receipt number", NULL, 0);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, receipt, -1, SQLITE_STATIC);
	dr_store_bind_text_or_null(st, 2, made_before_utc);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		if (dr_store_id_ok(v))
			memcpy(id, v, DR_STORE_ID_LEN + 1);
		else
			r = -ENOENT;
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), NULL, 0,
				  "find a receipt number: %s", sqlite3_errmsg(s->db));
	}
	sqlite3_finalize(st);
	return r;
}

int dr_store_withdraw(struct dr_store *s, const char *receipt, const char *made_before_utc,
		      const char *source, char *err, size_t errlen)
{
	static const char what[] = "cannot withdraw the recording";
	char id[DR_STORE_ID_LEN + 1];
	int r = dr_store_find_receipt(s, receipt, made_before_utc, id);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	struct dr_store_x x = {
		.sql = "UPDATE recordings SET state = 'withdrawn', deleted_utc = " DR_STORE_NOW_SQL
		       ", updated_utc = " DR_STORE_NOW_SQL " WHERE id = ?1 AND " HELD_SQL,
		.t = {id},
	};
	struct dr_store_audit_args a = {.t = {receipt, source}};
	int ch = 0;
	r = run_audited(s, &x, id, "withdraw",
			"json_object('receipt', ?3, 'by', 'staff', 'source', ?4)", &a, what, err,
			errlen, &ch);
	if (r < 0)
		return r;
	if (ch == 0)
		return 0;
	/* the number rests before another recording gets it; a withdrawal
	 * repeated by later receipts never reaches that one, which was made
	 * after the withdrawal was entered (dr_store_find_receipt) */
	if ((r = dr_store_hold_receipt(s, receipt, "withdrawn", err, errlen)) < 0)
		return r;
	r = unlink_rec_file(s, id, what, err, errlen);
	return r < 0 ? r : 1;
}

int dr_store_hold_receipt(struct dr_store *s, const char *receipt, const char *source,
			  char *err, size_t errlen)
{
	if (!s || !receipt_ok(receipt) || !source)
		return -EINVAL;
	static const char what[] = "cannot record that a receipt number left the box";
	int r = dr_store_txn_begin(s, what, err, errlen);
	if (r < 0)
		return r;
	if ((r = release_sql(s, receipt, source, what, err, errlen)) < 0 ||
	    (r = dr_store_txn_commit(s, what, err, errlen)) < 0)
		dr_store_txn_rollback(s);
	return r;
}

int dr_store_revocation_serial(struct dr_store *s, int64_t *serial)
{
	if (!s || !serial)
		return -EINVAL;
	int r = query_int64(s, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'revocation_serial'",
			    NULL, serial);
	if (r == -ENOENT) {
		*serial = 0;
		r = 0;
	}
	return r;
}

int dr_store_revocation_update(struct dr_store *s, int64_t serial, const char *const *stick_ids,
			       size_t n, char *err, size_t errlen)
{
	static const char what[] = "cannot record the revocation list";
	if (!s || (n && !stick_ids))
		return -EINVAL;
	int64_t cur = 0;
	int r = dr_store_revocation_serial(s, &cur);
	if (r < 0)
		return r;
	if (serial <= cur)
		return 0;
	if ((r = dr_store_txn_begin(s, what, err, errlen)) < 0)
		return r;
	sqlite3_stmt *st;
	for (size_t i = 0; i < n; i++) {
		if ((r = dr_store_prepare(s,
					  "INSERT OR IGNORE INTO revoked_sticks (stick_id, serial, added_utc)"
					  " VALUES (?1, ?2, " DR_STORE_NOW_SQL ")",
					  &st, what, err, errlen)) < 0)
			goto err_rollback;
		sqlite3_bind_text(st, 1, stick_ids[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, serial);
		if ((r = dr_store_step_done(s, st, what, err, errlen)) < 0)
			goto err_rollback;
	}
	if ((r = dr_store_prepare(s,
				  "INSERT OR REPLACE INTO meta (key, value) VALUES ('revocation_serial', ?1)",
				  &st, what, err, errlen)) < 0)
		goto err_rollback;
	sqlite3_bind_int64(st, 1, serial);
	if ((r = dr_store_step_done(s, st, what, err, errlen)) < 0)
		goto err_rollback;
	struct dr_store_audit_args a = {.n = {serial, (sqlite3_int64)n}};
	if ((r = dr_store_insert_audit(s, NULL, "revocations",
				       "json_object('serial', ?6, 'revoked', ?7)", &a, what, err,
				       errlen)) < 0)
		goto err_rollback;
	if ((r = dr_store_txn_commit(s, what, err, errlen)) < 0)
		goto err_rollback;
	return 1;

err_rollback:
	dr_store_txn_rollback(s);
	return r;
}

int dr_store_is_revoked(struct dr_store *s, const char *stick_id, bool *revoked)
{
	if (!s || !stick_id || !revoked)
		return -EINVAL;
	int64_t one = 0;
	int r = query_int64(s, "SELECT 1 FROM revoked_sticks WHERE stick_id = ?1", stick_id, &one);
	*revoked = r == 0;
	return r == -ENOENT ? 0 : r;
}

int dr_store_clock_checked(struct dr_store *s, bool corrected, const char *now_utc,
			   const char *detail, char *err, size_t errlen)
{
	static const char what[] = "cannot record the clock check";
	if (!s || !now_utc)
		return -EINVAL;
	int r = dr_store_txn_begin(s, what, err, errlen);
	if (r < 0)
		return r;
	int flagged = 0;
	sqlite3_stmt *st;
	/* recordings since the last check: by insertion order (rowid), as
	 * their times are exactly what cannot be trusted */
	static const char since[] =
		"rowid > coalesce((SELECT CAST(value AS INTEGER) FROM meta"
		" WHERE key = 'clock_checked_rowid'), 0)";
	if (corrected) {
		char sql[512];
		snprintf(sql, sizeof(sql),
			 "UPDATE recordings SET time_uncertain = 1, created_utc_box = created_utc,"
			 " created_utc = ?1, updated_utc = ?1 WHERE time_uncertain = 0 AND %s",
			 since);
		if ((r = dr_store_prepare(s, sql, &st, what, err, errlen)) < 0)
			goto err_rollback;
		sqlite3_bind_text(st, 1, now_utc, -1, SQLITE_STATIC);
		if ((r = dr_store_step_done(s, st, what, err, errlen)) < 0)
			goto err_rollback;
		flagged = sqlite3_changes(s->db);
	}
	if ((r = dr_store_prepare(s,
				  "INSERT OR REPLACE INTO meta (key, value) SELECT"
				  " 'clock_checked_rowid', coalesce(max(rowid), 0) FROM recordings",
				  &st, what, err, errlen)) < 0)
		goto err_rollback;
	if ((r = dr_store_step_done(s, st, what, err, errlen)) < 0)
		goto err_rollback;
	if (corrected) {
		struct dr_store_audit_args a = {.t = {now_utc, detail}, .n = {flagged}};
		if ((r = dr_store_insert_audit(s, NULL, "clock_set",
					       "json_object('utc', ?3, 'source', ?4,"
					       " 'recordings_flagged', ?6)",
					       &a, what, err, errlen)) < 0)
			goto err_rollback;
	}
	if ((r = dr_store_txn_commit(s, what, err, errlen)) < 0)
		goto err_rollback;
	return flagged;

err_rollback:
	dr_store_txn_rollback(s);
	return r;
}
