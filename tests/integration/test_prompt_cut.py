# SPDX-License-Identifier: MIT
"""A prompt cut short by a press still gets its prompt_done event (with a
negative status), as docs/event-log.md says, and the box carries on with
what the press asked for. About 10 s."""
import os
import time

import numpy as np

from drtest import Box, run, tmpdir, write_wav

ECANCELED = 125


def test_cut_prompt_is_logged_done_(boxes):
    d = tmpdir("cut")
    mic = os.path.join(d, "mic.wav")
    write_wav(mic, np.zeros(48000 * 5))
    box = Box("cut", mic, root=d)
    boxes.append(box)
    box.start()
    box.press()
    started = box.wait_for("prompt", name="welcome")
    time.sleep(0.3)
    box.press()
    done = box.wait_for("prompt_done", name="welcome", timeout=10)
    assert done["status"] == -ECANCELED, done
    played_s = (done["ended_us"] - done["started_us"]) / 1e6
    assert played_s < started["samples"] / 48000 - 0.1, (played_s, started)
    # The press was a cancel: the box says so, and that phrase ends normally.
    box.wait_for("prompt", since=0, name="cancelled")
    ok = box.wait_for("prompt_done", since=0, name="cancelled", timeout=30)
    assert ok["status"] == 0, ok
    box.wait_for("state", since=0, to="idle", timeout=30)
    assert box.terminate() == 0
    welcome_done = [e for e in box.events() if e["ev"] == "prompt_done" and e["name"] == "welcome"]
    assert len(welcome_done) == 1, welcome_done


def test_cut_prompt_is_logged_done():
    boxes = []
    try:
        test_cut_prompt_is_logged_done_(boxes)
    finally:
        for b in boxes:  # a failed check leaves no daemon behind
            if b.proc is not None and b.proc.poll() is None:
                b.proc.kill()
                b.proc.wait(30)


if __name__ == "__main__":
    run([test_cut_prompt_is_logged_done])
