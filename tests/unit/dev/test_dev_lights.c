/* SPDX-License-Identifier: MIT */
/* dr_lights: the log backend's event lines, the pattern step tables, and
 * the pattern engine (blinking on the timerfd, the recording lamp) through
 * a recording fake backend. The gpiod backend needs a GPIO chip: here only
 * its missing-chip error; the emulated board tests it for real. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "dev/lights.h"
#include "dev/lights_impl.h"
#include "dev_test.h"
#include "util/conf.h"
#include "util/evlog.h"

static char g_dir[512];

static int open_conf(const char *text, struct dr_evlog *log, struct dr_lights **l, char *err,
		     size_t len)
{
	struct dr_conf *c = NULL;
	int r;

	assert_int_equal(dr_conf_parse("board.conf", text, strlen(text), &c, err, len), 0);
	r = dr_lights_open(c, log, l, err, len);
	dr_conf_free(c);
	return r;
}

static void test_log_backend_lines(void **state)
{
	char path[600], err[256] = "";
	struct dr_evlog *log = NULL;
	struct dr_lights *l = NULL;
	const char *want[] = {"idle", "welcome", "recording", "last_minute", "busy", "saved", "off"};
	char *text, *p;

	(void)state;
	snprintf(path, sizeof(path), "%s/events.jsonl", g_dir);
	assert_int_equal(dr_evlog_open(path, &log), 0);
	assert_int_equal(open_conf("[lights]\nbackend = log\n", log, &l, err, sizeof(err)), 0);
	assert_int_equal(dr_lights_fd(l), -1);
	assert_int_equal(dr_lights_set(l, DR_LIGHT_IDLE), 0);
	assert_int_equal(dr_lights_set(l, DR_LIGHT_WELCOME), 0);
	assert_int_equal(dr_lights_set(l, DR_LIGHT_RECORDING), 0);
	assert_int_equal(dr_lights_set(l, DR_LIGHT_RECORDING), 0); /* no change: no line */
	assert_int_equal(dr_lights_set(l, DR_LIGHT_LAST_MINUTE), 0);
	assert_int_equal(dr_lights_set(l, DR_LIGHT_BUSY), 0);
	assert_int_equal(dr_lights_set(l, DR_LIGHT_SAVED), 0);
	assert_int_equal(dr_lights_set(l, DR_LIGHT_OFF), 0);
	assert_int_equal(dr_lights_set(l, DR_LIGHT_COUNT), -EINVAL);
	assert_int_equal(dr_lights_tick(l), 0);
	dr_lights_free(l);
	dr_evlog_free(log);

	text = dt_read(path, NULL);
	assert_non_null(text);
	p = text;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char line[128], *nl = strchr(p, '\n');

		assert_non_null(nl);
		*nl = 0;
		assert_non_null(strstr(p, "\"ev\":\"light\""));
		snprintf(line, sizeof(line), "\"pattern\":\"%s\"}", want[i]);
		if (!strstr(p, line))
			fail_msg("line %zu is %s, want pattern %s", i, p, want[i]);
		p = nl + 1;
	}
	assert_string_equal(p, "");
	free(text);
}

static size_t cycle_ms(enum dr_light pat)
{
	const struct dr_light_step *st;
	size_t n = dr_lights_pattern_steps(pat, &st), sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += st[i].ms;
	return sum;
}

static bool same_steps(enum dr_light a, enum dr_light b)
{
	const struct dr_light_step *sa, *sb;
	size_t na = dr_lights_pattern_steps(a, &sa), nb = dr_lights_pattern_steps(b, &sb);

	if (na != nb)
		return false;
	if (na == 1)
		return sa[0].on == sb[0].on;
	for (size_t i = 0; i < na; i++)
		if (sa[i].on != sb[i].on || sa[i].ms != sb[i].ms)
			return false;
	return true;
}

