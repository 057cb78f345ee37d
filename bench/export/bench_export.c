/* SPDX-License-Identifier: MIT */
/*
 * bench_export: export to a stick (write, fdatasync, drop the cache, read
 * back, BLAKE2b, manifest) against `cp` of the same files to the same
 * filesystem followed by `sync`, in one run.
 *
 *   bench_export [--files N] [--mib M] [--dir DIR]
 *
 * DIR (default: a new folder under $TMPDIR) holds the box's data folder and
 * the "stick"; point it at a mounted stick's filesystem for real figures.
 * Prints one line per method and their ratio. Not a pass/fail test.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "export/export.h"
#include "export/stickio.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int put(const char *path, const void *b, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int r = dr_stick_write_all(fd, b, n);
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	long files = 20, mib = 8;
	const char *base = NULL;
	static const struct option lo[] = {{"files", required_argument, NULL, 'f'},
					   {"mib", required_argument, NULL, 'm'},
					   {"dir", required_argument, NULL, 'd'},
					   {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'f')
			files = strtol(optarg, NULL, 10);
		else if (c == 'm')
			mib = strtol(optarg, NULL, 10);
		else if (c == 'd')
			base = optarg;
		else
			return 2;
	}
	if (sodium_init() < 0 || files <= 0 || mib <= 0)
		return 2;
	char dir[4096];
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/bench-export-XXXXXX", base ? base : tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char data[4200], keys[4200], stick[4200], top[4300], cpdir[4200], p[4400], err[512];
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(stick, sizeof(stick), "%s/stick", dir);
	snprintf(top, sizeof(top), "%s/DIARYRM", stick);
	snprintf(cpdir, sizeof(cpdir), "%s/cp-target", dir);
	mkdir(keys, 0700);
	mkdir(stick, 0755);
	mkdir(top, 0755);
	mkdir(cpdir, 0755);
	uint8_t opk[32], osk[64], dpk[32], dsk[64];
	crypto_sign_keypair(opk, osk);
	crypto_sign_keypair(dpk, dsk);
	snprintf(p, sizeof(p), "%s/device.key", keys);
	put(p, dsk, 64, 0600);
	snprintf(p, sizeof(p), "%s/org.pub", keys);
	put(p, opk, 32, 0644);
	char iss[32], exp[32], tok[512];
	dr_stick_time_format((int64_t)time(NULL) - 60, iss);
	dr_stick_time_format((int64_t)time(NULL) + 86400, exp);
	snprintf(tok, sizeof(tok),
		 "{\"format\":\"diaryroom-token\",\"version\":1,\"stick_id\":"
		 "\"00112233445566778899aabbccddeeff\",\"name\":\"Bench\",\"issued_utc\":\"%s\","
		 "\"expires_utc\":\"%s\"}\n", iss, exp);
	uint8_t sig[64];
	dr_stick_sign((const uint8_t *)tok, strlen(tok), sig, osk);
	snprintf(p, sizeof(p), "%s/token.json", top);
	put(p, tok, strlen(tok), 0644);
	snprintf(p, sizeof(p), "%s/token.sig", top);
	put(p, sig, 64, 0644);

	struct dr_store *s;
	if (dr_store_open(data, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	size_t size = (size_t)mib << 20;
	uint8_t *buf = malloc(size);
	if (!buf)
		return 1;
	for (long i = 0; i < files; i++) {
		char id[DR_STORE_ID_LEN + 1], path[4096];
		randombytes_buf(buf, size);
		if (dr_store_begin(s, iss, 0, id, path, sizeof(path), err, sizeof(err)) < 0 ||
		    put(path, buf, size, 0600) < 0 ||
		    dr_store_finish(s, id, DR_REC_COMPLETE, 60000, NULL, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	}
	free(buf);
	sync();

	/* cp + sync of the same files to the same filesystem */
	char cmd[9000];
	snprintf(cmd, sizeof(cmd), "cp %s/recordings/*.opus %s/ && sync", data, cpdir);
	double t0 = now_s();
	if (system(cmd) != 0)
		return 1;
	double t_cp = now_s() - t0;

	struct dr_export *x;
	struct dr_stick *k;
	struct dr_export_run *run;
	if (dr_export_open(s, keys, &x, err, sizeof(err)) < 0 ||
	    dr_export_stick_open(x, stick, (int64_t)time(NULL), &k, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	t0 = now_s();
	struct dr_export_progress pr;
	int r;
	if (dr_export_begin(x, k, &run, err, sizeof(err)) < 0)
		return 1;
	while ((r = dr_export_step(run, &pr, err, sizeof(err))) > 0)
		;
	double t_ex = now_s() - t0;
	if (r < 0 || pr.files_done != (unsigned)files) {
		fprintf(stderr, "export failed: %s\n", err);
		return 1;
	}
	double mb = (double)files * (double)size / 1e6;
	printf("files %ld x %ld MiB (%.1f MB) in %s\n", files, mib, mb, dir);
	printf("cp + sync:                 %.3f s  %.1f MB/s\n", t_cp, mb / t_cp);
	printf("export + read-back verify: %.3f s  %.1f MB/s  (%.2f x cp+sync)\n", t_ex, mb / t_ex,
	       t_ex / t_cp);
	dr_export_run_free(run);
	dr_export_stick_close(k);
	dr_export_close(x);
	dr_store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return 0;
}
