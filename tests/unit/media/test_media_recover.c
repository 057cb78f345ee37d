/* SPDX-License-Identifier: MIT */
/* dr_recover: a recording cut off by a power failure at any byte keeps
 * everything that had been synced, and becomes a valid file again. */
#include <errno.h>
#include <ogg/ogg.h>
#include <opus/opus.h>
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
#include "media/recover.h"
#include "media_test.h"

#define REF_SAMPLES (48000 * 3 + 555)

static char *dir;

/* The reference recording, encoded once. */
static struct ref {
	struct mt_memsink m;   /* the bytes, and the sync points */
	int16_t *decoded;      /* full decode */
	size_t decoded_n;
	size_t headers_end;    /* end of the OpusTags page */
	int lookahead;
} ref;

static int lookahead(void)
{
	int err;
	OpusEncoder *e = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
	opus_int32 la = -1;
	opus_encoder_ctl(e, OPUS_GET_LOOKAHEAD(&la));
	opus_encoder_destroy(e);
	return (int)la;
}

/* Offsets where pages end, and their granule positions. */
struct pages {
	size_t n;
	size_t end[1024];
	int64_t granule[1024];
};

static void find_pages(const unsigned char *buf, size_t len, struct pages *p)
{
	ogg_sync_state oy;
	ogg_sync_init(&oy);
	char *b = ogg_sync_buffer(&oy, (long)len);
	memcpy(b, buf, len);
	ogg_sync_wrote(&oy, (long)len);
	ogg_page og;
	size_t off = 0;
	p->n = 0;
	long r;
	while ((r = ogg_sync_pageseek(&oy, &og)) > 0 && p->n < 1024) {
		off += (size_t)r;
		p->end[p->n] = off;
		p->granule[p->n] = ogg_page_granulepos(&og);
		p->n++;
	}
	ogg_sync_clear(&oy);
}

static int setup(void **state)
{
	(void)state;
	dir = mt_tmpdir("recover");
	if (!dir)
		return -1;
	ref.lookahead = lookahead();
	int16_t *s = malloc(REF_SAMPLES * sizeof(int16_t));
	mt_chirp(s, REF_SAMPLES);
	uint64_t progress = 0;
	ref.m.progress = &progress;
	struct dr_oggopus_params p;
	dr_oggopus_params_default(&p);
	p.serial = 77;
	p.recording_id = "r-recover";
	struct dr_oggopus *e;
	if (dr_oggopus_new(&p, mt_memsink(&ref.m), &e))
		return -1;
	for (size_t off = 0; off < REF_SAMPLES; off += 333) {
		size_t k = REF_SAMPLES - off < 333 ? REF_SAMPLES - off : 333;
		if (dr_oggopus_write(e, s + off, k))
			return -1;
		progress += k;
	}
	if (dr_oggopus_finish(e))
		return -1;
	dr_oggopus_free(e);
	free(s);
	ref.m.progress = NULL;
	struct pages pg;
	find_pages(ref.m.buf, ref.m.len, &pg);
	ref.headers_end = pg.end[1];
	const char *full = mt_path(dir, "ref.opus");
	if (mt_write_file(full, ref.m.buf, ref.m.len) || mt_decode(full, &ref.decoded, &ref.decoded_n))
		return -1;
	return ref.decoded_n == REF_SAMPLES ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mt_rmtree(dir);
	free(ref.decoded);
	mt_memsink_free(&ref.m);
	return 0;
}

static void test_complete_file_is_untouched(void **state)
{
	(void)state;
	const char *path = mt_path(dir, "complete.opus");
	assert_int_equal(mt_write_file(path, ref.m.buf, ref.m.len), 0);
	struct stat before, after;
	assert_int_equal(stat(path, &before), 0);
	struct dr_recover_result res;
	assert_int_equal(dr_recover_file(path, &res), 0);
	assert_true(res.was_complete);
	assert_int_equal(res.samples, REF_SAMPLES);
	assert_int_equal(res.bytes, ref.m.len);
	assert_int_equal(res.dropped_bytes, 0);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino); /* not even rewritten */
	uint64_t n;
	assert_int_equal(dr_oggopus_probe(path, &n), 0);
	assert_int_equal(n, REF_SAMPLES);
}

