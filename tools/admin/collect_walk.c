/* SPDX-License-Identifier: MIT */
/*
 * The walk of a staff stick collect makes before it reads anything signed:
 * <stick>/DR_STICK_TOP/export/<box id>/ , the boxes' folders found by name
 * (16 hex) and opened without following links. Needs no key; the fuzz
 * target admin_stick_walk runs it on folder trees made from its input.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect_priv.h"

void stick_walk_free(struct stick_walk *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->ndev; i++)
		if (w->devfd[i] >= 0)
			close(w->devfd[i]);
	free(w->devfd);
	free(w->why);
	free(w->devs);
	if (w->efd >= 0)
		close(w->efd);
	if (w->top >= 0)
		close(w->top);
	*w = (struct stick_walk){.top = -1, .efd = -1};
}

/* Adds box dev, with its folder opened (or why it was not), to w. */
static int walk_add(struct stick_walk *w, const char *dev)
{
	void *nd = realloc(w->devs, (w->ndev + 1) * sizeof(*w->devs));
	if (!nd)
		return -ENOMEM;
	w->devs = nd;
	nd = realloc(w->devfd, (w->ndev + 1) * sizeof(*w->devfd));
	if (!nd)
		return -ENOMEM;
	w->devfd = nd;
	nd = realloc(w->why, (w->ndev + 1) * sizeof(*w->why));
	if (!nd)
		return -ENOMEM;
	w->why = nd;
	size_t i = w->ndev++;
	memcpy(w->devs[i], dev, DR_DEVICE_ID_HEX + 1);
	w->why[i][0] = 0;
	if (dr_stick_subdir(w->efd, dev, false, &w->devfd[i], w->why[i], sizeof(w->why[i])) < 0)
		w->devfd[i] = -1;
	return 0;
}

int stick_walk(int stickfd, struct stick_walk *w, char *err, size_t errlen)
{
	*w = (struct stick_walk){.top = -1, .efd = -1};
	int r = dr_stick_subdir(stickfd, DR_STICK_TOP, false, &w->top, err, errlen);
	if (r == 0)
		r = dr_stick_subdir(w->top, "export", false, &w->efd, err, errlen);
	if (r < 0) {
		stick_walk_free(w);
		return r;
	}
	int dfd = dup(w->efd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		r = -errno;
		if (dfd >= 0)
			close(dfd);
		snprintf(err, errlen, "cannot list the stick's export folder: %s", strerror(-r));
		stick_walk_free(w);
		return r;
	}
	struct dirent *de;
	while (r == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!dr_stick_hex_ok(de->d_name, DR_DEVICE_ID_HEX)) {
			fprintf(stderr, "collect: ignoring %s on the stick (not a box's folder)\n",
				de->d_name);
			continue;
		}
		r = walk_add(w, de->d_name);
	}
	closedir(d);
	if (r < 0) {
		snprintf(err, errlen, "walking the stick: %s", strerror(-r));
		stick_walk_free(w);
	}
	return r;
}
