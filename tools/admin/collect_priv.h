/* SPDX-License-Identifier: MIT */
/* Between the files of collect and unlock (collect*.c, consent_sheet.c,
 * unlock.c, manifest_show.c), which were one file: each function is
 * described where it is defined. One thread; one archive per process,
 * opened by cat_open (the lock, the catalogue, the audit log) and closed by
 * cat_close. The JSON objects passed in are borrowed (the caller's); paths
 * are built only by form_path and adm_archive_path (archive.h). Failures
 * are said on stderr where they happen; returns are 0 or -errno. */
#ifndef DR_ADMIN_COLLECT_PRIV_H
#define DR_ADMIN_COLLECT_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "admin.h"
#include "archive.h"

#define CHUNK (1u << 20)

/* The catalogue of the archive this command writes (opened, under the
 * archive's lock, by cat_open), its audit log, and the command's time. */
extern struct adm_archive *cat;
extern struct adm_audit *audit;
extern char cat_now[32];

struct progress {
  unsigned done, total;
  uint64_t bytes, bytes_total, last_print;
};

struct boxes {
  char (*v)[ADM_BOX_HEX + 1];
  size_t n;
};

struct change {
  char kind[10], receipt[5], staff[12], share[12], device[DR_DEVICE_ID_HEX + 1];
};

int open_reg(const char *path);
void show(struct progress *p, const char *dev, bool force);
int hash_path(const char *path, char hex[65], uint64_t *size);
int check_opens(const struct adm_org *org, const char *path,
                const struct dr_manifest_rec *m);
int import_one(const struct adm_org *org, int devfd,
               const struct dr_manifest_rec *m, const char *dst,
               struct progress *p, const char *dev);
struct json_object *index_load(const char *dir, const char *dev);
int box_add_cb(void *ctx, const char *box);
int cat_boxes(struct boxes *b);
struct json_object *member(struct json_object *o, const char *key,
                           enum json_type t);
const char *str_of(struct json_object *o, const char *key);
int index_save(const char *dir, struct json_object *j);
struct json_object *rec_json(const struct dr_manifest_rec *m,
                             const char *status, const char *collected);
bool change_is_for(struct json_object *idx, struct json_object *c,
                   const char *id, const char *receipt, const char *start_utc);
void index_apply_changes(const char *dir, struct json_object *idx);
int parse_changes(const char *path, struct change **out, size_t *n);
int resolve_device(const struct change *c, const char *archive,
                   char (*devs)[DR_DEVICE_ID_HEX + 1], size_t ndev,
                   char out[DR_DEVICE_ID_HEX + 1]);
void index_add_change(struct json_object *idx, const struct change *c,
                      int64_t now, bool latest);
bool effective_locked(struct json_object *idx, const char *id,
                      const char *receipt, const char *start_utc,
                      bool manifest_locked);
const char *rec_media(struct json_object *rec);
void form_path_kind(char *p, size_t n, const char *dir, const char *id, const char *media,
		    const char *kind);
void form_path(char *p, size_t n, const char *dir, const char *id, const char *media,
	       bool sealed);
bool row_v2(struct json_object *rec);
bool file_is_v2(const char *path);
bool form_ok(const struct adm_org *org, const char *dir, const char *dev,
             const char *id, struct json_object *rec, const char *hash,
             uint64_t size, bool sealed);
int open_sealed_into(const struct adm_org *org, const char *src, const char *id, const char *tmp,
		     bool *final, char *why, size_t whylen);
int open_original(const struct adm_org *org, const char *dir, const char *id,
                  struct json_object *rec);
/* A video's browser copy <id>.webm made from its sealed original (the
 * opened Matroska in between removed, also on failure); its hash into rec
 * (collect_video.c). */
int open_video(const struct adm_org *org, const char *dir, const char *id,
	       struct json_object *rec);
int unseal_to_plain(const struct adm_org *org, const char *dir, const char *dev,
                    const char *id, struct json_object *rec, const char *hash,
                    uint64_t size);
int seal_plain(const struct adm_org *org, const char *dir, const char *dev,
               const char *id, const char *hash, uint64_t size);
int forms_make(const struct adm_org *org, const char *dir, const char *dev,
               struct json_object *idx, const char *only);
void forms_tidy(const struct adm_org *org, const char *dir, const char *dev,
                struct json_object *idx, const char *only);
unsigned expire_locked(const char *dir, struct json_object *idx, int64_t now,
                       long days);
bool only_expired(struct json_object *idx, const struct dr_manifest *m,
                  const char *receipt);
int expire_archive(const char *archive, int64_t now, long days);
int write_receipt(int top, const struct adm_org *org, const uint8_t box_pk[32],
                  const char *dir, const struct dr_manifest *m,
                  const char *manifest_hash, struct json_object *idx,
                  int64_t now, unsigned *held);
void csv_field(FILE *f, const char *s, bool last);
int write_consent_sheet(const char *archive);
int unlock_locked(struct adm_org *org, const char *archive, const char *receipt,
                  const char *share, const char *box, int64_t now);
void consent_no_wider(struct json_object *old, struct json_object *row,
                      const struct dr_manifest_rec *x, const char *dev);
int collect_device(const struct adm_org *org, int top, int devfd,
                   const char *dev, const char *archive,
                   const struct change *chg, size_t nchg,
                   char (*devs)[DR_DEVICE_ID_HEX + 1], size_t ndev, int64_t now,
                   long days, bool *bad);
int cat_open(const char *who, const char *archive, bool create, bool wait,
             int *lockfd, int64_t now);
void cat_close(int lockfd);
/* What stick_walk (collect_walk.c) found on a stick: its top and export
 * folders, and the boxes' folders by id, each opened (devfd) or -1 with why
 * in why. Owned by the caller; stick_walk_free (NULL-safe) closes and frees
 * it all. */
struct stick_walk {
  int top, efd;
  char (*devs)[DR_DEVICE_ID_HEX + 1];
  int *devfd;
  char (*why)[384];
  size_t ndev;
};
/* Walks the stick whose root folder is stickfd (borrowed); 0, or -errno
 * with err said and *w empty (also on failure, stick_walk_free is safe). */
int stick_walk(int stickfd, struct stick_walk *w, char *err, size_t errlen);
void stick_walk_free(struct stick_walk *w);
int collect_locked(struct adm_org *org, const char *stick, const char *archive,
                   const char *changes, int64_t now, long retention_days);
/* The progress of a collect, for a caller that shows it (the staff page).
 * Any member may be NULL. They are called on the thread running the
 * collect, under the archive's lock, and must not call collect's code. */
struct collect_box_sum {
  unsigned imported, already, failed, held, locked, expired;
  unsigned withdrawals; /* withdrawals in the receipt written for the box */
};
struct collect_hooks {
  void *ctx;
  void (*boxes)(void *ctx, size_t n); /* the stick holds n boxes' folders */
  /* one box's export: recordings done of total, bytes of bytes_total */
  void (*progress)(void *ctx, const char *box, unsigned done, unsigned total,
                   uint64_t bytes, uint64_t bytes_total);
  /* a box whose receipt was written */
  void (*box_done)(void *ctx, const char *box, const struct collect_box_sum *s);
};
/* the hooks of the collect running in this process (NULL: none) */
extern const struct collect_hooks *collect_hooks;
/* adm_collect (admin.h), calling hooks (borrowed; NULL: none) as it goes */
int adm_collect_hooked(struct adm_org *org, const char *stick, const char *archive,
                       const char *changes, int64_t now, long retention_days,
                       bool wait, const struct collect_hooks *hooks);

#endif
