/* SPDX-License-Identifier: MIT */
/*
 * diaryroom-admin audit [--verify]: the archive's audit log for people
 * (docs/audit-log.md), and adm_audit_record, one entry from a command.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "audit.h"
#include "audit_cmd.h"

int adm_archive_dirfd(const char *archive)
{
	int fd = open(archive, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int adm_audit_record(const char *archive, const char *action, const char *box,
		     const char *recording, const char *receipt, const char *detail)
{
	int dfd = adm_archive_dirfd(archive);
	if (dfd < 0) {
		fprintf(stderr, "audit: cannot open the archive %s: %s\n", archive, strerror(-dfd));
		return dfd;
	}
	struct adm_audit *a = NULL;
	int r = adm_audit_open(dfd, &a);
	if (r == 0)
		r = adm_audit_add(a, NULL, action, box, recording, receipt, detail);
	adm_audit_close(a);
	close(dfd);
	if (r == -EBADMSG)
		fprintf(stderr,
			"audit: the archive's audit log %s/%s is damaged, so nothing more is "
			"recorded in it: see diaryroom-admin audit --verify --archive %s\n",
			archive, ADM_AUDIT_LOG, archive);
	else if (r < 0)
		fprintf(stderr, "audit: cannot record in %s/%s: %s\n", archive, ADM_AUDIT_LOG,
			strerror(-r));
	return r;
}

/* Prints s with anything that could steer a terminal replaced by '?'. */
static void put_clean(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

static void field(FILE *out, const char *name, const char *v)
{
	if (!v)
		return;
	fprintf(out, " %s=", name);
	put_clean(out, v);
}

static int print_entry(const struct adm_audit_entry *e, void *ctx)
{
	FILE *out = ctx;
	fprintf(out, "%llu ", (unsigned long long)e->seq);
	put_clean(out, e->time);
	fputc(' ', out);
	put_clean(out, e->os_user ? e->os_user : "?");
	if (e->sudo_user) {
		fputs(" (sudo by ", out);
		put_clean(out, e->sudo_user);
		fputc(')', out);
	}
	if (e->actor && (!e->os_user || strcmp(e->actor, e->os_user)))
		field(out, "as", e->actor);
	fputc(' ', out);
	put_clean(out, e->action);
	field(out, "box", e->box);
	field(out, "recording", e->recording);
	field(out, "receipt", e->receipt);
	if (e->detail) {
		fputs(": ", out);
		put_clean(out, e->detail);
	}
	fputc('\n', out);
	return 0;
}

int adm_audit_cmd(const char *archive, bool verify)
{
	int dfd = adm_archive_dirfd(archive);
	if (dfd < 0) {
		fprintf(stderr, "audit: cannot open the archive %s: %s\n", archive, strerror(-dfd));
		return 1;
	}
	int r;
	if (verify) {
		r = adm_audit_verify(dfd, stdout);
	} else {
		int fd = adm_audit_open_read(dfd);
		if (fd == -ENOENT) {
			r = adm_audit_verify(dfd, stdout); /* says none yet, or removed */
		} else if (fd < 0) {
			r = fd;
		} else {
			r = adm_audit_read_fd(fd, stdout, print_entry, stdout, NULL);
			close(fd);
		}
	}
	close(dfd);
	if (r < 0)
		fprintf(stderr, "audit: cannot read %s/%s: %s\n", archive, ADM_AUDIT_LOG,
			strerror(-r));
	return r < 0 ? 1 : r;
}
