/* SPDX-License-Identifier: MIT */
#include "dev_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/conf.h"

void dr_dev_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int dr_dev_resolve(const char *dir, const char *path, char *out, size_t outlen)
{
	int n;

	if (path[0] == '/' || !dir || !dir[0])
		n = snprintf(out, outlen, "%s", path);
	else
		n = snprintf(out, outlen, "%s/%s", dir, path);
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

int dr_dev_check_keys(const struct dr_conf *board, const char *section, const char *const *known,
		      const char *prefix, char *err, size_t errlen)
{
	char msg[512] = "";
	int r;

	r = dr_conf_check_keys(board, section, known, msg, sizeof(msg));
	if (r < 0)
		dr_dev_err(err, errlen, "%s%s", prefix, msg[0] ? msg : "unknown key");
	return r;
}

int dr_dev_audio_conf(const struct dr_conf *board, long *period_ms, char *err, size_t errlen)
{
	static const char *const known[] = {"capture",	     "playback",      "capture_device",
					    "playback_device", "capture_file", "capture_live", "playback_file",
					    "period_ms",      NULL};
	char msg[512] = "";
	int r;

	r = dr_dev_check_keys(board, "audio", known, "audio: ", err, errlen);
	if (r < 0)
		return r;
	r = dr_conf_get_int(board, "audio", "period_ms", 10, 2, 200, period_ms, msg, sizeof(msg));
	if (r < 0)
		dr_dev_err(err, errlen, "audio: %s", msg);
	return r;
}

bool dr_dev_is_offset(const char *s, unsigned *offset)
{
	unsigned long v = 0;

	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return false;
	}
	*offset = (unsigned)v;
	return true;
}

uint64_t dr_dev_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void dr_dev_sleep_until_ns(uint64_t t_ns)
{
	struct timespec ts = {.tv_sec = (time_t)(t_ns / 1000000000u),
			      .tv_nsec = (long)(t_ns % 1000000000u)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}
