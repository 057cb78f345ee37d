/* SPDX-License-Identifier: MIT */
/*
 * diaryroom-mictest: record a few seconds from the board's microphone through
 * the same pipeline the daemon uses (capture thread, ring buffer, Opus, Ogg,
 * durable file) and report what was heard. For whoever installs or repairs a
 * box: "is the microphone working, and how loud is the room?"
 *
 *   diaryroom-mictest --board DIR [--set SEC.KEY=VALUE]... [--seconds N] OUT.opus
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev/audio.h"
#include "media/recorder.h"
#include "media/sink.h"
#include "util/conf.h"

static void usage(FILE *f)
{
	fputs("Usage: diaryroom-mictest --board DIR [--set SEC.KEY=VALUE]... [--seconds N] OUT.opus\n"
	      "Records N seconds (default 5) from the board's microphone through the\n"
	      "daemon's recording pipeline into OUT.opus, and prints what it got.\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"board", required_argument, NULL, 'b'}, {"set", required_argument, NULL, 's'},
		{"seconds", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *board = NULL;
	double seconds = 5;
	struct dr_conf *conf = NULL;
	const char *sets[32];
	size_t nsets = 0;
	char err[1024];
	int c, r, status = 1;

	while ((c = getopt_long(argc, argv, "b:s:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': board = optarg; break;
		case 's':
			if (nsets < 32)
				sets[nsets++] = optarg;
			break;
		case 'n': seconds = strtod(optarg, NULL); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!board || optind != argc - 1 || !(seconds > 0 && seconds <= 3600)) {
		usage(stderr);
		return 2;
	}
	const char *out = argv[optind];

	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/board.conf", board);
	if ((r = dr_conf_load(path, &conf, err, sizeof(err))) < 0) {
		fprintf(stderr, "diaryroom-mictest: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < nsets; i++) {
		char *eq = strchr(sets[i], '=');
		char name[256];
		if (!eq) {
			fprintf(stderr, "diaryroom-mictest: --set %s: expected SEC.KEY=VALUE\n", sets[i]);
			goto out_conf;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(eq - sets[i]), sets[i]);
		if (dr_conf_set(conf, name, eq + 1) < 0) {
			fprintf(stderr, "diaryroom-mictest: --set %s: bad name\n", sets[i]);
			goto out_conf;
		}
	}

	struct dr_capture *mic;
	if ((r = dr_capture_open(conf, board, &mic, err, sizeof(err))) < 0) {
		fprintf(stderr, "diaryroom-mictest: %s\n", err);
		goto out_conf;
	}
	struct dr_recorder_params p;
	dr_recorder_params_default(&p);
	struct dr_recorder *rec;
	if ((r = dr_recorder_new(mic, &p, &rec)) < 0) {
		fprintf(stderr, "diaryroom-mictest: cannot set up the recorder: %s\n", strerror(-r));
		goto out_mic;
	}
	struct dr_sink_stats stats = {0};
	struct dr_sink sink;
	if ((r = dr_file_sink_open(out, &stats, &sink)) < 0) {
		fprintf(stderr, "diaryroom-mictest: cannot create %s: %s\n", out, strerror(-r));
		goto out_rec;
	}
	struct dr_recording_result res = {0};
	uint64_t want = (uint64_t)(seconds * 48000.0 + 0.5);
	r = dr_recorder_record_blocking(rec, sink, "mictest", NULL, want, &res);
	if (r < 0 || res.status < 0) {
		fprintf(stderr, "diaryroom-mictest: recording failed: %s (%s)\n",
			strerror(-(r < 0 ? r : res.status)), res.capture_failed ? "microphone" : "file");
		goto out_rec;
	}
	printf("device: %s\nsamples: %" PRIu64 "\nlost: %" PRIu64 "\nxruns: %" PRIu64
	       "\nbytes: %" PRIu64 "\nsyncs: %" PRIu64 "\nfile: %s\n",
	       dr_capture_name(mic), res.samples, res.lost, dr_capture_xruns(mic), stats.bytes,
	       stats.syncs, out);
	status = res.samples == want && res.lost == 0 ? 0 : 1;
	if (status)
		fprintf(stderr, "diaryroom-mictest: got %" PRIu64 " of %" PRIu64 " samples\n", res.samples,
			want);
out_rec:
	dr_recorder_free(rec);
out_mic:
	dr_capture_free(mic);
out_conf:
	dr_conf_free(conf);
	return status;
}
