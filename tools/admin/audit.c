/* SPDX-License-Identifier: MIT */
/*
 * The archive's audit log: see audit.h and docs/audit-log.md.
 *
 * An entry is one line, a JSON object whose last member is its hash:
 *   {"seq":N,"time":...,...,"prev":"<hex>","hash":"<hex>"}\n
 * hash = BLAKE2b-256 of the line's bytes before ',"hash":', so the hash binds
 * the exact bytes written (no canonical JSON needed) and, through "prev",
 * every entry before it.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#define HASH_KEY ",\"hash\":\""
#define HASH_KEY_LEN (sizeof(HASH_KEY) - 1)
#define TAIL_LEN (HASH_KEY_LEN + 64 + 2) /* ,"hash":"<64 hex>"} */
#define HEAD_TMP ADM_AUDIT_HEAD ".tmp"
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct adm_audit {
	int dirfd, fd;
};

static bool hex64_ok(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void hash_hex(const void *b, size_t n, char hex[65])
{
	uint8_t h[32];
	crypto_generichash(h, sizeof(h), b, n, NULL, 0);
	sodium_bin2hex(hex, 65, h, sizeof(h));
}

/* Opens name in dirfd: a regular file, never a symlink, without blocking. */
static int open_regular(int dirfd, const char *name, int flags, mode_t mode)
{
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int adm_audit_open_read(int archive_fd)
{
	return open_regular(archive_fd, ADM_AUDIT_LOG, O_RDONLY, 0);
}

/* ---- reading ---- */

void adm_audit_entry_clear(struct adm_audit_entry *e)
{
	if (!e)
		return;
	json_object_put(e->priv_);
	memset(e, 0, sizeof(*e));
	e->uid = -1;
}

/* A string member, or NULL; -1 if present but not a string without NULs. */
static int get_str(json_object *o, const char *key, const char **out)
{
	json_object *v;
	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	if (strlen(s) != n || n > ADM_AUDIT_FIELD_MAX)
		return -1;
	*out = s;
	return 0;
}

int adm_audit_parse_line(const char *line, size_t len, struct adm_audit_entry *e,
			 const char **why)
{
	memset(e, 0, sizeof(*e));
	e->uid = -1;
	*why = NULL;
	if (len >= ADM_AUDIT_LINE_MAX) {
		*why = "the line is too long";
		return -EBADMSG;
	}
	if (len < TAIL_LEN + 2 || line[0] != '{' || memcmp(line + len - 2, "\"}", 2) ||
	    memcmp(line + len - TAIL_LEN, HASH_KEY, HASH_KEY_LEN)) {
		*why = "it is not an entry (no hash at its end)";
		return -EBADMSG;
	}
	char want[65], got[65];
	memcpy(got, line + len - 66, 64);
	got[64] = '\0';
	hash_hex(line, len - TAIL_LEN, want);
	if (!hex64_ok(got) || strcmp(want, got)) {
		*why = "its hash does not match its contents (it was edited)";
		return -EBADMSG;
	}
	json_tokener *tok = json_tokener_new();
	if (!tok) {
		*why = "out of memory";
		return -ENOMEM;
	}
	json_object *o = json_tokener_parse_ex(tok, line, (int)len);
	bool whole = o && json_tokener_get_error(tok) == json_tokener_success &&
		     tok->char_offset == (int)len;
	json_tokener_free(tok);
	e->priv_ = o;
	if (!whole || !json_object_is_type(o, json_type_object)) {
		*why = "it is not a JSON object";
		return -EBADMSG;
	}
	json_object *v;
	if (!json_object_object_get_ex(o, "seq", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 1) {
		*why = "it has no sequence number";
		return -EBADMSG;
	}
	e->seq = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "uid", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
			*why = "its uid is not a number";
			return -EBADMSG;
		}
		e->uid = json_object_get_int64(v);
	}
	if (get_str(o, "time", &e->time) || get_str(o, "os_user", &e->os_user) ||
	    get_str(o, "sudo_user", &e->sudo_user) || get_str(o, "actor", &e->actor) ||
	    get_str(o, "action", &e->action) || get_str(o, "box", &e->box) ||
	    get_str(o, "recording", &e->recording) || get_str(o, "receipt", &e->receipt) ||
	    get_str(o, "detail", &e->detail) || get_str(o, "prev", &e->prev) ||
	    get_str(o, "hash", &e->hash)) {
		*why = "a field is not text";
		return -EBADMSG;
	}
	if (!e->time || !e->action || !e->action[0] || !hex64_ok(e->prev) || !e->hash ||
	    strcmp(e->hash, got)) {
		*why = "a required field is missing";
		return -EBADMSG;
	}
	return 0;
}

static void say(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *out, const char *fmt, ...)
{
	if (!out)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
}

/* Checks one parsed entry against the chain so far; 0 or 1 (said why). */
static int chain_step(const struct adm_audit_entry *e, const struct adm_audit_end *end,
		      uint64_t lineno, FILE *out)
{
	uint64_t want = end->seq + 1;
	if (e->seq < want) {
		say(out,
		    "audit log broken at line %llu: entry %llu comes after entry %llu "
		    "(entries were reordered or repeated)\n",
		    (unsigned long long)lineno, (unsigned long long)e->seq,
		    (unsigned long long)end->seq);
		return 1;
	}
	if (e->seq > want) {
		say(out,
		    "audit log broken at line %llu: entry %llu follows entry %llu "
		    "(entries %llu to %llu were removed)\n",
		    (unsigned long long)lineno, (unsigned long long)e->seq,
		    (unsigned long long)end->seq, (unsigned long long)want,
		    (unsigned long long)e->seq - 1);
		return 1;
	}
	if (strcmp(e->prev, end->hash)) {
		say(out,
		    "audit log broken at line %llu: entry %llu does not follow the entry "
		    "before it (its prev hash differs: an entry before it was replaced, or "
		    "it was moved)\n",
		    (unsigned long long)lineno, (unsigned long long)e->seq);
		return 1;
	}
	return 0;
}

int adm_audit_read_fd(int log_fd, FILE *out,
		      int (*each)(const struct adm_audit_entry *e, void *ctx), void *ctx,
		      struct adm_audit_end *endp)
{
	struct adm_audit_end end = {.seq = 0};
	memcpy(end.hash, ZERO_HASH, 65);
	memcpy(end.prev, ZERO_HASH, 65);
	size_t cap = 2 * ADM_AUDIT_LINE_MAX;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	char last_time[64] = "";
	size_t have = 0;
	uint64_t lineno = 0;
	bool eof = false;
	int r = 0;
	while (r == 0) {
		char *nl = memchr(buf, '\n', have);
		if (!nl && !eof && have < cap) {
			ssize_t n = read(log_fd, buf + have, cap - have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = -errno;
				break;
			}
			if (n == 0)
				eof = true;
			have += (size_t)n;
			continue;
		}
		if (!nl) {
			if (have == 0)
				break;
			if (eof && have < ADM_AUDIT_LINE_MAX) {
				end.torn = true; /* an append that never finished */
				break;
			}
			say(out, "audit log broken at line %llu: the line is too long\n",
			    (unsigned long long)lineno + 1);
			r = 1;
			break;
		}
		lineno++;
		size_t len = (size_t)(nl - buf);
		struct adm_audit_entry e;
		const char *why;
		int pr = adm_audit_parse_line(buf, len, &e, &why);
		if (pr == -ENOMEM) {
			r = pr;
		} else if (pr < 0) {
			if (end.seq)
				say(out, "audit log broken at line %llu (after entry %llu): %s\n",
				    (unsigned long long)lineno, (unsigned long long)end.seq, why);
			else
				say(out, "audit log broken at line %llu (the first entry): %s\n",
				    (unsigned long long)lineno, why);
			r = 1;
		} else if ((r = chain_step(&e, &end, lineno, out)) == 0) {
			if (last_time[0] && strcmp(e.time, last_time) < 0)
				say(out,
				    "note: entry %llu's time (%s) is earlier than the entry "
				    "before it (%s): the PC's clock was changed\n",
				    (unsigned long long)e.seq, e.time, last_time);
			snprintf(last_time, sizeof(last_time), "%s", e.time);
			memcpy(end.prev, end.hash, 65);
			end.seq = e.seq;
			memcpy(end.hash, e.hash, 65);
			end.good_bytes += len + 1;
			if (each)
				r = each(&e, ctx);
		}
		adm_audit_entry_clear(&e);
		have -= len + 1;
		memmove(buf, nl + 1, have);
	}
	free(buf);
	if (endp)
		*endp = end;
	return r;
}

/* ---- the head record ---- */

/* 0 and *seq, hash; 1 if there is none; -EBADMSG if damaged; -errno. */
static int head_read(int dirfd, uint64_t *seq, char hash[65])
{
	int fd = open_regular(dirfd, ADM_AUDIT_HEAD, O_RDONLY, 0);
	if (fd == -ENOENT)
		return 1;
	if (fd < 0)
		return fd == -EINVAL || fd == -ELOOP ? -EBADMSG : fd;
	char b[256];
	ssize_t n = read(fd, b, sizeof(b) - 1);
	int r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	b[n] = '\0';
	json_object *o = json_tokener_parse(b), *v;
	r = -EBADMSG;
	if (o && json_object_object_get_ex(o, "seq", &v) && json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) >= 1) {
		*seq = (uint64_t)json_object_get_int64(v);
		if (json_object_object_get_ex(o, "hash", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    hex64_ok(json_object_get_string(v))) {
			memcpy(hash, json_object_get_string(v), 65);
			r = 0;
		}
	}
	json_object_put(o);
	return r;
}

static int write_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int head_write(int dirfd, uint64_t seq, const char *hash)
{
	char b[128];
	int n = snprintf(b, sizeof(b), "{\"seq\":%llu,\"hash\":\"%s\"}\n",
			 (unsigned long long)seq, hash);
	if (unlinkat(dirfd, HEAD_TMP, 0) < 0 && errno != ENOENT)
		return -errno;
	int fd = openat(dirfd, HEAD_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = write_all(fd, b, (size_t)n);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, HEAD_TMP, dirfd, ADM_AUDIT_HEAD) < 0)
		r = -errno;
	if (r == 0 && fsync(dirfd) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dirfd, HEAD_TMP, 0);
	return r;
}

