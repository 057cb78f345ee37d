/* SPDX-License-Identifier: MIT */
/*
 * The button script / FIFO language, and the time-ordered edge schedule both
 * simulated backends deliver from. Pure: no I/O, no clock.
 *
 *   [<ms>] press [<hold_ms>]    [<ms>] down    [<ms>] up    # comment
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "button_impl.h"
#include "dev_util.h"

#define MAX_TOKENS 4

struct tok {
	const char *s;
	size_t n;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Whole decimal number <= max. */
static bool parse_num(const struct tok *t, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (!t->n || t->n > 10)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		if (t->s[i] < '0' || t->s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(t->s[i] - '0');
	}
	if (v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool is_digit_tok(const struct tok *t)
{
	return t->n && t->s[0] >= '0' && t->s[0] <= '9';
}

static bool tok_is(const struct tok *t, const char *word)
{
	return t->n == strlen(word) && !strncasecmp(t->s, word, t->n);
}

int dr_btn_parse_line(const char *line, size_t len, struct dr_btn_cmd *cmd, const char **why)
{
	struct tok tk[MAX_TOKENS];
	size_t nt = 0, i = 0, k = 0;

	*why = NULL;
	if (memchr(line, '\0', len)) {
		*why = "a NUL byte in the line";
		return -EINVAL;
	}
	for (;;) {
		while (i < len && is_blank(line[i]))
			i++;
		if (i >= len || line[i] == '#' || line[i] == '\n')
			break;
		if (nt == MAX_TOKENS) {
			*why = "too many words";
			return -EINVAL;
		}
		tk[nt].s = line + i;
		while (i < len && !is_blank(line[i]) && line[i] != '#' && line[i] != '\n')
			i++;
		tk[nt].n = (size_t)(line + i - tk[nt].s);
		nt++;
	}
	if (!nt)
		return 0;

	*cmd = (struct dr_btn_cmd){.hold_ms = DR_BTN_DEFAULT_HOLD_MS};
	if (is_digit_tok(&tk[0])) {
		if (!parse_num(&tk[0], DR_BTN_MAX_AT_MS, &cmd->at_ms)) {
			*why = "the time must be a whole number of ms, at most 86400000";
			return -EINVAL;
		}
		cmd->has_at = true;
		k = 1;
	}
	if (k >= nt) {
		*why = "expected press, down or up after the time";
		return -EINVAL;
	}
	if (tok_is(&tk[k], "press")) {
		cmd->kind = DR_BTN_PRESS;
		if (k + 1 < nt) {
			if (!parse_num(&tk[k + 1], DR_BTN_MAX_HOLD_MS, &cmd->hold_ms) || !cmd->hold_ms) {
				*why = "the hold time must be a whole number of ms, 1 to 600000";
				return -EINVAL;
			}
			k++;
		}
	} else if (tok_is(&tk[k], "down")) {
		cmd->kind = DR_BTN_DOWN;
	} else if (tok_is(&tk[k], "up")) {
		cmd->kind = DR_BTN_UP;
	} else {
		*why = "unknown word (expected press, down or up)";
		return -EINVAL;
	}
	if (k + 1 < nt) {
		*why = "unexpected words after the command";
		return -EINVAL;
	}
	return 1;
}

void dr_btn_sched_init(struct dr_btn_sched *s, size_t max)
{
	*s = (struct dr_btn_sched){.max = max};
}

void dr_btn_sched_release(struct dr_btn_sched *s)
{
	free(s->e);
	s->e = NULL;
	s->head = s->len = s->cap = 0;
}

size_t dr_btn_sched_pending(const struct dr_btn_sched *s)
{
	return s->len - s->head;
}

int dr_btn_sched_add(struct dr_btn_sched *s, uint64_t t_us, bool pressed)
{
	struct dr_btn_raw *ne;
	size_t i, ncap;

	if (dr_btn_sched_pending(s) >= s->max)
		return -ENOBUFS;
	if (s->head && s->len == s->cap) {
		/* Reuse the room of delivered edges. */
		memmove(s->e, s->e + s->head, (s->len - s->head) * sizeof(*s->e));
		s->len -= s->head;
		s->head = 0;
	}
	if (s->len == s->cap) {
		ncap = s->cap ? s->cap * 2 : 16;
		ne = realloc(s->e, ncap * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		s->e = ne;
		s->cap = ncap;
	}
	for (i = s->len; i > s->head && s->e[i - 1].t_us > t_us; i--)
		s->e[i] = s->e[i - 1];
	s->e[i] = (struct dr_btn_raw){.t_us = t_us, .pressed = pressed};
	s->len++;
	return 0;
}

int dr_btn_sched_add_cmd(struct dr_btn_sched *s, const struct dr_btn_cmd *cmd, uint64_t base_us)
{
	uint64_t t = base_us + (cmd->has_at ? (uint64_t)cmd->at_ms * 1000u : 0);
	int r;

	switch (cmd->kind) {
	case DR_BTN_PRESS:
		if (dr_btn_sched_pending(s) + 2 > s->max)
			return -ENOBUFS;
		r = dr_btn_sched_add(s, t, true);
		if (r == 0)
			r = dr_btn_sched_add(s, t + (uint64_t)cmd->hold_ms * 1000u, false);
		return r;
	case DR_BTN_DOWN:
		return dr_btn_sched_add(s, t, true);
	case DR_BTN_UP:
		return dr_btn_sched_add(s, t, false);
	}
	return -EINVAL;
}

int dr_btn_parse_script(const char *name, const char *text, size_t len, uint64_t base_us,
			struct dr_btn_sched *s, char *err, size_t errlen)
{
	struct dr_btn_cmd cmd;
	const char *why, *p = text, *end = text + len, *nl;
	uint32_t last_ms = 0;
	unsigned lineno = 0;
	int r;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		lineno++;
		r = dr_btn_parse_line(p, (size_t)(nl - p), &cmd, &why);
		if (r < 0) {
			dr_dev_err(err, errlen, "%s:%u: %s", name, lineno, why);
			return r;
		}
		if (r > 0) {
			if (!cmd.has_at) {
				dr_dev_err(err, errlen, "%s:%u: a script line needs a time in ms first (e.g. \"1000 press\")",
					   name, lineno);
				return -EINVAL;
			}
			if (cmd.at_ms < last_ms) {
				dr_dev_err(err, errlen, "%s:%u: time %u ms is before the previous line's %u ms",
					   name, lineno, cmd.at_ms, last_ms);
				return -EINVAL;
			}
			last_ms = cmd.at_ms;
			r = dr_btn_sched_add_cmd(s, &cmd, base_us);
			if (r < 0) {
				dr_dev_err(err, errlen, "%s:%u: %s", name, lineno,
					   r == -ENOBUFS ? "too many presses in one script" : "out of memory");
				return r;
			}
		}
		p = nl + 1;
	}
	return 0;
}
