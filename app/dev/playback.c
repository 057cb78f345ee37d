/* SPDX-License-Identifier: MIT */
/*
 * Playback, the generic part: a worker thread per device takes requests from
 * a small queue and plays them one at a time through the backend; each
 * finished request goes into a done list and bumps an eventfd the daemon's
 * loop polls. dr_playback_stop() reports queued requests as cancelled at once
 * and tells the backend to abandon the one playing.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dev_util.h"
#include "playback_impl.h"
#include "util/conf.h"

#define QUEUE_MAX 8
/* Finished requests not yet collected; play() refuses more than this many
 * outstanding (queued + playing + uncollected) so memory stays bounded. */
#define DONE_MAX 32
/* A source is played in chunks of this many samples (100 ms): one is
 * decoded while the one before it plays. */
#define SRC_CHUNK 4800

struct pb_req {
	const int16_t *pcm;
	size_t n;
	uint32_t token;
	struct dr_pcm_source src; /* src.read: a source, not pcm */
};

struct dr_playback {
	const struct dr_playback_ops *ops;
	void *be;
	char name[160];
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct pb_req q[QUEUE_MAX];
	unsigned q_head, q_len;
	struct dr_playback_done done[DONE_MAX];
	unsigned d_head, d_len;
	bool playing, quit;
	atomic_bool cancel;
	int done_fd; /* eventfd: readable while done[] is not empty */
	int wake_fd; /* eventfd: readable once cancel is set */
	int16_t chunk[2][SRC_CHUNK]; /* the worker's, for sources */
};

bool dr_pb_cancelled(const struct dr_playback *p)
{
	return atomic_load(&p->cancel);
}

int dr_pb_wake_fd(const struct dr_playback *p)
{
	return p->wake_fd;
}

bool dr_pb_sleep_until(const struct dr_playback *p, uint64_t t_ns)
{
	struct pollfd pfd = {.fd = p->wake_fd, .events = POLLIN};
	uint64_t now;

	for (;;) {
		if (dr_pb_cancelled(p))
			return false;
		now = dr_dev_mono_ns();
		if (now >= t_ns)
			return true;
		/* poll() has ms resolution: sleep the last millisecond exactly. */
		if (t_ns - now < 2000000u) {
			dr_dev_sleep_until_ns(t_ns);
			continue;
		}
		poll(&pfd, 1, (int)((t_ns - now) / 1000000u - 1));
	}
}

static void bump(int fd)
{
	uint64_t one = 1;
	ssize_t r;

	do
		r = write(fd, &one, sizeof(one));
	while (r < 0 && errno == EINTR);
}

static void drain_fd(int fd)
{
	uint64_t v;
	ssize_t r;

	do
		r = read(fd, &v, sizeof(v));
	while (r < 0 && errno == EINTR);
}

/* Under mu. */
static void push_done(struct dr_playback *p, uint32_t token, int status, uint64_t s, uint64_t e)
{
	struct dr_playback_done *d = &p->done[(p->d_head + p->d_len) % DONE_MAX];

	*d = (struct dr_playback_done){.token = token, .status = status, .started_us = s, .ended_us = e};
	p->d_len++;
	bump(p->done_fd);
}

static void src_close(struct dr_pcm_source *src)
{
	if (src->read && src->close)
		src->close(src->user);
	src->read = NULL;
}

/* Plays a source chunk by chunk, reading the next while the last is in the
 * device, as one gapless sound. In the worker, without mu. */
static int play_source(struct dr_playback *p, struct dr_pcm_source *src, uint64_t *s, uint64_t *e)
{
	int16_t *cur = p->chunk[0], *next = p->chunk[1], *t;
	unsigned flags = 0;
	uint64_t s1, e1;
	long n = src->read(src->user, cur, SRC_CHUNK), m;
	int r = 0;

	while (n > 0) {
		m = src->read(src->user, next, SRC_CHUNK);
		s1 = e1 = 0;
		r = p->ops->play(p, p->be, cur, (size_t)n, flags | (m > 0 ? DR_PB_MORE : 0), &s1, &e1);
		if (!*s)
			*s = s1;
		*e = e1;
		if (r < 0)
			return r;
		flags = DR_PB_CONT;
		t = cur;
		cur = next;
		next = t;
		n = m;
	}
	return n < 0 ? (int)n : 0;
}

static void *worker(void *arg)
{
	struct dr_playback *p = arg;
	struct pb_req req;
	uint64_t s, e;
	int r;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->quit && !p->q_len)
			pthread_cond_wait(&p->cond, &p->mu);
		if (p->quit)
			break;
		req = p->q[p->q_head];
		p->q_head = (p->q_head + 1) % QUEUE_MAX;
		p->q_len--;
		p->playing = true;
		atomic_store(&p->cancel, false);
		drain_fd(p->wake_fd);
		pthread_mutex_unlock(&p->mu);

		s = e = 0;
		if (req.src.read) {
			r = play_source(p, &req.src, &s, &e);
			src_close(&req.src);
		} else {
			r = p->ops->play(p, p->be, req.pcm, req.n, 0, &s, &e);
		}

		pthread_mutex_lock(&p->mu);
		p->playing = false;
		if (r == 0 && atomic_load(&p->cancel))
			r = -ECANCELED;
		if (!e)
			e = dr_dev_mono_ns() / 1000u;
		if (!s)
			s = e;
		push_done(p, req.token, r, s, e);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int dr_playback_create(const struct dr_playback_ops *ops, void *be, const char *name,
		       struct dr_playback **out, char *err, size_t errlen)
{
	struct dr_playback *p;
	int r;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p) {
		r = -ENOMEM;
		goto err_destroy_be;
	}
	p->ops = ops;
	p->be = be;
	snprintf(p->name, sizeof(p->name), "%s", name);
	atomic_init(&p->cancel, false);
	p->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->done_fd < 0) {
		r = -errno;
		goto err_free;
	}
	p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wake_fd < 0) {
		r = -errno;
		goto err_close_done;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cond, NULL);
	r = -pthread_create(&p->thread, NULL, worker, p);
	if (r < 0)
		goto err_close_wake;
	*out = p;
	return 0;

