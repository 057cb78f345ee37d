# SPDX-License-Identifier: MIT
"""Staff sticks end to end on the simulated board (issue 4).

Record on the box (diaryroomd), give consent (diaryroom-stick consent, until
the daemon's consent dialogue lands), export to a stick folder
(diaryroom-stick insert, the dr_export API the daemon will drive), collect on
the PC (diaryroom-admin collect), insert again: the box deletes exactly what
the archive confirmed. Then: the stick pulled at every export step, and
hostile sticks (each refused with a clear line, nothing changed).

The box seals every recording to the organisation (issue 10): the stick
carries the sealed files and a manifest whose personal part is sealed too,
read here through `diaryroom-admin manifest`; the archive keeps the sealed
original of every recording and a playable copy of those staff may hear.
test_stick_sealed.py covers the sealing itself (scan, tampering)."""
import csv
import datetime
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess

from drtest import BUILD, Box, archive_index, blake2b_256, decode, log, opusinfo_clean, run, speak, tmpdir
from test_stick_sealed import assert_unreadable

ADMIN = os.path.join(BUILD, "bin", "diaryroom-admin")
STICK = os.path.join(BUILD, "bin", "diaryroom-stick")
PASS = "correct horse battery staple"
ENV = dict(os.environ, DIARYROOM_PASSPHRASE=PASS)


def admin(*args, check=True, env=None):
    p = subprocess.run([ADMIN] + list(args), capture_output=True, text=True, env=env or ENV)
    log(f"admin {args[0]}: rc {p.returncode}\n{p.stdout}{p.stderr}".rstrip())
    if check:
        assert p.returncode == 0, p.stderr
    return p


def insert(data, keys, stick, *extra):
    p = subprocess.run([STICK, "insert", "--data", data, "--keys", keys, "--stick", stick] +
                       list(extra), capture_output=True, text=True)
    evs = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    log(f"insert: rc {p.returncode} {p.stderr.strip()}")
    return p.returncode, evs, p.stderr


