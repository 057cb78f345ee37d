/* SPDX-License-Identifier: MIT */
/*
 * The browser copy of a video recording: Matroska (H.264 + Opus) to WebM
 * (VP8 + the same Opus packets), with FFmpeg's libraries (webcopy.h).
 *
 * Both files are opened here (O_NOFOLLOW, the input only if a regular
 * file) and handed to libavformat through its I/O callbacks, so FFmpeg
 * never opens a path itself. The picture is decoded and encoded frame by
 * frame with its presentation time unchanged (the encoder's time base is
 * the input stream's), the sound packets are copied with theirs, and the
 * muxer interleaves them: the copy keeps the original's length and sync.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "util/log.h"
#include "export/stickio.h"
#include "webcopy.h"

#define IO_BUF 65536

/* ---- FFmpeg's I/O on our own file descriptors ---- */

static int io_read(void *u, uint8_t *buf, int n)
{
	ssize_t got = read(*(int *)u, buf, (size_t)n);
	if (got < 0)
		return AVERROR(errno);
	return got == 0 ? AVERROR_EOF : (int)got;
}

static int io_write(void *u, uint8_t *buf, int n)
{
	return dr_stick_write_all(*(int *)u, buf, (size_t)n) < 0 ? AVERROR(EIO) : n;
}

static int64_t io_seek(void *u, int64_t off, int whence)
{
	int fd = *(int *)u;
	if (whence & AVSEEK_SIZE) {
		struct stat st;
		return fstat(fd, &st) < 0 ? AVERROR(errno) : (int64_t)st.st_size;
	}
	off_t r = lseek(fd, (off_t)off, whence & ~AVSEEK_FORCE);
	return r < 0 ? AVERROR(errno) : (int64_t)r;
}

static AVIOContext *io_new(int *fd, bool write)
{
	uint8_t *buf = av_malloc(IO_BUF);
	if (!buf)
		return NULL;
	AVIOContext *io = avio_alloc_context(buf, IO_BUF, write, fd, write ? NULL : io_read,
					     write ? io_write : NULL, io_seek);
	if (!io)
		av_free(buf);
	return io;
}

static void io_free(AVIOContext **io)
{
	if (*io)
		av_freep(&(*io)->buffer);
	avio_context_free(io);
}

/* ---- one copy ---- */

struct copy {
	int in_fd, out_fd;
	AVIOContext *in_io, *out_io;
	AVFormatContext *in, *out;
	int vin, ain;          /* input stream indexes */
	AVStream *vout, *aout; /* output streams */
	AVCodecContext *dec, *enc;
	struct SwsContext *sws;
	AVFrame *frame, *conv;
	AVPacket *pkt;
	int64_t adelay; /* the Opus codec delay, in the sound's output time base */
};

static void copy_free(struct copy *c)
{
	av_packet_free(&c->pkt);
	av_frame_free(&c->frame);
	av_frame_free(&c->conv);
	sws_freeContext(c->sws);
	avcodec_free_context(&c->dec);
	avcodec_free_context(&c->enc);
	avformat_close_input(&c->in);
	avformat_free_context(c->out);
	io_free(&c->in_io);
	io_free(&c->out_io);
	if (c->in_fd >= 0)
		close(c->in_fd);
	if (c->out_fd >= 0)
		close(c->out_fd);
}

