/* SPDX-License-Identifier: MIT */
#include "media_test.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <opusfile.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "media/wav.h"

char *mt_tmpdir(const char *tag)
{
	const char *base = getenv("DR_TEST_TMP");
	if (!base || !*base)
		base = "/tmp";
	mkdir(base, 0755);
	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/media-%s-XXXXXX", base, tag);
	char *d = mkdtemp(tmpl);
	return d ? strdup(d) : NULL;
}

const char *mt_path(const char *dir, const char *name)
{
	static char slots[8][4096];
	static int next;
	char *p = slots[next++ % 8];
	snprintf(p, 4096, "%s/%s", dir, name);
	return p;
}

static int mem_write(void *user, const unsigned char *buf, size_t len)
{
	struct mt_memsink *m = user;
	if (m->fail_after && m->len + len > m->fail_after)
		return m->fail_err ? m->fail_err : -ENOSPC;
	if (m->len + len > m->cap) {
		size_t cap = m->cap ? m->cap : 65536;
		while (cap < m->len + len)
			cap *= 2;
		unsigned char *b = realloc(m->buf, cap);
		if (!b)
			return -ENOMEM;
		m->buf = b;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	m->writes++;
	return 0;
}

static int mem_sync(void *user)
{
	struct mt_memsink *m = user;
	if (m->syncs < 4096) {
		m->sync_len[m->syncs] = m->len;
		m->sync_progress[m->syncs] = m->progress ? *m->progress : 0;
	}
	m->syncs++;
	return 0;
}

static int mem_close(void *user)
{
	struct mt_memsink *m = user;
	m->closes++;
	return 0;
}

static const struct dr_sink_ops mem_ops = {.write = mem_write, .sync = mem_sync, .close = mem_close};

struct dr_sink mt_memsink(struct mt_memsink *m)
{
	return (struct dr_sink){.ops = &mem_ops, .user = m};
}

void mt_memsink_free(struct mt_memsink *m)
{
	free(m->buf);
	m->buf = NULL;
	m->len = m->cap = 0;
}

int mt_write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wbe");
	if (!f)
		return -errno;
	size_t n = len ? fwrite(buf, 1, len, f) : 0;
	int err = fclose(f);
	return n == len && err == 0 ? 0 : -EIO;
}

