/* SPDX-License-Identifier: MIT */
/* Fuzz target: the walk of a staff stick collect makes (stick_walk,
 * tools/admin/collect_walk.c) and the reads of each box's signed manifest
 * files it then makes (dr_stick_read_signed / dr_stick_read_sig), on a
 * folder tree built from the input in a scratch folder (in /dev/shm when
 * there is one). The input is a byte whose bits 0-1 and 2-3 are the kinds
 * of DIARYRM and DIARYRM/export (as below; 3 and 3: folders, as on a real
 * stick), then a list of entries, each:
 *   kind (byte: 0 file, 1 symlink, 2 FIFO, 3 folder),
 *   where (byte: 0 the stick, 1 DIARYRM/, 2 DIARYRM/export/,
 *          3 DIARYRM/export/<the last box folder made>/),
 *   name length (byte, up to 20) and the name (turned into [0-9a-f.jsonimtgx]),
 *   size (byte: a file's size in 64-byte units; a symlink's target:
 *         even "/", odd a FIFO in the tree).
 * Checked: the walk returns (a FIFO never hangs it), every box folder it
 * opened is a real folder of the tree (no link followed), and its ids are
 * 16 hex. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collect_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[256];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)ftw;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void rm_tree(void)
{
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void make(int kind, const char *path, unsigned sz)
{
	char buf[64];
	memset(buf, '{', sizeof(buf));
	switch (kind) {
	case 0: {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return;
		for (unsigned i = 0; i < sz; i++)
			if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				abort();
		close(fd);
		break;
	}
	case 1: {
		char t[300];
		snprintf(t, sizeof(t), "%s/fifo", root);
		if (symlink(sz & 1 ? t : "/", path) < 0 && errno != EEXIST)
			return;
		break;
	}
	case 2:
		mkfifo(path, 0600);
		break;
	default:
		mkdir(path, 0700);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!root[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(root, sizeof(root), "%s/dr-fuzz-stick-%ld", base, (long)getpid());
		atexit(rm_tree);
	}
	rm_tree();
	char p[512], box[32] = "", where[4][300];
	if (mkdir(root, 0700) < 0)
		abort();
	snprintf(p, sizeof(p), "%s/fifo", root);
	mkfifo(p, 0600);
	snprintf(where[0], sizeof(where[0]), "%s", root);
	snprintf(where[1], sizeof(where[1]), "%s/" DR_STICK_TOP, root);
	snprintf(where[2], sizeof(where[2]), "%s/" DR_STICK_TOP "/export", root);
	if (size < 1)
		return 0;
	make(data[0] & 3, where[1], 0);
	make((data[0] >> 2) & 3, where[2], 0);
	size_t i = 1;
	while (i + 3 <= size) {
		int kind = data[i] & 3, at = data[i + 1] & 3;
		size_t n = data[i + 2] % 21;
		i += 3;
		if (i + n + 1 > size)
			break;
		char name[24];
		for (size_t k = 0; k < n; k++) {
			static const char set[] = "0123456789abcdef.jsonimtgx";
			name[k] = set[data[i + k] % (sizeof(set) - 1)];
		}
		name[n] = 0;
		unsigned sz = data[i + n];
		i += n + 1;
		if (!n || (at == 3 && !box[0]))
			continue;
		if (at == 3)
			snprintf(p, sizeof(p), "%s/%s/%s", where[2], box, name);
		else
			snprintf(p, sizeof(p), "%s/%s", where[at], name);
		make(kind, p, sz);
		if (at == 2 && kind == 3)
			snprintf(box, sizeof(box), "%s", name);
	}
	int sfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0)
		abort();
	struct stick_walk w;
	char e[384];
	if (stick_walk(sfd, &w, e, sizeof(e)) == 0) {
		for (size_t k = 0; k < w.ndev; k++) {
			if (!dr_stick_hex_ok(w.devs[k], DR_DEVICE_ID_HEX))
				abort();
			if (w.devfd[k] < 0) {
				if (!w.why[k][0])
					abort();
				continue;
			}
			struct stat a, b;
			snprintf(p, sizeof(p), "%s/%s", where[2], w.devs[k]);
			if (fstat(w.devfd[k], &a) < 0 || lstat(p, &b) < 0 || !S_ISDIR(b.st_mode) ||
			    a.st_ino != b.st_ino || a.st_dev != b.st_dev)
				abort();
			uint8_t pk[32] = {0}, sig[DR_STICK_SIG_LEN];
			char *buf = NULL;
			size_t len;
			if (dr_stick_read_signed(w.devfd[k], "manifest", DR_STICK_MANIFEST_MAX, pk,
						 &buf, &len, e, sizeof(e)) == 0)
				abort(); /* nothing is signed by the zero key */
			free(buf);
			dr_stick_read_sig(w.devfd[k], "manifest.sig", sig, e, sizeof(e));
		}
	}
	stick_walk_free(&w);
	stick_walk_free(NULL);
	close(sfd);
	return 0;
}
