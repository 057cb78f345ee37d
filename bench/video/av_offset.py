#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A/V offset of a flash-and-click recording (bench_recav sync).

    bench/video/av_offset.py FILE.mkv

Finds each click in the decoded sound (the first sample above half scale,
then 5 s on) and the flash frame nearest to it (mean luma above 200, by
ffprobe's signalstats, with its time), and prints one JSON line per click:
the click's time and the offset in ms, the sound's time less the picture's
(negative: the sound ahead). The tolerance is -40/+60 ms.
"""
import json
import subprocess
import sys

import numpy as np


def main():
    path = sys.argv[1]
    pcm = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:a", "-f", "s16le",
                          "-ac", "1", "-ar", "48000", "-"], capture_output=True, check=True).stdout
    a = np.frombuffer(pcm, dtype="<i2")
    out = subprocess.run(["ffprobe", "-v", "error", "-f", "lavfi", "-i",
                          f"movie={path},signalstats", "-show_entries",
                          "frame=pts_time:frame_tags=lavfi.signalstats.YAVG", "-of", "csv=p=0"],
                         capture_output=True, text=True, check=True).stdout
    flashes = []
    for line in out.splitlines():
        parts = line.split(",")
        if len(parts) >= 2 and float(parts[1]) > 200:
            flashes.append(float(parts[0]))
    loud = np.flatnonzero(np.abs(a.astype(np.int32)) > 15000)
    i = 0
    while i < len(loud):
        t = loud[i] / 48000
        v = min(flashes, key=lambda f: abs(f - t)) if flashes else float("nan")
        print(json.dumps({"click_s": round(t, 3), "offset_ms": round((t - v) * 1000, 1)}))
        i = np.searchsorted(loud, loud[i] + 5 * 48000)


if __name__ == "__main__":
    main()
