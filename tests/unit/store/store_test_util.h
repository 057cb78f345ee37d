/* SPDX-License-Identifier: MIT */
/* Helpers shared by the store tests (header-only, each test is one program). */
#ifndef DR_STORE_TEST_UTIL_H
#define DR_STORE_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "store/store.h"

/* A fresh folder under $DR_TEST_TMP; returns a static buffer's copy in out. */
static inline void st_mkdtemp(const char *tag, char *out, size_t outlen)
{
	const char *base = getenv("DR_TEST_TMP");
	snprintf(out, outlen, "%s/%s-XXXXXX", base ? base : "/tmp", tag);
	assert_non_null(mkdtemp(out));
}

static inline void st_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static inline void *st_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	char *buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* Some bytes standing in for an Ogg Opus file (the store does not parse it). */
static inline void st_fake_recording(const char *path, size_t len, uint32_t seed)
{
	unsigned char *buf = malloc(len ? len : 1);
	assert_non_null(buf);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1664525u + 1013904223u;
		buf[i] = (unsigned char)(seed >> 24);
	}
	st_write_file(path, buf, len);
	free(buf);
}

/* An independent raw connection to a data folder's catalogue. */
static inline sqlite3 *st_raw_open(const char *dir)
{
	char path[9000];
	snprintf(path, sizeof(path), "%s/catalogue.sqlite", dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static inline long long st_q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Text of the first column of the first row into out ("" for NULL). */
static inline void st_q_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const unsigned char *t = sqlite3_column_text(st, 0);
	snprintf(out, outlen, "%s", t ? (const char *)t : "");
	sqlite3_finalize(st);
}

static inline long long st_count(const char *dir, const char *sql)
{
	sqlite3 *db = st_raw_open(dir);
	long long n = st_q_int(db, sql);
	sqlite3_close(db);
	return n;
}

/* The hash of a file computed without dr_store: b2sum(1) when installed,
 * else libsodium's one-shot API over the whole file in memory. */
static inline void st_independent_b2(const char *path, char hex[65])
{
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), "b2sum -l 256 '%s' 2>/dev/null", path);
	FILE *p = popen(cmd, "re");
	if (p) {
		char line[9200] = "";
		char *got = fgets(line, sizeof(line), p);
		int rc = pclose(p);
		if (got && rc == 0 && strlen(line) > 64 && line[64] == ' ') {
			memcpy(hex, line, 64);
			hex[64] = '\0';
			return;
		}
	}
	size_t len;
	unsigned char *buf = st_read_file(path, &len);
	unsigned char out[32];
	assert_int_equal(crypto_generichash(out, sizeof(out), buf, len, NULL, 0), 0);
	sodium_bin2hex(hex, 65, out, sizeof(out));
	free(buf);
}

static inline bool st_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

#endif
