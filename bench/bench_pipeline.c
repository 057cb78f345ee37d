/* SPDX-License-Identifier: MIT */
/*
 * bench_pipeline: one recording through the daemon's whole pipeline, as fast
 * as the machine goes.
 *
 *   bench_pipeline INPUT.wav DATA_DIR
 *
 * The same code the daemon runs for a recording, with its default settings:
 *   dr_store_open(DATA_DIR) + dr_store_begin   the catalogue row (durable)
 *   dr_capture_open_wav(INPUT, unpaced)        the simulated microphone
 *   dr_recorder (capture thread -> ring -> encoder thread)
 *     dr_oggopus (libopus + libogg) -> dr_seal sink (sealed to a throw-away
 *     organisation, as the daemon seals to the real one) -> dr_file_sink
 *     (write + fdatasync)
 *   dr_store_finish                            hash, size, state (durable)
 * Unpaced, the WAV capture backend delivers the file as fast as it is read,
 * so the run costs what 60 s of testimony costs, without waiting 60 s.
 *
 * Prints one JSON object:
 *   {"program":"pipeline","samples":...,"lost":...,"duration_ms":...,
 *    "file":"<path>","file_bytes":...,"bytes":...,"writes":...,"syncs":...,
 *    "bitrate":...,"complexity":...,"frame_ms":...,"flush_ms":...,"ring_ms":...,
 *    "org":"<DATA_DIR>/bench-org"}
 * The throw-away organisation's keys (org.pub, org.sk) are left in
 * DATA_DIR/bench-org so that tools/bench can open the sealed file and check
 * its packets against the floor's.
 * where bytes/writes/syncs are the file sink's own counters (struct
 * dr_sink_stats): what the recording file alone cost the storage, and the
 * rest are the settings it ran with (the daemon's defaults).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "dev/audio.h"
#include "media/recorder.h"
#include "media/sink.h"
#include "seal/seal.h"
#include "store/store.h"
#include "util/evlog.h"

#define BP_PERIOD_MS 10 /* board/host's audio.period_ms */

static void utc_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fputs("usage: bench_pipeline INPUT.wav DATA_DIR\n", stderr);
		return 2;
	}
	const char *input = argv[1], *data = argv[2];
	char err[1024], id[DR_STORE_ID_LEN + 1], path[4096], utc[40];
	int status = 1, r;

	struct dr_store *store;
	if ((r = dr_store_open(data, &store, err, sizeof(err))) < 0) {
		fprintf(stderr, "bench_pipeline: %s\n", err);
		return 1;
	}
	struct dr_capture *mic;
	if ((r = dr_capture_open_wav(input, false, BP_PERIOD_MS, &mic, err, sizeof(err))) < 0) {
		fprintf(stderr, "bench_pipeline: %s\n", err);
		goto out_store;
	}
	struct dr_recorder_params p;
	dr_recorder_params_default(&p);
	struct dr_recorder *rec;
	if ((r = dr_recorder_new(mic, &p, &rec)) < 0) {
		fprintf(stderr, "bench_pipeline: recorder: %s\n", strerror(-r));
		goto out_mic;
	}
	utc_now(utc, sizeof(utc));
	if ((r = dr_store_begin(store, utc, dr_mono_ms(), id, path, sizeof(path), err, sizeof(err))) < 0) {
		fprintf(stderr, "bench_pipeline: %s\n", err);
		goto out_rec;
	}
	/* A throw-away organisation, written out for tools/bench to open the file. */
	uint8_t org_pk[32], org_sk[64];
	char org[4200], kp[4300];
	crypto_sign_keypair(org_pk, org_sk);
	snprintf(org, sizeof(org), "%s/bench-org", data);
	mkdir(org, 0700);
	for (int i = 0; i < 2; i++) {
		snprintf(kp, sizeof(kp), "%s/%s", org, i ? "org.sk" : "org.pub");
		int fd = open(kp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, i ? (void *)org_sk : (void *)org_pk, i ? 64u : 32u) != (i ? 64 : 32) ||
		    close(fd) < 0) {
			fprintf(stderr, "bench_pipeline: cannot write %s\n", kp);
			goto out_rec;
		}
	}
	struct dr_seal_key *key;
	if ((r = dr_seal_key_new(&key)) < 0) {
		fprintf(stderr, "bench_pipeline: no key: %s\n", strerror(-r));
		goto out_rec;
	}
	struct dr_sink_stats stats = {0};
	struct dr_sink sink, file;
	r = dr_file_sink_open(path, &stats, &file);
	if (r == 0)
		r = dr_seal_sink_new(file, id, org_pk, key, &sink);
	dr_seal_key_free(key);
	if (r < 0) {
		fprintf(stderr, "bench_pipeline: cannot create %s: %s\n", path, strerror(-r));
		goto out_rec;
	}
	struct dr_recording_result res;
	r = dr_recorder_record_blocking(rec, sink, id, utc, 0, &res);
	if (r < 0 || res.status < 0) {
		fprintf(stderr, "bench_pipeline: recording failed: %s\n",
			strerror(-(r < 0 ? r : res.status)));
		goto out_rec;
	}
	uint64_t duration_ms = res.samples * 1000 / DR_SAMPLE_RATE;
	if ((r = dr_store_finish(store, id, DR_REC_COMPLETE, duration_ms, "benchmark", err,
				 sizeof(err))) < 0) {
		fprintf(stderr, "bench_pipeline: %s\n", err);
		goto out_rec;
	}
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "bench_pipeline: %s: %s\n", path, strerror(errno));
		goto out_rec;
	}
	char jpath[8192];
	printf("{\"program\":\"pipeline\",\"samples\":%" PRIu64 ",\"lost\":%" PRIu64
	       ",\"duration_ms\":%" PRIu64 ",\"file\":\"%s\",\"file_bytes\":%lld,\"bytes\":%" PRIu64
	       ",\"writes\":%" PRIu64 ",\"syncs\":%" PRIu64 ",\"bitrate\":%d,\"complexity\":%d"
	       ",\"frame_ms\":%d,\"flush_ms\":%u,\"ring_ms\":%u,\"org\":\"%s\"}\n",
	       res.samples, res.lost, duration_ms, dr_evlog_str(path, jpath, sizeof(jpath)),
	       (long long)st.st_size, stats.bytes, stats.writes, stats.syncs, p.enc.bitrate,
	       p.enc.complexity, p.enc.frame_ms, p.enc.flush_ms, p.ring_ms, org);
	status = 0;
out_rec:
	dr_recorder_free(rec);
out_mic:
	dr_capture_free(mic);
out_store:
	dr_store_close(store);
	return status;
}
