/* SPDX-License-Identifier: MIT */
/* Kept manifests (archive_keep.c) and repair (archive_repair.c). */
#ifndef DR_ADMIN_ARCHIVE_KEEP_H
#define DR_ADMIN_ARCHIVE_KEEP_H

#include <stddef.h>
#include <stdint.h>

/* Writes <box>/manifests/<seq>.json and .sig in the archive folder
 * archive_fd (atomically, 0600, fsynced). 0 or -errno. */
int adm_keep_manifest(int archive_fd, const char *box, int64_t seq, const void *json,
		      size_t json_len, const void *sig, size_t sig_len);

#endif
