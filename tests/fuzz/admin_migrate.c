/* SPDX-License-Identifier: MIT */
/* Fuzz target: an archive made before the catalogue, as the office PC
 * migrates it (tools/admin/archive_migrate.c through adm_archive_open): the
 * input is a box's index.json in a scratch archive (in /dev/shm when there
 * is one). Checked: a migration either is refused, or leaves a catalogue
 * that passes its own check, whose rows for that box are all well formed
 * (ids and file names from the one path function). Each input gets a new
 * box folder in the same archive, removed afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[256];
static unsigned long long counter;

static int check_rec(void *ctx, const struct adm_rec *r)
{
	const char *box = ctx;
	char name[64];
	if (strcmp(r->box, box) || !adm_rec_id_ok(r->id) ||
	    adm_archive_file_name(name, sizeof(name), r->id, r->media, "sealed") < 0)
		abort();
	return 0;
}

/* Removes a box folder the migration left (its index.json, or that
 * renamed index.json.migrated, and nothing else is made there). */
static void rm_box(const char *dir)
{
	static const char *const names[] = {"index.json", "index.json.migrated"};
	char p[400];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		abort();
}

static void rm_root(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "admin_migrate: %s left behind\n", root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!root[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(root, sizeof(root), "%s/dr-fuzz-migrate-%ld", base, (long)getpid());
		rm_root();
		atexit(rm_root);
		char err[256];
		struct adm_archive *a;
		if (adm_archive_open(root, true, &a, err, sizeof(err)) < 0)
			abort();
		adm_archive_close(a);
	}
	char box[ADM_BOX_HEX + 1], dir[300], file[320];
	snprintf(box, sizeof(box), "%016llx", ++counter);
	snprintf(dir, sizeof(dir), "%s/%s", root, box);
	snprintf(file, sizeof(file), "%s/index.json", dir);
	if (mkdir(dir, 0700) < 0)
		abort();
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) < 0)
		abort();
	char err[512];
	struct adm_archive *a;
	if (adm_archive_open(root, false, &a, err, sizeof(err)) == 0) {
		struct adm_query q = {.box = box};
		if (a->ops->rec_each(a, &q, check_rec, box) < 0 || a->ops->check(a, NULL) != 0)
			abort();
		adm_archive_close(a);
	}
	rm_box(dir);
	return 0;
}
