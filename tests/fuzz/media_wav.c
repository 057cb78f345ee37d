/* SPDX-License-Identifier: MIT */
/* Fuzz target: the WAV reader (microphone files, prompts) on any bytes.
 * Besides not crashing, it must never promise frames the input does not hold,
 * must deliver exactly the frames it promised, and (as floats, for the
 * resampler of prompts) only finite samples within full scale. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "media/wav.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dr_wav_reader *r = NULL;
	if (dr_wav_reader_open_mem(data, size, &r) != 0)
		return 0;
	const struct dr_wav_info *info = dr_wav_reader_info(r);
	if (info->channels < 1 || info->channels > 2 || info->rate == 0)
		abort();
	if (info->is_float ? info->bits != 32 && info->bits != 64
			   : info->bits != 16 && info->bits != 24 && info->bits != 32)
		abort();
	if (info->frames * info->channels * (info->bits / 8) > size)
		abort();
	int16_t buf[333];
	float fbuf[333];
	for (int pass = 0; pass < 3; pass++) {
		uint64_t total = 0;
		long n;
		if (pass < 2) {
			while ((n = dr_wav_reader_read_mono(r, buf, sizeof(buf) / sizeof(buf[0]))) > 0)
				total += (uint64_t)n;
		} else {
			while ((n = dr_wav_reader_read_mono_float(r, fbuf, sizeof(fbuf) / sizeof(fbuf[0]))) > 0) {
				for (long i = 0; i < n; i++)
					if (!(fbuf[i] >= -1.0f && fbuf[i] <= 1.0f))
						abort();
				total += (uint64_t)n;
			}
		}
		if (n < 0 || total != info->frames)
			abort();
		if (dr_wav_reader_rewind(r) != 0)
			abort();
	}
	dr_wav_reader_free(r);
	return 0;
}
