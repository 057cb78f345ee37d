/* SPDX-License-Identifier: MIT */
/* Shared helpers of the app/media unit tests. */
#ifndef DR_TEST_MEDIA_H
#define DR_TEST_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/sink.h"

/* A fresh scratch folder under $DR_TEST_TMP (or /tmp); caller frees. */
char *mt_tmpdir(const char *tag);
/* Removes a folder made by mt_tmpdir with everything in it, and frees the
 * name. NULL is a no-op. */
void mt_rmtree(char *dir);
/* "<dir>/<name>" in a static rotating buffer (8 slots). */
const char *mt_path(const char *dir, const char *name);

/* An in-memory sink that counts everything and can fail or stall. */
struct mt_memsink {
	unsigned char *buf;
	size_t len, cap;
	int writes, syncs, closes;
	size_t fail_after;   /* fail writes once len would exceed this (0 = never) */
	int fail_err;        /* the error then (default -ENOSPC) */
	/* Per sync: bytes so far, and *progress (the test's own counter) then. */
	size_t sync_len[4096];
	uint64_t sync_progress[4096];
	const uint64_t *progress;
	bool keep_after_close; /* close does not free buf (the test does) */
};
struct dr_sink mt_memsink(struct mt_memsink *m);
void mt_memsink_free(struct mt_memsink *m);

int mt_write_file(const char *path, const void *buf, size_t len);
int mt_read_file(const char *path, unsigned char **buf, size_t *len);

/* Test signals, 48 kHz mono. */
void mt_chirp(int16_t *s, size_t n);
/* Real speech from espeak-ng + sox when both are there, else a speech-like
 * synthetic signal (gliding harmonics in syllable bursts). Caller frees. */
int16_t *mt_speech(const char *dir, size_t *n, bool *real);

int mt_write_wav(const char *path, const int16_t *s, size_t n, uint32_t rate, int channels);
/* Whole WAV file, downmixed to mono; caller frees. */
int mt_read_wav(const char *path, int16_t **s, size_t *n, uint32_t *rate);
/* Decodes an Ogg Opus file with opusfile (mono, 48 kHz); caller frees. */
int mt_decode(const char *path, int16_t **s, size_t *n);

/* Pearson correlation of the energies of 20 ms frames of a and b (first n
 * samples of each), b shifted by `shift` samples. */
double mt_energy_corr(const int16_t *a, const int16_t *b, size_t n, long shift);

bool mt_have_tool(const char *tool);
/* Runs a shell command, returns its exit status (or -1); output into out. */
int mt_run(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* opusinfo's verdict: true when it exits 0 and prints no warning/error. */
bool mt_opusinfo_clean(const char *path, char *out, size_t outlen);

#endif
