/* SPDX-License-Identifier: MIT */
/* Matroska live mode (app/media/mkv.c): what the box writes must pass the
 * reference tools (mkvinfo, ffprobe) without a warning, hold the right
 * codecs, timestamps and length, and a file cut anywhere must, once
 * repaired, play to its last complete Cluster. The tool checks are skipped
 * when mkvtoolnix or ffmpeg is not installed (tools/install-deps installs
 * them). */
#include <errno.h>
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

#include "media/mkv.h"
#include "media/opusenc.h"
#include "media_test.h"

#define FLUSH_SAMPLES 14400 /* 300 ms */
#define MAX_SYNCS 1024

static char *dir;
static char out[1 << 20];

/* A memory sink that keeps the bytes, where each sync was and the position
 * told just before it. */
struct psink {
	unsigned char *buf;
	size_t len, cap;
	int syncs, closes;
	size_t sync_len[MAX_SYNCS];
	uint64_t sync_pos[MAX_SYNCS];
	uint64_t pos;
};

static int p_write(void *u, const unsigned char *b, size_t n)
{
	struct psink *s = u;
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		s->buf = realloc(s->buf, s->cap);
		assert_non_null(s->buf);
	}
	memcpy(s->buf + s->len, b, n);
	s->len += n;
	return 0;
}

static int p_sync(void *u)
{
	struct psink *s = u;
	assert_true(s->syncs < MAX_SYNCS);
	s->sync_len[s->syncs] = s->len;
	s->sync_pos[s->syncs++] = s->pos;
	return 0;
}

static int p_close(void *u)
{
	((struct psink *)u)->closes++;
	return 0;
}

static int p_position(void *u, uint64_t samples)
{
	((struct psink *)u)->pos = samples;
	return 0;
}

static const struct dr_sink_ops p_ops = {p_write, p_sync, p_close, p_position};

/* The recorder's job in miniature: Opus packets and video frames into the
 * container in timestamp order, a durable flush every 300 ms of sound. */
struct mux {
	struct dr_container c;
	struct dr_opusenc *enc;
	uint64_t synced;
	int vtrack;
	unsigned char **frames;
	size_t *frame_len;
	size_t nframes, next_frame;
	uint64_t frame_ns;
};

static void write_video_until(struct mux *m, uint64_t ns)
{
	while (m->vtrack >= 0 && m->next_frame < m->nframes && m->next_frame * m->frame_ns <= ns) {
		size_t i = m->next_frame++;
		struct dr_packet p = {
			.track = (unsigned)m->vtrack,
			.pts = i * m->frame_ns,
			.duration = m->frame_ns,
			.key = true,
			.data = m->frames[i],
			.len = m->frame_len[i],
		};
		assert_int_equal(dr_container_write(m->c, &p), 0);
	}
}

static int on_packet(void *user, const struct dr_packet *p)
{
	struct mux *m = user;
	write_video_until(m, p->pts * 1000000000ull / 48000);
	int err = dr_container_write(m->c, p);
	if (!err && !p->last && dr_opusenc_encoded(m->enc) - m->synced >= FLUSH_SAMPLES) {
		err = dr_container_flush(m->c, dr_opusenc_position(m->enc));
		m->synced = dr_opusenc_encoded(m->enc);
	}
	return err;
}

/* Loads f001.jpg.. made by ffmpeg's test source: `n` MJPEG frames. */
static void make_frames(struct mux *m, size_t n, unsigned w, unsigned h, unsigned fps)
{
	assert_int_equal(mt_run(out, sizeof(out),
				"ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=%ux%u:rate=%u "
				"-frames:v %zu -c:v mjpeg -q:v 5 '%s/f%%03d.jpg' 2>&1",
				w, h, fps, n, dir),
			 0);
	m->frames = calloc(n, sizeof(*m->frames));
	m->frame_len = calloc(n, sizeof(*m->frame_len));
	for (size_t i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%03zu.jpg", i + 1);
		assert_int_equal(mt_read_file(mt_path(dir, name), &m->frames[i], &m->frame_len[i]), 0);
	}
	m->nframes = n;
	m->frame_ns = 1000000000ull / fps;
}

