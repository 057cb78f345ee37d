/* SPDX-License-Identifier: MIT */
/*
 * dr_store: the data folder.
 *
 *   <data>/catalogue.sqlite   SQLite, WAL; schema version in PRAGMA user_version,
 *                             migrations in store.c, applied at open
 *   <data>/recordings/<id>.opus.sealed   sound only (Ogg Opus, sealed)
 *   <data>/recordings/<id>.mkv.sealed    sound and picture (Matroska, sealed)
 *
 * Tables: recordings (one row per recording, its state, times, duration, size,
 * BLAKE2b hash), audit (append-only: triggers refuse UPDATE and DELETE), meta.
 * Every change that matters to a resident (a recording kept or discarded; in
 * later schema versions consent and deletion) is committed with
 * synchronous=FULL before the function returns.
 *
 * Recording ids are 32 lowercase hex characters from libsodium's randombytes
 * (never sequential, never derived from the time).
 *
 * Single-threaded: use from the event loop only. dr_store_close(NULL) is a
 * no-op. Errors are negative errno (-EIO for an SQLite failure, -ENOSPC for a
 * full disk, -EROFS for a read-only folder) with a message in err.
 */
#ifndef DR_STORE_H
#define DR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DR_STORE_ID_LEN 32 /* hex characters, not counting the NUL */
#define DR_STORE_RECEIPT_LEN 4 /* decimal digits */
/* A number that left the box rests this long (running time) before it can
 * be given again while free numbers remain (dr_store_assign_receipt). */
#define DR_STORE_RECEIPT_REST_DAYS 366

/* A consent answer. Unanswered is as good as no: a recording whose
 * consent_staff is not YES is locked (never played to staff). */
enum dr_consent {
	DR_CONSENT_UNANSWERED = -1,
	DR_CONSENT_NO = 0,
	DR_CONSENT_YES = 1,
};

enum dr_rec_state {
	DR_REC_RECORDING,   /* being recorded now (or cut off: see recovery) */
	DR_REC_COMPLETE,    /* finished normally */
	DR_REC_INTERRUPTED, /* cut off by a crash or power failure, repaired */
	DR_REC_DISCARDED,   /* not kept (too short, or nothing recoverable); file deleted */
	DR_REC_EXPIRED,     /* locked (no consent) past the retention period; file deleted */
	DR_REC_WITHDRAWN,   /* the resident withdrew it by its receipt number; file deleted */
	DR_REC_DELETED,     /* the archive confirmed a verified copy; file deleted from the box */
};
const char *dr_rec_state_name(enum dr_rec_state s);

struct dr_store;

/* Creates the folder layout if needed, opens and migrates the catalogue.
 * Refuses a catalogue from a newer schema (-EPROTO). */
int dr_store_open(const char *data_dir, struct dr_store **out, char *err, size_t errlen);
void dr_store_close(struct dr_store *s);
int dr_store_schema_version(struct dr_store *s);

/* What a recording holds (schema v5; rows from before are audio). */
enum dr_media {
	DR_MEDIA_AUDIO, /* Ogg Opus: <id>.opus.sealed */
	DR_MEDIA_VIDEO, /* Matroska, Opus and a picture: <id>.mkv.sealed */
};
/* "audio", "video" */
const char *dr_media_name(enum dr_media m);
/* The file's extension before ".sealed": ".opus", ".mkv" */
const char *dr_media_ext(enum dr_media m);

/* A new recording: makes an id, inserts the row (state recording) durably,
 * and returns the id and the absolute path its file must be written to.
 * dr_store_begin is dr_store_begin_media with DR_MEDIA_AUDIO. */
int dr_store_begin(struct dr_store *s, const char *start_utc, uint64_t start_mono_ms,
		   char id[DR_STORE_ID_LEN + 1], char *path, size_t pathlen, char *err, size_t errlen);
int dr_store_begin_media(struct dr_store *s, enum dr_media media, const char *start_utc,
			 uint64_t start_mono_ms, char id[DR_STORE_ID_LEN + 1], char *path,
			 size_t pathlen, char *err, size_t errlen);
/* The file is complete (or repaired): hashes it (BLAKE2b-256 via libsodium),
 * stores duration, size, hash and the new state durably, and audits it. */
int dr_store_finish(struct dr_store *s, const char *id, enum dr_rec_state state,
		    uint64_t duration_ms, const char *note, char *err, size_t errlen);
/* Not kept: deletes the file (if any), marks the row discarded, audits why. */
int dr_store_discard(struct dr_store *s, const char *id, const char *reason, char *err,
		     size_t errlen);

