/* SPDX-License-Identifier: MIT */
/* Fuzz target: the staff stick's manifest (app/export/stickfmt_manifest.c), which
 * the PC reads from a stick anyone may have prepared: the outer file alone,
 * the whole file with its sealed part opened (with the fuzz key pair, to
 * which the corpus's sealed parts are sealed), and the input as a sealed
 * part's contents. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/stickfmt.h"
#include "export_fuzzkey.h"

static void check(const struct dr_manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		/* a name from the stick is never a path */
		const char *ext = strcmp(m->recs[i].media, "video") ? ".opus.sealed" : ".mkv.sealed";
		if (strchr(m->recs[i].file, 0x2f) || strncmp(m->recs[i].file, m->recs[i].id, 32) ||
		    strcmp(m->recs[i].file + 32, ext))
			abort();
		if (m->recs[i].locked != (m->recs[i].consent_staff != 1))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pk[32], sk[64];
	static int ready;
	if (!ready) {
		dr_fuzz_keypair(pk, sk);
		ready = 1;
	}
	struct dr_manifest *m = NULL;
	char err[256];
	if (dr_manifest_parse_outer((const char *)data, size, &m, err, sizeof(err)) == 0) {
		if (m->opened || m->n)
			abort();
		/* the contents parser behind an outer part */
		if (dr_manifest_parse_contents((const char *)data, size, m, err, sizeof(err)) == 0)
			check(m);
	}
	dr_manifest_free(m);
	m = NULL;
	if (dr_manifest_open((const char *)data, size, pk, sk, &m, err, sizeof(err)) == 0) {
		if (!m->opened)
			abort();
		check(m);
	}
	dr_manifest_free(m);
	/* as contents, behind a made-up outer part */
	m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	memcpy(m->device, "0123456789abcdef", 17);
	m->seq = 3;
	if (dr_manifest_parse_contents((const char *)data, size, m, err, sizeof(err)) == 0)
		check(m);
	dr_manifest_free(m);
	return 0;
}
