/* SPDX-License-Identifier: MIT */
/* The engagement report's figures and their hiding (report.h), and
 * `diaryroom-admin report`. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

struct gather {
	struct adm_report *rp;
	int64_t *len; /* every recording's length, for the median */
	size_t nlen, cap;
};

static int group_add(struct adm_report_group *g, const char *key)
{
	for (size_t i = 0; i < g->n; i++)
		if (!strcmp(g->c[i].key, key)) {
			g->c[i].n++;
			return 0;
		}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct adm_report_cell *p = realloc(g->c, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		g->c = p;
		g->cap = cap;
	}
	struct adm_report_cell *c = &g->c[g->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->n = 1;
	return 0;
}

static int add_rec(void *ctx, const struct adm_rec *r)
{
	struct gather *g = ctx;
	struct adm_report *rp = g->rp;
	char month[8] = "unknown";
	if (strlen(r->start_utc) >= 7)
		snprintf(month, sizeof(month), "%.7s", r->start_utc);
	int e = group_add(&rp->months, month);
	if (!e)
		e = group_add(&rp->boxes, r->box);
	if (!e)
		e = group_add(&rp->media, !strcmp(r->media, "video") ? "video" : "sound");
	if (e)
		return e;
	if (g->nlen == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 256;
		int64_t *p = realloc(g->len, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		g->len = p;
		g->cap = cap;
	}
	g->len[g->nlen++] = r->duration_ms > 0 ? r->duration_ms : 0;
	rp->total++;
	rp->staff_yes += !strcmp(r->consent_staff, "yes");
	rp->share_yes += !strcmp(r->consent_share, "yes");
	return 0;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct adm_report_cell *)a)->key,
		      ((const struct adm_report_cell *)b)->key);
}

static int by_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* small cells; then, if exactly one cell is hidden, the smallest shown one
 * too (two or more hidden cells give only their sum by subtraction) */
static void hide_small(struct adm_report_group *g)
{
	size_t hidden = 0;
	for (size_t i = 0; i < g->n; i++)
		if (g->c[i].n < ADM_REPORT_MIN) {
			g->c[i].show = ADM_SMALL;
			hidden++;
		}
	if (hidden != 1)
		return;
	struct adm_report_cell *least = NULL;
	for (size_t i = 0; i < g->n; i++)
		if (g->c[i].show == ADM_SHOWN && (!least || g->c[i].n < least->n))
			least = &g->c[i];
	if (least)
		least->show = ADM_WITHHELD;
}

/* a rate of yes in of gives both yes and of - yes: each must be >= 5 */
static bool rate_hidden(unsigned yes, unsigned of)
{
	return of < ADM_REPORT_MIN || yes < ADM_REPORT_MIN || of - yes < ADM_REPORT_MIN;
}

int adm_report_make(struct adm_archive *a, const char *from_utc, const char *to_utc,
		    struct adm_report *rp)
{
	memset(rp, 0, sizeof(*rp));
	snprintf(rp->from_utc, sizeof(rp->from_utc), "%s", from_utc ? from_utc : "");
	snprintf(rp->to_utc, sizeof(rp->to_utc), "%s", to_utc ? to_utc : "");
	/* on the start_utc index (test_archive_query_plan) */
	struct adm_query q = {.from_utc = *rp->from_utc ? rp->from_utc : NULL,
			      .to_utc = *rp->to_utc ? rp->to_utc : NULL,
			      .by_start = true};
	struct gather g = {.rp = rp};
	/* a sound-only archive still says how many videos (none) it holds */
	static const char *const media[] = {"sound", "video"};
	for (size_t i = 0; i < 2; i++) {
		int e = group_add(&rp->media, media[i]);
		if (e)
			return e;
		rp->media.c[i].n = 0;
	}
	int r = a->ops->rec_each(a, &q, add_rec, &g);
	if (r < 0) {
		free(g.len);
		return r;
	}
	qsort(rp->months.c, rp->months.n, sizeof(*rp->months.c), by_key);
	qsort(rp->boxes.c, rp->boxes.n, sizeof(*rp->boxes.c), by_key);
	rp->total_show = rp->total < ADM_REPORT_MIN ? ADM_SMALL : ADM_SHOWN;
	hide_small(&rp->months);
	hide_small(&rp->boxes);
	hide_small(&rp->media);
	rp->staff_hide = rate_hidden(rp->staff_yes, rp->total);
	rp->share_hide = rate_hidden(rp->share_yes, rp->total);
	rp->length_hide = rp->total < ADM_REPORT_MIN;
	if (g.nlen) {
		qsort(g.len, g.nlen, sizeof(*g.len), by_i64);
		rp->median_ms = g.nlen % 2 ? g.len[g.nlen / 2]
					   : (g.len[g.nlen / 2 - 1] + g.len[g.nlen / 2]) / 2;
		for (size_t i = 0; i < g.nlen; i++)
			rp->total_ms += g.len[i];
	}
	free(g.len);
	return 0;
}

