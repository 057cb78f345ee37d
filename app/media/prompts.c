/* SPDX-License-Identifier: MIT */
/*
 * Prompt pack loader: every prompt decoded once into memory at start-up.
 * For each prompt the folders of the search path are tried in order;
 * "<dir>/<name>.opus" is preferred to "<dir>/<name>.wav" within a folder.
 * Opus decodes at 48 kHz through opusfile; a WAV at another rate is
 * resampled with libsoxr, streaming (a chunk of input at a time, so a 96 kHz
 * stereo float file never sits in memory whole). A prompt that is missing,
 * undecodable, empty or too long fails the load with a message naming the
 * file, so a broken pack is found by whoever installs it and never by a
 * resident pressing the button.
 */
#include "prompts.h"

#include <errno.h>
#include <limits.h>
#include <opusfile.h>
#include <soxr.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oggopus.h"
#include "wav.h"

#define DR_PROMPT_MAX_SAMPLES ((size_t)DR_PROMPT_MAX_SECONDS * DR_SAMPLE_RATE)
#define DR_PROMPT_MIN_RATE 8000
#define DR_PROMPT_MAX_RATE 192000

struct dr_prompt_pcm {
	int16_t *pcm;
	size_t n;
	char *source; /* the file it came from */
};

struct dr_prompts {
	struct dr_prompt_pcm p[DR_PROMPT_COUNT];
	char warning[PATH_MAX + 256]; /* the first override that could not be played */
};

/* Appends to a growing buffer of at most DR_PROMPT_MAX_SAMPLES. */
struct pcm_buf {
	int16_t *s;
	size_t n, cap;
};

static int pcm_reserve(struct pcm_buf *b, size_t more)
{
	if (more > DR_PROMPT_MAX_SAMPLES - b->n)
		return -EFBIG;
	if (b->cap - b->n >= more)
		return 0;
	size_t cap = b->cap ? b->cap : 48000;
	while (cap - b->n < more)
		cap *= 2;
	int16_t *s = realloc(b->s, cap * sizeof(int16_t));
	if (!s)
		return -ENOMEM;
	b->s = s;
	b->cap = cap;
	return 0;
}

static void reserve_failed(int rc, const char *path, char *err, size_t errlen)
{
	if (rc == -EFBIG)
		snprintf(err, errlen, "prompts: %s: longer than %d s; a phrase must be shorter", path,
			 DR_PROMPT_MAX_SECONDS);
	else
		snprintf(err, errlen, "prompts: %s: out of memory", path);
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
			reserve_failed(rc, path, err, errlen);
			break;
		}
		for (int i = 0; i < n; i++)
			b->s[b->n + (size_t)i] = (int16_t)(((int32_t)st[2 * i] + st[2 * i + 1]) >> 1);
		b->n += (size_t)n;
	}
	op_free(of);
	return rc;
}

static int16_t float_to_s16(float v)
{
	if (!(v > -1.0f)) /* NaN too, though soxr makes none from finite input */
		return v != v ? 0 : INT16_MIN;
	if (v >= 1.0f)
		return INT16_MAX;
	v *= 32768.0f;
	int32_t s = v < 0 ? -(int32_t)(0.5f - v) : (int32_t)(v + 0.5f);
	return (int16_t)(s > INT16_MAX ? INT16_MAX : s);
}

/* Appends soxr's output, cut at `want` samples in all (its flush can give a
 * few more than the exact ratio). */
