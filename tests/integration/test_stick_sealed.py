# SPDX-License-Identifier: MIT
"""Sealed from the first byte, on the stick and at the office PC (issue 10).

A box's data folder is seeded (diaryroom-seed: the real store, recorder,
encoder and sealing sink, at full speed) with recordings of known speech,
each sealed to the test's organisation as the box seals it; the box's own
export (diaryroom-stick insert, the dr_export API the daemon drives) copies
them to a staff stick; the office PC collects (diaryroom-admin collect).

- The stick carries nothing readable: every file on it is scanned (no Ogg,
  Opus or Matroska magic, no low-entropy stretch in a recording, nothing of
  a recording in clear in the manifest or the receipt).
- The archive keeps the box's sealed original of every recording, a
  playable copy only where staff may listen, and that copy decodes to what
  was said; a recording cut off by a power failure is finished.
- Tampering on the box's storage (the box then signs the tampered file's
  hash) or on the stick: a flipped byte, a message cut short, a recording
  cut before its last message but said complete, two messages swapped, a
  message from another recording, a key sealed for another organisation.
  collect refuses each with a clear line and keeps nothing of it; `open`
  refuses it too; the box keeps it (not confirmed by the receipt).
- unlock opens a locked recording's original (and an archive's DRSEAL01
  file from before stick format 2); a withdrawal deletes every copy.
- The passphrase: DIARYROOM_PASSPHRASE_FD strictly parsed, init-org through
  it works, the minimum length holds however it is given, and
  DIARYROOM_PASSPHRASE leaves the environment once read.

About 40 s on 2 cores (Argon2id "interactive" for every passphrase use)."""
import csv
import json
import math
import os
import shutil
import sqlite3
import struct
import subprocess
import time

from drtest import BUILD, SANITIZE, archive_index, blake2b_256, log, read_wav, run, similarity, speak, tmpdir

ADMIN = os.path.join(BUILD, "bin", "diaryroom-admin")
STICK = os.path.join(BUILD, "bin", "diaryroom-stick")
SEED = os.path.join(BUILD, "bin", "diaryroom-seed")
PASS = "a long passphrase for tests"
ENV = dict(os.environ, DIARYROOM_PASSPHRASE=PASS)
RATE = 48000

HEADER = 136  # docs/sealed-file.md
FRAME = 24
MAGICS = [b"OggS", b"OpusHead", b"OpusTags", b"\x1a\x45\xdf\xa3", b"matroska", b"webm"]


def admin(*args, check=True, env=None, **kw):
    p = subprocess.run([ADMIN] + list(args), capture_output=True, text=True, env=env or ENV, **kw)
    log(f"admin {args[0]}: rc {p.returncode}\n{p.stdout[:2000]}{p.stderr}".rstrip())
    if check:
        assert p.returncode == 0, p.stderr
    return p


# ---- the sealed file, as far as a keyless tamperer can go ----

def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & 0xFFFFFFFFFFFFFFFF


def siphash24(key, data):
    """SipHash-2-4 (libsodium's crypto_shorthash), for the header checksum
    a tamperer can recompute: it is keyed with a public constant."""
    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261,
         k1 ^ 0x7465646279746573]
    M = 0xFFFFFFFFFFFFFFFF

    def rnd():
        v[0] = (v[0] + v[1]) & M; v[1] = _rotl(v[1], 13); v[1] ^= v[0]; v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & M; v[3] = _rotl(v[3], 16); v[3] ^= v[2]
        v[0] = (v[0] + v[3]) & M; v[3] = _rotl(v[3], 21); v[3] ^= v[0]
        v[2] = (v[2] + v[1]) & M; v[1] = _rotl(v[1], 17); v[1] ^= v[2]; v[2] = _rotl(v[2], 32)

    n = len(data)
    tail = data[n - n % 8:] + b"\0" * (7 - n % 8) + bytes([n & 0xFF])
    for i in range(0, n - n % 8, 8):
        m = struct.unpack_from("<Q", data, i)[0]
        v[3] ^= m; rnd(); rnd(); v[0] ^= m
    m = struct.unpack("<Q", tail)[0]
    v[3] ^= m; rnd(); rnd(); v[0] ^= m
    v[2] ^= 0xFF
    rnd(); rnd(); rnd(); rnd()
    return struct.pack("<Q", v[0] ^ v[1] ^ v[2] ^ v[3])


