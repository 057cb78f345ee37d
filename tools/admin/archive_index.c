/* SPDX-License-Identifier: MIT */
/*
 * collect and unlock work on one box at a time as a JSON object (the shape
 * the archive's index.json had: "recordings" by id, "changes" in order);
 * the catalogue is the truth it is loaded from and committed to, in one
 * transaction per box. Nothing reads it back from a file.
 *
 * Working-only members of a recording (never stored as such):
 *   "_deleted":  array of file names the archive removed (become events)
 *   "_refused":  why a manifest's consent was not applied (consent history)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "archive.h"
#include "archive_index.h"
#include "audit.h"

#define COPY_OB(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

static bool same(const char *logged, const char *kept)
{
	return !strcmp(logged ? logged : "", kept);
}

/* Whether the audit log's last entry is e: appended by a run killed before
 * it cleared e from the outbox. Reads only the log's last line. */
static bool last_logged_is(struct adm_archive *a, const struct adm_outbox *e)
{
	int fd = adm_audit_open_read(a->dirfd);
	if (fd < 0)
		return false;
	bool yes = false;
	struct stat sb;
	char *b = malloc(ADM_AUDIT_LINE_MAX + 1);
	if (b && fstat(fd, &sb) == 0 && sb.st_size > 0) {
		off_t from = sb.st_size > ADM_AUDIT_LINE_MAX ? sb.st_size - ADM_AUDIT_LINE_MAX : 0;
		ssize_t got = pread(fd, b, (size_t)(sb.st_size - from), from);
		if (got > 1 && b[got - 1] == '\n') {
			size_t end = (size_t)got - 1, start = end;
			while (start > 0 && b[start - 1] != '\n')
				start--;
			struct adm_audit_entry le = {0};
			const char *why;
			if ((start > 0 || from == 0) &&
			    adm_audit_parse_line(b + start, end - start, &le, &why) == 0)
				yes = same(le.action, e->action) && same(le.box, e->box) &&
				      same(le.recording, e->id) && same(le.receipt, e->receipt) &&
				      same(le.detail, e->detail);
			adm_audit_entry_clear(&le);
		}
	}
	free(b);
	close(fd);
	return yes;
}

int adm_index_flush_audit(struct adm_archive *a, struct adm_audit *au)
{
	struct adm_outbox e;
	bool first = true;
	int r;
	while ((r = a->ops->outbox_first(a, &e)) == 1) {
		/* only the first can have been appended already: each is cleared
		 * right after its append */
		if (!(first && last_logged_is(a, &e))) {
			r = adm_audit_add(au, NULL, e.action, e.box, e.id[0] ? e.id : NULL,
					  e.receipt[0] ? e.receipt : NULL, e.detail);
			if (r < 0) {
				fprintf(stderr, "archive: box %s: the audit log could not be written "
						"(%s): stopped; the entries wait in the catalogue for "
						"the next run. `diaryroom-admin audit --verify` says more\n",
					e.box, strerror(-r));
				return r;
			}
		}
		first = false;
		r = a->ops->begin(a);
		if (r == 0)
			r = a->ops->outbox_del(a, e.n);
		if (r == 0)
			r = a->ops->commit(a);
		if (r < 0) {
			a->ops->rollback(a);
			fprintf(stderr, "archive: the catalogue: %s\n", a->err);
			return r;
		}
	}
	if (r < 0)
		fprintf(stderr, "archive: the catalogue: %s\n", a->err);
	return r;
}

/* What a save did, for the audit log once it is committed. */
struct pending {
	struct {
		char action[20], id[ADM_REC_HEX + 1], receipt[5], detail[160];
	} *v;
	size_t n;
};

