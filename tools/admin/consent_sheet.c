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

struct sheet_ctx {
	FILE *f;
	const char *box;
	char dir[4200];
};

static int sheet_row(void *ctx, const struct adm_rec *r)
{
	struct sheet_ctx *c = ctx;
	FILE *f = c->f;
	char dur[32];
	adm_fmt(dur, sizeof(dur), "%.1f", r->duration_ms / 1000.0);
	csv_field(f, c->box, false);
	csv_field(f, r->id, false);
	csv_field(f, r->receipt, false);
	csv_field(f, r->start_utc, false);
	csv_field(f, dur, false);
	csv_field(f, r->consent_staff, false);
	csv_field(f, r->consent_share, false);
	csv_field(f, r->locked ? "yes" : "no", false);
	csv_field(f, r->time_uncertain ? "yes" : "no", false);
	csv_field(f, r->status, false);
	csv_field(f, r->collected_utc, false);
	csv_field(f, r->blake2b, false);
	/* what the archive folder holds: playable, or sealed (locked: opens
	 * only with diaryroom-admin unlock) */
	char pp[4300], ps[4300];
	form_path(pp, sizeof(pp), c->dir, r->id, r->media, false);
	form_path(ps, sizeof(ps), c->dir, r->id, r->media, true);
	const char *stored = !strcmp(r->status, "withdrawn") ? "deleted"
			     : !strcmp(r->status, "expired") ? "expired"
			     : access(pp, F_OK) == 0	      ? "playable"
			     : access(ps, F_OK) == 0	      ? "sealed"
							      : "missing";
	csv_field(f, stored, true);
	return ferror(f) ? -EIO : 0;
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
	for (size_t bi = 0; bi < bx.n && !bad; bi++) {
		/* one box's rows at a time, straight from the catalogue (its
		 * (box, id) key): no working copy of the box, no full scan */
		struct sheet_ctx c = {.f = f, .box = bx.v[bi]};
		bad = adm_archive_path(c.dir, sizeof(c.dir), archive, c.box, NULL, NULL, NULL) < 0 ||
		      cat->ops->rec_each(cat, &(struct adm_query){.box = c.box}, sheet_row, &c) != 0;
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
