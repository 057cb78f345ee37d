/* SPDX-License-Identifier: MIT */
/*
 * collect: from a staff stick into the archive folder, and the signed
 * receipt back onto the stick.
 *
 *   <archive>/<device>/<id>.opus.sealed  every recording as the box sealed it
 *                                    (DRSEAL02, docs/sealed-file.md): the
 *                                    evidence the box signed, kept for every
 *                                    recording; receipts re-hash it, no key
 *                                    needed
 *   <archive>/<device>/<id>.mkv.sealed  the same for a video (Matroska)
 *   <archive>/<device>/<id>.opus     a playable copy, opened with the
 *                                    organisation's key, only of the
 *                                    recordings staff may hear; `unlock`
 *                                    makes one when a resident consents later
 *   <archive>/<device>/<id>.webm     a video's playable copy: the browser
 *                                    copy (collect_video.c, webcopy.h)
 *   <archive>/<device>/manifests/    each imported export's signed manifest
 *   <archive>/catalogue.sqlite       what the archive holds, with the
 *                                    manifests' metadata, and the withdrawals
 *                                    and consent changes staff recorded (sent
 *                                    to the box in every receipt): the truth,
 *                                    archive.h, docs/archive.md
 *   <archive>/consent.csv            the consent sheet (all boxes), made
 *                                    from the catalogue
 *
 * The whole run holds the archive's lock (one writer); the catalogue is
 * committed one box at a time, after that box's files are durable, and the
 * receipt is written from what was committed. The other files of collect:
 * collect_import.c, collect_index.c, collect_forms.c, collect_receipt.c,
 * consent_sheet.c (collect_priv.h between them).
 *
 * (Archives made before stick format 2 hold a locked recording as a
 * DRSEAL01 file sealed on the PC, seal.c, and an unlocked one only as its
 * playable copy; such rows have no "sealed_original" and keep working: the
 * file's magic says how to open it.)
 *
 * Idempotent: a recording already in the archive with the right hash is
 * not copied again. A sealed file is imported only if its BLAKE2b matches
 * the device-signed manifest (opened with the organisation's key) both as
 * read from the stick and as read back from the archive after fsync, and it
 * opens with the organisation's key as the recording the manifest names:
 * every message intact, in order, of this recording, ending with its last
 * message unless the manifest says the recording was interrupted (then its
 * Ogg end is finished as the box used to). Anything else is refused with a
 * message and nothing of that recording is kept. Only recordings whose
 * sealed original re-hashes right are listed as held in the receipt.
 *
 * Whether a recording is locked is the manifest's consent with the changes
 * staff recorded applied (the last consent change for its receipt number
 * wins); the archive keeps each recording in the one form that matches it.
 * The retention rule is the box's: every collect deletes the sealed copy of
 * each recording still locked whose start_utc is more than --retention-days
 * (default 30; should match the box's [consent] retention_days) before the
 * command's now, in every box folder of the archive; the catalogue keeps its row
 * with status "expired" and the receipt no longer lists it as held. A
 * playable (consented) copy is never deleted by it.
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


/* The catalogue of the archive this command writes (opened, under the
 * archive's lock, by adm_collect or adm_unlock; one per process), and the
 * command's time as text. */
struct adm_archive *cat;
struct adm_audit *audit;
char cat_now[32];
const struct collect_hooks *collect_hooks;

/* A file in the archive, for reading: regular only, never blocking. */
int open_reg(const char *path)
{
	int fd;
	int r = adm_open_regular_at(AT_FDCWD, path, &fd, NULL);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return fd;
}

/* ---- one box's export on the stick ---- */

/* Consent only widens through staff: a manifest that claims wider consent
 * for a recording the archive holds than the archive's own records (old:
 * the row as committed, with staff's changes) is not applied to it; row
 * keeps the archive's consent, and the claim goes into the consent
 * history as refused. */
