/* SPDX-License-Identifier: MIT */
/* Sealed recordings: see seal.h and docs/sealed-file.md. */
#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define SS_KEYBYTES crypto_secretstream_xchacha20poly1305_KEYBYTES
#define SS_HEADERBYTES crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define KEYBOX_BYTES (crypto_box_SEALBYTES + SS_KEYBYTES)
#define OFF_ID 8u
#define OFF_KEYBOX (OFF_ID + 16u)
#define OFF_SSHEAD (OFF_KEYBOX + KEYBOX_BYTES)
#define OFF_HSUM (OFF_SSHEAD + SS_HEADERBYTES)
#define FLAG_FINAL 0x01u
#define BUF_START 4096u

_Static_assert(OFF_HSUM + 8 == DR_SEAL_HEADER_BYTES, "header layout");
_Static_assert(crypto_secretstream_xchacha20poly1305_ABYTES == DR_SEAL_ABYTES, "abytes");

/* The checksum's key is public and fixed: it detects torn writes, it does
 * not authenticate (the secretstream does that). */
static const uint8_t sum_key[crypto_shorthash_KEYBYTES] = "diaryroom-seal02";

struct dr_seal_key {
	uint8_t k[SS_KEYBYTES];
};

int dr_seal_key_new(struct dr_seal_key **out)
{
	if (!out || sodium_init() < 0)
		return -EINVAL;
	struct dr_seal_key *k = sodium_malloc(sizeof(*k));
	if (!k)
		return -ENOMEM;
	crypto_secretstream_xchacha20poly1305_keygen(k->k);
	*out = k;
	return 0;
}

