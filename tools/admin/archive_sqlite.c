/* SPDX-License-Identifier: MIT */
/*
 * The archive catalogue in SQLite: <archive>/catalogue.sqlite, WAL,
 * synchronous=FULL, schema version in PRAGMA user_version and the
 * migrations below (as the box's app/store does). Refused, with a message,
 * if it is not a regular file, is damaged, or is newer than this program.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "archive.h"
#include "archive_priv.h"
#include "archive_sqlite.h"


int adm_sq_fail(struct adm_archive *a, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
	return r;
}

int adm_sq_db_fail(struct adm_archive *a, const char *what)
{
	int rc = sqlite3_errcode(DB(a));
	int r = rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? -EBADMSG
		: rc == SQLITE_CONSTRAINT			 ? -EBADMSG
		: rc == SQLITE_BUSY				 ? -EBUSY
		: rc == SQLITE_FULL				 ? -ENOSPC
								 : -EIO;
	return adm_sq_fail(a, r, "the catalogue: %s: %s", what, sqlite3_errmsg(DB(a)));
}

/* clang-format off */
static const struct { int version; const char *sql; } migrations[] = {
	{ 1,
	  "CREATE TABLE boxes ("
	  "  box TEXT PRIMARY KEY NOT NULL"
	  "    CHECK (length(box) = 16 AND box NOT GLOB '*[^0-9a-f]*'),"
	  "  first_utc TEXT NOT NULL);"
	  "CREATE TABLE recordings ("
	  "  box TEXT NOT NULL REFERENCES boxes (box),"
	  "  id TEXT NOT NULL CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),"
	  "  receipt TEXT NOT NULL CHECK (receipt = '' OR (length(receipt) = 4 AND"
	  "    receipt NOT GLOB '*[^0-9]*')),"
	  "  state TEXT NOT NULL, media TEXT NOT NULL CHECK (media IN ('audio', 'video')),"
	  "  file TEXT NOT NULL, start_utc TEXT NOT NULL, end_utc TEXT NOT NULL,"
	  "  duration_ms INTEGER NOT NULL, size INTEGER NOT NULL CHECK (size >= 0),"
	  "  blake2b TEXT NOT NULL, playable_blake2b TEXT NOT NULL,"
	  "  consent_staff TEXT NOT NULL CHECK (consent_staff IN ('yes', 'no', 'unanswered')),"
	  "  consent_share TEXT NOT NULL CHECK (consent_share IN ('yes', 'no', 'unanswered')),"
	  "  locked INTEGER NOT NULL, time_uncertain INTEGER NOT NULL,"
	  "  sealed_original INTEGER NOT NULL,"
	  "  status TEXT NOT NULL CHECK (status IN ('archived', 'withdrawn', 'expired')),"
	  "  collected_utc TEXT NOT NULL, retention_ended_utc TEXT NOT NULL,"
	  "  PRIMARY KEY (box, id));"
	  "CREATE INDEX recordings_by_receipt ON recordings (receipt, box);"
	  "CREATE INDEX recordings_by_start ON recordings (start_utc);"
	  "CREATE TABLE changes ("
	  "  box TEXT NOT NULL REFERENCES boxes (box), seq INTEGER NOT NULL,"
	  "  kind TEXT NOT NULL CHECK (kind IN ('withdraw', 'consent')),"
	  "  receipt TEXT NOT NULL, staff TEXT NOT NULL, share TEXT NOT NULL,"
	  "  entered_utc TEXT NOT NULL, actor TEXT NOT NULL, PRIMARY KEY (box, seq));"
	  "CREATE TABLE consent_history ("
	  "  n INTEGER PRIMARY KEY AUTOINCREMENT, box TEXT NOT NULL, id TEXT NOT NULL,"
	  "  at_utc TEXT NOT NULL, staff TEXT NOT NULL, share TEXT NOT NULL,"
	  "  source TEXT NOT NULL, detail TEXT NOT NULL);"
	  "CREATE INDEX consent_by_rec ON consent_history (box, id);"
	  "CREATE TABLE events ("
	  "  n INTEGER PRIMARY KEY AUTOINCREMENT, box TEXT NOT NULL, id TEXT NOT NULL,"
	  "  kind TEXT NOT NULL, what TEXT NOT NULL, at_utc TEXT NOT NULL,"
	  "  detail TEXT NOT NULL);"
	  "CREATE INDEX events_by_rec ON events (box, id);"
	  "CREATE TABLE receipts ("
	  "  n INTEGER PRIMARY KEY AUTOINCREMENT, box TEXT NOT NULL, seq INTEGER NOT NULL,"
	  "  sent_utc TEXT NOT NULL, manifest_blake2b TEXT NOT NULL, held INTEGER NOT NULL);"
	  "CREATE TABLE manifests ("
	  "  box TEXT NOT NULL, seq INTEGER NOT NULL, json BLOB NOT NULL, sig BLOB NOT NULL,"
	  "  PRIMARY KEY (box, seq));" },
	/* the audit entries of a commit, written in its transaction and moved
	 * to the audit log after it (adm_index_flush_audit) */
	{ 2,
	  "CREATE TABLE audit_outbox ("
	  "  n INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, box TEXT NOT NULL,"
	  "  id TEXT NOT NULL, receipt TEXT NOT NULL, detail TEXT NOT NULL);" },
	/* Next: { 3, "ALTER TABLE ...;" }. Never edit a shipped entry. */
};
/* clang-format on */
#define NMIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

