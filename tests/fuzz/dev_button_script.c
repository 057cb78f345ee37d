/* SPDX-License-Identifier: MIT */
/* Fuzz target: the button script / FIFO line language (app/dev
 * button_parse.c), as a whole script and line by line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev/button_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *p = text, *end = text + size, *nl, *why;
	struct dr_btn_sched s;
	struct dr_btn_cmd cmd;
	char err[256];
	int r;

	dr_btn_sched_init(&s, 4096);
	r = dr_btn_parse_script("fuzz.txt", text, size, 1000000, &s, err, sizeof(err));
	if (r == 0) {
		/* Delivered in time order, none before the base time. */
		for (size_t i = s.head; i < s.len; i++) {
			if (s.e[i].t_us < 1000000 || (i > s.head && s.e[i].t_us < s.e[i - 1].t_us))
				abort();
		}
	} else if (strncmp(err, "fuzz.txt:", 9) != 0) {
		abort(); /* every script error names file:line */
	}
	dr_btn_sched_release(&s);

	/* FIFO style: each line alone, scheduled at once. */
	dr_btn_sched_init(&s, 256);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		r = dr_btn_parse_line(p, (size_t)(nl - p), &cmd, &why);
		if (r < 0 && !why)
			abort();
		if (r > 0) {
			if (cmd.kind == DR_BTN_PRESS && (cmd.hold_ms < 1 || cmd.hold_ms > DR_BTN_MAX_HOLD_MS))
				abort();
			if (cmd.has_at && cmd.at_ms > DR_BTN_MAX_AT_MS)
				abort();
			dr_btn_sched_add_cmd(&s, &cmd, 0);
		}
		p = nl + 1;
	}
	if (dr_btn_sched_pending(&s) > 256)
		abort();
	dr_btn_sched_release(&s);
	return 0;
}
