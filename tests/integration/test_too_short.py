# SPDX-License-Identifier: MIT
"""A press-press under the minimum length is an accident: nothing is kept,
and the box says so. A stop just over the minimum is kept."""
import os
import time

from drtest import Box, run, speak, tmpdir, opusinfo_clean


def test_accidental_press_press_keeps_nothing():
    d = tmpdir("short")
    mic = speak(os.path.join(d, "mic.wav"), "Oh, sorry.")
    box = Box("short", mic, root=d).start()
    box.press()
    box.wait_for("recording_started", timeout=30)
    time.sleep(0.5)
    box.press()
    stop = box.wait_for("recording_stopping")
    assert stop["keep"] is False and stop["reason"] == "too_short", stop
    fin = box.wait_for("recording_finalised")
    assert fin["state"] == "discarded", fin
    box.wait_for("prompt", name="too_short")
    box.wait_for("state", to="idle")
    assert box.terminate() == 0
    rows = box.catalogue()
    assert len(rows) == 1 and rows[0]["state"] == "discarded", rows
    assert os.listdir(os.path.join(box.data, "recordings")) == [], "a discarded file is left"
    prompts = [e["name"] for e in box.events() if e["ev"] == "prompt"]
    assert "saved" not in prompts, prompts
    actions = [a["action"] for a in box.catalogue("audit")]
    assert any("discard" in a for a in actions), actions


def test_just_over_the_minimum_is_kept():
    d = tmpdir("short2")
    mic = speak(os.path.join(d, "mic.wav"), "Yes, it is fine.")
    box = Box("short2", mic, root=d, sets=["session.min_length_ms=1000"]).start()
    started, down, fin = box.record(1.3)
    assert fin["state"] == "complete", fin
    assert box.terminate() == 0
    row = box.catalogue()[0]
    assert row["state"] == "complete"
    opusinfo_clean(os.path.join(box.data, row["file"]))


if __name__ == "__main__":
    run([test_accidental_press_press_keeps_nothing, test_just_over_the_minimum_is_kept])