static int exec(struct adm_archive *a, const char *sql, const char *what)
{
	return sqlite3_exec(DB(a), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : adm_sq_db_fail(a, what);
}

static int user_version(struct adm_archive *a, int *v)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(DB(a), "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return adm_sq_db_fail(a, "reading its schema version");
	int rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : adm_sq_db_fail(a, "reading its schema version");
}

static int migrate(struct adm_archive *a)
{
	int v, r = user_version(a, &v);
	if (r < 0)
		return r;
	if (v > migrations[NMIGRATIONS - 1].version)
		return adm_sq_fail(a, -EPROTO, "the catalogue is schema v%d, newer than this program "
					"(v%d): update diaryroom-admin", v,
			    migrations[NMIGRATIONS - 1].version);
	for (size_t i = 0; i < NMIGRATIONS; i++) {
		if (migrations[i].version <= v)
			continue;
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", migrations[i].version);
		if ((r = exec(a, "BEGIN IMMEDIATE", "migrating")) < 0)
			return r;
		/* again inside the transaction: a reader (list, check) opening the
		 * new catalogue at the same time may have just migrated it */
		if ((r = user_version(a, &v)) == 0 && migrations[i].version <= v) {
			r = exec(a, "COMMIT", "migrating");
			if (r < 0)
				return r;
			continue;
		}
		if (r == 0 && (r = exec(a, migrations[i].sql, "migrating")) == 0 &&
		    (r = exec(a, sql, "migrating")) == 0 && (r = exec(a, "COMMIT", "migrating")) == 0)
			continue;
		sqlite3_exec(DB(a), "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	return 0;
}

static int s_begin(struct adm_archive *a)
{
	struct adm_sqlite *s = (struct adm_sqlite *)a;
	if (s->in_txn)
		return adm_sq_fail(a, -EINVAL, "a transaction is already open");
	int r = exec(a, "BEGIN IMMEDIATE", "starting a transaction");
	s->in_txn = r == 0;
	return r;
}

static int s_commit(struct adm_archive *a)
{
	struct adm_sqlite *s = (struct adm_sqlite *)a;
	if (!s->in_txn)
		return adm_sq_fail(a, -EINVAL, "no transaction open");
	int r = exec(a, "COMMIT", "committing");
	if (r < 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_txn = false;
	return r;
}

static void s_rollback(struct adm_archive *a)
{
	struct adm_sqlite *s = (struct adm_sqlite *)a;
	if (s->in_txn)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_txn = false;
}

/* A statement for a write (inside a transaction) or a read. */
int adm_sq_prep(struct adm_archive *a, bool write, const char *sql, sqlite3_stmt **st)
{
	if (write && !((struct adm_sqlite *)a)->in_txn)
		return adm_sq_fail(a, -EINVAL, "a write outside a transaction");
	if (sqlite3_prepare_v2(DB(a), sql, -1, st, NULL) != SQLITE_OK)
		return adm_sq_db_fail(a, "preparing a statement");
	return 0;
}

void adm_sq_finish(struct adm_archive *a, sqlite3_stmt *st)
{
	((struct adm_sqlite *)a)->fullscan_steps +=
		sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
	sqlite3_finalize(st);
}

long adm_sq_fullscan_steps(struct adm_archive *a)
{
	return ((struct adm_sqlite *)a)->fullscan_steps;
}

int adm_sq_step_done(struct adm_archive *a, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : adm_sq_db_fail(a, what);
	sqlite3_finalize(st);
	return r;
}

void adm_sq_bt(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_TRANSIENT);
}

void adm_sq_ct(sqlite3_stmt *st, int i, char *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(out, n, "%s", t ? (const char *)t : "");
}

static int s_box_add(struct adm_archive *a, const char *box, const char *first_utc)
{
	sqlite3_stmt *st;
	if (!adm_box_ok(box))
		return adm_sq_fail(a, -EINVAL, "not a box id");
	int r = adm_sq_prep(a, true, "INSERT OR IGNORE INTO boxes (box, first_utc) VALUES (?, ?)", &st);
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, box);
	adm_sq_bt(st, 2, first_utc);
	return adm_sq_step_done(a, st, "adding a box");
}

static int s_box_each(struct adm_archive *a, int (*cb)(void *, const char *), void *ctx)
{
	sqlite3_stmt *st;
	int r = adm_sq_prep(a, false, "SELECT box FROM boxes ORDER BY box", &st), rc;
	if (r < 0)
		return r;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char box[ADM_BOX_HEX + 1];
		adm_sq_ct(st, 0, box, sizeof(box));
		if (!adm_box_ok(box))
			r = adm_sq_fail(a, -EBADMSG, "the catalogue lists a box whose id is not one");
		else
			r = cb(ctx, box);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = adm_sq_db_fail(a, "listing boxes");
	sqlite3_finalize(st);
	return r;
}

#define REC_COLS                                                                           \
	"box, id, receipt, state, media, file, start_utc, end_utc, duration_ms, size, blake2b," \
	" playable_blake2b, consent_staff, consent_share, locked, time_uncertain,"             \
	" sealed_original, status, collected_utc, retention_ended_utc"

static int rec_row(struct adm_archive *a, sqlite3_stmt *st, struct adm_rec *r)
{
	memset(r, 0, sizeof(*r));
	adm_sq_ct(st, 0, r->box, sizeof(r->box));
	adm_sq_ct(st, 1, r->id, sizeof(r->id));
	adm_sq_ct(st, 2, r->receipt, sizeof(r->receipt));
	adm_sq_ct(st, 3, r->state, sizeof(r->state));
	adm_sq_ct(st, 4, r->media, sizeof(r->media));
	adm_sq_ct(st, 5, r->file, sizeof(r->file));
	adm_sq_ct(st, 6, r->start_utc, sizeof(r->start_utc));
	adm_sq_ct(st, 7, r->end_utc, sizeof(r->end_utc));
	r->duration_ms = sqlite3_column_int64(st, 8);
	r->size = (uint64_t)sqlite3_column_int64(st, 9);
	adm_sq_ct(st, 10, r->blake2b, sizeof(r->blake2b));
	adm_sq_ct(st, 11, r->playable_blake2b, sizeof(r->playable_blake2b));
	adm_sq_ct(st, 12, r->consent_staff, sizeof(r->consent_staff));
	adm_sq_ct(st, 13, r->consent_share, sizeof(r->consent_share));
	r->locked = sqlite3_column_int(st, 14) != 0;
	r->time_uncertain = sqlite3_column_int(st, 15) != 0;
	r->sealed_original = sqlite3_column_int(st, 16) != 0;
	adm_sq_ct(st, 17, r->status, sizeof(r->status));
	adm_sq_ct(st, 18, r->collected_utc, sizeof(r->collected_utc));
	adm_sq_ct(st, 19, r->retention_ended_utc, sizeof(r->retention_ended_utc));
	/* a row is outside input too: its names decide paths */
	char want[64];
	if (!adm_box_ok(r->box) || !adm_rec_id_ok(r->id) ||
	    adm_archive_file_name(want, sizeof(want), r->id, r->media, "sealed") < 0 ||
	    strcmp(want, r->file))
		return adm_sq_fail(a, -EBADMSG, "the catalogue has a recording row whose box, id or file "
					 "name is not valid (damaged or altered)");
	return 0;
}

static int s_rec_get(struct adm_archive *a, const char *box, const char *id, struct adm_rec *out)
{
	sqlite3_stmt *st;
	int r = adm_sq_prep(a, false, "SELECT " REC_COLS " FROM recordings WHERE box = ? AND id = ?", &st);
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, box);
	adm_sq_bt(st, 2, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = rec_row(a, st, out);
	else
		r = rc == SQLITE_DONE ? -ENOENT : adm_sq_db_fail(a, "reading a recording");
	sqlite3_finalize(st);
	return r;
}

static int s_rec_put(struct adm_archive *a, const struct adm_rec *x)
{
	char want[64];
	if (!adm_box_ok(x->box) || !adm_rec_id_ok(x->id) ||
	    adm_archive_file_name(want, sizeof(want), x->id, x->media, "sealed") < 0 ||
	    strcmp(want, x->file))
		return adm_sq_fail(a, -EINVAL, "a recording with a bad box, id or file name");
	sqlite3_stmt *st;
	int r = adm_sq_prep(a, true,
		     "INSERT OR REPLACE INTO recordings (" REC_COLS ") VALUES "
		     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		     &st);
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, x->box);
	adm_sq_bt(st, 2, x->id);
	adm_sq_bt(st, 3, x->receipt);
	adm_sq_bt(st, 4, x->state);
	adm_sq_bt(st, 5, x->media);
	adm_sq_bt(st, 6, x->file);
	adm_sq_bt(st, 7, x->start_utc);
	adm_sq_bt(st, 8, x->end_utc);
	sqlite3_bind_int64(st, 9, x->duration_ms);
	sqlite3_bind_int64(st, 10, (int64_t)x->size);
	adm_sq_bt(st, 11, x->blake2b);
	adm_sq_bt(st, 12, x->playable_blake2b);
	adm_sq_bt(st, 13, x->consent_staff[0] ? x->consent_staff : "unanswered");
	adm_sq_bt(st, 14, x->consent_share[0] ? x->consent_share : "unanswered");
	sqlite3_bind_int(st, 15, x->locked);
	sqlite3_bind_int(st, 16, x->time_uncertain);
	sqlite3_bind_int(st, 17, x->sealed_original);
	adm_sq_bt(st, 18, x->status);
	adm_sq_bt(st, 19, x->collected_utc);
	adm_sq_bt(st, 20, x->retention_ended_utc);
	return adm_sq_step_done(a, st, "writing a recording");
}

static int s_rec_each(struct adm_archive *a, const struct adm_query *q, adm_rec_cb cb, void *ctx)
{
	sqlite3_stmt *st;
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT " REC_COLS " FROM recordings WHERE %s AND %s AND %s AND %s"
		 " ORDER BY %s",
		 adm_sq_if(q ? q->box : NULL, "box = ?1", "?1 = ''"),
		 adm_sq_if(q ? q->receipt : NULL, "receipt = ?2", "?2 = ''"),
		 adm_sq_if(q ? q->from_utc : NULL, "start_utc >= ?3", "?3 = ''"),
		 adm_sq_if(q ? q->to_utc : NULL, "start_utc <= ?4", "?4 = ''"),
		 q && q->by_start ? "start_utc, box, id" : "box, start_utc, id");
	int r = adm_sq_prep(a, false, sql, &st),
	    rc = SQLITE_DONE;
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, q ? q->box : NULL);
	adm_sq_bt(st, 2, q ? q->receipt : NULL);
	adm_sq_bt(st, 3, q ? q->from_utc : NULL);
	adm_sq_bt(st, 4, q ? q->to_utc : NULL);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct adm_rec x;
		r = rec_row(a, st, &x);
		if (r == 0)
			r = cb(ctx, &x);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = adm_sq_db_fail(a, "listing recordings");
	adm_sq_finish(a, st);
	return r;
}

