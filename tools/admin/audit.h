/* SPDX-License-Identifier: MIT */
/*
 * The archive's audit log (docs/audit-log.md): append-only, one JSON line
 * per entry, each carrying the BLAKE2b-256 hash of the one before, in
 * <archive>/audit.log, with its head record (last sequence number and hash)
 * in <archive>/audit.head, so an edited, removed, reordered or cut-off entry,
 * or a removed log, is seen by adm_audit_verify.
 *
 * Threads: a struct adm_audit belongs to one thread at a time. Appenders in
 * different processes are serialised by flock on the log (the archive's own
 * lock is not needed). Nothing here logs or exits.
 */
#ifndef DR_ADMIN_AUDIT_H
#define DR_ADMIN_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ADM_AUDIT_LOG "audit.log"
#define ADM_AUDIT_HEAD "audit.head"
#define ADM_AUDIT_FIELD_MAX 2048 /* bytes of one field (actor, action, ...) */
#define ADM_AUDIT_LINE_MAX 16384 /* bytes of one entry's line, with its newline */

struct adm_audit;

/* Opens the audit log of the archive folder archive_fd (which stays the
 * caller's; it is duplicated), creating it if absent. Refused (-EBADMSG) if
 * the log was removed while its head record remains; -ELOOP/-EINVAL if it
 * is not a regular file. *out: adm_audit_close it (NULL on failure). */
int adm_audit_open(int archive_fd, struct adm_audit **out);
/* Appends one entry, fsynced (and its head record replaced atomically)
 * before it returns. actor: NULL = this thread's default actor
 * (adm_audit_default_actor), else the OS user. Any of box, recording,
 * receipt, detail may be NULL. action: non-empty. -E2BIG for a field over
 * ADM_AUDIT_FIELD_MAX; -EBADMSG if the log's end does not match its head
 * record (the log was damaged: nothing is added; adm_audit_verify says
 * where). */
int adm_audit_add(struct adm_audit *a, const char *actor, const char *action, const char *box,
		  const char *recording, const char *receipt, const char *detail);
void adm_audit_close(struct adm_audit *a); /* NULL ok */
/* Sets the actor of every entry the calling thread adds with actor NULL
 * (NULL: back to the OS user), so code that names no actor (the command
 * line's, reused by `serve` for a signed-in request) writes its entries in
 * the name of the person it acts for; the OS user is still recorded in each
 * entry's os_user. Per thread (thread-local): any thread may call, and it
 * affects only the entries that thread adds. actor stays the caller's and
 * is not copied: it must stay valid and unchanged until this thread sets
 * another or NULL. Returns the previous one. */
const char *adm_audit_default_actor(const char *actor);
/* Checks the whole chain and the head record; writes what it found to out
 * (NULL: nothing): 0 intact, 1 broken (out says at which entry and how),
 * -errno if it could not be read. No log and no head: intact, empty. */
int adm_audit_verify(int archive_fd, FILE *out);

/* One entry as read back. Strings are valid until adm_audit_entry_clear;
 * absent fields are NULL. */
struct adm_audit_entry {
	uint64_t seq;
	int64_t uid; /* -1 if absent */
	const char *time, *os_user, *sudo_user, *actor, *action;
	const char *box, *recording, *receipt, *detail;
	const char *prev, *hash; /* 64 hex each */
	void *priv_;
};

/* Parses one line (len bytes, without its newline) into *e, checking its
 * own hash (not the chain): 0, or -EBADMSG with why (a short reason, static
 * text). *e: adm_audit_entry_clear it, also on failure. */
int adm_audit_parse_line(const char *line, size_t len, struct adm_audit_entry *e,
			 const char **why);
void adm_audit_entry_clear(struct adm_audit_entry *e);

/* Where a read of the log ended. */
struct adm_audit_end {
	uint64_t seq;        /* the last good entry (0: none) */
	char hash[65];       /* its hash (64 zeros: none) */
	char prev[65];       /* the hash of the entry before it */
	uint64_t good_bytes; /* the log's length up to the end of that entry */
	bool torn;           /* bytes after it without a newline: an unfinished append */
};

/* Reads every entry of the log on log_fd from its current offset, in order,
 * checking the chain as it goes, calling each (may be NULL; non-zero stops
 * the read and is returned). 0 when the chain held to the end, 1 if it broke
 * (out, may be NULL: at which entry and how; nothing from there on is passed
 * to each), -errno. *end (may be NULL): where the good part ended. */
int adm_audit_read_fd(int log_fd, FILE *out,
		      int (*each)(const struct adm_audit_entry *e, void *ctx), void *ctx,
		      struct adm_audit_end *end);

/* Opens <archive>/audit.log for reading (regular file only, no symlink,
 * without blocking): fd, or -errno (-ENOENT if there is none). */
int adm_audit_open_read(int archive_fd);

#endif
