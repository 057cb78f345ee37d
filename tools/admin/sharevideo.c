/* SPDX-License-Identifier: MIT */
/*
 * A video's sound for its share copy (sharevideo.h): libavformat reads the
 * WebM copy from memory (its own I/O callbacks: FFmpeg opens no path),
 * libavcodec decodes the Opus packets (pre-skip and end trimming applied as
 * the file says), and the channels are mixed to mono at 48 kHz.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "util/log.h"
#include "sharevideo.h"

#define IO_BUF 65536
#define RATE 48000
#define MAX_SAMPLES ((size_t)RATE * 3600 * 4) /* 4 hours: far beyond any recording */

struct mem {
	const uint8_t *p;
	size_t len, pos;
};

static int mem_read(void *u, uint8_t *buf, int n)
{
	struct mem *m = u;
	size_t k = m->len - m->pos < (size_t)n ? m->len - m->pos : (size_t)n;
	if (k == 0)
		return AVERROR_EOF;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return (int)k;
}

static int64_t mem_seek(void *u, int64_t off, int whence)
{
	struct mem *m = u;
	if (whence & AVSEEK_SIZE)
		return (int64_t)m->len;
	int64_t base = 0;
	switch (whence & ~AVSEEK_FORCE) {
	case SEEK_SET: base = 0; break;
	case SEEK_CUR: base = (int64_t)m->pos; break;
	case SEEK_END: base = (int64_t)m->len; break;
	default: return AVERROR(EINVAL);
	}
	if (off < -base || base + off > (int64_t)m->len)
		return AVERROR(EINVAL);
	m->pos = (size_t)(base + off);
	return (int64_t)m->pos;
}

struct pcm {
	float *x;
	size_t n, cap;
};

/* one decoded frame, mixed to mono, appended */
static int add_frame(struct pcm *o, const AVFrame *f)
{
	int ch = f->ch_layout.nb_channels;
	size_t k = (size_t)f->nb_samples;
	if (ch < 1 || f->sample_rate != RATE ||
	    (f->format != AV_SAMPLE_FMT_FLTP && f->format != AV_SAMPLE_FMT_FLT))
		return -EBADMSG;
	if (o->n + k > MAX_SAMPLES)
		return -EFBIG;
	if (o->n + k > o->cap) {
		size_t cap = (o->n + k) * 2;
		float *p = realloc(o->x, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		o->x = p;
		o->cap = cap;
	}
	bool planar = f->format == AV_SAMPLE_FMT_FLTP;
	for (size_t i = 0; i < k; i++) {
		float s = 0;
		for (int c = 0; c < ch; c++)
			s += planar ? ((const float *)f->extended_data[c])[i]
				    : ((const float *)f->extended_data[0])[i * (size_t)ch + (size_t)c];
		o->x[o->n++] = s / (float)ch;
	}
	return 0;
}

static int drain(AVCodecContext *dec, AVFrame *f, struct pcm *o)
{
	int r;
	while ((r = avcodec_receive_frame(dec, f)) >= 0) {
		r = add_frame(o, f);
		av_frame_unref(f);
		if (r < 0)
			return r;
	}
	return r == AVERROR(EAGAIN) || r == AVERROR_EOF ? 0 : -EBADMSG;
}

int adm_sharevideo_sound(const uint8_t *webm, size_t len, float **pcm, size_t *n, char *why,
			 size_t wl)
{
	*pcm = NULL;
	*n = 0;
	struct mem m = {webm, len, 0};
	struct pcm o = {0};
	AVFormatContext *fmt = avformat_alloc_context();
	uint8_t *buf = av_malloc(IO_BUF);
	AVIOContext *io = buf ? avio_alloc_context(buf, IO_BUF, 0, &m, mem_read, NULL, mem_seek)
			      : NULL;
	AVCodecContext *dec = NULL;
	AVPacket *pkt = av_packet_alloc();
	AVFrame *f = av_frame_alloc();
	int r = 0, si = -1;
	if (!fmt || !io || !pkt || !f) {
		if (!io)
			av_free(buf);
		avformat_free_context(fmt);
		r = -ENOMEM;
		goto free_io;
	}
	fmt->pb = io;
	fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
	/* fmt is freed by avformat_open_input on failure */
	const AVInputFormat *webm_fmt = av_find_input_format("matroska");
	if (avformat_open_input(&fmt, NULL, webm_fmt, NULL) < 0 ||
	    avformat_find_stream_info(fmt, NULL) < 0) {
		r = dr_errf(why, wl, -EBADMSG, "the video's browser copy cannot be read (damaged)");
		goto free_io;
	}
	for (unsigned i = 0; i < fmt->nb_streams; i++)
		if (fmt->streams[i]->codecpar->codec_id == AV_CODEC_ID_OPUS && si < 0)
			si = (int)i;
	if (si < 0) {
		r = dr_errf(why, wl, -EBADMSG, "the video holds no Opus sound");
		goto close_input;
	}
	const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_OPUS);
	if (!codec || !(dec = avcodec_alloc_context3(codec)) ||
	    avcodec_parameters_to_context(dec, fmt->streams[si]->codecpar) < 0 ||
	    avcodec_open2(dec, codec, NULL) < 0) {
		r = dr_errf(why, wl, -EBADMSG, "the video's sound cannot be decoded");
		goto close_input;
	}
	int e;
	while (r == 0 && (e = av_read_frame(fmt, pkt)) >= 0) {
		if (pkt->stream_index == si) {
			r = avcodec_send_packet(dec, pkt) < 0 ? -EBADMSG : drain(dec, f, &o);
		}
		av_packet_unref(pkt);
	}
	if (r == 0 && e != AVERROR_EOF)
		r = -EBADMSG;
	if (r == 0 && avcodec_send_packet(dec, NULL) >= 0)
		r = drain(dec, f, &o);
	if (r < 0)
		dr_errf(why, wl, r,
			r == -ENOMEM	? "out of memory"
			: r == -EFBIG ? "the video is longer than 4 hours"
				      : "the video's sound is damaged");
	else if (o.n == 0)
		r = dr_errf(why, wl, -EBADMSG, "the video holds no sound");
close_input:
	avcodec_free_context(&dec);
	avformat_close_input(&fmt);
free_io:
	if (io)
		av_freep(&io->buffer);
	avio_context_free(&io);
	av_packet_free(&pkt);
	av_frame_free(&f);
	if (r < 0) {
		free(o.x);
		return r;
	}
	*pcm = o.x;
	*n = o.n;
	return 0;
}
