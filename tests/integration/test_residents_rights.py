#!/usr/bin/python3
"""A resident's rights on the office archive (docs/residents-rights.md):

- `find --receipt N` lists the resident's recordings (only theirs: another
  resident's are never in it), their consent history and every audit entry
  about them, the opening of the file included; --box and --from/--to narrow
  it; a damaged audit log stops it rather than hide who listened;
- `export --receipt N DIR` copies what is held (the playable copy; with
  --org, a locked one opened from its sealed original; without, the sealed
  original) and record.json, records each copy in the audit log, and
  refuses a folder that is not empty, a link, or inside the archive; a copy
  that does not match the catalogue stops it with nothing left in DIR.

About 5 s (Argon2id "interactive" for each command given the org key)."""
import json
import os
import subprocess

from drtest import BUILD, log, run, speak, tmpdir

ADMIN = os.path.join(BUILD, "bin", "diaryroom-admin")
STICK = os.path.join(BUILD, "bin", "diaryroom-stick")
SEED = os.path.join(BUILD, "bin", "diaryroom-seed")
ENV = dict(os.environ, DIARYROOM_PASSPHRASE="a long passphrase for tests")


def admin(*args, check=True):
    p = subprocess.run([ADMIN] + list(args), capture_output=True, text=True, env=ENV)
    log(f"admin {args[0]}: rc {p.returncode}\n{p.stdout[:3000]}{p.stderr}".rstrip())
    if check:
        assert p.returncode == 0, p.stderr
    return p


class World:
    def __init__(self):
        self.dir = tmpdir("rights")
        self.org, self.keys, self.stick, self.data, self.archive = (
            os.path.join(self.dir, n) for n in ("org", "keys", "stick", "data", "archive"))
        os.makedirs(self.stick)
        admin("init-org", "--org", self.org, "--kdf", "interactive")
        admin("provision-device", "--org", self.org, "--out", self.keys)
        admin("make-stick", "--org", self.org, "--stick", self.stick, "--name", "Sam Staff")
        wav = speak(os.path.join(self.dir, "speech.wav"), "What I want to say about the service.")
        p = subprocess.run([SEED, "--data", self.data, "--org-pub",
                            os.path.join(self.keys, "org.pub"), "--wav", wav,
                            "--seconds", "1,1", "--consent", "yes/no,no/no"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        self.recs = [l.split()[:2] for l in p.stdout.splitlines()]  # (id, receipt)
        p = subprocess.run([STICK, "insert", "--data", self.data, "--keys", self.keys,
                            "--stick", self.stick], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        admin("collect", "--org", self.org, "--stick", self.stick, "--archive", self.archive)
        self.box = next(d for d in os.listdir(self.archive)
                        if len(d) == 16 and all(c in "0123456789abcdef" for c in d))

    def find(self, receipt, *extra, check=True):
        p = admin("find", "--archive", self.archive, "--receipt", receipt, *extra, check=check)
        return json.loads(p.stdout) if p.returncode == 0 else p


def test_find_and_export():
    w = World()
    (open_id, open_r), (locked_id, locked_r) = w.recs
    sealed = os.path.join(w.archive, w.box, open_id + ".opus.sealed")
    admin("open", "--org", w.org, sealed, os.path.join(w.dir, "listened.opus"))

    f = w.find(open_r)
    assert [r["id"] for r in f["recordings"]] == [open_id], f
    rec = f["recordings"][0]
    assert rec["consent_staff"] == "yes" and rec["playable_copy"] and rec["consent_history"], rec
    opened = [a for a in f["audit"] if a["action"] == "open"]
    assert len(opened) == 1 and opened[0]["recording"] == open_id and \
        "listened.opus" in opened[0]["detail"], f["audit"]
    imported = [a for a in f["audit"] if a["action"] == "import"]
    assert len(imported) == 1 and imported[0]["recording"] == open_id, f["audit"]
    assert locked_id not in json.dumps(f)  # another resident's recording is not in it
    assert w.find(open_r, "--box", "0000000000000000")["recordings"] == []
    assert w.find(open_r, "--to", "2000-01-01")["recordings"] == []
    assert len(w.find(open_r, "--from", "2000-01-01", "--to", "2999-12-31")["recordings"]) == 1
    assert w.find(open_r, "--from", "yesterday", check=False).returncode == 1

    # export: refused into the archive, a link, a folder not empty
    inside = os.path.join(w.archive, "sar")
    assert admin("export", "--archive", w.archive, "--receipt", open_r, inside,
                 check=False).returncode == 1 and not os.path.exists(inside)
    os.symlink(w.dir, os.path.join(w.dir, "link"))
    assert admin("export", "--archive", w.archive, "--receipt", open_r,
                 os.path.join(w.dir, "link"), check=False).returncode == 1
    full = os.path.join(w.dir, "full")
    os.makedirs(full)
    open(os.path.join(full, "x"), "w").close()
    p = admin("export", "--archive", w.archive, "--receipt", open_r, full, check=False)
    assert p.returncode == 1 and "not empty" in p.stderr, p.stderr

    out = os.path.join(w.dir, "sar-open")
    admin("export", "--archive", w.archive, "--receipt", open_r, out)
    assert sorted(os.listdir(out)) == sorted([f"{w.box}-{open_id}.opus", "record.json"])
    with open(os.path.join(out, f"{w.box}-{open_id}.opus"), "rb") as a, \
            open(os.path.join(w.archive, w.box, open_id + ".opus"), "rb") as b:
        assert a.read() == b.read()
    assert json.load(open(os.path.join(out, "record.json")))["recordings"][0]["id"] == open_id
    exported = [a for a in w.find(open_r)["audit"] if a["action"] == "export"]
    assert len(exported) == 2 and out in exported[0]["detail"], exported

    # the locked one: its sealed original without the key, opened with it
    out2 = os.path.join(w.dir, "sar-locked")
    admin("export", "--archive", w.archive, "--receipt", locked_r, out2)
    assert f"{w.box}-{locked_id}.opus.sealed" in os.listdir(out2)
    out3 = os.path.join(w.dir, "sar-locked-opened")
    admin("export", "--org", w.org, "--archive", w.archive, "--receipt", locked_r, out3)
    with open(os.path.join(out3, f"{w.box}-{locked_id}.opus"), "rb") as g:
        assert g.read(4) == b"OggS"

    # a playable copy altered in the archive: stopped, nothing handed over
    with open(os.path.join(w.archive, w.box, open_id + ".opus"), "r+b") as g:
        g.seek(100)
        g.write(b"\0altered\0")
    out4 = os.path.join(w.dir, "sar-damaged")
    p = admin("export", "--archive", w.archive, "--receipt", open_r, out4, check=False)
    assert p.returncode == 1 and "does not match" in p.stderr and os.listdir(out4) == [], p.stderr

    # a damaged audit log: find says so instead of showing nobody opened it
    logf = os.path.join(w.archive, "audit.log")
    text = open(logf).read()
    with open(logf, "w") as g:
        g.write(text.replace("listened.opus", "elsewhere.opus"))
    p = w.find(open_r, check=False)
    assert p.returncode == 1 and "audit log is damaged" in p.stderr and p.stdout == "", p.stderr


if __name__ == "__main__":
    run([test_find_and_export])