static int append_floats(struct pcm_buf *b, const float *f, size_t n, size_t want)
{
	if (b->n >= want)
		return 0;
	if (n > want - b->n)
		n = want - b->n;
	int rc = pcm_reserve(b, n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		b->s[b->n + i] = float_to_s16(f[i]);
	b->n += n;
	return 0;
}

/* The rest of r, resampled from its rate to 48 kHz. */
static int resample_wav(struct dr_wav_reader *r, const struct dr_wav_info *info, const char *path,
			struct pcm_buf *b, char *err, size_t errlen)
{
	soxr_error_t e = NULL;
	soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
	soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
	soxr_runtime_spec_t rt = soxr_runtime_spec(1);
	soxr_t s = soxr_create(info->rate, DR_SAMPLE_RATE, 1, &e, &io, &q, &rt);
	if (!s || e) {
		snprintf(err, errlen, "prompts: %s: cannot resample from %u Hz (soxr: %s)", path,
			 (unsigned)info->rate, soxr_strerror(e));
		if (s)
			soxr_delete(s);
		return -EINVAL;
	}
	/* The exact length at 48 kHz, rounded: what the file lasts. */
	size_t want = (size_t)((info->frames * DR_SAMPLE_RATE + info->rate / 2) / info->rate);
	int rc = pcm_reserve(b, want);
	if (rc) {
		reserve_failed(rc, path, err, errlen);
		soxr_delete(s);
		return rc;
	}
	float in[2048], out[4096];
	for (bool eof = false; !eof;) {
		long k = dr_wav_reader_read_mono_float(r, in, sizeof(in) / sizeof(in[0]));
		if (k < 0) {
			snprintf(err, errlen, "prompts: %s: %s", path, strerror((int)-k));
			rc = (int)k;
			break;
		}
		eof = k == 0;
		const float *ip = in;
		size_t left = (size_t)k;
		for (;;) {
			size_t idone = 0, odone = 0;
			/* NULL input: the end; soxr then flushes what it holds. */
			e = soxr_process(s, eof ? NULL : ip, left, &idone, out, sizeof(out) / sizeof(out[0]),
					 &odone);
			if (e) {
				snprintf(err, errlen, "prompts: %s: resampling failed (soxr: %s)", path,
					 soxr_strerror(e));
				rc = -EINVAL;
				break;
			}
			rc = append_floats(b, out, odone, want);
			if (rc) {
				reserve_failed(rc, path, err, errlen);
				break;
			}
			ip += idone;
			left -= idone;
			if (eof ? odone == 0 : left == 0)
				break;
			if (!eof && idone == 0 && odone == 0) {
				snprintf(err, errlen, "prompts: %s: the resampler is stuck", path);
				rc = -EIO;
				break;
			}
		}
		if (rc)
			break;
	}
	soxr_delete(s);
	return rc;
}

static int load_wav(const char *path, struct pcm_buf *b, char *err, size_t errlen)
{
	struct dr_wav_reader *r = NULL;
	int rc = dr_wav_reader_open(path, &r);
	if (rc == -ENOTSUP) {
		snprintf(err, errlen,
			 "prompts: %s: a kind of WAV the box does not read; use 16, 24 or 32-bit "
			 "PCM or 32-bit float, mono or stereo (or tools/replace-prompt)",
			 path);
		return rc;
	}
	if (rc == -EINVAL) {
		snprintf(err, errlen, "prompts: %s: not a WAV file, or a damaged or cut-short one", path);
		return rc;
	}
	if (rc) {
		snprintf(err, errlen, "prompts: %s: %s", path, strerror(-rc));
		return rc;
	}
	const struct dr_wav_info *info = dr_wav_reader_info(r);
	if (info->rate < DR_PROMPT_MIN_RATE || info->rate > DR_PROMPT_MAX_RATE) {
		snprintf(err, errlen, "prompts: %s: sample rate %u Hz; the box takes %d to %d Hz", path,
			 (unsigned)info->rate, DR_PROMPT_MIN_RATE, DR_PROMPT_MAX_RATE);
		dr_wav_reader_free(r);
		return -EINVAL;
	}
	if (info->frames / info->rate >= DR_PROMPT_MAX_SECONDS) {
		reserve_failed(-EFBIG, path, err, errlen);
		dr_wav_reader_free(r);
		return -EFBIG;
	}
	if (info->rate != DR_SAMPLE_RATE) {
		rc = resample_wav(r, info, path, b, err, errlen);
		dr_wav_reader_free(r);
		return rc;
	}
	rc = pcm_reserve(b, (size_t)info->frames);
	if (rc)
		reserve_failed(rc, path, err, errlen);
	while (!rc && b->n < b->cap) {
		long n = dr_wav_reader_read_mono(r, b->s + b->n, b->cap - b->n);
		if (n < 0) {
			rc = (int)n;
			snprintf(err, errlen, "prompts: %s: %s", path, strerror(-rc));
		}
		if (n <= 0)
			break;
		b->n += (size_t)n;
	}
	dr_wav_reader_free(r);
	return rc;
}

/* The search path split into folders (pointing into buf). */
struct dirs {
	char buf[PATH_MAX * 2];
	const char *d[DR_PROMPT_MAX_DIRS];
	int n;
};

static int split_dirs(const char *path, struct dirs *ds, char *err, size_t errlen)
{
	if (strlen(path) >= sizeof(ds->buf)) {
		snprintf(err, errlen, "prompts: prompt folder name too long");
		return -ENAMETOOLONG;
	}
	strcpy(ds->buf, path);
	ds->n = 0;
	char *save = NULL;
	for (char *t = strtok_r(ds->buf, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
		if (ds->n == DR_PROMPT_MAX_DIRS) {
			snprintf(err, errlen, "prompts: more than %d prompt folders in %s",
				 DR_PROMPT_MAX_DIRS, path);
			return -EINVAL;
		}
		ds->d[ds->n++] = t;
	}
	if (ds->n == 0) {
		snprintf(err, errlen, "prompts: no prompt folder given");
		return -EINVAL;
	}
	/* An override folder that is not there is a typo, or a data partition
	 * that did not mount: say so rather than use the built-in voice. */
	for (int i = 0; i < ds->n - 1; i++) {
		struct stat st;
		if (stat(ds->d[i], &st) < 0) {
			int e = errno;
			snprintf(err, errlen, "prompts: override folder %s: %s", ds->d[i], strerror(e));
			return -e;
		}
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "prompts: override folder %s: not a folder", ds->d[i]);
			return -ENOTDIR;
		}
	}
	return 0;
}

