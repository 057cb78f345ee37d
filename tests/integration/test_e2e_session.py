# SPDX-License-Identifier: MIT
"""A spoken testimony through press, speech, press on the simulated board.

The microphone is a WAV of espeak-ng speech at 48 kHz; the WAV capture
starts from its first sample when recording starts (after the beep). So the
file must hold exactly the first (stop press - recording start) of it."""
import os
import time

import numpy as np

from drtest import (RATE, Box, blake2b_256, decode, log, opusinfo_clean, read_wav, run,
                    similarity, speak, tmpdir)

TESTIMONY = ("I have lived here for two years. The staff are kind, but the heating in my "
             "room has been broken since October, and nobody has come to fix it.")
OTHER = "Seven green bottles standing on the wall, and one of them fell down."


def test_session_records_what_was_said():
    d = tmpdir("e2e")
    mic = speak(os.path.join(d, "testimony.wav"), TESTIMONY)
    speech, _ = read_wav(mic)
    box = Box("e2e", mic, root=d, sets=["consent.answer_s=2"]).start()
    started, down, fin = box.record(len(speech) / RATE + 0.5)
    assert box.terminate() == 0, box.stderr_text()

    rows = box.catalogue()
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["state"] == "complete", row
    path = os.path.join(box.data, row["file"]) if not row["file"].startswith("/") else row["file"]
    assert os.path.exists(path), path

    # a valid Ogg Opus file, by the reference tools
    info = opusinfo_clean(path)
    log(info)
    decoded = decode(path)

    # its length is the span from the start of recording to the stop press
    span = (down["t_us"] - started["t_us"]) / 1e6
    length = len(decoded) / RATE
    log(f"span {span:.3f} s, decoded {length:.3f} s, samples {fin['samples']}")
    assert abs(length - span) <= 0.060, (length, span)
    assert abs(row["duration_ms"] / 1000 - length) <= 0.021, (row["duration_ms"], length)

    # and it is what was said
    env, wav = similarity(decoded, speech)
    log(f"similarity to the testimony: envelope {env:.3f}, waveform {wav:.3f}")
    other = speak(os.path.join(d, "other.wav"), OTHER)
    o_env, o_wav = similarity(decoded, read_wav(other)[0])
    log(f"similarity to other speech:  envelope {o_env:.3f}, waveform {o_wav:.3f}")
    assert env >= 0.90, env
    assert wav >= 0.50, wav
    assert o_env < 0.6 and o_wav < 0.3, (o_env, o_wav)
    # nothing was lost in the pipeline
    assert fin["lost"] == 0, fin

    # the catalogue has the file's real size and hash
    assert row["size_bytes"] == os.path.getsize(path)
    assert row["blake2b"] == blake2b_256(path)

    # the box went through every state in order
    states = [(e["from"], e["to"]) for e in box.events() if e["ev"] == "state"]
    assert states == [("idle", "welcome"), ("welcome", "beep"), ("beep", "recording"),
                      ("recording", "finalising"), ("finalising", "ask_staff"),
                      ("ask_staff", "saving_consent"), ("saving_consent", "ask_staff"),
                      ("ask_staff", "receipt"), ("receipt", "idle"), ("idle", "exited")], states

    # the light answered the first press before anything else happened, and
    # showed recording the whole time audio was recorded
    evs = box.events()
    first_down = next(i for i, e in enumerate(evs) if e["ev"] == "button" and e["edge"] == "down")
    assert evs[first_down + 1]["ev"] in ("light", "state"), evs[first_down:first_down + 3]
    lights = [e for e in evs if e["ev"] == "light"]
    assert [l["pattern"] for l in lights] == ["idle", "welcome", "recording", "busy", "question",
                                              "busy", "saved", "idle", "off"], lights
    rec_light = next(l for l in lights if l["pattern"] == "recording")
    assert rec_light["t_us"] <= started["t_us"] + 20000

    # the speaker played welcome, beep, then (nobody answering) the questions
    # and the receipt number twice, and was quiet while recording
    prompts = [e["name"] for e in evs if e["ev"] == "prompt"]
    digits = ["digit_" + c for c in row["receipt"]]
    number = ["receipt"] + digits + ["receipt_end"]
    assert prompts == ["welcome", "beep", "saved", "ask_staff", "ask_staff", "staff_no"] + \
        number + number + ["goodbye"], prompts
    assert row["consent_staff"] is None and row["consent_share"] is None  # locked
    spk, _ = read_wav(box.speaker)
    ready_t = next(e["t_us"] for e in evs if e["ev"] == "ready")
    def window(t0_us, t1_us):
        a = max(0, int((t0_us - ready_t) / 1e6 * RATE))
        b = int((t1_us - ready_t) / 1e6 * RATE)
        return spk[a:b]
    during = window(started["t_us"] + 200000, down["t_us"] - 200000)
    assert len(during) > RATE and np.abs(during).max() < 100, "the speaker played while recording"
    welcome = [e for e in evs if e["ev"] == "prompt" and e["name"] == "welcome"][0]
    assert np.abs(window(welcome["t_us"], started["t_us"])).max() > 1000, "no welcome heard"


def test_two_sessions_make_two_recordings():
    d = tmpdir("e2e2")
    mic = speak(os.path.join(d, "testimony.wav"), "Hello, this is my second testimony.")
    box = Box("e2e2", mic, root=d, sets=["consent.answer_s=2"]).start()
    box.record(3.0)
    box.record(2.5)
    assert box.terminate() == 0
    rows = box.catalogue()
    assert [r["state"] for r in rows] == ["complete", "complete"], rows
    assert rows[0]["id"] != rows[1]["id"]
    for r in rows:
        opusinfo_clean(os.path.join(box.data, r["file"]) if not r["file"].startswith("/") else r["file"])
    audit = box.catalogue("audit")
    assert len(audit) >= 4, audit


if __name__ == "__main__":
    run([test_session_records_what_was_said, test_two_sessions_make_two_recordings])
