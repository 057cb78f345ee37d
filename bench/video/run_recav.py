#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The recorder's picture measured (bench/video/README.md, "The recorder").

    bench/video/run_recav.py [--build build/host] [--seconds 4] [--record 20] [--h264pass-only]

Callgrind instruction counts of the video track alone (bench_recav track:
MJPEG pass-through and openh264, each less the "none" baseline that makes
the same frames; H.264 pass-through less "h264cam", the simulated H.264
camera's frames made and nothing else) per second of video, then a
real-time recording with the camera (bench_recav record) for peak RSS,
bytes and syncs per minute. One JSON line per figure.
"""
import argparse
import json
import os
import re
import subprocess
import sys

SIZES = [("640x480", 15), ("1280x720", 30)]


def callgrind(exe, args):
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", exe] + args,
                       capture_output=True, text=True, check=True)
    m = re.search(r"Collected : (\d+)", p.stderr)
    if not m:
        sys.exit("run_recav: no callgrind count:\n" + p.stderr)
    return int(m.group(1)), json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build/host")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--record", type=float, default=20.0)
    ap.add_argument("--h264pass-only", action="store_true", help="only H.264 pass-through's two figures per size")
    a = ap.parse_args()
    exe = os.path.join(a.build, "bench", "bench_recav")
    for size, fps in SIZES:
        args = [size, str(fps), str(a.seconds)]
        bases = {}
        modes = [("h264pass", "h264cam")] if a.h264pass_only else \
            [("pass", "none"), ("h264", "none"), ("h264pass", "h264cam")]
        for mode, base_mode in modes:
            if base_mode not in bases:
                bases[base_mode], _ = callgrind(exe, ["track", base_mode] + args)
            base = bases[base_mode]
            n, out = callgrind(exe, ["track", mode] + args)
            print(json.dumps({"name": f"recav.{size}p{fps}.{mode}.instructions_per_s",
                              "value": round((n - base) / a.seconds), "unit": "instructions/s",
                              "method": f"callgrind, bench_recav track {mode} less {base_mode}, "
                                        f"{a.seconds:g} s of video"}),
                  flush=True)
            print(json.dumps({"name": f"recav.{size}p{fps}.{mode}.video_bytes_per_minute",
                              "value": round(out["bytes"] * 60 / a.seconds), "unit": "bytes/min",
                              "method": "Matroska bytes of the video track alone"}), flush=True)
        if a.h264pass_only:
            continue
        p = subprocess.run([exe, "record", size, str(fps), str(a.record)],
                           capture_output=True, text=True, check=True)
        r = json.loads(p.stdout.strip().splitlines()[-1])
        mins = r["seconds"] / 60
        for k, unit in (("peak_rss_kb", "KiB"),):
            print(json.dumps({"name": f"recav.{size}p{fps}.record.{k}", "value": r[k], "unit": unit,
                              "method": f"bench_recav record, {a.record:g} s real time, openh264, ru_maxrss"}), flush=True)
        print(json.dumps({"name": f"recav.{size}p{fps}.record.bytes_per_minute",
                          "value": round(r["bytes"] / mins), "unit": "bytes/min",
                          "method": "file bytes (Opus 32 kbit/s + H.264) of a real-time recording"}), flush=True)
        print(json.dumps({"name": f"recav.{size}p{fps}.record.flushes_per_minute",
                          "value": round(r["syncs"] / mins), "unit": "fdatasync/min",
                          "method": "file sink syncs of a real-time recording"}), flush=True)
        print(json.dumps({"name": f"recav.{size}p{fps}.record.dropped", "value": r["dropped"],
                          "unit": "frames", "method": f"of {r['frames']} written"}), flush=True)


if __name__ == "__main__":
    main()
