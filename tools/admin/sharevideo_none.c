/* SPDX-License-Identifier: MIT */
/* Without FFmpeg's libraries (the box's arm64 build) a video's sound cannot be
 * read: say so (sharevideo.h). */
#include <errno.h>
#include <stdio.h>

#include "sharevideo.h"

int adm_sharevideo_sound(const uint8_t *webm, size_t len, float **pcm, size_t *n, char *why,
			 size_t whylen)
{
	(void)webm;
	(void)len;
	*pcm = NULL;
	*n = 0;
	if (why && whylen)
		snprintf(why, whylen, "this diaryroom-admin was built without FFmpeg's libraries: it "
				      "cannot take the sound from a video (use the office PC's build)");
	return -ENOTSUP;
}
