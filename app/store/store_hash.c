/* SPDX-License-Identifier: MIT */
/*
 * BLAKE2b-256 of recording files (libsodium's crypto_generichash), streamed
 * so a long recording never has to fit in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include "store_priv.h"

#define DR_HASH_BYTES 32
#define DR_HASH_CHUNK (64 * 1024)

int dr_hash_fd(int fd, char hex[65])
{
	if (sodium_init() < 0)
		return -EIO;
	crypto_generichash_state st;
	if (crypto_generichash_init(&st, NULL, 0, DR_HASH_BYTES) != 0)
		return -EIO;
	unsigned char buf[DR_HASH_CHUNK];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		crypto_generichash_update(&st, buf, (unsigned long long)n);
	}
	unsigned char out[DR_HASH_BYTES];
	if (crypto_generichash_final(&st, out, sizeof(out)) != 0)
		return -EIO;
	sodium_bin2hex(hex, 65, out, sizeof(out));
	return 0;
}

int dr_hash_file(const char *path, char hex[65])
{
	if (!path || !hex)
		return -EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	int r = dr_hash_fd(fd, hex);
	close(fd);
	return r;
}
