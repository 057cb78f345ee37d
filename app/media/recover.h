/* SPDX-License-Identifier: MIT */
/*
 * dr_recover: repair an Ogg Opus file cut off by a crash or power failure.
 *
 * Reads the file with libogg (which checks every page's CRC), keeps every
 * complete packet of the intact pages up to the first damaged or missing
 * page, and writes them again with correct granule positions and an
 * end-of-stream page to "<path>.repair", fdatasyncs it and renames it over
 * the original (atomic: a cut during repair leaves either the old or the new
 * file, both of which recover again). A file that already ends in a valid
 * end-of-stream page is left untouched.
 *
 * Errors: -ENOENT, -EINVAL when not even the two headers are intact (nothing
 * to keep; the caller decides), other -errno from I/O.
 */
#ifndef DR_RECOVER_H
#define DR_RECOVER_H

#include <stdbool.h>
#include <stdint.h>

struct dr_recover_result {
	bool was_complete;     /* already had a valid EOS page: untouched */
	uint64_t samples;      /* 48 kHz samples decodable after repair (pre-skip removed) */
	uint64_t bytes;        /* file size after repair */
	uint64_t dropped_bytes; /* bytes of damaged tail removed */
};

int dr_recover_file(const char *path, struct dr_recover_result *res);

/* Decoded length in 48 kHz samples of a complete Ogg Opus file (from its last
 * granule position minus pre-skip), or -errno. */
int dr_oggopus_probe(const char *path, uint64_t *samples);

#endif
