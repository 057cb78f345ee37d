/* SPDX-License-Identifier: MIT */
/*
 * Collecting a staff stick from the staff page (docs/staff-page.md): the
 * sticks plugged in (folders holding DIARYRM/ in the folder the server
 * watches, --sticks), the collect itself (adm_collect_hooked, what
 * `diaryroom-admin collect` runs, on a thread of its own under the
 * archive's lock), its progress as JSON for the page's small script, and
 * the summary.
 *
 * Threads: everything here but worker() and the hooks runs on
 * libmicrohttpd's one thread. The job (struct collect_job) is shared with
 * the worker thread: its fields below `mu` are read and written under it.
 * While a collect runs, the worker owns fds 1 and 2 (what collect says is
 * caught for the summary), collect's process-wide state (collect_priv.h)
 * and the archive's lock: the pages that run the command line's code
 * (wishes, unlock, subject access) are refused meanwhile (serve.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "archive.h"
#include "audit.h"
#include "collect_priv.h"
#include "export/stickfmt.h"
#include "serve_parse.h"
#include "serve_priv.h"

#define STICKS_MAX 8
#define NAME_MAX_ 255

struct collect_job {
	pthread_t th;
	bool joinable;          /* th ran and is not joined yet (this thread only) */
	struct adm_org org;     /* handed to the worker */
	char stick_path[4400];  /* handed to the worker */
	unsigned pace_ms;       /* DIARYROOM_SERVE_COLLECT_PACE_MS: tests only */
	pthread_mutex_t mu;
	/* under mu */
	bool running, ran;
	int result;
	char staff[64], stick[NAME_MAX_ + 1];
	size_t boxes, boxes_seen;
	char box[ADM_BOX_HEX + 1]; /* the box being collected */
	unsigned done, total;      /* recordings: boxes finished and this one */
	uint64_t bytes, bytes_total;
	unsigned fin_done, fin_total;
	uint64_t fin_bytes, fin_bytes_total;
	struct collect_box_sum sum; /* summed over the boxes whose receipt was written */
	size_t receipts;
	char said[8192];
};

static struct collect_job job = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- the sticks plugged in ---- */

/* The staff sticks in the folder sv->sticks: its folders (not links) that
 * hold DIARYRM/, by name, sorted; n of them (at most STICKS_MAX). */
