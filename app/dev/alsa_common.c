/* SPDX-License-Identifier: MIT */
#include "alsa_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "capture_impl.h"
#include "dev_util.h"
#include "util/log.h"

/* alsa-lib prints its own errors to stderr by default; a library module
 * must not, and our err messages already say what failed. Its messages go
 * to the debug log instead. */
__attribute__((format(printf, 5, 6))) static void dr_alsa_quiet(const char *file, int line,
								  const char *function, int err,
								  const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	DR_LOG_DEBUG("alsa", "%s:%d %s: %s%s%s", file, line, function, msg, err ? ": " : "",
		     err ? snd_strerror(err) : "");
}

static int map_open_error(int e)
{
	if (e == -ENOENT || e == -ENXIO || e == -ENODEV)
		return -ENODEV;
	return e;
}

int dr_alsa_fatal(int e)
{
	if (e == -ENODEV || e == -EBADFD || e == -ENXIO || e == -ENOTTY || e == -ESHUTDOWN)
		return -ENODEV;
	return -EIO;
}

int dr_alsa_resume(snd_pcm_t *pcm)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
	int r = -EAGAIN;

	for (int i = 0; i < 50 && (r = snd_pcm_resume(pcm)) == -EAGAIN; i++)
		nanosleep(&ts, NULL);
	if (r < 0)
		r = snd_pcm_prepare(pcm);
	return r;
}

static int set_hw(snd_pcm_t *pcm, snd_pcm_hw_params_t *hw, unsigned period_ms, unsigned buffer_ms,
		  snd_pcm_uframes_t *period, snd_pcm_uframes_t *buffer, char *err, size_t errlen)
{
	unsigned rate = DR_AUDIO_RATE, periods_min = 4;
	snd_pcm_uframes_t p, b;
	int dir = 0, r;

	r = snd_pcm_hw_params_any(pcm, hw);
	if (r < 0)
		goto err_params;
	r = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED);
	if (r < 0)
		goto err_params;
	r = snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE);
	if (r < 0)
		goto err_params;
	r = snd_pcm_hw_params_set_channels(pcm, hw, 1);
	if (r < 0)
		goto err_params;
	r = snd_pcm_hw_params_set_rate(pcm, hw, rate, 0);
	if (r < 0)
		goto err_params;
	p = (snd_pcm_uframes_t)rate * period_ms / 1000;
	r = snd_pcm_hw_params_set_period_size_near(pcm, hw, &p, &dir);
	if (r < 0)
		goto err_params;
	r = snd_pcm_hw_params_set_periods_min(pcm, hw, &periods_min, NULL);
	if (r < 0)
		goto err_params;
	b = (snd_pcm_uframes_t)rate * buffer_ms / 1000;
	if (b < 4 * p)
		b = 4 * p;
	r = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &b);
	if (r < 0)
		goto err_params;
	r = snd_pcm_hw_params(pcm, hw);
	if (r < 0)
		goto err_params;
	snd_pcm_hw_params_get_period_size(hw, period, &dir);
	snd_pcm_hw_params_get_buffer_size(hw, buffer);
	return 0;

err_params:
	dr_dev_err(err, errlen,
		   "audio: %s cannot do 48000 Hz mono S16_LE with %u ms periods: %s (a plughw: or "
		   "plug device converts)",
		   snd_pcm_name(pcm), period_ms, snd_strerror(r));
	return r == -ENODEV ? r : -EINVAL;
}

static int set_sw(snd_pcm_t *pcm, snd_pcm_stream_t stream, snd_pcm_uframes_t period,
		  snd_pcm_uframes_t buffer)
{
	snd_pcm_sw_params_t *sw;
	int r;

	r = snd_pcm_sw_params_malloc(&sw);
	if (r < 0)
		return r;
	r = snd_pcm_sw_params_current(pcm, sw);
	if (r >= 0)
		r = snd_pcm_sw_params_set_avail_min(pcm, sw, period);
	/* Playback starts once two periods are queued (or on drain); capture
	 * is started explicitly. */
	if (r >= 0 && stream == SND_PCM_STREAM_PLAYBACK)
		r = snd_pcm_sw_params_set_start_threshold(pcm, sw, 2 * period < buffer ? 2 * period : buffer);
	if (r >= 0)
		r = snd_pcm_sw_params(pcm, sw);
	snd_pcm_sw_params_free(sw);
	return r;
}

int dr_alsa_open(const char *device, snd_pcm_stream_t stream, unsigned period_ms,
		 unsigned buffer_ms, snd_pcm_t **out, snd_pcm_uframes_t *period,
		 snd_pcm_uframes_t *buffer, char *err, size_t errlen)
{
	const char *what = stream == SND_PCM_STREAM_CAPTURE ? "capture" : "playback";
	snd_pcm_hw_params_t *hw;
	snd_pcm_t *pcm;
	int r;

	*out = NULL;
	snd_lib_error_set_handler(dr_alsa_quiet);
	r = snd_pcm_open(&pcm, device, stream, SND_PCM_NONBLOCK);
	if (r < 0) {
		dr_dev_err(err, errlen, "audio: cannot open %s device \"%s\": %s", what, device,
			   snd_strerror(r));
		return map_open_error(r);
	}
	r = snd_pcm_hw_params_malloc(&hw);
	if (r < 0) {
		dr_dev_err(err, errlen, "audio: out of memory");
		goto err_close_pcm;
	}
	r = set_hw(pcm, hw, period_ms, buffer_ms, period, buffer, err, errlen);
	snd_pcm_hw_params_free(hw);
	if (r < 0)
		goto err_close_pcm;
	r = set_sw(pcm, stream, *period, *buffer);
	if (r < 0) {
		dr_dev_err(err, errlen, "audio: %s device \"%s\": software parameters: %s", what,
			   device, snd_strerror(r));
		r = -EIO;
		goto err_close_pcm;
	}
	*out = pcm;
	return 0;

err_close_pcm:
	snd_pcm_close(pcm);
	return r;
}
