/* SPDX-License-Identifier: MIT */
/* Fuzz target: the Matroska Opus-track reader behind listen-back of a video,
 * on any bytes, given in uneven pieces as a stream gives them. It must never
 * read past the input, open with 0 or -EINVAL only, give packets no larger
 * than the buffer and no more bytes than there were, end (0) or fail with
 * -EBADMSG/-EMSGSIZE, and keep answering the same after that. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "media/mkv_audio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *data;
	size_t size, pos;
};

static long stream_read(void *user, void *buf, size_t len)
{
	struct input *in = user;
	size_t left = in->size - in->pos;
	size_t n = 1 + (in->pos * 7 + 3) % 13; /* uneven pieces */
	if (n > len)
		n = len;
	if (n > left)
		n = left;
	memcpy(buf, in->data + in->pos, n);
	in->pos += n;
	return (long)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size, 0};
	struct dr_mkv_audio *r;
	struct dr_mkv_audio_info info;
	int err = dr_mkv_audio_open(stream_read, &in, &r, &info);
	if (err) {
		if (err != -EINVAL || r)
			abort();
		return 0;
	}
	if (info.channels < 1 || info.channels > 2)
		abort();
	unsigned char pkt[512];
	size_t total = 0;
	long n;
	while ((n = dr_mkv_audio_next(r, pkt, sizeof(pkt))) > 0) {
		if ((size_t)n > sizeof(pkt))
			abort();
		total += (size_t)n;
	}
	if (total > size || (n != 0 && n != -EBADMSG && n != -EMSGSIZE) ||
	    dr_mkv_audio_next(r, pkt, sizeof(pkt)) != n)
		abort();
	dr_mkv_audio_free(r);
	return 0;
}
