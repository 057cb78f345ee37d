/* SPDX-License-Identifier: MIT */
/* dr_oggopus: what the box writes must be a correct Ogg Opus file, decode to
 * exactly what was said, and be on the card in time. */
#include <errno.h>
#include <ogg/ogg.h>
#include <opus/opus.h>
#include <opusfile.h>
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
#include "media_test.h"

static char *dir;

static int lookahead(void)
{
	int err;
	OpusEncoder *e = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
	opus_int32 la = -1;
	opus_encoder_ctl(e, OPUS_GET_LOOKAHEAD(&la));
	opus_encoder_destroy(e);
	return (int)la;
}

/* Encodes s[0..n) into a file through the file sink, in `chunk`-sample
 * writes. */
static void encode_file(const char *path, const int16_t *s, size_t n, size_t chunk, int frame_ms)
{
	struct dr_oggopus_params p;
	dr_oggopus_params_default(&p);
	p.frame_ms = frame_ms;
	p.serial = 0x1234;
	p.recording_id = "rec-0042";
	p.start_utc = "2024-05-01T10:20:30Z";
	struct dr_sink sink;
	unlink(path);
	assert_int_equal(dr_file_sink_open(path, NULL, &sink), 0);
	struct dr_oggopus *e;
	assert_int_equal(dr_oggopus_new(&p, sink, &e), 0);
	for (size_t off = 0; off < n; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;
		assert_int_equal(dr_oggopus_write(e, s + off, k), 0);
	}
	assert_int_equal(dr_oggopus_samples(e), n);
	assert_int_equal(dr_oggopus_finish(e), 0);
	assert_int_equal(dr_oggopus_write(e, s, 1), -EINVAL);
	dr_oggopus_free(e);
}

static void test_params(void **state)
{
	(void)state;
	struct dr_oggopus_params p;
	dr_oggopus_params_default(&p);
	assert_int_equal(p.bitrate, 32000);
	assert_int_equal(p.complexity, 8);
	assert_int_equal(p.frame_ms, 20);
	assert_int_equal(p.flush_ms, 300);
	assert_int_equal(dr_oggopus_params_check(&p), 0);
	struct dr_oggopus_params bad = p;
	bad.frame_ms = 30;
	assert_int_equal(dr_oggopus_params_check(&bad), -EINVAL);
	bad = p;
	bad.flush_ms = 401; /* more could lose over 0.5 s in a power cut */
	assert_int_equal(dr_oggopus_params_check(&bad), -EINVAL);
	bad = p;
	bad.complexity = 11;
	assert_int_equal(dr_oggopus_params_check(&bad), -EINVAL);

	/* A refused encoder still closes the sink it was given. */
	struct mt_memsink m = {0};
	struct dr_oggopus *e = NULL;
	bad = p;
	bad.bitrate = 100;
	assert_int_equal(dr_oggopus_new(&bad, mt_memsink(&m), &e), -EINVAL);
	assert_null(e);
	assert_int_equal(m.closes, 1);
	mt_memsink_free(&m);
	dr_oggopus_free(NULL);
}

/* Exact decoded length (opusfile honours pre-skip and end trimming) for
 * lengths that are not whole frames, with every frame size. */
static void test_exact_length_opusfile(void **state)
{
	(void)state;
	static const size_t lens[] = {0, 1, 311, 959, 961, 2881, 48017, 100003};
	static const int frames[] = {10, 20, 40, 60};
	int16_t *s = malloc(100003 * sizeof(int16_t));
	mt_chirp(s, 100003);
	for (size_t f = 0; f < sizeof(frames) / sizeof(frames[0]); f++) {
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			if (lens[i] > 48017 && frames[f] != 20)
				continue; /* keep the test quick under emulation */
			const char *path = mt_path(dir, "len.opus");
			encode_file(path, s, lens[i], 333, frames[f]);
			int16_t *d = NULL;
			size_t n = 0;
			assert_int_equal(mt_decode(path, &d, &n), 0);
			if (n != lens[i])
				fail_msg("frame %d ms, %zu samples in, %zu decoded", frames[f], lens[i], n);
			free(d);
		}
	}
	free(s);
}

