/* SPDX-License-Identifier: MIT */
/*
 * Matroska (RFC 9559) in live mode: a container (container.h) for sound and
 * picture, written as it is recorded so a cut file plays to its last
 * complete Cluster.
 *
 * Layout: EBML header (DocType "matroska", DocTypeVersion 4,
 * DocTypeReadVersion 2); a Segment of unknown size holding Info
 * (TimestampScale 1 ms, MuxingApp, WritingApp), Tracks, then Clusters of
 * unknown size, one per durable flush, of SimpleBlocks (key flag set from
 * the packet). No SeekHead, Cues or Duration: nothing is ever rewritten.
 * The Opus track carries OpusHead as CodecPrivate, CodecDelay (pre-skip)
 * and SeekPreRoll in ns, and its last packet's trimmed padding as
 * DiscardPadding (in a BlockGroup), so the decoded length is exact.
 *
 * Cluster timestamps are the earliest block in the cluster, so tracks may
 * arrive a little out of order between them within a flush interval.
 * A cluster is written whole in one sink write at a flush (or, without a
 * sync, when it reaches 8 MiB or 30 s, so a caller that never flushes still
 * gets a valid file).
 *
 * Headers (EBML, Info, Tracks) are written with the first flush or packet;
 * add every track before that.
 */
#ifndef DR_MKV_H
#define DR_MKV_H

#include <stdbool.h>
#include <stdint.h>

#include "container.h"

struct dr_mkv_params {
	const char *app;   /* MuxingApp and WritingApp; NULL: "diaryroom" */
	uint64_t uid_seed; /* TrackUIDs are derived from it (any value) */
};

/* The sink is owned from here on, also on failure (closed). */
int dr_mkv_new(struct dr_sink sink, const struct dr_mkv_params *p, struct dr_container *out);

/* ---- reading back: the scanner behind the repair ---- */

/* Reads up to len bytes at off; returns the bytes read (fewer only at the
 * end of the file) or -errno. */
typedef long (*dr_mkv_read_fn)(void *user, uint64_t off, void *buf, size_t len);

struct dr_mkv_scan {
	bool was_complete;   /* nothing cut off: the file ends where an element does */
	uint64_t keep;       /* bytes that make a valid file (headers + whole clusters) */
	uint64_t clusters;   /* clusters kept */
	uint64_t blocks;     /* blocks in them */
	int64_t last_ts_ms;  /* latest block timestamp kept (ms), -1 if none */
};

/*
 * Walks a Matroska file of `size` bytes element by element (reading only
 * element headers and block headers) and finds how much of it is intact:
 * the EBML header, Info and Tracks must be whole (else -EINVAL: nothing to
 * keep); a Cluster is kept when all of its children are whole and known;
 * the first damaged or cut Cluster and everything after it is not.
 * Any bytes may be given; it never reads outside [0, size).
 */
int dr_mkv_scan(dr_mkv_read_fn read, void *user, uint64_t size, struct dr_mkv_scan *out);

struct dr_mkv_repair_result {
	bool was_complete;      /* nothing to cut: untouched */
	uint64_t bytes;         /* file size after repair */
	uint64_t dropped_bytes; /* cut-off tail removed */
	int64_t last_ts_ms;     /* latest block timestamp kept, -1 if none */
};

/*
 * Truncates a Matroska file cut off by a crash, a power failure or a full
 * disk to its last complete Cluster, in place (no free space needed), and
 * fdatasyncs it. Applies to plaintext; a sealed file is repaired by
 * app/seal at message boundaries, which coincide with Clusters.
 * Errors: -ENOENT, -EINVAL (not Matroska, or its headers are not whole:
 * the file is left alone), other -errno from I/O.
 */
int dr_mkv_repair(const char *path, struct dr_mkv_repair_result *res);

#endif
