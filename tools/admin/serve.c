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
};

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

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *type,
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

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return send_buf(c, status, "text/plain; charset=utf-8", msg, strlen(msg), NULL, NULL);
}

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

static void page_head(FILE *f, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width\"><title>",
	      f);
	esc(f, title);
	fputs(" - diaryroom</title></head><body><main>\n<h1>", f);
	esc(f, title);
	fputs("</h1>\n", f);
}

/* ends the page on f (an open_memstream on *buf, *len), sends and frees it */
static enum MHD_Result send_page(struct MHD_Connection *c, unsigned status, char **buf,
				 size_t *len, FILE *f)
{
	fputs("</main></body></html>\n", f);
	if (fclose(f) != 0) {
		free(*buf);
		return send_text(c, 500, "out of memory\n");
	}
	enum MHD_Result r = send_buf(c, status, "text/html; charset=utf-8", *buf, *len, NULL,
				     NULL);
	free(*buf);
	return r;
}

static enum MHD_Result signin_page(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return send_text(c, 500, "out of memory\n");
	page_head(f, "Sign in");
	if (msg) {
		fputs("<p role=\"alert\">", f);
		esc(f, msg);
		fputs("</p>\n", f);
	}
	fputs("<form method=\"post\" action=\"/signin\">\n"
	      "<p><label for=\"staff\">Your name</label> "
	      "<input id=\"staff\" name=\"staff\" autocomplete=\"name\" required maxlength=\"63\"></p>\n"
	      "<p><label for=\"pass\">The organisation's passphrase</label> "
	      "<input id=\"pass\" name=\"pass\" type=\"password\" required></p>\n"
	      "<p><button type=\"submit\">Sign in</button></p>\n</form>\n",
	      f);
	return send_page(c, status, &buf, &len, f);
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
		return send_text(c, 500, "out of memory\n");
	int a = adm_serve_form(q->body, q->len, "staff", staff, sizeof(staff));
	int b = adm_serve_form(q->body, q->len, "pass", pass, ADM_PASS_MAX);
	int ok = a > 0 && b > 0 && name_ok(staff) && pass_ok(sv, pass) == 0;
	adm_secret_free(pass);
	sodium_memzero(q->body, sizeof(q->body));
	if (!ok)
		return signin_page(c, 403, "That name or passphrase was not accepted.");
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
	return send_buf(c, 303, "text/plain", "", 0, cookie, "/");
}

/* a GET argument as a whole C string (a decoded NUL refuses it), or NULL */
static const char *arg(struct MHD_Connection *c, const char *name)
{
	const char *v;
	size_t n;
	if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v, &n) !=
		    MHD_YES ||
	    !v || strlen(v) != n || n > 64)
		return NULL;
	return v;
}

struct listing {
	struct adm_rec *r;
	size_t n, cap;
	const char *consent;
};

static int add_rec(void *ctx, const struct adm_rec *r)
{
	struct listing *l = ctx;
	if (l->consent && *l->consent && strcmp(l->consent, r->consent_staff))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct adm_rec *p = realloc(l->r, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->r = p;
		l->cap = cap;
	}
	l->r[l->n++] = *r;
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct adm_rec *x = a, *y = b;
	int d = strcmp(y->start_utc, x->start_utc);
	return d ? d : strcmp(x->id, y->id);
}

static int print_consent(void *ctx, const struct adm_consent *k)
{
	FILE *f = ctx;
	fputs("<li>", f);
	esc(f, k->at_utc);
	fputs(": staff ", f);
	esc(f, k->staff);
	fputs(", share ", f);
	esc(f, k->share);
	fputs(" (", f);
	esc(f, k->source);
	fputs(")</li>", f);
	return 0;
}

static int print_box(void *ctx, const char *box)
{
	FILE *f = ctx;
	fputs("<option value=\"", f);
	esc(f, box);
	fputs("\">", f);
	esc(f, box);
	fputs("</option>", f);
	return 0;
}

static void field(FILE *f, const char *id, const char *label, const char *type, const char *v)
{
	fprintf(f, "<label for=\"%s\">%s</label> <input id=\"%s\" name=\"%s\" type=\"%s\" value=\"",
		id, label, id, id, type);
	esc(f, v);
	fputs("\"> ", f);
}

