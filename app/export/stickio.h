/* SPDX-License-Identifier: MIT */
/*
 * dr_stickio: reading and writing the staff stick's files safely (see
 * stickio.c). Part of dr_stickfmt; used by the box and by tools/admin.
 */
#ifndef DR_STICKIO_H
#define DR_STICKIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export/stickfmt.h"

/* Fills err, returns rc. */
int dr_export_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Stick file access, relative to a directory fd, never following a link,
 * never opening anything but a regular file or a real directory. */
int dr_stick_read(int dirfd, const char *name, size_t cap, char **buf, size_t *len, char *err,
		  size_t errlen);
int dr_stick_read_sig(int dirfd, const char *name, uint8_t sig[DR_STICK_SIG_LEN], char *err,
		      size_t errlen);
/* Reads name.json + name.sig and checks the signature with pk. */
int dr_stick_read_signed(int dirfd, const char *base, size_t cap, const uint8_t *pk, char **buf,
			 size_t *len, char *err, size_t errlen);
int dr_stick_subdir(int dirfd, const char *name, bool create, int *out, char *err,
		    size_t errlen);
/* Writes name atomically: name.tmp, fsync, rename, fsync the folder. */
int dr_stick_write_atomic(int dirfd, const char *name, const void *data, size_t len, char *err,
			  size_t errlen);
int dr_stick_write_all(int fd, const void *data, size_t len);

/* Opens name (relative to dirfd) as a regular file of at most cap bytes. */
int dr_stick_open_regular(int dirfd, const char *name, size_t cap, int *fdout, size_t *size,
			  char *err, size_t errlen);

#endif
