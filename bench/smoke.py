#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench_smoke (ctest label bench-smoke): runs the benchmark programs and the
runner's parsers on a 2-second input, the export phase's own code on two
1 MiB files (with callgrind where valgrind can run), and the emulated
phase without an image (it must skip), so the benchmark code cannot rot.

It checks that the output is well formed and self-consistent, never how fast
anything was. One check is about the benchmark's premise rather than its
form: the floor (bench_floor) must produce the very packets the daemon's
pipeline puts in its file. If the daemon's encoder settings change, update
bench_floor.c to match, or the encoding ratio compares unlike things.

    smoke.py --bench-dir BUILD/bench --tmp DIR
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # nothing into the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib as bl  # noqa: E402
import run as runner  # noqa: E402

SECONDS = 2


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def sh(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited with {p.returncode}:\n{p.stderr}")
    return p


def test_programs(bench, tmp):
    wav = os.path.join(tmp, "in.wav")
    bl.synth_speechlike(wav, SECONDS)
    n = SECONDS * bl.RATE

    pk = os.path.join(tmp, "floor.packets")
    floor = bl.one_json(sh([f"{bench}/bench_floor", wav, "--packets", pk]).stdout, "floor")
    frames = -(-(n + floor["lookahead"]) // 960)
    check(floor["samples"] == n, f"floor read {floor['samples']} samples, not {n}")
    check(floor["frames"] == frames, f"floor encoded {floor['frames']} frames, not {frames}")
    fp = bl.floor_packets(pk)
    check(len(fp) == frames and sum(map(len, fp)) == floor["packet_bytes"],
          "floor --packets file does not match its JSON")

    data = os.path.join(tmp, "data")
    pipe = bl.one_json(sh([f"{bench}/bench_pipeline", wav, data]).stdout, "pipeline")
    for k in ("samples", "lost", "duration_ms", "file_bytes", "bytes", "writes", "syncs",
              "bitrate", "complexity", "frame_ms", "flush_ms", "ring_ms"):
        check(isinstance(pipe.get(k), int), f"pipeline output has no integer {k}: {pipe}")
    check(pipe["samples"] == n and pipe["lost"] == 0, f"pipeline lost audio: {pipe}")
    check(pipe["duration_ms"] == SECONDS * 1000, f"pipeline duration: {pipe}")
    check(os.path.getsize(pipe["file"]) == pipe["file_bytes"] == pipe["bytes"],
          f"pipeline file size, sink bytes and reported size differ: {pipe}")
    check(pipe["syncs"] >= 1 and pipe["writes"] >= 1, f"pipeline sink counters: {pipe}")
    # sealed as on the box: open it with the throw-away organisation's key
    opened = os.path.join(tmp, "pipeline-opened.opus")
    sh([os.path.join(os.path.dirname(bench), "bin", "dr-test-org"), "open", pipe["org"], pipe["file"],
        opened])
    with open(pipe["file"], "rb") as f:
        check(f.read(8) == b"DRSEAL02", "the pipeline's file is not sealed")
    ogg = bl.ogg_packets(opened)
    check(ogg[0].startswith(b"OpusHead") and ogg[1].startswith(b"OpusTags"),
          "pipeline file does not start with Opus headers")
    check(ogg[2:] == fp, "the floor's packets differ from the pipeline's: bench_floor.c no "
          "longer uses the daemon's encoder settings (app/media/oggopus.c)")
    return wav, data


def test_callgrind(bench, tmp, wav):
    if not (shutil.which("valgrind") and shutil.which("callgrind_annotate")):
        print("SKIP callgrind: valgrind not installed")
        return
    out = os.path.join(tmp, "callgrind.out")
    sh(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, f"{bench}/bench_floor",
        wav])
    total = bl.callgrind_total(out)
    inc = bl.callgrind_inclusive(out)
    check(total > 0, "callgrind total is 0")
    check(0 < inc.get("opus_encode", 0) <= total, f"no sane opus_encode cost: {inc.get('opus_encode')}")
    check(inc.get("main", 0) <= total, "main costs more than the whole process")


def test_strace(bench, tmp, wav, data):
    if not shutil.which("strace"):
        print("SKIP strace: not installed")
        return
    trace = os.path.join(tmp, "pipeline.strace")
    # LeakSanitizer cannot run under ptrace; the untraced runs check leaks.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    sh(["strace", "-f", "-y", "-s", "0", "-o", trace, "-e",
        "trace=write,pwrite64,fsync,fdatasync", f"{bench}/bench_pipeline", wav, data], env=env)
    io = bl.io_summary(bl.strace_io(trace))
    check(io.get("recording", {}).get("fdatasync", 0) >= 1, f"no fdatasync on the recording: {io}")
    check(io.get("catalogue", {}).get("writes", 0) >= 1, f"no catalogue writes: {io}")


