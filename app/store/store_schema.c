/* SPDX-License-Identifier: MIT */
/*
 * The catalogue's schema and its migrations.
 *
 * The schema version lives in PRAGMA user_version (0 = a new, empty file).
 * dr_store_migrations[] is applied in order; each migration runs in its own
 * BEGIN IMMEDIATE transaction together with the user_version bump and an
 * audit row, so a power cut during a migration leaves the catalogue at the
 * previous version, never half-way.
 *
 * HOW TO ADD A MIGRATION (e.g. v2, consent columns):
 *   1. Append an entry at the END of dr_store_migrations[] with the next
 *      version number: { 2, "ALTER TABLE recordings ADD COLUMN ...;", NULL }.
 *      Use `fn` for a step SQL alone cannot do (it runs inside the same
 *      transaction, after `sql`).
 *   2. Never edit or reorder an entry that has shipped: catalogues in the
 *      field are at that version already and will not run it again.
 *   3. Add a test that opens a catalogue made by the previous version (create
 *      it with that version's SQL through sqlite3 directly, with rows in it)
 *      and checks the rows survive and the new columns have their defaults.
 *      An older program refuses the newer file (-EPROTO), which is what we
 *      want: it cannot know what the new columns mean for consent.
 */
#include <errno.h>
#include <stdio.h>

#include "store_priv.h"

struct dr_store_migration {
	int version;
	const char *sql;
	int (*fn)(struct dr_store *s, char *err, size_t errlen); /* optional */
};

