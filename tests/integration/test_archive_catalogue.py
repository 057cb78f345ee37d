#!/usr/bin/env python3
"""The office archive's catalogue (docs/archive.md), against what broke it:

- an archive made by the release before the catalogue (per-box index.json,
  tests/integration/fixtures/archive-v0) is migrated with nothing lost;
- ids and names crafted to reach outside the archive (in an old index.json,
  in catalogue rows) touch nothing outside it;
- a damaged or unreadable catalogue or index (garbage, cut short, symlink,
  FIFO, deleted) stops everything with a message, never "a new archive";
  FIFOs and symlinks in the archive and on the stick never hang collect;
- two collects at once (same box; different boxes): one waits, and the
  catalogue and the receipts are whole after each;
- collect SIGKILLed at random points, then run again, gives the archive an
  uninterrupted run gives, and no receipt is written before the catalogue
  holds what it lists;
- a later manifest claiming wider consent than the archive's records is
  refused for that recording and kept as evidence;
- consent.csv is 0600, whatever the umask.
"""
import datetime
import json
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from drtest import BUILD, archive_index, blake2b_256, log, run, speak, tmpdir

ADMIN = os.path.join(BUILD, "bin", "diaryroom-admin")
STICK = os.path.join(BUILD, "bin", "diaryroom-stick")
SEED = os.path.join(BUILD, "bin", "diaryroom-seed")
PASS = "a long passphrase for tests"
ENV = dict(os.environ, DIARYROOM_PASSPHRASE=PASS)
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "fixtures", "archive-v0")
# The office's clock for the archive made by the release before (its dates
# are fixed): within that fixture's retention period.
FIXTURE_NOW = "2026-12-05T00:00:00Z"
# For archives made here, from recordings made now: a fixed date would fall
# before them once the real date passed it (it did, at midnight).
NOW = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime(
    "%Y-%m-%dT%H:%M:%SZ")
AFTER_RETENTION = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=200)
                   ).strftime("%Y-%m-%dT%H:%M:%SZ")


def admin(*args, check=True, timeout=60, **kw):
    p = subprocess.run([ADMIN] + list(args), capture_output=True, text=True, env=ENV,
                       timeout=timeout, **kw)
    log(f"admin {args[0]}: rc {p.returncode}\n{p.stdout[:1500]}{p.stderr}".rstrip())
    if check:
        assert p.returncode == 0, p.stderr
    return p


def listing(archive):
    p = admin("list", "--archive", archive)
    return json.loads(p.stdout)


_SODIUM = None


def receipt_held(stick, dev, keys):
    """What the receipt on stick for box dev says the archive holds: {id:
    blake2b}, its sealed contents opened with the box's device key as the
    box does (crypto_box_seal to the Ed25519 key's X25519 form)."""
    global _SODIUM
    import base64
    import ctypes
    if _SODIUM is None:
        _SODIUM = ctypes.CDLL("libsodium.so.23")
        assert _SODIUM.sodium_init() >= 0
    outer = json.load(open(os.path.join(stick, "DIARYRM", "receipt", dev + ".json")))
    assert outer["format"] == "diaryroom-receipt" and outer["device"] == dev, outer
    c = base64.b64decode(outer["sealed"])
    edpk = open(os.path.join(keys, "device.pub"), "rb").read()
    edsk = open(os.path.join(keys, "device.key"), "rb").read()
    xpk, xsk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(32)
    assert _SODIUM.crypto_sign_ed25519_pk_to_curve25519(xpk, edpk) == 0
    assert _SODIUM.crypto_sign_ed25519_sk_to_curve25519(xsk, edsk) == 0
    plain = ctypes.create_string_buffer(len(c) - 48)
    assert _SODIUM.crypto_box_seal_open(plain, c, ctypes.c_ulonglong(len(c)), xpk, xsk) == 0
    body = json.loads(plain.raw)
    assert body["format"] == "diaryroom-receipt-contents" and body["device"] == dev, body
    held = {h["id"]: h["blake2b"] for h in body["held"]}
    assert len(held) == len(body["held"]), body
    return held


