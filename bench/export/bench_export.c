/* SPDX-License-Identifier: MIT */
/*
 * bench_export: the programs behind the export benchmark (bench/README.md,
 * "export"). bench/run.py drives them; each prints one JSON object on
 * stdout. Not a pass/fail test.
 *
 *   bench_export prepare DIR [--files N] [--mib M]
 *       DIR/data: a catalogue with N complete recordings of M MiB of random
 *       bytes each (hashed by dr_store_finish, as the daemon does);
 *       DIR/keys: a device key and an organisation key.
 *   bench_export export DIR STICK
 *       STICK (a new folder, or a mounted stick's filesystem): a staff
 *       token signed by DIR's organisation key, then one export run of
 *       every recording (dr_export_begin, dr_export_step until done: each
 *       file written, fdatasynced, dropped from the page cache, read back,
 *       its BLAKE2b compared with the catalogue's; the signed manifest).
 *       "seconds" is dr_export_begin to the last step, CLOCK_MONOTONIC.
 *   bench_export copy DIR TO [--verify]
 *       A plain copy loop over the same files into the folder TO: read(2)
 *       and write(2) in 1 MiB chunks (the export's chunk), fdatasync(2) per
 *       file. --verify adds what a verified copy cannot avoid: the file's
 *       pages dropped, the file read back and BLAKE2b-256 over it. The
 *       floor the export's instruction count is compared with.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "export/export.h"
#include "export/stickio.h"

/* DR_EXPORT_CHUNK in app/export/run.c: the export's read/write size. */
#define BENCH_CHUNK (1u << 20)
#define BENCH_PATH 4096

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int put(const char *path, const void *b, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int r = dr_stick_write_all(fd, b, n);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int get(const char *path, void *b, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t got = read(fd, b, n);
	int r = got == (ssize_t)n ? 0 : got < 0 ? -errno : -EBADMSG;
	close(fd);
	return r;
}

static bool join(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, BENCH_PATH, "%s/%s", dir, name);
	return n > 0 && n < BENCH_PATH;
}

static int fail(const char *what, const char *msg)
{
	fprintf(stderr, "bench_export: %s: %s\n", what, msg);
	return 1;
}

static int cmd_prepare(const char *dir, long files, long mib)
{
	char data[BENCH_PATH], keys[BENCH_PATH], p[BENCH_PATH], err[512], now[32];
	if (!join(data, dir, "data") || !join(keys, dir, "keys"))
		return fail(dir, "path too long");
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return fail(dir, strerror(errno));
	if (mkdir(keys, 0700) < 0)
		return fail(keys, strerror(errno));
	uint8_t opk[32], osk[64], dpk[32], dsk[64];
	crypto_sign_keypair(opk, osk);
	crypto_sign_keypair(dpk, dsk);
	/* org.key is the bench's own: the organisation's secret key, so that
	 * `export` can sign a token for each fresh stick. */
	if (!join(p, keys, "device.key") || put(p, dsk, sizeof(dsk), 0600) < 0 ||
	    !join(p, keys, "org.pub") || put(p, opk, sizeof(opk), 0644) < 0 ||
	    !join(p, keys, "org.key") || put(p, osk, sizeof(osk), 0600) < 0)
		return fail(keys, "cannot write the keys");

	struct dr_store *s;
	if (dr_store_open(data, &s, err, sizeof(err)) < 0)
		return fail(data, err);
	size_t size = (size_t)mib << 20;
	uint8_t *buf = malloc(size);
	if (!buf) {
		dr_store_close(s);
		return fail("prepare", "out of memory");
	}
	dr_stick_time_format((int64_t)time(NULL), now);
	int rc = 0;
	for (long i = 0; i < files && rc == 0; i++) {
		char id[DR_STORE_ID_LEN + 1], path[BENCH_PATH];
		randombytes_buf(buf, size);
		/* The export copies a recording's bytes as they are and only
		 * checks that it is sealed (its magic): random bytes behind the
		 * magic cost it what a sealed recording of the same size does. */
		memcpy(buf, "DRSEAL02", size < 8 ? size : 8);
		if (dr_store_begin(s, now, 0, id, path, sizeof(path), err, sizeof(err)) < 0 ||
		    put(path, buf, size, 0600) < 0 ||
		    dr_store_finish(s, id, DR_REC_COMPLETE, 60000, NULL, err, sizeof(err)) < 0)
			rc = fail("prepare", err);
	}
	free(buf);
	dr_store_close(s);
	if (rc == 0)
		printf("{\"program\": \"prepare\", \"files\": %ld, \"bytes\": %zu}\n", files,
		       (size_t)files * size);
	return rc;
}

