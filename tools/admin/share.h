/* SPDX-License-Identifier: MIT */
/*
 * Share copies (docs/staff-page.md, "Share copies"): for a recording whose
 * resident said it may be shared, a podcast-ready copy (sharecopy.h) in the
 * archive's shares folder, audited with the staff member's name. Used by
 * the staff page (serve_share.c) and `diaryroom-admin share`.
 *
 * Only a recording that is archived (not withdrawn or expired), not
 * locked, "may share: yes", with its playable copy present and matching
 * the hash it was made with gets one; anything else is refused (-EPERM) and
 * nothing is written. A video's copy is its sound only, taken from its WebM
 * copy (sharevideo.h; -ENOTSUP on a build without FFmpeg).
 *
 * Threads: one call at a time per archive context.
 */
#ifndef DR_ADMIN_SHARE_H
#define DR_ADMIN_SHARE_H

#include <stdbool.h>
#include <stddef.h>

#include "archive.h"

#define ADM_SHARES_DIR "shares"

/* The one place a share copy's name is made, from a box id and a
 * recording id checked as adm_archive_path checks them:
 * "shares/<box>-<id>.opus", "...-disguised.opus", each with ".tmp" while
 * it is written. -EINVAL for a bad id. */
int adm_share_path(char *out, size_t n, const char *box, const char *id, bool disguised,
		   bool tmp);

struct adm_share_result {
	char rel[128]; /* the copy, relative to the archive folder */
	char receipt[5];
	double lufs;
	bool video; /* the copy is a video's sound only */
};

/* Makes the copy of (box, id) in the archive a (opened by the caller; its
 * folder's fd is a->dirfd), audited as action "share" with actor staff
 * (NULL: the OS user) before it is in place (a copy that could not be
 * audited is not kept). An existing copy is replaced. 0, or a negative
 * errno with why for people: -ENOENT no such recording, -EPERM not to be
 * shared (why says which rule), -EBADMSG playable copy altered or damaged,
 * -ENODATA silent. */
int adm_share_make(struct adm_archive *a, const char *box, const char *id, bool disguise,
		   const char *staff, struct adm_share_result *res, char *why, size_t whylen);

/* `diaryroom-admin share --archive DIR --receipt NNNN [--box ID]
 * [--disguise] [--staff NAME]`: argv[1] is "share". Exit code. */
int adm_share_main(int argc, char **argv);

#endif
