/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: dr_store_open() on a catalogue file made of arbitrary bytes
 * (an SD card that went bad, a file someone edited), then every query.
 *
 * Whatever the catalogue says, the store must not crash and must never
 * delete a recording: a file in recordings/ is checked after every input.
 * Runs in /dev/shm when there is one (fsync is free there; the store commits
 * with synchronous=FULL).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SENTINEL_ID "00000000000000000000000000000000"

/* The fuzzing folder, made once per process. A fuzz target may keep this
 * one static; the library under test has none. */
static char fz_dir[256];

static void fz_cleanup(void)
{
	static const char *const names[] = {"catalogue.sqlite", "catalogue.sqlite-wal",
					    "catalogue.sqlite-shm",
					    "recordings/" SENTINEL_ID ".opus", NULL};
	char p[512];
	for (size_t i = 0; names[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", fz_dir, names[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/recordings", fz_dir);
	rmdir(p);
	rmdir(fz_dir);
}

static int fz_setup(void)
{
	if (fz_dir[0])
		return 0;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(fz_dir, sizeof(fz_dir), "%s/dr-fuzz-store-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(fz_dir))
		return -1;
	atexit(fz_cleanup);
	char p[512];
	snprintf(p, sizeof(p), "%s/recordings", fz_dir);
	return mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static void fz_write(const char *name, const void *data, size_t len)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", fz_dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	if (len && write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

static int fz_visit(void *user, const struct dr_store_rec *rec)
{
	struct dr_store *s = user;
	struct dr_store_rec again;
	if (strlen(rec->id) != DR_STORE_ID_LEN || !memchr(rec->path, '\0', sizeof(rec->path)) ||
	    !memchr(rec->blake2b, '\0', sizeof(rec->blake2b)))
		abort();
	(void)dr_store_get(s, rec->id, &again);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fz_setup() < 0)
		abort();
	char p[512];
	snprintf(p, sizeof(p), "%s/catalogue.sqlite-wal", fz_dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/catalogue.sqlite-shm", fz_dir);
	unlink(p);
	fz_write("catalogue.sqlite", data, size);
	fz_write("recordings/" SENTINEL_ID ".opus", "OggS keep me", 12);

	struct dr_store *s = NULL;
	char err[512];
	int r = dr_store_open(fz_dir, &s, err, sizeof(err));
	if (r < 0) {
		if (s || !memchr(err, '\0', sizeof(err)) || !err[0])
			abort(); /* a failure gives no handle and always says why */
	} else {
		(void)dr_store_schema_version(s);
		for (int st = DR_REC_RECORDING; st <= DR_REC_DISCARDED; st++)
			(void)dr_store_each(s, (enum dr_rec_state)st, fz_visit, s);
		struct dr_store_rec rec;
		(void)dr_store_get(s, SENTINEL_ID, &rec);
		/* a finish over whatever the row says must not crash either */
		(void)dr_store_finish(s, SENTINEL_ID, DR_REC_INTERRUPTED, 1, NULL, err, sizeof(err));
		dr_store_close(s);
	}
	/* never deleted, never changed */
	snprintf(p, sizeof(p), "%s/recordings/" SENTINEL_ID ".opus", fz_dir);
	char buf[16] = "";
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, buf, sizeof(buf)) != 12 || memcmp(buf, "OggS keep me", 12) != 0)
		abort();
	close(fd);
	return 0;
}