void dr_seal_key_free(struct dr_seal_key *k)
{
	sodium_free(k); /* zeroes before unmapping; NULL is fine */
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* SipHash of a message's clear header (first 16 bytes) and ciphertext. */
static void frame_sum(const uint8_t *head16, const uint8_t *c, size_t clen, uint8_t out[8])
{
	/* SipHash over the concatenation without copying: hash the ciphertext,
	 * then the header with that hash folded in. */
	uint8_t tmp[16 + 8];
	memcpy(tmp, head16, 16);
	crypto_shorthash(tmp + 16, c, clen, sum_key);
	crypto_shorthash(out, tmp, sizeof(tmp), sum_key);
}

static int id_to_bin(const char *id, uint8_t bin[16])
{
	size_t n = 0;
	if (!id || strlen(id) != DR_SEAL_ID_HEX)
		return -EINVAL;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return -EINVAL;
	if (sodium_hex2bin(bin, 16, id, DR_SEAL_ID_HEX, NULL, &n, NULL) != 0 || n != 16)
		return -EINVAL;
	return 0;
}

/* Additional data of a message: the id, its flags and its position. */
static void make_ad(const uint8_t id[16], uint8_t flags, uint64_t pos, uint8_t ad[25])
{
	memcpy(ad, id, 16);
	ad[16] = flags;
	put_le64(ad + 17, pos);
}

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly n bytes; returns n, fewer at the end of the file, or -errno. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	size_t got = 0;
	while (got < n) {
		ssize_t k = read(fd, p + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* ---- the sink ---- */

struct seal_sink {
	struct dr_sink inner;
	crypto_secretstream_xchacha20poly1305_state st;
	uint8_t id[16];
	uint64_t position;
	int error;     /* the first failure: everything after it fails too */
	uint8_t *plain; /* sodium_malloc'd, cap bytes */
	size_t len, cap;
	uint8_t *out;  /* frame + ciphertext, ordinary memory (sealed bytes only) */
	size_t outcap;
};

/* Seals the buffered plaintext as one message and writes it to inner. */
static int emit(struct seal_sink *s, uint8_t flags)
{
	size_t clen = s->len + DR_SEAL_ABYTES;
	size_t need = DR_SEAL_FRAME_BYTES + clen;
	if (need > s->outcap) {
		uint8_t *n = realloc(s->out, need);
		if (!n)
			return -ENOMEM;
		s->out = n;
		s->outcap = need;
	}
	uint8_t ad[25];
	make_ad(s->id, flags, s->position, ad);
	unsigned long long got = 0;
	crypto_secretstream_xchacha20poly1305_push(
		&s->st, s->out + DR_SEAL_FRAME_BYTES, &got, s->plain, s->len, ad, sizeof(ad),
		flags & FLAG_FINAL ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
	sodium_memzero(s->plain, s->len);
	s->len = 0;
	put_le32(s->out, (uint32_t)clen);
	s->out[4] = flags;
	s->out[5] = s->out[6] = s->out[7] = 0;
	put_le64(s->out + 8, s->position);
	frame_sum(s->out, s->out + DR_SEAL_FRAME_BYTES, clen, s->out + 16);
	return s->inner.ops->write(s->inner.user, s->out, need);
}

static int seal_write(void *user, const unsigned char *buf, size_t len)
{
	struct seal_sink *s = user;
	if (s->error)
		return s->error;
	while (len) {
		if (s->len == s->cap) {
			if (s->cap < DR_SEAL_MSG_MAX) {
				size_t ncap = s->cap * 2 > DR_SEAL_MSG_MAX ? DR_SEAL_MSG_MAX : s->cap * 2;
				uint8_t *n = sodium_malloc(ncap);
				if (!n)
					return s->error = -ENOMEM;
				memcpy(n, s->plain, s->len);
				sodium_free(s->plain);
				s->plain = n;
				s->cap = ncap;
			} else {
				/* A message is full: it goes out now, synced with the next flush. */
				int r = emit(s, 0);
				if (r < 0)
					return s->error = r;
			}
		}
		size_t k = s->cap - s->len < len ? s->cap - s->len : len;
		memcpy(s->plain + s->len, buf, k);
		s->len += k;
		buf += k;
		len -= k;
	}
	return 0;
}

static int seal_position(void *user, uint64_t samples)
{
	struct seal_sink *s = user;
	s->position = samples;
	return 0;
}

static int seal_sync(void *user)
{
	struct seal_sink *s = user;
	if (s->error)
		return s->error;
	int r = s->len ? emit(s, 0) : 0;
	if (r == 0)
		r = s->inner.ops->sync(s->inner.user);
	return r < 0 ? (s->error = r) : 0;
}

static void seal_free(struct seal_sink *s)
{
	sodium_free(s->plain);
	free(s->out);
	sodium_free(s); /* the secretstream state is wiped with it */
}

static int seal_close(void *user)
{
	struct seal_sink *s = user;
	int r = s->error ? s->error : emit(s, FLAG_FINAL);
	if (r == 0)
		r = s->inner.ops->sync(s->inner.user);
	int c = s->inner.ops->close(s->inner.user);
	seal_free(s);
	return r < 0 ? r : c;
}

static const struct dr_sink_ops seal_ops = {
	.write = seal_write,
	.sync = seal_sync,
	.close = seal_close,
	.position = seal_position,
};

int dr_seal_sink_new(struct dr_sink inner, const char *id, const uint8_t org_pk[32],
		     const struct dr_seal_key *key, struct dr_sink *out)
{
	uint8_t head[DR_SEAL_HEADER_BYTES], xpk[32];
	int r = -EINVAL;
	struct seal_sink *s = NULL;

	if (!inner.ops || !org_pk || !key || !out || sodium_init() < 0)
		goto err_close_inner;
	memcpy(head, DR_SEAL_MAGIC, 8);
	if ((r = id_to_bin(id, head + OFF_ID)) < 0)
		goto err_close_inner;
	r = -EINVAL;
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, org_pk) != 0)
		goto err_close_inner;
	if (crypto_box_seal(head + OFF_KEYBOX, key->k, SS_KEYBYTES, xpk) != 0)
		goto err_close_inner;
	r = -ENOMEM;
	s = sodium_malloc(sizeof(*s));
	if (!s)
		goto err_close_inner;
	memset(s, 0, sizeof(*s));
	s->inner = inner;
	memcpy(s->id, head + OFF_ID, 16);
	s->cap = BUF_START;
	s->plain = sodium_malloc(s->cap);
	if (!s->plain)
		goto err_free;
	crypto_secretstream_xchacha20poly1305_init_push(&s->st, head + OFF_SSHEAD, key->k);
	crypto_shorthash(head + OFF_HSUM, head, OFF_HSUM, sum_key);
	r = inner.ops->write(inner.user, head, sizeof(head));
	if (r == 0)
		r = inner.ops->sync(inner.user); /* the header is durable before any audio */
	if (r < 0)
		goto err_free;
	out->ops = &seal_ops;
	out->user = s;
	return 0;

err_free:
	sodium_free(s->plain);
	sodium_free(s);
err_close_inner:
	if (inner.ops)
		inner.ops->close(inner.user);
	return r;
}

/* ---- scanning and repair ---- */

static int check_header(const uint8_t head[DR_SEAL_HEADER_BYTES])
{
	uint8_t sum[8];
	if (memcmp(head, DR_SEAL_MAGIC, 8))
		return -EBADMSG;
	crypto_shorthash(sum, head, OFF_HSUM, sum_key);
	return sodium_memcmp(sum, head + OFF_HSUM, 8) == 0 ? 0 : -EBADMSG;
}

bool dr_seal_is_sealed(const unsigned char *head, size_t len)
{
	return head && len >= 8 && !memcmp(head, DR_SEAL_MAGIC, 8);
}

int dr_seal_scan_fd(int fd, struct dr_seal_scan *s)
{
	uint8_t head[DR_SEAL_HEADER_BYTES];
	struct stat st;
	if (!s || fstat(fd, &st) < 0)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->file_bytes = (uint64_t)st.st_size;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	ssize_t n = read_full(fd, head, sizeof(head));
	if (n < 0)
		return (int)n;
	if ((size_t)n < sizeof(head) || check_header(head) < 0)
		return -EBADMSG;
	sodium_bin2hex(s->id, sizeof(s->id), head + OFF_ID, 16);
	s->intact_bytes = sizeof(head);
	uint8_t *c = NULL;
	size_t ccap = 0;
	int r = 0;
	while (!s->final) {
		uint8_t fh[DR_SEAL_FRAME_BYTES], sum[8];
		n = read_full(fd, fh, sizeof(fh));
		if (n < 0) {
			r = (int)n;
			break;
		}
		if ((size_t)n < sizeof(fh))
			break; /* cut inside a message's header */
		uint32_t clen = get_le32(fh);
		if (clen < DR_SEAL_ABYTES || clen > DR_SEAL_MSG_MAX + DR_SEAL_ABYTES ||
		    (fh[4] & ~FLAG_FINAL) || fh[5] || fh[6] || fh[7])
			break; /* not a message we wrote: torn or garbage */
		if (clen > ccap) {
			uint8_t *nc = realloc(c, clen);
			if (!nc) {
				r = -ENOMEM;
				break;
			}
			c = nc;
			ccap = clen;
		}
		n = read_full(fd, c, clen);
		if (n < 0) {
			r = (int)n;
			break;
		}
		if ((size_t)n < clen)
			break; /* cut inside a message */
		frame_sum(fh, c, clen, sum);
		if (sodium_memcmp(sum, fh + 16, 8) != 0)
			break; /* torn */
		s->messages++;
		s->position = get_le64(fh + 8);
		s->intact_bytes += sizeof(fh) + clen;
		s->final = fh[4] & FLAG_FINAL;
	}
	free(c);
	if (r == 0 && s->final && s->file_bytes > s->intact_bytes)
		s->trailing = true;
	return r;
}

int dr_seal_repair(const char *path, struct dr_seal_scan *res)
{
	struct dr_seal_scan scan;
	if (!path)
		return -EINVAL;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
	if (r == 0)
		r = dr_seal_scan_fd(fd, &scan);
	if (r == 0 && scan.messages == 0)
		r = -ENODATA;
	if (r == 0 && scan.file_bytes != scan.intact_bytes) {
		/* In place: nothing is written, only the torn tail cut off. */
		if (ftruncate(fd, (off_t)scan.intact_bytes) < 0 || fdatasync(fd) < 0)
			r = -errno;
	}
	close(fd);
	if (res)
		*res = r == 0 || r == -ENODATA ? scan : (struct dr_seal_scan){0};
	return r;
}

/* ---- reading ---- */

struct dr_seal_reader {
	crypto_secretstream_xchacha20poly1305_state st;
	int fd;
	uint8_t id[16];
	uint64_t position;
	bool final, ended;
	uint8_t *plain; /* sodium_malloc'd */
	size_t plen, pcap, poff;
	uint8_t *c;
	size_t ccap;
};

static int reader_start(int fd, const char *id, const uint8_t ssheader[SS_HEADERBYTES],
			const uint8_t key[SS_KEYBYTES], const uint8_t head_id[16],
			struct dr_seal_reader **out)
{
	uint8_t bin[16];
	if (id_to_bin(id, bin) < 0)
		return -EINVAL;
	if (sodium_memcmp(bin, head_id, 16) != 0)
		return -EBADMSG; /* another recording's file */
	struct dr_seal_reader *r = sodium_malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	memcpy(r->id, bin, 16);
	if (crypto_secretstream_xchacha20poly1305_init_pull(&r->st, ssheader, key) != 0) {
		sodium_free(r);
		return -EBADMSG;
	}
	*out = r;
	return 0;
}

static int read_header(int fd, uint8_t head[DR_SEAL_HEADER_BYTES])
{
	ssize_t n = read_full(fd, head, DR_SEAL_HEADER_BYTES);
	if (n < 0)
		return (int)n;
	if ((size_t)n < DR_SEAL_HEADER_BYTES)
		return -EBADMSG;
	return check_header(head);
}

int dr_seal_reader_open_key(int fd, const char *id, const struct dr_seal_key *key,
			    struct dr_seal_reader **out)
{
	uint8_t head[DR_SEAL_HEADER_BYTES];
	if (fd < 0 || !key || !out || sodium_init() < 0)
		return -EINVAL;
	int r = read_header(fd, head);
	return r < 0 ? r : reader_start(fd, id, head + OFF_SSHEAD, key->k, head + OFF_ID, out);
}

int dr_seal_reader_open_org(int fd, const char *id, const uint8_t org_pk[32],
			    const uint8_t org_sk[64], struct dr_seal_reader **out)
{
	uint8_t head[DR_SEAL_HEADER_BYTES], xpk[32];
	if (fd < 0 || !org_pk || !org_sk || !out || sodium_init() < 0)
		return -EINVAL;
	int r = read_header(fd, head);
	if (r < 0)
		return r;
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, org_pk) != 0)
		return -EINVAL;
	uint8_t *lk = sodium_malloc(32 + SS_KEYBYTES); /* X25519 secret, then the key */
	if (!lk)
		return -ENOMEM;
	crypto_sign_ed25519_sk_to_curve25519(lk, org_sk);
	r = crypto_box_seal_open(lk + 32, head + OFF_KEYBOX, KEYBOX_BYTES, xpk, lk) == 0
		    ? reader_start(fd, id, head + OFF_SSHEAD, lk + 32, head + OFF_ID, out)
		    : -EBADMSG; /* sealed for another organisation, or altered */
	sodium_free(lk);
	return r;
}