void adm_report_free(struct adm_report *rp)
{
	if (!rp)
		return;
	free(rp->months.c);
	free(rp->boxes.c);
	free(rp->media.c);
	memset(rp, 0, sizeof(*rp));
}

const char *adm_report_count(char *buf, size_t n, unsigned v, enum adm_report_show show)
{
	if (show == ADM_SMALL)
		snprintf(buf, n, "fewer than 5");
	else if (show == ADM_WITHHELD)
		snprintf(buf, n, "not shown");
	else
		snprintf(buf, n, "%u", v);
	return buf;
}

const char *adm_report_rate(char *buf, size_t n, unsigned yes, unsigned of, bool hide)
{
	if (hide)
		snprintf(buf, n, "not shown (fewer than 5 said yes, or fewer than 5 did not)");
	else
		snprintf(buf, n, "%u%% (%u of %u)", (unsigned)((yes * 100u + of / 2) / of), yes, of);
	return buf;
}

const char *adm_report_length(char *buf, size_t n, int64_t ms)
{
	int64_t s = (ms + 500) / 1000;
	if (s >= 3600)
		snprintf(buf, n, "%lld h %02lld min", (long long)(s / 3600), (long long)(s / 60 % 60));
	else
		snprintf(buf, n, "%lld min %02lld s", (long long)(s / 60), (long long)(s % 60));
	return buf;
}

static void text_group(FILE *out, const char *title, const struct adm_report_group *g)
{
	char b[32];
	fprintf(out, "\n%s\n", title);
	for (size_t i = 0; i < g->n; i++)
		fprintf(out, "  %-18s %s\n", g->c[i].key,
			adm_report_count(b, sizeof(b), g->c[i].n, g->c[i].show));
}

void adm_report_text(const struct adm_report *rp, FILE *out)
{
	char b[96], l1[32], l2[32];
	if (!*rp->from_utc && !*rp->to_utc)
		fputs("Engagement report: every recording the archive has held\n", out);
	else
		fprintf(out, "Engagement report: recordings that started%s%s%s%s\n",
			*rp->from_utc ? " from " : "", rp->from_utc, *rp->to_utc ? " up to " : "",
			rp->to_utc);
	fprintf(out, "\nRecordings: %s\n", adm_report_count(b, sizeof(b), rp->total, rp->total_show));
	text_group(out, "Per month (UTC)", &rp->months);
	text_group(out, "Per box", &rp->boxes);
	text_group(out, "Sound and video", &rp->media);
	fprintf(out, "\nConsent\n  staff may listen:  %s\n",
		adm_report_rate(b, sizeof(b), rp->staff_yes, rp->total, rp->staff_hide));
	fprintf(out, "  may be shared:     %s\n",
		adm_report_rate(b, sizeof(b), rp->share_yes, rp->total, rp->share_hide));
	if (rp->length_hide) {
		fputs("\nLengths: not shown (fewer than 5 recordings)\n", out);
	} else {
		adm_report_length(l1, sizeof(l1), rp->median_ms);
		adm_report_length(l2, sizeof(l2), rp->total_ms);
		fprintf(out, "\nLengths\n  median:  %s\n  total:   %s\n", l1, l2);
	}
	fputs("\nAny count under 5 is shown as \"fewer than 5\"; \"not shown\" hides a larger\n"
	      "count that would give a small one away by subtraction.\n",
	      out);
}

/* "YYYY-MM-DD" to the start or end of that day, UTC */
static int day(const char *s, bool end, char *out, size_t n)
{
	int y, m, d;
	char tail;
	if (!s || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || strlen(s) != 10 ||
	    m < 1 || m > 12 || d < 1 || d > 31)
		return -EINVAL;
	snprintf(out, n, "%04d-%02d-%02dT%s", y, m, d, end ? "23:59:59Z" : "00:00:00Z");
	return 0;
}

static int usage(void)
{
	fputs("usage: diaryroom-admin report --archive DIR [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n",
	      stderr);
	return 2;
}

int adm_report_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"archive", required_argument, NULL, 'a'},
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	const char *archive = NULL, *from = NULL, *to = NULL;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'a': archive = optarg; break;
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		default: return usage();
		}
	}
	char f[40] = "", t[40] = "";
	if (!archive || optind != argc || (from && day(from, false, f, sizeof(f))) ||
	    (to && day(to, true, t, sizeof(t))))
		return usage();
	char err[256];
	struct adm_archive *a;
	if (adm_archive_open(archive, false, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "report: %s\n", err);
		return 1;
	}
	struct adm_report rp;
	int r = adm_report_make(a, f, t, &rp);
	if (r < 0) {
		fprintf(stderr, "report: the catalogue could not be read (%s): nothing is shown\n",
			a->err);
		adm_report_free(&rp);
		adm_archive_close(a);
		return 1;
	}
	adm_report_text(&rp, stdout);
	adm_report_free(&rp);
	adm_archive_close(a);
	return fflush(stdout) == 0 ? 0 : 1;
}
