/* SPDX-License-Identifier: MIT */
/*
 * Share copies on the staff page (serve_report.h, share.h): the recordings
 * that may be shared, each with a form (POST with the page's CSRF token)
 * that makes a podcast-ready copy, the voice disguised if asked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "serve_parse.h"
#include "serve_report.h"
#include "share.h"

static const char honest[] =
	"<p class=\"note\">A share copy is loudness-normalised to -16 LUFS, as podcasts are. "
	"<strong>Disguising the voice</strong> moves its formants (the McAdams method), so "
	"that people who know the speaker are less likely to recognise them at a casual "
	"listen. It does <strong>not</strong> stop a determined listener, or a computer, "
	"from recognising the voice, and it does nothing about what is said: names, places "
	"and stories still identify people. Listen to the copy before it is shared.</p>\n";

static void head(FILE *f, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width\"><title>",
	      f);
	adm_serve_esc(f, title);
	fputs(" - diaryroom</title><link rel=\"stylesheet\" href=\"/report.css\"></head><body>\n", f);
	adm_serve_nav(f);
	fputs("<main>\n<h1>", f);
	adm_serve_esc(f, title);
	fputs("</h1>\n", f);
}

/* ends the page on f (an open_memstream on *buf, *len), sends and frees it */
static enum MHD_Result finish(struct MHD_Connection *c, unsigned status, FILE *f, char **buf,
			      size_t *len)
{
	fputs("</main></body></html>\n", f);
	if (fclose(f) != 0) {
		free(*buf);
		return adm_serve_send_text(c, 500, "out of memory\n");
	}
	enum MHD_Result r = adm_serve_send_buf(c, status, "text/html; charset=utf-8", *buf, *len,
					       NULL, NULL);
	free(*buf);
	return r;
}

struct listing {
	FILE *f;
	struct adm_archive *a;
	const struct session *s;
	unsigned n;
};

static int one(void *ctx, const struct adm_rec *x)
{
	struct listing *l = ctx;
	FILE *f = l->f;
	if (x->locked || strcmp(x->status, "archived") || strcmp(x->consent_share, "yes") ||
	    (strcmp(x->media, "audio") && strcmp(x->media, "video")) || !*x->playable_blake2b)
		return 0;
	l->n++;
	fputs("<section><h2>", f);
	adm_serve_esc(f, x->start_utc);
	fputs(" &middot; receipt ", f);
	adm_serve_esc(f, *x->receipt ? x->receipt : "none");
	fputs("</h2><p>Box ", f);
	adm_serve_esc(f, x->box);
	fprintf(f, ", %lld s.", (long long)(x->duration_ms / 1000));
	if (!strcmp(x->media, "video"))
		fputs(" A video: its share copy has the sound only (no picture).", f);
	for (int d = 0; d < 2; d++) {
		char rel[128];
		struct stat st;
		if (adm_share_path(rel, sizeof(rel), x->box, x->id, d, false) == 0 &&
		    fstatat(l->a->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
			fputs(d ? " A disguised copy is in the archive's folder: " : " A copy is in the "
								      "archive's folder: ",
			      f);
			adm_serve_esc(f, rel);
			fputs(".", f);
		}
	}
	fputs("</p><form method=\"post\" action=\"/share\"><input type=\"hidden\" name=\"csrf\" "
	      "value=\"",
	      f);
	adm_serve_esc(f, l->s->csrf);
	fprintf(f, "\"><input type=\"hidden\" name=\"box\" value=\"%s\"><input type=\"hidden\" "
		   "name=\"id\" value=\"%s\"><p><input type=\"checkbox\" id=\"d%s\" name=\"disguise\" "
		   "value=\"1\"> <label for=\"d%s\">Disguise the voice</label> <button "
		   "type=\"submit\">Make a share copy of receipt %s</button></p></form></section>\n",
		x->box, x->id, x->id, x->id, *x->receipt ? x->receipt : "none");
	return 0;
}

enum MHD_Result adm_serve_shares_page(struct server *sv, struct MHD_Connection *c,
				      struct session *s)
{
	char err[256];
	struct adm_archive *a;
	if (adm_archive_open(sv->archive, false, &a, err, sizeof(err)) < 0)
		return adm_serve_send_text(c, 500, "the archive could not be opened\n");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		adm_archive_close(a);
		return adm_serve_send_text(c, 500, "out of memory\n");
	}
	head(f, "Share copies");
	fputs("<p>Only recordings whose resident said they may be shared are listed; sealed, "
	      "withdrawn and expired ones never are. Each copy is recorded in the audit log "
	      "with your name.</p>\n",
	      f);
	fputs(honest, f);
	struct listing l = {.f = f, .a = a, .s = s};
	struct adm_query q = {0};
	int r = a->ops->rec_each(a, &q, one, &l);
	adm_archive_close(a);
	if (r < 0) {
		fclose(f);
		free(buf);
		return adm_serve_send_text(c, 500, "the catalogue could not be read: nothing is shown\n");
	}
	if (!l.n)
		fputs("<p>No recording may be shared.</p>\n", f);
	return finish(c, 200, f, &buf, &len);
}

enum MHD_Result adm_serve_share_post(struct server *sv, struct MHD_Connection *c,
				     struct session *s, const char *body, size_t blen)
{
	char box[24], id[40], dis[4];
	if (adm_serve_form(body, blen, "box", box, sizeof(box)) < 0 ||
	    adm_serve_form(body, blen, "id", id, sizeof(id)) < 0 || !adm_box_ok(box) ||
	    !adm_rec_id_ok(id))
		return adm_serve_send_text(c, 404, "no such recording\n");
	bool disguise = adm_serve_form(body, blen, "disguise", dis, sizeof(dis)) == 1 &&
			dis[0] == '1';
	char err[256], why[256] = "";
	struct adm_archive *a;
	if (adm_archive_open(sv->archive, false, &a, err, sizeof(err)) < 0)
		return adm_serve_send_text(c, 500, "the archive could not be opened\n");
	struct adm_share_result res;
	int r = adm_share_make(a, box, id, disguise, s->staff, &res, why, sizeof(why));
	adm_archive_close(a);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return adm_serve_send_text(c, 500, "out of memory\n");
	head(f, r == 0 ? "Share copy made" : "No share copy made");
	fputs(r == 0 ? "<p role=\"status\">" : "<p role=\"alert\">", f);
	if (r == 0) {
		fprintf(f, "The copy of receipt %s is in the archive's folder as <code>",
			*res.receipt ? res.receipt : "none");
		adm_serve_esc(f, res.rel);
		fprintf(f, "</code> (%.1f LUFS%s%s). It is in the audit log with your name.",
			res.lufs, disguise ? ", voice disguised" : "",
			res.video ? ", the video's sound only: no picture" : "");
	} else {
		adm_serve_esc(f, why);
		fputs(".", f);
	}
	fputs("</p>\n", f);
	if (r == 0 && disguise)
		fputs(honest, f);
	fputs("<p><a href=\"/shares\">Back to share copies</a></p>\n", f);
	unsigned st = r == 0 ? 200 : r == -EPERM ? 403 : r == -ENOENT ? 404 : r == -EBADMSG ? 409 : 500;
	return finish(c, st, f, &buf, &len);
}
