/* SPDX-License-Identifier: MIT */
/*
 * diaryroom-stick: the box's stick handling as a program, over the dr_export
 * API. What the daemon will do when its hot-plug source reports a stick (see
 * app/export/export.h); used by the tests on the simulated board, and on a
 * box as the ExecStart of the hot-plug unit until the daemon does it.
 *
 *   diaryroom-stick insert --data DIR --keys DIR --stick MOUNT
 *                          [--now ISO] [--set-clock] [--kill-after-steps N]
 *   diaryroom-stick consent --data DIR --id ID --staff yes|no --share yes|no
 *
 * insert prints one JSON line per event on stdout (the light, progress, the
 * outcome) and a plain log line on stderr for every refusal. Exit status: 0
 * done, 2 stick refused (nothing changed), 1 error.
 * --kill-after-steps N raises SIGKILL after N export steps (tests: the
 * stick pulled or the power cut at that point); steps that only waited for
 * the export's verifier threads are not counted (nor told).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export/export.h"
#include "store/store.h"

static void ev_light(const char *pattern)
{
	printf("{\"ev\":\"light\",\"pattern\":\"%s\"}\n", pattern);
	fflush(stdout);
}

static int refused(const char *what, const char *err)
{
	fprintf(stderr, "diaryroom-stick: %s\n", err);
	/* the reason as a JSON string: err is ours, but may quote a name */
	printf("{\"ev\":\"refused\",\"what\":\"%s\",\"reason\":\"", what);
	for (const char *p = err; *p; p++)
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	printf("\"}\n");
	fflush(stdout);
	return 2;
}

static int cmd_insert(const char *data, const char *keys, const char *mount, int64_t now,
		      bool set_clock, long kill_after)
{
	char err[512] = "";
	struct dr_store *s = NULL;
	struct dr_export *x = NULL;
	struct dr_stick *k = NULL;
	struct dr_export_run *run = NULL;
	int rc = 1;
	if (dr_store_open(data, &s, err, sizeof(err)) < 0 ||
	    dr_export_open(s, keys, &x, err, sizeof(err)) < 0) {
		fprintf(stderr, "diaryroom-stick: %s\n", err);
		ev_light("error");
		goto out;
	}
	int r = dr_export_stick_open(x, mount, now, &k, err, sizeof(err));
	if (r < 0) {
		rc = refused("stick", err);
		ev_light("error");
		goto out;
	}
	const struct dr_token *t = dr_export_stick_token(k);
	printf("{\"ev\":\"stick\",\"stick_id\":\"%s\",\"device\":\"%s\"}\n", t->stick_id,
	       dr_export_device_id(x));
	ev_light("busy");
	struct dr_export_clock_result cr;
	r = dr_export_clock_check(x, k, now, &cr, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "diaryroom-stick: %s\n", err);
		ev_light("error");
		goto out;
	}
	if (cr.refused)
		fprintf(stderr, "diaryroom-stick: clock refused: %s\n", cr.reason);
	int64_t set_to = cr.set_to;
	if (r > 0) {
		char iso[32];
		dr_stick_time_format(set_to, iso);
		printf("{\"ev\":\"clock_set\",\"utc\":\"%s\"}\n", iso);
		fprintf(stderr, "diaryroom-stick: the clock was %s: set to %s, the time the box "
				"can justify from the organisation's signed times\n",
			now < DR_EXPORT_CLOCK_UNSET ? "unset"
			: cr.moved_back || now > set_to ? "ahead"
							: "behind",
			iso);
		if (set_clock) {
			struct timespec ts = {.tv_sec = (time_t)set_to};
			if (clock_settime(CLOCK_REALTIME, &ts) < 0)
				fprintf(stderr, "diaryroom-stick: cannot set the clock: %s\n",
					strerror(errno));
		}
	}
	struct dr_export_receipt_result res;
	r = dr_export_apply_receipt(x, k, &res, err, sizeof(err));
	if (r < 0) {
		refused("receipt", err);
		/* a bad receipt changes nothing; the export still runs */
	} else if (r > 0) {
		printf("{\"ev\":\"receipt\",\"seq\":%lld,\"deleted\":%u,\"withdrawn\":%u,"
		       "\"consent_changed\":%u,\"hash_mismatch\":%u}\n",
		       (long long)res.seq, res.deleted, res.withdrawn, res.consent_changed,
		       res.hash_mismatch);
	}
	fflush(stdout);
	if ((r = dr_export_begin(x, k, &run, err, sizeof(err))) < 0) {
		fprintf(stderr, "diaryroom-stick: %s\n", err);
		ev_light("error");
		goto out;
	}
	struct dr_export_progress p;
	long steps = 0;
	while ((r = dr_export_step(run, &p, err, sizeof(err))) > 0) {
		/* steps that only waited for the verifier are not told nor
		 * counted: the count of the rest is the same in every run */
		if (p.waited)
			continue;
		printf("{\"ev\":\"export_progress\",\"seq\":%lld,\"files_done\":%u,\"files_total\":%u,"
		       "\"bytes_done\":%llu,\"bytes_total\":%llu}\n",
		       (long long)p.seq, p.files_done, p.files_total,
		       (unsigned long long)p.bytes_done, (unsigned long long)p.bytes_total);
		fflush(stdout);
		if (kill_after >= 0 && ++steps > kill_after)
			raise(SIGKILL);
	}
	if (r < 0) {
		fprintf(stderr, "diaryroom-stick: %s\n", err);
		ev_light("error");
		goto out;
	}
	printf("{\"ev\":\"export_done\",\"seq\":%lld,\"files\":%u,\"failed\":%u,\"stick_full\":%s}\n",
	       (long long)p.seq, p.files_done, p.files_failed, p.stick_full ? "true" : "false");
	ev_light(p.files_failed || p.stick_full ? "error" : "saved");
	rc = 0;
