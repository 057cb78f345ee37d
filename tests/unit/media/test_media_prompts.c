/* SPDX-License-Identifier: MIT */
/* dr_prompts: the box's voice, loaded at start-up; a broken pack is an error
 * with the file named, never a silent box. An organisation's recording of a
 * real voice is taken at any common rate and sample format and resampled to
 * 48 kHz; an override folder replaces single phrases of the built-in pack. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "media/oggopus.h"
#include "media/prompts.h"
#include "media_test.h"

static char *base;

/* A phrase decoded whole, as the speaker would hear it (the box itself
 * decodes as it plays); kept until tp_free(). */
static int16_t *held[DR_PROMPT_COUNT];

static const int16_t *tp_pcm(const struct dr_prompts *p, int id, size_t *n)
{
	if ((unsigned)id >= DR_PROMPT_COUNT) {
		*n = 0;
		return NULL;
	}
	free(held[id]);
	held[id] = NULL;
	int16_t *pcm = NULL;
	assert_int_equal(dr_prompts_decode(p, (enum dr_prompt)id, &pcm, n), 0);
	assert_int_equal(*n, dr_prompts_samples(p, (enum dr_prompt)id));
	held[id] = pcm;
	return pcm;
}

static void tp_free(struct dr_prompts *p)
{
	for (int id = 0; id < DR_PROMPT_COUNT; id++) {
		free(held[id]);
		held[id] = NULL;
	}
	dr_prompts_free(p);
}

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

/* ---- WAV files of any rate and sample format, made here (no tools) ---- */

/* What a file holds: rate, channels, sample format. */
struct tw {
	uint32_t rate;
	int channels;
	int bits;        /* 8, 16, 24, 32 or 64 */
	bool is_float;   /* IEEE float (32 or 64 bits) */
	bool extensible; /* WAVE_FORMAT_EXTENSIBLE header, as sox writes for 24-bit */
};

#define REF_SECONDS 1.0

/* The reference signal, a function of time so it can be sampled at any
 * rate: 0.7 s of "speech" (three syllables of a gliding 120-160 Hz voice
 * with 18 harmonics, up to 2.9 kHz: inside what an 8 kHz file can carry),
 * then a steady 1 kHz tone. A stereo file carries it in the middle (L + R)
 * with a 2 kHz tone in the difference, so a downmix that is not the mean
 * of the channels shows. */
static double ref_mono(double t)
{
	if (t < 0 || t >= REF_SECONDS)
		return 0;
	if (t < 0.7) {
		double env = sin(M_PI * t / (0.7 / 3));
		double ph = 2 * M_PI * (120 * t + 30 * t * t);
		double v = 0;
		for (int h = 1; h <= 18; h++)
			v += sin(h * ph) / h;
		return 0.35 * env * env * v;
	}
	double u = t - 0.7, fade = 1.0;
	if (u < 0.01)
		fade = u / 0.01;
	else if (REF_SECONDS - t < 0.01)
		fade = (REF_SECONDS - t) / 0.01;
	return 0.5 * fade * sin(2 * M_PI * 1000 * u);
}

