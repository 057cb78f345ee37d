/* SPDX-License-Identifier: MIT */
/*
 * dr_wav: minimal RIFF/WAVE PCM reading and writing.
 *
 * The reader accepts integer PCM of 16, 24 or 32 bits and IEEE float of 32 or
 * 64 bits (format tags 1 and 3, or WAVE_FORMAT_EXTENSIBLE with the PCM or
 * IEEE_FLOAT subformat), any rate, 1 or 2 channels; it skips unknown chunks,
 * and rejects anything else (8-bit, A-law, ADPCM, more channels...) with
 * -ENOTSUP, and a malformed file with -EINVAL. It never trusts sizes in the
 * header beyond the real file size.
 * The writer writes 16-bit mono; sizes in the header are patched on close and
 * also every dr_wav_writer_flush(), so a crash leaves a playable file.
 *
 * dr_wav_*_free(NULL) are no-ops.
 */
#ifndef DR_WAV_H
#define DR_WAV_H

#include <stddef.h>
#include <stdint.h>

struct dr_wav_info {
	uint32_t rate;
	uint16_t channels;
	uint64_t frames;
	/* Added for prompts in any format; read_mono / read_mono_float convert
	 * every one of them. */
	uint16_t bits;     /* bits per sample as stored: 16, 24, 32 or 64 */
	uint8_t is_float;  /* 1: IEEE float (32 or 64 bits); 0: signed integer PCM */
};

struct dr_wav_reader;
int dr_wav_reader_open(const char *path, struct dr_wav_reader **out);
/* Parses a whole WAV held in memory (for fuzzing and tests). Copies nothing:
 * buf must outlive the reader. */
int dr_wav_reader_open_mem(const void *buf, size_t len, struct dr_wav_reader **out);
const struct dr_wav_info *dr_wav_reader_info(const struct dr_wav_reader *r);
/* Reads up to `frames` frames, downmixed to mono. Returns frames read, 0 at
 * end, or -errno. Samples of more than 16 bits are truncated to 16 (floor);
 * float samples are scaled by 32768, rounded and clipped to 16 bits
 * (NaN and infinities read as 0 and full scale). A stereo frame is the mean
 * of its two channels, rounded down. */
long dr_wav_reader_read_mono(struct dr_wav_reader *r, int16_t *buf, size_t frames);
/* The same as floats, full scale = 1.0: an integer sample s of b bits is
 * s / 2^(b-1); float samples are clamped to [-1, 1], NaN read as 0. A stereo
 * frame is the mean of its two channels. Shares the position with
 * read_mono. */
long dr_wav_reader_read_mono_float(struct dr_wav_reader *r, float *buf, size_t frames);
int dr_wav_reader_rewind(struct dr_wav_reader *r);
void dr_wav_reader_free(struct dr_wav_reader *r);

struct dr_wav_writer;
int dr_wav_writer_open(const char *path, uint32_t rate, struct dr_wav_writer **out);
int dr_wav_writer_write(struct dr_wav_writer *w, const int16_t *s, size_t n);
int dr_wav_writer_flush(struct dr_wav_writer *w);
uint64_t dr_wav_writer_frames(const struct dr_wav_writer *w);
/* Patches the header and closes; returns 0 or -errno. Frees w in any case. */
int dr_wav_writer_close(struct dr_wav_writer *w);

#endif
