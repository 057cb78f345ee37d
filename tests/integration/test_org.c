/* SPDX-License-Identifier: MIT */
/*
 * dr-test-org: a throw-away organisation for the simulated-board tests, so
 * that they can open what the box seals without the office tool's
 * passphrase (Argon2id takes a second or more per use).
 *
 *   dr-test-org new DIR          DIR/org.pub (32 bytes, as on a box) and
 *                                DIR/org.sk (64 bytes, the secret key)
 *   dr-test-org box DIR KEYS     KEYS/ as `diaryroom-admin provision-device`
 *                                lays out a box's keys (device.key,
 *                                device.pub, and DIR's org.pub)
 *   dr-test-org open DIR IN OUT  opens the sealed recording IN with DIR's key
 *                                into OUT; a recording cut off (no final
 *                                message) is finished as the office PC does:
 *                                a video (<id>.mkv.sealed, Matroska) cut back
 *                                to its last whole cluster (media/mkv.h),
 *                                sound by the Ogg repair (media/recover.h).
 *                                Prints "final" or "cut", then the id.
 *
 * Never part of a box or the office tool: the real organisation's secret key
 * lives only in org.key, sealed under its passphrase.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "media/mkv.h"
#include "media/recover.h"
#include "seal/seal.h"

static int write_key(const char *dir, const char *name, const void *k, size_t n)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, k, n) != (ssize_t)n || close(fd) < 0)
		return -1;
	return 0;
}

static int read_key(const char *dir, const char *name, void *k, size_t n)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t got = read(fd, k, n);
	close(fd);
	return got == (ssize_t)n ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		return 2;
	if (argc == 3 && !strcmp(argv[1], "new")) {
		uint8_t pk[32], sk[64];
		crypto_sign_keypair(pk, sk);
		if (write_key(argv[2], "org.pub", pk, 32) < 0 || write_key(argv[2], "org.sk", sk, 64) < 0) {
			perror("dr-test-org new");
			return 1;
		}
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "box")) {
		uint8_t pk[32], sk[64], org[32];
		crypto_sign_keypair(pk, sk);
		if (read_key(argv[2], "org.pub", org, 32) < 0 || write_key(argv[3], "org.pub", org, 32) < 0 ||
		    write_key(argv[3], "device.key", sk, 64) < 0 || write_key(argv[3], "device.pub", pk, 32) < 0) {
			perror("dr-test-org box");
			return 1;
		}
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "open")) {
		uint8_t pk[32], sk[64];
		if (read_key(argv[2], "org.pub", pk, 32) < 0 || read_key(argv[2], "org.sk", sk, 64) < 0) {
			fprintf(stderr, "dr-test-org: no organisation in %s\n", argv[2]);
			return 1;
		}
		int in = open(argv[3], O_RDONLY | O_CLOEXEC);
		struct dr_seal_scan sc;
		if (in < 0 || dr_seal_scan_fd(in, &sc) < 0 || lseek(in, 0, SEEK_SET) < 0) {
			fprintf(stderr, "dr-test-org: %s is not a sealed recording\n", argv[3]);
			return 1;
		}
		int out = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		bool final = false;
		int r = out < 0 ? -errno : dr_seal_open_fd_org(in, sc.id, pk, sk, out, &final, NULL);
		close(in);
		if (out >= 0 && close(out) < 0 && r == 0)
			r = -errno;
		if (r < 0) {
			fprintf(stderr, "dr-test-org: cannot open %s: %s\n", argv[3], strerror(-r));
			return 1;
		}
		if (!final) {
			/* cut off: a video (Matroska's EBML magic) back to its last whole
			 * cluster, sound (Ogg) with its end written */
			unsigned char head[4] = {0};
			int fd = open(argv[4], O_RDONLY | O_CLOEXEC);
			bool mkv = fd >= 0 && read(fd, head, 4) == 4 &&
				   !memcmp(head, "\x1a\x45\xdf\xa3", 4);
			if (fd >= 0)
				close(fd);
			struct dr_recover_result rr;
			struct dr_mkv_repair_result mr;
			r = mkv ? dr_mkv_repair(argv[4], &mr) : dr_recover_file(argv[4], &rr);
			if (r < 0) {
				fprintf(stderr, "dr-test-org: cannot finish %s: %s\n", argv[4], strerror(-r));
				return 1;
			}
		}
		printf("%s %s\n", final ? "final" : "cut", sc.id);
		return 0;
	}
	fprintf(stderr, "usage: dr-test-org new DIR | box DIR KEYS | open DIR IN OUT\n");
	return 2;
}
