/* SPDX-License-Identifier: MIT */
/* dr_recover: a recording cut off by a power failure at any byte, or by a
 * full disk, keeps everything that had been synced, and becomes a valid file
 * again, repaired in place (no room needed) when it is laid out as our
 * writer lays it out. */
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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
	struct stat was;
	assert_int_equal(stat(path, &was), 0);
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
	/* Our writer's files are repaired in place: the same file, and (with
	 * audio kept) not one block more. */
	if (!res.was_complete) {
		if (!res.in_place)
			fail_msg("cut at %zu: repaired through a copy", cut);
		assert_int_equal(st.st_ino, was.st_ino);
		if (res.samples && st.st_blocks > was.st_blocks)
			fail_msg("cut at %zu: the repair grew the file from %ld to %ld blocks", cut,
				 (long)was.st_blocks, (long)st.st_blocks);
	}
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
		/* A copy would have kept exactly the same. */
		const char *cpath = mt_path(dir, "cutcopy.opus");
		assert_int_equal(mt_write_file(cpath, ref.m.buf, cut), 0);
		struct dr_recover_result cres;
		assert_int_equal(dr_recover_file_mode(cpath, DR_RECOVER_COPY, &cres), 0);
		assert_false(cres.in_place);
		if (cres.samples != res.samples)
			fail_msg("cut at %zu: in place kept %llu samples, a copy %llu", cut,
				 (unsigned long long)res.samples, (unsigned long long)cres.samples);
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
	/* The end-of-stream page was intact: its exact length is kept, and
	 * the garbage simply cut off. */
	assert_int_equal(res.samples, REF_SAMPLES);
	assert_true(res.in_place);
	assert_int_equal(res.bytes, ref.m.len);
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
	assert_true(res.in_place);
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

/* ---- a last page that ends inside a packet ---- */

struct bytes {
	unsigned char *b;
	size_t n, cap;
};

static void bytes_add(struct bytes *o, const unsigned char *p, long n)
{
	if (o->n + (size_t)n > o->cap) {
		o->cap = 2 * (o->n + (size_t)n);
		o->b = realloc(o->b, o->cap);
	}
	memcpy(o->b + o->n, p, (size_t)n);
	o->n += (size_t)n;
}

static void bytes_page(struct bytes *o, const ogg_page *og)
{
	bytes_add(o, og->header, og->header_len);
	bytes_add(o, og->body, og->body_len);
}

/*
 * The reference's packets re-muxed with every audio packet padded to 500
 * bytes (opus_packet_pad: it decodes exactly the same), i.e. two lacing
 * values each, into pages of 255 lacing values: the first audio page ends
 * inside its 128th packet, which continues on the next page. Granule
 * positions as our writer sets them. (Our writer itself only continues a
 * packet over a page boundary at the lacing limit; other writers do it all
 * the time.)
 */
static void padded_stream(struct bytes *out)
{
	ogg_sync_state oy;
	ogg_stream_state in, os;
	ogg_sync_init(&oy);
	char *b = ogg_sync_buffer(&oy, (long)ref.m.len);
	memcpy(b, ref.m.buf, ref.m.len);
	ogg_sync_wrote(&oy, (long)ref.m.len);
	ogg_stream_init(&in, 77);
	ogg_stream_init(&os, 77); /* opusfile's dither is seeded with the serial */
	ogg_page og;
	ogg_packet op;
	int64_t granule = 0, packetno = 0;
	while (ogg_sync_pageout(&oy, &og) == 1) {
		assert_int_equal(ogg_stream_pagein(&in, &og), 0);
		while (ogg_stream_packetout(&in, &op) == 1) {
			unsigned char pad[500];
			ogg_packet np = op;
			np.packetno = packetno++;
			if (np.packetno >= 2) {
				assert_true(op.bytes <= (long)sizeof(pad));
				memcpy(pad, op.packet, (size_t)op.bytes);
				assert_int_equal(opus_packet_pad(pad, (opus_int32)op.bytes, sizeof(pad)), OPUS_OK);
				np.packet = pad;
				np.bytes = sizeof(pad);
				granule += opus_packet_get_nb_samples(pad, sizeof(pad), 48000);
				np.granulepos = op.e_o_s ? op.granulepos : granule;
			}
			assert_int_equal(ogg_stream_packetin(&os, &np), 0);
			if (np.packetno < 2) /* each header on a page of its own */
				while (ogg_stream_flush(&os, &og))
					bytes_page(out, &og);
		}
	}
	while (ogg_stream_flush_fill(&os, &og, 1 << 30))
		bytes_page(out, &og);
	ogg_stream_clear(&in);
	ogg_stream_clear(&os);
	ogg_sync_clear(&oy);
}

