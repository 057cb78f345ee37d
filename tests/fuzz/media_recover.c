/* SPDX-License-Identifier: MIT */
/* Fuzz target: crash recovery on any file. Whenever dr_recover_file says it
 * succeeded, the result must be a valid complete recording: probe agrees on
 * its length, and recovering it again finds nothing to do. A repair in place
 * must keep exactly what a repair through a copy keeps, and the file must
 * not grow unless there was no audio to keep. The scratch files live in
 * /dev/shm when there is one (fsync costs nothing there). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "media/recover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void scratch_path(char *file, size_t len, const char *tag)
{
	const char *base = "/dev/shm";
	if (access(base, W_OK) != 0) {
		base = getenv("TMPDIR");
		if (!base || access(base, W_OK) != 0)
			base = "/tmp";
	}
	snprintf(file, len, "%s/dr-fuzz-recover-%ld-%s.opus", base, (long)getpid(), tag);
}

static void write_input(const char *file, const uint8_t *data, size_t size)
{
	FILE *f = fopen(file, "wbe");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
}

/* Recovers `file` in `mode` and checks the result; returns dr_recover's
 * answer. */
static int recover_checked(const char *file, enum dr_recover_mode mode, size_t size,
			   struct dr_recover_result *res)
{
	int err = dr_recover_file_mode(file, mode, res);
	if (err == 0) {
		uint64_t n;
		if (dr_oggopus_probe(file, &n) != 0 || n != res->samples)
			abort();
		struct dr_recover_result again;
		if (dr_recover_file(file, &again) != 0 || !again.was_complete ||
		    again.samples != res->samples)
			abort();
		if (!res->was_complete && res->dropped_bytes > size)
			abort();
		if (res->in_place && (mode == DR_RECOVER_COPY || res->was_complete))
			abort();
		struct stat st;
		if (stat(file, &st) != 0 || (uint64_t)st.st_size != res->bytes)
			abort();
		if (res->in_place && res->samples && res->bytes > size)
			abort(); /* in place with audio kept never needs room */
	} else if (err != -EINVAL && !(mode == DR_RECOVER_IN_PLACE && err == -ENOTSUP)) {
		abort(); /* a readable file is either recoverable or -EINVAL */
	}
	char repair[600];
	snprintf(repair, sizeof(repair), "%s.repair", file);
	if (access(repair, F_OK) == 0)
		abort(); /* no temporary file left behind */
	return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char file[512], copy[512];
	scratch_path(file, sizeof(file), "auto");
	scratch_path(copy, sizeof(copy), "copy");
	write_input(file, data, size);
	struct dr_recover_result res, cres;
	int err = recover_checked(file, DR_RECOVER_AUTO, size, &res);
	if (err == 0 && !res.was_complete) {
		/* The same input repaired through a copy keeps the same audio. */
		write_input(copy, data, size);
		if (recover_checked(copy, DR_RECOVER_COPY, size, &cres) != 0 ||
		    cres.samples != res.samples)
			abort();
		unlink(copy);
	}
	unlink(file);
	return 0;
}
