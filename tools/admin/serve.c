/* SPDX-License-Identifier: MIT */
/*
 * `diaryroom-admin serve`: the staff's page (docs/staff-page.md), on
 * libmicrohttpd, on 127.0.0.1 only. Every request is handled on
 * libmicrohttpd's one internal thread (MHD_USE_INTERNAL_POLLING_THREAD, no
 * thread per connection), so the sessions need no lock; the main thread
 * only waits for SIGINT/SIGTERM.
 */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "archive.h"
#include "audit.h"
#include "orgkey.h"
#include "serve_parse.h"
#include "serve_priv.h"
#include "serve_report.h"

struct req {
	char body[BODY_MAX];
	size_t len;
	bool too_big;
};

static int64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void random_hex(char out[65])
{
	uint8_t b[32];
	randombytes_buf(b, sizeof(b));
	sodium_bin2hex(out, 65, b, sizeof(b));
}

/* 0 when pass opens org.key (the passphrase is the organisation's) */
static int pass_ok(const struct server *sv, const char *pass)
{
	uint8_t *key = (uint8_t *)adm_secret_new(crypto_secretbox_KEYBYTES);
	uint8_t *sk = (uint8_t *)adm_secret_new(crypto_sign_SECRETKEYBYTES);
	int r = -ENOMEM;
	if (key && sk &&
	    crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, strlen(pass), sv->key.salt,
			  sv->key.ops, sv->key.mem, crypto_pwhash_ALG_ARGON2ID13) == 0)
		r = crypto_secretbox_open_easy(sk, sv->key.box, sizeof(sv->key.box), sv->key.nonce,
					       key) == 0 ? 0 : -EACCES;
	adm_secret_free((char *)key);
	adm_secret_free((char *)sk);
	return r;
}

int adm_serve_pass_ok(const struct server *sv, const char *pass)
{
	return pass_ok(sv, pass);
}

static struct session *session_of(struct server *sv, struct MHD_Connection *c)
{
	char tok[80];
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE);
	if (adm_serve_cookie(h, COOKIE, tok, sizeof(tok)) != 64)
		return NULL;
	int64_t now = mono_now();
	for (int i = 0; i < SESSIONS; i++)
		if (sv->s[i].expires > now && sodium_memcmp(sv->s[i].token, tok, 64) == 0)
			return &sv->s[i];
	return NULL;
}

enum MHD_Result adm_serve_send_buf(struct MHD_Connection *c, unsigned status, const char *type,
				const char *buf, size_t len, const char *cookie, const char *loc)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)buf, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; media-src 'self'; frame-ancestors 'none'");
	if (cookie)
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
	if (loc)
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, loc);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result adm_serve_send_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return adm_serve_send_buf(c, status, "text/plain; charset=utf-8", msg, strlen(msg), NULL, NULL);
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static enum MHD_Result do_signin(struct server *sv, struct MHD_Connection *c, struct req *q)
{
	char staff[64], *pass = adm_secret_new(ADM_PASS_MAX);
	if (!pass)
		return adm_serve_send_text(c, 500, "out of memory\n");
	int a = adm_serve_form(q->body, q->len, "staff", staff, sizeof(staff));
	int b = adm_serve_form(q->body, q->len, "pass", pass, ADM_PASS_MAX);
	int ok = a > 0 && b > 0 && name_ok(staff) && pass_ok(sv, pass) == 0;
	adm_secret_free(pass);
	sodium_memzero(q->body, sizeof(q->body));
	if (!ok)
		return adm_serve_signin_page(c, 403, "That name or passphrase was not accepted.");
	int64_t now = mono_now();
	struct session *s = &sv->s[0];
	for (int i = 0; i < SESSIONS; i++) /* a free one, else the oldest */
		if (sv->s[i].expires <= now || sv->s[i].expires < s->expires) {
			s = &sv->s[i];
			if (s->expires <= now)
				break;
		}
	random_hex(s->token);
	random_hex(s->csrf);
	snprintf(s->staff, sizeof(s->staff), "%s", staff);
	s->expires = now + SESSION_SECONDS;
	char cookie[160];
	snprintf(cookie, sizeof(cookie), COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/",
		 s->token);
	return adm_serve_send_buf(c, 303, "text/plain", "", 0, cookie, "/");
}

