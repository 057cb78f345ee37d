/* SPDX-License-Identifier: MIT */
/*
 * Receipt numbers, consent and the retention rule (schema v2).
 *
 * Every function here changes something a resident was told about, so each
 * runs in one transaction that commits with synchronous=FULL (see store.c)
 * before it returns: the box only says "your number is 4 7 2 9" or "staff
 * may listen" once that is on disk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "store_priv.h"

/* Is this receipt in use by a recording the box holds, or by the archive? */
static int receipt_taken(struct dr_store *s, const char *receipt, bool *taken, char *err,
			 size_t errlen)
{
	sqlite3_stmt *st;
	int r = dr_store_prepare(s,
				 "SELECT 1 FROM recordings WHERE receipt = ?1 AND state IN"
				 " ('recording', 'complete', 'interrupted')"
				 " UNION ALL SELECT 1 FROM receipts_held WHERE receipt = ?1",
				 &st, "choose a receipt number", err, errlen);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, receipt, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		*taken = rc == SQLITE_ROW;
	else
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), err, errlen,
				  "choose a receipt number: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return r;
}

static int current_receipt(struct dr_store *s, const char *id, char receipt[DR_STORE_RECEIPT_LEN + 1],
			   char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int r = dr_store_prepare(s, "SELECT receipt FROM recordings WHERE id = ?1", &st,
				 "read the receipt number", err, errlen);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	receipt[0] = '\0';
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		if (v && strlen(v) == DR_STORE_RECEIPT_LEN)
			memcpy(receipt, v, DR_STORE_RECEIPT_LEN + 1);
	} else if (rc == SQLITE_DONE) {
		r = dr_store_fail(s, -ENOENT, err, errlen, "no recording %s", id);
	} else {
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), err, errlen,
				  "read the receipt number: %s", sqlite3_errmsg(s->db));
	}
	sqlite3_finalize(st);
	return r;
}

int dr_store_assign_receipt(struct dr_store *s, const char *id,
			    char receipt[DR_STORE_RECEIPT_LEN + 1], char *err, size_t errlen)
{
	static const char what[] = "cannot give the recording its receipt number";
	if (!s || !dr_store_id_ok(id) || !receipt)
		return -EINVAL;
	int r = dr_store_txn_begin(s, what, err, errlen);
	if (r < 0)
		return r;
	enum dr_rec_state state;
	if ((r = dr_store_state_of(s, id, &state, what, err, errlen)) < 0)
		goto err_rollback;
	if (state != DR_REC_COMPLETE && state != DR_REC_INTERRUPTED && state != DR_REC_RECORDING) {
		r = dr_store_fail(s, -EINVAL, err, errlen, "%s: recording %s is %s", what, id,
				  dr_rec_state_name(state));
		goto err_rollback;
	}
	if ((r = current_receipt(s, id, receipt, err, errlen)) < 0)
		goto err_rollback;
	if (receipt[0]) {
		dr_store_txn_rollback(s);
		return 0;
	}
	/* Random, not sequential: a number says nothing about when or in
	 * which order someone spoke. 1000..9999 so it is always four digits
	 * when said aloud. When random picks keep hitting numbers in use
	 * (a box or an archive holding most of them), walk every number from
	 * a random one, so a free number is always found while there is one. */
	bool taken = true;
	for (int tries = 0; taken && tries < 64; tries++) {
		snprintf(receipt, DR_STORE_RECEIPT_LEN + 1, "%04u", 1000 + randombytes_uniform(9000));
		if ((r = receipt_taken(s, receipt, &taken, err, errlen)) < 0)
			goto err_rollback;
	}
	uint32_t from = randombytes_uniform(9000);
	for (uint32_t k = 0; taken && k < 9000; k++) {
		snprintf(receipt, DR_STORE_RECEIPT_LEN + 1, "%04u", 1000 + (from + k) % 9000);
		if ((r = receipt_taken(s, receipt, &taken, err, errlen)) < 0)
			goto err_rollback;
	}
	if (taken) {
		r = dr_store_fail(s, -ENOSPC, err, errlen, "%s: every receipt number is in use", what);
		goto err_rollback;
	}
	sqlite3_stmt *st;
	if ((r = dr_store_prepare(s,
				  "UPDATE recordings SET receipt = ?2, updated_utc = " DR_STORE_NOW_SQL
				  " WHERE id = ?1",
				  &st, what, err, errlen)) < 0)
		goto err_rollback;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, receipt, -1, SQLITE_STATIC);
	if ((r = dr_store_step_done(s, st, what, err, errlen)) < 0)
		goto err_rollback;
	struct dr_store_audit_args a = {.t = {receipt}};
	if ((r = dr_store_insert_audit(s, id, "receipt", "json_object('receipt', ?3)", &a, what, err,
				       errlen)) < 0)
		goto err_rollback;
	if ((r = dr_store_txn_commit(s, what, err, errlen)) < 0)
		goto err_rollback;
	return 0;

err_rollback:
	dr_store_txn_rollback(s);
	receipt[0] = '\0';
	return r;
}

static void bind_consent(sqlite3_stmt *st, int i, enum dr_consent c)
{
	if (c == DR_CONSENT_UNANSWERED)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int(st, i, c == DR_CONSENT_YES);
}

