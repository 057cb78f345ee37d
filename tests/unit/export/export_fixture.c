/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "export/stickfmt.h"
#include "export/stickio.h"
#include "export_fixture.h"
#include "media/sink.h"
#include "seal/seal.h"

void fx_put(const char *path, const void *b, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
}

/* A sink onto a file descriptor, for the sealing sink to write through. */
static int fd_write(void *u, const unsigned char *b, size_t n)
{
	return write((int)(intptr_t)u, b, n) == (ssize_t)n ? 0 : -EIO;
}

static int fd_sync(void *u)
{
	return fsync((int)(intptr_t)u) == 0 ? 0 : -errno;
}

static int fd_close(void *u)
{
	return close((int)(intptr_t)u) == 0 ? 0 : -errno;
}

static const struct dr_sink_ops fd_ops = {fd_write, fd_sync, fd_close, NULL};

/* A recording's file as the box writes it: sealed to the organisation. */
void fx_put_sealed(const char *path, const char *id, const uint8_t org_pk[32],
		       const void *b, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	struct dr_seal_key *key;
	struct dr_sink s;
	assert_int_equal(dr_seal_key_new(&key), 0);
	assert_int_equal(dr_seal_sink_new((struct dr_sink){&fd_ops, (void *)(intptr_t)fd}, id,
					  org_pk, key, &s),
			 0);
	assert_int_equal(s.ops->write(s.user, b, n), 0);
	assert_int_equal(s.ops->sync(s.user), 0);
	assert_int_equal(s.ops->close(s.user), 0);
	dr_seal_key_free(key);
}

void fx_put_signed(int dirfd, const char *base, const char *json, const uint8_t *sk)
{
	uint8_t sig[64];
	char n[128], e[256];
	dr_stick_sign((const uint8_t *)json, strlen(json), sig, sk);
	snprintf(n, sizeof(n), "%s.json", base);
	assert_int_equal(dr_stick_write_atomic(dirfd, n, json, strlen(json), e, sizeof(e)), 0);
	snprintf(n, sizeof(n), "%s.sig", base);
	assert_int_equal(dr_stick_write_atomic(dirfd, n, sig, 64, e, sizeof(e)), 0);
}

int fx_open_dir(const char *p)
{
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}
