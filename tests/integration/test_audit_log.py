#!/usr/bin/python3
"""The archive's audit log as staff meet it (docs/audit-log.md):

- `diaryroom-admin open` records who opened which recording into which
  playable file, in the archive given with --archive, and in the archive
  that keeps the sealed file when none is given;
- `diaryroom-admin audit` prints it; `audit --verify` says it is intact, and
  after an edit says at which entry it was broken (exit 1);
- an open that cannot be recorded (the log cut) leaves no playable file.

About 3 s (one Argon2id "interactive" key load per command)."""
import os
import shutil
import subprocess

from drtest import BUILD, log, run, speak, tmpdir

ADMIN = os.path.join(BUILD, "bin", "diaryroom-admin")
SEED = os.path.join(BUILD, "bin", "diaryroom-seed")
ENV = dict(os.environ, DIARYROOM_PASSPHRASE="a long passphrase for tests")
BOX = "0123456789abcdef"


def admin(*args):
    p = subprocess.run([ADMIN] + list(args), capture_output=True, text=True, env=ENV)
    log(f"admin {args[0]}: rc {p.returncode}\n{p.stdout[:2000]}{p.stderr}".rstrip())
    return p


def world():
    d = tmpdir("audit")
    org, keys, data, archive = (os.path.join(d, n) for n in ("org", "keys", "data", "archive"))
    assert admin("init-org", "--org", org, "--kdf", "interactive").returncode == 0
    assert admin("provision-device", "--org", org, "--out", keys).returncode == 0
    wav = speak(os.path.join(d, "speech.wav"), "A few words for the record.")
    p = subprocess.run([SEED, "--data", data, "--org-pub", os.path.join(keys, "org.pub"),
                        "--wav", wav, "--seconds", "1", "--consent", "yes/no"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    rid = p.stdout.split()[0]
    os.makedirs(os.path.join(archive, BOX))
    return d, org, os.path.join(data, "recordings", rid + ".opus.sealed"), archive, rid


def test_opens_are_recorded_and_tampering_is_found():
    d, org, sealed, archive, rid = world()
    out1 = os.path.join(d, "first.opus")
    assert admin("open", "--org", org, "--archive", archive, sealed, out1).returncode == 0
    kept = os.path.join(archive, BOX, rid + ".opus.sealed")
    shutil.copy(sealed, kept)
    out2 = os.path.join(d, "second.opus")
    assert admin("open", "--org", org, kept, out2).returncode == 0  # the archive found

    p = admin("audit", "--archive", archive)
    lines = p.stdout.splitlines()
    assert p.returncode == 0 and len(lines) == 2, p.stdout
    assert lines[0].startswith("1 ") and f" open recording={rid}: opened into {out1}" in lines[0]
    assert f" open box={BOX} recording={rid}: opened into {out2}" in lines[1], lines[1]
    p = admin("audit", "--archive", archive, "--verify")
    assert p.returncode == 0 and "audit log intact: 2 entries" in p.stdout, p.stdout

    log_path = os.path.join(archive, "audit.log")
    with open(log_path) as f:
        good = f.read()
    with open(log_path, "w") as f:
        f.write(good.replace("first.opus", "other.opus", 1))
    p = admin("audit", "--archive", archive, "--verify")
    assert p.returncode == 1 and "broken at line 1" in p.stdout and "edited" in p.stdout, p.stdout

    with open(log_path, "w") as f:  # the second entry cut off
        f.write(good.splitlines(keepends=True)[0])
    p = admin("audit", "--archive", archive, "--verify")
    assert p.returncode == 1 and "the log was cut" in p.stdout, p.stdout
    out3 = os.path.join(d, "third.opus")
    p = admin("open", "--org", org, kept, out3)
    assert p.returncode == 1 and "audit log" in p.stderr and not os.path.exists(out3), p.stderr


if __name__ == "__main__":
    run([test_opens_are_recorded_and_tampering_is_found])
