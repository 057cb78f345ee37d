/* SPDX-License-Identifier: MIT */
/*
 * dr_seal: a recording sealed to the organisation from its first byte.
 *
 * A sealed recording file (docs/sealed-file.md has the format in full):
 *
 *   header   "DRSEAL02"                                   8
 *            recording id (16 bytes, the 32-hex id)      16
 *            crypto_box_seal(recording key, org X25519)  80
 *            secretstream header                         24
 *            checksum of the above                        8   = 136 bytes
 *   message  ciphertext length L (u32 LE)                 4
 *            flags (bit 0: the last message)              1
 *            reserved, zero                               3
 *            media position (u64 LE, 48 kHz samples)      8
 *            checksum of the above and the ciphertext     8
 *            ciphertext (crypto_secretstream_xchacha20poly1305,
 *                        L = plaintext + 17 bytes)        L
 *   ... one message per durable flush, the last one tagged FINAL.
 *
 * The recording key is random per recording; only the organisation's
 * secret key opens the sealed copy of it in the header, so once the key is
 * wiped from the box's memory nobody without the organisation's key reads
 * the recording, the box included. Every message authenticates the
 * recording id, its flags and its position (additional data), and the
 * secretstream chains them: a message flipped, dropped, reordered, moved
 * from another recording or cut short is refused by whoever opens it.
 *
 * The checksums (SipHash-2-4 under a fixed, public key: an integrity check
 * against torn writes, not a secret) let the box repair a file cut off by a
 * power failure WITHOUT the key: dr_seal_repair keeps every message whose
 * checksum holds, up to the first that does not, and truncates there.
 * Positions are in clear so that the box can tell how much audio a repaired
 * file holds; they are authenticated, so a changed position is refused too.
 *
 * Memory: the recording key and the sealing state live in sodium_malloc'd
 * memory (locked, guard pages) and are wiped when freed.
 *
 * Errors are negative errno: -EBADMSG for anything that is not an intact
 * sealed file for this id and key, -EINVAL for bad arguments, -ENOMEM.
 * Nothing here logs or exits. Each object is used by one thread at a time.
 */
#ifndef DR_SEAL_H
#define DR_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "media/sink.h"

#define DR_SEAL_MAGIC "DRSEAL02"
#define DR_SEAL_HEADER_BYTES 136u
#define DR_SEAL_FRAME_BYTES 24u /* a message's clear header */
#define DR_SEAL_ABYTES 17u      /* crypto_secretstream_xchacha20poly1305_ABYTES */
#define DR_SEAL_MSG_MAX (4u * 1024u * 1024u) /* largest plaintext of one message */
#define DR_SEAL_ORG_PK_BYTES 32u   /* Ed25519 public key (org.pub) */
#define DR_SEAL_ORG_SK_BYTES 64u   /* Ed25519 secret key */
#define DR_SEAL_ID_HEX 32u         /* a recording id: 32 lowercase hex characters */

/* ---- the recording key (box side) ---- */

struct dr_seal_key;
/* A fresh random recording key in locked memory. */
int dr_seal_key_new(struct dr_seal_key **out);
/* Wipes and frees it. NULL is a no-op. */
void dr_seal_key_free(struct dr_seal_key *k);

/* ---- writing ---- */

/*
 * A dr_sink that seals everything written through it into `inner` (owned by
 * the seal sink from here on, also on failure: closed). Writes the header
 * through inner at once and syncs it, so that a file that exists is never
 * left with a write waiting for its sync while the welcome plays.
 * Plaintext is buffered until sync(), which seals it as one message, writes
 * it and syncs inner; close() seals what is left as the FINAL message, syncs
 * and closes inner. The key is copied into the sink's locked state; the
 * caller keeps (and frees) its own. id: the recording's 32-hex id.
 * org_pk: the organisation's Ed25519 public key (org.pub).
 * The sink's position() op records the media position given with each
 * flush (see sink.h).
 */
int dr_seal_sink_new(struct dr_sink inner, const char *id, const uint8_t org_pk[32],
		     const struct dr_seal_key *key, struct dr_sink *out);

/* ---- without the key: scanning and repair (box side) ---- */

struct dr_seal_scan {
	char id[DR_SEAL_ID_HEX + 1]; /* the id in the header */
	uint64_t messages;   /* intact messages */
	uint64_t position;   /* media position of the last intact message */
	uint64_t intact_bytes; /* header + intact messages */
	uint64_t file_bytes; /* the file's size as found */
	bool final;          /* the last intact message is the FINAL one */
	bool trailing;       /* bytes after the FINAL message (never written by us) */
};
/* Reads fd from its start and checks the header and every message's
 * checksum. -EBADMSG if the header itself is not intact. */
int dr_seal_scan_fd(int fd, struct dr_seal_scan *s);
/*
 * Repairs a sealed file cut off by a power failure or a full disk, in place
 * and without the key: truncates it after its last intact message and
 * fdatasyncs. A file that ends with its FINAL message is left untouched.
 * Needs no free space. -EBADMSG if the header is not intact (nothing to
 * keep), -ENOENT if there is no file, -ENODATA if no message is intact
 * (nothing recorded; the file is left as it is).
 */
int dr_seal_repair(const char *path, struct dr_seal_scan *res);

/* ---- reading ---- */

struct dr_seal_reader;
/* Opens the sealed stream on fd (read from its current offset, which must
 * be the file's start; the reader does not own fd) with the recording's
 * key (the box, while the resident's session lasts). */
int dr_seal_reader_open_key(int fd, const char *id, const struct dr_seal_key *key,
			    struct dr_seal_reader **out);
/* The same with the organisation's key pair (the office PC). */
int dr_seal_reader_open_org(int fd, const char *id, const uint8_t org_pk[32],
			    const uint8_t org_sk[64], struct dr_seal_reader **out);
/* Reads up to len bytes of plaintext. Returns the number read, 0 at the end
 * of what the file holds (dr_seal_reader_final() then says whether it
 * ended with its FINAL message or was cut off at a message boundary), or
 * -EBADMSG if a message is damaged, out of order, from elsewhere, or there
 * are bytes after the FINAL message. */
ssize_t dr_seal_read(struct dr_seal_reader *r, void *buf, size_t len);
bool dr_seal_reader_final(const struct dr_seal_reader *r);
/* Media position of the last message read. */
uint64_t dr_seal_reader_position(const struct dr_seal_reader *r);
/* Wipes and frees. NULL is a no-op. */
void dr_seal_reader_free(struct dr_seal_reader *r);

/* Opens a whole sealed file with the organisation's key into out (a file
 * descriptor; -1 only checks). final: whether it ended with its FINAL
 * message. plain_bytes: bytes written. */
int dr_seal_open_fd_org(int in, const char *id, const uint8_t org_pk[32],
			const uint8_t org_sk[64], int out, bool *final, uint64_t *plain_bytes);

/* Reads the organisation's public key, `org.pub` (32 raw bytes, as
 * `diaryroom-admin provision-device` puts it), from keydir: a regular file
 * only, never through a link, without blocking. -ENOENT if there is none,
 * -EBADMSG if it is not a 32-byte Ed25519 public key; err says which. */
int dr_seal_load_org_pub(const char *keydir, uint8_t pk[32], char *err, size_t errlen);

/* True if the first bytes of a file (at least 8) are a sealed recording's. */
bool dr_seal_is_sealed(const unsigned char *head, size_t len);

#endif