static int pragma_check(struct adm_archive *a, FILE *out, const char *pragma)
{
	sqlite3_stmt *st;
	int r = adm_sq_prep(a, false, pragma, &st), rc, bad = 0;
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		if (t && strcmp((const char *)t, "ok")) {
			bad = 1;
			if (out)
				fprintf(out, "catalogue: %s\n", t);
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return adm_sq_db_fail(a, "checking its integrity");
	return bad;
}

static int s_check(struct adm_archive *a, FILE *out)
{
	return pragma_check(a, out, "PRAGMA integrity_check");
}

static int s_quick_check(struct adm_archive *a, FILE *out)
{
	return pragma_check(a, out, "PRAGMA quick_check");
}

static const struct adm_archive_ops sqlite_ops = {
	.name = "sqlite",
	.begin = s_begin,
	.commit = s_commit,
	.rollback = s_rollback,
	.box_add = s_box_add,
	.box_each = s_box_each,
	.rec_get = s_rec_get,
	.rec_put = s_rec_put,
	.rec_each = s_rec_each,
	.change_add = adm_sq_change_add,
	.change_each = adm_sq_change_each,
	.consent_add = adm_sq_consent_add,
	.consent_each = adm_sq_consent_each,
	.event_add = adm_sq_event_add,
	.event_each = adm_sq_event_each,
	.receipt_add = adm_sq_receipt_add,
	.manifest_keep = adm_sq_manifest_keep,
	.manifest_each = adm_sq_manifest_each,
	.check = s_check,
	.quick_check = s_quick_check,
	.outbox_add = adm_sq_outbox_add,
	.outbox_first = adm_sq_outbox_first,
	.outbox_del = adm_sq_outbox_del,
};

/* The catalogue file and its WAL companions are regular files or absent. */
static int files_regular(int dirfd, bool *exists, char *err, size_t errlen)
{
	static const char *const names[] = {ADM_CATALOGUE, ADM_CATALOGUE "-wal",
					    ADM_CATALOGUE "-shm"};
	*exists = false;
	for (size_t i = 0; i < 3; i++) {
		struct stat st;
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			int r = -errno;
			snprintf(err, errlen, "cannot read the archive's %s: %s", names[i],
				 strerror(errno));
			return r;
		}
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "the archive's %s is not a regular file (a symlink, "
					      "FIFO or device): refused; nothing was changed",
				 names[i]);
			return -EBADMSG;
		}
		if (i == 0)
			*exists = true;
	}
	return 0;
}

