/* SPDX-License-Identifier: MIT */
/* Opening an archive's catalogue, and its one-writer lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "archive_priv.h"

static int open_archive(const char *path, bool create, bool refuse_unknown,
			struct adm_archive **out, char *err, size_t errlen)
{
	*out = NULL;
	snprintf(err, errlen, "unknown error");
	if (create && mkdir(path, 0700) < 0 && errno != EEXIST) {
		int r = -errno;
		snprintf(err, errlen, "cannot make %s: %s", path, strerror(errno));
		return r;
	}
	int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0) {
		int r = -errno;
		snprintf(err, errlen, "cannot open the archive %s: %s", path, strerror(errno));
		return r;
	}
	struct adm_archive *a = NULL;
	int r = adm_archive_sqlite_open(dirfd, path, create, &a, err, errlen);
	if (r == 0) {
		a->dirfd = dirfd;
		r = adm_archive_migrate(a, refuse_unknown, err, errlen);
		if (r < 0) {
			adm_archive_close(a);
			return r;
		}
		*out = a;
		return 0;
	}
	close(dirfd);
	return r;
}

int adm_archive_open(const char *path, bool create, struct adm_archive **out, char *err,
		     size_t errlen)
{
	return open_archive(path, create, true, out, err, errlen);
}

int adm_archive_open_repair(const char *path, struct adm_archive **out, char *err,
			    size_t errlen)
{
	return open_archive(path, false, false, out, err, errlen);
}

void adm_archive_close(struct adm_archive *a)
{
	if (!a)
		return;
	if (a->dirfd >= 0)
		close(a->dirfd);
	adm_archive_sqlite_close(a);
}

int adm_archive_lock(int dirfd, bool wait, const char *who, int *lockfd)
{
	*lockfd = -1;
	int fd = openat(dirfd, ADM_LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
			0600);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int r = fd < 0 ? -errno : -EINVAL;
		fprintf(stderr, "%s: the archive's %s cannot be used as its lock (%s): refused\n",
			who, ADM_LOCK_FILE, fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return r;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			int r = -errno;
			close(fd);
			return r;
		}
		if (!wait) {
			fprintf(stderr, "%s: another diaryroom-admin is writing this archive (collect, "
					"unlock or repair in another window?): refused (--no-wait); "
					"nothing was changed\n", who);
			close(fd);
			return -EWOULDBLOCK;
		}
		fprintf(stderr, "%s: another diaryroom-admin is writing this archive; waiting for it "
				"to finish...\n", who);
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR) {
				int r = -errno;
				close(fd);
				return r;
			}
		}
		fprintf(stderr, "%s: the other run finished; going on\n", who);
	}
	*lockfd = fd;
	return 0;
}

void adm_archive_unlock(int lockfd)
{
	if (lockfd >= 0)
		close(lockfd);
}
