/* SPDX-License-Identifier: MIT */
/*
 * The engagement report on the staff page (serve_report.h): the figures of
 * report.c, each group as a table (what screen readers, print and the
 * text report read) and an SVG bar chart drawn here (no script, no
 * library). A hidden count has no bar, only its words, so a bar's length
 * never gives it away; the longest bar is the largest *shown* count.
 */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "serve_report.h"

static const char css[] =
	"body{font-family:system-ui,sans-serif;line-height:1.5;margin:1rem auto;max-width:60rem;"
	"padding:0 1rem;color:#111;background:#fff}\n"
	"table{border-collapse:collapse;margin:.5rem 0 1rem}\n"
	"th,td{border:1px solid #666;padding:.2rem .6rem;text-align:left}\n"
	"td.n{text-align:right}\n"
	/* readable at 200 % zoom: long ids and hashes wrap, players fit */
	"p,li,dd,summary,h1,h2,td:last-child{overflow-wrap:anywhere}\n"
	"video,audio{max-width:100%}\n"
	"video{height:auto}\n"
	".chart{max-width:100%;height:auto}\n"
	".chart .bar{fill:#1d4f91}\n"
	".chart text{font-size:13px;fill:#111}\n"
	".chart .hidden{font-style:italic}\n"
	".note{border-left:4px solid #1d4f91;padding-left:.8rem}\n"
	"@media print{\n"
	"  nav,form,.noprint{display:none}\n"
	"  body{max-width:none;margin:0;font-size:11pt;color:#000}\n"
	"  section{break-inside:avoid}\n"
	"  .chart .bar{fill:#444}\n"
	"  a{color:#000;text-decoration:none}\n"
	"}\n";

enum MHD_Result adm_serve_report_css(struct MHD_Connection *c)
{
	return adm_serve_send_buf(c, 200, "text/css; charset=utf-8", css, sizeof(css) - 1, NULL,
				  NULL);
}

