/* SPDX-License-Identifier: MIT */
/*
 * open: one recording sealed by a box (DRSEAL02, docs/sealed-file.md) into a
 * playable file, with the organisation's key. For the demo and for
 * engineers; collect and unlock do the same for the archive.
 *
 * The recording's id is the one in the file's header: the file is opened as
 * that recording (every message authenticates it), so a message moved from
 * another recording, reordered, altered or a file sealed for another
 * organisation is refused. A recording cut off by a power failure (no last
 * message) is opened as far as it goes and finished by what it holds: a
 * video (<id>.mkv.sealed, Matroska) cut back to its last whole cluster
 * (dr_mkv_repair), sound its Ogg end written with the box's own repair
 * (dr_recover_file). An archive file sealed on the PC
 * before stick format 2 (DRSEAL01) opens too: its folder names the box.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "archive_priv.h"
#include "audit.h"
#include "audit_cmd.h"
#include "media/mkv.h"
#include "media/recover.h"
#include "seal/seal.h"

/* Finishes a recording opened from a file the box sealed while it was cut
 * off (no last message), by what it holds: a video (Matroska: its EBML
 * magic) is cut back to its last whole cluster, sound (Ogg Opus) gets its
 * end written. bytes: its size after. */
static int finish_cut(const char *path, uint64_t *bytes)
{
	unsigned char head[4] = {0};
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, head, sizeof(head));
	close(fd);
	if (n == (ssize_t)sizeof(head) && !memcmp(head, "\x1a\x45\xdf\xa3", 4)) {
		struct dr_mkv_repair_result mr = {0};
		int r = dr_mkv_repair(path, &mr);
		*bytes = mr.bytes;
		return r;
	}
	struct dr_recover_result rr = {0};
	int r = dr_recover_file(path, &rr);
	*bytes = rr.bytes;
	return r;
}

/* "<box>/<id>" of an archive's DRSEAL01 file <archive>/<box>/<id>.opus.sealed */
static int legacy_ad(const char *path, char ad[128])
{
	char a[4200], b[4200];
	if (adm_fmt(a, sizeof(a), "%s", path) < 0 || adm_fmt(b, sizeof(b), "%s", path) < 0)
		return -ENAMETOOLONG;
	const char *file = basename(a);
	const char *box = basename(dirname(b));
	size_t n = strlen(file);
	if (n != DR_STICK_ID_HEX + 12 || strcmp(file + DR_STICK_ID_HEX, ".opus.sealed") ||
	    !dr_stick_hex_ok(box, DR_DEVICE_ID_HEX))
		return -EINVAL;
	return adm_fmt(ad, 128, "%s/%.*s", box, (int)DR_STICK_ID_HEX, file);
}

/* The archive that keeps in_path: its folder or the one above holds the
 * catalogue or the audit log (<archive>/<box>/<id>.opus.sealed). Into
 * arch, or "" if none. */
static void archive_of(const char *in_path, char arch[4200])
{
	static const char *const marks[] = {ADM_CATALOGUE, ADM_AUDIT_LOG, ADM_AUDIT_HEAD};
	char a[4200];
	arch[0] = '\0';
	if (adm_fmt(a, sizeof(a), "%s", in_path) < 0)
		return;
	char *d = dirname(a);
	for (int up = 0; up < 2; up++) {
		for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
			char p[4300];
			struct stat st;
			if (adm_fmt(p, sizeof(p), "%s/%s", d, marks[i]) == 0 &&
			    (lstat(p, &st) == 0 || errno != ENOENT)) {
				adm_fmt(arch, 4200, "%s", d);
				return;
			}
		}
		d = dirname(d);
	}
}

