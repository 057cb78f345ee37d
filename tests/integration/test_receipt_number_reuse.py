# SPDX-License-Identifier: MIT
"""Receipt numbers are unique among what a box holds; after a number's rest
(366 days of the box's running time since its recording left the box) the
box may give it again. A withdrawal or consent change staff entered at the
office for the old recording must never land on the new one, on the office
PC (diaryroom-admin collect) or on the box (the receipt's changes, which every
receipt repeats).

On the simulated board, through the daemon and diaryroom-admin:
  1. two locked recordings, R1 and R2, exported and collected with staff's
     changes "consent R1's number staff=yes" and "withdraw R2's number";
     the receipt applied on the box (R1 consent changed and confirmed, R2
     withdrawn);
  2. the box then runs 367 days (its running-time counter, as a box that ran
     that long has it) with every other number resting, so the next two
     recordings, N1 and N2, get R1's and R2's numbers;
  3. N1 and N2 are exported and collected: the archive keeps both sealed
     (locked), neither withdrawn; the receipt, which repeats the old changes,
     changes neither on the box.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import time

from drtest import BUILD, Box, archive_index, log, run, speak, tmpdir

ADMIN = os.path.join(BUILD, "bin", "diaryroom-admin")
ENV = dict(os.environ, DIARYROOM_PASSPHRASE="a long passphrase for tests")
NO_SYS_TIME = ["setpriv", "--bounding-set", "-sys_time", "--inh-caps", "-sys_time"]
DAY_MS = 86400 * 1000


def admin(*args):
    p = subprocess.run([ADMIN] + list(args), capture_output=True, text=True, env=ENV)
    log(f"admin {args[0]}: rc {p.returncode} {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr
    return p


def plug(box, src, mount):
    n = len(box.events())
    shutil.copytree(src, mount)
    box.wait_for("stick", present=True, timeout=30, since=n)
    return n


def pull(box, mount, dst):
    shutil.rmtree(dst)
    shutil.copytree(mount, dst)
    shutil.rmtree(mount)
    box.wait_for("stick", present=False, timeout=30)


def by_id(box):
    return {r["id"]: r for r in box.catalogue()}


def test_receipt_number_reuse():
    d = tmpdir("reuse")
    org, keys, stick, archive = (os.path.join(d, n) for n in ("org", "keys", "stick", "archive"))
    mount = os.path.join(d, "mnt")
    os.makedirs(stick)
    admin("init-org", "--org", org, "--kdf", "interactive")
    admin("provision-device", "--org", org, "--out", keys)
    # a stick that outlives the 367 days the box is made to run
    admin("make-stick", "--org", org, "--stick", stick, "--name", "Sam Staff", "--days", "1000")
    mic = speak(os.path.join(d, "mic.wav"), "The garden group is the best thing here.")
    sets = ["stick.mount=" + mount, "export.keydir=" + keys]
    box = Box("reuse", mic, root=d, wrapper=NO_SYS_TIME, sets=sets).start()

    # 1. two locked recordings; staff enter a consent change for the first
    # and a withdrawal for the second, then the receipt reaches the box
    box.record(2.0)
    box.record(2.0)
    old = box.catalogue()
    r1, r2 = old[0], old[1]
    log(f"R1 {r1['id']} number {r1['receipt']}; R2 {r2['id']} number {r2['receipt']}")
    plug(box, stick, mount)
    box.wait_for("export_done", timeout=60)
    pull(box, mount, stick)
    changes = os.path.join(d, "changes.txt")
    with open(changes, "w") as f:
        f.write(f"consent {r1['receipt']} staff=yes share=no\nwithdraw {r2['receipt']}\n")
    admin("collect", "--org", org, "--stick", stick, "--archive", archive, "--changes", changes)
    n = plug(box, stick, mount)
    applied = box.wait_for("receipt_applied", timeout=60, since=n)
    assert applied["withdrawn"] == 1 and applied["consent_changed"] == 1, applied
    box.wait_for("export_done", timeout=60, since=n)
    pull(box, mount, stick)
    assert box.terminate() == 0
    rows = by_id(box)
    assert rows[r1["id"]]["state"] == "deleted" and rows[r2["id"]]["state"] == "withdrawn", rows

    # 2. 367 days of running time later, every other number resting
    db = sqlite3.connect(os.path.join(box.data, "catalogue.sqlite"))
    with db:
        run_ms = db.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'running_ms'").fetchone()[0]
        now_ms = run_ms + 367 * DAY_MS
        db.execute("UPDATE meta SET value = ? WHERE key = 'running_ms'", (now_ms,))
        db.execute("WITH RECURSIVE n(x) AS (SELECT 1000 UNION ALL SELECT x + 1 FROM n WHERE x < 9999)"
                   " INSERT OR IGNORE INTO receipts_held (receipt, source, added_utc, released_run_ms)"
                   " SELECT x, 'archive', 'test', ? FROM n", (now_ms - DAY_MS,))
        rest = dict(db.execute("SELECT receipt, released_run_ms FROM receipts_held WHERE receipt IN (?, ?)",
                               (r1["receipt"], r2["receipt"])))
    db.close()
    assert all(v < now_ms - 366 * DAY_MS for v in rest.values()), rest
    box.start()
    box.record(2.0)
    box.record(2.0)
    new = [r for r in box.catalogue() if r["id"] not in (r1["id"], r2["id"])]
    assert sorted(r["receipt"] for r in new) == sorted([r1["receipt"], r2["receipt"]]), new
    log("new recordings numbered " + ", ".join(f"{r['id']} {r['receipt']}" for r in new))

    # 3. exported and collected: the old changes reach neither, at the office
    plug(box, stick, mount)
    box.wait_for("export_done", timeout=60)
    pull(box, mount, stick)
    admin("collect", "--org", org, "--stick", stick, "--archive", archive)
    dev = [x for x in os.listdir(archive) if len(x) == 16 and os.path.isdir(os.path.join(archive, x))][0]
    idx = archive_index(archive, dev)["recordings"]
    files = os.listdir(os.path.join(archive, dev))
    for r in new:
        row = idx[r["id"]]
        log(f"archive {r['id']} ({r['receipt']}): {row['status']}, staff {row['consent_staff']}")
        assert row["status"] == "archived", row            # not withdrawn
        assert row["consent_staff"] == "unanswered" and row["locked"] is True, row
        assert r["id"] + ".opus" not in files, "a locked recording was made playable"
        assert r["id"] + ".opus.sealed" in files
    # the old ones keep what staff entered for them
    assert idx[r1["id"]]["consent_staff"] == "yes" and r1["id"] + ".opus" in files
    assert idx[r2["id"]]["status"] == "withdrawn"

    # ... and on the box, from the receipt that repeats the old changes
    n = plug(box, stick, mount)
    applied = box.wait_for("receipt_applied", timeout=60, since=n)
    log(f"applied: {applied}")
    assert applied["withdrawn"] == 0 and applied["consent_changed"] == 0, applied
    assert applied["deleted"] == 2, applied  # confirmed by the archive, as usual
    box.wait_for("export_done", timeout=60, since=n)
    pull(box, mount, stick)
    assert box.terminate() == 0
    rows = by_id(box)
    for r in new:
        assert rows[r["id"]]["state"] == "deleted", rows[r["id"]]
        assert rows[r["id"]]["consent_staff"] is None, rows[r["id"]]
    staff = [a for a in box.catalogue("audit")
             if a["recording_id"] in {r["id"] for r in new} and
             (a["action"] == "withdraw" or (a["action"] == "consent" and '"by":"staff"' in a["detail"]))]
    assert not staff, staff


if __name__ == "__main__":
    run([test_receipt_number_reuse])