static int note(struct pending *p, const char *action, const char *id, const char *receipt,
		const char *detail)
{
	void *nv = realloc(p->v, (p->n + 1) * sizeof(*p->v));
	if (!nv)
		return -ENOMEM;
	p->v = nv;
	snprintf(p->v[p->n].action, sizeof(p->v[p->n].action), "%s", action);
	snprintf(p->v[p->n].id, sizeof(p->v[p->n].id), "%s", id ? id : "");
	snprintf(p->v[p->n].receipt, sizeof(p->v[p->n].receipt), "%s", receipt ? receipt : "");
	snprintf(p->v[p->n].detail, sizeof(p->v[p->n].detail), "%s", detail ? detail : "");
	p->n++;
	return 0;
}

static const char *s_of(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : "";
}

static bool b_of(struct json_object *o, const char *k, bool dflt)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_boolean)
		       ? json_object_get_boolean(v)
		       : dflt;
}

static int64_t i_of(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_int)
		       ? json_object_get_int64(v)
		       : 0;
}

static void add_s(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static int put_rec(void *ctx, const struct adm_rec *x)
{
	struct json_object *recs = ctx, *o = json_object_new_object();
	add_s(o, "receipt", x->receipt);
	add_s(o, "state", x->state);
	add_s(o, "media", x->media);
	add_s(o, "start_utc", x->start_utc);
	add_s(o, "end_utc", x->end_utc);
	json_object_object_add(o, "duration_ms", json_object_new_int64(x->duration_ms));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)x->size));
	add_s(o, "blake2b", x->blake2b);
	if (x->playable_blake2b[0])
		add_s(o, "playable_blake2b", x->playable_blake2b);
	add_s(o, "consent_staff", x->consent_staff);
	add_s(o, "consent_share", x->consent_share);
	json_object_object_add(o, "locked", json_object_new_boolean(x->locked));
	json_object_object_add(o, "time_uncertain", json_object_new_boolean(x->time_uncertain));
	if (x->sealed_original)
		json_object_object_add(o, "sealed_original", json_object_new_boolean(true));
	add_s(o, "status", x->status);
	add_s(o, "collected_utc", x->collected_utc);
	if (x->retention_ended_utc[0])
		add_s(o, "retention_ended_utc", x->retention_ended_utc);
	json_object_object_add(recs, x->id, o);
	return 0;
}

static int put_change(void *ctx, const struct adm_change *c)
{
	struct json_object *ch = ctx, *e = json_object_new_object();
	add_s(e, "kind", c->kind);
	add_s(e, "receipt", c->receipt);
	if (!strcmp(c->kind, "consent")) {
		add_s(e, "staff", c->staff);
		add_s(e, "share", c->share);
	}
	add_s(e, "entered_utc", c->entered_utc);
	json_object_array_add(ch, e);
	return 0;
}

struct json_object *adm_index_load(struct adm_archive *a, const char *box)
{
	if (!adm_box_ok(box))
		return NULL;
	struct json_object *j = json_object_new_object(), *recs = json_object_new_object(),
			   *ch = json_object_new_array();
	add_s(j, "device", box);
	json_object_object_add(j, "recordings", recs);
	json_object_object_add(j, "changes", ch);
	struct adm_query q = {.box = box};
	int r = a->ops->rec_each(a, &q, put_rec, recs);
	if (r == 0)
		r = a->ops->change_each(a, box, NULL, put_change, ch);
	if (r < 0) {
		fprintf(stderr, "archive: %s: stopped, nothing changed\n", a->err);
		json_object_put(j);
		return NULL;
	}
	return j;
}

#define COPY(dst, src) (bad |= snprintf((dst), sizeof(dst), "%s", (src)) >= (int)sizeof(dst))