/* Samples the test had handed to the encoder before the last sync that
 * lies within the first `cut` bytes. */
static uint64_t synced_before(size_t cut)
{
	uint64_t s = 0;
	for (int i = 0; i < ref.m.syncs && i < 4096; i++)
		if (ref.m.sync_len[i] <= cut)
			s = ref.m.sync_progress[i];
	return s;
}

static void check_cut(size_t cut, bool thorough)
{
	const char *path = mt_path(dir, "cut.opus");
	assert_int_equal(mt_write_file(path, ref.m.buf, cut), 0);
	struct dr_recover_result res;
	int err = dr_recover_file(path, &res);
	if (cut < ref.headers_end) {
		/* Not even the headers: nothing to keep, the file is left. */
		if (err != -EINVAL)
			fail_msg("cut at %zu (inside the headers): %d, expected -EINVAL", cut, err);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, cut);
		return;
	}
	if (err)
		fail_msg("cut at %zu: recovery failed: %d", cut, err);
	assert_false(res.was_complete && cut != ref.m.len);
	assert_true(res.samples <= REF_SAMPLES);
	/*
	 * Nothing that was synced is lost. At a sync every sample handed over
	 * before that write call has been encoded, except the encoder's
	 * lookahead (6.5 ms, still inside libopus). With syncs every flush_ms
	 * (test_media_oggopus checks that), a cut loses at most
	 * flush_ms + one frame + the lookahead of what had been handed over.
	 */
	uint64_t synced = synced_before(cut);
	if (res.samples + (uint64_t)ref.lookahead < synced)
		fail_msg("cut at %zu: recovered %llu samples, %llu were synced", cut,
			 (unsigned long long)res.samples, (unsigned long long)synced);
	assert_true(res.dropped_bytes <= cut);

	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, res.bytes);
	assert_int_equal(access(mt_path(dir, "cut.opus.repair"), F_OK), -1);
	uint64_t probed;
	assert_int_equal(dr_oggopus_probe(path, &probed), 0);
	assert_int_equal(probed, res.samples);

	/* Repaired means complete: a second recovery leaves it alone. */
	struct dr_recover_result again;
	assert_int_equal(dr_recover_file(path, &again), 0);
	assert_true(again.was_complete);
	assert_int_equal(again.samples, res.samples);

	if (thorough) {
		/* The same packets: decoding gives exactly the first samples of
		 * the complete recording. */
		int16_t *d;
		size_t n;
		assert_int_equal(mt_decode(path, &d, &n), 0);
		assert_int_equal(n, res.samples);
		if (n && memcmp(d, ref.decoded, n * sizeof(int16_t)) != 0)
			fail_msg("cut at %zu: recovered audio differs from the original", cut);
		free(d);
		char out[8192];
		if (mt_have_tool("opusinfo") && !mt_opusinfo_clean(path, out, sizeof(out)))
			fail_msg("cut at %zu: opusinfo complains:\n%s", cut, out);
	}
}

static void test_cut_at_many_offsets(void **state)
{
	(void)state;
	if (!mt_have_tool("opusinfo"))
		print_message("note: opusinfo missing; checking repaired files with opusfile only\n");
	size_t len = ref.m.len;
	int checked = 0;
	/* Every byte through the headers and the first audio page... */
	for (size_t cut = 0; cut < ref.headers_end + 64 && cut < len; cut++, checked++)
		check_cut(cut, cut % 16 == 0 || cut == ref.headers_end);
	/* ...every page boundary and its neighbours (inside page headers)... */
	struct pages pg;
	find_pages(ref.m.buf, len, &pg);
	for (size_t i = 2; i < pg.n; i++) {
		for (long d = -30; d <= 30; d += 10) {
			long cut = (long)pg.end[i] + d;
			if (cut > 0 && (size_t)cut <= len) {
				check_cut((size_t)cut, d == 0 || d == -10);
				checked++;
			}
		}
	}
	/* ...and a stride through the pages' bodies. */
	for (size_t cut = ref.headers_end + 64; cut < len; cut += 211, checked++)
		check_cut(cut, cut % 4 == 0);
	print_message("%d cuts of a %zu-byte recording recovered\n", checked, len);
}

