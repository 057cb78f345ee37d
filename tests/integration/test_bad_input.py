# SPDX-License-Identifier: MIT
"""Bad input gets a clear error and leaves the store intact: a malformed
board file or config, a missing device, a read-only or full data folder.

The read-only and full-disk cases mount small tmpfs filesystems, which needs
root (CAP_SYS_ADMIN). Without it they are skipped, and the script exits with
SKIP_RC so that ctest reports the test as skipped, not passed."""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

from drtest import (BUILD, DAEMON, RATE, SRC, Box, blake2b_256, decode_copy, log, opusinfo_clean,
                    run, speak, test_org, tmpdir)

SEED = os.path.join(BUILD, "bin", "diaryroom-seed")

SKIP_RC = 77  # SKIP_RETURN_CODE in tests/integration/CMakeLists.txt


class Skip(Exception):
    pass


def catalogue_rows(path):
    """Every row of every table of a catalogue, read from a copy so that
    reading it cannot touch the data folder."""
    with tempfile.TemporaryDirectory() as t:
        copy = os.path.join(t, "c.sqlite")
        shutil.copyfile(path, copy)
        con = sqlite3.connect(copy)
        try:
            return "\n".join(con.iterdump())
        finally:
            con.close()


def snapshot(data):
    """Every file in the data folder with its hash, and the catalogue's rows."""
    out = {}
    for root, _, files in os.walk(data):
        for f in files:
            p = os.path.join(root, f)
            if f.endswith(("-wal", "-shm")):
                continue
            out[os.path.relpath(p, data)] = blake2b_256(p)
            if f.endswith(".sqlite"):
                out[os.path.relpath(p, data) + " (rows)"] = catalogue_rows(p)
    return out


def same_as(data, before, what):
    """The data folder still holds `before`: every recording byte for byte,
    every catalogue row. Names what differs; a catalogue whose bytes differ
    with the same rows is reported, not failed (SQLite may rewrite pages)."""
    now = snapshot(data)
    changed = sorted(k for k in set(now) | set(before) if now.get(k) != before.get(k))
    bytes_only = [k for k in changed if k.endswith(".sqlite") and k + " (rows)" not in changed]
    if bytes_only:
        log(f"  note: the bytes of {bytes_only} differ, every row is the same")
    changed = [k for k in changed if k not in bytes_only]
    assert not changed, f"{what}: {changed}"


