# SPDX-License-Identifier: MIT
"""Hostile time on the simulated board (docs/stick-format.md, "The clock").

The daemon runs without CAP_SYS_TIME (setpriv), so it can never set the
machine's clock: what is tested is the box's decision (the clock_refused and
clock_set events, and what it keeps in its catalogue), not the host's clock.

- Sticks whose signed times are decades ahead or behind: refused and logged,
  nothing deleted, the box's trusted time not moved; a correct stick is still
  accepted afterwards.
- A stick from a PC whose clock was 200 days ahead moves the box forward
  (within the bound); a correct stick is not refused as expired; the receipt
  from a correct PC takes the box back.
- Ageing by the box's own running time: the persisted counter advanced as a
  box that ran 29 or 31 days would have it; a wall clock ten years ahead
  (faketime) deletes nothing; 29 days keep a locked recording, 31 delete it.
"""
import datetime
import glob
import os
import shutil
import sqlite3
import subprocess
import time

from drtest import BUILD, SANITIZE, Box, log, run, speak, tmpdir

ADMIN = os.path.join(BUILD, "bin", "diaryroom-admin")
SEED = os.path.join(BUILD, "bin", "diaryroom-seed")
ENV = dict(os.environ, DIARYROOM_PASSPHRASE="a long passphrase for tests")
# never the power to set the machine's clock
NO_SYS_TIME = ["setpriv", "--bounding-set", "-sys_time", "--inh-caps", "-sys_time"]
DAY_MS = 86400 * 1000


