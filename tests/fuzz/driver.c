/* SPDX-License-Identifier: MIT */
/*
 * A stand-alone driver for libFuzzer-style targets, so every build (gcc, the
 * sanitizer build, the aarch64 build under qemu) exercises them:
 *
 *   target <corpus-dir> [iterations]
 *
 * Replays every file of the corpus folder, then runs `iterations` (default
 * 20000, or $DR_FUZZ_ITERATIONS) inputs made by mutating corpus files with a
 * fixed-seed PRNG (bit flips, byte sets, truncation, splicing, duplication).
 * Any crash, sanitizer report or leak fails the test. Coverage-guided fuzzing
 * proper is the -libfuzzer build (cmake -DDR_FUZZ=ON with clang).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	uint8_t *data;
	size_t len;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static int read_file(const char *path, struct input *in)
{
	FILE *f = fopen(path, "rbe");
	if (!f)
		return -errno;
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf)
		return -ENOMEM;
	in->data = buf;
	in->len = len;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
		return 2;
	}
	long iterations = 20000;
	const char *env = getenv("DR_FUZZ_ITERATIONS");
	if (argc > 2)
		iterations = strtol(argv[2], NULL, 10);
	else if (env)
		iterations = strtol(env, NULL, 10);

	struct input *corpus = NULL;
	size_t n = 0;
	DIR *d = opendir(argv[1]);
	if (!d) {
		fprintf(stderr, "%s: cannot open corpus %s: %s\n", argv[0], argv[1], strerror(errno));
		return 2;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
		struct stat st;
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		struct input *nc = realloc(corpus, (n + 1) * sizeof(*corpus));
		if (!nc)
			return 2;
		corpus = nc;
		if (read_file(path, &corpus[n]) == 0) {
			LLVMFuzzerTestOneInput(corpus[n].data, corpus[n].len);
			n++;
		}
	}
	closedir(d);
	if (n == 0) {
		fprintf(stderr, "%s: corpus %s is empty\n", argv[0], argv[1]);
		return 2;
	}

	uint8_t *buf = NULL;
	for (long it = 0; it < iterations; it++) {
		const struct input *a = &corpus[rng() % n];
		size_t len = a->len;
		size_t cap = len * 2 + 64;
		buf = realloc(buf, cap);
		if (!buf)
			return 2;
		memcpy(buf, a->data, len);
		int muts = 1 + (int)(rng() % 8);
		for (int m = 0; m < muts; m++) {
			switch (rng() % 6) {
			case 0: /* flip a bit */
				if (len)
					buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
				break;
			case 1: /* interesting byte */
				if (len) {
					static const uint8_t v[] = {0, 0xff, 0x7f, 0x80, '\n', '=', '[', '"', '\\', '/', '.'};
					buf[rng() % len] = v[rng() % sizeof(v)];
				}
				break;
			case 2: /* truncate */
				if (len)
					len = rng() % len;
				break;
			case 3: { /* splice from another input */
				const struct input *b = &corpus[rng() % n];
				if (b->len && len) {
					size_t off = rng() % len, boff = rng() % b->len;
					size_t k = rng() % (b->len - boff + 1);
					if (off + k > cap)
						k = cap - off;
					memcpy(buf + off, b->data + boff, k);
					if (off + k > len)
						len = off + k;
				}
				break;
			}
			case 4: { /* duplicate a block */
				if (len) {
					size_t off = rng() % len, k = rng() % (len - off + 1);
					if (len + k <= cap) {
						memmove(buf + off + k, buf + off, len - off);
						len += k;
					}
				}
				break;
			}
			case 5: /* random 32-bit value */
				if (len >= 4) {
					uint32_t v = (uint32_t)rng();
					memcpy(buf + rng() % (len - 3), &v, 4);
				}
				break;
			}
		}
		uint8_t *exact = malloc(len ? len : 1); /* exact size so ASan sees overreads */
		if (!exact)
			return 2;
		memcpy(exact, buf, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	free(buf);
	for (size_t i = 0; i < n; i++)
		free(corpus[i].data);
	free(corpus);
	printf("fuzz: %zu corpus inputs, %ld mutated inputs, no crash\n", n, iterations);
	return 0;
}
