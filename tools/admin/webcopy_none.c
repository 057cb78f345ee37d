/* SPDX-License-Identifier: MIT */
/* adm_webcopy where FFmpeg's libraries are not installed (the box's build):
 * it cannot (webcopy.h). */
#include <errno.h>
#include <stdio.h>

#include "webcopy.h"

int adm_webcopy(const char *in_path, const char *out_path, char *why, size_t whylen)
{
	(void)in_path;
	(void)out_path;
	if (why && whylen)
		snprintf(why, whylen, "this diaryroom-admin was built without FFmpeg's libraries: "
				      "no browser copy");
	return -ENOTSUP;
}
