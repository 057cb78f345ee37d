/* SPDX-License-Identifier: MIT */
/*
 * dr_store: opening the data folder and the catalogue, error mapping and the
 * small helpers the rest of the store uses. Recording operations are in
 * store_rec.c, the schema in store_schema.c, hashing in store_hash.c.
 *
 * Durability: every connection runs with journal_mode=WAL and
 * synchronous=FULL. In WAL mode synchronous=NORMAL only syncs at checkpoints,
 * so the last transactions before a power cut can be lost; that is not
 * acceptable here, because every write in this schema is either
 * consent-bearing (what a resident agreed to, a withdrawal, a deletion) or
 * state-bearing (that a recording exists, is complete, was discarded). The
 * resident is told "saved" only after the commit returns, so the commit must
 * be on the card by then. The cost is one fsync of the WAL per commit, a few
 * per session.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "store_priv.h"

#define DR_STORE_BUSY_MS 5000

int dr_store_fail(struct dr_store *s, int rc, char *err, size_t errlen, const char *fmt, ...)
{
	char msg[DR_STORE_ERRLEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s)
		snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg);
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return rc;
}

const char *dr_store_errmsg(const struct dr_store *s)
{
	return s ? s->errmsg : "";
}

int dr_store_os_errno(int sys, int dflt)
{
	switch (sys) {
	case ENOSPC:
	case EDQUOT:
		return -ENOSPC;
	case EROFS:
		return -EROFS;
	case EACCES:
	case EPERM:
		return -EACCES;
	default:
		return dflt;
	}
}

int dr_store_sqlite_errno(sqlite3 *db, int rc)
{
	int sys = db ? sqlite3_system_errno(db) : 0;
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
		return dr_store_os_errno(sys, -EIO);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default: /* SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_CONSTRAINT, ... */
		return -EIO;
	}
}

int dr_store_exec(struct dr_store *s, const char *sql, const char *what, char *err,
		  size_t errlen)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		return 0;
	return dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), err, errlen, "%s: %s", what,
			     sqlite3_errmsg(s->db));
}

int dr_store_txn_begin(struct dr_store *s, const char *what, char *err, size_t errlen)
{
	return dr_store_exec(s, "BEGIN IMMEDIATE", what, err, errlen);
}

int dr_store_txn_commit(struct dr_store *s, const char *what, char *err, size_t errlen)
{
	return dr_store_exec(s, "COMMIT", what, err, errlen);
}