def admin(*args):
    p = subprocess.run([ADMIN] + list(args), capture_output=True, text=True, env=ENV)
    log(f"admin {args[0]}: rc {p.returncode} {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr
    return p


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def org_and_box(name, records=1):
    d = tmpdir(name)
    org, keys = os.path.join(d, "org"), os.path.join(d, "keys")
    admin("init-org", "--org", org, "--kdf", "interactive")
    admin("provision-device", "--org", org, "--out", keys)
    mic = speak(os.path.join(d, "mic.wav"), "The heating has been fixed at last.")
    mount = os.path.join(d, "mnt")
    box = Box(name, mic, root=d, wrapper=NO_SYS_TIME,
              sets=["stick.mount=" + mount, "export.keydir=" + keys]).start()
    for _ in range(records):
        box.record(2.0)  # no answer to the questions: locked
    return d, org, box, mount


def make_stick(d, org, name, now=None, days=30):
    path = os.path.join(d, name)
    os.makedirs(path)
    args = ["make-stick", "--org", org, "--stick", path, "--name", "Sam Staff", "--days", str(days)]
    if now:
        args += ["--now", now]
    admin(*args)
    return path


def plug(box, src, mount):
    n = len(box.events())
    shutil.copytree(src, mount)
    box.wait_for("stick", present=True, timeout=30, since=n)
    return n


def pull(box, mount, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(mount, dst)
    shutil.rmtree(mount)
    box.wait_for("stick", present=False, timeout=30)


def evs(box, name, since):
    return [e for e in box.events()[since:] if e.get("ev") == name]


def meta(data, key):
    db = sqlite3.connect(f"file:{data}/catalogue.sqlite?mode=ro", uri=True)
    try:
        row = db.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None
    finally:
        db.close()


def test_hostile_sticks_change_nothing():
    d, org, box, mount = org_and_box("clock-hostile", records=2)
    now = time.time()
    # a correct stick: accepted, exported
    s1 = make_stick(d, org, "s1")
    n = plug(box, s1, mount)
    box.wait_for("export_done", timeout=60)
    pull(box, mount, s1)
    assert not evs(box, "clock_refused", n), evs(box, "clock_refused", n)
    trusted = meta(box.data, "clock_trusted_utc")
    assert abs(trusted - now) < 600, (trusted, now)

    # decades ahead: refused, logged, nothing moved (its token is the
    # organisation's and valid from its own issue time: the export runs)
    s2 = make_stick(d, org, "s2", now="2100-01-01T00:00:00Z")
    n = plug(box, s2, mount)
    refused = box.wait_for("clock_refused", timeout=30, since=n)
    log(f"refused: {refused['reason']}")
    assert "2100-01-01" in refused["reason"], refused
    box.wait_for("export_done", timeout=60)
    pull(box, mount, s2)
    assert not [e for e in evs(box, "clock_set", n) if e["to"] > now + 3600], evs(box, "clock_set", n)
    assert meta(box.data, "clock_trusted_utc") == trusted

    # decades behind: the stick expired long ago (by its own times); refused
    s3 = make_stick(d, org, "s3", now="1990-01-01T00:00:00Z", days=3650)
    n = plug(box, s3, mount)
    gone = box.wait_for("stick_refused", timeout=30, since=n)
    assert "expired" in gone["reason"], gone
    pull(box, mount, s3)
    assert not evs(box, "clock_set", n)
    assert meta(box.data, "clock_trusted_utc") == trusted

    # a correct stick is still accepted
    s4 = make_stick(d, org, "s4")
    n = plug(box, s4, mount)
    done = box.wait_for("export_done", timeout=60, since=n)
    assert done["files"] == 2, done
    pull(box, mount, s4)
    assert not evs(box, "clock_refused", n) and not evs(box, "stick_refused", n)
    assert box.terminate() == 0
    assert [r["state"] for r in box.catalogue()] == ["complete", "complete"], "a recording was deleted"
    audit = [a for a in box.catalogue("audit") if a["action"] == "clock_refused"]
    assert len(audit) == 1 and "2100-01-01" in audit[0]["detail"], audit


def test_wrong_clock_recovers_with_a_correct_stick():
    d, org, box, mount = org_and_box("clock-recover")
    now = time.time()
    s1 = make_stick(d, org, "s1")
    plug(box, s1, mount)
    box.wait_for("export_done", timeout=60)
    pull(box, mount, s1)
    # a PC 200 days ahead: within the bound, the box believes it
    ahead = int(now) + 200 * 86400
    w = make_stick(d, org, "wrong", now=iso(ahead))
    n = plug(box, w, mount)
    st = box.wait_for("clock_set", timeout=30, since=n)
    assert st["to"] == ahead and st["ok"] is False and st["back"] is False, st
    box.wait_for("export_done", timeout=60)
    pull(box, mount, w)
    # a correct stick made today for 30 days: not refused as expired
    c = make_stick(d, org, "correct", days=30)
    n = plug(box, c, mount)
    box.wait_for("export_done", timeout=60, since=n)
    pull(box, mount, c)
    assert not evs(box, "stick_refused", n), evs(box, "stick_refused", n)
    # collected at a correct PC: its receipt takes the box back
    admin("collect", "--org", org, "--stick", c, "--archive", os.path.join(d, "archive"))
    n = plug(box, c, mount)
    back = box.wait_for("clock_set", timeout=30, since=n)
    log(f"back: {back}")
    assert back["back"] is True and abs(back["to"] - time.time()) < 600, back
    box.wait_for("receipt_applied", timeout=60, since=n)
    box.wait_for("export_done", timeout=60, since=n)
    pull(box, mount, c)
    assert box.terminate() == 0
    assert abs(meta(box.data, "clock_trusted_utc") - time.time()) < 600
    assert meta(box.data, "clock_prev_utc") is None


def seed(d, n):
    data = os.path.join(d, "data")
    wav = speak(os.path.join(d, "speech.wav"), "The night staff are kind to me.")
    p = subprocess.run([SEED, "--data", data, "--wav", wav, "--seconds", ",".join(["1"] * n),
                        "--consent", ",".join(["unanswered/unanswered"] * n)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return data, [line.split()[0] for line in p.stdout.split("\n") if line.strip()]


def set_running(data, running_ms, stamps=None):
    """The catalogue as a box that has run running_ms would have it; stamps:
    {id: created_run_ms}."""
    db = sqlite3.connect(os.path.join(data, "catalogue.sqlite"))
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'running_ms'", (running_ms,))
        for rec_id, v in (stamps or {}).items():
            db.execute("UPDATE recordings SET created_run_ms = ? WHERE id = ?", (v, rec_id))
    db.close()


def start_box(d, data, wrapper):
    box = Box("clock-age", os.path.join(d, "speech.wav"), data=data, root=d, wrapper=wrapper)
    n = len(box.events())
    box.start()
    time.sleep(0.5)
    return box, n


def test_box_ages_by_its_running_time():
    d = tmpdir("clock-age")
    data, (old, young) = seed(d, 2)
    states = lambda box: {r["id"]: r["state"] for r in box.catalogue()}  # noqa: E731

    # 29 days of running time, and a wall clock ten years ahead: kept
    set_running(data, 29 * DAY_MS, {old: 0, young: 5 * DAY_MS})
    if SANITIZE:
        wrapper = NO_SYS_TIME  # libfaketime and ASan's runtime do not preload together
        db = sqlite3.connect(os.path.join(data, "catalogue.sqlite"))
        with db:  # the same thing seen from the catalogue: made ten years ago
            db.execute("UPDATE recordings SET created_utc = strftime('%Y-%m-%dT%H:%M:%fZ', 'now',"
                       " '-3650 days')")
        db.close()
    else:
        lib = glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")
        assert lib, "libfaketime is missing (tools/install-deps installs faketime)"
        wrapper = NO_SYS_TIME + ["env", "LD_PRELOAD=" + lib[0], "FAKETIME=+3650d",
                                 "DONT_FAKE_MONOTONIC=1"]
        year = subprocess.run(wrapper + ["date", "-u", "+%Y"], capture_output=True, text=True)
        assert int(year.stdout) >= datetime.datetime.now().year + 9, year
    box, n = start_box(d, data, wrapper)
    t0 = time.monotonic()
    time.sleep(2)
    assert box.terminate() == 0, box.stderr_text()
    ran = time.monotonic() - t0
    assert not evs(box, "expired", n), evs(box, "expired", n)
    assert set(states(box).values()) == {"complete"}
    # the daemon added its own running time and persisted it at shutdown
    after = meta(data, "running_ms")
    log(f"running_ms {after} after about {ran:.1f} s more")
    assert 29 * DAY_MS + 1000 <= after <= 29 * DAY_MS + (ran + 30) * 1000, after

    # 31 days: the old one (31 days of running time) goes, the young one (26) stays
    set_running(data, 31 * DAY_MS)
    box, n = start_box(d, data, NO_SYS_TIME)
    expired = box.wait_for("expired", timeout=30, since=n)
    assert box.terminate() == 0
    assert expired["count"] == 1, expired
    s = states(box)
    assert s[old] == "expired" and s[young] == "complete", s
    db = sqlite3.connect(os.path.join(data, "catalogue.sqlite"))
    files = dict(db.execute("SELECT id, file FROM recordings"))
    db.close()
    assert not os.path.exists(os.path.join(data, files[old]))
    assert os.path.exists(os.path.join(data, files[young]))


if __name__ == "__main__":
    run([test_hostile_sticks_change_nothing, test_wrong_clock_recovers_with_a_correct_stick,
         test_box_ages_by_its_running_time])
