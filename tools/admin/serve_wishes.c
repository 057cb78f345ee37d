/* SPDX-License-Identifier: MIT */
/*
 * A resident's wishes on the staff page (docs/staff-page.md): a withdrawal,
 * a change of consent, a consent given later (an unlock, with the
 * passphrase) and a subject access copy, for one recording found by its
 * receipt number and box. Each is done by the command line's own code:
 * a change goes through index_add_change / index_apply_changes /
 * index_save as a `--changes` line does (collect_priv.h), so the next
 * collect sends it to the box in the receipt; an unlock is adm_unlock; a
 * copy is adm_rights_export. Their messages (said on stderr and stdout) are
 * caught and shown on the page. Runs on libmicrohttpd's one thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "admin.h"
#include "archive.h"
#include "audit.h"
#include "audit_cmd.h"
#include "collect_priv.h"
#include "rights.h"
#include "serve_parse.h"
#include "serve_priv.h"

/* ---- the command line's messages, shown on the page ---- */

struct said {
	int mfd, out, err;
};

static int said_begin(struct said *w)
{
	fflush(stdout);
	fflush(stderr);
	w->mfd = memfd_create("serve-said", MFD_CLOEXEC);
	w->out = fcntl(1, F_DUPFD_CLOEXEC, 3);
	w->err = fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (w->mfd < 0 || w->out < 0 || w->err < 0 || dup2(w->mfd, 1) < 0 || dup2(w->mfd, 2) < 0) {
		if (w->out >= 0)
			dup2(w->out, 1);
		if (w->err >= 0)
			dup2(w->err, 2);
		return -errno;
	}
	return 0;
}

/* what was said (at most n - 1 bytes), also copied to the server's stderr */
static void said_end(struct said *w, char *buf, size_t n)
{
	fflush(stdout);
	fflush(stderr);
	dup2(w->out, 1);
	dup2(w->err, 2);
	close(w->out);
	close(w->err);
	ssize_t k = pread(w->mfd, buf, n - 1, 0);
	buf[k > 0 ? k : 0] = '\0';
	close(w->mfd);
	fputs(buf, stderr);
}

/* ---- the HTML ---- */

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

static FILE *page_open(char **buf, size_t *len, const char *title)
{
	FILE *f = open_memstream(buf, len);
	if (!f)
		return NULL;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width\"><title>",
	      f);
	esc(f, title);
	fputs(" - diaryroom</title></head><body><main>\n<h1>", f);
	esc(f, title);
	fputs("</h1>\n", f);
	adm_serve_nav(f);
	return f;
}