/* Pulls the next message into r->plain. 0, 1 at the end, or -errno. */
static int next_message(struct dr_seal_reader *r)
{
	uint8_t fh[DR_SEAL_FRAME_BYTES], sum[8], ad[25];
	if (r->final) {
		/* nothing may follow the last message */
		ssize_t n = read_full(r->fd, fh, 1);
		return n < 0 ? (int)n : n ? -EBADMSG : 1;
	}
	ssize_t n = read_full(r->fd, fh, sizeof(fh));
	if (n < 0)
		return (int)n;
	if (n == 0)
		return 1; /* cut off at a message boundary: the caller sees !final */
	if ((size_t)n < sizeof(fh))
		return -EBADMSG;
	uint32_t clen = get_le32(fh);
	if (clen < DR_SEAL_ABYTES || clen > DR_SEAL_MSG_MAX + DR_SEAL_ABYTES ||
	    (fh[4] & ~FLAG_FINAL) || fh[5] || fh[6] || fh[7])
		return -EBADMSG;
	if (clen > r->ccap) {
		uint8_t *c = realloc(r->c, clen);
		if (!c)
			return -ENOMEM;
		r->c = c;
		r->ccap = clen;
	}
	size_t mlen = clen - DR_SEAL_ABYTES;
	if (mlen > r->pcap || !r->plain) {
		size_t cap = mlen > BUF_START ? mlen : BUF_START;
		uint8_t *p = sodium_malloc(cap);
		if (!p)
			return -ENOMEM;
		sodium_free(r->plain);
		r->plain = p;
		r->pcap = cap;
	}
	n = read_full(r->fd, r->c, clen);
	if (n < 0)
		return (int)n;
	if ((size_t)n < clen)
		return -EBADMSG; /* cut inside a message: the box repairs before export */
	frame_sum(fh, r->c, clen, sum);
	if (sodium_memcmp(sum, fh + 16, 8) != 0)
		return -EBADMSG;
	make_ad(r->id, fh[4], get_le64(fh + 8), ad);
	unsigned long long got = 0;
	unsigned char tag = 0;
	if (crypto_secretstream_xchacha20poly1305_pull(&r->st, r->plain, &got, &tag, r->c, clen, ad,
						       sizeof(ad)) != 0)
		return -EBADMSG; /* altered, reordered, or from another recording */
	bool fin = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
	if (fin != !!(fh[4] & FLAG_FINAL))
		return -EBADMSG;
	r->final = fin;
	r->position = get_le64(fh + 8);
	r->plen = (size_t)got;
	r->poff = 0;
	return 0;
}

