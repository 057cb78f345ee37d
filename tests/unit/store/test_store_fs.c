/* SPDX-License-Identifier: MIT */
/*
 * dr_store on a read-only and on a full filesystem.
 *
 * Both need a filesystem of our own: the program moves itself into a private
 * mount namespace at start (plain unshare(CLONE_NEWNS) as root; as a normal
 * user, a user namespace too, where it may mount a tmpfs) and mounts small
 * tmpfs instances there. The mounts vanish with the process, even if a test
 * crashes, and nobody else sees them. A read-only *mount* is refused also to
 * root (EROFS), unlike chmod, which root bypasses. Where namespaces are not
 * available (some containers, qemu-user), the tests are skipped with the
 * reason printed; a normal user still gets the chmod 0500 variant.
 */
#include <sched.h>
#include <stdbool.h>
#include <sys/mount.h>

#include "store_test_util.h"

static bool can_mount;
static char why_not[256] = "not tried";

static int write_proc(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int r = n == (ssize_t)strlen(text) ? 0 : -errno;
	close(fd);
	return r;
}

static void setup_namespace(void)
{
	if (getenv("DR_TEST_NO_NAMESPACE")) { /* to exercise the fallbacks */
		snprintf(why_not, sizeof(why_not), "DR_TEST_NO_NAMESPACE is set");
		return;
	}
	if (geteuid() == 0) {
		if (unshare(CLONE_NEWNS) < 0) {
			snprintf(why_not, sizeof(why_not), "unshare(CLONE_NEWNS): %s",
				 strerror(errno));
			return;
		}
	} else {
		uid_t uid = geteuid();
		gid_t gid = getegid();
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
			snprintf(why_not, sizeof(why_not),
				 "unshare(CLONE_NEWUSER|CLONE_NEWNS): %s (user namespaces "
				 "disabled?)",
				 strerror(errno));
			return;
		}
		char map[64];
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		int r = write_proc("/proc/self/setgroups", "deny");
		if (r == 0)
			r = write_proc("/proc/self/uid_map", map);
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
		if (r == 0)
			r = write_proc("/proc/self/gid_map", map);
		if (r < 0) {
			snprintf(why_not, sizeof(why_not), "cannot map ids in a user namespace: %s",
				 strerror(-r));
			return;
		}
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		snprintf(why_not, sizeof(why_not), "cannot make mounts private: %s", strerror(errno));
		return;
	}
	can_mount = true;
}

/* A tmpfs of `size` bytes at a new folder; returns 0 or -errno. */
static int mount_tmpfs(const char *tag, char *mnt, size_t mntlen, const char *size)
{
	st_mkdtemp(tag, mnt, mntlen);
	char opts[64];
	snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
	if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return -errno;
	return 0;
}

static int remount(const char *mnt, bool ro)
{
	unsigned long fl = MS_REMOUNT | MS_NOSUID | MS_NODEV | (ro ? MS_RDONLY : 0);
	return mount(NULL, mnt, NULL, fl, NULL) < 0 ? -errno : 0;
}

static struct dr_store *open_ok(const char *dir)
{
	struct dr_store *s = NULL;
	char err[512] = "";
	int r = dr_store_open(dir, &s, err, sizeof(err));
	if (r != 0)
		fail_msg("dr_store_open(%s) = %d: %s", dir, r, err);
	return s;
}

/* A store in dir with one complete recording; returns its id, path and hash. */
static void make_store_with_one(const char *dir, char id[DR_STORE_ID_LEN + 1], char *path,
				size_t pathlen, char hex[65])
{
	struct dr_store *s = open_ok(dir);
	char err[512] = "";
	assert_int_equal(dr_store_begin(s, NULL, 1, id, path, pathlen, err, sizeof(err)), 0);
	st_fake_recording(path, 20000, 42);
	assert_int_equal(dr_store_finish(s, id, DR_REC_COMPLETE, 2000, NULL, err, sizeof(err)), 0);
	st_independent_b2(path, hex);
	dr_store_close(s);
}

static void test_read_only(void **state)
{
	(void)state;
	char mnt[4096], dir[4200], fresh[4200], err[512];
	char id[DR_STORE_ID_LEN + 1], path[4096], hex[65], h[65];
	struct dr_store *s = NULL;

	if (!can_mount) {
		if (geteuid() == 0) {
			print_message("skipped: needs a private mount namespace (%s); as root, "
				      "chmod cannot make a folder read-only\n",
				      why_not);
			skip();
		}
		/* a normal user without namespaces: permissions are enough */
		st_mkdtemp("store-ro", dir, sizeof(dir));
		make_store_with_one(dir, id, path, sizeof(path), hex);
		assert_int_equal(chmod(dir, 0500), 0);
		int r = dr_store_open(dir, &s, err, sizeof(err));
		chmod(dir, 0700);
		assert_int_equal(r, -EACCES);
		assert_null(s);
		assert_non_null(strstr(err, "not writable"));
		return;
	}

	int r = mount_tmpfs("store-ro", mnt, sizeof(mnt), "4m");
	if (r < 0) {
		print_message("skipped: cannot mount a tmpfs: %s\n", strerror(-r));
		skip();
	}
	snprintf(dir, sizeof(dir), "%s/data", mnt);
	make_store_with_one(dir, id, path, sizeof(path), hex);
	char cat[4300];
	snprintf(cat, sizeof(cat), "%s/catalogue.sqlite", dir);
	char cat_hash[65];
	assert_int_equal(dr_hash_file(cat, cat_hash), 0);

	assert_int_equal(remount(mnt, true), 0);
	/* an existing data folder on a read-only filesystem: a clear error at open */
	err[0] = '\0';
	assert_int_equal(dr_store_open(dir, &s, err, sizeof(err)), -EROFS);
	assert_null(s);
	assert_non_null(strstr(err, dir));
	assert_non_null(strstr(err, "read-only"));
	/* a data folder that cannot even be created */
	snprintf(fresh, sizeof(fresh), "%s/fresh", mnt);
	assert_int_equal(dr_store_open(fresh, &s, err, sizeof(err)), -EROFS);
	assert_null(s);
	assert_non_null(strstr(err, "read-only"));
	/* nothing was changed */
	assert_int_equal(dr_hash_file(path, h), 0);
	assert_string_equal(h, hex);
	assert_int_equal(dr_hash_file(cat, h), 0);
	assert_string_equal(h, cat_hash);

	/* writable again: everything is there */
	assert_int_equal(remount(mnt, false), 0);
	s = open_ok(dir);
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(s, id, &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE);
	assert_string_equal(rec.blake2b, hex);
	dr_store_close(s);
	umount(mnt);
}

