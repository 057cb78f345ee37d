/* SPDX-License-Identifier: MIT */
/*
 * The button, generic part: an epoll fd over the backend's fds and a timerfd
 * of our own; raw edges from the backend go through the debouncer.
 *
 * The debouncer (core/debounce.h) reports a change swallowed in its lock-out
 * only when the next raw edge arrives. A tap shorter than the lock-out with
 * nothing after it would leave the button "down" forever, so when the
 * debouncer holds such a change we arm our timerfd for the end of the
 * lock-out and then feed it the raw level at that time: the missed edge is
 * delivered at most debounce_ms late, stamped with the time it happened.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "button_impl.h"
#include "core/debounce.h"
#include "dev_util.h"
#include "util/conf.h"

#define OUT_MAX 64
#define RAW_BATCH 16

struct dr_button {
	const struct dr_button_ops *ops;
	void *be;
	int epfd;
	int tfd; /* debounce lock-out end, or "more edges queued" */
	struct dr_debounce deb;
	struct dr_button_edge out[OUT_MAX];
	size_t out_head, out_len;
};

static void out_push(struct dr_button *b, bool pressed, uint64_t t_us)
{
	if (b->out_len == OUT_MAX) {
		/* The loop is not reading: drop the oldest. */
		b->out_head = (b->out_head + 1) % OUT_MAX;
		b->out_len--;
	}
	b->out[(b->out_head + b->out_len) % OUT_MAX] =
		(struct dr_button_edge){.pressed = pressed, .t_us = t_us};
	b->out_len++;
}

static void feed(struct dr_button *b, bool pressed, uint64_t t_us)
{
	bool lv[2];
	uint64_t t[2];
	size_t n = dr_debounce_feed(&b->deb, pressed, t_us, lv, t);

	for (size_t i = 0; i < n; i++)
		out_push(b, lv[i], t[i]);
}

/* The lock-out is over and the debouncer still holds a swallowed change:
 * the raw level now differs from the debounced one. Feed it as of the end of
 * the lock-out, but report it at the time it really happened, as the
 * debouncer itself does when a later edge reveals it. */
static void flush(struct dr_button *b, uint64_t end_us)
{
	uint64_t happened = b->deb.pending_us, t[2];
	bool lv[2];
	size_t n = dr_debounce_feed(&b->deb, !b->deb.level, end_us, lv, t);

	for (size_t i = 0; i < n; i++)
		out_push(b, lv[i], i + 1 == n ? happened : t[i]);
}

