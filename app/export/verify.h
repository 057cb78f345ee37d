/* SPDX-License-Identifier: MIT */
/*
 * dr_verifier: the export's verifier threads (see verify.c). Each finishes
 * one copy on the stick at a time (sync, read back from the device, BLAKE2b
 * against the catalogue, rename, sync the name) while the event loop's
 * thread writes the next, so the stick reads and the hash overlap the next
 * file's writes.
 * Internal to dr_export.
 *
 * Every function is called from the thread that started the verifier (the
 * event loop's); the worker thread only runs the job it was given.
 */
#ifndef DR_EXPORT_VERIFY_H
#define DR_EXPORT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dr_verify_job {
	size_t idx;       /* the caller's: which recording */
	bool check;       /* a copy found on the stick (name is the final name) */
	int fd;           /* the copy just written, to sync first; -1 for none. The
			   * verifier owns it from submit on (closes it, also on failure) */
	int dirfd;        /* borrowed: the folder of name and fin */
	char name[64];    /* read back */
	char fin[64];     /* renamed to this (and synced) if it matches; "" for none */
	char want[65];    /* the catalogue's BLAKE2b-256, lowercase hex */
	/* in: the worker to run it (0..threads-1), -1 for any; out: the worker
	 * that ran it. A retry goes back to the worker that read the copy
	 * wrong, so a fault injector that counts per thread (strace's when=,
	 * test_stick_readback) sees the retry as that copy's second read. */
	int worker;
	/* the outcome, in the job dr_verifier_collect returns: */
	int rc;           /* 1 matched (renamed and synced), 0 read back wrong, -errno */
	uint64_t bytes;   /* bytes read back */
};

struct dr_verifier;

/* name in dirfd, opened for reading without following a link, checked to
 * be a regular file, its cached pages dropped and O_DIRECT set where the
 * filesystem takes it, so that reading it reads the stick. The fd or
 * -errno; *size gets its size. Any thread. */
int dr_export_open_back(int dirfd, const char *name, uint64_t *size);

#define DR_VERIFIER_MAX 4

/* Starts `threads` worker threads (1..DR_VERIFIER_MAX, every signal blocked
 * in them), each taking one job at a time. -errno on failure. */
int dr_verifier_start(unsigned threads, struct dr_verifier **out);
/* Stops the jobs under way (at their next chunk), joins the threads, closes
 * the fd of a job that was never started. Accepts NULL. */
void dr_verifier_stop(struct dr_verifier *v);
/* True while a job is submitted and not yet collected. */
bool dr_verifier_busy(const struct dr_verifier *v);
/* True while every worker has a job (submit would say -EBUSY). */
bool dr_verifier_full(const struct dr_verifier *v);
/* Hands a job over: -EBUSY when full (job->fd then stays the caller's). */
int dr_verifier_submit(struct dr_verifier *v, const struct dr_verify_job *job);
/* A finished job, waiting at most wait_ms for one: 1 with its outcome in
 * *out (its worker is then free), 0 if none has finished. Jobs finish in
 * any order. */
int dr_verifier_collect(struct dr_verifier *v, struct dr_verify_job *out, int wait_ms);
/* Bytes read back so far by the jobs in flight (for progress). */
uint64_t dr_verifier_progress(const struct dr_verifier *v);

#endif
