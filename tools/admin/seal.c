/* SPDX-License-Identifier: MIT */
/*
 * Sealed recordings of archives made before stick format 2: how the archive
 * kept a locked recording (no consent to staff listening) so that nobody can
 * play it without the organisation's passphrase. From format 2 on, the box
 * seals every recording itself (DRSEAL02, app/seal, docs/sealed-file.md)
 * and the archive keeps that file; this format is still read (unlock, open)
 * and written only for a row from before format 2 that becomes locked.
 *
 *   <id>.opus.sealed = "DRSEAL01"                              8 bytes
 *                      crypto_box_seal(file key, org X25519)  80 bytes
 *                      secretstream header                    24 bytes
 *                      chunks: 64 KiB of the recording + 17 bytes each,
 *                      the last (possibly empty) tagged FINAL
 *
 * The file key is random per file (crypto_secretstream_xchacha20poly1305);
 * it is sealed to the organisation's Ed25519 key converted to X25519, so
 * sealing needs only org.pub and opening needs org.key and its passphrase.
 * Every chunk authenticates "<box>/<id>" as additional data, so a sealed
 * file cannot pass for another recording; a missing, extra, reordered or
 * altered chunk is refused. The plaintext's BLAKE2b-256 (the box's hash,
 * kept in the archive index) is checked by whoever opens it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"

#define SEAL_MAGIC "DRSEAL01"
#define SEAL_CHUNK (64u * 1024u)
#define SEAL_KEYBOX (crypto_box_SEALBYTES + crypto_secretstream_xchacha20poly1305_KEYBYTES)
#define SEAL_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES

int adm_fsync_dir_of(const char *path)
{
	char copy[4200];
	if (adm_fmt(copy, sizeof(copy), "%s", path) < 0)
		return -ENAMETOOLONG;
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* Reads up to n bytes, stopping only at end of file. */
static ssize_t read_full(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

static void hex_of(crypto_generichash_state *h, char hex[65])
{
	uint8_t d[32];
	crypto_generichash_final(h, d, sizeof(d));
	sodium_bin2hex(hex, 65, d, sizeof(d));
}

int adm_unseal_fd(int in, const char *ad, const uint8_t org_pk[32], const uint8_t org_sk[64],
		  int out, char hex[65], uint64_t *size)
{
	uint8_t head[8 + SEAL_KEYBOX + crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	uint8_t xpk[32], xsk[32], key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	if (read_full(in, head, sizeof(head)) != (ssize_t)sizeof(head) ||
	    memcmp(head, SEAL_MAGIC, 8))
		return -EBADMSG;
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, org_pk) != 0)
		return -EINVAL;
	crypto_sign_ed25519_sk_to_curve25519(xsk, org_sk);
	int r = crypto_box_seal_open(key, head + 8, SEAL_KEYBOX, xpk, xsk) == 0 ? 0 : -EBADMSG;
	sodium_memzero(xsk, sizeof(xsk));
	crypto_secretstream_xchacha20poly1305_state st;
	if (r == 0 && crypto_secretstream_xchacha20poly1305_init_pull(&st, head + 8 + SEAL_KEYBOX, key) != 0)
		r = -EBADMSG;
	sodium_memzero(key, sizeof(key));
	if (r < 0)
		return r;
	uint8_t *c = malloc(SEAL_CHUNK + SEAL_ABYTES), *m = malloc(SEAL_CHUNK);
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, 32);
	uint64_t total = 0;
	bool final = false;
	r = c && m ? 0 : -ENOMEM;
	while (r == 0 && !final) {
		ssize_t n = read_full(in, c, SEAL_CHUNK + SEAL_ABYTES);
		if (n < 0) {
			r = (int)n;
			break;
		}
		unsigned long long mlen;
		unsigned char tag;
		if (n < (ssize_t)SEAL_ABYTES ||
		    crypto_secretstream_xchacha20poly1305_pull(&st, m, &mlen, &tag, c, (size_t)n,
							       (const uint8_t *)ad, strlen(ad)) != 0) {
			r = -EBADMSG; /* truncated or altered */
			break;
		}
		final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
		if (!final && n < (ssize_t)(SEAL_CHUNK + SEAL_ABYTES)) {
			r = -EBADMSG; /* a short chunk that is not the last: cut off */
			break;
		}
		crypto_generichash_update(&h, m, (size_t)mlen);
		total += mlen;
		if (out >= 0)
			r = dr_stick_write_all(out, m, (size_t)mlen);
	}
	if (r == 0 && read_full(in, c, 1) != 0)
		r = -EBADMSG; /* something after the last chunk */
	if (m)
		sodium_memzero(m, SEAL_CHUNK);
	free(m);
	free(c);
	sodium_memzero(&st, sizeof(st));
	hex_of(&h, hex);
	if (size)
		*size = total;
	return r;
}

