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

/* Sets the box's running-time counter as a box that ran that long would
 * have it, and makes the open handle s see it. */
static void run_to(struct dr_store *s, const char *dir, uint64_t ms)
{
	sqlite3 *db = st_raw_open(dir);
	char sql[128];
	snprintf(sql, sizeof(sql), "UPDATE meta SET value = %llu WHERE key = 'running_ms'",
		 (unsigned long long)ms);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	char err[512];
	if (s)
		assert_int_equal(dr_store_running_flush(s, err, sizeof(err)), 0);
}

#define DAY_MS 86400000ull

static void test_receipts_resting_are_avoided_then_least_recently_used(void **state)
{
	(void)state;
	char dir[4096], err[512];
	st_mkdtemp("store-held", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	dr_store_close(s);
	/* the box has run 400 days; every number but 4242 left it 10 days ago
	 * (resting), 5555 and 6666 left it 200 days ago */
	sqlite3 *db = st_raw_open(dir);
	assert_int_equal(sqlite3_exec(db,
				      "UPDATE meta SET value = 400 * 86400000 WHERE key = 'running_ms';"
				      "WITH RECURSIVE n(x) AS (SELECT 1000 UNION ALL SELECT x + 1 FROM n"
				      " WHERE x < 9999) INSERT INTO receipts_held SELECT x, 'archive',"
				      " 'now', 390 * 86400000 FROM n WHERE x != 4242;"
				      "UPDATE receipts_held SET released_run_ms = 200 * 86400000"
				      " WHERE receipt IN ('5555', '6666')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	s = open_ok(dir);
	char id[DR_STORE_ID_LEN + 1], r1[5], r2[5], r3[5], r4[5];
	kept(s, id);
	assert_int_equal(dr_store_assign_receipt(s, id, r1, err, sizeof(err)), 0);
	assert_string_equal(r1, "4242"); /* the only free number */
	/* none free: the resting numbers that left the box longest ago first */
	kept(s, id);
	assert_int_equal(dr_store_assign_receipt(s, id, r2, err, sizeof(err)), 0);
	kept(s, id);
	assert_int_equal(dr_store_assign_receipt(s, id, r3, err, sizeof(err)), 0);
	assert_true((!strcmp(r2, "5555") && !strcmp(r3, "6666")) ||
		    (!strcmp(r2, "6666") && !strcmp(r3, "5555")));
	/* and then any of the rest: still a number, unique among what it holds */
	kept(s, id);
	assert_int_equal(dr_store_assign_receipt(s, id, r4, err, sizeof(err)), 0);
	assert_string_not_equal(r4, r1);
	assert_string_not_equal(r4, r2);
	assert_string_not_equal(r4, r3);
	/* 366 running days after they left, numbers are free again: a new one
	 * is drawn among them, never one the box holds */
	run_to(s, dir, 390 * DAY_MS + 366 * DAY_MS);
	for (int i = 0; i < 50; i++) {
		char r[5];
		kept(s, id);
		assert_int_equal(dr_store_assign_receipt(s, id, r, err, sizeof(err)), 0);
	}
	assert_int_equal(st_count(dir, "SELECT count(*) - count(DISTINCT receipt) FROM recordings"
				       " WHERE state = 'complete'"),
			 0);
	dr_store_close(s);
}

/* A box that has had 20,000 recordings collected over six years still gives
 * every new recording a number that no recording it holds has, and none
 * that left it less than the rest period ago while free numbers remain. The
 * past is seeded directly (20,000 rows through the API would take minutes of
 * fsyncs); the last 200 recordings go through the API: made, numbered,
 * confirmed by the archive, a day of running time between them. */
static void test_receipts_never_run_out_after_20000_collected(void **state)
{
	(void)state;
	char dir[4096], err[512];
	st_mkdtemp("store-20000", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	dr_store_close(s);
	sqlite3 *db = st_raw_open(dir);
	/* 20,000 collected recordings over 6 years (about 9 a day), numbers
	 * drawn from 1000..9999 (so many repeat), each number's last release */
	assert_int_equal(
		sqlite3_exec(db,
			     "BEGIN;"
			     "WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < 19999)"
			     " INSERT INTO recordings (id, state, file, created_utc, updated_utc, receipt,"
			     " created_run_ms) SELECT printf('%032x', x), 'deleted', 'recordings/x.opus',"
			     " '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z',"
			     " printf('%04d', 1000 + (x * 7919) % 9000), x * 9460800 FROM n;"
			     "INSERT INTO receipts_held (receipt, source, added_utc, released_run_ms)"
			     " SELECT receipt, 'archive', 'x', max(created_run_ms) + 86400000"
			     " FROM recordings GROUP BY receipt;"
			     "UPDATE meta SET value = 20000 * 9460800 + 2 * 86400000 WHERE key = 'running_ms';"
			     "COMMIT;",
			     NULL, NULL, NULL),
		SQLITE_OK);
	assert_int_equal(st_q_int(db, "SELECT count(*) FROM recordings"), 20000);
	sqlite3_close(db);
	s = open_ok(dir);
	uint64_t run = 20000ull * 9460800ull + 2 * DAY_MS;
	for (int i = 0; i < 200; i++) {
		char id[DR_STORE_ID_LEN + 1], r[5];
		kept(s, id);
		if (dr_store_assign_receipt(s, id, r, err, sizeof(err)))
			fail_msg("recording %d: no number: %s", i, err);
		db = st_raw_open(dir);
		char sql[256];
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM receipts_held WHERE receipt = '%s' AND"
			 " released_run_ms > %llu",
			 r, (unsigned long long)(run - 366 * DAY_MS));
		if (st_q_int(db, sql) != 0)
			fail_msg("recording %d got %s, which left the box less than 366 days ago", i, r);
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM recordings WHERE receipt = '%s' AND state IN"
			 " ('recording', 'complete', 'interrupted')", r);
		assert_int_equal(st_q_int(db, sql), 1);
		sqlite3_close(db);
		/* the archive confirms it the next day */
		struct dr_store_rec rec;
		assert_int_equal(dr_store_get(s, id, &rec), 0);
		if (i % 3)
			assert_int_equal(dr_store_confirm_delete(s, id, rec.blake2b, 1, err, sizeof(err)),
					 1);
		run += DAY_MS;
		run_to(s, dir, run);
	}
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

/* The retention rule counts age in the box's running time only: a wall
 * clock ten years ahead (or created_utc ten years back) deletes nothing; 29
 * days of running time keep a locked recording, 30 days exactly delete it. */
static void test_retention_expires_only_locked_recordings(void **state)
{
	(void)state;
	char dir[4096], err[512];
	st_mkdtemp("store-expire", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	char locked_old[33], locked_new[33], open_old[33], no_old[33], r[5];
	kept(s, locked_old);
	kept(s, locked_new);
	kept(s, open_old);
	kept(s, no_old);
	assert_int_equal(dr_store_assign_receipt(s, locked_old, r, err, sizeof(err)), 0);
	assert_int_equal(dr_store_assign_receipt(s, no_old, r, err, sizeof(err)), 0);
	assert_int_equal(dr_store_set_consent(s, open_old, DR_CONSENT_YES, DR_CONSENT_NO, "resident",
					      err, sizeof(err)),
			 0);
	assert_int_equal(dr_store_set_consent(s, no_old, DR_CONSENT_NO, DR_CONSENT_UNANSWERED,
					      "resident", err, sizeof(err)),
			 0);
	dr_store_close(s);
	/* the wall clock says they are ten years old */
	sqlite3 *db = st_raw_open(dir);
	assert_int_equal(sqlite3_exec(db,
				      "UPDATE recordings SET created_utc = strftime('%Y-%m-%dT%H:%M:%fZ',"
				      " 'now', '-3650 days')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	s = open_ok(dir);
	assert_int_equal(dr_store_expire_locked(s, 30, err, sizeof(err)), 0);
	dr_store_close(s);

	/* the box has run 31 days since; locked_new was made 2 days in */
	db = st_raw_open(dir);
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "UPDATE meta SET value = 31 * 86400000 WHERE key = 'running_ms';"
		 "UPDATE recordings SET created_run_ms = 2 * 86400000 WHERE id = '%s'", locked_new);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
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
	assert_int_equal(rec.state, DR_REC_COMPLETE); /* 29 days: not old enough */
	assert_true(st_exists(rec.path));
	assert_int_equal(dr_store_get(s, open_old, &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE); /* staff may listen: kept */
	assert_true(st_exists(rec.path));
	assert_int_equal(dr_store_expire_locked(s, 30, err, sizeof(err)), 0);
	dr_store_close(s);
	assert_int_equal(st_count(dir, "SELECT count(*) FROM audit WHERE action = 'expire'"), 2);
	/* their numbers rest: not given again for DR_STORE_RECEIPT_REST_DAYS */
	assert_int_equal(st_count(dir, "SELECT count(*) FROM receipts_held WHERE source = 'expired'"),
			 2);

	/* exactly at the end of its period: one millisecond short keeps it (the
	 * handle's own running time adds a little, so stop 1 s short), the full
	 * 30 days delete it */
	db = st_raw_open(dir);
	assert_int_equal(sqlite3_exec(db,
				      "UPDATE meta SET value = 32 * 86400000 - 1000 WHERE key = 'running_ms'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	s = open_ok(dir);
	assert_int_equal(dr_store_expire_locked(s, 30, err, sizeof(err)), 0);
	dr_store_close(s);
	db = st_raw_open(dir);
	assert_int_equal(sqlite3_exec(db,
				      "UPDATE meta SET value = 32 * 86400000 WHERE key = 'running_ms'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	s = open_ok(dir);
	assert_int_equal(dr_store_expire_locked(s, 30, err, sizeof(err)), 1);
	assert_int_equal(dr_store_get(s, locked_new, &rec), 0);
	assert_int_equal(rec.state, DR_REC_EXPIRED);
	dr_store_close(s);
}

/* The running-time counter: persisted by flush, never lowered, and each new
 * recording stamped with it. */
static void test_running_time_counter(void **state)
{
	(void)state;
	char dir[4096], err[512];
	st_mkdtemp("store-run", dir, sizeof(dir));
	struct dr_store *s = open_ok(dir);
	uint64_t a, b;
	assert_int_equal(dr_store_running_ms(s, &a), 0);
	assert_true(a < 10000);
	run_to(s, dir, 5 * DAY_MS);
	assert_int_equal(dr_store_running_ms(s, &b), 0);
	assert_true(b >= 5 * DAY_MS && b < 5 * DAY_MS + 10000);
	char id[DR_STORE_ID_LEN + 1];
	kept(s, id);
	dr_store_close(s);
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT created_run_ms FROM recordings WHERE id = '%s'", id);
	assert_true(st_count(dir, sql) >= (long long)(5 * DAY_MS));
	/* a flush from a handle that read an older value never lowers it */
	s = open_ok(dir);
	assert_int_equal(dr_store_running_ms(s, &a), 0);
	sqlite3 *db = st_raw_open(dir);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = 9 * 86400000 WHERE key = 'running_ms'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(dr_store_running_flush(s, err, sizeof(err)), 0);
	assert_int_equal(dr_store_running_ms(s, &b), 0);
	assert_true(b >= 9 * DAY_MS);
	dr_store_close(s);
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
	assert_int_equal(rec.media, DR_MEDIA_AUDIO); /* v5: every recording from before is sound */
	assert_string_equal(rec.receipt, "");
	char r[5];
	assert_int_equal(dr_store_assign_receipt(s, rec.id, r, err, sizeof(err)), 0);
	dr_store_close(s);
	/* v4: the row is stamped with the running time at the upgrade (0), the
	 * counter starts there: it is kept at least retention_days of running
	 * time from the upgrade, never less than the old rule gave it */
	assert_int_equal(st_count(dir, "SELECT created_run_ms FROM recordings"), 0);
	assert_true(st_count(dir, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'running_ms'") <
		    60000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_receipts_unique_random_and_stable),
		cmocka_unit_test(test_receipts_resting_are_avoided_then_least_recently_used),
		cmocka_unit_test(test_receipts_never_run_out_after_20000_collected),
		cmocka_unit_test(test_running_time_counter),
		cmocka_unit_test(test_consent_recorded_and_audited),
		cmocka_unit_test(test_retention_expires_only_locked_recordings),
		cmocka_unit_test(test_v1_catalogue_migrates_with_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