void dr_store_txn_rollback(struct dr_store *s)
{
	/* SQLite may already have rolled back on its own (e.g. after SQLITE_FULL). */
	if (s->db && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int dr_store_sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

const char *dr_rec_state_name(enum dr_rec_state st)
{
	switch (st) {
	case DR_REC_RECORDING:
		return "recording";
	case DR_REC_COMPLETE:
		return "complete";
	case DR_REC_INTERRUPTED:
		return "interrupted";
	case DR_REC_DISCARDED:
		return "discarded";
	case DR_REC_EXPIRED:
		return "expired";
	case DR_REC_WITHDRAWN:
		return "withdrawn";
	case DR_REC_DELETED:
		return "deleted";
	}
	return "unknown";
}

int dr_store_schema_version(struct dr_store *s)
{
	if (!s || !s->db)
		return -EINVAL;
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return dr_store_sqlite_errno(s->db, rc);
	rc = sqlite3_step(st);
	int v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : dr_store_sqlite_errno(s->db, rc);
	sqlite3_finalize(st);
	return v;
}

/* A single-value pragma, e.g. "PRAGMA journal_mode=WAL" -> "wal". */
static int dr_store_pragma_text(struct dr_store *s, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return dr_store_sqlite_errno(s->db, rc);
	rc = sqlite3_step(st);
	int r = 0;
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(out, outlen, "%s", t ? (const char *)t : "");
	} else {
		r = rc == SQLITE_DONE ? -EIO : dr_store_sqlite_errno(s->db, rc);
	}
	sqlite3_finalize(st);
	return r;
}

/* mkdir that accepts an existing folder, and explains what is wrong otherwise. */
static int dr_store_mkdir(struct dr_store *s, const char *path, const char *what, char *err,
			  size_t errlen)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		if (e == EROFS)
			return dr_store_fail(s, -EROFS, err, errlen,
					     "%s %s cannot be created: the filesystem is read-only",
					     what, path);
		if (e == ENOENT)
			return dr_store_fail(s, -ENOENT, err, errlen,
					     "%s %s cannot be created: its parent folder does not "
					     "exist (is the data partition mounted?)",
					     what, path);
		return dr_store_fail(s, -e, err, errlen, "%s %s cannot be created: %s", what, path,
				     strerror(e));
	}
	struct stat st;
	if (stat(path, &st) < 0) {
		int e = errno;
		return dr_store_fail(s, -e, err, errlen, "%s %s: %s", what, path, strerror(e));
	}
	if (!S_ISDIR(st.st_mode))
		return dr_store_fail(s, -ENOTDIR, err, errlen, "%s %s exists but is not a folder",
				     what, path);
	if (faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) < 0) {
		int e = errno;
		if (e == EROFS)
			return dr_store_fail(s, -EROFS, err, errlen,
					     "%s %s is on a read-only filesystem: recordings "
					     "cannot be kept",
					     what, path);
		return dr_store_fail(s, -e, err, errlen,
				     "%s %s is not writable (%s): recordings cannot be kept", what,
				     path, strerror(e));
	}
	return 0;
}

/* Creates the catalogue file 0600 if it does not exist yet, so that neither it
 * nor its -wal/-shm files (which copy its mode) are ever readable by others. */
static int dr_store_create_catalogue(struct dr_store *s, const char *path, char *err,
				     size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		int r = fsync(fd) < 0 ? -errno : 0;
		close(fd);
		if (r == 0)
			r = dr_store_sync_dir(s->dir);
		if (r < 0)
			return dr_store_fail(s, r, err, errlen, "catalogue %s cannot be created: %s",
					     path, strerror(-r));
		return 0;
	}
	if (errno != EEXIST) {
		int e = errno;
		return dr_store_fail(s, dr_store_os_errno(e, -e), err, errlen,
				     "catalogue %s cannot be created: %s", path, strerror(e));
	}
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return dr_store_fail(s, -EINVAL, err, errlen,
				     "catalogue %s exists but is not a regular file", path);
	return 0;
}