static enum MHD_Result page_send(struct MHD_Connection *c, unsigned status, char **bufp,
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
	      "<a href=\"/audit\">Audit log</a></p></nav>\n",
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

static void rec_summary(FILE *f, const struct adm_rec *x)
{
	fputs("<p>Receipt number <strong>", f);
	esc(f, x->receipt);
	fputs("</strong>, box ", f);
	esc(f, x->box);
	fputs(", recorded ", f);
	esc(f, x->start_utc);
	fprintf(f, " (%lld s). Status: ", (long long)(x->duration_ms / 1000));
	esc(f, x->status);
	fputs(". Consent now: staff may listen: ", f);
	esc(f, x->consent_staff);
	fputs("; may share: ", f);
	esc(f, x->consent_share);
	fputs(x->locked ? " (locked: sealed, no one may listen).</p>\n" : ".</p>\n", f);
}

static void hidden(FILE *f, const char *name, const char *v)
{
	fprintf(f, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	esc(f, v);
	fputs("\">", f);
}

/* the wishes staff may record, by the form's value */
struct wish {
	const char *what, *label, *kind, *staff, *share;
	bool unlock;	/* a consent given later for a locked recording */
};

static const struct wish wishes[] = {
	{"withdraw", "Withdraw: every copy in the archive is deleted now, and the box deletes "
		     "its own when the stick next goes in", "withdraw", "", "", false},
	{"listen", "Consent given later: staff may listen (not share); the recording is "
		   "unlocked with the passphrase", "consent", "yes", "no", true},
	{"listen-share", "Consent given later: staff may listen and it may be shared; the "
			 "recording is unlocked with the passphrase", "consent", "yes", "yes", true},
	{"share-yes", "May share: yes (staff may already listen)", "consent", "yes", "yes", false},
	{"share-no", "May share: no (staff may still listen)", "consent", "yes", "no", false},
	{"lock", "Staff may no longer listen: the playable copy is deleted, the box's sealed "
		 "original is kept (and deleted when its retention ends)", "consent", "no", "no", false},
};

/* whether w may be asked for x as it stands */
static bool wish_fits(const struct wish *w, const struct adm_rec *x)
{
	if (strcmp(x->status, "archived"))
		return false;
	if (!strcmp(w->what, "withdraw"))
		return true;
	if (w->unlock || !strcmp(w->what, "lock"))
		return w->unlock ? x->locked : !x->locked;
	return !x->locked && strcmp(x->consent_share, w->share);
}

static const struct wish *wish_of(const char *what)
{
	for (size_t i = 0; i < sizeof(wishes) / sizeof(wishes[0]); i++)
		if (!strcmp(wishes[i].what, what))
			return &wishes[i];
	return NULL;
}

enum MHD_Result adm_serve_wish_page(struct server *sv, struct MHD_Connection *c,
				    struct session *s)
{
	struct adm_rec x;
	unsigned st = adm_serve_find_rec(sv, adm_serve_arg(c, "box"), adm_serve_arg(c, "receipt"),
					 adm_serve_arg(c, "start"), &x);
	if (st)
		return adm_serve_send_text(c, st, st == 404 ? "no such recording\n"
							    : "the catalogue could not be read\n");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = page_open(&buf, &len, "A resident's wishes");
	if (!f)
		return adm_serve_send_text(c, 500, "out of memory\n");
	rec_summary(f, &x);
	bool any = false;
	for (size_t i = 0; i < sizeof(wishes) / sizeof(wishes[0]); i++)
		any = any || wish_fits(&wishes[i], &x);
	if (any) {
		fputs("<h2>Record what the resident wants</h2>\n"
		      "<form method=\"post\" action=\"/wish/confirm\"><fieldset><legend>What the "
		      "resident wants for receipt ",
		      f);
		esc(f, x.receipt);
		fputs("</legend>\n", f);
		bool first = true;
		for (size_t i = 0; i < sizeof(wishes) / sizeof(wishes[0]); i++) {
			if (!wish_fits(&wishes[i], &x))
				continue;
			fprintf(f, "<p><input type=\"radio\" name=\"what\" id=\"w-%s\" value=\"%s\"%s> "
				   "<label for=\"w-%s\">%s</label></p>\n",
				wishes[i].what, wishes[i].what, first ? " required" : "",
				wishes[i].what, wishes[i].label);
			first = false;
		}
		fputs("</fieldset>", f);
		hidden(f, "csrf", s->csrf);
		hidden(f, "box", x.box);
		hidden(f, "receipt", x.receipt);
		hidden(f, "start", x.start_utc);
		fputs("<p><button type=\"submit\">Continue</button> (you will be asked to "
		      "confirm)</p></form>\n",
		      f);
	} else {
		fputs("<p>Nothing more can be recorded for this recording: it is no longer held "
		      "(withdrawn, or deleted when its retention ended).</p>\n",
		      f);
	}
	fputs("<h2>Subject access: a copy of everything held</h2>\n<p>Everything the archive "
	      "holds about receipt number ",
	      f);
	esc(f, x.receipt);
	fputs(" on this box (its recordings still held, their consent history and the audit "
	      "log's entries about them) is copied into a new folder on this computer; the page "
	      "then says where.</p>\n<form method=\"post\" action=\"/export\">",
	      f);
	hidden(f, "csrf", s->csrf);
	hidden(f, "box", x.box);
	hidden(f, "receipt", x.receipt);
	hidden(f, "start", x.start_utc);
	fputs("<p><label for=\"xpass\">The organisation's passphrase (optional: with it, locked "
	      "recordings are opened for the resident; without it they are copied sealed)"
	      "</label> <input id=\"xpass\" name=\"pass\" type=\"password\" "
	      "autocomplete=\"off\"></p>\n<p><button type=\"submit\">Make the copy</button></p>"
	      "</form>\n",
	      f);
	return page_send(c, 200, &buf, &len, f);
}

/* POST /wish/confirm: the summary, and the form that does it */
static enum MHD_Result confirm_page(struct MHD_Connection *c, struct session *s,
				    const struct adm_rec *x, const struct wish *w)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = page_open(&buf, &len, "Confirm the resident's wish");
	if (!f)
		return adm_serve_send_text(c, 500, "out of memory\n");
	rec_summary(f, x);
	fputs("<h2>You are about to record</h2>\n<p id=\"summary\"><strong>", f);
	esc(f, w->label);
	fputs("</strong>, for receipt number ", f);
	esc(f, x->receipt);
	fputs(" on box ", f);
	esc(f, x->box);
	fputs(", signed by you, ", f);
	esc(f, s->staff);
	fputs(", in the audit log. It is sent to the box with the next stick collected.</p>\n",
	      f);
	fputs("<form method=\"post\" action=\"/wish/do\">", f);
	hidden(f, "csrf", s->csrf);
	hidden(f, "box", x->box);
	hidden(f, "receipt", x->receipt);
	hidden(f, "start", x->start_utc);
	hidden(f, "what", w->what);
	if (w->unlock)
		fputs("<p><label for=\"pass\">The organisation's passphrase (to open the sealed "
		      "recording)</label> <input id=\"pass\" name=\"pass\" type=\"password\" "
		      "autocomplete=\"off\" required></p>\n",
		      f);
	fputs("<p><button type=\"submit\">Confirm</button> ", f);
	fputs("<a href=\"/wish?", f);
	adm_serve_rec_ref(f, x);
	fputs("\">Cancel</a></p></form>\n", f);
	return page_send(c, 200, &buf, &len, f);
}

static enum MHD_Result result_page(struct MHD_Connection *c, unsigned status, const char *title,
				   bool ok, const char *msg, const char *said,
				   const struct adm_rec *x)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = page_open(&buf, &len, title);
	if (!f)
		return adm_serve_send_text(c, 500, "out of memory\n");
	fputs(ok ? "<p id=\"result\" role=\"status\">" : "<p id=\"result\" role=\"alert\">", f);
	esc(f, msg);
	fputs("</p>\n", f);
	if (said && *said) {
		fputs("<h2>What the archive said</h2>\n<pre>", f);
		esc(f, said);
		fputs("</pre>\n", f);
	}
	if (x) {
		fputs("<p><a href=\"/wish?", f);
		adm_serve_rec_ref(f, x);
		fprintf(f, "\">Back to receipt %s</a></p>\n", x->receipt);
	}
	return page_send(c, status, &buf, &len, f);
}

