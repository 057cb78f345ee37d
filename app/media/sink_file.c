/* SPDX-License-Identifier: MIT */
/*
 * The durable file sink (see sink.h).
 *
 * A failed write is rolled back with ftruncate to the last good length, so
 * the file always ends on a boundary the encoder chose (an Ogg page): after a
 * full disk the part already written stays recoverable without a torn page.
 */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct dr_file_sink {
	int fd;
	bool dirty;                    /* written since the last fdatasync */
	uint64_t size;                 /* bytes in the file */
	struct dr_sink_stats *stats;   /* the caller's, may be NULL */
	struct dr_sink_stats *watcher; /* dr_file_sink_watch_stats, may be NULL */
};

static void count(struct dr_file_sink *s, uint64_t bytes, uint64_t writes, uint64_t syncs)
{
	struct dr_sink_stats *t[2] = {s->stats, s->watcher};
	for (int i = 0; i < 2; i++) {
		if (!t[i])
			continue;
		t[i]->bytes += bytes;
		t[i]->writes += writes;
		t[i]->syncs += syncs;
	}
}

/* Cuts a half-written buffer off again; if even that fails the recovery at
 * start-up copes with the torn tail. */
static void rollback(struct dr_file_sink *s, size_t done)
{
	if (done && ftruncate(s->fd, (off_t)s->size) == 0)
		(void)lseek(s->fd, (off_t)s->size, SEEK_SET);
}

static int file_write(void *user, const unsigned char *buf, size_t len)
{
	struct dr_file_sink *s = user;
	size_t done = 0;
	while (done < len) {
		size_t chunk = len - done;
		if (chunk > SSIZE_MAX)
			chunk = SSIZE_MAX;
		ssize_t n = write(s->fd, buf + done, chunk);
		count(s, 0, 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = -errno;
			rollback(s, done);
			return err;
		}
		if (n == 0) {
			rollback(s, done);
			return -EIO;
		}
		done += (size_t)n;
	}
	s->size += len;
	s->dirty = true;
	count(s, len, 0, 0);
	return 0;
}

static int file_sync(void *user)
{
	struct dr_file_sink *s = user;
	if (fdatasync(s->fd) < 0)
		return -errno;
	s->dirty = false;
	count(s, 0, 0, 1);
	return 0;
}

static int file_close(void *user)
{
	struct dr_file_sink *s = user;
	int err = s->dirty ? file_sync(s) : 0;
	if (close(s->fd) < 0 && !err)
		err = -errno;
	free(s);
	return err;
}

static const struct dr_sink_ops dr_file_sink_ops = {
	.write = file_write,
	.sync = file_sync,
	.close = file_close,
};

int dr_parent_dir(const char *path, char *dir, size_t dirlen)
{
	const char *slash = strrchr(path, '/');
	const char *from = slash ? path : ".";
	size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
	if (n >= dirlen)
		return -ENAMETOOLONG;
	memcpy(dir, from, n);
	dir[n] = '\0';
	return 0;
}

/* fsync of the folder holding `path`, so a newly created name is durable. */
int dr_sync_parent_dir(const char *path)
{
	char dir[PATH_MAX];
	int r = dr_parent_dir(path, dir, sizeof(dir));
	if (r < 0)
		return r;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return err;
}

int dr_file_sink_open(const char *path, struct dr_sink_stats *stats, struct dr_sink *out)
{
	if (!path || !out)
		return -EINVAL;
	struct dr_file_sink *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->stats = stats;
	s->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (s->fd < 0) {
		int err = -errno;
		free(s);
		return err;
	}
	int err = dr_sync_parent_dir(path);
	if (err) {
		close(s->fd);
		unlink(path);
		free(s);
		return err;
	}
	out->ops = &dr_file_sink_ops;
	out->user = s;
	return 0;
}

int dr_file_sink_watch_stats(struct dr_sink sink, struct dr_sink_stats *watcher)
{
	if (sink.ops != &dr_file_sink_ops || !sink.user)
		return -EINVAL;
	((struct dr_file_sink *)sink.user)->watcher = watcher;
	return 0;
}
