# SPDX-License-Identifier: MIT
"""A receipt for a manifest the box never wrote, or an old one, is not
applied: its withdrawals and consent changes do not take effect, nothing is
deleted.

Every receipt here is genuine, signed by the organisation's own collect:

1. never written: a copy of the box's data folder (the same box id and
   keys, the same recordings and receipt numbers) exports to another stick
   and is collected with a withdrawal and a consent change entered at the
   office. That receipt, put on the box's own stick, is refused: first
   when the box has written no export of that number at all, then when it
   has written its own export of that number (another manifest).
2. old: the box exports (1), exports again (2), the receipt for 2 is
   applied; a receipt for export 1, collected afterwards from a copy of the
   stick as it was, with a withdrawal and a consent change for a recording
   made since, is refused as replayed.

After each refusal the box's recordings, their consent, their files and the
audit log's withdrawals, consent changes and deletions are as before.

Cost: three short recordings, five exports and four collects, about 90 s on two cores.
"""
import json
import os
import shutil
import sqlite3

from drtest import archive_index, blake2b_256, log, run
from test_stick_export import World, admin, audit, insert, rows

CHANGES = ("withdraw", "consent", "delete", "receipt_applied")


def state(data):
    """What a receipt may change: each recording's state, consent and file."""
    out = {}
    for rid, r in rows(data).items():
        path = os.path.join(data, r["file"])
        out[rid] = (r["state"], r["consent_staff"], r["consent_share"], r["consent_by"],
                    blake2b_256(path) if os.path.exists(path) else None)
    return out


def changes(data):
    return [(a, d) for a, d in audit(data) if a in CHANGES]


def exports(data):
    db = sqlite3.connect(f"file:{data}/catalogue.sqlite?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT seq, manifest_blake2b FROM exports"
                               " WHERE finished_utc IS NOT NULL"))
    finally:
        db.close()


def refused(w, why, label):
    """Insert the box's stick (holding the receipt under test): it must be
    refused, and change nothing a receipt could change."""
    before, done = state(w.data), changes(w.data)
    rc, evs, err = w.insert()
    assert rc == 0, err
    assert "receipt refused" in err and why in err, \
        f"{label}: not refused as expected ({why!r}): stderr {err!r}, events {evs}"
    assert not [e for e in evs if e["ev"] == "receipt"], f"{label}: applied: {evs}"
    assert state(w.data) == before, f"{label}: the box changed:\n{before}\n{state(w.data)}"
    assert changes(w.data) == done, f"{label}: audited {changes(w.data)[len(done):]}"
    log(f"{label}: refused ({err.strip()}), nothing changed")


def receipt_from(w, stick, archive, lines, dev):
    """Collect `stick` into `archive` with these changes entered at the
    office; returns the folder holding the receipt it wrote."""
    ch = os.path.join(w.dir, os.path.basename(archive) + "-changes.txt")
    with open(ch, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    admin("collect", "--org", w.org, "--stick", stick, "--archive", archive, "--changes", ch)
    rdir = os.path.join(stick, "DIARYRM", "receipt")
    assert os.path.exists(os.path.join(rdir, dev + ".json")), os.listdir(rdir)
    # the changes are in it: applied, they would take effect (the receipt is
    # sealed to the box; collect writes into it every change the archive's
    # index records for the box)
    recorded = [(c["kind"], c["receipt"]) for c in archive_index(archive, dev)["changes"]]
    for line in lines:
        kind, number = line.split()[:2]
        assert (kind, number) in recorded, (line, recorded)
    return rdir


def put_receipt(w, rdir):
    dst = os.path.join(w.stick, "DIARYRM", "receipt")
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(rdir, dst)


def test_receipts_for_manifests_never_written_or_old_are_refused():
    w = World("receipt-refused", n_recordings=2, seconds=1.0)
    r0, r1 = w.ids
    rn = {rid: w.receipts[rid] for rid in w.ids}
    assert (rows(w.data)[r1]["consent_staff"], rows(w.data)[r1]["consent_share"]) == (1, 0)

    # 1. a twin box (a copy of the data folder) exports and is collected with
    # a withdrawal of r0 and more consent for r1
    twin = os.path.join(w.dir, "twin-data")
    shutil.copytree(w.data, twin)
    twin_stick = os.path.join(w.dir, "twin-stick")
    os.makedirs(twin_stick)
    admin("make-stick", "--org", w.org, "--stick", twin_stick, "--name", "Tam Staff",
          "--days", "30")
    rc, _, err = insert(twin, w.keys, twin_stick)
    assert rc == 0, err
    dev = os.listdir(os.path.join(twin_stick, "DIARYRM", "export"))[0]
    twin_manifest = blake2b_256(os.path.join(twin_stick, "DIARYRM", "export", dev,
                                             "manifest.json"))
    foreign = receipt_from(w, twin_stick, os.path.join(w.dir, "twin-archive"),
                           [f"withdraw {rn[r0]}", f"consent {rn[r1]} staff=yes share=yes"], dev)

    put_receipt(w, foreign)
    assert exports(w.data) == {}, "the box had exported already"
    refused(w, "did not write", "a receipt for an export the box never made")
    # the box has now made its own export 1, with another manifest
    mine = exports(w.data)
    assert list(mine) == [1] and mine[1] != twin_manifest, (mine, twin_manifest)
    old_stick = os.path.join(w.dir, "stick-after-export-1")
    shutil.copytree(w.stick, old_stick)
    shutil.rmtree(os.path.join(old_stick, "DIARYRM", "receipt"))
    refused(w, "did not write", "a receipt for export 1 of another manifest")

    # 2. the box's export 2 is collected and its receipt applied (r0 and r1
    # deleted: the archive holds them); a recording made since, r2, locked
    shutil.rmtree(os.path.join(w.stick, "DIARYRM", "receipt"))
    assert sorted(exports(w.data)) == [1, 2]
    w.collect()
    rc, evs, err = w.insert()
    assert rc == 0, err
    applied = [e for e in evs if e["ev"] == "receipt"]
    assert applied and applied[0]["deleted"] == 2, (evs, err)
    w.box.start()
    w.box.record(1.0)
    assert w.box.terminate() == 0, w.box.stderr_text()
    r2 = [i for i in rows(w.data) if i not in w.ids][0]
    rn2 = rows(w.data)[r2]["receipt"]
    assert rows(w.data)[r2]["consent_staff"] is None

    # a receipt for export 1, collected now from the stick as it was then,
    # withdrawing r2 and giving it consent
    old = receipt_from(w, old_stick, os.path.join(w.dir, "late-archive"),
                       [f"withdraw {rn2}", f"consent {rn2} staff=yes share=yes"], dev)
    put_receipt(w, old)
    refused(w, "replayed", "a receipt for an old export")
    assert rows(w.data)[r2]["state"] == "complete"


if __name__ == "__main__":
    run([test_receipts_for_manifests_never_written_or_old_are_refused])
