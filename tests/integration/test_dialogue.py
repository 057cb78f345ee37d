# SPDX-License-Identifier: MIT
"""The resident's dialogue on the simulated board: every path through the
consent questions, with the speaker WAV showing what was said and the
catalogue showing what was recorded."""
import os
import subprocess
import time

import numpy as np

from drtest import (PROMPTS, RATE, Box, decode, log, read_wav, run, similarity, speak,
                    tmpdir)


def prompt_audio(name):
    """The decoded prompt as the box plays it."""
    d = tmpdir("prompt")
    out = os.path.join(d, name + ".wav")
    subprocess.run(["opusdec", "--quiet", "--rate", str(RATE), os.path.join(PROMPTS, name + ".opus"),
                    out], check=True)
    return read_wav(out)[0]


def heard(box, event):
    """The stretch of the speaker WAV where a prompt event played."""
    spk, _ = read_wav(box.speaker)
    evs = box.events()
    ready = next(e["t_us"] for e in evs if e["ev"] == "ready")
    done = next(e for e in evs if e["ev"] == "prompt_done" and e["t_us"] >= event["t_us"]
                and e["name"] == event["name"])
    a = int((done["started_us"] - ready) / 1e6 * RATE)
    b = int((done["ended_us"] - ready) / 1e6 * RATE)
    return spk[max(0, a - RATE // 20): b + RATE // 20]


def session(name, answers, sets=()):
    """Record ~3 s, then answer: answers[i] True presses during question i."""
    d = tmpdir(name)
    mic = speak(os.path.join(d, "mic.wav"), "The food is good and the people are nice.")
    box = Box(name, mic, root=d, sets=list(sets)).start()
    box.press()
    box.wait_for("recording_started", timeout=30)
    time.sleep(3.0)
    box.press()
    for q, yes in zip(("ask_staff", "ask_share"), answers):
        if yes:
            box.wait_for("prompt", name=q, timeout=60)
            time.sleep(0.3)
            box.press()
            box.wait_for("consent", timeout=30)
    box.wait_for("state", to="idle", timeout=120)
    assert box.terminate() == 0
    return box


def prompts_of(box):
    return [e["name"] for e in box.events() if e["ev"] == "prompt"]


def check_receipt(box, row):
    """The number in the catalogue is the one the resident heard, twice."""
    assert row["receipt"] and len(row["receipt"]) == 4, row
    digits = ["digit_" + c for c in row["receipt"]]
    said = prompts_of(box)
    number = ["receipt"] + digits + ["receipt_end"]
    i = said.index("receipt")
    assert said[i:i + 12] == number + number, said
    assert said[-1] == "goodbye"
    # and the speaker really played those digits
    evs = [e for e in box.events() if e["ev"] == "prompt" and e["name"].startswith("digit_")]
    for e in evs[:4]:
        env, _ = similarity(heard(box, e), prompt_audio(e["name"]), max_lag_ms=60)
        assert env > 0.8, (e["name"], env)


def test_yes_and_yes():
    box = session("dlg-yy", [True, True])
    row = box.catalogue()[0]
    assert row["consent_staff"] == 1 and row["consent_share"] == 1, row
    assert row["consent_by"] == "resident"
    said = prompts_of(box)
    assert "staff_yes" in said and "share_yes" in said and "staff_no" not in said, said
    check_receipt(box, row)
    consent_audit = [a for a in box.catalogue("audit") if a["action"] == "consent"]
    assert len(consent_audit) == 2, consent_audit
    # the confirmation was only spoken after the consent was saved
    evs = box.events()
    saved_at = [e["t_us"] for e in evs if e["ev"] == "consent"]
    spoken_at = [e["t_us"] for e in evs if e["ev"] == "prompt" and e["name"] in ("staff_yes", "share_yes")]
    assert all(s < p for s, p in zip(saved_at, spoken_at)), (saved_at, spoken_at)
    env, _ = similarity(heard(box, next(e for e in evs if e["ev"] == "prompt" and e["name"] == "staff_yes")),
                        prompt_audio("staff_yes"), max_lag_ms=60)
    assert env > 0.8, env


def test_yes_to_staff_only():
    box = session("dlg-yn", [True, False])
    row = box.catalogue()[0]
    assert row["consent_staff"] == 1 and row["consent_share"] is None, row
    said = prompts_of(box)
    assert said.count("ask_share") == 2 and "share_no" in said, said
    check_receipt(box, row)


def test_no_answer_stays_locked():
    box = session("dlg-nn", [False])
    row = box.catalogue()[0]
    assert row["consent_staff"] is None and row["consent_share"] is None, row
    said = prompts_of(box)
    assert said.count("ask_staff") == 2 and "ask_share" not in said and "staff_no" in said, said
    check_receipt(box, row)
    lights = [e["pattern"] for e in box.events() if e["ev"] == "light"]
    assert "question" in lights, lights


def test_receipts_differ_between_recordings():
    d = tmpdir("dlg-two")
    mic = speak(os.path.join(d, "mic.wav"), "One more thing.")
    box = Box("dlg-two", mic, root=d).start()
    box.record(2.5)
    box.record(2.5)
    assert box.terminate() == 0
    rows = box.catalogue()
    assert rows[0]["receipt"] != rows[1]["receipt"], rows


def test_listen_back_plays_their_own_words():
    box = session("dlg-listen", [False], sets=["consent.listen_back=yes"])
    row = box.catalogue()[0]
    evs = box.events()
    said = prompts_of(box)
    assert said[2:4] == ["listen", "saved"], said
    start = next(e for e in evs if e["ev"] == "listen")
    end = next(e for e in evs if e["ev"] == "listen_done")
    assert end["skipped"] is False
    spk, _ = read_wav(box.speaker)
    ready = next(e["t_us"] for e in evs if e["ev"] == "ready")
    a = int((start["t_us"] - ready) / 1e6 * RATE)
    b = int((end["t_us"] - ready) / 1e6 * RATE)
    decoded = decode(os.path.join(box.data, row["file"]))
    played = spk[a:b]
    assert len(played) >= len(decoded) - RATE // 10, (len(played), len(decoded))
    env, wav = similarity(played, decoded, max_lag_ms=200)
    log(f"played back vs recording: envelope {env:.3f}, waveform {wav:.3f}")
    assert env > 0.9, env
    assert row["consent_staff"] is None


def test_listen_back_can_be_skipped():
    d = tmpdir("dlg-skip")
    mic = speak(os.path.join(d, "mic.wav"), "I would rather not hear myself.")
    box = Box("dlg-skip", mic, root=d, sets=["consent.listen_back=yes"]).start()
    box.press()
    box.wait_for("recording_started", timeout=30)
    time.sleep(3.0)
    box.press()
    box.wait_for("listen", timeout=30)
    time.sleep(0.5)
    box.press()
    done = box.wait_for("listen_done", timeout=30)
    assert done["skipped"] is True
    box.wait_for("state", to="idle", timeout=120)
    assert box.terminate() == 0
    row = box.catalogue()[0]
    assert row["consent_staff"] is None, "the skip press was taken as consent"


if __name__ == "__main__":
    run([test_yes_and_yes, test_yes_to_staff_only, test_no_answer_stays_locked,
         test_receipts_differ_between_recordings, test_listen_back_plays_their_own_words,
         test_listen_back_can_be_skipped])
