#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Software video encoders compared (bench/video/README.md).

    bench/video/run.py [--build build/host] [--seconds 4]

For each size (640x480 at 15 fps, 1280x720 at 30 fps) and each encoder,
runs bench_video under callgrind and prints one JSON line per figure:
instructions per second of video (the encoder's own: the count less that
of the "none" baseline, which makes and converts the same frames) and
bytes per minute of video.
"""
import argparse
import json
import os
import re
import subprocess
import sys

SIZES = [("640x480", 15), ("1280x720", 30)]
CODECS = ["mjpeg", "x264", "openh264", "vp8"]


def callgrind(exe, args):
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", exe] + args,
                       capture_output=True, text=True, check=True)
    m = re.search(r"Collected : (\d+)", p.stderr)
    if not m:
        sys.exit("bench/video: no callgrind count:\n" + p.stderr)
    return int(m.group(1)), json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build/host")
    ap.add_argument("--seconds", type=float, default=4.0)
    a = ap.parse_args()
    exe = os.path.join(a.build, "bench", "bench_video")
    for size, fps in SIZES:
        args = [size, str(fps), str(a.seconds)]
        base, _ = callgrind(exe, ["none"] + args)
        print(json.dumps({"name": f"video.{size}p{fps}.baseline.instructions_per_s",
                          "value": round(base / a.seconds), "unit": "instructions/s",
                          "method": "callgrind, bench_video none: simulated camera NV12 frames, to I420, noise added"}),
              flush=True)
        for c in CODECS:
            n, out = callgrind(exe, [c] + args)
            print(json.dumps({"name": f"video.{size}p{fps}.{c}.instructions_per_s",
                              "value": round((n - base) / a.seconds), "unit": "instructions/s",
                              "method": f"callgrind, bench_video {c} less bench_video none, {a.seconds:g} s of video, single thread"}),
                  flush=True)
            print(json.dumps({"name": f"video.{size}p{fps}.{c}.bytes_per_minute",
                              "value": round(out["bytes"] * 60 / a.seconds), "unit": "bytes/min",
                              "method": f"coded bytes of {out['frames']} frames, target {out['kbps_target']} kbit/s where the codec has one"}),
                  flush=True)


if __name__ == "__main__":
    main()
