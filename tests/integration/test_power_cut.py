# SPDX-License-Identifier: MIT
"""Power cuts: SIGKILL the daemon at many random points, restart it, and
check that every recording is a valid Ogg Opus file, marked interrupted,
that at most 0.5 s of the audio captured before each cut was lost, and that
the catalogue is consistent.

SIGKILL keeps what reached the page cache, so this checks what the daemon
wrote, not what the disk kept; the emulated-board test cuts QEMU's power
with an uncached disk for that."""
import os
import random
import time

from drtest import RATE, SANITIZE, Box, decode, log, opusinfo_clean, read_wav, run, similarity, speak, tmpdir

MAX_LOSS_S = 0.5
CUTS = 6 if SANITIZE else 12


def test_random_cuts_while_recording():
    rng = random.Random(20261122)
    d = tmpdir("powercut")
    mic = speak(os.path.join(d, "mic.wav"),
                "Every morning I wake up and wonder whether today will be different. " * 2)
    speech, _ = read_wav(mic)
    data = os.path.join(d, "data")
    losses = []
    for i in range(CUTS):
        box = Box("powercut", mic, root=d, data=data).start()
        if i:
            rec = box.events()
            prev = [e for e in rec if e["ev"] == "recovered"]
            assert prev, "the interrupted recording was not recovered at start-up"
        box.press()
        started = box.wait_for("recording_started", timeout=30)
        time.sleep(rng.uniform(0.2, 6.0))
        t_cut = box.kill()
        captured = t_cut - started["t_us"] / 1e6

        # restart: recovery happens before "ready"
        box2 = Box("powercut", mic, root=d, data=data).start()
        rec = box2.wait_for("recovered", since=0, id=started["id"])
        box2.terminate()
        row = [r for r in box2.catalogue() if r["id"] == started["id"]][0]
        assert row["state"] == "interrupted", row
        path = os.path.join(data, row["file"])
        opusinfo_clean(path)
        decoded = decode(path)
        kept = len(decoded) / RATE
        loss = captured - kept
        losses.append(loss)
        log(f"cut {i}: captured {captured:.3f} s, kept {kept:.3f} s, lost {loss:.3f} s")
        assert loss <= MAX_LOSS_S, f"lost {loss:.3f} s of audio at a cut"
        assert kept <= captured + 0.05, "kept more than was captured?"
        assert abs(row["duration_ms"] / 1000 - kept) < 0.021
        if kept > 2:
            env, _ = similarity(decoded, speech)
            assert env > 0.85, env
    log(f"worst loss {max(losses):.3f} s over {len(losses)} cuts")
    rows = Box("powercut", mic, root=d, data=data).catalogue()
    assert all(r["state"] in ("interrupted", "complete", "discarded") for r in rows), rows


def test_cuts_at_each_step_of_the_dialogue_leave_a_consistent_catalogue():
    """A power cut at each step after the recording: the catalogue stays
    consistent, every kept file is whole, and consent is never more than
    the resident gave (a cut mid-questions leaves the recording locked)."""
    rng = random.Random(7)
    d = tmpdir("powercut2")
    mic = speak(os.path.join(d, "mic.wav"), "Short and sweet, thank you.")
    data = os.path.join(d, "data")
    # (where to cut, press yes to staff first?)
    steps = [("welcome", False), ("finalising", False), ("ask_staff", False),
             ("saving_consent", True), ("ask_share", True), ("receipt", False),
             ("receipt", True)]
    for where, yes_staff in steps:
        box = Box("powercut2", mic, root=d, data=data).start()
        box.press()
        if where == "welcome":
            box.wait_for("state", to="welcome")
        else:
            box.wait_for("recording_started", timeout=30)
            time.sleep(2.5 + rng.uniform(0, 0.5))
            box.press()
            if yes_staff:
                box.wait_for("prompt", name="ask_staff", timeout=30)
                box.press()
            box.wait_for("state", to=where, timeout=60)
            if where in ("ask_staff", "ask_share", "receipt"):
                time.sleep(rng.uniform(0, 1.0))
        box.kill()
        log(f"cut during {where} (yes to staff: {yes_staff})")
        box2 = Box("powercut2", mic, root=d, data=data).start()
        box2.terminate()
        for r in box2.catalogue():
            assert r["state"] in ("complete", "interrupted", "discarded"), (where, r)
            if r["state"] != "discarded":
                p = os.path.join(data, r["file"])
                opusinfo_clean(p)
                assert os.path.getsize(p) == r["size_bytes"], (where, r)
            # never more than was given: sharing only ever after a yes to staff,
            # and nobody in this test ever said yes to sharing
            assert r["consent_share"] in (None, 0), (where, r)
        if where != "welcome":
            last = box2.catalogue()[-1]
            # cut while the file was being closed: repaired at start-up
            assert last["state"] == ("interrupted" if where == "finalising" else "complete") \
                or (where == "finalising" and last["state"] == "complete"), (where, last)
            if not yes_staff or where == "saving_consent":
                # unanswered, or cut while the yes was being saved: either way
                # it is locked or exactly what was pressed
                assert last["consent_staff"] in (None, 1 if yes_staff else None), (where, last)
            else:
                assert last["consent_staff"] == 1, (where, last)


if __name__ == "__main__":
    run([test_random_cuts_while_recording, test_cuts_at_each_step_of_the_dialogue_leave_a_consistent_catalogue])