/* The change, as a `--changes` line for this box would make it, entered now
 * and applied to the archive's copies at once (collect.c does the same for
 * the boxes on its stick). Under the archive's lock; never waits for it. */
static int change_now(struct server *sv, struct session *s, const struct adm_rec *x,
		      const struct wish *w, bool *same)
{
	struct change ch = {0};
	snprintf(ch.kind, sizeof(ch.kind), "%s", w->kind);
	memcpy(ch.receipt, x->receipt, sizeof(ch.receipt));
	snprintf(ch.staff, sizeof(ch.staff), "%s", w->staff);
	snprintf(ch.share, sizeof(ch.share), "%s", w->share);
	snprintf(ch.device, sizeof(ch.device), "%s", x->box);
	int64_t now = time(NULL);
	int lockfd;
	int r = cat_open("staff page", sv->archive, false, false, &lockfd, now);
	if (r < 0)
		return r;
	char dir[4200];
	struct json_object *idx = NULL, *chs = NULL;
	r = adm_archive_path(dir, sizeof(dir), sv->archive, x->box, NULL, NULL, NULL);
	if (r == 0)
		idx = index_load(dir, x->box);
	if (r == 0 && (!member(idx, "recordings", json_type_object) ||
		       !(chs = member(idx, "changes", json_type_array))))
		r = -EBADMSG;
	if (r < 0)
		goto out_idx;
	size_t before = json_object_array_length(chs);
	index_add_change(idx, &ch, now, true);
	*same = json_object_array_length(chs) == before;
	if (*same)
		goto out_idx;
	/* a change is for the recording that holds the number now: this one,
	 * unless the box gave the number to a later recording */
	if (!change_is_for(idx, json_object_array_get_idx(chs, before), x->id, x->receipt,
			   x->start_utc)) {
		fprintf(stderr, "staff page: receipt %s on box %s now belongs to a later "
				"recording: nothing changed\n", x->receipt, x->box);
		r = -EINVAL;
		goto out_idx;
	}
	index_apply_changes(dir, idx);
	struct adm_org org;
	r = adm_org_load(sv->org, false, &org);
	if (r == 0)
		r = forms_make(&org, dir, x->box, idx, x->id);
	if (r == 0)
		r = index_save(dir, idx);
	if (r == 0)
		forms_tidy(&org, dir, x->box, idx, x->id);
	adm_org_free(&org);
	if (r == 0) {
		char d[160];
		snprintf(d, sizeof(d), "on the staff page: %s%s%s%s%s; sent to the box with the next "
				       "stick", w->kind, *w->staff ? ": staff " : "", w->staff,
			 *w->share ? ", share " : "", w->share);
		r = adm_audit_add(audit, s->staff, w->kind, x->box, x->id, x->receipt, d);
	}
	if (r == 0)
		r = write_consent_sheet(sv->archive);
out_idx:
	json_object_put(idx);
	cat_close(lockfd);
	return r;
}

