/* SPDX-License-Identifier: MIT */
/*
 * dr_log: one line per message on stderr, "diaryroomd[module] level: text",
 * written with a single write(2) so concurrent threads never interleave.
 *
 * Rate limit: per module, at most `burst` messages (default 10) in each
 * window of `interval` (default 10 s, CLOCK_MONOTONIC). Messages beyond that
 * are counted, not printed; the first message after the window ends is
 * preceded by "diaryroomd[module] warning: N messages suppressed".
 *
 * This file holds the only mutable static state in app/: the level and the
 * rate-limit table. A logger is process-wide by nature (stderr is), and the
 * DR_LOG_* macros must work anywhere without a handle; a mutex guards it.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DR_LOG_MODULES 32
#define DR_LOG_MODULE_LEN 32
#define DR_LOG_LINE 1024

struct dr_log_module {
	char name[DR_LOG_MODULE_LEN];
	uint64_t window_start_ms;
	unsigned printed;
	unsigned long suppressed;
};

static struct {
	pthread_mutex_t lock;
	enum dr_log_level level;
	unsigned burst;
	uint32_t interval_ms;
	struct dr_log_module mods[DR_LOG_MODULES];
	unsigned nmods;
} dr_log_state = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.level = DR_LOG_LEVEL_INFO,
	.burst = 10,
	.interval_ms = 10000,
};

static uint64_t dr_log_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void dr_log_set_level(enum dr_log_level max)
{
	pthread_mutex_lock(&dr_log_state.lock);
	dr_log_state.level = max;
	pthread_mutex_unlock(&dr_log_state.lock);
}

void dr_log_set_ratelimit(unsigned burst, uint32_t interval_ms)
{
	pthread_mutex_lock(&dr_log_state.lock);
	dr_log_state.burst = burst;
	dr_log_state.interval_ms = interval_ms;
	for (unsigned i = 0; i < dr_log_state.nmods; i++) {
		dr_log_state.mods[i].printed = 0;
		dr_log_state.mods[i].window_start_ms = 0;
	}
	pthread_mutex_unlock(&dr_log_state.lock);
}

static const char *dr_log_level_name(enum dr_log_level lvl)
{
	switch (lvl) {
	case DR_LOG_LEVEL_ERR:
		return "error";
	case DR_LOG_LEVEL_WARN:
		return "warning";
	case DR_LOG_LEVEL_INFO:
		return "info";
	case DR_LOG_LEVEL_DEBUG:
		return "debug";
	}
	return "log";
}

/* Called with the lock held. The table is small and fixed; once it is full,
 * further modules share its last slot (and therefore its limit). */
static struct dr_log_module *dr_log_module(const char *name)
{
	for (unsigned i = 0; i < dr_log_state.nmods; i++)
		if (strncmp(dr_log_state.mods[i].name, name, DR_LOG_MODULE_LEN - 1) == 0)
			return &dr_log_state.mods[i];
	if (dr_log_state.nmods == DR_LOG_MODULES)
		return &dr_log_state.mods[DR_LOG_MODULES - 1];
	struct dr_log_module *m = &dr_log_state.mods[dr_log_state.nmods++];
	snprintf(m->name, sizeof(m->name), "%s", name);
	return m;
}

static void dr_log_write(const char *line, size_t len)
{
	while (len) {
		ssize_t n = write(STDERR_FILENO, line, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere left to report it */
		line += n;
		len -= (size_t)n;
	}
}

void dr_log_printf(enum dr_log_level lvl, const char *module, const char *fmt, ...)
{
	if (!module)
		module = "?";
	int saved_errno = errno;
	pthread_mutex_lock(&dr_log_state.lock);
	if (lvl > dr_log_state.level)
		goto out_unlock;

	struct dr_log_module *m = dr_log_module(module);
	uint64_t now = dr_log_now_ms();
	if (dr_log_state.burst) {
		if (m->printed == 0 || now - m->window_start_ms >= dr_log_state.interval_ms) {
			if (m->suppressed) {
				char note[160];
				int nl = snprintf(note, sizeof(note),
						  "diaryroomd[%s] warning: %lu messages suppressed\n",
						  module, m->suppressed);
				if (nl > 0)
					dr_log_write(note, (size_t)nl < sizeof(note) ? (size_t)nl
										   : sizeof(note) - 1);
				m->suppressed = 0;
			}
			m->window_start_ms = now;
			m->printed = 0;
		}
		if (m->printed >= dr_log_state.burst) {
			m->suppressed++;
			goto out_unlock;
		}
		m->printed++;
	}

	char line[DR_LOG_LINE];
	int hl = snprintf(line, sizeof(line), "diaryroomd[%s] %s: ", module, dr_log_level_name(lvl));
	if (hl < 0 || (size_t)hl >= sizeof(line) - 2)
		goto out_unlock;
	va_list ap;
	va_start(ap, fmt);
	errno = saved_errno; /* so %m works */
	int ml = vsnprintf(line + hl, sizeof(line) - (size_t)hl - 1, fmt, ap);
	va_end(ap);
	if (ml < 0)
		goto out_unlock;
	size_t len = (size_t)hl + (size_t)ml;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2; /* truncated */
	while (len > (size_t)hl && line[len - 1] == '\n')
		len--;
	/* One message, one line: control characters would forge or split lines. */
	for (size_t i = (size_t)hl; i < len; i++)
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
			line[i] = ' ';
	line[len++] = '\n';
	dr_log_write(line, len);

out_unlock:
	pthread_mutex_unlock(&dr_log_state.lock);
	errno = saved_errno;
}

int dr_errf(char *err, size_t errlen, int r, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}
