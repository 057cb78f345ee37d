/* SPDX-License-Identifier: MIT */
/*
 * bench_floor: the libopus floor for the encoding benchmark.
 *
 *   bench_floor INPUT.wav [--packets OUT]
 *
 * Reads the 48 kHz mono 16-bit PCM of INPUT.wav into memory, then does the
 * least any Opus encoder of these samples must do, with the daemon's encoder
 * settings (app/media/oggopus.c): opus_encoder_create + the same ctls, and
 * opus_encode once per 20 ms frame, including the zero-padded frames that
 * push the encoder's lookahead out (every real encoder must encode those, or
 * the end of the speech is not in the file). No container, no file output,
 * no threads.
 *
 * Prints one JSON object: {"program":"floor","samples":...,"frames":...,
 * "packet_bytes":...,"lookahead":...}. With --packets, also writes every
 * packet as <u32 little-endian length><bytes> to OUT (for checking that the
 * pipeline produced the very same packets; not used under callgrind).
 *
 * Links only libopus, so its start-up cost is the dynamic loader's for one
 * library.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <opus/opus.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BF_RATE 48000
#define BF_FRAME (BF_RATE / 50) /* 20 ms */
#define BF_MAX_PACKET 4000

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Whole file into memory. Returns 0 or -errno. */
static int slurp(const char *path, unsigned char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int err = 0;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto err_close_fd;
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf) {
		err = -ENOMEM;
		goto err_close_fd;
	}
	for (size_t got = 0; got < *len;) {
		ssize_t n = read(fd, *buf + got, *len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			free(*buf);
			goto err_close_fd;
		}
		got += (size_t)n;
	}
err_close_fd:
	close(fd);
	return err;
}

/* The PCM of a 48 kHz mono 16-bit RIFF/WAVE file, in place. */
static int find_pcm(const unsigned char *w, size_t len, const int16_t **pcm, size_t *n)
{
	if (len < 12 || memcmp(w, "RIFF", 4) || memcmp(w + 8, "WAVE", 4))
		return -EINVAL;
	int fmt_ok = 0;
	for (size_t off = 12; off + 8 <= len;) {
		size_t sz = le32(w + off + 4);
		const unsigned char *body = w + off + 8;
		if (sz > len - off - 8)
			sz = len - off - 8;
		if (!memcmp(w + off, "fmt ", 4) && sz >= 16)
			fmt_ok = le16(body) == 1 && le16(body + 2) == 1 && le32(body + 4) == BF_RATE &&
				 le16(body + 14) == 16;
		if (!memcmp(w + off, "data", 4)) {
			if (!fmt_ok || ((uintptr_t)body & 1))
				return -ENOTSUP;
			*pcm = (const int16_t *)(const void *)body; /* little-endian host assumed */
			*n = sz / 2;
			return 0;
		}
		off += 8 + sz + (sz & 1);
	}
	return -EINVAL;
}

static int put_packet(FILE *f, const unsigned char *p, opus_int32 len)
{
	unsigned char h[4] = {(unsigned char)len, (unsigned char)(len >> 8),
			      (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
	return fwrite(h, 1, 4, f) == 4 && fwrite(p, 1, (size_t)len, f) == (size_t)len ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	const char *packets_path = NULL;
	if (argc == 4 && !strcmp(argv[2], "--packets"))
		packets_path = argv[3];
	else if (argc != 2) {
		fputs("usage: bench_floor INPUT.wav [--packets OUT]\n", stderr);
		return 2;
	}
	unsigned char *wav = NULL;
	size_t wav_len = 0, n = 0;
	const int16_t *pcm;
	int r = slurp(argv[1], &wav, &wav_len);
	if (r < 0) {
		fprintf(stderr, "bench_floor: %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	int status = 1;
	if ((r = find_pcm(wav, wav_len, &pcm, &n)) < 0) {
		fprintf(stderr, "bench_floor: %s: not 48 kHz mono 16-bit PCM WAV\n", argv[1]);
		goto out_free_wav;
	}

	/* The daemon's settings: see encoder_setup() in app/media/oggopus.c. */
	int oerr;
	OpusEncoder *enc = opus_encoder_create(BF_RATE, 1, OPUS_APPLICATION_VOIP, &oerr);
	if (!enc) {
		fprintf(stderr, "bench_floor: opus_encoder_create: %s\n", opus_strerror(oerr));
		goto out_free_wav;
	}
	opus_int32 lookahead = 0;
	if (opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000)) != OPUS_OK ||
	    opus_encoder_ctl(enc, OPUS_SET_VBR(1)) != OPUS_OK ||
	    opus_encoder_ctl(enc, OPUS_SET_VBR_CONSTRAINT(0)) != OPUS_OK ||
	    opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(8)) != OPUS_OK ||
	    opus_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) != OPUS_OK ||
	    opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&lookahead)) != OPUS_OK) {
		fputs("bench_floor: opus_encoder_ctl failed\n", stderr);
		goto out_destroy_enc;
	}

	FILE *pf = NULL;
	if (packets_path && !(pf = fopen(packets_path, "wbe"))) {
		fprintf(stderr, "bench_floor: %s: %s\n", packets_path, strerror(errno));
		goto out_destroy_enc;
	}
	static unsigned char packet[BF_MAX_PACKET];
	static int16_t tail[BF_FRAME];
	uint64_t frames = 0, bytes = 0;
	size_t total = n + (size_t)lookahead; /* samples that must come out */
	for (size_t pos = 0; pos < total; pos += BF_FRAME) {
		const int16_t *in = pcm + pos;
		if (pos + BF_FRAME > n) { /* the last frames: zero padded */
			memset(tail, 0, sizeof(tail));
			if (pos < n)
				memcpy(tail, pcm + pos, (n - pos) * sizeof(int16_t));
			in = tail;
		}
		opus_int32 len = opus_encode(enc, in, BF_FRAME, packet, BF_MAX_PACKET);
		if (len < 0) {
			fprintf(stderr, "bench_floor: opus_encode: %s\n", opus_strerror(len));
			goto out_close_packets;
		}
		if (pf && put_packet(pf, packet, len) < 0) {
			fprintf(stderr, "bench_floor: cannot write %s\n", packets_path);
			goto out_close_packets;
		}
		frames++;
		bytes += (uint64_t)len;
	}
	printf("{\"program\":\"floor\",\"samples\":%zu,\"frames\":%" PRIu64 ",\"packet_bytes\":%" PRIu64
	       ",\"lookahead\":%d}\n",
	       n, frames, bytes, (int)lookahead);
	status = 0;
out_close_packets:
	if (pf && fclose(pf) != 0 && status == 0) {
		fprintf(stderr, "bench_floor: cannot write %s\n", packets_path);
		status = 1;
	}
out_destroy_enc:
	opus_encoder_destroy(enc);
out_free_wav:
	free(wav);
	return status;
}