static int dr_store_open_db(struct dr_store *s, char *err, size_t errlen)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/" DR_STORE_CATALOGUE, s->dir) >= (int)sizeof(path))
		return dr_store_fail(s, -ENAMETOOLONG, err, errlen, "data folder path too long");
	int r = dr_store_create_catalogue(s, path, err, errlen);
	if (r < 0)
		return r;

	/* No SQLITE_OPEN_CREATE: the file exists now, and if it vanished we want
	 * an error rather than a silently empty catalogue. */
	int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK)
		return dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), err, errlen,
				     "catalogue %s cannot be opened: %s", path,
				     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	sqlite3_extended_result_codes(s->db, 1);
	if (sqlite3_db_readonly(s->db, "main") == 1)
		return dr_store_fail(s, -EROFS, err, errlen,
				     "catalogue %s can only be opened read-only: recordings cannot "
				     "be kept",
				     path);
	sqlite3_busy_timeout(s->db, DR_STORE_BUSY_MS);

	/* Read the version before writing anything (switching to WAL writes the
	 * header): a newer or damaged catalogue is left exactly as it is. */
	int v = dr_store_schema_version(s);
	if (v < 0)
		return dr_store_fail(s, v, err, errlen,
				     "catalogue %s cannot be read: %s. It may be damaged; it has "
				     "been left as it is, and so have the recordings",
				     path, sqlite3_errmsg(s->db));
	int latest = dr_store_schema_latest();
	if (v > latest)
		return dr_store_fail(s, -EPROTO, err, errlen,
				     "catalogue %s has schema version %d, newer than this program "
				     "understands (%d): refusing to open it; install a newer "
				     "diaryroom",
				     path, v, latest);

	char txt[256];
	r = dr_store_pragma_text(s, "PRAGMA quick_check", txt, sizeof(txt));
	if (r < 0 || strcmp(txt, "ok") != 0)
		return dr_store_fail(s, r < 0 ? r : -EIO, err, errlen,
				     "catalogue %s is damaged (%s). It has been left as it is, and "
				     "so have the recordings; restore it from a copy",
				     path, r < 0 ? sqlite3_errmsg(s->db) : txt);

	r = dr_store_pragma_text(s, "PRAGMA journal_mode=WAL", txt, sizeof(txt));
	if (r < 0)
		return dr_store_fail(s, r, err, errlen,
				     "catalogue %s: cannot switch to WAL journal mode: %s", path,
				     sqlite3_errmsg(s->db));
	if (strcmp(txt, "wal") != 0)
		return dr_store_fail(s, -EIO, err, errlen,
				     "catalogue %s: the filesystem does not support WAL mode "
				     "(journal mode is '%s')",
				     path, txt);
	static const char settings[] = "PRAGMA synchronous=FULL;"
				       "PRAGMA foreign_keys=ON;"
				       "PRAGMA trusted_schema=OFF;";
	r = dr_store_exec(s, settings, "catalogue settings", err, errlen);
	if (r < 0)
		return r;
	r = dr_store_migrate(s, err, errlen);
	if (r < 0)
		return r;
	return 0;
}

int dr_store_open(const char *data_dir, struct dr_store **out, char *err, size_t errlen)
{
	if (!data_dir || !*data_dir || !out)
		return dr_store_fail(NULL, -EINVAL, err, errlen, "no data folder given");
	if (sodium_init() < 0)
		return dr_store_fail(NULL, -EIO, err, errlen, "libsodium cannot be initialised");
	struct dr_store *s = calloc(1, sizeof(*s));
	if (!s)
		return dr_store_fail(NULL, -ENOMEM, err, errlen, "out of memory");

	int r = dr_store_mkdir(s, data_dir, "data folder", err, errlen);
	if (r < 0)
		goto err_close;
	s->dir = realpath(data_dir, NULL);
	if (!s->dir) {
		r = dr_store_fail(s, -errno, err, errlen, "data folder %s: %s", data_dir,
				  strerror(errno));
		goto err_close;
	}
	if (asprintf(&s->recdir, "%s/" DR_STORE_RECDIR, s->dir) < 0) {
		s->recdir = NULL;
		r = dr_store_fail(s, -ENOMEM, err, errlen, "out of memory");
		goto err_close;
	}
	r = dr_store_mkdir(s, s->recdir, "recordings folder", err, errlen);
	if (r < 0)
		goto err_close;
	r = dr_store_sync_dir(s->dir);
	if (r < 0) {
		r = dr_store_fail(s, r, err, errlen, "data folder %s: %s", s->dir, strerror(-r));
		goto err_close;
	}
	r = dr_store_open_db(s, err, errlen);
	if (r < 0)
		goto err_close;
	*out = s;
	return 0;

err_close:
	dr_store_close(s);
	return r;
}

void dr_store_close(struct dr_store *s)
{
	if (!s)
		return;
	sqlite3_close_v2(s->db);
	free(s->recdir);
	free(s->dir);
	free(s);
}

int dr_store_free_bytes(struct dr_store *s, uint64_t *bytes)
{
	if (!s || !bytes)
		return -EINVAL;
	struct statvfs vfs;
	if (statvfs(s->dir, &vfs) < 0)
		return dr_store_fail(s, -errno, NULL, 0, "statvfs %s: %s", s->dir, strerror(errno));
	*bytes = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
	return 0;
}
