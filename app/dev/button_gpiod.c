/* SPDX-License-Identifier: MIT */
/*
 * The button on a GPIO line (libgpiod 1.6, the kernel's v1 character-device
 * uAPI). The chip is found by its label, the line by name or offset; both
 * edges are requested with the consumer "diaryroom", active-low and bias as
 * the board says. Events are read non-blocking from the line's event fd.
 *
 * Timestamps: since Linux 5.7 the v1 uAPI stamps line events with
 * ktime_get_ns(), i.e. CLOCK_MONOTONIC (before, CLOCK_REALTIME). Bookworm's
 * 6.1 kernels are monotonic, but an event stamp that is implausible as a
 * monotonic time (more than a second in the future) is taken as realtime and
 * converted, so an old kernel still gives usable times.
 *
 * Edge direction: with both edges requested the kernel reads the line value
 * after the interrupt (active-low applied), so RISING means "now pressed".
 * Chatter can therefore show as two rising edges in a row; the debouncer
 * ignores the repeated level.
 *
 * This backend can't be exercised on a host without a GPIO chip; the real
 * chip test is the emulated board's (board/qemu-virt, PL061 line 3).
 */
#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "button_impl.h"
#include "dev_util.h"
#include "util/conf.h"

#define CONSUMER "diaryroom"

struct gpiod_button {
	struct gpiod_chip *chip;
	struct gpiod_line *line;
	int fd;
};

static uint64_t ts_us(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000u + (uint64_t)ts->tv_nsec / 1000u;
}

static uint64_t event_mono_us(const struct timespec *ev)
{
	struct timespec mono, real;
	uint64_t t = ts_us(ev), m, rl;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	m = ts_us(&mono);
	if (t <= m + 1000000u)
		return t;
	clock_gettime(CLOCK_REALTIME, &real);
	rl = ts_us(&real);
	/* A realtime stamp: shift it onto the monotonic clock. */
	return t >= rl - m ? t - (rl - m) : m;
}

static int gpiod_read_raw(void *be, struct dr_btn_raw *raw, size_t max)
{
	struct gpiod_button *g = be;
	struct gpiod_line_event ev[16];
	int n;

	if (max > 16)
		max = 16;
	n = gpiod_line_event_read_fd_multiple(g->fd, ev, (unsigned)max);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return errno == ENODEV || errno == EIO ? -ENODEV : -errno;
	}
	for (int i = 0; i < n; i++) {
		raw[i].pressed = ev[i].event_type == GPIOD_LINE_EVENT_RISING_EDGE;
		raw[i].t_us = event_mono_us(&ev[i].ts);
	}
	return n;
}

static bool gpiod_done(const void *be)
{
	(void)be;
	return false;
}

static void gpiod_destroy(void *be)
{
	struct gpiod_button *g = be;

	if (!g)
		return;
	if (g->line)
		gpiod_line_release(g->line);
	if (g->chip)
		gpiod_chip_close(g->chip);
	free(g);
}

static const struct dr_button_ops gpiod_ops = {
	.name = "gpiod",
	.read_raw = gpiod_read_raw,
	.done = gpiod_done,
	.destroy = gpiod_destroy,
};

static int bias_flags(const char *bias, int *flags)
{
	if (!strcmp(bias, "as-is"))
		*flags = 0;
	else if (!strcmp(bias, "pull-up"))
		*flags = GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
	else if (!strcmp(bias, "pull-down"))
		*flags = GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
	else if (!strcmp(bias, "disable"))
		*flags = GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
	else
		return -EINVAL;
	return 0;
}

int dr_button_gpiod_open(const struct dr_conf *board, int epfd, void **be,
			 const struct dr_button_ops **ops, char *err, size_t errlen)
{
	struct gpiod_line_request_config cfg = {.consumer = CONSUMER,
						.request_type = GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES};
	struct epoll_event ev = {.events = EPOLLIN};
	const char *chip, *line, *bias;
	struct gpiod_button *g;
	char msg[512] = "";
	bool active_low;
	unsigned offset;
	int r, bflags, fl;

	chip = dr_conf_get(board, "button", "chip");
	line = dr_conf_get(board, "button", "line");
	if (!chip || !*chip || !line || !*line) {
		dr_dev_err(err, errlen, "board.conf: [button] %s is missing (needed by backend = gpiod)",
			   !chip || !*chip ? "chip" : "line");
		return -EINVAL;
	}
	r = dr_conf_get_bool(board, "button", "active_low", false, &active_low, msg, sizeof(msg));
	if (r < 0) {
		dr_dev_err(err, errlen, "%s", msg);
		return r;
	}
	bias = dr_conf_get_str(board, "button", "bias", "as-is");
	if (bias_flags(bias, &bflags) < 0) {
		dr_dev_err(err, errlen,
			   "board.conf: [button] bias = %s: must be pull-up, pull-down, disable or as-is",
			   bias);
		return -EINVAL;
	}
	cfg.flags = bflags | (active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0);

	g = calloc(1, sizeof(*g));
	if (!g) {
		dr_dev_err(err, errlen, "button: out of memory");
		return -ENOMEM;
	}
	errno = 0;
	g->chip = gpiod_chip_open_by_label(chip);
	if (!g->chip) {
		r = errno == ENOENT || !errno ? -ENODEV : -errno;
		if (r == -ENODEV)
			dr_dev_err(err, errlen, "board.conf: [button] chip \"%s\" not found", chip);
		else
			dr_dev_err(err, errlen, "board.conf: [button] chip \"%s\": %s", chip, strerror(-r));
		goto err_destroy;
	}
	if (dr_dev_is_offset(line, &offset))
		g->line = gpiod_chip_get_line(g->chip, offset);
	else
		g->line = gpiod_chip_find_line(g->chip, line);
	if (!g->line) {
		r = -ENODEV;
		dr_dev_err(err, errlen, "board.conf: [button] line \"%s\" not found on chip \"%s\"", line,
			   chip);
		goto err_destroy;
	}
	if (gpiod_line_request(g->line, &cfg, 0) < 0) {
		r = -errno;
		dr_dev_err(err, errlen, "button: cannot request line \"%s\" on chip \"%s\": %s%s", line,
			   chip, strerror(errno),
			   errno == EBUSY ? " (another program holds it)" : "");
		/* Not requested: gpiod_line_release must not be called. */
		g->line = NULL;
		goto err_destroy;
	}
	g->fd = gpiod_line_event_get_fd(g->line);
	fl = g->fd < 0 ? -1 : fcntl(g->fd, F_GETFL);
	if (fl < 0 || fcntl(g->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		r = -EIO;
		dr_dev_err(err, errlen, "button: line \"%s\": no event fd", line);
		goto err_destroy;
	}
	ev.data.fd = g->fd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, g->fd, &ev) < 0) {
		r = -errno;
		dr_dev_err(err, errlen, "button: epoll: %s", strerror(errno));
		goto err_destroy;
	}
	*be = g;
	*ops = &gpiod_ops;
	return 0;

err_destroy:
	gpiod_destroy(g);
	return r;
}
