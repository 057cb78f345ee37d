/* SPDX-License-Identifier: MIT */
/*
 * The consent sheet (consent.csv), generated from the committed catalogue
 * after every collect and unlock: 0600, temporary file, fsync, rename,
 * folder fsync; never read back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "admin.h"
#include "archive.h"
#include "archive_index.h"
#include "archive_keep.h"
#include "audit.h"
#include "collect_priv.h"
#include "media/recover.h"
#include "seal/seal.h"


/* ---- the consent sheet ---- */

void csv_field(FILE *f, const char *s, bool last)
{
	/* quoted; a leading = + - @ would be a formula in a spreadsheet */
	fputc('"', f);
	if (*s == '=' || *s == '+' || *s == '-' || *s == '@')
		fputc('\'', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
	fputs(last ? "\r\n" : ",", f);
}

int write_consent_sheet(const char *archive)
{
	char p[4200], tmp[4300];
	adm_fmt(p, sizeof(p), "%s/consent.csv", archive);
	adm_fmt(tmp, sizeof(tmp), "%s.tmp", p);
	struct boxes bx;
	if (cat_boxes(&bx) < 0)
		return -EBADMSG;
	/* 0600 whatever the umask or the folder's mode */
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 && fchmod(fd, 0600) == 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		free(bx.v);
		return r;
	}
	fputs("box,recording,receipt,start_utc,duration_s,staff_may_listen,may_share,locked,"
	      "time_uncertain,status,collected_utc,blake2b,stored\r\n", f);
	bool bad = false;
	for (size_t bi = 0; bi < bx.n; bi++) {
		const char *box = bx.v[bi];
		char dir[4200];
		struct json_object *idx = index_load(NULL, box);
		struct json_object *recs = member(idx, "recordings", json_type_object);
		bad = bad || !idx ||
		      adm_archive_path(dir, sizeof(dir), archive, box, NULL, NULL, NULL) < 0;
		if (recs && !bad) {
			json_object_object_foreach(recs, id, r)
			{
				char dur[32];
				struct json_object *dv = member(r, "duration_ms", json_type_int);
				adm_fmt(dur, sizeof(dur), "%.1f", dv ? json_object_get_int64(dv) / 1000.0 : 0.0);
				struct json_object *lk = member(r, "locked", json_type_boolean);
				struct json_object *tu = member(r, "time_uncertain", json_type_boolean);
				csv_field(f, box, false);
				csv_field(f, id, false);
				csv_field(f, str_of(r, "receipt"), false);
				csv_field(f, str_of(r, "start_utc"), false);
				csv_field(f, dur, false);
				csv_field(f, str_of(r, "consent_staff"), false);
				csv_field(f, str_of(r, "consent_share"), false);
				csv_field(f, lk && json_object_get_boolean(lk) ? "yes" : "no", false);
				csv_field(f, tu && json_object_get_boolean(tu) ? "yes" : "no", false);
				csv_field(f, str_of(r, "status"), false);
				csv_field(f, str_of(r, "collected_utc"), false);
				csv_field(f, str_of(r, "blake2b"), false);
				/* what the archive folder holds: playable, or sealed
				 * (locked: opens only with diaryroom-admin unlock) */
				char pp[4300], ps[4300];
				form_path(pp, sizeof(pp), dir, id, false);
				form_path(ps, sizeof(ps), dir, id, true);
				const char *stored = !strcmp(str_of(r, "status"), "withdrawn") ? "deleted"
						     : !strcmp(str_of(r, "status"), "expired")	 ? "expired"
						     : access(pp, F_OK) == 0			 ? "playable"
						     : access(ps, F_OK) == 0			 ? "sealed"
												 : "missing";
				csv_field(f, stored, true);
			}
		}
		json_object_put(idx);
	}
	free(bx.v);
	int r = bad ? -EBADMSG : fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, p) < 0)
		r = -errno;
	if (r == 0)
		r = adm_fsync_dir_of(p);
	if (r < 0)
		unlink(tmp);
	return r;
}
