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

#define RECEIPT_FIRST 1000u
#define RECEIPT_COUNT 9000u
#define REST_MS ((uint64_t)DR_STORE_RECEIPT_REST_DAYS * 86400000u)

/* Marks in used[] every number (index: number - 1000) returned by sql, which
 * may use the integer ?1 (arg). */
static int mark_numbers(struct dr_store *s, const char *sql, int64_t arg, bool *used,
			char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int r = dr_store_prepare(s, sql, &st, "choose a receipt number", err, errlen);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)arg);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		unsigned n = v && strlen(v) == DR_STORE_RECEIPT_LEN ? (unsigned)atoi(v) : 0;
		if (n >= RECEIPT_FIRST && n < RECEIPT_FIRST + RECEIPT_COUNT)
			used[n - RECEIPT_FIRST] = true;
	}
	if (rc != SQLITE_DONE)
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), err, errlen,
				  "choose a receipt number: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return r;
}

/* The k-th (0-based) number not marked in used[]. */
static unsigned nth_free(const bool *used, uint32_t k)
{
	for (unsigned i = 0; i < RECEIPT_COUNT; i++)
		if (!used[i] && k-- == 0)
			return RECEIPT_FIRST + i;
	return 0;
}

/* Chooses a number for a new recording (see dr_store_assign_receipt). */
static int choose_receipt(struct dr_store *s, char receipt[DR_STORE_RECEIPT_LEN + 1], char *err,
			  size_t errlen)
{
	static const char held_sql[] =
		"SELECT receipt FROM recordings WHERE receipt IS NOT NULL AND state IN"
		" ('recording', 'complete', 'interrupted')";
	uint64_t run_ms;
	int r = dr_store_run_now(s, &run_ms);
	if (r < 0)
		return r;
	bool *held = calloc(RECEIPT_COUNT, sizeof(bool));
	bool *busy = calloc(RECEIPT_COUNT, sizeof(bool));
	if (!held || !busy) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = mark_numbers(s, held_sql, 0, held, err, errlen)) < 0)
		goto out;
	memcpy(busy, held, RECEIPT_COUNT * sizeof(bool));
	/* resting: left the box less than the rest period ago */
	if ((r = mark_numbers(s, "SELECT receipt FROM receipts_held WHERE released_run_ms > ?1",
			      (int64_t)run_ms - (int64_t)REST_MS, busy, err, errlen)) < 0)
		goto out;
	unsigned nfree = 0;
	for (unsigned i = 0; i < RECEIPT_COUNT; i++)
		nfree += !busy[i];
	unsigned n = 0;
	if (nfree) {
		/* uniform among the free numbers: not sequential, says nothing of
		 * when or in which order anyone spoke */
		n = nth_free(busy, randombytes_uniform(nfree));
	} else {
		/* every number is held or resting: the resting number not held
		 * by the box that left it longest ago; ties drawn at random */
		sqlite3_stmt *st;
		if ((r = dr_store_prepare(s,
					  "SELECT receipt, released_run_ms FROM receipts_held"
					  " ORDER BY released_run_ms, receipt",
					  &st, "choose a receipt number", err, errlen)) < 0)
			goto out;
		bool *oldest = calloc(RECEIPT_COUNT, sizeof(bool));
		int64_t min = -1;
		unsigned nold = 0;
		int rc;
		while (oldest && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *v = (const char *)sqlite3_column_text(st, 0);
			int64_t at = sqlite3_column_int64(st, 1);
			unsigned k = v && strlen(v) == DR_STORE_RECEIPT_LEN ? (unsigned)atoi(v) : 0;
			if (k < RECEIPT_FIRST || k >= RECEIPT_FIRST + RECEIPT_COUNT ||
			    held[k - RECEIPT_FIRST])
				continue;
			if (min >= 0 && at > min)
				break;
			min = at;
			oldest[k - RECEIPT_FIRST] = true;
			nold++;
		}
		sqlite3_finalize(st);
		if (!oldest) {
			r = -ENOMEM;
			goto out;
		}
		if (nold) {
			/* nth_free counts unmarked entries: invert */
			for (unsigned i = 0; i < RECEIPT_COUNT; i++)
				oldest[i] = !oldest[i];
			n = nth_free(oldest, randombytes_uniform(nold));
		}
		free(oldest);
	}
	if (!n) {
		r = dr_store_fail(s, -ENOSPC, err, errlen,
				  "every receipt number is in use by a recording the box holds");
		goto out;
	}
	snprintf(receipt, DR_STORE_RECEIPT_LEN + 1, "%04u", n % 10000u); /* n < 10000 */
out:
	free(held);
	free(busy);
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
	if ((r = choose_receipt(s, receipt, err, errlen)) < 0) {
		if (r == -ENOSPC)
			dr_store_fail(s, r, err, errlen, "%s: %s", what, dr_store_errmsg(s));
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

/* The recording's number (if any) starts resting now (inside the caller's
 * transaction). */
static int release_receipt(struct dr_store *s, const char *id, uint64_t run_ms, const char *what,
			   char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int r = dr_store_prepare(s,
				 "INSERT INTO receipts_held (receipt, source, added_utc, released_run_ms)"
				 " SELECT receipt, 'expired', " DR_STORE_NOW_SQL ", ?2 FROM recordings"
				 " WHERE id = ?1 AND receipt IS NOT NULL AND true"
				 " ON CONFLICT (receipt) DO UPDATE SET source = excluded.source,"
				 " added_utc = excluded.added_utc, released_run_ms ="
				 " max(released_run_ms, excluded.released_run_ms)",
				 &st, what, err, errlen);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)run_ms);
	return dr_store_step_done(s, st, what, err, errlen);
}

int dr_store_expire_locked(struct dr_store *s, unsigned retention_days, char *err, size_t errlen)
{
	static const char what[] = "cannot apply the retention rule";
	if (!s)
		return -EINVAL;
	/* age by the box's own running time only: a wall clock, right or
	 * wrong, cannot make a recording old */
	uint64_t run_ms;
	int r = dr_store_run_now(s, &run_ms);
	if (r < 0)
		return dr_store_fail(s, r, err, errlen, "%s: %s", what, dr_store_errmsg(s));
	sqlite3_stmt *st;
	r = dr_store_prepare(s,
			     "SELECT id FROM recordings WHERE state IN ('complete', 'interrupted')"
			     " AND consent_staff IS NOT 1 AND ?2 - created_run_ms >= ?1 * 86400000",
			     &st, what, err, errlen);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, retention_days);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)run_ms);
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
		struct dr_store_audit_args a = {.n = {(sqlite3_int64)retention_days,
						      (sqlite3_int64)run_ms}};
		if ((r = dr_store_step_done(s, st, what, err, errlen)) < 0 ||
		    (r = release_receipt(s, ids[i], run_ms, what, err, errlen)) < 0 ||
		    (r = dr_store_insert_audit(s, ids[i], "expire",
					       "json_object('reason', 'no consent to staff listening"
					       " within the retention period', 'retention_days', ?6,"
					       " 'running_ms', ?7)",
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
