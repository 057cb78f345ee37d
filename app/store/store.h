/* SPDX-License-Identifier: MIT */
/*
 * dr_store: the data folder.
 *
 *   <data>/catalogue.sqlite   SQLite, WAL; schema version in PRAGMA user_version,
 *                             migrations in store.c, applied at open
 *   <data>/recordings/<id>.opus
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

/* A new recording: makes an id, inserts the row (state recording) durably,
 * and returns the id and the absolute path its file must be written to. */
int dr_store_begin(struct dr_store *s, const char *start_utc, uint64_t start_mono_ms,
		   char id[DR_STORE_ID_LEN + 1], char *path, size_t pathlen, char *err, size_t errlen);
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
};
/* Calls fn for every recording in the given state, oldest first. */
int dr_store_each(struct dr_store *s, enum dr_rec_state state,
		  int (*fn)(void *user, const struct dr_store_rec *rec), void *user);
int dr_store_get(struct dr_store *s, const char *id, struct dr_store_rec *rec);

/* Gives a kept recording its receipt number: 4 random digits (libsodium's
 * randombytes_uniform, never sequential), unique among the recordings the
 * box holds and the receipts the archive reported holding. Durable before it
 * returns. A recording that already has one keeps it (returned again).
 * -ENOSPC (with a message) if every number is in use. */
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
 * not YES) created more than retention_days ago by the catalogue's clock has
 * its file deleted and its row marked expired, durably and audited. Returns
 * how many expired, or -errno. */
int dr_store_expire_locked(struct dr_store *s, unsigned retention_days, char *err, size_t errlen);

/* Appends to the audit log (recording id may be NULL). */
int dr_store_audit(struct dr_store *s, const char *id, const char *action, const char *detail);

/* Free bytes for an unprivileged writer on the data folder's filesystem. */
int dr_store_free_bytes(struct dr_store *s, uint64_t *bytes);

/* Hex BLAKE2b-256 of a file. */
int dr_hash_file(const char *path, char hex[65]);

/* Added: the message of the last error any dr_store_* call on s reported
 * (also for the calls without an err buffer). Owned by s, valid until the
 * next call; "" if none. */
const char *dr_store_errmsg(const struct dr_store *s);

#endif
