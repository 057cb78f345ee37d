/* SPDX-License-Identifier: MIT */
/*
 * The export's verifier threads. The event loop's thread writes a recording
 * to <id>.opus.sealed.tmp and hands the open file over; a verifier then
 * does everything that waits for the stick or the CPU after the last
 * write: write its data out and wait (sync_file_range), drop the file's
 * pages, read it back from the device (O_DIRECT where the filesystem takes
 * it; otherwise the pages just dropped make the reads go to the stick),
 * BLAKE2b over what came back, compare with the catalogue's hash, and on a
 * match fdatasync it, rename it to <id>.opus.sealed and sync the folder
 * (publish()). Two syncs per file, both after the read-back: each is a
 * cache flush the stick must finish (SYNCHRONIZE CACHE); an fdatasync
 * before the read-back was a third, and made the export slower on the
 * emulated board's stick models (BENCHMARKS.md). Meanwhile the event
 * loop's thread writes the next file, so the read-back and the hash of
 * file N overlap the writes of file N+1.
 *
 * Each file still goes through the same steps in the same order as when
 * they all ran on one thread, so what a pulled stick or a power cut leaves
 * is unchanged (docs/staff-stick.md): each file's steps stay in order, and
 * the catalogue is told about a file (on the event loop's thread) only after
 * its verifier reported it verified, renamed and synced.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "export/export_priv.h"
#include "export/verify.h"

#define DR_VERIFY_CHUNK (1u << 19)

enum slot_state { SLOT_FREE, SLOT_GIVEN, SLOT_TAKEN, SLOT_DONE };

struct slot {
	enum slot_state st;
	struct dr_verify_job job;
	atomic_uint_least64_t progress;
};

struct worker {
	struct dr_verifier *v;
	pthread_t th;
	bool started;
	uint8_t *buf; /* DR_VERIFY_CHUNK, aligned for O_DIRECT */
};

struct dr_verifier {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a job given, a job done, stop */
	bool stop;
	atomic_bool cancel;
	unsigned n; /* workers and slots */
	struct slot slot[DR_VERIFIER_MAX];
	struct worker w[DR_VERIFIER_MAX];
};

int dr_export_open_back(int dirfd, const char *name, uint64_t *size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EBADMSG;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	/* Straight from the device where the filesystem allows it (vfat,
	 * exfat, ext4 do); otherwise the pages just dropped make the reads go
	 * to the stick. */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_DIRECT);
	*size = (uint64_t)st.st_size;
	return fd;
}

/* Writes the copy out to the device and lets go of it: 0 or -errno. Its
 * data only, waited for, with no metadata and no cache flush: the
 * read-back needs the bytes sent to the device, not yet durable (a stick
 * with a write cache may answer the read from it, as it could after an
 * fdatasync); publish() makes them durable. */
static int settle(struct dr_verify_job *j)
{
	if (j->fd < 0)
		return 0;
	int rc = sync_file_range(j->fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				 SYNC_FILE_RANGE_WAIT_AFTER) < 0 ? -errno : 0;
	posix_fadvise(j->fd, 0, 0, POSIX_FADV_DONTNEED);
	if (close(j->fd) < 0 && rc == 0)
		rc = -errno;
	j->fd = -1;
	return rc;
}

/* Reads name back and hashes it: 1 matches, 0 does not, -errno. */
static int read_back(struct dr_verifier *v, struct worker *w, struct slot *sl,
		     struct dr_verify_job *j)
{
	uint64_t size;
	int fd = dr_export_open_back(j->dirfd, j->name, &size);
	if (fd < 0)
		return fd;
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, 32);
	int rc = 0;
	for (;;) {
		if (atomic_load(&v->cancel)) {
			rc = -ECANCELED;
			break;
		}
		ssize_t n;
		do
			n = read(fd, w->buf, DR_VERIFY_CHUNK);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		crypto_generichash_update(&h, w->buf, (size_t)n);
		j->bytes += (uint64_t)n;
		atomic_store(&sl->progress, j->bytes);
	}
	close(fd);
	if (rc < 0)
		return rc;
	uint8_t d[32];
	char hex[65];
	crypto_generichash_final(&h, d, sizeof(d));
	sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
	return !strcmp(hex, j->want);
}

/*
 * Makes the verified copy durable under its final name. 0 or -errno.
 *  1. fdatasync the copy, still under its .tmp name: on FAT its cluster
 *     chain (exFAT: its bitmap) and its folder entry's size are written,
 *     and the stick's cache is flushed, this file's data with it. Only
 *     then may the final name reach the stick: a final name whose chain is
 *     not there would read back wrong (vfat remounts read-only) or, on
 *     exFAT, pass while its clusters count as free.
 *  2. rename: the stick is mounted dirsync (stick-hotplug, the rpi-os
 *     unit), so FAT writes the new folder entry, with the file's size and
 *     first cluster, and removes the old one before renameat returns.
 *  3. fsync the folder: the stick's cache is flushed again.
 * On ext4 (the tests) 1-3 is the usual durable rename.
 */
static int publish(const struct dr_verify_job *j)
{
	uint64_t size;
	int fd = dr_export_open_back(j->dirfd, j->name, &size); /* a regular file, or an error */
	if (fd < 0)
		return fd;
	int rc = fdatasync(fd) < 0 ? -errno : 0;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		return rc;
	if (renameat(j->dirfd, j->name, j->dirfd, j->fin) < 0)
		return -errno;
	return fsync(j->dirfd) < 0 ? -errno : 0;
}

static void run_job(struct dr_verifier *v, struct worker *w, struct slot *sl,
		    struct dr_verify_job *j)
{
	int rc = settle(j);
	if (rc == 0)
		rc = read_back(v, w, sl, j);
	if (rc == 1 && j->fin[0]) {
		int p = publish(j);
		if (p < 0)
			rc = p;
	}
	j->rc = rc;
}