struct dr_store_rec {
	char id[DR_STORE_ID_LEN + 1];
	enum dr_rec_state state;
	char path[4096];
	char start_utc[40];
	uint64_t duration_ms;
	uint64_t size;
	char blake2b[65]; /* hex; "" if not yet hashed */
	char receipt[DR_STORE_RECEIPT_LEN + 1]; /* "" if none yet */
	enum dr_consent consent_staff;
	enum dr_consent consent_share;
	enum dr_media media;
};
/* Calls fn for every recording in the given state, oldest first. */
int dr_store_each(struct dr_store *s, enum dr_rec_state state,
		  int (*fn)(void *user, const struct dr_store_rec *rec), void *user);
int dr_store_get(struct dr_store *s, const char *id, struct dr_store_rec *rec);

/* Gives a kept recording its receipt number: 4 digits, 1000..9999, drawn
 * uniformly (libsodium's randombytes_uniform, never sequential) among the
 * numbers that are free: not held by a recording the box holds, and not
 * resting (left the box less than DR_STORE_RECEIPT_REST_DAYS of running time
 * ago). When none is free, the resting number not held by the box that left
 * the box longest ago is given (least recently used first; ties drawn at
 * random). So a number is unique among what the box holds, and numbers never
 * run out. Durable before it returns. A recording that already has one keeps
 * it (returned again). -ENOSPC (with a message) only if the box itself holds
 * 9000 recordings with numbers. */
int dr_store_assign_receipt(struct dr_store *s, const char *id,
			    char receipt[DR_STORE_RECEIPT_LEN + 1], char *err, size_t errlen);
/* Records consent answers, durably and in the audit log, before it returns.
 * `by` is "resident" (at the box) or "staff" (a later change against the
 * receipt number). Sharing beyond the team needs consent to staff listening:
 * share YES with staff not YES is refused (-EINVAL). */
int dr_store_set_consent(struct dr_store *s, const char *id, enum dr_consent staff,
			 enum dr_consent share, const char *by, char *err, size_t errlen);
/* The retention rule, the only ground on which the box deletes a recording
 * by itself: every locked recording (complete or interrupted, consent_staff
 * not YES) whose age in the box's running time (dr_store_running_ms() minus
 * the counter when it was made) has reached retention_days has its row
 * marked expired and its number set resting, durably and audited, then its
 * file deleted. The wall clock plays no part: no clock, right or wrong, can
 * make a recording go earlier; a box switched off keeps its locked recordings
 * longer by the time it was off. Returns how many expired, or -errno. */
int dr_store_expire_locked(struct dr_store *s, unsigned retention_days, char *err, size_t errlen);

/* Appends to the audit log (recording id may be NULL). */
int dr_store_audit(struct dr_store *s, const char *id, const char *action, const char *detail);

/* Free bytes for an unprivileged writer on the data folder's filesystem. */
int dr_store_free_bytes(struct dr_store *s, uint64_t *bytes);

/* Recordings from before sealing. A box upgraded from a version that kept
 * plain <id>.opus files: dr_store_plain_path says whether recording id
 * still has one (0 and its path; -ENOENT if not). Once the caller has
 * sealed it into <id>.opus.sealed (app/seal), dr_store_replace_plain records
 * the sealed file's size and hash in place of the plain one's (durable,
 * audited "sealed") and then deletes the plain file. A cut in between
 * leaves the plain file, to be sealed again at the next start. */
int dr_store_plain_path(struct dr_store *s, const char *id, char *path, size_t pathlen);
int dr_store_replace_plain(struct dr_store *s, const char *id, char *err, size_t errlen);

/* Hex BLAKE2b-256 of a file. */
int dr_hash_file(const char *path, char hex[65]);

/* Added: the message of the last error any dr_store_* call on s reported
 * (also for the calls without an err buffer). Owned by s, valid until the
 * next call; "" if none. */
const char *dr_store_errmsg(const struct dr_store *s);

/* ---- Export to staff sticks (schema v3; store_export.c, store_receipt.c) ----
 *
 * A recording is "held" while complete or interrupted. It leaves the box only
 * as 'deleted' (the archive confirmed a verified copy, by a signed receipt),
 * 'withdrawn' (the resident withdrew it by its receipt number) or 'expired'
 * (dr_store_expire_locked). Every change below is durable and audited before
 * the function returns. */

/* A held recording as export needs it (the dr_store_rec plus v3 fields). */
struct dr_store_export_rec {
	struct dr_store_rec rec;
	char end_utc[40];      /* "" if unknown */
	bool time_uncertain;   /* made while the box's clock was unset or behind */
	char created_utc_box[40]; /* the box's clock reading then ("" if certain) */
	int64_t export_seq;    /* the last export run it was verified in, 0 if none */
};
/* Calls fn for every held recording (complete or interrupted), oldest first. */
int dr_store_export_each(struct dr_store *s,
			 int (*fn)(void *user, const struct dr_store_export_rec *rec), void *user);

/* Starts an export run to a stick: returns its sequence number (> 0). */
int dr_store_export_begin(struct dr_store *s, const char *stick_id, const char *stick_name,
			  int64_t *seq, char *err, size_t errlen);
/* The recording's file was written to the stick, read back and its hash
 * matched: records it (exported_utc, export_seq) and audits it. */