static int save_rec(struct adm_archive *a, const char *box, const char *id, struct json_object *o,
		    const char *now, struct pending *pd)
{
	struct adm_rec x = {0}, old;
	int bad = 0;
	COPY(x.box, box);
	COPY(x.id, id);
	COPY(x.receipt, s_of(o, "receipt"));
	COPY(x.state, s_of(o, "state"));
	COPY(x.media, s_of(o, "media")[0] ? s_of(o, "media") : "audio");
	if (bad || adm_archive_file_name(x.file, sizeof(x.file), id, x.media, "sealed") < 0)
		return -EINVAL;
	COPY(x.start_utc, s_of(o, "start_utc"));
	COPY(x.end_utc, s_of(o, "end_utc"));
	x.duration_ms = i_of(o, "duration_ms");
	x.size = (uint64_t)i_of(o, "size");
	COPY(x.blake2b, s_of(o, "blake2b"));
	COPY(x.playable_blake2b, s_of(o, "playable_blake2b"));
	COPY(x.consent_staff, s_of(o, "consent_staff"));
	COPY(x.consent_share, s_of(o, "consent_share"));
	x.locked = b_of(o, "locked", true);
	x.time_uncertain = b_of(o, "time_uncertain", false);
	x.sealed_original = b_of(o, "sealed_original", false);
	COPY(x.status, s_of(o, "status"));
	COPY(x.collected_utc, s_of(o, "collected_utc"));
	COPY(x.retention_ended_utc, s_of(o, "retention_ended_utc"));
	if (bad)
		return -EINVAL;
	int g = a->ops->rec_get(a, box, id, &old);
	if (g < 0 && g != -ENOENT)
		return g;
	int r = a->ops->rec_put(a, &x);
	struct adm_consent c = {0};
	snprintf(c.box, sizeof(c.box), "%s", box);
	snprintf(c.id, sizeof(c.id), "%s", id);
	snprintf(c.at_utc, sizeof(c.at_utc), "%s", now);
	const char *refused = s_of(o, "_refused");
	if (r == 0 && refused[0]) {
		snprintf(c.staff, sizeof(c.staff), "%s", s_of(o, "_refused_staff"));
		snprintf(c.share, sizeof(c.share), "%s", s_of(o, "_refused_share"));
		snprintf(c.source, sizeof(c.source), "refused");
		snprintf(c.detail, sizeof(c.detail), "%s", refused);
		r = a->ops->consent_add(a, &c);
		if (r == 0)
			r = note(pd, "consent-refused", id, x.receipt, refused);
	}
	if (r == 0 && g == -ENOENT) {
		char d[160];
		snprintf(d, sizeof(d), "blake2b %s, %llu bytes, staff %s, share %s", x.blake2b,
			 (unsigned long long)x.size, x.consent_staff, x.consent_share);
		r = note(pd, "import", id, x.receipt, d);
	}
	if (r == 0 && (g == -ENOENT || strcmp(old.consent_staff, x.consent_staff) ||
		       strcmp(old.consent_share, x.consent_share))) {
		snprintf(c.staff, sizeof(c.staff), "%s", x.consent_staff);
		snprintf(c.share, sizeof(c.share), "%s", x.consent_share);
		snprintf(c.source, sizeof(c.source), "%s", g == -ENOENT ? "manifest" : "staff");
		snprintf(c.detail, sizeof(c.detail), "%s",
			 g == -ENOENT ? "as the box recorded it" : "a change staff entered");
		r = a->ops->consent_add(a, &c);
		char d[160];
		snprintf(d, sizeof(d), "staff %s, share %s (was staff %s, share %s)",
			 x.consent_staff, x.consent_share, old.consent_staff, old.consent_share);
		if (r == 0 && g == 0)
			r = note(pd, "consent", id, x.receipt, d);
	}
	if (r == 0 && (g == -ENOENT ? strcmp(x.status, "archived") : strcmp(old.status, x.status))) {
		struct adm_event e = {0};
		snprintf(e.box, sizeof(e.box), "%s", box);
		snprintf(e.id, sizeof(e.id), "%s", id);
		snprintf(e.kind, sizeof(e.kind), "%s", x.status);
		snprintf(e.at_utc, sizeof(e.at_utc), "%s", now);
		snprintf(e.detail, sizeof(e.detail), "receipt %s", x.receipt);
		r = a->ops->event_add(a, &e);
		if (r == 0)
			r = note(pd, !strcmp(x.status, "withdrawn") ? "withdraw"
				     : !strcmp(x.status, "expired") ? "expire"
								    : "status",
				 id, x.receipt, x.status);
	}
	struct json_object *del;
	if (r == 0 && json_object_object_get_ex(o, "_deleted", &del) &&
	    json_object_is_type(del, json_type_array)) {
		size_t n = json_object_array_length(del);
		for (size_t i = 0; r == 0 && i < n; i++) {
			struct adm_event e = {0};
			snprintf(e.box, sizeof(e.box), "%s", box);
			snprintf(e.id, sizeof(e.id), "%s", id);
			snprintf(e.kind, sizeof(e.kind), "deleted");
			snprintf(e.what, sizeof(e.what), "%s",
				 json_object_get_string(json_object_array_get_idx(del, i)));
			snprintf(e.at_utc, sizeof(e.at_utc), "%s", now);
			snprintf(e.detail, sizeof(e.detail), "%s", x.status);
			r = a->ops->event_add(a, &e);
			if (r == 0)
				r = note(pd, "delete", id, x.receipt, e.what);
		}
	}
	return r;
}