static enum MHD_Result recordings_page(struct server *sv, struct MHD_Connection *c,
				       struct session *s)
{
	const char *box = arg(c, "box"), *receipt = arg(c, "receipt"), *from = arg(c, "from"),
		   *to = arg(c, "to"), *consent = arg(c, "consent");
	if (box && *box && !adm_box_ok(box))
		return send_text(c, 400, "not a box id\n");
	char fromt[40] = "", tot[40] = "";
	if (from && *from)
		snprintf(fromt, sizeof(fromt), "%.10sT00:00:00Z", from);
	if (to && *to)
		snprintf(tot, sizeof(tot), "%.10sT23:59:59Z", to);
	struct adm_query qy = {.box = box && *box ? box : NULL,
			       .receipt = receipt && *receipt ? receipt : NULL,
			       .from_utc = *fromt ? fromt : NULL,
			       .to_utc = *tot ? tot : NULL};
	char err[256];
	struct adm_archive *a;
	if (adm_archive_open(sv->archive, false, &a, err, sizeof(err)) < 0)
		return send_text(c, 500, "the archive could not be opened\n");
	struct listing l = {.consent = consent};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r = f ? a->ops->rec_each(a, &qy, add_rec, &l) : -ENOMEM;
	if (r < 0) {
		if (f)
			fclose(f);
		free(buf);
		free(l.r);
		adm_archive_close(a);
		return send_text(c, 500, "the catalogue could not be read: nothing is shown\n");
	}
	qsort(l.r, l.n, sizeof(*l.r), newest_first);
	page_head(f, "Recordings");
	fputs("<p>Signed in as ", f);
	esc(f, s->staff);
	fputs(".</p><form method=\"post\" action=\"/signout\"><input type=\"hidden\" "
	      "name=\"csrf\" value=\"",
	      f);
	esc(f, s->csrf);
	fputs("\"><button type=\"submit\">Sign out</button></form>\n"
	      "<form method=\"get\" action=\"/\" role=\"search\"><p>"
	      "<label for=\"box\">Box</label> <select id=\"box\" name=\"box\">"
	      "<option value=\"\">every box</option>",
	      f);
	a->ops->box_each(a, print_box, f);
	fputs("</select> ", f);
	field(f, "receipt", "Receipt number", "text", receipt);
	field(f, "from", "From", "date", from);
	field(f, "to", "To", "date", to);
	fputs("<label for=\"consent\">Consent</label> <select id=\"consent\" name=\"consent\">"
	      "<option value=\"\">any</option><option>yes</option><option>no</option>"
	      "<option>unanswered</option></select> <button type=\"submit\">Show</button></p>"
	      "</form>\n",
	      f);
	fprintf(f, "<p>%zu recording%s.</p>\n", l.n, l.n == 1 ? "" : "s");
	for (size_t i = 0; i < l.n; i++) {
		const struct adm_rec *x = &l.r[i];
		fputs("<section class=\"rec\"><h2>", f);
		esc(f, x->start_utc);
		fputs(" &middot; receipt ", f);
		esc(f, *x->receipt ? x->receipt : "none");
		fputs("</h2><p>Box ", f);
		esc(f, x->box);
		fprintf(f, ", %lld s, %s, ", (long long)(x->duration_ms / 1000), x->state);
		esc(f, x->status);
		fputs(x->time_uncertain ? ", the box's clock was not sure" : "", f);
		fputs(". Consent: staff ", f);
		esc(f, x->consent_staff);
		fputs(", share ", f);
		esc(f, x->consent_share);
		fputs(".</p>", f);
		bool playable = !x->locked && !strcmp(x->status, "archived") &&
				*x->playable_blake2b && !strcmp(x->media, "audio");
		if (x->locked) {
			fputs("<p class=\"sealed\">Sealed: no one may listen", f);
			if (*x->retention_ended_utc) {
				fputs("; retention ended ", f);
				esc(f, x->retention_ended_utc);
			}
			fputs(".</p>", f);
		} else if (playable) {
			fprintf(f, "<audio controls preload=\"metadata\" "
				   "aria-label=\"recording %s\" src=\"/play?box=%s&amp;id=%s\"></audio>",
				x->receipt, x->box, x->id);
		} else {
			fputs("<p>No playable copy.</p>", f);
		}
		fputs("<details><summary>Consent history</summary><ul>", f);
		a->ops->consent_each(a, x->box, x->id, print_consent, f);
		fputs("</ul></details></section>\n", f);
	}
	free(l.r);
	adm_archive_close(a);
	return send_page(c, 200, &buf, &len, f);
}

struct play {
	int fd;
	uint64_t first;
};

static ssize_t play_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct play *p = cls;
	ssize_t n = pread(p->fd, buf, max, (off_t)(p->first + pos));
	return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void play_free(void *cls)
{
	struct play *p = cls;
	close(p->fd);
	free(p);
}