/* Loads one file of a phrase into b; err says why not. */
static int load_file(const char *path, bool opus, struct pcm_buf *b, char *err, size_t errlen)
{
	int rc = opus ? load_opus(path, b, err, errlen) : load_wav(path, b, err, errlen);
	if (!rc && b->n == 0) {
		snprintf(err, errlen, "prompts: %s: holds no audio", path);
		rc = -EINVAL;
	}
	if (rc) {
		free(b->s);
		*b = (struct pcm_buf){0};
	}
	return rc;
}

/*
 * A phrase from the first folder that has it. An organisation's recording
 * in an override folder that cannot be played is not the end of the box:
 * the next folder's (in the end the built-in pack's) is used, and `warning`
 * says which file was passed over and why. The built-in pack's own phrases
 * must load.
 */
static int load_one(const struct dirs *ds, enum dr_prompt id, struct dr_prompt_pcm *out,
		    char *warning, size_t warnlen, char *err, size_t errlen)
{
	static const char *const exts[] = {"opus", "wav"};
	const char *name = dr_prompt_name(id);
	if (!name || !strcmp(name, "?")) {
		snprintf(err, errlen, "prompts: prompt %d has no name", (int)id);
		return -EINVAL;
	}
	char path[PATH_MAX];
	struct pcm_buf b = {0};
	int rc = -ENOENT;
	for (int i = 0; i < ds->n && rc; i++) {
		int ext;
		for (ext = 0; ext < 2; ext++) {
			if (snprintf(path, sizeof(path), "%s/%s.%s", ds->d[i], name, exts[ext]) >=
			    (int)sizeof(path)) {
				snprintf(err, errlen, "prompts: %s: folder name too long", ds->d[i]);
				return -ENAMETOOLONG;
			}
			if (access(path, F_OK) == 0)
				break;
		}
		if (ext == 2)
			continue;
		rc = load_file(path, ext == 0, &b, err, errlen);
		if (rc && i < ds->n - 1) {
			if (!warning[0])
				snprintf(warning, warnlen, "%s; the built-in phrase is used instead", err);
			rc = -ENOENT; /* look further */
		} else if (rc) {
			return rc;
		}
	}
	if (rc) {
		snprintf(err, errlen, "prompts: missing %s/%s.opus (or %s.wav)%s", ds->d[ds->n - 1], name,
			 name, ds->n > 1 ? ", and no override has it" : "");
		return -ENOENT;
	}
	if (!(out->source = strdup(path))) {
		snprintf(err, errlen, "prompts: out of memory");
		free(b.s);
		return -ENOMEM;
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
	struct dirs *ds = malloc(sizeof(*ds));
	struct dr_prompts *p = calloc(1, sizeof(*p));
	int rc = !ds || !p ? -ENOMEM : 0;
	if (rc)
		snprintf(err, errlen, "prompts: out of memory");
	else
		rc = split_dirs(dir, ds, err, errlen);
	for (int id = 0; !rc && id < DR_PROMPT_COUNT; id++)
		rc = load_one(ds, (enum dr_prompt)id, &p->p[id], p->warning, sizeof(p->warning), err,
			      errlen);
	free(ds);
	if (rc) {
		dr_prompts_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void dr_prompts_free(struct dr_prompts *p)
{
	if (!p)
		return;
	for (int id = 0; id < DR_PROMPT_COUNT; id++) {
		free(p->p[id].pcm);
		free(p->p[id].source);
	}
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

const char *dr_prompts_warning(const struct dr_prompts *p)
{
	return p && p->warning[0] ? p->warning : NULL;
}

const char *dr_prompts_source(const struct dr_prompts *p, enum dr_prompt id)
{
	if ((unsigned)id >= DR_PROMPT_COUNT)
		return NULL;
	return p->p[id].source;
}