static void test_step_tables(void **state)
{
	const struct dr_light_step *st;
	size_t n, on_ms;

	(void)state;
	for (int p = 0; p < DR_LIGHT_COUNT; p++) {
		n = dr_lights_pattern_steps((enum dr_light)p, &st);
		assert_true(n >= 1 && n <= 16);
		if (n == 1)
			continue;
		on_ms = 0;
		for (size_t i = 0; i < n; i++) {
			/* Calm: no flicker faster than 100 ms; visible: it
			 * changes at least every 3 s, so a blinking pattern is
			 * never taken for a steady one at a glance. */
			assert_true(st[i].ms >= 100 && st[i].ms <= 3000);
			/* Steps alternate, or it would not be a blink. */
			assert_int_equal(st[i].on, !st[(i + 1) % n].on);
			on_ms += st[i].on ? st[i].ms : 0;
		}
		assert_true(on_ms > 0 && on_ms < cycle_ms((enum dr_light)p));
	}
	/* Steady where the table says so. */
	n = dr_lights_pattern_steps(DR_LIGHT_OFF, &st);
	assert_true(n == 1 && !st[0].on);
	n = dr_lights_pattern_steps(DR_LIGHT_RECORDING, &st);
	assert_true(n == 1 && st[0].on);
	/* Error: three flashes a cycle; full: two. */
	n = dr_lights_pattern_steps(DR_LIGHT_ERROR, &st);
	assert_int_equal(n, 6);
	n = dr_lights_pattern_steps(DR_LIGHT_FULL, &st);
	assert_int_equal(n, 4);
	/* Out of range reads as off. */
	n = dr_lights_pattern_steps(DR_LIGHT_COUNT, &st);
	assert_true(n == 1 && !st[0].on);
}

/* How a pattern looks to someone watching it for a few seconds. */
struct look {
	bool steady;
	bool on;         /* steady: lit or dark */
	size_t flashes;  /* lit steps per cycle */
	size_t cycle_ms;
	double on_share; /* of the cycle */
};

static struct look look_of(enum dr_light p)
{
	const struct dr_light_step *st;
	size_t n = dr_lights_pattern_steps(p, &st), on_ms = 0;
	struct look k = {.steady = n == 1, .on = n == 1 && st[0].on, .cycle_ms = cycle_ms(p)};

	for (size_t i = 0; n > 1 && i < n; i++) {
		k.flashes += st[i].on;
		on_ms += st[i].on ? st[i].ms : 0;
	}
	k.on_share = k.cycle_ms ? (double)on_ms / (double)k.cycle_ms : 0;
	return k;
}

/* Two patterns a person can tell apart: one steady and one not (or steady
 * lit against steady dark), or a different number of flashes a cycle, or a
 * rhythm at least a quarter slower, or lit for a clearly different share of
 * the time (15 points). Merely different tables (the same blink shifted by a
 * step) do not count. */
static bool told_apart(enum dr_light a, enum dr_light b)
{
	struct look x = look_of(a), y = look_of(b);

	if (x.steady || y.steady)
		return x.steady != y.steady || x.on != y.on;
	if (x.flashes != y.flashes)
		return true;
	size_t lo = x.cycle_ms < y.cycle_ms ? x.cycle_ms : y.cycle_ms;
	size_t hi = x.cycle_ms < y.cycle_ms ? y.cycle_ms : x.cycle_ms;
	if (hi * 4 >= lo * 5)
		return true;
	return x.on_share - y.on_share >= 0.15 || y.on_share - x.on_share >= 0.15;
}

/* Every pattern means something different to a resident or to staff (ready,
 * speaking, recording, last minute, busy, saved, question, error, full,
 * off), so every pair must look different. Saved in particular follows
 * recording and lasts through the confirmations and the ~20 s receipt: it
 * must never look like recording. */
static void test_patterns_told_apart(void **state)
{
	const struct dr_light_step *st;

	(void)state;
	for (int a = 0; a < DR_LIGHT_COUNT; a++)
		for (int b = a + 1; b < DR_LIGHT_COUNT; b++)
			if (!told_apart((enum dr_light)a, (enum dr_light)b) ||
			    same_steps((enum dr_light)a, (enum dr_light)b))
				fail_msg("%s and %s look the same", dr_light_name((enum dr_light)a),
					 dr_light_name((enum dr_light)b));
	/* Recording is the only steady-on pattern, off the only steady-dark one. */
	for (int p = 0; p < DR_LIGHT_COUNT; p++) {
		size_t n = dr_lights_pattern_steps((enum dr_light)p, &st);

		if (n == 1 && st[0].on != 0)
			assert_int_equal(p, DR_LIGHT_RECORDING);
		if (n == 1 && st[0].on == 0)
			assert_int_equal(p, DR_LIGHT_OFF);
	}
	/* The ones a resident sees one after the other, spelt out. */
	assert_true(told_apart(DR_LIGHT_RECORDING, DR_LIGHT_SAVED));
	assert_true(told_apart(DR_LIGHT_WELCOME, DR_LIGHT_RECORDING));
	assert_true(told_apart(DR_LIGHT_QUESTION, DR_LIGHT_SAVED));
	assert_true(told_apart(DR_LIGHT_SAVED, DR_LIGHT_IDLE));
	/* and the rule itself can say "the same" */
	assert_false(told_apart(DR_LIGHT_BUSY, DR_LIGHT_BUSY));
	assert_false(told_apart(DR_LIGHT_RECORDING, DR_LIGHT_RECORDING));
}

