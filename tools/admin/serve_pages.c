/* SPDX-License-Identifier: MIT */
/* The staff page's HTML (docs/staff-page.md): sign-in and recordings. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"
#include "audit.h"
#include "serve_priv.h"
#include "export/stickfmt.h"

static void page_head(FILE *f, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width\"><title>",
	      f);
	adm_serve_esc(f, title);
	/* the style sheet needs a session: the sign-in form goes without */
	fputs(strcmp(title, "Sign in") ? " - diaryroom</title><link rel=\"stylesheet\" "
					 "href=\"/report.css\"></head><body><main>\n<h1>"
				       : " - diaryroom</title></head><body><main>\n<h1>",
	      f);
	adm_serve_esc(f, title);
	fputs("</h1>\n", f);
}

/* ends the page on f (an open_memstream on *buf, *len), sends and frees it */
static enum MHD_Result send_page(struct MHD_Connection *c, unsigned status, char **buf,
				 size_t *len, FILE *f)
{
	fputs("</main></body></html>\n", f);
	if (fclose(f) != 0) {
		free(*buf);
		return adm_serve_send_text(c, 500, "out of memory\n");
	}
	enum MHD_Result r = adm_serve_send_buf(c, status, "text/html; charset=utf-8", *buf, *len, NULL,
				     NULL);
	free(*buf);
	return r;
}

enum MHD_Result adm_serve_signin_page(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return adm_serve_send_text(c, 500, "out of memory\n");
	page_head(f, "Sign in");
	if (msg) {
		fputs("<p role=\"alert\">", f);
		adm_serve_esc(f, msg);
		fputs("</p>\n", f);
	}
	fputs("<form method=\"post\" action=\"/signin\">\n"
	      "<p><label for=\"staff\">Your name</label> "
	      "<input id=\"staff\" name=\"staff\" autocomplete=\"name\" required maxlength=\"63\"></p>\n"
	      "<p><label for=\"pass\">The organisation's passphrase</label> "
	      "<input id=\"pass\" name=\"pass\" type=\"password\" required></p>\n"
	      "<p><button type=\"submit\">Sign in</button></p>\n</form>\n",
	      f);
	return send_page(c, status, &buf, &len, f);
}

/* a GET argument as a whole C string (a decoded NUL refuses it), or NULL */
const char *adm_serve_arg(struct MHD_Connection *c, const char *name)
{
	const char *v;
	size_t n;
	if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v, &n) !=
		    MHD_YES ||
	    !v || strlen(v) != n || n > 64)
		return NULL;
	return v;
}

struct listing {
	struct adm_rec *r;
	size_t n, cap;
	const char *consent; /* NULL: any */
	const char *media;   /* "audio", "video"; NULL: either */
	int64_t min_ms, max_ms; /* length within [min, max]; -1: no bound */
};

static int add_rec(void *ctx, const struct adm_rec *r)
{
	struct listing *l = ctx;
	if (l->consent && strcmp(l->consent, r->consent_staff))
		return 0;
	if (l->media && strcmp(l->media, r->media))
		return 0;
	if ((l->min_ms >= 0 && r->duration_ms < l->min_ms) ||
	    (l->max_ms >= 0 && r->duration_ms > l->max_ms))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct adm_rec *p = realloc(l->r, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->r = p;
		l->cap = cap;
	}
	l->r[l->n++] = *r;
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct adm_rec *x = a, *y = b;
	int d = strcmp(y->start_utc, x->start_utc);
	return d ? d : strcmp(x->id, y->id);
}

static int print_consent(void *ctx, const struct adm_consent *k)
{
	FILE *f = ctx;
	fputs("<li>", f);
	adm_serve_esc(f, k->at_utc);
	fputs(": staff ", f);
	adm_serve_esc(f, k->staff);
	fputs(", share ", f);
	adm_serve_esc(f, k->share);
	fputs(" (", f);
	adm_serve_esc(f, k->source);
	fputs(")</li>", f);
	return 0;
}

static int print_box(void *ctx, const char *box)
{
	FILE *f = ctx;
	fputs("<option value=\"", f);
	adm_serve_esc(f, box);
	fputs("\">", f);
	adm_serve_esc(f, box);
	fputs("</option>", f);
	return 0;
}

/* "2", "1.5", "0.25" minutes (at most 2 decimals, at most 10000) as
 * milliseconds in *ms; empty or absent: *ms = -1. -EINVAL otherwise. */
static int minutes_ms(const char *v, int64_t *ms)
{
	*ms = -1;
	if (!v || !*v)
		return 0;
	int64_t whole = 0, frac = 0;
	int digits = 0, decimals = -1;
	for (const char *p = v; *p; p++) {
		if (*p == '.' && decimals < 0 && digits) {
			decimals = 0;
		} else if (*p >= '0' && *p <= '9') {
			if (decimals < 0) {
				whole = whole * 10 + (*p - '0');
				if (++digits > 5)
					return -EINVAL;
			} else {
				if (++decimals > 2)
					return -EINVAL;
				frac = frac * 10 + (*p - '0');
			}
		} else {
			return -EINVAL;
		}
	}
	if (!digits || decimals == 0 || whole > 10000)
		return -EINVAL;
	if (decimals == 1)
		frac *= 10;
	*ms = whole * 60000 + frac * 600;
	return 0;
}

