/* SPDX-License-Identifier: MIT */
/*
 * diaryroom-admin repair: rebuilds the catalogue from what the archive
 * still holds: each box's kept, box-signed manifests (<box>/manifests/,
 * checked against the box's key and opened with the organisation's) and the
 * recordings' files (each re-hashed against the hash its box signed). A
 * catalogue that cannot be opened is moved aside (catalogue.sqlite.damaged-
 * <time>, never deleted) and a new one made; one that opens only gains the
 * rows it lacks. Says what it could not rebuild.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "archive.h"
#include "archive_priv.h"
#include "audit.h"

struct rp {
	struct adm_archive *a;
	const struct adm_org *org;
	const char *now;
	unsigned added, kept, missing, bad_manifests;
};

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

static int read_rel(int dirfd, const char *rel, size_t cap, char **buf, size_t *len)
{
	int fd;
	uint64_t size;
	int r = adm_open_regular_at(dirfd, rel, &fd, &size);
	if (r < 0)
		return r;
	if (size > cap) {
		close(fd);
		return -EFBIG;
	}
	char *b = malloc(size + 1);
	size_t got = 0;
	ssize_t n = 1;
	while (b && got < size && (n = read(fd, b + got, size - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (!b || got != size) {
		free(b);
		return b ? -EIO : -ENOMEM;
	}
	b[got] = 0;
	*buf = b;
	*len = got;
	return 0;
}

/* One kept manifest of box: every recording of it whose sealed original is
 * in the box's folder with the signed hash, and that the catalogue lacks. */
static void one_manifest(struct rp *c, const char *box, const uint8_t pk[32], long long seq)
{
	char rel[96], *b = NULL, *sg = NULL, e[384];
	size_t len, slen;
	struct dr_manifest *m = NULL;
	snprintf(rel, sizeof(rel), "%.16s/manifests/%lld.json", box, seq);
	int r = read_rel(c->a->dirfd, rel, DR_STICK_MANIFEST_MAX, &b, &len);
	snprintf(rel, sizeof(rel), "%.16s/manifests/%lld.sig", box, seq);
	if (r == 0)
		r = read_rel(c->a->dirfd, rel, 64, &sg, &slen);
	if (r == 0 && (slen != 64 || crypto_sign_verify_detached((const uint8_t *)sg,
								 (const uint8_t *)b, len, pk)))
		r = -EKEYREJECTED;
	if (r == 0)
		r = dr_manifest_open(b, len, c->org->pk, c->org->sk, &m, e, sizeof(e));
	if (r == 0 && (strcmp(m->device, box) || m->seq != seq))
		r = -EBADMSG;
	if (r < 0) {
		printf("repair: %s/manifests/%lld: not used (%s)\n", box, seq,
		       r == -EKEYREJECTED ? "its signature is not the box's" : strerror(-r));
		c->bad_manifests++;
	}
	for (size_t i = 0; r == 0 && i < m->n; i++) {
		const struct dr_manifest_rec *x = &m->recs[i];
		struct adm_rec row;
		if (c->a->ops->rec_get(c->a, box, x->id, &row) == 0) {
			c->kept++;
			continue;
		}
		char srel[128], prel[128], hex[65], phex[65] = "";
		uint64_t size = 0, psize;
		if (adm_archive_path(srel, sizeof(srel), NULL, box, x->id, x->media, "sealed") < 0 ||
		    adm_archive_path(prel, sizeof(prel), NULL, box, x->id, x->media, "playable") < 0)
			continue;
		if (hash_rel(c->a->dirfd, srel, hex, &size) < 0 || strcmp(hex, x->blake2b) ||
		    size != x->size) {
			printf("repair: %s: recording %s (receipt %s, export %lld) is not in the "
			       "archive with the hash its box signed (withdrawn, expired, lost or "
			       "altered): not rebuilt\n", box, x->id, x->receipt, seq);
			c->missing++;
			continue;
		}
		if (hash_rel(c->a->dirfd, prel, phex, &psize) < 0)
			phex[0] = 0;
		memset(&row, 0, sizeof(row));
		snprintf(row.box, sizeof(row.box), "%.16s", box);
		snprintf(row.id, sizeof(row.id), "%s", x->id);
		snprintf(row.receipt, sizeof(row.receipt), "%s", x->receipt);
		snprintf(row.state, sizeof(row.state), "%s", x->state);
		snprintf(row.media, sizeof(row.media), "%s", x->media);
		adm_archive_file_name(row.file, sizeof(row.file), x->id, x->media, "sealed");
		snprintf(row.start_utc, sizeof(row.start_utc), "%s", x->start_utc);
		snprintf(row.end_utc, sizeof(row.end_utc), "%s", x->end_utc);
		row.duration_ms = (int64_t)x->duration_ms;
		row.size = x->size;
		snprintf(row.blake2b, sizeof(row.blake2b), "%s", x->blake2b);
		snprintf(row.playable_blake2b, sizeof(row.playable_blake2b), "%s",
			 x->consent_staff == 1 ? phex : "");
		snprintf(row.consent_staff, sizeof(row.consent_staff), "%s",
			 dr_stick_consent_word(x->consent_staff));
		snprintf(row.consent_share, sizeof(row.consent_share), "%s",
			 dr_stick_consent_word(x->consent_share));
		row.locked = x->consent_staff != 1;
		row.time_uncertain = x->time_uncertain;
		row.sealed_original = true;
		snprintf(row.status, sizeof(row.status), "archived");
		snprintf(row.collected_utc, sizeof(row.collected_utc), "%s", c->now);
		struct adm_consent cs = {0};
		snprintf(cs.box, sizeof(cs.box), "%.16s", box);
		snprintf(cs.id, sizeof(cs.id), "%s", x->id);
		snprintf(cs.at_utc, sizeof(cs.at_utc), "%s", c->now);
		snprintf(cs.staff, sizeof(cs.staff), "%s", row.consent_staff);
		snprintf(cs.share, sizeof(cs.share), "%s", row.consent_share);
		snprintf(cs.source, sizeof(cs.source), "manifest");
		snprintf(cs.detail, sizeof(cs.detail), "rebuilt by repair from export %lld", seq);
		if (c->a->ops->rec_put(c->a, &row) == 0 && c->a->ops->consent_add(c->a, &cs) == 0)
			c->added++;
		if (row.locked && phex[0])
			printf("repair: %s: recording %s is locked by its manifest but a playable "
			       "copy is there (consent given later, whose record was lost?): left as "
			       "it is; unlock records the consent again\n", prel, x->id);
	}
	dr_manifest_free(m);
	free(b);
	free(sg);
}

