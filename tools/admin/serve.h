/* SPDX-License-Identifier: MIT */
/* `diaryroom-admin serve` (serve.c, docs/staff-page.md). Main thread. */
#ifndef DR_ADMIN_SERVE_H
#define DR_ADMIN_SERVE_H

/* argv[1] is "serve": runs the staff page until SIGINT/SIGTERM. Exit code. */
int adm_serve_main(int argc, char **argv);

#endif
