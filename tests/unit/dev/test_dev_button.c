/* SPDX-License-Identifier: MIT */
/* dr_button: the script and FIFO backends, the debouncing of their edges,
 * the line parser, board-file errors, and the gpiod backend's missing-chip
 * error (the real GPIO test belongs to the emulated board). */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <cmocka.h>

#include "dev/button.h"
#include "dev/button_impl.h"
#include "dev_test.h"
#include "util/conf.h"

struct got {
	struct dr_button_edge e[64];
	uint64_t read_at[64]; /* when dr_button_read returned it */
	size_t n;
};

static struct dr_conf *conf(const char *text)
{
	struct dr_conf *c = NULL;
	char err[256];

	assert_int_equal(dr_conf_parse("board.conf", text, strlen(text), &c, err, sizeof(err)), 0);
	return c;
}

static int open_button(const char *text, const char *dir, struct dr_button **b, char *err,
		       size_t errlen)
{
	struct dr_conf *c = conf(text);
	int r = dr_button_open(c, dir, b, err, errlen);

	dr_conf_free(c);
	return r;
}

/* Collects debounced edges until `want` arrived, or the script backend has
 * delivered everything, or timeout_ms passed. */
static void collect(struct dr_button *b, struct got *g, size_t want, int timeout_ms)
{
	uint64_t end = dt_now_us() + (uint64_t)timeout_ms * 1000u;
	struct pollfd pfd = {.fd = dr_button_fd(b), .events = POLLIN};
	struct dr_button_edge e[4];
	int n;

	while (g->n < want && dt_now_us() < end) {
		n = poll(&pfd, 1, 50);
		assert_true(n >= 0);
		/* A small max on purpose: leftovers must stay readable. */
		n = dr_button_read(b, e, 2);
		assert_true(n >= 0);
		for (int i = 0; i < n && g->n < 64; i++) {
			g->read_at[g->n] = dt_now_us();
			g->e[g->n++] = e[i];
		}
		if (dr_button_script_done(b))
			break;
	}
}

static void write_script(char *path, size_t len, const char *dir, const char *text)
{
	snprintf(path, len, "%s/presses.txt", dir);
	dt_write(path, text, strlen(text));
}

static void test_script_times_and_order(void **state)
{
	char dir[512], path[600], err[256] = "", cfg[1024];
	struct dr_button *b = NULL;
	struct got g = {0};
	const uint32_t want_ms[] = {100, 300, 600, 650};
	uint64_t before, after;

	(void)state;
	dt_mkdtemp(dir, sizeof(dir), "dev-button");
	write_script(path, sizeof(path), dir,
		     "# a press, then a raw down/up\n"
		     "100 press 200\n"
		     "\n"
		     "600 down   # comment\n"
		     "650 up\n");
	/* Relative script path: resolved against the board folder. */
	snprintf(cfg, sizeof(cfg), "[button]\nbackend = script\nscript = presses.txt\ndebounce_ms = 30\n");
	before = dt_now_us();
	assert_int_equal(open_button(cfg, dir, &b, err, sizeof(err)), 0);
	after = dt_now_us();
	assert_false(dr_button_script_done(b));
	collect(b, &g, 4, 5000);
	assert_int_equal(g.n, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(g.e[i].pressed, i % 2 == 0);
		/* Each edge carries its scripted time since open... */
		assert_true(g.e[i].t_us >= before + want_ms[i] * 1000u);
		assert_true(g.e[i].t_us <= after + want_ms[i] * 1000u);
		/* ...and is never handed out before that time. */
		assert_true(g.read_at[i] >= g.e[i].t_us);
	}
	/* Nothing more, and the script says so. */
	collect(b, &g, 5, 200);
	assert_int_equal(g.n, 4);
	assert_true(dr_button_script_done(b));
	dr_button_free(b);
}

static void test_script_chatter_is_one_press(void **state)
{
	char dir[512], path[600], err[256] = "", cfg[1024];
	struct dr_button *b = NULL;
	struct got g = {0};

	(void)state;
	dt_mkdtemp(dir, sizeof(dir), "dev-button");
	/* A bouncing contact: down, up, down, up, down within 15 ms, then a
	 * bouncing release. */
	write_script(path, sizeof(path), dir,
		     "50 down\n53 up\n56 down\n60 up\n64 down\n"
		     "300 up\n302 down\n305 up\n");
	snprintf(cfg, sizeof(cfg), "[button]\nbackend = script\nscript = %s\ndebounce_ms = 30\n", path);
	assert_int_equal(open_button(cfg, "/nonexistent", &b, err, sizeof(err)), 0);
	collect(b, &g, 3, 1500);
	assert_int_equal(g.n, 2);
	assert_true(g.e[0].pressed);
	assert_false(g.e[1].pressed);
	assert_true(g.e[1].t_us - g.e[0].t_us >= 200000u);
	assert_true(dr_button_script_done(b));
	dr_button_free(b);
}

