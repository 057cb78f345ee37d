/* SPDX-License-Identifier: MIT */
/* Fuzz target: the archive's audit log reader (tools/admin/audit_read.c), which
 * reads a file anyone with access to the archive folder may have edited:
 * the input as one line, as one line given its correct hash (so that the
 * JSON behind the hash check is reached: a tamperer can recompute it), and
 * as a whole log. Checked: an entry accepted
 * has its required fields and the hash it states; a log read to its end
 * passes exactly its entries, numbered 1, 2, 3... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	uint64_t n;
};

static int each(const struct adm_audit_entry *e, void *ctx)
{
	struct seen *s = ctx;
	if (e->seq != ++s->n || !e->action || !e->time || !e->hash || strlen(e->hash) != 64 ||
	    !e->prev)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct adm_audit_entry e;
	const char *why;
	if (adm_audit_parse_line((const char *)data, size, &e, &why) == 0) {
		if (!e.action || !e.action[0] || !e.time || !e.hash || e.seq < 1)
			abort();
	} else if (!why) {
		abort(); /* a refusal always says why */
	}
	adm_audit_entry_clear(&e);

	/* the input with its own hash appended, as a tamperer would write it */
	if (size < ADM_AUDIT_LINE_MAX) {
		char *l = malloc(size + 80);
		uint8_t h[32];
		if (!l)
			abort();
		memcpy(l, data, size);
		crypto_generichash(h, sizeof(h), data, size, NULL, 0);
		memcpy(l + size, ",\"hash\":\"", 9);
		sodium_bin2hex(l + size + 9, 65, h, sizeof(h));
		memcpy(l + size + 73, "\"}", 2);
		if (adm_audit_parse_line(l, size + 75, &e, &why) == 0 &&
		    (!e.action || !e.action[0] || !e.time || !e.hash || e.seq < 1 ||
		     strncmp(e.hash, l + size + 9, 64)))
			abort();
		adm_audit_entry_clear(&e);
		free(l);
	}

	int fd = memfd_create("audit", MFD_CLOEXEC);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || lseek(fd, 0, SEEK_SET))
		abort();
	FILE *null = fopen("/dev/null", "we");
	struct seen s = {0};
	struct adm_audit_end end;
	int r = adm_audit_read_fd(fd, null, each, &s, &end);
	if (r < 0 || r > 1 || (r == 0 && end.seq != s.n) || end.good_bytes > size)
		abort();
	if (null)
		fclose(null);
	close(fd);
	return 0;
}
