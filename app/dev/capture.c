/* SPDX-License-Identifier: MIT */
/* Capture: dispatch over the backend ops, and the board-file front door. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "capture_impl.h"
#include "dev_util.h"
#include "util/conf.h"

void dr_capture_free(struct dr_capture *c)
{
	if (c)
		c->ops->destroy(c);
}

const char *dr_capture_name(const struct dr_capture *c)
{
	return c ? c->name : "none";
}

int dr_capture_start(struct dr_capture *c)
{
	return c->ops->start(c);
}

ssize_t dr_capture_read(struct dr_capture *c, int16_t *buf, size_t frames)
{
	if (!frames)
		return -EINVAL;
	return c->ops->read(c, buf, frames);
}

int dr_capture_stop(struct dr_capture *c)
{
	return c->ops->stop(c);
}

ssize_t dr_capture_pending(struct dr_capture *c)
{
	ssize_t n = c->ops->pending ? c->ops->pending(c) : 0;

	return n > 0 ? n : 0;
}

uint64_t dr_capture_xruns(const struct dr_capture *c)
{
	return __atomic_load_n(&c->xruns, __ATOMIC_RELAXED);
}

int dr_capture_open(const struct dr_conf *board, const char *board_dir, struct dr_capture **out,
		    char *err, size_t errlen)
{
	char path[4096];
	long period_ms;
	const char *backend, *dev, *file;
	int r;

	*out = NULL;
	r = dr_dev_audio_conf(board, &period_ms, err, errlen);
	if (r < 0)
		return r;
	backend = dr_conf_get_str(board, "audio", "capture", "alsa");
	if (!strcmp(backend, "alsa")) {
		dev = dr_conf_get_str(board, "audio", "capture_device", "default");
		return dr_capture_open_alsa(dev, (unsigned)period_ms, out, err, errlen);
	}
	if (!strcmp(backend, "wav")) {
		file = dr_conf_get(board, "audio", "capture_file");
		if (!file || !*file) {
			dr_dev_err(err, errlen, "audio: board.conf: [audio] capture_file is missing (needed by capture = wav)");
			return -EINVAL;
		}
		r = dr_dev_resolve(board_dir, file, path, sizeof(path));
		if (r < 0) {
			dr_dev_err(err, errlen, "audio: board.conf: [audio] capture_file: path too long");
			return r;
		}
		bool live = false;
		r = dr_conf_get_bool(board, "audio", "capture_live", false, &live, err, errlen);
		if (r < 0)
			return r;
		if (live)
			return dr_capture_open_wav_live(path, (unsigned)period_ms, NULL, out, err, errlen);
		return dr_capture_open_wav(path, true, (unsigned)period_ms, out, err, errlen);
	}
	dr_dev_err(err, errlen, "audio: board.conf: [audio] capture = %s: must be alsa or wav", backend);
	return -EINVAL;
}
