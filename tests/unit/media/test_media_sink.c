/* SPDX-License-Identifier: MIT */
/* The durable file sink. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "media/sink.h"
#include "media_test.h"

static char *dir;

static void test_creates_writes_counts(void **state)
{
	(void)state;
	const char *path = mt_path(dir, "a.bin");
	struct dr_sink_stats st = {0}, watch = {0};
	struct dr_sink s;
	mode_t um = umask(022);
	assert_int_equal(dr_file_sink_open(path, &st, &s), 0);
	umask(um);
	assert_int_equal(dr_file_sink_watch_stats(s, &watch), 0);

	/* The new name exists at once, with the mode the header promises. */
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);

	unsigned char buf[10000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7);
	assert_int_equal(s.ops->write(s.user, buf, 6000), 0);
	assert_int_equal(s.ops->sync(s.user), 0);
	assert_int_equal(s.ops->write(s.user, buf + 6000, 4000), 0);
	assert_int_equal(st.bytes, 10000);
	assert_int_equal(st.writes, 2);
	assert_int_equal(st.syncs, 1);
	assert_int_equal(s.ops->close(s.user), 0);
	/* close made the second write durable too */
	assert_int_equal(st.syncs, 2);
	assert_memory_equal(&st, &watch, sizeof(st));

	unsigned char *back;
	size_t len;
	assert_int_equal(mt_read_file(path, &back, &len), 0);
	assert_int_equal(len, sizeof(buf));
	assert_memory_equal(back, buf, len);
	free(back);

	/* Never overwrites: a recording file is created exactly once. */
	assert_int_equal(dr_file_sink_open(path, NULL, &s), -EEXIST);
	assert_int_equal(dr_file_sink_open(mt_path(dir, "no/such/dir.bin"), NULL, &s), -ENOENT);

	/* Only file sinks can be watched. */
	struct mt_memsink m = {0};
	assert_int_equal(dr_file_sink_watch_stats(mt_memsink(&m), &watch), -EINVAL);
}

static void test_clean_close_does_not_sync_again(void **state)
{
	(void)state;
	struct dr_sink_stats st = {0};
	struct dr_sink s;
	assert_int_equal(dr_file_sink_open(mt_path(dir, "b.bin"), &st, &s), 0);
	assert_int_equal(s.ops->write(s.user, (const unsigned char *)"abc", 3), 0);
	assert_int_equal(s.ops->sync(s.user), 0);
	assert_int_equal(s.ops->close(s.user), 0);
	assert_int_equal(st.syncs, 1);
}

/* A write that fails half-way (here: the file size limit, like a full disk)
 * is cut back, so the file ends where the last successful write ended. */
static void test_failed_write_is_rolled_back(void **state)
{
	(void)state;
	const char *path = mt_path(dir, "c.bin");
	struct dr_sink s;
	assert_int_equal(dr_file_sink_open(path, NULL, &s), 0);
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 1000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	unsigned char buf[600];
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(s.ops->write(s.user, buf, 600), 0);
	int err = s.ops->write(s.user, buf, 600); /* 400 fit, then EFBIG */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_int_equal(err, -EFBIG);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 600);
	/* and the next write continues at the right place, without a hole */
	assert_int_equal(s.ops->write(s.user, (const unsigned char *)"yz", 2), 0);
	assert_int_equal(s.ops->close(s.user), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 602);
}

static int setup(void **state)
{
	(void)state;
	dir = mt_tmpdir("sink");
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mt_rmtree(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_creates_writes_counts),
		cmocka_unit_test(test_clean_close_does_not_sync_again),
		cmocka_unit_test(test_failed_write_is_rolled_back),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
