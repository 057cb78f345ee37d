/* SPDX-License-Identifier: MIT */
/*
 * What a recording holds (sound only, or sound and picture) and the name
 * of its file, which follows from it:
 *   <data>/recordings/<id>.opus.sealed  audio (Ogg Opus)
 *   <data>/recordings/<id>.mkv.sealed   video (Matroska)
 *   <data>/recordings/<id>.opus         audio from before sealing
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store_priv.h"

const char *dr_media_name(enum dr_media m)
{
	return m == DR_MEDIA_VIDEO ? "video" : "audio";
}

const char *dr_media_ext(enum dr_media m)
{
	return m == DR_MEDIA_VIDEO ? ".mkv" : ".opus";
}

int dr_media_parse(const char *name, enum dr_media *m)
{
	if (name && strcmp(name, "audio") == 0)
		*m = DR_MEDIA_AUDIO;
	else if (name && strcmp(name, "video") == 0)
		*m = DR_MEDIA_VIDEO;
	else
		return -EIO;
	return 0;
}

/* The media type the catalogue gives a recording; audio if it has no row
 * (yet) or cannot be read. */
static enum dr_media dr_store_media_of(const struct dr_store *s, const char *id)
{
	sqlite3_stmt *st;
	enum dr_media m = DR_MEDIA_AUDIO;
	if (sqlite3_prepare_v2(s->db, "SELECT media FROM recordings WHERE id = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return m;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    dr_media_parse((const char *)sqlite3_column_text(st, 0), &m) < 0)
		m = DR_MEDIA_AUDIO;
	sqlite3_finalize(st);
	return m;
}

/* <dir>/recordings/<id><ext>.sealed, ext by the media type (or a plain
 * <id>.opus from before sealing, if that is what there is) */
int dr_store_rec_path_media(const struct dr_store *s, const char *id, enum dr_media media,
				   const char *suffix, char *path, size_t pathlen)
{
	int n;
	if (media == DR_MEDIA_AUDIO) {
		n = snprintf(path, pathlen, "%s/" DR_STORE_RECDIR "/%s" DR_STORE_EXT_PLAIN "%s",
			     s->dir, id, suffix);
		if (n < 0 || (size_t)n >= pathlen)
			return -ENAMETOOLONG;
		struct stat st;
		if (!suffix[0] && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			return 0; /* a plain recording from before sealing */
	}
	n = snprintf(path, pathlen, "%s/" DR_STORE_RECDIR "/%s%s" DR_STORE_EXT_SEALED "%s", s->dir,
		     id, dr_media_ext(media), suffix);
	return n < 0 || (size_t)n >= pathlen ? -ENAMETOOLONG : 0;
}

int dr_store_rec_path(const struct dr_store *s, const char *id, const char *suffix,
			     char *path, size_t pathlen)
{
	return dr_store_rec_path_media(s, id, dr_store_media_of(s, id), suffix, path, pathlen);
}