int mt_read_file(const char *path, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	if (!f)
		return -errno;
	size_t cap = 65536, n = 0;
	unsigned char *b = malloc(cap);
	for (;;) {
		if (!b) {
			fclose(f);
			return -ENOMEM;
		}
		size_t k = fread(b + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
		if (n == cap) {
			cap *= 2;
			unsigned char *nb = realloc(b, cap);
			if (!nb)
				free(b);
			b = nb;
		}
	}
	fclose(f);
	*buf = b;
	*len = n;
	return 0;
}

void mt_chirp(int16_t *s, size_t n)
{
	/* 100 Hz -> 4 kHz over 3 s, repeating, with a 3 Hz "syllable"
	 * envelope so the energy has a shape to follow. */
	double phase = 0;
	for (size_t i = 0; i < n; i++) {
		double t = (double)(i % 144000) / 48000.0;
		double f = 100.0 + 1300.0 * t;
		phase += 2 * M_PI * f / 48000.0;
		double env = 0.2 + 0.8 * fabs(sin(M_PI * 3.0 * (double)i / 48000.0));
		s[i] = (int16_t)(12000.0 * env * sin(phase));
	}
}

static void synthetic_speech(int16_t *s, size_t n)
{
	/* Voiced bursts of 150-300 ms with a gliding pitch and a few
	 * formant-ish harmonics, separated by pauses. */
	uint32_t rng = 12345;
	size_t i = 0;
	double phase = 0;
	while (i < n) {
		rng = rng * 1103515245u + 12345u;
		size_t len = 7200 + (rng >> 8) % 7200;
		size_t gap = 2400 + (rng >> 4) % 9600;
		double f0 = 110.0 + (double)((rng >> 12) % 120);
		for (size_t k = 0; k < len && i < n; k++, i++) {
			double env = sin(M_PI * (double)k / (double)len);
			double f = f0 * (1.0 + 0.2 * (double)k / (double)len);
			phase += 2 * M_PI * f / 48000.0;
			double v = 0;
			for (int h = 1; h <= 12; h++)
				v += sin(h * phase) / h * (h == 3 || h == 7 ? 2.0 : 1.0);
			s[i] = (int16_t)(3500.0 * env * v);
		}
		for (size_t k = 0; k < gap && i < n; k++, i++)
			s[i] = 0;
	}
}

int16_t *mt_speech(const char *dir, size_t *n, bool *real)
{
	const char *wav = mt_path(dir, "speech.wav");
	*real = false;
	if (mt_have_tool("espeak-ng") && mt_have_tool("sox")) {
		char out[512];
		int rc = mt_run(out, sizeof(out),
				"espeak-ng --stdout -s 150 'Hello. This is the diary room. I want to "
				"tell you about my week, the good parts and the hard parts, and what "
				"would help.' 2>/dev/null | sox -t wav - -r 48000 -c 1 -b 16 '%s' 2>&1",
				wav);
		int16_t *s = NULL;
		uint32_t rate = 0;
		if (rc == 0 && mt_read_wav(wav, &s, n, &rate) == 0 && rate == 48000 && *n > 48000) {
			*real = true;
			return s;
		}
		free(s);
	}
	*n = 48000 * 5;
	int16_t *s = malloc(*n * sizeof(int16_t));
	if (s)
		synthetic_speech(s, *n);
	return s;
}

int mt_write_wav(const char *path, const int16_t *s, size_t n, uint32_t rate, int channels)
{
	unsigned char h[44];
	uint32_t data = (uint32_t)(n * 2 * (size_t)channels);
	memcpy(h, "RIFF", 4);
	uint32_t v[] = {data + 36};
	memcpy(h + 4, v, 4);
	memcpy(h + 8, "WAVEfmt ", 8);
	uint32_t fmtlen = 16;
	memcpy(h + 16, &fmtlen, 4);
	uint16_t tag = 1, ch = (uint16_t)channels, align = (uint16_t)(2 * channels), bits = 16;
	uint32_t byterate = rate * align;
	memcpy(h + 20, &tag, 2);
	memcpy(h + 22, &ch, 2);
	memcpy(h + 24, &rate, 4);
	memcpy(h + 28, &byterate, 4);
	memcpy(h + 32, &align, 2);
	memcpy(h + 34, &bits, 2);
	memcpy(h + 36, "data", 4);
	memcpy(h + 40, &data, 4);
	FILE *f = fopen(path, "wbe");
	if (!f)
		return -errno;
	fwrite(h, 1, sizeof(h), f);
	for (size_t i = 0; i < n; i++)
		for (int c = 0; c < channels; c++)
			fwrite(&s[i], 2, 1, f);
	return fclose(f) == 0 ? 0 : -EIO;
}

int mt_read_wav(const char *path, int16_t **s, size_t *n, uint32_t *rate)
{
	struct dr_wav_reader *r;
	int err = dr_wav_reader_open(path, &r);
	if (err)
		return err;
	const struct dr_wav_info *info = dr_wav_reader_info(r);
	*rate = info->rate;
	*n = (size_t)info->frames;
	*s = malloc((*n ? *n : 1) * sizeof(int16_t));
	long got = *s ? dr_wav_reader_read_mono(r, *s, *n) : -ENOMEM;
	dr_wav_reader_free(r);
	if (got < 0)
		return (int)got;
	*n = (size_t)got;
	return 0;
}

int mt_decode(const char *path, int16_t **s, size_t *n)
{
	int err = 0;
	OggOpusFile *of = op_open_file(path, &err);
	if (!of)
		return -EINVAL;
	size_t cap = 48000, len = 0;
	int16_t *b = malloc(cap * sizeof(int16_t));
	for (;;) {
		opus_int16 st[2 * 5760];
		int k = op_read_stereo(of, st, 2 * 5760);
		if (k < 0) {
			err = -EIO;
			break;
		}
		if (k == 0)
			break;
		if (len + (size_t)k > cap) {
			cap = 2 * (len + (size_t)k);
			b = realloc(b, cap * sizeof(int16_t));
		}
		for (int i = 0; i < k; i++)
			b[len + (size_t)i] = st[2 * i];
		len += (size_t)k;
	}
	op_free(of);
	if (err) {
		free(b);
		return err;
	}
	*s = b;
	*n = len;
	return 0;
}

double mt_energy_corr(const int16_t *a, const int16_t *b, size_t n, long shift)
{
	const size_t frame = 960;
	size_t frames = n / frame;
	double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
	size_t used = 0;
	for (size_t f = 0; f < frames; f++) {
		double ea = 0, eb = 0;
		bool ok = true;
		for (size_t i = 0; i < frame; i++) {
			long j = (long)(f * frame + i) + shift;
			if (j < 0 || (size_t)j >= n) {
				ok = false;
				break;
			}
			ea += (double)a[f * frame + i] * a[f * frame + i];
			eb += (double)b[j] * b[j];
		}
		if (!ok)
			continue;
		sa += ea;
		sb += eb;
		saa += ea * ea;
		sbb += eb * eb;
		sab += ea * eb;
		used++;
	}
	if (used < 2)
		return 0;
	double k = (double)used;
	double cov = sab - sa * sb / k;
	double va = saa - sa * sa / k, vb = sbb - sb * sb / k;
	if (va <= 0 || vb <= 0)
		return 0;
	return cov / sqrt(va * vb);
}

bool mt_have_tool(const char *tool)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

int mt_run(char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "re");
	if (!p)
		return -1;
	size_t len = 0;
	if (out && outlen)
		out[0] = '\0';
	char line[1024];
	while (fgets(line, sizeof(line), p)) {
		size_t k = strlen(line);
		if (out && len + k < outlen) {
			memcpy(out + len, line, k + 1);
			len += k;
		}
	}
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool mt_opusinfo_clean(const char *path, char *out, size_t outlen)
{
	int rc = mt_run(out, outlen, "opusinfo '%s' 2>&1", path);
	if (rc != 0)
		return false;
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return !strstr(out, "warning") && !strstr(out, "error") && !strstr(out, "hole") &&
	       !strstr(out, "corrupt");
}

void mt_rmtree(char *dir)
{
	if (!dir)
		return;
	char out[64];
	mt_run(out, sizeof(out), "rm -rf '%s'", dir);
	free(dir);
}
