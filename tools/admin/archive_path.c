/* SPDX-License-Identifier: MIT */
/*
 * The one place a name that came from outside (a stick, a manifest, an old
 * index.json, a catalogue row) becomes a path in the archive. A box id is 16
 * lowercase hex and a recording id 32; a file name is derived from the id
 * and the media type, never taken from outside as given. Nothing else in
 * tools/admin joins a path from such a name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"

static bool hex_ok(const char *s, size_t n)
{
	if (!s || strnlen(s, n + 1) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool adm_box_ok(const char *box)
{
	return hex_ok(box, ADM_BOX_HEX);
}

bool adm_rec_id_ok(const char *id)
{
	return hex_ok(id, ADM_REC_HEX);
}

int adm_archive_file_name(char *out, size_t n, const char *id, const char *media,
			  const char *kind)
{
	bool video = media && !strcmp(media, "video");
	const char *ext = media && !strcmp(media, "audio") ? "opus" : video ? "mkv" : NULL;
	/* the playable form: sound as opened (Ogg Opus); a video's is the
	 * browser copy (WebM), made from the opened Matroska */
	const char *play = video ? "webm" : ext;
	const char *base = ext, *tail = NULL;
	if (!kind)
		return -EINVAL;
	if (!strcmp(kind, "sealed"))
		tail = ".sealed";
	else if (!strcmp(kind, "tmp-sealed"))
		tail = ".sealed.tmp";
	else if (!strcmp(kind, "playable"))
		base = play, tail = "";
	else if (!strcmp(kind, "tmp-playable"))
		base = play, tail = ".tmp";
	else if (!strcmp(kind, "opened"))
		tail = "";
	else if (!strcmp(kind, "tmp-opened"))
		tail = ".tmp";
	if (!adm_rec_id_ok(id) || !base || !tail)
		return -EINVAL;
	int k = snprintf(out, n, "%s.%s%s", id, base, tail);
	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

int adm_archive_path(char *out, size_t n, const char *archive, const char *box, const char *id,
		     const char *media, const char *kind)
{
	char name[64];
	if (!adm_box_ok(box))
		return -EINVAL;
	int k;
	if (!id) {
		k = archive ? snprintf(out, n, "%s/%s", archive, box) : snprintf(out, n, "%s", box);
	} else {
		int r = adm_archive_file_name(name, sizeof(name), id, media, kind);
		if (r < 0)
			return r;
		k = archive ? snprintf(out, n, "%s/%s/%s", archive, box, name)
			    : snprintf(out, n, "%s/%s", box, name);
	}
	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

int adm_open_regular_at(int dirfd, const char *rel, int *fd, uint64_t *size)
{
	*fd = -1;
	int f = openat(dirfd, rel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (f < 0)
		return errno == ELOOP ? -EINVAL : -errno;
	struct stat st;
	if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return -EINVAL;
	}
	int fl = fcntl(f, F_GETFL);
	if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int r = -errno;
		close(f);
		return r;
	}
	if (size)
		*size = (uint64_t)st.st_size;
	*fd = f;
	return 0;
}
