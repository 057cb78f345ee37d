/* SPDX-License-Identifier: MIT */
/* diaryroom-admin's commands on the audit log (audit_cmd.c; main thread). */
#ifndef DR_ADMIN_AUDIT_CMD_H
#define DR_ADMIN_AUDIT_CMD_H

#include <stdbool.h>

/* The archive folder, opened O_DIRECTORY: fd or -errno. */
int adm_archive_dirfd(const char *archive);
/* One entry in archive's audit log, as the OS user; reports a failure on
 * stderr. 0 or -errno (-EBADMSG: the log is damaged, nothing added). */
int adm_audit_record(const char *archive, const char *action, const char *box,
		     const char *recording, const char *receipt, const char *detail);
/* diaryroom-admin audit: prints the log (or, verify, checks it). Exit code:
 * 0, 1 broken or unreadable. */
int adm_audit_cmd(const char *archive, bool verify);

#endif
