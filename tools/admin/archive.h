/* SPDX-License-Identifier: MIT */
/*
 * The office archive's catalogue: one small interface, so that the backend
 * can change (SQLite today; docs/archive.md says what a PostgreSQL backend
 * with shared storage would change) without touching collect, unlock,
 * check, repair, find or export.
 *
 * A catalogue belongs to one archive folder. It is opened through
 * adm_archive_open (SQLite: <archive>/catalogue.sqlite, WAL, schema version
 * in PRAGMA user_version, migrations in code; a damaged or unreadable file,
 * or one that is not a regular file, is refused with a message: never taken
 * for a new archive). Every call goes through a->ops.
 *
 * Threads: a context is used by one thread at a time. One process writes
 * an archive at a time (adm_archive_lock, held for a whole collect, unlock
 * or repair); readers (check, find, export) may run while it writes and see
 * only committed transactions.
 *
 * Strings in the records are NUL-terminated and bounded by their arrays;
 * an empty string is "not known". Times are UTC, "YYYY-MM-DDTHH:MM:SSZ".
 * Every call returns 0 or a negative errno: -ENOENT (no such row),
 * -EBADMSG (the catalogue is damaged, or a row breaks its rules), -EIO.
 * On failure, a->err says why, for people.
 */
#ifndef DR_ADMIN_ARCHIVE_H
#define DR_ADMIN_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ADM_BOX_HEX 16 /* a box's id: 16 lowercase hex */
#define ADM_REC_HEX 32 /* a recording's id: 32 lowercase hex */

/* One recording the archive holds or held, as its box signed it with what
 * the archive did with it. */
struct adm_rec {
	char box[ADM_BOX_HEX + 1];
	char id[ADM_REC_HEX + 1];
	char receipt[5];	/* 4 digits, or "" */
	char state[16];		/* "complete" or "interrupted" (the box's) */
	char media[16];		/* "audio" (Ogg Opus); "video" (Matroska) */
	char file[64];		/* the file name in the box's folder, derived
				 * from id and media (adm_archive_file_name) */
	char start_utc[40], end_utc[40];
	int64_t duration_ms;
	uint64_t size;		/* of the box's sealed original */
	char blake2b[65];	/* of the box's sealed original */
	char playable_blake2b[65]; /* of the playable copy (a video's: the
				    * WebM), "" if none */
	char consent_staff[12];	/* "yes", "no", "unanswered" */
	char consent_share[12];
	bool locked;		/* staff may not listen */
	bool time_uncertain;
	bool sealed_original;	/* stick format 2: blake2b/size are the box's
				 * sealed file's; false for older rows */
	char status[12];	/* "archived", "withdrawn", "expired" */
	char collected_utc[40];
	char retention_ended_utc[40];
};

/* A change staff entered for a box's receipt number (withdraw, consent),
 * kept in the order entered; sent to the box in every receipt. */
struct adm_change {
	int64_t seq;		/* order within the box, from 0 */
	char box[ADM_BOX_HEX + 1];
	char kind[10];		/* "withdraw" or "consent" */
	char receipt[5];
	char staff[12], share[12]; /* consent only; "" for withdraw */
	char entered_utc[40];
	char actor[64];		/* the OS user who entered it */
};

/* One line of a recording's consent history. source: "manifest" (as the
 * box recorded it), "staff" (a change or unlock), "migration" (from an
 * archive made before the catalogue), "refused" (a later manifest claimed
 * wider consent: not applied, kept as evidence). */
struct adm_consent {
	char box[ADM_BOX_HEX + 1];
	char id[ADM_REC_HEX + 1];
	char at_utc[40];
	char staff[12], share[12];
	char source[12];
	char detail[128];
};

/* Something the archive did to a recording's files: kind "withdrawn",
 * "expired", "deleted" (a file removed: what = its file name). */
