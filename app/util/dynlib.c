/* SPDX-License-Identifier: MIT */
#include "dynlib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

static pthread_mutex_t dynlib_lock = PTHREAD_MUTEX_INITIALIZER;

static int dynlib_open(struct dr_dynlib *lib)
{
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -ENOENT;
	void *found[16];
	if (lib->n > sizeof(found) / sizeof(found[0]))
		goto fail_close;
	for (size_t i = 0; i < lib->n; i++) {
		found[i] = dlsym(h, lib->syms[i].name);
		if (!found[i])
			goto fail_close;
	}
	for (size_t i = 0; i < lib->n; i++)
		*lib->syms[i].fn = found[i];
	return 0; /* the handle stays open for the process's life */

fail_close:
	dlclose(h);
	return -ENOSYS;
}

int dr_dynlib_load(struct dr_dynlib *lib)
{
	pthread_mutex_lock(&dynlib_lock);
	if (!lib->tried) {
		lib->status = dynlib_open(lib);
		lib->tried = true;
	}
	int r = lib->status;
	pthread_mutex_unlock(&dynlib_lock);
	return r;
}