/* Recovers a copy of `buf` cut at `cut`, in place; checks it against the
 * reference and against a copy-mode repair; returns the result. */
static struct dr_recover_result recover_cut(const struct bytes *bt, size_t cut, uint64_t want)
{
	const char *path = mt_path(dir, "padded.opus");
	assert_int_equal(mt_write_file(path, bt->b, cut), 0);
	struct dr_recover_result res;
	assert_int_equal(dr_recover_file(path, &res), 0);
	assert_false(res.was_complete);
	assert_true(res.in_place);
	assert_int_equal(res.samples, want);
	assert_int_equal(res.dropped_bytes + res.bytes, cut);
	uint64_t n;
	assert_int_equal(dr_oggopus_probe(path, &n), 0);
	assert_int_equal(n, want);
	int16_t *d;
	size_t dn;
	assert_int_equal(mt_decode(path, &d, &dn), 0);
	assert_int_equal(dn, want);
	assert_memory_equal(d, ref.decoded, dn * sizeof(int16_t));
	free(d);
	char out[8192];
	if (mt_have_tool("opusinfo") && !mt_opusinfo_clean(path, out, sizeof(out)))
		fail_msg("cut at %zu: opusinfo complains:\n%s", cut, out);
	struct dr_recover_result again;
	assert_int_equal(dr_recover_file(path, &again), 0);
	assert_true(again.was_complete);

	const char *cpath = mt_path(dir, "padded-copy.opus");
	assert_int_equal(mt_write_file(cpath, bt->b, cut), 0);
	struct dr_recover_result cres;
	assert_int_equal(dr_recover_file_mode(cpath, DR_RECOVER_COPY, &cres), 0);
	assert_false(cres.in_place);
	assert_int_equal(cres.samples, want);
	return res;
}

static void test_last_page_ends_inside_a_packet(void **state)
{
	(void)state;
	struct bytes bt = {0};
	padded_stream(&bt);
	struct pages pg;
	find_pages(bt.b, bt.n, &pg);
	assert_true(pg.n >= 4);
	/* Page 2 (the first audio page): 255 lacing values, the last one 255. */
	const unsigned char *a = bt.b + pg.end[1];
	size_t a_end = pg.end[2];
	assert_int_equal(a[26], 255);
	assert_int_equal(a[27 + 254], 255);
	assert_int_equal(pg.granule[2], 127 * 960);
	const uint64_t want = 127 * 960 - (uint64_t)ref.lookahead;
	/* What the repair leaves: page 2 without its last lacing value (one
	 * byte of header) and the 255 bytes of the packet it started. */
	const size_t fixed = a_end - 1 - 255;

	/* The next page lost entirely, torn in its header, torn in its body. */
	size_t cuts[] = {a_end, a_end + 20, (a_end + pg.end[3]) / 2, pg.end[3] - 1};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct dr_recover_result res = recover_cut(&bt, cuts[i], want);
		assert_int_equal(res.bytes, fixed);
	}
	/* An invalid packet in the middle of page 3: its packets before it are
	 * kept (page 3 rewritten without the rest), granule recomputed. */
	unsigned char *b3 = malloc(bt.n);
	memcpy(b3, bt.b, bt.n);
	size_t p3 = pg.end[2];
	int nsegs = b3[p3 + 26];
	size_t body = p3 + 27 + (size_t)nsegs;
	/* Lacing on page 3: one value (the end of packet 128), then two per
	 * packet. Packet 132 starts after the end of 128 and 129..131; an Opus
	 * TOC byte with code 3 and a frame count of 0 is invalid. */
	size_t tail = b3[p3 + 27];
	assert_true(tail < 255);
	size_t bad = body + tail + 3 * 500;
	b3[bad] = 0x03;
	b3[bad + 1] = 0x00;
	ogg_page og = {.header = b3 + p3, .header_len = 27 + nsegs, .body = b3 + body,
		       .body_len = (long)(pg.end[3] - body)};
	ogg_page_checksum_set(&og);
	struct bytes bt3 = {.b = b3, .n = bt.n};
	struct dr_recover_result res = recover_cut(&bt3, bt.n, 131 * 960 - (uint64_t)ref.lookahead);
	/* page 3 keeps its first 1 + 3 * 2 lacing values */
	assert_int_equal(res.bytes, p3 + 27 + 7 + tail + 3 * 500);
	free(b3);
	free(bt.b);
}

