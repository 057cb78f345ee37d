/* SPDX-License-Identifier: MIT */
/*
 * A resident's wishes on the staff page (docs/staff-page.md): a withdrawal,
 * a change of consent, a consent given later (an unlock, with the
 * passphrase), for one recording found by its receipt number and box, each
 * asked for, then confirmed. Each is done by the command line's own code: a
 * change goes through index_add_change / index_apply_changes / index_save
 * as a `--changes` line does (collect_priv.h), so the next collect sends it
 * to the box in the receipt; an unlock is adm_unlock. What that code says
 * is shown on the page (serve_said.c). Runs on libmicrohttpd's one thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "admin.h"
#include "archive.h"
#include "audit.h"
#include "audit_cmd.h"
#include "collect_priv.h"
#include "serve_parse.h"
#include "serve_priv.h"

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
	FILE *f = adm_serve_page_open(&buf, &len, "A resident's wishes");
	if (!f)
		return adm_serve_send_text(c, 500, "out of memory\n");
	adm_serve_rec_summary(f, &x);
	bool any = false;
	for (size_t i = 0; i < sizeof(wishes) / sizeof(wishes[0]); i++)
		any = any || wish_fits(&wishes[i], &x);
	if (any) {
		fputs("<h2>Record what the resident wants</h2>\n"
		      "<form method=\"post\" action=\"/wish/confirm\"><fieldset><legend>What the "
		      "resident wants for receipt ",
		      f);
		adm_serve_esc(f, x.receipt);
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
		adm_serve_hidden(f, "csrf", s->csrf);
		adm_serve_hidden(f, "box", x.box);
		adm_serve_hidden(f, "receipt", x.receipt);
		adm_serve_hidden(f, "start", x.start_utc);
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
	adm_serve_esc(f, x.receipt);
	fputs(" on this box (its recordings still held, their consent history and the audit "
	      "log's entries about them) is copied into a new folder on this computer; the page "
	      "then says where.</p>\n<form method=\"post\" action=\"/export\">",
	      f);
	adm_serve_hidden(f, "csrf", s->csrf);
	adm_serve_hidden(f, "box", x.box);
	adm_serve_hidden(f, "receipt", x.receipt);
	adm_serve_hidden(f, "start", x.start_utc);
	fputs("<p><label for=\"xpass\">The organisation's passphrase (optional: with it, locked "
	      "recordings are opened for the resident; without it they are copied sealed)"
	      "</label> <input id=\"xpass\" name=\"pass\" type=\"password\" "
	      "autocomplete=\"off\"></p>\n<p><button type=\"submit\">Make the copy</button></p>"
	      "</form>\n",
	      f);
	return adm_serve_page_send(c, 200, &buf, &len, f);
}

/* POST /wish/confirm: the summary, and the form that does it */
static enum MHD_Result confirm_page(struct MHD_Connection *c, struct session *s,
				    const struct adm_rec *x, const struct wish *w)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = adm_serve_page_open(&buf, &len, "Confirm the resident's wish");
	if (!f)
		return adm_serve_send_text(c, 500, "out of memory\n");
	adm_serve_rec_summary(f, x);
	fputs("<h2>You are about to record</h2>\n<p id=\"summary\"><strong>", f);
	adm_serve_esc(f, w->label);
	fputs("</strong>, for receipt number ", f);
	adm_serve_esc(f, x->receipt);
	fputs(" on box ", f);
	adm_serve_esc(f, x->box);
	fputs(", signed by you, ", f);
	adm_serve_esc(f, s->staff);
	fputs(", in the audit log. It is sent to the box with the next stick collected.</p>\n",
	      f);
	fputs("<form method=\"post\" action=\"/wish/do\">", f);
	adm_serve_hidden(f, "csrf", s->csrf);
	adm_serve_hidden(f, "box", x->box);
	adm_serve_hidden(f, "receipt", x->receipt);
	adm_serve_hidden(f, "start", x->start_utc);
	adm_serve_hidden(f, "what", w->what);
	if (w->unlock)
		fputs("<p><label for=\"pass\">The organisation's passphrase (to open the sealed "
		      "recording)</label> <input id=\"pass\" name=\"pass\" type=\"password\" "
		      "autocomplete=\"off\" required></p>\n",
		      f);
	fputs("<p><button type=\"submit\">Confirm</button> ", f);
	fputs("<a href=\"/wish?", f);
	adm_serve_rec_ref(f, x);
	fputs("\">Cancel</a></p></form>\n", f);
	return adm_serve_page_send(c, 200, &buf, &len, f);
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
	if (*same) {
		/* the same as the latest change for this number: fine if that one
		 * is for this recording; if it was for an earlier holder of the
		 * number, index_add_change's rule (the command line's) cannot
		 * record it again */
		struct json_object *last = NULL;
		for (size_t i = before; i-- > 0 && !last;)
			if (!strcmp(str_of(json_object_array_get_idx(chs, i), "receipt"), x->receipt))
				last = json_object_array_get_idx(chs, i);
		if (last && !change_is_for(idx, last, x->id, x->receipt, x->start_utc)) {
			fprintf(stderr, "staff page: the same change was recorded for an earlier "
					"recording with receipt %s on box %s, and cannot be recorded "
					"again: nothing changed\n", x->receipt, x->box);
			r = -EALREADY;
		}
		goto out_idx;
	}
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

