/* SPDX-License-Identifier: MIT */
/*
 * The archive's audit log: see audit.h and docs/audit-log.md.
 *
 * An entry is one line, a JSON object whose last member is its hash:
 *   {"seq":N,"time":...,...,"prev":"<hex>","hash":"<hex>"}\n
 * hash = BLAKE2b-256 of the line's bytes before ',"hash":', so the hash binds
 * the exact bytes written (no canonical JSON needed) and, through "prev",
 * every entry before it.
 *
 * This file: what the others share (audit_priv.h) and the head record;
 * audit_read.c reads and verifies, audit_append.c appends.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>
#include "audit_priv.h"

bool adm_audit_hex64_ok(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void adm_audit_hash_hex(const void *b, size_t n, char hex[65])
{
	uint8_t h[32];
	crypto_generichash(h, sizeof(h), b, n, NULL, 0);
	sodium_bin2hex(hex, 65, h, sizeof(h));
}

/* Opens name in dirfd: a regular file, never a symlink, without blocking. */
int adm_audit_open_regular(int dirfd, const char *name, int flags, mode_t mode)
{
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int adm_audit_open_read(int archive_fd)
{
	return adm_audit_open_regular(archive_fd, ADM_AUDIT_LOG, O_RDONLY, 0);
}

/* ---- the head record ---- */

/* 0 and *seq, hash; 1 if there is none; -EBADMSG if damaged; -errno. */
int adm_audit_head_read(int dirfd, uint64_t *seq, char hash[65])
{
	int fd = adm_audit_open_regular(dirfd, ADM_AUDIT_HEAD, O_RDONLY, 0);
	if (fd == -ENOENT)
		return 1;
	if (fd < 0)
		return fd == -EINVAL || fd == -ELOOP ? -EBADMSG : fd;
	char b[256];
	ssize_t n = read(fd, b, sizeof(b) - 1);
	int r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	b[n] = '\0';
	json_object *o = json_tokener_parse(b), *v;
	r = -EBADMSG;
	if (o && json_object_object_get_ex(o, "seq", &v) && json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) >= 1) {
		*seq = (uint64_t)json_object_get_int64(v);
		if (json_object_object_get_ex(o, "hash", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    adm_audit_hex64_ok(json_object_get_string(v))) {
			memcpy(hash, json_object_get_string(v), 65);
			r = 0;
		}
	}
	json_object_put(o);
	return r;
}

int adm_audit_write_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int adm_audit_head_write(int dirfd, uint64_t seq, const char *hash)
{
	char b[128];
	int n = snprintf(b, sizeof(b), "{\"seq\":%llu,\"hash\":\"%s\"}\n",
			 (unsigned long long)seq, hash);
	if (unlinkat(dirfd, HEAD_TMP, 0) < 0 && errno != ENOENT)
		return -errno;
	int fd = openat(dirfd, HEAD_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = adm_audit_write_all(fd, b, (size_t)n);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, HEAD_TMP, dirfd, ADM_AUDIT_HEAD) < 0)
		r = -errno;
	if (r == 0 && fsync(dirfd) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dirfd, HEAD_TMP, 0);
	return r;
}
