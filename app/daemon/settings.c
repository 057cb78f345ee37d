/* SPDX-License-Identifier: MIT */
#include "settings.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/conf.h"
#include "util/log.h"

#ifndef DR_VERSION
#define DR_VERSION "0.0.0"
#endif
#define DEFAULT_CONFIG "/etc/diaryroom/diaryroom.conf"

/* Sections of the daemon config; every other section belongs to the board. */
static const char *const conf_sections[] = {"daemon", "session", "consent", "recording", "storage",
					    "export", NULL};
static const char *const export_keys[] = {"keydir", NULL};
static const char *const stick_keys[] = {"mount", NULL};
static const char *const daemon_keys[] = {"board", "data_dir", "event_log", "prompts_dir",
					  "prompts_override_dir", "log_level", "heartbeat", "user",
					  "commits_in_thread", NULL};
static const char *const session_keys[] = {"time_limit_s", "warning_s", "min_length_ms", NULL};
static const char *const consent_keys[] = {"answer_s", "digit_pause_ms", "retention_days",
					   "listen_back", NULL};
static const char *const recording_keys[] = {"bitrate", "complexity", "flush_ms", "ring_s", NULL};
static const char *const storage_keys[] = {"low_mb", "check_s", NULL};
static const char *const board_sections[] = {"board", "button", "lights", "audio", "camera", "stick",
					     NULL};

void drd_usage(FILE *f)
{
	fputs("Usage: diaryroomd [OPTION]...\n"
	      "The diary-room recording daemon: one button, a light, a speaker and a\n"
	      "microphone; records testimonies as Ogg Opus into the data folder.\n"
	      "\n"
	      "  -b, --board DIR      board folder holding board.conf (e.g. board/host)\n"
	      "  -c, --config FILE    daemon config (default " DEFAULT_CONFIG " if it exists)\n"
	      "  -d, --data DIR       data folder: recordings and catalogue\n"
	      "  -e, --event-log FILE JSON-lines event log (\"-\" for stderr)\n"
	      "  -p, --prompts DIR    prompt pack folder (default: share/diaryroom/prompts/en\n"
	      "                       beside the binary's folder)\n"
	      "  -s, --set SEC.KEY=VALUE\n"
	      "                       override one setting of the config or the board file,\n"
	      "                       e.g. --set audio.capture_file=/tmp/mic.wav\n"
	      "      --check          validate the settings and exit\n"
	      "  -v, --verbose        debug messages on stderr\n"
	      "  -h, --help           this help\n"
	      "  -V, --version        version\n"
	      "\n"
	      "Signals: SIGTERM, SIGINT or SIGHUP finish the recording in progress (it is kept),\n"
	      "then exit 0.\n"
	      "The config file and the board file are documented in docs/configuration.md.\n",
	      f);
}

static int copy_path(char *dst, const char *src, char *err, size_t errlen, const char *what)
{
	if (strlen(src) >= PATH_MAX) {
		snprintf(err, errlen, "%s: path too long", what);
		return -ENAMETOOLONG;
	}
	strcpy(dst, src);
	return 0;
}

static void default_prompts_dir(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(out, len, "/usr/share/diaryroom/prompts/en");
		return;
	}
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	if (strlen(exe) + sizeof("/share/diaryroom/prompts/en") > len)
		snprintf(out, len, "/usr/share/diaryroom/prompts/en");
	else
		strcat(strcpy(out, exe), "/share/diaryroom/prompts/en");
}