struct adm_event {
	char box[ADM_BOX_HEX + 1];
	char id[ADM_REC_HEX + 1];
	char kind[12];
	char what[64];
	char at_utc[40];
	char detail[128];
};

/* A signed receipt written to a stick, answering export seq of box. */
struct adm_receipt {
	char box[ADM_BOX_HEX + 1];
	int64_t seq;
	char sent_utc[40];
	char manifest_blake2b[65]; /* of the manifest answered */
	unsigned held;		   /* recordings it lists as held */
};

/* Which recordings adm_archive_ops.rec_each visits: NULL / "" = any. */
struct adm_query {
	const char *box;
	const char *receipt;
	const char *from_utc, *to_utc; /* start_utc within [from, to] */
	bool by_start; /* rows in start_utc order (on its index), not box order */
};

struct adm_archive;
typedef int (*adm_rec_cb)(void *ctx, const struct adm_rec *r);	 /* nonzero stops */
typedef int (*adm_change_cb)(void *ctx, const struct adm_change *c);
typedef int (*adm_consent_cb)(void *ctx, const struct adm_consent *c);
typedef int (*adm_event_cb)(void *ctx, const struct adm_event *e);

/* An audit entry waiting in the catalogue for the audit log: added in the
 * transaction whose change it records, so the two cannot part. */
struct adm_outbox {
	int64_t n; /* order, given by the catalogue */
	char action[20];
	char box[ADM_BOX_HEX + 1];
	char id[ADM_REC_HEX + 1]; /* "" if none */
	char receipt[5];	  /* "" if none */
	char detail[160];
};

struct adm_archive_ops {
	const char *name;
	/* A transaction: every write between begin and commit is kept or lost
	 * together. Writes outside one are refused (-EINVAL). */
	int (*begin)(struct adm_archive *a);
	int (*commit)(struct adm_archive *a);
	void (*rollback)(struct adm_archive *a);

	int (*box_add)(struct adm_archive *a, const char *box, const char *first_utc);
	/* every box, in id order */
	int (*box_each)(struct adm_archive *a, int (*cb)(void *ctx, const char *box), void *ctx);

	int (*rec_get)(struct adm_archive *a, const char *box, const char *id, struct adm_rec *out);
	/* inserts or replaces (box, id); the row is checked (ids, status) */
	int (*rec_put)(struct adm_archive *a, const struct adm_rec *r);
	/* in (box, start_utc, id) order; cb's nonzero return is returned */
	int (*rec_each)(struct adm_archive *a, const struct adm_query *q, adm_rec_cb cb, void *ctx);

	/* c->seq is given by the catalogue (next for the box) */
	int (*change_add)(struct adm_archive *a, const struct adm_change *c);
	/* box: NULL = all; receipt: NULL = any; in (box, seq) order */
	int (*change_each)(struct adm_archive *a, const char *box, const char *receipt,
			   adm_change_cb cb, void *ctx);

	int (*consent_add)(struct adm_archive *a, const struct adm_consent *c);
	int (*consent_each)(struct adm_archive *a, const char *box, const char *id,
			    adm_consent_cb cb, void *ctx);

	int (*event_add)(struct adm_archive *a, const struct adm_event *e);
	int (*event_each)(struct adm_archive *a, const char *box, const char *id, adm_event_cb cb,
			  void *ctx);

	int (*receipt_add)(struct adm_archive *a, const struct adm_receipt *r);

	/* the signed manifest of an imported export, kept for repair: name is
	 * "<seq>" of box; the .json and .sig bytes are stored as given */
	int (*manifest_keep)(struct adm_archive *a, const char *box, int64_t seq, const void *json,
			     size_t json_len, const void *sig, size_t sig_len);
	/* every kept manifest of box (NULL: all), in (box, seq) order */
	int (*manifest_each)(struct adm_archive *a, const char *box,
			     int (*cb)(void *ctx, const char *box, int64_t seq, const void *json,
				       size_t json_len, const void *sig, size_t sig_len),
			     void *ctx);