/*
 * A power cut at any moment: the file holds at least what the last sync made
 * durable. Just before sync i+1 the test had handed over at most
 * sync_progress[i+1] plus the call in flight (333 samples); what survives is
 * the cut at sync i. The difference must stay within flush_ms (the default) plus
 * one frame (20 ms) plus the encoder's lookahead (6.5 ms, still inside
 * libopus when the page is written).
 */
static void test_power_cut_loses_at_most_flush_ms(void **state)
{
	(void)state;
	struct dr_oggopus_params defaults;
	dr_oggopus_params_default(&defaults);
	const uint64_t bound = (uint64_t)defaults.flush_ms * 48 + 960 + (uint64_t)ref.lookahead;
	uint64_t worst = 0;
	for (int i = 0; i + 1 < ref.m.syncs - 1 && i + 1 < 4096; i++) {
		const char *path = mt_path(dir, "power.opus");
		assert_int_equal(mt_write_file(path, ref.m.buf, ref.m.sync_len[i]), 0);
		struct dr_recover_result res;
		uint64_t kept = 0;
		if (i > 0) { /* sync 0 holds the headers only */
			assert_int_equal(dr_recover_file(path, &res), 0);
			kept = res.samples;
		}
		uint64_t handed = ref.m.sync_progress[i + 1] + 333;
		uint64_t lost = handed > kept ? handed - kept : 0;
		if (lost > worst)
			worst = lost;
		if (lost > bound)
			fail_msg("power cut before sync %d: %llu samples lost (bound %llu)", i + 1,
				 (unsigned long long)lost, (unsigned long long)bound);
	}
	print_message("worst loss at a power cut: %.1f ms (bound %.1f ms)\n", (double)worst / 48,
		      (double)bound / 48);
}

static void test_garbage_after_the_end(void **state)
{
	(void)state;
	const char *path = mt_path(dir, "garbage.opus");
	size_t extra = 200 * 1024; /* more than the probe's first window */
	unsigned char *b = malloc(ref.m.len + extra);
	memcpy(b, ref.m.buf, ref.m.len);
	uint32_t x = 99;
	for (size_t i = 0; i < extra; i++) {
		x = x * 1103515245u + 12345u;
		b[ref.m.len + i] = (unsigned char)(x >> 16);
	}
	memcpy(b + ref.m.len + 5000, "OggS", 4); /* a fake capture pattern too */
	assert_int_equal(mt_write_file(path, b, ref.m.len + extra), 0);
	uint64_t n;
	assert_int_equal(dr_oggopus_probe(path, &n), 0);
	assert_int_equal(n, REF_SAMPLES);
	struct dr_recover_result res;
	assert_int_equal(dr_recover_file(path, &res), 0);
	assert_false(res.was_complete);
	/* The end-of-stream page was intact: its exact length is kept. */
	assert_int_equal(res.samples, REF_SAMPLES);
	assert_true(res.bytes <= ref.m.len); /* re-paged: fewer, fuller pages */
	assert_int_equal(res.dropped_bytes, extra);
	int16_t *d;
	size_t dn;
	assert_int_equal(mt_decode(path, &d, &dn), 0);
	assert_int_equal(dn, REF_SAMPLES);
	assert_memory_equal(d, ref.decoded, dn * sizeof(int16_t));
	free(d);
	free(b);
}

/* A page with a bad CRC: everything from it on is dropped, everything
 * before it kept to the sample. */
