/* SPDX-License-Identifier: MIT */
/*
 * The engagement report (docs/staff-page.md, "The engagement report"):
 * recordings per month and per box, consent rates, lengths, sound and
 * video, from the archive's catalogue, with every small figure hidden.
 *
 * One function gathers the figures and decides what is hidden
 * (adm_report_make); the staff page (serve_report.c) draws them as HTML
 * and SVG, and `diaryroom-admin report` (adm_report_main) prints them as
 * text, so both always show the same figures.
 *
 * The hiding rule: a count under ADM_REPORT_MIN (5, zero included) is
 * never shown. Counts that add up to a shown total (the months, the boxes,
 * sound and video) are a group: when one cell of a group is hidden, the
 * smallest other cell is hidden too, so the hidden one cannot be had by
 * subtraction. A rate is shown only when its numerator, its denominator
 * and their difference are all at least 5 (else the rate and the shown
 * denominator would give the small count). The median and total length
 * are shown only over at least 5 recordings.
 *
 * Threads: any, one report per thread.
 */
#ifndef DR_ADMIN_REPORT_H
#define DR_ADMIN_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "archive.h"

#define ADM_REPORT_MIN 5

/* how a count is shown */
enum adm_report_show {
	ADM_SHOWN = 0,
	ADM_SMALL,    /* under 5: "fewer than 5" */
	ADM_WITHHELD, /* 5 or more, hidden so that a small one in its group
		       * cannot be had by subtraction: "not shown" */
};

struct adm_report_cell {
	char key[24];	/* "2026-03", a box id, "sound", "video" */
	unsigned n;
	enum adm_report_show show;
};

struct adm_report_group {
	struct adm_report_cell *c; /* owned */
	size_t n, cap;
};

struct adm_report {
	char from_utc[40], to_utc[40]; /* "" = no bound */
	unsigned total;
	enum adm_report_show total_show;
	struct adm_report_group months, boxes, media;
	unsigned staff_yes, share_yes; /* over total */
	bool staff_hide, share_hide;	 /* the rate is not shown */
	int64_t median_ms, total_ms;
	bool length_hide;
};

/* Fills *rp from the catalogue: recordings whose start is within
 * [from_utc, to_utc] (either NULL or "" for no bound), every status
 * (withdrawn and expired ones were recordings too). 0 or a negative errno,
 * with why in a->err; *rp is to be adm_report_free'd also on failure. */
int adm_report_make(struct adm_archive *a, const char *from_utc, const char *to_utc,
		    struct adm_report *rp);
void adm_report_free(struct adm_report *rp); /* NULL ok */

/* "12", "fewer than 5" or "not shown" into buf */
const char *adm_report_count(char *buf, size_t n, unsigned v, enum adm_report_show show);
/* "58% (7 of 12)" or "not shown (fewer than 5 ...)" into buf */
const char *adm_report_rate(char *buf, size_t n, unsigned yes, unsigned of, bool hide);

/* "3 min 05 s" or "2 h 10 min" into buf */
const char *adm_report_length(char *buf, size_t n, int64_t ms);

/* the report as text to out */
void adm_report_text(const struct adm_report *rp, FILE *out);

/* `diaryroom-admin report --archive DIR [--from YYYY-MM-DD] [--to
 * YYYY-MM-DD]`: argv[1] is "report". Exit code. Main thread. */
int adm_report_main(int argc, char **argv);

#endif