/* YYYY-MM-DD (what a date input sends), or empty */
static bool date_ok(const char *v)
{
	if (!v || !*v)
		return true;
	if (strlen(v) != 10 || v[4] != '-' || v[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (v[i] < '0' || v[i] > '9'))
			return false;
	return true;
}

static void option(FILE *f, const char *value, const char *label, const char *chosen)
{
	fprintf(f, "<option value=\"%s\"%s>%s</option>", value,
		chosen && !strcmp(chosen, value) ? " selected" : "", label);
}

static void field(FILE *f, const char *id, const char *label, const char *type, const char *v)
{
	fprintf(f, "<label for=\"%s\">%s</label> <input id=\"%s\" name=\"%s\" type=\"%s\" value=\"",
		id, label, id, id, type);
	adm_serve_esc(f, v);
	fputs("\"> ", f);
}

enum MHD_Result adm_serve_recordings_page(struct server *sv, struct MHD_Connection *c,
				       struct session *s)
{
	const char *box = adm_serve_arg(c, "box"), *receipt = adm_serve_arg(c, "receipt"), *from = adm_serve_arg(c, "from"),
		   *to = adm_serve_arg(c, "to"), *consent = adm_serve_arg(c, "consent"),
		   *media = adm_serve_arg(c, "media"), *longer = adm_serve_arg(c, "longer"),
		   *shorter = adm_serve_arg(c, "shorter");
	if (box && *box && !adm_box_ok(box))
		return adm_serve_send_text(c, 400, "not a box id\n");
	if (!date_ok(from) || !date_ok(to))
		return adm_serve_send_text(c, 400, "a date is YYYY-MM-DD, e.g. 2026-03-31\n");
	if (consent && *consent && strcmp(consent, "yes") && strcmp(consent, "no") &&
	    strcmp(consent, "unanswered"))
		return adm_serve_send_text(c, 400, "consent is yes, no or unanswered\n");
	if (media && *media && strcmp(media, "sound") && strcmp(media, "video"))
		return adm_serve_send_text(c, 400, "the type is sound or video\n");
	int64_t min_ms, max_ms;
	if (minutes_ms(longer, &min_ms) < 0 || minutes_ms(shorter, &max_ms) < 0)
		return adm_serve_send_text(c, 400,
					   "a length is a number of minutes, e.g. 2 or 1.5 (at most "
					   "2 decimals, at most 10000)\n");
	if (min_ms >= 0 && max_ms >= 0 && min_ms > max_ms)
		return adm_serve_send_text(c, 400,
					   "\"at least\" is longer than \"at most\": nothing could match\n");
	char fromt[40] = "", tot[40] = "";
	if (from && *from)
		snprintf(fromt, sizeof(fromt), "%.10sT00:00:00Z", from);
	if (to && *to)
		snprintf(tot, sizeof(tot), "%.10sT23:59:59Z", to);
	struct adm_query qy = {.box = box && *box ? box : NULL,
			       .receipt = receipt && *receipt ? receipt : NULL,
			       .from_utc = *fromt ? fromt : NULL,
			       .to_utc = *tot ? tot : NULL};
	char err[256];
	struct adm_archive *a;
	if (adm_archive_open(sv->archive, false, &a, err, sizeof(err)) < 0)
		return adm_serve_send_text(c, 500, "the archive could not be opened\n");
	struct listing l = {.consent = consent && *consent ? consent : NULL,
			    .media = !media || !*media ? NULL
				     : !strcmp(media, "sound") ? "audio"
							       : "video",
			    .min_ms = min_ms,
			    .max_ms = max_ms};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r = f ? a->ops->rec_each(a, &qy, add_rec, &l) : -ENOMEM;
	if (r < 0) {
		if (f)
			fclose(f);
		free(buf);
		free(l.r);
		adm_archive_close(a);
		return adm_serve_send_text(c, 500, "the catalogue could not be read: nothing is shown\n");
	}
	if (l.n) /* an empty archive: no array */
		qsort(l.r, l.n, sizeof(*l.r), newest_first);
	page_head(f, "Recordings");
	adm_serve_nav(f);
	fputs("<p>Signed in as ", f);
	adm_serve_esc(f, s->staff);
	fputs(".</p><form method=\"post\" action=\"/signout\"><input type=\"hidden\" "
	      "name=\"csrf\" value=\"",
	      f);
	adm_serve_esc(f, s->csrf);
	fputs("\"><button type=\"submit\">Sign out</button></form>\n", f);
	adm_serve_collect_notice(sv, f);
	fputs("<form method=\"get\" action=\"/\" role=\"search\"><p>"
	      "<label for=\"box\">Box</label> <select id=\"box\" name=\"box\">"
	      "<option value=\"\">every box</option>",
	      f);
	a->ops->box_each(a, print_box, f);
	fputs("</select> ", f);
	field(f, "receipt", "Receipt number", "text", receipt);
	field(f, "from", "From", "date", from);
	field(f, "to", "To", "date", to);
	fputs("<label for=\"consent\">Consent</label> <select id=\"consent\" name=\"consent\">", f);
	option(f, "", "any", consent);
	option(f, "yes", "yes", consent);
	option(f, "no", "no", consent);
	option(f, "unanswered", "unanswered", consent);
	fputs("</select> <label for=\"media\">Type</label> <select id=\"media\" name=\"media\">", f);
	option(f, "", "sound or video", media);
	option(f, "sound", "sound", media);
	option(f, "video", "video", media);
	fputs("</select> ", f);
	fputs("<label for=\"longer\">At least (minutes)</label> <input id=\"longer\" name=\"longer\" "
	      "type=\"number\" min=\"0\" max=\"10000\" step=\"0.01\" value=\"", f);
	adm_serve_esc(f, longer);
	fputs("\"> <label for=\"shorter\">At most (minutes)</label> <input id=\"shorter\" "
	      "name=\"shorter\" type=\"number\" min=\"0\" max=\"10000\" step=\"0.01\" value=\"", f);
	adm_serve_esc(f, shorter);
	fputs("\"> <button type=\"submit\">Show</button></p></form>\n", f);
	/* the whole chain, on every load: an archive's log is small */
	int v = adm_audit_verify(a->dirfd, NULL);
	fputs(v == 0   ? "<p id=\"audit\">Audit log: intact.</p>\n"
	      : v == 1 ? "<p id=\"audit\" role=\"alert\">Audit log: BROKEN (someone changed or "
			 "removed entries; run diaryroom-admin audit --verify).</p>\n"
		       : "<p id=\"audit\" role=\"alert\">Audit log: could not be read.</p>\n",
	      f);
	fprintf(f, "<p>%zu recording%s.</p>\n", l.n, l.n == 1 ? "" : "s");
	for (size_t i = 0; i < l.n; i++) {
		const struct adm_rec *x = &l.r[i];
		fputs("<section class=\"rec\"><h2>", f);
		adm_serve_esc(f, x->start_utc);
		fputs(" &middot; receipt ", f);
		adm_serve_esc(f, *x->receipt ? x->receipt : "none");
		fputs("</h2><p>Box ", f);
		adm_serve_esc(f, x->box);
		bool video = !strcmp(x->media, "video");
		fprintf(f, ", %s, %lld s, %s, ", video ? "video" : "sound",
			(long long)(x->duration_ms / 1000), x->state);
		adm_serve_esc(f, x->status);
		fputs(x->time_uncertain ? ", the box's clock was not sure" : "", f);
		fputs(". Consent: staff ", f);
		adm_serve_esc(f, x->consent_staff);
		fputs(", share ", f);
		adm_serve_esc(f, x->consent_share);
		fputs(".</p>", f);
		bool playable = !x->locked && !strcmp(x->status, "archived") &&
				*x->playable_blake2b && (video || !strcmp(x->media, "audio"));
		if (x->locked) {
			fputs("<p class=\"sealed\">Sealed: no one may listen", f);
			int64_t start;
			char ends[32];
			if (*x->retention_ended_utc) {
				fputs("; retention ended ", f);
				adm_serve_esc(f, x->retention_ended_utc);
			} else if (!strcmp(x->status, "archived") &&
				   dr_stick_time_parse(x->start_utc, &start) == 0) {
				/* collect's rule (expire_locked): start + the days */
				dr_stick_time_format(start + (int64_t)sv->retention_days * 86400, ends);
				fprintf(f, "; its retention ends %s (%ld days after it started), "
					   "and it is deleted at the first collect after then",
					ends, sv->retention_days);
			}
			fputs(".</p>", f);
		} else if (playable && video) {
			fprintf(f, "<video controls preload=\"none\" width=\"640\" "
				   "aria-label=\"recording %s\" src=\"/play?box=%s&amp;id=%s\"></video>",
				x->receipt, x->box, x->id);
		} else if (playable) {
			fprintf(f, "<audio controls preload=\"none\" "
				   "aria-label=\"recording %s\" src=\"/play?box=%s&amp;id=%s\"></audio>",
				x->receipt, x->box, x->id);
		} else {
			fputs("<p>No playable copy.</p>", f);
		}
		adm_serve_rec_links(f, x);
		fputs("<details><summary>Consent history</summary><ul>", f);
		a->ops->consent_each(a, x->box, x->id, print_consent, f);
		fputs("</ul></details></section>\n", f);
	}
	free(l.r);
	adm_archive_close(a);
	return send_page(c, 200, &buf, &len, f);
}