static double ref_channel(double t, int ch, int channels)
{
	double side = channels == 2 ? 0.25 * sin(2 * M_PI * 2000 * t) : 0;
	return ref_mono(t) + (ch == 0 ? side : -side);
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A whole WAV file of `frames` frames of the reference signal at w->rate
 * (8-bit: silence). Returns its length; caller frees *out. */
static size_t tw_build(const struct tw *w, size_t frames, unsigned char **out)
{
	int bytes = w->bits / 8, block = bytes * w->channels;
	size_t hdr = w->extensible ? 68 : 44, data = frames * (size_t)block;
	unsigned char *f = calloc(1, hdr + data);
	assert_non_null(f);
	uint16_t tag = w->is_float ? 3 : 1;
	memcpy(f, "RIFF", 4);
	put_le(f + 4, hdr + data - 8, 4);
	memcpy(f + 8, "WAVEfmt ", 8);
	put_le(f + 16, w->extensible ? 40 : 16, 4);
	put_le(f + 20, w->extensible ? 0xFFFE : tag, 2);
	put_le(f + 22, (uint64_t)w->channels, 2);
	put_le(f + 24, w->rate, 4);
	put_le(f + 28, (uint64_t)w->rate * (uint64_t)block, 4);
	put_le(f + 32, (uint64_t)block, 2);
	put_le(f + 34, (uint64_t)w->bits, 2);
	if (w->extensible) {
		static const unsigned char tail[12] = {0x00, 0x00, 0x10, 0x00, 0x80, 0x00,
						       0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71};
		put_le(f + 36, 22, 2);
		put_le(f + 38, (uint64_t)w->bits, 2);
		put_le(f + 40, w->channels == 1 ? 0x4 : 0x3, 4);
		put_le(f + 44, tag, 4);
		memcpy(f + 48, tail, sizeof(tail));
	}
	memcpy(f + hdr - 8, "data", 4);
	put_le(f + hdr - 4, data, 4);
	unsigned char *p = f + hdr;
	for (size_t i = 0; i < frames; i++) {
		for (int c = 0; c < w->channels; c++, p += bytes) {
			double v = ref_channel((double)i / w->rate, c, w->channels);
			if (w->bits == 8) {
				*p = 0x80;
			} else if (w->is_float && w->bits == 32) {
				float x = (float)v;
				uint32_t u;
				memcpy(&u, &x, 4);
				put_le(p, u, 4);
			} else if (w->is_float) {
				uint64_t u;
				memcpy(&u, &v, 8);
				put_le(p, u, 8);
			} else {
				double full = ldexp(1.0, w->bits - 1) - 1;
				put_le(p, (uint64_t)(int64_t)lrint(v * full), bytes);
			}
		}
	}
	*out = f;
	return hdr + data;
}

static void tw_write(const char *path, const struct tw *w)
{
	unsigned char *file = NULL;
	size_t len = tw_build(w, (size_t)lrint(REF_SECONDS * w->rate), &file);
	unlink(path);
	assert_int_equal(mt_write_file(path, file, len), 0);
	free(file);
}

/* How a loaded prompt compares with the reference at 48 kHz. */
struct match {
	double corr;   /* Pearson correlation of the waveforms, no shift */
	double snr_db; /* reference energy over difference energy */
	double tone_hz; /* the steady tone, from zero crossings in 0.75-0.95 s */
};

static struct match compare_with_ref(const int16_t *pcm, size_t n)
{
	struct match m = {0};
	double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, err = 0;
	size_t k = n < 48000 ? n : 48000;
	for (size_t i = 0; i < k; i++) {
		double a = pcm[i] / 32768.0, b = ref_mono(i / 48000.0);
		sa += a;
		sb += b;
		saa += a * a;
		sbb += b * b;
		sab += a * b;
		err += (a - b) * (a - b);
	}
	double cov = sab - sa * sb / (double)k;
	double va = saa - sa * sa / (double)k, vb = sbb - sb * sb / (double)k;
	m.corr = va > 0 && vb > 0 ? cov / sqrt(va * vb) : 0;
	m.snr_db = 10 * log10(sbb / (err + 1e-12));
	size_t from = 36000, to = 45600, crossings = 0;
	for (size_t i = from + 1; i < to && i < n; i++)
		if ((pcm[i - 1] < 0) != (pcm[i] < 0))
			crossings++;
	m.tone_hz = (double)crossings / 2.0 / ((double)(to - from) / 48000.0);
	return m;
}

/* A pack of 48 kHz 16-bit WAVs, 0.1 s each: quick to make and to load. */
static char *make_wav_pack(const char *tag)
{
	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/%s-XXXXXX", base, tag);
	assert_non_null(mkdtemp(tmpl));
	for (int id = 0; id < DR_PROMPT_COUNT; id++) {
		char name[64];
		snprintf(name, sizeof(name), "%s.wav", dr_prompt_name(id));
		assert_int_equal(mt_write_wav(mt_path(tmpl, name), sig, 4800, 48000, 1), 0);
	}
	return strdup(tmpl);
}

static char *make_dir(const char *tag)
{
	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/%s-XXXXXX", base, tag);
	assert_non_null(mkdtemp(tmpl));
	return strdup(tmpl);
}

/* Loads "<ovr>:<pack>" and checks welcome came from `want_src` and
 * matches the reference. */
static void expect_welcome_matches(const char *search, const char *want_src, const char *what,
				   double min_corr)
{
	struct dr_prompts *p = NULL;
	char err[1024] = "";
	int rc = dr_prompts_load(search, &p, err, sizeof(err));
	if (rc)
		fail_msg("%s: load failed: %s", what, err);
	assert_string_equal(dr_prompts_source(p, DR_PROMPT_WELCOME), want_src);
	size_t n = 0;
	const int16_t *pcm = tp_pcm(p, DR_PROMPT_WELCOME, &n);
	struct match m = compare_with_ref(pcm, n);
	print_message("%-34s %6zu samples, corr %.5f, snr %5.1f dB, tone %.1f Hz\n", what, n, m.corr,
		      m.snr_db, m.tone_hz);
	/* The length is what the file lasts, at 48 kHz (a skipped resampling
	 * leaves the original count: 8000 for an 8 kHz second). */
	if (n < 48000 - 96 || n > 48000 + 96)
		fail_msg("%s: %zu samples at 48 kHz for a %.1f s recording", what, n, REF_SECONDS);
	assert_int_equal(dr_prompts_ms(p, DR_PROMPT_WELCOME), (n * 1000 + 47999) / 48000);
	/* The same waveform at the same times (a wrong ratio drifts, a wrong
	 * downmix leaves the 2 kHz side tone, a wrong sample format is noise). */
	if (m.corr < min_corr)
		fail_msg("%s: correlation with the reference %.4f < %.4f", what, m.corr, min_corr);
	/* The tone is at its pitch: a 44.1 kHz file played as 48 kHz would
	 * give 1088 Hz. */
	if (fabs(m.tone_hz - 1000.0) > 5.0)
		fail_msg("%s: the 1 kHz tone comes out at %.1f Hz", what, m.tone_hz);
	tp_free(p);
}

static void test_real_voice_at_any_rate_and_format(void **state)
{
	(void)state;
	static const struct tw cases[] = {
		{8000, 1, 16, false, false},   {11025, 1, 32, false, false},
		{16000, 1, 24, false, false},  {22050, 1, 32, true, false},
		{24000, 2, 16, false, false},  {32000, 1, 64, true, false},
		{44100, 2, 16, false, false},  {44100, 2, 24, false, true},
		{48000, 1, 24, false, false},  {48000, 2, 32, true, false},
		{88200, 2, 32, true, true},    {96000, 2, 24, false, false},
		{96000, 1, 16, false, false},
	};
	char *pack = make_wav_pack("anyrate");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tw *c = &cases[i];
		char *ovr = make_dir("ovr");
		char src[4096], search[8192], what[128];
		snprintf(src, sizeof(src), "%s/welcome.wav", ovr);
		tw_write(src, c);
		snprintf(search, sizeof(search), "%s:%s", ovr, pack);
		snprintf(what, sizeof(what), "%u Hz %d-bit%s %s%s", (unsigned)c->rate, c->bits,
			 c->is_float ? " float" : "", c->channels == 2 ? "stereo" : "mono",
			 c->extensible ? " (extensible)" : "");
		expect_welcome_matches(search, src, what, 0.999);
		free(ovr);
	}
	/* The same straight in a single pack folder, no search path. */
	char *single = make_wav_pack("single");
	char src[4096];
	snprintf(src, sizeof(src), "%s/welcome.wav", single);
	tw_write(src, &(struct tw){22050, 2, 24, false, false});
	expect_welcome_matches(single, src, "22050 Hz 24-bit stereo, in the pack", 0.999);
	free(single);
	free(pack);
}