void consent_no_wider(struct json_object *old, struct json_object *row,
			     const struct dr_manifest_rec *x, const char *dev)
{
	const char *ost = str_of(old, "consent_staff"), *osh = str_of(old, "consent_share");
	bool wider = (x->consent_staff == 1 && strcmp(ost, "yes")) ||
		     (x->consent_share == 1 && strcmp(osh, "yes"));
	if (!wider)
		return;
	const char *st = dr_stick_consent_word(x->consent_staff);
	const char *sh = dr_stick_consent_word(x->consent_share);
	fprintf(stderr, "collect: box %s, recording %s (receipt %s): the manifest claims wider "
			"consent (staff %s, share %s) than the archive's records (staff %s, share "
			"%s): refused for this recording; consent given later comes only through "
			"staff (unlock, --changes)\n",
		dev, x->id, x->receipt, st, sh, ost, osh);
	struct json_object *lk = member(old, "locked", json_type_boolean);
	json_object_object_add(row, "consent_staff", json_object_new_string(ost));
	json_object_object_add(row, "consent_share", json_object_new_string(osh));
	json_object_object_add(row, "locked",
			       json_object_new_boolean(!lk || json_object_get_boolean(lk)));
	char why[128];
	adm_fmt(why, sizeof(why), "export manifest claimed staff %s, share %s", st, sh);
	json_object_object_add(row, "_refused", json_object_new_string(why));
	json_object_object_add(row, "_refused_staff", json_object_new_string(st));
	json_object_object_add(row, "_refused_share", json_object_new_string(sh));
}