/* Writes n samples of chirp (and the frames, if any) into a psink. */
static void record(struct psink *s, size_t n, struct mux *m, unsigned w, unsigned h)
{
	memset(s, 0, sizeof(*s));
	struct dr_mkv_params mp = {.app = "diaryroom-test", .uid_seed = 7};
	assert_int_equal(dr_mkv_new((struct dr_sink){&p_ops, s}, &mp, &m->c), 0);
	struct dr_opusenc_params ep = {.bitrate = 32000, .complexity = 8, .frame_ms = 20};
	assert_int_equal(dr_opusenc_new(&ep, on_packet, m, &m->enc), 0);
	unsigned char head[DR_OPUS_HEAD_LEN];
	dr_opusenc_head(m->enc, head);
	struct dr_track a = {
		.kind = DR_TRACK_AUDIO, .codec = "A_OPUS", .codec_private = head,
		.codec_private_len = sizeof(head), .rate = 48000, .channels = 1,
		.delay = dr_opusenc_preskip(m->enc), .seek_preroll_ns = 80000000,
	};
	assert_int_equal(dr_container_add_track(m->c, &a), 0);
	m->vtrack = -1;
	if (m->nframes) {
		struct dr_track v = {.kind = DR_TRACK_VIDEO, .codec = "V_MJPEG", .width = w, .height = h};
		m->vtrack = dr_container_add_track(m->c, &v);
		assert_int_equal(m->vtrack, 1);
	}
	assert_int_equal(dr_container_flush(m->c, 0), 0);
	int16_t *pcm = malloc(n * sizeof(*pcm));
	mt_chirp(pcm, n);
	for (size_t off = 0; off < n; off += 1000)
		assert_int_equal(dr_opusenc_write(m->enc, pcm + off, n - off < 1000 ? n - off : 1000), 0);
	free(pcm);
	assert_int_equal(dr_opusenc_finish(m->enc), 0);
	write_video_until(m, UINT64_MAX);
	assert_int_equal(dr_container_flush(m->c, dr_opusenc_position(m->enc)), 0);
	assert_int_equal(dr_container_finish(m->c, 0), 0);
	dr_container_free(m->c);
	dr_opusenc_free(m->enc);
	assert_int_equal(s->closes, 1);
}

static void free_mux(struct mux *m)
{
	for (size_t i = 0; i < m->nframes; i++)
		free(m->frames[i]);
	free(m->frames);
	free(m->frame_len);
}

static bool have_tools(void)
{
	if (mt_have_tool("mkvinfo") && mt_have_tool("ffprobe") && mt_have_tool("ffmpeg"))
		return true;
	printf("mkvinfo/ffprobe/ffmpeg missing: tools/install-deps installs them\n");
	return false;
}

/* Both reference tools accept the file with no warning at all. */
static void assert_tools_clean(const char *path)
{
	int st = mt_run(out, sizeof(out), "mkvinfo '%s' 2>&1", path);
	if (st != 0 || strstr(out, "Warning") || strstr(out, "Error") || strstr(out, "rror:"))
		fail_msg("mkvinfo %d:\n%s", st, out);
	st = mt_run(out, sizeof(out), "ffprobe -v warning -i '%s' 2>&1", path);
	if (st != 0 || out[0])
		fail_msg("ffprobe %d:\n%s", st, out);
}

/* Samples ffmpeg decodes from the file's audio (pre-skip and padding
 * removed, as a player does); -1 on a decoder error message. */
static long decoded_samples(const char *path)
{
	char raw[600];
	snprintf(raw, sizeof(raw), "%s.raw", path);
	int st = mt_run(out, sizeof(out),
			"ffmpeg -nostdin -v error -y -i '%s' -map 0:a -f s16le -ac 1 -ar 48000 '%s' 2>&1",
			path, raw);
	if (st != 0 || out[0])
		return -1;
	struct stat sb;
	assert_int_equal(stat(raw, &sb), 0);
	unlink(raw);
	return (long)(sb.st_size / 2);
}

