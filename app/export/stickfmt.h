/* SPDX-License-Identifier: MIT */
/*
 * dr_stickfmt: the files of the staff stick (docs/stick-format.md), parsed
 * with json-c from bytes already read (no I/O here), and their signatures.
 * Shared by the box (app/export) and the PC tool (tools/admin).
 *
 * Every parser takes at most the documented cap of bytes, refuses anything
 * not exactly of the documented shape (-EBADMSG, with a message in err), and
 * never trusts a name: ids are 32 lowercase hex, receipt numbers 4 digits,
 * stick and device ids 16/32 lowercase hex. Parsed structs are owned by the
 * caller and freed with their _free function (NULL is fine).
 *
 * Signatures are Ed25519 (libsodium crypto_sign_detached) over the exact
 * bytes of the .json file, stored as the 64 raw bytes of the .sig file.
 *
 * Format version 2 seals the personal part of the manifest (box -> PC) to
 * the organisation and of the receipt (PC -> box) to the box
 * (crypto_box_seal to the X25519 form of the recipient's Ed25519 key, in a
 * base64 "sealed" member); the outer file keeps only what routes and
 * verifies it. Tokens and revocation lists are unchanged (version 1).
 * Manifest version 3 adds video: each recording's media type ("audio" or
 * "video") names its file; the PC reads versions 2 (sound only) and 3.
 */
#ifndef DR_STICKFMT_H
#define DR_STICKFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Format versions, per file (docs/stick-format.md). */
#define DR_STICK_TOKEN_VERSION 1
#define DR_STICK_REVOKED_VERSION 1
#define DR_STICK_MANIFEST_VERSION 3     /* what the box writes */
#define DR_STICK_MANIFEST_VERSION_MIN 2 /* the oldest the PC reads: sound only */
#define DR_STICK_RECEIPT_VERSION 2
#define DR_STICK_TOP "DIARYRM"

/* Size caps: a file larger than this is refused before it is read. */
#define DR_STICK_TOKEN_MAX (4u * 1024)
#define DR_STICK_REVOKED_MAX (256u * 1024)
#define DR_STICK_RECEIPT_MAX (4u * 1024 * 1024)
#define DR_STICK_MANIFEST_MAX (4u * 1024 * 1024)
#define DR_STICK_SIG_LEN 64
#define DR_STICK_PK_LEN 32
#define DR_STICK_SK_LEN 64
#define DR_STICK_MAX_ENTRIES 20000 /* recordings in a manifest or receipt list */

#define DR_STICK_ID_HEX 32     /* stick id and recording id: 32 lowercase hex */
#define DR_DEVICE_ID_HEX 16    /* device id: first 8 bytes of its public key, hex */
#define DR_STICK_NAME_MAX 64   /* staff name, UTF-8 bytes */

/* True if s is exactly n lowercase hex characters. */
bool dr_stick_hex_ok(const char *s, size_t n);
/* True if s is a 4-digit receipt number. */
bool dr_stick_receipt_ok(const char *s);
/* "2026-01-02T03:04:05Z" (optionally with .mmm) <-> seconds since the epoch. */
int dr_stick_time_parse(const char *s, int64_t *t);
void dr_stick_time_format(int64_t t, char out[32]);

/* Ed25519 over the exact bytes. 0 if valid, -EKEYREJECTED if not. */
int dr_stick_verify(const uint8_t *data, size_t len, const uint8_t sig[DR_STICK_SIG_LEN],
		    const uint8_t pk[DR_STICK_PK_LEN]);
void dr_stick_sign(const uint8_t *data, size_t len, uint8_t sig[DR_STICK_SIG_LEN],
		   const uint8_t sk[DR_STICK_SK_LEN]);
/* The device id of a device public key (16 hex + NUL). */
void dr_stick_device_id(const uint8_t pk[DR_STICK_PK_LEN], char id[DR_DEVICE_ID_HEX + 1]);

/*
 * Sealing a file's personal part to the holder of an Ed25519 key pair
 * (crypto_box_seal to its X25519 form). dr_stick_seal: *b64 (malloc'd,
 * NUL-terminated, standard base64 with padding) is the sealed plain.
 * dr_stick_unseal: *plain (malloc'd, NUL-terminated, plen without the NUL;
 * the caller wipes and frees it) from exactly b64len characters of strict
 * base64; -EBADMSG if it is not base64, too large (over cap bytes opened) or
 * does not open with this key pair (sealed to someone else, or altered).
 * The X25519 secret lives in locked memory and is wiped.
 */
int dr_stick_seal(const void *plain, size_t len, const uint8_t ed_pk[DR_STICK_PK_LEN],
		  char **b64);
int dr_stick_unseal(const char *b64, size_t b64len, size_t cap,
		    const uint8_t ed_pk[DR_STICK_PK_LEN], const uint8_t ed_sk[DR_STICK_SK_LEN],
		    char **plain, size_t *plen);

/* token.json: the organisation's authorisation of one staff stick. */
struct dr_token {
	char stick_id[DR_STICK_ID_HEX + 1];
	char name[DR_STICK_NAME_MAX + 1];
	int64_t issued; /* the PC's clock when made */
	int64_t expires;
};
int dr_token_parse(const char *buf, size_t len, struct dr_token *t, char *err, size_t errlen);