static void group(FILE *f, const char *id, const char *title, const char *col,
		  const struct adm_report_group *g)
{
	char b[32];
	unsigned max = 0;
	for (size_t i = 0; i < g->n; i++)
		if (g->c[i].show == ADM_SHOWN && g->c[i].n > max)
			max = g->c[i].n;
	fprintf(f, "<section aria-labelledby=\"%s\"><h2 id=\"%s\">", id, id);
	adm_serve_esc(f, title);
	fprintf(f, "</h2>\n<table id=\"%s-table\"><thead><tr><th scope=\"col\">%s</th>"
		   "<th scope=\"col\">Recordings</th></tr></thead><tbody>\n",
		id, col);
	for (size_t i = 0; i < g->n; i++) {
		fputs("<tr><th scope=\"row\">", f);
		adm_serve_esc(f, g->c[i].key);
		fprintf(f, "</th><td class=\"n\">%s</td></tr>\n",
			adm_report_count(b, sizeof(b), g->c[i].n, g->c[i].show));
	}
	fputs("</tbody></table>\n", f);
	/* the chart repeats the table: hidden from screen readers */
	const unsigned row = 24, label = 170, width = 360;
	fprintf(f, "<svg class=\"chart\" aria-hidden=\"true\" width=\"%u\" height=\"%zu\" "
		   "viewBox=\"0 0 %u %zu\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		label + width + 120, g->n * row + 4, label + width + 120, g->n * row + 4);
	for (size_t i = 0; i < g->n; i++) {
		unsigned y = (unsigned)i * row + 2;
		fprintf(f, "<text x=\"0\" y=\"%u\">", y + 16);
		adm_serve_esc(f, g->c[i].key);
		fputs("</text>", f);
		if (g->c[i].show == ADM_SHOWN && max) {
			unsigned w = (unsigned)((uint64_t)g->c[i].n * width / max);
			fprintf(f, "<rect class=\"bar\" x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\"/>"
				   "<text x=\"%u\" y=\"%u\">%u</text>\n",
				label, y + 2, w ? w : 1, row - 6, label + (w ? w : 1) + 6, y + 16,
				g->c[i].n);
		} else {
			fprintf(f, "<text class=\"hidden\" x=\"%u\" y=\"%u\">%s</text>\n", label,
				y + 16, adm_report_count(b, sizeof(b), g->c[i].n, g->c[i].show));
		}
	}
	fputs("</svg></section>\n", f);
}

/* a date field's value, if it is one (YYYY-MM-DD), as the start or end of
 * that day UTC */
static bool day(const char *v, bool end, char *out, size_t n)
{
	if (!v || strlen(v) != 10)
		return false;
	for (int i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? v[i] != '-' : (v[i] < '0' || v[i] > '9'))
			return false;
	snprintf(out, n, "%sT%s", v, end ? "23:59:59Z" : "00:00:00Z");
	return true;
}

enum MHD_Result adm_serve_report_page(struct server *sv, struct MHD_Connection *c,
				      struct session *s)
{
	const char *from = adm_serve_arg(c, "from"), *to = adm_serve_arg(c, "to");
	char f1[40] = "", t1[40] = "";
	if ((from && *from && !day(from, false, f1, sizeof(f1))) ||
	    (to && *to && !day(to, true, t1, sizeof(t1))))
		return adm_serve_send_text(c, 400, "a date is YYYY-MM-DD\n");
	char err[256];
	struct adm_archive *a;
	if (adm_archive_open(sv->archive, false, &a, err, sizeof(err)) < 0)
		return adm_serve_send_text(c, 500, "the archive could not be opened\n");
	struct adm_report rp;
	int r = adm_report_make(a, f1, t1, &rp);
	adm_archive_close(a);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = r < 0 ? NULL : open_memstream(&buf, &len);
	if (!f) {
		adm_report_free(&rp);
		return adm_serve_send_text(c, 500, "the catalogue could not be read: nothing is shown\n");
	}
	char b[96], b2[96];
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width\">"
	      "<title>Engagement report - diaryroom</title>"
	      "<link rel=\"stylesheet\" href=\"/report.css\"></head><body>\n"
	      "\n",
	      f);
	adm_serve_nav(f);
	fputs("<main>\n<h1>Engagement report</h1>\n<p>", f);
	if (*f1 || *t1) {
		fputs("Recordings that started ", f);
		if (*f1) {
			fputs("from ", f);
			adm_serve_esc(f, from);
		}
		if (*t1) {
			fputs(*f1 ? " up to " : "up to ", f);
			adm_serve_esc(f, to);
		}
		fputs(" (UTC).", f);
	} else {
		fputs("Every recording the archive has held, withdrawn and expired ones included.", f);
	}
	fputs(" Prepared by ", f);
	adm_serve_esc(f, s->staff);
	fputs(".</p>\n<form method=\"get\" action=\"/report\"><p>"
	      "<label for=\"from\">From</label> <input id=\"from\" name=\"from\" type=\"date\" value=\"",
	      f);
	adm_serve_esc(f, from);
	fputs("\"> <label for=\"to\">To</label> <input id=\"to\" name=\"to\" type=\"date\" value=\"", f);
	adm_serve_esc(f, to);
	fputs("\"> <button type=\"submit\">Show</button></p></form>\n"
	      "<p class=\"note\">So that no resident of a small service can be picked out, any "
	      "count under 5 is shown as <strong>fewer than 5</strong>, and where a larger count "
	      "would give a small one away by subtraction it is <strong>not shown</strong>. Print "
	      "this page (Ctrl+P) for a paper or PDF copy.</p>\n",
	      f);
	fprintf(f, "<section aria-labelledby=\"sum\"><h2 id=\"sum\">Summary</h2><table "
		   "id=\"summary\"><tbody>\n<tr><th scope=\"row\">Recordings</th><td "
		   "class=\"n\">%s</td></tr>\n",
		adm_report_count(b, sizeof(b), rp.total, rp.total_show));
	fprintf(f, "<tr><th scope=\"row\">Staff may listen</th><td class=\"n\">%s</td></tr>\n",
		adm_report_rate(b, sizeof(b), rp.staff_yes, rp.total, rp.staff_hide));
	fprintf(f, "<tr><th scope=\"row\">May be shared</th><td class=\"n\">%s</td></tr>\n",
		adm_report_rate(b, sizeof(b), rp.share_yes, rp.total, rp.share_hide));
	if (rp.length_hide) {
		fputs("<tr><th scope=\"row\">Lengths</th><td class=\"n\">not shown (fewer than 5 "
		      "recordings)</td></tr>\n",
		      f);
	} else {
		adm_report_length(b, sizeof(b), rp.median_ms);
		adm_report_length(b2, sizeof(b2), rp.total_ms);
		fprintf(f, "<tr><th scope=\"row\">Median length</th><td class=\"n\">%s</td></tr>\n"
			   "<tr><th scope=\"row\">Total length</th><td class=\"n\">%s</td></tr>\n",
			b, b2);
	}
	fputs("</tbody></table></section>\n", f);
	group(f, "months", "Recordings per month (UTC)", "Month", &rp.months);
	group(f, "boxes", "Recordings per box", "Box", &rp.boxes);
	group(f, "media", "Sound and video", "Kind", &rp.media);
	fputs("</main></body></html>\n", f);
	adm_report_free(&rp);
	if (fclose(f) != 0) {
		free(buf);
		return adm_serve_send_text(c, 500, "out of memory\n");
	}
	enum MHD_Result ret =
		adm_serve_send_buf(c, 200, "text/html; charset=utf-8", buf, len, NULL, NULL);
	free(buf);
	return ret;
}
