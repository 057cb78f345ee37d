/* SPDX-License-Identifier: MIT */
/*
 * app/seal: a recording sealed from its first byte.
 *
 * Real Ogg Opus from the real encoder goes through the sealing sink into a
 * memory sink; the tests then open it with the organisation's key and with
 * the recording key, cut it at every byte and repair it without any key,
 * and tamper with it the ways a hostile finder or a broken card would.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "media/oggopus.h"
#include "media_test.h"
#include "seal/seal.h"

#define ID "0123456789abcdef0123456789abcdef"

struct org {
	uint8_t pk[32], sk[64];
};

static void org_new(struct org *o)
{
	crypto_sign_keypair(o->pk, o->sk);
}

/* Seals `seconds` of speech-like audio as the box would, into m. Returns
 * the plain Ogg Opus the encoder produced (from a second, plain encoder run
 * with the same input and parameters, for comparison). */
static void make_sealed(struct mt_memsink *m, const struct org *o, struct dr_seal_key *key,
			double seconds, struct mt_memsink *plain)
{
	size_t n = (size_t)(seconds * DR_SAMPLE_RATE);
	int16_t *pcm = malloc(n * sizeof(*pcm));
	assert_non_null(pcm);
	mt_chirp(pcm, n);
	struct dr_oggopus_params p;
	dr_oggopus_params_default(&p);
	p.serial = 7;
	p.recording_id = ID;
	for (int pass = 0; pass < 2; pass++) {
		struct mt_memsink *dst = pass ? plain : m;
		if (!dst)
			continue;
		struct dr_sink s = mt_memsink(dst);
		if (pass == 0)
			assert_int_equal(dr_seal_sink_new(s, ID, o->pk, key, &s), 0);
		struct dr_oggopus *e;
		assert_int_equal(dr_oggopus_new(&p, s, &e), 0);
		for (size_t off = 0; off < n; off += 4800)
			assert_int_equal(dr_oggopus_write(e, pcm + off, n - off < 4800 ? n - off : 4800), 0);
		assert_int_equal(dr_oggopus_finish(e), 0);
		dr_oggopus_free(e);
	}
	free(pcm);
}

