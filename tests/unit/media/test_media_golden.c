/* SPDX-License-Identifier: MIT */
/* dr_oggopus byte for byte: the encoder and its Ogg container were split
 * (app/media/opusenc.c, app/media/ogg.c) with no change in behaviour. The
 * golden hashes below were computed from the single-file writer before the
 * split: the same input must give the same bytes, the same sync points and
 * the same media positions handed to the sink (what the sealing layer
 * records). The hashes hold for the libopus they were made with (Debian
 * bookworm's) on x86-64 and aarch64; with another libopus or on another
 * architecture the test is skipped, since another encoder build may choose
 * other bits. */
#include <errno.h>
#include <opus/opus.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "media/container.h"
#include "media/oggopus.h"
#include "media_test.h"

#define GOLDEN_LIBOPUS "libopus 1.3.1"

/* A sink that hashes what it is given, where it syncs and the positions. */
struct hsink {
	uint64_t h;
	size_t len;
	int syncs, positions, closes;
};

static void fnv(struct hsink *s, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		s->h ^= b[i];
		s->h *= 0x100000001b3ull;
	}
}

static int h_write(void *u, const unsigned char *buf, size_t len)
{
	struct hsink *s = u;
	fnv(s, buf, len);
	s->len += len;
	return 0;
}

static int h_sync(void *u)
{
	struct hsink *s = u;
	uint64_t at = s->len;
	fnv(s, "S", 1);
	fnv(s, &at, sizeof(at));
	s->syncs++;
	return 0;
}

static int h_close(void *u)
{
	struct hsink *s = u;
	s->closes++;
	return 0;
}

static int h_position(void *u, uint64_t samples)
{
	struct hsink *s = u;
	fnv(s, "P", 1);
	fnv(s, &samples, sizeof(samples));
	s->positions++;
	return 0;
}

static const struct dr_sink_ops h_ops = {h_write, h_sync, h_close, h_position};

/* Chirp with a deterministic noise floor and a silent gap: speech-like
 * energy changes, DTX-free silence, and full-band content. */
static int16_t *signal(size_t n)
{
	int16_t *s = malloc(n * sizeof(*s));
	assert_non_null(s);
	mt_chirp(s, n);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		int noise = (int)((x >> 16) & 0x1ff) - 256;
		int v = (i > n / 2 && i < n / 2 + 24000) ? 0 : s[i] + noise;
		s[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
	}
	return s;
}

struct variant {
	int frame_ms;
	unsigned flush_ms;
	int bitrate;
	const char *id;
	size_t chunk;
	size_t n;
	uint64_t golden;
	size_t golden_len;
};

static bool run(const struct variant *v)
{
	struct dr_oggopus_params p;
	dr_oggopus_params_default(&p);
	p.frame_ms = v->frame_ms;
	p.flush_ms = v->flush_ms;
	p.bitrate = v->bitrate;
	p.serial = 0x5eed;
	p.recording_id = v->id;
	p.start_utc = v->id ? "2026-12-04T06:00:00Z" : NULL;
	struct hsink hs = {.h = 0xcbf29ce484222325ull};
	struct dr_oggopus *e;
	assert_int_equal(dr_oggopus_new(&p, (struct dr_sink){&h_ops, &hs}, &e), 0);
	int16_t *s = signal(v->n);
	for (size_t off = 0; off < v->n; off += v->chunk) {
		size_t k = v->n - off < v->chunk ? v->n - off : v->chunk;
		assert_int_equal(dr_oggopus_write(e, s + off, k), 0);
	}
	assert_int_equal(dr_oggopus_finish(e), 0);
	dr_oggopus_free(e);
	free(s);
	assert_int_equal(hs.closes, 1);
	assert_int_equal(hs.positions, hs.syncs);
	printf("frame %d flush %u: %zu bytes, %d syncs, hash 0x%016llxull\n", v->frame_ms,
	       v->flush_ms, hs.len, hs.syncs, (unsigned long long)hs.h);
	return hs.h == v->golden && hs.len == v->golden_len;
}

/* libopus' float code takes other paths (and rounds differently) on each
 * architecture, so each has its own hashes, all from the writer before the
 * split: x86-64 natively, aarch64 under qemu-aarch64 (ctest --preset
 * aarch64). */
#if defined(__x86_64__)
#define G(x86, arm) x86
#elif defined(__aarch64__)
#define G(x86, arm) arm
#else
#define G(x86, arm) 0, 0
#define NO_GOLDEN
#endif

static const struct variant variants[] = {
	{20, 300, 32000, "rec-golden", 1234, 48000 * 7 + 17,
	 G(0xcd51c7dac7227340ull, 0xcf6c9d2591ac865aull), G(26746, 26731)},
	{60, 400, 24000, NULL, 48000, 48000 * 5,
	 G(0x02e88c8152b7798eull, 0x04dfe99794b10cc3ull), G(13974, 13929)},
	{10, 100, 64000, "x", 480, 48000 * 2 + 1,
	 G(0xec4f8f8188f642ccull, 0x8dc619435fd9e2feull), G(14844, 14872)},
	/* Packets near the 4 kB page size: where a page is cut matters. */
	{60, 400, 510000, "big", 4800, 48000 * 3,
	 G(0x6343fe7f4a31f074ull, 0x9ce0349a1bd68151ull), G(82378, 82376)},
	{40, 250, 32000, "empty-ish", 7, 5,
	 G(0xbbfbc2f2e421e4ecull, 0x6b2e3f66d51a6cbfull), G(302, 302)},
};

static void test_golden(void **state)
{
	(void)state;
#ifdef NO_GOLDEN
	printf("no golden hashes for this architecture\n");
	skip();
#endif
	if (strcmp(opus_get_version_string(), GOLDEN_LIBOPUS) != 0) {
		printf("libopus is %s, golden hashes are for %s\n", opus_get_version_string(),
		       GOLDEN_LIBOPUS);
		skip();
	}
	int bad = 0;
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		bad += !run(&variants[i]);
	assert_int_equal(bad, 0);
}

/* The Ogg container holds one Opus track and nothing else: a video track
 * or a second track is refused, and the sink is closed exactly once. */
static void test_ogg_refuses(void **state)
{
	(void)state;
	struct hsink hs = {.h = 0};
	struct dr_container c;
	assert_int_equal(dr_ogg_new((struct dr_sink){&h_ops, &hs}, 1, &c), 0);
	assert_string_equal(c.ops->name, "ogg");
	struct dr_track v = {.kind = DR_TRACK_VIDEO, .codec = "V_MJPEG", .width = 64, .height = 48};
	assert_int_equal(dr_container_add_track(c, &v), -ENOTSUP);
	unsigned char head[19] = "OpusHead", tags[16] = "OpusTags";
	struct dr_track a = {.kind = DR_TRACK_AUDIO, .codec = "A_OPUS", .codec_private = head,
			     .codec_private_len = sizeof(head), .rate = 48000, .channels = 1,
			     .comment = tags, .comment_len = sizeof(tags)};
	assert_int_equal(dr_container_add_track(c, &a), 0);
	assert_int_equal(dr_container_add_track(c, &a), -ENOTSUP);
	struct dr_packet p = {.track = 1, .data = head, .len = 1};
	assert_int_equal(dr_container_write(c, &p), -EINVAL);
	assert_int_equal(dr_container_flush(c, 0), 0);
	assert_int_equal(hs.positions, 1);
	assert_int_equal(dr_container_finish(c, 0), 0);
	assert_int_equal(dr_container_finish(c, 0), -EINVAL);
	dr_container_free(c);
	assert_int_equal(hs.closes, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_ogg_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