static struct slot *given(struct dr_verifier *v, int w)
{
	for (unsigned i = 0; i < v->n; i++)
		if (v->slot[i].st == SLOT_GIVEN &&
		    (v->slot[i].job.worker < 0 || v->slot[i].job.worker == w))
			return &v->slot[i];
	return NULL;
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	struct dr_verifier *v = w->v;
	struct slot *sl;
	pthread_mutex_lock(&v->mu);
	for (;;) {
		while (!v->stop && !(sl = given(v, (int)(w - v->w))))
			pthread_cond_wait(&v->cv, &v->mu);
		if (v->stop)
			break;
		sl->st = SLOT_TAKEN;
		struct dr_verify_job j = sl->job;
		j.worker = (int)(w - v->w);
		pthread_mutex_unlock(&v->mu);
		run_job(v, w, sl, &j);
		pthread_mutex_lock(&v->mu);
		sl->job = j;
		sl->st = SLOT_DONE;
		pthread_cond_broadcast(&v->cv);
	}
	pthread_mutex_unlock(&v->mu);
	return NULL;
}

int dr_verifier_start(unsigned threads, struct dr_verifier **out)
{
	if (!out || threads < 1 || threads > DR_VERIFIER_MAX)
		return -EINVAL;
	*out = NULL;
	struct dr_verifier *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->n = threads;
	pthread_condattr_t ca;
	int r = -pthread_condattr_init(&ca);
	if (r < 0)
		goto err_free;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	r = -pthread_cond_init(&v->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (r < 0)
		goto err_free;
	if ((r = -pthread_mutex_init(&v->mu, NULL)) < 0) {
		pthread_cond_destroy(&v->cv);
		goto err_free;
	}
	atomic_init(&v->cancel, false);
	for (unsigned i = 0; i < v->n; i++) {
		atomic_init(&v->slot[i].progress, 0);
		v->w[i].v = v;
		if (!(v->w[i].buf = aligned_alloc(4096, DR_VERIFY_CHUNK))) {
			r = -ENOMEM;
			goto err_stop;
		}
	}
	/* signals stay with the event loop's thread */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < v->n && r == 0; i++) {
		r = -pthread_create(&v->w[i].th, NULL, worker, &v->w[i]);
		v->w[i].started = r == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto err_stop;
	*out = v;
	return 0;

err_stop:
	dr_verifier_stop(v);
	return r;
err_free:
	free(v);
	return r;
}

void dr_verifier_stop(struct dr_verifier *v)
{
	if (!v)
		return;
	pthread_mutex_lock(&v->mu);
	v->stop = true;
	atomic_store(&v->cancel, true);
	pthread_cond_broadcast(&v->cv);
	pthread_mutex_unlock(&v->mu);
	for (unsigned i = 0; i < v->n; i++) {
		if (v->w[i].started)
			pthread_join(v->w[i].th, NULL);
		free(v->w[i].buf);
		/* a job given and never started: its file is still ours to close */
		if (v->slot[i].st == SLOT_GIVEN && v->slot[i].job.fd >= 0)
			close(v->slot[i].job.fd);
	}
	pthread_mutex_destroy(&v->mu);
	pthread_cond_destroy(&v->cv);
	free(v);
}

bool dr_verifier_busy(const struct dr_verifier *v)
{
	/* only the caller's thread frees or gives a slot */
	for (unsigned i = 0; v && i < v->n; i++)
		if (v->slot[i].st != SLOT_FREE)
			return true;
	return false;
}

bool dr_verifier_full(const struct dr_verifier *v)
{
	for (unsigned i = 0; v && i < v->n; i++)
		if (v->slot[i].st == SLOT_FREE)
			return false;
	return true;
}

int dr_verifier_submit(struct dr_verifier *v, const struct dr_verify_job *job)
{
	if (!v || !job || job->worker >= (int)v->n)
		return -EINVAL;
	int r = -EBUSY;
	pthread_mutex_lock(&v->mu);
	for (unsigned i = 0; i < v->n; i++) {
		struct slot *sl = &v->slot[i];
		if (sl->st != SLOT_FREE)
			continue;
		sl->job = *job;
		sl->job.rc = 0;
		sl->job.bytes = 0;
		atomic_store(&sl->progress, 0);
		sl->st = SLOT_GIVEN;
		pthread_cond_broadcast(&v->cv);
		r = 0;
		break;
	}
	pthread_mutex_unlock(&v->mu);
	return r;
}

static struct slot *done(struct dr_verifier *v)
{
	for (unsigned i = 0; i < v->n; i++)
		if (v->slot[i].st == SLOT_DONE)
			return &v->slot[i];
	return NULL;
}

int dr_verifier_collect(struct dr_verifier *v, struct dr_verify_job *out, int wait_ms)
{
	if (!v || !out)
		return 0;
	pthread_mutex_lock(&v->mu);
	struct slot *sl = done(v);
	if (!sl && wait_ms > 0 && dr_verifier_busy(v)) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)wait_ms * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!(sl = done(v)) &&
		       pthread_cond_timedwait(&v->cv, &v->mu, &until) != ETIMEDOUT)
			;
	}
	if (sl) {
		*out = sl->job;
		sl->st = SLOT_FREE;
		atomic_store(&sl->progress, 0);
	}
	pthread_mutex_unlock(&v->mu);
	return sl != NULL;
}

uint64_t dr_verifier_progress(const struct dr_verifier *v)
{
	uint64_t sum = 0;
	for (unsigned i = 0; v && i < v->n; i++)
		sum += atomic_load(&((struct dr_verifier *)v)->slot[i].progress);
	return sum;
}
