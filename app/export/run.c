/* SPDX-License-Identifier: MIT */
/*
 * One export run: every held recording to DIARYRM/export/<device>/, each
 * copied as the box holds it (sealed to the organisation: see
 * docs/sealed-file.md) to <id>.opus.sealed.tmp, or <id>.mkv.sealed.tmp for
 * a video (each chunk handed to the stick as it is written), then handed to
 * the verifier thread (verify.c): synced, read back from the stick
 * (O_DIRECT where the filesystem takes it, else with its pages dropped:
 * never from the page cache), its BLAKE2b compared with the catalogue's,
 * renamed to <id>.opus.sealed (<id>.mkv.sealed) and synced;
 * only then counted in the catalogue. While one file is verified the next
 * is written. Then the signed manifest, its personal part sealed to the
 * organisation; then stale files (recordings the box no longer holds,
 * leftovers of a cut, playable copies left by a version-1 box) removed.
 *
 * A step moves at most DR_EXPORT_CHUNK bytes, or waits at most
 * DR_EXPORT_WAIT_MS for the verifier, so the event loop stays responsive
 * (the button, the light) during a long export.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#include "export/export_priv.h"
#include "export/verify.h"
#include "seal/seal.h"

#define DR_EXPORT_CHUNK (1u << 20)
#define DR_EXPORT_WAIT_MS 20
/* Files verified at once: while some are read from the stick others are
 * hashed, on every core, and the stick has several reads to work on
 * (BENCHMARKS.md, "Export": 4 of 512 KiB beat 2 and 3, of 1 MiB or 512 KiB). */
#ifndef DR_EXPORT_VERIFIERS
#define DR_EXPORT_VERIFIERS 4
#endif

enum run_phase {
	PH_NEXT,     /* take the next piece of work from the queue */
	PH_COPY,     /* copying to <id>.opus.sealed.tmp */
	PH_HANDOFF,  /* a file to verify, waiting for the verifier to be free */
	PH_DRAIN,    /* the queue is empty: waiting for the last verification */
	PH_MANIFEST, /* all done: write the manifest */
	PH_DONE,
	PH_FAILED,
};

/* A piece of work: check a copy already on the stick, or copy. */
struct run_item {
	size_t idx;
	bool check;
	int worker; /* the verifier to use, -1 for any (struct dr_verify_job) */
};

struct dr_export_run {
	struct dr_export *x;
	struct dr_stick *k;
	int devfd; /* DIARYRM/export/<device>/ */
	struct dr_store_export_rec *recs;
	bool *ok;        /* verified on the stick in this run */
	uint8_t *copies; /* copies made of each recording in this run (at most 2) */
	struct run_item *q; /* at most 3 a recording: check, copy, copy again */
	size_t n, cap, cur, qhead, qlen;
	int cur_worker; /* the verifier cur's copy goes to, -1 for any */
	enum run_phase phase;
	int src, dst; /* fds of the file being copied, -1 when none */
	struct dr_verify_job hand; /* PH_HANDOFF: the job to give (hand.fd is ours) */
	struct dr_verifier *v;
	uint8_t *buf;
	struct dr_export_progress p;
};

