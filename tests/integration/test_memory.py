# SPDX-License-Identifier: MIT
"""The daemon's memory (issue 14): it holds no decoded prompt pack, and no
OpenMP runtime. With the full English pack (9 MiB as PCM) the daemon's
resident memory after start-up, and its peak through one whole session
(welcome, a recording long enough to fill the 16 s ring, the questions, the
receipt), stay under 8 MiB: a daemon that decoded the pack at start would
be over it before the first press. Also: the welcome, decoded as it plays,
plays whole. About 75 s (most of it the real pack's phrases, played in real
time). Under the sanitizer build the memory bounds are not checked (ASan's
shadow memory); the rest is."""
import datetime
import os
import subprocess
import time

import numpy as np

from drtest import BUILD, SANITIZE, Box, log, run, speak, tmpdir

PACK = os.path.join(BUILD, "share", "diaryroom", "prompts", "en")
CHECK = os.path.join(BUILD, "bin", "dr-prompts-check")
BOUND_KIB = 8 * 1024


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def decoded_pack_kib():
    """What the whole pack takes as 16-bit PCM (from the box's own loader)."""
    out = subprocess.run([CHECK, PACK], check=True, capture_output=True, text=True).stdout
    return sum(int(line.split()[1]) for line in out.splitlines()) * 2 // 1024


def test_no_decoded_pack_and_no_openmp_(boxes):
    pack_kib = decoded_pack_kib()
    log(f"the pack as PCM: {pack_kib} KiB; bound {BOUND_KIB} KiB")
    assert pack_kib > BOUND_KIB, "the pack is too small for this test to tell anything"
    d = tmpdir("memory")
    mic = os.path.join(d, "mic.wav")
    # 20 s of speech, then quiet: the recording runs past the 16 s ring.
    speak(mic, "This is a test of how much memory the box needs while a resident speaks. " * 3)
    box = Box("memory", mic, root=d, prompts=PACK, sets=["session.min_length_ms=1000"])
    boxes.append(box)
    box.start()
    pid = box.proc.pid
    time.sleep(1.0)
    rss, hwm = status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM")
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read()
    log(f"after start-up: VmRSS {rss} KiB, VmHWM {hwm} KiB")
    for lib in ("libgomp", "libsoxr"):
        assert lib not in maps, f"{lib} is mapped into the daemon"
    if not SANITIZE:
        assert hwm <= BOUND_KIB, f"{hwm} KiB after start-up; at most {BOUND_KIB} KiB"

    box.press()
    started = box.wait_for("recording_started", timeout=60)
    # The row is made while the 11 s welcome plays; its start time is
    # still when capture began, not when the row was made.
    start = datetime.datetime.strptime(started["start_utc"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    assert abs(start - time.time()) < 2.5, (started, time.time())
    time.sleep(18)
    box.press()
    box.wait_for("recording_finalised", timeout=60)
    box.wait_for("state", to="idle", timeout=120)
    hwm = status_kib(pid, "VmHWM")
    log(f"peak through the session: VmHWM {hwm} KiB")
    if not SANITIZE:
        assert hwm <= BOUND_KIB, f"peak {hwm} KiB through a session; at most {BOUND_KIB} KiB"
    assert box.terminate() == 0

    # The welcome, decoded a chunk at a time, played whole and in time.
    ev = [e for e in box.events() if e["ev"] == "prompt_done" and e["name"] == "welcome"]
    assert ev and ev[0]["status"] == 0, ev
    want = [e for e in box.events() if e["ev"] == "prompt" and e["name"] == "welcome"][0]["samples"]
    played_s = (ev[0]["ended_us"] - ev[0]["started_us"]) / 1e6
    assert abs(played_s - want / 48000) < 0.05, (played_s, want)
    assert box.catalogue()[0]["state"] == "complete"


def test_no_decoded_pack_and_no_openmp():
    boxes = []
    try:
        test_no_decoded_pack_and_no_openmp_(boxes)
    finally:
        for b in boxes:  # a failed check leaves no daemon behind
            if b.proc is not None and b.proc.poll() is None:
                b.proc.kill()
                b.proc.wait(30)


if __name__ == "__main__":
    run([test_no_decoded_pack_and_no_openmp])