/* A tap shorter than the debounce interval, with nothing after it: the
 * release must still come (at the end of the lock-out), or the box would
 * think the button is held for ever. */
static void test_short_tap_is_released(void **state)
{
	char dir[512], path[600], err[256] = "", cfg[1024];
	struct dr_button *b = NULL;
	struct got g = {0};

	(void)state;
	dt_mkdtemp(dir, sizeof(dir), "dev-button");
	write_script(path, sizeof(path), dir, "50 down\n60 up\n");
	snprintf(cfg, sizeof(cfg), "[button]\nbackend = script\nscript = %s\ndebounce_ms = 40\n", path);
	assert_int_equal(open_button(cfg, NULL, &b, err, sizeof(err)), 0);
	collect(b, &g, 2, 1500);
	assert_int_equal(g.n, 2);
	assert_true(g.e[0].pressed);
	assert_false(g.e[1].pressed);
	assert_true(g.e[1].t_us - g.e[0].t_us >= 10000u);
	assert_true(g.e[1].t_us - g.e[0].t_us <= 40000u);
	assert_true(dr_button_script_done(b));
	dr_button_free(b);
}

static void expect_script_error(const char *text, const char *want)
{
	char dir[512], path[600], err[512] = "", cfg[1024];
	struct dr_button *b = NULL;

	dt_mkdtemp(dir, sizeof(dir), "dev-button");
	write_script(path, sizeof(path), dir, text);
	snprintf(cfg, sizeof(cfg), "[button]\nbackend = script\nscript = %s\n", path);
	assert_int_equal(open_button(cfg, NULL, &b, err, sizeof(err)), -EINVAL);
	assert_null(b);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void test_script_errors_name_file_and_line(void **state)
{
	(void)state;
	expect_script_error("100 press\n\n200 prss\n", "presses.txt:3: unknown word");
	expect_script_error("100 press\npress\n", "presses.txt:2: a script line needs a time");
	expect_script_error("500 down\n400 up\n", "presses.txt:2: time 400 ms is before");
	expect_script_error("100 press 0\n", "presses.txt:1: the hold time");
	expect_script_error("100 up now\n", "presses.txt:1: unexpected words");
	expect_script_error("99999999999 down\n", "presses.txt:1: the time");
}

static void test_script_missing_file(void **state)
{
	char err[512] = "";
	struct dr_button *b = NULL;

	(void)state;
	assert_int_equal(open_button("[button]\nbackend = script\nscript = nope.txt\n", "/nonexistent",
				     &b, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/nope.txt"));
}

static void fifo_say(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_fifo_lines_make_presses(void **state)
{
	char dir[512], path[600], err[512] = "", cfg[1024];
	struct dr_button *b = NULL;
	struct got g = {0};
	uint64_t t0;

	(void)state;
	dt_mkdtemp(dir, sizeof(dir), "dev-button");
	snprintf(path, sizeof(path), "%s/button.fifo", dir);
	snprintf(cfg, sizeof(cfg), "[button]\nbackend = fifo\nfifo = %s\ndebounce_ms = 20\n", path);
	assert_int_equal(open_button(cfg, NULL, &b, err, sizeof(err)), 0);
	assert_false(dr_button_script_done(b));

	/* A press held 200 ms: down now, up later. */
	t0 = dt_now_us();
	fifo_say(path, "press 200\n");
	collect(b, &g, 2, 3000);
	assert_int_equal(g.n, 2);
	assert_true(g.e[0].pressed && !g.e[1].pressed);
	assert_true(g.e[0].t_us >= t0);
	assert_true(g.e[1].t_us - g.e[0].t_us >= 200000u);

	/* Garbage is ignored; a line split across writes still counts; raw
	 * edges and a delayed press work. */
	fifo_say(path, "bogus words\nd");
	fifo_say(path, "own\n");
	collect(b, &g, 3, 3000);
	assert_int_equal(g.n, 3);
	assert_true(g.e[2].pressed);
	fifo_say(path, "up\n50 press 60\n");
	collect(b, &g, 5, 3000);
	assert_int_equal(g.n, 5);
	assert_false(g.e[3].pressed);
	assert_true(g.e[4].pressed);
	collect(b, &g, 6, 3000);
	assert_int_equal(g.n, 6);
	assert_false(g.e[5].pressed);
	assert_true(g.e[4].t_us - g.e[3].t_us >= 50000u);
	dr_button_free(b);

	/* Opening again reuses the existing FIFO. */
	assert_int_equal(open_button(cfg, NULL, &b, err, sizeof(err)), 0);
	dr_button_free(b);
}

static void test_fifo_path_not_a_fifo(void **state)
{
	char dir[512], path[600], err[512] = "", cfg[1024];
	struct dr_button *b = NULL;

	(void)state;
	dt_mkdtemp(dir, sizeof(dir), "dev-button");
	snprintf(path, sizeof(path), "%s/plain", dir);
	dt_write(path, "x", 1);
	snprintf(cfg, sizeof(cfg), "[button]\nbackend = fifo\nfifo = %s\n", path);
	assert_int_equal(open_button(cfg, NULL, &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a FIFO"));
}

static void test_gpiod_missing_chip(void **state)
{
	char err[512] = "";
	struct dr_button *b = NULL;

	(void)state;
	assert_int_equal(open_button("[button]\nbackend = gpiod\nchip = dr-no-such-chip\nline = GPIO17\n"
				     "active_low = yes\nbias = pull-up\n",
				     NULL, &b, err, sizeof(err)),
			 -ENODEV);
	assert_null(b);
	assert_string_equal(err, "board.conf: [button] chip \"dr-no-such-chip\" not found");
}

static void test_board_errors(void **state)
{
	char err[512] = "";
	struct dr_button *b = NULL;

	(void)state;
	assert_int_equal(open_button("[button]\nbackend = morse\n", NULL, &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[button] backend = morse: must be gpiod, script or fifo"));
	assert_int_equal(open_button("[button]\nbakend = script\n", NULL, &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bakend"));
	assert_int_equal(open_button("[button]\nbackend = gpiod\nchip = x\nline = 3\nbias = up\n", NULL, &b,
				     err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "bias = up"));
	assert_int_equal(open_button("[button]\nbackend = gpiod\nline = 3\n", NULL, &b, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "[button] chip is missing"));
	assert_int_equal(open_button("[button]\nbackend = script\n", NULL, &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[button] script is missing"));
	assert_int_equal(open_button("[button]\nbackend = script\nscript = x\ndebounce_ms = -1\n", NULL,
				     &b, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "debounce_ms"));
	assert_null(b);
}

static void test_parse_line(void **state)
{
	struct dr_btn_cmd c;
	const char *why;

	(void)state;
#define P(s) dr_btn_parse_line((s), strlen(s), &c, &why)
	assert_int_equal(P(""), 0);
	assert_int_equal(P("   \t# only a comment"), 0);
	assert_int_equal(P("press"), 1);
	assert_int_equal(c.kind, DR_BTN_PRESS);
	assert_false(c.has_at);
	assert_int_equal(c.hold_ms, DR_BTN_DEFAULT_HOLD_MS);
	assert_int_equal(P("press 3000"), 1);
	assert_false(c.has_at);
	assert_int_equal(c.hold_ms, 3000);
	assert_int_equal(P("1500 press 40\r"), 1);
	assert_true(c.has_at);
	assert_int_equal(c.at_ms, 1500);
	assert_int_equal(c.hold_ms, 40);
	assert_int_equal(P("0 DOWN"), 1);
	assert_int_equal(c.kind, DR_BTN_DOWN);
	assert_int_equal(P("7 up#x"), 1);
	assert_int_equal(c.kind, DR_BTN_UP);
	assert_int_equal(c.at_ms, 7);
	assert_int_equal(P("12"), -EINVAL);
	assert_int_equal(P("down 5"), -EINVAL);
	assert_int_equal(P("press -5"), -EINVAL);
	assert_int_equal(P("5x press"), -EINVAL);
	assert_int_equal(P("press 600001"), -EINVAL);
	assert_int_equal(P("86400001 up"), -EINVAL);
	assert_int_equal(P("1 2 3 4 5"), -EINVAL);
	assert_int_equal(dr_btn_parse_line("up\0", 3, &c, &why), -EINVAL);
#undef P
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test(test_script_times_and_order),
		cmocka_unit_test(test_script_chatter_is_one_press),
		cmocka_unit_test(test_short_tap_is_released),
		cmocka_unit_test(test_script_errors_name_file_and_line),
		cmocka_unit_test(test_script_missing_file),
		cmocka_unit_test(test_fifo_lines_make_presses),
		cmocka_unit_test(test_fifo_path_not_a_fifo),
		cmocka_unit_test(test_gpiod_missing_chip),
		cmocka_unit_test(test_board_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