def seed(data, wav, seconds="2.5"):
    """Finished recordings in `data`, through the real store, recorder and
    encoder at full speed (diaryroom-seed)."""
    p = subprocess.run([SEED, "--data", data, "--org-pub",
                        os.path.join(test_org(), "keys", "org.pub"), "--wav", wav, "--seconds", seconds],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def seeded(name):
    """A data folder holding one good recording."""
    d = tmpdir(name)
    mic = speak(os.path.join(d, "mic.wav"), "This one must never be lost.", pad=(0.0, 1.5))
    data = os.path.join(d, "data")
    seed(data, mic)
    return d, mic, data


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
        same_as(data, before, "a failed start changed the data folder")

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
    same_as(data, before, "a failed start changed the data folder")


def _can_mount():
    """Why tmpfs cannot be mounted here, or None if it can."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    with open("/proc/self/status") as f:
        caps = [int(l.split()[1], 16) for l in f if l.startswith("CapEff:")][0]
    if not caps & (1 << 21):
        return "no CAP_SYS_ADMIN: cannot mount a tmpfs here"
    return None


def _mount_tmpfs(path, opts):
    """Mounts a tmpfs (as root it must work: CI runs these as root)."""
    why = _can_mount()
    if why:
        raise Skip(why)
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path], check=True)


def _umount(path):
    subprocess.run(["umount", path])


def _fill(path):
    """Fills the filesystem holding `path` to the last byte; returns the filler."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as e:
                assert e.errno == 28, e  # ENOSPC
    finally:
        os.close(fd)
    st = os.statvfs(path)
    assert st.f_bavail == 0, st
    return filler


def _rows(box):
    return {r["id"]: r for r in box.catalogue()}


def _held(box):
    """Every recording the catalogue holds, with the hash of its file now."""
    out = {}
    for r in box.catalogue():
        f = os.path.join(box.data, r["file"])
        out[r["id"]] = (r["state"], r["duration_ms"], r["size_bytes"], r["blake2b"],
                        blake2b_256(f) if os.path.exists(f) else None)
    return out


def _check_kept(box, row, note):
    """A kept recording: interrupted, opusinfo-clean, decodable, over 1 s, its
    size and hash in the catalogue are the file's."""
    path = os.path.join(box.data, row["file"])
    log(f"  {note}: {row['state']} {row['duration_ms']} ms {row['size_bytes']} bytes")
    assert row["state"] == "interrupted", row
    opusinfo_clean(path)
    pcm = decode_copy(path)
    assert row["duration_ms"] > 1000, row
    assert abs(len(pcm) * 1000 / RATE - row["duration_ms"]) <= 1, (len(pcm), row)
    assert row["size_bytes"] == os.path.getsize(path), row
    assert row["blake2b"] == blake2b_256(path), row
    return pcm


def test_unwritable_data_folder():
    d = tmpdir("rodata")
    mic = speak(os.path.join(d, "mic.wav"), "Hello.")
    # a file where the data folder should be
    blocker = os.path.join(d, "data")
    open(blocker, "w").close()
    start_fails(Box("rodata", mic, root=d, data=blocker), blocker)
    # an empty read-only filesystem
    ro = os.path.join(d, "ro")
    _mount_tmpfs(ro, "ro,size=1m")
    try:
        start_fails(Box("rodata", mic, root=d, data=ro), "read-only")
    finally:
        _umount(ro)


def test_read_only_data_folder_with_a_recording():
    """A data folder that already holds a recording, on a filesystem that has
    turned read-only: a clear error, and every byte left as it was."""
    d, mic, data = seeded("rokept")
    ro = os.path.join(d, "ro")
    _mount_tmpfs(ro, "size=2m")
    try:
        shutil.copytree(data, ro, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", ro], check=True)
        before = snapshot(ro)
        assert any(k.endswith(".opus.sealed") for k in before), before
        start_fails(Box("rokept", mic, root=d, data=ro), "read-only")
        same_as(ro, before, "a failed start changed a read-only data folder")
    finally:
        _umount(ro)


def test_nearly_full_disk_refuses_to_start_a_recording():
    d = tmpdir("lowdisk")
    mic = speak(os.path.join(d, "mic.wav"), "Can I record now?")
    data = os.path.join(d, "data")
    _mount_tmpfs(data, "size=4m")
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
        _umount(data)


LONG_TALK = "I have a lot to say about this place, and nobody ever listens to me. " * 6


def test_disk_full_while_recording_keeps_what_was_written():
    """The disk fills up mid-recording: the recording is repaired in place on
    the full disk and catalogued as interrupted with its duration, size and
    hash (the catalogue gets the room the daemon kept in reserve); a restart
    on the still full disk keeps it so; the earlier recording is untouched."""
    d = tmpdir("fulldisk")
    mic = speak(os.path.join(d, "mic.wav"), LONG_TALK)
    data = os.path.join(d, "data")
    _mount_tmpfs(data, "size=720k")
    try:
        seed(data, mic)  # an earlier recording, which must come through intact
        box = Box("fulldisk", mic, root=d, data=data, sets=["storage.low_mb=0"]).start()
        assert box.wait_for("reserve", since=0, made=True)
        assert box.terminate() == 0
        before = _held(box)
        assert len(before) == 1 and list(before.values())[0][0] == "complete", before

        box = Box("fulldisk", mic, root=d, data=data,
                  sets=["storage.low_mb=0", "recording.bitrate=256000"]).start()
        box.press()
        box.wait_for("recording_started", timeout=30)
        fin = box.wait_for("recording_finalised", timeout=90)  # ends by itself: disk full
        box.wait_for("prompt", name="error")
        box.wait_for("state", to="idle", timeout=30)
        log(f"finalised: {fin}")
        assert fin["status"] == -28, fin  # ENOSPC
        assert fin["state"] == "interrupted", fin
        assert box.wait_for("reserve", since=0, released=True)
        assert box.terminate() == 0
        # At most 0.5 s of what was captured before the disk filled is lost.
        lost_ms = fin["samples"] * 1000 / RATE - fin["duration_ms"]
        log(f"  lost {lost_ms:.0f} ms to the full disk")
        assert 0 <= lost_ms <= 500, fin

        rows = _rows(box)
        assert len(rows) == 2, rows
        row = rows[fin["id"]]
        assert row["duration_ms"] == fin["duration_ms"], (row, fin)
        _check_kept(box, row, "after the disk filled")
        after = _held(box)
        for k, v in before.items():
            assert after[k] == v, f"the earlier recording changed: {v} -> {after[k]}"
        assert v[3] == v[4], "the earlier recording's hash does not match its file"
        kept = after[fin["id"]]
        free = os.statvfs(data).f_bavail * os.statvfs(data).f_frsize
        log(f"  {free // 1024} KiB free after the catalogue update")

        # A restart while the disk is still full: it starts, and nothing changes.
        box = Box("fulldisk", mic, root=d, data=data, sets=["storage.low_mb=0"]).start()
        assert box.wait_for("storage", since=0)["free_mb"] == 0
        assert box.terminate() == 0
        again = _held(box)
        assert again == after, (after, again)
        _check_kept(box, _rows(box)[fin["id"]], "after a restart on the full disk")
        assert again[fin["id"]] == kept
    finally:
        _umount(data)


def _cut_off_while_recording(name, d, mic, data, seconds):
    """Starts a box, records for a while, then a power cut (SIGKILL)."""
    box = Box(name, mic, root=d, data=data, sets=["storage.low_mb=0"]).start()
    box.press()
    box.wait_for("recording_started", timeout=30)
    time.sleep(seconds)
    box.kill()
    rows = box.catalogue()
    assert [r["state"] for r in rows] == ["recording"], rows
    return rows[0]


def test_power_cut_on_a_full_disk_is_repaired_at_next_start():
    """A recording cut off by a power failure, and the disk 100 % full at the
    next start: the daemon releases its reserve, opens the catalogue, repairs
    the file in place and marks it interrupted."""
    d = tmpdir("fullcut")
    mic = speak(os.path.join(d, "mic.wav"), LONG_TALK)
    data = os.path.join(d, "data")
    _mount_tmpfs(data, "size=1m")
    try:
        row = _cut_off_while_recording("fullcut", d, mic, data, 3.0)
        assert os.path.exists(os.path.join(data, "space-reserve"))
        _fill(data)
        box = Box("fullcut", mic, root=d, data=data, sets=["storage.low_mb=0"]).start()
        assert box.wait_for("reserve", since=0, released=True)
        rec = box.wait_for("recovered", since=0)
        log(f"recovered: {rec}")
        assert box.terminate() == 0
        new = _rows(box)[row["id"]]
        pcm = _check_kept(box, new, "after a start on a full disk")
        assert new["duration_ms"] >= 2000, new  # ~3 s were recorded; a cut loses <= 0.5 s
        assert len(pcm) > 0
    finally:
        _umount(data)


def test_full_disk_without_reserve_says_so_and_repairs_once_there_is_room():
    """No reserve (the disk was nearly full when the box started) and the disk
    then 100 % full: SQLite cannot write at all. The box says so clearly and
    does not lose the recording; once there is room it is repaired."""
    d = tmpdir("noreserve")
    mic = speak(os.path.join(d, "mic.wav"), LONG_TALK)
    data = os.path.join(d, "data")
    _mount_tmpfs(data, "size=1m")
    try:
        # Leave too little room for a reserve (it is only made with twice its
        # size free).
        with open(os.path.join(data, "ballast"), "wb") as f:
            f.write(b"\0" * (600 * 1024))
        row = _cut_off_while_recording("noreserve", d, mic, data, 2.5)
        assert not os.path.exists(os.path.join(data, "space-reserve"))
        path = os.path.join(data, row["file"])
        file_before = blake2b_256(path)
        filler = _fill(data)
        box = Box("noreserve", mic, root=d, data=data, sets=["storage.low_mb=0"])
        box.start(wait_ready=False)
        deadline = time.monotonic() + 60
        while box.proc.poll() is None and not any(
                e["ev"] in ("ready", "error") for e in box.events()):
            assert time.monotonic() < deadline, "neither ready nor an error"
            time.sleep(0.05)
        time.sleep(0.5)
        if box.proc.poll() is None:
            box.terminate()
        err = box.stderr_text()
        errors = [e for e in box.events() if e["ev"] == "error"]
        log(f"  stderr: {err.strip()}\n  errors: {errors}")
        said = err + " ".join(e["message"] for e in errors)
        assert "full" in said.lower() or "no space" in said.lower(), said
        # The file is as it was, or already repaired (in place needs no room).
        if blake2b_256(path) != file_before:
            opusinfo_clean(path)

        os.unlink(filler)
        box = Box("noreserve", mic, root=d, data=data, sets=["storage.low_mb=0"]).start()
        box.wait_for("recovered", since=0)
        assert box.terminate() == 0
        new = _rows(box)[row["id"]]
        _check_kept(box, new, "after a start with room again")
        assert new["duration_ms"] >= 1500, new
    finally:
        _umount(data)


TESTS = [test_bad_settings_are_refused_clearly, test_missing_devices_are_refused_clearly,
         test_unwritable_data_folder, test_read_only_data_folder_with_a_recording,
         test_nearly_full_disk_refuses_to_start_a_recording,
         test_disk_full_while_recording_keeps_what_was_written,
         test_power_cut_on_a_full_disk_is_repaired_at_next_start,
         test_full_disk_without_reserve_says_so_and_repairs_once_there_is_room]


def main(tests):
    """drtest.run, with skips: a test that raises Skip is reported as SKIP,
    and if any was skipped the script exits with SKIP_RC."""
    skipped = []

    def wrap(t):
        def w():
            try:
                t()
            except Skip as e:
                skipped.append(t.__name__)
                log(f"SKIP {t.__name__}: {e}")
        w.__name__ = t.__name__
        return w

    try:
        run([wrap(t) for t in tests])
    except SystemExit as e:
        if e.code == 0 and skipped:
            log(f"skipped: {', '.join(skipped)}")
            sys.exit(SKIP_RC)
        raise


if __name__ == "__main__":
    main([t for t in TESTS if len(sys.argv) < 2 or t.__name__ in sys.argv[1:]])