/* A staff stick in the folder mount: DIARYRM/token.json and token.sig,
 * signed by the bench's organisation key, valid for a day. */
static int make_stick(const char *keys, const char *mount)
{
	char top[BENCH_PATH], p[BENCH_PATH], iss[32], exp[32], tok[512];
	uint8_t osk[64], sig[64];
	if (!join(p, keys, "org.key") || get(p, osk, sizeof(osk)) < 0)
		return fail(keys, "no org.key (run prepare first)");
	if (!join(top, mount, "DIARYRM"))
		return fail(mount, "path too long");
	if ((mkdir(mount, 0755) < 0 && errno != EEXIST) || mkdir(top, 0755) < 0)
		return fail(top, strerror(errno));
	dr_stick_time_format((int64_t)time(NULL) - 60, iss);
	dr_stick_time_format((int64_t)time(NULL) + 86400, exp);
	int n = snprintf(tok, sizeof(tok),
			 "{\"format\":\"diaryroom-token\",\"version\":1,\"stick_id\":"
			 "\"00112233445566778899aabbccddeeff\",\"name\":\"Bench\",\"issued_utc\":"
			 "\"%s\",\"expires_utc\":\"%s\"}\n",
			 iss, exp);
	dr_stick_sign((const uint8_t *)tok, (size_t)n, sig, osk);
	sodium_memzero(osk, sizeof(osk));
	if (!join(p, top, "token.json") || put(p, tok, (size_t)n, 0644) < 0 ||
	    !join(p, top, "token.sig") || put(p, sig, sizeof(sig), 0644) < 0)
		return fail(top, "cannot write the token");
	return 0;
}

static int cmd_export(const char *dir, const char *mount)
{
	char data[BENCH_PATH], keys[BENCH_PATH], err[512];
	if (!join(data, dir, "data") || !join(keys, dir, "keys"))
		return fail(dir, "path too long");
	if (make_stick(keys, mount) != 0)
		return 1;
	struct dr_store *s = NULL;
	struct dr_export *x = NULL;
	struct dr_stick *k = NULL;
	struct dr_export_run *run = NULL;
	struct dr_export_progress pr = {0};
	int rc = 1, r = -EINVAL;
	if (dr_store_open(data, &s, err, sizeof(err)) < 0 ||
	    dr_export_open(s, keys, &x, err, sizeof(err)) < 0 ||
	    dr_export_stick_open(x, mount, (int64_t)time(NULL), &k, err, sizeof(err)) < 0) {
		fail(mount, err);
		goto err_close;
	}
	double t0 = now_s();
	if (dr_export_begin(x, k, &run, err, sizeof(err)) < 0) {
		fail("dr_export_begin", err);
		goto err_close;
	}
	while ((r = dr_export_step(run, &pr, err, sizeof(err))) > 0)
		;
	double secs = now_s() - t0;
	if (r < 0 || pr.files_failed || pr.files_done != pr.files_total) {
		fail("export", r < 0 ? err : "not every file was verified");
		goto err_close;
	}
	printf("{\"program\": \"export\", \"files\": %u, \"bytes\": %llu, \"seconds\": %.6f}\n",
	       pr.files_done, (unsigned long long)(pr.bytes_total / 2), secs);
	rc = 0;
err_close:
	dr_export_run_free(run);
	dr_export_stick_close(k);
	dr_export_close(x);
	dr_store_close(s);
	return rc;
}

/* One file: read/write in chunks, fdatasync; with verify, read it back
 * from the device and hash it. Returns bytes copied or -errno. */
