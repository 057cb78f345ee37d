/* SPDX-License-Identifier: MIT */
/*
 * drd_settings: everything diaryroomd is told (command line, config file,
 * board file), parsed and validated once at start-up, kept apart from the
 * live state of the running daemon (daemon.h). A bad setting is reported
 * here, with the file, key and allowed values, before any device is opened.
 */
#ifndef DRD_SETTINGS_H
#define DRD_SETTINGS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "core/session.h"
#include "dev/camera.h"
#include "media/recorder.h"

struct dr_conf;

struct drd_settings {
	char board_dir[PATH_MAX];
	char data_dir[PATH_MAX];
	char event_log[PATH_MAX]; /* "" = none, "-" = stderr */
	char prompts_dir[PATH_MAX];
	char heartbeat[PATH_MAX]; /* [daemon] heartbeat: file touched by the loop; "" = none */
	char user[64];            /* [daemon] user: started as root, become it (privdrop.h); "" = stay */
	struct dr_conf *board;    /* board.conf, with --set overrides */
	struct dr_conf *conf;     /* the daemon config, with --set overrides */
	struct dr_core_config core;
	struct dr_recorder_params rec;
	struct dr_camera_settings cam; /* board [camera]; backend none: no camera */
	uint64_t storage_low_bytes;
	unsigned storage_check_ms;
	unsigned retention_days;  /* locked recordings are deleted after this */
	char stick_mount[PATH_MAX]; /* board [stick] mount; "" = no staff stick */
	char keydir[PATH_MAX];      /* [export] keydir: device.key, org.pub */
	bool commits_in_thread;   /* [daemon] commits_in_thread: finish, receipt and consent
				     off the event loop (recording.c) */
	int log_level;
	bool check_only;          /* --check: validate and exit */
};

/* Parses argv (see drd_usage) and loads and validates both files. Returns 0,
 * 1 when the program should exit successfully at once (--help, --version),
 * or a negative errno with the message in err. */
int drd_settings_load(struct drd_settings *s, int argc, char **argv, char *err, size_t errlen);
void drd_settings_free(struct drd_settings *s);
void drd_usage(FILE *f);

#endif
