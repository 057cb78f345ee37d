/* SPDX-License-Identifier: MIT */
/* dr_prompts: the box's voice, loaded at start-up; a broken pack is an error
 * with the file named, never a silent box. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "media/oggopus.h"
#include "media/prompts.h"
#include "media_test.h"

static char *base;
static int16_t *sig;
#define SIG_N (48000 * 3)

static size_t prompt_len(enum dr_prompt id)
{
	return 12000 + 2401 * (size_t)id; /* all different, none whole frames, < SIG_N */
}

static void write_opus(const char *path, const int16_t *s, size_t n)
{
	unlink(path);
	struct dr_sink sink;
	assert_int_equal(dr_file_sink_open(path, NULL, &sink), 0);
	struct dr_oggopus_params p;
	dr_oggopus_params_default(&p);
	p.bitrate = 48000;
	struct dr_oggopus *e;
	assert_int_equal(dr_oggopus_new(&p, sink, &e), 0);
	assert_int_equal(dr_oggopus_write(e, s, n), 0);
	assert_int_equal(dr_oggopus_finish(e), 0);
	dr_oggopus_free(e);
}

/* A complete pack: even prompts as .opus, odd ones as .wav. */
static char *make_pack(const char *tag)
{
	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/%s-XXXXXX", base, tag);
	assert_non_null(mkdtemp(tmpl));
	char *dir = strdup(tmpl);
	for (int id = 0; id < DR_PROMPT_COUNT; id++) {
		char name[64];
		if (id % 2 == 0) {
			snprintf(name, sizeof(name), "%s.opus", dr_prompt_name(id));
			write_opus(mt_path(dir, name), sig, prompt_len(id));
		} else {
			snprintf(name, sizeof(name), "%s.wav", dr_prompt_name(id));
			assert_int_equal(mt_write_wav(mt_path(dir, name), sig, prompt_len(id), 48000, 1), 0);
		}
	}
	return dir;
}

static void test_loads_a_full_pack(void **state)
{
	(void)state;
	char *dir = make_pack("pack");
	struct dr_prompts *p = NULL;
	char err[512] = "";
	assert_int_equal(dr_prompts_load(dir, &p, err, sizeof(err)), 0);
	for (int id = 0; id < DR_PROMPT_COUNT; id++) {
		size_t n = 0;
		const int16_t *pcm = dr_prompts_pcm(p, id, &n);
		assert_non_null(pcm);
		/* Exact length: opusfile honours our pre-skip and end trim. */
		assert_int_equal(n, prompt_len(id));
		assert_int_equal(dr_prompts_ms(p, id), (prompt_len(id) * 1000 + 47999) / 48000);
		if (id % 2)
			assert_memory_equal(pcm, sig, n * sizeof(int16_t));
		else
			assert_true(mt_energy_corr(sig, pcm, n, 0) > 0.95);
	}
	size_t n = 5;
	assert_null(dr_prompts_pcm(p, DR_PROMPT_COUNT, &n));
	assert_int_equal(n, 0);
	dr_prompts_free(p);
	dr_prompts_free(NULL);
	free(dir);
}