static long long copy_one(int srcdir, int dstdir, const char *name, uint8_t *buf, bool verify)
{
	long long total = 0;
	int r = 0;
	int src = openat(srcdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0)
		return -errno;
	int dst = openat(dstdir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (dst < 0) {
		r = -errno;
		goto err_close_src;
	}
	ssize_t n;
	while ((n = read(src, buf, BENCH_CHUNK)) > 0) {
		if ((r = dr_stick_write_all(dst, buf, (size_t)n)) < 0)
			goto err_close_dst;
		total += n;
	}
	if (n < 0 || fdatasync(dst) < 0) {
		r = -errno;
		goto err_close_dst;
	}
	if (verify) {
		uint8_t d[32];
		crypto_generichash_state h;
		posix_fadvise(dst, 0, 0, POSIX_FADV_DONTNEED);
		int rd = openat(dstdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (rd < 0) {
			r = -errno;
			goto err_close_dst;
		}
		crypto_generichash_init(&h, NULL, 0, sizeof(d));
		while ((n = read(rd, buf, BENCH_CHUNK)) > 0)
			crypto_generichash_update(&h, buf, (size_t)n);
		if (n < 0)
			r = -errno;
		crypto_generichash_final(&h, d, sizeof(d));
		close(rd);
	}
err_close_dst:
	if (close(dst) < 0 && r == 0)
		r = -errno;
err_close_src:
	close(src);
	return r < 0 ? r : total;
}

static int cmd_copy(const char *dir, const char *to, bool verify)
{
	char rec[BENCH_PATH];
	if (!join(rec, dir, "data/recordings"))
		return fail(dir, "path too long");
	if (mkdir(to, 0755) < 0 && errno != EEXIST)
		return fail(to, strerror(errno));
	int dstdir = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = opendir(rec);
	uint8_t *buf = malloc(BENCH_CHUNK);
	int rc = 1;
	if (dstdir < 0 || !d || !buf) {
		fail(dstdir < 0 ? to : rec, !buf ? "out of memory" : strerror(errno));
		goto err_free;
	}
	double t0 = now_s();
	long long bytes = 0;
	unsigned files = 0;
	const struct dirent *e;
	while ((e = readdir(d))) {
		/* the recordings as the catalogue names them (.opus.sealed
		 * since sealing; .opus before): the export's files */
		size_t len = strlen(e->d_name);
		if (!(len > 5 && !strcmp(e->d_name + len - 5, ".opus")) &&
		    !(len > 12 && !strcmp(e->d_name + len - 12, ".opus.sealed")))
			continue;
		long long n = copy_one(dirfd(d), dstdir, e->d_name, buf, verify);
		if (n < 0) {
			fail(e->d_name, strerror((int)-n));
			goto err_free;
		}
		bytes += n;
		files++;
	}
	double secs = now_s() - t0;
	printf("{\"program\": \"%s\", \"files\": %u, \"bytes\": %lld, \"seconds\": %.6f}\n",
	       verify ? "copy_verify" : "copy", files, bytes, secs);
	rc = 0;
err_free:
	free(buf);
	if (d)
		closedir(d);
	if (dstdir >= 0)
		close(dstdir);
	return rc;
}

static int usage(void)
{
	fputs("usage: bench_export prepare DIR [--files N] [--mib M]\n"
	      "       bench_export export DIR STICK\n"
	      "       bench_export copy DIR TO [--verify]\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	long files = 20, mib = 8;
	bool verify = false;
	static const struct option lo[] = {{"files", required_argument, NULL, 'f'},
					   {"mib", required_argument, NULL, 'm'},
					   {"verify", no_argument, NULL, 'v'},
					   {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'f')
			files = strtol(optarg, NULL, 10);
		else if (c == 'm')
			mib = strtol(optarg, NULL, 10);
		else if (c == 'v')
			verify = true;
		else
			return usage();
	}
	int n = argc - optind;
	char **a = argv + optind;
	if (n < 2 || files <= 0 || mib <= 0 || mib > 1024)
		return usage();
	if (sodium_init() < 0)
		return fail("sodium_init", "failed");
	if (!strcmp(a[0], "prepare") && n == 2)
		return cmd_prepare(a[1], files, mib);
	if (!strcmp(a[0], "export") && n == 3)
		return cmd_export(a[1], a[2]);
	if (!strcmp(a[0], "copy") && n == 3)
		return cmd_copy(a[1], a[2], verify);
	return usage();
}
