/* SPDX-License-Identifier: MIT */
/* Fuzz target: crash recovery on any file. Whenever dr_recover_file says it
 * succeeded, the result must be a valid complete recording: probe agrees on
 * its length, and recovering it again finds nothing to do. The scratch file
 * lives in /dev/shm when there is one (fsync costs nothing there). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/recover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void scratch_paths(char *file, size_t len, char *repair, size_t rlen)
{
	const char *base = "/dev/shm";
	if (access(base, W_OK) != 0) {
		base = getenv("TMPDIR");
		if (!base || access(base, W_OK) != 0)
			base = "/tmp";
	}
	snprintf(file, len, "%s/dr-fuzz-recover-%ld.opus", base, (long)getpid());
	snprintf(repair, rlen, "%s.repair", file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char file[512], repair[520];
	scratch_paths(file, sizeof(file), repair, sizeof(repair));
	FILE *f = fopen(file, "wbe");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
	struct dr_recover_result res;
	int err = dr_recover_file(file, &res);
	if (err == 0) {
		uint64_t n;
		if (dr_oggopus_probe(file, &n) != 0 || n != res.samples)
			abort();
		struct dr_recover_result again;
		if (dr_recover_file(file, &again) != 0 || !again.was_complete ||
		    again.samples != res.samples)
			abort();
		if (!res.was_complete && res.dropped_bytes > size)
			abort();
	} else if (err != -EINVAL) {
		abort(); /* a readable file is either recoverable or -EINVAL */
	}
	if (access(repair, F_OK) == 0)
		abort(); /* no temporary file left behind */
	unlink(file);
	return 0;
}
