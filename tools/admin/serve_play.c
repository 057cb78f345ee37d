/* SPDX-License-Identifier: MIT */
/* Playing a recording on the staff page, with byte ranges, audited. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"
#include "serve_priv.h"
#include "audit.h"
#include "serve_parse.h"

struct play {
	int fd;
	uint64_t first;
};

static ssize_t play_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct play *p = cls;
	ssize_t n = pread(p->fd, buf, max, (off_t)(p->first + pos));
	return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void play_free(void *cls)
{
	struct play *p = cls;
	close(p->fd);
	free(p);
}

enum MHD_Result adm_serve_play(struct server *sv, struct MHD_Connection *c, struct session *s,
			       bool head)
{
	const char *box = adm_serve_arg(c, "box"), *id = adm_serve_arg(c, "id");
	if (!box || !id || !adm_box_ok(box) || !adm_rec_id_ok(id))
		return adm_serve_send_text(c, 404, "no such recording\n");
	char err[256], rel[256];
	struct adm_archive *a;
	if (adm_archive_open(sv->archive, false, &a, err, sizeof(err)) < 0)
		return adm_serve_send_text(c, 500, "the archive could not be opened\n");
	struct adm_rec x;
	int r = a->ops->rec_get(a, box, id, &x);
	if (r == 0 && (x.locked || strcmp(x.status, "archived") || !*x.playable_blake2b ||
		       (strcmp(x.media, "audio") && strcmp(x.media, "video"))))
		r = -EACCES;
	if (r == 0)
		r = adm_archive_path(rel, sizeof(rel), NULL, box, id, x.media, "playable");
	int fd = -1;
	uint64_t size = 0;
	if (r == 0)
		r = adm_open_regular_at(a->dirfd, rel, &fd, &size);
	if (r < 0) {
		adm_archive_close(a);
		return adm_serve_send_text(c, r == -EACCES ? 403 : 404,
				 r == -EACCES ? "this recording may not be played\n"
					      : "no such recording\n");
	}
	const char *rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
	uint64_t first = 0, last = size ? size - 1 : 0;
	int rr = adm_serve_range(rh, size, &first, &last);
	if (rr == -ERANGE) {
		close(fd);
		adm_archive_close(a);
		char cr[64];
		snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
		struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
									 MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		enum MHD_Result ret = MHD_queue_response(c, 416, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	/* a play is a request from the start (the browser's first); seeks are not
	 * new plays */
	if (first == 0 && !head) {
		struct adm_audit *au;
		r = adm_audit_open(a->dirfd, &au);
		if (r == 0) {
			r = adm_audit_add(au, s->staff, "play", box, id, x.receipt,
					  "on the staff page");
			adm_audit_close(au);
		}
		if (r < 0) { /* not audited: not played */
			close(fd);
			adm_archive_close(a);
			return adm_serve_send_text(c, 500, "the audit log could not be written: not played\n");
		}
	}
	adm_archive_close(a);
	uint64_t n = size ? last - first + 1 : 0;
	struct play *p = malloc(sizeof(*p));
	struct MHD_Response *resp = NULL;
	if (p) {
		p->fd = fd;
		p->first = first;
		resp = n ? MHD_create_response_from_callback(n, 65536, play_read, p, play_free)
			 : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!resp) {
		free(p);
		close(fd);
		return MHD_NO;
	}
	if (!n)
		play_free(p);
	/* a video's playable copy is its browser copy (WebM) */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				strcmp(x.media, "video") ? "audio/ogg" : "video/webm");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (rr == 0) {
		char cr[96];
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)first,
			 (unsigned long long)last, (unsigned long long)size);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	enum MHD_Result ret = MHD_queue_response(c, rr == 0 ? 206 : 200, resp);
	MHD_destroy_response(resp);
	return ret;
}
