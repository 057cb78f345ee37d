/* SPDX-License-Identifier: MIT */
/*
 * The archive scale benchmark's helper (bench/archive_scale.py,
 * BENCHMARKS.md "The office archive at scale"):
 *
 *   bench_archive seed ARCHIVE BOXES PER_BOX
 *       a catalogue of BOXES x PER_BOX recordings, written through the
 *       catalogue's own interface (tools/admin/archive.h), one transaction
 *       per box: rows only, no files (collect and find read rows; the
 *       consent sheet is made from them). Receipt numbers are spread
 *       uniformly over 0000-9999, start times over 2025.
 *   bench_archive find ARCHIVE RECEIPT ROUNDS
 *       times the catalogue query behind `find --receipt` (CLOCK_MONOTONIC,
 *       in process, after one warm-up), prints JSON: the median and the
 *       recordings found.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int seed(const char *path, long boxes, long per)
{
	char err[512];
	struct adm_archive *a;
	if (adm_archive_open(path, true, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	int r = 0;
	for (long b = 0; r == 0 && b < boxes; b++) {
		char box[ADM_BOX_HEX + 1];
		snprintf(box, sizeof(box), "%016llx", (unsigned long long)(rng() | 1ull << 63));
		r = a->ops->begin(a);
		if (r == 0)
			r = a->ops->box_add(a, box, "2025-01-01T00:00:00Z");
		for (long i = 0; r == 0 && i < per; i++) {
			struct adm_rec x = {0};
			memcpy(x.box, box, sizeof(box));
			snprintf(x.id, sizeof(x.id), "%016llx%016llx", (unsigned long long)rng(),
				 (unsigned long long)rng());
			snprintf(x.receipt, sizeof(x.receipt), "%04u", (unsigned)(rng() % 10000));
			snprintf(x.state, sizeof(x.state), "complete");
			snprintf(x.media, sizeof(x.media), "audio");
			adm_archive_file_name(x.file, sizeof(x.file), x.id, "audio", "sealed");
			time_t t = 1735689600 + (time_t)(rng() % (365 * 86400));
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(x.start_utc, sizeof(x.start_utc), "%Y-%m-%dT%H:%M:%SZ", &tm);
			t += 300;
			gmtime_r(&t, &tm);
			strftime(x.end_utc, sizeof(x.end_utc), "%Y-%m-%dT%H:%M:%SZ", &tm);
			x.duration_ms = 300000;
			x.size = 900000;
			for (int k = 0; k < 64; k++)
				x.blake2b[k] = "0123456789abcdef"[rng() % 16];
			bool staff = rng() % 2;
			snprintf(x.consent_staff, sizeof(x.consent_staff), staff ? "yes" : "no");
			snprintf(x.consent_share, sizeof(x.consent_share), "no");
			x.locked = !staff;
			x.sealed_original = true;
			if (staff)
				memcpy(x.playable_blake2b, x.blake2b, sizeof(x.blake2b));
			snprintf(x.status, sizeof(x.status), "archived");
			memcpy(x.collected_utc, x.end_utc, sizeof(x.end_utc));
			r = a->ops->rec_put(a, &x);
			struct adm_consent c = {0};
			memcpy(c.box, box, sizeof(box));
			memcpy(c.id, x.id, sizeof(x.id));
			memcpy(c.at_utc, x.end_utc, sizeof(x.end_utc));
			memcpy(c.staff, x.consent_staff, sizeof(c.staff));
			memcpy(c.share, x.consent_share, sizeof(c.share));
			snprintf(c.source, sizeof(c.source), "manifest");
			snprintf(c.detail, sizeof(c.detail), "as the box recorded it");
			if (r == 0)
				r = a->ops->consent_add(a, &c);
		}
		if (r == 0)
			r = a->ops->commit(a);
		else
			a->ops->rollback(a);
	}
	if (r < 0)
		fprintf(stderr, "seed: %s\n", a->err);
	adm_archive_close(a);
	return r < 0;
}

static int count(void *ctx, const struct adm_rec *r)
{
	(void)r;
	++*(long *)ctx;
	return 0;
}

static int cmp_d(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

static int find(const char *path, const char *receipt, int rounds)
{
	char err[512];
	struct adm_archive *a;
	if (adm_archive_open(path, false, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	double *ms = calloc((size_t)rounds + 1, sizeof(*ms));
	long found = 0;
	int r = 0;
	for (int i = 0; r == 0 && ms && i <= rounds; i++) {
		struct adm_query q = {.receipt = receipt};
		struct timespec t0, t1;
		found = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		r = a->ops->rec_each(a, &q, count, &found);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (i > 0) /* the first warms the cache */
			ms[i - 1] = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
				    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	}
	if (r == 0 && ms) {
		qsort(ms, (size_t)rounds, sizeof(*ms), cmp_d);
		printf("{\"phase\": \"find-query\", \"receipt\": \"%s\", \"found\": %ld, "
		       "\"median_ms\": %.3f, \"min_ms\": %.3f, \"max_ms\": %.3f, \"rounds\": %d}\n",
		       receipt, found, ms[rounds / 2], ms[0], ms[rounds - 1], rounds);
	}
	free(ms);
	adm_archive_close(a);
	return r != 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "seed"))
		return seed(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "find") && atoi(argv[4]) > 0)
		return find(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr, "usage: bench_archive seed ARCHIVE BOXES PER_BOX | find ARCHIVE RECEIPT "
			"ROUNDS\n");
	return 2;
}