/* clang-format off */
static const struct dr_store_migration dr_store_migrations[] = {
	{ 1,
	  /* One row per recording. `file` is relative to the data folder. */
	  "CREATE TABLE recordings ("
	  "  id TEXT PRIMARY KEY NOT NULL"
	  "    CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),"
	  "  state TEXT NOT NULL"
	  "    CHECK (state IN ('recording', 'complete', 'interrupted', 'discarded')),"
	  "  file TEXT NOT NULL,"
	  "  start_utc TEXT,"
	  "  start_mono_ms INTEGER,"
	  "  end_utc TEXT,"
	  "  duration_ms INTEGER CHECK (duration_ms IS NULL OR duration_ms >= 0),"
	  "  size_bytes INTEGER CHECK (size_bytes IS NULL OR size_bytes >= 0),"
	  "  blake2b TEXT CHECK (blake2b IS NULL OR length(blake2b) = 64),"
	  "  note TEXT,"
	  "  created_utc TEXT NOT NULL,"
	  "  updated_utc TEXT NOT NULL"
	  ");"
	  "CREATE INDEX recordings_by_state ON recordings (state);"
	  /* Append-only: the triggers refuse any UPDATE or DELETE. */
	  "CREATE TABLE audit ("
	  "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	  "  at_utc TEXT NOT NULL,"
	  "  recording_id TEXT,"
	  "  action TEXT NOT NULL,"
	  "  detail TEXT"
	  ");"
	  "CREATE INDEX audit_by_recording ON audit (recording_id);"
	  "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	  "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	  "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	  "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	  /* INSERT OR REPLACE deletes the old row without firing DELETE
	   * triggers (unless a connection sets recursive_triggers): refuse an
	   * insert over an existing seq. */
	  "CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit"
	  "  WHEN EXISTS (SELECT 1 FROM audit WHERE seq = NEW.seq)"
	  "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
	  "CREATE TABLE meta ("
	  "  key TEXT PRIMARY KEY NOT NULL,"
	  "  value TEXT"
	  ");"
	  "INSERT INTO meta (key, value) VALUES ('created_utc', " DR_STORE_NOW_SQL ");",
	  NULL },
	{ 2,
	  /* Consent and receipt numbers (the resident's answers at the box, or
	   * later changes staff record against the receipt number), and the
	   * states a recording can end in once it leaves the box. SQLite cannot
	   * change a CHECK in place, so the table is rebuilt. */
	  "CREATE TABLE recordings_v2 ("
	  "  id TEXT PRIMARY KEY NOT NULL"
	  "    CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),"
	  "  state TEXT NOT NULL"
	  "    CHECK (state IN ('recording', 'complete', 'interrupted', 'discarded',"
	  "                     'expired', 'withdrawn', 'deleted')),"
	  "  file TEXT NOT NULL,"
	  "  start_utc TEXT,"
	  "  start_mono_ms INTEGER,"
	  "  end_utc TEXT,"
	  "  duration_ms INTEGER CHECK (duration_ms IS NULL OR duration_ms >= 0),"
	  "  size_bytes INTEGER CHECK (size_bytes IS NULL OR size_bytes >= 0),"
	  "  blake2b TEXT CHECK (blake2b IS NULL OR length(blake2b) = 64),"
	  "  note TEXT,"
	  "  created_utc TEXT NOT NULL,"
	  "  updated_utc TEXT NOT NULL,"
	  /* 4 digits, random, unique among the recordings held (below) */
	  "  receipt TEXT CHECK (receipt IS NULL OR"
	  "    (length(receipt) = 4 AND receipt NOT GLOB '*[^0-9]*')),"
	  /* NULL: never answered. A recording is locked (never played to
	   * staff) unless consent_staff = 1. */
	  "  consent_staff INTEGER CHECK (consent_staff IS NULL OR consent_staff IN (0, 1)),"
	  "  consent_share INTEGER CHECK (consent_share IS NULL OR consent_share IN (0, 1)),"
	  "  consent_utc TEXT,"
	  "  consent_by TEXT CHECK (consent_by IS NULL OR consent_by IN ('resident', 'staff')),"
	  /* never shared beyond the team without consent to staff listening */
	  "  CHECK (consent_share IS NOT 1 OR consent_staff = 1)"
	  ");"
	  "INSERT INTO recordings_v2 (id, state, file, start_utc, start_mono_ms, end_utc,"
	  "  duration_ms, size_bytes, blake2b, note, created_utc, updated_utc)"
	  " SELECT id, state, file, start_utc, start_mono_ms, end_utc, duration_ms,"
	  "  size_bytes, blake2b, note, created_utc, updated_utc FROM recordings;"
	  "DROP TABLE recordings;"
	  "ALTER TABLE recordings_v2 RENAME TO recordings;"
	  "CREATE INDEX recordings_by_state ON recordings (state);"
	  "CREATE UNIQUE INDEX recordings_by_receipt ON recordings (receipt)"
	  "  WHERE receipt IS NOT NULL AND state IN ('recording', 'complete', 'interrupted');"
	  /* Receipt numbers the archive reports holding (from the staff
	   * stick): a new recording never gets one of these. */
	  "CREATE TABLE receipts_held ("
	  "  receipt TEXT PRIMARY KEY NOT NULL"
	  "    CHECK (length(receipt) = 4 AND receipt NOT GLOB '*[^0-9]*'),"
	  "  source TEXT NOT NULL,"
	  "  added_utc TEXT NOT NULL"
	  ");",
	  NULL },
	{ 3,
	  /* Export to staff sticks and confirmation by the archive (app/export,
	   * docs/stick-format.md). A recording leaves the box only as 'deleted'
	   * after a signed receipt confirmed a verified archive copy. */
	  "ALTER TABLE recordings ADD COLUMN exported_utc TEXT;"
	  "ALTER TABLE recordings ADD COLUMN export_seq INTEGER;"
	  "ALTER TABLE recordings ADD COLUMN confirmed_utc TEXT;"
	  "ALTER TABLE recordings ADD COLUMN deleted_utc TEXT;"
	  /* 1: made while the box's clock was unset or behind; created_utc was
	   * then moved to the time the clock was corrected (so the retention
	   * rule counts from a real time) and the box's reading kept here. */
	  "ALTER TABLE recordings ADD COLUMN time_uncertain INTEGER NOT NULL DEFAULT 0"
	  "  CHECK (time_uncertain IN (0, 1));"
	  "ALTER TABLE recordings ADD COLUMN created_utc_box TEXT;"
	  /* One row per export run to a staff stick (the manifest sequence). */
	  "CREATE TABLE exports ("
	  "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	  "  stick_id TEXT NOT NULL,"
	  "  stick_name TEXT,"
	  "  started_utc TEXT NOT NULL,"
	  "  finished_utc TEXT,"
	  "  manifest_blake2b TEXT CHECK (manifest_blake2b IS NULL OR length(manifest_blake2b) = 64),"
	  "  count INTEGER,"
	  "  receipt_utc TEXT"
	  ");"
	  /* Staff sticks the organisation revoked (from its signed list). */
	  "CREATE TABLE revoked_sticks ("
	  "  stick_id TEXT PRIMARY KEY NOT NULL,"
	  "  serial INTEGER NOT NULL,"
	  "  added_utc TEXT NOT NULL"
	  ");",
	  NULL },
	{ 4,
	  /* Time a wrong clock cannot shorten, and receipt numbers that rest
	   * before they are given again (store_time.c, docs/stick-format.md).
	   * meta 'running_ms': the box's accumulated running time (monotonic
	   * clock deltas, persisted at every storage check and at shutdown; a
	   * power cut under-counts). created_run_ms: that counter when the
	   * recording was made; the retention rule counts age by it. Rows made
	   * before this version get 0, the counter at the upgrade: each is kept
	   * at least retention_days of running time after the upgrade, which is
	   * never earlier than the old rule (created_utc + retention_days). */
	  "ALTER TABLE recordings ADD COLUMN created_run_ms INTEGER NOT NULL DEFAULT 0"
	  "  CHECK (created_run_ms >= 0);"
	  /* released_run_ms: the running time when the number last left the
	   * box (its recording confirmed by the archive, withdrawn or expired).
	   * Rows from before get 0: they rest from the upgrade. */
	  "ALTER TABLE receipts_held ADD COLUMN released_run_ms INTEGER NOT NULL DEFAULT 0"
	  "  CHECK (released_run_ms >= 0);"
	  "INSERT OR IGNORE INTO meta (key, value) VALUES ('running_ms', 0);"
	  /* the running time when an export's manifest was written: a receipt
	   * answering it was signed later (app/export/clock.c) */
	  "ALTER TABLE exports ADD COLUMN finished_run_ms INTEGER;",
	  NULL },
	{ 5,
	  /* Video testimonies (issue 12): what a recording holds. 'audio' is
	   * Ogg Opus (<id>.opus.sealed), 'video' Matroska with Opus and a
	   * picture (<id>.mkv.sealed); every row from before is audio. */
	  "ALTER TABLE recordings ADD COLUMN media TEXT NOT NULL DEFAULT 'audio'"
	  "  CHECK (media IN ('audio', 'video'));",
	  NULL },
	/* Next: { 6, "...", NULL }, */
};
/* clang-format on */