static int count_change(void *ctx, const struct adm_change *c)
{
	(void)c;
	(*(size_t *)ctx)++;
	return 0;
}

int adm_index_save(struct adm_archive *a, struct adm_audit *au, const char *box,
		   struct json_object *idx, const char *now)
{
	struct pending pd = {0};
	struct json_object *recs, *ch;
	if (!adm_box_ok(box) || !json_object_object_get_ex(idx, "recordings", &recs) ||
	    !json_object_object_get_ex(idx, "changes", &ch))
		return -EINVAL;
	int r = a->ops->begin(a);
	if (r == 0)
		r = a->ops->box_add(a, box, now);
	json_object_object_foreach(recs, id, o)
	{
		if (r < 0)
			break;
		r = save_rec(a, box, id, o, now, &pd);
	}
	size_t have = 0;
	if (r == 0)
		r = a->ops->change_each(a, box, NULL, count_change, &have);
	size_t n = json_object_array_length(ch);
	for (size_t i = have; r == 0 && i < n; i++) {
		struct json_object *e = json_object_array_get_idx(ch, i);
		struct adm_change c = {0};
		int bad = 0;
		COPY(c.box, box);
		COPY(c.kind, s_of(e, "kind"));
		COPY(c.receipt, s_of(e, "receipt"));
		COPY(c.staff, s_of(e, "staff"));
		COPY(c.share, s_of(e, "share"));
		COPY(c.entered_utc, s_of(e, "entered_utc"));
		r = bad ? -EINVAL : a->ops->change_add(a, &c);
		char d[64];
		snprintf(d, sizeof(d), "%s%s%s%s%s", c.kind, c.staff[0] ? ": staff " : "", c.staff,
			 c.share[0] ? ", share " : "", c.share);
		if (r == 0)
			r = note(&pd, "change", NULL, c.receipt, d);
	}
	/* the audit entries go in with the rows they record */
	for (size_t i = 0; r == 0 && i < pd.n; i++) {
		struct adm_outbox e = {0};
		COPY_OB(e.action, pd.v[i].action);
		COPY_OB(e.box, box);
		COPY_OB(e.id, pd.v[i].id);
		COPY_OB(e.receipt, pd.v[i].receipt);
		COPY_OB(e.detail, pd.v[i].detail);
		r = a->ops->outbox_add(a, &e);
	}
	if (r == 0)
		r = a->ops->commit(a);
	if (r < 0) {
		a->ops->rollback(a);
		fprintf(stderr, "archive: box %s: could not commit to the catalogue: %s\n", box,
			a->err[0] ? a->err : strerror(-r));
		free(pd.v);
		return r;
	}
	free(pd.v);
	/* committed: into the audit log, each fsynced */
	r = adm_index_flush_audit(a, au);
	if (r < 0)
		return r;
	/* committed: the working-only members go */
	json_object_object_foreach(recs, id2, o2)
	{
		(void)id2;
		json_object_object_del(o2, "_deleted");
		json_object_object_del(o2, "_refused");
		json_object_object_del(o2, "_refused_staff");
		json_object_object_del(o2, "_refused_share");
	}
	return 0;
}
