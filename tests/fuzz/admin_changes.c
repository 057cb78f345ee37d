/* SPDX-License-Identifier: MIT */
/* Fuzz target: the --changes file staff give collect (parse_changes,
 * tools/admin/collect_index.c), read from a scratch file as collect reads
 * it (in /dev/shm when there is one). Checked: every change accepted is a
 * withdrawal or a consent with a 4-digit receipt number, a box id that is
 * empty or 16 hex, consent words the stick format knows, and sharing only
 * with staff yes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* diaryroom-admin's main file (admin.c) is left out; nothing parse_changes
 * reaches signs anything. */
int adm_write_signed(int dirfd, const char *base, const char *json, const uint8_t sk[64])
{
	(void)dirfd, (void)base, (void)json, (void)sk;
	abort();
}

static char path[256];

static void rm_scratch(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(path, sizeof(path), "%s/dr-fuzz-changes-%ld", base, (long)getpid());
		atexit(rm_scratch);
	}
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) < 0)
		abort();
	struct change *c = NULL;
	size_t n = 0;
	if (parse_changes(path, &c, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			int st, sh;
			bool w = !strcmp(c[i].kind, "withdraw"), k = !strcmp(c[i].kind, "consent");
			if ((!w && !k) || !dr_stick_receipt_ok(c[i].receipt) ||
			    (c[i].device[0] && !dr_stick_hex_ok(c[i].device, DR_DEVICE_ID_HEX)))
				abort();
			if (k && (dr_stick_consent_parse(c[i].staff, &st) < 0 ||
				  dr_stick_consent_parse(c[i].share, &sh) < 0 || (sh == 1 && st != 1)))
				abort();
		}
	}
	/* on a refused line the changes before it are still in c: freed here
	 * (collect returns without freeing them: reported to issue 11) */
	free(c);
	return 0;
}
