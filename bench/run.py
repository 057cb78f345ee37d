#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The benchmark runner behind tools/bench (see bench/README.md).

    bench/run.py [--build DIR] [--aarch64-build DIR] [--out FILE] [--emulated] [PHASE...]

Phases: encode, writes, powercut, latency, memory, export (the default run),
and emulated (opt-in: --emulated adds it to the default run, or name it;
it boots the qemu-virt image, see --image). Prints one
JSON object per figure on stdout as it goes ({"name","value","unit",
"method",...}), progress on stderr, and writes every figure with the date,
machine, commit and input to --out (default bench/results/latest.json).
Nothing here passes or fails on a figure; the exit status is non-zero only
when a benchmark could not be run.

Run it through tools/bench, which installs the dependencies and builds
what is needed first.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True  # nothing into the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib as bl  # noqa: E402

PHASES = ("encode", "writes", "powercut", "latency", "memory", "export")
OPT_PHASES = ("emulated", "emulated_export")
SPEECH_PHASES = ("encode", "writes", "powercut", "latency", "memory")  # need the speech input  # not in the default run: minutes, and an image to build
# The daemon's encoder settings (app/media/oggopus.c, encoder_setup and
# dr_oggopus_params_default), as opusenc options. --set-ctl-int 4000=2048 is
# OPUS_SET_APPLICATION(OPUS_APPLICATION_VOIP); opusenc has no option for it.
OPUSENC_SAME = ["--quiet", "--bitrate", "32", "--vbr", "--comp", "8", "--framesize", "20",
                "--speech", "--serial", "1"]
OPUSENC_VOIP = ["--set-ctl-int", "4000=2048"]
# qemu-user guest address space pinned here, so the guest's own mappings can
# be told from the emulator's in /proc/<pid>/smaps.
GUEST_BASE = 0x200000000000
GUEST_SIZE = 0x80000000


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def run(cmd, **kw):
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