/* ---- appending ---- */

int adm_audit_open(int archive_fd, struct adm_audit **out)
{
	*out = NULL;
	struct adm_audit *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->fd = -1;
	a->dirfd = fcntl(archive_fd, F_DUPFD_CLOEXEC, 3);
	int r = a->dirfd < 0 ? -errno : 0;
	while (r == 0) {
		a->fd = open_regular(a->dirfd, ADM_AUDIT_LOG, O_RDWR | O_APPEND, 0);
		if (a->fd >= 0)
			break;
		if (a->fd != -ENOENT) {
			r = a->fd == -EINVAL || a->fd == -ELOOP ? -EBADMSG : a->fd;
			break;
		}
		uint64_t seq;
		char hash[65];
		int h = head_read(a->dirfd, &seq, hash);
		if (h <= 0) { /* a head but no log: the log was removed */
			r = h < 0 && h != -EBADMSG ? h : -EBADMSG;
			break;
		}
		a->fd = open_regular(a->dirfd, ADM_AUDIT_LOG, O_RDWR | O_APPEND | O_CREAT | O_EXCL,
				     0600);
		if (a->fd >= 0) {
			r = fsync(a->dirfd) < 0 ? -errno : 0;
			break;
		}
		if (a->fd != -EEXIST) {
			r = a->fd;
			break;
		}
	}
	if (r < 0) {
		adm_audit_close(a);
		return r;
	}
	*out = a;
	return 0;
}