int collect_device(const struct adm_org *org, int top, int devfd, const char *dev,
			  const char *archive, const struct change *chg, size_t nchg,
			  char (*devs)[DR_DEVICE_ID_HEX + 1], size_t ndev, int64_t now, long days,
			  bool *bad)
{
	char p[4200], *b, e[384];
	size_t len;
	adm_fmt(p, sizeof(p), "%s/devices/%s.pub", org->dir, dev);
	if (adm_read_file(p, 32, &b, &len) < 0 || len != 32) {
		fprintf(stderr, "collect: box %s was not provisioned by this organisation: skipped\n",
			dev);
		*bad = true;
		return 0;
	}
	uint8_t pk[32];
	memcpy(pk, b, 32);
	free(b);
	int r = dr_stick_read_signed(devfd, "manifest", DR_STICK_MANIFEST_MAX, pk, &b, &len, e,
				     sizeof(e));
	struct dr_manifest *m = NULL;
	char mh[65];
	uint8_t sig[DR_STICK_SIG_LEN];
	bool keep_sig = false;
	if (r == 0) {
		/* kept in the catalogue for repair: the signature read again
		 * must be of these very bytes */
		keep_sig = dr_stick_read_sig(devfd, "manifest.sig", sig, e, sizeof(e)) == 0 &&
			   crypto_sign_verify_detached(sig, (const uint8_t *)b, len, pk) == 0;
		/* its personal part is sealed to the organisation */
		r = dr_manifest_open(b, len, org->pk, org->sk, &m, e, sizeof(e));
		if (r == 0 && strcmp(m->device, dev)) {
			adm_fmt(e, sizeof(e), "it is in the folder of box %s but names box %s", dev,
				m->device);
			r = -EBADMSG;
		}
		uint8_t d[32];
		crypto_generichash(d, sizeof(d), (const uint8_t *)b, len, NULL, 0);
		sodium_bin2hex(mh, sizeof(mh), d, sizeof(d));
		if (r == 0 && keep_sig) {
			r = cat->ops->begin(cat);
			if (r == 0)
				r = cat->ops->box_add(cat, dev, cat_now);
			if (r == 0)
				r = cat->ops->manifest_keep(cat, dev, m->seq, b, len, sig, sizeof(sig));
			if (r == 0)
				r = cat->ops->commit(cat);
			if (r == 0)
				r = adm_keep_manifest(cat->dirfd, dev, m->seq, b, len, sig, sizeof(sig));
			if (r < 0) {
				cat->ops->rollback(cat);
				fprintf(stderr, "collect: box %s: keeping its manifest: %s\n", dev,
					cat->err[0] ? cat->err : strerror(-r));
				free(b);
				dr_manifest_free(m);
				return r;
			}
		}
		free(b);
	}
	if (r < 0) {
		fprintf(stderr, "collect: box %s: manifest refused (%s): nothing imported from it\n",
			dev, e);
		dr_manifest_free(m);
		*bad = true;
		return 0;
	}
	char dir[4200];
	/* the box is in the catalogue (committed above) before its folder
	 * holds anything */
	if (adm_archive_path(dir, sizeof(dir), archive, dev, NULL, NULL, NULL) < 0 ||
	    (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
		dr_manifest_free(m);
		return -EINVAL;
	}
	struct stat dst;
	if (lstat(dir, &dst) < 0 || !S_ISDIR(dst.st_mode)) {
		fprintf(stderr, "collect: %s is not a folder (a symlink?): refused\n", dir);
		dr_manifest_free(m);
		return -EBADMSG;
	}
	struct json_object *idx = index_load(dir, dev);
	struct json_object *recs = member(idx, "recordings", json_type_object);
	if (!recs) {
		json_object_put(idx);
		dr_manifest_free(m);
		return -EBADMSG;
	}
	struct progress pr = {.total = (unsigned)m->n};
	for (size_t i = 0; i < m->n; i++)
		pr.bytes_total += m->recs[i].size;
	char t[32];
	dr_stick_time_format(now, t);
	unsigned imported = 0, already = 0, failed = 0, sealed_n = 0;
	/* staff's changes first: they decide which recordings are locked */
	for (size_t i = 0; i < nchg; i++) {
		char cd[DR_DEVICE_ID_HEX + 1];
		if (resolve_device(&chg[i], archive, devs, ndev, cd) < 0 || strcmp(cd, dev))
			continue;
		if (only_expired(idx, m, chg[i].receipt)) {
			/* nothing left to change; and the number may be given to a
			 * new recording later, which this change is not about */
			fprintf(stderr, "collect: receipt %s: the retention period of that locked "
					"recording ended; it was deleted: change not recorded\n",
				chg[i].receipt);
			continue;
		}
		index_add_change(idx, &chg[i], now, false);
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct dr_manifest_rec *x = &m->recs[i];
		struct json_object *old = member(recs, x->id, json_type_object);
		if (old && (!strcmp(str_of(old, "status"), "withdrawn") ||
			    !strcmp(str_of(old, "status"), "expired"))) {
			pr.done++;
			continue;
		}
		/* a locked recording is only ever kept sealed (forms_make opens
		 * the others once the index says which are locked) */
		bool locked = effective_locked(idx, x->id, x->receipt, x->start_utc,
					       x->locked || x->consent_staff != 1);
		sealed_n += locked;
		form_path(p, sizeof(p), dir, x->id, x->media, true);
		if (old && row_v2(old) && form_ok(org, dir, dev, x->id, old, x->blake2b, x->size, true)) {
			already++;
			pr.bytes += x->size;
		} else if (import_one(org, devfd, x, p, &pr, dev) == 0) {
			imported++;
		} else {
			failed++;
			*bad = true;
			pr.done++;
			continue;
		}
		pr.done++;
		const char *coll = old && str_of(old, "collected_utc")[0] ? str_of(old, "collected_utc") : t;
		char keep[32];
		adm_fmt(keep, sizeof(keep), "%s", coll);
		struct json_object *row = rec_json(x, "archived", keep);
		if (old)
			consent_no_wider(old, row, x, dev);
		const char *ph = old && row_v2(old) ? str_of(old, "playable_blake2b") : "";
		if (ph[0])
			json_object_object_add(row, "playable_blake2b", json_object_new_string(ph));
		json_object_object_add(recs, x->id, row);
		show(&pr, dev, true);
	}
	index_apply_changes(dir, idx);
	if (forms_make(org, dir, dev, idx, NULL) < 0)
		*bad = true;
	r = index_save(dir, idx);
	if (r == 0)
		forms_tidy(org, dir, dev, idx, NULL);
	/* before the receipt: an expired recording is not held any more */
	unsigned expired = r == 0 ? expire_locked(dir, idx, now, days) : 0;
	if (expired)
		r = index_save(dir, idx);
	unsigned held = 0;
	if (r == 0)
		r = write_receipt(top, org, pk, dir, m, mh, idx, now, &held);
	if (r == 0) {
		struct adm_receipt rc = {.seq = m->seq, .held = held};
		adm_fmt(rc.box, sizeof(rc.box), "%s", dev);
		adm_fmt(rc.sent_utc, sizeof(rc.sent_utc), "%s", cat_now);
		adm_fmt(rc.manifest_blake2b, sizeof(rc.manifest_blake2b), "%s", mh);
		r = cat->ops->begin(cat);
		if (r == 0)
			r = cat->ops->receipt_add(cat, &rc);
		if (r == 0)
			r = cat->ops->commit(cat);
		if (r < 0) {
			cat->ops->rollback(cat);
			fprintf(stderr, "collect: box %s: %s\n", dev, cat->err);
		}
	}
	fprintf(stderr,
		"collect: box %s, export %lld: %u imported, %u already in the archive, %u failed "
		"verification; receipt lists %u held; %u locked (kept sealed); %u expired\n",
		dev, (long long)m->seq, imported, already, failed, held, sealed_n, expired);
	if (r == 0 && collect_hooks && collect_hooks->box_done) {
		struct collect_box_sum sum = {imported, already, failed, held, sealed_n, expired, 0};
		struct json_object *ch = member(idx, "changes", json_type_array);
		for (size_t i = 0; ch && i < json_object_array_length(ch); i++)
			sum.withdrawals += !strcmp(str_of(json_object_array_get_idx(ch, i), "kind"),
						   "withdraw");
		collect_hooks->box_done(collect_hooks->ctx, dev, &sum);
	}
	json_object_put(idx);
	dr_manifest_free(m);
	return r;
}

/* Takes the archive's lock, then opens (and if need be migrates) its
 * catalogue into cat. */
int cat_open(const char *who, const char *archive, bool create, bool wait, int *lockfd,
		    int64_t now)
{
	char err[512];
	*lockfd = -1;
	if (create && mkdir(archive, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "%s: cannot make %s: %s\n", who, archive, strerror(errno));
		return -errno;
	}
	int dfd = open(archive, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		int r = -errno;
		fprintf(stderr, "%s: no archive at %s (%s)\n", who, archive, strerror(errno));
		return r;
	}
	int r = adm_archive_lock(dfd, wait, who, lockfd);
	close(dfd);
	if (r < 0)
		return r;
	r = adm_archive_open(archive, true, &cat, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "%s: %s\n%s: stopped: nothing was changed. `diaryroom-admin check` "
				"says what is wrong; `diaryroom-admin repair` rebuilds what it can\n",
			who, err, who);
		adm_archive_unlock(*lockfd);
		*lockfd = -1;
		return r;
	}
	/* a catalogue damaged inside a page opens fine: look before writing */
	r = cat->ops->quick_check(cat, stderr);
	if (r != 0) {
		fprintf(stderr, "%s: the catalogue is damaged: stopped; nothing was changed. "
				"`diaryroom-admin check` says what is wrong; `diaryroom-admin repair` "
				"rebuilds what it can\n",
			who);
		adm_archive_close(cat);
		cat = NULL;
		adm_archive_unlock(*lockfd);
		*lockfd = -1;
		return r < 0 ? r : -EBADMSG;
	}
	r = adm_audit_open(cat->dirfd, &audit);
	if (r < 0) {
		fprintf(stderr, "%s: the archive's audit log cannot be opened (%s): stopped; nothing "
				"was changed. `diaryroom-admin audit --verify` says more\n",
			who, strerror(-r));
		adm_archive_close(cat);
		cat = NULL;
		adm_archive_unlock(*lockfd);
		*lockfd = -1;
		return r;
	}
	/* entries a killed run committed but did not log */
	r = adm_index_flush_audit(cat, audit);
	if (r < 0) {
		adm_audit_close(audit);
		audit = NULL;
		adm_archive_close(cat);
		cat = NULL;
		adm_archive_unlock(*lockfd);
		*lockfd = -1;
		return r;
	}
	dr_stick_time_format(now, cat_now);
	return 0;
}

