/* SPDX-License-Identifier: MIT */
/* The HTML shared by the staff page's newer pages (docs/staff-page.md):
 * the page frame, the links under a recording, and finding a recording by
 * box, receipt number and start (never by a locked recording's id). Runs on
 * libmicrohttpd's one thread. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "archive.h"
#include "serve_priv.h"

/* ---- the HTML ---- */

void adm_serve_esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		case '\n': case '\t': fputc(*s, f); break;
		default: fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
		}
	}
}

FILE *adm_serve_page_open(char **buf, size_t *len, const char *title)
{
	FILE *f = open_memstream(buf, len);
	if (!f)
		return NULL;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width\"><title>",
	      f);
	adm_serve_esc(f, title);
	fputs(" - diaryroom</title><link rel=\"stylesheet\" href=\"/report.css\"></head>"
	      "<body><main>\n<h1>", f);
	adm_serve_esc(f, title);
	fputs("</h1>\n", f);
	adm_serve_nav(f);
	return f;
}

enum MHD_Result adm_serve_page_send(struct MHD_Connection *c, unsigned status, char **bufp,
				    size_t *lenp, FILE *f)
{
	fputs("</main></body></html>\n", f);
	if (fclose(f) != 0) {
		free(*bufp);
		return adm_serve_send_text(c, 500, "out of memory\n");
	}
	enum MHD_Result r =
		adm_serve_send_buf(c, status, "text/html; charset=utf-8", *bufp, *lenp, NULL, NULL);
	free(*bufp);
	return r;
}

static bool start_ok(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	if (n < 10 || n > 39)
		return false;
	for (; *t; t++)
		if (!strchr("0123456789-T:Z", *t))
			return false;
	return true;
}

void adm_serve_nav(FILE *f)
{
	fputs("<nav aria-label=\"pages\"><p><a href=\"/\">Recordings</a> &middot; "
	      "<a href=\"/audit\">Audit log</a> &middot; "
	      "<a href=\"/report\">Engagement report</a> &middot; " /* serve_report.c */
	      "<a href=\"/shares\">Share copies</a> &middot; "
	      "<a href=\"/collect\">Collect a staff stick</a></p></nav>\n",
	      f);
}

void adm_serve_rec_links(FILE *f, const struct adm_rec *x)
{
	if (!strcmp(x->status, "archived"))
		fputs(x->sealed_original
			      ? "<p>Checked when collected: the box's signature on its list and "
				"the hash of the box's sealed original."
			      : "<p>Collected before stick format 2: the hash is of the recording, "
				"not of a file the box sealed.",
		      f);
	else
		fputs("<p>", f);
	if (!*x->receipt || !start_ok(x->start_utc)) {
		fputs("</p>", f);
		return;
	}
	fputs(" <a href=\"/verify?", f);
	adm_serve_rec_ref(f, x);
	fputs("\">Check its files now</a> &middot; <a href=\"/wish?", f);
	adm_serve_rec_ref(f, x);
	fprintf(f, "\">Resident's wishes, unlock, copy for receipt %s</a></p>", x->receipt);
}

/* ---- the recording the form is about ---- */

struct one {
	const char *start;
	struct adm_rec *x;
	int n;
};

static int one_cb(void *ctx, const struct adm_rec *r)
{
	struct one *o = ctx;
	if (strcmp(r->start_utc, o->start))
		return 0;
	if (!o->n++)
		*o->x = *r;
	return 0;
}

/* The recording named by box, receipt number and start (from a URL or a
 * form: checked; a locked recording's id is never put in a URL or a page),
 * read from the catalogue into *x: 0, or the HTTP status to answer with. */
unsigned adm_serve_find_rec(struct server *sv, const char *box, const char *receipt,
			    const char *start, struct adm_rec *x)
{
	if (!box || !receipt || !start || !adm_box_ok(box) || !dr_stick_receipt_ok(receipt) ||
	    !start_ok(start))
		return 404;
	char err[256];
	struct adm_archive *a;
	if (adm_archive_open(sv->archive, false, &a, err, sizeof(err)) < 0)
		return 500;
	struct adm_query q = {.box = box, .receipt = receipt, .from_utc = start, .to_utc = start};
	struct one o = {.start = start, .x = x};
	int r = a->ops->rec_each(a, &q, one_cb, &o);
	adm_archive_close(a);
	if (r < 0)
		return 500;
	return o.n == 1 ? 0 : 404;
}

/* the query naming x in a page's link (already HTML-safe: hex, digits, time) */
void adm_serve_rec_ref(FILE *f, const struct adm_rec *x)
{
	fprintf(f, "box=%s&amp;receipt=%s&amp;start=%s", x->box, x->receipt, x->start_utc);
}

void adm_serve_rec_summary(FILE *f, const struct adm_rec *x)
{
	fputs("<p>Receipt number <strong>", f);
	adm_serve_esc(f, x->receipt);
	fputs("</strong>, box ", f);
	adm_serve_esc(f, x->box);
	fputs(", recorded ", f);
	adm_serve_esc(f, x->start_utc);
	fprintf(f, " (%lld s). Status: ", (long long)(x->duration_ms / 1000));
	adm_serve_esc(f, x->status);
	fputs(". Consent now: staff may listen: ", f);
	adm_serve_esc(f, x->consent_staff);
	fputs("; may share: ", f);
	adm_serve_esc(f, x->consent_share);
	fputs(x->locked ? " (locked: sealed, no one may listen).</p>\n" : ".</p>\n", f);
}

void adm_serve_hidden(FILE *f, const char *name, const char *v)
{
	fprintf(f, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	adm_serve_esc(f, v);
	fputs("\">", f);
}

enum MHD_Result adm_serve_result_page(struct MHD_Connection *c, unsigned status,
				      const char *title, bool ok, const char *msg, const char *said,
				   const struct adm_rec *x)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = adm_serve_page_open(&buf, &len, title);
	if (!f)
		return adm_serve_send_text(c, 500, "out of memory\n");
	fputs(ok ? "<p id=\"result\" role=\"status\">" : "<p id=\"result\" role=\"alert\">", f);
	adm_serve_esc(f, msg);
	fputs("</p>\n", f);
	if (said && *said) {
		fputs("<h2>What the archive said</h2>\n<pre>", f);
		adm_serve_esc(f, said);
		fputs("</pre>\n", f);
	}
	if (x) {
		fputs("<p><a href=\"/wish?", f);
		adm_serve_rec_ref(f, x);
		fprintf(f, "\">Back to receipt %s</a></p>\n", x->receipt);
	}
	return adm_serve_page_send(c, status, &buf, &len, f);
}