ssize_t dr_seal_read(struct dr_seal_reader *r, void *buf, size_t len)
{
	if (!r || (!buf && len))
		return -EINVAL;
	size_t done = 0;
	while (done < len && !r->ended) {
		if (r->poff == r->plen) {
			int e = next_message(r);
			if (e < 0)
				return e;
			if (e == 1) {
				r->ended = true;
				break;
			}
			continue;
		}
		size_t k = r->plen - r->poff < len - done ? r->plen - r->poff : len - done;
		memcpy((uint8_t *)buf + done, r->plain + r->poff, k);
		r->poff += k;
		done += k;
	}
	return (ssize_t)done;
}

bool dr_seal_reader_final(const struct dr_seal_reader *r)
{
	return r && r->final;
}

uint64_t dr_seal_reader_position(const struct dr_seal_reader *r)
{
	return r ? r->position : 0;
}

void dr_seal_reader_free(struct dr_seal_reader *r)
{
	if (!r)
		return;
	sodium_free(r->plain);
	free(r->c);
	sodium_free(r);
}

int dr_seal_open_fd_org(int in, const char *id, const uint8_t org_pk[32],
			const uint8_t org_sk[64], int out, bool *final, uint64_t *plain_bytes)
{
	struct dr_seal_reader *r;
	uint64_t total = 0;
	int e = dr_seal_reader_open_org(in, id, org_pk, org_sk, &r);
	if (e < 0)
		return e;
	uint8_t *buf = sodium_malloc(65536);
	if (!buf) {
		dr_seal_reader_free(r);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = dr_seal_read(r, buf, 65536);
		if (n <= 0) {
			e = (int)n;
			break;
		}
		total += (uint64_t)n;
		if (out >= 0 && (e = write_full(out, buf, (size_t)n)) < 0)
			break;
	}
	if (final)
		*final = dr_seal_reader_final(r);
	if (plain_bytes)
		*plain_bytes = total;
	sodium_free(buf);
	dr_seal_reader_free(r);
	return e;
}

int dr_seal_load_org_pub(const char *keydir, uint8_t pk[32], char *err, size_t errlen)
{
	uint8_t buf[33], x[32];
	int r = 0;
	if (!keydir || !pk)
		return -EINVAL;
	int dfd = open(keydir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open the key folder %s: %s", keydir, strerror(errno));
		return r;
	}
	int fd = openat(dfd, "org.pub", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	close(dfd);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "no organisation key %s/org.pub: %s", keydir, strerror(errno));
		return r;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != 32) {
		close(fd);
		snprintf(err, errlen, "%s/org.pub is not a 32-byte key file", keydir);
		return -EBADMSG;
	}
	ssize_t n = read_full(fd, buf, sizeof(buf));
	close(fd);
	if (n != 32 || sodium_init() < 0 || crypto_sign_ed25519_pk_to_curve25519(x, buf) != 0) {
		snprintf(err, errlen, "%s/org.pub is not an Ed25519 public key", keydir);
		return -EBADMSG;
	}
	memcpy(pk, buf, 32);
	return 0;
}