/* A layout in place would keep as it is but should not: a page in the middle
 * whose granule position is not its packets' total. Repaired through a copy
 * (which recomputes the granule positions); IN_PLACE refuses. */
static void test_foreign_layout_is_repaired_through_a_copy(void **state)
{
	(void)state;
	struct pages pg;
	find_pages(ref.m.buf, ref.m.len, &pg);
	unsigned char *b = malloc(ref.m.len);
	memcpy(b, ref.m.buf, ref.m.len);
	size_t at = pg.end[pg.n / 2 - 1];
	b[at + 6] ^= 0x10; /* the granule position of page n/2 */
	ogg_page og = {.header = b + at, .header_len = 27 + b[at + 26], .body = b + at + 27 + b[at + 26],
		       .body_len = (long)(pg.end[pg.n / 2] - at - 27 - b[at + 26])};
	ogg_page_checksum_set(&og);
	size_t cut = pg.end[pg.n - 2] + 10;
	const char *path = mt_path(dir, "foreign.opus");
	assert_int_equal(mt_write_file(path, b, cut), 0);
	struct dr_recover_result res;
	assert_int_equal(dr_recover_file_mode(path, DR_RECOVER_IN_PLACE, &res), -ENOTSUP);
	unsigned char *now;
	size_t nlen;
	assert_int_equal(mt_read_file(path, &now, &nlen), 0);
	assert_int_equal(nlen, cut);
	assert_memory_equal(now, b, cut); /* untouched */
	free(now);
	assert_int_equal(dr_recover_file(path, &res), 0);
	assert_false(res.in_place);
	assert_int_equal(res.samples, (uint64_t)pg.granule[pg.n - 2] - (uint64_t)ref.lookahead);
	int16_t *d;
	size_t dn;
	assert_int_equal(mt_decode(path, &d, &dn), 0);
	assert_int_equal(dn, res.samples);
	assert_memory_equal(d, ref.decoded, dn * sizeof(int16_t));
	free(d);
	char out[8192];
	if (mt_have_tool("opusinfo") && !mt_opusinfo_clean(path, out, sizeof(out)))
		fail_msg("opusinfo complains:\n%s", out);
	free(b);
}

/* ---- a full disk ---- */

static char *full_mnt;

static int full_disk_teardown(void **state)
{
	(void)state;
	if (full_mnt) {
		umount2(full_mnt, MNT_DETACH);
		rmdir(full_mnt);
		free(full_mnt);
		full_mnt = NULL;
	}
	return 0;
}

/* Fills the filesystem holding `dir_` to the very last byte. */
static void fill_up(const char *dir_)
{
	const char *p = mt_path(dir_, "filler");
	FILE *f = fopen(p, "we");
	assert_non_null(f);
	setvbuf(f, NULL, _IONBF, 0);
	static const unsigned char zero[4096];
	int fd = fileno(f);
	for (size_t chunk = sizeof(zero); chunk; chunk = chunk > 1 ? chunk / 8 : 0)
		while (write(fd, zero, chunk) > 0)
			;
	fclose(f);
	struct statvfs v;
	assert_int_equal(statvfs(dir_, &v), 0);
	assert_int_equal(v.f_bavail, 0);
}

/*
 * The daemon's case: the disk fills up mid-recording. The file sink rolls a
 * failed write back, so the file ends at the last sync point, without an
 * end-of-stream page; or a power cut tore a page on a disk just as full. No
 * copy fits (COPY fails with -ENOSPC and leaves the file as it was), but the
 * repair in place does, keeping everything that was synced.
 */
