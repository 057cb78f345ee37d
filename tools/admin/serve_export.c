/* SPDX-License-Identifier: MIT */
/* Subject access from the staff page (docs/staff-page.md): everything held
 * about a receipt number, copied by adm_rights_export (what `diaryroom-admin
 * export --receipt` runs) into a new folder the server makes under
 * --exports (never a path from the page). Runs on libmicrohttpd's one
 * thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "archive.h"
#include "audit.h"
#include "audit_cmd.h"
#include "rights.h"
#include "serve_parse.h"
#include "serve_priv.h"

/* a new folder for a subject access copy under sv->exports */
static int export_dir(struct server *sv, const struct adm_rec *x, char *out, size_t n)
{
	/* the folder, and its parent (~/Downloads) if there is none yet */
	int r = mkdir(sv->exports, 0700) == 0 ? 0 : -errno;
	if (r == -ENOENT) {
		char parent[sizeof(sv->exports)];
		memcpy(parent, sv->exports, sizeof(parent));
		char *sl = strrchr(parent, '/');
		if (sl && sl != parent) {
			*sl = '\0';
			if (mkdir(parent, 0700) < 0 && errno != EEXIST)
				return -errno;
		}
		r = mkdir(sv->exports, 0700) == 0 ? 0 : -errno;
	}
	if (r < 0 && r != -EEXIST)
		return r;
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

enum MHD_Result adm_serve_export(struct server *sv, struct MHD_Connection *c, struct session *s,
				 const struct adm_rec *x, char *body, size_t len)
{
	char said[4096] = "", dir[4200];
	char probe[2];
	int pl = adm_serve_form(body, len, "pass", probe, sizeof(probe));
	bool with_key = pl != 0 && pl != -ENOENT; /* a passphrase was typed */
	if (with_key && adm_serve_pass_give(sv, body, len) < 0)
		return adm_serve_result_page(c, 403, "No copy made", false,
				   "That passphrase was not accepted: no copy was made.", NULL, x);
	struct adm_org org;
	int r = adm_org_load(sv->org, with_key, &org);
	adm_serve_pass_forget();
	if (r == 0)
		r = export_dir(sv, x, dir, sizeof(dir));
	struct adm_serve_said sw;
	if (r == 0 && (r = adm_serve_said_begin(&sw)) == 0) {
		struct adm_rights_query q = {.receipt = x->receipt, .box = x->box};
		r = adm_rights_export(&org, sv->archive, &q, dir);
		adm_serve_said_end(&sw, said, sizeof(said));
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
		return adm_serve_result_page(c, 500, "No copy made", false,
				   "The copy could not be made (nothing was left in its folder).",
				   said, x);
	char msg[4400];
	snprintf(msg, sizeof(msg), "The copy for receipt %s is in the folder %s", x->receipt, dir);
	return adm_serve_result_page(c, 200, "Copy made", true, msg, said, x);
}
