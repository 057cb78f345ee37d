/* SPDX-License-Identifier: MIT */
/*
 * A resident's rights (docs/residents-rights.md): diaryroom-admin find, all
 * the archive holds about one receipt number (recordings, consent history,
 * what was done to them, who opened or exported them, from the audit log),
 * and diaryroom-admin export, a copy of it for a subject access request.
 */
#include "rights.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "archive.h"
#include "audit.h"
#include "audit_cmd.h"
#include "export/stickfmt.h"
#include "media/mkv.h"
#include "media/recover.h"

/* ---- what is held ---- */

struct held {
	struct adm_rec *v;
	size_t n;
};

static int add_rec(void *ctx, const struct adm_rec *r)
{
	struct held *h = ctx;
	void *nv = realloc(h->v, (h->n + 1) * sizeof(*h->v));
	if (!nv)
		return -ENOMEM;
	h->v = nv;
	h->v[h->n++] = *r;
	return 0;
}

static void add_s(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static int add_consent(void *ctx, const struct adm_consent *c)
{
	struct json_object *e = json_object_new_object();
	add_s(e, "at_utc", c->at_utc);
	add_s(e, "staff", c->staff);
	add_s(e, "share", c->share);
	add_s(e, "source", c->source);
	add_s(e, "detail", c->detail);
	return json_object_array_add(ctx, e);
}

static int add_event(void *ctx, const struct adm_event *ev)
{
	struct json_object *e = json_object_new_object();
	add_s(e, "kind", ev->kind);
	add_s(e, "what", ev->what);
	add_s(e, "at_utc", ev->at_utc);
	add_s(e, "detail", ev->detail);
	return json_object_array_add(ctx, e);
}

static int add_change(void *ctx, const struct adm_change *c)
{
	struct json_object *e = json_object_new_object();
	add_s(e, "box", c->box);
	add_s(e, "kind", c->kind);
	add_s(e, "staff", c->staff[0] ? c->staff : NULL);
	add_s(e, "share", c->share[0] ? c->share : NULL);
	add_s(e, "entered_utc", c->entered_utc);
	add_s(e, "actor", c->actor);
	return json_object_array_add(ctx, e);
}

struct audit_match {
	const struct held *h;
	const char *receipt;
	struct json_object *out;
};

static bool held_box(const struct held *h, const char *box)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->v[i].box, box))
			return true;
	return false;
}

/* An entry about one of the recordings, or about the receipt number at one
 * of their boxes (a change entered before the recording arrived). */
static int audit_cb(const struct adm_audit_entry *e, void *ctx)
{
	struct audit_match *m = ctx;
	bool hit = false;
	for (size_t i = 0; e->recording && i < m->h->n && !hit; i++)
		hit = !strcmp(e->recording, m->h->v[i].id) &&
		      (!e->box || !strcmp(e->box, m->h->v[i].box));
	if (!hit && !e->recording && e->receipt && !strcmp(e->receipt, m->receipt))
		hit = !e->box || held_box(m->h, e->box);
	if (!hit)
		return 0;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)e->seq));
	add_s(o, "time", e->time);
	add_s(o, "os_user", e->os_user);
	if (e->sudo_user)
		add_s(o, "sudo_user", e->sudo_user);
	add_s(o, "actor", e->actor);
	add_s(o, "action", e->action);
	add_s(o, "box", e->box);
	add_s(o, "recording", e->recording);
	add_s(o, "detail", e->detail);
	return json_object_array_add(m->out, o);
}

static int utc_arg(const char *in, bool end, char out[40])
{
	int64_t t;
	char b[40], f[32];
	size_t n = in ? strlen(in) : 0;
	if (n == 10)
		snprintf(b, sizeof(b), "%sT%s", in, end ? "23:59:59Z" : "00:00:00Z");
	else if (n == 20)
		snprintf(b, sizeof(b), "%s", in);
	else
		return -EINVAL;
	if (dr_stick_time_parse(b, &t) < 0)
		return -EINVAL;
	dr_stick_time_format(t, f); /* the catalogue's form, compared as text */
	snprintf(out, 40, "%s", f);
	return 0;
}