static enum MHD_Result do_wish(struct server *sv, struct MHD_Connection *c, struct session *s,
			       const struct adm_rec *x, const struct wish *w, char *body,
			       size_t len)
{
	char said[4096] = "";
	struct adm_serve_said sw;
	int r;
	bool same = false;
	if (w->unlock) {
		r = adm_serve_pass_give(sv, body, len);
		if (r < 0)
			return adm_serve_result_page(c, 403, "Not unlocked", false,
					   "That passphrase was not accepted: nothing changed.",
					   NULL, x);
		struct adm_org org;
		r = adm_org_load(sv->org, false, &org);
		if (r == 0 && (r = adm_serve_said_begin(&sw)) == 0) {
			r = adm_unlock(&org, sv->archive, x->receipt, w->share, x->box, time(NULL),
				       false);
			adm_serve_said_end(&sw, said, sizeof(said));
		}
		adm_org_free(&org);
		adm_serve_pass_forget();
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
				return adm_serve_result_page(c, 500, "Unlocked, not audited", false,
						   "The recording was unlocked, but the staff page's "
						   "audit entry could not be written.",
						   said, x);
		}
	} else {
		r = adm_serve_said_begin(&sw);
		if (r == 0) {
			r = change_now(sv, s, x, w, &same);
			adm_serve_said_end(&sw, said, sizeof(said));
		}
	}
	if (r == -EWOULDBLOCK)
		return adm_serve_result_page(c, 409, "Nothing changed", false,
					     "Another diaryroom-admin (a collect?) is writing the "
					     "archive: try again when it has finished. Nothing "
					     "changed.",
					     said, x);
	if (r < 0)
		return adm_serve_result_page(c, r == -EINVAL || r == -EALREADY ? 409 : 500,
					     "Not recorded", false,
					     "It could not be recorded: what the archive said is "
					     "below (diaryroom-admin check says what state the "
					     "archive is in).",
					     said, x);
	char msg[512];
	snprintf(msg, sizeof(msg),
		 same ? "This was already the latest wish recorded for receipt %s: nothing new "
			"was recorded."
		      : "Recorded for receipt %s: %s. The box learns it from the next stick "
			"collected.",
		 x->receipt, w->label);
	return adm_serve_result_page(c, 200, "Recorded", true, msg, said, x);
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
		ret = adm_serve_export(sv, c, s, &x, body, len);
	} else {
		const struct wish *w = adm_serve_form(body, len, "what", what, sizeof(what)) > 0
					       ? wish_of(what)
					       : NULL;
		if (!w || !wish_fits(w, &x))
			ret = adm_serve_result_page(c, 400, "Not recorded", false,
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