static int validate_conf(struct drd_settings *s, char *err, size_t errlen)
{
	int r;

	if ((r = dr_conf_check_sections(s->conf, conf_sections, err, errlen)) < 0 ||
	    (r = dr_conf_check_keys(s->conf, "daemon", daemon_keys, err, errlen)) < 0 ||
	    (r = dr_conf_check_keys(s->conf, "session", session_keys, err, errlen)) < 0 ||
	    (r = dr_conf_check_keys(s->conf, "consent", consent_keys, err, errlen)) < 0 ||
	    (r = dr_conf_check_keys(s->conf, "export", export_keys, err, errlen)) < 0 ||
	    (r = dr_conf_check_keys(s->conf, "recording", recording_keys, err, errlen)) < 0 ||
	    (r = dr_conf_check_keys(s->conf, "storage", storage_keys, err, errlen)) < 0)
		return r;
	if (dr_conf_get(s->conf, "", "board")) {
		snprintf(err, errlen, "config: keys must be inside a [section]");
		return -EINVAL;
	}

	long v, w;
	dr_core_config_default(&s->core); /* the defaults are the core's, not restated here */
	if ((r = dr_conf_get_int(s->conf, "session", "time_limit_s", s->core.time_limit_ms / 1000, 10, 4 * 3600, &v, err, errlen)) < 0)
		return r;
	s->core.time_limit_ms = (uint32_t)v * 1000;
	if ((r = dr_conf_get_int(s->conf, "session", "warning_s", s->core.warning_ms / 1000, 0, 3600, &w, err, errlen)) < 0)
		return r;
	if (w >= v) {
		snprintf(err, errlen, "config: [session] warning_s = %ld must be less than time_limit_s = %ld", w, v);
		return -EINVAL;
	}
	s->core.warning_ms = (uint32_t)w * 1000;
	if ((r = dr_conf_get_int(s->conf, "session", "min_length_ms", s->core.min_length_ms, 0, 60000, &v, err, errlen)) < 0)
		return r;
	s->core.min_length_ms = (uint32_t)v;

	if ((r = dr_conf_get_int(s->conf, "consent", "answer_s", s->core.answer_ms / 1000, 2, 60, &v, err, errlen)) < 0)
		return r;
	s->core.answer_ms = (uint32_t)v * 1000;
	if ((r = dr_conf_get_int(s->conf, "consent", "digit_pause_ms", s->core.digit_pause_ms, 0, 3000, &v, err, errlen)) < 0)
		return r;
	s->core.digit_pause_ms = (uint32_t)v;
	if ((r = dr_conf_get_int(s->conf, "consent", "retention_days", 30, 1, 3650, &v, err, errlen)) < 0)
		return r;
	s->retention_days = (unsigned)v;
	bool listen;
	if ((r = dr_conf_get_bool(s->conf, "consent", "listen_back", false, &listen, err, errlen)) < 0)
		return r;
	s->core.listen_back = listen;

	dr_recorder_params_default(&s->rec);
	if ((r = dr_conf_get_int(s->conf, "recording", "bitrate", s->rec.enc.bitrate, 6000, 256000, &v, err, errlen)) < 0)
		return r;
	s->rec.enc.bitrate = (int)v;
	if ((r = dr_conf_get_int(s->conf, "recording", "complexity", s->rec.enc.complexity, 0, 10, &v, err, errlen)) < 0)
		return r;
	s->rec.enc.complexity = (int)v;
	if ((r = dr_conf_get_int(s->conf, "recording", "flush_ms", s->rec.enc.flush_ms, 20, 400, &v, err, errlen)) < 0)
		return r;
	s->rec.enc.flush_ms = (unsigned)v;
	if ((r = dr_conf_get_int(s->conf, "recording", "ring_s", s->rec.ring_ms / 1000, 10, 120, &v, err, errlen)) < 0)
		return r;
	s->rec.ring_ms = (unsigned)v * 1000;

	if ((r = dr_conf_get_int(s->conf, "storage", "low_mb", 200, 0, 1000000, &v, err, errlen)) < 0)
		return r;
	s->storage_low_bytes = (uint64_t)v * 1024 * 1024;
	if ((r = dr_conf_get_int(s->conf, "storage", "check_s", 10, 1, 3600, &v, err, errlen)) < 0)
		return r;
	s->storage_check_ms = (unsigned)v * 1000;

	const char *lvl = dr_conf_get_str(s->conf, "daemon", "log_level", "info");
	if (!strcmp(lvl, "debug"))
		s->log_level = DR_LOG_LEVEL_DEBUG;
	else if (!strcmp(lvl, "info"))
		s->log_level = DR_LOG_LEVEL_INFO;
	else if (!strcmp(lvl, "warning"))
		s->log_level = DR_LOG_LEVEL_WARN;
	else if (!strcmp(lvl, "error"))
		s->log_level = DR_LOG_LEVEL_ERR;
	else {
		snprintf(err, errlen, "config: [daemon] log_level = %s: must be debug, info, warning or error", lvl);
		return -EINVAL;
	}
	return 0;
}