def first_line(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


class Ctx:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.abuild = os.path.abspath(args.aarch64_build)
        self.work = os.path.join(self.build, "bench-work")
        os.makedirs(self.work, exist_ok=True)
        self.bench_dir = os.path.join(self.build, "bench")
        self.daemon = os.path.join(self.build, "bin", "diaryroomd")
        self.prompts_full = os.path.join(self.build, "share", "diaryroom", "prompts", "en")
        self.prompts_short = os.path.join(self.build, "test-prompts")
        self.figures = []
        self.errors = []
        self.skipped = []
        self.image_info = None
        self.speech = None
        self.speech_sha = None
        self.seconds = args.seconds
        self.rng = random.Random(args.seed)
        self._drtest = None

    def emit(self, f):
        bl.check_figure(f)
        print(json.dumps(f), flush=True)
        self.figures.append(f)

    def skip(self, phase, why):
        """A phase that cannot run here and is not an error (no image)."""
        log(f"{phase}: skipped: {why}")
        self.skipped.append({"phase": phase, "why": why})

    def tmp(self, name):
        import tempfile
        return tempfile.mkdtemp(prefix=name + "-", dir=self.work)

    def drtest(self):
        """tests/integration/drtest.py, pointed at our build."""
        if self._drtest is None:
            os.environ["DR_BUILD_DIR"] = self.build
            os.environ["DR_SOURCE_DIR"] = SRC
            os.environ["DR_TEST_PROMPTS"] = self.prompts_short
            sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
            import drtest
            self._drtest = drtest
        return self._drtest

    def box(self, name, daemon=None, **kw):
        drtest = self.drtest()

        class BenchBox(drtest.Box):
            def argv(box):
                a = super().argv()
                a[len(box.wrapper)] = daemon or self.daemon
                return a

        kw.setdefault("root", self.tmp(name))
        return BenchBox(name, self.speech, **kw)


def stop_box(box, pid, timeout=120):
    """SIGTERM to the daemon itself (not to a wrapper such as strace), then
    wait for the wrapper or daemon we started."""
    os.kill(pid, signal.SIGTERM)
    try:
        box.proc.wait(timeout)
    finally:
        if box.proc.returncode is None:
            box.proc.kill()
            box.proc.wait()
        box.stderr.close()


# ---- encode: instructions for 60 s of speech ----

def phase_encode(ctx):
    b = ctx.bench_dir
    wav = ctx.speech
    # Same packets? The floor is only a floor if the pipeline encodes the
    # same samples with the same settings: check on native runs.
    pk = os.path.join(ctx.work, "floor.packets")
    floor = bl.one_json(run([f"{b}/bench_floor", wav, "--packets", pk], capture_output=True,
                            text=True).stdout, "floor")
    pipe = bl.one_json(run([f"{b}/bench_pipeline", wav, ctx.tmp("encode-native")],
                           capture_output=True, text=True).stdout, "pipeline")
    # The file is sealed, as on the box: open it with the throw-away
    # organisation's key (tests/integration/test_org.c) to read its packets.
    opened = os.path.join(ctx.work, "pipeline-opened.opus")
    run([os.path.join(ctx.build, "bin", "dr-test-org"), "open", pipe["org"], pipe["file"], opened],
        capture_output=True, check=True)
    ogg = bl.ogg_packets(opened)
    same = ogg[2:] == bl.floor_packets(pk)
    plain = os.path.getsize(opened)
    minutes = pipe["samples"] / 48000 / 60
    ctx.emit(bl.figure("encode.pipeline.seal_overhead_bytes_per_minute",
                       round((pipe["file_bytes"] - plain) / minutes), "bytes/min",
                       "sealed file minus the Ogg Opus it holds, per minute of audio: the "
                       "136-byte header plus 41 bytes per durable flush (24-byte clear frame "
                       "header + 17-byte secretstream tag)"))
    ctx.emit(bl.figure("encode.pipeline.packets_identical_to_floor", int(same), "bool",
                       "the Opus packets in the pipeline's Ogg file (headers left out) are "
                       "byte for byte the floor's packets: same samples, same settings"))

    oe_dir = ctx.tmp("encode-opusenc")
    jobs = {
        "floor": [f"{b}/bench_floor", wav],
        "pipeline": [f"{b}/bench_pipeline", wav, ctx.tmp("encode-callgrind")],
        "opusenc": ["opusenc"] + OPUSENC_SAME + OPUSENC_VOIP + [wav, f"{oe_dir}/voip.opus"],
        "opusenc_default_app": ["opusenc"] + OPUSENC_SAME + [wav, f"{oe_dir}/audio.opus"],
    }
    outs = {k: os.path.join(ctx.work, f"callgrind.{k}.out") for k in jobs}

    def grind(k):
        t0 = time.monotonic()
        run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outs[k]] + jobs[k],
            capture_output=True)
        log(f"  callgrind {k}: {time.monotonic() - t0:.0f} s")

    workers = max(1, min(len(jobs), len(os.sched_getaffinity(0))))
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        list(ex.map(grind, jobs))

    total = {k: bl.callgrind_total(outs[k]) for k in jobs}
    inc = {k: bl.callgrind_inclusive(outs[k]) for k in jobs}
    secs = floor["samples"] / bl.RATE
    how = (f"valgrind --tool=callgrind, instructions (Ir) of the whole process, all threads, "
           f"start-up to exit; {secs:g} s of espeak-ng speech, 48 kHz mono 16-bit")
    ctx.emit(bl.figure("encode.floor.instructions", total["floor"], "instructions",
                       how + "; bench_floor: libopus only, opus_encode per 20 ms frame, "
                       "daemon settings, PCM read into memory first"))
    ctx.emit(bl.figure("encode.pipeline.instructions", total["pipeline"], "instructions",
                       how + "; bench_pipeline: WAV capture backend (unpaced) -> ring -> "
                       "dr_oggopus -> durable file sink, dr_store_open/begin/finish in a "
                       "fresh data folder"))
    ctx.emit(bl.figure("encode.opusenc.instructions", total["opusenc"], "instructions",
                       how + "; opusenc " + " ".join(OPUSENC_SAME + OPUSENC_VOIP) +
                       " (application VOIP like the daemon)"))
    ctx.emit(bl.figure("encode.opusenc_default_app.instructions", total["opusenc_default_app"],
                       "instructions", how + "; opusenc " + " ".join(OPUSENC_SAME) +
                       " (opusenc's own application, AUDIO)"))
    for k in ("pipeline", "opusenc", "opusenc_default_app"):
        ctx.emit(bl.figure(f"encode.{k}.ratio_to_floor", total[k] / total["floor"], "x",
                           f"encode.{k}.instructions / encode.floor.instructions, same run"))
    ctx.emit(bl.figure("encode.pipeline.instructions_per_audio_second",
                       total["pipeline"] / secs, "instructions/s",
                       "encode.pipeline.instructions / seconds of audio"))
    # Where the difference goes.
    enc_fn = {"floor": "opus_encode", "pipeline": "opus_encode",
              "opusenc": "opus_multistream_encode_float",
              "opusenc_default_app": "opus_multistream_encode_float"}
    for k, fn in enc_fn.items():
        if fn in inc[k]:
            ctx.emit(bl.figure(f"encode.{k}.outside_encoder_instructions",
                               total[k] - inc[k][fn], "instructions",
                               f"whole process minus the inclusive cost of {fn} "
                               "(callgrind_annotate --inclusive=yes)"))
    parts = {
        "catalogue": ("dr_store_open", "dr_store_begin", "dr_store_finish", "dr_store_close"),
        "capture_thread": ("capture_main",),
        "loader": ("_dl_start",),
    }
    ip = inc["pipeline"]
    for part, fns in parts.items():
        if all(f in ip for f in fns):
            ctx.emit(bl.figure(f"encode.pipeline.{part}_instructions", sum(ip[f] for f in fns),
                               "instructions", "inclusive cost of " + " + ".join(fns)))
    if "encoder_main" in ip and "opus_encode" in ip:
        ctx.emit(bl.figure("encode.pipeline.encoder_thread_besides_opus_instructions",
                           ip["encoder_main"] - ip["opus_encode"], "instructions",
                           "inclusive encoder_main minus inclusive opus_encode: ring reads, "
                           "libogg, page gathering, write(2)/fdatasync calls"))
    ctx.emit(bl.figure("encode.floor.packet_bytes", floor["packet_bytes"], "bytes",
                       "sum of the floor's Opus packet sizes (no container)"))
    ctx.emit(bl.figure("encode.pipeline.file_bytes", pipe["file_bytes"], "bytes",
                       "size of the pipeline's .opus file"))
    ctx.emit(bl.figure("encode.opusenc.file_bytes", os.path.getsize(f"{oe_dir}/voip.opus"),
                       "bytes", "size of opusenc's .opus file (application VOIP)"))


# ---- writes: bytes and syncs per minute ----

STRACE_IO = "trace=write,pwrite64,writev,pwritev,pwritev2,fsync,fdatasync,sync_file_range"


