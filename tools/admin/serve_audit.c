/* SPDX-License-Identifier: MIT */
/* The staff page's audit log (newest first, and whether its chain holds)
 * and a recording's files checked on demand (docs/staff-page.md). Runs on
 * libmicrohttpd's one thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "archive.h"
#include "audit.h"
#include "audit_cmd.h"
#include "collect_priv.h"
#include "serve_priv.h"

#define AUDIT_SHOWN 2000 /* the newest entries the page lists */

/* the newest AUDIT_SHOWN entries' rows, as HTML, in a ring */
struct rows {
	char *v[AUDIT_SHOWN];
	size_t n; /* entries seen */
};

static int row_cb(const struct adm_audit_entry *e, void *ctx)
{
	struct rows *rw = ctx;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "<tr><td>%llu</td><td>", (unsigned long long)e->seq);
	adm_serve_esc(f, e->time);
	fputs("</td><td>", f);
	adm_serve_esc(f, e->actor);
	if (e->actor && e->os_user && strcmp(e->actor, e->os_user)) {
		fputs(" (account ", f);
		adm_serve_esc(f, e->os_user);
		fputs(")", f);
	}
	fputs("</td><td>", f);
	adm_serve_esc(f, e->action);
	fputs("</td><td>", f);
	adm_serve_esc(f, e->receipt);
	fputs("</td><td>", f);
	if (e->box) {
		fputs("box ", f);
		adm_serve_esc(f, e->box);
	}
	if (e->recording) {
		fputs(" recording ", f);
		adm_serve_esc(f, e->recording);
	}
	if (e->detail) {
		fputs(": ", f);
		adm_serve_esc(f, e->detail);
	}
	fputs("</td></tr>\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	size_t i = rw->n++ % AUDIT_SHOWN;
	free(rw->v[i]);
	rw->v[i] = buf;
	return 0;
}

enum MHD_Result adm_serve_audit_page(struct server *sv, struct MHD_Connection *c,
				     struct session *s)
{
	(void)s;
	int dfd = adm_archive_dirfd(sv->archive);
	if (dfd < 0)
		return adm_serve_send_text(c, 500, "the archive could not be opened\n");
	/* the whole chain: what verify says, and the entries up to a break */
	char *vbuf = NULL;
	size_t vlen = 0;
	FILE *vf = open_memstream(&vbuf, &vlen);
	int v = vf ? adm_audit_verify(dfd, vf) : -ENOMEM;
	if (vf)
		fclose(vf);
	/* one line for people: without its newline, nor verify's own lead-in */
	while (vbuf && vlen && (vbuf[vlen - 1] == '\n' || vbuf[vlen - 1] == '\r'))
		vbuf[--vlen] = '\0';
	for (size_t i = 0; i < vlen; i++)
		if (vbuf[i] == '\n')
			vbuf[i] = ' ';
	const char *vtext = vbuf ? vbuf : "";
	if (!strncmp(vtext, "audit log intact: ", 18))
		vtext += 18;
	struct rows *rw = calloc(1, sizeof(*rw));
	int fd = adm_audit_open_read(dfd);
	int rr = !rw ? -ENOMEM : fd == -ENOENT ? 0 : fd < 0 ? fd : adm_audit_read_fd(fd, NULL, row_cb, rw, NULL);
	if (fd >= 0)
		close(fd);
	close(dfd);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = rw && rr >= 0 ? adm_serve_page_open(&buf, &len, "Audit log") : NULL;
	if (!f) {
		free(vbuf);
		for (size_t i = 0; rw && i < AUDIT_SHOWN; i++)
			free(rw->v[i]);
		free(rw);
		return adm_serve_send_text(c, 500, "the audit log could not be read: nothing is shown\n");
	}
	if (v == 0) {
		fputs("<p id=\"verify\" role=\"status\">The audit log is intact: ", f);
		adm_serve_esc(f, *vtext ? vtext : "no entries yet");
		fputs(".</p>\n", f);
	} else {
		fputs("<p id=\"verify\" role=\"alert\"><strong>The audit log is BROKEN</strong>: "
		      "someone changed, removed or cut entries. ",
		      f);
		adm_serve_esc(f, v < 0 ? "It could not be read." : vtext);
		fputs(". Entries are listed only up to the break.</p>\n", f);
	}
	fprintf(f, "<p>%zu entr%s%s, newest first.</p>\n", rw->n, rw->n == 1 ? "y" : "ies",
		rw->n > AUDIT_SHOWN ? " (the newest 2000 are listed; `diaryroom-admin audit` "
				      "prints them all)" : "");
	fputs("<table><caption>Who did what, when (UTC)</caption><thead><tr><th scope=\"col\">"
	      "Entry</th><th scope=\"col\">When</th><th scope=\"col\">Who</th><th scope=\"col\">"
	      "What</th><th scope=\"col\">Receipt</th><th scope=\"col\">About</th></tr></thead>"
	      "<tbody>\n",
	      f);
	size_t shown = rw->n < AUDIT_SHOWN ? rw->n : AUDIT_SHOWN;
	for (size_t k = 0; k < shown; k++) {
		size_t i = (rw->n - 1 - k) % AUDIT_SHOWN;
		fputs(rw->v[i], f);
	}
	fputs("</tbody></table>\n", f);
	for (size_t i = 0; i < AUDIT_SHOWN; i++)
		free(rw->v[i]);
	free(rw);
	free(vbuf);
	return adm_serve_page_send(c, 200, &buf, &len, f);
}

