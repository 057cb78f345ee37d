/* SPDX-License-Identifier: MIT */
/*
 * The organisation's keys on the office PC.
 *
 *   <org>/org.key   JSON: the Ed25519 secret key sealed with
 *                   crypto_secretbox under a key from the passphrase by
 *                   crypto_pwhash (Argon2id); salt, limits, nonce stored
 *   <org>/org.pub   32 bytes, the public key (copied to every box)
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "admin.h"

int adm_fmt(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

int adm_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4200];
	adm_fmt(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int r = dr_stick_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int adm_read_file(const char *path, size_t cap, char **buf, size_t *len)
{
	char e[256];
	int dfd = AT_FDCWD;
	return dr_stick_read(dfd, path, cap, buf, len, e, sizeof(e));
}

int adm_passphrase(char *out, size_t outlen, bool confirm)
{
	const char *env = getenv("DIARYROOM_PASSPHRASE");
	const char *fdenv = getenv("DIARYROOM_PASSPHRASE_FD");
	if (fdenv) {
		int fd = atoi(fdenv);
		ssize_t n = read(fd, out, outlen - 1);
		if (n <= 0)
			return -EINVAL;
		out[n] = '\0';
		out[strcspn(out, "\n")] = '\0';
		return out[0] ? 0 : -EINVAL;
	}
	if (env) {
		adm_fmt(out, outlen, "%s", env);
		return out[0] ? 0 : -EINVAL;
	}
	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr, "diaryroom-admin: no passphrase (set DIARYROOM_PASSPHRASE_FD or run "
				"it on a terminal)\n");
		return -EINVAL;
	}
	for (int round = 0; round < (confirm ? 2 : 1); round++) {
		char *dst = round ? malloc(outlen) : out;
		if (!dst)
			return -ENOMEM;
		fprintf(stderr, round ? "Passphrase again: " : "Organisation passphrase: ");
		struct termios old, noecho;
		tcgetattr(STDIN_FILENO, &old);
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
		bool ok = fgets(dst, (int)outlen, stdin) != NULL;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
		if (ok)
			dst[strcspn(dst, "\n")] = '\0';
		if (round) {
			ok = ok && !strcmp(dst, out);
			sodium_memzero(dst, outlen);
			free(dst);
			if (!ok) {
				fprintf(stderr, "diaryroom-admin: the passphrases differ\n");
				return -EINVAL;
			}
		} else if (!ok || strlen(out) < 8) {
			fprintf(stderr, "diaryroom-admin: a passphrase of 8 characters or more, please\n");
			return -EINVAL;
		}
	}
	return 0;
}

static int kdf_limits(const char *kdf, unsigned long long *ops, size_t *mem)
{
	if (!kdf || !strcmp(kdf, "moderate")) {
		*ops = crypto_pwhash_OPSLIMIT_MODERATE;
		*mem = crypto_pwhash_MEMLIMIT_MODERATE;
	} else if (!strcmp(kdf, "interactive")) {
		*ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
		*mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	} else if (!strcmp(kdf, "sensitive")) {
		*ops = crypto_pwhash_OPSLIMIT_SENSITIVE;
		*mem = crypto_pwhash_MEMLIMIT_SENSITIVE;
	} else {
		return -EINVAL;
	}
	return 0;
}

static void add_hex(struct json_object *o, const char *key, const uint8_t *b, size_t n)
{
	char *hex = malloc(2 * n + 1);
	if (!hex)
		return;
	sodium_bin2hex(hex, 2 * n + 1, b, n);
	json_object_object_add(o, key, json_object_new_string(hex));
	free(hex);
}

static int get_hex(struct json_object *o, const char *key, uint8_t *b, size_t n)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return -EBADMSG;
	const char *s = json_object_get_string(v);
	size_t got = 0;
	if (strlen(s) != 2 * n || sodium_hex2bin(b, n, s, strlen(s), NULL, &got, NULL) || got != n)
		return -EBADMSG;
	return 0;
}

int adm_org_create(const char *org, const char *kdf, const char *pass)
{
	unsigned long long ops;
	size_t mem;
	if (kdf_limits(kdf, &ops, &mem) < 0) {
		fprintf(stderr, "diaryroom-admin: --kdf is interactive, moderate or sensitive\n");
		return -EINVAL;
	}
	char p[4200];
	adm_fmt(p, sizeof(p), "%s/org.key", org);
	if (access(p, F_OK) == 0) {
		fprintf(stderr, "diaryroom-admin: %s exists: refusing to replace the organisation's "
				"key\n", p);
		return -EEXIST;
	}
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
	uint8_t key[crypto_secretbox_KEYBYTES], box[crypto_secretbox_MACBYTES + sizeof(sk)];
	crypto_sign_keypair(pk, sk);
	randombytes_buf(salt, sizeof(salt));
	randombytes_buf(nonce, sizeof(nonce));
	if (crypto_pwhash(key, sizeof(key), pass, strlen(pass), salt, ops, mem,
			  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		fprintf(stderr, "diaryroom-admin: out of memory for Argon2id\n");
		return -ENOMEM;
	}
	crypto_secretbox_easy(box, sk, sizeof(sk), nonce, key);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(sk, sizeof(sk));
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "format", json_object_new_string("diaryroom-orgkey"));
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "kdf", json_object_new_string("argon2id13"));
	json_object_object_add(o, "opslimit", json_object_new_int64((int64_t)ops));
	json_object_object_add(o, "memlimit", json_object_new_int64((int64_t)mem));
	add_hex(o, "salt", salt, sizeof(salt));
	add_hex(o, "nonce", nonce, sizeof(nonce));
	add_hex(o, "sealed_secret_key", box, sizeof(box));
	add_hex(o, "public_key", pk, sizeof(pk));
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	int r = adm_write_file(p, text, strlen(text), 0600);
	json_object_put(o);
	if (r == 0) {
		adm_fmt(p, sizeof(p), "%s/org.pub", org);
		r = adm_write_file(p, pk, sizeof(pk), 0644);
	}
	return r;
}

int adm_org_load(const char *org, bool secret, struct adm_org *o)
{
	memset(o, 0, sizeof(*o));
	adm_fmt(o->dir, sizeof(o->dir), "%s", org);
	char p[4200], *b;
	size_t len;
	adm_fmt(p, sizeof(p), "%s/org.pub", org);
	if (adm_read_file(p, 32, &b, &len) < 0 || len != 32) {
		fprintf(stderr, "diaryroom-admin: no organisation at %s (run init-org)\n", org);
		return -ENOENT;
	}
	memcpy(o->pk, b, 32);
	free(b);
	if (!secret)
		return 0;
	adm_fmt(p, sizeof(p), "%s/org.key", org);
	if (adm_read_file(p, 65536, &b, &len) < 0)
		return -ENOENT;
	struct json_object *j = json_tokener_parse(b);
	free(b);
	uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
	uint8_t box[crypto_secretbox_MACBYTES + sizeof(o->sk)], pk[32];
	struct json_object *v;
	int64_t ops = 0, mem = 0;
	int r = j ? 0 : -EBADMSG;
	if (r == 0 && (get_hex(j, "salt", salt, sizeof(salt)) || get_hex(j, "nonce", nonce, sizeof(nonce)) ||
		       get_hex(j, "sealed_secret_key", box, sizeof(box)) || get_hex(j, "public_key", pk, 32)))
		r = -EBADMSG;
	if (r == 0 && json_object_object_get_ex(j, "opslimit", &v))
		ops = json_object_get_int64(v);
	if (r == 0 && json_object_object_get_ex(j, "memlimit", &v))
		mem = json_object_get_int64(v);
	json_object_put(j);
	if (r < 0 || ops <= 0 || mem <= 0 || memcmp(pk, o->pk, 32)) {
		fprintf(stderr, "diaryroom-admin: %s is damaged\n", p);
		return -EBADMSG;
	}
	char pass[1024];
	if ((r = adm_passphrase(pass, sizeof(pass), false)) < 0)
		return r;
	uint8_t key[crypto_secretbox_KEYBYTES];
	r = crypto_pwhash(key, sizeof(key), pass, strlen(pass), salt, (unsigned long long)ops,
			  (size_t)mem, crypto_pwhash_ALG_ARGON2ID13);
	sodium_memzero(pass, sizeof(pass));
	if (r != 0)
		return -ENOMEM;
	r = crypto_secretbox_open_easy(o->sk, box, sizeof(box), nonce, key);
	sodium_memzero(key, sizeof(key));
	if (r != 0) {
		fprintf(stderr, "diaryroom-admin: wrong passphrase\n");
		return -EACCES;
	}
	o->have_sk = true;
	return 0;
}
