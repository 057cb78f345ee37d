/* SPDX-License-Identifier: MIT */
/* Unit tests of dr_log: format, level filter, per-module rate limit, threads. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/log.h"

static char tmpdir[4096];
static char capture_path[4200];
static int saved_stderr = -1;

static int make_tmpdir(void **state)
{
	(void)state;
	const char *base = getenv("DR_TEST_TMP");
	snprintf(tmpdir, sizeof(tmpdir), "%s/log-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(capture_path, sizeof(capture_path), "%s/stderr.txt", tmpdir);
	return 0;
}

/* Sends stderr to a file until capture_end(), which returns what was written. */
static void capture_begin(void)
{
	int fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	saved_stderr = dup(2);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
}

static char *capture_end(void)
{
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
	FILE *f = fopen(capture_path, "re");
	assert_non_null(f);
	size_t cap = 1 << 20;
	char *buf = calloc(1, cap);
	assert_non_null(buf);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static int reset(void **state)
{
	(void)state;
	dr_log_set_level(DR_LOG_LEVEL_INFO);
	dr_log_set_ratelimit(0, 0);
	return 0;
}

static void test_format_and_levels(void **state)
{
	(void)state;
	capture_begin();
	DR_LOG_ERR("capture", "cannot open %s: %s", "hw:0", "No such device");
	DR_LOG_WARN("store", "disk %d%% full", 91);
	DR_LOG_INFO("daemon", "ready");
	DR_LOG_DEBUG("daemon", "hidden at the default level");
	dr_log_set_level(DR_LOG_LEVEL_DEBUG);
	DR_LOG_DEBUG("daemon", "shown at debug");
	dr_log_set_level(DR_LOG_LEVEL_ERR);
	DR_LOG_WARN("store", "hidden at error level");
	DR_LOG_ERR("store", "still shown");
	dr_log_set_level(DR_LOG_LEVEL_INFO);
	DR_LOG_INFO("daemon", "trailing newline is dropped\n");
	DR_LOG_INFO("daemon", "embedded\nnewline\rand\x1b[31mescape\tkept tab");
	dr_log_printf(DR_LOG_LEVEL_INFO, NULL, "no module");
	char *out = capture_end();
	assert_string_equal(out, "diaryroomd[capture] error: cannot open hw:0: No such device\n"
				 "diaryroomd[store] warning: disk 91% full\n"
				 "diaryroomd[daemon] info: ready\n"
				 "diaryroomd[daemon] debug: shown at debug\n"
				 "diaryroomd[store] error: still shown\n"
				 "diaryroomd[daemon] info: trailing newline is dropped\n"
				 "diaryroomd[daemon] info: embedded newline and [31mescape\tkept tab\n"
				 "diaryroomd[?] info: no module\n");
	free(out);
}

static void test_long_message(void **state)
{
	(void)state;
	char *big = malloc(5000);
	assert_non_null(big);
	memset(big, 'y', 4999);
	big[4999] = '\0';
	capture_begin();
	DR_LOG_INFO("m", "%s", big);
	DR_LOG_INFO("m", "after");
	char *out = capture_end();
	free(big);
	/* truncated, still exactly one line, and the next message is intact */
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_true(nl - out > 900 && nl - out < 1024);
	assert_string_equal(nl + 1, "diaryroomd[m] info: after\n");
	free(out);
}

static void test_errno_preserved(void **state)
{
	(void)state;
	capture_begin();
	errno = ENOSPC;
	DR_LOG_WARN("m", "write failed: %m");
	int e = errno;
	char *out = capture_end();
	assert_int_equal(e, ENOSPC);
	assert_non_null(strstr(out, "write failed: No space left on device"));
	free(out);
}

static void test_rate_limit(void **state)
{
	(void)state;
	/* 10 per window per module. The window is 1 s here so the test is short;
	 * 40 calls take far less than that. */
	dr_log_set_ratelimit(10, 1000);
	capture_begin();
	for (int i = 0; i < 25; i++) {
		DR_LOG_ERR("flood", "failure %d", i);
		if (i < 3)
			DR_LOG_WARN("calm", "unrelated %d", i);
	}
	DR_LOG_DEBUG("flood", "filtered by level, not counted");
	char *out = capture_end();
	assert_int_equal(count(out, "diaryroomd[flood] error: failure "), 10);
	assert_non_null(strstr(out, "failure 9\n"));
	assert_null(strstr(out, "failure 10\n"));
	/* another module is not silenced by the flood */
	assert_int_equal(count(out, "diaryroomd[calm] warning: unrelated "), 3);
	assert_null(strstr(out, "suppressed"));
	free(out);

	struct timespec ts = {.tv_sec = 1, .tv_nsec = 100 * 1000 * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	capture_begin();
	DR_LOG_ERR("flood", "next window");
	char *out2 = capture_end();
	assert_string_equal(out2, "diaryroomd[flood] warning: 15 messages suppressed\n"
				  "diaryroomd[flood] error: next window\n");
	free(out2);

	/* the default limit is 10 per 10 s */
	dr_log_set_ratelimit(10, 10000);
	capture_begin();
	for (int i = 0; i < 12; i++)
		DR_LOG_INFO("dflt", "m%d", i);
	char *out3 = capture_end();
	assert_int_equal(count(out3, "diaryroomd[dflt] info: m"), 10);
	free(out3);
}

#define THREADS 4
#define PER_THREAD 200

static void *logger_main(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 0; i < PER_THREAD; i++)
		DR_LOG_INFO("thr", "thread %d message %d %s", id, i,
			    "padding padding padding padding padding padding padding padding");
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	capture_begin();
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, logger_main, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	char *out = capture_end();
	size_t lines = 0;
	for (char *p = out; *p;) {
		char *nl = strchr(p, '\n');
		assert_non_null(nl);
		int id, i;
		assert_int_equal(sscanf(p, "diaryroomd[thr] info: thread %d message %d padding", &id,
					&i),
				 2);
		assert_true(strncmp(nl - 7, "padding", 7) == 0);
		lines++;
		p = nl + 1;
	}
	assert_int_equal(lines, THREADS * PER_THREAD);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_format_and_levels, reset),
		cmocka_unit_test_setup(test_long_message, reset),
		cmocka_unit_test_setup(test_errno_preserved, reset),
		cmocka_unit_test_setup(test_rate_limit, reset),
		cmocka_unit_test_setup(test_threads, reset),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, NULL);
}
