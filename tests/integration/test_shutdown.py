# SPDX-License-Identifier: MIT
"""SIGTERM (or SIGINT, or SIGHUP) mid-recording: the recording is finalised and kept,
whatever its length, and the daemon exits 0."""
import os
import signal
import time

from drtest import RATE, Box, decode, opusinfo_clean, run, speak, tmpdir


def _stop_mid_recording(sig, seconds, twice=False):
    d = tmpdir("shutdown")
    mic = speak(os.path.join(d, "mic.wav"), "The kitchen is always clean and the staff listen.")
    box = Box("shutdown", mic, root=d).start()
    box.press()
    started = box.wait_for("recording_started", timeout=30)
    time.sleep(seconds)
    t = time.monotonic()
    box.proc.send_signal(sig)
    if twice:  # an impatient operator, or init, says it again while it is stopping
        time.sleep(0.01)
        box.proc.send_signal(sig)
    fin = box.wait_for("recording_finalised", timeout=30)
    assert box.wait_exit() == 0, box.stderr_text()
    assert fin["state"] == "complete", fin
    row = box.catalogue()[0]
    assert row["state"] == "complete", row
    path = os.path.join(box.data, row["file"])
    opusinfo_clean(path)
    length = len(decode(path)) / RATE
    expected = t - started["t_us"] / 1e6
    assert abs(length - expected) < 0.1, (length, expected)
    assert [e for e in box.events() if e["ev"] == "exit"], "no exit event"


def test_sigterm_mid_recording_keeps_it():
    _stop_mid_recording(signal.SIGTERM, 3.0)


def test_sigint_mid_short_recording_keeps_it():
    # shorter than the minimum length: kept anyway, the resident did not stop it
    _stop_mid_recording(signal.SIGINT, 0.8)


def test_sighup_mid_recording_keeps_it():
    # a closed terminal (diaryroomd run by hand over ssh) must not lose it
    _stop_mid_recording(signal.SIGHUP, 2.5)


def test_second_sigterm_while_stopping_changes_nothing():
    _stop_mid_recording(signal.SIGTERM, 2.5, twice=True)


def test_sigterm_when_idle_exits_at_once():
    d = tmpdir("shutdown-idle")
    mic = speak(os.path.join(d, "mic.wav"), "Hello.")
    box = Box("shutdown-idle", mic, root=d).start()
    assert box.terminate(timeout=10) == 0
    assert box.catalogue() == []


if __name__ == "__main__":
    run([test_sigterm_mid_recording_keeps_it, test_sigint_mid_short_recording_keeps_it,
         test_sighup_mid_recording_keeps_it, test_second_sigterm_while_stopping_changes_nothing,
         test_sigterm_when_idle_exits_at_once])