/* revoked.json: the organisation's list of revoked sticks. */
struct dr_revocations {
	int64_t serial; /* increases with every list the organisation signs */
	int64_t issued;
	size_t n;
	char (*ids)[DR_STICK_ID_HEX + 1];
};
int dr_revocations_parse(const char *buf, size_t len, struct dr_revocations **out, char *err,
			 size_t errlen);
void dr_revocations_free(struct dr_revocations *r);

/* receipt/<device>.json: what the archive holds from one device, and the
 * withdrawals and consent changes staff recorded against receipt numbers. */
struct dr_receipt_held {
	char id[DR_STICK_ID_HEX + 1];
	char blake2b[65];
	char receipt[5]; /* "" if none */
};
struct dr_receipt_withdraw {
	char receipt[5];
	char entered_utc[32]; /* when staff recorded it (the PC's clock) */
};
struct dr_receipt_consent {
	char receipt[5];
	char entered_utc[32];
	int staff; /* -1 unanswered, 0 no, 1 yes */
	int share;
};
struct dr_receipt {
	char device[DR_DEVICE_ID_HEX + 1];
	int64_t manifest_seq;
	char manifest_blake2b[65];
	int64_t issued; /* the PC's clock when written */
	size_t n_held, n_withdraw, n_consent;
	struct dr_receipt_held *held;
	struct dr_receipt_withdraw *withdraw;
	struct dr_receipt_consent *consent;
};
/* The receipt as the box reads it: the outer file (format, version 2,
 * device, sealed) is checked, -EXDEV if it is for another box than the one
 * whose key pair is given, and its sealed part opened with that key pair
 * (the box's device key) and parsed with dr_receipt_parse_contents; the
 * device inside must be the outer one. */
int dr_receipt_open(const char *buf, size_t len, const uint8_t device_pk[DR_STICK_PK_LEN],
		    const uint8_t device_sk[DR_STICK_SK_LEN], struct dr_receipt **out, char *err,
		    size_t errlen);
/* The outer file alone (no key): its device (16 hex + NUL). */
int dr_receipt_parse_outer(const char *buf, size_t len, char device[DR_DEVICE_ID_HEX + 1],
			   char *err, size_t errlen);
/* The sealed part once opened: "diaryroom-receipt-contents", version 2. */
int dr_receipt_parse_contents(const char *buf, size_t len, struct dr_receipt **out, char *err,
			      size_t errlen);
void dr_receipt_free(struct dr_receipt *r);

/* export/<device>/manifest.json: what the box put on the stick. */
struct dr_manifest_rec {
	char id[DR_STICK_ID_HEX + 1];
	char file[DR_STICK_ID_HEX + 13]; /* "<id>.opus.sealed" or "<id>.mkv.sealed" */
	char media[8];                   /* "audio" or "video" (version 3) */
	char state[16];                  /* complete | interrupted */
	char receipt[5];
	char start_utc[40];
	char end_utc[40];
	uint64_t duration_ms;
	uint64_t size;     /* of the sealed file */
	char blake2b[65];  /* BLAKE2b-256 of the sealed file, as the box holds it */
	int consent_staff, consent_share; /* -1, 0, 1 */
	bool locked;
	bool time_uncertain;
	char box_clock_utc[40]; /* with time_uncertain: what the box's clock said ("" if absent) */
};
struct dr_manifest {
	char device[DR_DEVICE_ID_HEX + 1];
	char device_key[2 * DR_STICK_PK_LEN + 1];
	int64_t seq;
	int version; /* 2 (sound only) or 3 */
	char stick_id[DR_STICK_ID_HEX + 1];
	char created_utc[40];
	bool complete;
	bool opened; /* the sealed part was opened (the fields below are set) */
	size_t n;
	struct dr_manifest_rec *recs;
};
/* The outer manifest alone (no key): device, device_key, seq, version
 * (DR_STICK_MANIFEST_VERSION_MIN..DR_STICK_MANIFEST_VERSION); m->opened is
 * false and nothing of the sealed part is known. */
int dr_manifest_parse_outer(const char *buf, size_t len, struct dr_manifest **out, char *err,
			    size_t errlen);
/* The whole manifest (the PC): the outer file, then its sealed part opened
 * with the organisation's key pair and parsed (its device and seq must be
 * the outer ones). */
int dr_manifest_open(const char *buf, size_t len, const uint8_t org_pk[DR_STICK_PK_LEN],
		     const uint8_t org_sk[DR_STICK_SK_LEN], struct dr_manifest **out, char *err,
		     size_t errlen);
/* The sealed part once opened ("diaryroom-manifest-contents", of the outer
 * file's version m->version; if 0, any this program reads, then set) into
 * m, which holds the outer file's fields.
 * Version 2 holds only "audio" recordings. */
int dr_manifest_parse_contents(const char *buf, size_t len, struct dr_manifest *m, char *err,
			       size_t errlen);
void dr_manifest_free(struct dr_manifest *m);

/* A recording's file on a stick, from its id and media type: "<id>.opus.sealed"
 * for "audio", "<id>.mkv.sealed" for "video" (docs/stick-format.md). -EINVAL
 * for a bad id or another media type (out is then ""). Any thread. */
int dr_stick_rec_file(const char *id, const char *media, char out[DR_STICK_ID_HEX + 13]);

/* consent word <-> value: "yes" 1, "no" 0, "unanswered" -1; -1 on parse error
 * returns -EINVAL. */
const char *dr_stick_consent_word(int v);
int dr_stick_consent_parse(const char *w, int *v);

#endif
