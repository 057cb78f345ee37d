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
#include <stdint.h>
#include <termios.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "admin.h"
#include "orgkey.h"

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

/* One line from fd, a byte at a time (nothing read past the newline, no
 * stdio buffer holding a copy), into out (locked memory). */
static int read_line(int fd, char *out, size_t cap)
{
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t k = read(fd, &c, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0 || c == '\n')
			break;
		if (n + 1 >= cap)
			return -E2BIG;
		out[n++] = c;
	}
	if (n && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	return 0;
}

static int passphrase_fd(int *fd)
{
	const char *s = getenv("DIARYROOM_PASSPHRASE_FD");
	if (!s)
		return 0;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	/* digits only: no sign, no space, nothing after */
	if (s[0] < '0' || s[0] > '9' || errno || *end || v > INT32_MAX ||
	    fcntl((int)v, F_GETFD) < 0) {
		fprintf(stderr, "diaryroom-admin: DIARYROOM_PASSPHRASE_FD is not the number of an open "
				"file descriptor\n");
		return -EINVAL;
	}
	*fd = (int)v;
	return 1;
}

char *adm_secret_new(size_t len)
{
	char *p = sodium_malloc(len);
	if (p)
		memset(p, 0, len);
	return p;
}

void adm_secret_free(void *p)
{
	sodium_free(p); /* wipes; NULL is a no-op */
}

int adm_passphrase(char **out, bool confirm)
{
	*out = NULL;
	char *pass = adm_secret_new(ADM_PASS_MAX);
	if (!pass)
		return -ENOMEM;
	/* DIARYROOM_PASSPHRASE: copied into locked memory, then wiped (also
	 * from the memory /proc/<pid>/environ shows) and removed from the
	 * environment before anything else, so that nothing this process
	 * starts inherits it and nothing reading its environment finds it */
	const char *env = getenv("DIARYROOM_PASSPHRASE");
	char *envcopy = NULL;
	int r = 0;
	if (env) {
		size_t n = strlen(env);
		envcopy = n < ADM_PASS_MAX ? adm_secret_new(ADM_PASS_MAX) : NULL;
		if (envcopy)
			memcpy(envcopy, env, n + 1);
		else
			r = n < ADM_PASS_MAX ? -ENOMEM : -E2BIG;
		if (r == -E2BIG)
			fprintf(stderr, "diaryroom-admin: DIARYROOM_PASSPHRASE is too long\n");
		sodium_memzero((char *)env, n);
		unsetenv("DIARYROOM_PASSPHRASE");
	}
	int fd = -1;
	if (r == 0)
		r = passphrase_fd(&fd);
	if (r > 0) {
		r = read_line(fd, pass, ADM_PASS_MAX);
		if (r < 0)
			fprintf(stderr, "diaryroom-admin: cannot read the passphrase from "
					"DIARYROOM_PASSPHRASE_FD: %s\n", strerror(-r));
	} else if (r == 0 && envcopy) {
		memcpy(pass, envcopy, strlen(envcopy) + 1);
	} else if (r == 0 && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "diaryroom-admin: no passphrase (set DIARYROOM_PASSPHRASE_FD or run "
				"it on a terminal)\n");
		r = -EINVAL;
	} else if (r == 0) {
		r = 1; /* the terminal */
	}
	adm_secret_free(envcopy);
	for (int round = 0; r == 1 && round < (confirm ? 2 : 1); round++) {
		char *dst = round ? adm_secret_new(ADM_PASS_MAX) : pass;
		if (!dst) {
			r = -ENOMEM;
			break;
		}
		fprintf(stderr, round ? "Passphrase again: " : "Organisation passphrase: ");
		struct termios old, noecho;
		bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		if (tty)
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
		int e = read_line(STDIN_FILENO, dst, ADM_PASS_MAX);
		if (tty)
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
		if (round) {
			bool same = e == 0 && !strcmp(dst, pass);
			adm_secret_free(dst);
			if (!same) {
				fprintf(stderr, "diaryroom-admin: the passphrases differ\n");
				r = -EINVAL;
			}
		} else if (e < 0) {
			r = e;
		}
	}
	if (r == 1)
		r = 0;
	/* the same rule however it is given: env, file descriptor, terminal */
	if (r == 0 && confirm && strlen(pass) < ADM_PASS_MIN) {
		fprintf(stderr, "diaryroom-admin: a passphrase of %d characters or more, please\n",
			ADM_PASS_MIN);
		r = -EINVAL;
	}
	if (r == 0 && !pass[0]) {
		fprintf(stderr, "diaryroom-admin: the passphrase is empty\n");
		r = -EINVAL;
	}
	if (r < 0) {
		adm_secret_free(pass);
		return r;
	}
	*out = pass;
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

