/* SPDX-License-Identifier: MIT */
/* The one openh264 table (see openh264_lib.h). */
#include "openh264_lib.h"

#include <errno.h>

#include "util/dynlib.h"

/* Bookworm's soname (libopenh264-7). */
#ifndef DR_OPENH264_SONAME
#define DR_OPENH264_SONAME "libopenh264.so.7"
#endif

__typeof__(WelsCreateSVCEncoder) *dr_oh_create;
__typeof__(WelsDestroySVCEncoder) *dr_oh_destroy;
static const struct dr_dynsym oh_syms[] = {
	{"WelsCreateSVCEncoder", (void **)&dr_oh_create},
	{"WelsDestroySVCEncoder", (void **)&dr_oh_destroy},
};
static struct dr_dynlib oh_lib = DR_DYNLIB_INIT(DR_OPENH264_SONAME, oh_syms);

int dr_openh264_load(void)
{
	int r = dr_dynlib_load(&oh_lib);
	return r == -ENOENT ? -ENOTSUP : r;
}