int adm_archive_sqlite_open(int dirfd, const char *path, bool create, struct adm_archive **out,
			    char *err, size_t errlen)
{
	*out = NULL;
	bool exists;
	int r = files_regular(dirfd, &exists, err, errlen);
	if (r < 0)
		return r;
	(void)create; /* absent: made, then adm_archive_migrate decides */
	char file[4200];
	if (snprintf(file, sizeof(file), "%s/%s", path, ADM_CATALOGUE) >= (int)sizeof(file)) {
		snprintf(err, errlen, "the archive's path is too long");
		return -ENAMETOOLONG;
	}
	if (!exists) {
		/* made here 0600, so SQLite never makes it with the umask's mode */
		int fd = openat(dirfd, ADM_CATALOGUE, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
							      O_CLOEXEC, 0600);
		if (fd < 0 || fsync(fd) < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot make %s: %s", file, strerror(errno));
			if (fd >= 0)
				close(fd);
			return r;
		}
		close(fd);
		fsync(dirfd);
	}
	struct adm_sqlite *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &sqlite_ops;
	s->base.dirfd = -1;
	struct adm_archive *a = &s->base;
	if (sqlite3_open_v2(file, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", file,
			 s->db ? sqlite3_errmsg(s->db) : "out of memory");
		sqlite3_close(s->db);
		free(s);
		return -EIO;
	}
	sqlite3_busy_timeout(s->db, 60000);
	sqlite3_extended_result_codes(s->db, 0);
	r = exec(a, "PRAGMA foreign_keys=ON", "opening");
	sqlite3_stmt *st = NULL;
	if (r == 0 && sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK)
		r = adm_sq_db_fail(a, "opening");
	if (r == 0 && sqlite3_step(st) != SQLITE_ROW)
		r = adm_sq_db_fail(a, "opening");
	sqlite3_finalize(st);
	if (r == 0)
		r = exec(a, "PRAGMA synchronous=FULL", "opening");
	/* a damaged file fails here or on the first read of its schema */
	if (r == 0)
		r = exec(a, "SELECT count(*) FROM sqlite_master", "reading it");
	if (r == 0)
		r = migrate(a);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", file, a->err);
		adm_archive_sqlite_close(a);
		return r;
	}
	*out = a;
	return 0;
}

void adm_archive_sqlite_close(struct adm_archive *a)
{
	if (!a)
		return;
	struct adm_sqlite *s = (struct adm_sqlite *)a;
	s_rollback(a);
	sqlite3_close(s->db);
	free(s);
}
