/* SPDX-License-Identifier: MIT */
/*
 * Simulated button backends.
 *
 * script: the file is parsed at open into a time-ordered list of raw edges
 *   (times from the moment of opening); a CLOCK_MONOTONIC timerfd is armed
 *   for the next one and each edge carries its scripted time.
 * fifo: a named pipe (made if missing) opened O_RDWR so it never reports
 *   end-of-file when a writer goes away; each line is scheduled from the time
 *   it is read ("press 3000": down now, up 3 s later) through the same list
 *   and timerfd. Malformed FIFO lines are ignored (a debug log line says
 *   why): whoever writes to the FIFO must not be able to stop the box.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "button_impl.h"
#include "dev_util.h"
#include "util/log.h"

#define SCRIPT_MAX_BYTES (1u << 20)
#define SCRIPT_MAX_EDGES 100000u
#define FIFO_MAX_EDGES 256u
#define LINE_MAX_BYTES 256u

struct sim_button {
	bool script;
	int tfd;
	int fifo_fd;
	struct dr_btn_sched sched;
	char line[LINE_MAX_BYTES];
	size_t line_len;
	bool line_skip; /* discarding the rest of an overlong line */
};

static void arm_next(struct sim_button *s)
{
	struct itimerspec its = {0};
	uint64_t t;

	if (dr_btn_sched_pending(&s->sched)) {
		t = s->sched.e[s->sched.head].t_us;
		its.it_value.tv_sec = (time_t)(t / 1000000u);
		its.it_value.tv_nsec = (long)(t % 1000000u) * 1000;
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void fifo_line(struct sim_button *s, uint64_t now_us)
{
	struct dr_btn_cmd cmd;
	const char *why;
	int r;

	r = dr_btn_parse_line(s->line, s->line_len, &cmd, &why);
	if (r < 0) {
		DR_LOG_DEBUG("button", "fifo: ignoring a line: %s", why);
		return;
	}
	if (r > 0 && dr_btn_sched_add_cmd(&s->sched, &cmd, now_us) < 0)
		DR_LOG_DEBUG("button", "fifo: too many pending edges, line ignored");
}

/* Reads whatever the FIFO holds and schedules its complete lines. */
static int fifo_drain(struct sim_button *s)
{
	char buf[1024];
	uint64_t now_us;
	ssize_t n;

	/* At most 16 KiB per call: a flooding writer cannot starve the loop
	 * (the fd stays readable and we come back). */
	for (int rounds = 0; rounds < 16; rounds++) {
		n = read(s->fifo_fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		if (n == 0)
			return 0;
		now_us = dr_dev_mono_ns() / 1000u;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				if (!s->line_skip)
					fifo_line(s, now_us);
				s->line_len = 0;
				s->line_skip = false;
			} else if (s->line_len == sizeof(s->line)) {
				if (!s->line_skip)
					DR_LOG_DEBUG("button", "fifo: ignoring an overlong line");
				s->line_skip = true;
			} else if (!s->line_skip) {
				s->line[s->line_len++] = buf[i];
			}
		}
	}
	return 0;
}

static int sim_read_raw(void *be, struct dr_btn_raw *raw, size_t max)
{
	struct sim_button *s = be;
	uint64_t expiries, now_us;
	size_t n = 0;
	int r;

	if (read(s->tfd, &expiries, sizeof(expiries)) < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	if (!s->script) {
		r = fifo_drain(s);
		if (r < 0)
			return r;
	}
	now_us = dr_dev_mono_ns() / 1000u;
	while (n < max && dr_btn_sched_pending(&s->sched) && s->sched.e[s->sched.head].t_us <= now_us)
		raw[n++] = s->sched.e[s->sched.head++];
	arm_next(s);
	return (int)n;
}

static bool sim_done(const void *be)
{
	const struct sim_button *s = be;

	return s->script && !dr_btn_sched_pending(&s->sched);
}

static void sim_destroy(void *be)
{
	struct sim_button *s = be;

	if (!s)
		return;
	if (s->tfd >= 0)
		close(s->tfd);
	if (s->fifo_fd >= 0)
		close(s->fifo_fd);
	dr_btn_sched_release(&s->sched);
	free(s);
}

static const struct dr_button_ops script_ops = {
	.name = "script",
	.read_raw = sim_read_raw,
	.done = sim_done,
	.destroy = sim_destroy,
};

static const struct dr_button_ops fifo_ops = {
	.name = "fifo",
	.read_raw = sim_read_raw,
	.done = sim_done,
	.destroy = sim_destroy,
};

static int watch(int epfd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static struct sim_button *sim_new(bool script, size_t max_edges, char *err, size_t errlen)
{
	struct sim_button *s = calloc(1, sizeof(*s));

	if (!s) {
		dr_dev_err(err, errlen, "button: out of memory");
		return NULL;
	}
	s->script = script;
	s->fifo_fd = -1;
	dr_btn_sched_init(&s->sched, max_edges);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->tfd < 0) {
		dr_dev_err(err, errlen, "button: timerfd: %s", strerror(errno));
		free(s);
		return NULL;
	}
	return s;
}

static int read_text(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
	FILE *f;
	char *buf;
	size_t n;
	int r = 0;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		dr_dev_err(err, errlen, "button: cannot read script %s: %s", path, strerror(errno));
		return r;
	}
	buf = malloc(SCRIPT_MAX_BYTES + 1);
	if (!buf) {
		r = -ENOMEM;
		dr_dev_err(err, errlen, "button: out of memory");
		goto err_close;
	}
	n = fread(buf, 1, SCRIPT_MAX_BYTES + 1, f);
	if (ferror(f)) {
		r = -EIO;
		dr_dev_err(err, errlen, "button: cannot read script %s", path);
	} else if (n > SCRIPT_MAX_BYTES) {
		r = -EFBIG;
		dr_dev_err(err, errlen, "button: script %s is larger than 1 MiB", path);
	}
	if (r < 0) {
		free(buf);
		goto err_close;
	}
	*text = buf;
	*len = n;
err_close:
	fclose(f);
	return r;
}

int dr_button_script_open(const char *path, int epfd, void **be, const struct dr_button_ops **ops,
			  char *err, size_t errlen)
{
	struct sim_button *s;
	char *text = NULL;
	size_t len = 0;
	int r;

	r = read_text(path, &text, &len, err, errlen);
	if (r < 0)
		return r;
	s = sim_new(true, SCRIPT_MAX_EDGES, err, errlen);
	if (!s) {
		free(text);
		return -ENOMEM;
	}
	r = dr_btn_parse_script(path, text, len, dr_dev_mono_ns() / 1000u, &s->sched, err, errlen);
	free(text);
	if (r < 0)
		goto err_destroy;
	r = watch(epfd, s->tfd);
	if (r < 0) {
		dr_dev_err(err, errlen, "button: epoll: %s", strerror(-r));
		goto err_destroy;
	}
	arm_next(s);
	*be = s;
	*ops = &script_ops;
	return 0;

err_destroy:
	sim_destroy(s);
	return r;
}

int dr_button_fifo_open(const char *path, int epfd, void **be, const struct dr_button_ops **ops,
			char *err, size_t errlen)
{
	struct sim_button *s;
	struct stat st;
	int r;

	if (mkfifo(path, 0660) < 0 && errno != EEXIST) {
		r = -errno;
		dr_dev_err(err, errlen, "board.conf: [button] fifo %s: cannot create: %s", path,
			   strerror(errno));
		return r;
	}
	s = sim_new(false, FIFO_MAX_EDGES, err, errlen);
	if (!s)
		return -ENOMEM;
	s->fifo_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (s->fifo_fd < 0) {
		r = -errno;
		dr_dev_err(err, errlen, "board.conf: [button] fifo %s: %s", path, strerror(errno));
		goto err_destroy;
	}
	if (fstat(s->fifo_fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		r = -EINVAL;
		dr_dev_err(err, errlen, "board.conf: [button] fifo %s exists and is not a FIFO", path);
		goto err_destroy;
	}
	r = watch(epfd, s->fifo_fd);
	if (r == 0)
		r = watch(epfd, s->tfd);
	if (r < 0) {
		dr_dev_err(err, errlen, "button: epoll: %s", strerror(-r));
		goto err_destroy;
	}
	*be = s;
	*ops = &fifo_ops;
	return 0;

err_destroy:
	sim_destroy(s);
	return r;
}