EXPORT_FIGURES = {
    "export.files", "export.bytes", "export.cp_sync.seconds", "export.export_verify.seconds",
    "export.copy_verify.seconds", "export.export_verify.ratio_to_cp_sync",
    "export.export_verify.mb_per_s", "export.cp_sync.mb_per_s",
    "export.cp_sync_readback.seconds", "export.cp_sync_readback.ratio_to_cp_sync"}
EXPORT_CALLGRIND = {
    "export.callgrind.export_instructions", "export.callgrind.copy_instructions",
    "export.callgrind.copy_verify_instructions", "export.callgrind.ratio_to_copy_verify",
    "export.callgrind.ratio_to_copy", "export.callgrind.export_instructions_per_byte",
    "export.callgrind.besides_verify_instructions_per_file"}


def test_export(bench, tmp, valgrind):
    """The export phase's own code on 2 files of 1 MiB: every figure is well
    formed, survives JSON, and the counts are the input's."""
    figs = []
    work = os.path.join(tmp, "export")
    os.makedirs(work)
    runner.export_figures(bench, work, work, figs.append, files=2, mib=1, repeats=1,
                          cg_files=2, cg_mib=1, callgrind=valgrind)
    by = {}
    for f in figs:
        bl.check_figure(json.loads(json.dumps(f)))
        by[f["name"]] = f
    want = EXPORT_FIGURES | (EXPORT_CALLGRIND if valgrind else set())
    check(set(by) == want, f"export figures: missing {want - set(by)}, unexpected "
          f"{set(by) - want}")
    check(by["export.files"]["value"] == 2 and by["export.bytes"]["value"] == 2 << 20,
          f"export counts: {by['export.files']}, {by['export.bytes']}")


def test_recav(bench):
    """bench_recav (the recorder's picture) on a small picture: the track
    modes give their frames, pass-through writes the bytes it was given and
    openh264 far fewer; a one-second real-time recording with the camera
    reports its memory, bytes and syncs."""
    exe = f"{bench}/bench_recav"
    out = {m: json.loads(sh([exe, "track", m, "160x120", "15", "1"]).stdout.strip().splitlines()[-1])
           for m in ("none", "pass", "h264")}
    check(all(o["frames"] == 15 for o in out.values()), f"bench_recav track frames: {out}")
    check(out["none"]["bytes"] == 0 and 0 < out["h264"]["bytes"] < out["pass"]["bytes"],
          f"bench_recav track bytes: {out}")
    rec = json.loads(sh([exe, "record", "160x120", "15", "1"]).stdout.strip().splitlines()[-1])
    check(rec["status"] == 0 and rec["peak_rss_kb"] > 0 and rec["bytes"] > 0 and rec["syncs"] >= 3
          and rec["frames"] >= 12, f"bench_recav record: {rec}")


def test_emulated_skips(tmp):
    """Without an image the emulated phase says how to get one and skips."""
    class Ctx:
        def __init__(self):
            self.args = argparse.Namespace(image=os.path.join(tmp, "no-image"), boots=1)
            self.skipped = []

        def skip(self, phase, why):
            self.skipped.append({"phase": phase, "why": why})

        def emit(self, f):
            raise AssertionError(f"a figure without an image: {f}")
    for phase in (runner.phase_emulated, runner.phase_emulated_export):
        ctx = Ctx()
        phase(ctx)
        check(len(ctx.skipped) == 1 and "firmware/build-image" in ctx.skipped[0]["why"],
              f"{phase.__name__} without an image: {ctx.skipped}")
    import stick_emulated
    st = stick_emulated.parse_stats("stat export_0 10 20 110 2020 100 50 250 100\n")
    check(st == {"export_0": (100, 2000, 0.75)}, f"stick_emulated.parse_stats: {st}")
    script = stick_emulated.guest_script("/data/x", 2)
    check(script.count("timed export_") == 2 and script.count("timed cp_sync_") == 2,
          "stick_emulated.guest_script: rounds")
    script = stick_emulated.guest_script("/data/x", 2, against=True)
    check(script.count("timed export_b_") == 2 and "/run/bench_export_b export" in script
          and f"rm -rf {stick_emulated.STICK}/cp1 {stick_emulated.STICK}/ex1 "
              f"{stick_emulated.STICK}/eb1 " in script,
          "stick_emulated.guest_script: --emulated-export-against times the other export")


