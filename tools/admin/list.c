/* SPDX-License-Identifier: MIT */
/*
 * diaryroom-admin list: what the committed catalogue holds, as JSON, per
 * box: {"<box>": {"recordings": {"<id>": {...}}, "changes": [...],
 * "consent_history": [...], "events": [...]}}. For staff and tests; it
 * writes nothing but may migrate an archive made before the catalogue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "admin.h"
#include "archive.h"
#include "archive_index.h"

struct boxlist {
	char (*v)[ADM_BOX_HEX + 1];
	size_t n;
};

static int add_box(void *ctx, const char *box)
{
	struct boxlist *b = ctx;
	void *nv = realloc(b->v, (b->n + 1) * sizeof(*b->v));
	if (!nv)
		return -ENOMEM;
	b->v = nv;
	memcpy(b->v[b->n++], box, ADM_BOX_HEX + 1);
	return 0;
}

static void add_s(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static int add_consent(void *ctx, const struct adm_consent *c)
{
	struct json_object *e = json_object_new_object();
	add_s(e, "id", c->id);
	add_s(e, "at_utc", c->at_utc);
	add_s(e, "staff", c->staff);
	add_s(e, "share", c->share);
	add_s(e, "source", c->source);
	add_s(e, "detail", c->detail);
	json_object_array_add(ctx, e);
	return 0;
}

static int add_event(void *ctx, const struct adm_event *ev)
{
	struct json_object *e = json_object_new_object();
	add_s(e, "id", ev->id);
	add_s(e, "kind", ev->kind);
	add_s(e, "what", ev->what);
	add_s(e, "at_utc", ev->at_utc);
	add_s(e, "detail", ev->detail);
	json_object_array_add(ctx, e);
	return 0;
}

int adm_list(const char *archive, const char *box)
{
	char err[512];
	struct adm_archive *a;
	if (box && !adm_box_ok(box)) {
		fprintf(stderr, "list: --box is a box's 16-character id\n");
		return -EINVAL;
	}
	int r = adm_archive_open(archive, false, &a, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "list: %s\n", err);
		return r;
	}
	struct boxlist bl = {0};
	r = a->ops->box_each(a, add_box, &bl);
	struct json_object *all = json_object_new_object();
	for (size_t i = 0; r == 0 && i < bl.n; i++) {
		if (box && strcmp(box, bl.v[i]))
			continue;
		struct json_object *idx = adm_index_load(a, bl.v[i]);
		struct json_object *ch = json_object_new_array(), *ev = json_object_new_array();
		if (!idx)
			r = -EBADMSG;
		if (r == 0)
			r = a->ops->consent_each(a, bl.v[i], NULL, add_consent, ch);
		if (r == 0)
			r = a->ops->event_each(a, bl.v[i], NULL, add_event, ev);
		if (r < 0) {
			json_object_put(ch);
			json_object_put(ev);
			json_object_put(idx);
			break;
		}
		json_object_object_del(idx, "device");
		json_object_object_add(idx, "consent_history", ch);
		json_object_object_add(idx, "events", ev);
		json_object_object_add(all, bl.v[i], idx);
	}
	if (r == 0)
		printf("%s\n", json_object_to_json_string_ext(all, JSON_C_TO_STRING_PRETTY |
								       JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		fprintf(stderr, "list: %s\n", a->err[0] ? a->err : strerror(-r));
	json_object_put(all);
	free(bl.v);
	adm_archive_close(a);
	return r;
}