void adm_audit_close(struct adm_audit *a)
{
	if (!a)
		return;
	if (a->fd >= 0)
		close(a->fd);
	if (a->dirfd >= 0)
		close(a->dirfd);
	free(a);
}

/* The last entry of the log (read from its end) into *end, checked against
 * the head record; a torn tail the head never recorded is cut off. */
static int find_tail(struct adm_audit *a, struct adm_audit_end *end)
{
	memset(end, 0, sizeof(*end));
	memcpy(end->hash, ZERO_HASH, 65);
	memcpy(end->prev, ZERO_HASH, 65);
	struct stat st;
	if (fstat(a->fd, &st) < 0)
		return -errno;
	uint64_t size = (uint64_t)st.st_size;
	uint64_t hseq = 0;
	char hhash[65] = ZERO_HASH;
	int r = head_read(a->dirfd, &hseq, hhash);
	if (r < 0)
		return r;
	if (size > 0) {
		size_t win = size < 2 * ADM_AUDIT_LINE_MAX ? (size_t)size : 2 * ADM_AUDIT_LINE_MAX;
		char *b = malloc(win + 1);
		if (!b)
			return -ENOMEM;
		ssize_t n = pread(a->fd, b, win, (off_t)(size - win));
		if (n != (ssize_t)win) {
			free(b);
			return n < 0 ? -errno : -EIO;
		}
		size_t stop = win; /* end of the last complete line, within b */
		while (stop > 0 && b[stop - 1] != '\n')
			stop--;
		end->torn = stop < win;
		end->good_bytes = size - (win - stop);
		if (stop > 0) {
			size_t start = stop - 1;
			while (start > 0 && b[start - 1] != '\n')
				start--;
			if (start == 0 && win < size) {
				free(b);
				return -EBADMSG; /* a line longer than any entry */
			}
			struct adm_audit_entry e;
			const char *why;
			r = adm_audit_parse_line(b + start, stop - 1 - start, &e, &why);
			if (r == 0) {
				end->seq = e.seq;
				memcpy(end->hash, e.hash, 65);
				memcpy(end->prev, e.prev, 65);
			}
			adm_audit_entry_clear(&e);
		} else if (win < size) {
			r = -EBADMSG;
		}
		free(b);
		if (r < 0)
			return r;
	}
	bool same = end->seq == hseq && !strcmp(end->hash, hhash);
	bool head_behind = end->seq == hseq + 1 && !strcmp(end->prev, hhash);
	if (!same && !head_behind)
		return -EBADMSG;
	if (end->torn && ftruncate(a->fd, (off_t)end->good_bytes) < 0)
		return -errno;
	return 0;
}

