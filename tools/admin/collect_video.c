/* SPDX-License-Identifier: MIT */
/*
 * A video recording's playable form in the archive: the browser copy
 * (collect and unlock; docs/video.md, "The office PC").
 *
 * The archive keeps a video as its box sealed it (<id>.mkv.sealed, the
 * evidence, as for sound) and, only if staff may watch it, <id>.webm, the
 * copy every browser plays (webcopy.h: VP8 and the Opus packets as
 * recorded). The opened Matroska between the two (<id>.mkv.tmp) is never
 * kept: it is removed once the copy is made or has failed, and by
 * forms_tidy if a killed run left it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "admin.h"
#include "collect_priv.h"
#include "media/mkv.h"
#include "webcopy.h"

int open_video(const struct adm_org *org, const char *dir, const char *id,
	       struct json_object *rec)
{
	char src[4200], opened[4200], dst[4200], hex[65], why[256] = "";
	form_path(src, sizeof(src), dir, id, "video", true);
	form_path_kind(opened, sizeof(opened), dir, id, "video", "tmp-opened");
	form_path(dst, sizeof(dst), dir, id, "video", false);
	bool final = false;
	int r = open_sealed_into(org, src, id, opened, &final, why, sizeof(why));
	why[0] = '\0'; /* forms_make says what an open that failed means */
	if (r == 0 && !final) {
		/* the box was cut off: its last whole cluster is where it ends */
		struct dr_mkv_repair_result mr;
		r = dr_mkv_repair(opened, &mr);
		if (r == -EINVAL)
			r = -ENODATA; /* not even the Matroska headers: nothing to play */
	}
	if (r == 0 && (r = adm_webcopy(opened, dst, why, sizeof(why))) < 0)
		fprintf(stderr, "collect: recording %s: the browser copy of the video could not be "
				"made: %s%s\n",
			id, why,
			r == -ENOTSUP ? " (this diaryroom-admin was built without FFmpeg's libraries; "
					"the sealed original is kept)"
				      : "");
	unlink(opened);
	uint64_t bsize = 0;
	if (r == 0 && hash_path(dst, hex, &bsize) < 0)
		r = -EIO;
	if (r < 0) {
		unlink(dst);
		adm_fsync_dir_of(dst);
		return r;
	}
	json_object_object_add(rec, "playable_blake2b", json_object_new_string(hex));
	return adm_fsync_dir_of(dst);
}
