/* SPDX-License-Identifier: MIT */
/*
 * The catalogue's listings (tools/admin/archive_sqlite*.c) use an index
 * when given a box, receipt or recording: a listing for one box reads that
 * box's rows, not every row of the archive (at a million recordings a scan
 * per query made collect and `find --receipt` take seconds). SQLite's own
 * count of full-scan steps (SQLITE_STMTSTATUS_FULLSCAN_STEP) is asserted
 * zero for each filtered listing, and nonzero for an unfiltered one (so the
 * count is seen to work).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "archive.h"
#include "archive_sqlite.h"

#define NBOX 3
#define NREC 40

static char dir[4096];
static struct adm_archive *a;

static int count_rec(void *ctx, const struct adm_rec *r)
{
	(void)r;
	++*(int *)ctx;
	return 0;
}
static int count_change(void *ctx, const struct adm_change *c)
{
	(void)c;
	++*(int *)ctx;
	return 0;
}
static int count_consent(void *ctx, const struct adm_consent *c)
{
	(void)c;
	++*(int *)ctx;
	return 0;
}
static int count_event(void *ctx, const struct adm_event *e)
{
	(void)e;
	++*(int *)ctx;
	return 0;
}
static int count_manifest(void *ctx, const char *box, int64_t seq, const void *j, size_t jl,
			  const void *s, size_t sl)
{
	(void)box, (void)seq, (void)j, (void)jl, (void)s, (void)sl;
	++*(int *)ctx;
	return 0;
}

static void box_name(char *out, int b)
{
	snprintf(out, ADM_BOX_HEX + 1, "%016x", 0xb0 + b);
}
static void rec_name(char *out, int b, int i)
{
	snprintf(out, ADM_REC_HEX + 1, "%016x%016x", 0xb0 + b, i);
}

static int setup(void **state)
{
	(void)state;
	const char *tmp = getenv("DR_TEST_TMP");
	snprintf(dir, sizeof(dir), "%s/qplanXXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	char err[256];
	if (adm_archive_open(dir, true, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (a->ops->begin(a) < 0)
		return -1;
	for (int b = 0; b < NBOX; b++) {
		char box[ADM_BOX_HEX + 1];
		box_name(box, b);
		if (a->ops->box_add(a, box, "2026-01-01T00:00:00Z") < 0)
			return -1;
		for (int i = 0; i < NREC; i++) {
			struct adm_rec r = {0};
			memcpy(r.box, box, sizeof(r.box));
			rec_name(r.id, b, i);
			snprintf(r.receipt, sizeof(r.receipt), "%04d", (b * NREC + i) % 10000);
			strcpy(r.state, "complete");
			strcpy(r.media, "audio");
			if (adm_archive_file_name(r.file, sizeof(r.file), r.id, r.media, "sealed") < 0)
				return -1;
			snprintf(r.start_utc, sizeof(r.start_utc), "2026-01-01T00:%02d:%02dZ", b, i);
			strcpy(r.end_utc, r.start_utc);
			memset(r.blake2b, 'a', 64);
			strcpy(r.consent_staff, "yes");
			strcpy(r.consent_share, "no");
			strcpy(r.status, "archived");
			strcpy(r.collected_utc, "2026-01-02T00:00:00Z");
			struct adm_consent c = {0};
			memcpy(c.box, box, sizeof(c.box));
			memcpy(c.id, r.id, sizeof(c.id));
			strcpy(c.staff, "yes");
			strcpy(c.share, "no");
			strcpy(c.source, "manifest");
			struct adm_event e = {0};
			memcpy(e.box, box, sizeof(e.box));
			memcpy(e.id, r.id, sizeof(e.id));
			strcpy(e.kind, "deleted");
			struct adm_change ch = {0};
			memcpy(ch.box, box, sizeof(ch.box));
			strcpy(ch.kind, "withdraw");
			memcpy(ch.receipt, r.receipt, sizeof(ch.receipt));
			if (a->ops->rec_put(a, &r) < 0 || a->ops->consent_add(a, &c) < 0 ||
			    a->ops->event_add(a, &e) < 0 || a->ops->change_add(a, &ch) < 0 ||
			    a->ops->manifest_keep(a, box, i, "{}", 2, "s", 1) < 0) {
				fprintf(stderr, "%s\n", a->err);
				return -1;
			}
		}
	}
	return a->ops->commit(a) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	adm_archive_close(a);
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void filtered_listings_use_an_index(void **state)
{
	(void)state;
	char box[ADM_BOX_HEX + 1], id[ADM_REC_HEX + 1];
	box_name(box, 1);
	rec_name(id, 1, 7);
	long before = adm_sq_fullscan_steps(a);
	int n = 0;
	assert_int_equal(a->ops->rec_each(a, &(struct adm_query){.box = box}, count_rec, &n), 0);
	assert_int_equal(n, NREC);
	n = 0;
	assert_int_equal(a->ops->rec_each(a, &(struct adm_query){.receipt = "0047"}, count_rec, &n),
			 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(
		a->ops->rec_each(a, &(struct adm_query){.box = box, .receipt = "0047"}, count_rec, &n),
		0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(a->ops->rec_each(a,
					  &(struct adm_query){.box = box,
							      .from_utc = "2026-01-01T00:01:10Z"},
					  count_rec, &n),
			 0);
	assert_int_equal(n, NREC - 10);
	/* collect's retention pass: the rows started before a cut-off */
	n = 0;
	assert_int_equal(a->ops->rec_each(a,
					  &(struct adm_query){.to_utc = "2026-01-01T00:00:09Z",
							      .by_start = true},
					  count_rec, &n),
			 0);
	assert_int_equal(n, 10);
	/* the engagement report for a date range (report.c) */
	n = 0;
	assert_int_equal(a->ops->rec_each(a,
					  &(struct adm_query){.from_utc = "2026-01-01T00:00:05Z",
							      .to_utc = "2026-01-01T00:00:09Z",
							      .by_start = true},
					  count_rec, &n),
			 0);
	assert_int_equal(n, 5);
	n = 0;
	assert_int_equal(a->ops->change_each(a, box, NULL, count_change, &n), 0);
	assert_int_equal(n, NREC);
	n = 0;
	assert_int_equal(a->ops->change_each(a, box, "0047", count_change, &n), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(a->ops->consent_each(a, box, id, count_consent, &n), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(a->ops->consent_each(a, box, NULL, count_consent, &n), 0);
	assert_int_equal(n, NREC);
	n = 0;
	assert_int_equal(a->ops->event_each(a, box, id, count_event, &n), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(a->ops->manifest_each(a, box, count_manifest, &n), 0);
	assert_int_equal(n, NREC);
	assert_int_equal(adm_sq_fullscan_steps(a) - before, 0);
}

static void an_unfiltered_listing_is_counted_as_a_scan(void **state)
{
	(void)state;
	long before = adm_sq_fullscan_steps(a);
	int n = 0;
	assert_int_equal(a->ops->rec_each(a, NULL, count_rec, &n), 0);
	assert_int_equal(n, NBOX * NREC);
	assert_true(adm_sq_fullscan_steps(a) - before > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(filtered_listings_use_an_index),
		cmocka_unit_test(an_unfiltered_listing_is_counted_as_a_scan),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