def phase_writes(ctx):
    b = ctx.bench_dir
    data = ctx.tmp("writes")
    # The recording file: the sink's own counters over 60 s of speech. The
    # first run makes the catalogue; the second is a box in service.
    run([f"{b}/bench_pipeline", ctx.speech, data], capture_output=True)
    p = run([f"{b}/bench_pipeline", ctx.speech, data], capture_output=True, text=True)
    pipe = bl.one_json(p.stdout, "pipeline")
    per_min = 60000 / pipe["duration_ms"]
    how = (f"bench_pipeline (the daemon's recorder, encoder and file sink, default settings: "
           f"{pipe['bitrate']} bit/s, complexity {pipe['complexity']}, {pipe['frame_ms']} ms "
           f"frames, flush_ms {pipe['flush_ms']}), one {pipe['duration_ms'] / 1000:g} s "
           "recording of speech; the file sink's own counters (struct dr_sink_stats)")
    ctx.emit(bl.figure("writes.recording.bytes_per_min", pipe["bytes"] * per_min, "bytes/min",
                       how))
    ctx.emit(bl.figure("writes.recording.fdatasync_per_min", pipe["syncs"] * per_min,
                       "calls/min", how))
    ctx.emit(bl.figure("writes.recording.write_calls_per_min", pipe["writes"] * per_min,
                       "calls/min", how))
    if not shutil.which("strace"):
        raise RuntimeError("strace is not installed: the cross-checks below need it")
    trace = os.path.join(ctx.work, "pipeline.strace")
    run(["strace", "-f", "-y", "-s", "0", "-o", trace, "-e", STRACE_IO,
         f"{b}/bench_pipeline", ctx.speech, data], capture_output=True)
    rec = bl.io_summary(bl.strace_io(trace)).get("recording", bl.empty_io())
    ctx.emit(bl.figure("writes.recording.fdatasync_per_min_strace", rec["fdatasync"] * per_min,
                       "calls/min", how.split(";")[0] + "; strace -f -y: fdatasync(2) calls on "
                       "the .opus file (cross-check of the sink's counters)"))

    # The whole box: one session of the daemon itself, between the press
    # that starts it and its return to idle, with a catalogue already there.
    secs = 10
    trace = os.path.join(ctx.work, "daemon.strace")
    box = ctx.box("bench-writes", prompts=ctx.prompts_short, wrapper=[
        "strace", "-f", "-y", "-s", "400", "-o", trace, "-e", STRACE_IO])
    run([f"{b}/bench_pipeline", ctx.speech, box.data], capture_output=True)
    box.start(timeout=60)
    pid = box.wait_for("ready", since=0)["pid"]
    box.press()
    box.wait_for("recording_started", timeout=60)
    time.sleep(secs)
    box.press()
    fin = box.wait_for("recording_finalised", timeout=60)
    box.wait_for("state", to="idle", timeout=300)
    stop_box(box, pid)
    calls = bl.strace_window(bl.strace_io(trace), '\\"to\\":\\"welcome\\"',
                             '\\"to\\":\\"idle\\"')
    io = bl.io_summary(calls)
    dur_min = fin["duration_ms"] / 60000
    how = (f"strace -f -y on diaryroomd (simulated board, short prompt pack, a catalogue "
           f"already there): one session with a {fin['duration_ms'] / 1000:.1f} s recording, "
           "from the state change to welcome to the return to idle")
    z = bl.empty_io()
    r = io.get("recording", z)
    ctx.emit(bl.figure("writes.session.recording_fdatasync_per_min", r["fdatasync"] / dur_min,
                       "calls/min", how + f"; the sink itself counted {fin['syncs']}",
                       sink_counted=fin["syncs"], traced=r["fdatasync"]))
    ctx.emit(bl.figure("writes.session.recording_bytes_per_min", r["bytes"] / dur_min,
                       "bytes/min", how))
    ctx.emit(bl.figure("writes.session.recording_fsync_by_catalogue", r["fsync"], "calls",
                       how + "; fsync(2) of the finished .opus file by dr_store_finish"))
    for cat in ("catalogue", "directory", "event_log"):
        c = io.get(cat, z)
        ctx.emit(bl.figure(f"writes.session.{cat}_syncs", c["syncs"], "calls",
                           how + "; fsync + fdatasync"))
        if cat != "directory":
            ctx.emit(bl.figure(f"writes.session.{cat}_bytes", c["bytes"], "bytes", how))
            ctx.emit(bl.figure(f"writes.session.{cat}_write_calls", c["writes"], "calls", how))
    storage = [k for k in io if k not in ("other", "speaker")]
    ctx.emit(bl.figure("writes.session.storage_syncs", sum(io[k]["syncs"] for k in storage),
                       "calls", how + "; every fsync/fdatasync on the data folder and event log "
                       "(" + ", ".join(sorted(storage)) + ")"))


# ---- powercut: audio lost at a SIGKILL ----

def phase_powercut(ctx):
    drtest = ctx.drtest()
    n = ctx.args.cuts
    rng = random.Random(ctx.args.seed)
    root = ctx.tmp("powercut")
    data = os.path.join(root, "data")
    cuts = []
    for i in range(n):
        box = ctx.box("bench-powercut", root=root, data=data, prompts=ctx.prompts_short)
        box.start(timeout=60)
        box.press()
        started = box.wait_for("recording_started", timeout=60)
        time.sleep(rng.uniform(0.2, 4.0))
        t_cut = time.monotonic()
        box.kill()
        cuts.append((started["id"], t_cut - started["t_us"] / 1e6))
    last = ctx.box("bench-powercut", root=root, data=data, prompts=ctx.prompts_short)
    last.start(timeout=60)  # recovers the last cut before "ready"
    last.terminate()
    rows = {r["id"]: r for r in last.catalogue()}
    losses, valid = [], 0
    for rid, captured in cuts:
        row = rows.get(rid)
        kept = 0.0
        if row and row["state"] == "interrupted":
            path = row["file"] if row["file"].startswith("/") else os.path.join(data, row["file"])
            try:
                drtest.opusinfo_clean(path)
                valid += 1
            except AssertionError as e:
                log(f"  cut {rid}: {e}")
            kept = len(drtest.decode(path)) / bl.RATE
        losses.append(captured - kept)
    s = bl.stats(losses)
    how = (f"{n} SIGKILLs of diaryroomd at random points 0.2-4 s into a recording "
           "(simulated board), restart, recovery; loss = time from recording_started to the "
           "kill minus the length opusdec decodes from the repaired file (as "
           "tests/integration/test_power_cut.py). SIGKILL keeps the page cache: this is what "
           "the daemon had written, not what a disk kept")
    ctx.emit(bl.figure("powercut.loss_max_s", s["max"], "s", how, n=n))
    ctx.emit(bl.figure("powercut.loss_mean_s", s["mean"], "s", how, n=n))
    ctx.emit(bl.figure("powercut.loss_median_s", s["median"], "s", how, n=n))
    ctx.emit(bl.figure("powercut.files_valid", valid, "files",
                       f"of {n}: repaired files opusinfo accepts without a warning", n=n))


# ---- latency on the simulated board ----

