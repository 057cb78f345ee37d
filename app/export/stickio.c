/* SPDX-License-Identifier: MIT */
/*
 * Stick file I/O (shared by the box and the PC tool): every file is opened
 * relative to a directory fd, never following a symbolic link (-ELOOP),
 * with O_NONBLOCK (a FIFO never hangs the caller), checked to be a regular
 * file (-EBADMSG) under its size cap (-EFBIG) before a byte is read.
 * Errors are negative errno with a message in err.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export/stickio.h"

int dr_export_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int dr_stick_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int dr_stick_open_regular(int dirfd, const char *name, size_t cap, int *fdout, size_t *size,
			char *err, size_t errlen)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			return dr_export_fail(err, errlen, -ELOOP, "%s is a symbolic link", name);
		return dr_export_fail(err, errlen, -e, "cannot open %s: %s", name, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return dr_export_fail(err, errlen, -EBADMSG, "%s is not a regular file", name);
	}
	if ((uint64_t)st.st_size > cap) {
		close(fd);
		return dr_export_fail(err, errlen, -EFBIG, "%s is too large (%lld bytes, at most %zu)",
				      name, (long long)st.st_size, cap);
	}
	*fdout = fd;
	*size = (size_t)st.st_size;
	return 0;
}

int dr_stick_read(int dirfd, const char *name, size_t cap, char **buf, size_t *len, char *err,
		  size_t errlen)
{
	int fd;
	size_t size;
	int r = dr_stick_open_regular(dirfd, name, cap, &fd, &size, err, errlen);
	if (r < 0)
		return r;
	char *b = malloc(size + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	/* read one byte more than stat said: a file growing under us is refused */
	while (got <= size) {
		ssize_t n = read(fd, b + got, size + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = dr_export_fail(err, errlen, -EIO, "cannot read %s: %s", name, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (r == 0 && got != size)
		r = dr_export_fail(err, errlen, -EBADMSG, "%s changed while it was read", name);
	if (r < 0) {
		free(b);
		return r;
	}
	b[size] = '\0';
	*buf = b;
	*len = size;
	return 0;
}

int dr_stick_read_sig(int dirfd, const char *name, uint8_t sig[DR_STICK_SIG_LEN], char *err,
		      size_t errlen)
{
	char *b;
	size_t len;
	int r = dr_stick_read(dirfd, name, DR_STICK_SIG_LEN, &b, &len, err, errlen);
	if (r < 0)
		return r;
	if (len != DR_STICK_SIG_LEN)
		r = dr_export_fail(err, errlen, -EBADMSG, "%s is %zu bytes, not %d", name, len,
				   DR_STICK_SIG_LEN);
	else
		memcpy(sig, b, DR_STICK_SIG_LEN);
	free(b);
	return r;
}

int dr_stick_read_signed(int dirfd, const char *base, size_t cap, const uint8_t *pk, char **buf,
			 size_t *len, char *err, size_t errlen)
{
	char jn[64], sn[64];
	snprintf(jn, sizeof(jn), "%s.json", base);
	snprintf(sn, sizeof(sn), "%s.sig", base);
	uint8_t sig[DR_STICK_SIG_LEN];
	char *b;
	int r = dr_stick_read(dirfd, jn, cap, &b, len, err, errlen);
	if (r < 0)
		return r;
	if ((r = dr_stick_read_sig(dirfd, sn, sig, err, errlen)) < 0) {
		free(b);
		return r == -ENOENT ? -EKEYREJECTED : r;
	}
	if (dr_stick_verify((const uint8_t *)b, *len, sig, pk) < 0) {
		free(b);
		return dr_export_fail(err, errlen, -EKEYREJECTED,
				      "%s is not signed by the expected key", jn);
	}
	*buf = b;
	return 0;
}

int dr_stick_subdir(int dirfd, const char *name, bool create, int *out, char *err,
		    size_t errlen)
{
	if (create && mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		return dr_export_fail(err, errlen, -errno, "cannot make folder %s: %s", name,
				      strerror(errno));
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP || e == ENOTDIR)
			return dr_export_fail(err, errlen, e == ELOOP ? -ELOOP : -EBADMSG,
					      "%s is not a real folder", name);
		return dr_export_fail(err, errlen, -e, "cannot open folder %s: %s", name,
				      strerror(e));
	}
	*out = fd;
	return 0;
}

int dr_stick_write_atomic(int dirfd, const char *name, const void *data, size_t len, char *err,
			  size_t errlen)
{
	char tmp[128];
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT)
		return dr_export_fail(err, errlen, -errno, "cannot remove %s: %s", tmp,
				      strerror(errno));
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return dr_export_fail(err, errlen, -errno, "cannot create %s: %s", tmp,
				      strerror(errno));
	int r = dr_stick_write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	/* On FAT a file's size and first cluster live in its folder entry,
	 * which a rename makes anew: sync the file again after the rename,
	 * then the folder, or a pulled stick can hold the new name with size 0. */
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && fsync(dirfd) < 0 && errno != EINVAL)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return dr_export_fail(err, errlen, r, "cannot write %s: %s", name, strerror(-r));
	}
	return 0;
}