static const char *consent_word(enum dr_consent c)
{
	return c == DR_CONSENT_YES ? "yes" : c == DR_CONSENT_NO ? "no" : "unanswered";
}

int dr_store_set_consent(struct dr_store *s, const char *id, enum dr_consent staff,
			 enum dr_consent share, const char *by, char *err, size_t errlen)
{
	static const char what[] = "cannot record the consent";
	if (!s || !dr_store_id_ok(id) || !by || (strcmp(by, "resident") && strcmp(by, "staff")))
		return -EINVAL;
	if (share == DR_CONSENT_YES && staff != DR_CONSENT_YES)
		return dr_store_fail(s, -EINVAL, err, errlen,
				     "%s: sharing needs consent to staff listening first", what);
	int r = dr_store_txn_begin(s, what, err, errlen);
	if (r < 0)
		return r;
	enum dr_rec_state state;
	if ((r = dr_store_state_of(s, id, &state, what, err, errlen)) < 0)
		goto err_rollback;
	if (state != DR_REC_COMPLETE && state != DR_REC_INTERRUPTED) {
		r = dr_store_fail(s, -EINVAL, err, errlen, "%s: recording %s is %s", what, id,
				  dr_rec_state_name(state));
		goto err_rollback;
	}
	sqlite3_stmt *st;
	if ((r = dr_store_prepare(s,
				  "UPDATE recordings SET consent_staff = ?2, consent_share = ?3,"
				  " consent_by = ?4, consent_utc = " DR_STORE_NOW_SQL ","
				  " updated_utc = " DR_STORE_NOW_SQL " WHERE id = ?1",
				  &st, what, err, errlen)) < 0)
		goto err_rollback;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	bind_consent(st, 2, staff);
	bind_consent(st, 3, share);
	sqlite3_bind_text(st, 4, by, -1, SQLITE_STATIC);
	if ((r = dr_store_step_done(s, st, what, err, errlen)) < 0)
		goto err_rollback;
	struct dr_store_audit_args a = {.t = {consent_word(staff), consent_word(share), by}};
	if ((r = dr_store_insert_audit(s, id, "consent",
				       "json_object('staff', ?3, 'share', ?4, 'by', ?5)", &a, what,
				       err, errlen)) < 0)
		goto err_rollback;
	if ((r = dr_store_txn_commit(s, what, err, errlen)) < 0)
		goto err_rollback;
	return 0;

err_rollback:
	dr_store_txn_rollback(s);
	return r;
}

int dr_store_expire_locked(struct dr_store *s, unsigned retention_days, char *err, size_t errlen)
{
	static const char what[] = "cannot apply the retention rule";
	if (!s)
		return -EINVAL;
	sqlite3_stmt *st;
	int r = dr_store_prepare(s,
				 "SELECT id FROM recordings WHERE state IN ('complete', 'interrupted')"
				 " AND consent_staff IS NOT 1"
				 " AND julianday('now') - julianday(created_utc) > ?1",
				 &st, what, err, errlen);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, retention_days);
	char (*ids)[DR_STORE_ID_LEN + 1] = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		if (!dr_store_id_ok(id))
			continue;
		char(*nids)[DR_STORE_ID_LEN + 1] = realloc(ids, (n + 1) * sizeof(*ids));
		if (!nids) {
			r = -ENOMEM;
			break;
		}
		ids = nids;
		memcpy(ids[n++], id, DR_STORE_ID_LEN + 1);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), err, errlen, "%s: %s", what,
				  sqlite3_errmsg(s->db));
	sqlite3_finalize(st);

	size_t expired = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		/* Mark first, then delete the file: a cut in between leaves an
		 * expired row with a stray file (deleted again next time), never
		 * a "complete" row with its file gone. */
		if ((r = dr_store_txn_begin(s, what, err, errlen)) < 0)
			break;
		if ((r = dr_store_prepare(s,
					  "UPDATE recordings SET state = 'expired', updated_utc = "
					  DR_STORE_NOW_SQL " WHERE id = ?1",
					  &st, what, err, errlen)) < 0) {
			dr_store_txn_rollback(s);
			break;
		}
		sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
		struct dr_store_audit_args a = {.n = {(sqlite3_int64)retention_days}};
		if ((r = dr_store_step_done(s, st, what, err, errlen)) < 0 ||
		    (r = dr_store_insert_audit(s, ids[i], "expire",
					       "json_object('reason', 'no consent to staff listening"
					       " within the retention period', 'retention_days', ?6)",
					       &a, what, err, errlen)) < 0 ||
		    (r = dr_store_txn_commit(s, what, err, errlen)) < 0) {
			dr_store_txn_rollback(s);
			break;
		}
		char path[4096];
		if (dr_store_rec_path(s, ids[i], "", path, sizeof(path)) == 0 && unlink(path) < 0 &&
		    errno != ENOENT) {
			r = dr_store_fail(s, -errno, err, errlen, "%s: cannot delete %s", what, path);
			break;
		}
		expired++;
	}
	if (n)
		dr_store_sync_dir(s->recdir);
	free(ids);
	return r < 0 ? r : (int)expired;
}
