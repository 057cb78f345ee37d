/* SPDX-License-Identifier: MIT */
/*
 * Internals of dr_store shared by its files (not a public header).
 */
#ifndef DR_STORE_PRIV_H
#define DR_STORE_PRIV_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define DR_STORE_CATALOGUE "catalogue.sqlite"
#define DR_STORE_RECDIR "recordings"
#define DR_STORE_ERRLEN 512

/* An ISO 8601 UTC timestamp with milliseconds, computed by SQLite. */
#define DR_STORE_NOW_SQL "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

struct dr_store {
	sqlite3 *db;
	char *dir;    /* absolute, no trailing slash */
	char *recdir; /* <dir>/recordings */
	char errmsg[DR_STORE_ERRLEN]; /* the last error, for dr_store_errmsg() */
	/* the running-time counter (store_time.c): meta 'running_ms' as read
	 * or last written, and CLOCK_MONOTONIC then; loaded on first use */
	bool run_loaded;
	uint64_t run_base_ms;
	uint64_t run_mono_ms;
};

/* The running-time counter now (store_time.c): persisted value plus the
 * monotonic time since it was read or written. */
int dr_store_run_now(struct dr_store *s, uint64_t *ms);

/* Records a message in s->errmsg (if s) and err (if err), returns rc. */
int dr_store_fail(struct dr_store *s, int rc, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Maps an SQLite result code (and the OS errno behind it) to -errno:
 * SQLITE_FULL -> -ENOSPC, SQLITE_READONLY -> -EROFS, a refused open or I/O
 * error -> the OS reason (-EROFS, -EACCES, -ENOSPC) when known, -EBUSY for
 * a lock held too long, -ENOMEM, else -EIO. */
int dr_store_sqlite_errno(sqlite3 *db, int rc);

/* Maps an OS errno to the store's errors (-ENOSPC, -EROFS, -EACCES) or dflt. */
int dr_store_os_errno(int sys, int dflt);

/* Runs SQL without results. On failure fills the message ("what: sqlite
 * message") and returns -errno. */
int dr_store_exec(struct dr_store *s, const char *sql, const char *what, char *err,
		  size_t errlen);

/* Transactions: BEGIN IMMEDIATE / COMMIT; rollback is safe to call always. */
int dr_store_txn_begin(struct dr_store *s, const char *what, char *err, size_t errlen);
int dr_store_txn_commit(struct dr_store *s, const char *what, char *err, size_t errlen);
void dr_store_txn_rollback(struct dr_store *s);

/* The newest schema version, and migration to it (store_schema.c). */
int dr_store_schema_latest(void);
int dr_store_migrate(struct dr_store *s, char *err, size_t errlen);

/* BLAKE2b-256 over an open fd from its current offset (store_hash.c). */
int dr_hash_fd(int fd, char hex[65]);

/* Statement helpers (store_rec.c), shared with store_consent.c. */
int dr_store_prepare(struct dr_store *s, const char *sql, sqlite3_stmt **st, const char *what,
		     char *err, size_t errlen);
int dr_store_step_done(struct dr_store *s, sqlite3_stmt *st, const char *what, char *err,
		       size_t errlen);
void dr_store_bind_text_or_null(sqlite3_stmt *st, int i, const char *v);
struct dr_store_audit_args {
	const char *t[3];
	sqlite3_int64 n[2];
};
int dr_store_insert_audit(struct dr_store *s, const char *id, const char *action,
			  const char *detail_sql, const struct dr_store_audit_args *a, const char *what,
			  char *err, size_t errlen);
int dr_store_state_of(struct dr_store *s, const char *id, enum dr_rec_state *state,
		      const char *what, char *err, size_t errlen);
/* store_media.c: the recording's file, by the media type the catalogue
 * gives it (audio when it has no row yet) or the one given. */
#define DR_STORE_EXT_SEALED ".sealed"
#define DR_STORE_EXT_PLAIN ".opus" /* audio from before sealing */
int dr_store_rec_path(const struct dr_store *s, const char *id, const char *suffix, char *path,
		      size_t pathlen);
int dr_store_rec_path_media(const struct dr_store *s, const char *id, enum dr_media media,
			    const char *suffix, char *path, size_t pathlen);
/* "audio"/"video" from the catalogue; -EIO for anything else. */
int dr_media_parse(const char *name, enum dr_media *m);
bool dr_store_id_ok(const char *id);

/* store_export.c, shared with store_receipt.c. */
/* A row the receipt's side counts as still on the box. */
#define DR_STORE_HELD_SQL "state IN ('complete', 'interrupted')"
/* Runs one statement with up to 3 text and 2 integer parameters (?1..?3
 * text, ?4..?5 integer) and, when it changed a row and action is given, the
 * audit row, in one transaction; *changes (if given) the rows changed. */
struct dr_store_x {
	const char *sql;
	const char *t[3];
	sqlite3_int64 n[2];
};
int dr_store_run_audited(struct dr_store *s, const struct dr_store_x *x, const char *id,
			 const char *action, const char *detail_sql,
			 const struct dr_store_audit_args *a, const char *what, char *err,
			 size_t errlen, int *changes);
/* The first column of sql's first row (?1 bound to arg if given): 0,
 * -ENOENT with no row, or -errno. */
int dr_store_query_int64(struct dr_store *s, const char *sql, const char *arg, int64_t *out);

/* fsync() a directory so that creating or removing an entry in it is durable. */
int dr_store_sync_dir(const char *path);

#endif