static void check_bad_crc(size_t page)
{
	struct pages pg;
	find_pages(ref.m.buf, ref.m.len, &pg);
	assert_true(page >= 2 && page < pg.n);
	unsigned char *b = malloc(ref.m.len);
	memcpy(b, ref.m.buf, ref.m.len);
	b[pg.end[page] - 3] ^= 0x40;
	const char *path = mt_path(dir, "crc.opus");
	assert_int_equal(mt_write_file(path, b, ref.m.len), 0);
	uint64_t n;
	/* probe only looks at the end: a damaged last page means no EOS page */
	assert_int_equal(dr_oggopus_probe(path, &n), page == pg.n - 1 ? -EINVAL : 0);
	struct dr_recover_result res;
	assert_int_equal(dr_recover_file(path, &res), 0);
	assert_false(res.was_complete);
	int64_t kept = pg.granule[page - 1] - ref.lookahead;
	assert_int_equal(res.samples, kept > 0 ? (uint64_t)kept : 0);
	assert_int_equal(res.dropped_bytes, ref.m.len - pg.end[page - 1]);
	int16_t *d;
	size_t dn;
	assert_int_equal(mt_decode(path, &d, &dn), 0);
	assert_int_equal(dn, res.samples);
	assert_memory_equal(d, ref.decoded, dn * sizeof(int16_t));
	char out[8192];
	if (mt_have_tool("opusinfo") && !mt_opusinfo_clean(path, out, sizeof(out)))
		fail_msg("bad CRC on page %zu: opusinfo complains:\n%s", page, out);
	free(d);
	free(b);
}

static void test_bad_crc(void **state)
{
	(void)state;
	struct pages pg;
	find_pages(ref.m.buf, ref.m.len, &pg);
	check_bad_crc(pg.n - 1); /* the last page */
	check_bad_crc(pg.n / 2); /* one in the middle */
	check_bad_crc(2);        /* the first audio page: an empty recording */
}

static void test_headers_only_is_a_valid_empty_recording(void **state)
{
	(void)state;
	const char *path = mt_path(dir, "empty.opus");
	assert_int_equal(mt_write_file(path, ref.m.buf, ref.headers_end), 0);
	struct dr_recover_result res;
	assert_int_equal(dr_recover_file(path, &res), 0);
	assert_int_equal(res.samples, 0);
	uint64_t n = 99;
	assert_int_equal(dr_oggopus_probe(path, &n), 0);
	assert_int_equal(n, 0);
	int16_t *d;
	size_t dn;
	assert_int_equal(mt_decode(path, &d, &dn), 0);
	assert_int_equal(dn, 0);
	free(d);
	char out[8192];
	if (mt_have_tool("opusinfo") && !mt_opusinfo_clean(path, out, sizeof(out)))
		fail_msg("opusinfo complains:\n%s", out);
}

static void test_errors_and_leftovers(void **state)
{
	(void)state;
	struct dr_recover_result res;
	uint64_t n;
	assert_int_equal(dr_recover_file(mt_path(dir, "nope.opus"), &res), -ENOENT);
	assert_int_equal(dr_oggopus_probe(mt_path(dir, "nope.opus"), &n), -ENOENT);
	const char *path = mt_path(dir, "zero.opus");
	assert_int_equal(mt_write_file(path, "", 0), 0);
	assert_int_equal(dr_recover_file(path, &res), -EINVAL);
	assert_int_equal(dr_oggopus_probe(path, &n), -EINVAL);
	/* Not Ogg at all. */
	path = mt_path(dir, "notogg.opus");
	int16_t s[100] = {0};
	assert_int_equal(mt_write_wav(path, s, 100, 48000, 1), 0);
	assert_int_equal(dr_recover_file(path, &res), -EINVAL);
	/* A cut-off file is not complete for probe. */
	path = mt_path(dir, "cutprobe.opus");
	assert_int_equal(mt_write_file(path, ref.m.buf, ref.m.len / 2), 0);
	assert_int_equal(dr_oggopus_probe(path, &n), -EINVAL);
	/* A repair that was itself cut short left its temporary file. */
	const char *tmp = mt_path(dir, "cutprobe.opus.repair");
	assert_int_equal(mt_write_file(tmp, "junk", 4), 0);
	assert_int_equal(dr_recover_file(path, &res), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(dr_oggopus_probe(path, &n), 0);
	assert_int_equal(n, res.samples);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_file_is_untouched),
		cmocka_unit_test(test_cut_at_many_offsets),
		cmocka_unit_test(test_power_cut_loses_at_most_flush_ms),
		cmocka_unit_test(test_garbage_after_the_end),
		cmocka_unit_test(test_bad_crc),
		cmocka_unit_test(test_headers_only_is_a_valid_empty_recording),
		cmocka_unit_test(test_errors_and_leftovers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
