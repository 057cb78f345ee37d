/* SPDX-License-Identifier: MIT */
/*
 * dr_dynlib: a library loaded (dlopen) the first time it is needed, so a
 * box that never uses it never maps it. The video libraries (libv4l2 for
 * the camera, openh264 for raw frames) are loaded this way: a sound-only
 * box keeps its memory goal (BENCHMARKS.md) and does not need them
 * installed at all.
 *
 * A dr_dynlib is a static object of the module that uses the library:
 *
 *   static int (*p_open)(const char *);
 *   static const struct dr_dynsym syms[] = {{"lib_open", (void **)&p_open}};
 *   static struct dr_dynlib lib = DR_DYNLIB_INIT("libfoo.so.1", syms);
 *   ...
 *   int r = dr_dynlib_load(&lib);   (0: every pointer set)
 *
 * Any thread may call dr_dynlib_load; the library is loaded once per
 * process (RTLD_NOW | RTLD_LOCAL) and stays loaded. The pointers are set
 * only when every symbol was found.
 */
#ifndef DR_DYNLIB_H
#define DR_DYNLIB_H

#include <stdbool.h>
#include <stddef.h>

struct dr_dynsym {
	const char *name;
	void **fn;
};

struct dr_dynlib {
	const char *soname;
	const struct dr_dynsym *syms;
	size_t n;
	bool tried; /* guarded by dynlib.c's lock */
	int status;
};

#define DR_DYNLIB_INIT(so, tab) {.soname = (so), .syms = (tab), .n = sizeof(tab) / sizeof((tab)[0])}

/* 0; -ENOENT: the library is not installed (or cannot be loaded);
 * -ENOSYS: it lacks one of the symbols. The same answer every call. */
int dr_dynlib_load(struct dr_dynlib *lib);

#endif