int dr_store_export_mark(struct dr_store *s, int64_t seq, const char *id, char *err,
			 size_t errlen);
/* The run's signed manifest is on the stick. */
int dr_store_export_finish(struct dr_store *s, int64_t seq, const char *manifest_blake2b,
			   unsigned count, char *err, size_t errlen);
/* A finished run: its manifest hash ("" and -ENOENT if no such finished run). */
int dr_store_export_lookup(struct dr_store *s, int64_t seq, char manifest_blake2b[65]);
/* The box's running time when run seq's manifest was written (schema v4;
 * -ENOENT for a run not finished, or finished before v4). */
int dr_store_export_run_ms(struct dr_store *s, int64_t seq, uint64_t *run_ms);
/* The newest run a receipt was applied for (0 if none). */
int dr_store_receipt_last_seq(struct dr_store *s, int64_t *seq);
/* Records that the receipt for run seq has been applied (durable, audited). */
int dr_store_receipt_applied(struct dr_store *s, int64_t seq, const char *detail, char *err,
			     size_t errlen);

/* The archive confirmed a verified copy of recording id with this hash:
 * marks it deleted (confirmed_utc, deleted_utc), remembers its receipt
 * number as held by the archive, audits it, then deletes the file. Returns 1
 * if deleted, 0 if nothing to do (already gone, not held), -EBADMSG (nothing
 * changed) if the hash is not the catalogue's. */
int dr_store_confirm_delete(struct dr_store *s, const char *id, const char *blake2b,
			    int64_t seq, char *err, size_t errlen);
/* The held recording with this receipt number, made at or before
 * made_before_utc (NULL: any time) (-ENOENT if none). */
int dr_store_find_receipt(struct dr_store *s, const char *receipt, const char *made_before_utc,
			  char id[DR_STORE_ID_LEN + 1]);
/* Withdrawal by receipt number: the held recording with that number made at
 * or before made_before_utc (when staff recorded the withdrawal) is marked
 * withdrawn, audited (by "staff", with the source), its number set resting,
 * and its file deleted. Returns 1 if one was withdrawn, 0 if the box holds
 * none with that number made by then. */
int dr_store_withdraw(struct dr_store *s, const char *receipt, const char *made_before_utc,
		      const char *source, char *err, size_t errlen);
/* A receipt number left the box now (its recording confirmed by the
 * archive, withdrawn or expired): it rests for DR_STORE_RECEIPT_REST_DAYS of
 * running time (its rest starts again if it was resting already), durably. */
int dr_store_hold_receipt(struct dr_store *s, const char *receipt, const char *source,
			  char *err, size_t errlen);

/* The organisation's revocation list: its serial (0 if none seen) and a
 * newer list (replaces the stored one only if serial is greater). */
int dr_store_revocation_serial(struct dr_store *s, int64_t *serial);
int dr_store_revocation_update(struct dr_store *s, int64_t serial, const char *const *stick_ids,
			       size_t n, char *err, size_t errlen);
int dr_store_is_revoked(struct dr_store *s, const char *stick_id, bool *revoked);

/* The box's clock was checked against a signed time from the organisation.
 * If corrected (it was unset or behind), every recording made since the
 * last check is flagged time_uncertain and its created_utc moved to now_utc
 * (the box's reading kept in created_utc_box), audited. Returns how many
 * were flagged. */
int dr_store_clock_checked(struct dr_store *s, bool corrected, const char *now_utc,
			   const char *detail, char *err, size_t errlen);

/* ---- The box's own record of time (schema v4; store_time.c) ----
 *
 * The running-time counter: milliseconds the box has been running, summed
 * from CLOCK_MONOTONIC deltas and persisted by dr_store_running_flush() (the
 * daemon calls it at every storage check and at shutdown). A power cut loses
 * what was not flushed, so the counter only ever under-counts: an age
 * measured by it is never longer than the real one. No wall clock reaches
 * it. */
int dr_store_running_ms(struct dr_store *s, uint64_t *ms);
int dr_store_running_flush(struct dr_store *s, char *err, size_t errlen);

/* The box's trust in signed times (app/export/clock.c decides; this keeps
 * it). trusted: the newest signed time the box accepted and the running
 * counter then. prev: the anchor from before a forward move no later signed
 * time has confirmed yet (the time the box can justify without that move). */
struct dr_store_clock {
	uint64_t run_ms; /* the running counter now (read only) */
	bool trusted;
	int64_t trusted_utc;
	uint64_t trusted_run_ms;
	bool prev;
	int64_t prev_utc;
	uint64_t prev_run_ms;
};
int dr_store_clock_get(struct dr_store *s, struct dr_store_clock *c);
/* Stores c's anchors, durably, with an audit row (action, detail). */
int dr_store_clock_put(struct dr_store *s, const struct dr_store_clock *c, const char *action,
		       const char *detail, char *err, size_t errlen);

#endif
