/* SPDX-License-Identifier: MIT */
/*
 * manifest: what a stick holds, for staff and tests.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "admin.h"
#include "archive.h"
#include "archive_index.h"
#include "archive_keep.h"
#include "audit.h"
#include "collect_priv.h"
#include "media/recover.h"
#include "seal/seal.h"


/* ---- manifest: what a stick holds, for staff and tests ---- */

int adm_show_manifests(const struct adm_org *org, const char *stick)
{
	int mfd = open(stick, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int top = -1, efd = -1;
	char e[384];
	int r = mfd < 0 ? -errno : dr_stick_subdir(mfd, DR_STICK_TOP, false, &top, e, sizeof(e));
	if (mfd >= 0)
		close(mfd);
	if (r == 0)
		r = dr_stick_subdir(top, "export", false, &efd, e, sizeof(e));
	if (top >= 0)
		close(top);
	if (r < 0) {
		fprintf(stderr, "manifest: no export on %s\n", stick);
		return r;
	}
	struct json_object *all = json_object_new_object();
	int dfd = dup(efd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	bool bad = false;
	while (d && (de = readdir(d))) {
		if (!dr_stick_hex_ok(de->d_name, DR_DEVICE_ID_HEX))
			continue;
		char p[4200], *b;
		size_t len;
		uint8_t pk[32];
		int devfd = -1;
		struct dr_manifest *m = NULL;
		adm_fmt(p, sizeof(p), "%s/devices/%s.pub", org->dir, de->d_name);
		r = adm_read_file(p, 32, &b, &len);
		if (r == 0 && len != 32)
			r = -EBADMSG;
		if (r == 0) {
			memcpy(pk, b, 32);
			free(b);
			r = dr_stick_subdir(efd, de->d_name, false, &devfd, e, sizeof(e));
		} else {
			adm_fmt(e, sizeof(e), "not provisioned by this organisation");
		}
		if (r == 0)
			r = dr_stick_read_signed(devfd, "manifest", DR_STICK_MANIFEST_MAX, pk, &b, &len, e,
						 sizeof(e));
		if (devfd >= 0)
			close(devfd);
		if (r == 0) {
			r = dr_manifest_open(b, len, org->pk, org->sk, &m, e, sizeof(e));
			free(b);
		}
		if (r < 0) {
			fprintf(stderr, "manifest: box %s: %s\n", de->d_name, e);
			bad = true;
			continue;
		}
		struct json_object *o = json_object_new_object();
		struct json_object *a = json_object_new_array();
		json_object_object_add(o, "seq", json_object_new_int64(m->seq));
		json_object_object_add(o, "stick_id", json_object_new_string(m->stick_id));
		json_object_object_add(o, "created_utc", json_object_new_string(m->created_utc));
		json_object_object_add(o, "complete", json_object_new_boolean(m->complete));
		for (size_t i = 0; i < m->n; i++) {
			struct json_object *x = rec_json(&m->recs[i], "on the stick", "");
			json_object_object_add(x, "id", json_object_new_string(m->recs[i].id));
			json_object_object_add(x, "file", json_object_new_string(m->recs[i].file));
			json_object_object_add(x, "media", json_object_new_string(m->recs[i].media));
			if (m->recs[i].box_clock_utc[0])
				json_object_object_add(x, "box_clock_utc",
						       json_object_new_string(m->recs[i].box_clock_utc));
			json_object_object_del(x, "status");
			json_object_object_del(x, "collected_utc");
			json_object_object_del(x, "sealed_original");
			json_object_array_add(a, x);
		}
		json_object_object_add(o, "recordings", a);
		json_object_object_add(all, m->device, o);
		dr_manifest_free(m);
	}
	if (d)
		closedir(d);
	close(efd);
	printf("%s\n", json_object_to_json_string_ext(all, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(all);
	return bad ? 1 : 0;
}