static size_t sticks_list(const struct server *sv, char names[STICKS_MAX][NAME_MAX_ + 1])
{
	size_t n = 0;
	int dfd = sv->sticks[0] ? open(sv->sticks, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	struct dirent *e;
	while (n < STICKS_MAX && (e = readdir(d))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) > NAME_MAX_)
			continue;
		int fd = openat(dfd, e->d_name,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat st;
		if (fstatat(fd, DR_STICK_TOP, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			snprintf(names[n++], NAME_MAX_ + 1, "%s", e->d_name);
		close(fd);
	}
	closedir(d);
	for (size_t i = 1; i < n; i++) /* sorted, so the page is stable */
		for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
			char t[NAME_MAX_ + 1];
			memcpy(t, names[k], sizeof(t));
			memcpy(names[k], names[k - 1], sizeof(t));
			memcpy(names[k - 1], t, sizeof(t));
		}
	return n;
}

/* name (from a form) is one of the sticks plugged in now: 0, or -ENOENT */
static int stick_find(const struct server *sv, const char *name)
{
	char names[STICKS_MAX][NAME_MAX_ + 1];
	size_t n = sticks_list(sv, names);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return 0;
	return -ENOENT;
}

bool adm_serve_collect_running(void)
{
	pthread_mutex_lock(&job.mu);
	bool r = job.running;
	pthread_mutex_unlock(&job.mu);
	return r;
}

/* ---- the collect, on its own thread ---- */

static void fold_box(struct collect_job *j)
{
	j->fin_done += j->done;
	j->fin_total += j->total;
	j->fin_bytes += j->bytes;
	j->fin_bytes_total += j->bytes_total;
	j->done = j->total = 0;
	j->bytes = j->bytes_total = 0;
	j->box[0] = '\0';
}

static void hook_boxes(void *ctx, size_t n)
{
	struct collect_job *j = ctx;
	pthread_mutex_lock(&j->mu);
	j->boxes = n;
	pthread_mutex_unlock(&j->mu);
}

static void hook_progress(void *ctx, const char *box, unsigned done, unsigned total,
			  uint64_t bytes, uint64_t bytes_total)
{
	struct collect_job *j = ctx;
	pthread_mutex_lock(&j->mu);
	if (strcmp(j->box, box)) {
		fold_box(j);
		snprintf(j->box, sizeof(j->box), "%s", box);
		j->boxes_seen++;
	}
	j->done = done;
	j->total = total;
	j->bytes = bytes;
	j->bytes_total = bytes_total;
	pthread_mutex_unlock(&j->mu);
	if (j->pace_ms) {
		struct timespec ts = {j->pace_ms / 1000, (long)(j->pace_ms % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

static void hook_box_done(void *ctx, const char *box, const struct collect_box_sum *s)
{
	struct collect_job *j = ctx;
	pthread_mutex_lock(&j->mu);
	if (strcmp(j->box, box)) { /* nothing was copied from it */
		fold_box(j);
		j->boxes_seen++;
	}
	unsigned seen = s->imported + s->already + s->failed;
	if (j->total < seen)
		j->total = seen;
	j->done = j->total; /* recordings skipped (withdrawn, expired) count as done */
	j->bytes = j->bytes_total;
	fold_box(j);
	j->sum.imported += s->imported;
	j->sum.already += s->already;
	j->sum.failed += s->failed;
	j->sum.held += s->held;
	j->sum.locked += s->locked;
	j->sum.expired += s->expired;
	j->sum.withdrawals += s->withdrawals;
	j->receipts++;
	pthread_mutex_unlock(&j->mu);
}

static void *worker(void *arg)
{
	struct server *sv = arg;
	struct collect_job *j = &job;
	char staff[64];
	pthread_mutex_lock(&j->mu);
	memcpy(staff, j->staff, sizeof(staff));
	pthread_mutex_unlock(&j->mu);
	adm_audit_default_actor(staff); /* every entry of this collect */
	struct collect_hooks h = {.ctx = j,
				  .boxes = hook_boxes,
				  .progress = hook_progress,
				  .box_done = hook_box_done};
	struct adm_serve_said sw;
	bool caught = adm_serve_said_begin(&sw) == 0;
	int r = adm_collect_hooked(&j->org, j->stick_path, sv->archive, NULL, time(NULL),
				   sv->retention_days, false, &h);
	char said[sizeof(j->said)] = "";
	if (caught)
		adm_serve_said_end(&sw, said, sizeof(said));
	adm_org_free(&j->org);
	adm_audit_default_actor(NULL);
	pthread_mutex_lock(&j->mu);
	j->result = r;
	memcpy(j->said, said, sizeof(said));
	j->running = false;
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

void adm_serve_collect_stop(void)
{
	if (job.joinable)
		pthread_join(job.th, NULL); /* a collect running finishes first */
	job.joinable = false;
}

/* ---- the pages ---- */

static const char script[] =
	"// The staff page's collect progress (docs/staff-page.md): polls\n"
	"// /collect/status and moves the bars; the page reloads when it ends.\n"
	"(function () {\n"
	"  var files = document.getElementById('files');\n"
	"  var bytes = document.getElementById('bytes');\n"
	"  var text = document.getElementById('progress-text');\n"
	"  if (!files || !bytes || !text) return;\n"
	"  function size(n, of) {\n"
	"    return of < 1e6 ? Math.round(n / 1e3) + ' kB' : (n / 1e6).toFixed(1) + ' MB';\n"
	"  }\n"
	"  function tick() {\n"
	"    fetch('/collect/status', { credentials: 'same-origin', cache: 'no-store' })\n"
	"      .then(function (r) { return r.json(); })\n"
	"      .then(function (s) {\n"
	"        files.max = Math.max(s.total, 1); files.value = s.done;\n"
	"        bytes.max = Math.max(s.bytes_total, 1); bytes.value = s.bytes;\n"
	"        text.textContent = s.done + ' of ' + s.total + ' recordings, ' +\n"
	"          size(s.bytes, s.bytes_total) + ' of ' + size(s.bytes_total, s.bytes_total) +\n"
	"          ' (' + s.percent + '%)';\n"
	"        if (s.state !== 'running') location.reload();\n"
	"        else setTimeout(tick, 250);\n"
	"      })\n"
	"      .catch(function () { setTimeout(tick, 1000); });\n"
	"  }\n"
	"  setTimeout(tick, 250);\n"
	"})();\n";

enum MHD_Result adm_serve_collect_script(struct MHD_Connection *c)
{
	return adm_serve_send_buf(c, 200, "text/javascript; charset=utf-8", script,
				  sizeof(script) - 1, NULL, NULL);
}

/* a snapshot of the job's figures, under its lock */
struct figures {
	bool running, ran;
	int result;
	char staff[64], stick[NAME_MAX_ + 1];
	size_t boxes, boxes_seen, receipts;
	unsigned done, total;
	uint64_t bytes, bytes_total;
	unsigned percent;
	struct collect_box_sum sum;
};

static void figures_of(struct figures *g)
{
	pthread_mutex_lock(&job.mu);
	g->running = job.running;
	g->ran = job.ran;
	g->result = job.result;
	memcpy(g->staff, job.staff, sizeof(g->staff));
	memcpy(g->stick, job.stick, sizeof(g->stick));
	g->boxes = job.boxes;
	g->boxes_seen = job.boxes_seen;
	g->receipts = job.receipts;
	g->done = job.fin_done + job.done;
	g->total = job.fin_total + job.total;
	g->bytes = job.fin_bytes + job.bytes;
	g->bytes_total = job.fin_bytes_total + job.bytes_total;
	g->sum = job.sum;
	pthread_mutex_unlock(&job.mu);
	/* by bytes, over the boxes: the boxes not reached yet count as not done */
	double part = g->bytes_total ? (double)g->bytes / (double)g->bytes_total
				     : g->total ? (double)g->done / g->total : 0;
	double whole = g->boxes ? ((double)(g->boxes_seen ? g->boxes_seen - 1 : 0) + part) /
					  (double)g->boxes
				: part;
	g->percent = !g->running && g->ran && g->result >= 0 ? 100
		     : whole >= 1 ? 99
				  : (unsigned)(whole * 100);
}

enum MHD_Result adm_serve_collect_status(struct MHD_Connection *c)
{
	struct figures g;
	figures_of(&g);
	char b[512];
	const char *state = g.running ? "running" : !g.ran ? "none" : g.result < 0 ? "failed" : "done";
	int n = snprintf(b, sizeof(b),
			 "{\"state\":\"%s\",\"boxes\":%zu,\"box\":%zu,\"done\":%u,\"total\":%u,"
			 "\"bytes\":%llu,\"bytes_total\":%llu,\"percent\":%u}\n",
			 state, g.boxes, g.boxes_seen, g.done, g.total, (unsigned long long)g.bytes,
			 (unsigned long long)g.bytes_total, g.percent);
	return adm_serve_send_buf(c, 200, "application/json", b, (size_t)n, NULL, NULL);
}

static FILE *page_open(char **buf, size_t *len, bool refresh)
{
	FILE *f = open_memstream(buf, len);
	if (!f)
		return NULL;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width\">"
	      "<title>Collect a staff stick - diaryroom</title>"
	      "<link rel=\"stylesheet\" href=\"/report.css\">",
	      f);
	if (refresh) /* without the script: the page reloads itself */
		fputs("<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>"
		      "<script src=\"/collect.js\" defer></script>",
		      f);
	fputs("</head><body><main>\n<h1>Collect a staff stick</h1>\n", f);
	adm_serve_nav(f);
	return f;
}

static void plural(FILE *f, unsigned n, const char *one, const char *many)
{
	fprintf(f, "%u %s", n, n == 1 ? one : many);
}

static void summary(FILE *f, const struct figures *g, const char *said)
{
	fputs("<h2>", f);
	adm_serve_esc(f, g->result < 0 ? "The collect stopped" : "Collected");
	fputs("</h2>\n<div id=\"summary\" role=\"status\">", f);
	if (g->result == -EWOULDBLOCK)
		fputs("<p>Another diaryroom-admin (a collect on the command line?) is writing the "
		      "archive: nothing was collected. Try again when it has finished.</p>",
		      f);
	else if (g->result < 0)
		fputs("<p>The collect stopped before the end: what it said is below. What was "
		      "collected before it stopped is kept; collect the stick again.</p>",
		      f);
	fputs("<p>From the stick <strong>", f);
	adm_serve_esc(f, g->stick);
	fputs("</strong> (collected by ", f);
	adm_serve_esc(f, g->staff);
	fputs("):</p><ul>", f);
	fputs("<li>", f);
	plural(f, g->sum.imported, "new recording", "new recordings");
	fputs(" (", f);
	plural(f, g->sum.already, "was", "were");
	fputs(" already in the archive)</li><li>", f);
	plural(f, g->sum.locked, "locked recording", "locked recordings");
	fputs(", kept sealed: no one may listen</li><li>", f);
	plural(f, g->sum.withdrawals, "withdrawal", "withdrawals");
	fputs(" sent to the box", f);
	fputs(g->receipts == 1 ? "" : "es", f);
	fputs(" in the receipt</li>", f);
	if (g->sum.expired) {
		fputs("<li>", f);
		plural(f, g->sum.expired, "locked recording", "locked recordings");
		fputs(" past its retention deleted</li>", f);
	}
	fputs("</ul>", f);
	if (g->result == 1 || g->sum.failed)
		fputs("<p><strong>Something on the stick could not be verified</strong>: nothing "
		      "unverified was kept. What collect said is below.</p>",
		      f);
	else if (g->result == 0)
		fputs("<p>Put the stick back into the box: it reads the receipt.</p>", f);
	fputs("</div>\n", f);
	if (said && *said) {
		fputs("<details><summary>What collect said</summary><pre>", f);
		adm_serve_esc(f, said);
		fputs("</pre></details>\n", f);
	}
}

enum MHD_Result adm_serve_collect_page(struct server *sv, struct MHD_Connection *c,
				       struct session *s)
{
	struct figures g;
	figures_of(&g);
	char *said = NULL;
	if (g.ran && !g.running) {
		pthread_mutex_lock(&job.mu);
		said = strdup(job.said);
		pthread_mutex_unlock(&job.mu);
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = page_open(&buf, &len, g.running);
	if (!f) {
		free(said);
		return adm_serve_send_text(c, 500, "out of memory\n");
	}
	if (g.running) {
		fputs("<p>Collecting the stick <strong>", f);
		adm_serve_esc(f, g.stick);
		fputs("</strong> (started by ", f);
		adm_serve_esc(f, g.staff);
		fputs("). Leave the stick in until this page says it has finished.</p>\n", f);
		fprintf(f,
			"<p><label for=\"files\">Recordings</label> <progress id=\"files\" "
			"max=\"%u\" value=\"%u\"></progress></p>\n"
			"<p><label for=\"bytes\">Bytes</label> <progress id=\"bytes\" max=\"%llu\" "
			"value=\"%llu\"></progress></p>\n"
			"<p id=\"progress-text\" role=\"status\">%u of %u recordings, ",
			g.total ? g.total : 1, g.done,
			(unsigned long long)(g.bytes_total ? g.bytes_total : 1),
			(unsigned long long)g.bytes, g.done, g.total);
		bool kb = g.bytes_total < 1000000;
		fprintf(f, kb ? "%.0f of %.0f kB (%u%%)</p>\n" : "%.1f of %.1f MB (%u%%)</p>\n",
			(double)g.bytes / (kb ? 1e3 : 1e6), (double)g.bytes_total / (kb ? 1e3 : 1e6),
			g.percent);
		return adm_serve_page_send(c, 200, &buf, &len, f);
	}
	if (g.ran)
		summary(f, &g, said);
	free(said);
	char names[STICKS_MAX][NAME_MAX_ + 1];
	size_t n = sticks_list(sv, names);
	if (!n) {
		fputs("<p>No staff stick is plugged in. Plug it in, wait for it to open, then "
		      "reload this page.</p>\n<p>(The page looks for it in the folder ",
		      f);
		adm_serve_esc(f, sv->sticks);
		fputs(".)</p>\n", f);
	}
	for (size_t i = 0; i < n; i++) {
		fputs("<form method=\"post\" action=\"/collect\" class=\"stick\"><h2>The staff "
		      "stick ",
		      f);
		adm_serve_esc(f, names[i]);
		fputs("</h2>", f);
		adm_serve_hidden(f, "csrf", s->csrf);
		adm_serve_hidden(f, "stick", names[i]);
		fprintf(f,
			"<p><label for=\"pass%zu\">The organisation's passphrase</label> "
			"<input id=\"pass%zu\" name=\"pass\" type=\"password\" "
			"autocomplete=\"current-password\" required></p>"
			"<p><button type=\"submit\">Collect it</button></p></form>\n",
			i, i);
	}
	return adm_serve_page_send(c, 200, &buf, &len, f);
}

void adm_serve_collect_notice(struct server *sv, FILE *f)
{
	if (adm_serve_collect_running()) {
		fputs("<p id=\"stick\" role=\"status\">A staff stick is being collected: "
		      "<a href=\"/collect\">see how far it has got</a>.</p>\n",
		      f);
		return;
	}
	char names[STICKS_MAX][NAME_MAX_ + 1];
	size_t n = sticks_list(sv, names);
	if (!n)
		return;
	fputs("<p id=\"stick\" role=\"status\">A staff stick is plugged in (", f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ", " : "", f);
		adm_serve_esc(f, names[i]);
	}
	fputs("): <a href=\"/collect\">collect it</a>.</p>\n", f);
}

static enum MHD_Result refused(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = page_open(&buf, &len, false);
	if (!f)
		return adm_serve_send_text(c, 500, "out of memory\n");
	fputs("<p role=\"alert\" id=\"result\">", f);
	adm_serve_esc(f, msg);
	fputs("</p>\n<p><a href=\"/collect\">Back to collecting</a></p>\n", f);
	return adm_serve_page_send(c, status, &buf, &len, f);
}

enum MHD_Result adm_serve_collect_post(struct server *sv, struct MHD_Connection *c,
				       struct session *s, char *body, size_t len)
{
	char name[NAME_MAX_ + 1];
	int n = adm_serve_form(body, len, "stick", name, sizeof(name));
	if (adm_serve_collect_running())
		return refused(c, 409, "A stick is already being collected on this page: wait "
				       "for it to finish. Nothing new was started.");
	if (n <= 0 || strchr(name, '/') || stick_find(sv, name) < 0)
		return refused(c, 404, "That stick is not plugged in (any more): nothing was "
				       "collected.");
	/* a command-line collect (or unlock, repair) holds the archive: say so now */
	int dfd = open(sv->archive, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int lockfd = -1;
	int r = dfd < 0 ? -errno : adm_archive_lock(dfd, false, "staff page", &lockfd);
	if (dfd >= 0)
		close(dfd);
	adm_archive_unlock(lockfd);
	if (r == -EWOULDBLOCK)
		return refused(c, 409, "Another diaryroom-admin (a collect on the command "
				       "line?) is writing the archive: try again when it has "
				       "finished. Nothing was collected.");
	if (r < 0)
		return refused(c, 500, "The archive cannot be opened: nothing was collected.");
	if (adm_serve_pass_give(sv, body, len) < 0)
		return refused(c, 403, "That passphrase was not accepted: nothing was collected.");
	adm_serve_collect_stop(); /* the last one's thread, finished */
	struct adm_org org;
	r = adm_org_load(sv->org, true, &org);
	adm_serve_pass_forget();
	if (r < 0) {
		adm_org_free(&org);
		return refused(c, 500, "The organisation's key could not be opened: nothing was "
				       "collected.");
	}
	if (adm_fmt(job.stick_path, sizeof(job.stick_path), "%s/%s", sv->sticks, name) < 0) {
		adm_org_free(&org);
		return refused(c, 404, "That stick's name is too long.");
	}
	const char *pace = getenv("DIARYROOM_SERVE_COLLECT_PACE_MS");
	job.pace_ms = pace ? (unsigned)strtoul(pace, NULL, 10) % 10000 : 0;
	job.org = org;
	pthread_mutex_lock(&job.mu);
	job.running = job.ran = true;
	job.result = 0;
	memcpy(job.staff, s->staff, sizeof(job.staff));
	snprintf(job.stick, sizeof(job.stick), "%s", name);
	job.boxes = job.boxes_seen = job.receipts = 0;
	job.box[0] = '\0';
	job.done = job.total = job.fin_done = job.fin_total = 0;
	job.bytes = job.bytes_total = job.fin_bytes = job.fin_bytes_total = 0;
	job.sum = (struct collect_box_sum){0};
	job.said[0] = '\0';
	pthread_mutex_unlock(&job.mu);
	r = pthread_create(&job.th, NULL, worker, sv);
	if (r != 0) {
		adm_org_free(&job.org);
		pthread_mutex_lock(&job.mu);
		job.running = false;
		job.result = -r;
		pthread_mutex_unlock(&job.mu);
		return refused(c, 500, "The collect could not be started.");
	}
	job.joinable = true;
	return adm_serve_send_buf(c, 303, "text/plain", "", 0, NULL, "/collect");
}
