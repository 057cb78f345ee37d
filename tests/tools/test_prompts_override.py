# SPDX-License-Identifier: MIT
"""An organisation's own recording in front of the built-in pack, on the
simulated board: diaryroomd with [daemon] prompts_override_dir speaks a
44.1 kHz stereo 24-bit WAV dropped into the override folder in place of the
built-in welcome (resampled to 48 kHz: the right length and pitch on the
speaker), keeps the built-in phrases the folder does not have, passes over
a broken recording for the built-in phrase (saying which file, in an
`error` event), and refuses to start, naming the folder, on a missing
folder or a bad setting. (On the device image rcS fills the folder from the
boot partition's diaryroom-prompts/: firmware/README.md.)"""
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from drtest import RATE, Box, log, read_wav, run, speak, tmpdir  # noqa: E402

TONE_HZ = 1500  # no phrase of the short test pack is a steady 1.5 kHz


def tone_frames(x, hz, frame=480):
    """Which 10 ms frames of x are (almost only) a tone at hz."""
    n = len(x) // frame
    f = x[: n * frame].reshape(n, frame)
    t = np.arange(frame) / RATE
    c, s = np.cos(2 * np.pi * hz * t), np.sin(2 * np.pi * hz * t)
    tone = (f @ c) ** 2 + (f @ s) ** 2          # ~ (A * frame / 2)^2
    total = (f ** 2).sum(axis=1) * frame / 2    # the same scale for a pure tone
    return (tone > 0.8 * total) & (total > 1e6 * frame)


def start_fails(box, *expect):
    box.start(wait_ready=False)
    rc = box.wait_exit(timeout=60)
    err = box.stderr_text()
    log(f"  rc={rc}: {err.strip()}")
    assert rc != 0, "started despite a broken override"
    for e in expect:
        assert e in err, f"error message {err!r} does not mention {e!r}"


def test_the_override_welcome_is_spoken():
    d = tmpdir("override")
    ovr = os.path.join(d, "override")
    os.mkdir(ovr)
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", "-b", "24", os.path.join(ovr, "welcome.wav"),
                    "synth", "1.0", "sine", str(TONE_HZ), "vol", "0.5", "fade", "h", "0.01", "1.0", "0.01"],
                   check=True)
    # A file that is no phrase's name is not read (nor a Mac's ._ file).
    with open(os.path.join(ovr, "welcom.wav"), "wb") as f:
        f.write(b"not audio")
    mic = speak(os.path.join(d, "mic.wav"), "Oh, sorry.")
    box = Box("override", mic, root=d, sets=["daemon.prompts_override_dir=" + ovr]).start()
    box.press()
    e = box.wait_for("prompt", name="welcome", timeout=30)
    log(f"welcome: {e['samples']} samples")
    # One second of 44.1 kHz audio is 48000 samples at 48 kHz (44100 if it
    # had not been resampled, which would also play it 9 % too high).
    assert abs(e["samples"] - RATE) <= 96, e
    beep = box.wait_for("prompt", name="beep", timeout=30)
    box.wait_for("recording_started", timeout=30)
    time.sleep(0.3)
    box.press()
    box.wait_for("prompt", name="too_short", timeout=30)
    box.wait_for("state", to="idle", timeout=30)
    assert box.terminate() == 0

    x, rate = read_wav(box.speaker)
    assert rate == RATE
    frames = tone_frames(x, TONE_HZ)
    idx = np.flatnonzero(frames)
    log(f"speaker: {len(idx)} frames of {TONE_HZ} Hz, from {idx.min() / 100:.2f} s to {idx.max() / 100:.2f} s")
    assert 95 <= len(idx) <= 101, len(idx)
    assert idx.max() - idx.min() == len(idx) - 1, "the welcome tone is not one piece"
    seg = x[idx.min() * 480: (idx.max() + 1) * 480]
    sgn = np.signbit(seg[np.abs(seg) > 0])
    hz = np.count_nonzero(sgn[1:] != sgn[:-1]) / 2 / (len(seg) / RATE)
    log(f"its pitch: {hz:.1f} Hz")
    assert abs(hz - TONE_HZ) < 10, hz
    # The built-in beep (the short pack's 880 Hz) still follows it.
    assert beep["samples"] > 0
    assert np.count_nonzero(tone_frames(x, 880)) >= 20


def test_a_broken_override_is_passed_over_and_said():
    d = tmpdir("override-bad")
    mic = speak(os.path.join(d, "mic.wav"), "Hello.")
    ovr = os.path.join(d, "override")
    os.mkdir(ovr)
    bad = os.path.join(ovr, "saved.wav")
    with open(bad, "wb") as f:
        f.write(b"RIFF\x24\x00\x00\x00WAVEfmt ")  # cut short by a pulled card
    # one bad file on the card must not silence the box: it starts, says
    # which file it passed over, and speaks the built-in phrase instead
    box = Box("override-bad", mic, root=d, sets=["daemon.prompts_override_dir=" + ovr])
    box.start()
    errors = [e for e in box.events() if e["ev"] == "error" and e["what"] == "prompts"]
    assert box.terminate() == 0, box.stderr_text()
    log(f"  {errors}")
    assert len(errors) == 1 and bad in errors[0]["message"], errors
    assert "built-in phrase is used instead" in errors[0]["message"], errors
    os.unlink(bad)
    missing = os.path.join(d, "no-such-override")
    start_fails(Box("override-bad", mic, root=d, sets=["daemon.prompts_override_dir=" + missing]),
                missing)
    start_fails(Box("override-bad", mic, root=d, sets=["daemon.prompts_override_dir=/a:/b"]),
                "prompts_override_dir", "':'")
    # An empty override folder: the built-in pack, and the box starts.
    box = Box("override-bad", mic, root=d, sets=["daemon.prompts_override_dir=" + ovr]).start()
    assert box.terminate() == 0


if __name__ == "__main__":
    run([test_the_override_welcome_is_spoken, test_a_broken_override_is_passed_over_and_said])