static void test_audio_only(void **state)
{
	(void)state;
	struct psink s;
	struct mux m = {0};
	size_t n = 48000 * 3 + 123;
	record(&s, n, &m, 0, 0);
	/* One cluster per flush: positions grow, and a flush is never more
	 * than 0.4 s of sound after the last. */
	assert_true(s.syncs >= 10);
	for (int i = 1; i < s.syncs; i++)
		assert_true(s.sync_pos[i] - s.sync_pos[i - 1] <= 19200);
	assert_int_equal(s.sync_pos[s.syncs - 1], n);
	const char *path = mt_path(dir, "audio.mkv");
	assert_int_equal(mt_write_file(path, s.buf, s.len), 0);
	struct dr_mkv_repair_result r;
	assert_int_equal(dr_mkv_repair(path, &r), 0);
	assert_true(r.was_complete);
	assert_int_equal(r.bytes, s.len);
	free(s.buf);
	if (!have_tools())
		skip();
	assert_tools_clean(path);
	assert_int_equal(mt_run(out, sizeof(out), "mkvinfo '%s'", path), 0);
	assert_non_null(strstr(out, "Document type version: 4"));
	assert_non_null(strstr(out, "Codec-inherent delay: 00:00:00.006500000"));
	assert_non_null(strstr(out, "Seek pre-roll: 00:00:00.080000000"));
	assert_int_equal(mt_run(out, sizeof(out),
				"ffprobe -v error -show_entries stream=codec_name,sample_rate,channels "
				"-of csv=p=0 '%s'",
				path),
			 0);
	assert_string_equal(out, "opus,48000,1\n");
	/* Every Opus packet 20 ms after the last, from 0 less CodecDelay
	 * (6.5 ms, -7 at the 1 ms scale: ffmpeg starts playback at the first
	 * sample after the pre-skip). (Live mode has no
	 * Duration element: ffprobe's format duration is N/A by design, so
	 * the length is checked by decoding.) */
	assert_int_equal(mt_run(out, sizeof(out),
				"ffprobe -v error -select_streams a -show_entries packet=pts,duration "
				"-of csv=p=0 '%s'",
				path),
			 0);
	char *line = out;
	size_t packets = (n + 312 + 959) / 960;
	for (size_t i = 0; i < packets; i++) {
		long pts, dur;
		assert_int_equal(sscanf(line, "%ld,%ld", &pts, &dur), 2);
		assert_int_equal(pts, (long)i * 20 - 7);
		if (i + 1 < packets)
			assert_int_equal(dur, 20);
		line = strchr(line, '\n') + 1;
		while (*line == '\n') /* ffprobe's empty line after side data */
			line++;
	}
	if (*line)
		fail_msg("more packets than expected: %s", line);
	/* Exactly the samples given: CodecDelay and DiscardPadding work. */
	assert_int_equal(decoded_samples(path), (long)n);
}

static void test_audio_video(void **state)
{
	(void)state;
	if (!have_tools())
		skip();
	struct psink s;
	struct mux m = {0};
	make_frames(&m, 45, 320, 240, 15);
	record(&s, 48000 * 3, &m, 320, 240);
	const char *path = mt_path(dir, "av.mkv");
	assert_int_equal(mt_write_file(path, s.buf, s.len), 0);
	free(s.buf);
	assert_tools_clean(path);
	assert_int_equal(mt_run(out, sizeof(out),
				"ffprobe -v error -show_entries stream=codec_name,width,height "
				"-of csv=p=0 '%s'",
				path),
			 0);
	assert_string_equal(out, "opus\nmjpeg,320,240\n");
	/* Every frame, in order, at its own time (to the ms scale). */
	assert_int_equal(mt_run(out, sizeof(out),
				"ffprobe -v error -select_streams v -show_entries packet=pts,flags "
				"-of csv=p=0 '%s'",
				path),
			 0);
	char *line = out;
	for (size_t i = 0; i < 45; i++) {
		long pts;
		char flags[8];
		assert_int_equal(sscanf(line, "%ld,%7s", &pts, flags), 2);
		assert_int_equal(pts, (long)(i * m.frame_ns / 1000000));
		assert_int_equal(flags[0], 'K');
		line = strchr(line, '\n') + 1;
	}
	assert_int_equal(*line, '\0');
	/* 45 frames decode; sound is 3 s. */
	assert_int_equal(mt_run(out, sizeof(out),
				"ffprobe -v error -count_frames -select_streams v "
				"-show_entries stream=nb_read_frames -of csv=p=0 '%s'",
				path),
			 0);
	assert_string_equal(out, "45\n");
	assert_int_equal(decoded_samples(path), 48000 * 3);
	free_mux(&m);
}

/* Cut at random points, repaired: the file keeps exactly what the last
 * sync before the cut made durable (or, cut between two blocks, a little
 * more), and decodes with no error to the position the sink was told. */