err_close_wake:
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->mu);
	close(p->wake_fd);
err_close_done:
	close(p->done_fd);
err_free:
	free(p);
err_destroy_be:
	ops->destroy(be);
	dr_dev_err(err, errlen, "audio: playback: %s", strerror(-r));
	return r;
}

void dr_playback_free(struct dr_playback *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	atomic_store(&p->cancel, true);
	bump(p->wake_fd);
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	while (p->q_len) {
		src_close(&p->q[p->q_head].src);
		p->q_head = (p->q_head + 1) % QUEUE_MAX;
		p->q_len--;
	}
	p->ops->destroy(p->be);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->mu);
	close(p->wake_fd);
	close(p->done_fd);
	free(p);
}

int dr_playback_fd(const struct dr_playback *p)
{
	return p->done_fd;
}

static int enqueue(struct dr_playback *p, struct pb_req req)
{
	int r = 0;

	pthread_mutex_lock(&p->mu);
	if (p->q_len >= QUEUE_MAX) {
		r = -EAGAIN;
	} else if (p->q_len + p->d_len + (p->playing ? 1u : 0u) >= DONE_MAX) {
		r = -ENOBUFS;
	} else {
		p->q[(p->q_head + p->q_len) % QUEUE_MAX] = req;
		p->q_len++;
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->mu);
	return r;
}

int dr_playback_play(struct dr_playback *p, const int16_t *pcm, size_t n, uint32_t token)
{
	if (!pcm && n)
		return -EINVAL;
	return enqueue(p, (struct pb_req){.pcm = pcm, .n = n, .token = token});
}

int dr_playback_play_source(struct dr_playback *p, struct dr_pcm_source src, uint32_t token)
{
	int r = src.read ? enqueue(p, (struct pb_req){.src = src, .token = token}) : -EINVAL;

	if (r < 0 && src.close)
		src.close(src.user);
	return r;
}

int dr_playback_stop(struct dr_playback *p)
{
	uint64_t now = dr_dev_mono_ns() / 1000u;

	pthread_mutex_lock(&p->mu);
	while (p->q_len) {
		src_close(&p->q[p->q_head].src);
		push_done(p, p->q[p->q_head].token, -ECANCELED, now, now);
		p->q_head = (p->q_head + 1) % QUEUE_MAX;
		p->q_len--;
	}
	if (p->playing) {
		atomic_store(&p->cancel, true);
		bump(p->wake_fd);
	}
	pthread_mutex_unlock(&p->mu);
	return 0;
}

int dr_playback_collect(struct dr_playback *p, struct dr_playback_done *done)
{
	int r = 0;

	pthread_mutex_lock(&p->mu);
	if (!p->d_len) {
		r = -EAGAIN;
	} else {
		*done = p->done[p->d_head];
		p->d_head = (p->d_head + 1) % DONE_MAX;
		p->d_len--;
	}
	if (!p->d_len)
		drain_fd(p->done_fd);
	pthread_mutex_unlock(&p->mu);
	return r;
}

int dr_playback_open(const struct dr_conf *board, const char *board_dir,
		     struct dr_playback **out, char *err, size_t errlen)
{
	char path[4096];
	long period_ms;
	const char *backend, *dev, *file;
	int r;

	*out = NULL;
	r = dr_dev_audio_conf(board, &period_ms, err, errlen);
	if (r < 0)
		return r;
	backend = dr_conf_get_str(board, "audio", "playback", "alsa");
	if (!strcmp(backend, "alsa")) {
		dev = dr_conf_get_str(board, "audio", "playback_device", "default");
		return dr_playback_open_alsa(dev, out, err, errlen);
	}
	if (!strcmp(backend, "wav")) {
		file = dr_conf_get(board, "audio", "playback_file");
		if (!file || !*file) {
			dr_dev_err(err, errlen,
				   "audio: board.conf: [audio] playback_file is missing (needed by playback = wav)");
			return -EINVAL;
		}
		r = dr_dev_resolve(board_dir, file, path, sizeof(path));
		if (r < 0) {
			dr_dev_err(err, errlen, "audio: board.conf: [audio] playback_file: path too long");
			return r;
		}
		return dr_playback_open_wav(path, out, err, errlen);
	}
	dr_dev_err(err, errlen, "audio: board.conf: [audio] playback = %s: must be alsa or wav", backend);
	return -EINVAL;
}
