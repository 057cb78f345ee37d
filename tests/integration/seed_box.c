/* SPDX-License-Identifier: MIT */
/*
 * diaryroom-seed: fills a box's data folder with finished recordings, the
 * way a week of sessions leaves it, at full speed (for the sim tests).
 *
 *   diaryroom-seed --data DIR --org-pub ORG.PUB --wav SPEECH.wav
 *                  --seconds S[,S...] [--consent STAFF/SHARE[,...]]
 *                  [--bitrate BPS] [--complexity 0..10]
 *                  [--media audio|video[,...]]
 *
 * One recording per --seconds entry, each through the real pipeline: a row
 * from dr_store_begin, the WAV (unpaced, from its start) through dr_recorder
 * into the sealing sink (a fresh recording key, sealed to the organisation
 * whose Ed25519 public key is in ORG.PUB, as the box provisions it) over a
 * durable file sink, dr_store_finish (complete, hashed: the sealed file's
 * hash, as on the box), a receipt
 * number, then the consent answers (cycled; yes, no or unanswered) as the
 * resident gave them. Prints "<id> <receipt> <size> <blake2b>" per recording.
 *
 * --media (cycled like --consent; default audio): a video is recorded as
 * the box records one with a camera (dr_store_begin_media, <id>.mkv.sealed):
 * the simulated camera (320x240, 15 fps, its frame counter in the picture)
 * and the WAV paced in real time from its start, through the recorder into
 * Matroska (H.264 + Opus), sealed. A video takes its length in real time.
 * Exit status 0, or 1 with a message on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev/audio.h"
#include "dev/camera.h"
#include "media/recorder.h"
#include "media/sink.h"
#include "seal/seal.h"
#include "store/store.h"

#define SEED_MAX 256

static void seed_now_utc(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static uint64_t seed_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int seed_consent_word(const char *w, size_t n, enum dr_consent *out)
{
	if (n == 3 && !strncmp(w, "yes", 3))
		*out = DR_CONSENT_YES;
	else if (n == 2 && !strncmp(w, "no", 2))
		*out = DR_CONSENT_NO;
	else if (n == 10 && !strncmp(w, "unanswered", 10))
		*out = DR_CONSENT_UNANSWERED;
	else
		return -EINVAL;
	return 0;
}

/* "yes/no,unanswered/unanswered,..." into pairs. */
static int seed_parse_consent(const char *arg, enum dr_consent staff[SEED_MAX],
			      enum dr_consent share[SEED_MAX], size_t *n)
{
	*n = 0;
	const char *p = arg;
	while (*p && *n < SEED_MAX) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *slash = memchr(p, '/', len);
		if (!slash || seed_consent_word(p, (size_t)(slash - p), &staff[*n]) < 0 ||
		    seed_consent_word(slash + 1, len - (size_t)(slash + 1 - p), &share[*n]) < 0)
			return -EINVAL;
		(*n)++;
		p += len + (comma ? 1 : 0);
	}
	return *n ? 0 : -EINVAL;
}

static int seed_parse_seconds(const char *arg, double secs[SEED_MAX], size_t *n)
{
	*n = 0;
	const char *p = arg;
	while (*p && *n < SEED_MAX) {
		char *end;
		double v = strtod(p, &end);
		if (end == p || v <= 0 || (*end && *end != ','))
			return -EINVAL;
		secs[(*n)++] = v;
		p = *end ? end + 1 : end;
	}
	return *n ? 0 : -EINVAL;
}

/* "audio,video,..." into media types. */
static int seed_parse_media(const char *arg, enum dr_media media[SEED_MAX], size_t *n)
{
	*n = 0;
	const char *p = arg;
	while (*p && *n < SEED_MAX) {
		size_t len = strcspn(p, ",");
		if (len == 5 && !strncmp(p, "audio", 5))
			media[(*n)++] = DR_MEDIA_AUDIO;
		else if (len == 5 && !strncmp(p, "video", 5))
			media[(*n)++] = DR_MEDIA_VIDEO;
		else
			return -EINVAL;
		p += len + (p[len] == ',');
	}
	return *n ? 0 : -EINVAL;
}