def phase_latency(ctx):
    n = ctx.args.sessions
    rng = random.Random(ctx.args.seed + 1)
    root = ctx.tmp("latency")
    data = os.path.join(root, "data")
    for _ in range(n):
        # A fresh daemon per session, stopped once the recording is in the
        # catalogue: what comes after (consent questions, receipt) takes
        # half a minute and none of these latencies.
        box = ctx.box("bench-latency", root=root, data=data, prompts=ctx.prompts_short)
        box.start(timeout=60)
        time.sleep(rng.uniform(0.2, 0.6))
        box.press()
        box.wait_for("recording_started", timeout=60)
        time.sleep(2.5)  # past min_length_ms, so the recording is kept
        box.press()
        box.wait_for("recording_finalised", timeout=60)
        box.terminate()
    lat = bl.latencies(bl.read_events(os.path.join(root, "events.jsonl")))
    how = (f"wall clock (CLOCK_MONOTONIC) on a shared machine, indicative only: {n} sessions "
           "of diaryroomd on the simulated board (FIFO button, WAV microphone and speaker), "
           "from its event log")
    what = {
        "button_to_light": "button down edge (t_us of the button event) to the next light "
                           "event; both the start and the stop press",
        "button_to_first_played": "button edge that starts a session to the welcome's "
                                  "prompt_done.started_us (its first sample played)",
        "beep_end_to_recording_started": "beep prompt_done.ended_us to the recording_started "
                                         "event (the catalogue row is made in between)",
        "beep_end_to_first_captured": "beep prompt_done.ended_us to "
                                      "recording_finalised.first_sample_us (the first "
                                      "captured sample that is in the file)",
    }
    for k, v in lat.items():
        if not v:
            raise RuntimeError(f"no {k} latencies in the event log")
        s = bl.stats([x / 1000 for x in v])
        ctx.emit(bl.figure(f"latency.{k}.median_ms", s["median"], "ms", how + "; " + what[k],
                           n=s["n"]))
        ctx.emit(bl.figure(f"latency.{k}.max_ms", s["max"], "ms", how + "; " + what[k],
                           n=s["n"]))


# ---- memory: peak RSS through a full session ----

