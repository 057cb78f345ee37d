/* SPDX-License-Identifier: MIT */
/*
 * Prompt pack loader and reader. Loading only checks each phrase and learns
 * its length (for Opus: opusfile's exact length, pre-skip and end trim
 * honoured; for a WAV: its frame count), so the daemon holds no decoded
 * pack: a phrase is decoded while it plays, a chunk at a time, by a
 * dr_prompt_reader. For each prompt the folders of the search path are tried
 * in order; "<dir>/<name>.opus" is preferred to "<dir>/<name>.wav" within a
 * folder. A WAV at another rate than 48 kHz is resampled once with
 * libsamplerate (streaming, a chunk of input at a time, so a 96 kHz stereo
 * float file never sits in memory whole) into the cache folder, keyed by a
 * BLAKE2b hash of the source's bytes, and read from there from then on.
 * libsamplerate rather than libsoxr: Debian's libsoxr is built with OpenMP,
 * which put the whole OpenMP runtime (libgomp) into the daemon. A prompt that
 * is missing, undecodable, empty or too long fails the load with a message
 * naming the file, so a broken pack is found by whoever installs it and
 * never by a resident pressing the button.
 */
#include "prompts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <opusfile.h>
#include <samplerate.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/log.h"
#include "oggopus.h"
#include "sink.h"
#include "wav.h"

#define MOD "prompts"
#define DR_PROMPT_MAX_SAMPLES ((size_t)DR_PROMPT_MAX_SECONDS * DR_SAMPLE_RATE)
#define DR_PROMPT_MIN_RATE 8000
#define DR_PROMPT_MAX_RATE 192000
#define HASH_BYTES 16 /* of the source, in the cache file's name */

enum kind { K_OPUS, K_WAV, K_MEM };

struct dr_prompt_entry {
	enum kind kind;
	size_t n;     /* samples at 48 kHz */
	char *source; /* the file it came from */
	char *play;   /* the file read when it plays (K_OPUS, K_WAV) */
	int16_t *pcm; /* K_MEM: resampled, no cache */
};

struct dr_prompts {
	struct dr_prompt_entry p[DR_PROMPT_COUNT];
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
		snprintf(err, errlen, "prompts: %s: %s", path, strerror(-rc));
}

/* ---- Ogg Opus ---- */

/* op_open_file's fopen has no "e": open the stream ourselves with O_CLOEXEC
 * and hand it over through opusfile's stdio callbacks. seekable: let
 * opusfile find the length (it reads the end of the file); a player only
 * reads on, and opens quicker without. NULL with errno (or -EINVAL in *oerr
 * for a file opusfile refuses). */
static OggOpusFile *open_opus(const char *path, bool seekable, int *oerr)
{
	OpusFileCallbacks cb;
	void *stream = op_fopen(&cb, path, "rbe");
	*oerr = 0;
	if (!stream)
		return NULL;
	if (!seekable) {
		cb.seek = NULL;
		cb.tell = NULL;
	}
	OggOpusFile *of = op_open_callbacks(stream, &cb, NULL, 0, oerr);
	if (!of) {
		cb.close(stream);
		if (!*oerr)
			*oerr = OP_EFAULT;
		errno = EINVAL;
	}
	return of;
}

