/* SPDX-License-Identifier: MIT */
/* diaryroom-admin internals (the office PC tool). */
#ifndef DR_ADMIN_H
#define DR_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "export/stickfmt.h"
#include "export/stickio.h"

/* The organisation's keys. sk: NULL, or 64 bytes of locked memory
 * (sodium_malloc: mlocked, guard pages), wiped and freed by adm_org_free. */
struct adm_org {
	char dir[4096];
	uint8_t pk[32];
	uint8_t *sk;
	bool have_sk;
};

#define ADM_PASS_MAX 1024 /* bytes of a passphrase, with its NUL */
#define ADM_PASS_MIN 8    /* characters of a new organisation's passphrase */

/* Locked memory for secrets (sodium_malloc, zeroed); adm_secret_free wipes
 * and frees it (NULL is a no-op). */
char *adm_secret_new(size_t len);
void adm_secret_free(void *p);

/* snprintf that reports truncation (-ENAMETOOLONG) instead of hiding it. */
int adm_fmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int adm_write_file(const char *path, const void *data, size_t len, mode_t mode);
int adm_read_file(const char *path, size_t cap, char **buf, size_t *len);
/* The passphrase into *out (locked memory: adm_secret_free it): one line
 * from DIARYROOM_PASSPHRASE_FD (a file descriptor number, strictly: anything
 * else is refused), else DIARYROOM_PASSPHRASE (then wiped and removed from
 * the environment), else asked on the terminal (twice if confirm). confirm
 * (a new organisation): at least ADM_PASS_MIN characters, however given.
 * Read once per process: a file descriptor gives it only once. */
int adm_passphrase(char **out, bool confirm);
/* Makes a new organisation's keys in org (refused if org.key exists) and
 * leaves them in *o (adm_org_free it, also on failure). */
int adm_org_create(const char *org, const char *kdf, const char *pass, struct adm_org *o);
/* Loads the organisation's public key, and with secret its secret key
 * (asks for the passphrase). adm_org_free it, also on failure. */
int adm_org_load(const char *org, bool secret, struct adm_org *o);
void adm_org_free(struct adm_org *o);

/* Imports a stick into the archive and writes the receipts back (collect.c).
 * now: the PC's clock (or --now). retention_days (1..3650): a recording
 * still locked whose start is more than that before now has its sealed copy
 * deleted from the archive (every box folder; status "expired"). Returns 0,
 * or 1 if something could not be verified (reported), or -errno. */
int adm_collect(struct adm_org *org, const char *stick, const char *archive,
		const char *changes, int64_t now, long retention_days, bool wait);
/* Unlocks the locked recording with this receipt number (collect.c):
 * it is unsealed to <id>.opus, checked against the box's hash, marked
 * consented (staff yes, share as given) and the change is recorded for the
 * box. box: NULL or the box's id when two boxes share the number.
 * Both hold the archive's lock throughout (adm_archive_lock): wait, or
 * with wait false refuse (-EWOULDBLOCK, said) if another run holds it. */
int adm_unlock(struct adm_org *org, const char *archive, const char *receipt,
	       const char *share, const char *box, int64_t now, bool wait);

/* Opens the box-sealed recording on fd (from its start) as recording id
 * with the organisation's key into out (-1: only checks): a keyless scan
 * first (the id, whole messages), then every message opened. final: it
 * ended with its last message; bytes: plaintext. On failure (-EBADMSG for
 * anything not intact), why says what, for people (collect.c). */
int adm_open_sealed(const struct adm_org *org, int fd, const char *id, int out, bool *final,
		    uint64_t *bytes, char *why, size_t whylen);

/* Prints, as JSON, what the archive's catalogue holds (all boxes, or only
 * box) (list.c). 0 or -errno (said). */
int adm_list(const char *archive, const char *box);
/* Checks the catalogue, the files and their hashes (archive_check.c),
 * writing what it finds to stdout: 0 sound, 1 not. */
int adm_check(const char *archive);
/* Rebuilds the catalogue from the kept manifests and the files
 * (archive_repair.c), under the archive's lock; says what it could not.
 * 0 all rebuilt, 1 something could not be, -errno. */
int adm_repair(const struct adm_org *org, const char *archive, int64_t now, bool wait);

/* Prints, as JSON, what each box's manifest on the stick says (its sealed
 * part opened with the organisation's key): for staff checking a stick
 * before collecting it, and for tests. 0, 1 if a manifest was refused. */
int adm_show_manifests(const struct adm_org *org, const char *stick);

/* Opens one box-sealed recording (DRSEAL02; or an archive's DRSEAL01 file)
 * into the new file out_path (open.c). archive: NULL, or the archive whose
 * audit log records it (an "open" entry; if it cannot be recorded, the
 * playable file is removed and the open fails). Without one, a file kept in
 * an archive (<archive>/<box>/<id>.opus.sealed, the archive holding
 * audit.log) is recorded in that archive. Reports; 0 or -errno. */
int adm_open(const struct adm_org *org, const char *in_path, const char *out_path,
	     const char *archive);

/* Sealed recordings (seal.c). ad: "<box>/<id>", authenticated in every
 * chunk. adm_seal_fd reads exactly size bytes from in, refuses them unless
 * their BLAKE2b-256 is expect_hex, writes dst atomically (tmp, fsync,
 * rename, fsync folder) and, with org_sk, reads it back opened. */
int adm_seal_fd(int in, uint64_t size, const char *expect_hex, const char *dst, const char *ad,
		const uint8_t org_pk[32], const uint8_t org_sk[64], uint64_t *progress);
/* Opens a sealed stream into out (-1: only check); hex, size: the plaintext's
 * hash and length. -EBADMSG if it is not a sealed file for this key and ad,
 * or was cut or altered. */
int adm_unseal_fd(int in, const char *ad, const uint8_t org_pk[32], const uint8_t org_sk[64],
		  int out, char hex[65], uint64_t *size);
int adm_unseal_check(const char *path, const char *ad, const uint8_t org_pk[32],
		     const uint8_t org_sk[64], char hex[65], uint64_t *size);
int adm_fsync_dir_of(const char *path);

/* Signs buf with the organisation's key and writes <dir>/<base>.json and .sig. */
int adm_write_signed(int dirfd, const char *base, const char *json, const uint8_t sk[64]);

#endif