#define DR_STORE_NMIGRATIONS (sizeof(dr_store_migrations) / sizeof(dr_store_migrations[0]))

int dr_store_schema_latest(void)
{
	return dr_store_migrations[DR_STORE_NMIGRATIONS - 1].version;
}

static int dr_store_apply(struct dr_store *s, const struct dr_store_migration *m, int from,
			  char *err, size_t errlen)
{
	char what[64];
	snprintf(what, sizeof(what), "migrating the catalogue to schema v%d", m->version);
	int r = dr_store_txn_begin(s, what, err, errlen);
	if (r < 0)
		return r;
	r = dr_store_exec(s, m->sql, what, err, errlen);
	if (r == 0 && m->fn)
		r = m->fn(s, err, errlen);
	char sql[256];
	if (r == 0) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", m->version);
		r = dr_store_exec(s, sql, what, err, errlen);
	}
	if (r == 0) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO audit (at_utc, action, detail)"
			 " VALUES (%s, 'migrate', json_object('from', %d, 'to', %d))",
			 DR_STORE_NOW_SQL, from, m->version);
		r = dr_store_exec(s, sql, what, err, errlen);
	}
	if (r == 0)
		r = dr_store_txn_commit(s, what, err, errlen);
	if (r < 0)
		dr_store_txn_rollback(s);
	return r;
}

/* Called with user_version already checked to be <= the latest. */
int dr_store_migrate(struct dr_store *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < DR_STORE_NMIGRATIONS; i++) {
		int cur = dr_store_schema_version(s);
		if (cur < 0)
			return dr_store_fail(s, cur, err, errlen,
					     "cannot read the catalogue's schema version: %s",
					     sqlite3_errmsg(s->db));
		if (dr_store_migrations[i].version <= cur)
			continue;
		int r = dr_store_apply(s, &dr_store_migrations[i], cur, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}