static void arm(struct dr_button *b, uint64_t t_us)
{
	struct itimerspec its = {0};

	if (t_us) {
		its.it_value.tv_sec = (time_t)(t_us / 1000000u);
		its.it_value.tv_nsec = (long)(t_us % 1000000u) * 1000;
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(b->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int dr_button_read(struct dr_button *b, struct dr_button_edge *edges, size_t max)
{
	struct dr_btn_raw raw[RAW_BATCH];
	uint64_t expiries, end_us, now_us;
	size_t n = 0;
	int r;

	if (read(b->tfd, &expiries, sizeof(expiries)) < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	/* Take raw edges while there is room for what they may produce. */
	while (OUT_MAX - b->out_len >= 2 * RAW_BATCH) {
		r = b->ops->read_raw(b->be, raw, RAW_BATCH);
		if (r < 0)
			return r;
		for (int i = 0; i < r; i++)
			feed(b, raw[i].pressed, raw[i].t_us);
		if (r < RAW_BATCH)
			break;
	}
	if (b->deb.pending) {
		end_us = b->deb.last_emit_us + b->deb.interval_us;
		now_us = dr_dev_mono_ns() / 1000u;
		if (now_us >= end_us)
			flush(b, end_us);
	}
	while (n < max && b->out_len) {
		edges[n++] = b->out[b->out_head];
		b->out_head = (b->out_head + 1) % OUT_MAX;
		b->out_len--;
	}
	if (b->out_len)
		arm(b, 1); /* long past: fires at once, so the fd stays readable */
	else if (b->deb.pending)
		arm(b, b->deb.last_emit_us + b->deb.interval_us);
	else
		arm(b, 0);
	return (int)n;
}

int dr_button_fd(const struct dr_button *b)
{
	return b->epfd;
}

bool dr_button_script_done(const struct dr_button *b)
{
	return b && b->ops->done(b->be) && !b->out_len && !b->deb.pending;
}

void dr_button_free(struct dr_button *b)
{
	if (!b)
		return;
	if (b->ops)
		b->ops->destroy(b->be);
	if (b->tfd >= 0)
		close(b->tfd);
	if (b->epfd >= 0)
		close(b->epfd);
	free(b);
}

static int open_backend(struct dr_button *b, const struct dr_conf *board, const char *board_dir,
			char *err, size_t errlen)
{
	const char *backend = dr_conf_get_str(board, "button", "backend", "gpiod");
	const char *file;
	char path[4096];
	bool script;

	if (!strcmp(backend, "gpiod"))
		return dr_button_gpiod_open(board, b->epfd, &b->be, &b->ops, err, errlen);
	script = !strcmp(backend, "script");
	if (!script && strcmp(backend, "fifo")) {
		dr_dev_err(err, errlen, "board.conf: [button] backend = %s: must be gpiod, script or fifo",
			   backend);
		return -EINVAL;
	}
	file = script ? dr_conf_get(board, "button", "script")
		      : dr_conf_get_str(board, "button", "fifo", "/run/diaryroom/button");
	if (!file || !*file) {
		dr_dev_err(err, errlen, "board.conf: [button] script is missing (needed by backend = script)");
		return -EINVAL;
	}
	if (dr_dev_resolve(board_dir, file, path, sizeof(path)) < 0) {
		dr_dev_err(err, errlen, "board.conf: [button] %s: path too long", script ? "script" : "fifo");
		return -ENAMETOOLONG;
	}
	if (script)
		return dr_button_script_open(path, b->epfd, &b->be, &b->ops, err, errlen);
	return dr_button_fifo_open(path, b->epfd, &b->be, &b->ops, err, errlen);
}

int dr_button_open(const struct dr_conf *board, const char *board_dir, struct dr_button **out,
		   char *err, size_t errlen)
{
	static const char *const known[] = {"backend",	   "chip",	  "line",   "active_low",
					    "bias",	   "debounce_ms", "script", "fifo",
					    NULL};
	struct epoll_event ev = {.events = EPOLLIN};
	char msg[512] = "";
	struct dr_button *b;
	long debounce_ms;
	int r;

	*out = NULL;
	r = dr_dev_check_keys(board, "button", known, "", err, errlen);
	if (r < 0)
		return r;
	r = dr_conf_get_int(board, "button", "debounce_ms", 30, 0, 1000, &debounce_ms, msg, sizeof(msg));
	if (r < 0) {
		dr_dev_err(err, errlen, "%s", msg);
		return r;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		dr_dev_err(err, errlen, "button: out of memory");
		return -ENOMEM;
	}
	b->tfd = -1;
	b->epfd = -1;
	dr_debounce_init(&b->deb, (uint64_t)debounce_ms * 1000u);
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0) {
		r = -errno;
		goto err_free;
	}
	b->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (b->tfd < 0) {
		r = -errno;
		goto err_free;
	}
	ev.data.fd = b->tfd;
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->tfd, &ev) < 0) {
		r = -errno;
		goto err_free;
	}
	r = open_backend(b, board, board_dir, err, errlen);
	if (r < 0) {
		b->ops = NULL;
		dr_button_free(b);
		return r;
	}
	*out = b;
	return 0;

err_free:
	dr_dev_err(err, errlen, "button: %s", strerror(-r));
	b->ops = NULL;
	dr_button_free(b);
	return r;
}