def rows(data):
    db = sqlite3.connect(f"file:{data}/catalogue.sqlite?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return {r["id"]: dict(r) for r in db.execute("SELECT * FROM recordings")}
    finally:
        db.close()


def audit(data):
    db = sqlite3.connect(f"file:{data}/catalogue.sqlite?mode=ro", uri=True)
    try:
        return [(a, d) for a, d in db.execute("SELECT action, detail FROM audit ORDER BY seq")]
    finally:
        db.close()


def manifest(w):
    """What each box's manifest on the stick lists, opened with the
    organisation's key: {device: contents}."""
    p = admin("manifest", "--org", w.org, "--stick", w.stick)
    return json.loads(p.stdout)


def open_box_file(w, rid, out):
    """A recording on the box, opened with the organisation's key."""
    admin("open", "--org", w.org, os.path.join(w.data, "recordings", rid + ".opus.sealed"), out)
    return out


def tree(d):
    """Every file under d (the archive) and its bytes' hash."""
    return {os.path.relpath(os.path.join(r, f), d): blake2b_256(os.path.join(r, f))
            for r, _, fs in os.walk(d) for f in fs}


def assert_sealed(path):
    """A locked recording's archive copy: nothing can play it."""
    data = open(path, "rb").read()
    assert data[:4] != b"OggS" and b"OggS" not in data, f"{path} holds Ogg pages"
    p = subprocess.run(["opusinfo", path], capture_output=True, text=True)
    assert p.returncode != 0, "opusinfo accepts a sealed recording:\n" + p.stdout + p.stderr
    p = subprocess.run(["opusdec", "--quiet", path, os.devnull], capture_output=True)
    assert p.returncode != 0, "opusdec decoded a sealed recording"


def snapshot(data):
    """Everything on the box that matters: rows, files and their hashes."""
    rec = os.path.join(data, "recordings")
    files = {f: blake2b_256(os.path.join(rec, f)) for f in sorted(os.listdir(rec))}
    r = rows(data)
    for v in r.values():
        v.pop("updated_utc", None)
    return r, files


class World:
    """An organisation, a provisioned box with recordings, a staff stick."""

    def __init__(self, name, n_recordings=3, seconds=1.2):
        self.dir = tmpdir(name)
        self.org = os.path.join(self.dir, "org")
        self.keys = os.path.join(self.dir, "keys")
        self.archive = os.path.join(self.dir, "archive")
        self.stick = os.path.join(self.dir, "stick")
        os.makedirs(self.stick)
        admin("init-org", "--org", self.org, "--kdf", "interactive")
        admin("provision-device", "--org", self.org, "--out", self.keys)
        admin("make-stick", "--org", self.org, "--stick", self.stick, "--name", "Sam Staff",
              "--days", "30")
        mic = speak(os.path.join(self.dir, "mic.wav"),
                    "This is what I want to say about the service.", pad=(0, 30))
        self.box = Box(name, mic, root=self.dir, sets=["session.min_length_ms=200", "consent.answer_s=2",
                                                       "consent.digit_pause_ms=0",
                                                       "export.keydir=" + self.keys]).start()
        for _ in range(n_recordings):
            self.box.record(seconds)
        assert self.box.terminate() == 0, self.box.stderr_text()
        self.data = self.box.data
        self.ids = sorted(rows(self.data))
        assert len(self.ids) == n_recordings
        # consent: the daemon asks (no press = no); set chosen answers directly: the first
        # may be heard by staff and shared, the second heard only, the rest
        # unanswered (locked)
        self.receipts = {}
        answers = [("yes", "yes"), ("yes", "no")]
        for i, rid in enumerate(self.ids):
            st, sh = answers[i] if i < len(answers) else ("unanswered", "unanswered")
            p = subprocess.run([STICK, "consent", "--data", self.data, "--id", rid, "--staff", st,
                                "--share", sh], capture_output=True, text=True, check=True)
            self.receipts[rid] = p.stdout.strip()

    def insert(self, *extra, stick=None):
        return insert(self.data, self.keys, stick or self.stick, *extra)

    def collect(self, *extra, stick=None, check=True):
        return admin("collect", "--org", self.org, "--stick", stick or self.stick, "--archive",
                     self.archive, *extra, check=check)


def test_record_export_collect_delete():
    w = World("stick-e2e")
    before = rows(w.data)
    rc, evs, err = w.insert()
    assert rc == 0, err
    lights = [e["pattern"] for e in evs if e["ev"] == "light"]
    assert lights == ["busy", "saved"], lights
    done = [e for e in evs if e["ev"] == "export_done"][0]
    assert done["files"] == 3 and done["failed"] == 0, done
    # nothing deleted by exporting
    assert all(r["state"] == "complete" for r in rows(w.data).values())
    dev = os.listdir(os.path.join(w.stick, "DIARYRM", "export"))[0]
    outer = json.load(open(os.path.join(w.stick, "DIARYRM", "export", dev, "manifest.json")))
    assert "recordings" not in outer and outer["version"] == 3, outer
    # recorded on the simulated board: every file on the stick reveals nothing
    on_stick = [os.path.join(r, f) for r, _, fs in os.walk(w.stick) for f in fs]
    assert len([f for f in on_stick if f.endswith(".opus.sealed")]) == 3, on_stick
    mtext = open(os.path.join(w.stick, "DIARYRM", "export", dev, "manifest.json")).read()
    for f in on_stick:
        assert_unreadable(f)
    for rid in w.ids:
        assert rid not in mtext and f'"{w.receipts[rid]}"' not in mtext, rid
    man = manifest(w)[dev]
    by_id = {m["id"]: m for m in man["recordings"]}
    assert sorted(by_id) == w.ids
    for rid in w.ids:
        m = by_id[rid]
        assert m["blake2b"] == before[rid]["blake2b"]
        assert m["receipt"] == w.receipts[rid]
        assert m["locked"] == (m["consent_staff"] != "yes")
        assert blake2b_256(os.path.join(w.stick, "DIARYRM", "export", dev, m["file"])) == m["blake2b"]
    assert by_id[w.ids[2]]["locked"] is True

    # collect on the PC, with a consent change for one recording
    changes = os.path.join(w.dir, "changes.txt")
    with open(changes, "w") as f:
        f.write(f"# entered by staff\nconsent {w.receipts[w.ids[1]]} staff=yes share=yes\n")
    p = w.collect("--changes", changes)
    assert "3 imported" in p.stderr, p.stderr
    # the box's sealed original of every recording; the consented ones also
    # playable, the same audio as the box's recording opened by the PC
    for rid in w.ids:
        assert blake2b_256(os.path.join(w.archive, dev, rid + ".opus.sealed")) == \
            before[rid]["blake2b"]
    for rid in w.ids[:2]:
        said = decode(open_box_file(w, rid, os.path.join(w.dir, rid + "-box.opus")))
        heard = decode(os.path.join(w.archive, dev, rid + ".opus"))
        assert len(heard) == len(said) and (heard == said).all(), "not what was said"
    # the locked one is in the archive only sealed: no playable copy at all
    locked, lrc = w.ids[2], w.receipts[w.ids[2]]
    sealed = os.path.join(w.archive, dev, locked + ".opus.sealed")
    assert not os.path.exists(os.path.join(w.archive, dev, locked + ".opus"))
    assert_sealed(sealed)
    assert open(sealed, "rb").read(8) == b"DRSEAL02"
    playable = sorted(f for _, _, fs in os.walk(w.archive) for f in fs if f.endswith(".opus"))
    assert playable == sorted(i + ".opus" for i in w.ids[:2]), playable
    sheet = list(csv.DictReader(open(os.path.join(w.archive, "consent.csv"), newline="")))
    assert sorted(r["recording"] for r in sheet) == w.ids
    row1 = next(r for r in sheet if r["recording"] == w.ids[1])
    assert (row1["staff_may_listen"], row1["may_share"]) == ("yes", "yes"), row1
    row2 = next(r for r in sheet if r["recording"] == locked)
    assert (row2["locked"], row2["stored"]) == ("yes", "sealed"), row2
    assert row1["stored"] == "playable", row1
    # idempotent
    p = w.collect("--changes", changes)
    assert "0 imported, 3 already" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(w.archive, dev, locked + ".opus"))

    # the resident gives consent later, against their receipt number: unlock.
    # A wrong number, a wrong passphrase, a damaged sealed file change nothing.
    def unlock(*extra, env=None):
        return admin("unlock", "--org", w.org, "--archive", w.archive, *extra, check=False,
                     env=env)

    untouched = tree(w.archive)
    wrong = next(f"{n:04d}" for n in range(1000, 10000) if f"{n:04d}" not in w.receipts.values())
    p = unlock("--receipt", wrong)
    assert p.returncode == 1 and "no recording numbered" in p.stderr, p.stderr
    assert tree(w.archive) == untouched
    p = unlock("--receipt", lrc, env=dict(ENV, DIARYROOM_PASSPHRASE="not the passphrase"))
    assert p.returncode == 1 and "wrong passphrase" in p.stderr, p.stderr
    assert tree(w.archive) == untouched
    p = unlock("--receipt", w.receipts[w.ids[0]])  # not locked
    assert p.returncode == 1 and "not locked" in p.stderr, p.stderr
    assert tree(w.archive) == untouched
    good = open(sealed, "rb").read()
    for where in (8, 100, len(good) // 2, len(good) - 1):  # the key, the header, audio, the end
        bad = bytearray(good)
        bad[where] ^= 0x01
        open(sealed, "wb").write(bytes(bad))
        flipped = tree(w.archive)
        p = unlock("--receipt", lrc)
        assert p.returncode == 1 and "damaged or altered" in p.stderr, (where, p.stderr)
        assert tree(w.archive) == flipped, where
    open(sealed, "wb").write(good[: len(good) - 40])  # cut off
    p = unlock("--receipt", lrc)
    assert p.returncode == 1 and "damaged or altered" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(w.archive, dev, locked + ".opus"))
    open(sealed, "wb").write(good)
    assert tree(w.archive) == untouched

    p = unlock("--receipt", lrc, "--share", "no")
    assert p.returncode == 0, p.stderr
    opened = os.path.join(w.archive, dev, locked + ".opus")
    assert blake2b_256(sealed) == before[locked]["blake2b"]  # the original stays
    opusinfo_clean(opened)
    said = decode(open_box_file(w, locked, os.path.join(w.dir, "locked-box.opus")))
    heard = decode(opened)
    assert len(heard) == len(said) and (heard == said).all(), "not what was said"
    assert abs(len(heard) / 48000 - before[locked]["duration_ms"] / 1000) < 0.2
    assert float((heard.astype(float) ** 2).mean()) > 1e-6, "silence"
    sheet = list(csv.DictReader(open(os.path.join(w.archive, "consent.csv"), newline="")))
    row2 = next(r for r in sheet if r["recording"] == locked)
    assert (row2["staff_may_listen"], row2["may_share"], row2["locked"], row2["stored"]) == \
        ("yes", "no", "no", "playable"), row2
    idx = archive_index(w.archive, dev)
    assert {"kind": "consent", "receipt": lrc, "staff": "yes", "share": "no"}.items() <= \
        idx["changes"][-1].items(), idx["changes"]
    # the next collect tells the box, and does not lock it again although the
    # stick's manifest still says locked
    kept = blake2b_256(opened)
    p = w.collect("--changes", changes)
    assert "0 imported, 3 already" in p.stderr, p.stderr
    assert blake2b_256(opened) == kept and blake2b_256(sealed) == before[locked]["blake2b"]

    # a new recording after the export is not confirmed and must stay
    w.box.start()
    w.box.record(1.0)
    assert w.box.terminate() == 0
    new = [i for i in rows(w.data) if i not in w.ids]
    assert len(new) == 1

    rc, evs, err = w.insert()
    assert rc == 0, err
    rec = [e for e in evs if e["ev"] == "receipt"][0]
    assert rec["deleted"] == 3 and rec["consent_changed"] == 2, rec
    after = rows(w.data)
    for rid in w.ids:
        assert after[rid]["state"] == "deleted", after[rid]
        assert not os.path.exists(os.path.join(w.data, "recordings", rid + ".opus.sealed"))
    assert after[new[0]]["state"] == "complete"
    assert os.path.exists(os.path.join(w.data, "recordings", new[0] + ".opus.sealed"))
    assert after[w.ids[1]]["consent_share"] == 1
    assert (after[locked]["consent_staff"], after[locked]["consent_share"]) == (1, 0), after[locked]
    acts = [a for a, _ in audit(w.data)]
    assert acts.count("delete") == 3 and "receipt_applied" in acts, acts
    # the stick now holds only the new one; the receipt was used up
    assert [m["id"] for m in manifest(w)[dev]["recordings"]] == new
    assert not os.path.exists(os.path.join(w.stick, "DIARYRM", "receipt", dev + ".json"))
    w.stick_copy = None

    # the resident changes their mind again (staff may not listen): the
    # archive's playable copy goes, the sealed original stays
    with open(changes, "a") as f:
        f.write(f"consent {lrc} staff=no share=no\n")
    p = w.collect("--changes", changes)
    assert not os.path.exists(opened), p.stderr
    assert_sealed(sealed)
    sheet = list(csv.DictReader(open(os.path.join(w.archive, "consent.csv"), newline="")))
    row2 = next(r for r in sheet if r["recording"] == locked)
    assert (row2["locked"], row2["stored"]) == ("yes", "sealed"), row2

    # the retention rule (issue 3): the archive deletes a sealed copy still
    # locked once its retention period (default 30 days) has ended, as the box
    # does with its own copy; never a playable (consented) one of the same age
    def at(days):
        idx = archive_index(w.archive, dev)
        start = datetime.datetime.strptime(idx["recordings"][locked]["start_utc"][:19],
                                           "%Y-%m-%dT%H:%M:%S")
        return (start + datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def sheet_row(rid):
        sheet = list(csv.DictReader(open(os.path.join(w.archive, "consent.csv"), newline="")))
        return next(r for r in sheet if r["recording"] == rid)

    p = w.collect("--retention-days", "0", check=False)
    assert p.returncode != 0 and "retention-days" in p.stderr, p.stderr
    kept = {i: blake2b_256(os.path.join(w.archive, dev, i + ".opus")) for i in w.ids[:2]}
    p = w.collect("--now", at(29))  # one day before the end: nothing deleted
    assert "retention period" not in p.stderr, p.stderr
    assert os.path.exists(sealed) and sheet_row(locked)["stored"] == "sealed"
    p = w.collect("--now", at(31))  # a day after: the sealed copy goes
    assert f"receipt {lrc}) was locked and its retention period ended on {at(30)}" in p.stderr, \
        p.stderr
    assert not os.path.exists(sealed) and not os.path.exists(opened), p.stderr
    for i in w.ids[:2]:  # the consented ones, as old, are untouched
        assert blake2b_256(os.path.join(w.archive, dev, i + ".opus")) == kept[i]
        assert sheet_row(i)["stored"] == "playable"
    idx = archive_index(w.archive, dev)
    e = idx["recordings"][locked]
    assert (e["status"], e["receipt"], e["blake2b"], e["retention_ended_utc"]) == \
        ("expired", lrc, before[locked]["blake2b"], at(30)), e
    row2 = sheet_row(locked)
    assert (row2["status"], row2["stored"], row2["receipt"]) == ("expired", "expired", lrc), row2
    # the receipt for the box no longer lists it (nor the new locked one, as
    # old): it is sealed to the box, so the box says so when it applies it
    rc, evs, err = w.insert()
    assert rc == 0, err
    rec = [e for e in evs if e["ev"] == "receipt"][0]
    assert rec["deleted"] == 0 and rec["hash_mismatch"] == 0, rec
    assert rows(w.data)[new[0]]["state"] == "complete"
    # unlock is refused, nothing changed
    untouched = tree(w.archive)
    p = unlock("--receipt", lrc)
    assert p.returncode == 1 and f"the retention period ended on {at(30)}" in p.stderr and \
        "the recording was deleted" in p.stderr, p.stderr
    assert tree(w.archive) == untouched
    # and it stays expired: a later collect neither brings it back nor changes it,
    # and a consent entered for it now is not recorded (its number may be reused)
    with open(changes, "a") as f:
        f.write(f"consent {lrc} staff=yes share=no\n")
    p = w.collect("--changes", changes, "--now", at(32))
    assert f"receipt {lrc}: the retention period" in p.stderr, p.stderr
    after_idx = archive_index(w.archive, dev)
    assert after_idx["recordings"][locked] == e and after_idx["changes"] == idx["changes"]
    assert not os.path.exists(opened) and not os.path.exists(sealed)


def test_pull_at_every_step():
    w = World("stick-pull", n_recordings=2, seconds=1.0)
    pristine_stick = os.path.join(w.dir, "pristine-stick")
    pristine_data = os.path.join(w.dir, "pristine-data")
    shutil.copytree(w.stick, pristine_stick)
    shutil.copytree(w.data, pristine_data)

    def reset():
        for src, dst in ((pristine_stick, w.stick), (pristine_data, w.data)):
            shutil.rmtree(dst)
            shutil.copytree(src, dst)
        shutil.rmtree(w.archive, ignore_errors=True)

    rc, evs, err = w.insert()
    assert rc == 0, err
    nsteps = len([e for e in evs if e["ev"] == "export_progress"])
    log(f"a whole export is {nsteps} steps")
    assert nsteps >= 5
    for k in range(nsteps):
        reset()
        snap = snapshot(w.data)
        rc, evs, err = w.insert("--kill-after-steps", str(k))
        assert rc == -9, (k, rc, err)
        # nothing lost or changed on the box (export bookkeeping aside)
        r2, f2 = snapshot(w.data)
        assert f2 == snap[1], k
        assert {i: r["state"] for i, r in r2.items()} == {i: r["state"] for i, r in snap[0].items()}
        # a stick cut here: collect imports only what a valid manifest lists,
        # and a receipt for no finished export deletes nothing
        p = w.collect(check=False)
        assert "altered" not in p.stderr
        rc, evs, err = w.insert("--kill-after-steps", "0")
        assert snapshot(w.data)[1] == snap[1], k
        # the next insertion resumes and finishes; then collect and confirm
        rc, evs, err = w.insert()
        assert rc == 0, (k, err)
        w.collect()
        rc, evs, err = w.insert()
        assert rc == 0, (k, err)
        assert all(r["state"] == "deleted" for r in rows(w.data).values()), k
        assert os.listdir(os.path.join(w.data, "recordings")) == []
        devdir = [d for d in os.listdir(w.archive) if len(d) == 16 and
                  os.path.isdir(os.path.join(w.archive, d))][0]
        archived = sorted(f for f in os.listdir(os.path.join(w.archive, devdir))
                          if f.endswith(".opus.sealed"))
        assert archived == sorted(i + ".opus.sealed" for i in snap[0]), (k, archived)


def test_hostile_sticks():
    w = World("stick-hostile", n_recordings=1, seconds=1.0)
    snap = snapshot(w.data)
    top = os.path.join(w.stick, "DIARYRM")

    def fresh(name):
        d = os.path.join(w.dir, name)
        shutil.copytree(w.stick, d, symlinks=True)
        return d

    def refused(stick, expect, *extra):
        rc, evs, err = w.insert(*extra, stick=stick)
        assert rc == 2, (stick, rc, err)
        assert expect in err, (expect, err)
        assert [e["pattern"] for e in evs if e["ev"] == "light"] == ["error"], evs
        assert snapshot(w.data) == snap, stick
        # and the stick was not written to
        assert not os.path.exists(os.path.join(stick, "DIARYRM", "export")), stick

    empty = os.path.join(w.dir, "empty")
    os.makedirs(empty)
    refused(empty, "not a staff stick")
    s = fresh("notoken")
    os.unlink(os.path.join(s, "DIARYRM", "token.json"))
    refused(s, "no token")
    # a token signed by another organisation
    other = os.path.join(w.dir, "other-org")
    admin("init-org", "--org", other, "--kdf", "interactive")
    s = os.path.join(w.dir, "otherorg")
    os.makedirs(s)
    admin("make-stick", "--org", other, "--stick", s, "--name", "Mallory")
    refused(s, "not signed by the expected key")
    # a token edited after signing (a later expiry)
    s = fresh("edited")
    t = open(os.path.join(s, "DIARYRM", "token.json")).read().replace("20", "29", 1)
    open(os.path.join(s, "DIARYRM", "token.json"), "w").write(t)
    refused(s, "not signed")
    # expired: a stick made long ago, for a day
    s = os.path.join(w.dir, "expired")
    os.makedirs(s)
    admin("make-stick", "--org", w.org, "--stick", s, "--name", "Old", "--days", "1",
          "--now", "2025-01-01T00:00:00Z")
    refused(s, "expired")
    # revoked: the box learns it from another (valid) stick carrying the list
    s = os.path.join(w.dir, "revoked")
    os.makedirs(s)
    admin("make-stick", "--org", w.org, "--stick", s, "--name", "Lost Stick")
    admin("revoke", "--org", w.org, "--stick", s)
    s2 = os.path.join(w.dir, "carrier")
    os.makedirs(s2)
    admin("make-stick", "--org", w.org, "--stick", s2, "--name", "Carrier")
    rc, _, err = w.insert(stick=s2)
    assert rc == 0, err
    snap = snapshot(w.data)
    refused(s, "revoked")
    # truncated and malformed files
    for name, data in [("truncated", None), ("garbage", b"\x00\xff{{{"), ("sig-short", "sig")]:
        s = fresh(name)
        p = os.path.join(s, "DIARYRM", "token.json")
        if data is None:
            b = open(p, "rb").read()
            open(p, "wb").write(b[: len(b) // 2])
        elif data == "sig":
            open(os.path.join(s, "DIARYRM", "token.sig"), "wb").write(b"x" * 10)
        else:
            open(p, "wb").write(data)
        refused(s, "refused")
    # symlinks: the token, and the top folder
    s = fresh("symtoken")
    os.replace(os.path.join(s, "DIARYRM", "token.json"), os.path.join(s, "real.json"))
    os.symlink("../real.json", os.path.join(s, "DIARYRM", "token.json"))
    refused(s, "symbolic link")
    s = os.path.join(w.dir, "symtop")
    os.makedirs(s)
    os.symlink(top, os.path.join(s, "DIARYRM"))
    rc, evs, err = w.insert(stick=s)
    assert rc == 2 and "not a real folder" in err, err
    # huge file
    s = fresh("huge")
    with open(os.path.join(s, "DIARYRM", "token.json"), "wb") as f:
        f.truncate(1 << 30)
    refused(s, "too large")

    # a valid stick whose export folder is a symlink out of the stick
    s = fresh("symexport")
    outside = os.path.join(w.dir, "outside")
    os.makedirs(outside)
    os.symlink(outside, os.path.join(s, "DIARYRM", "export"))
    rc, evs, err = w.insert(stick=s)
    assert rc == 1 and "not a real folder" in err, err
    assert os.listdir(outside) == []

    # receipts: from another device, replayed, forged
    rc, _, err = w.insert()
    assert rc == 0, err
    w.collect()
    dev = os.listdir(os.path.join(w.stick, "DIARYRM", "export"))[0]
    rdir = os.path.join(w.stick, "DIARYRM", "receipt")
    saved = os.path.join(w.dir, "receipt-saved")
    shutil.copytree(rdir, saved)
    snap = snapshot(w.data)
    # forged: one byte changed
    j = open(os.path.join(rdir, dev + ".json")).read().replace('"device"', '"device" ', 1)
    open(os.path.join(rdir, dev + ".json"), "w").write(j)
    rc, evs, err = w.insert()
    assert "receipt refused" in err and "not signed" in err, err
    assert snapshot(w.data)[1] == snap[1]
    # this box's receipt renamed for another box: refused by that box
    shutil.rmtree(rdir)
    shutil.copytree(saved, rdir)
    other_keys = os.path.join(w.dir, "keys2")
    admin("provision-device", "--org", w.org, "--out", other_keys)
    other_dev = admin("provision-device", "--org", w.org, "--out",
                      other_keys + "b").stdout.split()[1].rstrip(":")
    for ext in ("json", "sig"):
        shutil.copy(os.path.join(saved, f"{dev}.{ext}"), os.path.join(rdir, f"{other_dev}.{ext}"))
    rc, evs, err = insert(w.data + "-other", other_keys + "b", w.stick)
    assert "receipt refused" in err and "for box " + dev in err, err
    # the genuine receipt is applied once ...
    rc, evs, err = w.insert()
    assert rc == 0 and [e for e in evs if e["ev"] == "receipt"][0]["deleted"] == 1, (evs, err)
    # ... and refused when replayed
    shutil.copytree(saved, rdir, dirs_exist_ok=True)
    snap = snapshot(w.data)
    rc, evs, err = w.insert()
    assert "receipt refused" in err and "replayed" in err, err
    assert snapshot(w.data)[1] == snap[1]


def test_clock_unset():
    w = World("stick-clock", n_recordings=1, seconds=1.0)
    rc, evs, err = w.insert("--now", "1970-01-02T00:00:00Z")
    assert rc == 0, err
    assert [e for e in evs if e["ev"] == "clock_set"], evs
    r = list(rows(w.data).values())[0]
    assert r["time_uncertain"] == 1 and r["created_utc_box"], r
    dev = os.listdir(os.path.join(w.stick, "DIARYRM", "export"))[0]
    assert manifest(w)[dev]["recordings"][0]["time_uncertain"] is True
    # a clock that is right is left alone, and nothing more is flagged
    rc, evs, err = w.insert()
    assert not [e for e in evs if e["ev"] == "clock_set"], evs


if __name__ == "__main__":
    run([test_record_export_collect_delete, test_pull_at_every_step, test_hostile_sticks,
         test_clock_unset])
