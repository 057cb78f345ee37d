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
 *                              amount of I/O, about 1 MiB, or waits at most
 *                              20 ms for the verifier), light "busy"
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
 * Call every function from one thread (the event loop's). An export run
 * has four threads of its own (verify.c) that sync, read back, hash and
 * rename the files written by dr_export_step; dr_export_run_free stops
 * them. Every function returns 0 or a
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

/* ---- The clock rule (clock.c; docs/stick-format.md, "The clock") ----
 *
 * The box trusts its own record of time, not its clock: J, the time it can
 * justify, is the last signed time it accepted plus its running time since
 * (dr_store_running_ms); before any, DR_EXPORT_CLOCK_FLOOR (this software's
 * release) plus its running time. A signed time S (token or receipt
 * issued_utc) is judged against J:
 *   S > J + allowance           refused (DR_CLOCK_AHEAD): nothing changes.
 *                               The allowance, for time the box was switched
 *                               off, is DR_EXPORT_CLOCK_ALLOWANCE_S, or
 *                               DR_EXPORT_CLOCK_FIRST_ALLOWANCE_S before the
 *                               box has accepted any signed time.
 *   J + slack < S <= bound      accepted, a forward move (DR_CLOCK_FORWARD);
 *                               unconfirmed until a newer signed time agrees.
 *   J - tolerance <= S          agrees (DR_CLOCK_AGREE); confirms a forward
 *                               move if it is newer than the signed time
 *                               that made it.
 *   S < J - tolerance           old (DR_CLOCK_OLD): a stick made long ago says
 *                               nothing new. Except a receipt (not yet
 *                               applied) after an unconfirmed forward move:
 *                               it was signed after the export it answers,
 *                               so if S is before the box's time at that
 *                               export (by more than the tolerance) and not
 *                               before L (the time justified without the
 *                               move), the move was wrong: the box goes back
 *                               to max(S, L) (DR_CLOCK_BACK), the only way
 *                               its time moves backwards; if S is after it
 *                               (and newer than the move), it confirms it.
 *   S < L - allowance           behind (DR_CLOCK_BEHIND): logged, nothing
 *                               changes.
 * Token expiry counts from max(token issued_utc, L): an unconfirmed forward
 * move can never make a correct stick look expired. */
#define DR_EXPORT_CLOCK_FLOOR 1767225600 /* 2026-01-01T00:00:00Z */
#define DR_EXPORT_CLOCK_ALLOWANCE_S (366 * 86400LL)
#define DR_EXPORT_CLOCK_FIRST_ALLOWANCE_S (3653 * 86400LL)
#define DR_EXPORT_CLOCK_TOLERANCE_S 600

enum dr_clock_verdict {
	DR_CLOCK_AGREE,
	DR_CLOCK_FORWARD,
	DR_CLOCK_OLD,
	DR_CLOCK_BACK,
	DR_CLOCK_AHEAD,  /* refused */
	DR_CLOCK_BEHIND, /* refused */
};
struct dr_clock_judgement {
	enum dr_clock_verdict verdict;
	int64_t justified; /* J before */
	int64_t lower;     /* L before */
	int64_t bound;     /* the latest signed time acceptable */
	struct dr_store_clock after; /* the anchors to keep */
	bool changed;      /* after differs from before */
};
/* Pure: judges signed time s against c. export_run_ms: for a receipt, the
 * running time when the export it answers was written (it was signed
 * after that); NULL for a token. */
void dr_export_clock_judge(const struct dr_store_clock *c, int64_t s, const uint64_t *export_run_ms,
			   struct dr_clock_judgement *j);
/* The time the box trusts on c's record: J, or L (lower: without an
 * unconfirmed forward move). */
int64_t dr_export_clock_justified(const struct dr_store_clock *c, bool lower);

struct dr_export;
struct dr_stick;
struct dr_export_run;

/* Loads the keys. s is borrowed (must outlive the handle). */
int dr_export_open(struct dr_store *s, const char *keydir, struct dr_export **out, char *err,
		   size_t errlen);
void dr_export_close(struct dr_export *x);
/* 16 lowercase hex: the folder name of this box's exports on a stick. */
const char *dr_export_device_id(const struct dr_export *x);

/* Opens and verifies the stick mounted at mount_dir. box_now (the box's
 * clock) is not used for expiry: a token has expired when its expires_utc is
 * at or before max(its issued_utc, L), the time the box can justify without
 * an unconfirmed forward move (see the clock rule). Errors (nothing on the
 * stick or the box is changed):
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

/* The clock rule (above) for the stick's signed times: the token's issue
 * time, then the receipt's if a receipt for this box that answers its last
 * finished export is on the stick. What the box then trusts (T, the time it
 * can justify afterwards) is kept in the catalogue (audited). If the box's
 * clock (box_now) is unset or more than DR_EXPORT_CLOCK_SLACK_S behind T,
 * ahead of T by more than the allowance, or the box went back
 * (DR_CLOCK_BACK), res->set_to is T, the recordings made since the last
 * check are flagged time_uncertain (dr_store_clock_checked) and 1 is
 * returned: the caller then sets the system clock. Otherwise 0. A refused
 * signed time is counted in res->refused with the reason in res->reason
 * (the caller logs it); it changes nothing. */
struct dr_export_clock_result {
	int64_t set_to;   /* when 1 is returned */
	int64_t trusted;  /* T */
	bool moved_back;  /* DR_CLOCK_BACK: a wrong forward move undone */
	unsigned refused; /* signed times refused (ahead or behind) */
	char reason[256]; /* the last refusal, "" if none */
};
int dr_export_clock_check(struct dr_export *x, struct dr_stick *k, int64_t box_now,
			  struct dr_export_clock_result *res, char *err, size_t errlen);

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
	/* this step only waited (at most 20 ms) for the verifier threads and
	 * changed nothing: how many such steps a run takes depends on timing,
	 * the others' number does not */
	bool waited;
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
