#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Time from exec to the daemon's `ready` on the host, with a data folder
holding many recordings (the start-up work a box that has been in use does).

  DR_BUILD_DIR=build/host DR_SOURCE_DIR=. DR_TEST_PROMPTS=build/host/test-prompts \\
      /usr/bin/python3 bench/ready.py [--recordings 50] [--starts 7] [--slow-sync]

Seeds the folder once (diaryroom-seed: finished, sealed, numbered recordings
with consent), then starts and stops the simulated-board daemon --starts
times and reports the median and the spread of exec -> `ready` (the event
log's CLOCK_MONOTONIC timestamp against the same clock read just before
exec), and of exec -> the end of the start-up work done after `ready`
(the first `storage` event). With --slow-sync every fdatasync and fsync of
the daemon takes 500 ms (strace fault injection, as test_slow_storage does):
the host's disk syncs in microseconds, an SD card in tens of milliseconds and
a failing one in seconds, so this shows which syncs stand before `ready`.
One JSON object per figure, as bench/run.py prints them."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from drtest import BUILD, Box, speak, test_org, tmpdir  # noqa: E402

SEED = os.path.join(BUILD, "bin", "diaryroom-seed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=50)
    ap.add_argument("--starts", type=int, default=7)
    ap.add_argument("--slow-sync", action="store_true")
    a = ap.parse_args()
    d = tmpdir("bench-ready")
    data = os.path.join(d, "data")
    wav = speak(os.path.join(d, "speech.wav"), "The night staff are kind to me.")
    p = subprocess.run([SEED, "--data", data, "--org-pub", os.path.join(test_org(), "keys", "org.pub"),
                        "--wav", wav, "--seconds", ",".join(["2"] * a.recordings),
                        "--consent", "yes/unanswered,unanswered/unanswered,no/no"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    ready, storage = [], []
    for _ in range(a.starts):
        if a.slow_sync:
            from test_slow_storage import SLOW, SlowBox
            box = SlowBox("bench-ready", wav, data=data, root=d, wrapper=SLOW)
        else:
            box = Box("bench-ready", wav, data=data, root=d)
        n = len(box.events())
        t0 = time.monotonic()
        box.start(wait_ready=False)
        r = box.wait_for("ready", timeout=60, since=n)
        s = box.wait_for("storage", timeout=60, since=n)
        assert box.terminate() == 0, box.stderr_text()
        ready.append(r["t_us"] / 1000 - t0 * 1000)
        storage.append(s["t_us"] / 1000 - t0 * 1000)
    for name, v in (("ready", ready), ("startup_work_done", storage)):
        print(json.dumps({"name": f"start.host{'.slow_sync' if a.slow_sync else ''}.{name}_ms", "value": round(statistics.median(v), 1),
                          "unit": "ms", "min": round(min(v), 1), "max": round(max(v), 1),
                          "recordings": a.recordings, "starts": a.starts,
                          "method": "exec -> the event's t_us (CLOCK_MONOTONIC), median of "
                                    + ("(every sync 500 ms) " if a.slow_sync else "")
                                    + f"{a.starts} starts, {a.recordings} sealed recordings in the folder"}))


if __name__ == "__main__":
    main()
