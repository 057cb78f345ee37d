/* SPDX-License-Identifier: MIT */
/* Between the files of the SQLite backend (archive_sqlite.c: opening, the
 * schema, transactions, recordings; archive_sqlite_rows.c: the other
 * tables). */
#ifndef DR_ADMIN_ARCHIVE_SQLITE_H
#define DR_ADMIN_ARCHIVE_SQLITE_H

#include <stdbool.h>
#include <stdio.h>

#include <sqlite3.h>

#include "archive.h"

struct adm_sqlite {
  struct adm_archive base;
  sqlite3 *db;
  bool in_txn;
  /* rows read by full table scans in the listing queries (adm_sq_finish) */
  long fullscan_steps;
};

#define DB(a) (((struct adm_sqlite *)(a))->db)

/* a->err from fmt; returns r */
int adm_sq_fail(struct adm_archive *a, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* a->err from SQLite's last error; the errno for it */
int adm_sq_db_fail(struct adm_archive *a, const char *what);
/* A statement: write ones only inside a transaction (-EINVAL). */
int adm_sq_prep(struct adm_archive *a, bool write, const char *sql,
                sqlite3_stmt **st);
/* Steps st to its end and finalizes it. */
int adm_sq_step_done(struct adm_archive *a, sqlite3_stmt *st, const char *what);
/* Finalizes a listing's st, counting its full-scan steps into
 * fullscan_steps (the unit test asserts a filtered listing uses an index). */
void adm_sq_finish(struct adm_archive *a, sqlite3_stmt *st);
/* the condition when the filter v is given, else one that keeps the
 * parameter bound and is always true ("?1 = ''"): written "(?1 = '' OR
 * box = ?1)" SQLite cannot use an index and scans every row */
static inline const char *adm_sq_if(const char *v, const char *cond, const char *none)
{
	return v && v[0] ? cond : none;
}
long adm_sq_fullscan_steps(struct adm_archive *a);
void adm_sq_bt(sqlite3_stmt *st, int i, const char *s); /* NULL binds "" */
void adm_sq_ct(sqlite3_stmt *st, int i, char *out, size_t n); /* "" for NULL */

int adm_sq_change_add(struct adm_archive *a, const struct adm_change *c);
int adm_sq_change_each(struct adm_archive *a, const char *box,
                       const char *receipt, adm_change_cb cb, void *ctx);
int adm_sq_consent_add(struct adm_archive *a, const struct adm_consent *c);
int adm_sq_consent_each(struct adm_archive *a, const char *box, const char *id,
                        adm_consent_cb cb, void *ctx);
int adm_sq_event_add(struct adm_archive *a, const struct adm_event *e);
int adm_sq_event_each(struct adm_archive *a, const char *box, const char *id,
                      adm_event_cb cb, void *ctx);
int adm_sq_receipt_add(struct adm_archive *a, const struct adm_receipt *x);
int adm_sq_manifest_keep(struct adm_archive *a, const char *box, int64_t seq,
                         const void *json, size_t json_len, const void *sig,
                         size_t sig_len);
int adm_sq_manifest_each(struct adm_archive *a, const char *box,
                         int (*cb)(void *, const char *, int64_t, const void *,
                                   size_t, const void *, size_t),
                         void *ctx);
int adm_sq_outbox_add(struct adm_archive *a, const struct adm_outbox *e);
int adm_sq_outbox_first(struct adm_archive *a, struct adm_outbox *out);
int adm_sq_outbox_del(struct adm_archive *a, int64_t n);

#endif