out:
	dr_export_run_free(run);
	dr_export_stick_close(k);
	dr_export_close(x);
	dr_store_close(s);
	return rc;
}

static int consent_arg(const char *w, enum dr_consent *c)
{
	if (!w)
		return -EINVAL;
	*c = !strcmp(w, "yes") ? DR_CONSENT_YES : !strcmp(w, "no") ? DR_CONSENT_NO : DR_CONSENT_UNANSWERED;
	return 0;
}

static int cmd_consent(const char *data, const char *id, const char *staff, const char *share)
{
	char err[512] = "", receipt[DR_STORE_RECEIPT_LEN + 1];
	struct dr_store *s = NULL;
	enum dr_consent st, sh;
	if (!id || consent_arg(staff, &st) < 0 || consent_arg(share, &sh) < 0)
		return 2;
	int r = dr_store_open(data, &s, err, sizeof(err));
	if (r == 0)
		r = dr_store_assign_receipt(s, id, receipt, err, sizeof(err));
	if (r == 0)
		r = dr_store_set_consent(s, id, st, sh, "resident", err, sizeof(err));
	dr_store_close(s);
	if (r < 0) {
		fprintf(stderr, "diaryroom-stick: %s\n", err);
		return 1;
	}
	printf("%s\n", receipt);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		goto usage;
	const char *data = NULL, *keys = NULL, *mount = NULL, *id = NULL, *staff = NULL,
		   *share = NULL;
	int64_t now = (int64_t)time(NULL);
	bool set_clock = false;
	long kill_after = -1;
	static const struct option lo[] = {
		{"data", required_argument, NULL, 'd'},	 {"keys", required_argument, NULL, 'k'},
		{"stick", required_argument, NULL, 's'}, {"now", required_argument, NULL, 'n'},
		{"set-clock", no_argument, NULL, 'C'},	 {"kill-after-steps", required_argument, NULL, 'K'},
		{"id", required_argument, NULL, 'i'},	 {"staff", required_argument, NULL, 'S'},
		{"share", required_argument, NULL, 'H'}, {NULL, 0, NULL, 0},
	};
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'k': keys = optarg; break;
		case 's': mount = optarg; break;
		case 'n':
			if (dr_stick_time_parse(optarg, &now) < 0)
				now = strtoll(optarg, NULL, 10);
			break;
		case 'C': set_clock = true; break;
		case 'K': kill_after = strtol(optarg, NULL, 10); break;
		case 'i': id = optarg; break;
		case 'S': staff = optarg; break;
		case 'H': share = optarg; break;
		default: goto usage;
		}
	}
	if (!strcmp(argv[1], "insert") && data && keys && mount)
		return cmd_insert(data, keys, mount, now, set_clock, kill_after);
	if (!strcmp(argv[1], "consent") && data)
		return cmd_consent(data, id, staff, share);
usage:
	fprintf(stderr, "usage: diaryroom-stick insert --data DIR --keys DIR --stick MOUNT [--now ISO]"
			" [--set-clock] [--kill-after-steps N]\n"
			"       diaryroom-stick consent --data DIR --id ID --staff yes|no --share yes|no\n");
	return 2;
}
