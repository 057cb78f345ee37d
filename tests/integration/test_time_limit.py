# SPDX-License-Identifier: MIT
"""The time limit: a spoken warning before the end, then the recording stops
by itself and is kept, as long as the limit."""
import os

from drtest import RATE, Box, decode, opusinfo_clean, run, speak, tmpdir


def test_time_limit_warns_then_stops_and_keeps():
    d = tmpdir("limit")
    mic = speak(os.path.join(d, "mic.wav"), "I will keep talking for a long time. " * 3)
    box = Box("limit", mic, root=d,
              sets=["session.time_limit_s=10", "session.warning_s=4"]).start()
    box.press()
    started = box.wait_for("recording_started", timeout=30)
    warn = box.wait_for("prompt", name="warning", timeout=30)
    light = [e for e in box.events() if e["ev"] == "light" and e["pattern"] == "last_minute"]
    assert light, "the light did not change for the last minute"
    at = (warn["t_us"] - started["t_us"]) / 1e6
    assert 5.9 <= at <= 6.3, at
    stop = box.wait_for("recording_stopping", timeout=30)
    assert stop["reason"] == "time_limit" and stop["keep"] is True, stop
    fin = box.wait_for("recording_finalised")
    box.wait_for("prompt", name="saved")
    box.wait_for("state", to="idle")
    assert box.terminate() == 0
    row = box.catalogue()[0]
    assert row["state"] == "complete"
    path = os.path.join(box.data, row["file"])
    opusinfo_clean(path)
    length = len(decode(path)) / RATE
    assert 9.9 <= length <= 10.1, length
    assert fin["lost"] == 0


if __name__ == "__main__":
    run([test_time_limit_warns_then_stops_and_keeps])
