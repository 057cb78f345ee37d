/* SPDX-License-Identifier: MIT */
/*
 * Internals of dr_export shared by its files (not a public header).
 */
#ifndef DR_EXPORT_PRIV_H
#define DR_EXPORT_PRIV_H

#include <stdarg.h>

#include "export/export.h"
#include "export/stickio.h"

struct dr_export {
	struct dr_store *store;
	uint8_t device_sk[DR_STICK_SK_LEN];
	uint8_t device_pk[DR_STICK_PK_LEN];
	uint8_t org_pk[DR_STICK_PK_LEN];
	char device_id[DR_DEVICE_ID_HEX + 1];
};

struct dr_stick {
	struct dr_export *x;
	int topfd; /* DIARYRM/, O_PATH-free real directory fd */
	struct dr_token token;
};

/* Writes the signed manifest listing recs[i] for every ok[i] into devfd,
 * reads it back, records the export as finished (manifest.c). 0 or
 * -errno with a message in err. */
int dr_export_write_manifest(struct dr_export *x, struct dr_stick *k, int devfd,
			     const struct dr_store_export_rec *recs, const bool *ok, size_t n,
			     const struct dr_export_progress *p, char *err, size_t errlen);

#endif
