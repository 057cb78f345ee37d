/* SPDX-License-Identifier: MIT */
/* The SQLite backend's tables besides recordings: changes, consent
 * history, events, receipts, kept manifests (archive.h says what each
 * operation does). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "archive.h"
#include "archive_sqlite.h"

int adm_sq_change_add(struct adm_archive *a, const struct adm_change *c)
{
	sqlite3_stmt *st;
	if (!adm_box_ok(c->box))
		return adm_sq_fail(a, -EINVAL, "a change for a bad box id");
	int r = adm_sq_prep(a, true,
		     "INSERT INTO changes (box, seq, kind, receipt, staff, share, entered_utc, actor)"
		     " VALUES (?1, (SELECT count(*) FROM changes WHERE box = ?1), ?2, ?3, ?4, ?5,"
		     " ?6, ?7)",
		     &st);
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, c->box);
	adm_sq_bt(st, 2, c->kind);
	adm_sq_bt(st, 3, c->receipt);
	adm_sq_bt(st, 4, c->staff);
	adm_sq_bt(st, 5, c->share);
	adm_sq_bt(st, 6, c->entered_utc);
	adm_sq_bt(st, 7, c->actor);
	return adm_sq_step_done(a, st, "recording a change");
}

int adm_sq_change_each(struct adm_archive *a, const char *box, const char *receipt,
			 adm_change_cb cb, void *ctx)
{
	sqlite3_stmt *st;
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT box, seq, kind, receipt, staff, share, entered_utc, actor FROM changes"
		 " WHERE %s AND %s ORDER BY box, seq",
		 adm_sq_if(box, "box = ?1", "?1 = ''"), adm_sq_if(receipt, "receipt = ?2", "?2 = ''"));
	int r = adm_sq_prep(a, false, sql, &st),
	    rc = SQLITE_DONE;
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, box);
	adm_sq_bt(st, 2, receipt);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct adm_change c = {0};
		adm_sq_ct(st, 0, c.box, sizeof(c.box));
		c.seq = sqlite3_column_int64(st, 1);
		adm_sq_ct(st, 2, c.kind, sizeof(c.kind));
		adm_sq_ct(st, 3, c.receipt, sizeof(c.receipt));
		adm_sq_ct(st, 4, c.staff, sizeof(c.staff));
		adm_sq_ct(st, 5, c.share, sizeof(c.share));
		adm_sq_ct(st, 6, c.entered_utc, sizeof(c.entered_utc));
		adm_sq_ct(st, 7, c.actor, sizeof(c.actor));
		r = cb(ctx, &c);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = adm_sq_db_fail(a, "listing changes");
	adm_sq_finish(a, st);
	return r;
}

int adm_sq_consent_add(struct adm_archive *a, const struct adm_consent *c)
{
	sqlite3_stmt *st;
	int r = adm_sq_prep(a, true,
		     "INSERT INTO consent_history (box, id, at_utc, staff, share, source, detail)"
		     " VALUES (?, ?, ?, ?, ?, ?, ?)",
		     &st);
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, c->box);
	adm_sq_bt(st, 2, c->id);
	adm_sq_bt(st, 3, c->at_utc);
	adm_sq_bt(st, 4, c->staff);
	adm_sq_bt(st, 5, c->share);
	adm_sq_bt(st, 6, c->source);
	adm_sq_bt(st, 7, c->detail);
	return adm_sq_step_done(a, st, "recording consent");
}

int adm_sq_consent_each(struct adm_archive *a, const char *box, const char *id,
			  adm_consent_cb cb, void *ctx)
{
	sqlite3_stmt *st;
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT box, id, at_utc, staff, share, source, detail FROM consent_history"
		 " WHERE %s AND %s ORDER BY n",
		 adm_sq_if(box, "box = ?1", "?1 = ''"), adm_sq_if(id, "id = ?2", "?2 = ''"));
	int r = adm_sq_prep(a, false, sql, &st),
	    rc = SQLITE_DONE;
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, box);
	adm_sq_bt(st, 2, id);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct adm_consent c = {0};
		adm_sq_ct(st, 0, c.box, sizeof(c.box));
		adm_sq_ct(st, 1, c.id, sizeof(c.id));
		adm_sq_ct(st, 2, c.at_utc, sizeof(c.at_utc));
		adm_sq_ct(st, 3, c.staff, sizeof(c.staff));
		adm_sq_ct(st, 4, c.share, sizeof(c.share));
		adm_sq_ct(st, 5, c.source, sizeof(c.source));
		adm_sq_ct(st, 6, c.detail, sizeof(c.detail));
		r = cb(ctx, &c);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = adm_sq_db_fail(a, "listing consent history");
	adm_sq_finish(a, st);
	return r;
}

int adm_sq_event_add(struct adm_archive *a, const struct adm_event *e)
{
	sqlite3_stmt *st;
	int r = adm_sq_prep(a, true,
		     "INSERT INTO events (box, id, kind, what, at_utc, detail) VALUES (?, ?, ?, ?, "
		     "?, ?)",
		     &st);
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, e->box);
	adm_sq_bt(st, 2, e->id);
	adm_sq_bt(st, 3, e->kind);
	adm_sq_bt(st, 4, e->what);
	adm_sq_bt(st, 5, e->at_utc);
	adm_sq_bt(st, 6, e->detail);
	return adm_sq_step_done(a, st, "recording an event");
}

int adm_sq_event_each(struct adm_archive *a, const char *box, const char *id, adm_event_cb cb,
			void *ctx)
{
	sqlite3_stmt *st;
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "SELECT box, id, kind, what, at_utc, detail FROM events WHERE %s AND %s ORDER BY n",
		 adm_sq_if(box, "box = ?1", "?1 = ''"), adm_sq_if(id, "id = ?2", "?2 = ''"));
	int r = adm_sq_prep(a, false, sql, &st),
	    rc = SQLITE_DONE;
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, box);
	adm_sq_bt(st, 2, id);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct adm_event e = {0};
		adm_sq_ct(st, 0, e.box, sizeof(e.box));
		adm_sq_ct(st, 1, e.id, sizeof(e.id));
		adm_sq_ct(st, 2, e.kind, sizeof(e.kind));
		adm_sq_ct(st, 3, e.what, sizeof(e.what));
		adm_sq_ct(st, 4, e.at_utc, sizeof(e.at_utc));
		adm_sq_ct(st, 5, e.detail, sizeof(e.detail));
		r = cb(ctx, &e);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = adm_sq_db_fail(a, "listing events");
	adm_sq_finish(a, st);
	return r;
}

int adm_sq_receipt_add(struct adm_archive *a, const struct adm_receipt *x)
{
	sqlite3_stmt *st;
	int r = adm_sq_prep(a, true,
		     "INSERT INTO receipts (box, seq, sent_utc, manifest_blake2b, held) VALUES (?, "
		     "?, ?, ?, ?)",
		     &st);
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, x->box);
	sqlite3_bind_int64(st, 2, x->seq);
	adm_sq_bt(st, 3, x->sent_utc);
	adm_sq_bt(st, 4, x->manifest_blake2b);
	sqlite3_bind_int64(st, 5, x->held);
	return adm_sq_step_done(a, st, "recording a receipt");
}

int adm_sq_manifest_keep(struct adm_archive *a, const char *box, int64_t seq, const void *json,
			   size_t json_len, const void *sig, size_t sig_len)
{
	sqlite3_stmt *st;
	int r = adm_sq_prep(a, true,
		     "INSERT OR REPLACE INTO manifests (box, seq, json, sig) VALUES (?, ?, ?, ?)",
		     &st);
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, box);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_blob(st, 3, json, (int)json_len, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 4, sig, (int)sig_len, SQLITE_TRANSIENT);
	return adm_sq_step_done(a, st, "keeping a manifest");
}

int adm_sq_manifest_each(struct adm_archive *a, const char *box,
			   int (*cb)(void *, const char *, int64_t, const void *, size_t,
				     const void *, size_t),
			   void *ctx)
{
	sqlite3_stmt *st;
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT box, seq, json, sig FROM manifests WHERE %s ORDER BY box, seq",
		 adm_sq_if(box, "box = ?1", "?1 = ''"));
	int r = adm_sq_prep(a, false, sql, &st),
	    rc = SQLITE_DONE;
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, box);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char b[ADM_BOX_HEX + 1];
		adm_sq_ct(st, 0, b, sizeof(b));
		r = cb(ctx, b, sqlite3_column_int64(st, 1), sqlite3_column_blob(st, 2),
		       (size_t)sqlite3_column_bytes(st, 2), sqlite3_column_blob(st, 3),
		       (size_t)sqlite3_column_bytes(st, 3));
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = adm_sq_db_fail(a, "listing manifests");
	adm_sq_finish(a, st);
	return r;
}

int adm_sq_outbox_add(struct adm_archive *a, const struct adm_outbox *e)
{
	sqlite3_stmt *st;
	int r = adm_sq_prep(a, true,
			    "INSERT INTO audit_outbox (action, box, id, receipt, detail)"
			    " VALUES (?, ?, ?, ?, ?)",
			    &st);
	if (r < 0)
		return r;
	adm_sq_bt(st, 1, e->action);
	adm_sq_bt(st, 2, e->box);
	adm_sq_bt(st, 3, e->id);
	adm_sq_bt(st, 4, e->receipt);
	adm_sq_bt(st, 5, e->detail);
	return adm_sq_step_done(a, st, "keeping an audit entry");
}

int adm_sq_outbox_first(struct adm_archive *a, struct adm_outbox *out)
{
	sqlite3_stmt *st;
	int r = adm_sq_prep(a, false,
			    "SELECT n, action, box, id, receipt, detail FROM audit_outbox"
			    " ORDER BY n LIMIT 1",
			    &st);
	if (r < 0)
		return r;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->n = sqlite3_column_int64(st, 0);
		adm_sq_ct(st, 1, out->action, sizeof(out->action));
		adm_sq_ct(st, 2, out->box, sizeof(out->box));
		adm_sq_ct(st, 3, out->id, sizeof(out->id));
		adm_sq_ct(st, 4, out->receipt, sizeof(out->receipt));
		adm_sq_ct(st, 5, out->detail, sizeof(out->detail));
		r = 1;
	} else if (rc != SQLITE_DONE) {
		r = adm_sq_db_fail(a, "reading the audit outbox");
	}
	sqlite3_finalize(st);
	return r;
}

int adm_sq_outbox_del(struct adm_archive *a, int64_t n)
{
	sqlite3_stmt *st;
	int r = adm_sq_prep(a, true, "DELETE FROM audit_outbox WHERE n = ?", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, n);
	return adm_sq_step_done(a, st, "clearing an audit entry");
}
