/* SPDX-License-Identifier: MIT */
/* Helpers shared by the app/dev unit tests. */
#ifndef DR_TEST_DEV_H
#define DR_TEST_DEV_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A fresh scratch folder under $DR_TEST_TMP (or /tmp). */
static inline void dt_mkdtemp(char *out, size_t len, const char *what)
{
	const char *base = getenv("DR_TEST_TMP");

	snprintf(out, len, "%s/%s-XXXXXX", base && *base ? base : "/tmp", what);
	if (!mkdtemp(out)) {
		perror("mkdtemp");
		abort();
	}
}

static inline void dt_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "we");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		abort();
	}
}

/* Whole file into a malloc'd buffer (NUL-terminated); NULL if missing. */
static inline char *dt_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		abort();
	buf[n] = 0;
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static inline uint64_t dt_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline void dt_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

#endif