static void test_cut_anywhere(void **state)
{
	(void)state;
	bool tools = have_tools();
	struct psink s;
	struct mux m = {0};
	if (tools)
		make_frames(&m, 30, 160, 120, 15);
	record(&s, 48000 * 2, &m, 160, 120);
	const char *path = mt_path(dir, "cut.mkv");
	srand(12);
	for (int k = 0; k < 25; k++) {
		size_t cut = k == 0 ? s.sync_len[0] : k == 1 ? s.sync_len[3] : (size_t)rand() % s.len;
		assert_int_equal(mt_write_file(path, s.buf, cut), 0);
		int last = -1; /* the last sync at or before the cut */
		while (last + 1 < s.syncs && s.sync_len[last + 1] <= cut)
			last++;
		struct dr_mkv_repair_result r;
		int err = dr_mkv_repair(path, &r);
		if (last < 0) { /* not even the headers were durable */
			assert_int_equal(err, -EINVAL);
			continue;
		}
		assert_int_equal(err, 0);
		/* A cut exactly between two blocks keeps the blocks before
		 * it; any other cut goes back to the last whole Cluster. */
		assert_true(r.bytes == s.sync_len[last] || r.bytes == cut);
		assert_int_equal(r.was_complete, r.bytes == cut);
		struct stat sb;
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal((size_t)sb.st_size, r.bytes);
		struct dr_mkv_repair_result again;
		assert_int_equal(dr_mkv_repair(path, &again), 0);
		assert_true(again.was_complete);
		if (!tools || r.bytes != s.sync_len[last] || last == 0) /* 0: no cluster yet */
			continue;
		assert_tools_clean(path);
		assert_int_equal(decoded_samples(path), (long)s.sync_pos[last]);
	}
	free(s.buf);
	free_mux(&m);
}

static long mem_read(void *user, uint64_t off, void *buf, size_t len)
{
	const struct psink *s = user;
	if (off >= s->len)
		return 0;
	size_t n = s->len - off < len ? s->len - off : len;
	memcpy(buf, s->buf + off, n);
	return (long)n;
}

static void test_hostile(void **state)
{
	(void)state;
	struct dr_mkv_repair_result r;
	assert_int_equal(dr_mkv_repair(mt_path(dir, "none.mkv"), &r), -ENOENT);
	const char *path = mt_path(dir, "junk.mkv");
	assert_int_equal(mt_write_file(path, "OggS not matroska at all", 24), 0);
	assert_int_equal(dr_mkv_repair(path, &r), -EINVAL);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 24); /* left alone */

	struct psink s;
	struct mux m = {0};
	record(&s, 48000, &m, 0, 0);
	struct dr_mkv_scan sc;
	assert_int_equal(dr_mkv_scan(mem_read, &s, s.len, &sc), 0);
	assert_true(sc.was_complete);
	assert_int_equal(sc.blocks, 51); /* 1 s + pre-skip in 20 ms packets */
	assert_int_equal(sc.last_ts_ms, 1000);
	/* A corrupted block header inside the third cluster: the file is kept
	 * up to the cluster before it. */
	size_t at = s.sync_len[2] + 12; /* past the Cluster ID and size */
	while (s.buf[at] != 0xA3)       /* the first SimpleBlock */
		at++;
	s.buf[at] = 0x00; /* not an element ID */
	assert_int_equal(dr_mkv_scan(mem_read, &s, s.len, &sc), 0);
	assert_false(sc.was_complete);
	assert_true(sc.keep <= at && sc.keep >= s.sync_len[1]);
	/* Tracks cut off: nothing to keep. */
	assert_int_equal(dr_mkv_scan(mem_read, &s, s.sync_len[0] - 1, &sc), -EINVAL);
	free(s.buf);

	/* Refused tracks and codecs. */
	struct dr_container c;
	memset(&s, 0, sizeof(s));
	assert_int_equal(dr_mkv_new((struct dr_sink){&p_ops, &s}, NULL, &c), 0);
	struct dr_track v = {.kind = DR_TRACK_VIDEO, .codec = "V_MJPEG"};
	assert_int_equal(dr_container_add_track(c, &v), -EINVAL); /* no size */
	dr_container_free(c);
	assert_int_equal(s.closes, 1);
	free(s.buf);
}

static int setup(void **state)
{
	(void)state;
	dir = mt_tmpdir("mkv");
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
		cmocka_unit_test(test_audio_only),
		cmocka_unit_test(test_audio_video),
		cmocka_unit_test(test_cut_anywhere),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