static void test_opusdec_and_opusinfo(void **state)
{
	(void)state;
	if (!mt_have_tool("opusdec") || !mt_have_tool("opusinfo")) {
		print_message("SKIPPED: opusdec/opusinfo (opus-tools) not installed; "
			      "tools/install-deps installs them\n");
		skip();
	}
	static const size_t lens[] = {1, 959, 961, 12345, 48017, 100003};
	int16_t *s = malloc(100003 * sizeof(int16_t));
	mt_chirp(s, 100003);
	char out[8192];
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		const char *path = mt_path(dir, "dec.opus");
		const char *wav = mt_path(dir, "dec.wav");
		encode_file(path, s, lens[i], 1000, 20);
		if (!mt_opusinfo_clean(path, out, sizeof(out)))
			fail_msg("opusinfo complains about %zu samples:\n%s", lens[i], out);
		unlink(wav);
		int rc = mt_run(out, sizeof(out), "opusdec --quiet --rate 48000 '%s' '%s' 2>&1", path, wav);
		if (rc != 0)
			fail_msg("opusdec failed (%d): %s", rc, out);
		int16_t *d;
		size_t n;
		uint32_t rate;
		assert_int_equal(mt_read_wav(wav, &d, &n, &rate), 0);
		assert_int_equal(rate, 48000);
		if (n != lens[i])
			fail_msg("opusdec gave %zu samples for %zu written", n, lens[i]);
		free(d);
	}
	free(s);
}

/* RFC 7845 layout, checked page by page with libogg. */
static void test_stream_layout(void **state)
{
	(void)state;
	const size_t N = 48000 * 2 + 77;
	int16_t *s = malloc(N * sizeof(int16_t));
	mt_chirp(s, N);
	const char *path = mt_path(dir, "layout.opus");
	encode_file(path, s, N, 480, 20);
	unsigned char *file;
	size_t len;
	assert_int_equal(mt_read_file(path, &file, &len), 0);

	ogg_sync_state oy;
	ogg_stream_state os;
	ogg_sync_init(&oy);
	char *b = ogg_sync_buffer(&oy, (long)len);
	memcpy(b, file, len);
	ogg_sync_wrote(&oy, (long)len);
	ogg_page og;
	int page = 0, preskip = -1;
	int64_t last_granule = 0;
	bool eos = false;
	while (ogg_sync_pageout(&oy, &og) == 1) {
		assert_false(eos); /* nothing after the end-of-stream page */
		if (page == 0)
			ogg_stream_init(&os, ogg_page_serialno(&og));
		assert_int_equal(ogg_page_serialno(&og), 0x1234);
		assert_int_equal(ogg_stream_pagein(&os, &og), 0);
		ogg_packet op;
		int packets = 0;
		while (ogg_stream_packetout(&os, &op) == 1) {
			packets++;
			if (page == 0) {
				assert_true(ogg_page_bos(&og));
				assert_true(op.bytes == 19 && memcmp(op.packet, "OpusHead", 8) == 0);
				assert_int_equal(op.packet[8], 1);  /* version */
				assert_int_equal(op.packet[9], 1);  /* mono */
				preskip = op.packet[10] | op.packet[11] << 8;
				assert_int_equal(op.packet[12] | op.packet[13] << 8 | op.packet[14] << 16, 48000);
				assert_int_equal(op.packet[18], 0); /* mapping family 0 */
			} else if (page == 1) {
				assert_memory_equal(op.packet, "OpusTags", 8);
			} else {
				assert_true(opus_packet_get_nb_samples(op.packet, (opus_int32)op.bytes, 48000) == 960);
			}
		}
		if (page <= 1) {
			/* Each header alone on its page, granule 0. */
			assert_int_equal(packets, 1);
			assert_int_equal(ogg_page_granulepos(&og), 0);
			assert_false(ogg_page_continued(&og));
		} else {
			assert_false(ogg_page_continued(&og)); /* we flush on packet boundaries */
			assert_true(ogg_page_granulepos(&og) > last_granule);
			last_granule = ogg_page_granulepos(&og);
		}
		eos = ogg_page_eos(&og);
		page++;
	}
	assert_true(eos);
	assert_int_equal(preskip, lookahead());
	assert_int_equal(last_granule, (int64_t)N + preskip);
	ogg_stream_clear(&os);
	ogg_sync_clear(&oy);

	/* The comment header says whose recording this is. */
	int err;
	OggOpusFile *of = op_open_file(path, &err);
	assert_non_null(of);
	const OpusTags *tags = op_tags(of, -1);
	assert_non_null(strstr(tags->vendor, "libopus"));
	assert_string_equal(opus_tags_query(tags, "DIARYROOM_ID", 0), "rec-0042");
	assert_string_equal(opus_tags_query(tags, "DIARYROOM_START", 0), "2024-05-01T10:20:30Z");
	assert_string_equal(opus_tags_query(tags, "ENCODER", 0), "diaryroom");
	assert_int_equal(op_pcm_total(of, -1), (ogg_int64_t)N);
	op_free(of);
	free(file);
	free(s);
}

