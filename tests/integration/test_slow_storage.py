# SPDX-License-Identifier: MIT
"""Storage never delays capture (issue 14): with every fdatasync and fsync
of the daemon taking 500 ms (strace fault injection), as a failing SD card
might, the first syllable spoken right after the beep is in the file, and
a press while the recording's row and file are being committed is answered
at once, and so is a press while the recording is finished and numbered and
while the resident's answer is saved (those commits run off the event loop;
the light stays "busy" until each is durable). About 90 s."""
import os
import shutil
import signal
import time

import numpy as np

from drtest import (RATE, SANITIZE, Box, decode, envelope, log, prompt_seconds, read_wav, run,
                    similarity, speak, tmpdir, write_wav)

if SANITIZE:
    # LeakSanitizer cannot run under ptrace; ASan and UBSan still do.
    os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")

SLOW = ["strace", "-f", "-qq", "--seccomp-bpf", "-o", "/dev/null",
        "-e", "trace=fdatasync,fsync",
        "-e", "inject=fdatasync,fsync:delay_exit=500000"]


class SlowBox(Box):
    """A Box whose daemon runs under strace: signals go to the daemon itself
    (strace, its parent, would not pass SIGTERM on), and a failed test
    leaves no daemon behind."""

    def daemon_pid(self):
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
            return int(f.read().split()[0])

    def terminate(self, timeout=60):
        os.kill(self.daemon_pid(), signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.stderr.close()
        return rc

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.daemon_pid(), signal.SIGKILL)
            except (OSError, IndexError, ValueError):
                pass
            self.proc.kill()
            self.proc.wait(30)


def slow_box(name, mic, root, sets=()):
    assert shutil.which("strace"), "strace is a declared test dependency (tools/install-deps)"
    return SlowBox(name, mic, root=root, wrapper=SLOW, sets=list(sets))


def first_syllable_with_slow_storage(boxes):
    d = tmpdir("slow-syllable")
    word = speak(os.path.join(d, "speech.wav"), "Kind people work here, but the heating is broken.")
    speech, _ = read_wav(word)
    loud = envelope(speech) > envelope(speech).max() - 30
    onset_in_speech = int(np.argmax(loud)) * 480
    lead = 12.0  # quiet room before the speech: a slow start-up fits in it
    room = np.concatenate([np.zeros(int(lead * RATE)), speech[onset_in_speech:], np.zeros(5 * RATE)])
    room_wav = os.path.join(d, "room.wav")
    write_wav(room_wav, room)
    onset = int(lead * RATE)
    box = slow_box("slow-syllable", room_wav, d, ["audio.capture_live=yes"])
    boxes.append(box)
    box.start(wait_ready=False)
    t0 = box.wait_for("mic", timeout=60)["t_us"] / 1e6
    box.wait_for("ready", timeout=60)
    after_beep = 0.25
    press_at = t0 + lead - after_beep - prompt_seconds("welcome") - prompt_seconds("beep")
    assert time.monotonic() < press_at, "the box took too long to start"
    time.sleep(press_at - time.monotonic())
    box.press()
    box.wait_for("recording_started", timeout=30)
    time.sleep(max(0.0, t0 + lead + (len(speech) - onset_in_speech) / RATE + 0.3 - time.monotonic()))
    box.press()
    fin = box.wait_for("recording_finalised", timeout=60)
    box.wait_for("state", to="idle", timeout=60)
    assert box.terminate() == 0, box.stderr_text()
    assert fin["lost"] == 0, fin
    row = box.catalogue()[0]
    decoded = decode(os.path.join(box.data, row["file"]))
    size = 1 << int(np.ceil(np.log2(len(room) + len(decoded))))
    xc = np.fft.irfft(np.fft.rfft(room, size) * np.conj(np.fft.rfft(decoded, size)), size)
    start = int(np.argmax(xc[: len(room)]))
    env_sim, _ = similarity(decoded, room[start:start + len(decoded)], max_lag_ms=20)
    margin_ms = (onset - start) * 1000 / RATE
    log(f"slow storage: recording began {margin_ms:.0f} ms before the first syllable; "
        f"file vs room: envelope {env_sim:.3f}; syncs {fin['syncs']}")
    assert env_sim >= 0.9, env_sim
    assert margin_ms > 0, f"the first {-margin_ms:.0f} ms of the first syllable are not in the file"


def press_during_a_slow_commit_is_answered(boxes):
    d = tmpdir("slow-press")
    mic = os.path.join(d, "mic.wav")
    write_wav(mic, np.zeros(RATE * 5))
    box = slow_box("slow-press", mic, d)
    boxes.append(box)
    box.start(timeout=60)
    box.press()
    # During the beep: the moment the row and the file used to be committed
    # on the loop (>= 1 s of syncs here).
    box.wait_for("prompt", name="beep", timeout=10)
    box.press()
    told = box.wait_for("prompt", since=0, name="cancelled", timeout=10)
    downs = [e for e in box.events() if e["ev"] == "button" and e["edge"] == "down"]
    assert len(downs) == 2, downs
    answer_ms = (told["t_us"] - downs[1]["t_us"]) / 1000
    log(f"slow storage: the cancelling press answered in {answer_ms:.1f} ms")
    assert answer_ms < 200, f"the press was answered after {answer_ms:.0f} ms"
    box.wait_for("state", since=0, to="idle", timeout=30)
    # What was made meanwhile is discarded once it is made; nothing is left.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = box.catalogue()
        if rows and all(r["state"] == "discarded" for r in rows):
            break
        time.sleep(0.2)
    assert rows and all(r["state"] == "discarded" for r in rows), rows
    assert os.listdir(os.path.join(box.data, "recordings")) == []
    # And the next session records normally.
    started, _, fin = box.record(2.5)
    assert fin["state"] == "complete", fin
    assert box.terminate() == 0, box.stderr_text()