/* the passphrase from the form into DIARYROOM_PASSPHRASE, where
 * adm_passphrase takes it from (and wipes it); only if it opens org.key */
static int pass_give(struct server *sv, char *body, size_t len)
{
	char *pass = adm_secret_new(ADM_PASS_MAX);
	if (!pass)
		return -ENOMEM;
	int r = adm_serve_form(body, len, "pass", pass, ADM_PASS_MAX);
	if (r > 0)
		r = adm_serve_pass_ok(sv, pass);
	else
		r = r == 0 || r == -ENOENT ? -ENOENT : -EACCES;
	if (r == 0) {
		unsetenv("DIARYROOM_PASSPHRASE_FD");
		r = setenv("DIARYROOM_PASSPHRASE", pass, 1) < 0 ? -errno : 0;
	}
	adm_secret_free(pass);
	return r;
}

static void pass_forget(void)
{
	char *e = getenv("DIARYROOM_PASSPHRASE");
	if (e)
		sodium_memzero(e, strlen(e));
	unsetenv("DIARYROOM_PASSPHRASE");
}

static enum MHD_Result do_wish(struct server *sv, struct MHD_Connection *c, struct session *s,
			       const struct adm_rec *x, const struct wish *w, char *body,
			       size_t len)
{
	char said[4096] = "";
	struct said sw;
	int r;
	bool same = false;
	if (w->unlock) {
		r = pass_give(sv, body, len);
		if (r < 0)
			return result_page(c, 403, "Not unlocked", false,
					   "That passphrase was not accepted: nothing changed.",
					   NULL, x);
		struct adm_org org;
		r = adm_org_load(sv->org, false, &org);
		if (r == 0 && (r = said_begin(&sw)) == 0) {
			r = adm_unlock(&org, sv->archive, x->receipt, w->share, x->box, time(NULL),
				       false);
			said_end(&sw, said, sizeof(said));
		}
		adm_org_free(&org);
		pass_forget();
		if (r == 0) {
			int dfd = adm_archive_dirfd(sv->archive);
			struct adm_audit *au = NULL;
			r = dfd < 0 ? dfd : adm_audit_open(dfd, &au);
			if (r == 0)
				r = adm_audit_add(au, s->staff, "unlock", x->box, x->id, x->receipt,
						  w->share[0] == 'y'
							  ? "on the staff page: staff yes, share yes"
							  : "on the staff page: staff yes, share no");
			adm_audit_close(au);
			if (dfd >= 0)
				close(dfd);
			if (r < 0)
				return result_page(c, 500, "Unlocked, not audited", false,
						   "The recording was unlocked, but the staff page's "
						   "audit entry could not be written.",
						   said, x);
		}
	} else {
		r = said_begin(&sw);
		if (r == 0) {
			r = change_now(sv, s, x, w, &same);
			said_end(&sw, said, sizeof(said));
		}
	}
	if (r < 0)
		return result_page(c, r == -EWOULDBLOCK ? 409 : 500, "Nothing changed", false,
				   r == -EWOULDBLOCK ? "Another diaryroom-admin (a collect?) is "
						       "writing the archive: try again when it "
						       "has finished. Nothing changed."
						     : "It could not be recorded: nothing changed.",
				   said, x);
	char msg[512];
	snprintf(msg, sizeof(msg),
		 same ? "This was already the latest wish recorded for receipt %s: nothing new "
			"was recorded."
		      : "Recorded for receipt %s: %s. The box learns it from the next stick "
			"collected.",
		 x->receipt, w->label);
	return result_page(c, 200, "Recorded", true, msg, said, x);
}