def assert_receipt_true(stick, dev, keys, archive):
    """Each recording the receipt lists as held is in the committed
    catalogue, archived, with the hash the receipt gives."""
    held = receipt_held(stick, dev, keys)
    recs = listing(archive)[dev]["recordings"]
    for rid, h in held.items():
        assert rid in recs and recs[rid]["status"] == "archived", (rid, recs.get(rid))
        assert recs[rid]["blake2b"] == h, (rid, recs[rid]["blake2b"], h)
    return held


def tree(root):
    """Every file under root with its hash (symlinks and FIFOs by kind)."""
    out = {}
    for r, ds, fs in os.walk(root):
        for f in fs + [d for d in ds if os.path.islink(os.path.join(r, d))]:
            p = os.path.join(r, f)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (blake2b_256(p) if stat.S_ISREG(st.st_mode)
                                             else stat.S_IFMT(st.st_mode))
    return out


class World:
    """An organisation, a seeded box and a stick it exported to."""

    def __init__(self, name, seconds="1,1,1", consent="yes/no,no/no,yes/yes", boxes=1):
        self.dir = tmpdir(name)
        self.org, self.archive = (os.path.join(self.dir, n) for n in ("org", "archive"))
        admin("init-org", "--org", self.org, "--kdf", "interactive")
        speech = speak(os.path.join(self.dir, "speech.wav"), "What I want to say.")
        self.sticks, self.datas, self.keys, self.receipts = [], [], [], {}
        for b in range(boxes):
            keys, data, stick = (os.path.join(self.dir, f"{n}{b}") for n in
                                 ("keys", "data", "stick"))
            os.makedirs(stick)
            admin("provision-device", "--org", self.org, "--out", keys)
            admin("make-stick", "--org", self.org, "--stick", stick, "--name", "Sam Staff")
            p = subprocess.run([SEED, "--data", data, "--org-pub", os.path.join(keys, "org.pub"),
                                "--wav", speech, "--seconds", seconds, "--consent", consent],
                               capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
            for line in p.stdout.splitlines():
                rid, receipt = line.split()[:2]
                self.receipts[rid] = receipt
            p = subprocess.run([STICK, "insert", "--data", data, "--keys", keys, "--stick",
                                stick], capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
            self.sticks.append(stick)
            self.datas.append(data)
            self.keys.append(keys)
        self.stick = self.sticks[0]

    def dev(self, stick=None):
        d = os.path.join(stick or self.stick, "DIARYRM", "export")
        return os.listdir(d)[0]

    def collect(self, *extra, stick=None, archive=None, check=False, timeout=60):
        return admin("collect", "--org", self.org, "--stick", stick or self.stick, "--archive",
                     archive or self.archive, "--now", NOW, *extra, check=check,
                     timeout=timeout)


def test_migration_from_the_release_before():
    d = tmpdir("migrate")
    shutil.copytree(FIXTURE, os.path.join(d, "f"))
    org, archive = os.path.join(d, "f", "org"), os.path.join(d, "f", "archive")
    dev = [x for x in os.listdir(archive) if len(x) == 16 and
           os.path.isdir(os.path.join(archive, x))][0]
    old = json.load(open(os.path.join(archive, dev, "index.json")))
    files_before = {k: v for k, v in tree(archive).items() if k.endswith((".opus", ".sealed"))}
    cat = listing(archive)[dev]
    # every row, every field, every change: nothing lost
    assert sorted(cat["recordings"]) == sorted(old["recordings"])
    for rid, row in old["recordings"].items():
        for k, v in row.items():
            assert cat["recordings"][rid][k] == v, (rid, k, v, cat["recordings"][rid])
    assert [{k: c[k] for k in ("kind", "receipt", "entered_utc")} for c in cat["changes"]] == \
        [{k: c[k] for k in ("kind", "receipt", "entered_utc")} for c in old["changes"]]
    assert {c["id"] for c in cat["consent_history"]} == set(old["recordings"])
    assert os.path.exists(os.path.join(archive, dev, "index.json.migrated"))
    assert not os.path.exists(os.path.join(archive, dev, "index.json"))
    # and the migrated archive keeps working: an unlock, and the sheet made
    # from the catalogue, 0600
    locked = [r for r, x in old["recordings"].items() if x["locked"] and
              x["status"] == "archived"]
    assert locked, old
    os.chmod(os.path.join(archive, "consent.csv"), 0o644)
    admin("unlock", "--org", org, "--archive", archive, "--receipt",
          old["recordings"][locked[0]]["receipt"], "--now", FIXTURE_NOW)
    assert os.path.exists(os.path.join(archive, dev, locked[0] + ".opus"))
    assert stat.S_IMODE(os.stat(os.path.join(archive, "consent.csv")).st_mode) == 0o600
    after = tree(archive)
    for k, v in files_before.items():
        assert after.get(k) == v, k
    p = admin("check", "--archive", archive)
    assert "the archive is sound" in p.stdout, p.stdout
    # migrated once: the next run finds nothing to migrate and loses nothing
    again = listing(archive)[dev]
    assert sorted(again["recordings"]) == sorted(old["recordings"])


def test_hostile_names_touch_nothing_outside():
    d = tmpdir("hostile-names")
    outside = os.path.join(d, "outside")
    os.makedirs(outside)
    for f in ("victim.opus", "victim.opus.sealed", "victim"):
        open(os.path.join(outside, f), "w").write("not the archive's\n")
    shutil.copytree(FIXTURE, os.path.join(d, "f"))
    org, archive = os.path.join(d, "f", "org"), os.path.join(d, "f", "archive")
    dev = [x for x in os.listdir(archive) if len(x) == 16 and
           os.path.isdir(os.path.join(archive, x))][0]
    ipath = os.path.join(archive, dev, "index.json")
    pristine = open(ipath).read()
    names = ["../../outside/victim", "../../../outside/victim", "/abs/victim", "a/b", "..", ".",
             "abc\u0000def", "A" * 32, "0" * 31 + "/", "f" * 5000, ""]
    for name in names:
        idx = json.loads(pristine)
        row = dict(next(iter(idx["recordings"].values())))
        idx["recordings"][name] = row
        idx["changes"].append({"kind": "withdraw", "receipt": row["receipt"],
                               "entered_utc": "2026-12-04T12:00:00Z"})
        open(ipath, "w").write(json.dumps(idx))
        p = admin("unlock", "--org", org, "--archive", archive, "--receipt", row["receipt"],
                  "--now", NOW, check=False)
        assert p.returncode != 0 and "cannot be migrated" in p.stderr, (name, p.stderr)
        assert sorted(os.listdir(outside)) == ["victim", "victim.opus", "victim.opus.sealed"]
        db = sqlite3.connect(os.path.join(archive, "catalogue.sqlite"))
        n = db.execute("SELECT count(*) FROM recordings").fetchone()[0] + \
            db.execute("SELECT count(*) FROM boxes").fetchone()[0]
        db.close()
        assert n == 0, name  # nothing half-migrated
    # a catalogue row altered to such a name (its checks switched off by an
    # attacker with the file): refused when read, nothing touched
    open(ipath, "w").write(pristine)
    listing(archive)
    db = sqlite3.connect(os.path.join(archive, "catalogue.sqlite"))
    with db:
        db.execute("PRAGMA ignore_check_constraints = 1")
        rid = db.execute("SELECT id FROM recordings LIMIT 1").fetchone()[0]
        db.execute("UPDATE recordings SET id = ?, file = ? WHERE id = ?",
                   ("../../outside/victim", "../../outside/victim.opus.sealed", rid))
    db.close()
    changes = os.path.join(d, "changes.txt")
    rc = json.loads(pristine)["recordings"][rid]["receipt"]
    open(changes, "w").write(f"withdraw {rc} {dev}\n")
    w = World("hostile-names-stick", seconds="1", consent="yes/no")
    p = admin("collect", "--org", org, "--stick", w.stick, "--archive", archive, "--changes",
              changes, "--now", NOW, check=False)
    # seen at open (quick_check checks the CHECK constraints), before anything
    # is read by name; rows are also checked when read ("not valid")
    assert p.returncode != 0 and "catalogue is damaged" in p.stderr and \
        "CHECK constraint" in p.stderr, p.stderr
    assert sorted(os.listdir(outside)) == ["victim", "victim.opus", "victim.opus.sealed"]
    for f in os.listdir(outside):
        assert open(os.path.join(outside, f)).read() == "not the archive's\n"


def test_damaged_catalogue_stops_everything():
    w = World("damaged", seconds="1,1", consent="yes/no,no/no")
    p = w.collect()
    assert p.returncode == 0, p.stderr
    dev = w.dev()
    good = open(os.path.join(w.archive, "catalogue.sqlite"), "rb").read()
    before = tree(w.archive)
    cat = os.path.join(w.archive, "catalogue.sqlite")
    real = os.path.join(w.dir, "elsewhere.sqlite")
    open(real, "wb").write(good)

    def damage(kind):
        os.unlink(cat)
        if kind == "garbage":
            open(cat, "wb").write(os.urandom(len(good)))
        elif kind == "cut":
            open(cat, "wb").write(good[:len(good) // 3])
        elif kind == "symlink":
            os.symlink(real, cat)
        elif kind == "fifo":
            os.mkfifo(cat)
        elif kind == "deleted":
            pass
        elif kind == "deep":
            # damage inside the recordings table's page, past the file's
            # header: the catalogue opens, its schema reads fine; only a
            # look at the pages (quick_check at open) sees it
            open(cat, "wb").write(good)
            con = sqlite3.connect(cat)
            root, = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'recordings'"
                                ).fetchone()
            psize, = con.execute("PRAGMA page_size").fetchone()
            con.close()
            with open(cat, "r+b") as f:
                f.seek((root - 1) * psize + 8)  # the page's cell pointers
                f.write(b"\xff\xf0" * 4)

    for kind in ("garbage", "cut", "symlink", "fifo", "deleted", "deep"):
        damage(kind)
        for cmd in (lambda: w.collect(timeout=30),
                    lambda: admin("unlock", "--org", w.org, "--archive", w.archive, "--receipt",
                                  "1234", "--now", NOW, check=False, timeout=30)):
            p = cmd()
            assert p.returncode != 0, (kind, p.stderr)
            assert "catalogue" in p.stderr and "nothing was changed" in p.stderr, (kind, p.stderr)
            if kind == "deep":  # seen at open, said plainly, before any work
                assert "catalogue is damaged" in p.stderr and "listing" not in p.stderr, p.stderr
        now = tree(w.archive)
        for k, v in before.items():
            if k.startswith(dev):
                assert now.get(k) == v, (kind, k)
        if os.path.lexists(cat):
            os.unlink(cat)
        for extra in ("-wal", "-shm"):
            if os.path.lexists(cat + extra):
                os.unlink(cat + extra)
        open(cat, "wb").write(good)
    # the catalogue back: all as before
    assert sorted(listing(w.archive)[dev]["recordings"]) == sorted(w.receipts)

    # a FIFO and a symlink where recordings are kept, and on the stick: no
    # hang; the symlink's target untouched; the archive's copies made right
    victim = os.path.join(w.dir, "victim")
    open(victim, "w").write("victim\n")
    ids = sorted(w.receipts)
    a = os.path.join(w.archive, dev)
    os.unlink(os.path.join(a, ids[0] + ".opus.sealed"))
    os.mkfifo(os.path.join(a, ids[0] + ".opus.sealed"))
    os.unlink(os.path.join(a, ids[1] + ".opus.sealed"))
    os.symlink(victim, os.path.join(a, ids[1] + ".opus.sealed"))
    sdev = os.path.join(w.stick, "DIARYRM", "export", dev)
    os.mkfifo(os.path.join(w.archive, "consent.csv.tmp"))
    p = w.collect(timeout=30)
    assert p.returncode == 0, p.stderr
    assert open(victim).read() == "victim\n"
    for rid in ids:
        st = os.lstat(os.path.join(a, rid + ".opus.sealed"))
        assert stat.S_ISREG(st.st_mode) and \
            blake2b_256(os.path.join(a, rid + ".opus.sealed")) == \
            blake2b_256(os.path.join(sdev, rid + ".opus.sealed")), rid
    # a FIFO for a recording on the stick: refused, no hang
    shutil.rmtree(w.archive)
    os.unlink(os.path.join(sdev, ids[0] + ".opus.sealed"))
    os.mkfifo(os.path.join(sdev, ids[0] + ".opus.sealed"))
    p = w.collect(timeout=30)
    assert p.returncode == 1 and "1 imported" in p.stderr and "1 failed" in p.stderr, p.stderr
    # an old archive's index.json that is a FIFO or a symlink: refused, no hang
    for kind in ("fifo", "symlink", "garbage"):
        d = os.path.join(w.dir, "old-" + kind)
        shutil.copytree(os.path.join(FIXTURE, "archive"), d)
        odev = [x for x in os.listdir(d) if len(x) == 16 and os.path.isdir(os.path.join(d, x))][0]
        ip = os.path.join(d, odev, "index.json")
        os.unlink(ip)
        if kind == "fifo":
            os.mkfifo(ip)
        elif kind == "symlink":
            os.symlink(os.path.join(FIXTURE, "archive", odev, "index.json"), ip)
        else:
            open(ip, "w").write('{"format":"diaryroom-archive-index","recordings":{"x')
        p = admin("list", "--archive", d, check=False, timeout=30)
        assert p.returncode != 0 and "cannot be migrated" in p.stderr, (kind, p.stderr)


def test_check_and_repair():
    w = World("check", seconds="1,1", consent="yes/no,no/no")
    assert w.collect().returncode == 0
    dev = w.dev()
    p = admin("check", "--archive", w.archive)
    assert "the archive is sound" in p.stdout, p.stdout
    ids = list(w.receipts)  # in the seed's order: yes/no, no/no
    a = os.path.join(w.archive, dev)
    sealed = os.path.join(a, ids[0] + ".opus.sealed")
    b = bytearray(open(sealed, "rb").read())
    b[200] ^= 1
    open(sealed, "wb").write(bytes(b))
    open(os.path.join(a, ids[1] + ".opus.tmp"), "w").write("left over")
    p = admin("check", "--archive", w.archive, check=False)
    assert p.returncode == 1 and "not the file its box signed" in p.stdout and \
        ids[1] + ".opus.tmp: not in the catalogue" in p.stdout, p.stdout
    # the catalogue lost: check says so; repair rebuilds it from the kept
    # manifests and the files, and says what it could not (the altered one)
    open(os.path.join(w.archive, "catalogue.sqlite"), "wb").write(b"garbage" * 100)
    p = admin("check", "--archive", w.archive, check=False)
    assert p.returncode == 1 and "repair" in p.stdout, p.stdout
    p = w.collect(timeout=30)
    assert p.returncode != 0 and "nothing was changed" in p.stderr, p.stderr
    p = admin("repair", "--org", w.org, "--archive", w.archive, "--now", NOW, check=False)
    assert p.returncode == 1 and "moved aside" in p.stdout and "NOT rebuilt" in p.stdout, p.stdout
    assert ids[0] in p.stdout and "not rebuilt" in p.stdout, p.stdout
    assert [f for f in os.listdir(w.archive) if f.startswith("catalogue.sqlite.damaged-")]
    recs = listing(w.archive)[dev]["recordings"]
    assert sorted(recs) == [ids[1]] and recs[ids[1]]["receipt"] == w.receipts[ids[1]], recs
    assert recs[ids[1]]["locked"] is True  # its manifest's consent (no/no)
    # and collect works again: the altered one comes back from the stick
    os.unlink(os.path.join(a, ids[1] + ".opus.tmp"))
    p = w.collect()
    assert p.returncode == 0, p.stderr
    assert admin("check", "--archive", w.archive).returncode == 0


def test_withdrawal_and_expiry_erase_and_record():
    w = World("erase", seconds="1,1", consent="yes/yes,no/no")
    assert w.collect().returncode == 0
    dev = w.dev()
    shared, locked = list(w.receipts)  # the seed's order
    a = os.path.join(w.archive, dev)
    open(os.path.join(a, shared + ".opus.tmp"), "w").write("a half-made copy")
    changes = os.path.join(w.dir, "changes.txt")
    open(changes, "w").write(f"withdraw {w.receipts[shared]}\n")
    p = w.collect("--changes", changes)
    assert p.returncode == 0, p.stderr
    # every copy gone: the sealed original, the playable copy, the half-made one
    assert not [f for f in os.listdir(a) if f.startswith(shared)], os.listdir(a)
    # the locked one's retention ends
    p = admin("collect", "--org", w.org, "--stick", w.stick, "--archive", w.archive,
              "--now", AFTER_RETENTION, check=False)
    assert not [f for f in os.listdir(a) if f.startswith(locked)], os.listdir(a)
    cat = listing(w.archive)[dev]
    assert cat["recordings"][shared]["status"] == "withdrawn"
    assert cat["recordings"][locked]["status"] == "expired"
    ev = {(e["id"], e["kind"], e["what"]) for e in cat["events"]}
    assert {(shared, "withdrawn", ""), (shared, "deleted", shared + ".opus.sealed"),
            (shared, "deleted", shared + ".opus"), (shared, "deleted", shared + ".opus.tmp"),
            (locked, "expired", ""), (locked, "deleted", locked + ".opus.sealed")} <= ev, ev
    acts = [(e["action"], e.get("recording")) for e in
            map(json.loads, open(os.path.join(w.archive, "audit.log")))]
    for x in (("withdraw", shared), ("delete", shared), ("expire", locked),
              ("delete", locked), ("change", None)):
        assert x in acts, (x, acts)
    assert admin("check", "--archive", w.archive).returncode == 0


def test_expiry_of_a_box_not_on_the_stick():
    """collect's retention pass covers every box in the archive, from the
    catalogue's start times: a locked recording goes the second its
    retention (30 days) has passed, not before, even when its box's folder
    is not on the stick collected."""
    w = World("away", seconds="1,1", consent="yes/yes,no/no")
    assert w.collect().returncode == 0
    dev = w.dev()
    shared, locked = list(w.receipts)
    a = os.path.join(w.archive, dev)
    empty = os.path.join(w.dir, "other-stick")
    os.makedirs(os.path.join(empty, "DIARYRM", "export"))
    start = listing(w.archive)[dev]["recordings"][locked]["start_utc"]
    t = datetime.datetime.strptime(start[:19], "%Y-%m-%dT%H:%M:%S") + datetime.timedelta(days=30)

    def collect_at(when):
        p = admin("collect", "--org", w.org, "--stick", empty, "--archive", w.archive,
                  "--now", when.strftime("%Y-%m-%dT%H:%M:%SZ"), check=False)
        assert p.returncode == 0, p.stderr
        return listing(w.archive)[dev]["recordings"]

    recs = collect_at(t)
    assert recs[locked]["status"] == "archived" and os.path.exists(os.path.join(a, locked + ".opus.sealed"))
    recs = collect_at(t + datetime.timedelta(seconds=1))
    assert recs[locked]["status"] == "expired", recs[locked]
    assert not [f for f in os.listdir(a) if f.startswith(locked)], os.listdir(a)
    assert recs[shared]["status"] == "archived"  # staff may listen: kept


def test_consent_sheet_mode():
    w = World("sheet-mode", seconds="1", consent="yes/no")
    old = os.umask(0o022)
    try:
        p = w.collect()
    finally:
        os.umask(old)
    assert p.returncode == 0, p.stderr
    for f in ("consent.csv", "catalogue.sqlite"):
        assert stat.S_IMODE(os.stat(os.path.join(w.archive, f)).st_mode) == 0o600, f


def test_two_collects_at_once():
    w = World("two-at-once", seconds="1,1,1", consent="yes/no,no/no,yes/yes", boxes=2)
    copy = os.path.join(w.dir, "stick0-copy")
    shutil.copytree(w.sticks[0], copy)
    # the archive the same collects give one after the other
    ref = os.path.join(w.dir, "reference")
    for s in (w.sticks[0], copy, w.sticks[1]):
        assert w.collect(stick=s, archive=ref).returncode == 0
    want = normalised(ref)
    for rep in range(3):
        if os.path.exists(w.archive):
            shutil.rmtree(w.archive)
        # same box, two copies of its stick; and then the other box at once
        for pair in ((w.sticks[0], copy), (w.sticks[0], w.sticks[1])):
            ps = [subprocess.Popen([ADMIN, "collect", "--org", w.org, "--stick", s, "--archive",
                                    w.archive, "--now", NOW], env=ENV, stderr=subprocess.PIPE,
                                   text=True) for s in pair]
            errs = [p.communicate(timeout=120)[1] for p in ps]
            for p, e in zip(ps, errs):
                log(e)
                assert p.returncode == 0, e
            cat = listing(w.archive)
            for s, e in zip(pair, errs):
                dev = w.dev(s)
                recs = cat[dev]["recordings"]
                assert len(recs) == 3 and all(r["status"] == "archived" for r in recs.values())
                held = int(e.split("receipt lists ")[1].split()[0])
                assert held == 3, e
                # what the receipt says, opened as the box opens it
                keys = w.keys[w.sticks.index(s)] if s in w.sticks else w.keys[0]
                got = assert_receipt_true(s, dev, keys, w.archive)
                assert sorted(got) == sorted(recs), (got, sorted(recs))
        # the same archive as one after the other
        got = normalised(w.archive)
        assert got == want, (rep, diff(got, want))
    # --no-wait: refused while another holds the lock
    lock = os.open(os.path.join(w.archive, ".lock"), os.O_RDWR)
    import fcntl
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        p = w.collect("--no-wait", timeout=30)
        assert p.returncode != 0 and "another diaryroom-admin is writing" in p.stderr, p.stderr
        t = subprocess.Popen([ADMIN, "collect", "--org", w.org, "--stick", w.stick,
                              "--archive", w.archive, "--now", NOW], env=ENV,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert t.poll() is None  # waiting
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    err = t.communicate(timeout=60)[1]
    assert t.returncode == 0 and "waiting for it to finish" in err, err


def normalised(archive):
    cat = listing(archive)
    for box in cat.values():
        box.pop("events", None)
        box.pop("consent_history", None)
    files = {k: v for k, v in tree(archive).items()
             if not k.startswith((".lock", "catalogue.sqlite", "audit."))}
    return cat, files


def diff(got, want):
    """Where two normalised archives differ, briefly."""
    out = []
    (gc, gf), (wc, wf) = got, want
    for k in sorted(set(gf) | set(wf)):
        if gf.get(k) != wf.get(k):
            out.append(f"file {k}: {gf.get(k)} != {wf.get(k)}")
    for box in sorted(set(gc) | set(wc)):
        g, w = gc.get(box, {}), wc.get(box, {})
        for rid in sorted(set(g.get("recordings", {})) | set(w.get("recordings", {}))):
            a, b = g.get("recordings", {}).get(rid), w.get("recordings", {}).get(rid)
            if a != b:
                out.append(f"row {rid}: " + str({k: (a or {}).get(k) for k in set(a or {}) | set(b or {})
                                                  if (a or {}).get(k) != (b or {}).get(k)}))
        if g.get("changes") != w.get("changes"):
            out.append("changes differ")
    return out


def test_killed_anywhere_gives_the_same_archive():
    w = World("killed", seconds="1,1,1", consent="yes/no,no/no,yes/yes")
    dev = w.dev()
    pristine = os.path.join(w.dir, "pristine-stick")
    shutil.copytree(w.stick, pristine)
    p = w.collect()
    assert p.returncode == 0, p.stderr
    want = normalised(w.archive)
    # when, in a run, the box's folder appears (the key is loaded, the
    # manifest checked) and when the run ends: the kills aim between the two
    timing = os.path.join(w.dir, "timing")
    t0 = time.monotonic()
    pr = subprocess.Popen([ADMIN, "collect", "--org", w.org, "--stick", w.stick, "--archive",
                           timing, "--now", NOW], env=ENV, stderr=subprocess.DEVNULL)
    first = None
    while pr.poll() is None:
        if first is None and os.path.isdir(os.path.join(timing, dev)):
            first = time.monotonic() - t0
        time.sleep(0.001)
    span = time.monotonic() - t0
    first = first if first is not None else 0.0
    log(f"collect: the box's folder after {first:.3f} s, done after {span:.3f} s")
    rng = random.Random(11)
    receipt = os.path.join(w.stick, "DIARYRM", "receipt", dev + ".json")
    kills = i = midway = receipts_seen = 0
    # until 30 runs were killed before they finished (a run that finished
    # first counts for nothing), at most 150 rounds
    while kills < 30:
        i += 1
        assert i <= 150, f"only {kills} runs killed in 150 rounds"
        shutil.rmtree(w.archive)
        shutil.rmtree(w.stick)
        shutil.copytree(pristine, w.stick)
        # killed once or twice, each at a random point, then run to the end
        for _ in range(1 + i % 2):
            pr = subprocess.Popen([ADMIN, "collect", "--org", w.org, "--stick", w.stick,
                                   "--archive", w.archive, "--now", NOW], env=ENV,
                                  stderr=subprocess.DEVNULL)
            # from the moment the box's folder appears: inside the import
            while pr.poll() is None and not os.path.isdir(os.path.join(w.archive, dev)):
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, max(span - first, 0.005)))
            pr.send_signal(signal.SIGKILL)
            pr.wait()
            kills += pr.returncode == -signal.SIGKILL
            if pr.returncode == -signal.SIGKILL:
                made = tree(w.archive) if os.path.isdir(w.archive) else {}
                midway += any("/" in k for k in made)  # the box's folder made
            if os.path.exists(receipt):
                # a receipt is written only once the catalogue holds all it
                # lists: its sealed contents, opened as the box opens them
                held = assert_receipt_true(w.stick, dev, w.keys[0], w.archive)
                receipts_seen += 1
                assert sorted(held) == sorted(w.receipts), held
        p = w.collect()
        assert p.returncode == 0, p.stderr
        got = normalised(w.archive)
        assert got == want, (i, diff(got, want))
        # the audit log's chain holds across the kills
        admin("audit", "--verify", "--archive", w.archive)
        # and holds each import once, however the kills fell between the
        # catalogue's commit and the log's append
        log_ = [json.loads(l) for l in open(os.path.join(w.archive, "audit.log"))]
        imports = sorted(e["recording"] for e in log_
                         if e.get("action") == "import" and e.get("box") == dev)
        assert imports == sorted(w.receipts), (i, imports)
    log(f"{kills} runs killed before they finished ({midway} after the box's folder was made; "
        f"{receipts_seen} after the receipt was written), in {i} rounds, each then run to the end")


def test_consent_only_widens_through_staff():
    w = World("widen", seconds="1", consent="no/no")
    dev = w.dev()
    rid = next(iter(w.receipts))
    p = w.collect()
    assert p.returncode == 0, p.stderr
    # the box (or someone with its key) signs a new export that claims
    # consent: the receipt is not applied, so the recording is exported again
    shutil.rmtree(os.path.join(w.stick, "DIARYRM", "receipt"))
    db = sqlite3.connect(os.path.join(w.datas[0], "catalogue.sqlite"))
    with db:
        db.execute("UPDATE recordings SET consent_staff = 1, consent_share = 1")
    db.close()
    p = subprocess.run([STICK, "insert", "--data", w.datas[0], "--keys", w.keys[0], "--stick",
                        w.stick], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    shown = json.loads(admin("manifest", "--org", w.org, "--stick", w.stick).stdout)[dev]
    assert shown["recordings"][0]["consent_staff"] == "yes", shown  # the claim is there
    p = w.collect()
    assert "claims wider consent" in p.stderr and rid in p.stderr, p.stderr
    row = listing(w.archive)[dev]
    rec = row["recordings"][rid]
    assert (rec["consent_staff"], rec["consent_share"], rec["locked"]) == ("no", "no", True), rec
    assert not os.path.exists(os.path.join(w.archive, dev, rid + ".opus"))
    assert [c for c in row["consent_history"] if c["source"] == "refused"], row
    # consent given through staff still opens it
    admin("unlock", "--org", w.org, "--archive", w.archive, "--receipt", w.receipts[rid],
          "--now", NOW)
    assert os.path.exists(os.path.join(w.archive, dev, rid + ".opus"))
    # each step is in the audit log, for this recording, in order
    acts = [json.loads(l) for l in open(os.path.join(w.archive, "audit.log"))]
    acts = [e["action"] for e in acts if e.get("recording") == rid]
    assert acts == ["import", "consent-refused", "consent", "unlock"], acts
    admin("audit", "--verify", "--archive", w.archive)


if __name__ == "__main__":
    run([test_migration_from_the_release_before, test_hostile_names_touch_nothing_outside,
         test_damaged_catalogue_stops_everything, test_check_and_repair,
         test_withdrawal_and_expiry_erase_and_record,
         test_expiry_of_a_box_not_on_the_stick, test_consent_sheet_mode,
         test_two_collects_at_once, test_killed_anywhere_gives_the_same_archive,
         test_consent_only_widens_through_staff])