static struct json_object *rec_json(struct adm_archive *a, const struct adm_rec *r, int *err)
{
	struct json_object *o = json_object_new_object();
	add_s(o, "box", r->box);
	add_s(o, "id", r->id);
	add_s(o, "receipt", r->receipt);
	add_s(o, "status", r->status);
	add_s(o, "state", r->state);
	add_s(o, "media", r->media);
	add_s(o, "start_utc", r->start_utc);
	add_s(o, "end_utc", r->end_utc);
	json_object_object_add(o, "duration_ms", json_object_new_int64(r->duration_ms));
	json_object_object_add(o, "size_bytes", json_object_new_int64((int64_t)r->size));
	add_s(o, "consent_staff", r->consent_staff);
	add_s(o, "consent_share", r->consent_share);
	json_object_object_add(o, "locked", json_object_new_boolean(r->locked));
	json_object_object_add(o, "playable_copy", json_object_new_boolean(r->playable_blake2b[0]));
	add_s(o, "collected_utc", r->collected_utc);
	if (r->retention_ended_utc[0])
		add_s(o, "retention_ended_utc", r->retention_ended_utc);
	struct json_object *ch = json_object_new_array(), *ev = json_object_new_array();
	json_object_object_add(o, "consent_history", ch);
	json_object_object_add(o, "events", ev);
	*err = a->ops->consent_each(a, r->box, r->id, add_consent, ch);
	if (*err == 0)
		*err = a->ops->event_each(a, r->box, r->id, add_event, ev);
	return o;
}

/* Everything held about q's receipt, as JSON, and the recordings in *h. */
static int gather(struct adm_archive *a, const struct adm_rights_query *q, struct held *h,
		  struct json_object **out)
{
	*out = NULL;
	char from[40] = "", to[40] = "";
	if ((q->from && utc_arg(q->from, false, from) < 0) || (q->to && utc_arg(q->to, true, to) < 0)) {
		fprintf(stderr, "--from and --to are dates, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ\n");
		return -EINVAL;
	}
	struct adm_query aq = {.box = q->box, .receipt = q->receipt,
			       .from_utc = from[0] ? from : NULL, .to_utc = to[0] ? to : NULL};
	int r = a->ops->rec_each(a, &aq, add_rec, h);
	if (r < 0) {
		fprintf(stderr, "the archive's catalogue: %s\n", a->err[0] ? a->err : strerror(-r));
		return r;
	}
	struct json_object *o = json_object_new_object(), *recs = json_object_new_array();
	add_s(o, "receipt", q->receipt);
	add_s(o, "box", q->box);
	add_s(o, "from_utc", from[0] ? from : NULL);
	add_s(o, "to_utc", to[0] ? to : NULL);
	json_object_object_add(o, "recordings", recs);
	for (size_t i = 0; r == 0 && i < h->n; i++)
		json_object_array_add(recs, rec_json(a, &h->v[i], &r));
	struct json_object *chg = json_object_new_array();
	json_object_object_add(o, "changes_entered", chg);
	if (r == 0)
		r = a->ops->change_each(a, q->box, q->receipt, add_change, chg);
	if (r < 0) {
		fprintf(stderr, "the archive's catalogue: %s\n", a->err[0] ? a->err : strerror(-r));
		json_object_put(o);
		return r;
	}
	/* who opened, exported, changed them: the audit log, which must be whole */
	struct json_object *aud = json_object_new_array();
	json_object_object_add(o, "audit", aud);
	struct audit_match m = {.h = h, .receipt = q->receipt, .out = aud};
	int fd = adm_audit_open_read(a->dirfd);
	if (fd == -ENOENT) {
		r = adm_audit_verify(a->dirfd, NULL); /* none yet, or removed */
	} else if (fd < 0) {
		r = fd == -EINVAL ? 1 : fd;
	} else {
		r = adm_audit_read_fd(fd, NULL, audit_cb, &m, NULL);
		close(fd);
		if (r == 0)
			r = adm_audit_verify(a->dirfd, NULL); /* its end, against its head */
	}
	if (r != 0) {
		fprintf(stderr, "the archive's audit log is %s: who opened these recordings cannot be "
				"told; see diaryroom-admin audit --verify\n",
			r > 0 ? "damaged" : strerror(-r));
		json_object_put(o);
		return r > 0 ? -EBADMSG : r;
	}
	*out = o;
	return 0;
}

static int check_query(const struct adm_rights_query *q, const char *cmd)
{
	if (!q->receipt || !dr_stick_receipt_ok(q->receipt)) {
		fprintf(stderr, "%s: --receipt is the resident's 4-digit receipt number\n", cmd);
		return -EINVAL;
	}
	if (q->box && !adm_box_ok(q->box)) {
		fprintf(stderr, "%s: --box is a box's 16-character id\n", cmd);
		return -EINVAL;
	}
	return 0;
}