static void test_full_disk_is_repaired_in_place(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: mounting a small tmpfs needs root\n");
		skip();
	}
	char *m = strdup(mt_path(dir, "full"));
	assert_int_equal(mkdir(m, 0700), 0);
	if (mount("tmpfs", m, "tmpfs", MS_NOSUID | MS_NODEV, "size=128k,mode=0700") != 0) {
		int e = errno;
		rmdir(m);
		free(m);
		if (e == EPERM) {
			print_message("skipped: no CAP_SYS_ADMIN, cannot mount a tmpfs\n");
			skip();
		}
		fail_msg("mount tmpfs: %s", strerror(e));
	}
	full_mnt = m;

	int k = ref.m.syncs / 2;
	assert_true(k > 1 && k + 1 < ref.m.syncs);
	struct {
		const char *name;
		size_t cut;
	} f[] = {
		{"sync.opus", ref.m.sync_len[k]},                              /* disk full */
		{"torn.opus", (ref.m.sync_len[k] + ref.m.sync_len[k + 1]) / 2}, /* power cut */
		{"headers.opus", ref.headers_end},                               /* no audio yet */
	};
	const size_t nf = sizeof(f) / sizeof(f[0]);
	for (size_t i = 0; i < nf; i++)
		assert_int_equal(mt_write_file(mt_path(m, f[i].name), ref.m.buf, f[i].cut), 0);
	const char *reserve = mt_path(m, "space-reserve");
	assert_int_equal(dr_reserve_make(reserve, 16384), 1);
	fill_up(m);
	/* Only now, with the disk full, does the reserve go. */
	assert_int_equal(dr_reserve_release(reserve, 1), 1);
	assert_int_equal(access(reserve, F_OK), -1);

	for (size_t i = 0; i < nf; i++) {
		const char *path = mt_path(m, f[i].name);
		struct dr_recover_result res;
		fill_up(m); /* the repairs before cut damaged tails off: full again */
		assert_int_equal(dr_recover_file_mode(path, DR_RECOVER_COPY, &res), -ENOSPC);
		unsigned char *now;
		size_t nlen;
		assert_int_equal(mt_read_file(path, &now, &nlen), 0);
		assert_int_equal(nlen, f[i].cut);
		assert_memory_equal(now, ref.m.buf, nlen);
		free(now);
		char tmp[4200];
		snprintf(tmp, sizeof(tmp), "%s.repair", path);
		assert_int_equal(access(tmp, F_OK), -1);

		assert_int_equal(dr_recover_file(path, &res), 0);
		assert_true(res.in_place);
		uint64_t synced = synced_before(f[i].cut);
		if (res.samples + (uint64_t)ref.lookahead < synced)
			fail_msg("%s: recovered %llu samples, %llu were synced", f[i].name,
				 (unsigned long long)res.samples, (unsigned long long)synced);
		if (i == 0) /* the sink's rollback point: nothing dropped */
			assert_int_equal(res.dropped_bytes, 0);
		uint64_t n;
		assert_int_equal(dr_oggopus_probe(path, &n), 0);
		assert_int_equal(n, res.samples);
		int16_t *d;
		size_t dn;
		assert_int_equal(mt_decode(path, &d, &dn), 0);
		assert_int_equal(dn, res.samples);
		if (dn)
			assert_memory_equal(d, ref.decoded, dn * sizeof(int16_t));
		free(d);
		char out[8192];
		if (mt_have_tool("opusinfo") && !mt_opusinfo_clean(path, out, sizeof(out)))
			fail_msg("%s on a full disk: opusinfo complains:\n%s", f[i].name, out);
		print_message("%s on a full disk: %llu samples kept, %llu synced\n", f[i].name,
			      (unsigned long long)res.samples, (unsigned long long)synced);
	}
}

static void test_reserve(void **state)
{
	(void)state;
	const char *path = mt_path(dir, "space-reserve");
	assert_int_equal(dr_reserve_make(path, 65536), 1);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 65536);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(dr_reserve_make(path, 65536), 0); /* there already */
	/* Kept while there is room... */
	assert_int_equal(dr_reserve_release(path, 1), 0);
	assert_int_equal(access(path, F_OK), 0);
	/* ...released when told to. */
	assert_int_equal(dr_reserve_release(path, UINT64_MAX), 1);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(dr_reserve_release(path, UINT64_MAX), 0);
	/* One made only in part (a cut while making it) is made again. */
	assert_int_equal(mt_write_file(path, "x", 1), 0);
	assert_int_equal(dr_reserve_make(path, 65536), 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 65536);
	assert_int_equal(dr_reserve_release(path, UINT64_MAX), 1);
	/* Never the last of the room: not made unless twice its size is free. */
	struct statvfs v;
	assert_int_equal(statvfs(dir, &v), 0);
	uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize;
	assert_int_equal(dr_reserve_make(path, avail / 2 + 1024 * 1024), 0);
	assert_int_equal(access(path, F_OK), -1);
	/* No folder, no reserve. */
	assert_int_equal(dr_reserve_release(mt_path(dir, "no-such/space-reserve"), 4096), 0);
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
		cmocka_unit_test(test_last_page_ends_inside_a_packet),
		cmocka_unit_test(test_foreign_layout_is_repaired_through_a_copy),
		cmocka_unit_test_teardown(test_full_disk_is_repaired_in_place, full_disk_teardown),
		cmocka_unit_test(test_reserve),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