static bool is_conf_section(const char *dotted)
{
	/* SEC.KEY=VALUE: the section ends at the last dot before the '='
	 * (a value may hold dots: data_dir=/srv/x.d). */
	const char *eq = strchr(dotted, '=');
	const char *dot = NULL;
	for (const char *c = dotted; *c && (!eq || c < eq); c++)
		if (*c == '.')
			dot = c;
	if (!dot)
		return false;
	for (size_t i = 0; conf_sections[i]; i++)
		if (strlen(conf_sections[i]) == (size_t)(dot - dotted) &&
		    !strncmp(dotted, conf_sections[i], (size_t)(dot - dotted)))
			return true;
	return false;
}

int drd_settings_load(struct drd_settings *s, int argc, char **argv, char *err, size_t errlen)
{
	static const struct option opts[] = {
		{"board", required_argument, NULL, 'b'},   {"config", required_argument, NULL, 'c'},
		{"data", required_argument, NULL, 'd'},    {"event-log", required_argument, NULL, 'e'},
		{"prompts", required_argument, NULL, 'p'}, {"set", required_argument, NULL, 's'},
		{"check", no_argument, NULL, 'k'},         {"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *board = NULL, *config = NULL, *data = NULL, *evlog = NULL, *prompts = NULL;
	const char *sets[64];
	size_t nsets = 0;
	bool verbose = false;
	int r, c;

	memset(s, 0, sizeof(*s));
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:c:d:e:p:s:vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'b': board = optarg; break;
		case 'c': config = optarg; break;
		case 'd': data = optarg; break;
		case 'e': evlog = optarg; break;
		case 'p': prompts = optarg; break;
		case 's':
			if (nsets == sizeof(sets) / sizeof(sets[0])) {
				snprintf(err, errlen, "too many --set options");
				return -E2BIG;
			}
			sets[nsets++] = optarg;
			break;
		case 'k': s->check_only = true; break;
		case 'v': verbose = true; break;
		case 'h': drd_usage(stdout); return 1;
		case 'V': printf("diaryroomd %s\n", DR_VERSION); return 1;
		default:
			snprintf(err, errlen, "unknown option (see --help)");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}

	if (config) {
		r = dr_conf_load(config, &s->conf, err, errlen);
	} else if (access(DEFAULT_CONFIG, F_OK) == 0) {
		r = dr_conf_load(DEFAULT_CONFIG, &s->conf, err, errlen);
	} else {
		r = dr_conf_new(&s->conf);
	}
	if (r < 0)
		goto err_free;

	/* --set goes to the config or the board file, by section. */
	for (size_t i = 0; i < nsets; i++) {
		if (!is_conf_section(sets[i]))
			continue;
		char *eq = strchr(sets[i], '=');
		if (!eq) {
			snprintf(err, errlen, "--set %s: expected SECTION.KEY=VALUE", sets[i]);
			r = -EINVAL;
			goto err_free;
		}
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)(eq - sets[i]), sets[i]);
		if ((r = dr_conf_set(s->conf, name, eq + 1)) < 0) {
			snprintf(err, errlen, "--set %s: bad name", sets[i]);
			goto err_free;
		}
	}

	if (!board)
		board = dr_conf_get(s->conf, "daemon", "board");
	if (!board) {
		snprintf(err, errlen, "no board: give --board DIR (e.g. --board board/host) or [daemon] board in the config");
		r = -EINVAL;
		goto err_free;
	}
	if ((r = copy_path(s->board_dir, board, err, errlen, "--board")) < 0)
		goto err_free;
	char board_file[PATH_MAX + 16];
	snprintf(board_file, sizeof(board_file), "%s/board.conf", s->board_dir);
	if ((r = dr_conf_load(board_file, &s->board, err, errlen)) < 0)
		goto err_free;
	for (size_t i = 0; i < nsets; i++) {
		if (is_conf_section(sets[i]))
			continue;
		char *eq = strchr(sets[i], '=');
		char name[256];
		if (!eq || !strchr(sets[i], '.') || eq < strchr(sets[i], '.')) {
			snprintf(err, errlen, "--set %s: expected SECTION.KEY=VALUE", sets[i]);
			r = -EINVAL;
			goto err_free;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(eq - sets[i]), sets[i]);
		if ((r = dr_conf_set(s->board, name, eq + 1)) < 0) {
			snprintf(err, errlen, "--set %s: bad name", sets[i]);
			goto err_free;
		}
	}
	if ((r = dr_conf_check_sections(s->board, board_sections, err, errlen)) < 0 ||
	    (r = dr_conf_check_keys(s->board, "stick", stick_keys, err, errlen)) < 0)
		goto err_free;
	if ((r = copy_path(s->stick_mount, dr_conf_get_str(s->board, "stick", "mount", ""), err,
			   errlen, "[stick] mount")) < 0 ||
	    (r = copy_path(s->keydir, dr_conf_get_str(s->conf, "export", "keydir", "/etc/diaryroom/keys"),
			   err, errlen, "[export] keydir")) < 0)
		goto err_free;

	if (!data)
		data = dr_conf_get_str(s->conf, "daemon", "data_dir", "/var/lib/diaryroom");
	if ((r = copy_path(s->data_dir, data, err, errlen, "data folder")) < 0)
		goto err_free;
	if (!evlog)
		evlog = dr_conf_get_str(s->conf, "daemon", "event_log", "");
	if ((r = copy_path(s->event_log, evlog, err, errlen, "event log")) < 0)
		goto err_free;
	if ((r = copy_path(s->heartbeat, dr_conf_get_str(s->conf, "daemon", "heartbeat", ""), err,
			   errlen, "[daemon] heartbeat")) < 0)
		goto err_free;
	if (s->heartbeat[0] && s->heartbeat[0] != '/') {
		snprintf(err, errlen, "config: [daemon] heartbeat = %s: must be an absolute path", s->heartbeat);
		r = -EINVAL;
		goto err_free;
	}
	if ((r = dr_conf_get_bool(s->conf, "daemon", "commits_in_thread", true, &s->commits_in_thread,
				  err, errlen)) < 0)
		goto err_free;
	const char *user = dr_conf_get_str(s->conf, "daemon", "user", "");
	if (strlen(user) >= sizeof(s->user)) {
		snprintf(err, errlen, "config: [daemon] user = %s: name too long", user);
		r = -ENAMETOOLONG;
		goto err_free;
	}
	strcpy(s->user, user);
	if (!prompts)
		prompts = dr_conf_get(s->conf, "daemon", "prompts_dir");
	if (prompts) {
		if ((r = copy_path(s->prompts_dir, prompts, err, errlen, "prompts")) < 0)
			goto err_free;
	} else {
		default_prompts_dir(s->prompts_dir, sizeof(s->prompts_dir));
	}
	/* An organisation's own recordings, phrase by phrase, in front of the
	 * pack: the loader takes "override:pack" as a search path
	 * (media/prompts.h), so the daemon passes prompts_dir on unchanged. */
	const char *override = dr_conf_get_str(s->conf, "daemon", "prompts_override_dir", "");
	if (*override) {
		char both[sizeof(s->prompts_dir)];
		if (strchr(override, ':')) {
			snprintf(err, errlen, "config: [daemon] prompts_override_dir = %s: a folder name cannot contain ':'",
				 override);
			r = -EINVAL;
			goto err_free;
		}
		if (snprintf(both, sizeof(both), "%s:%s", override, s->prompts_dir) >= (int)sizeof(both)) {
			snprintf(err, errlen, "config: [daemon] prompts_override_dir: path too long");
			r = -ENAMETOOLONG;
			goto err_free;
		}
		strcpy(s->prompts_dir, both);
	}

	if ((r = validate_conf(s, err, errlen)) < 0 ||
	    (r = dr_camera_settings_from_board(s->board, &s->cam, err, errlen)) < 0)
		goto err_free;
	if (verbose)
		s->log_level = DR_LOG_LEVEL_DEBUG;
	return 0;

err_free:
	drd_settings_free(s);
	return r;
}

void drd_settings_free(struct drd_settings *s)
{
	if (!s)
		return;
	dr_conf_free(s->board);
	dr_conf_free(s->conf);
	s->board = s->conf = NULL;
}