/* Checks that the file opens and decodes, and finds its exact length. */
static int probe_opus(const char *path, size_t *n, char *err, size_t errlen)
{
	int oerr;
	OggOpusFile *of = open_opus(path, true, &oerr);
	if (!of && !oerr) {
		int e = errno;
		snprintf(err, errlen, "prompts: %s: %s", path, strerror(e));
		return e ? -e : -EIO;
	}
	if (!of) {
		snprintf(err, errlen, "prompts: %s: not a readable Ogg Opus file (opusfile error %d)",
			 path, oerr);
		return -EINVAL;
	}
	int rc = 0;
	ogg_int64_t total = op_pcm_total(of, -1);
	if (total < 0) {
		snprintf(err, errlen, "prompts: %s: not a readable Ogg Opus file (opusfile error %d)",
			 path, (int)total);
		rc = -EINVAL;
	} else if ((uint64_t)total > DR_PROMPT_MAX_SAMPLES) {
		reserve_failed(-EFBIG, path, err, errlen);
		rc = -EFBIG;
	} else if (total > 0) {
		/* The first packets decode (a file with good headers and
		 * garbage after them is refused here, not in front of a
		 * resident). */
		opus_int16 st[2 * 960];
		int k;
		do
			k = op_read_stereo(of, st, (int)(sizeof(st) / sizeof(st[0])));
		while (k == OP_HOLE);
		if (k < 0) {
			snprintf(err, errlen, "prompts: %s: decoding failed (opusfile error %d)", path, k);
			rc = -EINVAL;
		}
	}
	*n = total > 0 ? (size_t)total : 0;
	op_free(of);
	return rc;
}

/* ---- WAV at any rate ---- */

static int16_t float_to_s16(float v)
{
	if (!(v > -1.0f)) /* NaN too */
		return v != v ? 0 : INT16_MIN;
	if (v >= 1.0f)
		return INT16_MAX;
	v *= 32768.0f;
	int32_t s = v < 0 ? -(int32_t)(0.5f - v) : (int32_t)(v + 0.5f);
	return (int16_t)(s > INT16_MAX ? INT16_MAX : s);
}

/* Where resampled PCM goes: memory or the cache file. */
struct pcm_out {
	struct pcm_buf *mem;
	struct dr_wav_writer *w;
	size_t n; /* written so far */
};

static int out_put(struct pcm_out *o, const int16_t *s, size_t n)
{
	int rc;
	if (o->mem) {
		rc = pcm_reserve(o->mem, n);
		if (rc)
			return rc;
		memcpy(o->mem->s + o->mem->n, s, n * sizeof(int16_t));
		o->mem->n += n;
	} else {
		rc = dr_wav_writer_write(o->w, s, n);
		if (rc)
			return rc;
	}
	o->n += n;
	return 0;
}

/* libsamplerate's output, cut at `want` samples in all. */
static int put_floats(struct pcm_out *o, const float *f, size_t n, size_t want)
{
	int16_t s[4096];
	if (o->n >= want)
		return 0;
	if (n > want - o->n)
		n = want - o->n;
	while (n) {
		size_t k = n < 4096 ? n : 4096;
		for (size_t i = 0; i < k; i++)
			s[i] = float_to_s16(f[i]);
		int rc = out_put(o, s, k);
		if (rc)
			return rc;
		f += k;
		n -= k;
	}
	return 0;
}

/* The length at 48 kHz of `frames` at `rate`, rounded: what the file lasts. */
static size_t len_at_48k(const struct dr_wav_info *info)
{
	return (size_t)((info->frames * DR_SAMPLE_RATE + info->rate / 2) / info->rate);
}

/* The rest of r, resampled from its rate to 48 kHz into o: exactly
 * len_at_48k() samples (the filter's last few are cut, or zeros added). */