void cat_close(int lockfd)
{
	adm_audit_close(audit);
	audit = NULL;
	adm_archive_close(cat);
	cat = NULL;
	adm_archive_unlock(lockfd);
}


int adm_collect(struct adm_org *org, const char *stick, const char *archive,
		const char *changes, int64_t now, long retention_days, bool wait)
{
	return adm_collect_hooked(org, stick, archive, changes, now, retention_days, wait, NULL);
}

int adm_collect_hooked(struct adm_org *org, const char *stick, const char *archive,
		       const char *changes, int64_t now, long retention_days, bool wait,
		       const struct collect_hooks *hooks)
{
	int lockfd;
	if (retention_days < 1 || retention_days > 3650) {
		fprintf(stderr, "collect: --retention-days is 1 to 3650\n");
		return -EINVAL;
	}
	int r = cat_open("collect", archive, true, wait, &lockfd, now);
	if (r < 0)
		return r;
	collect_hooks = hooks;
	r = collect_locked(org, stick, archive, changes, now, retention_days);
	collect_hooks = NULL;
	cat_close(lockfd);
	return r;
}

int collect_locked(struct adm_org *org, const char *stick, const char *archive,
			  const char *changes, int64_t now, long retention_days)
{
	if (retention_days < 1 || retention_days > 3650) {
		fprintf(stderr, "collect: --retention-days is 1 to 3650\n");
		return -EINVAL;
	}
	struct change *chg;
	size_t nchg;
	if (parse_changes(changes, &chg, &nchg) < 0)
		return -EINVAL;
	if (mkdir(archive, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "collect: cannot make %s: %s\n", archive, strerror(errno));
		free(chg);
		return -errno;
	}
	int mfd = open(stick, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char e[384];
	struct stick_walk w;
	int r = mfd < 0 ? -errno : stick_walk(mfd, &w, e, sizeof(e));
	if (mfd >= 0)
		close(mfd);
	if (r < 0) {
		fprintf(stderr, "collect: nothing to collect on %s\n", stick);
		free(chg);
		return r;
	}
	/* the boxes on this stick */
	bool bad = false;
	if (collect_hooks && collect_hooks->boxes)
		collect_hooks->boxes(collect_hooks->ctx, w.ndev);
	for (size_t i = 0; r == 0 && i < w.ndev; i++) {
		if (w.devfd[i] < 0) {
			fprintf(stderr, "collect: %s\n", w.why[i]);
			bad = true;
			continue;
		}
		r = collect_device(org, w.top, w.devfd[i], w.devs[i], archive, chg, nchg, w.devs,
				   w.ndev, now, retention_days, &bad);
		close(w.devfd[i]);
		w.devfd[i] = -1;
	}
	if (r == 0)
		r = expire_archive(archive, now, retention_days);
	if (r == 0)
		r = write_consent_sheet(archive);
	stick_walk_free(&w);
	free(chg);
	if (r < 0) {
		fprintf(stderr, "collect: failed: %s\n", strerror(-r));
		return r;
	}
	fprintf(stderr, "collect: done; consent sheet %s/consent.csv\n", archive);
	return bad ? 1 : 0;
}
