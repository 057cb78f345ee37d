#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The recorder's picture on the aarch64 build under qemu-aarch64
(bench/video/README.md, "aarch64 under qemu-aarch64").

    bench/video/run_recav_aarch64.py [--build build/aarch64] [--seconds 30]
                                     [--rounds 3] [--record 20]

qemu's instruction-counting plugins are not packaged in bookworm, so this
measures user CPU time (wait4's ru_utime of the qemu-aarch64 process) in
one run: bench_recav track none|pass|h264 at both sizes, and the audio
pipeline (bench_pipeline, what bench/run.py's encode phase measures) on the
same number of seconds of espeak-ng speech. Each is run --rounds times,
interleaved; the median is kept and min/max reported. The ratio video /
audio per second of media is what transfers to a board; qemu's CPU time is
not a Cortex-A53's. Then a real-time bench_recav record at 640x480 15 fps
under qemu-aarch64 with the guest space pinned (-B/-R, as bench/run.py's
memory phase): peak of the Rss summed over the guest's own mappings,
sampled every 100 ms. One JSON line per figure.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import benchlib as bl  # noqa: E402

SIZES = [("640x480", 15), ("1280x720", 30)]
GUEST_BASE = 0x200000000000  # as bench/run.py
GUEST_SIZE = 0x80000000
QEMU = ["qemu-aarch64", "-L", "/"]  # as toolchain.cmake
QEMU_PINNED = QEMU + ["-B", hex(GUEST_BASE), "-R", hex(GUEST_SIZE)]


def user_cpu(argv):
    """(user s, sys s, stdout) of one run of argv."""
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        if p.returncode != 0:
            sys.exit(f"run_recav_aarch64: {' '.join(argv)} failed ({p.returncode}):\n{err}")
        out.seek(0)
        return ru.ru_utime, ru.ru_stime, out.read().decode()


def emit(name, value, unit, method, **extra):
    f = bl.figure(name, value, unit, method, **extra)
    bl.check_figure(f)
    print(json.dumps(f), flush=True)


def record_rss(exe, size, fps, seconds):
    p = subprocess.Popen(QEMU_PINNED + [exe, "record", size, str(fps), str(seconds)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"guest": 0, "qemu": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            g = bl.smaps_rss_in_range_kib(p.pid, GUEST_BASE, GUEST_BASE + GUEST_SIZE)
            h = bl.proc_status_kib(p.pid, "VmHWM")
            if g is None or h is None:
                break
            peak["guest"] = max(peak["guest"], g)
            peak["qemu"] = max(peak["qemu"], h)
            stop.wait(0.1)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = p.communicate()
    stop.set()
    t.join()
    if p.returncode != 0:
        sys.exit(f"run_recav_aarch64: record failed ({p.returncode}):\n{err}")
    return peak, json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build/aarch64")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--record", type=float, default=20.0)
    a = ap.parse_args()
    recav = os.path.join(a.build, "bench", "bench_recav")
    pipeline = os.path.join(a.build, "bench", "bench_pipeline")
    for exe in (recav, pipeline):
        if not os.path.exists(exe):
            sys.exit(f"run_recav_aarch64: {exe} is missing: cmake --build --preset aarch64 "
                     "--target bench_recav bench_pipeline")
    work = tempfile.mkdtemp(prefix="recav-aarch64-")
    wav = os.path.join(work, "speech.wav")
    sha = bl.make_speech(os.path.join(os.path.dirname(HERE), "speech.txt"), wav, a.seconds)

    jobs = {"audio": lambda i: QEMU + [pipeline, wav, tempfile.mkdtemp(dir=work)]}
    for size, fps in SIZES:
        for mode in ("none", "pass", "h264"):
            jobs[f"{size}p{fps}.{mode}"] = (lambda i, m=mode, s=size, f=fps:
                                            QEMU + [recav, "track", m, s, str(f), str(a.seconds)])
    times = {k: [] for k in jobs}
    for r in range(a.rounds):
        for k, argv in jobs.items():
            u, s, _ = user_cpu(argv(r))
            times[k].append(u)
            print(f"# round {r} {k}: user {u:.3f} s sys {s:.3f} s", file=sys.stderr, flush=True)

    how = (f"aarch64 build under {' '.join(QEMU)} on {os.cpu_count()} x86-64 cores, user CPU "
           f"time of the qemu process (wait4 ru_utime), median of {a.rounds} interleaved rounds, "
           f"{a.seconds:g} s of media")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in times.items():
        emit(f"recav_aarch64.{k}.user_cpu_s_per_media_s", med[k] / a.seconds, "s/s",
             how + (f"; bench_pipeline on espeak-ng speech sha256 {sha[:12]}" if k == "audio"
                    else f"; bench_recav track {k.split('.')[-1]}"),
             min=round(min(v) / a.seconds, 6), max=round(max(v) / a.seconds, 6),
             rounds=[round(x, 3) for x in v])
    for size, fps in SIZES:
        base = med[f"{size}p{fps}.none"]
        for mode in ("pass", "h264"):
            k = f"{size}p{fps}.{mode}"
            emit(f"recav_aarch64.{k}.ratio_to_audio", med[k] / med["audio"], "x",
                 f"median user CPU of bench_recav track {mode} / median of bench_pipeline, "
                 "same seconds of media, same run")
            emit(f"recav_aarch64.{k}.less_none_ratio_to_audio", (med[k] - base) / med["audio"],
                 "x", f"(track {mode} - track none) / bench_pipeline, medians, same run: the "
                 "video track without making the simulated frames")

    peak, r = record_rss(recav, "640x480", 15, a.record)
    rhow = (f"bench_recav record 640x480 15 fps (paced WAV microphone, paced simulated camera, "
            f"openh264, durable file sink), {a.record:g} s real time, aarch64 build under "
            f"{' '.join(QEMU_PINNED)}")
    emit("recav_aarch64.640x480p15.record.guest_peak_rss_kib", peak["guest"], "KiB",
         rhow + "; largest sum of Rss over the mappings inside the pinned guest space "
         "(the program's own pages), sampled every 100 ms; goal <= 65536 (64 MB, Zero 2 W)")
    emit("recav_aarch64.640x480p15.record.qemu_process_peak_rss_kib", peak["qemu"], "KiB",
         rhow + "; VmHWM of the qemu-aarch64 process (emulator + translated code + guest): "
         "not the board's figure")
    emit("recav_aarch64.640x480p15.record.dropped", r["dropped"], "frames",
         rhow + f"; of {r['frames']} written")


if __name__ == "__main__":
    main()
