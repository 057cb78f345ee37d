/* SPDX-License-Identifier: MIT */
/*
 * The audit log appended to: one writer (the archive's lock), its tail
 * found and checked before each entry, the head record moved after it.
 * See audit.h.
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
#include "audit_priv.h"

struct adm_audit {
	int dirfd, fd;
};

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
		a->fd = adm_audit_open_regular(a->dirfd, ADM_AUDIT_LOG, O_RDWR | O_APPEND, 0);
		if (a->fd >= 0)
			break;
		if (a->fd != -ENOENT) {
			r = a->fd == -EINVAL || a->fd == -ELOOP ? -EBADMSG : a->fd;
			break;
		}
		uint64_t seq;
		char hash[65];
		int h = adm_audit_head_read(a->dirfd, &seq, hash);
		if (h <= 0) { /* a head but no log: the log was removed */
			r = h < 0 && h != -EBADMSG ? h : -EBADMSG;
			break;
		}
		a->fd = adm_audit_open_regular(a->dirfd, ADM_AUDIT_LOG, O_RDWR | O_APPEND | O_CREAT | O_EXCL,
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
	int r = adm_audit_head_read(a->dirfd, &hseq, hhash);
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
	adm_audit_hash_hex(line, n, hex);
	memcpy(line + n, HASH_KEY, HASH_KEY_LEN);
	memcpy(line + n + HASH_KEY_LEN, hex, 64);
	memcpy(line + n + HASH_KEY_LEN + 64, "\"}\n", 3);
	r = adm_audit_write_all(a->fd, line, n + TAIL_LEN + 1);
	if (r == 0 && fsync(a->fd) < 0)
		r = -errno;
	if (r < 0) {
		/* a part written stays a torn tail that the next append cuts off */
		goto out_line;
	}
	r = adm_audit_head_write(a->dirfd, end.seq + 1, hex);
out_line:
	free(line);
out_json:
	json_object_put(o);
out_unlock:
	flock(a->fd, LOCK_UN);
	return r;
}