/* The input's streams: one H.264 picture and one Opus sound. */
static int open_input(struct copy *c, const char *in_path, char *why, size_t n)
{
	c->in_fd = open(in_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (c->in_fd < 0)
		return dr_errf(why, n, -errno, "cannot read %s: %s", in_path, strerror(errno));
	if (fstat(c->in_fd, &st) < 0 || !S_ISREG(st.st_mode))
		return dr_errf(why, n, -EBADMSG, "%s is not a regular file", in_path);
	int fl = fcntl(c->in_fd, F_GETFL);
	if (fl >= 0)
		fcntl(c->in_fd, F_SETFL, fl & ~O_NONBLOCK);
	if (!(c->in_io = io_new(&c->in_fd, false)) || !(c->in = avformat_alloc_context()))
		return -ENOMEM;
	c->in->pb = c->in_io;
	c->in->flags |= AVFMT_FLAG_CUSTOM_IO;
	const AVInputFormat *mkv = av_find_input_format("matroska");
	if (avformat_open_input(&c->in, NULL, mkv, NULL) < 0 ||
	    avformat_find_stream_info(c->in, NULL) < 0)
		return dr_errf(why, n, -EBADMSG, "%s is not a Matroska recording that can be read",
			   in_path);
	c->vin = c->ain = -1;
	for (unsigned i = 0; i < c->in->nb_streams; i++) {
		const AVCodecParameters *p = c->in->streams[i]->codecpar;
		if (p->codec_id == AV_CODEC_ID_H264 && c->vin < 0)
			c->vin = (int)i;
		else if (p->codec_id == AV_CODEC_ID_OPUS && c->ain < 0)
			c->ain = (int)i;
	}
	if (c->vin < 0 || c->ain < 0)
		return dr_errf(why, n, -EBADMSG, "%s has no H.264 picture or no Opus sound", in_path);
	const AVCodec *d = avcodec_find_decoder(AV_CODEC_ID_H264);
	if (!d || !(c->dec = avcodec_alloc_context3(d)))
		return dr_errf(why, n, -ENOTSUP, "this FFmpeg has no H.264 decoder");
	if (avcodec_parameters_to_context(c->dec, c->in->streams[c->vin]->codecpar) < 0)
		return -ENOMEM;
	c->dec->pkt_timebase = c->in->streams[c->vin]->time_base;
	if (avcodec_open2(c->dec, d, NULL) < 0)
		return dr_errf(why, n, -EBADMSG, "its picture cannot be decoded");
	return 0;
}

/* The output: WebM with a VP8 picture of the input's size, in the input
 * picture's time base, and the Opus sound's parameters as they are. */
static int open_output(struct copy *c, const char *tmp, char *why, size_t n)
{
	c->out_fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (c->out_fd < 0)
		return dr_errf(why, n, -errno, "cannot create %s: %s", tmp, strerror(errno));
	if (avformat_alloc_output_context2(&c->out, NULL, "webm", NULL) < 0 || !c->out ||
	    !(c->out_io = io_new(&c->out_fd, true)))
		return -ENOMEM;
	c->out->pb = c->out_io;
	/* bit-exact: no random Segment or track UIDs, no library version, so
	 * the same recording always gives the same copy, byte for byte (a
	 * collect run again makes the same archive) */
	c->out->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_BITEXACT;
	/* The Opus packets start before zero by the codec delay, which the
	 * muxer writes as CodecDelay as the box's file does: not shifting
	 * everything keeps each frame at its original time. */
	c->out->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
	const AVCodec *e = avcodec_find_encoder_by_name("libvpx");
	if (!e || !(c->enc = avcodec_alloc_context3(e)))
		return dr_errf(why, n, -ENOTSUP, "this FFmpeg has no VP8 encoder (libvpx)");
	const AVStream *vs = c->in->streams[c->vin];
	c->enc->width = c->dec->width;
	c->enc->height = c->dec->height;
	c->enc->pix_fmt = AV_PIX_FMT_YUV420P;
	c->enc->time_base = vs->time_base;
	c->enc->framerate = vs->avg_frame_rate;
	c->enc->sample_aspect_ratio = c->dec->sample_aspect_ratio;
	c->enc->gop_size = 60;
	c->enc->bit_rate = 1000000;
	c->enc->thread_count = 2;
	c->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER | AV_CODEC_FLAG_BITEXACT;
	av_opt_set(c->enc->priv_data, "deadline", "good", 0);
	av_opt_set_int(c->enc->priv_data, "cpu-used", 8, 0);
	/* every frame out as it goes in: no hidden reference frames */
	av_opt_set_int(c->enc->priv_data, "auto-alt-ref", 0, 0);
	av_opt_set_int(c->enc->priv_data, "lag-in-frames", 0, 0);
	if (avcodec_open2(c->enc, e, NULL) < 0)
		return dr_errf(why, n, -EBADMSG, "the VP8 encoder refused %dx%d", c->enc->width,
			   c->enc->height);
	if (!(c->vout = avformat_new_stream(c->out, NULL)) ||
	    !(c->aout = avformat_new_stream(c->out, NULL)) ||
	    avcodec_parameters_from_context(c->vout->codecpar, c->enc) < 0 ||
	    avcodec_parameters_copy(c->aout->codecpar, c->in->streams[c->ain]->codecpar) < 0)
		return -ENOMEM;
	c->vout->time_base = c->enc->time_base;
	c->aout->time_base = c->in->streams[c->ain]->time_base;
	c->aout->codecpar->codec_tag = 0;
	if (avformat_write_header(c->out, NULL) < 0)
		return dr_errf(why, n, -EIO, "cannot write the WebM header to %s", tmp);
	/* The demuxer gives each Opus packet its time less the codec delay
	 * (the first at -6.5 ms); the muxer writes the times it is given and
	 * CodecDelay again, so the delay is added back: each block keeps the
	 * original's time (the first at 0), the sound is not moved 6.5 ms
	 * earlier, and no block time is negative (Chromium refuses to play
	 * such a file once it has preloaded it: PIPELINE_ERROR_DECODE). */
	const AVCodecParameters *ap = c->in->streams[c->ain]->codecpar;
	c->adelay = ap->initial_padding > 0 ? av_rescale_q(ap->initial_padding, (AVRational){1, 48000},
							    c->aout->time_base)
					    : 0;
	return 0;
}

/* Every packet the encoder has ready (all of them when draining). */
static int drain_encoder(struct copy *c)
{
	int r;
	while ((r = avcodec_receive_packet(c->enc, c->pkt)) == 0) {
		c->pkt->stream_index = c->vout->index;
		av_packet_rescale_ts(c->pkt, c->enc->time_base, c->vout->time_base);
		r = av_interleaved_write_frame(c->out, c->pkt);
		if (r < 0)
			return r;
	}
	return r == AVERROR(EAGAIN) || r == AVERROR_EOF ? 0 : r;
}

/* One decoded picture into the encoder, at its own time, as 4:2:0. */
static int encode_frame(struct copy *c, AVFrame *f)
{
	if (!f)
		return avcodec_send_frame(c->enc, NULL) < 0 ? -EIO : drain_encoder(c);
	AVFrame *in = f;
	if (f->format != AV_PIX_FMT_YUV420P || f->width != c->enc->width ||
	    f->height != c->enc->height) {
		c->sws = sws_getCachedContext(c->sws, f->width, f->height, f->format,
					      c->enc->width, c->enc->height, AV_PIX_FMT_YUV420P,
					      SWS_BILINEAR, NULL, NULL, NULL);
		if (!c->sws)
			return -EINVAL;
		if (!c->conv) {
			if (!(c->conv = av_frame_alloc()))
				return -ENOMEM;
			c->conv->format = AV_PIX_FMT_YUV420P;
			c->conv->width = c->enc->width;
			c->conv->height = c->enc->height;
			if (av_frame_get_buffer(c->conv, 0) < 0)
				return -ENOMEM;
		}
		if (av_frame_make_writable(c->conv) < 0)
			return -ENOMEM;
		sws_scale(c->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height,
			  c->conv->data, c->conv->linesize);
		in = c->conv;
	}
	in->pts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
	in->pict_type = AV_PICTURE_TYPE_NONE;
	int r = avcodec_send_frame(c->enc, in);
	return r < 0 ? -EIO : drain_encoder(c);
}

/* Every picture the decoder has ready (pkt NULL: drain it). */
static int decode_packet(struct copy *c, const AVPacket *pkt)
{
	int r = avcodec_send_packet(c->dec, pkt);
	if (r < 0 && r != AVERROR_EOF)
		return -EBADMSG;
	while ((r = avcodec_receive_frame(c->dec, c->frame)) == 0) {
		r = encode_frame(c, c->frame);
		av_frame_unref(c->frame);
		if (r < 0)
			return r;
	}
	return r == AVERROR(EAGAIN) || r == AVERROR_EOF ? 0 : -EBADMSG;
}

static int transcode(struct copy *c, char *why, size_t n)
{
	if (!(c->pkt = av_packet_alloc()) || !(c->frame = av_frame_alloc()))
		return -ENOMEM;
	int r = 0, rr;
	while (r == 0 && (rr = av_read_frame(c->in, c->pkt)) >= 0) {
		if (c->pkt->stream_index == c->vin) {
			r = decode_packet(c, c->pkt);
			av_packet_unref(c->pkt);
		} else if (c->pkt->stream_index == c->ain) {
			/* the sound as it is: same packets, same times */
			av_packet_rescale_ts(c->pkt, c->in->streams[c->ain]->time_base,
					     c->aout->time_base);
			c->pkt->stream_index = c->aout->index;
			c->pkt->pos = -1;
			if (c->pkt->pts != AV_NOPTS_VALUE)
				c->pkt->pts += c->adelay;
			if (c->pkt->dts != AV_NOPTS_VALUE)
				c->pkt->dts += c->adelay;
			r = av_interleaved_write_frame(c->out, c->pkt) < 0 ? -EIO : 0;
		} else {
			av_packet_unref(c->pkt);
		}
	}
	if (r == 0 && rr != AVERROR_EOF)
		r = dr_errf(why, n, -EBADMSG, "the recording could not be read to its end");
	if (r == 0)
		r = decode_packet(c, NULL);
	if (r == 0)
		r = encode_frame(c, NULL);
	if (r == 0 && av_write_trailer(c->out) < 0)
		r = -EIO;
	if (r == 0)
		avio_flush(c->out_io);
	if (r < 0 && why && n && !why[0])
		dr_errf(why, n, r, "the copy could not be made: %s", strerror(-r));
	return r;
}

/* The folder of path, synced (the rename in it made durable). */
static int sync_dir_of(const char *path)
{
	char d[4300];
	snprintf(d, sizeof(d), "%s", path);
	int fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int adm_webcopy(const char *in_path, const char *out_path, char *why, size_t whylen)
{
	if (!in_path || !out_path)
		return -EINVAL;
	if (why && whylen)
		why[0] = '\0';
	char tmp[4300];
	if (strlen(out_path) + 5 > sizeof(tmp))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s.tmp", out_path);
	av_log_set_level(AV_LOG_QUIET);
	unlink(tmp);
	struct copy c = {.in_fd = -1, .out_fd = -1};
	int r = open_input(&c, in_path, why, whylen);
	if (r == 0)
		r = open_output(&c, tmp, why, whylen);
	if (r == 0)
		r = transcode(&c, why, whylen);
	if (r == 0 && fsync(c.out_fd) < 0)
		r = dr_errf(why, whylen, -errno, "cannot sync %s: %s", tmp, strerror(errno));
	bool made = c.out_fd >= 0;
	copy_free(&c);
	if (r == 0 && rename(tmp, out_path) < 0)
		r = dr_errf(why, whylen, -errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (r < 0) {
		if (made)
			unlink(tmp);
		return r;
	}
	return sync_dir_of(out_path);
}