/* A fake backend that records what it was asked to show. */
struct fake {
	int calls;
	bool main_on, rec_on;
	int main_changes;
	bool destroyed;
};

static int fake_drive(void *be, bool main_on, bool rec_on)
{
	struct fake *f = be;

	if (f->calls && main_on != f->main_on)
		f->main_changes++;
	f->calls++;
	f->main_on = main_on;
	f->rec_on = rec_on;
	return 0;
}

static void fake_destroy(void *be)
{
	((struct fake *)be)->destroyed = true;
}

static const struct dr_lights_ops fake_ops = {
	.name = "fake", .timed = true, .drive = fake_drive, .destroy = fake_destroy};

static void test_recording_lamp_exactly_while_recording(void **state)
{
	struct fake f = {0};
	struct dr_lights *l = NULL;
	char err[256];

	(void)state;
	assert_int_equal(dr_lights_create(&fake_ops, &f, NULL, &l, err, sizeof(err)), 0);
	assert_true(dr_lights_fd(l) >= 0);
	for (int p = 0; p < DR_LIGHT_COUNT; p++) {
		bool want = p == DR_LIGHT_RECORDING || p == DR_LIGHT_LAST_MINUTE;

		assert_int_equal(dr_lights_set(l, (enum dr_light)p), 0);
		if (f.rec_on != want)
			fail_msg("pattern %s: recording lamp %d", dr_light_name((enum dr_light)p), f.rec_on);
	}
	/* Going from recording to busy puts the lamp out at once. */
	assert_int_equal(dr_lights_set(l, DR_LIGHT_RECORDING), 0);
	assert_true(f.rec_on && f.main_on);
	assert_int_equal(dr_lights_set(l, DR_LIGHT_BUSY), 0);
	assert_false(f.rec_on);
	dr_lights_free(l);
	assert_true(f.destroyed);
	assert_false(f.main_on); /* dark when closed */
}

/* Busy blinks 250/250 on the timerfd; the lamp stays out throughout. */
static void test_blinks_on_timer(void **state)
{
	struct fake f = {0};
	struct dr_lights *l = NULL;
	struct pollfd pfd;
	uint64_t end;
	char err[256];

	(void)state;
	assert_int_equal(dr_lights_create(&fake_ops, &f, NULL, &l, err, sizeof(err)), 0);
	assert_int_equal(dr_lights_set(l, DR_LIGHT_BUSY), 0);
	assert_true(f.main_on); /* a pattern starts with its first step */
	pfd = (struct pollfd){.fd = dr_lights_fd(l), .events = POLLIN};
	end = dt_now_us() + 5000000u;
	while (f.main_changes < 3 && dt_now_us() < end) {
		poll(&pfd, 1, 100);
		assert_int_equal(dr_lights_tick(l), 0);
		assert_false(f.rec_on);
	}
	assert_true(f.main_changes >= 3);
	/* A steady pattern stops the timer: no more changes. */
	assert_int_equal(dr_lights_set(l, DR_LIGHT_RECORDING), 0);
	f.main_changes = 0;
	assert_int_equal(poll(&pfd, 1, 600), 0);
	assert_int_equal(dr_lights_tick(l), 0);
	assert_int_equal(f.main_changes, 0);
	assert_true(f.main_on && f.rec_on);
	dr_lights_free(l);
}

static void test_board_errors(void **state)
{
	struct dr_lights *l = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(open_conf("[lights]\nbackend = gpiod\nchip = dr-no-such-chip\nmain = 4\n", NULL, &l,
				   err, sizeof(err)),
			 -ENODEV);
	assert_string_equal(err, "board.conf: [lights] chip \"dr-no-such-chip\" not found");
	assert_int_equal(open_conf("[lights]\nbackend = gpiod\nchip = x\n", NULL, &l, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "[lights] main is missing"));
	assert_int_equal(open_conf("[lights]\nbackend = neon\n", NULL, &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[lights] backend = neon: must be gpiod or log"));
	assert_int_equal(open_conf("[lights]\nbackend = log\ncolour = red\n", NULL, &l, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "colour"));
	assert_null(l);
	dr_lights_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_backend_lines),
		cmocka_unit_test(test_step_tables),
		cmocka_unit_test(test_patterns_told_apart),
		cmocka_unit_test(test_recording_lamp_exactly_while_recording),
		cmocka_unit_test(test_blinks_on_timer),
		cmocka_unit_test(test_board_errors),
	};

	dt_mkdtemp(g_dir, sizeof(g_dir), "dev-lights");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
