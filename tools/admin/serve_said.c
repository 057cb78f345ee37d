/* SPDX-License-Identifier: MIT */
/* The staff page running the command line's own code (docs/staff-page.md):
 * what that code says on stdout and stderr, caught for the page, and the
 * passphrase handed to it the way the command line takes it. Runs on
 * libmicrohttpd's one thread (the only one that writes fds 1 and 2 while
 * the server runs). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "serve_parse.h"
#include "serve_priv.h"

int adm_serve_said_begin(struct adm_serve_said *w)
{
	fflush(stdout);
	fflush(stderr);
	w->mfd = memfd_create("serve-said", MFD_CLOEXEC);
	w->out = fcntl(1, F_DUPFD_CLOEXEC, 3);
	w->err = fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (w->mfd < 0 || w->out < 0 || w->err < 0 || dup2(w->mfd, 1) < 0 || dup2(w->mfd, 2) < 0) {
		int r = -errno;
		if (w->out >= 0) {
			dup2(w->out, 1);
			close(w->out);
		}
		if (w->err >= 0) {
			dup2(w->err, 2);
			close(w->err);
		}
		if (w->mfd >= 0)
			close(w->mfd);
		return r;
	}
	return 0;
}

void adm_serve_said_end(struct adm_serve_said *w, char *buf, size_t n)
{
	fflush(stdout);
	fflush(stderr);
	dup2(w->out, 1);
	dup2(w->err, 2);
	close(w->out);
	close(w->err);
	ssize_t k = pread(w->mfd, buf, n - 1, 0);
	buf[k > 0 ? k : 0] = '\0';
	close(w->mfd);
	fputs(buf, stderr);
}

int adm_serve_pass_give(struct server *sv, char *body, size_t len)
{
	char *pass = adm_secret_new(ADM_PASS_MAX);
	if (!pass)
		return -ENOMEM;
	int r = adm_serve_form(body, len, "pass", pass, ADM_PASS_MAX);
	if (r > 0)
		r = adm_serve_pass_ok(sv, pass);
	else
		r = r == 0 || r == -ENOENT ? -ENOENT : -EACCES;
	if (r == 0) {
		unsetenv("DIARYROOM_PASSPHRASE_FD");
		r = setenv("DIARYROOM_PASSPHRASE", pass, 1) < 0 ? -errno : 0;
	}
	adm_secret_free(pass);
	return r;
}

void adm_serve_pass_forget(void)
{
	char *e = getenv("DIARYROOM_PASSPHRASE");
	if (e)
		sodium_memzero(e, strlen(e));
	unsetenv("DIARYROOM_PASSPHRASE");
}
