/* SPDX-License-Identifier: MIT */
/* A resident's rights (rights.c, docs/residents-rights.md): find and
 * export by receipt number. Main thread; they report on stderr. */
#ifndef DR_ADMIN_RIGHTS_H
#define DR_ADMIN_RIGHTS_H

#include "admin.h"

struct adm_rights_query {
	const char *receipt;  /* 4 digits (required) */
	const char *box;      /* NULL: every box */
	const char *from, *to; /* NULL, or YYYY-MM-DD[THH:MM:SSZ]: the recording's start */
};

/* Prints, as JSON, everything the archive holds about the receipt number:
 * its recordings with their consent history and what was done to them, the
 * changes staff entered, and every audit log entry about them. A damaged
 * catalogue or audit log stops it (nothing printed). 0 or -errno. */
int adm_find(const char *archive, const struct adm_rights_query *q);
/* Copies it into dir (made 0700 if absent; an existing one must be an
 * empty folder of this user's that nobody else may write, outside the
 * archive): each recording still held (its playable copy; else, with org's
 * secret key, opened from the sealed original; else the sealed original),
 * and record.json (what find prints). Every copy is recorded in the audit
 * log; on any failure nothing is left in dir. 0 or -errno. */
int adm_rights_export(const struct adm_org *org, const char *archive,
		      const struct adm_rights_query *q, const char *dir);

#endif
