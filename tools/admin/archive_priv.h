/* SPDX-License-Identifier: MIT */
/* Between archive.c and its backends. */
#ifndef DR_ADMIN_ARCHIVE_PRIV_H
#define DR_ADMIN_ARCHIVE_PRIV_H

#include "archive.h"

#define ADM_CATALOGUE "catalogue.sqlite"
#define ADM_LOCK_FILE ".lock"

/* The SQLite backend (archive_sqlite.c): dirfd is the archive folder (not
 * owned), path its name for messages and for SQLite. */
int adm_archive_sqlite_open(int dirfd, const char *path, bool create, struct adm_archive **out,
			    char *err, size_t errlen);
void adm_archive_sqlite_close(struct adm_archive *a);

/* An archive made before the catalogue: every <box>/index.json into the
 * catalogue, in one transaction; each is renamed index.json.migrated once
 * the transaction is committed (archive_migrate.c). 0 (also when there was
 * nothing to migrate), or -errno with err set. refuse_unknown: a box
 * folder the catalogue does not list and that has no index.json is refused. */
int adm_archive_migrate(struct adm_archive *a, bool refuse_unknown, char *err, size_t errlen);
/* adm_archive_open for repair: a box folder the catalogue does not list is
 * not refused (repair adds it). */
int adm_archive_open_repair(const char *path, struct adm_archive **out, char *err,
			    size_t errlen);

#endif
