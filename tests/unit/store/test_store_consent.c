/* SPDX-License-Identifier: MIT */
/* Schema v2: receipt numbers, consent answers, the retention rule, and the
 * migration of a v1 catalogue with its rows intact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/store_priv.h" /* dr_store_schema_latest() */
#include "store_test_util.h"

static struct dr_store *open_ok(const char *dir)
{
	struct dr_store *s = NULL;
	char err[512] = "";
	int r = dr_store_open(dir, &s, err, sizeof(err));
	if (r != 0)
		fail_msg("dr_store_open(%s) = %d: %s", dir, r, err);
	return s;
}

/* A finished recording with a small fake file. */
static void kept(struct dr_store *s, char id[DR_STORE_ID_LEN + 1])
{
	char path[4096], err[512] = "";
	if (dr_store_begin(s, "2026-11-22T10:00:00Z", 1, id, path, sizeof(path), err, sizeof(err)))
		fail_msg("begin: %s", err);
	st_fake_recording(path, 1000, 1);
	if (dr_store_finish(s, id, DR_REC_COMPLETE, 3000, NULL, err, sizeof(err)))
		fail_msg("finish: %s", err);
}

static void test_receipts_unique_random_and_stable(void **state)
{
	(void)state;
	char dir[4096], err[512];
	st_mkdtemp("store-receipt", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	char seen[200][DR_STORE_RECEIPT_LEN + 1];
	int ascending = 0;
	for (int i = 0; i < 200; i++) {
		char id[DR_STORE_ID_LEN + 1];
		kept(s, id);
		assert_int_equal(dr_store_assign_receipt(s, id, seen[i], err, sizeof(err)), 0);
		assert_int_equal(strlen(seen[i]), 4);
		assert_true(seen[i][0] >= '1' && seen[i][0] <= '9'); /* always said as 4 digits */
		for (int j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
		if (i && atoi(seen[i]) == atoi(seen[i - 1]) + 1)
			ascending++;
		/* asking again gives the same number */
		char again[DR_STORE_RECEIPT_LEN + 1];
		assert_int_equal(dr_store_assign_receipt(s, id, again, err, sizeof(err)), 0);
		assert_string_equal(again, seen[i]);
		struct dr_store_rec rec;
		assert_int_equal(dr_store_get(s, id, &rec), 0);
		assert_string_equal(rec.receipt, seen[i]);
	}
	assert_true(ascending < 5); /* not sequential */
	assert_int_equal(st_count(dir, "SELECT count(*) FROM audit WHERE action = 'receipt'"), 200);
	dr_store_close(s);
}

static void test_receipts_held_by_the_archive_are_not_reused(void **state)
{
	(void)state;
	char dir[4096], err[512];
	st_mkdtemp("store-held", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	dr_store_close(s);
	/* the archive holds every number but 4242 */
	sqlite3 *db = st_raw_open(dir);
	assert_int_equal(sqlite3_exec(db,
				      "WITH RECURSIVE n(x) AS (SELECT 1000 UNION ALL SELECT x + 1 FROM n"
				      " WHERE x < 9999) INSERT INTO receipts_held SELECT x, 'archive',"
				      " 'now' FROM n WHERE x != 4242",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	s = open_ok(dir);
	char id[DR_STORE_ID_LEN + 1], r1[5], r2[5];
	kept(s, id);
	assert_int_equal(dr_store_assign_receipt(s, id, r1, err, sizeof(err)), 0);
	assert_string_equal(r1, "4242");
	kept(s, id);
	assert_int_equal(dr_store_assign_receipt(s, id, r2, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "in use"));
	dr_store_close(s);
}

static void test_consent_recorded_and_audited(void **state)
{
	(void)state;
	char dir[4096], err[512];
	st_mkdtemp("store-consent", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	char id[DR_STORE_ID_LEN + 1];
	kept(s, id);
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(s, id, &rec), 0);
	assert_int_equal(rec.consent_staff, DR_CONSENT_UNANSWERED); /* locked until answered */
	assert_int_equal(rec.consent_share, DR_CONSENT_UNANSWERED);

	assert_int_equal(dr_store_set_consent(s, id, DR_CONSENT_YES, DR_CONSENT_NO, "resident", err,
					      sizeof(err)),
			 0);
	assert_int_equal(dr_store_get(s, id, &rec), 0);
	assert_int_equal(rec.consent_staff, DR_CONSENT_YES);
	assert_int_equal(rec.consent_share, DR_CONSENT_NO);

	/* sharing without staff consent is refused, by the code and the schema */
	assert_int_equal(dr_store_set_consent(s, id, DR_CONSENT_NO, DR_CONSENT_YES, "staff", err,
					      sizeof(err)),
			 -EINVAL);
	assert_int_equal(dr_store_set_consent(s, id, DR_CONSENT_YES, DR_CONSENT_NO, "someone", err,
					      sizeof(err)),
			 -EINVAL);
	dr_store_close(s);
	sqlite3 *db = st_raw_open(dir);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE recordings SET consent_staff = 0, consent_share = 1",
					  NULL, NULL, NULL),
			     SQLITE_OK);
	char detail[256];
	st_q_text(db, "SELECT detail FROM audit WHERE action = 'consent'", detail, sizeof(detail));
	assert_non_null(strstr(detail, "\"staff\":\"yes\""));
	assert_non_null(strstr(detail, "\"share\":\"no\""));
	assert_non_null(strstr(detail, "\"by\":\"resident\""));
	sqlite3_close(db);

	/* consent on a discarded recording is refused */
	s = open_ok(dir);
	char id2[DR_STORE_ID_LEN + 1], path[4096];
	assert_int_equal(dr_store_begin(s, NULL, 0, id2, path, sizeof(path), err, sizeof(err)), 0);
	assert_int_equal(dr_store_discard(s, id2, "too short", err, sizeof(err)), 0);
	assert_int_equal(dr_store_set_consent(s, id2, DR_CONSENT_YES, DR_CONSENT_YES, "resident", err,
					      sizeof(err)),
			 -EINVAL);
	dr_store_close(s);
}

static void test_retention_expires_only_locked_recordings(void **state)
{
	(void)state;
	char dir[4096], err[512];
	st_mkdtemp("store-expire", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	char locked_old[33], locked_new[33], open_old[33], no_old[33];
	kept(s, locked_old);
	kept(s, locked_new);
	kept(s, open_old);
	kept(s, no_old);
	assert_int_equal(dr_store_set_consent(s, open_old, DR_CONSENT_YES, DR_CONSENT_NO, "resident",
					      err, sizeof(err)),
			 0);
	assert_int_equal(dr_store_set_consent(s, no_old, DR_CONSENT_NO, DR_CONSENT_UNANSWERED,
					      "resident", err, sizeof(err)),
			 0);
	dr_store_close(s);
	sqlite3 *db = st_raw_open(dir);
	char sql[256];
	const char *old[] = {locked_old, open_old, no_old};
	for (int i = 0; i < 3; i++) {
		snprintf(sql, sizeof(sql),
			 "UPDATE recordings SET created_utc = strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ',"
			 " 'now', '-31 days') WHERE id = '%s'", old[i]);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	sqlite3_close(db);

	s = open_ok(dir);
	assert_int_equal(dr_store_expire_locked(s, 30, err, sizeof(err)), 2);
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(s, locked_old, &rec), 0);
	assert_int_equal(rec.state, DR_REC_EXPIRED);
	assert_false(st_exists(rec.path));
	assert_int_equal(dr_store_get(s, no_old, &rec), 0);
	assert_int_equal(rec.state, DR_REC_EXPIRED);
	assert_int_equal(dr_store_get(s, locked_new, &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE); /* not old enough */
	assert_true(st_exists(rec.path));
	assert_int_equal(dr_store_get(s, open_old, &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE); /* staff may listen: kept */
	assert_true(st_exists(rec.path));
	assert_int_equal(dr_store_expire_locked(s, 30, err, sizeof(err)), 0);
	dr_store_close(s);
	assert_int_equal(st_count(dir, "SELECT count(*) FROM audit WHERE action = 'expire'"), 2);
}

static void test_v1_catalogue_migrates_with_rows(void **state)
{
	(void)state;
	char dir[4096], err[512];
	st_mkdtemp("store-v1", dir, sizeof(dir));
	/* a catalogue exactly as schema v1 made it, with a recording */
	char db_path[4200], recdir[4200];
	snprintf(recdir, sizeof(recdir), "%s/recordings", dir);
	assert_int_equal(mkdir(recdir, 0700), 0);
	snprintf(db_path, sizeof(db_path), "%s/catalogue.sqlite", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db,
			     "CREATE TABLE recordings (id TEXT PRIMARY KEY NOT NULL, state TEXT NOT NULL"
			     " CHECK (state IN ('recording', 'complete', 'interrupted', 'discarded')),"
			     " file TEXT NOT NULL, start_utc TEXT, start_mono_ms INTEGER, end_utc TEXT,"
			     " duration_ms INTEGER, size_bytes INTEGER, blake2b TEXT, note TEXT,"
			     " created_utc TEXT NOT NULL, updated_utc TEXT NOT NULL);"
			     "CREATE INDEX recordings_by_state ON recordings (state);"
			     "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at_utc TEXT NOT NULL,"
			     " recording_id TEXT, action TEXT NOT NULL, detail TEXT);"
			     "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT);"
			     "INSERT INTO recordings VALUES ('0123456789abcdef0123456789abcdef', 'complete',"
			     " 'recordings/0123456789abcdef0123456789abcdef.opus', '2026-01-01T00:00:00Z', 5,"
			     " NULL, 4000, 1000, NULL, 'kept', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');"
			     "PRAGMA user_version = 1;",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);

	struct dr_store *s = open_ok(dir);
	assert_int_equal(dr_store_schema_version(s), dr_store_schema_latest());
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(s, "0123456789abcdef0123456789abcdef", &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE);
	assert_int_equal(rec.duration_ms, 4000);
	assert_int_equal(rec.consent_staff, DR_CONSENT_UNANSWERED); /* old recordings stay locked */
	assert_string_equal(rec.receipt, "");
	char r[5];
	assert_int_equal(dr_store_assign_receipt(s, rec.id, r, err, sizeof(err)), 0);
	dr_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_receipts_unique_random_and_stable),
		cmocka_unit_test(test_receipts_held_by_the_archive_are_not_reused),
		cmocka_unit_test(test_consent_recorded_and_audited),
		cmocka_unit_test(test_retention_expires_only_locked_recordings),
		cmocka_unit_test(test_v1_catalogue_migrates_with_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