static int utc_now(char out[32])
{
	struct timespec ts;
	struct tm tm;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !gmtime_r(&ts.tv_sec, &tm))
		return -errno;
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return 0;
}

static int add_str(json_object *o, const char *key, const char *v)
{
	if (!v)
		return 0;
	if (strlen(v) > ADM_AUDIT_FIELD_MAX)
		return -E2BIG;
	json_object *s = json_object_new_string(v);
	if (!s || json_object_object_add(o, key, s) < 0) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

static _Thread_local const char *default_actor;

const char *adm_audit_default_actor(const char *actor)
{
	const char *was = default_actor;
	default_actor = actor;
	return was;
}

/* The entry's line, without its hash member and closing brace. */
static int compose(json_object *o, uint64_t seq, const char *actor, const char *action,
		   const char *box, const char *recording, const char *receipt, const char *detail,
		   const char *prev)
{
	char when[32], name[64];
	uid_t uid = geteuid();
	struct passwd pw, *res = NULL;
	char pwbuf[1024];
	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res)
		snprintf(name, sizeof(name), "uid %lu", (unsigned long)uid);
	else
		snprintf(name, sizeof(name), "%s", res->pw_name);
	int r = utc_now(when);
	if (r < 0)
		return r;
	json_object *n = json_object_new_int64((int64_t)seq);
	if (!n || json_object_object_add(o, "seq", n) < 0) {
		json_object_put(n);
		return -ENOMEM;
	}
	n = json_object_new_int64((int64_t)uid);
	if (!n || json_object_object_add(o, "uid", n) < 0) {
		json_object_put(n);
		return -ENOMEM;
	}
	const char *sudo = getenv("SUDO_USER");
	if ((r = add_str(o, "time", when)) || (r = add_str(o, "os_user", name)) ||
	    (r = add_str(o, "sudo_user", sudo && sudo[0] ? sudo : NULL)) ||
	    (r = add_str(o, "actor", actor ? actor : default_actor ? default_actor : name)) ||
	    (r = add_str(o, "action", action)) || (r = add_str(o, "box", box)) ||
	    (r = add_str(o, "recording", recording)) || (r = add_str(o, "receipt", receipt)) ||
	    (r = add_str(o, "detail", detail)) || (r = add_str(o, "prev", prev)))
		return r;
	return 0;
}