/* Fills the filesystem holding dir; returns the fd of the filler file. */
static void fill_disk(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	static char chunk[65536];
	memset(chunk, 'f', sizeof(chunk));
	for (size_t sz = sizeof(chunk); sz >= 1; sz /= 8) {
		for (;;) {
			ssize_t n = write(fd, chunk, sz);
			if (n < 0) {
				assert_int_equal(errno, ENOSPC);
				break;
			}
		}
	}
	close(fd);
}

static void test_full_disk(void **state)
{
	(void)state;
	if (!can_mount) {
		print_message("skipped: needs a private mount namespace to mount a small tmpfs "
			      "(%s)\n",
			      why_not);
		skip();
	}
	char mnt[4096], dir[4200], filler[4200], err[512];
	int r = mount_tmpfs("store-full", mnt, sizeof(mnt), "1m");
	if (r < 0) {
		print_message("skipped: cannot mount a tmpfs: %s\n", strerror(-r));
		skip();
	}
	snprintf(dir, sizeof(dir), "%s/data", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);

	/* A is kept; B has been recorded and is being finished when the disk fills */
	char ida[DR_STORE_ID_LEN + 1], patha[4096], hexa[65];
	make_store_with_one(dir, ida, patha, sizeof(patha), hexa);
	struct dr_store *s = open_ok(dir);
	char idb[DR_STORE_ID_LEN + 1], pathb[4096], hexb[65], h[65];
	assert_int_equal(dr_store_begin(s, "2024-01-01T00:00:00Z", 5, idb, pathb, sizeof(pathb), err,
					sizeof(err)),
			 0);
	st_fake_recording(pathb, 30000, 7);
	st_independent_b2(pathb, hexb);
	long long audit_before = st_count(dir, "SELECT count(*) FROM audit");
	long long recs_before = st_count(dir, "SELECT count(*) FROM recordings");

	fill_disk(filler);
	uint64_t free_bytes = UINT64_MAX;
	assert_int_equal(dr_store_free_bytes(s, &free_bytes), 0);
	assert_true(free_bytes < 4096);

	err[0] = '\0';
	assert_int_equal(dr_store_finish(s, idb, DR_REC_COMPLETE, 3000, NULL, err, sizeof(err)),
			 -ENOSPC);
	assert_non_null(strstr(err, idb));
	assert_non_null(strstr(err, "full"));
	/* the catalogue is as it was: B still recording, A untouched, no audit row */
	struct dr_store_rec rec;
	assert_int_equal(dr_store_get(s, idb, &rec), 0);
	assert_int_equal(rec.state, DR_REC_RECORDING);
	assert_string_equal(rec.blake2b, "");
	assert_int_equal(rec.size, 0);
	assert_int_equal(dr_store_get(s, ida, &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE);
	assert_string_equal(rec.blake2b, hexa);
	assert_int_equal(st_count(dir, "SELECT count(*) FROM audit"), audit_before);
	assert_int_equal(st_count(dir, "SELECT count(*) FROM recordings WHERE state = 'complete'"),
			 1);
	/* and so are the files */
	assert_int_equal(dr_hash_file(patha, h), 0);
	assert_string_equal(h, hexa);
	assert_int_equal(dr_hash_file(pathb, h), 0);
	assert_string_equal(h, hexb);

	/* nothing new can start, nothing is half-inserted */
	char idc[DR_STORE_ID_LEN + 1], pathc[4096];
	assert_int_equal(dr_store_begin(s, NULL, 9, idc, pathc, sizeof(pathc), err, sizeof(err)),
			 -ENOSPC);
	assert_int_equal(dr_store_audit(s, NULL, "note", "disk full"), -ENOSPC);
	assert_int_equal(st_count(dir, "SELECT count(*) FROM recordings"), recs_before);
	assert_int_equal(st_count(dir, "SELECT count(*) FROM audit"), audit_before);

	/* space again: the same finish now succeeds on the same connection */
	assert_int_equal(unlink(filler), 0);
	assert_int_equal(dr_store_finish(s, idb, DR_REC_COMPLETE, 3000, NULL, err, sizeof(err)), 0);
	assert_int_equal(dr_store_get(s, idb, &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE);
	assert_string_equal(rec.blake2b, hexb);
	assert_int_equal(rec.size, 30000);
	assert_int_equal(st_count(dir, "SELECT count(*) FROM audit"), audit_before + 1);
	dr_store_close(s);

	/* and after a reopen */
	s = open_ok(dir);
	assert_int_equal(dr_store_get(s, idb, &rec), 0);
	assert_int_equal(rec.state, DR_REC_COMPLETE);
	dr_store_close(s);
	umount(mnt);
}

int main(void)
{
	setup_namespace();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_full_disk),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	return r == 0 && !can_mount ? 77 : r; /* 77: ctest reports "skipped" */
}
