/* SPDX-License-Identifier: MIT */
/* Inside `diaryroom-admin serve` (serve.c: sessions, sign-in, the server;
 * serve_pages.c: the HTML pages; serve_play.c: playing a recording). All of
 * it runs on libmicrohttpd's one internal thread, so nothing here locks. */
#ifndef DR_ADMIN_SERVE_PRIV_H
#define DR_ADMIN_SERVE_PRIV_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "orgkey.h"

#define SESSIONS 16
#define SESSION_SECONDS (8 * 3600)
#define BODY_MAX 4096
#define COOKIE "dr_session"

struct session {
	char token[65], csrf[65];
	char staff[64];
	int64_t expires; /* CLOCK_MONOTONIC seconds; 0: free */
};

struct server {
	const char *archive, *org;
	struct adm_orgkey key;
	uint8_t pk[32];
	struct session s[SESSIONS];
	char host[2][32]; /* the Host headers accepted: 127.0.0.1:port, localhost:port */
	char exports[4096]; /* where subject access copies go (serve_wishes.c) */
};

/* a response of len bytes of buf (copied) with the page's security headers;
 * cookie, loc: a Set-Cookie and a Location header, or NULL */
enum MHD_Result adm_serve_send_buf(struct MHD_Connection *c, unsigned status, const char *type,
				   const char *buf, size_t len, const char *cookie,
				   const char *loc);
enum MHD_Result adm_serve_send_text(struct MHD_Connection *c, unsigned status, const char *msg);
/* a GET argument as a whole C string (a decoded NUL refuses it), or NULL */
const char *adm_serve_arg(struct MHD_Connection *c, const char *name);

enum MHD_Result adm_serve_signin_page(struct MHD_Connection *c, unsigned status, const char *msg);
enum MHD_Result adm_serve_recordings_page(struct server *sv, struct MHD_Connection *c,
					  struct session *s);
/* /play?box=&id=: the recording's playable copy, single byte ranges; a GET
 * from the first byte is a play, audited with the staff name (head: a HEAD
 * request, which sends no bytes and is not a play) */
enum MHD_Result adm_serve_play(struct server *sv, struct MHD_Connection *c, struct session *s,
			       bool head);

/* 0 when pass is the organisation's passphrase (it opens org.key) */
int adm_serve_pass_ok(const struct server *sv, const char *pass);

/* serve_html.c: what the newer pages share */
struct adm_rec;
/* text into HTML (control characters but newline and tab as '?'); s may be NULL */
void adm_serve_esc(FILE *f, const char *s);
/* a page to write: an open_memstream on *buf, *len with the head, title
 * and links written; NULL if out of memory. adm_serve_page_send ends it,
 * closes f, sends it with status and frees *buf. */
FILE *adm_serve_page_open(char **buf, size_t *len, const char *title);
enum MHD_Result adm_serve_page_send(struct MHD_Connection *c, unsigned status, char **bufp,
				    size_t *lenp, FILE *f);
/* a page saying what happened: msg (role status if ok, else alert), what
 * the command line's code said (said, may be NULL), a link back to x's
 * wishes (x may be NULL) */
enum MHD_Result adm_serve_result_page(struct MHD_Connection *c, unsigned status,
				      const char *title, bool ok, const char *msg,
				      const char *said, const struct adm_rec *x);
void adm_serve_nav(FILE *f); /* the links to every page */
/* the links under a recording on the recordings page */
void adm_serve_rec_links(FILE *f, const struct adm_rec *x);
void adm_serve_rec_summary(FILE *f, const struct adm_rec *x);
void adm_serve_hidden(FILE *f, const char *name, const char *v); /* a hidden input */
/* the recording of box with this receipt number that started at start
 * (from a URL or form: checked) into *x: 0, or the HTTP status to answer */
unsigned adm_serve_find_rec(struct server *sv, const char *box, const char *receipt,
			    const char *start, struct adm_rec *x);
/* box=&receipt=&start= naming x, for a link (HTML-safe) */
void adm_serve_rec_ref(FILE *f, const struct adm_rec *x);
/* serve_said.c: what the command line's code says on fds 1 and 2, caught
 * between begin and end (end restores them and copies it to stderr too) */
struct adm_serve_said {
	int mfd, out, err;
};
int adm_serve_said_begin(struct adm_serve_said *w);
void adm_serve_said_end(struct adm_serve_said *w, char *buf, size_t n);
/* the form's "pass" into DIARYROOM_PASSPHRASE (where adm_passphrase takes
 * it from, wipes it and removes it), only if it opens org.key: 0, -ENOENT
 * (none typed), -EACCES; adm_serve_pass_forget wipes and removes it if the
 * command line's code did not take it */
int adm_serve_pass_give(struct server *sv, char *body, size_t len);
void adm_serve_pass_forget(void);

/* serve_wishes.c: a resident's wishes and unlock.
 * GET /wish?box=&receipt=&start= */
enum MHD_Result adm_serve_wish_page(struct server *sv, struct MHD_Connection *c,
				    struct session *s);
/* POST /wish/confirm, /wish/do, /export (CSRF already checked); body is
 * wiped before it returns */
enum MHD_Result adm_serve_wish_post(struct server *sv, struct MHD_Connection *c,
				    struct session *s, const char *url, char *body, size_t len);
/* serve_export.c: POST /export, a subject access copy of x's receipt
 * number and box */
enum MHD_Result adm_serve_export(struct server *sv, struct MHD_Connection *c, struct session *s,
				 const struct adm_rec *x, char *body, size_t len);
/* serve_audit.c: GET /audit and GET /verify?box=&receipt=&start= */
enum MHD_Result adm_serve_audit_page(struct server *sv, struct MHD_Connection *c,
				     struct session *s);
enum MHD_Result adm_serve_verify_page(struct server *sv, struct MHD_Connection *c,
				      struct session *s);

#endif
