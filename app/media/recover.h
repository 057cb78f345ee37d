/* SPDX-License-Identifier: MIT */
/*
 * dr_recover: repair an Ogg Opus file cut off by a crash, a power failure or
 * a full disk.
 *
 * Reads the file with libogg (which checks every page's CRC) and keeps every
 * complete, valid Opus packet of the intact pages up to the first damaged or
 * missing page. A file that already ends in a valid end-of-stream page is
 * left untouched.
 *
 * The repair is done IN PLACE whenever the file is laid out as RFC 7845 asks
 * and our writer makes it (headers on pages of their own, page granule
 * positions matching the packets): the page the last kept packet ends on is
 * rewritten at its own offset, no longer than before (a trailing part of a
 * packet continued on a lost page is cut off it, the end-of-stream flag set,
 * the granule position and CRC recomputed), the file truncated after it and
 * fdatasynced. That needs no free space at all, so a recording cut off by a
 * full disk is repaired on that full disk. It keeps exactly the packets a
 * copy would keep. A power cut during it leaves a file that recovers again
 * (at worst without the one page being rewritten, if that write is torn).
 * A file with nothing after its headers gets a tiny end-of-stream page
 * appended (a few bytes, normally inside the file's last block).
 *
 * Any other file (a foreign layout: header pages shared with audio,
 * granule positions that do not match the packets, ...) is re-muxed into
 * "<path>.repair" with correct granule positions, fdatasynced and renamed
 * over the original (atomic: a cut during repair leaves either the old or the
 * new file, both of which recover again). That needs room for a copy.
 *
 * Errors: -ENOENT, -EINVAL when not even the two headers are intact (nothing
 * to keep; the caller decides), -ENOSPC when a copy was needed and there is
 * no room for it, other -errno from I/O.
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
	bool in_place;         /* (added) repaired in place, not through a copy */
};

int dr_recover_file(const char *path, struct dr_recover_result *res);

/* (Added.) How to repair: AUTO is what dr_recover_file does (in place when
 * the layout allows, else a copy). IN_PLACE refuses (-ENOTSUP, file
 * untouched) a file that would need a copy; COPY always re-muxes through
 * "<path>.repair" (for tests and comparisons). */
enum dr_recover_mode {
	DR_RECOVER_AUTO,
	DR_RECOVER_IN_PLACE,
	DR_RECOVER_COPY,
};
int dr_recover_file_mode(const char *path, enum dr_recover_mode mode,
			 struct dr_recover_result *res);

/* Decoded length in 48 kHz samples of a complete Ogg Opus file (from its last
 * granule position minus pre-skip), or -errno. */
int dr_oggopus_probe(const char *path, uint64_t *samples);

/*
 * (Added.) Room kept for after a full disk. The repair above needs none, but
 * marking the recording in the SQLite catalogue does: on a 100 % full
 * filesystem SQLite can neither commit (its WAL must grow) nor even open a
 * catalogue (it must create its -shm and -wal files). So the daemon keeps a
 * reserve file in the data folder, made while there is plenty of room, and
 * deletes it when the disk has filled up, just before it repairs and
 * catalogues what was cut off.
 */
#define DR_RESERVE_NAME "space-reserve" /* in the data folder */
#define DR_RESERVE_BYTES (256u * 1024u)

/* Makes `path` a file of `bytes` allocated bytes (posix_fallocate), synced,
 * mode 0600, unless it is there already. It is only made while at least
 * twice `bytes` is free, so it never takes the last of the room. Returns 1
 * if made, 0 if it was already there or there is not room enough for it
 * (nothing left behind), -errno on other errors. */
int dr_reserve_make(const char *path, uint64_t bytes);
/* Deletes the reserve file (and syncs its folder) when the filesystem holding
 * it has less than `bytes` free (always when `bytes` is UINT64_MAX).
 * Returns 1 if it deleted one, 0 if there was none or room enough, -errno. */
int dr_reserve_release(const char *path, uint64_t bytes);

#endif
