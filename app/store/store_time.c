/* SPDX-License-Identifier: MIT */
/*
 * The box's own record of time (schema v4): the running-time counter, and
 * the anchors of its trust in the organisation's signed times.
 *
 * The counter lives in meta 'running_ms'. A handle reads it on first use and
 * adds CLOCK_MONOTONIC deltas from then on; dr_store_running_flush() writes
 * the sum (never lowering what is stored). Single-threaded like the rest of
 * dr_store.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_priv.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A meta value as an integer; *found false (and *v 0) if absent. */
static int meta_int(struct dr_store *s, const char *key, int64_t *v, bool *found)
{
	sqlite3_stmt *st;
	int r = dr_store_prepare(s, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1", &st,
				 "read the catalogue's meta table", NULL, 0);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	*v = 0;
	if (found)
		*found = false;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		if (found)
			*found = true;
	} else if (rc != SQLITE_DONE) {
		r = dr_store_fail(s, dr_store_sqlite_errno(s->db, rc), NULL, 0,
				  "read the catalogue's meta table: %s", sqlite3_errmsg(s->db));
	}
	sqlite3_finalize(st);
	return r;
}

static int run_load(struct dr_store *s)
{
	if (s->run_loaded)
		return 0;
	int64_t v;
	int r = meta_int(s, "running_ms", &v, NULL);
	if (r < 0)
		return r;
	s->run_base_ms = v > 0 ? (uint64_t)v : 0;
	s->run_mono_ms = mono_ms();
	s->run_loaded = true;
	return 0;
}

int dr_store_run_now(struct dr_store *s, uint64_t *ms)
{
	int r = run_load(s);
	if (r < 0)
		return r;
	uint64_t m = mono_ms();
	*ms = s->run_base_ms + (m > s->run_mono_ms ? m - s->run_mono_ms : 0);
	return 0;
}

int dr_store_running_ms(struct dr_store *s, uint64_t *ms)
{
	if (!s || !ms)
		return -EINVAL;
	return dr_store_run_now(s, ms);
}

int dr_store_running_flush(struct dr_store *s, char *err, size_t errlen)
{
	static const char what[] = "cannot record the box's running time";
	if (!s)
		return -EINVAL;
	uint64_t now;
	int r = dr_store_run_now(s, &now);
	if (r < 0)
		return dr_store_fail(s, r, err, errlen, "%s: %s", what, dr_store_errmsg(s));
	uint64_t m = mono_ms();
	sqlite3_stmt *st;
	/* max(): another handle (or an older flush) never lowers it; meta.value
	 * has TEXT affinity, and text compares above any number: cast both */
	if ((r = dr_store_prepare(s,
				  "INSERT INTO meta (key, value) VALUES ('running_ms', ?1)"
				  " ON CONFLICT (key) DO UPDATE SET value ="
				  " max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
				  &st, what, err, errlen)) < 0)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	if ((r = dr_store_step_done(s, st, what, err, errlen)) < 0)
		return r;
	int64_t stored;
	if ((r = meta_int(s, "running_ms", &stored, NULL)) < 0)
		return r;
	s->run_base_ms = stored > 0 && (uint64_t)stored > now ? (uint64_t)stored : now;
	s->run_mono_ms = m;
	return 0;
}

int dr_store_clock_get(struct dr_store *s, struct dr_store_clock *c)
{
	if (!s || !c)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	int r = dr_store_run_now(s, &c->run_ms);
	int64_t v;
	bool found;
	if (r == 0 && (r = meta_int(s, "clock_trusted_utc", &c->trusted_utc, &c->trusted)) == 0 &&
	    (r = meta_int(s, "clock_trusted_run_ms", &v, NULL)) == 0)
		c->trusted_run_ms = v > 0 ? (uint64_t)v : 0;
	if (r == 0 && (r = meta_int(s, "clock_prev_utc", &c->prev_utc, &found)) == 0 &&
	    (r = meta_int(s, "clock_prev_run_ms", &v, NULL)) == 0) {
		c->prev = found;
		c->prev_run_ms = v > 0 ? (uint64_t)v : 0;
	}
	return r;
}

static int meta_put(struct dr_store *s, const char *key, bool set, int64_t v, const char *what,
		    char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int r = dr_store_prepare(s,
				 set ? "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)"
				     : "DELETE FROM meta WHERE key = ?1",
				 &st, what, err, errlen);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (set)
		sqlite3_bind_int64(st, 2, v);
	return dr_store_step_done(s, st, what, err, errlen);
}

int dr_store_clock_put(struct dr_store *s, const struct dr_store_clock *c, const char *action,
		       const char *detail, char *err, size_t errlen)
{
	static const char what[] = "cannot record the box's trusted time";
	if (!s || !c || !action)
		return -EINVAL;
	int r = dr_store_txn_begin(s, what, err, errlen);
	if (r < 0)
		return r;
	if ((r = meta_put(s, "clock_trusted_utc", c->trusted, c->trusted_utc, what, err, errlen)) < 0 ||
	    (r = meta_put(s, "clock_trusted_run_ms", c->trusted, (int64_t)c->trusted_run_ms, what, err,
			  errlen)) < 0 ||
	    (r = meta_put(s, "clock_prev_utc", c->prev, c->prev_utc, what, err, errlen)) < 0 ||
	    (r = meta_put(s, "clock_prev_run_ms", c->prev, (int64_t)c->prev_run_ms, what, err,
			  errlen)) < 0)
		goto err_rollback;
	struct dr_store_audit_args a = {.t = {detail}, .n = {c->trusted_utc, (sqlite3_int64)c->trusted_run_ms}};
	if ((r = dr_store_insert_audit(s, NULL, action,
				       "json_object('detail', ?3, 'trusted_utc', ?6,"
				       " 'trusted_run_ms', ?7)",
				       &a, what, err, errlen)) < 0)
		goto err_rollback;
	if ((r = dr_store_txn_commit(s, what, err, errlen)) < 0)
		goto err_rollback;
	return 0;

err_rollback:
	dr_store_txn_rollback(s);
	return r;
}
