/* SPDX-License-Identifier: MIT */
/*
 * Opening a staff stick on the box: keys, the token, the revocation list,
 * the clock rule and the archive's receipt.
 *
 * Nothing from the stick is trusted before its signature is checked, and
 * nothing on the box or the stick changes before the token is accepted.
 * Files are opened relative to the DIARYRM folder's fd with O_NOFOLLOW and
 * O_NONBLOCK (a FIFO must not hang the box), checked to be regular files and
 * under their size cap before a byte is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "export/export_priv.h"
#include "export/stickio.h"

/* ---- keys ---- */

static int read_key(const char *keydir, const char *name, uint8_t *out, size_t len, bool secret,
		    char *err, size_t errlen)
{
	int dfd = open(keydir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return dr_export_fail(err, errlen, -errno, "cannot open the key folder %s: %s", keydir,
				      strerror(errno));
	int fd;
	size_t size;
	int r = dr_stick_open_regular(dfd, name, len, &fd, &size, err, errlen);
	close(dfd);
	if (r < 0)
		return r;
	struct stat st;
	if (secret && fstat(fd, &st) == 0 && (st.st_mode & 077)) {
		close(fd);
		return dr_export_fail(err, errlen, -EPERM,
				      "%s/%s can be read by others (mode %o): refusing it", keydir,
				      name, st.st_mode & 0777);
	}
	ssize_t n = size == len ? read(fd, out, len) : -1;
	close(fd);
	if (n != (ssize_t)len)
		return dr_export_fail(err, errlen, -EBADMSG, "%s/%s is not a %zu-byte key", keydir,
				      name, len);
	return 0;
}

int dr_export_open(struct dr_store *s, const char *keydir, struct dr_export **out, char *err,
		   size_t errlen)
{
	if (!s || !keydir || !out)
		return -EINVAL;
	*out = NULL;
	if (sodium_init() < 0)
		return dr_export_fail(err, errlen, -EIO, "libsodium cannot start");
	struct dr_export *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->store = s;
	int r = read_key(keydir, "device.key", x->device_sk, sizeof(x->device_sk), true, err,
			 errlen);
	if (r == 0)
		r = read_key(keydir, "org.pub", x->org_pk, sizeof(x->org_pk), false, err, errlen);
	if (r == 0 && crypto_sign_ed25519_sk_to_pk(x->device_pk, x->device_sk) != 0)
		r = dr_export_fail(err, errlen, -EBADMSG, "device.key is not an Ed25519 key");
	if (r < 0) {
		dr_export_close(x);
		return r;
	}
	dr_stick_device_id(x->device_pk, x->device_id);
	*out = x;
	return 0;
}

void dr_export_close(struct dr_export *x)
{
	if (!x)
		return;
	sodium_memzero(x->device_sk, sizeof(x->device_sk));
	free(x);
}

const char *dr_export_device_id(const struct dr_export *x)
{
	return x ? x->device_id : "";
}

/* ---- the stick ---- */

/* The revocation list on the stick, if any and validly signed (else NULL). */
static struct dr_revocations *stick_revocations(struct dr_stick *k)
{
	char *b;
	size_t len;
	char e[256];
	if (dr_stick_read_signed(k->topfd, "revoked", DR_STICK_REVOKED_MAX, k->x->org_pk, &b, &len,
				 e, sizeof(e)) < 0)
		return NULL;
	struct dr_revocations *rv = NULL;
	dr_revocations_parse(b, len, &rv, e, sizeof(e));
	free(b);
	return rv;
}

int dr_export_stick_open(struct dr_export *x, const char *mount_dir, int64_t box_now,
			 struct dr_stick **out, char *err, size_t errlen)
{
	if (!x || !mount_dir || !out)
		return -EINVAL;
	*out = NULL;
	int mfd = open(mount_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return dr_export_fail(err, errlen, -errno, "cannot open the stick at %s: %s",
				      mount_dir, strerror(errno));
	struct dr_stick *k = calloc(1, sizeof(*k));
	if (!k) {
		close(mfd);
		return -ENOMEM;
	}
	k->x = x;
	k->topfd = -1;
	char e[384];
	int r = dr_stick_subdir(mfd, DR_STICK_TOP, false, &k->topfd, e, sizeof(e));
	close(mfd);
	if (r < 0) {
		dr_export_fail(err, errlen, r, "not a staff stick: %s", e);
		goto err_free;
	}
	char *b = NULL;
	size_t len;
	r = dr_stick_read_signed(k->topfd, "token", DR_STICK_TOKEN_MAX, x->org_pk, &b, &len, e,
				 sizeof(e));
	if (r < 0) {
		dr_export_fail(err, errlen, r, "%s: %s",
			       r == -ENOENT ? "not a staff stick (no token)" : "staff token refused",
			       e);
		goto err_free;
	}
	r = dr_token_parse(b, len, &k->token, e, sizeof(e));
	free(b);
	if (r < 0) {
		dr_export_fail(err, errlen, r, "staff token refused: %s", e);
		goto err_free;
	}
	/* not the box's clock, which may be unset or wrong: the time the box
	 * can justify without a forward move no later signed time confirmed
	 * (a wrong stick cannot make a correct one look expired), and the
	 * token is at least as new as its own issue time */
	(void)box_now;
	struct dr_store_clock ck;
	if ((r = dr_store_clock_get(x->store, &ck)) < 0) {
		dr_export_fail(err, errlen, r, "cannot read the box's record of time: %s",
			       dr_store_errmsg(x->store));
		goto err_free;
	}
	int64_t lower = dr_export_clock_justified(&ck, true);
	int64_t now = lower > k->token.issued ? lower : k->token.issued;
	if (now >= k->token.expires) {
		char t[32];
		dr_stick_time_format(k->token.expires, t);
		r = dr_export_fail(err, errlen, -EKEYEXPIRED,
				   "staff token refused: the stick of %s expired at %s", k->token.name,
				   t);
		goto err_free;
	}
	bool revoked = false;
	if ((r = dr_store_is_revoked(x->store, k->token.stick_id, &revoked)) < 0) {
		dr_export_fail(err, errlen, r, "cannot read the revocation list: %s",
			       dr_store_errmsg(x->store));
		goto err_free;
	}
	struct dr_revocations *rv = stick_revocations(k);
	for (size_t i = 0; rv && i < rv->n && !revoked; i++)
		revoked = !strcmp(rv->ids[i], k->token.stick_id);
	if (revoked) {
		dr_revocations_free(rv);
		r = dr_export_fail(err, errlen, -EKEYREVOKED,
				   "staff token refused: the stick of %s (%s) was revoked",
				   k->token.name, k->token.stick_id);
		goto err_free;
	}
	if (rv) {
		const char **ids = rv->n ? calloc(rv->n, sizeof(*ids)) : NULL;
		for (size_t i = 0; ids && i < rv->n; i++)
			ids[i] = rv->ids[i];
		if (!rv->n || ids)
			r = dr_store_revocation_update(x->store, rv->serial, ids, rv->n, e, sizeof(e));
		free(ids);
		dr_revocations_free(rv);
		if (r < 0) {
			dr_export_fail(err, errlen, r, "cannot store the revocation list: %s", e);
			goto err_free;
		}
	}
	*out = k;
	return 0;

err_free:
	dr_export_stick_close(k);
	return r;
}

void dr_export_stick_close(struct dr_stick *k)
{
	if (!k)
		return;
	if (k->topfd >= 0)
		close(k->topfd);
	free(k);
}

const struct dr_token *dr_export_stick_token(const struct dr_stick *k)
{
	return k ? &k->token : NULL;
}

/* ---- the receipt ---- */

static int load_receipt(struct dr_stick *k, struct dr_receipt **out, int *dirfd, char *err,
			size_t errlen)
{
	*out = NULL;
	*dirfd = -1;
	char e[384];
	int dfd;
	int r = dr_stick_subdir(k->topfd, "receipt", false, &dfd, e, sizeof(e));
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return dr_export_fail(err, errlen, r, "receipt refused: %s", e);
	char *b;
	size_t len;
	r = dr_stick_read_signed(dfd, k->x->device_id, DR_STICK_RECEIPT_MAX, k->x->org_pk, &b, &len,
				 e, sizeof(e));
	if (r == -ENOENT) {
		close(dfd);
		return 0;
	}
	if (r < 0) {
		close(dfd);
		return dr_export_fail(err, errlen, r, "receipt refused: %s", e);
	}
	/* sealed to this box: only its device key opens it */
	r = dr_receipt_open(b, len, k->x->device_pk, k->x->device_sk, out, e, sizeof(e));
	free(b);
	if (r < 0) {
		close(dfd);
		return dr_export_fail(err, errlen, r, "receipt refused: %s", e);
	}
	*dirfd = dfd;
	return 1;
}

/* Does this receipt answer the box's last finished, unanswered export (so
 * it was signed after that export, and will be applied)? */
static bool receipt_fresh(struct dr_export *x, const struct dr_receipt *rc)
{
	int64_t last = 0;
	char mh[65];
	return dr_store_receipt_last_seq(x->store, &last) == 0 && rc->manifest_seq > last &&
	       dr_store_export_lookup(x->store, rc->manifest_seq, mh) == 0 &&
	       !strcmp(mh, rc->manifest_blake2b);
}

/* Judges one signed time; a refusal is audited and reported in res. */
static int judge_one(struct dr_export *x, struct dr_store_clock *c, int64_t s,
		     const uint64_t *export_run_ms, const char *what,
		     struct dr_export_clock_result *res, char *err, size_t errlen)
{
	struct dr_clock_judgement j;
	dr_export_clock_judge(c, s, export_run_ms, &j);
	char st[32], jt[32], lt[32], detail[256];
	dr_stick_time_format(s, st);
	dr_stick_time_format(j.justified, jt);
	dr_stick_time_format(j.lower, lt);
	if (j.verdict == DR_CLOCK_AHEAD || j.verdict == DR_CLOCK_BEHIND) {
		res->refused++;
		if (j.verdict == DR_CLOCK_AHEAD)
			snprintf(res->reason, sizeof(res->reason),
				 "the %s's signed time %s is more than %lld days past the time the box "
				 "can justify (%s): not believed, the clock is not moved",
				 what, st, (long long)((j.bound - j.justified) / 86400), jt);
		else
			snprintf(res->reason, sizeof(res->reason),
				 "the %s's signed time %s is years before the time the box can "
				 "justify (%s): not believed, the clock is not moved",
				 what, st, lt);
		int r = dr_store_audit(x->store, NULL, "clock_refused", res->reason);
		if (r < 0)
			return dr_export_fail(err, errlen, r, "cannot record the clock check: %s",
					      dr_store_errmsg(x->store));
		return 0;
	}
	if (!j.changed)
		return 0;
	static const char *const names[] = {"agrees", "forward", "old", "back", "ahead", "behind"};
	snprintf(detail, sizeof(detail), "%s signed time %s %s (the box could justify %s)", what,
		 st, names[j.verdict], jt);
	char e[384];
	int r = dr_store_clock_put(x->store, &j.after,
				   j.verdict == DR_CLOCK_BACK ? "clock_back" : "clock_trusted", detail, e,
				   sizeof(e));
	if (r < 0)
		return dr_export_fail(err, errlen, r, "cannot record the clock check: %s", e);
	if (j.verdict == DR_CLOCK_BACK)
		res->moved_back = true;
	*c = j.after;
	return 0;
}

int dr_export_clock_check(struct dr_export *x, struct dr_stick *k, int64_t box_now,
			  struct dr_export_clock_result *res, char *err, size_t errlen)
{
	if (!x || !k || !res)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	struct dr_store_clock c;
	int r = dr_store_clock_get(x->store, &c);
	if (r < 0)
		return dr_export_fail(err, errlen, r, "cannot read the box's record of time: %s",
				      dr_store_errmsg(x->store));
	if ((r = judge_one(x, &c, k->token.issued, NULL, "token", res, err, errlen)) < 0)
		return r;
	struct dr_receipt *rc = NULL;
	int dfd = -1;
	char e[384];
	if (load_receipt(k, &rc, &dfd, e, sizeof(e)) > 0 && receipt_fresh(x, rc)) {
		uint64_t at;
		bool known = dr_store_export_run_ms(x->store, rc->manifest_seq, &at) == 0;
		r = judge_one(x, &c, rc->issued, known ? &at : NULL, "receipt", res, err, errlen);
	}
	dr_receipt_free(rc);
	if (dfd >= 0)
		close(dfd);
	if (r < 0)
		return r;
	int64_t t = dr_export_clock_justified(&c, false);
	int64_t allowance = c.trusted ? DR_EXPORT_CLOCK_ALLOWANCE_S : DR_EXPORT_CLOCK_FIRST_ALLOWANCE_S;
	res->trusted = t;
	bool set = box_now < DR_EXPORT_CLOCK_UNSET || box_now + DR_EXPORT_CLOCK_SLACK_S < t ||
		   box_now > t + allowance || res->moved_back;
	char now[32];
	dr_stick_time_format(set ? t : box_now, now);
	char detail[96];
	snprintf(detail, sizeof(detail), "staff stick %s", k->token.stick_id);
	r = dr_store_clock_checked(x->store, set, now, detail, e, sizeof(e));
	if (r < 0)
		return dr_export_fail(err, errlen, r, "cannot record the clock check: %s", e);
	res->set_to = set ? t : 0;
	return set ? 1 : 0;
}

int dr_export_apply_receipt(struct dr_export *x, struct dr_stick *k,
			    struct dr_export_receipt_result *res, char *err, size_t errlen)
{
	if (!x || !k)
		return -EINVAL;
	struct dr_export_receipt_result dummy;
	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	struct dr_receipt *rc;
	int dfd;
	int r = load_receipt(k, &rc, &dfd, err, errlen);
	if (r <= 0)
		return r;
	res->seq = rc->manifest_seq;
	char e[384];
	int64_t last = 0;
	char mh[65];
	if ((r = dr_store_receipt_last_seq(x->store, &last)) < 0) {
		r = dr_export_fail(err, errlen, r, "cannot read the catalogue: %s",
				   dr_store_errmsg(x->store));
		goto out;
	}
	if (rc->manifest_seq <= last) {
		r = dr_export_fail(err, errlen, -EALREADY,
				   "receipt refused: it answers export %lld, and export %lld was "
				   "already answered (replayed)",
				   (long long)rc->manifest_seq, (long long)last);
		goto out;
	}
	r = dr_store_export_lookup(x->store, rc->manifest_seq, mh);
	if (r < 0 || strcmp(mh, rc->manifest_blake2b)) {
		r = dr_export_fail(err, errlen, -ESTALE,
				   "receipt refused: it answers a manifest this box did not write "
				   "(export %lld)",
				   (long long)rc->manifest_seq);
		goto out;
	}
	char source[64];
	snprintf(source, sizeof(source), "receipt for export %lld", (long long)rc->manifest_seq);
	for (size_t i = 0; i < rc->n_withdraw; i++) {
		r = dr_store_withdraw(x->store, rc->withdraw[i].receipt, rc->withdraw[i].entered_utc,
				      source, e, sizeof(e));
		if (r < 0)
			goto err_store;
		res->withdrawn += (unsigned)r;
	}
	for (size_t i = 0; i < rc->n_consent; i++) {
		char id[DR_STORE_ID_LEN + 1];
		struct dr_store_rec rec;
		if (dr_store_find_receipt(x->store, rc->consent[i].receipt, rc->consent[i].entered_utc,
					  id) < 0 ||
		    dr_store_get(x->store, id, &rec) < 0)
			continue;
		if ((int)rec.consent_staff == rc->consent[i].staff &&
		    (int)rec.consent_share == rc->consent[i].share)
			continue;
		r = dr_store_set_consent(x->store, id, (enum dr_consent)rc->consent[i].staff,
					 (enum dr_consent)rc->consent[i].share, "staff", e,
					 sizeof(e));
		if (r < 0)
			goto err_store;
		res->consent_changed++;
	}
	/* then what the archive holds: deleted from the box (after the
	 * withdrawals and consent changes, which need the recording held) */
	for (size_t i = 0; i < rc->n_held; i++) {
		/* the number of a recording confirmed here starts resting
		 * (dr_store_confirm_delete); a number listed for a recording this
		 * box does not hold changes nothing, so a receipt claiming every
		 * number cannot stop the box giving numbers */
		r = dr_store_confirm_delete(x->store, rc->held[i].id, rc->held[i].blake2b,
					    rc->manifest_seq, e, sizeof(e));
		if (r == -EBADMSG)
			res->hash_mismatch++;
		else if (r < 0)
			goto err_store;
		else
			res->deleted += (unsigned)r;
	}
	char detail[160];
	snprintf(detail, sizeof(detail), "deleted %u, withdrawn %u, consent changed %u, hash mismatch %u",
		 res->deleted, res->withdrawn, res->consent_changed, res->hash_mismatch);
	if ((r = dr_store_receipt_applied(x->store, rc->manifest_seq, detail, e, sizeof(e))) < 0)
		goto err_store;
	/* applied: take it off the stick, so it is never offered again */
	char name[64];
	snprintf(name, sizeof(name), "%s.json", x->device_id);
	unlinkat(dfd, name, 0);
	snprintf(name, sizeof(name), "%s.sig", x->device_id);
	unlinkat(dfd, name, 0);
	fsync(dfd);
	r = 1;
	goto out;

err_store:
	dr_export_fail(err, errlen, r, "applying the receipt: %s", e);
out:
	dr_receipt_free(rc);
	close(dfd);
	return r;
}