/*
 * The decoded audio must be the input, not merely the right length. Measure:
 * Pearson correlation of the energies of 20 ms frames, input against output
 * (opusfile removes the pre-skip, so they are sample-aligned). Threshold
 * 0.95: Opus at 32 kbit/s keeps the speech envelope almost exactly (we see
 * 0.998-0.999 for espeak-ng speech and for the synthetic fallback), and float
 * differences between platforms move that by far less than 0.05; while a
 * misalignment of just 10 ms already gives about 0.94-0.97 and one frame
 * (20 ms) 0.81-0.90, so dropped, repeated or garbled frames fail. The
 * one-frame-shifted control below shows the measure can fail.
 */
static void test_decoded_audio_resembles_input(void **state)
{
	(void)state;
	size_t n;
	bool real;
	int16_t *s = mt_speech(dir, &n, &real);
	assert_non_null(s);
	const char *path = mt_path(dir, "speech.opus");
	encode_file(path, s, n, 960 * 3 + 7, 20);
	int16_t *d;
	size_t m;
	assert_int_equal(mt_decode(path, &d, &m), 0);
	assert_int_equal(m, n);
	double c = mt_energy_corr(s, d, n, 0);
	double shifted = mt_energy_corr(s, d, n, 960); /* one frame off */
	print_message("%s speech, %.2f s: energy correlation %.4f (20 ms shifted: %.4f)\n",
		      real ? "espeak-ng" : "synthetic", (double)n / 48000, c, shifted);
	assert_true(c >= 0.95);
	assert_true(shifted < 0.95); /* the measure can tell a wrong alignment */
	free(d);
	free(s);
}

/* Durability: the counting sink records, at each sync, how many bytes it has
 * and how many samples the test had handed over by then. */
static int64_t last_granule_in(const unsigned char *buf, size_t len)
{
	ogg_sync_state oy;
	ogg_sync_init(&oy);
	char *b = ogg_sync_buffer(&oy, (long)len);
	memcpy(b, buf, len);
	ogg_sync_wrote(&oy, (long)len);
	ogg_page og;
	int64_t g = -1;
	while (ogg_sync_pageout(&oy, &og) == 1)
		if (ogg_page_granulepos(&og) >= 0)
			g = ogg_page_granulepos(&og);
	ogg_sync_clear(&oy);
	return g;
}