/* The box of an archive file: its folder's name, if it is a box id. */
static void box_of(const char *in_path, char box[DR_DEVICE_ID_HEX + 1])
{
	char a[4200];
	box[0] = '\0';
	if (adm_fmt(a, sizeof(a), "%s", in_path) < 0)
		return;
	const char *b = basename(dirname(a));
	if (dr_stick_hex_ok(b, DR_DEVICE_ID_HEX))
		adm_fmt(box, DR_DEVICE_ID_HEX + 1, "%s", b);
}

int adm_open(const struct adm_org *org, const char *in_path, const char *out_path,
	     const char *archive)
{
	char found[4200];
	if (!archive) {
		archive_of(in_path, found);
		archive = found[0] ? found : NULL;
	}
	int in = open(in_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0) {
		fprintf(stderr, "open: cannot read %s: %s\n", in_path, strerror(errno));
		return -errno;
	}
	unsigned char head[8];
	ssize_t hn = read(in, head, sizeof(head));
	bool v2 = hn == (ssize_t)sizeof(head) && dr_seal_is_sealed(head, sizeof(head));
	bool v1 = hn == (ssize_t)sizeof(head) && !memcmp(head, "DRSEAL01", 8);
	struct dr_seal_scan scan = {0};
	char ad[128];
	int r = 0;
	if (v2) {
		r = lseek(in, 0, SEEK_SET) < 0 ? -errno : dr_seal_scan_fd(in, &scan);
		if (r == 0 && lseek(in, 0, SEEK_SET) < 0)
			r = -errno;
	} else if (v1) {
		r = legacy_ad(in_path, ad) < 0 || lseek(in, 0, SEEK_SET) < 0 ? -EINVAL : 0;
		if (r < 0)
			fprintf(stderr, "open: %s was sealed on the PC before stick format 2: open it "
					"where the archive keeps it (<archive>/<box>/<id>.opus.sealed)\n",
				in_path);
	} else {
		r = -EBADMSG;
	}
	if (r < 0) {
		if (r == -EBADMSG)
			fprintf(stderr, "open: %s is not a sealed recording\n", in_path);
		close(in);
		return r;
	}
	int out = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		r = -errno;
		fprintf(stderr, "open: cannot create %s: %s\n", out_path, strerror(-r));
		close(in);
		return r;
	}
	bool final = true;
	uint64_t bytes = 0;
	char why[256] = "";
	if (v2) {
		r = adm_open_sealed(org, in, scan.id, out, &final, &bytes, why, sizeof(why));
	} else {
		char hex[65];
		r = adm_unseal_fd(in, ad, org->pk, org->sk, out, hex, &bytes);
	}
	close(in);
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (close(out) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, "open: %s: %s; nothing written\n", in_path,
			why[0]		? why
			: r == -EBADMSG ? "it does not open with this organisation's key (sealed for "
					  "another organisation, or altered)"
					: strerror(-r));
		unlink(out_path);
		return r;
	}
	uint64_t finished = 0;
	if (!final && (r = finish_cut(out_path, &finished)) < 0) {
		fprintf(stderr, "open: %s was cut off and nothing playable is left in it: %s\n",
			in_path, strerror(-r));
		unlink(out_path);
		return r;
	}
	if (archive) {
		char box[DR_DEVICE_ID_HEX + 1], detail[4300], outabs[4096];
		box_of(in_path, box);
		const char *where = realpath(out_path, outabs) ? outabs : out_path;
		adm_fmt(detail, sizeof(detail), "opened into %s", where);
		r = adm_audit_record(archive, "open", box[0] ? box : NULL, v2 ? scan.id : ad + 1 +
				     DR_DEVICE_ID_HEX, NULL, detail);
		if (r < 0) {
			fprintf(stderr, "open: %s not opened: it could not be recorded in the "
					"archive's audit log\n", in_path);
			unlink(out_path);
			return r;
		}
	}
	printf("recording %s opened into %s (%llu bytes)%s\n",
	       v2 ? scan.id : ad, out_path, (unsigned long long)(final ? bytes : finished),
	       final ? "" : "; it was cut off by a power failure: its end was finished");
	return 0;
}