int adm_audit_add(struct adm_audit *a, const char *actor, const char *action, const char *box,
		  const char *recording, const char *receipt, const char *detail)
{
	if (!a || !action || !action[0])
		return -EINVAL;
	while (flock(a->fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	struct adm_audit_end end;
	json_object *o = NULL;
	char *line = NULL;
	int r = find_tail(a, &end);
	if (r < 0)
		goto out_unlock;
	o = json_object_new_object();
	if (!o) {
		r = -ENOMEM;
		goto out_unlock;
	}
	r = compose(o, end.seq + 1, actor, action, box, recording, receipt, detail, end.hash);
	if (r < 0)
		goto out_json;
	size_t n;
	const char *js = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (!js || n < 2 || js[n - 1] != '}') {
		r = -ENOMEM;
		goto out_json;
	}
	n--; /* without the closing brace */
	if (n + TAIL_LEN + 1 >= ADM_AUDIT_LINE_MAX) {
		r = -E2BIG;
		goto out_json;
	}
	line = malloc(n + TAIL_LEN + 2);
	if (!line) {
		r = -ENOMEM;
		goto out_json;
	}
	memcpy(line, js, n);
	char hex[65];
	hash_hex(line, n, hex);
	memcpy(line + n, HASH_KEY, HASH_KEY_LEN);
	memcpy(line + n + HASH_KEY_LEN, hex, 64);
	memcpy(line + n + HASH_KEY_LEN + 64, "\"}\n", 3);
	r = write_all(a->fd, line, n + TAIL_LEN + 1);
	if (r == 0 && fsync(a->fd) < 0)
		r = -errno;
	if (r < 0) {
		/* a part written stays a torn tail that the next append cuts off */
		goto out_line;
	}
	r = head_write(a->dirfd, end.seq + 1, hex);
out_line:
	free(line);
out_json:
	json_object_put(o);
out_unlock:
	flock(a->fd, LOCK_UN);
	return r;
}

/* ---- verifying ---- */

int adm_audit_verify(int archive_fd, FILE *out)
{
	uint64_t hseq = 0;
	char hhash[65] = ZERO_HASH;
	int h = head_read(archive_fd, &hseq, hhash);
	if (h < 0 && h != -EBADMSG)
		return h;
	int fd = adm_audit_open_read(archive_fd);
	if (fd == -ENOENT) {
		if (h == 1) {
			say(out, "audit log: none yet (nothing recorded)\n");
			return 0;
		}
		say(out, "audit log broken: %s was removed (its head record remains%s)\n",
		    ADM_AUDIT_LOG, h == 0 ? "" : ", damaged");
		return 1;
	}
	if (fd < 0) {
		if (fd == -EINVAL || fd == -ELOOP) {
			say(out, "audit log broken: %s is not a regular file\n", ADM_AUDIT_LOG);
			return 1;
		}
		return fd;
	}
	struct adm_audit_end end;
	int r = adm_audit_read_fd(fd, out, NULL, NULL, &end);
	close(fd);
	if (r != 0)
		return r;
	if (h == -EBADMSG) {
		say(out, "audit log broken: its head record %s is damaged (the log's %llu "
			 "entries chain correctly)\n",
		    ADM_AUDIT_HEAD, (unsigned long long)end.seq);
		return 1;
	}
	if (h == 1 && end.seq > 1) {
		say(out, "audit log broken: its head record %s was removed (the log's end "
			 "cannot be checked)\n", ADM_AUDIT_HEAD);
		return 1;
	}
	if (hseq > end.seq) {
		say(out, "audit log broken after entry %llu: the log was cut (%llu entries were "
			 "written; entries %llu to %llu are gone)\n",
		    (unsigned long long)end.seq, (unsigned long long)hseq,
		    (unsigned long long)end.seq + 1, (unsigned long long)hseq);
		return 1;
	}
	if (hseq == end.seq && strcmp(hhash, end.hash)) {
		say(out, "audit log broken at entry %llu: it is not the entry that was written "
			 "(the head record's hash differs: the log was rewritten)\n",
		    (unsigned long long)end.seq);
		return 1;
	}
	if (hseq + 1 == end.seq && strcmp(hhash, end.prev)) {
		say(out, "audit log broken at entry %llu: it is not the entry that was written "
			 "(the head record's hash differs: the log was rewritten)\n",
		    (unsigned long long)hseq);
		return 1;
	}
	if (hseq + 1 < end.seq) {
		say(out, "audit log broken after entry %llu: entries %llu to %llu were added "
			 "without their head record (not written by diaryroom-admin)\n",
		    (unsigned long long)hseq, (unsigned long long)hseq + 1,
		    (unsigned long long)end.seq);
		return 1;
	}
	if (hseq + 1 == end.seq && h == 0)
		say(out, "note: the last entry's head record was not updated (an append was "
			 "interrupted after its entry was written)\n");
	if (end.torn)
		say(out, "note: an unfinished entry after entry %llu was never completed (an "
			 "append was interrupted); the next entry replaces it\n",
		    (unsigned long long)end.seq);
	say(out, "audit log intact: %llu entries; last hash %s\n", (unsigned long long)end.seq,
	    end.hash);
	return 0;
}