static void check_sync_interval(unsigned flush_ms, size_t chunk)
{
	const size_t N = 48000 * 6 + 123;
	int16_t *s = malloc(N * sizeof(int16_t));
	mt_chirp(s, N);
	struct mt_memsink m = {0};
	uint64_t progress = 0;
	m.progress = &progress;
	struct dr_oggopus_params p;
	dr_oggopus_params_default(&p);
	p.flush_ms = flush_ms;
	struct dr_oggopus *e;
	assert_int_equal(dr_oggopus_new(&p, mt_memsink(&m), &e), 0);
	assert_int_equal(m.syncs, 1); /* the headers are durable first */
	for (size_t off = 0; off < N; off += chunk) {
		size_t k = N - off < chunk ? N - off : chunk;
		assert_int_equal(dr_oggopus_write(e, s + off, k), 0);
		progress += k;
	}
	int syncs_while_writing = m.syncs - 1;
	assert_int_equal(dr_oggopus_finish(e), 0);
	dr_oggopus_free(e);
	assert_int_equal(m.closes, 1);

	uint64_t flush = (uint64_t)flush_ms * 48;
	int L = lookahead();
	assert_true((uint64_t)syncs_while_writing >= N / flush);
	int64_t prev = 0; /* granule at the headers' sync */
	for (int i = 1; i < m.syncs && i < 4096; i++) {
		int64_t g = last_granule_in(m.buf, m.sync_len[i]);
		assert_true(g >= 0);
		/* Everything handed over before this sync's write call is on
		 * the card except the encoder's lookahead... */
		if (g - L < (int64_t)m.sync_progress[i] - L)
			fail_msg("sync %d: durable %lld < handed over %llu - lookahead", i,
				 (long long)(g - L), (unsigned long long)m.sync_progress[i]);
		/* ...and the durable point never advances by more than flush_ms. */
		if (i < m.syncs - 1 && (uint64_t)(g - prev) > flush)
			fail_msg("sync %d: %lld samples since the last sync", i, (long long)(g - prev));
		prev = g;
	}
	mt_memsink_free(&m);
	free(s);
}

static void test_syncs_every_flush_ms(void **state)
{
	(void)state;
	check_sync_interval(400, 333);
	check_sync_interval(400, 48000); /* big writes still sync inside */
	check_sync_interval(100, 7);
	check_sync_interval(400, 960);
}

static void test_sink_failure_is_sticky_and_closes_once(void **state)
{
	(void)state;
	int16_t s[9600];
	mt_chirp(s, 9600);
	struct dr_oggopus_params p;
	dr_oggopus_params_default(&p);
	p.flush_ms = 100;

	/* The headers cannot be written: new fails and closes. */
	struct mt_memsink m = {0};
	m.fail_after = 20;
	m.fail_err = -EIO;
	struct dr_oggopus *e = NULL;
	assert_int_equal(dr_oggopus_new(&p, mt_memsink(&m), &e), -EIO);
	assert_null(e);
	assert_int_equal(m.closes, 1);
	mt_memsink_free(&m);

	/* The disk fills up in the middle. */
	memset(&m, 0, sizeof(m));
	m.fail_after = 2000;
	assert_int_equal(dr_oggopus_new(&p, mt_memsink(&m), &e), 0);
	int err = 0;
	for (int i = 0; i < 20 && !err; i++)
		err = dr_oggopus_write(e, s, 9600);
	assert_int_equal(err, -ENOSPC);
	assert_int_equal(dr_oggopus_write(e, s, 960), -ENOSPC);
	assert_int_equal(dr_oggopus_finish(e), -ENOSPC);
	assert_int_equal(m.closes, 1);
	dr_oggopus_free(e);
	assert_int_equal(m.closes, 1);
	assert_true(m.len <= 2000);
	mt_memsink_free(&m);

	/* Freed without finishing: the sink is closed, no EOS page written. */
	memset(&m, 0, sizeof(m));
	assert_int_equal(dr_oggopus_new(&p, mt_memsink(&m), &e), 0);
	assert_int_equal(dr_oggopus_write(e, s, 9600), 0);
	dr_oggopus_free(e);
	assert_int_equal(m.closes, 1);
	mt_memsink_free(&m);
}

static int setup(void **state)
{
	(void)state;
	dir = mt_tmpdir("oggopus");
	return dir ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mt_rmtree(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_exact_length_opusfile),
		cmocka_unit_test(test_opusdec_and_opusinfo),
		cmocka_unit_test(test_stream_layout),
		cmocka_unit_test(test_decoded_audio_resembles_input),
		cmocka_unit_test(test_syncs_every_flush_ms),
		cmocka_unit_test(test_sink_failure_is_sticky_and_closes_once),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