def memory_session(ctx, label, daemon, wrapper, guest):
    """Peak RSS of one daemon through one whole session. VmHWM (the kernel's
    high-water mark of this process's own memory) is read every 100 ms
    until the process is gone. Not wait4's ru_maxrss: Linux carries that
    over exec from the forked parent, so it would report Python's size."""
    box = ctx.box("bench-memory-" + label, daemon=daemon, wrapper=wrapper,
                  prompts=ctx.prompts_full)
    box.start(timeout=300)
    pid = box.wait_for("ready", since=0)["pid"]
    res = {"at_ready": bl.proc_status_kib(pid, "VmHWM"), "peak": 0, "guest_peak": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            h = bl.proc_status_kib(pid, "VmHWM")
            if h is None:
                break
            res["peak"] = max(res["peak"], h)
            if guest:
                g = bl.smaps_rss_in_range_kib(pid, GUEST_BASE, GUEST_BASE + GUEST_SIZE)
                res["guest_peak"] = max(res["guest_peak"], g or 0)
            stop.wait(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        # One whole session: welcome, beep, the testimony, consent
        # questions (unanswered), receipt, back to idle.
        box.press()
        box.wait_for("recording_started", timeout=180)
        time.sleep(ctx.seconds)
        box.press()
        box.wait_for("recording_finalised", timeout=180)
        box.wait_for("state", to="idle", timeout=600)
    finally:
        stop_box(box, pid)
        stop.set()
        t.join()
    return res


def qemu_idle_kib(qemu, idle):
    """VmHWM of qemu-aarch64 running a guest that only sleeps."""
    p = subprocess.Popen(qemu + [idle, "3000"])
    try:
        time.sleep(1.5)
        return bl.proc_status_kib(p.pid, "VmHWM")
    finally:
        p.kill()
        p.wait()


def phase_memory(ctx):
    adaemon = os.path.join(ctx.abuild, "bin", "diaryroomd")
    qemu = ["qemu-aarch64", "-L", "/", "-B", hex(GUEST_BASE), "-R", hex(GUEST_SIZE)]
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        fh = ex.submit(memory_session, ctx, "host", ctx.daemon, [], False)
        fa = ex.submit(memory_session, ctx, "aarch64", adaemon, qemu, True) \
            if os.path.exists(adaemon) else None
        host = fh.result()
        arm = fa.result() if fa else None
    how = (f"diaryroomd on the simulated board with the English prompt pack, one whole "
           f"session (welcome, a {ctx.seconds:g} s recording, consent questions left "
           "unanswered, receipt, idle), start to exit")
    ctx.emit(bl.figure("memory.host.peak_rss_kib", host["peak"], "KiB",
                       how + "; VmHWM of the process read every 100 ms until it exits, "
                       "x86_64 build"))
    ctx.emit(bl.figure("memory.host.peak_rss_at_ready_kib", host["at_ready"], "KiB",
                       how + "; VmHWM when the ready event came, before any session"))
    if arm is None:
        raise RuntimeError(f"{adaemon} is missing: build the aarch64 preset first")
    ctx.emit(bl.figure("memory.aarch64.guest_peak_rss_kib", arm["guest_peak"], "KiB",
                       how + "; aarch64 build under " + " ".join(qemu) + ": the guest's "
                       "address space is pinned at -B, and this is the largest sum of Rss "
                       "over the mappings inside it (the daemon's own pages: heap, stacks, "
                       "its binary and aarch64 libraries), sampled every 100 ms. Closest "
                       "to the RSS the daemon would have on an aarch64 board"))
    ctx.emit(bl.figure("memory.aarch64.qemu_process_peak_rss_kib", arm["peak"], "KiB",
                       how + "; VmHWM of the qemu-aarch64 process: emulator, translated "
                       "code and guest together. Not the board's figure"))
    idle = os.path.join(ctx.abuild, "bench", "bench_idle")
    if os.path.exists(idle):
        ctx.emit(bl.figure("memory.aarch64.qemu_idle_peak_rss_kib", qemu_idle_kib(qemu, idle),
                           "KiB", "VmHWM of " + " ".join(qemu) + " running bench_idle (a "
                           "sleep): what the emulator costs before any of our code"))


# ---- export: export + verification against cp + sync ----

def syncfs(path):
    """sync -f: flushes the filesystem that holds path (syncfs(2))."""
    run(["sync", "-f", path])


def export_figures(bench_dir, work, stick_root, emit, files, mib, repeats, cg_files, cg_mib,
                   callgrind=True, stick_where="on the same filesystem"):
    """The export benchmark (bench/README.md, "export"): `repeats` rounds of
    cp + sync, the export and the copy-and-verify loop on the same files,
    timed in one run; then, under callgrind, the export against a plain
    copy loop and the copy-and-verify loop on a smaller set. Figures go to
    emit(). The source data lives in work, the copies in stick_root."""
    prog = os.path.join(bench_dir, "bench_export")
    import tempfile

    def tmp(name, where=work):
        return tempfile.mkdtemp(prefix=name + "-", dir=where)

    def bench(*a):
        p = run([prog] + list(a), capture_output=True, text=True)
        obj = bl.one_json(p.stdout, a[0] if a[0] != "copy" or "--verify" not in a
                          else "copy_verify")
        return obj

    src = os.path.join(tmp("export-src"), "box")
    prep = bench("prepare", src, "--files", str(files), "--mib", str(mib))
    recs = os.path.join(src, "data", "recordings")
    names = sorted(n for n in os.listdir(recs) if n.endswith((".opus", ".opus.sealed")))
    if len(names) != files:
        raise RuntimeError(f"prepare made {len(names)} recordings, not {files}")
    nbytes = prep["bytes"]
    runs = {"cp_sync": [], "export": [], "copy_verify": [], "cp_sync_readback": []}

    def cp_sync_readback(i, back):
        """cp + sync of the files while the copies the export just wrote
        (`back`, synced, so on the device) are read from the device with
        O_DIRECT (dd iflag=direct, 1 MiB), no hash: the device's share of
        any copy whose every byte is read back from the device."""
        to = tmp(f"cpr{i}", stick_root)
        syncfs(work)
        syncfs(to)
        t0 = time.monotonic()
        rd = [subprocess.Popen(["dd", "if=" + f, "of=/dev/null", "bs=1M", "iflag=direct",
                                "status=none"]) for f in back[:1]]
        rest = back[1:]
        cpp = subprocess.Popen(["cp"] + [os.path.join(recs, n) for n in names] + [to])
        while rd:
            if rd[0].wait() != 0:
                raise RuntimeError("dd iflag=direct failed (no O_DIRECT on this filesystem?)")
            rd = [subprocess.Popen(["dd", "if=" + rest.pop(0), "of=/dev/null", "bs=1M",
                                    "iflag=direct", "status=none"])] if rest else []
        if cpp.wait() != 0:
            raise RuntimeError("cp failed")
        run(["sync", "-f", to])
        return time.monotonic() - t0

    for i in range(repeats):
        # cp + sync: the same files, one cp, one sync of the target's
        # filesystem. Dirty data of the previous round is flushed first.
        to = tmp(f"cp{i}", stick_root)
        syncfs(work)
        syncfs(to)
        t0 = time.monotonic()
        run(["cp"] + [os.path.join(recs, n) for n in names] + [to])
        run(["sync", "-f", to])
        runs["cp_sync"].append(time.monotonic() - t0)
        syncfs(to)
        stick = os.path.join(tmp(f"stick{i}", stick_root), "mnt")
        ex = bench("export", src, stick)
        if ex["files"] != files or ex["bytes"] != nbytes:
            raise RuntimeError(f"the export did not export everything: {ex}")
        runs["export"].append(ex["seconds"])
        exp = os.path.join(stick, "DIARYRM", "export")
        back = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(exp) for f in fs
                      if f.endswith(".opus.sealed"))
        if len(back) != files:
            raise RuntimeError(f"the export left {len(back)} copies, not {files}")
        runs["cp_sync_readback"].append(cp_sync_readback(i, back))
        syncfs(work)
        cv = bench("copy", src, os.path.join(tmp(f"cv{i}", stick_root), "to"), "--verify")
        if cv["files"] != files or cv["bytes"] != nbytes:
            raise RuntimeError(f"the copy-and-verify loop did not copy everything: {cv}")
        runs["copy_verify"].append(cv["seconds"])
    s = {k: bl.stats(v) for k, v in runs.items()}
    pairs = [e / c for e, c in zip(runs["export"], runs["cp_sync"])]
    floor_pairs = [f / c for f, c in zip(runs["cp_sync_readback"], runs["cp_sync"])]
    where = (f"{files} files x {mib} MiB of random bytes ({nbytes:,} bytes) from a data "
             f"folder to new folders {stick_where}; wall clock (CLOCK_MONOTONIC), "
             f"median of {repeats} rounds, each round cp + sync, export, cp + sync with a "
             "concurrent read-back, copy-and-verify back to back")
    rounds = {k: [round(x, 4) for x in v] for k, v in runs.items()}
    emit(bl.figure("export.files", files, "files", where))
    emit(bl.figure("export.bytes", nbytes, "bytes", where))
    emit(bl.figure("export.cp_sync.seconds", s["cp_sync"]["median"], "s",
                   where + "; cp of the files into a new folder, then sync -f on its "
                   "filesystem (syncfs: what sync does, for that filesystem only)",
                   n=repeats, min=round(min(runs["cp_sync"]), 6), max=round(s["cp_sync"]["max"], 6),
                   runs=rounds["cp_sync"]))
    emit(bl.figure("export.export_verify.seconds", s["export"]["median"], "s",
                   where + "; bench_export export: dr_export_begin + dr_export_step to the "
                   "end, to a fresh staff stick folder: each file written, written out "
                   "(sync_file_range), dropped from the page cache, read back (O_DIRECT), BLAKE2b compared with "
                   "the catalogue's, renamed and synced, by four verifier threads while the "
                   "next file is written; the signed manifest", n=repeats,
                   min=round(min(runs["export"]), 6), max=round(s["export"]["max"], 6), runs=rounds["export"]))
    emit(bl.figure("export.copy_verify.seconds", s["copy_verify"]["median"], "s",
                   where + "; bench_export copy --verify: a plain loop, read/write 1 MiB "
                   "chunks, fdatasync, drop the pages, read back, BLAKE2b (no catalogue, "
                   "no manifest)", n=repeats, min=round(min(runs["copy_verify"]), 6),
                   max=round(s["copy_verify"]["max"], 6), runs=rounds["copy_verify"]))
    emit(bl.figure("export.export_verify.ratio_to_cp_sync", statistics.median(pairs), "x",
                   "median over the rounds of export_verify.seconds / cp_sync.seconds of the "
                   "same round; " + where, n=repeats, pairs=[round(x, 4) for x in pairs]))
    emit(bl.figure("export.cp_sync_readback.seconds", s["cp_sync_readback"]["median"], "s",
                   where + "; cp + sync -f as in cp_sync while dd iflag=direct bs=1M reads the "
                   "export's synced copies from the device, one after another (no hash): what "
                   "the device alone costs a copy whose every byte is read back from it",
                   n=repeats, min=round(min(runs["cp_sync_readback"]), 6),
                   max=round(s["cp_sync_readback"]["max"], 6), runs=rounds["cp_sync_readback"]))
    emit(bl.figure("export.cp_sync_readback.ratio_to_cp_sync", statistics.median(floor_pairs),
                   "x", "median over the rounds of cp_sync_readback.seconds / cp_sync.seconds "
                   "of the same round: the floor of export_verify.ratio_to_cp_sync on this "
                   "device (reading back every byte, with perfect overlap and a free hash)",
                   n=repeats, pairs=[round(x, 4) for x in floor_pairs]))
    emit(bl.figure("export.export_verify.mb_per_s", nbytes / 1e6 / s["export"]["median"],
                   "MB/s", "export.bytes / export.export_verify.seconds (median)"))
    emit(bl.figure("export.cp_sync.mb_per_s", nbytes / 1e6 / s["cp_sync"]["median"], "MB/s",
                   "export.bytes / export.cp_sync.seconds (median)"))

    if not callgrind:
        return
    if not shutil.which("valgrind"):
        raise RuntimeError("valgrind is not installed: the instruction counts need it")
    src = os.path.join(tmp("export-cg-src"), "box")
    prep = bench("prepare", src, "--files", str(cg_files), "--mib", str(cg_mib))
    jobs = {
        "export": ["export", src, os.path.join(tmp("cg-stick", stick_root), "mnt")],
        "copy": ["copy", src, os.path.join(tmp("cg-copy", stick_root), "to")],
        "copy_verify": ["copy", src, os.path.join(tmp("cg-cv", stick_root), "to"), "--verify"],
    }
    outs = {k: os.path.join(work, f"callgrind.export-{k}.out") for k in jobs}

    def grind(k):
        run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outs[k], prog] + jobs[k],
            capture_output=True)

    workers = max(1, min(len(jobs), len(os.sched_getaffinity(0))))
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        list(ex.map(grind, jobs))
    total = {k: bl.callgrind_total(outs[k]) for k in jobs}
    how = (f"valgrind --tool=callgrind, instructions (Ir) in user space of the whole process "
           f"(start-up to exit; the kernel's copying and the disk are not counted), "
           f"{cg_files} files x {cg_mib} MiB ({prep['bytes']:,} bytes)")
    emit(bl.figure("export.callgrind.export_instructions", total["export"], "instructions",
                   how + "; bench_export export: catalogue and keys opened, token checked, "
                   "every file copied, synced, read back and hashed, marked in the "
                   "catalogue, the manifest signed"))
    emit(bl.figure("export.callgrind.copy_instructions", total["copy"], "instructions",
                   how + "; bench_export copy: read/write in 1 MiB chunks, fdatasync per "
                   "file, nothing else"))
    emit(bl.figure("export.callgrind.copy_verify_instructions", total["copy_verify"],
                   "instructions", how + "; bench_export copy --verify: the copy loop plus "
                   "reading each file back and BLAKE2b-256 over it: the floor of a verified "
                   "copy"))
    emit(bl.figure("export.callgrind.ratio_to_copy_verify",
                   total["export"] / total["copy_verify"], "x",
                   "export.callgrind.export_instructions / copy_verify_instructions, same run"))
    emit(bl.figure("export.callgrind.ratio_to_copy", total["export"] / total["copy"], "x",
                   "export.callgrind.export_instructions / copy_instructions, same run (the "
                   "plain loop's user-space work is almost nothing: this is mostly BLAKE2b)"))
    emit(bl.figure("export.callgrind.export_instructions_per_byte",
                   total["export"] / prep["bytes"], "instructions/byte",
                   "export.callgrind.export_instructions / bytes exported"))
    emit(bl.figure("export.callgrind.besides_verify_instructions_per_file",
                   (total["export"] - total["copy_verify"]) / cg_files, "instructions",
                   "(export_instructions - copy_verify_instructions) / files: the catalogue, "
                   "token, manifest and signing, per file"))


