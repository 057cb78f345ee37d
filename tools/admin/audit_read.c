/* SPDX-License-Identifier: MIT */
/*
 * The audit log read and verified: parsing a line, walking the chain,
 * `diaryroom-admin audit --verify`. See audit.h.
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
	adm_audit_hash_hex(line, len - TAIL_LEN, want);
	if (!adm_audit_hex64_ok(got) || strcmp(want, got)) {
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
	if (!e->time || !e->action || !e->action[0] || !adm_audit_hex64_ok(e->prev) || !e->hash ||
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

/* ---- verifying ---- */

int adm_audit_verify(int archive_fd, FILE *out)
{
	uint64_t hseq = 0;
	char hhash[65] = ZERO_HASH;
	int h = adm_audit_head_read(archive_fd, &hseq, hhash);
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
