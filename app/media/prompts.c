/* SPDX-License-Identifier: MIT */
/*
 * Prompt pack loader: every prompt decoded once into memory at start-up.
 * "<dir>/<name>.opus" is preferred; "<dir>/<name>.wav" (48 kHz) is the
 * fallback. A prompt that is missing, undecodable or empty fails the load
 * with a message naming the file, so a broken pack is found by whoever
 * installs it and never by a resident pressing the button.
 */
#include "prompts.h"

#include <errno.h>
#include <limits.h>
#include <opusfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oggopus.h"
#include "wav.h"

struct dr_prompt_pcm {
	int16_t *pcm;
	size_t n;
};

struct dr_prompts {
	struct dr_prompt_pcm p[DR_PROMPT_COUNT];
};

/* Appends to a growing buffer. */
struct pcm_buf {
	int16_t *s;
	size_t n, cap;
};

static int pcm_reserve(struct pcm_buf *b, size_t more)
{
	if (b->cap - b->n >= more)
		return 0;
	size_t cap = b->cap ? b->cap : 48000;
	while (cap - b->n < more) {
		if (cap > SIZE_MAX / 2 / sizeof(int16_t))
			return -ENOMEM;
		cap *= 2;
	}
	int16_t *s = realloc(b->s, cap * sizeof(int16_t));
	if (!s)
		return -ENOMEM;
	b->s = s;
	b->cap = cap;
	return 0;
}

static int load_opus(const char *path, struct pcm_buf *b, char *err, size_t errlen)
{
	/* op_open_file's fopen has no "e": open the stream ourselves with
	 * O_CLOEXEC and hand it over through opusfile's stdio callbacks. */
	OpusFileCallbacks cb;
	void *stream = op_fopen(&cb, path, "rbe");
	if (!stream) {
		int e = errno;
		snprintf(err, errlen, "prompts: %s: %s", path, strerror(e));
		return e ? -e : -EIO;
	}
	int oerr = 0;
	OggOpusFile *of = op_open_callbacks(stream, &cb, NULL, 0, &oerr);
	if (!of) {
		cb.close(stream);
		snprintf(err, errlen, "prompts: %s: not a readable Ogg Opus file (opusfile error %d)",
			 path, oerr);
		return -EINVAL;
	}
	int rc = 0;
	for (;;) {
		/* op_read_stereo always decodes at 48 kHz into two channels
		 * (a mono file comes out twice); we keep their mean. */
		opus_int16 st[2 * 5760];
		int n = op_read_stereo(of, st, (int)(sizeof(st) / sizeof(st[0])));
		if (n == OP_HOLE)
			continue; /* a gap in the file: keep going, as players do */
		if (n < 0) {
			snprintf(err, errlen, "prompts: %s: decoding failed (opusfile error %d)", path, n);
			rc = -EINVAL;
			break;
		}
		if (n == 0)
			break;
		rc = pcm_reserve(b, (size_t)n);
		if (rc) {
			snprintf(err, errlen, "prompts: %s: out of memory", path);
			break;
		}
		for (int i = 0; i < n; i++)
			b->s[b->n + (size_t)i] = (int16_t)(((int32_t)st[2 * i] + st[2 * i + 1]) >> 1);
		b->n += (size_t)n;
	}
	op_free(of);
	return rc;
}

static int load_wav(const char *path, struct pcm_buf *b, char *err, size_t errlen)
{
	struct dr_wav_reader *r = NULL;
	int rc = dr_wav_reader_open(path, &r);
	if (rc) {
		snprintf(err, errlen, "prompts: %s: not a readable 16-bit PCM WAV file (%s)", path,
			 strerror(-rc));
		return rc;
	}
	const struct dr_wav_info *info = dr_wav_reader_info(r);
	if (info->rate != DR_SAMPLE_RATE) {
		snprintf(err, errlen, "prompts: %s: sample rate is %u Hz, must be %d Hz", path,
			 (unsigned)info->rate, DR_SAMPLE_RATE);
		dr_wav_reader_free(r);
		return -EINVAL;
	}
	rc = info->frames > SIZE_MAX / 4 ? -ENOMEM : pcm_reserve(b, (size_t)info->frames);
	while (!rc && b->n < b->cap) {
		long n = dr_wav_reader_read_mono(r, b->s + b->n, b->cap - b->n);
		if (n <= 0) {
			rc = (int)n;
			break;
		}
		b->n += (size_t)n;
	}
	if (rc)
		snprintf(err, errlen, "prompts: %s: %s", path, strerror(-rc));
	dr_wav_reader_free(r);
	return rc;
}

static int load_one(const char *dir, enum dr_prompt id, struct dr_prompt_pcm *out, char *err,
		    size_t errlen)
{
	const char *name = dr_prompt_name(id);
	char opus[PATH_MAX], wav[PATH_MAX];
	if (!name || snprintf(opus, sizeof(opus), "%s/%s.opus", dir, name) >= (int)sizeof(opus) ||
	    snprintf(wav, sizeof(wav), "%s/%s.wav", dir, name) >= (int)sizeof(wav)) {
		snprintf(err, errlen, "prompts: bad prompt folder or name");
		return -ENAMETOOLONG;
	}
	struct pcm_buf b = {0};
	int rc;
	const char *used;
	if (access(opus, F_OK) == 0) {
		used = opus;
		rc = load_opus(opus, &b, err, errlen);
	} else if (access(wav, F_OK) == 0) {
		used = wav;
		rc = load_wav(wav, &b, err, errlen);
	} else {
		snprintf(err, errlen, "prompts: missing %s (or %s.wav)", opus, name);
		return -ENOENT;
	}
	if (!rc && b.n == 0) {
		snprintf(err, errlen, "prompts: %s: holds no audio", used);
		rc = -EINVAL;
	}
	if (rc) {
		free(b.s);
		return rc;
	}
	out->pcm = b.s;
	out->n = b.n;
	return 0;
}

int dr_prompts_load(const char *dir, struct dr_prompts **out, char *err, size_t errlen)
{
	char scratch[1];
	if (!err || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	if (!dir || !out) {
		snprintf(err, errlen, "prompts: no prompt folder given");
		return -EINVAL;
	}
	struct dr_prompts *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "prompts: out of memory");
		return -ENOMEM;
	}
	for (int id = 0; id < DR_PROMPT_COUNT; id++) {
		int rc = load_one(dir, (enum dr_prompt)id, &p->p[id], err, errlen);
		if (rc) {
			dr_prompts_free(p);
			return rc;
		}
	}
	*out = p;
	return 0;
}

void dr_prompts_free(struct dr_prompts *p)
{
	if (!p)
		return;
	for (int id = 0; id < DR_PROMPT_COUNT; id++)
		free(p->p[id].pcm);
	free(p);
}

const int16_t *dr_prompts_pcm(const struct dr_prompts *p, enum dr_prompt id, size_t *n)
{
	if ((unsigned)id >= DR_PROMPT_COUNT) {
		if (n)
			*n = 0;
		return NULL;
	}
	if (n)
		*n = p->p[id].n;
	return p->p[id].pcm;
}

uint32_t dr_prompts_ms(const struct dr_prompts *p, enum dr_prompt id)
{
	if ((unsigned)id >= DR_PROMPT_COUNT)
		return 0;
	uint64_t ms = ((uint64_t)p->p[id].n * 1000 + DR_SAMPLE_RATE - 1) / DR_SAMPLE_RATE;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}
