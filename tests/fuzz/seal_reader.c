/* SPDX-License-Identifier: MIT */
/* Fuzz target: the sealed-file readers the office PC runs on files from a
 * stick or an archive (app/seal/seal.c: the keyless scan, the reader with
 * the organisation's key, the whole-file open, the box's repair; and
 * tools/admin/seal.c's DRSEAL01 reader for archives from before stick
 * format 2). The corpus is sealed to the fuzz key pair (export_fuzzkey.h)
 * as recording 00112233445566778899aabbccddeeff (DRSEAL01: as
 * 0123456789abcdef/<that id>).
 *
 * Checked: the reader never returns plaintext for another recording id than
 * the file's; what it returns never exceeds the file; a file it read to its
 * FINAL message is one the scan calls final with nothing after it; after a
 * repair the scan finds every byte intact, and a second repair changes
 * nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "export_fuzzkey.h"
#include "seal/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd_of(const uint8_t *data, size_t size)
{
	int fd = memfd_create("sealed", MFD_CLOEXEC);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || lseek(fd, 0, SEEK_SET))
		abort();
	return fd;
}

/* Plaintext bytes read as recording id, or -1 if refused; *final. */
static long long read_all(int fd, const char *id, const uint8_t pk[32], const uint8_t sk[64],
			  bool *final)
{
	struct dr_seal_reader *r = NULL;
	*final = false;
	if (lseek(fd, 0, SEEK_SET) || dr_seal_reader_open_org(fd, id, pk, sk, &r) < 0)
		return -1;
	static uint8_t buf[65536];
	long long total = 0;
	for (;;) {
		ssize_t n = dr_seal_read(r, buf, sizeof(buf));
		if (n < 0) {
			total = total ? -2 : -1;
			break;
		}
		if (n == 0)
			break;
		total += n;
	}
	*final = dr_seal_reader_final(r);
	dr_seal_reader_free(r);
	return total;
}

static void scratch_path(char *file, size_t len)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(file, len, "%s/dr-fuzz-seal-%ld.sealed", base, (long)getpid());
}

static void check_repair(const uint8_t *data, size_t size)
{
	char path[256];
	scratch_path(path, sizeof(path));
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd))
		abort();
	struct dr_seal_scan a, b, s;
	if (dr_seal_repair(path, &a) == 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dr_seal_scan_fd(fd, &s) < 0)
			abort();
		close(fd);
		if (s.intact_bytes != s.file_bytes && !s.final)
			abort(); /* a repaired file that is not intact to its end */
		if (dr_seal_repair(path, &b) != 0 || b.file_bytes != s.file_bytes)
			abort();
	}
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pk[32], sk[64];
	static int ready;
	if (!ready) {
		dr_fuzz_keypair(pk, sk);
		ready = 1;
	}
	int fd = memfd_of(data, size);
	struct dr_seal_scan scan;
	int sr = dr_seal_scan_fd(fd, &scan);
	const char *id = sr == 0 ? scan.id : "00112233445566778899aabbccddeeff";
	bool final;
	long long got = read_all(fd, id, pk, sk, &final);
	if (got > (long long)size)
		abort();
	if (got >= 0 && final && (sr != 0 || !scan.final || scan.trailing))
		abort(); /* read to the end but the scan disagrees */
	/* another recording's id never opens it */
	char other[DR_SEAL_ID_HEX + 1];
	memcpy(other, id, sizeof(other));
	other[0] = other[0] == '0' ? '1' : '0';
	bool f2;
	if (read_all(fd, other, pk, sk, &f2) > 0)
		abort();
	bool ofinal = false;
	uint64_t obytes = 0;
	if (lseek(fd, 0, SEEK_SET) == 0 &&
	    dr_seal_open_fd_org(fd, id, pk, sk, -1, &ofinal, &obytes) == 0 &&
	    (obytes > size || (got >= 0 && (long long)obytes != got)))
		abort();
	/* DRSEAL01, as an archive kept it before stick format 2 */
	char hex[65];
	uint64_t plain = 0;
	if (lseek(fd, 0, SEEK_SET) == 0 &&
	    adm_unseal_fd(fd, "0123456789abcdef/00112233445566778899aabbccddeeff", pk, sk, -1, hex,
			  &plain) == 0 &&
	    plain > size)
		abort();
	close(fd);
	check_repair(data, size);
	return 0;
}