def messages(b):
    """(offset, length) of each message of a sealed file."""
    out, off = [], HEADER
    while off < len(b):
        clen = struct.unpack_from("<I", b, off)[0]
        out.append((off, FRAME + clen))
        off += FRAME + clen
    return out


def entropy(bs):
    counts = [0] * 256
    for x in bs:
        counts[x] += 1
    n = len(bs)
    return -sum(c / n * math.log2(c / n) for c in counts if c)


def assert_unreadable(path):
    """A file on the stick reveals nothing: no container or codec magic
    anywhere; a recording is high-entropy throughout (its clear parts are
    only the 136-byte header and 24 bytes per message)."""
    b = open(path, "rb").read()
    for m in MAGICS:
        assert m not in b, f"{path} holds {m!r}"
    if path.endswith(".opus.sealed"):
        assert b[:8] == b"DRSEAL02", path
        for i in range(0, max(1, len(b) - 1024 + 1), 512):
            e = entropy(b[i:i + 1024])
            assert e > 7.5, f"{path}: a low-entropy stretch at {i} ({e:.2f} bits/byte)"


# ---- the world: an organisation, a seeded box, a stick ----

class World:
    def __init__(self, name):
        self.dir = tmpdir(name)
        self.org, self.keys, self.stick, self.data, self.archive = (
            os.path.join(self.dir, n) for n in ("org", "keys", "stick", "data", "archive"))
        os.makedirs(self.stick)
        admin("init-org", "--org", self.org, "--kdf", "interactive")
        admin("provision-device", "--org", self.org, "--out", self.keys)
        admin("make-stick", "--org", self.org, "--stick", self.stick, "--name", "Sam Staff")
        self.speech = speak(os.path.join(self.dir, "speech.wav"),
                            "This is what I want to say about the service, and about the people "
                            "who helped me when I had nowhere to go.", pad=(0, 0.5))
        self.said = read_wav(self.speech)[0]
        self.receipts = {}

    def seed(self, seconds, consent, org_pub=None, data=None):
        p = subprocess.run([SEED, "--data", data or self.data, "--org-pub",
                            org_pub or os.path.join(self.keys, "org.pub"), "--wav", self.speech,
                            "--seconds", seconds, "--consent", consent],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        ids = []
        for line in p.stdout.splitlines():
            rid, receipt, _size, _h = line.split()
            self.receipts[rid] = receipt
            ids.append(rid)
        return ids

    def path(self, rid, data=None):
        return os.path.join(data or self.data, "recordings", rid + ".opus.sealed")

    def rows(self):
        db = sqlite3.connect(f"file:{self.data}/catalogue.sqlite?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        try:
            return {r["id"]: dict(r) for r in db.execute("SELECT * FROM recordings")}
        finally:
            db.close()

    def rewrite(self, rid, b, state=None):
        """The box's file replaced by b, and the catalogue made to agree (as
        if the box itself had written it): the box then signs its hash."""
        with open(self.path(rid), "wb") as f:
            f.write(b)
        db = sqlite3.connect(f"{self.data}/catalogue.sqlite")
        with db:
            db.execute("UPDATE recordings SET size_bytes = ?, blake2b = ? WHERE id = ?",
                       (len(b), blake2b_256(self.path(rid)), rid))
            if state:
                db.execute("UPDATE recordings SET state = ? WHERE id = ?", (state, rid))
        db.close()

    def insert(self):
        p = subprocess.run([STICK, "insert", "--data", self.data, "--keys", self.keys, "--stick",
                            self.stick], capture_output=True, text=True)
        log(f"insert: rc {p.returncode} {p.stderr.strip()}")
        return p.returncode, [json.loads(l) for l in p.stdout.splitlines() if l.strip()]

    def collect(self, *extra, check=False):
        return admin("collect", "--org", self.org, "--stick", self.stick, "--archive",
                     self.archive, *extra, check=check)

    def devdir(self):
        d = os.path.join(self.stick, "DIARYRM", "export")
        return os.path.join(d, os.listdir(d)[0])

    def archive_files(self):
        return sorted(os.path.relpath(os.path.join(r, f), self.archive)
                      for r, _, fs in os.walk(self.archive) for f in fs)


def decode(path):
    out = path + ".wav"
    p = subprocess.run(["opusdec", "--quiet", "--rate", str(RATE), path, out],
                       capture_output=True, text=True)
    assert p.returncode == 0, f"opusdec failed on {path}: {p.stderr}"
    data = read_wav(out)[0]
    os.unlink(out)
    return data


def assert_said(w, path, seconds, label):
    """The file decodes to the first `seconds` of the speech (the seed
    records the WAV from its start)."""
    heard = decode(path)
    env, wav = similarity(heard, w.said[: len(heard)])
    log(f"{label}: {len(heard) / RATE:.2f} s decoded, similarity envelope {env:.3f}, "
        f"waveform {wav:.3f}")
    assert abs(len(heard) / RATE - seconds) < 0.1, (label, len(heard) / RATE, seconds)
    assert env >= 0.90 and wav >= 0.50, (label, env, wav)


# ---- the tests ----

def test_sealed_stick_and_archive():
    w = World("sealed")
    # oldest first: unlocked (staff yes), locked (no), locked (unanswered),
    # one to be cut off by a "power failure" (interrupted; staff yes)
    ids = w.seed("3,2.5,2,3", "yes/no,no/no,unanswered/unanswered,yes/yes")
    open_, locked, unanswered, cut = ids
    # interrupted: the box's repair leaves whole messages, no FINAL one; the
    # Ogg stream inside then lacks its end, which the PC finishes
    b = open(w.path(cut), "rb").read()
    msgs = messages(b)
    keep = msgs[-3][0]  # the last two data messages and the FINAL one are lost
    w.rewrite(cut, b[:keep], state="interrupted")
    kept_s = struct.unpack_from("<Q", b, msgs[-4][0] + 8)[0] / RATE
    rows = w.rows()

    rc, evs = w.insert()
    assert rc == 0, evs
    dev = os.path.basename(w.devdir())
    # every file on the stick: nothing readable
    files = [os.path.join(r, f) for r, _, fs in os.walk(w.stick) for f in fs]
    assert sorted(os.path.basename(f) for f in files if f.endswith(".opus.sealed")) == \
        sorted(i + ".opus.sealed" for i in ids)
    assert not [f for f in files if f.endswith(".opus")], files
    for f in files:
        assert_unreadable(f)
    man_text = open(os.path.join(w.devdir(), "manifest.json")).read()
    man = json.loads(man_text)
    assert sorted(man) == ["device", "device_key", "format", "sealed", "seq", "version"], man
    assert man["version"] == 3
    for rid in ids:
        assert rid not in man_text and rows[rid]["blake2b"] not in man_text
        assert w.receipts[rid] not in man_text.replace(man["sealed"], ""), rid
        assert f'"{w.receipts[rid]}"' not in man_text
    # what the organisation reads from it
    shown = json.loads(admin("manifest", "--org", w.org, "--stick", w.stick).stdout)[dev]
    by_id = {r["id"]: r for r in shown["recordings"]}
    assert sorted(by_id) == sorted(ids)
    for rid in ids:
        r = by_id[rid]
        assert (r["receipt"], r["blake2b"], r["size"], r["file"], r["media"]) == \
            (w.receipts[rid], rows[rid]["blake2b"], rows[rid]["size_bytes"], rid + ".opus.sealed",
             "audio"), r
        assert blake2b_256(os.path.join(w.devdir(), r["file"])) == r["blake2b"]
    assert by_id[cut]["state"] == "interrupted" and by_id[locked]["locked"] is True

    # another organisation's key opens nothing of it
    other = os.path.join(w.dir, "other-org")
    admin("init-org", "--org", other, "--kdf", "interactive")
    shutil.copy(os.path.join(w.org, "devices", dev + ".pub"), os.path.join(other, "devices"))
    p = admin("manifest", "--org", other, "--stick", w.stick, check=False)
    assert p.returncode == 1 and "does not open with this organisation's key" in p.stderr, p.stderr
    p = admin("collect", "--org", other, "--stick", w.stick, "--archive",
              os.path.join(w.dir, "other-archive"), check=False)
    assert p.returncode == 1 and "nothing imported" in p.stderr, p.stderr
    assert not [f for _, _, fs in os.walk(os.path.join(w.dir, "other-archive")) for f in fs
                if "opus" in f]
    p = admin("open", "--org", other, os.path.join(w.devdir(), open_ + ".opus.sealed"),
              os.path.join(w.dir, "x.opus"), check=False)
    assert p.returncode == 1 and "not sealed to this organisation" in p.stderr and \
        not os.path.exists(os.path.join(w.dir, "x.opus")), p.stderr

    # collect: the sealed original of every recording, playable copies only
    # where staff may listen, and they are what was said; a locked one is
    # never opened to a file, not even for a moment (strace: every file the
    # tool creates or renames)
    trace = os.path.join(w.dir, "collect.strace")
    wrap = ["strace", "-f", "-qq", "-o", trace, "-e", "trace=openat,open,creat,rename,renameat,"
            "renameat2,link,linkat"] if shutil.which("strace") else []
    env = dict(ENV)
    if wrap and SANITIZE:  # LeakSanitizer cannot run under ptrace; ASan and UBSan still do
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    p = subprocess.run(wrap + [ADMIN, "collect", "--org", w.org, "--stick", w.stick,
                               "--archive", w.archive], capture_output=True, text=True, env=env)
    log(p.stderr)
    assert p.returncode == 0 and "4 imported" in p.stderr, p.stderr
    if wrap:
        made = [l for l in open(trace) if ".opus" in l and
                ("O_CREAT" in l or "rename" in l or "link" in l)]
        for rid in (locked, unanswered):
            bad = [l for l in made if rid + ".opus\"" in l or rid + ".opus.tmp" in l]
            assert not bad, f"collect wrote a playable copy of a locked recording: {bad}"
        assert [l for l in made if open_ + ".opus.tmp" in l], "the trace sees nothing"
    else:
        log("strace not found: not checked that no playable copy is ever written")
    a = os.path.join(w.archive, dev)
    assert w.archive_files() == sorted(
        [".lock", "audit.head", "audit.log", "catalogue.sqlite", "consent.csv",
         f"{dev}/manifests/1.json", f"{dev}/manifests/1.sig"] + [f"{dev}/{i}.opus.sealed" for i in ids] +
        [f"{dev}/{open_}.opus", f"{dev}/{cut}.opus"]), w.archive_files()
    for rid in ids:
        assert blake2b_256(os.path.join(a, rid + ".opus.sealed")) == rows[rid]["blake2b"]
    assert_said(w, os.path.join(a, open_ + ".opus"), 3.0, "archive, consented")
    assert_said(w, os.path.join(a, cut + ".opus"), kept_s, "archive, cut off and finished")
    # the receipt too carries nothing readable
    rpath = os.path.join(w.stick, "DIARYRM", "receipt", dev + ".json")
    rtext = open(rpath).read()
    assert sorted(json.loads(rtext)) == ["device", "format", "sealed", "version"], rtext
    for rid in ids:
        assert rid not in rtext and f'"{w.receipts[rid]}"' not in rtext
    assert_unreadable(rpath)
    sheet = {r["recording"]: r for r in csv.DictReader(open(os.path.join(w.archive, "consent.csv")))}
    assert (sheet[open_]["stored"], sheet[locked]["stored"]) == ("playable", "sealed"), sheet

    # open: the demo's and engineers' command, on a locked one
    out = os.path.join(w.dir, "locked.opus")
    p = admin("open", "--org", w.org, os.path.join(a, locked + ".opus.sealed"), out)
    assert locked in p.stdout
    assert_said(w, out, 2.5, "opened with the organisation's key")
    p = admin("open", "--org", w.org, os.path.join(a, locked + ".opus.sealed"), out, check=False)
    assert p.returncode == 1 and "File exists" in p.stderr, p.stderr  # never overwrites

    # unlock a locked one: a playable copy from the box's original, which stays
    p = admin("unlock", "--org", w.org, "--archive", w.archive, "--receipt", w.receipts[locked])
    assert_said(w, os.path.join(a, locked + ".opus"), 2.5, "unlocked")
    assert blake2b_256(os.path.join(a, locked + ".opus.sealed")) == rows[locked]["blake2b"]
    # the box learns it, and deletes what the archive holds
    rc, evs = w.insert()
    rec = [e for e in evs if e["ev"] == "receipt"][0]
    assert rec["deleted"] == 4 and rec["hash_mismatch"] == 0, rec
    assert not os.listdir(os.path.join(w.data, "recordings"))
    # the resident takes consent back: the playable copy goes, the original stays
    changes = os.path.join(w.dir, "changes.txt")
    with open(changes, "w") as f:
        f.write(f"consent {w.receipts[locked]} staff=no share=no\n"
                f"withdraw {w.receipts[open_]}\n")
    p = w.collect("--changes", changes)
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(a, locked + ".opus"))
    assert os.path.exists(os.path.join(a, locked + ".opus.sealed"))
    # and a withdrawal deleted every copy of that one
    assert not [f for f in os.listdir(a) if f.startswith(open_)], os.listdir(a)

    # an archive from before stick format 2 (a DRSEAL01 file sealed on the PC)
    # still unlocks: a playable copy in an old row, locked by a consent change
    # (sealed by the PC, as the old version did), then unlocked
    old_id = "0" * 31 + "1"
    shutil.copy(os.path.join(a, cut + ".opus"), os.path.join(a, old_id + ".opus"))
    idx = archive_index(w.archive, dev)
    row = dict(idx["recordings"][cut])
    row["receipt"] = "0042" if "0042" not in w.receipts.values() else "0043"
    row["blake2b"] = blake2b_256(os.path.join(a, old_id + ".opus"))
    row["size"] = os.path.getsize(os.path.join(a, old_id + ".opus"))
    con = sqlite3.connect(os.path.join(w.archive, "catalogue.sqlite"))
    with con:  # a row as the archive kept it before format 2 (no sealed original)
        con.execute("INSERT INTO recordings (box, id, receipt, state, media, file, start_utc, "
                    "end_utc, duration_ms, size, blake2b, playable_blake2b, consent_staff, "
                    "consent_share, locked, time_uncertain, sealed_original, status, "
                    "collected_utc, retention_ended_utc) VALUES (?, ?, ?, ?, 'audio', ?, ?, ?, "
                    "?, ?, ?, '', ?, ?, ?, ?, 0, ?, ?, '')",
                    (dev, old_id, row["receipt"], row["state"], old_id + ".opus.sealed",
                     row["start_utc"], row["end_utc"], row["duration_ms"], row["size"],
                     row["blake2b"], row["consent_staff"], row["consent_share"],
                     int(row["locked"]), int(row["time_uncertain"]), row["status"],
                     row["collected_utc"]))
    con.close()
    with open(changes, "a") as f:
        f.write(f"consent {row['receipt']} staff=no share=no {dev}\n")
    p = w.collect("--changes", changes)
    old_sealed = os.path.join(a, old_id + ".opus.sealed")
    assert open(old_sealed, "rb").read(8) == b"DRSEAL01", p.stderr
    assert not os.path.exists(os.path.join(a, old_id + ".opus"))
    out = os.path.join(w.dir, "old.opus")
    admin("open", "--org", w.org, old_sealed, out)  # open tells DRSEAL01 by its magic too
    assert blake2b_256(out) == row["blake2b"]
    admin("unlock", "--org", w.org, "--archive", w.archive, "--receipt", row["receipt"])
    assert blake2b_256(os.path.join(a, old_id + ".opus")) == row["blake2b"]


def test_tampering_refused():
    w = World("tamper")
    ids = w.seed("3,3,3,3,3,3,3,3", "yes/no")
    ref, flip, midcut, nofinal, swap, moved, otherorg, stickflip = ids
    rows = w.rows()
    orig = {rid: open(w.path(rid), "rb").read() for rid in ids}
    # on the box's storage (the catalogue made to agree: the box signs it)
    b = bytearray(orig[flip])
    m = messages(b)
    b[m[3][0] + FRAME + 10] ^= 0x01  # one bit of a message's ciphertext
    w.rewrite(flip, bytes(b))
    b = orig[midcut]
    w.rewrite(midcut, b[: messages(b)[-2][0] + 30])  # cut inside a message
    b = orig[nofinal]
    w.rewrite(nofinal, b[: messages(b)[-2][0]])  # cut before its end, said complete
    b = orig[swap]
    m = messages(b)
    (o2, l2), (o3, l3) = m[2], m[3]
    w.rewrite(swap, b[:o2] + b[o3:o3 + l3] + b[o2:o2 + l2] + b[o3 + l3:])
    b, r = orig[moved], orig[ref]
    mb, mr = messages(b), messages(r)
    (ob, lb), (orr, lr) = mb[3], mr[3]
    w.rewrite(moved, b[:ob] + r[orr:orr + lr] + b[ob + lb:])  # message 3 of another recording
    # the recording key sealed for another organisation instead (the header's
    # checksum is keyed with a public constant: recomputed)
    other = os.path.join(w.dir, "other-org")
    admin("init-org", "--org", other, "--kdf", "interactive")
    oid = w.seed("3", "yes/no", org_pub=os.path.join(other, "org.pub"),
                 data=os.path.join(w.dir, "other-data"))[0]
    ob_ = open(w.path(oid, os.path.join(w.dir, "other-data")), "rb").read()
    b = bytearray(orig[otherorg])
    b[24:104] = ob_[24:104]
    b[128:136] = siphash24(b"diaryroom-seal02", bytes(b[:128]))
    w.rewrite(otherorg, bytes(b))

    rc, evs = w.insert()
    assert rc == 0, evs
    # on the stick: one bit of a copy
    sp = os.path.join(w.devdir(), stickflip + ".opus.sealed")
    b = bytearray(open(sp, "rb").read())
    b[len(b) // 2] ^= 0x80
    open(sp, "wb").write(bytes(b))

    # open refuses each one the box holds, and writes nothing
    for rid in (flip, midcut, nofinal, swap, moved, otherorg):
        out = os.path.join(w.dir, rid + ".opus")
        p = admin("open", "--org", w.org, w.path(rid), out, check=False)
        if rid == nofinal:  # a recording cut off is opened as far as it goes
            assert p.returncode == 0 and "cut off" in p.stdout, p.stdout + p.stderr
            continue
        assert p.returncode == 1 and not os.path.exists(out), (rid, p.stderr)

    p = w.collect()
    assert p.returncode == 1, p.stderr
    err = p.stderr
    expect = {
        flip: "message 4 cut short or altered",
        midcut: "cut short or altered",
        nofinal: "it ends before its last message, but the box says the recording is complete",
        swap: "does not open: altered, reordered, or moved from another recording",
        moved: "does not open: altered, reordered, or moved from another recording",
        otherorg: "its key is not sealed to this organisation",
        stickflip: "the hash is not the manifest's",
    }
    for rid, msg in expect.items():
        line = [l for l in err.splitlines() if rid in l]
        assert line and msg in line[0] and "not imported" in line[0], (rid, msg, err)
    assert "1 imported" in err and "7 failed verification" in err, err
    dev = os.path.basename(w.devdir())
    # nothing of a refused recording is kept anywhere in the archive
    files = w.archive_files()
    for rid in expect:
        assert not [f for f in files if rid in f], (rid, files)
    idx = archive_index(w.archive, dev)
    assert sorted(idx["recordings"]) == [ref], idx["recordings"]
    sheet = open(os.path.join(w.archive, "consent.csv")).read()
    for rid in expect:
        assert rid not in sheet
    assert_said(w, os.path.join(w.archive, dev, ref + ".opus"), 3.0, "the intact one")
    # and the box keeps every refused one: the receipt confirms only ref
    rc, evs = w.insert()
    rec = [e for e in evs if e["ev"] == "receipt"][0]
    assert rec["deleted"] == 1, rec
    after = w.rows()
    assert after[ref]["state"] == "deleted"
    for rid in expect:
        assert after[rid]["state"] in ("complete", "interrupted") and os.path.exists(w.path(rid))
    # the stick's copy, re-exported intact, is then imported
    p = w.collect()
    assert "stickflip" not in p.stderr and \
        os.path.exists(os.path.join(w.archive, dev, stickflip + ".opus.sealed")), p.stderr
    assert rows[stickflip]["blake2b"] == blake2b_256(
        os.path.join(w.archive, dev, stickflip + ".opus.sealed"))


def test_passphrase_handling():
    d = tmpdir("passphrase")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIARYROOM_")}
    # init-org through a file descriptor: the passphrase is read once
    r, wfd = os.pipe()
    os.write(wfd, (PASS + "\n").encode())
    os.close(wfd)
    org = os.path.join(d, "org")
    p = subprocess.run([ADMIN, "init-org", "--org", org, "--kdf", "interactive"],
                       env=dict(env, DIARYROOM_PASSPHRASE_FD=str(r)), pass_fds=(r,),
                       capture_output=True, text=True)
    os.close(r)
    assert p.returncode == 0, p.stderr
    assert os.path.exists(os.path.join(org, "revoked.json")) and \
        os.path.exists(os.path.join(org, "revoked.sig"))
    # and that passphrase opens it
    stick = os.path.join(d, "stick")
    os.makedirs(stick)
    admin("make-stick", "--org", org, "--stick", stick, "--name", "Sam", env=dict(env, DIARYROOM_PASSPHRASE=PASS))
    # DIARYROOM_PASSPHRASE_FD is a number, strictly: never standard input
    for bad in ("notanumber", "", "3x", "-1", "-0", " 0", "+0", "0x0", "99999999999", "4000"):
        p = subprocess.run([ADMIN, "make-stick", "--org", org, "--stick", stick, "--name", "X"],
                           env=dict(env, DIARYROOM_PASSPHRASE_FD=bad), input=PASS + "\n",
                           capture_output=True, text=True)
        assert p.returncode == 1 and "DIARYROOM_PASSPHRASE_FD" in p.stderr, (bad, p.stderr)
    # the minimum length, however it is given
    for how in ("env", "fd"):
        o2 = os.path.join(d, "short-" + how)
        e = dict(env)
        kw = {}
        if how == "env":
            e["DIARYROOM_PASSPHRASE"] = "short"
        else:
            r, wfd = os.pipe()
            os.write(wfd, b"short\n")
            os.close(wfd)
            e["DIARYROOM_PASSPHRASE_FD"] = str(r)
            kw["pass_fds"] = (r,)
        p = subprocess.run([ADMIN, "init-org", "--org", o2, "--kdf", "interactive"], env=e,
                           capture_output=True, text=True, **kw)
        if how == "fd":
            os.close(r)
        assert p.returncode == 1 and "8 characters" in p.stderr, (how, p.stderr)
        assert not os.path.exists(os.path.join(o2, "org.key")), how
    # DIARYROOM_PASSPHRASE leaves the environment as soon as it is read: while
    # the tool waits on the (empty) passphrase pipe, its environment (and the
    # memory /proc shows of it) no longer holds the variable
    r, wfd = os.pipe()
    proc = subprocess.Popen([ADMIN, "make-stick", "--org", org, "--stick", stick, "--name", "Y"],
                            env=dict(env, DIARYROOM_PASSPHRASE="the secret in the environment",
                                     DIARYROOM_PASSPHRASE_FD=str(r)),
                            pass_fds=(r,), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(r)
    try:
        environ = b""
        for _ in range(100):
            time.sleep(0.05)
            with open(f"/proc/{proc.pid}/environ", "rb") as f:
                environ = f.read()
            if b"DIARYROOM_PASSPHRASE_FD" in environ and b"the secret" not in environ:
                break
        assert b"the secret in the environment" not in environ, \
            "DIARYROOM_PASSPHRASE is still in the tool's environment while it runs"
    finally:
        os.write(wfd, (PASS + "\n").encode())
        os.close(wfd)
        out, errs = proc.communicate(timeout=60)
    assert proc.returncode == 0, errs


if __name__ == "__main__":
    run([test_passphrase_handling, test_sealed_stick_and_archive, test_tampering_refused])