static int resample_wav(struct dr_wav_reader *r, const struct dr_wav_info *info, const char *path,
			struct pcm_out *o, char *err, size_t errlen)
{
	int e = 0;
	SRC_STATE *s = src_new(SRC_SINC_MEDIUM_QUALITY, 1, &e);
	if (!s) {
		snprintf(err, errlen, "prompts: %s: cannot resample from %u Hz (libsamplerate: %s)", path,
			 (unsigned)info->rate, src_strerror(e));
		return -ENOMEM;
	}
	size_t want = len_at_48k(info);
	int rc = 0;
	float in[2048], out[4096];
	SRC_DATA d = {.src_ratio = (double)DR_SAMPLE_RATE / info->rate};
	for (bool eof = false; !eof && !rc;) {
		long k = dr_wav_reader_read_mono_float(r, in, sizeof(in) / sizeof(in[0]));
		if (k < 0) {
			snprintf(err, errlen, "prompts: %s: %s", path, strerror((int)-k));
			rc = (int)k;
			break;
		}
		eof = k == 0;
		d.data_in = in;
		d.input_frames = k;
		d.end_of_input = eof;
		for (;;) {
			d.data_out = out;
			d.output_frames = sizeof(out) / sizeof(out[0]);
			e = src_process(s, &d);
			if (e) {
				snprintf(err, errlen, "prompts: %s: resampling failed (libsamplerate: %s)",
					 path, src_strerror(e));
				rc = -EINVAL;
				break;
			}
			rc = put_floats(o, out, (size_t)d.output_frames_gen, want);
			if (rc) {
				reserve_failed(rc, path, err, errlen);
				break;
			}
			d.data_in += d.input_frames_used;
			d.input_frames -= d.input_frames_used;
			if (eof ? d.output_frames_gen == 0 : d.input_frames == 0)
				break;
			if (!eof && d.input_frames_used == 0 && d.output_frames_gen == 0) {
				snprintf(err, errlen, "prompts: %s: the resampler is stuck", path);
				rc = -EIO;
				break;
			}
		}
	}
	src_delete(s);
	static const int16_t zeros[256];
	while (!rc && o->n < want) {
		size_t k = want - o->n < 256 ? want - o->n : 256;
		rc = out_put(o, zeros, k);
		if (rc)
			reserve_failed(rc, path, err, errlen);
	}
	return rc;
}

/* The hash of a file's bytes, as hex, into hex[2 * HASH_BYTES + 1]. */
static int hash_file(const char *path, char *hex)
{
	unsigned char h[HASH_BYTES], buf[16384];
	crypto_generichash_state st;
	if (sodium_init() < 0)
		return -EIO;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	for (;;) {
		ssize_t k = read(fd, buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		if (k == 0)
			break;
		crypto_generichash_update(&st, buf, (size_t)k);
	}
	close(fd);
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(hex, 2 * HASH_BYTES + 1, h, sizeof(h));
	return 0;
}

/* A cache file that holds what we would write: 48 kHz mono 16-bit, `want`
 * frames. Anything else (cut short by a power failure, changed by hand) is
 * made again. */
static bool cache_good(const char *path, size_t want)
{
	struct dr_wav_reader *r = NULL;
	if (dr_wav_reader_open(path, &r))
		return false;
	const struct dr_wav_info *i = dr_wav_reader_info(r);
	bool ok = i->rate == DR_SAMPLE_RATE && i->channels == 1 && i->bits == 16 && !i->is_float &&
		  i->frames == want;
	dr_wav_reader_free(r);
	return ok;
}

/* Removes "<name>-<32 hex>.wav" files other than `keep` (older versions of
 * the phrase) from the cache folder. Best effort. */
static void cache_prune(const char *cache_dir, const char *name, const char *keep)
{
	DIR *d = opendir(cache_dir);
	if (!d)
		return;
	size_t nl = strlen(name);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *f = de->d_name;
		if (strncmp(f, name, nl) || f[nl] != '-' || strlen(f) != nl + 1 + 2 * HASH_BYTES + 4 ||
		    strcmp(f + nl + 1 + 2 * HASH_BYTES, ".wav") || !strcmp(f, keep))
			continue;
		if (unlinkat(dirfd(d), f, 0) == 0)
			DR_LOG_DEBUG(MOD, "removed %s/%s (an older recording of the phrase)", cache_dir, f);
	}
	closedir(d);
}

/* Resamples r into `path`, durably: a temporary file, synced, renamed, the
 * folder synced. */