/* Files as real tools write them: sox's 24-bit stereo at 44.1 kHz (an
 * extensible header) and float at 96 kHz; opusenc's Ogg Opus of a 16 kHz
 * and of a 44.1 kHz stereo recording (opusfile decodes at 48 kHz). */
static void test_files_from_real_tools(void **state)
{
	(void)state;
	/* sox is a declared test dependency (tools/install-deps): no silent pass */
	assert_true(mt_have_tool("sox"));
	char *pack = make_wav_pack("tools");
	char *work = make_dir("toolwork");
	const char *ref = mt_path(work, "ref48.wav");
	tw_write(ref, &(struct tw){48000, 1, 16, false, false});
	static const struct {
		const char *sox_args;
		bool opus; /* then through opusenc into welcome.opus */
		const char *what;
	} cases[] = {
		{"-r 44100 -c 2 -b 24", false, "sox: 44100 Hz 24-bit stereo"},
		{"-r 96000 -e floating-point -b 32", false, "sox: 96000 Hz float"},
		{"-r 16000 -b 16", true, "opusenc: from 16 kHz"},
		{"-r 44100 -c 2 -b 16", true, "opusenc: from 44.1 kHz stereo"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool opus = cases[i].opus;
		if (opus && !mt_have_tool("opusenc")) {
			print_message("note: opusenc missing, %s not checked\n", cases[i].what);
			continue;
		}
		char *ovr = make_dir("ovr");
		char src[4096], search[8192], out[2048];
		snprintf(src, sizeof(src), "%s/welcome.%s", ovr, opus ? "opus" : "wav");
		const char *mid = opus ? mt_path(work, "mid.wav") : src;
		assert_int_equal(mt_run(out, sizeof(out), "sox '%s' %s '%s' 2>&1", ref,
					cases[i].sox_args, mid),
				 0);
		if (opus)
			assert_int_equal(mt_run(out, sizeof(out), "opusenc --quiet --bitrate 96 '%s' '%s' 2>&1",
						mid, src),
					 0);
		snprintf(search, sizeof(search), "%s:%s", ovr, pack);
		if (!opus) {
			/* sox filters too (its own resampler): a little less alike. */
			expect_welcome_matches(search, src, cases[i].what, 0.995);
		} else {
			/* Lossy: the loudness envelope, the length and the tone. */
			struct dr_prompts *p = NULL;
			char err[1024] = "";
			if (dr_prompts_load(search, &p, err, sizeof(err)))
				fail_msg("%s: %s", cases[i].what, err);
			size_t n = 0;
			const int16_t *pcm = tp_pcm(p, DR_PROMPT_WELCOME, &n);
			int16_t *r = malloc(48000 * sizeof(int16_t));
			for (size_t k = 0; k < 48000; k++)
				r[k] = (int16_t)lrint(32767 * ref_mono(k / 48000.0));
			struct match m = compare_with_ref(pcm, n);
			double ec = mt_energy_corr(r, pcm, n < 48000 ? n : 48000, 0);
			print_message("%-34s %6zu samples, envelope corr %.4f, tone %.1f Hz\n",
				      cases[i].what, n, ec, m.tone_hz);
			assert_true(n >= 48000 - 96 && n <= 48000 + 96);
			assert_true(ec > 0.95);
			assert_true(fabs(m.tone_hz - 1000.0) < 5.0);
			free(r);
			tp_free(p);
		}
		free(ovr);
	}
	mt_rmtree(work);
	free(pack);
}

/* A complete pack: even prompts as .opus, odd ones as .wav. Encoded once
 * into a template folder no test touches, then copied: tests stay quick
 * under qemu too. */
static char *tpl;

static char *make_pack(const char *tag)
{
	if (!tpl) {
		char t[4096];
		snprintf(t, sizeof(t), "%s/template-XXXXXX", base);
		assert_non_null(mkdtemp(t));
		for (int id = 0; id < DR_PROMPT_COUNT; id++) {
			char name[64];
			snprintf(name, sizeof(name), "%s.%s", dr_prompt_name(id), id % 2 ? "wav" : "opus");
			if (id % 2 == 0)
				write_opus(mt_path(t, name), sig, prompt_len(id));
			else
				assert_int_equal(mt_write_wav(mt_path(t, name), sig, prompt_len(id), 48000, 1), 0);
		}
		tpl = strdup(t);
	}
	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/%s-XXXXXX", base, tag);
	assert_non_null(mkdtemp(tmpl));
	for (int id = 0; id < DR_PROMPT_COUNT; id++) {
		char name[64];
		snprintf(name, sizeof(name), "%s.%s", dr_prompt_name(id), id % 2 ? "wav" : "opus");
		unsigned char *buf = NULL;
		size_t len = 0;
		assert_int_equal(mt_read_file(mt_path(tpl, name), &buf, &len), 0);
		assert_int_equal(mt_write_file(mt_path(tmpl, name), buf, len), 0);
		free(buf);
	}
	return strdup(tmpl);
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
		const int16_t *pcm = tp_pcm(p, id, &n);
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
	assert_null(tp_pcm(p, DR_PROMPT_COUNT, &n));
	assert_int_equal(n, 0);
	tp_free(p);
	tp_free(NULL);
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
	tp_pcm(p, DR_PROMPT_WELCOME, &n);
	assert_int_equal(n, prompt_len(DR_PROMPT_WELCOME));
	const int16_t *pcm = tp_pcm(p, DR_PROMPT_BEEP, &n);
	assert_int_equal(n, 5000);
	assert_memory_equal(pcm, sig, 5000 * sizeof(int16_t));
	if (stereo_opus) {
		pcm = tp_pcm(p, DR_PROMPT_WARNING, &n);
		assert_int_equal(n, 24000);
		assert_true(mt_energy_corr(sig, pcm, n, 0) > 0.95);
	}
	tp_free(p);
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

static void break_rate_too_low(const char *dir)
{
	/* 4 kHz: no common recorder makes it, and it would be unintelligible. */
	unlink(mt_path(dir, "too_short.wav"));
	assert_int_equal(mt_write_wav(mt_path(dir, "too_short.wav"), sig, 4000, 4000, 1), 0);
}

static void break_eight_bit(const char *dir)
{
	/* 8-bit unsigned PCM: a WAV, but not one we take. */
	struct tw w = {.rate = 8000, .channels = 1, .bits = 8};
	unsigned char *file = NULL;
	size_t len = tw_build(&w, 100, &file);
	unlink(mt_path(dir, "goodbye.opus"));
	assert_int_equal(mt_write_file(mt_path(dir, "goodbye.wav"), file, len), 0);
	free(file);
}

static void break_too_long(const char *dir)
{
	/* 61 s at 8 kHz (1 MB): longer than any phrase should be. */
	size_t n = 8000 * 61;
	int16_t *z = calloc(n, sizeof(int16_t));
	assert_non_null(z);
	z[100] = 1000;
	unlink(mt_path(dir, "listen.opus"));
	unlink(mt_path(dir, "listen.wav"));
	assert_int_equal(mt_write_wav(mt_path(dir, "listen.wav"), z, n, 8000, 1), 0);
	free(z);
}

static void break_truncated_wav(const char *dir)
{
	/* A 44.1 kHz WAV cut inside its header (a copy that did not finish). */
	const char *path = mt_path(dir, "ask_staff.wav");
	unlink(mt_path(dir, "ask_staff.opus"));
	unlink(path);
	assert_int_equal(mt_write_wav(path, sig, 4410, 44100, 2), 0);
	assert_int_equal(truncate(path, 30), 0);
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
	expect_failure("rate", break_rate_too_low, -EINVAL, "too_short.wav");
	expect_failure("8bit", break_eight_bit, -ENOTSUP, "goodbye.wav");
	expect_failure("long", break_too_long, -EFBIG, "listen.wav");
	expect_failure("cut", break_truncated_wav, -EINVAL, "ask_staff.wav");
	expect_failure("empty", break_empty, -EINVAL, "error.opus");
	expect_failure("notwav", break_not_wav, -EINVAL, "warning.wav");
	struct dr_prompts *p = NULL;
	char err[256];
	assert_int_equal(dr_prompts_load(mt_path(base, "no-such-folder"), &p, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "welcome.opus"));
}

/* ---- an override folder in front of the built-in pack ---- */

static void expect_load_fails(const char *search, int want, const char *needle)
{
	struct dr_prompts *p = NULL;
	char err[1024] = "";
	assert_int_equal(dr_prompts_load(search, &p, err, sizeof(err)), want);
	assert_null(p);
	if (!strstr(err, needle))
		fail_msg("message \"%s\" does not name %s", err, needle);
}

static void test_override_folder_replaces_single_phrases(void **state)
{
	(void)state;
	char *pack = make_pack("builtin"); /* .opus and .wav, all 48 kHz */
	char *ovr = make_dir("override");
	char search[8192], path[4096];
	snprintf(search, sizeof(search), "%s:%s", ovr, pack);

	/* An empty override: the built-in pack, every phrase. */
	struct dr_prompts *p = NULL;
	char err[1024] = "";
	assert_int_equal(dr_prompts_load(search, &p, err, sizeof(err)), 0);
	for (int id = 0; id < DR_PROMPT_COUNT; id++)
		assert_true(strncmp(dr_prompts_source(p, id), pack, strlen(pack)) == 0);
	tp_free(p);

	/* welcome (built in as .opus) replaced by a 44.1 kHz stereo WAV: the
	 * folder comes before the kind of file. beep replaced by an Opus; a
	 * file that is no prompt's name is not read. */
	snprintf(path, sizeof(path), "%s/welcome.wav", ovr);
	tw_write(path, &(struct tw){44100, 2, 16, false, false});
	write_opus(mt_path(ovr, "beep.opus"), sig, 7000);
	assert_int_equal(mt_write_file(mt_path(ovr, "welcom.wav"), "garbage", 7), 0);
	assert_int_equal(mt_write_file(mt_path(ovr, "._welcome.wav"), "mac", 3), 0);
	p = NULL;
	assert_int_equal(dr_prompts_load(search, &p, err, sizeof(err)), 0);
	for (int id = 0; id < DR_PROMPT_COUNT; id++) {
		const char *src = dr_prompts_source(p, id);
		bool from_ovr = strncmp(src, ovr, strlen(ovr)) == 0;
		assert_true(from_ovr == (id == DR_PROMPT_WELCOME || id == DR_PROMPT_BEEP));
		size_t n;
		tp_pcm(p, id, &n);
		if (!from_ovr)
			assert_int_equal(n, prompt_len(id));
	}
	assert_string_equal(dr_prompts_source(p, DR_PROMPT_WELCOME), path);
	size_t n;
	const int16_t *pcm = tp_pcm(p, DR_PROMPT_WELCOME, &n);
	struct match m = compare_with_ref(pcm, n);
	assert_true(n > 48000 - 96 && n < 48000 + 96);
	assert_true(m.corr > 0.999);
	tp_pcm(p, DR_PROMPT_BEEP, &n);
	assert_int_equal(n, 7000);
	assert_null(dr_prompts_source(p, DR_PROMPT_COUNT));
	tp_free(p);

	/* Two overrides: the first that has a phrase wins. */
	char *ovr2 = make_dir("override2");
	write_opus(mt_path(ovr2, "beep.opus"), sig, 9000);
	write_opus(mt_path(ovr2, "saved.opus"), sig, 11000);
	char search3[12288];
	snprintf(search3, sizeof(search3), "%s:%s:%s", ovr, ovr2, pack);
	p = NULL;
	assert_int_equal(dr_prompts_load(search3, &p, err, sizeof(err)), 0);
	tp_pcm(p, DR_PROMPT_BEEP, &n);
	assert_int_equal(n, 7000);
	tp_pcm(p, DR_PROMPT_SAVED, &n);
	assert_int_equal(n, 11000);
	tp_free(p);

	/* A broken recording in the override does not silence the box: the
	 * built-in phrase plays, and the warning names the file passed over. */
	unlink(path);
	assert_int_equal(mt_write_file(path, "RIFF....WAVEjunk", 16), 0);
	assert_int_equal(dr_prompts_load(search, &p, err, sizeof(err)), 0);
	assert_non_null(dr_prompts_warning(p));
	if (!strstr(dr_prompts_warning(p), path))
		fail_msg("warning \"%s\" does not name %s", dr_prompts_warning(p), path);
	assert_non_null(strstr(dr_prompts_source(p, DR_PROMPT_WELCOME), pack));
	tp_free(p);
	p = NULL;

	/* An override folder that is not there (a typo, /data not mounted),
	 * or is a file. */
	char missing[8192];
	snprintf(missing, sizeof(missing), "%s/no-such-folder:%s", base, pack);
	expect_load_fails(missing, -ENOENT, "no-such-folder");
	snprintf(missing, sizeof(missing), "%s:%s", mt_path(pack, "beep.wav"), pack);
	expect_load_fails(missing, -ENOTDIR, "beep.wav");

	/* A phrase neither has: the pack's file is named. */
	unlink(path);
	unlink(mt_path(pack, "welcome.opus"));
	expect_load_fails(search, -ENOENT, "welcome.opus");

	/* Too many folders; nothing at all. */
	char many[12288] = "";
	for (int i = 0; i < DR_PROMPT_MAX_DIRS + 1; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s%s", i ? ":" : "", ovr);
	expect_load_fails(many, -EINVAL, "prompt folders");
	expect_load_fails(":", -EINVAL, "no prompt folder");
	mt_rmtree(ovr2);
	mt_rmtree(ovr);
	mt_rmtree(pack);
}

/* ---- a real voice at another rate is resampled once, into the cache ---- */

static int count_files(const char *dir)
{
	char out[256];
	assert_int_equal(mt_run(out, sizeof(out), "ls -A '%s' | wc -l", dir), 0);
	return atoi(out);
}

static void expect_cached_welcome(const char *search, const char *cache, char *play,
				  size_t playlen, struct stat *st)
{
	struct dr_prompts *p = NULL;
	char err[1024] = "";
	if (dr_prompts_load_cached(search, cache, &p, err, sizeof(err)))
		fail_msg("load with cache %s failed: %s", cache, err);
	const char *pp = dr_prompts_play_path(p, DR_PROMPT_WELCOME);
	assert_non_null(pp);
	if (strncmp(pp, cache, strlen(cache)) || !strstr(pp, "/welcome-"))
		fail_msg("welcome plays from %s, not from the cache %s", pp, cache);
	snprintf(play, playlen, "%s", pp);
	assert_int_equal(stat(play, st), 0);
	/* A 48 kHz phrase is read where it is, never copied. */
	assert_string_equal(dr_prompts_play_path(p, DR_PROMPT_BEEP), dr_prompts_source(p, DR_PROMPT_BEEP));
	size_t n = 0;
	const int16_t *pcm = tp_pcm(p, DR_PROMPT_WELCOME, &n);
	struct match m = compare_with_ref(pcm, n);
	assert_true(n > 48000 - 96 && n < 48000 + 96);
	if (m.corr < 0.999 || fabs(m.tone_hz - 1000.0) > 5.0)
		fail_msg("cached welcome: corr %.4f, tone %.1f Hz", m.corr, m.tone_hz);
	tp_free(p);
}

static void test_resampled_once_into_the_cache(void **state)
{
	(void)state;
	char *pack = make_pack("cachepack");
	char *ovr = make_dir("cacheovr");
	char *top = make_dir("cachetop");
	char cache[4096], src[4096], search[8192], play[4096], play2[4096];
	struct stat st, st2;
	snprintf(cache, sizeof(cache), "%s/prompt-cache", top); /* made by the load */
	snprintf(src, sizeof(src), "%s/welcome.wav", ovr);
	snprintf(search, sizeof(search), "%s:%s", ovr, pack);
	tw_write(src, &(struct tw){44100, 2, 24, false, true});

	expect_cached_welcome(search, cache, play, sizeof(play), &st);
	assert_int_equal(count_files(cache), 1);

	/* The next start reads the copy: not made again (same file, same
	 * time), even when the source was copied anew with the same bytes, as
	 * the device image does at every boot. */
	sleep(1);
	expect_cached_welcome(search, cache, play2, sizeof(play2), &st2);
	assert_string_equal(play, play2);
	assert_true(st.st_ino == st2.st_ino && st.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
		    st.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);
	unsigned char *bytes = NULL;
	size_t len = 0;
	assert_int_equal(mt_read_file(src, &bytes, &len), 0);
	unlink(src);
	assert_int_equal(mt_write_file(src, bytes, len), 0);
	free(bytes);
	expect_cached_welcome(search, cache, play2, sizeof(play2), &st2);
	assert_string_equal(play, play2);
	assert_true(st.st_ino == st2.st_ino && st.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);

	/* A new recording of the phrase is resampled again, and the old copy
	 * goes. */
	unlink(src);
	tw_write(src, &(struct tw){22050, 1, 16, false, false});
	expect_cached_welcome(search, cache, play2, sizeof(play2), &st2);
	assert_string_not_equal(play, play2);
	assert_int_equal(access(play, F_OK), -1);
	assert_int_equal(count_files(cache), 1);

	/* A copy cut short (a power cut while it was written) is made again. */
	assert_int_equal(truncate(play2, 1000), 0);
	expect_cached_welcome(search, cache, play, sizeof(play), &st);
	assert_string_equal(play, play2);

	/* No cache folder can be made (a file in its way): the phrase is
	 * resampled into memory and the box still starts. */
	char blocked[4200];
	snprintf(blocked, sizeof(blocked), "%s/not-a-folder", top);
	assert_int_equal(mt_write_file(blocked, "x", 1), 0);
	struct dr_prompts *p = NULL;
	char err[1024] = "";
	assert_int_equal(dr_prompts_load_cached(search, blocked, &p, err, sizeof(err)), 0);
	assert_null(dr_prompts_play_path(p, DR_PROMPT_WELCOME));
	size_t n = 0;
	const int16_t *pcm = tp_pcm(p, DR_PROMPT_WELCOME, &n);
	assert_true(compare_with_ref(pcm, n).corr > 0.999);
	tp_free(p);
	mt_rmtree(top);
	mt_rmtree(ovr);
	mt_rmtree(pack);
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
	free(tpl);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads_a_full_pack),
		cmocka_unit_test(test_opus_preferred_and_stereo_downmixed),
		cmocka_unit_test(test_broken_packs),
		cmocka_unit_test(test_real_voice_at_any_rate_and_format),
		cmocka_unit_test(test_files_from_real_tools),
		cmocka_unit_test(test_override_folder_replaces_single_phrases),
		cmocka_unit_test(test_resampled_once_into_the_cache),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