	/* PRAGMA integrity_check and the rows' rules; problems to out (may be
	 * NULL); 0 sound, 1 not, -errno */
	int (*check)(struct adm_archive *a, FILE *out);
	/* PRAGMA quick_check: every page readable and well formed, without
	 * matching indexes to rows (collect runs it at open, before it writes);
	 * problems to out (may be NULL); 0 sound, 1 not, -errno */
	int (*quick_check)(struct adm_archive *a, FILE *out);

	/* the audit outbox: add inside a transaction (e->n ignored); first:
	 * 1 and *out the oldest, 0 if empty; del inside a transaction */
	int (*outbox_add)(struct adm_archive *a, const struct adm_outbox *e);
	int (*outbox_first)(struct adm_archive *a, struct adm_outbox *out);
	int (*outbox_del)(struct adm_archive *a, int64_t n);
};

/* The common head of every backend's context. */
struct adm_archive {
	const struct adm_archive_ops *ops;
	int dirfd;	/* the archive folder, O_DIRECTORY|O_CLOEXEC, owned */
	char err[256];	/* why the last call failed */
};

/* Opens the catalogue of the archive folder at path (the folder made if
 * absent only with create: collect does, the others do not). An absent
 * catalogue is made, at the latest schema, and older ones migrated; an
 * archive made before the catalogue (per-box index.json) is migrated into
 * it; a box folder the catalogue does not list (the catalogue deleted or
 * replaced) is refused (-EBADMSG) and left for repair.
 * *out: the context (adm_archive_close it), NULL on failure; err says why
 * for people, also on failure. Any thread, one context per thread. */
int adm_archive_open(const char *path, bool create, struct adm_archive **out, char *err,
		     size_t errlen);
void adm_archive_close(struct adm_archive *a); /* NULL ok */

/* The one writer: an exclusive flock on <archive>/.lock held until
 * adm_archive_unlock. wait: waits (saying so on stderr as who) for a writer
 * already there; else -EWOULDBLOCK with a message. *lockfd owned. */
int adm_archive_lock(int dirfd, bool wait, const char *who, int *lockfd);
void adm_archive_unlock(int lockfd); /* -1 ok */

/* ---- names and paths (archive_path.c) ----
 * The one place a name from outside (stick, manifest, index.json,
 * catalogue row) becomes a path: every other file joins none. */

bool adm_box_ok(const char *box);	/* 16 lowercase hex */
bool adm_rec_id_ok(const char *id);	/* 32 lowercase hex */
/* The file name of a recording's form in its box's folder: kind "sealed"
 * (the box's original: <id>.opus.sealed, <id>.mkv.sealed), "playable" (what
 * staff play: sound <id>.opus; a video's browser copy <id>.webm), "opened"
 * (the original opened with the organisation's key: <id>.opus, <id>.mkv;
 * for sound the playable form itself, for a video only ever a step towards
 * the WebM), or "tmp-sealed"/"tmp-playable"/"tmp-opened" (being written:
 * the name with ".tmp"). -EINVAL if id or media are not valid. */
int adm_archive_file_name(char *out, size_t n, const char *id, const char *media,
			  const char *kind);
/* "<box>/<file name>" relative to the archive folder (for openat on dirfd),
 * or with archive non-NULL the full path. -EINVAL for any bad name. */
int adm_archive_path(char *out, size_t n, const char *archive, const char *box, const char *id,
		     const char *media, const char *kind);
/* Opens a regular file relative to dirfd for reading (O_NOFOLLOW,
 * O_NONBLOCK then cleared, O_CLOEXEC; fstat S_ISREG): a FIFO, device or
 * symlink is -EINVAL, and never blocks. *size its size. */
int adm_open_regular_at(int dirfd, const char *rel, int *fd, uint64_t *size);

#endif
