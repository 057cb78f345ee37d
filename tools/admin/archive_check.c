/* SPDX-License-Identifier: MIT */
/*
 * diaryroom-admin check: the catalogue, the files and their hashes agree.
 * Needs no key: a sealed original is re-hashed against the hash its box
 * signed, a playable copy against the hash it was made with. Writes
 * nothing (an archive made before the catalogue is migrated first).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "archive.h"

struct ck {
	struct adm_archive *a;
	unsigned problems, recs, files;
	/* the names the catalogue accounts for, per box: "<box>/<file>" */
	char (*known)[ADM_BOX_HEX + 1 + 64];
	size_t nknown;
};

static void problem(struct ck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct ck *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("check: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	c->problems++;
}

/* Hashes the regular file rel (relative to the archive). -ENOENT absent,
 * -EINVAL not a regular file. */
static int hash_rel(int dirfd, const char *rel, char hex[65], uint64_t *size)
{
	int fd;
	int r = adm_open_regular_at(dirfd, rel, &fd, size);
	if (r < 0)
		return r;
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, 32);
	uint8_t buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crypto_generichash_update(&h, buf, (size_t)n);
	r = n < 0 ? -errno : 0;
	close(fd);
	uint8_t d[32];
	crypto_generichash_final(&h, d, sizeof(d));
	sodium_bin2hex(hex, 65, d, sizeof(d));
	return r;
}

static void know(struct ck *c, const char *box, const char *name)
{
	void *nk = realloc(c->known, (c->nknown + 1) * sizeof(*c->known));
	if (!nk)
		return;
	c->known = nk;
	snprintf(c->known[c->nknown++], sizeof(*c->known), "%.16s/%.63s", box, name);
}

static const char *const kinds[] = {"sealed",	  "playable", "tmp-sealed",
				    "tmp-playable", "opened",	"tmp-opened"};
#define KINDS (int)(sizeof(kinds) / sizeof(kinds[0]))

static int check_rec(void *ctx, const struct adm_rec *x)
{
	struct ck *c = ctx;
	c->recs++;
	char rel[KINDS][128], hex[65];
	for (int k = 0; k < KINDS; k++)
		if (adm_archive_path(rel[k], sizeof(rel[k]), NULL, x->box, x->id, x->media, kinds[k]) <
		    0)
			return -EINVAL;
	uint64_t size = 0;
	bool archived = !strcmp(x->status, "archived");
	if (!archived) {
		for (int k = 0; k < KINDS; k++) {
			struct stat st;
			if (fstatat(c->a->dirfd, rel[k], &st, AT_SYMLINK_NOFOLLOW) == 0)
				problem(c, "%s: recording %s (receipt %s) is %s, but %s is still there",
					x->box, x->id, x->receipt, x->status, rel[k]);
		}
		return 0;
	}
	know(c, x->box, strchr(rel[0], '/') + 1);
	know(c, x->box, strchr(rel[1], '/') + 1);
	int r = hash_rel(c->a->dirfd, rel[0], hex, &size);
	if (x->sealed_original) {
		c->files++;
		if (r < 0)
			problem(c, "%s: the sealed original of recording %s (receipt %s) is %s", rel[0],
				x->id, x->receipt,
				r == -ENOENT ? "missing" : r == -EINVAL ? "not a regular file"
									: strerror(-r));
		else if (strcmp(hex, x->blake2b) || size != x->size)
			problem(c, "%s: not the file its box signed (hash or size differ): altered or "
				   "damaged", rel[0]);
	}
	uint64_t psize;
	char phex[65];
	int pr = hash_rel(c->a->dirfd, rel[1], phex, &psize);
	if (x->locked && pr != -ENOENT)
		problem(c, "%s: recording %s is locked, but a playable copy is there", rel[1], x->id);
	struct stat ost;
	if (x->locked && strcmp(rel[4], rel[1]) &&
	    fstatat(c->a->dirfd, rel[4], &ost, AT_SYMLINK_NOFOLLOW) == 0)
		problem(c, "%s: recording %s is locked, but an opened copy is there", rel[4], x->id);
	if (!x->locked && x->sealed_original) {
		c->files++;
		if (pr < 0)
			problem(c, "%s: the playable copy of recording %s (staff may listen) is %s",
				rel[1], x->id, pr == -ENOENT ? "missing" : "not a regular file");
		else if (x->playable_blake2b[0] && strcmp(phex, x->playable_blake2b))
			problem(c, "%s: the playable copy is not the one made (hash differs)", rel[1]);
	}
	if (!x->sealed_original && r == -ENOENT && pr == -ENOENT)
		problem(c, "%s: recording %s (receipt %s, kept before stick format 2) has no copy",
			x->box, x->id, x->receipt);
	return 0;
}

static bool is_known(const struct ck *c, const char *box, const char *name)
{
	char k[ADM_BOX_HEX + 1 + 64];
	snprintf(k, sizeof(k), "%.16s/%.63s", box, name);
	for (size_t i = 0; i < c->nknown; i++)
		if (!strcmp(c->known[i], k))
			return true;
	return false;
}

static int check_box(void *ctx, const char *box)
{
	struct ck *c = ctx;
	int fd = openat(c->a->dirfd, box, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0; /* a box with nothing kept yet has no folder */
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "manifests") ||
		    !strcmp(n, "index.json.migrated") || is_known(c, box, n))
			continue;
		printf("check: %s/%s: not in the catalogue (left by an interrupted run, or put "
		       "there by hand): not counted as held\n", box, n);
	}
	closedir(d);
	return 0;
}

int adm_check(const char *archive)
{
	char err[512];
	struct adm_archive *a;
	int r = adm_archive_open(archive, false, &a, err, sizeof(err));
	if (r < 0) {
		printf("check: %s\ncheck: the archive is NOT sound; `diaryroom-admin repair` "
		       "rebuilds what it can\n", err);
		return 1;
	}
	struct ck c = {.a = a};
	int ic = a->ops->check(a, stdout);
	if (ic != 0)
		problem(&c, "the catalogue's integrity check failed%s%s", ic < 0 ? ": " : "",
			ic < 0 ? a->err : "");
	r = a->ops->rec_each(a, NULL, check_rec, &c);
	if (r < 0)
		problem(&c, "%s", a->err);
	if (r == 0 && a->ops->box_each(a, check_box, &c) < 0)
		problem(&c, "%s", a->err);
	struct stat st;
	if (fstatat(a->dirfd, "consent.csv", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (!S_ISREG(st.st_mode) || (st.st_mode & 077)))
		problem(&c, "consent.csv is readable by others or not a regular file (the next "
			    "collect or unlock writes it again, 0600)");
	printf("check: %u recordings in the catalogue, %u files hashed: %s\n", c.recs, c.files,
	       c.problems ? "problems found (above)" : "the archive is sound");
	free(c.known);
	adm_archive_close(a);
	return c.problems ? 1 : 0;
}
