/* SPDX-License-Identifier: MIT */
/* Fuzz target: the Matroska scanner behind dr_mkv_repair, on any bytes.
 * It must never read outside the input, answer 0 or -EINVAL, keep no more
 * than it was given, and what it keeps must scan again as a complete file
 * with the same clusters, blocks and last timestamp (a repaired file needs
 * no second repair). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "media/mkv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *data;
	size_t size;
};

static long mem_read(void *user, uint64_t off, void *buf, size_t len)
{
	const struct input *in = user;
	if (off > in->size || len > in->size - off)
		abort(); /* the scanner asked for bytes that are not there */
	memcpy(buf, in->data + off, len);
	return (long)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	struct dr_mkv_scan sc;
	int err = dr_mkv_scan(mem_read, &in, size, &sc);
	if (err) {
		if (err != -EINVAL)
			abort();
		return 0;
	}
	if (sc.keep > size || (sc.was_complete && sc.keep != size))
		abort();
	if (sc.blocks && sc.clusters == 0)
		abort();
	struct input kept = {data, (size_t)sc.keep};
	struct dr_mkv_scan again;
	if (dr_mkv_scan(mem_read, &kept, sc.keep, &again) != 0 || !again.was_complete ||
	    again.keep != sc.keep || again.clusters != sc.clusters || again.blocks != sc.blocks ||
	    again.last_ts_ms != sc.last_ts_ms)
		abort();
	return 0;
}
