/* SPDX-License-Identifier: MIT */
#include "drd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "util/log.h"

/* ---- the staff stick ---- */

/* A stick is there when its mount folder is a mount point (the hot-plug
 * unit mounts it there: a brand-new empty stick counts, and is refused for
 * having no token) or, on the simulated board, when a folder with something
 * in it appears. *st says which stick (a new mount or a new folder has
 * another device or inode). */
static bool stick_there(const char *mount, struct stat *st)
{
	int fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	struct stat parent;
	if (fstat(fd, st) < 0) {
		close(fd);
		return false;
	}
	if (fstatat(fd, "..", &parent, 0) == 0 && st->st_dev != parent.st_dev) {
		close(fd);
		return true;
	}
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return false;
	}
	bool any = false;
	struct dirent *de;
	while (!any && (de = readdir(dir)))
		any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(dir);
	return any;
}

static void stick_end(struct drd *d, enum dr_light l)
{
	dr_export_run_free(d->run);
	d->run = NULL;
	dr_export_stick_close(d->stick);
	d->stick = NULL;
	dr_lights_set(d->lights, l);
}

static void stick_refused(struct drd *d, const char *why)
{
	char m[1024];
	DR_LOG_WARN(MOD, "staff stick refused: %s", why);
	dr_evlog_emit(d->log, "stick_refused", ",\"reason\":\"%s\"", dr_evlog_str(why, m, sizeof(m)));
	stick_end(d, DR_LIGHT_ERROR);
}

/* A stick is in and the core says the box is idle: verify it, set the clock,
 * apply the archive's receipt, and start the export (run step by step from
 * the loop, so the box stays responsive). */
void drd_stick_begin(struct drd *d)
{
	char err[1024];
	const char *mount = d->s->stick_mount;
	int r;

	dr_evlog_emit(d->log, "stick", ",\"present\":true");
	dr_lights_set(d->lights, DR_LIGHT_BUSY);
	r = dr_export_stick_open(d->x, mount, (int64_t)time(NULL), &d->stick, err, sizeof(err));
	if (r < 0) {
		stick_refused(d, err);
		return;
	}
	/* the clock: the stick's signed times judged against the box's own
	 * record of time (a refused one changes nothing and is logged) */
	struct dr_export_clock_result cr;
	r = dr_export_clock_check(d->x, d->stick, (int64_t)time(NULL), &cr, err, sizeof(err));
	if (r < 0) {
		drd_log_error(d, "clock", err);
	} else {
		if (cr.refused) {
			char m[512];
			DR_LOG_WARN(MOD, "signed time refused: %s", cr.reason);
			dr_evlog_emit(d->log, "clock_refused", ",\"reason\":\"%s\",\"trusted\":%lld",
				      dr_evlog_str(cr.reason, m, sizeof(m)), (long long)cr.trusted);
		}
		if (r == 1) {
			struct timespec ts = {.tv_sec = (time_t)cr.set_to};
			int ok = clock_settime(CLOCK_REALTIME, &ts) == 0;
			dr_evlog_emit(d->log, "clock_set", ",\"to\":%lld,\"back\":%s,\"ok\":%s",
				      (long long)cr.set_to, cr.moved_back ? "true" : "false",
				      ok ? "true" : "false");
			if (!ok)
				DR_LOG_WARN(MOD, "cannot set the clock: %s", strerror(errno));
		}
	}
	struct dr_export_receipt_result rr;
	r = dr_export_apply_receipt(d->x, d->stick, &rr, err, sizeof(err));
	if (r < 0) {
		char m[1024];
		DR_LOG_WARN(MOD, "archive receipt refused: %s", err);
		dr_evlog_emit(d->log, "receipt_refused", ",\"reason\":\"%s\"", dr_evlog_str(err, m, sizeof(m)));
	} else if (r == 1) {
		dr_evlog_emit(d->log, "receipt_applied",
			      ",\"deleted\":%u,\"withdrawn\":%u,\"consent_changed\":%u,\"hash_mismatch\":%u",
			      rr.deleted, rr.withdrawn, rr.consent_changed, rr.hash_mismatch);
	}
	r = dr_export_begin(d->x, d->stick, &d->run, err, sizeof(err));
	if (r < 0) {
		drd_log_error(d, "export", err);
		stick_end(d, DR_LIGHT_ERROR);
		return;
	}
	d->run_steps = 0;
}

/* One bounded piece of the export (about 1 MiB of I/O). */
void drd_stick_step(struct drd *d)
{
	char err[1024];
	struct dr_export_progress p = {0};
	int r = dr_export_step(d->run, &p, err, sizeof(err));
	if (r == 1) {
		if (++d->run_steps % 8 == 1)
			dr_evlog_emit(d->log, "export_progress",
				      ",\"files_done\":%u,\"files_total\":%u,\"bytes_done\":%" PRIu64
				      ",\"bytes_total\":%" PRIu64,
				      p.files_done, p.files_total, p.bytes_done, p.bytes_total);
		return;
	}
	if (r == 0) {
		dr_evlog_emit(d->log, "export_done",
			      ",\"files\":%u,\"failed\":%u,\"stick_full\":%s,\"seq\":%lld", p.files_done,
			      p.files_failed, p.stick_full ? "true" : "false", (long long)p.seq);
		stick_end(d, p.files_failed || p.stick_full ? DR_LIGHT_ERROR : DR_LIGHT_SAVED);
		return;
	}
	drd_log_error(d, "export", err);
	stick_end(d, DR_LIGHT_ERROR);
}

/* The stick has gone (or another took its place): drop what was under way.
 * Nothing is lost: an export counts only what it has verified. */
static void stick_gone(struct drd *d)
{
	bool cut = d->run != NULL;
	d->stick_present = false;
	dr_evlog_emit(d->log, "stick", ",\"present\":false,\"during_export\":%s", cut ? "true" : "false");
	dr_export_run_free(d->run);
	d->run = NULL;
	dr_export_stick_close(d->stick);
	d->stick = NULL;
	d->want_stick = false;
	drd_feed(d, (struct dr_event){.type = DR_EV_STICK_OUT});
}

/* Every second: has a stick come or gone? A stick swapped for another
 * between two looks is seen as the first going and the second coming. */
void drd_stick_poll(struct drd *d)
{
	struct stat st;
	bool there = stick_there(d->s->stick_mount, &st);
	if (there && d->stick_present && (st.st_dev != d->stick_dev || st.st_ino != d->stick_ino))
		stick_gone(d);
	if (there == d->stick_present)
		return;
	if (!there) {
		stick_gone(d);
		return;
	}
	d->stick_present = true;
	d->stick_dev = st.st_dev;
	d->stick_ino = st.st_ino;
	/* The core says when its work may begin (never during a testimony),
	 * and ignores presses in idle until it is out. */
	drd_feed(d, (struct dr_event){.type = DR_EV_STICK_IN});
}