/* GET /verify?box=&id=: the recording's files re-hashed against the
 * catalogue, as `diaryroom-admin check` does for every file */
enum MHD_Result adm_serve_verify_page(struct server *sv, struct MHD_Connection *c,
				      struct session *s)
{
	(void)s;
	struct adm_rec x;
	unsigned st = adm_serve_find_rec(sv, adm_serve_arg(c, "box"), adm_serve_arg(c, "receipt"),
					 adm_serve_arg(c, "start"), &x);
	if (st)
		return adm_serve_send_text(c, st, st == 404 ? "no such recording\n"
							    : "the catalogue could not be read\n");
	const char *box = x.box, *id = x.id;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = adm_serve_page_open(&buf, &len, "A recording's files checked");
	if (!f)
		return adm_serve_send_text(c, 500, "out of memory\n");
	fputs("<p>Receipt ", f);
	adm_serve_esc(f, x.receipt);
	fputs(", box ", f);
	adm_serve_esc(f, x.box);
	fputs(", recorded ", f);
	adm_serve_esc(f, x.start_utc);
	fputs(", status ", f);
	adm_serve_esc(f, x.status);
	fputs(".</p>\n<ul id=\"checks\">\n", f);
	bool bad = false;
	static const char *const kinds[] = {"sealed", "playable"};
	for (int k = 0; k < 2; k++) {
		const char *want = k ? x.playable_blake2b : x.blake2b;
		const char *what = k ? "The playable copy" : "The box's sealed original";
		if (!strcmp(x.status, "archived") && k == 0 && !x.sealed_original)
			what = "The recording (an older row)";
		char p[4300], hex[65];
		uint64_t size;
		bool expect = !strcmp(x.status, "archived") && *want;
		int h = adm_archive_path(p, sizeof(p), sv->archive, box, id, x.media, kinds[k]) == 0
				? hash_path(p, hex, &size)
				: -EINVAL;
		fputs("<li>", f);
		fputs(what, f);
		if (!expect && h == -ENOENT) {
			fputs(": none held, as the catalogue says.", f);
		} else if (!expect) {
			fputs(": a file is there that the catalogue does not hold: run "
			      "diaryroom-admin check.", f);
			bad = true;
		} else if (h < 0) {
			fputs(": MISSING or unreadable.", f);
			bad = true;
		} else if (strcmp(hex, want)) {
			fputs(": DOES NOT MATCH its hash in the catalogue (altered or damaged).", f);
			bad = true;
		} else {
			fputs(": matches its hash in the catalogue", f);
			fputs(k == 0 && x.sealed_original ? " (the hash its box signed)." : ".", f);
		}
		fputs("</li>\n", f);
	}
	fputs("</ul>\n", f);
	fputs(bad ? "<p id=\"verdict\" role=\"alert\">Not sound: run diaryroom-admin check.</p>\n"
		  : "<p id=\"verdict\" role=\"status\">Sound.</p>\n",
	      f);
	return adm_serve_page_send(c, 200, &buf, &len, f);
}
