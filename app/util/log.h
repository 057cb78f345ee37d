/* SPDX-License-Identifier: MIT */
/*
 * dr_log: human-readable diagnostics to stderr (journald/syslog pick them up on
 * the device), with a per-module prefix and a rate limit so a failing device
 * cannot flood the log.
 *
 *   DR_LOG_ERR("capture", "cannot open %s: %s", dev, strerror(-r));
 *
 * Library modules (everything under app/ except app/daemon) log at most at
 * debug level; they report errors by returning negative errno and filling a
 * message buffer. The daemon decides what to tell the user.
 */
#ifndef DR_LOG_H
#define DR_LOG_H

#include <stddef.h>
#include <stdint.h>

enum dr_log_level { DR_LOG_LEVEL_ERR = 3, DR_LOG_LEVEL_WARN = 4, DR_LOG_LEVEL_INFO = 6, DR_LOG_LEVEL_DEBUG = 7 };

void dr_log_set_level(enum dr_log_level max);
/* Rate limit, per module: at most `burst` messages in each `interval_ms`
 * window, then one "N messages suppressed" line when the next window opens.
 * Default 10 per 10000 ms; burst 0 turns the limit off. */
void dr_log_set_ratelimit(unsigned burst, uint32_t interval_ms);
void dr_log_printf(enum dr_log_level lvl, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Formats a message into the caller's buffer `err` (nothing if err is NULL
 * or errlen 0) and returns `r`: `return dr_errf(err, n, -EINVAL, "...")`.
 * Any thread. */
int dr_errf(char *err, size_t errlen, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define DR_LOG_ERR(mod, ...) dr_log_printf(DR_LOG_LEVEL_ERR, (mod), __VA_ARGS__)
#define DR_LOG_WARN(mod, ...) dr_log_printf(DR_LOG_LEVEL_WARN, (mod), __VA_ARGS__)
#define DR_LOG_INFO(mod, ...) dr_log_printf(DR_LOG_LEVEL_INFO, (mod), __VA_ARGS__)
#define DR_LOG_DEBUG(mod, ...) dr_log_printf(DR_LOG_LEVEL_DEBUG, (mod), __VA_ARGS__)

#endif