static int cache_write(struct dr_wav_reader *r, const struct dr_wav_info *info, const char *src,
		       const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX + 8];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	struct pcm_out o = {0};
	int rc = dr_wav_writer_open(tmp, DR_SAMPLE_RATE, &o.w);
	if (rc) {
		snprintf(err, errlen, "prompts: cannot write %s: %s", tmp, strerror(-rc));
		return rc;
	}
	rc = resample_wav(r, info, src, &o, err, errlen);
	int c = dr_wav_writer_close(o.w);
	if (!rc && c) {
		snprintf(err, errlen, "prompts: cannot write %s: %s", tmp, strerror(-c));
		rc = c;
	}
	if (!rc) {
		int fd = open(tmp, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fdatasync(fd) < 0)
			rc = -errno;
		if (fd >= 0)
			close(fd);
		if (!rc && rename(tmp, path) < 0)
			rc = -errno;
		if (!rc)
			rc = dr_sync_parent_dir(path);
		if (rc)
			snprintf(err, errlen, "prompts: cannot write %s: %s", path, strerror(-rc));
	}
	if (rc)
		unlink(tmp);
	return rc;
}

/* The phrase's resampled copy in the cache folder, made if need be. */
static int cached_copy(struct dr_wav_reader *r, const struct dr_wav_info *info, const char *src,
		       const char *name, const char *cache_dir, char **play, char *err, size_t errlen)
{
	char hex[2 * HASH_BYTES + 1], file[128], path[PATH_MAX];
	int rc = hash_file(src, hex);
	if (rc) {
		snprintf(err, errlen, "prompts: %s: %s", src, strerror(-rc));
		return rc;
	}
	snprintf(file, sizeof(file), "%s-%s.wav", name, hex);
	if (snprintf(path, sizeof(path), "%s/%s", cache_dir, file) >= (int)sizeof(path)) {
		snprintf(err, errlen, "prompts: %s: folder name too long", cache_dir);
		return -ENAMETOOLONG;
	}
	if (!cache_good(path, len_at_48k(info))) {
		if (mkdir(cache_dir, 0750) < 0 && errno != EEXIST) {
			rc = -errno;
			snprintf(err, errlen, "prompts: cannot make %s: %s", cache_dir, strerror(errno));
			return rc;
		}
		DR_LOG_DEBUG(MOD, "resampling %s from %u Hz into %s", src, (unsigned)info->rate, path);
		rc = cache_write(r, info, src, path, err, errlen);
		if (rc)
			return rc;
		cache_prune(cache_dir, name, file);
	}
	if (!(*play = strdup(path)))
		return -ENOMEM;
	return 0;
}

static int probe_wav(const char *path, const char *name, const char *cache_dir,
		     struct dr_prompt_entry *e, char *err, size_t errlen)
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
		rc = -EINVAL;
		goto out;
	}
	if (info->frames / info->rate >= DR_PROMPT_MAX_SECONDS) {
		reserve_failed(-EFBIG, path, err, errlen);
		rc = -EFBIG;
		goto out;
	}
	if (info->frames == 0) {
		e->n = 0; /* "holds no audio" */
		goto out;
	}
	if (info->rate == DR_SAMPLE_RATE) {
		/* Read as it is, when it plays. */
		e->kind = K_WAV;
		e->n = (size_t)info->frames;
		if (!(e->play = strdup(path)))
			rc = -ENOMEM;
		goto out;
	}
	if (cache_dir) {
		rc = cached_copy(r, info, path, name, cache_dir, &e->play, err, errlen);
		if (rc == 0) {
			e->kind = K_WAV;
			e->n = len_at_48k(info);
			goto out;
		}
		/* No cache (a full or read-only disk): in memory, as without. */
		DR_LOG_DEBUG(MOD, "%s; resampling into memory instead", err);
		err[0] = '\0';
		rc = dr_wav_reader_rewind(r);
		if (rc) {
			snprintf(err, errlen, "prompts: %s: %s", path, strerror(-rc));
			goto out;
		}
	}
	struct pcm_buf b = {0};
	struct pcm_out o = {.mem = &b};
	rc = resample_wav(r, info, path, &o, err, errlen);
	if (rc) {
		free(b.s);
		goto out;
	}
	e->kind = K_MEM;
	e->pcm = b.s;
	e->n = b.n;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "prompts: %s: out of memory", path);
	dr_wav_reader_free(r);
	return rc;
}

