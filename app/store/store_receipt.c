/* SPDX-License-Identifier: MIT */
/*
 * What a staff stick's receipt brings back to the box (schema v3): the
 * archive's confirmations and the deletions they allow, withdrawals and holds
 * by receipt number, the revocation list and the clock check.
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

int dr_store_receipt_last_seq(struct dr_store *s, int64_t *seq)
{
	if (!s || !seq)
		return -EINVAL;
	return dr_store_query_int64(s, "SELECT coalesce(max(seq), 0) FROM exports WHERE receipt_utc IS NOT NULL",
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
	int r = dr_store_run_audited(s, &x, NULL, "receipt_applied",
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
				  " WHERE id = ?1 AND blake2b = ?2 AND " DR_STORE_HELD_SQL,
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
				 "SELECT id FROM recordings WHERE receipt = ?1 AND " DR_STORE_HELD_SQL
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
		       ", updated_utc = " DR_STORE_NOW_SQL " WHERE id = ?1 AND " DR_STORE_HELD_SQL,
		.t = {id},
	};
	struct dr_store_audit_args a = {.t = {receipt, source}};
	int ch = 0;
	r = dr_store_run_audited(s, &x, id, "withdraw",
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
	int r = dr_store_query_int64(s, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'revocation_serial'",
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
	int r = dr_store_query_int64(s, "SELECT 1 FROM revoked_sticks WHERE stick_id = ?1", stick_id, &one);
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