def phase_export(ctx):
    a = ctx.args
    stick_root = os.path.abspath(a.stick_dir) if a.stick_dir else ctx.tmp("export")
    work = ctx.tmp("export")
    try:
        export_figures(ctx.bench_dir, work, stick_root, ctx.emit, a.export_files, a.export_mib,
                       a.export_rounds, 20, 1, stick_where=f"in {stick_root}" if a.stick_dir
                       else "on the same filesystem (the build folder's)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not a.stick_dir:
            shutil.rmtree(stick_root, ignore_errors=True)


# ---- emulated: boot to ready on the emulated board ----

def load_emulate():
    """tools/emulate as a module (it has no .py name), as tests/emulated do."""
    import importlib.machinery
    import importlib.util
    path = os.path.join(SRC, "tools", "emulate")
    loader = importlib.machinery.SourceFileLoader("dr_emulate", path)
    spec = importlib.util.spec_from_loader("dr_emulate", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


IMAGE_HOWTO = ("build one with `python3 firmware/build-image qemu-virt --out DIR` (minutes; "
               "add `--app build/aarch64 --no-app-build` to use an aarch64 build as it is) "
               "and pass `--image DIR` (default build/firmware/qemu-virt, or "
               "$DR_EMULATED_IMAGE)")


def emulated_image(args):
    return os.path.abspath(args.image or os.environ.get("DR_EMULATED_IMAGE") or
                           os.path.join(SRC, "build", "firmware", "qemu-virt"))


def phase_emulated(ctx):
    image = emulated_image(ctx.args)
    if not os.path.exists(os.path.join(image, "image.json")):
        ctx.skip("emulated", f"no image in {image}: " + IMAGE_HOWTO)
        return
    if not shutil.which("qemu-system-aarch64"):
        ctx.skip("emulated", "qemu-system-aarch64 is not installed (tools/install-deps)")
        return
    emulate = load_emulate()
    n = ctx.args.boots
    rundir = ctx.tmp("emulated")
    emu = emulate.Emulator(image=image, run=rundir, fresh=True)
    emu.dtb()  # made once, before any boot is timed
    boots = []  # (guest s, host s), the first boot of a fresh image first
    charts = []  # the boot charts of the boots in service (emulib.boot_chart)
    emulib = sys.modules["emulib"]  # imported by tools/emulate
    done = False
    try:
        for i in range(n + 1):
            ready = emu.boot(timeout=600)
            boots.append((ready["t_us"] / 1e6, emu.t_ready - emu.t_boot))
            log(f"  boot {i}: ready at {boots[-1][0]:.2f} s guest, {boots[-1][1]:.2f} s host"
                + (" (first boot of the image)" if i == 0 else ""))
            emu.wait_agent()  # once the boot's late part is done (rcS.late)
            rc, text = emu.shell("cat /run/diaryroom/boot-chart")
            if rc == 0 and i > 0:
                charts.append(emulib.boot_chart(text, boots[-1][0]))
            emu.poweroff(timeout=180)
        done = True
    finally:
        if emu.running():
            emu.power_cut()
        if done:
            shutil.rmtree(rundir, ignore_errors=True)  # a disk image; kept on failure
        else:
            log(f"  the boots' console and event logs are in {rundir}")
    with open(os.path.join(image, "image.json")) as f:
        info = json.load(f)
    machine = (f"{emu.machine}, {emu.cpu}, {emu.smp} CPUs, {emu.memory} MiB, "
               "qemu-system-aarch64 TCG (no KVM)")
    how = (f"tools/emulate's Emulator on the qemu-virt image ({machine}); "
           f"{n} boots of a box in service (each after an orderly poweroff, "
           "tools/emulate poweroff), after one first boot of a fresh copy of the image")
    guest = [g for g, _ in boots[1:]]
    host = [h for _, h in boots[1:]]
    for clock, v, what in (
            ("guest", guest, "the ready event's t_us (the guest's CLOCK_MONOTONIC: from "
             "about the kernel's start)"),
            ("host", host, "host CLOCK_MONOTONIC from QEMU's start (after the disk server "
             "is up) to the ready event read from the event-log port (polled every 20 ms)")):
        for k, val in (("median", statistics.median(v)), ("min", min(v)), ("max", max(v))):
            ctx.emit(bl.figure(f"emulated.boot_to_ready.{clock}_{k}_s", val, "s",
                               how + "; " + what, n=len(v), boots=[round(x, 3) for x in v]))
    ctx.emit(bl.figure("emulated.first_boot_to_ready.guest_s", boots[0][0], "s",
                       how + "; the first boot of the fresh image, guest clock"))
    ctx.emit(bl.figure("emulated.first_boot_to_ready.host_s", boots[0][1], "s",
                       how + "; the first boot of the fresh image, host clock"))
    if charts:
        # the boot chart: each step's median duration (guest clock), the
        # steps up to the daemon's ready; the late part's only its end
        for i, c in enumerate(emulate.chart_medians(charts)):
            slug = re.sub(r"[^a-z0-9]+", "_", c["step"].lower()).strip("_")
            what = ("median time of this step, from the step before it" if c["step_s"] is not None
                    else "median uptime at its end (after the daemon's ready)")
            ctx.emit(bl.figure(f"emulated.boot_chart.{i:02d}_{slug}_s",
                               c["step_s"] if c["step_s"] is not None else c["end_s"], "s",
                               how + "; boot chart (/run/diaryroom/boot-chart, guest uptime): " + what,
                               n=len(charts)))
    ctx.image_info = {k: info.get(k) for k in ("board", "version", "kernel", "disk_id")}
    ctx.image_info["path"] = image


def phase_emulated_export(ctx):
    """The export against cp + sync on a model of a USB stick, on the
    emulated board (bench/stick_emulated.py)."""
    image = emulated_image(ctx.args)
    if not os.path.exists(os.path.join(image, "image.json")):
        ctx.skip("emulated_export", f"no image in {image}: " + IMAGE_HOWTO)
        return
    if not shutil.which("qemu-system-aarch64"):
        ctx.skip("emulated_export", "qemu-system-aarch64 is not installed (tools/install-deps)")
        return
    import stick_emulated
    stick_emulated.run_phase(ctx, load_emulate(), image, os.path.abspath(ctx.args.aarch64_build), log)


# ---- the run ----

def machine():
    cpu = None
    mem = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model", "Hardware")) and not cpu:
                    cpu = line.split(":", 1)[1].strip()
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1])
    except OSError:
        pass
    osname = None
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "arch": platform.machine(),
        "kernel": platform.release(),
        "os": osname,
        "memory_kib": mem,
        "tools": {
            "cc": first_line(["cc", "--version"]),
            "libopus": first_line(["pkg-config", "--modversion", "opus"]),
            "opusenc": first_line(["opusenc", "--version"]),
            "valgrind": first_line(["valgrind", "--version"]),
            "qemu": first_line(["qemu-aarch64", "--version"]),
            "qemu-system": first_line(["qemu-system-aarch64", "--version"]),
            "espeak-ng": first_line(["espeak-ng", "--version"]),
        },
    }


