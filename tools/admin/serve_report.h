/* SPDX-License-Identifier: MIT */
/* The staff page's engagement report and share copies (serve_report.c,
 * serve_share.c; docs/staff-page.md). libmicrohttpd's one thread, like
 * the rest of serve (serve_priv.h). */
#ifndef DR_ADMIN_SERVE_REPORT_H
#define DR_ADMIN_SERVE_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "serve_priv.h"

/* GET /report?from=YYYY-MM-DD&to=YYYY-MM-DD: the figures (report.h) as
 * tables and SVG bar charts, printable */
enum MHD_Result adm_serve_report_page(struct server *sv, struct MHD_Connection *c,
				      struct session *s);
/* GET /report.css: the report's and share page's style sheet, with its
 * print rules (the page's Content-Security-Policy allows no inline style) */
enum MHD_Result adm_serve_report_css(struct MHD_Connection *c);
/* GET /shares: the recordings that may be shared, each with a form */
enum MHD_Result adm_serve_shares_page(struct server *sv, struct MHD_Connection *c,
				      struct session *s);
/* POST /share (csrf already checked by serve.c): box, id, disguise=1 */
enum MHD_Result adm_serve_share_post(struct server *sv, struct MHD_Connection *c,
				     struct session *s, const char *body, size_t len);

#endif
