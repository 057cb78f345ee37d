# SPDX-License-Identifier: MIT
"""A spoken testimony through press, speech, press on the simulated board.

The microphone is a WAV of espeak-ng speech at 48 kHz; the WAV capture
starts from its first sample when recording starts (after the welcome and the
beep). So the file must hold exactly the first (stop press - first press -
welcome - beep) of it."""
import os
import signal
import time

import numpy as np

from drtest import (BUILD, RATE, Box, blake2b_256, decode, envelope, log, opusinfo_clean, prompt_seconds,
                    read_wav, run, similarity, speak, tmpdir, write_wav)

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

    # its length is the span between the presses, less the welcome and the
    # beep (the resident speaks after the beep): by the test's own clock and
    # the prompts' own lengths, not by what the box says of itself
    p1, p2 = box.presses
    expected = (p2 - p1) - prompt_seconds("welcome") - prompt_seconds("beep")
    length = len(decoded) / RATE
    span = (down["t_us"] - started["t_us"]) / 1e6
    log(f"presses {p2 - p1:.3f} s apart, expected {expected:.3f} s, decoded {length:.3f} s, "
        f"box's own span {span:.3f} s, samples {fin['samples']}")
    assert abs(length - expected) <= 0.060, (length, expected)
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


def test_the_english_pack_is_what_the_box_says():
    """The sim tests use a short pack; the real English pack (built from
    app/prompts/en/phrases.txt) must load too, and the welcome it plays is
    the long, spoken one."""
    d = tmpdir("english")
    mic = speak(os.path.join(d, "mic.wav"), "Hello.")
    pack = os.path.join(BUILD, "share", "diaryroom", "prompts", "en")
    box = Box("english", mic, root=d, prompts=pack).start()
    box.press()
    welcome = box.wait_for("prompt", name="welcome", timeout=30)
    box.wait_for("recording_started", timeout=60)
    box.proc.send_signal(signal.SIGTERM)
    assert box.wait_exit() == 0, box.stderr_text()
    seconds = welcome["samples"] / RATE
    log(f"the English welcome lasts {seconds:.1f} s")
    assert abs(seconds - prompt_seconds("welcome", pack)) < 0.05
    assert seconds > 5, "the English welcome is too short to be the spoken sentence"


def first_syllable_margin(speech_after_beep_s):
    """A room that speaks `speech_after_beep_s` after the beep has ended (by
    the prompts' lengths from the press), recorded through a live microphone
    (the WAV's timeline runs from when the box opened it, as a room does, so
    a late start cuts the first word off here as it would in a room). Returns
    (ms of room heard before the first syllable, similarity of the file to
    what the room said from where the file starts)."""
    d = tmpdir("syllable")
    word = speak(os.path.join(d, "speech.wav"), "Kind people work here, but the heating is broken.")
    speech, _ = read_wav(word)
    loud = envelope(speech) > envelope(speech).max() - 30
    onset_in_speech = int(np.argmax(loud)) * 480  # first 10 ms frame of voice
    lead = 4.0  # seconds of quiet room before the speech
    room = np.concatenate([np.zeros(int(lead * RATE)), speech[onset_in_speech:],
                           np.zeros(5 * RATE)])
    room_wav = os.path.join(d, "room.wav")
    write_wav(room_wav, room)
    onset = int(lead * RATE)  # where the first syllable is in the room
    box = Box("syllable", room_wav, root=d, sets=["audio.capture_live=yes"]).start(wait_ready=False)
    t0 = box.wait_for("mic", timeout=60)["t_us"] / 1e6
    box.wait_for("ready", timeout=60)
    press_at = t0 + lead - speech_after_beep_s - prompt_seconds("welcome") - prompt_seconds("beep")
    assert time.monotonic() < press_at, "the box took too long to start"
    time.sleep(press_at - time.monotonic())
    box.press()
    box.wait_for("recording_started", timeout=30)
    time.sleep(max(0.0, t0 + lead + (len(speech) - onset_in_speech) / RATE + 0.3 - time.monotonic()))
    box.press()
    box.wait_for("recording_finalised", timeout=60)
    box.wait_for("state", to="idle", timeout=60)
    assert box.terminate() == 0, box.stderr_text()
    row = box.catalogue()[0]
    decoded = decode(os.path.join(box.data, row["file"]))
    # where in the room the file starts: the peak of their cross-correlation
    size = 1 << int(np.ceil(np.log2(len(room) + len(decoded))))
    xc = np.fft.irfft(np.fft.rfft(room, size) * np.conj(np.fft.rfft(decoded, size)), size)
    start = int(np.argmax(xc[: len(room)]))
    env_sim, _ = similarity(decoded, room[start:start + len(decoded)], max_lag_ms=20)
    return (onset - start) * 1000 / RATE, env_sim


def test_first_syllable_after_the_beep_is_in_the_file():
    """Issue 3: 'The first syllable after the beep is in the file.' A resident
    who starts talking a quarter of a second after the beep ends (quicker
    than most people react to a sound) is heard from their first syllable.
    (On an idle machine the box is listening within ~10 ms of the beep's end.)"""
    margin_ms, env_sim = first_syllable_margin(0.250)
    log(f"recording began {margin_ms:.0f} ms before the first syllable; "
        f"file vs room: envelope {env_sim:.3f}")
    assert env_sim >= 0.9, env_sim
    assert margin_ms > 0, f"the first {-margin_ms:.0f} ms of the first syllable are not in the file"


if __name__ == "__main__":
    run([test_session_records_what_was_said, test_two_sessions_make_two_recordings,
         test_the_english_pack_is_what_the_box_says, test_first_syllable_after_the_beep_is_in_the_file])
