/* SPDX-License-Identifier: MIT */
/*
 * What the audit log's files share (audit.c): the line's hash member, the
 * head record, regular-file opens. Private to dr_admin_audit: audit.c (the
 * files), audit_read.c (reading, verifying), audit_append.c (appending).
 * Any thread; no state.
 */
#ifndef ADM_AUDIT_PRIV_H
#define ADM_AUDIT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* An entry's last member: ,"hash":"<64 hex>"} */
#define HASH_KEY ",\"hash\":\""
#define HASH_KEY_LEN (sizeof(HASH_KEY) - 1)
#define TAIL_LEN (HASH_KEY_LEN + 64 + 2)
#define HEAD_TMP ADM_AUDIT_HEAD ".tmp"
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* 64 lower-case hex digits. */
bool adm_audit_hex64_ok(const char *s);
/* BLAKE2b-256 of b[0..n) in lower-case hex. */
void adm_audit_hash_hex(const void *b, size_t n, char hex[65]);
/* Opens name in dirfd: a regular file, never a symlink, without blocking
 * (O_CLOEXEC). The fd, -EINVAL if not a regular file, or -errno. */
int adm_audit_open_regular(int dirfd, const char *name, int flags, mode_t mode);
/* The head record (ADM_AUDIT_HEAD): the last entry's seq and hash.
 * 0 and *seq, hash; 1 if there is none; -EBADMSG if damaged; -errno. */
int adm_audit_head_read(int dirfd, uint64_t *seq, char hash[65]);
/* Replaces the head record atomically (a synced temporary file renamed
 * over it, then the folder synced). 0 or -errno. */
int adm_audit_head_write(int dirfd, uint64_t seq, const char *hash);
/* write(2) until all n bytes are written. 0 or -errno. */
int adm_audit_write_all(int fd, const char *b, size_t n);

#endif
