/* SPDX-License-Identifier: MIT */
/*
 * dr_export: the box's side of the staff stick (docs/stick-format.md).
 *
 * How the daemon drives it when a stick's folder appears (mounted
 * nosuid,nodev,noexec by the hot-plug unit; a folder on the simulated board):
 *
 *   dr_export_stick_open()     token: signed by the organisation, unexpired,
 *                              unrevoked. Refused -> light "error", log the
 *                              message, write nothing, change nothing.
 *   dr_export_clock_check()    set the clock if it was unset or behind
 *   dr_export_apply_receipt()  deletions the archive confirmed, withdrawals,
 *                              consent changes (refused receipts change nothing)
 *   dr_export_begin()          then dr_export_step() until it returns 0,
 *                              between events (each step does a bounded
 *                              amount of I/O, about 1 MiB), light "busy"
 *                              from the progress; then light "saved" (done)
 *   dr_export_run_free(), dr_export_stick_close()
 *
 * Only sealed recordings (DRSEAL02, docs/sealed-file.md) go to a stick: a
 * plain one left from before sealing is not exported (counted as failed).
 *
 * Every step is safe to cut (the stick pulled, the power lost): a file counts
 * as exported only once it was written, synced, read back from the stick and
 * its BLAKE2b matched the catalogue; the manifest is replaced atomically
 * (write, sync, rename) at the end; the next insertion resumes (files already
 * on the stick with the right hash are verified, not copied again).
 *
 * Keys on the box (from `diaryroom-admin provision-device`), in keydir:
 *   device.key  64 bytes, the device's Ed25519 secret key (mode 0600)
 *   org.pub     32 bytes, the organisation's Ed25519 public key
 *
 * Single-threaded (the event loop's thread). Every function returns 0 or a
 * negative errno with a human message in err; destructors accept NULL.
 * Library code: no logging above debug; the caller logs err.
 */
#ifndef DR_EXPORT_H
#define DR_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export/stickfmt.h"
#include "store/store.h"

/* A box reading earlier than this is "unset" (no RTC): 2024-01-01. */
#define DR_EXPORT_CLOCK_UNSET 1704067200
/* A box this far behind the organisation's signed time is corrected. */
#define DR_EXPORT_CLOCK_SLACK_S 120

struct dr_export;
struct dr_stick;
struct dr_export_run;

/* Loads the keys. s is borrowed (must outlive the handle). */
int dr_export_open(struct dr_store *s, const char *keydir, struct dr_export **out, char *err,
		   size_t errlen);
void dr_export_close(struct dr_export *x);
/* 16 lowercase hex: the folder name of this box's exports on a stick. */
const char *dr_export_device_id(const struct dr_export *x);

/* Opens and verifies the stick mounted at mount_dir, at the box's time
 * box_now (seconds since the epoch). Errors (nothing on the stick or the box
 * is changed):
 *   -ENOENT        no DIARYRM folder or no token (not a staff stick)
 *   -EKEYREJECTED  the token is not signed by this organisation
 *   -EKEYEXPIRED   the token has expired
 *   -EKEYREVOKED   the stick was revoked
 *   -EBADMSG       a file is malformed, truncated or too large
 *   -ELOOP         a symbolic link where a file or folder must be
 * On success, a newer signed revocation list on the stick is stored. */
int dr_export_stick_open(struct dr_export *x, const char *mount_dir, int64_t box_now,
			 struct dr_stick **out, char *err, size_t errlen);
void dr_export_stick_close(struct dr_stick *k);
/* The verified token (owned by k). */
const struct dr_token *dr_export_stick_token(const struct dr_stick *k);

/* The clock rule: the organisation's signed time is the token's issue time,
 * or the receipt's if a valid receipt for this box is on the stick. If the
 * box's clock (box_now) is unset (before DR_EXPORT_CLOCK_UNSET) or more than
 * DR_EXPORT_CLOCK_SLACK_S behind it, *set_to is that time, the recordings
 * made since the last check are flagged time_uncertain (see
 * dr_store_clock_checked) and 1 is returned: the caller then sets the
 * system clock. Otherwise 0 (never moves the clock back). */
int dr_export_clock_check(struct dr_export *x, struct dr_stick *k, int64_t box_now,
			  int64_t *set_to, char *err, size_t errlen);

struct dr_export_receipt_result {
	int64_t seq;          /* the export run it answers */
	unsigned deleted;     /* confirmed by the archive, deleted from the box */
	unsigned withdrawn;
	unsigned consent_changed;
	unsigned hash_mismatch; /* listed by the archive with another hash: kept */
};
/* Applies DIARYRM/receipt/<device>.json if there is one: 0 if none, 1 if
 * applied (then removed from the stick). Refused (nothing changed):
 * -EKEYREJECTED not signed by the organisation, -EXDEV for another box,
 * -EALREADY replayed (answers an export already answered), -ESTALE answers
 * no export this box made (or another manifest), -EBADMSG malformed. */
int dr_export_apply_receipt(struct dr_export *x, struct dr_stick *k,
			    struct dr_export_receipt_result *res, char *err, size_t errlen);

struct dr_export_progress {
	unsigned files_done;  /* verified on the stick */
	unsigned files_total;
	unsigned files_failed; /* could not be verified (kept on the box, retried next time) */
	uint64_t bytes_done;  /* copied or verified */
	uint64_t bytes_total; /* to copy and verify (2 x size for a new file) */
	bool stick_full;      /* stopped early: the manifest lists what fitted */
	int64_t seq;
};
/* Starts an export run: every held recording (complete or interrupted, not
 * confirmed by the archive) goes to DIARYRM/export/<device>/. */
int dr_export_begin(struct dr_export *x, struct dr_stick *k, struct dr_export_run **out,
		    char *err, size_t errlen);
/* A bounded piece of work: 1 if there is more, 0 when the signed manifest
 * is on the stick (done), -errno (the run is over; the next insertion
 * resumes). p (may be NULL) gets the progress. */
int dr_export_step(struct dr_export_run *run, struct dr_export_progress *p, char *err,
		   size_t errlen);
void dr_export_run_free(struct dr_export_run *run);

#endif
