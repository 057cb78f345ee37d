/* SPDX-License-Identifier: MIT */
/*
 * Private to app/dev: the button backends and the script/FIFO line parser.
 *
 * The generic part (button.c) owns an epoll fd (what dr_button_fd returns),
 * the debouncer and a timerfd of its own; a backend adds its fds to the
 * epoll fd when it opens and hands raw edges to dr_button_read through
 * read_raw().
 */
#ifndef DR_DEV_BUTTON_IMPL_H
#define DR_DEV_BUTTON_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "button.h"

/* A raw (not yet debounced) edge. */
struct dr_btn_raw {
	uint64_t t_us; /* CLOCK_MONOTONIC */
	bool pressed;
};

struct dr_button_ops {
	const char *name;
	/* Up to max raw edges that are due, without blocking; 0 if none. */
	int (*read_raw)(void *be, struct dr_btn_raw *raw, size_t max);
	/* Script: every edge handed out. Others: false. */
	bool (*done)(const void *be);
	void (*destroy)(void *be);
};

/* ---- script / FIFO lines ---- */

#define DR_BTN_MAX_AT_MS 86400000u  /* 24 h */
#define DR_BTN_MAX_HOLD_MS 600000u  /* 10 min */
#define DR_BTN_DEFAULT_HOLD_MS 150u

enum dr_btn_kind { DR_BTN_PRESS, DR_BTN_DOWN, DR_BTN_UP };

struct dr_btn_cmd {
	enum dr_btn_kind kind;
	bool has_at;
	uint32_t at_ms;	  /* when has_at */
	uint32_t hold_ms; /* PRESS: down for this long */
};

/* Parses one line (len bytes, no newline needed; a NUL byte is an error).
 * Returns 1 with *cmd filled, 0 for a blank or comment line, or -EINVAL with
 * *why set to a static description of the problem. */
int dr_btn_parse_line(const char *line, size_t len, struct dr_btn_cmd *cmd, const char **why);

/* A time-ordered list of raw edges still to be delivered. */
struct dr_btn_sched {
	struct dr_btn_raw *e;
	size_t head, len, cap, max;
};
void dr_btn_sched_init(struct dr_btn_sched *s, size_t max);
void dr_btn_sched_release(struct dr_btn_sched *s);
/* Inserts in time order (after edges at the same time). -ENOBUFS when full. */
int dr_btn_sched_add(struct dr_btn_sched *s, uint64_t t_us, bool pressed);
/* Adds the edges of cmd happening from base_us (+ at_ms when given). */
int dr_btn_sched_add_cmd(struct dr_btn_sched *s, const struct dr_btn_cmd *cmd, uint64_t base_us);
size_t dr_btn_sched_pending(const struct dr_btn_sched *s);

/* Parses a whole script (name is for messages) into s, edge times relative
 * to base_us. Lines must have a time, in non-decreasing order. -EINVAL with
 * "name:line: what" in err. */
int dr_btn_parse_script(const char *name, const char *text, size_t len, uint64_t base_us,
			struct dr_btn_sched *s, char *err, size_t errlen);

/* ---- backends ---- */

struct dr_conf;

int dr_button_script_open(const char *path, int epfd, void **be, const struct dr_button_ops **ops,
			  char *err, size_t errlen);
int dr_button_fifo_open(const char *path, int epfd, void **be, const struct dr_button_ops **ops,
			char *err, size_t errlen);
int dr_button_gpiod_open(const struct dr_conf *board, int epfd, void **be,
			 const struct dr_button_ops **ops, char *err, size_t errlen);

#endif