int adm_find(const char *archive, const struct adm_rights_query *q)
{
	if (check_query(q, "find") < 0)
		return -EINVAL;
	char err[512];
	struct adm_archive *a;
	int r = adm_archive_open(archive, false, &a, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "find: %s\n", err);
		return r;
	}
	struct held h = {0};
	struct json_object *o;
	r = gather(a, q, &h, &o);
	if (r == 0) {
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								     JSON_C_TO_STRING_NOSLASHESCAPE));
		fprintf(stderr, "find: %zu recording%s for receipt %s\n", h.n, h.n == 1 ? "" : "s",
			q->receipt);
	}
	json_object_put(o);
	free(h.v);
	adm_archive_close(a);
	return r;
}

/* ---- export for a subject access request ---- */

/* DIR for the copy: made (0700) if absent; else an empty folder of ours
 * that nobody else may write, never a symlink; never inside the archive. */
static int open_out_dir(const char *dir, const char *archive)
{
	struct stat st;
	bool made = false;
	if (lstat(dir, &st) < 0) {
		made = true;
		if (errno != ENOENT || mkdir(dir, 0700) < 0) {
			fprintf(stderr, "export: cannot make %s: %s\n", dir, strerror(errno));
			return -errno;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "export: %s is not a folder (a link or a file): refused\n", dir);
		return -ENOTDIR;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int r = -errno;
		fprintf(stderr, "export: cannot open %s: %s\n", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	char rd[PATH_MAX], ra[PATH_MAX];
	const char *why = NULL;
	if (st.st_uid != geteuid())
		why = "it belongs to another user";
	else if (st.st_mode & 022)
		why = "others may write in it";
	else if (!realpath(dir, rd) || !realpath(archive, ra))
		why = "its place cannot be told";
	else if (!strncmp(rd, ra, strlen(ra)) && (rd[strlen(ra)] == '/' || !rd[strlen(ra)]))
		why = "it is inside the archive";
	if (!why) {
		int d2 = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
		struct dirent *e;
		while (d && (e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				why = "it is not empty";
		if (d)
			closedir(d);
		else if (d2 >= 0)
			close(d2);
		if (!d)
			why = "it cannot be read";
	}
	if (why) {
		fprintf(stderr, "export: %s: %s; give a new or empty folder of your own\n", dir, why);
		close(fd);
		if (made)
			rmdir(dir);
		return -EPERM;
	}
	return fd;
}

/* Copies in to a new file name in dirfd, hashing it: 0, or -errno. */
static int copy_hashed(int in, int dirfd, const char *name, char hex[65])
{
	int out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, 32);
	static unsigned char buf[1 << 16];
	int r = 0;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		crypto_generichash_update(&h, buf, (size_t)n);
		for (ssize_t off = 0; off < n && r == 0;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno != EINTR)
				r = -errno;
			off += w > 0 ? w : 0;
		}
		if (r < 0)
			break;
	}
	uint8_t d[32];
	crypto_generichash_final(&h, d, sizeof(d));
	sodium_bin2hex(hex, 65, d, sizeof(d));
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (close(out) < 0 && r == 0)
		r = -errno;
	return r;
}

/* One recording into dirfd as name: the playable copy, else opened from the
 * sealed original with org's key, else the sealed original. *what says
 * which. */
static int export_one(const struct adm_org *org, struct adm_archive *a, const struct adm_rec *r,
		      int dirfd, const char *dir, char name[96], const char **what)
{
	char rel[128], hex[65];
	bool playable = r->playable_blake2b[0];
	bool open_it = !playable && org && org->have_sk;
	int e = adm_archive_path(rel, sizeof(rel), NULL, r->box, r->id, r->media,
				 playable ? "playable" : "sealed");
	char fname[64];
	if (e == 0) /* a video opened here is its Matroska, not the browser copy */
		e = adm_archive_file_name(fname, sizeof(fname), r->id, r->media,
					  playable ? "playable" : open_it ? "opened" : "sealed");
	if (e < 0)
		return e;
	snprintf(name, 96, "%s-%s", r->box, fname);
	int in;
	uint64_t size;
	if ((e = adm_open_regular_at(a->dirfd, rel, &in, &size)) < 0) {
		fprintf(stderr, "export: the archive's %s cannot be read (%s): the archive is "
				"damaged; see diaryroom-admin check\n", rel, strerror(-e));
		return e;
	}
	if (open_it) {
		*what = "opened from the sealed original";
		int out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				 0600);
		bool final = true;
		uint64_t bytes = 0;
		char why[256] = "";
		e = out < 0 ? -errno
			    : adm_open_sealed(org, in, r->id, out, &final, &bytes, why, sizeof(why));
		if (out >= 0 && e == 0 && fsync(out) < 0)
			e = -errno;
		if (out >= 0 && close(out) < 0 && e == 0)
			e = -errno;
		if (e == 0 && !final) {
			char p[4300];
			snprintf(p, sizeof(p), "%s/%s", dir, name);
			if (!strcmp(r->media, "video")) {
				struct dr_mkv_repair_result mr;
				e = dr_mkv_repair(p, &mr);
			} else {
				struct dr_recover_result rr;
				e = dr_recover_file(p, &rr);
			}
		}
		if (e < 0)
			fprintf(stderr, "export: %s does not open: %s\n", rel, why[0] ? why : strerror(-e));
	} else {
		*what = playable ? "the playable copy" : "the sealed original (open it with the "
							 "organisation's key)";
		e = copy_hashed(in, dirfd, name, hex);
		const char *want = playable ? r->playable_blake2b : r->sealed_original ? r->blake2b : NULL;
		if (e == 0 && want && want[0] && strcmp(hex, want)) {
			fprintf(stderr, "export: the archive's %s does not match its catalogue (it was "
					"altered or damaged); see diaryroom-admin check\n", rel);
			e = -EBADMSG;
		}
	}
	close(in);
	return e;
}

