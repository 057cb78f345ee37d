/* SPDX-License-Identifier: MIT */
/* Share copies: who may have one, where it goes, the audit (share.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "util/log.h"
#include "audit.h"
#include "share.h"
#include "sharecopy.h"
#include "sharevideo.h"

#define PLAYABLE_MAX ((uint64_t)1 << 30) /* 1 GiB: no recording is near (a video is read in memory) */

int adm_share_path(char *out, size_t n, const char *box, const char *id, bool disguised,
		   bool tmp)
{
	if (!adm_box_ok(box) || !adm_rec_id_ok(id))
		return -EINVAL;
	int k = snprintf(out, n, ADM_SHARES_DIR "/%s-%s%s.opus%s", box, id,
			 disguised ? "-disguised" : "", tmp ? ".tmp" : "");
	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

/* the rules of share.h; 0 or -EPERM with why */
static int may_share(const struct adm_rec *x, char *why, size_t wl)
{
	if (strcmp(x->status, "archived"))
		return dr_errf(why, wl, -EPERM, "the recording was %s: there is nothing to share",
			   x->status);
	if (x->locked)
		return dr_errf(why, wl, -EPERM, "the recording is sealed (staff may not listen): it is "
					    "never shared");
	if (strcmp(x->consent_share, "yes"))
		return dr_errf(why, wl, -EPERM, "the resident did not agree that it may be shared "
					    "(may share: %s)", x->consent_share);
	if (strcmp(x->media, "audio") && strcmp(x->media, "video"))
		return dr_errf(why, wl, -EPERM, "the recording's kind (%s) is not known", x->media);
	if (!*x->playable_blake2b)
		return dr_errf(why, wl, -EPERM, "the recording has no playable copy");
	return 0;
}

static int read_playable(struct adm_archive *a, const struct adm_rec *x, uint8_t **buf,
			 size_t *len, char *why, size_t wl)
{
	char rel[128];
	int fd, r = adm_archive_path(rel, sizeof(rel), NULL, x->box, x->id, x->media, "playable");
	uint64_t size;
	*buf = NULL;
	if (r == 0)
		r = adm_open_regular_at(a->dirfd, rel, &fd, &size);
	if (r < 0)
		return dr_errf(why, wl, r == -ENOENT ? -EBADMSG : r,
			   "the playable copy %s cannot be opened (%s)", rel, strerror(-r));
	if (size > PLAYABLE_MAX) {
		close(fd);
		return dr_errf(why, wl, -EBADMSG, "the playable copy %s is too large", rel);
	}
	uint8_t *p = malloc(size ? size : 1);
	size_t got = 0;
	while (p && got < size) {
		ssize_t k = read(fd, p + got, size - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	if (!p)
		return -ENOMEM;
	uint8_t d[32];
	char hex[65];
	crypto_generichash(d, sizeof(d), p, got, NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
	if (got != size || strcmp(hex, x->playable_blake2b)) {
		free(p);
		return dr_errf(why, wl, -EBADMSG, "the playable copy %s is not the one the archive made "
					      "(altered or cut short): run diaryroom-admin check", rel);
	}
	*buf = p;
	*len = got;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* the shares folder, made 0700 if absent; a link or non-folder refused */
static int shares_dir(int dirfd)
{
	if (mkdirat(dirfd, ADM_SHARES_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(dirfd, ADM_SHARES_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP || errno == ENOTDIR ? -EINVAL : -errno;
	if (fchmod(fd, 0700) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int adm_share_make(struct adm_archive *a, const char *box, const char *id, bool disguise,
		   const char *staff, struct adm_share_result *res, char *why, size_t wl)
{
	memset(res, 0, sizeof(*res));
	struct adm_rec x;
	char tmp[128];
	if (!adm_box_ok(box) || !adm_rec_id_ok(id))
		return dr_errf(why, wl, -ENOENT, "no such recording");
	int r = a->ops->rec_get(a, box, id, &x);
	if (r < 0)
		return dr_errf(why, wl, r == -ENOENT ? r : -EIO,
			   r == -ENOENT ? "no such recording" : "the catalogue could not be read");
	snprintf(res->receipt, sizeof(res->receipt), "%s", x.receipt);
	if ((r = may_share(&x, why, wl)) < 0)
		return r;
	if ((r = adm_share_path(res->rel, sizeof(res->rel), box, id, disguise, false)) < 0 ||
	    (r = adm_share_path(tmp, sizeof(tmp), box, id, disguise, true)) < 0)
		return dr_errf(why, wl, r, "no such recording");
	uint8_t *in;
	size_t inlen = 0;
	if ((r = read_playable(a, &x, &in, &inlen, why, wl)) < 0)
		return r;
	struct adm_sharecopy_out out;
	if (strcmp(x.media, "video")) {
		r = adm_sharecopy(in, inlen, disguise, &out, why, wl);
	} else { /* the sound only, from the WebM copy */
		res->video = true;
		float *pcm;
		size_t n;
		r = adm_sharevideo_sound(in, inlen, &pcm, &n, why, wl);
		if (r == 0)
			r = adm_sharecopy_pcm(pcm, n, disguise, &out, why, wl);
	}
	free(in);
	if (r < 0)
		return r;
	res->lufs = out.lufs;
	const char *leaf = tmp + sizeof(ADM_SHARES_DIR), *final = res->rel + sizeof(ADM_SHARES_DIR);
	int sd = shares_dir(a->dirfd), fd = -1;
	if (sd < 0) {
		r = dr_errf(why, wl, sd, "the shares folder cannot be used (%s)", strerror(-sd));
		goto free_out;
	}
	fd = openat(sd, leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) < 0 || (r = write_all(fd, out.ogg, out.len)) < 0 ||
	    fsync(fd) < 0) {
		r = r < 0 ? r : -errno;
		dr_errf(why, wl, r, "the copy could not be written (%s)", strerror(-r));
		goto unlink_tmp;
	}
	char detail[256];
	snprintf(detail, sizeof(detail), "share copy %s: %.1f LUFS%s%s", res->rel, out.lufs,
		 disguise ? ", voice disguised (McAdams 0.8)" : "", res->video ? ", sound of a video" : "");
	struct adm_audit *au;
	r = adm_audit_open(a->dirfd, &au);
	if (r == 0) {
		r = adm_audit_add(au, staff, "share", box, id, *x.receipt ? x.receipt : NULL, detail);
		adm_audit_close(au);
	}
	if (r < 0) {
		dr_errf(why, wl, r, "the audit log could not be written: no copy was made");
		goto unlink_tmp;
	}
	if (renameat(sd, leaf, sd, final) < 0 || fsync(sd) < 0) {
		r = dr_errf(why, wl, -errno, "the copy could not be put in place (%s)", strerror(errno));
		goto unlink_tmp;
	}
	close(fd);
	close(sd);
	free(out.ogg);
	return 0;
unlink_tmp:
	if (fd >= 0)
		close(fd);
	unlinkat(sd, leaf, 0);
	close(sd);
free_out:
	free(out.ogg);
	return r;
}

struct matches {
	struct adm_rec r[64];
	size_t n;
};

static int add_match(void *ctx, const struct adm_rec *r)
{
	struct matches *m = ctx;
	if (m->n == 64)
		return -E2BIG;
	m->r[m->n++] = *r;
	return 0;
}

static int usage(void)
{
	fputs("usage: diaryroom-admin share --archive DIR --receipt NNNN [--box ID] [--disguise] "
	      "[--staff NAME]\n",
	      stderr);
	return 2;
}

int adm_share_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"archive", required_argument, NULL, 'a'}, {"receipt", required_argument, NULL, 'r'},
		{"box", required_argument, NULL, 'b'},	   {"disguise", no_argument, NULL, 'd'},
		{"staff", required_argument, NULL, 's'},   {NULL, 0, NULL, 0},
	};
	const char *archive = NULL, *receipt = NULL, *box = NULL, *staff = NULL;
	bool disguise = false;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'a': archive = optarg; break;
		case 'r': receipt = optarg; break;
		case 'b': box = optarg; break;
		case 'd': disguise = true; break;
		case 's': staff = optarg; break;
		default: return usage();
		}
	}
	if (!archive || !receipt || optind != argc || (box && !adm_box_ok(box)))
		return usage();
	char err[256];
	struct adm_archive *a;
	if (adm_archive_open(archive, false, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "share: %s\n", err);
		return 1;
	}
	static struct matches m;
	m.n = 0;
	struct adm_query q = {.box = box, .receipt = receipt};
	int r = a->ops->rec_each(a, &q, add_match, &m), bad = 0;
	if (r == -E2BIG) {
		fprintf(stderr, "share: more than 64 recordings have receipt %s: give --box\n", receipt);
		adm_archive_close(a);
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "share: the catalogue could not be read (%s)\n", a->err);
		adm_archive_close(a);
		return 1;
	}
	if (m.n == 0)
		fprintf(stderr, "share: no recording has receipt %s%s%s\n", receipt,
			box ? " on box " : "", box ? box : "");
	for (size_t i = 0; i < m.n; i++) {
		struct adm_share_result res;
		char why[256];
		r = adm_share_make(a, m.r[i].box, m.r[i].id, disguise, staff, &res, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "share: %s %s (receipt %s): refused: %s\n", m.r[i].box, m.r[i].id,
				receipt, why);
			bad++;
		} else {
			printf("share: %s/%s (%.1f LUFS%s%s)\n", archive, res.rel, res.lufs,
			       disguise ? ", voice disguised" : "",
			       res.video ? ", the video's sound only: no picture" : "");
		}
	}
	adm_archive_close(a);
	return m.n && !bad ? 0 : 1;
}