def test_parsers():
    for ph in runner.PHASES + runner.OPT_PHASES:
        check(callable(getattr(runner, "phase_" + ph, None)), f"run.py has no phase_{ph}")
    ev = [
        {"t_us": 1000, "ev": "button", "edge": "down"},
        {"t_us": 1050, "ev": "light", "pattern": "welcome"},
        {"t_us": 1060, "ev": "state", "from": "idle", "to": "welcome"},
        {"t_us": 1500, "ev": "button", "edge": "up"},
        {"t_us": 9000, "ev": "prompt_done", "name": "welcome", "status": 0, "started_us": 1200,
         "ended_us": 8000},
        {"t_us": 9500, "ev": "prompt_done", "name": "beep", "status": 0, "started_us": 9000,
         "ended_us": 9400},
        {"t_us": 9450, "ev": "recording_started", "id": "x"},
        {"t_us": 20000, "ev": "button", "edge": "down"},
        {"t_us": 20010, "ev": "light", "pattern": "busy"},
        {"t_us": 21000, "ev": "recording_finalised", "first_sample_us": 9420},
    ]
    lat = bl.latencies(ev)
    check(lat == {"button_to_light": [50, 10], "button_to_first_played": [200],
                  "beep_end_to_recording_started": [50], "beep_end_to_first_captured": [20]},
          f"latencies() on a known log: {lat}")
    text = ("--------\nIr  file:function\n--------\n"
            "7,000 (100.0%)  ???:0x000000000001ab70 [/lib/ld.so]\n"
            "6,000 (85.71%)  /src/a.c:main [/bin/a]\n"
            "5,000 (71.43%)  ???:opus_encode [/lib/libopus.so]\n"
            "    7 ( 0.00%)  ./elf/x.h:_dl_start\n"
            "   90 ( 0.00%)  ./elf/rtld.c:_dl_start [/lib/ld.so]\n")
    inc = bl.parse_callgrind_annotate(text)
    check(inc == {"main": 6000, "opus_encode": 5000, "_dl_start": 97},
          f"parse_callgrind_annotate on a known table: {inc}")
    f = bl.figure("encode.pipeline.ratio_to_floor", 1.0034567891, "x", "test")
    bl.check_figure(json.loads(json.dumps(f)))
    for bad in ({"name": "x", "value": 1, "unit": "u", "method": "m"},
                {"name": "a.b", "value": "1", "unit": "u", "method": "m"},
                {"name": "a.b", "value": 1, "unit": "", "method": "m"}):
        try:
            bl.check_figure(bad)
        except ValueError:
            continue
        raise AssertionError(f"check_figure accepted {bad}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-dir", required=True)
    ap.add_argument("--tmp", default=tempfile.gettempdir())
    ap.add_argument("--no-valgrind", action="store_true",
                    help="leave out callgrind (sanitizer builds cannot run under valgrind)")
    a = ap.parse_args()
    os.makedirs(a.tmp, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="bench-smoke-", dir=a.tmp)
    test_parsers()
    wav, data = test_programs(a.bench_dir, tmp)
    if not a.no_valgrind:
        test_callgrind(a.bench_dir, tmp, wav)
    test_strace(a.bench_dir, tmp, wav, data)
    test_export(a.bench_dir, tmp, not a.no_valgrind and bool(shutil.which("valgrind")))
    test_recav(a.bench_dir)
    test_emulated_skips(tmp)
    shutil.rmtree(tmp)
    print("bench smoke: ok")


if __name__ == "__main__":
    main()
