# SPDX-License-Identifier: MIT
"""The staff stick through the daemon itself, on the simulated board (where
the stick is a folder that appears): record with consent given at the box,
insert the stick, the box exports and says done, collect on the "PC", insert
again, the box deletes exactly what the archive confirmed. The stick
carries only sealed files (no Ogg page anywhere on it); the archive keeps
the box's sealed original of both and a playable copy of the one staff may
hear. A stick of another organisation is refused and changes nothing."""
import os
import shutil
import subprocess
import time

from drtest import BUILD, Box, log, opusinfo_clean, run, speak, tmpdir

ADMIN = os.path.join(BUILD, "bin", "diaryroom-admin")
ENV = dict(os.environ, DIARYROOM_PASSPHRASE="a long passphrase for tests")


def admin(*args):
    p = subprocess.run([ADMIN] + list(args), capture_output=True, text=True, env=ENV)
    log(f"admin {args[0]}: rc {p.returncode} {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr
    return p


def plug(box, stick_src, mount):
    """Insert: the stick's contents appear at the mount folder."""
    shutil.copytree(stick_src, mount)
    return box.wait_for("stick", present=True, timeout=30)


def pull(box, mount, stick_dst):
    """Pull: the mount folder empties; keep what was written to the stick."""
    if os.path.exists(stick_dst):
        shutil.rmtree(stick_dst)
    shutil.copytree(mount, stick_dst)
    shutil.rmtree(mount)
    box.wait_for("stick", present=False, timeout=30)


def test_export_collect_and_confirmed_deletion():
    d = tmpdir("dstick")
    org, keys, stick, archive = (os.path.join(d, n) for n in ("org", "keys", "stick", "archive"))
    mount = os.path.join(d, "mnt")
    os.makedirs(stick)
    admin("init-org", "--org", org, "--kdf", "interactive")
    admin("provision-device", "--org", org, "--out", keys)
    admin("make-stick", "--org", org, "--stick", stick, "--name", "Sam Staff", "--days", "30")
    mic = speak(os.path.join(d, "mic.wav"), "The staff helped me get a bank account.")
    box = Box("dstick", mic, root=d, sets=["stick.mount=" + mount, "export.keydir=" + keys]).start()

    # one recording staff may hear, one locked
    box.press()
    box.wait_for("recording_started", timeout=30)
    time.sleep(2.5)
    box.press()
    box.wait_for("prompt", name="ask_staff", timeout=30)
    time.sleep(0.3)
    box.press()
    box.wait_for("state", to="idle", timeout=120)
    box.record(2.5)
    rows = box.catalogue()
    assert [r["consent_staff"] for r in rows] == [1, None], rows

    # a press while the stick is in starts nothing
    plug(box, stick, mount)
    done = box.wait_for("export_done", timeout=60)
    assert done["files"] == 2 and done["failed"] == 0, done
    # the light is set just after export_done is logged: wait for its line
    box.wait_for("light", timeout=10)
    lights = [e["pattern"] for e in box.events() if e["ev"] == "light"]
    assert lights[-2:] == ["busy", "saved"], lights
    box.press()
    box.wait_for("press_ignored", state="stick", timeout=10)
    pull(box, mount, stick)
    assert [r["state"] for r in box.catalogue()] == ["complete", "complete"], \
        "something was deleted before the archive confirmed it"
    # nothing playable on the stick: sealed recordings, a sealed manifest
    on_stick = [os.path.join(r, f) for r, _, fs in os.walk(stick) for f in fs]
    assert len([f for f in on_stick if f.endswith(".opus.sealed")]) == 2, on_stick
    for f in on_stick:
        blob = open(f, "rb").read()
        assert b"OggS" not in blob and b"OpusHead" not in blob, f

    # the office PC: verify, import, consent sheet, signed receipt on the stick
    admin("collect", "--org", org, "--stick", stick, "--archive", archive)
    # both kept as the box sealed them; the one staff may hear is also
    # playable; the locked one is only sealed
    imported = [f for _, _, fs in os.walk(archive) for f in fs if f.endswith(".opus")]
    sealed = [os.path.join(r, f) for r, _, fs in os.walk(archive) for f in fs
              if f.endswith(".opus.sealed")]
    assert len(imported) == 1 and len(sealed) == 2, (imported, sealed)
    locked_id = rows[1]["id"]
    assert locked_id + ".opus" not in imported, "the locked recording is playable in the archive"
    for f in sealed:
        blob = open(f, "rb").read()
        assert blob[:8] == b"DRSEAL02" and b"OggS" not in blob, f
        assert subprocess.run(["opusinfo", f], capture_output=True).returncode != 0
    for root, _, fs in os.walk(archive):
        for f in fs:
            if f.endswith(".opus"):
                opusinfo_clean(os.path.join(root, f))

    # insert again: the box applies the receipt and deletes what is confirmed
    plug(box, stick, mount)
    applied = box.wait_for("receipt_applied", timeout=60)
    assert applied["deleted"] == 2, applied
    box.wait_for("export_done", timeout=60)
    pull(box, mount, stick)
    assert box.terminate() == 0
    states = [r["state"] for r in box.catalogue()]
    assert states == ["deleted", "deleted"], states
    assert os.listdir(os.path.join(box.data, "recordings")) == []
    actions = [a["action"] for a in box.catalogue("audit")]
    assert actions.count("delete") + actions.count("deleted") >= 2 or \
        sum("delet" in a for a in actions) >= 2, actions


def test_foreign_stick_is_refused_and_changes_nothing():
    d = tmpdir("dstick-foreign")
    org, other, keys, stick = (os.path.join(d, n) for n in ("org", "other", "keys", "stick"))
    mount = os.path.join(d, "mnt")
    os.makedirs(stick)
    admin("init-org", "--org", org, "--kdf", "interactive")
    admin("init-org", "--org", other, "--kdf", "interactive")
    admin("provision-device", "--org", org, "--out", keys)
    admin("make-stick", "--org", other, "--stick", stick, "--name", "Mallory", "--days", "30")
    mic = speak(os.path.join(d, "mic.wav"), "Hello there.")
    box = Box("dstick-foreign", mic, root=d,
              sets=["stick.mount=" + mount, "export.keydir=" + keys]).start()
    box.record(2.5)
    before = sorted(os.listdir(os.path.join(d, "stick")))
    plug(box, stick, mount)
    refused = box.wait_for("stick_refused", timeout=30)
    log(f"refused: {refused['reason']}")
    assert "organisation" in refused["reason"] or "sign" in refused["reason"], refused
    lights = [e["pattern"] for e in box.events() if e["ev"] == "light"]
    assert lights[-1] == "error", lights
    assert sorted(os.listdir(mount)) == before, "wrote to a stick it refused"
    pull(box, mount, stick)
    assert box.terminate() == 0
    assert [r["state"] for r in box.catalogue()] == ["complete"]


if __name__ == "__main__":
    run([test_export_collect_and_confirmed_deletion, test_foreign_stick_is_refused_and_changes_nothing])