int adm_rights_export(const struct adm_org *org, const char *archive,
		      const struct adm_rights_query *q, const char *dir)
{
	if (check_query(q, "export") < 0)
		return -EINVAL;
	char err[512];
	struct adm_archive *a;
	int r = adm_archive_open(archive, false, &a, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "export: %s\n", err);
		return r;
	}
	int dirfd = open_out_dir(dir, archive);
	if (dirfd < 0) {
		adm_archive_close(a);
		return dirfd;
	}
	struct held h = {0};
	struct json_object *o = NULL;
	size_t done = 0;
	char (*names)[96] = NULL;
	r = gather(a, q, &h, &o);
	if (r == 0 && !(names = calloc(h.n + 1, sizeof(*names))))
		r = -ENOMEM;
	struct json_object *recs = o ? json_object_object_get(o, "recordings") : NULL;
	for (size_t i = 0; r == 0 && i < h.n; i++) {
		if (strcmp(h.v[i].status, "archived"))
			continue; /* withdrawn or expired: nothing left to copy, listed */
		const char *what = "";
		r = export_one(org, a, &h.v[i], dirfd, dir, names[done], &what);
		if (r < 0) {
			unlinkat(dirfd, names[done], 0);
			break;
		}
		char detail[512];
		snprintf(detail, sizeof(detail), "subject access copy (%s) into %s/%s", what, dir,
			 names[done]);
		r = adm_audit_record(archive, "export", h.v[i].box, h.v[i].id, h.v[i].receipt, detail);
		if (r < 0) {
			unlinkat(dirfd, names[done], 0);
			break;
		}
		struct json_object *rj = json_object_array_get_idx(recs, i);
		json_object_object_add(rj, "exported_file", json_object_new_string(names[done]));
		json_object_object_add(rj, "exported_as", json_object_new_string(what));
		done++;
	}
	if (r == 0) {
		const char *text = json_object_to_json_string_ext(
			o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
		int fd = openat(dirfd, "record.json",
				O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		size_t len = strlen(text);
		r = fd < 0 ? -errno : write(fd, text, len) == (ssize_t)len ? 0 : -EIO;
		if (fd >= 0 && r == 0 && fsync(fd) < 0)
			r = -errno;
		if (fd >= 0 && close(fd) < 0 && r == 0)
			r = -errno;
		if (r == 0 && fsync(dirfd) < 0)
			r = -errno;
		if (r < 0)
			fprintf(stderr, "export: cannot write %s/record.json: %s\n", dir, strerror(-r));
	}
	if (r == 0) {
		char detail[512];
		snprintf(detail, sizeof(detail),
			 "subject access export: %zu recording%s listed, %zu file%s copied into %s",
			 h.n, h.n == 1 ? "" : "s", done, done == 1 ? "" : "s", dir);
		r = adm_audit_record(archive, "export", q->box, NULL, q->receipt, detail);
	}
	if (r < 0) {
		for (size_t i = 0; names && i < done; i++)
			unlinkat(dirfd, names[i], 0);
		unlinkat(dirfd, "record.json", 0);
		fprintf(stderr, "export: stopped; nothing was left in %s\n", dir);
	} else {
		printf("receipt %s: %zu recording%s listed in %s/record.json, %zu file%s copied\n",
		       q->receipt, h.n, h.n == 1 ? "" : "s", dir, done, done == 1 ? "" : "s");
	}
	free(names);
	json_object_put(o);
	free(h.v);
	close(dirfd);
	adm_archive_close(a);
	return r;
}