static int cmp_ll(const void *x, const void *y)
{
	long long a = *(const long long *)x, b = *(const long long *)y;
	return (a > b) - (a < b);
}

static void one_box(struct rp *c, const char *box)
{
	char p[4200], *b;
	size_t len;
	uint8_t pk[32];
	adm_fmt(p, sizeof(p), "%s/devices/%s.pub", c->org->dir, box);
	if (adm_read_file(p, 32, &b, &len) < 0 || len != 32) {
		printf("repair: box %s was not provisioned by this organisation: not rebuilt\n", box);
		return;
	}
	memcpy(pk, b, 32);
	free(b);
	char rel[64];
	snprintf(rel, sizeof(rel), "%.16s/manifests", box);
	int fd = openat(c->a->dirfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		printf("repair: box %s: no kept manifests: its recordings cannot be rebuilt\n", box);
		return;
	}
	long long *seqs = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long long s = strtoll(de->d_name, &end, 10);
		if (s < 1 || strcmp(end, ".json"))
			continue;
		void *ns = realloc(seqs, (n + 1) * sizeof(*seqs));
		if (!ns)
			break;
		seqs = ns;
		seqs[n++] = s;
	}
	closedir(d);
	qsort(seqs, n, sizeof(*seqs), cmp_ll);
	c->a->ops->box_add(c->a, box, c->now);
	/* earliest first: the consent a recording first arrived with is the
	 * archive's record (a later manifest never widens it) */
	for (size_t i = 0; i < n; i++)
		one_manifest(c, box, pk, seqs[i]);
	free(seqs);
}

int adm_repair(const struct adm_org *org, const char *archive, int64_t now, bool wait)
{
	char err[512], t[32];
	dr_stick_time_format(now, t);
	int dfd = open(archive, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), lockfd = -1;
	if (dfd < 0) {
		fprintf(stderr, "repair: no archive at %s\n", archive);
		return -ENOENT;
	}
	int r = adm_archive_lock(dfd, wait, "repair", &lockfd);
	if (r < 0) {
		close(dfd);
		return r;
	}
	struct adm_archive *a = NULL;
	bool fresh = false;
	r = adm_archive_open_repair(archive, &a, err, sizeof(err));
	if (r < 0 && r != -EWOULDBLOCK) {
		printf("repair: the catalogue cannot be used (%s)\n", err);
		static const char *const sfx[] = {"", "-wal", "-shm"};
		for (int i = 0; i < 3; i++) {
			char from[64], to[96];
			snprintf(from, sizeof(from), "%s%s", ADM_CATALOGUE, sfx[i]);
			snprintf(to, sizeof(to), "%s.damaged-%s%s", ADM_CATALOGUE, t, sfx[i]);
			if (renameat(dfd, from, dfd, to) == 0 && i == 0)
				printf("repair: moved aside to %s (kept)\n", to);
		}
		fsync(dfd);
		fresh = true;
		r = adm_archive_open_repair(archive, &a, err, sizeof(err));
	}
	if (r < 0) {
		fprintf(stderr, "repair: %s\n", err);
		adm_archive_unlock(lockfd);
		close(dfd);
		return r;
	}
	struct rp c = {.a = a, .org = org, .now = t};
	r = a->ops->begin(a);
	DIR *d = r == 0 ? fdopendir(dup(dfd)) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (adm_box_ok(de->d_name))
			one_box(&c, de->d_name);
	if (d)
		closedir(d);
	if (r == 0)
		r = a->ops->commit(a);
	if (r < 0)
		fprintf(stderr, "repair: %s\n", a->err);
	struct adm_audit *au = NULL;
	if (r == 0 && adm_audit_open(a->dirfd, &au) == 0) {
		char det[160];
		snprintf(det, sizeof(det), "%u recordings rebuilt, %u not, %s catalogue", c.added,
			 c.missing, fresh ? "new" : "kept");
		adm_audit_add(au, NULL, "repair", NULL, NULL, NULL, det);
	}
	adm_audit_close(au);
	printf("repair: %u recordings rebuilt from the kept manifests and files, %u already in "
	       "the catalogue, %u could not be rebuilt, %u manifests not usable\n",
	       c.added, c.kept, c.missing, c.bad_manifests);
	if (fresh)
		printf("repair: NOT rebuilt: what only the old catalogue held: consent given later "
		       "(unlock, --changes), withdrawals, the consent history and the receipts sent. "
		       "Recordings withdrawn or expired are not brought back (their files are gone). "
		       "Enter later consent again with unlock, and withdrawals with --changes\n");
	adm_archive_close(a);
	adm_archive_unlock(lockfd);
	close(dfd);
	return r < 0 ? r : (c.missing || c.bad_manifests || fresh) ? 1 : 0;
}
