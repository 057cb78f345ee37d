/* SPDX-License-Identifier: MIT */
/*
 * The export's verifier thread. The event loop's thread writes a recording
 * to <id>.opus.sealed.tmp and hands the open file over; this thread then
 * does everything that waits for the stick or the CPU after the last
 * write: fdatasync, drop the file's pages, read it back from the device
 * (O_DIRECT where the filesystem takes it; otherwise the pages just dropped
 * make the reads go to the stick), BLAKE2b over what came back, compare with
 * the catalogue's hash, and on a match rename it to <id>.opus.sealed and
 * sync the renamed file and its folder (FAT keeps a file's size in its
 * folder entry). Meanwhile the event loop's thread writes the next file, so
 * the read-back and the hash of file N overlap the writes of file N+1.
 *
 * Each file still goes through the same steps in the same order as when
 * they all ran on one thread, so what a pulled stick or a power cut leaves
 * is unchanged (docs/staff-stick.md): only one job is in flight, and the
 * catalogue is told about a file (on the event loop's thread) only after
 * this thread reported it verified, renamed and synced.
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

#define DR_VERIFY_CHUNK (1u << 20)

struct dr_verifier {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a job given, a job done, stop */
	bool has_job, taken, done, stop;
	atomic_bool cancel;
	atomic_uint_least64_t progress;
	struct dr_verify_job job;
	uint8_t *buf; /* DR_VERIFY_CHUNK, aligned for O_DIRECT */
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

/* Syncs the written copy and lets go of it: 0 or -errno. */
static int settle(struct dr_verify_job *j)
{
	if (j->fd < 0)
		return 0;
	int rc = fdatasync(j->fd) < 0 ? -errno : 0;
	posix_fadvise(j->fd, 0, 0, POSIX_FADV_DONTNEED);
	if (close(j->fd) < 0 && rc == 0)
		rc = -errno;
	j->fd = -1;
	return rc;
}

/* Reads name back and hashes it: 1 matches, 0 does not, -errno. */
static int read_back(struct dr_verifier *v, struct dr_verify_job *j)
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
			n = read(fd, v->buf, DR_VERIFY_CHUNK);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		crypto_generichash_update(&h, v->buf, (size_t)n);
		j->bytes += (uint64_t)n;
		atomic_store(&v->progress, j->bytes);
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

/* Renames the verified copy to its final name; on FAT the rename makes a
 * new folder entry, which holds the file's size: write the renamed file's
 * entry out, then the folder. 0 or -errno. */
static int publish(const struct dr_verify_job *j)
{
	if (renameat(j->dirfd, j->name, j->dirfd, j->fin) < 0)
		return -errno;
	int fd = openat(j->dirfd, j->fin, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	if (rc == 0 && fsync(j->dirfd) < 0)
		rc = -errno;
	return rc;
}

static void run_job(struct dr_verifier *v, struct dr_verify_job *j)
{
	int rc = settle(j);
	if (rc == 0)
		rc = read_back(v, j);
	if (rc == 1 && j->fin[0]) {
		int p = publish(j);
		if (p < 0)
			rc = p;
	}
	j->rc = rc;
}

static void *worker(void *arg)
{
	struct dr_verifier *v = arg;
	pthread_mutex_lock(&v->mu);
	for (;;) {
		while (!v->stop && !(v->has_job && !v->taken))
			pthread_cond_wait(&v->cv, &v->mu);
		if (v->stop)
			break;
		v->taken = true;
		struct dr_verify_job j = v->job;
		pthread_mutex_unlock(&v->mu);
		run_job(v, &j);
		pthread_mutex_lock(&v->mu);
		v->job = j;
		v->done = true;
		pthread_cond_broadcast(&v->cv);
	}
	/* a job given and never started: its file is still ours to close */
	if (v->has_job && !v->taken && v->job.fd >= 0) {
		close(v->job.fd);
		v->job.fd = -1;
	}
	pthread_mutex_unlock(&v->mu);
	return NULL;
}

int dr_verifier_start(struct dr_verifier **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	struct dr_verifier *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int r = -ENOMEM;
	if (!(v->buf = aligned_alloc(4096, DR_VERIFY_CHUNK)))
		goto err_free;
	pthread_condattr_t ca;
	if ((r = -pthread_condattr_init(&ca)) < 0)
		goto err_free;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	r = -pthread_cond_init(&v->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (r < 0)
		goto err_free;
	if ((r = -pthread_mutex_init(&v->mu, NULL)) < 0)
		goto err_cond;
	atomic_init(&v->cancel, false);
	atomic_init(&v->progress, 0);
	/* signals stay with the event loop's thread */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&v->th, NULL, worker, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto err_mutex;
	*out = v;
	return 0;

err_mutex:
	pthread_mutex_destroy(&v->mu);
err_cond:
	pthread_cond_destroy(&v->cv);
err_free:
	free(v->buf);
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
	pthread_join(v->th, NULL);
	pthread_mutex_destroy(&v->mu);
	pthread_cond_destroy(&v->cv);
	free(v->buf);
	free(v);
}

bool dr_verifier_busy(const struct dr_verifier *v)
{
	/* only the caller's thread changes has_job */
	return v && v->has_job;
}

int dr_verifier_submit(struct dr_verifier *v, const struct dr_verify_job *job)
{
	if (!v || !job)
		return -EINVAL;
	pthread_mutex_lock(&v->mu);
	if (v->has_job) {
		pthread_mutex_unlock(&v->mu);
		return -EBUSY;
	}
	v->job = *job;
	v->job.rc = 0;
	v->job.bytes = 0;
	atomic_store(&v->progress, 0);
	v->has_job = true;
	v->taken = v->done = false;
	pthread_cond_broadcast(&v->cv);
	pthread_mutex_unlock(&v->mu);
	return 0;
}

int dr_verifier_collect(struct dr_verifier *v, struct dr_verify_job *out, int wait_ms)
{
	if (!v || !out)
		return 0;
	pthread_mutex_lock(&v->mu);
	if (v->has_job && !v->done && wait_ms > 0) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)wait_ms * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!v->done && pthread_cond_timedwait(&v->cv, &v->mu, &until) != ETIMEDOUT)
			;
	}
	int got = v->has_job && v->done;
	if (got) {
		*out = v->job;
		v->has_job = v->taken = v->done = false;
		atomic_store(&v->progress, 0);
	}
	pthread_mutex_unlock(&v->mu);
	return got;
}

uint64_t dr_verifier_progress(const struct dr_verifier *v)
{
	return v ? atomic_load(&((struct dr_verifier *)v)->progress) : 0;
}
