/* SPDX-License-Identifier: MIT */
/*
 * Each imported export's box-signed manifest, kept in the archive as files
 * (<box>/manifests/<seq>.json and .sig, 0600), so that repair can rebuild
 * the catalogue from them and the recordings' files even when the
 * catalogue itself is lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "archive_keep.h"

static int write_at(int dirfd, const char *name, const void *data, size_t len)
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	unlinkat(dirfd, tmp, 0);
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	const char *p = data;
	size_t done = 0;
	int r = 0;
	while (r == 0 && done < len) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno != EINTR)
			r = -errno;
		else if (n > 0)
			done += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dirfd, tmp, 0);
	return r;
}

int adm_keep_manifest(int archive_fd, const char *box, int64_t seq, const void *json,
		      size_t json_len, const void *sig, size_t sig_len)
{
	if (!adm_box_ok(box) || seq < 1)
		return -EINVAL;
	char rel[64];
	snprintf(rel, sizeof(rel), "%s", box);
	if (mkdirat(archive_fd, rel, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(rel, sizeof(rel), "%s/manifests", box);
	if (mkdirat(archive_fd, rel, 0700) < 0 && errno != EEXIST)
		return -errno;
	int dfd = openat(archive_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	char name[40];
	snprintf(name, sizeof(name), "%lld.sig", (long long)seq);
	int r = write_at(dfd, name, sig, sig_len);
	snprintf(name, sizeof(name), "%lld.json", (long long)seq);
	if (r == 0)
		r = write_at(dfd, name, json, json_len);
	if (r == 0 && fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	return r;
}
