/* SPDX-License-Identifier: MIT */
/* Fuzz target: the WAV reader (microphone files, prompts) on any bytes.
 * Besides not crashing, it must never promise frames the input does not hold,
 * and must deliver exactly the frames it promised. */
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
	if (info->channels < 1 || info->channels > 2 || info->rate == 0 ||
	    info->frames * info->channels * 2 > size)
		abort();
	int16_t buf[333];
	for (int pass = 0; pass < 2; pass++) {
		uint64_t total = 0;
		long n;
		while ((n = dr_wav_reader_read_mono(r, buf, sizeof(buf) / sizeof(buf[0]))) > 0)
			total += (uint64_t)n;
		if (n < 0 || total != info->frames)
			abort();
		if (dr_wav_reader_rewind(r) != 0)
			abort();
	}
	dr_wav_reader_free(r);
	return 0;
}