static int collect(void *user, const struct dr_store_export_rec *rec)
{
	struct dr_export_run *run = user;
	if (!rec->rec.blake2b[0])
		return 0; /* never hashed: not finished, nothing to verify against */
	if (run->n == run->cap) {
		size_t ncap = run->cap ? run->cap * 2 : 16;
		struct dr_store_export_rec *nr = realloc(run->recs, ncap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		run->recs = nr;
		run->cap = ncap;
	}
	run->recs[run->n++] = *rec;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int dr_export_begin(struct dr_export *x, struct dr_stick *k, struct dr_export_run **out,
		    char *err, size_t errlen)
{
	if (!x || !k || !out)
		return -EINVAL;
	*out = NULL;
	struct dr_export_run *run = calloc(1, sizeof(*run));
	if (!run)
		return -ENOMEM;
	run->x = x;
	run->k = k;
	run->devfd = run->src = run->dst = run->hand.fd = -1;
	char e[384];
	int r = dr_store_export_each(x->store, collect, run);
	if (r < 0) {
		dr_export_fail(err, errlen, r, "cannot list the recordings: %s",
			       dr_store_errmsg(x->store));
		goto err_free;
	}
	if (!(run->buf = malloc(DR_EXPORT_CHUNK)) ||
	    (run->n && (!(run->ok = calloc(run->n, 1)) || !(run->copies = calloc(run->n, 1)) ||
			!(run->q = calloc(3 * run->n, sizeof(*run->q)))))) {
		r = -ENOMEM;
		goto err_free;
	}
	for (size_t i = 0; i < run->n; i++)
		run->q[run->qlen++] = (struct run_item){.idx = i, .check = true, .worker = -1};
	int efd;
	if ((r = dr_stick_subdir(k->topfd, "export", true, &efd, e, sizeof(e))) < 0) {
		dr_export_fail(err, errlen, r, "export: %s", e);
		goto err_free;
	}
	r = dr_stick_subdir(efd, x->device_id, true, &run->devfd, e, sizeof(e));
	close(efd);
	if (r < 0) {
		dr_export_fail(err, errlen, r, "export: %s", e);
		goto err_free;
	}
	if ((r = dr_verifier_start(DR_EXPORT_VERIFIERS, &run->v)) < 0) {
		dr_export_fail(err, errlen, r, "export: cannot start the verifier: %s", strerror(-r));
		goto err_free;
	}
	if ((r = dr_store_export_begin(x->store, k->token.stick_id, k->token.name, &run->p.seq, e,
				       sizeof(e))) < 0) {
		dr_export_fail(err, errlen, r, "export: %s", e);
		goto err_free;
	}
	run->p.files_total = (unsigned)run->n;
	for (size_t i = 0; i < run->n; i++)
		run->p.bytes_total += 2 * run->recs[i].rec.size;
	run->phase = PH_NEXT;
	*out = run;
	return 0;

err_free:
	dr_export_run_free(run);
	return r;
}

void dr_export_run_free(struct dr_export_run *run)
{
	if (!run)
		return;
	/* first: the verifier may be using devfd */
	dr_verifier_stop(run->v);
	close_fd(&run->src);
	close_fd(&run->dst);
	close_fd(&run->hand.fd);
	close_fd(&run->devfd);
	free(run->recs);
	free(run->ok);
	free(run->copies);
	free(run->q);
	free(run->buf);
	free(run);
}

/* The stick's names of a recording's file, by its media type (stickfmt_manifest.c's
 * dr_stick_rec_file, which the PC checks the manifest against). */
static void names(const struct dr_store_export_rec *r, char fin[64], char tmp[64])
{
	char f[DR_STICK_ID_HEX + 13];
	dr_stick_rec_file(r->rec.id, dr_media_name(r->rec.media), f);
	snprintf(fin, 64, "%s", f);
	snprintf(tmp, 64, "%s.tmp", f);
}

static void push(struct dr_export_run *run, size_t idx, bool check, int worker)
{
	if (run->qlen < 3 * run->n)
		run->q[run->qlen++] =
			(struct run_item){.idx = idx, .check = check, .worker = worker};
}

/* Drops the copy in progress (cur's), including one waiting for the verifier. */
static void drop_current(struct dr_export_run *run)
{
	bool copying = run->src >= 0 || run->dst >= 0 || run->hand.fd >= 0;
	close_fd(&run->src);
	close_fd(&run->dst);
	close_fd(&run->hand.fd);
	if (copying) {
		char fin[64], tmp[64];
		names(&run->recs[run->cur], fin, tmp);
		unlinkat(run->devfd, tmp, 0);
	}
}

/* Recording idx could not be copied or verified (current: it is the one
 * being copied). 1 to go on, -errno when the stick has failed. */
static int file_failed(struct dr_export_run *run, size_t idx, bool current, int rc)
{
	char fin[64], tmp[64];
	names(&run->recs[idx], fin, tmp);
	if (current) {
		close_fd(&run->src);
		close_fd(&run->dst);
		close_fd(&run->hand.fd);
		run->phase = PH_NEXT;
	}
	unlinkat(run->devfd, tmp, 0);
	if (rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG) {
		/* the stick is full: the manifest lists what fitted */
		drop_current(run);
		run->p.stick_full = true;
		run->phase = PH_DRAIN;
		return 1;
	}
	if (rc == -EIO || rc == -ENODEV || rc == -ENXIO || rc == -EROFS) {
		run->phase = PH_FAILED; /* the stick went away or broke */
		return rc;
	}
	run->p.files_failed++;
	return 1;
}

static int start_copy(struct dr_export_run *run)
{
	const struct dr_store_export_rec *r = &run->recs[run->cur];
	char fin[64], tmp[64];
	names(r, fin, tmp);
	run->copies[run->cur]++;
	run->src = open(r->rec.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (run->src < 0)
		return file_failed(run, run->cur, true, -EBADF); /* not a stick error */
	/* Only a sealed recording ever goes to a stick: a plain one left from
	 * before sealing stays on the box (counted as failed) rather than be
	 * written anywhere a finder could play it. */
	unsigned char head[8];
	ssize_t hn = pread(run->src, head, sizeof(head), 0);
	if (hn != (ssize_t)sizeof(head) || !dr_seal_is_sealed(head, sizeof(head)))
		return file_failed(run, run->cur, true, -EBADF);
	if (unlinkat(run->devfd, tmp, 0) < 0 && errno != ENOENT)
		return file_failed(run, run->cur, true, -errno);
	run->dst = openat(run->devfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			  0644);
	if (run->dst < 0)
		return file_failed(run, run->cur, true, -errno);
	run->phase = PH_COPY;
	return 1;
}

static int step_next(struct dr_export_run *run)
{
	if (run->qhead >= run->qlen) {
		run->phase = PH_DRAIN;
		return 1;
	}
	struct run_item it = run->q[run->qhead++];
	run->cur = it.idx;
	run->cur_worker = it.worker;
	const struct dr_store_export_rec *r = &run->recs[run->cur];
	char fin[64], tmp[64];
	names(r, fin, tmp);
	if (it.check) {
		uint64_t size;
		int fd = dr_export_open_back(run->devfd, fin, &size);
		if (fd >= 0)
			close(fd);
		if (fd >= 0 && size == r->rec.size) {
			/* already there: the verifier reads it back */
			run->hand = (struct dr_verify_job){.idx = run->cur, .check = true, .fd = -1,
							   .dirfd = run->devfd, .worker = -1};
			snprintf(run->hand.name, sizeof(run->hand.name), "%s", fin);
			snprintf(run->hand.want, sizeof(run->hand.want), "%s", r->rec.blake2b);
			run->phase = PH_HANDOFF;
			return 1;
		}
	}
	/* not there (or wrong): copy it */
	unlinkat(run->devfd, fin, 0);
	return start_copy(run);
}

static int step_copy(struct dr_export_run *run)
{
	ssize_t n;
	do
		n = read(run->src, run->buf, DR_EXPORT_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return file_failed(run, run->cur, true, -EBADF);
	if (n > 0) {
		int r = dr_stick_write_all(run->dst, run->buf, (size_t)n);
		if (r < 0)
			return file_failed(run, run->cur, true, r);
		/* The stick starts writing this chunk now, while the next is read. */
		off_t end = lseek(run->dst, 0, SEEK_CUR);
		if (end >= n)
			sync_file_range(run->dst, end - n, n, SYNC_FILE_RANGE_WRITE);
		run->p.bytes_done += (uint64_t)n;
		return 1;
	}
	close_fd(&run->src);
	const struct dr_store_export_rec *r = &run->recs[run->cur];
	run->hand = (struct dr_verify_job){.idx = run->cur, .fd = run->dst, .dirfd = run->devfd,
					   .worker = run->cur_worker};
	run->dst = -1; /* now in hand */
	names(r, run->hand.fin, run->hand.name);
	snprintf(run->hand.want, sizeof(run->hand.want), "%s", r->rec.blake2b);
	run->phase = PH_HANDOFF;
	return 1;
}

static int file_verified(struct dr_export_run *run, size_t idx, char *err, size_t errlen)
{
	char e[384];
	int r = dr_store_export_mark(run->x->store, run->p.seq, run->recs[idx].rec.id, e,
				     sizeof(e));
	if (r < 0) {
		run->phase = PH_FAILED;
		return dr_export_fail(err, errlen, r, "export: %s", e);
	}
	run->ok[idx] = true;
	run->p.files_done++;
	return 1;
}

/* What the verifier found about job j. */
static int verified(struct dr_export_run *run, const struct dr_verify_job *j, char *err,
		    size_t errlen)
{
	uint64_t size = run->recs[j->idx].rec.size;
	if (j->rc == 1) {
		/* a copy already there needed no copying: its bytes count twice */
		run->p.bytes_done += j->check ? 2 * size : size;
		return file_verified(run, j->idx, err, errlen);
	}
	if (j->rc == 0 && j->check) {
		/* a copy there from before, wrong: copy it anew */
		unlinkat(run->devfd, j->name, 0);
		push(run, j->idx, false, -1);
		return 1;
	}
	if (j->rc == 0) {
		/* read back wrong: once more (later in this run), then give up
		 * on this file for this run */
		unlinkat(run->devfd, j->name, 0);
		run->p.bytes_done -= size;
		if (run->copies[j->idx] >= 2)
			run->p.files_failed++;
		else
			push(run, j->idx, false, j->worker);
		return 1;
	}
	return file_failed(run, j->idx, false, j->rc);
}

/* Takes the verifier's finished job, if any, waiting at most wait_ms. */
static int take_verified(struct dr_export_run *run, int wait_ms, char *err, size_t errlen)
{
	struct dr_verify_job j;
	if (dr_verifier_collect(run->v, &j, wait_ms) != 1)
		return 1;
	return verified(run, &j, err, errlen);
}

static int step_handoff(struct dr_export_run *run, char *err, size_t errlen)
{
	if (dr_verifier_full(run->v)) {
		int r = take_verified(run, DR_EXPORT_WAIT_MS, err, errlen);
		if (r < 0 || run->phase != PH_HANDOFF)
			return r;
		if (dr_verifier_full(run->v)) {
			run->p.waited = true;
			return r;
		}
	}
	int r = dr_verifier_submit(run->v, &run->hand);
	if (r < 0)
		return r;
	run->hand.fd = -1; /* the verifier's now */
	run->phase = PH_NEXT;
	return 1;
}

static int step_drain(struct dr_export_run *run, char *err, size_t errlen)
{
	if (dr_verifier_busy(run->v)) {
		int r = take_verified(run, DR_EXPORT_WAIT_MS, err, errlen);
		if (r < 0 || run->phase != PH_DRAIN)
			return r;
		if (dr_verifier_busy(run->v)) {
			run->p.waited = true;
			return r;
		}
	}
	/* a file read back wrong may have gone back on the queue */
	run->phase = !run->p.stick_full && run->qhead < run->qlen ? PH_NEXT : PH_MANIFEST;
	return 1;
}

static bool listed(const struct dr_export_run *run, const char *name)
{
	for (size_t i = 0; i < run->n; i++) {
		if (!run->ok[i])
			continue;
		char fin[64], tmp[64];
		names(&run->recs[i], fin, tmp);
		if (!strcmp(fin, name))
			return true;
	}
	return false;
}

/* Removes what the new manifest does not list: leftovers of a cut, and the
 * copies of recordings the box no longer holds (confirmed, withdrawn). A
 * held recording that failed this run keeps an old copy, if any. */
static void clean_stale(struct dr_export_run *run)
{
	int fd = openat(run->devfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *nm = de->d_name;
		size_t l = strlen(nm);
		bool opus = (l == DR_STICK_ID_HEX + 12 &&
			     !strcmp(nm + DR_STICK_ID_HEX, ".opus.sealed")) ||
			    (l == DR_STICK_ID_HEX + 11 &&
			     !strcmp(nm + DR_STICK_ID_HEX, ".mkv.sealed"));
		bool tmp = l > 4 && !strcmp(nm + l - 4, ".tmp");
		/* a playable copy a version-1 box left: never kept on a stick */
		bool plain = l == DR_STICK_ID_HEX + 5 && !strcmp(nm + DR_STICK_ID_HEX, ".opus");
		if (!opus && !tmp && !plain)
			continue;
		if (opus && listed(run, nm))
			continue;
		if (opus) {
			char id[DR_STICK_ID_HEX + 1];
			memcpy(id, nm, DR_STICK_ID_HEX);
			id[DR_STICK_ID_HEX] = '\0';
			bool held = false;
			for (size_t i = 0; i < run->n; i++)
				held = held || !strcmp(run->recs[i].rec.id, id);
			if (held)
				continue;
		}
		unlinkat(run->devfd, nm, 0);
	}
	closedir(d);
	fsync(run->devfd);
}

int dr_export_step(struct dr_export_run *run, struct dr_export_progress *p, char *err,
		   size_t errlen)
{
	if (!run)
		return -EINVAL;
	if (err && errlen)
		err[0] = '\0';
	int r = 1;
	run->p.waited = false;
	/* a verification finished meanwhile: counted now */
	if (run->phase < PH_MANIFEST && run->phase != PH_HANDOFF && run->phase != PH_DRAIN)
		r = take_verified(run, 0, err, errlen);
	if (r < 0)
		goto out;
	switch (run->phase) {
	case PH_NEXT:
		r = step_next(run);
		break;
	case PH_COPY:
		r = step_copy(run);
		break;
	case PH_HANDOFF:
		r = step_handoff(run, err, errlen);
		break;
	case PH_DRAIN:
		r = step_drain(run, err, errlen);
		break;
	case PH_MANIFEST:
		r = dr_export_write_manifest(run->x, run->k, run->devfd, run->recs, run->ok, run->n,
					     &run->p, err, errlen);
		if (r == 0) {
			clean_stale(run);
			run->phase = PH_DONE;
		} else {
			run->phase = PH_FAILED;
		}
		break;
	case PH_DONE:
		r = 0;
		break;
	default:
		r = dr_export_fail(err, errlen, -EIO, "export: the run has failed");
		break;
	}
out:
	if (r < 0 && run->phase == PH_FAILED && err && errlen && !err[0])
		dr_export_fail(err, errlen, r, "export: the stick failed: %s", strerror(-r));
	if (p) {
		*p = run->p;
		p->bytes_done += dr_verifier_progress(run->v);
	}
	return r;
}
