/* SPDX-License-Identifier: MIT */
#include "drd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <opus.h>

/* ---- the listen step ---- */

static bool listen_busy(const struct listen *l)
{
	for (int i = 0; i < LISTEN_SLOTS; i++)
		if (l->token[i])
			return true;
	return false;
}

void drd_listen_close(struct drd *d)
{
	struct listen *l = &d->listen;
	if (l->of)
		op_free(l->of);
	dr_mkv_audio_free(l->mkv);
	if (l->dec)
		opus_decoder_destroy(l->dec);
	dr_seal_reader_free(l->sr);
	if (l->fd >= 0)
		close(l->fd);
	for (int i = 0; i < LISTEN_SLOTS; i++)
		free(l->buf[i]);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

/* opusfile reads the sealed recording through the recording's key. */
static int listen_read(void *stream, unsigned char *ptr, int nbytes)
{
	ssize_t n = dr_seal_read(stream, ptr, nbytes > 0 ? (size_t)nbytes : 0);
	return n < 0 ? -1 : (int)n;
}

static const OpusFileCallbacks listen_cb = {.read = listen_read};

static long listen_stream(void *stream, void *buf, size_t len)
{
	return (long)dr_seal_read(stream, buf, len);
}

/* Opens the recording the questions are about, with the key kept for the
 * session: a sound recording through opusfile, a video's Opus track
 * through the Matroska reader and libopus (mono out either way). false:
 * cannot. */
static bool listen_open(struct drd *d, struct listen *l)
{
	struct dr_store_rec rec;
	int err = 0;
	if (!d->dialogue_id[0] || !d->rec_key || dr_store_get(d->store, d->dialogue_id, &rec) < 0)
		return false;
	l->fd = open(rec.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (l->fd < 0 || dr_seal_reader_open_key(l->fd, d->dialogue_id, d->rec_key, &l->sr) < 0)
		return false;
	if (rec.media != DR_MEDIA_VIDEO)
		return (l->of = op_open_callbacks(l->sr, &listen_cb, NULL, 0, &err)) != NULL;
	struct dr_mkv_audio_info info;
	if (dr_mkv_audio_open(listen_stream, l->sr, &l->mkv, &info) < 0)
		return false;
	l->skip = info.pre_skip;
	l->dec = opus_decoder_create(48000, 1, &err);
	return l->dec != NULL;
}

/* Up to `room` samples of a video's sound (at least one Opus packet's worth
 * must fit: 120 ms): 0 at its end. */
static size_t listen_decode_mkv(struct listen *l, int16_t *out, size_t room)
{
	enum { MAX_FRAME = 5760 };
	unsigned char pkt[8192];
	size_t n = 0;
	while (room - n >= MAX_FRAME) {
		long len = dr_mkv_audio_next(l->mkv, pkt, sizeof(pkt));
		if (len <= 0)
			break;
		int got = opus_decode(l->dec, pkt, (opus_int32)len, out + n, MAX_FRAME, 0);
		if (got < 0)
			break;
		size_t drop = l->skip < (unsigned)got ? l->skip : (unsigned)got;
		l->skip -= (unsigned)drop;
		memmove(out + n, out + n + drop, ((size_t)got - drop) * sizeof(*out));
		n += (size_t)got - drop;
	}
	return n;
}

/* Decode the next chunk into a free slot and queue it. */
static void listen_fill(struct drd *d, int slot)
{
	struct listen *l = &d->listen;
	size_t n = 0;
	if (l->mkv) {
		n = listen_decode_mkv(l, l->buf[slot], LISTEN_CHUNK);
		if (n == 0)
			l->eof = true;
	}
	while (!l->mkv && !l->eof && n < LISTEN_CHUNK) {
		int got = op_read(l->of, l->buf[slot] + n, (int)(LISTEN_CHUNK - n), NULL);
		if (got == OP_HOLE)
			continue;
		if (got <= 0) {
			l->eof = true;
			break;
		}
		n += (size_t)got;
	}
	if (n == 0)
		return;
	uint32_t token = LISTEN_BIT | (++l->seq & ~LISTEN_BIT);
	if (dr_playback_play(d->speaker, l->buf[slot], n, token) == 0)
		l->token[slot] = token;
	else
		l->eof = true;
}

/* Finished (played out, skipped or failed): tell the core once. */
static void listen_finish(struct drd *d)
{
	bool wanted = d->listen.wanted;
	drd_listen_close(d);
	dr_evlog_emit(d->log, "listen_done", ",\"skipped\":%s", wanted ? "false" : "true");
	if (wanted)
		drd_queue_event(d, (struct dr_event){.type = DR_EV_LISTEN_DONE});
}

void drd_play_recording(struct drd *d)
{
	struct listen *l = &d->listen;
	drd_listen_close(d);
	l->wanted = true;
	bool open = listen_open(d, l);
	for (int i = 0; open && i < LISTEN_SLOTS; i++)
		if (!(l->buf[i] = malloc(LISTEN_CHUNK * sizeof(int16_t))))
			l->eof = true;
	if (!open) {
		drd_log_error(d, "listen", "cannot open the recording to play it back");
		listen_finish(d);
		return;
	}
	dr_evlog_emit(d->log, "listen", ",\"id\":\"%s\"", d->dialogue_id);
	for (int i = 0; i < LISTEN_SLOTS && !l->eof; i++)
		listen_fill(d, i);
	if (!listen_busy(l))
		listen_finish(d);
}

void drd_listen_chunk_done(struct drd *d, const struct dr_playback_done *done)
{
	struct listen *l = &d->listen;
	for (int i = 0; i < LISTEN_SLOTS; i++) {
		if (l->token[i] != done->token)
			continue;
		l->token[i] = 0;
		if (done->status < 0)
			l->eof = true;
		else if (l->wanted && !l->eof)
			listen_fill(d, i);
	}
	if ((l->of || l->mkv) && !listen_busy(l))
		listen_finish(d);
}
