# SPDX-License-Identifier: MIT
"""The retention rule, applied by the daemon: a recording nobody said staff
may hear (locked) is deleted once its age in the box's running time reaches
[consent] retention_days (default 30); a recording with consent, or younger,
is kept (test_hostile_clock shows no wall clock changes that). The daemon
applies it when it starts and every hour while idle; each deletion is in the
audit log and the row stays (state "expired"), so the archive can tell."""
import datetime
import os
import sqlite3
import subprocess

from drtest import BUILD, Box, log, run, speak, tmpdir

SEED = os.path.join(BUILD, "bin", "diaryroom-seed")


def seed(d):
    data = os.path.join(d, "data")
    wav = speak(os.path.join(d, "speech.wav"), "The night staff are kind to me.")
    p = subprocess.run([SEED, "--data", data, "--wav", wav, "--seconds", "1,1,1,1",
                        "--consent", "unanswered/unanswered,yes/unanswered,no/no,unanswered/unanswered"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    ids = [line.split()[0] for line in p.stdout.split("\n") if line.strip()]
    assert len(ids) == 4, p.stdout
    return data, ids


RUN_DAYS = 100  # the box has run this long (its persisted running-time counter)


def age(data, rec_id, days):
    """Make a recording as old as `days` of the box's running time (the age
    the retention rule counts; the wall clock plays no part), and its
    creation time that many days back too, as on a box whose clock is right."""
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)
    db = sqlite3.connect(os.path.join(data, "catalogue.sqlite"))
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'running_ms'", (RUN_DAYS * 86400000,))
        db.execute("UPDATE recordings SET created_utc = ?, created_run_ms = ? WHERE id = ?",
                   (t.strftime("%Y-%m-%dT%H:%M:%SZ"), (RUN_DAYS - days) * 86400000, rec_id))
    db.close()


def rows(box):
    return {r["id"]: r for r in box.catalogue()}


def test_locked_recordings_go_after_the_retention_period():
    d = tmpdir("retention")
    data, (locked_old, staff_yes_old, staff_no_old, locked_young) = seed(d)
    for rec_id in (locked_old, staff_yes_old, staff_no_old):
        age(data, rec_id, 31)
    age(data, locked_young, 29)
    db = sqlite3.connect(os.path.join(data, "catalogue.sqlite"))
    files = {i: os.path.join(data, f) for i, f in db.execute("SELECT id, file FROM recordings")}
    db.close()
    assert all(os.path.exists(f) for f in files.values()), files

    box = Box("retention", os.path.join(d, "speech.wav"), data=data, root=d)
    n = len(box.events())
    box.start()
    expired = box.wait_for("expired", timeout=30, since=n)
    assert box.terminate() == 0, box.stderr_text()
    log(f"expired at start: {expired}")
    assert expired["count"] == 2 and expired["retention_days"] == 30, expired
    r = rows(box)
    # locked ("unanswered") and a "no" to staff are both locked: gone after 30 days
    for rec_id in (locked_old, staff_no_old):
        assert r[rec_id]["state"] == "expired", r[rec_id]
        assert not os.path.exists(files[rec_id]), f"the expired recording's file is still there"
    # staff may listen: kept whatever its age; a locked one of 29 days: kept
    for rec_id in (staff_yes_old, locked_young):
        assert r[rec_id]["state"] == "complete", r[rec_id]
        assert os.path.exists(files[rec_id])
    audit = [a for a in box.catalogue("audit") if a["action"] == "expire"]
    assert sorted(a["recording_id"] for a in audit) == sorted([locked_old, staff_no_old]), audit

    # a shorter period, from the config: the 29-day one goes too
    box = Box("retention", os.path.join(d, "speech.wav"), data=data, root=d,
              sets=["consent.retention_days=28"])
    n = len(box.events())
    box.start()
    expired = box.wait_for("expired", timeout=30, since=n)
    assert box.terminate() == 0, box.stderr_text()
    assert expired["count"] == 1 and expired["retention_days"] == 28, expired
    r = rows(box)
    assert r[locked_young]["state"] == "expired" and not os.path.exists(files[locked_young])
    assert r[staff_yes_old]["state"] == "complete" and os.path.exists(files[staff_yes_old])


if __name__ == "__main__":
    run([test_locked_recordings_go_after_the_retention_period])