static int seed_one(struct dr_store *st, struct dr_recorder *rec, const uint8_t org_pk[32],
		    enum dr_media media, double seconds, enum dr_consent staff,
		    enum dr_consent share)
{
	char err[4400], id[DR_STORE_ID_LEN + 1], path[4096], utc[40];
	char receipt[DR_STORE_RECEIPT_LEN + 1];
	struct dr_sink sink;
	struct dr_recording_result res = {0};

	seed_now_utc(utc, sizeof(utc));
	int r = dr_store_begin_media(st, media, utc, seed_mono_ms(), id, path, sizeof(path), err,
				     sizeof(err));
	if (r < 0)
		goto err_report;
	struct dr_sink file;
	struct dr_seal_key *key = NULL;
	/* sealed from the first byte, as the box writes it (the seal sink owns
	 * the file sink, also on failure) */
	if ((r = dr_seal_key_new(&key)) == 0 && (r = dr_file_sink_open(path, NULL, &file)) == 0)
		r = dr_seal_sink_new(file, id, org_pk, key, &sink);
	if (r < 0) {
		dr_seal_key_free(key);
		snprintf(err, sizeof(err), "cannot seal %s: %s", path, strerror(-r));
		goto err_discard;
	}
	uint64_t want = (uint64_t)(seconds * 48000.0 + 0.5);
	r = dr_recorder_record_blocking(rec, sink, id, utc, want, &res);
	dr_seal_key_free(key);
	if (r == 0 && res.status < 0)
		r = res.status;
	if (r == 0 && media == DR_MEDIA_VIDEO && (!res.video || res.camera_lost))
		r = -ENODEV; /* a video without its picture is not what was asked for */
	if (r == 0 && res.samples != want)
		r = -ENODATA; /* the WAV is shorter than asked for */
	if (r < 0) {
		snprintf(err, sizeof(err), "recording %s: %s (%" PRIu64 " of %" PRIu64 " samples)", id,
			 strerror(-r), res.samples, want);
		goto err_discard;
	}
	if ((r = dr_store_finish(st, id, DR_REC_COMPLETE, res.samples * 1000 / 48000,
				 "stopped by seed", err, sizeof(err))) < 0 ||
	    (r = dr_store_assign_receipt(st, id, receipt, err, sizeof(err))) < 0 ||
	    (r = dr_store_set_consent(st, id, staff, share, "resident", err, sizeof(err))) < 0)
		goto err_report;
	struct dr_store_rec got;
	if ((r = dr_store_get(st, id, &got)) < 0) {
		snprintf(err, sizeof(err), "cannot read %s back", id);
		goto err_report;
	}
	printf("%s %s %" PRIu64 " %s\n", id, receipt, got.size, got.blake2b);
	return 0;

err_discard:
	fprintf(stderr, "diaryroom-seed: %s\n", err);
	/* not left as a recording for the daemon to "recover" */
	dr_store_discard(st, id, "seeding failed", err, sizeof(err));
	return r;
err_report:
	fprintf(stderr, "diaryroom-seed: %s\n", err);
	return r;
}

