/* SPDX-License-Identifier: MIT */
/*
 * Copying one recording from the stick into the archive, verified both ways
 * and opened with the organisation's key before it is kept (collect).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "admin.h"
#include "archive.h"
#include "archive_index.h"
#include "archive_keep.h"
#include "audit.h"
#include "collect_priv.h"
#include "media/recover.h"
#include "seal/seal.h"


void show(struct progress *p, const char *dev, bool force)
{
	if (collect_hooks && collect_hooks->progress)
		collect_hooks->progress(collect_hooks->ctx, dev, p->done, p->total, p->bytes,
					p->bytes_total);
	if (!force && p->bytes - p->last_print < (8u << 20))
		return;
	p->last_print = p->bytes;
	fprintf(stderr, "collect: box %s: %u/%u recordings, %.1f/%.1f MB\n", dev, p->done, p->total,
		p->bytes / 1e6, p->bytes_total / 1e6);
}

int hash_path(const char *path, char hex[65], uint64_t *size)
{
	int fd = open_reg(path);
	if (fd < 0)
		return -errno;
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, 32);
	uint8_t *buf = malloc(CHUNK);
	ssize_t n;
	uint64_t total = 0;
	while (buf && (n = read(fd, buf, CHUNK)) > 0) {
		crypto_generichash_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	free(buf);
	close(fd);
	uint8_t d[32];
	crypto_generichash_final(&h, d, sizeof(d));
	sodium_bin2hex(hex, 65, d, sizeof(d));
	if (size)
		*size = total;
	return 0;
}

/* Opens the sealed file on fd as recording id with the organisation's key,
 * writing the plaintext to out (-1: only check). On failure, why, for
 * people, in why. */
int adm_open_sealed(const struct adm_org *org, int fd, const char *id, int out, bool *final,
		    uint64_t *bytes, char *why, size_t whylen)
{
	struct dr_seal_scan sc;
	*final = false;
	*bytes = 0;
	/* first without the key: the layout, the id, whole messages */
	int r = dr_seal_scan_fd(fd, &sc);
	if (r == -EBADMSG) {
		adm_fmt(why, whylen, "its header is damaged or it is not a sealed recording");
		return r;
	}
	if (r == 0 && strcmp(sc.id, id)) {
		adm_fmt(why, whylen, "it is the file of another recording (%s)", sc.id);
		return -EBADMSG;
	}
	if (r == 0 && sc.trailing) {
		adm_fmt(why, whylen, "there are bytes after its last message");
		return -EBADMSG;
	}
	if (r == 0 && sc.intact_bytes != sc.file_bytes) {
		adm_fmt(why, whylen, "it is damaged from byte %llu (message %llu cut short or altered)",
			(unsigned long long)sc.intact_bytes, (unsigned long long)sc.messages + 1);
		return -EBADMSG;
	}
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	struct dr_seal_reader *rd = NULL;
	if (r == 0 && (r = dr_seal_reader_open_org(fd, id, org->pk, org->sk, &rd)) == -EBADMSG) {
		adm_fmt(why, whylen, "its key is not sealed to this organisation (sealed for another "
				     "organisation, or its header altered)");
		return r;
	}
	uint8_t *buf = r == 0 ? (uint8_t *)adm_secret_new(65536) : NULL;
	if (r == 0 && !buf)
		r = -ENOMEM;
	while (r == 0) {
		ssize_t n = dr_seal_read(rd, buf, 65536);
		if (n < 0) {
			r = (int)n;
			break;
		}
		if (n == 0)
			break;
		*bytes += (uint64_t)n;
		if (out >= 0)
			r = dr_stick_write_all(out, buf, (size_t)n);
	}
	if (r == -EBADMSG)
		adm_fmt(why, whylen, "the message after %.2f s of it does not open: altered, "
				     "reordered, or moved from another recording",
			dr_seal_reader_position(rd) / 48000.0);
	else if (r < 0)
		adm_fmt(why, whylen, "%s", strerror(-r));
	*final = r == 0 && dr_seal_reader_final(rd);
	adm_secret_free(buf);
	dr_seal_reader_free(rd);
	return r;
}

/* The sealed file at path opens with the organisation's key as recording
 * m->id, and ends with its last message unless the box says it was
 * interrupted. Nothing is written. */
int check_opens(const struct adm_org *org, const char *path,
		       const struct dr_manifest_rec *m)
{
	int fd = open_reg(path);
	if (fd < 0)
		return -errno;
	bool final = false;
	uint64_t bytes = 0;
	char why[256];
	int r = adm_open_sealed(org, fd, m->id, -1, &final, &bytes, why, sizeof(why));
	close(fd);
	if (r < 0) {
		fprintf(stderr, "collect: %s: %s: not imported\n", m->file, why);
		return -EBADMSG;
	}
	if (!final && strcmp(m->state, "interrupted")) {
		fprintf(stderr, "collect: %s: it ends before its last message, but the box says the "
				"recording is complete: cut or altered, not imported\n", m->file);
		return -EBADMSG;
	}
	return 0;
}

/* Copies one recording from the stick, verifying it both ways; with org,
 * the copy must also open with the organisation's key (check_opens) before
 * it is kept. */
int import_one(const struct adm_org *org, int devfd, const struct dr_manifest_rec *m,
		      const char *dst, struct progress *p, const char *dev)
{
	int in;
	size_t size;
	char e[384];
	int r = dr_stick_open_regular(devfd, m->file, m->size, &in, &size, e, sizeof(e));
	if (r < 0 || size != m->size) {
		if (r == 0)
			close(in);
		fprintf(stderr, "collect: %s: %s\n", m->file, r < 0 ? e : "not the manifest's size");
		return -EBADMSG;
	}
	char tmp[4200];
	adm_fmt(tmp, sizeof(tmp), "%s.tmp", dst);
	unlink(tmp);
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		r = -errno;
		close(in);
		fprintf(stderr, "collect: cannot create %s: %s\n", tmp, strerror(-r));
		return r;
	}
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, 32);
	uint8_t *buf = malloc(CHUNK);
	ssize_t n = 0;
	uint64_t got = 0;
	r = buf ? 0 : -ENOMEM;
	while (r == 0 && (n = read(in, buf, CHUNK)) > 0) {
		crypto_generichash_update(&h, buf, (size_t)n);
		r = dr_stick_write_all(out, buf, (size_t)n);
		got += (uint64_t)n;
		p->bytes += (uint64_t)n;
		show(p, dev, false);
	}
	if (r == 0 && n < 0)
		r = -errno;
	free(buf);
	close(in);
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (close(out) < 0 && r == 0)
		r = -errno;
	uint8_t d[32];
	char hex[65];
	crypto_generichash_final(&h, d, sizeof(d));
	sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
	if (r == 0 && (got != m->size || strcmp(hex, m->blake2b))) {
		fprintf(stderr, "collect: %s: the hash is not the manifest's: altered or damaged, "
				"not imported\n", m->file);
		r = -EBADMSG;
	}
	uint64_t bsize = 0;
	if (r == 0 && (hash_path(tmp, hex, &bsize) < 0 || strcmp(hex, m->blake2b) || bsize != m->size)) {
		fprintf(stderr, "collect: %s: the archive copy did not read back correctly\n", tmp);
		r = -EIO;
	}
	if (r == 0 && org)
		r = check_opens(org, tmp, m);
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return adm_fsync_dir_of(dst);
}
