/* SPDX-License-Identifier: MIT */
/*
 * unlock: a resident consents later, against their receipt number.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "admin.h"
#include "archive.h"
#include "archive_index.h"
#include "archive_keep.h"
#include "audit.h"
#include "collect_priv.h"
#include "media/recover.h"
#include "seal/seal.h"


/* ---- unlock: a resident consents later, against their receipt number ---- */


int adm_unlock(struct adm_org *org, const char *archive, const char *receipt,
	       const char *share, const char *box, int64_t now, bool wait)
{
	int lockfd;
	int r = cat_open("unlock", archive, false, wait, &lockfd, now);
	if (r < 0)
		return r;
	r = unlock_locked(org, archive, receipt, share, box, now);
	cat_close(lockfd);
	return r;
}

int unlock_locked(struct adm_org *org, const char *archive, const char *receipt,
			 const char *share, const char *box, int64_t now)
{
	int sh;
	if (!dr_stick_receipt_ok(receipt) || dr_stick_consent_parse(share, &sh) < 0 || sh < 0 ||
	    (box && !dr_stick_hex_ok(box, DR_DEVICE_ID_HEX))) {
		fprintf(stderr, "unlock: --receipt is the 4-digit number, --share yes or no, --box "
				"the box's 16-character id\n");
		return -EINVAL;
	}
	/* find it: exactly one recording the archive holds with this number */
	char dev[DR_DEVICE_ID_HEX + 1] = "", id[128] = "", gone[128] = "", ended[32] = "";
	bool locked = false;
	int found = 0;
	struct boxes bx;
	if (cat_boxes(&bx) < 0)
		return -EBADMSG;
	for (size_t bi = 0; bi < bx.n; bi++) {
		const char *bname = bx.v[bi];
		if (box && strcmp(box, bname))
			continue;
		struct json_object *idx = index_load(NULL, bname);
		if (!idx) {
			free(bx.v);
			return -EBADMSG;
		}
		struct json_object *recs = member(idx, "recordings", json_type_object);
		if (recs) {
			json_object_object_foreach(recs, rid, r)
			{
				if (strcmp(str_of(r, "receipt"), receipt))
					continue;
				if (!strcmp(str_of(r, "status"), "expired")) {
					adm_fmt(gone, sizeof(gone), "%s", rid);
					adm_fmt(ended, sizeof(ended), "%s", str_of(r, "retention_ended_utc"));
				}
				if (strcmp(str_of(r, "status"), "archived"))
					continue;
				struct json_object *lk = member(r, "locked", json_type_boolean);
				found++;
				locked = !lk || json_object_get_boolean(lk);
				adm_fmt(dev, sizeof(dev), "%s", bname);
				adm_fmt(id, sizeof(id), "%s", rid);
			}
		}
		json_object_put(idx);
	}
	free(bx.v);
	if (!found && gone[0]) {
		fprintf(stderr, "unlock: recording %s (receipt %s) was locked: the retention period "
				"ended on %s; the recording was deleted. Nothing changed\n",
			gone, receipt, ended[0] ? ended : "(unknown)");
		return -ENOENT;
	}
	if (found != 1) {
		fprintf(stderr, found ? "unlock: more than one box has a recording numbered %s: add "
					"--box ID (the consent sheet's box column)\n"
				      : "unlock: the archive holds no recording numbered %s (withdrawn, "
					"never collected, or a wrong number): nothing changed\n",
			receipt);
		return found ? -EINVAL : -ENOENT;
	}
	if (!locked) {
		fprintf(stderr, "unlock: recording %s (receipt %s) is not locked: staff may already "
				"listen to it; nothing changed\n", id, receipt);
		return -EALREADY;
	}
	char odir[sizeof(org->dir)];
	memcpy(odir, org->dir, sizeof(odir));
	int r = adm_org_load(odir, true, org);
	if (r < 0)
		return r; /* wrong passphrase: said */
	char dir[4200], p[4200];
	if (adm_archive_path(dir, sizeof(dir), archive, dev, NULL, NULL, NULL) < 0)
		return -EBADMSG;
	struct json_object *idx = index_load(dir, dev);
	if (!member(idx, "recordings", json_type_object)) {
		json_object_put(idx);
		return -EBADMSG;
	}
	struct change c = {0};
	adm_fmt(c.kind, sizeof(c.kind), "consent");
	memcpy(c.receipt, receipt, 5);
	adm_fmt(c.staff, sizeof(c.staff), "yes");
	adm_fmt(c.share, sizeof(c.share), "%s", sh ? "yes" : "no");
	adm_fmt(c.device, sizeof(c.device), "%s", dev);
	index_add_change(idx, &c, now, true);
	index_apply_changes(dir, idx);
	/* open the sealed copy (checked against the box's hash) before anything
	 * is recorded: a damaged or altered one changes nothing */
	r = forms_make(org, dir, dev, idx, id);
	form_path(p, sizeof(p), dir, id,
		  rec_media(member(member(idx, "recordings", json_type_object), id,
				   json_type_object)),
		  false);
	if (r == 0 && access(p, F_OK) != 0)
		r = -ENOENT;
	if (r < 0) {
		fprintf(stderr, "unlock: recording %s (receipt %s) stays locked; nothing changed\n",
			id, receipt);
		json_object_put(idx);
		return r;
	}
	r = index_save(dir, idx);
	if (r == 0)
		forms_tidy(org, dir, dev, idx, id);
	json_object_put(idx);
	if (r == 0)
		r = adm_audit_add(audit, NULL, "unlock", dev, id, receipt,
				  sh ? "staff yes, share yes" : "staff yes, share no");
	if (r == 0)
		r = write_consent_sheet(archive);
	if (r < 0) {
		fprintf(stderr, "unlock: could not update the archive: %s\n", strerror(-r));
		return r;
	}
	printf("recording %s (receipt %s) unlocked: %s (staff may listen; share: %s). The box "
	       "learns this consent from the next collect.\n", id, receipt, p, sh ? "yes" : "no");
	return 0;
}