int adm_org_create(const char *org, const char *kdf, const char *pass, struct adm_org *out)
{
	memset(out, 0, sizeof(*out));
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
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
	uint8_t box[crypto_secretbox_MACBYTES + crypto_sign_SECRETKEYBYTES];
	/* the secret key and the key from the passphrase: locked memory */
	uint8_t *sk = (uint8_t *)adm_secret_new(crypto_sign_SECRETKEYBYTES);
	uint8_t *key = (uint8_t *)adm_secret_new(crypto_secretbox_KEYBYTES);
	if (!sk || !key) {
		adm_secret_free(sk);
		adm_secret_free(key);
		return -ENOMEM;
	}
	crypto_sign_keypair(pk, sk);
	randombytes_buf(salt, sizeof(salt));
	randombytes_buf(nonce, sizeof(nonce));
	if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, strlen(pass), salt, ops, mem,
			  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		fprintf(stderr, "diaryroom-admin: out of memory for Argon2id\n");
		adm_secret_free(sk);
		adm_secret_free(key);
		return -ENOMEM;
	}
	crypto_secretbox_easy(box, sk, crypto_sign_SECRETKEYBYTES, nonce, key);
	adm_secret_free(key);
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
	if (r < 0) {
		adm_secret_free(sk);
		return r;
	}
	/* the caller goes on with the key it made: the passphrase is not
	 * asked for again (a file descriptor gives it only once) */
	adm_fmt(out->dir, sizeof(out->dir), "%s", org);
	memcpy(out->pk, pk, sizeof(pk));
	out->sk = sk;
	out->have_sk = true;
	return 0;
}

void adm_org_free(struct adm_org *o)
{
	if (!o)
		return;
	adm_secret_free(o->sk);
	o->sk = NULL;
	o->have_sk = false;
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
	struct adm_orgkey k;
	int r = adm_orgkey_parse(b, len, &k);
	free(b);
	if (r < 0 || memcmp(k.pk, o->pk, 32)) {
		fprintf(stderr, "diaryroom-admin: %s is damaged\n", p);
		return -EBADMSG;
	}
	char *pass;
	if ((r = adm_passphrase(&pass, false)) < 0)
		return r;
	uint8_t *key = (uint8_t *)adm_secret_new(crypto_secretbox_KEYBYTES);
	uint8_t *sk = (uint8_t *)adm_secret_new(crypto_sign_SECRETKEYBYTES);
	if (!key || !sk) {
		adm_secret_free(pass);
		adm_secret_free(key);
		adm_secret_free(sk);
		return -ENOMEM;
	}
	r = crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, strlen(pass), k.salt, k.ops, k.mem,
			  crypto_pwhash_ALG_ARGON2ID13);
	adm_secret_free(pass);
	if (r == 0)
		r = crypto_secretbox_open_easy(sk, k.box, sizeof(k.box), k.nonce, key) == 0 ? 0
											     : -EACCES;
	else
		r = -ENOMEM;
	adm_secret_free(key);
	if (r < 0) {
		adm_secret_free(sk);
		if (r == -EACCES)
			fprintf(stderr, "diaryroom-admin: wrong passphrase\n");
		return r;
	}
	o->sk = sk;
	o->have_sk = true;
	return 0;
}