int adm_unseal_check(const char *path, const char *ad, const uint8_t org_pk[32],
		     const uint8_t org_sk[64], char hex[65], uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = adm_unseal_fd(fd, ad, org_pk, org_sk, -1, hex, size);
	close(fd);
	return r;
}

int adm_seal_fd(int in, uint64_t size, const char *expect_hex, const char *dst, const char *ad,
		const uint8_t org_pk[32], const uint8_t org_sk[64], uint64_t *progress)
{
	uint8_t head[8 + SEAL_KEYBOX + crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	uint8_t xpk[32], key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, org_pk) != 0)
		return -EINVAL;
	memcpy(head, SEAL_MAGIC, 8);
	crypto_secretstream_xchacha20poly1305_keygen(key);
	crypto_secretstream_xchacha20poly1305_state st;
	int r = crypto_box_seal(head + 8, key, sizeof(key), xpk) == 0 ? 0 : -EIO;
	if (r == 0)
		crypto_secretstream_xchacha20poly1305_init_push(&st, head + 8 + SEAL_KEYBOX, key);
	sodium_memzero(key, sizeof(key));
	if (r < 0)
		return r;
	char tmp[4200];
	if (adm_fmt(tmp, sizeof(tmp), "%s.tmp", dst) < 0)
		return -ENAMETOOLONG;
	unlink(tmp);
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	uint8_t *m = malloc(SEAL_CHUNK), *c = malloc(SEAL_CHUNK + SEAL_ABYTES);
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, 32);
	r = m && c ? dr_stick_write_all(out, head, sizeof(head)) : -ENOMEM;
	uint64_t left = size;
	do {
		size_t want = left < SEAL_CHUNK ? (size_t)left : SEAL_CHUNK;
		ssize_t n = r == 0 ? read_full(in, m, want) : 0;
		if (r == 0 && n != (ssize_t)want)
			r = n < 0 ? (int)n : -EBADMSG; /* shorter than it said */
		if (r < 0)
			break;
		left -= want;
		crypto_generichash_update(&h, m, want);
		unsigned long long clen;
		crypto_secretstream_xchacha20poly1305_push(
			&st, c, &clen, m, want, (const uint8_t *)ad, strlen(ad),
			left ? 0 : crypto_secretstream_xchacha20poly1305_TAG_FINAL);
		r = dr_stick_write_all(out, c, (size_t)clen);
		if (progress)
			*progress += want;
	} while (r == 0 && left);
	if (r == 0 && read_full(in, c, 1) != 0)
		r = -EBADMSG; /* longer than it said */
	if (m)
		sodium_memzero(m, SEAL_CHUNK);
	free(m);
	free(c);
	sodium_memzero(&st, sizeof(st));
	char hex[65];
	hex_of(&h, hex);
	/* only what matches the box's hash is sealed */
	if (r == 0 && strcmp(hex, expect_hex))
		r = -EBADMSG;
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (close(out) < 0 && r == 0)
		r = -errno;
	/* read back: it opens with the organisation's key, to the same bytes */
	uint64_t got = 0;
	if (r == 0 && org_sk &&
	    (adm_unseal_check(tmp, ad, org_pk, org_sk, hex, &got) < 0 || strcmp(hex, expect_hex) ||
	     got != size))
		r = -EIO;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return adm_fsync_dir_of(dst);
}