/* a new folder for a subject access copy under sv->exports */
static int export_dir(struct server *sv, const struct adm_rec *x, char *out, size_t n)
{
	if (mkdir(sv->exports, 0700) < 0 && errno != EEXIST)
		return -errno;
	char t[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(t, sizeof(t), "%Y%m%dT%H%M%SZ", &tm);
	for (int i = 1; i < 100; i++) {
		char suf[8] = "";
		if (i > 1)
			snprintf(suf, sizeof(suf), "-%d", i);
		if (adm_fmt(out, n, "%s/receipt-%s-box-%s-%s%s", sv->exports, x->receipt, x->box, t,
			    suf) < 0)
			return -ENAMETOOLONG;
		struct stat st;
		if (lstat(out, &st) < 0 && errno == ENOENT)
			return 0;
	}
	return -EEXIST;
}

static enum MHD_Result do_export(struct server *sv, struct MHD_Connection *c, struct session *s,
				 const struct adm_rec *x, char *body, size_t len)
{
	char said[4096] = "", dir[4200];
	char probe[2];
	int pl = adm_serve_form(body, len, "pass", probe, sizeof(probe));
	bool with_key = pl != 0 && pl != -ENOENT; /* a passphrase was typed */
	if (with_key && pass_give(sv, body, len) < 0)
		return result_page(c, 403, "No copy made", false,
				   "That passphrase was not accepted: no copy was made.", NULL, x);
	struct adm_org org;
	int r = adm_org_load(sv->org, with_key, &org);
	pass_forget();
	if (r == 0)
		r = export_dir(sv, x, dir, sizeof(dir));
	struct said sw;
	if (r == 0 && (r = said_begin(&sw)) == 0) {
		struct adm_rights_query q = {.receipt = x->receipt, .box = x->box};
		r = adm_rights_export(&org, sv->archive, &q, dir);
		said_end(&sw, said, sizeof(said));
	}
	adm_org_free(&org);
	if (r == 0) {
		int dfd = adm_archive_dirfd(sv->archive);
		struct adm_audit *au = NULL;
		char d[4400];
		snprintf(d, sizeof(d), "on the staff page: subject access copy into %s", dir);
		r = dfd < 0 ? dfd : adm_audit_open(dfd, &au);
		if (r == 0)
			r = adm_audit_add(au, s->staff, "export", x->box, NULL, x->receipt, d);
		adm_audit_close(au);
		if (dfd >= 0)
			close(dfd);
	}
	if (r < 0)
		return result_page(c, 500, "No copy made", false,
				   "The copy could not be made (nothing was left in its folder).",
				   said, x);
	char msg[4400];
	snprintf(msg, sizeof(msg), "The copy for receipt %s is in the folder %s", x->receipt, dir);
	return result_page(c, 200, "Copy made", true, msg, said, x);
}

enum MHD_Result adm_serve_wish_post(struct server *sv, struct MHD_Connection *c,
				    struct session *s, const char *url, char *body, size_t len)
{
	char box[40], receipt[8], start[48], what[20];
	struct adm_rec x;
	unsigned st = 404;
	if (adm_serve_form(body, len, "box", box, sizeof(box)) > 0 &&
	    adm_serve_form(body, len, "receipt", receipt, sizeof(receipt)) > 0 &&
	    adm_serve_form(body, len, "start", start, sizeof(start)) > 0)
		st = adm_serve_find_rec(sv, box, receipt, start, &x);
	enum MHD_Result ret;
	if (st) {
		ret = adm_serve_send_text(c, st, st == 404 ? "no such recording\n"
							   : "the catalogue could not be read\n");
	} else if (!strcmp(url, "/export")) {
		ret = do_export(sv, c, s, &x, body, len);
	} else {
		const struct wish *w = adm_serve_form(body, len, "what", what, sizeof(what)) > 0
					       ? wish_of(what)
					       : NULL;
		if (!w || !wish_fits(w, &x))
			ret = result_page(c, 400, "Not recorded", false,
					  "Choose one of the wishes offered for this recording "
					  "(as it stands now): nothing changed.",
					  NULL, &x);
		else if (!strcmp(url, "/wish/confirm"))
			ret = confirm_page(c, s, &x, w);
		else
			ret = do_wish(sv, c, s, &x, w, body, len);
	}
	sodium_memzero(body, len);
	return ret;
}
