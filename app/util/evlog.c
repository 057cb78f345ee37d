/* SPDX-License-Identifier: MIT */
/*
 * dr_evlog: JSON lines, each written with one write(2) on an O_APPEND fd.
 */
#include "evlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct dr_evlog {
	int fd; /* -1: discard everything */
	pthread_mutex_t lock;
};

uint64_t dr_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t dr_mono_ms(void)
{
	return dr_mono_us() / 1000u;
}

int dr_evlog_open(const char *path, struct dr_evlog **out)
{
	struct dr_evlog *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->fd = -1;
	if (path && strcmp(path, "-") == 0)
		l->fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	else if (path)
		l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (path && l->fd < 0) {
		int e = errno;
		free(l);
		return -e;
	}
	int r = pthread_mutex_init(&l->lock, NULL);
	if (r != 0) {
		if (l->fd >= 0)
			close(l->fd);
		free(l);
		return -r;
	}
	*out = l;
	return 0;
}

void dr_evlog_free(struct dr_evlog *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF, so the
 * output is always valid UTF-8 and therefore valid JSON. */
static size_t dr_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

const char *dr_evlog_str(const char *s, char *buf, unsigned long buflen)
{
	if (!buf || buflen == 0)
		return buf;
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t left = strlen((const char *)p);
	while (left) {
		char tmp[8];
		const char *piece = tmp;
		size_t plen, consumed = 1;
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			plen = 2;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			tmp[0] = '\\';
			tmp[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			plen = 2;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			plen = 6;
		} else if (c < 0x80) {
			tmp[0] = (char)c;
			plen = 1;
		} else if ((consumed = dr_utf8_len(p, left)) != 0) {
			piece = (const char *)p;
			plen = consumed;
		} else {
			piece = "\\ufffd"; /* not UTF-8: the replacement character */
			plen = 6;
			consumed = 1;
		}
		if (o + plen >= buflen)
			break; /* truncate only between whole characters and escapes */
		memcpy(buf + o, piece, plen);
		o += plen;
		p += consumed;
		left -= consumed;
	}
	buf[o] = '\0';
	return buf;
}

static int dr_evlog_write(struct dr_evlog *l, const char *line, size_t len)
{
	int r = 0;
	pthread_mutex_lock(&l->lock);
	while (len) {
		ssize_t n = write(l->fd, line, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		line += n;
		len -= (size_t)n;
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

static int dr_evlog_vemit(struct dr_evlog *l, uint64_t t_us, const char *ev, const char *fields,
			  va_list ap) __attribute__((format(printf, 4, 0)));
static int dr_evlog_vemit(struct dr_evlog *l, uint64_t t_us, const char *ev, const char *fields,
			  va_list ap)
{
	if (!l || l->fd < 0)
		return 0;
	char evbuf[128];
	dr_evlog_str(ev, evbuf, sizeof(evbuf));
	char head[200];
	int hl = snprintf(head, sizeof(head), "{\"t_us\":%" PRIu64 ",\"ev\":\"%s\"", t_us, evbuf);
	if (hl < 0 || (size_t)hl >= sizeof(head))
		return -EINVAL;

	va_list ap2;
	va_copy(ap2, ap);
	int fl = fields ? vsnprintf(NULL, 0, fields, ap2) : 0;
	va_end(ap2);
	if (fl < 0)
		return -EINVAL;

	size_t total = (size_t)hl + (size_t)fl + 2; /* "}\n" */
	char stackbuf[1024];
	char *line = total + 1 <= sizeof(stackbuf) ? stackbuf : malloc(total + 1);
	if (!line)
		return -ENOMEM;
	memcpy(line, head, (size_t)hl);
	if (fields)
		vsnprintf(line + hl, (size_t)fl + 1, fields, ap);
	memcpy(line + hl + fl, "}\n", 3);
	int r = dr_evlog_write(l, line, total);
	if (line != stackbuf)
		free(line);
	return r;
}

int dr_evlog_emit(struct dr_evlog *l, const char *ev, const char *fields, ...)
{
	va_list ap;
	va_start(ap, fields);
	int r = dr_evlog_vemit(l, dr_mono_us(), ev, fields, ap);
	va_end(ap);
	return r;
}

int dr_evlog_emit_at(struct dr_evlog *l, uint64_t t_us, const char *ev, const char *fields, ...)
{
	va_list ap;
	va_start(ap, fields);
	int r = dr_evlog_vemit(l, t_us, ev, fields, ap);
	va_end(ap);
	return r;
}
