# SPDX-License-Identifier: MIT
"""Bad input gets a clear error and leaves the store intact: a malformed
board file or config, a missing device, a read-only or full data folder."""
import os
import shutil
import subprocess
import time

from drtest import (DAEMON, SRC, Box, blake2b_256, decode, log, opusinfo_clean, run, speak,
                    tmpdir)


def snapshot(data):
    """Every file in the data folder with its hash."""
    out = {}
    for root, _, files in os.walk(data):
        for f in files:
            p = os.path.join(root, f)
            if f.endswith(("-wal", "-shm")):
                continue
            out[os.path.relpath(p, data)] = blake2b_256(p)
    return out


def seeded(name):
    """A data folder holding one good recording."""
    d = tmpdir(name)
    mic = speak(os.path.join(d, "mic.wav"), "This one must never be lost.")
    box = Box(name, mic, root=d).start()
    box.record(2.5)
    assert box.terminate() == 0
    return d, mic, box.data


def start_fails(box, *expect):
    box.start(wait_ready=False)
    rc = box.wait_exit(timeout=60)
    err = box.stderr_text()
    log(f"  rc={rc}: {err.strip()}")
    assert rc != 0, "started despite bad input"
    for e in expect:
        assert e in err, f"error message {err!r} does not mention {e!r}"
    return err


def board_with(d, text):
    b = os.path.join(d, "board-" + str(abs(hash(text))))
    os.makedirs(b, exist_ok=True)
    with open(os.path.join(b, "board.conf"), "w") as f:
        f.write(text)
    return b


HOST_BOARD = open(os.path.join(SRC, "board", "host", "board.conf")).read()


def test_bad_settings_are_refused_clearly():
    d, mic, data = seeded("badcfg")
    before = snapshot(data)
    cases = [
        (dict(board=board_with(d, "[button\nbackend = script\n")), ["board.conf:1"]),
        (dict(board=board_with(d, HOST_BOARD + "\n[button]\nbackend = fifo\n")), ["board.conf"]),
        (dict(board=board_with(d, HOST_BOARD.replace("backend = script", "backedn = script"))),
         ["backedn"]),
        (dict(board=board_with(d, HOST_BOARD.replace("capture = wav", "capture = tape"))),
         ["tape"]),
        (dict(sets=["session.time_limit_s=ten"]), ["time_limit_s"]),
        (dict(sets=["session.warning_s=900"]), ["warning_s"]),
        (dict(sets=["recording.complexity=11"]), ["complexity"]),
        (dict(sets=["session.colour=blue"]), ["colour"]),
        (dict(board=os.path.join(d, "no-such-board")), ["no-such-board"]),
        (dict(prompts=os.path.join(d, "no-prompts")), ["welcome"]),
    ]
    for kw, expect in cases:
        log(f"case {kw}")
        box = Box("badcfg", mic, root=d, data=data, **kw)
        start_fails(box, *expect)
        assert snapshot(data) == before, "a failed start changed the data folder"

    cfg = os.path.join(d, "bad.conf")
    with open(cfg, "w") as f:
        f.write("[session]\ntime_limit_s = 600\ntime_limit_s = 900\n")
    p = subprocess.run([DAEMON, "--config", cfg, "--board", os.path.join(SRC, "board/host"), "--check"],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "bad.conf:3" in p.stderr, p.stderr
    p = subprocess.run([DAEMON, "--board", os.path.join(SRC, "board/host"), "--check"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_missing_devices_are_refused_clearly():
    d, mic, data = seeded("baddev")
    before = snapshot(data)
    start_fails(Box("baddev", os.path.join(d, "unplugged.wav"), root=d, data=data), "unplugged.wav")
    start_fails(Box("baddev", mic, root=d, data=data,
                    sets=["audio.capture=alsa", "audio.capture_device=hw:CARD=NoSuchMic"]),
                "NoSuchMic")
    start_fails(Box("baddev", mic, root=d, data=data,
                    sets=["button.backend=gpiod", "button.chip=no-such-chip", "button.line=3"]),
                "no-such-chip")
    assert snapshot(data) == before


def test_unwritable_data_folder():
    d = tmpdir("rodata")
    mic = speak(os.path.join(d, "mic.wav"), "Hello.")
    # a file where the data folder should be
    blocker = os.path.join(d, "data")
    open(blocker, "w").close()
    start_fails(Box("rodata", mic, root=d, data=blocker), blocker)
    # a read-only filesystem (as root: a read-only tmpfs; otherwise chmod)
    ro = os.path.join(d, "ro")
    os.makedirs(ro)
    mounted = False
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro]).returncode == 0
    if not mounted:
        if os.geteuid() == 0:
            log("SKIP read-only filesystem: cannot mount a tmpfs here")
            return
        os.chmod(ro, 0o500)
    try:
        start_fails(Box("rodata", mic, root=d, data=ro), "read-only" if mounted else ro)
    finally:
        if mounted:
            subprocess.run(["umount", ro])


def _mount_small(path, size):
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path]).returncode == 0


def test_nearly_full_disk_refuses_to_start_a_recording():
    d = tmpdir("lowdisk")
    mic = speak(os.path.join(d, "mic.wav"), "Can I record now?")
    data = os.path.join(d, "data")
    if not _mount_small(data, "4m"):
        log("SKIP: mounting a small tmpfs needs root")
        return
    try:
        box = Box("lowdisk", mic, root=d, data=data, sets=["storage.low_mb=10"]).start()
        box.wait_for("storage", since=0, low=True)
        box.press()
        box.wait_for("prompt", name="full")
        box.wait_for("state", to="idle")
        assert box.terminate() == 0
        assert box.catalogue() == [], "recorded although the disk was nearly full"
        lights = [e["pattern"] for e in box.events() if e["ev"] == "light"]
        assert "full" in lights, lights
    finally:
        subprocess.run(["umount", data])


def test_disk_full_while_recording_keeps_what_was_written():
    d = tmpdir("fulldisk")
    mic = speak(os.path.join(d, "mic.wav"), "I have a lot to say about this place. " * 4)
    data = os.path.join(d, "data")
    if not _mount_small(data, "400k"):
        log("SKIP: mounting a small tmpfs needs root")
        return
    try:
        box = Box("fulldisk", mic, root=d, data=data,
                  sets=["storage.low_mb=0", "recording.bitrate=256000"]).start()
        before = snapshot(data)
        box.press()
        started = box.wait_for("recording_started", timeout=30)
        fin = box.wait_for("recording_finalised", timeout=60)  # ends by itself: disk full
        box.wait_for("prompt", name="error")
        box.wait_for("state", to="idle", timeout=30)
        assert box.terminate() == 0
        log(f"finalised: {fin}")
        assert fin["status"] < 0, fin
        rows = box.catalogue()
        assert len(rows) == 1, rows
        row = rows[0]
        assert row["state"] in ("interrupted", "recording"), row
        if row["state"] == "interrupted":
            opusinfo_clean(os.path.join(data, row["file"]))
            assert row["duration_ms"] > 1000, row
        for k, v in before.items():
            if not k.startswith("catalogue"):
                assert snapshot(data).get(k) == v
    finally:
        subprocess.run(["umount", data])


if __name__ == "__main__":
    run([test_bad_settings_are_refused_clearly, test_missing_devices_are_refused_clearly,
         test_unwritable_data_folder, test_nearly_full_disk_refuses_to_start_a_recording,
         test_disk_full_while_recording_keeps_what_was_written])