int main(int argc, char **argv)
{
	const char *data = NULL, *wav = NULL, *seconds = NULL, *consent = "yes/yes", *orgpub = NULL;
	const char *media_arg = "audio";
	int bitrate = 0, complexity = -1;
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'},    {"wav", required_argument, NULL, 'w'},
		{"seconds", required_argument, NULL, 's'}, {"consent", required_argument, NULL, 'c'},
		{"bitrate", required_argument, NULL, 'b'}, {"complexity", required_argument, NULL, 'x'},
		{"org-pub", required_argument, NULL, 'o'}, {"media", required_argument, NULL, 'm'},
		{NULL, 0, NULL, 0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd': data = optarg; break;
		case 'w': wav = optarg; break;
		case 's': seconds = optarg; break;
		case 'c': consent = optarg; break;
		case 'b': bitrate = atoi(optarg); break;
		case 'x': complexity = atoi(optarg); break;
		case 'o': orgpub = optarg; break;
		case 'm': media_arg = optarg; break;
		default: goto usage;
		}
	}
	double secs[SEED_MAX];
	enum dr_consent staff[SEED_MAX], share[SEED_MAX];
	enum dr_media media[SEED_MAX];
	size_t nsecs, ncons, nmedia;
	if (!data || !wav || !seconds || !orgpub || optind != argc || seed_parse_seconds(seconds, secs, &nsecs) < 0 ||
	    seed_parse_consent(consent, staff, share, &ncons) < 0 ||
	    seed_parse_media(media_arg, media, &nmedia) < 0)
		goto usage;
	bool any_video = false;
	for (size_t i = 0; i < nsecs; i++)
		any_video = any_video || media[i % nmedia] == DR_MEDIA_VIDEO;

	char err[512];
	int status = 1;
	uint8_t org_pk[32];
	FILE *kf = fopen(orgpub, "rbe");
	size_t kn = kf ? fread(org_pk, 1, sizeof(org_pk), kf) : 0;
	if (kf)
		fclose(kf);
	if (kn != sizeof(org_pk)) {
		fprintf(stderr, "diaryroom-seed: %s is not a 32-byte org.pub\n", orgpub);
		return 1;
	}
	struct dr_store *st = NULL;
	struct dr_capture *mic = NULL, *vmic = NULL;
	struct dr_recorder *rec = NULL, *vrec = NULL;
	struct dr_camera *cam = NULL;
	if (dr_store_open(data, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "diaryroom-seed: %s\n", err);
		return 1;
	}
	if (dr_capture_open_wav(wav, false, 10, &mic, err, sizeof(err)) < 0) {
		fprintf(stderr, "diaryroom-seed: %s\n", err);
		goto out_store;
	}
	struct dr_recorder_params p;
	dr_recorder_params_default(&p);
	if (bitrate)
		p.enc.bitrate = bitrate;
	if (complexity >= 0)
		p.enc.complexity = complexity;
	int r = dr_recorder_new(mic, &p, &rec);
	if (r < 0) {
		fprintf(stderr, "diaryroom-seed: cannot set up the recorder: %s\n", strerror(-r));
		goto out_mic;
	}
	if (any_video) {
		/* the camera and a microphone paced in real time, as in the room */
		struct dr_camera_settings cs;
		memset(&cs, 0, sizeof(cs));
		cs.backend = DR_CAMERA_SIM;
		cs.width = 320;
		cs.height = 240;
		cs.fps = 15;
		cs.format = DR_PIX_YUYV;
		if (dr_camera_open_sim(&cs, true, &cam, err, sizeof(err)) < 0 ||
		    dr_capture_open_wav(wav, true, 10, &vmic, err, sizeof(err)) < 0) {
			fprintf(stderr, "diaryroom-seed: %s\n", err);
			goto out_rec;
		}
		p.camera = cam;
		if ((r = dr_recorder_new(vmic, &p, &vrec)) < 0) {
			fprintf(stderr, "diaryroom-seed: cannot set up the video recorder: %s\n",
				strerror(-r));
			goto out_rec;
		}
	}
	status = 0;
	for (size_t i = 0; i < nsecs && !status; i++) {
		enum dr_media m = media[i % nmedia];
		status = seed_one(st, m == DR_MEDIA_VIDEO ? vrec : rec, org_pk, m, secs[i],
				  staff[i % ncons], share[i % ncons]) < 0;
	}
out_rec:
	dr_recorder_free(vrec);
	dr_camera_free(cam);
	dr_capture_free(vmic);
	dr_recorder_free(rec);
out_mic:
	dr_capture_free(mic);
out_store:
	dr_store_close(st);
	return status;

usage:
	fprintf(stderr, "usage: diaryroom-seed --data DIR --org-pub ORG.PUB --wav SPEECH.wav\n"
			"       --seconds S[,S...]\n"
			"       [--consent STAFF/SHARE[,...]] [--bitrate BPS]\n"
			"       [--complexity 0..10]   (consent words: yes, no, unanswered)\n"
			"       [--media audio|video[,...]]\n");
	return 2;
}
