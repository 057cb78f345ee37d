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
 */
#ifndef DR_STICKFMT_H
#define DR_STICKFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DR_STICK_FORMAT_VERSION 1
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
int dr_receipt_parse(const char *buf, size_t len, struct dr_receipt **out, char *err,
		     size_t errlen);
void dr_receipt_free(struct dr_receipt *r);

/* export/<device>/manifest.json: what the box put on the stick. */
struct dr_manifest_rec {
	char id[DR_STICK_ID_HEX + 1];
	char file[DR_STICK_ID_HEX + 6]; /* "<id>.opus" */
	char state[16];                 /* complete | interrupted */
	char receipt[5];
	char start_utc[40];
	char end_utc[40];
	uint64_t duration_ms;
	uint64_t size;
	char blake2b[65];
	int consent_staff, consent_share; /* -1, 0, 1 */
	bool locked;
	bool time_uncertain;
};
struct dr_manifest {
	char device[DR_DEVICE_ID_HEX + 1];
	char device_key[2 * DR_STICK_PK_LEN + 1];
	int64_t seq;
	char stick_id[DR_STICK_ID_HEX + 1];
	char created_utc[40];
	size_t n;
	struct dr_manifest_rec *recs;
};
int dr_manifest_parse(const char *buf, size_t len, struct dr_manifest **out, char *err,
		      size_t errlen);
void dr_manifest_free(struct dr_manifest *m);

/* consent word <-> value: "yes" 1, "no" 0, "unanswered" -1; -1 on parse error
 * returns -EINVAL. */
const char *dr_stick_consent_word(int v);
int dr_stick_consent_parse(const char *w, int *v);

#endif