static enum MHD_Result play(struct server *sv, struct MHD_Connection *c, struct session *s)
{
	const char *box = arg(c, "box"), *id = arg(c, "id");
	if (!box || !id || !adm_box_ok(box) || !adm_rec_id_ok(id))
		return send_text(c, 404, "no such recording\n");
	char err[256], rel[256];
	struct adm_archive *a;
	if (adm_archive_open(sv->archive, false, &a, err, sizeof(err)) < 0)
		return send_text(c, 500, "the archive could not be opened\n");
	struct adm_rec x;
	int r = a->ops->rec_get(a, box, id, &x);
	if (r == 0 && (x.locked || strcmp(x.status, "archived") || !*x.playable_blake2b ||
		       strcmp(x.media, "audio")))
		r = -EACCES;
	if (r == 0)
		r = adm_archive_path(rel, sizeof(rel), NULL, box, id, x.media, "playable");
	int fd = -1;
	uint64_t size = 0;
	if (r == 0)
		r = adm_open_regular_at(a->dirfd, rel, &fd, &size);
	if (r < 0) {
		adm_archive_close(a);
		return send_text(c, r == -EACCES ? 403 : 404,
				 r == -EACCES ? "this recording may not be played\n"
					      : "no such recording\n");
	}
	const char *rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
	uint64_t first = 0, last = size ? size - 1 : 0;
	int rr = adm_serve_range(rh, size, &first, &last);
	if (rr == -ERANGE) {
		close(fd);
		adm_archive_close(a);
		char cr[64];
		snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
		struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
									 MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		enum MHD_Result ret = MHD_queue_response(c, 416, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	/* a play is a request from the start (the browser's first); seeks are not
	 * new plays */
	if (first == 0) {
		struct adm_audit *au;
		r = adm_audit_open(a->dirfd, &au);
		if (r == 0) {
			r = adm_audit_add(au, s->staff, "play", box, id, x.receipt,
					  "on the staff page");
			adm_audit_close(au);
		}
		if (r < 0) { /* not audited: not played */
			close(fd);
			adm_archive_close(a);
			return send_text(c, 500, "the audit log could not be written: not played\n");
		}
	}
	adm_archive_close(a);
	uint64_t n = size ? last - first + 1 : 0;
	struct play *p = malloc(sizeof(*p));
	struct MHD_Response *resp = NULL;
	if (p) {
		p->fd = fd;
		p->first = first;
		resp = n ? MHD_create_response_from_callback(n, 65536, play_read, p, play_free)
			 : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!resp) {
		free(p);
		close(fd);
		return MHD_NO;
	}
	if (!n)
		play_free(p);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "audio/ogg");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (rr == 0) {
		char cr[96];
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)first,
			 (unsigned long long)last, (unsigned long long)size);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	enum MHD_Result ret = MHD_queue_response(c, rr == 0 ? 206 : 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **con_cls)
{
	struct server *sv = cls;
	(void)version;
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
			return send_text(c, 413, "too large\n");
		if (!strcmp(url, "/signin"))
			return do_signin(sv, c, q);
		struct session *s = session_of(sv, c);
		if (!s)
			return send_text(c, 401, "sign in first\n");
		char csrf[80];
		if (adm_serve_form(q->body, q->len, "csrf", csrf, sizeof(csrf)) != 64 ||
		    sodium_memcmp(csrf, s->csrf, 64))
			return send_text(c, 403, "this form has expired: reload the page\n");
		if (!strcmp(url, "/signout")) {
			sodium_memzero(s, sizeof(*s));
			return send_buf(c, 303, "text/plain", "", 0,
					COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
					"/signin");
		}
		return send_text(c, 404, "not found\n");
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return send_text(c, 405, "not allowed\n");
	if (!strcmp(url, "/signin"))
		return signin_page(c, 200, NULL);
	struct session *s = session_of(sv, c);
	static const char no_session[] = "<!DOCTYPE html><html lang=\"en\"><title>Sign in</title>"
					 "<p><a href=\"/signin\">Sign in</a></p></html>";
	if (!s)
		return send_buf(c, 401, "text/html; charset=utf-8", no_session,
				sizeof(no_session) - 1, NULL, NULL);
	if (!strcmp(url, "/"))
		return recordings_page(sv, c, s);
	if (!strcmp(url, "/play"))
		return play(sv, c, s);
	return send_text(c, 404, "not found\n");
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
		{NULL, 0, NULL, 0},
	};
	int ch;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'a': sv.archive = optarg; break;
		case 'o': sv.org = optarg; break;
		case 'b': bind = optarg; break;
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
	sodium_memzero(&sv, sizeof(sv));
	return 0;
usage:
	fprintf(stderr, "usage: diaryroom-admin serve --archive DIR --org DIR [--port N]\n");
	return 2;
}