static int memfd_of(const unsigned char *buf, size_t len)
{
	int fd = memfd_create("sealed", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Opens buf with the org key; returns the error and the plaintext. */
static int open_org(const unsigned char *buf, size_t len, const char *id, const struct org *o,
		    struct mt_memsink *out, bool *final)
{
	int in = memfd_of(buf, len);
	int ofd = memfd_create("plain", MFD_CLOEXEC);
	uint64_t got = 0;
	int r = dr_seal_open_fd_org(in, id, o->pk, o->sk, ofd, final, &got);
	if (out) {
		out->len = 0;
		lseek(ofd, 0, SEEK_SET);
		unsigned char tmp[65536];
		ssize_t k;
		struct dr_sink s = mt_memsink(out);
		while ((k = read(ofd, tmp, sizeof(tmp))) > 0)
			s.ops->write(s.user, tmp, (size_t)k);
		assert_int_equal(out->len, got);
	}
	close(in);
	close(ofd);
	return r;
}

/* Nothing of the recording is readable: no Ogg or Opus magic, and no
 * low-entropy stretch (a run of 64 bytes with fewer than 40 distinct values
 * would be one; random bytes have about 57). */
static void assert_opaque(const unsigned char *buf, size_t len)
{
	assert_null(memmem(buf, len, "OggS", 4));
	assert_null(memmem(buf, len, "OpusHead", 8));
	assert_null(memmem(buf, len, "OpusTags", 8));
	for (size_t off = DR_SEAL_HEADER_BYTES; off + 64 <= len; off += 64) {
		bool seen[256] = {false};
		int distinct = 0;
		for (size_t i = 0; i < 64; i++)
			if (!seen[buf[off + i]]) {
				seen[buf[off + i]] = true;
				distinct++;
			}
		/* Frame headers (24 bytes, partly zero) fall inside some windows. */
		assert_true(distinct >= 30);
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	struct org o;
	org_new(&o);
	struct dr_seal_key *key;
	assert_int_equal(dr_seal_key_new(&key), 0);
	struct mt_memsink m = {0}, plain = {0}, opened = {0};
	make_sealed(&m, &o, key, 3.0, &plain);
	assert_opaque(m.buf, m.len);
	/* one message per durable flush: 3 s at 300 ms, plus the headers and the end */
	assert_true(m.syncs >= 10);

	bool final = false;
	assert_int_equal(open_org(m.buf, m.len, ID, &o, &opened, &final), 0);
	assert_true(final);
	assert_int_equal(opened.len, plain.len);
	assert_memory_equal(opened.buf, plain.buf, plain.len);

	/* the box, during the session, with the recording key */
	int fd = memfd_of(m.buf, m.len);
	struct dr_seal_reader *r;
	assert_int_equal(dr_seal_reader_open_key(fd, ID, key, &r), 0);
	unsigned char *b = malloc(plain.len + 10);
	size_t got = 0;
	ssize_t k;
	while ((k = dr_seal_read(r, b + got, 1000)) > 0)
		got += (size_t)k;
	assert_int_equal(k, 0);
	assert_int_equal(got, plain.len);
	assert_memory_equal(b, plain.buf, plain.len);
	assert_true(dr_seal_reader_final(r));
	assert_int_equal(dr_seal_reader_position(r), 3 * DR_SAMPLE_RATE);
	dr_seal_reader_free(r);
	close(fd);
	free(b);

	/* a scan without the key sees the whole file, complete */
	fd = memfd_of(m.buf, m.len);
	struct dr_seal_scan sc;
	assert_int_equal(dr_seal_scan_fd(fd, &sc), 0);
	assert_true(sc.final);
	assert_false(sc.trailing);
	assert_int_equal(sc.intact_bytes, m.len);
	assert_string_equal(sc.id, ID);
	assert_int_equal(sc.position, 3 * DR_SAMPLE_RATE);
	close(fd);

	dr_seal_key_free(key);
	mt_memsink_free(&m);
	mt_memsink_free(&plain);
	mt_memsink_free(&opened);
}

/* Cut at every byte, repaired without the key: what is kept is exactly the
 * messages that were whole, it opens with the org key, and it never ends
 * earlier than the last durable flush before the cut. */
static void test_cut_everywhere_repairs_without_key(void **state)
{
	(void)state;
	struct org o;
	org_new(&o);
	struct dr_seal_key *key;
	assert_int_equal(dr_seal_key_new(&key), 0);
	struct mt_memsink m = {0}, plain = {0}, opened = {0};
	make_sealed(&m, &o, key, 2.0, &plain);
	dr_seal_key_free(key); /* the box's copy is gone: repair must not need it */
	char *dir = mt_tmpdir("seal");
	const char *path = mt_path(dir, "rec.sealed");
	size_t step = m.len / 97 + 1;
	unsigned checked = 0;
	for (size_t cut = 0; cut <= m.len; cut += (cut < 400 || cut > m.len - 400) ? 1 : step) {
		assert_int_equal(mt_write_file(path, m.buf, cut), 0);
		struct dr_seal_scan sc;
		int r = dr_seal_repair(path, &sc);
		if (cut < DR_SEAL_HEADER_BYTES) {
			assert_int_equal(r, -EBADMSG);
			continue;
		}
		/* the last sync at or before the cut */
		size_t durable = 0;
		for (int i = 0; i < m.syncs && i < 4096; i++)
			if (m.sync_len[i] <= cut)
				durable = m.sync_len[i];
		if (r == -ENODATA) {
			assert_true(durable <= DR_SEAL_HEADER_BYTES);
			continue;
		}
		assert_int_equal(r, 0);
		assert_true(sc.intact_bytes >= durable);
		assert_true(sc.intact_bytes <= cut);
		unsigned char *buf;
		size_t len;
		assert_int_equal(mt_read_file(path, &buf, &len), 0);
		assert_int_equal(len, sc.intact_bytes);
		bool final = true;
		assert_int_equal(open_org(buf, len, ID, &o, &opened, &final), 0);
		assert_int_equal(final, cut == m.len);
		/* a prefix of the plain stream */
		assert_true(opened.len <= plain.len);
		assert_memory_equal(opened.buf, plain.buf, opened.len);
		free(buf);
		checked++;
	}
	assert_true(checked > 100);
	mt_rmtree(dir);
	mt_memsink_free(&m);
	mt_memsink_free(&plain);
	mt_memsink_free(&opened);
}

static void test_tampering_refused(void **state)
{
	(void)state;
	struct org o, other;
	org_new(&o);
	org_new(&other);
	struct dr_seal_key *key, *key2;
	assert_int_equal(dr_seal_key_new(&key), 0);
	assert_int_equal(dr_seal_key_new(&key2), 0);
	struct mt_memsink m = {0}, m2 = {0};
	make_sealed(&m, &o, key, 2.0, NULL);
	make_sealed(&m2, &o, key2, 2.0, NULL);
	unsigned char *t = malloc(m.len + m2.len);

	/* a flipped bit anywhere after the magic is refused */
	for (size_t off = 8; off < m.len; off += 37) {
		memcpy(t, m.buf, m.len);
		t[off] ^= 0x10;
		assert_int_equal(open_org(t, m.len, ID, &o, NULL, NULL), -EBADMSG);
	}
	/* another organisation's key */
	assert_int_equal(open_org(m.buf, m.len, ID, &other, NULL, NULL), -EBADMSG);
	/* filed under another recording's id */
	assert_int_equal(open_org(m.buf, m.len, "ffffffffffffffffffffffffffffffff", &o, NULL, NULL),
			 -EBADMSG);
	/* a message cut short */
	assert_int_equal(open_org(m.buf, m.len - 5, ID, &o, NULL, NULL), -EBADMSG);
	/* bytes after the end */
	memcpy(t, m.buf, m.len);
	t[m.len] = 0;
	assert_int_equal(open_org(t, m.len + 1, ID, &o, NULL, NULL), -EBADMSG);

	/* find the message boundaries to drop, swap and transplant messages */
	size_t b[512], nb = 0, off = DR_SEAL_HEADER_BYTES;
	while (off < m.len && nb < 512) {
		b[nb++] = off;
		off += DR_SEAL_FRAME_BYTES + (m.buf[off] | m.buf[off + 1] << 8 | m.buf[off + 2] << 16);
	}
	assert_int_equal(off, m.len);
	assert_true(nb >= 4);
	/* a message dropped from the middle */
	size_t l1 = b[2] - b[1];
	memcpy(t, m.buf, b[1]);
	memcpy(t + b[1], m.buf + b[2], m.len - b[2]);
	assert_int_equal(open_org(t, m.len - l1, ID, &o, NULL, NULL), -EBADMSG);
	/* two messages swapped */
	size_t l2 = b[3] - b[2];
	memcpy(t, m.buf, m.len);
	memcpy(t + b[1], m.buf + b[2], l2);
	memcpy(t + b[1] + l2, m.buf + b[1], l1);
	assert_int_equal(open_org(t, m.len, ID, &o, NULL, NULL), -EBADMSG);
	/* a message moved in from another recording (same id, same org) */
	size_t b2 = DR_SEAL_HEADER_BYTES;
	size_t l2x = DR_SEAL_FRAME_BYTES + (m2.buf[b2] | m2.buf[b2 + 1] << 8);
	memcpy(t, m.buf, b[0]);
	memcpy(t + b[0], m2.buf + b2, l2x);
	memcpy(t + b[0] + l2x, m.buf + b[1], m.len - b[1]);
	assert_int_equal(open_org(t, b[0] + l2x + m.len - b[1], ID, &o, NULL, NULL), -EBADMSG);
	/* the FINAL flag removed from the clear header (so it would look cut off) */
	memcpy(t, m.buf, m.len);
	t[b[nb - 1] + 4] = 0;
	assert_int_equal(open_org(t, m.len, ID, &o, NULL, NULL), -EBADMSG);

	free(t);
	dr_seal_key_free(key);
	dr_seal_key_free(key2);
	mt_memsink_free(&m);
	mt_memsink_free(&m2);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct org o;
	org_new(&o);
	struct dr_seal_key *key;
	assert_int_equal(dr_seal_key_new(&key), 0);
	struct mt_memsink m = {0};
	struct dr_sink s;
	assert_int_equal(dr_seal_sink_new(mt_memsink(&m), "not-an-id", o.pk, key, &s), -EINVAL);
	assert_int_equal(m.closes, 1); /* the inner sink is closed, also on failure */
	assert_int_equal(dr_seal_sink_new(mt_memsink(&m), "0123456789ABCDEF0123456789ABCDEF", o.pk,
					  key, &s),
			 -EINVAL);
	dr_seal_key_free(NULL);
	dr_seal_reader_free(NULL);
	dr_seal_key_free(key);
	mt_memsink_free(&m);
	assert_int_equal(dr_seal_repair("/nonexistent/x", NULL), -ENOENT);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_cut_everywhere_repairs_without_key),
		cmocka_unit_test(test_tampering_refused),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
