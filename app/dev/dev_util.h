/* SPDX-License-Identifier: MIT */
/* Private to app/dev: board-file and clock helpers shared by the devices. */
#ifndef DR_DEV_UTIL_H
#define DR_DEV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dr_conf;

/* snprintf into err when err/errlen are usable. */
void dr_dev_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* path as is if absolute (or dir is NULL/empty), else dir/path.
 * -ENAMETOOLONG if it does not fit. */
int dr_dev_resolve(const char *dir, const char *path, char *out, size_t outlen);
/* dr_conf_check_keys, with the message prefixed by `prefix`. */
int dr_dev_check_keys(const struct dr_conf *board, const char *section, const char *const *known,
		      const char *prefix, char *err, size_t errlen);
/* Checks the [audio] keys and reads period_ms (default 10, 2..200). */
int dr_dev_audio_conf(const struct dr_conf *board, long *period_ms, char *err, size_t errlen);
/* true if s is a non-empty string of decimal digits (a GPIO line offset). */
bool dr_dev_is_offset(const char *s, unsigned *offset);

/* CLOCK_MONOTONIC in ns; sleep until an absolute CLOCK_MONOTONIC time. */
uint64_t dr_dev_mono_ns(void);
void dr_dev_sleep_until_ns(uint64_t t_ns);

#endif