def press_until(box, ev, every=0.5):
    """Presses every `every` s until `ev` is logged (a commit is done); each
    press must be seen: how long after it its press_ignored was logged (ms,
    on the event log's clock, CLOCK_MONOTONIC as time.monotonic())."""
    start = len(box.events())
    took = []
    while not any(e["ev"] == ev for e in box.events()[start:]):
        n = len(box.events())
        at = box.press()
        e = box.wait_for("press_ignored", since=n, timeout=10)
        took.append((e["t_us"] / 1e6 - at) * 1000)
        time.sleep(max(0.0, at + every - time.monotonic()))
    return took, box.wait_for(ev, since=start)


def presses_during_slow_commits_are_answered(boxes):
    d = tmpdir("slow-commits")
    mic = os.path.join(d, "mic.wav")
    write_wav(mic, 0.1 * np.sin(2 * np.pi * 440 * np.arange(RATE * 30) / RATE))
    # the commits after a recording run off the event loop by default
    # ([daemon] commits_in_thread, docs/configuration.md)
    box = slow_box("slow-commits", mic, d)
    boxes.append(box)
    box.start(timeout=60)
    box.press()
    box.wait_for("recording_started", timeout=30)
    time.sleep(3)
    stop = box.press()
    box.wait_for("recording_stopping", timeout=10)
    time.sleep(0.4)  # the stopping press is released
    # The file is closed, then its row finished and numbered (seconds of syncs).
    took, fin = press_until(box, "recording_finalised")
    assert fin["state"] == "complete", fin
    finishing_s = fin["t_us"] / 1e6 - stop
    box.wait_for("prompt", since=0, name="ask_staff", timeout=30)
    box.wait_for("prompt_done", since=0, name="ask_staff", timeout=30)
    yes = box.press()  # staff may listen: its answer is saved now (>= 0.5 s)
    time.sleep(0.2)  # the yes is released
    took2, consent = press_until(box, "consent", every=0.25)
    consent_s = consent["t_us"] / 1e6 - yes
    log(f"slow storage: {len(took)} presses while the recording was closed and committed "
        f"({finishing_s:.1f} s), answered in at most {max(took):.0f} ms; {len(took2)} while "
        f"consent was saved ({consent_s:.1f} s), at most {max(took2):.0f} ms")
    assert finishing_s > 1.5 and len(took) >= 3, (finishing_s, took)
    assert consent_s > 0.4 and len(took2) >= 1, (consent_s, took2)
    assert max(took) < 200, f"a press while finishing was answered after {max(took):.0f} ms"
    assert max(took2) < 200, f"a press while saving consent was answered after {max(took2):.0f} ms"
    assert consent["status"] == 0 and consent["staff"] is True and consent["share"] is False, consent
    # The light never said "saved" before the answer was durable.
    evs = box.events()
    t_yes = yes * 1e6
    between = [e["pattern"] for e in evs if e["ev"] == "light" and t_yes <= e["t_us"] < consent["t_us"]]
    assert set(between) <= {"busy"}, between
    box.wait_for("prompt", since=0, name="staff_yes", timeout=10)  # said once durable
    assert box.terminate() == 0, box.stderr_text()  # mid-questions: what was answered stays
    # Nothing lost, nothing twice: one recording, complete, numbered once,
    # with the answer given; one file.
    rows = box.catalogue()
    assert len(rows) == 1, rows
    assert rows[0]["state"] == "complete" and rows[0]["receipt"], rows[0]
    assert rows[0]["consent_staff"] == 1, rows[0]
    files = os.listdir(os.path.join(box.data, "recordings"))
    assert len(files) == 1, files
    evs = box.events()
    once = [e["ev"] for e in evs if e["ev"] in ("recording_finalised", "recording_started", "receipt")]
    assert sorted(once) == ["receipt", "recording_finalised", "recording_started"], once
    saves = [(e["staff"], e["share"], e["status"]) for e in evs if e["ev"] == "consent"]
    assert saves == [(True, False, 0)], saves


def with_cleanup(f):
    def t():
        boxes = []
        try:
            f(boxes)
        finally:
            for b in boxes:
                b.cleanup()
    t.__name__ = "test_" + f.__name__
    return t


test_first_syllable_with_slow_storage = with_cleanup(first_syllable_with_slow_storage)
test_press_during_a_slow_commit_is_answered = with_cleanup(press_during_a_slow_commit_is_answered)
test_presses_during_slow_commits_are_answered = with_cleanup(presses_during_slow_commits_are_answered)

if __name__ == "__main__":
    run([test_first_syllable_with_slow_storage, test_press_during_a_slow_commit_is_answered,
         test_presses_during_slow_commits_are_answered])
