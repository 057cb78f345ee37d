/* SPDX-License-Identifier: MIT */
/* One box of the catalogue as a working JSON object (archive_index.c). */
#ifndef DR_ADMIN_ARCHIVE_INDEX_H
#define DR_ADMIN_ARCHIVE_INDEX_H

#include <json-c/json.h>

#include "archive.h"

/* The box's recordings and changes as committed; NULL (reported) if the
 * catalogue cannot be read. The caller owns it (json_object_put). */
struct json_object *adm_index_load(struct adm_archive *a, const char *box);
struct adm_audit;
/* Commits idx for box in one transaction (rows, consent history, events,
 * changes beyond those stored); now: the command's time. Then what it did
 * (import, consent, change, withdraw, expire, delete, consent-refused) goes
 * into the audit log au, one fsynced entry each. Reported. */
int adm_index_save(struct adm_archive *a, struct adm_audit *au, const char *box,
		   struct json_object *idx, const char *now);
/* Moves the audit entries the catalogue holds for the log (each commit
 * keeps its own in the same transaction) into au, oldest first, each
 * cleared once fsynced in the log; one a killed run had appended but not
 * cleared (the log's last entry) is not appended twice. At every open and
 * after every save. Reported; -errno. Only the catalogue's writer. */
int adm_index_flush_audit(struct adm_archive *a, struct adm_audit *au);

#endif
