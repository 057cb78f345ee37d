/* SPDX-License-Identifier: MIT */
/*
 * dr_sink: where encoded bytes go. Like libopusenc's callbacks: the encoder
 * writes through this struct, so a durable file, a memory buffer, a test sink
 * that stalls, or the sealing layer (app/seal/seal.h) can sit behind it.
 *
 * All callbacks return 0 or a negative errno.
 */
#ifndef DR_SINK_H
#define DR_SINK_H

#include <stddef.h>
#include <stdint.h>

struct dr_sink_ops {
	/* Append len bytes. Must write all of them or fail. */
	int (*write)(void *user, const unsigned char *buf, size_t len);
	/* Make everything written so far durable (fdatasync for a file). */
	int (*sync)(void *user);
	/* Flush, sync and release. Called exactly once; user is invalid after. */
	int (*close)(void *user);
	/* Optional (NULL: not interested): the media position, in 48 kHz
	 * samples, that everything written so far reaches (what the file would
	 * decode to if it ended here). Called by the encoder just before each
	 * sync. The sealing sink (app/seal) records it
	 * in clear beside each sealed message, so the box can tell how much a
	 * repaired file holds without the key. */
	int (*position)(void *user, uint64_t samples);
};

struct dr_sink {
	const struct dr_sink_ops *ops;
	void *user;
};

/* Counters a file sink keeps (for benchmarks and tests). */
struct dr_sink_stats {
	uint64_t bytes;  /* bytes written */
	uint64_t writes; /* write(2) calls */
	uint64_t syncs;  /* fdatasync(2) calls */
};

/*
 * The durable file sink: creates `path` with O_CREAT|O_EXCL|O_CLOEXEC (mode
 * 0640), fsyncs the containing directory so the new name survives a power
 * cut, writes with write(2) retrying on EINTR/short writes, and syncs with
 * fdatasync. `stats` (may be NULL) is updated as it goes and must outlive
 * the sink. On success *out is ready to use; close() frees it.
 */
int dr_file_sink_open(const char *path, struct dr_sink_stats *stats, struct dr_sink *out);

/* fsync() the folder holding `path`, so that creating, renaming or removing
 * that name survives a power cut. 0 or -errno. */
int dr_sync_parent_dir(const char *path);
/* The folder holding `path` ("." for a bare name, "/" for "/x") into dir
 * (dirlen bytes). -ENAMETOOLONG if it does not fit. */
int dr_parent_dir(const char *path, char *dir, size_t dirlen);

/* If `sink` is a file sink, also count into `watcher` from now on
 * (as well as into the `stats` given at open); watcher must outlive the
 * sink. -EINVAL if it is some other sink. The recorder uses this to report
 * the counters of whatever file sink it was handed. */
int dr_file_sink_watch_stats(struct dr_sink sink, struct dr_sink_stats *watcher);

#endif