def git_info():
    def g(*a):
        p = subprocess.run(["git", "-C", SRC] + list(a), capture_output=True, text=True)
        return p.stdout.strip() if p.returncode == 0 else None
    status = g("status", "--porcelain")
    return {"commit": g("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


NOT_MEASURED = [
    {"name": "memory.camera_on", "why": "there is no camera pipeline yet"},
    {"name": "export.usb_stick", "why": "the export figures are to a folder on the build "
     "machine's disk and (emulated_export) to throttled models of a stick on the emulated "
     "board; none has been taken on a real USB stick yet (tools/bench export --stick-dir DIR)"},
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("phases", nargs="*", metavar="PHASE",
                    help="one of " + ", ".join(PHASES + OPT_PHASES) + " (default: all but "
                    + ", ".join(OPT_PHASES) + ")")
    ap.add_argument("--emulated", action="store_true",
                    help="add the emulated-board boot (phase emulated) to the run")
    ap.add_argument("--build", default=os.path.join(SRC, "build-bench"))
    ap.add_argument("--aarch64-build", default=os.path.join(SRC, "build", "aarch64"))
    ap.add_argument("--out", default=None,
                    help="results file (default bench/results/latest.json for a full run, "
                         "bench/results/partial.json otherwise)")
    ap.add_argument("--seconds", type=float, default=60, help="length of the speech input")
    ap.add_argument("--cuts", type=int, default=20, help="power cuts")
    ap.add_argument("--sessions", type=int, default=7, help="sessions for latency")
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--export-files", type=int, default=20, help="export: recordings")
    ap.add_argument("--export-mib", type=int, default=8, help="export: MiB per recording")
    ap.add_argument("--export-rounds", type=int, default=3,
                    help="export: rounds of cp + sync, export, copy-and-verify")
    ap.add_argument("--stick-dir", default=None,
                    help="export: where the copies go (e.g. a mounted USB stick; default: "
                         "the build folder's disk)")
    ap.add_argument("--image", default=None,
                    help="emulated: the qemu-virt image folder (default $DR_EMULATED_IMAGE "
                         "or build/firmware/qemu-virt)")
    ap.add_argument("--boots", type=int, default=3, help="emulated: boots to time")
    ap.add_argument("--emulated-export-files", type=int, default=20,
                    help="emulated_export: recordings")
    ap.add_argument("--emulated-export-mib", type=int, default=2,
                    help="emulated_export: MiB per recording (2: about 9 minutes at 32 kbit/s)")
    ap.add_argument("--emulated-export-rounds", type=int, default=3,
                    help="emulated_export: rounds of cp + sync and the export, per stick model")
    ap.add_argument("--emulated-export-against", default=None, metavar="PROG",
                    help="emulated_export: another aarch64 bench_export (a change being tried) "
                         "timed in the same rounds as the build's, as export_b")
    args = ap.parse_args()
    for ph in args.phases:
        if ph not in PHASES + OPT_PHASES:
            ap.error(f"unknown phase {ph!r} (one of {', '.join(PHASES + OPT_PHASES)})")
    phases = args.phases or list(PHASES)
    if args.emulated:
        phases += [p for p in OPT_PHASES if p not in phases]
    out = args.out or os.path.join(HERE, "results", "latest.json" if not args.phases
                                   else "partial.json")
    ctx = Ctx(args)
    t_start = time.monotonic()
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    if set(phases) & set(SPEECH_PHASES):
        ctx.speech = os.path.join(ctx.work, f"speech{args.seconds:g}s.wav")
        ctx.speech_sha = bl.make_speech(os.path.join(HERE, "speech.txt"), ctx.speech,
                                        args.seconds)
        log(f"input: {ctx.speech} ({args.seconds:g} s, sha256 {ctx.speech_sha[:16]}...)")
    timings = {}
    for ph in phases:
        log(f"--- {ph}")
        t0 = time.monotonic()
        try:
            globals()["phase_" + ph](ctx)
        except Exception as e:  # noqa: BLE001 - record it, go on with the next
            traceback.print_exc()
            ctx.errors.append({"phase": ph, "error": f"{type(e).__name__}: {e}"})
            log(f"{ph} FAILED: {e}")
        timings[ph] = round(time.monotonic() - t0, 1)
        log(f"{ph}: {timings[ph]} s")
    goals = goal_check(ctx.figures)
    for g in goals:
        log(f"goal {g['name']}: {g['value']:g} {g['unit']} (goal: at most {g['at_most']:g}) "
            f"{'met' if g['met'] else 'NOT met'}")
    result = {
        "schema": 1,
        "date": started.isoformat(),
        "machine": machine(),
        "git": git_info(),
        "input": None if ctx.speech is None else {
                  "text": "bench/speech.txt", "seconds": args.seconds, "sha256": ctx.speech_sha,
                  "how": "espeak-ng -v en-gb -s 150, sox to 48 kHz mono 16-bit, gain -n -3, "
                         "looped and cut to length"},
        "phases": timings,
        "wall_s": round(time.monotonic() - t_start, 1),
        "figures": ctx.figures,
        "goals": goals,
        "not_measured": NOT_MEASURED + ([] if "emulated" in phases else [
            {"name": "emulated.boot_to_ready", "why": "opt-in: tools/bench --emulated (needs "
             "the qemu-virt image; see bench/README.md)"}]),
        "skipped": ctx.skipped,
        "errors": ctx.errors,
    }
    if ctx.image_info:
        result["emulated_image"] = ctx.image_info
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    os.replace(out + ".tmp", out)
    log(f"{len(ctx.figures)} figures in {result['wall_s']} s -> {out}")
    if ctx.errors:
        log("could not run: " + ", ".join(e["phase"] for e in ctx.errors))
        return 1
    return 0


# The figures issue 14 sets goals for: (figure, at most, what).
GOALS = [
    ("memory.host.peak_rss_kib", 8192, "peak RSS of an audio session, x86_64"),
    ("memory.aarch64.guest_peak_rss_kib", 8192, "peak RSS of an audio session, aarch64 guest"),
    ("export.export_verify.ratio_to_cp_sync", 1.3, "export + read-back vs cp + sync"),
    ("emulated.boot_to_ready.guest_median_s", 3.0, "emulated board, boot to ready (guest clock)"),
    ("emulated_export.usb2.export_verify.ratio_to_cp_sync", 1.3,
     "export + read-back vs cp + sync, emulated board, USB 2 stick model (10/30 MB/s)"),
    ("emulated_export.usb3.export_verify.ratio_to_cp_sync", 1.3,
     "export + read-back vs cp + sync, emulated board, USB 3 stick model (30/100 MB/s)"),
]


def goal_check(figures):
    """Each goal whose figure this run measured, with its value and whether
    it is met."""
    by = {f["name"]: f for f in figures}
    out = []
    for name, limit, what in GOALS:
        if name in by:
            v = by[name]["value"]
            out.append({"name": name, "what": what, "value": v, "unit": by[name]["unit"],
                        "at_most": limit, "met": v <= limit})
    return out


if __name__ == "__main__":
    sys.exit(main())