static enum MHD_Result route(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_len, void **con_cls)
{
	struct server *sv = cls;
	(void)version;
	/* a page on another site whose name was made to point at 127.0.0.1 (DNS
	 * rebinding) sends its own name as Host: refused */
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	if (!host || (strcmp(host, sv->host[0]) && strcmp(host, sv->host[1])))
		return adm_serve_send_text(c, 421, "this page is only for http://127.0.0.1\n");
	bool post = !strcmp(method, "POST");
	if (post) {
		struct req *q = *con_cls;
		if (!q) {
			if (!(q = calloc(1, sizeof(*q))))
				return MHD_NO;
			*con_cls = q;
			return MHD_YES;
		}
		if (*upload_len) {
			if (q->len + *upload_len > sizeof(q->body))
				q->too_big = true;
			else {
				memcpy(q->body + q->len, upload, *upload_len);
				q->len += *upload_len;
			}
			*upload_len = 0;
			return MHD_YES;
		}
		if (q->too_big)
			return adm_serve_send_text(c, 413, "too large\n");
		if (!strcmp(url, "/signin"))
			return do_signin(sv, c, q);
		struct session *s = session_of(sv, c);
		if (!s)
			return adm_serve_send_text(c, 401, "sign in first\n");
		/* every audit entry this request causes, the command line's
		 * code's included, is in the staff member's name (reset in handle) */
		adm_audit_default_actor(s->staff);
		char csrf[80];
		if (adm_serve_form(q->body, q->len, "csrf", csrf, sizeof(csrf)) != 64 ||
		    sodium_memcmp(csrf, s->csrf, 64))
			return adm_serve_send_text(c, 403, "this form has expired: reload the page\n");
		if (!strcmp(url, "/share")) /* serve_share.c */
			return adm_serve_share_post(sv, c, s, q->body, q->len);
		if (!strcmp(url, "/signout")) {
			sodium_memzero(s, sizeof(*s));
			return adm_serve_send_buf(c, 303, "text/plain", "", 0,
					COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
					"/signin");
		}
		if (!strcmp(url, "/collect"))
			return adm_serve_collect_post(sv, c, s, q->body, q->len);
		/* the command line's code, which a collect running owns meanwhile */
		if ((!strcmp(url, "/wish/do") || !strcmp(url, "/export")) &&
		    adm_serve_collect_running())
			return adm_serve_result_page(c, 409, "Nothing changed", false,
						     "A staff stick is being collected: try again "
						     "when it has finished. Nothing changed.",
						     NULL, NULL);
		if (!strcmp(url, "/wish/confirm") || !strcmp(url, "/wish/do") ||
		    !strcmp(url, "/export"))
			return adm_serve_wish_post(sv, c, s, url, q->body, q->len);
		return adm_serve_send_text(c, 404, "not found\n");
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return adm_serve_send_text(c, 405, "not allowed\n");
	if (!strcmp(url, "/signin"))
		return adm_serve_signin_page(c, 200, NULL);
	struct session *s = session_of(sv, c);
	static const char no_session[] = "<!DOCTYPE html><html lang=\"en\"><title>Sign in</title>"
					 "<p><a href=\"/signin\">Sign in</a></p></html>";
	if (!s)
		return adm_serve_send_buf(c, 401, "text/html; charset=utf-8", no_session,
				sizeof(no_session) - 1, NULL, NULL);
	adm_audit_default_actor(s->staff);
	if (!strcmp(url, "/"))
		return adm_serve_recordings_page(sv, c, s);
	if (!strcmp(url, "/play"))
		return adm_serve_play(sv, c, s, !strcmp(method, "HEAD"));
	if (!strcmp(url, "/wish"))
		return adm_serve_wish_page(sv, c, s);
	if (!strcmp(url, "/audit"))
		return adm_serve_audit_page(sv, c, s);
	if (!strcmp(url, "/verify"))
		return adm_serve_verify_page(sv, c, s);
	if (!strcmp(url, "/report")) /* serve_report.c */
		return adm_serve_report_page(sv, c, s);
	if (!strcmp(url, "/report.css"))
		return adm_serve_report_css(c);
	if (!strcmp(url, "/shares")) /* serve_share.c */
		return adm_serve_shares_page(sv, c, s);
	if (!strcmp(url, "/collect"))
		return adm_serve_collect_page(sv, c, s);
	if (!strcmp(url, "/collect/status"))
		return adm_serve_collect_status(c);
	if (!strcmp(url, "/collect.js"))
		return adm_serve_collect_script(c);
	return adm_serve_send_text(c, 404, "not found\n");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **con_cls)
{
	enum MHD_Result r = route(cls, c, url, method, version, upload, upload_len, con_cls);
	adm_audit_default_actor(NULL); /* a request's staff name ends with it */
	return r;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
		 enum MHD_RequestTerminationCode tc)
{
	(void)cls, (void)c, (void)tc;
	free(*con_cls);
	*con_cls = NULL;
}

/* every connection's peer must be this machine */
static enum MHD_Result peer_ok(void *cls, const struct sockaddr *addr, socklen_t len)
{
	(void)cls;
	if (addr->sa_family != AF_INET || len < (socklen_t)sizeof(struct sockaddr_in))
		return MHD_NO;
	const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
	return (ntohl(in->sin_addr.s_addr) >> 24) == 127 ? MHD_YES : MHD_NO;
}

int adm_serve_main(int argc, char **argv)
{
	static struct server sv;
	const char *bind = "127.0.0.1";
	long port = 8480;
	static const struct option lo[] = {
		{"archive", required_argument, NULL, 'a'}, {"org", required_argument, NULL, 'o'},
		{"port", required_argument, NULL, 'p'},	   {"bind", required_argument, NULL, 'b'},
		{"exports", required_argument, NULL, 'x'},
		{"sticks", required_argument, NULL, 's'},
		{"retention-days", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'a': sv.archive = optarg; break;
		case 'o': sv.org = optarg; break;
		case 'b': bind = optarg; break;
		case 'x':
			if (adm_fmt(sv.exports, sizeof(sv.exports), "%s", optarg) < 0)
				goto usage;
			break;
		case 's':
			if (adm_fmt(sv.sticks, sizeof(sv.sticks), "%s", optarg) < 0)
				goto usage;
			break;
		case 'r': {
			char *e;
			sv.retention_days = strtol(optarg, &e, 10);
			if (*e || e == optarg || sv.retention_days < 1 || sv.retention_days > 3650) {
				fprintf(stderr, "--retention-days is 1 to 3650\n");
				return 2;
			}
			break;
		}
		case 'p': {
			char *e;
			port = strtol(optarg, &e, 10);
			if (*e || e == optarg || port < 1 || port > 65535) {
				fprintf(stderr, "--port is 1 to 65535\n");
				return 2;
			}
			break;
		}
		default: goto usage;
		}
	}
	if (optind != argc || !sv.archive || !sv.org)
		goto usage;
	if (strcmp(bind, "127.0.0.1") && strcmp(bind, "localhost")) {
		fprintf(stderr, "diaryroom-admin serve: refusing to listen on %s: the staff page "
				"is served to this computer only (127.0.0.1)\n",
			bind);
		return 2;
	}
	/* subject access copies: a folder of their own in the user's Downloads
	 * (never inside the archive, never a path typed in the page) */
	const char *home = getenv("HOME");
	if (!sv.exports[0] && home && *home &&
	    adm_fmt(sv.exports, sizeof(sv.exports), "%s/Downloads/diaryroom-subject-access",
		    home) < 0)
		sv.exports[0] = '\0';
	if (sv.exports[0] != '/') {
		fprintf(stderr, "diaryroom-admin serve: --exports must be a full path (or set HOME)\n");
		return 2;
	}
	/* staff sticks: where the desktop mounts them (udisks: /media/<user>/<label>) */
	struct passwd pw, *pwr = NULL;
	char pwbuf[1024];
	if (!sv.sticks[0] && getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &pwr) == 0 && pwr &&
	    adm_fmt(sv.sticks, sizeof(sv.sticks), "/media/%s", pw.pw_name) < 0)
		sv.sticks[0] = '\0';
	if (sv.sticks[0] != '/') {
		fprintf(stderr, "diaryroom-admin serve: --sticks must be a full path\n");
		return 2;
	}
	if (!sv.retention_days)
		sv.retention_days = 30;
	char p[4200], *b;
	size_t len;
	struct adm_org o;
	int r = adm_org_load(sv.org, false, &o);
	if (r < 0) {
		adm_org_free(&o);
		return 1;
	}
	memcpy(sv.pk, o.pk, 32);
	adm_org_free(&o);
	adm_fmt(p, sizeof(p), "%s/org.key", sv.org);
	if (adm_read_file(p, 65536, &b, &len) < 0) {
		fprintf(stderr, "diaryroom-admin: cannot read %s\n", p);
		return 1;
	}
	r = adm_orgkey_parse(b, len, &sv.key);
	free(b);
	if (r < 0 || memcmp(sv.key.pk, sv.pk, 32)) {
		fprintf(stderr, "diaryroom-admin: %s is damaged\n", p);
		return 1;
	}
	char err[256];
	struct adm_archive *a;
	if (adm_archive_open(sv.archive, false, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "diaryroom-admin: %s\n", err);
		return 1;
	}
	adm_archive_close(a);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	snprintf(sv.host[0], sizeof(sv.host[0]), "127.0.0.1:%ld", port);
	snprintf(sv.host[1], sizeof(sv.host[1]), "localhost:%ld", port);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, peer_ok, NULL,
		handle, &sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_CONNECTION_LIMIT, 64,
		MHD_OPTION_CONNECTION_TIMEOUT, 60, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "diaryroom-admin: cannot listen on 127.0.0.1:%ld\n", port);
		return 1;
	}
	printf("the staff page: http://127.0.0.1:%ld/\n", port);
	fflush(stdout);
	sigdelset(&set, SIGPIPE);
	int sig;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	adm_serve_collect_stop();
	sodium_memzero(&sv, sizeof(sv));
	return 0;
usage:
	fprintf(stderr, "usage: diaryroom-admin serve --archive DIR --org DIR [--port N] [--exports DIR]\n"
			"       [--sticks DIR] [--retention-days N]\n");
	return 2;
}
