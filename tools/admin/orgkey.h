/* SPDX-License-Identifier: MIT */
/* org.key, the organisation's secret key sealed with its passphrase
 * (orgkey.c; docs/staff-stick.md): its parser, on its own for its fuzz
 * target. Any thread; nothing here logs. */
#ifndef DR_ADMIN_ORGKEY_H
#define DR_ADMIN_ORGKEY_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

struct adm_orgkey {
	uint8_t salt[crypto_pwhash_SALTBYTES];
	uint8_t nonce[crypto_secretbox_NONCEBYTES];
	uint8_t box[crypto_secretbox_MACBYTES + crypto_sign_SECRETKEYBYTES];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	unsigned long long ops; /* Argon2id limits, within what init-org writes */
	size_t mem;
};

/* Parses org.key's text (len bytes, need not be NUL-terminated) into *k:
 * 0, or -EBADMSG for anything but a complete org.key whose Argon2id limits
 * lie between libsodium's minimum and "sensitive" (a file asking for more
 * would hold the PC for hours or exhaust its memory). */
int adm_orgkey_parse(const char *text, size_t len, struct adm_orgkey *k);

#endif