static void test_opus_preferred_and_stereo_downmixed(void **state)
{
	(void)state;
	char *dir = make_pack("pref");
	/* welcome.opus exists; a welcome.wav of another length is ignored. */
	assert_int_equal(mt_write_wav(mt_path(dir, "welcome.wav"), sig, 100, 48000, 1), 0);
	/* beep as a stereo WAV (both channels the same): downmixed. */
	unlink(mt_path(dir, "beep.wav"));
	assert_int_equal(mt_write_wav(mt_path(dir, "beep.wav"), sig, 5000, 48000, 2), 0);
	bool stereo_opus = mt_have_tool("opusenc");
	if (stereo_opus) {
		/* warning as a stereo Opus file made by opusenc. */
		char out[1024];
		assert_int_equal(mt_write_wav(mt_path(dir, "st.wav"), sig, 24000, 48000, 2), 0);
		unlink(mt_path(dir, "warning.opus"));
		assert_int_equal(mt_run(out, sizeof(out), "opusenc --quiet '%s' '%s' 2>&1",
					mt_path(dir, "st.wav"), mt_path(dir, "warning.opus")),
				 0);
	} else {
		print_message("note: opusenc missing, stereo Opus prompt not checked\n");
	}
	struct dr_prompts *p = NULL;
	char err[512] = "";
	assert_int_equal(dr_prompts_load(dir, &p, err, sizeof(err)), 0);
	size_t n;
	dr_prompts_pcm(p, DR_PROMPT_WELCOME, &n);
	assert_int_equal(n, prompt_len(DR_PROMPT_WELCOME));
	const int16_t *pcm = dr_prompts_pcm(p, DR_PROMPT_BEEP, &n);
	assert_int_equal(n, 5000);
	assert_memory_equal(pcm, sig, 5000 * sizeof(int16_t));
	if (stereo_opus) {
		pcm = dr_prompts_pcm(p, DR_PROMPT_WARNING, &n);
		assert_int_equal(n, 24000);
		assert_true(mt_energy_corr(sig, pcm, n, 0) > 0.95);
	}
	dr_prompts_free(p);
	free(dir);
}

/* Each way a pack can be broken fails the load and names the file. */
static void expect_failure(const char *tag, void (*breakit)(const char *dir), int want,
			   const char *needle)
{
	char *dir = make_pack(tag);
	breakit(dir);
	struct dr_prompts *p = NULL;
	char err[512] = "";
	assert_int_equal(dr_prompts_load(dir, &p, err, sizeof(err)), want);
	assert_null(p);
	if (!strstr(err, needle))
		fail_msg("message \"%s\" does not name %s", err, needle);
	free(dir);
}

static void break_missing(const char *dir)
{
	unlink(mt_path(dir, "saved.opus"));
}

static void break_garbage_opus(const char *dir)
{
	assert_int_equal(mt_write_file(mt_path(dir, "full.opus"), "OggS not really", 15), 0);
}

static void break_wrong_rate(const char *dir)
{
	unlink(mt_path(dir, "too_short.wav"));
	assert_int_equal(mt_write_wav(mt_path(dir, "too_short.wav"), sig, 4410, 44100, 1), 0);
}

static void break_empty(const char *dir)
{
	unlink(mt_path(dir, "error.opus"));
	write_opus(mt_path(dir, "error.opus"), sig, 0);
}

static void break_not_wav(const char *dir)
{
	unlink(mt_path(dir, "warning.wav"));
	unlink(mt_path(dir, "warning.opus"));
	assert_int_equal(mt_write_file(mt_path(dir, "warning.wav"), "hello", 5), 0);
}

static void test_broken_packs(void **state)
{
	(void)state;
	expect_failure("missing", break_missing, -ENOENT, "saved.opus");
	expect_failure("garbage", break_garbage_opus, -EINVAL, "full.opus");
	expect_failure("rate", break_wrong_rate, -EINVAL, "too_short.wav");
	expect_failure("empty", break_empty, -EINVAL, "error.opus");
	expect_failure("notwav", break_not_wav, -EINVAL, "warning.wav");
	struct dr_prompts *p = NULL;
	char err[256];
	assert_int_equal(dr_prompts_load(mt_path(base, "no-such-folder"), &p, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "welcome.opus"));
}

static int setup(void **state)
{
	(void)state;
	base = mt_tmpdir("prompts");
	sig = malloc(SIG_N * sizeof(int16_t));
	if (!base || !sig)
		return -1;
	mt_chirp(sig, SIG_N);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mt_rmtree(base);
	free(sig);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads_a_full_pack),
		cmocka_unit_test(test_opus_preferred_and_stereo_downmixed),
		cmocka_unit_test(test_broken_packs),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