static void entry_clear(struct dr_prompt_entry *e)
{
	free(e->source);
	free(e->play);
	free(e->pcm);
	*e = (struct dr_prompt_entry){0};
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

/* Checks one file of a phrase into e; err says why not. */
static int load_file(const char *path, bool opus, const char *name, const char *cache_dir,
		     struct dr_prompt_entry *e, char *err, size_t errlen)
{
	int rc;
	*e = (struct dr_prompt_entry){0};
	if (opus) {
		e->kind = K_OPUS;
		rc = probe_opus(path, &e->n, err, errlen);
		if (!rc && !(e->play = strdup(path)))
			rc = -ENOMEM;
	} else {
		rc = probe_wav(path, name, cache_dir, e, err, errlen);
	}
	if (!rc && e->n == 0) {
		snprintf(err, errlen, "prompts: %s: holds no audio", path);
		rc = -EINVAL;
	}
	if (!rc && !(e->source = strdup(path)))
		rc = -ENOMEM;
	if (rc == -ENOMEM)
		snprintf(err, errlen, "prompts: out of memory");
	if (rc)
		entry_clear(e);
	return rc;
}

/*
 * A phrase from the first folder that has it. An organisation's recording
 * in an override folder that cannot be played is not the end of the box:
 * the next folder's (in the end the built-in pack's) is used, and `warning`
 * says which file was passed over and why. The built-in pack's own phrases
 * must load.
 */
static int load_one(const struct dirs *ds, const char *cache_dir, enum dr_prompt id,
		    struct dr_prompt_entry *out, char *warning, size_t warnlen, char *err,
		    size_t errlen)
{
	static const char *const exts[] = {"opus", "wav"};
	const char *name = dr_prompt_name(id);
	if (!name || !strcmp(name, "?")) {
		snprintf(err, errlen, "prompts: prompt %d has no name", (int)id);
		return -EINVAL;
	}
	char path[PATH_MAX];
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
		rc = load_file(path, ext == 0, name, cache_dir, out, err, errlen);
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
	return 0;
}

int dr_prompts_load_cached(const char *dir, const char *cache_dir, struct dr_prompts **out,
			   char *err, size_t errlen)
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
		rc = load_one(ds, cache_dir, (enum dr_prompt)id, &p->p[id], p->warning,
			      sizeof(p->warning), err, errlen);
	free(ds);
	if (rc) {
		dr_prompts_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int dr_prompts_load(const char *dir, struct dr_prompts **out, char *err, size_t errlen)
{
	return dr_prompts_load_cached(dir, NULL, out, err, errlen);
}

void dr_prompts_free(struct dr_prompts *p)
{
	if (!p)
		return;
	for (int id = 0; id < DR_PROMPT_COUNT; id++)
		entry_clear(&p->p[id]);
	free(p);
}

size_t dr_prompts_samples(const struct dr_prompts *p, enum dr_prompt id)
{
	return (unsigned)id < DR_PROMPT_COUNT ? p->p[id].n : 0;
}

uint32_t dr_prompts_ms(const struct dr_prompts *p, enum dr_prompt id)
{
	uint64_t ms = ((uint64_t)dr_prompts_samples(p, id) * 1000 + DR_SAMPLE_RATE - 1) / DR_SAMPLE_RATE;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

const char *dr_prompts_warning(const struct dr_prompts *p)
{
	return p && p->warning[0] ? p->warning : NULL;
}

const char *dr_prompts_source(const struct dr_prompts *p, enum dr_prompt id)
{
	return (unsigned)id < DR_PROMPT_COUNT ? p->p[id].source : NULL;
}

const char *dr_prompts_play_path(const struct dr_prompts *p, enum dr_prompt id)
{
	return (unsigned)id < DR_PROMPT_COUNT ? p->p[id].play : NULL;
}

/* ---- playing: a phrase decoded a chunk at a time ---- */

struct dr_prompt_reader {
	enum kind kind;
	size_t pos, n;
	OggOpusFile *of;
	struct dr_wav_reader *wr;
	const int16_t *mem;
	opus_int16 st[2 * 5760]; /* one Opus packet of 120 ms, both channels */
};

int dr_prompt_reader_open(const struct dr_prompts *p, enum dr_prompt id,
			  struct dr_prompt_reader **out)
{
	if (!p || !out || (unsigned)id >= DR_PROMPT_COUNT)
		return -EINVAL;
	const struct dr_prompt_entry *e = &p->p[id];
	struct dr_prompt_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->kind = e->kind;
	r->n = e->n;
	int rc = 0, oerr;
	switch (e->kind) {
	case K_OPUS:
		r->of = open_opus(e->play, false, &oerr);
		if (!r->of)
			rc = oerr ? -EIO : (errno ? -errno : -EIO);
		break;
	case K_WAV:
		rc = dr_wav_reader_open(e->play, &r->wr);
		if (rc == 0 && dr_wav_reader_info(r->wr)->rate != DR_SAMPLE_RATE)
			rc = -EIO; /* replaced since it was loaded */
		break;
	case K_MEM:
		r->mem = e->pcm;
		break;
	}
	if (rc) {
		dr_prompt_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

long dr_prompt_reader_read(struct dr_prompt_reader *r, int16_t *buf, size_t max)
{
	if (r->pos >= r->n || max == 0)
		return 0;
	if (max > r->n - r->pos)
		max = r->n - r->pos;
	long got = 0;
	switch (r->kind) {
	case K_OPUS: {
		int k;
		size_t want = max < 5760 ? max : 5760;
		do
			k = op_read_stereo(r->of, r->st, (int)(2 * want));
		while (k == OP_HOLE); /* a gap in the file: keep going, as players do */
		if (k < 0)
			return -EIO;
		for (int i = 0; i < k; i++)
			buf[i] = (int16_t)(((int32_t)r->st[2 * i] + r->st[2 * i + 1]) >> 1);
		got = k;
		break;
	}
	case K_WAV:
		got = dr_wav_reader_read_mono(r->wr, buf, max);
		if (got < 0)
			return got == -EINVAL ? -EIO : got;
		break;
	case K_MEM:
		memcpy(buf, r->mem + r->pos, max * sizeof(int16_t));
		got = (long)max;
		break;
	}
	if (got == 0)
		r->n = r->pos; /* cut short since it was loaded */
	r->pos += (size_t)got;
	return got;
}

void dr_prompt_reader_free(struct dr_prompt_reader *r)
{
	if (!r)
		return;
	if (r->of)
		op_free(r->of);
	dr_wav_reader_free(r->wr);
	free(r);
}

int dr_prompts_decode(const struct dr_prompts *p, enum dr_prompt id, int16_t **pcm, size_t *n)
{
	*pcm = NULL;
	*n = 0;
	struct dr_prompt_reader *r = NULL;
	int rc = dr_prompt_reader_open(p, id, &r);
	if (rc)
		return rc;
	size_t cap = dr_prompts_samples(p, id);
	int16_t *s = malloc((cap ? cap : 1) * sizeof(int16_t));
	size_t got = 0;
	if (!s)
		rc = -ENOMEM;
	while (!rc && got < cap) {
		long k = dr_prompt_reader_read(r, s + got, cap - got);
		if (k < 0)
			rc = (int)k;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	dr_prompt_reader_free(r);
	if (rc) {
		free(s);
		return rc;
	}
	*pcm = s;
	*n = got;
	return 0;
}
