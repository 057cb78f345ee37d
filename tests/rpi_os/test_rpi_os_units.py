#!/usr/bin/env python3
"""The Raspberry Pi OS pieces (firmware/rpi-os) as far as they can be checked
without a Pi: systemd itself (systemd-analyze verify, offline, against a
scratch root) parses both units with no warning, every program they run is
named by an absolute path, the udev rule starts the unit that exists, and the
stick's mount point and options agree with what the daemon watches (the Pi
boards' [stick] mount) and with what the box promises (nosuid,nodev,noexec) and
needs (dirsync).

What this cannot check is listed in firmware/rpi-os/README.md: the rule
firing on a real USB stick and the units running under a booted systemd.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("DR_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RPI_OS = os.path.join(SRC, "firmware", "rpi-os")
UNITS = ["diaryroomd.service", "diaryroom-stick@.service"]
RULE = os.path.join(RPI_OS, "90-diaryroom-stick.rules")


def unit_lines(name):
    with open(os.path.join(RPI_OS, name)) as f:
        return [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]


def exec_programs(name):
    """The programs a unit runs: ExecStart=, ExecStartPre=, ExecStop=..."""
    progs = []
    for l in unit_lines(name):
        m = re.match(r"Exec\w+=([-@:+!]*)(\S+)", l)
        if m:
            progs.append(m.group(2))
    return progs


def verify(units_dir_files):
    """systemd-analyze verify of the given {name: text} in a scratch root
    holding systemd's own units and a stub for every program they run.
    Returns (status, output)."""
    with tempfile.TemporaryDirectory(prefix="dr-rpi-os-") as root:
        shutil.copytree("/lib/systemd/system", os.path.join(root, "lib/systemd/system"), symlinks=True)
        etc = os.path.join(root, "etc/systemd/system")
        os.makedirs(etc)
        for name, text in units_dir_files.items():
            with open(os.path.join(etc, name), "w") as f:
                f.write(text)
            for prog in re.findall(r"^Exec\w+=[-@:+!]*(\S+)", text, re.M):
                stub = os.path.join(root, prog.lstrip("/"))
                os.makedirs(os.path.dirname(stub), exist_ok=True)
                with open(stub, "w") as f:
                    f.write("#!/bin/sh\n")
                os.chmod(stub, 0o755)
        names = ["/etc/systemd/system/" + n.replace("@.", "@sda1.") for n in units_dir_files]
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}", *names],
                           capture_output=True, text=True)
        return p.returncode, (p.stdout + p.stderr).strip()


def units_text():
    out = {}
    for n in UNITS:
        with open(os.path.join(RPI_OS, n)) as f:
            out[n] = f.read()
    return out


def test_systemd_accepts_the_units():
    rc, out = verify(units_text())
    assert rc == 0 and out == "", f"systemd-analyze verify complains:\n{out}"
    # the check can fail: a misspelt key and a relative program are caught
    broken = units_text()
    broken["diaryroomd.service"] = broken["diaryroomd.service"].replace("RestartSec=", "RestartSecs=")
    rc, out = verify(broken)
    assert "RestartSecs" in out, f"a misspelt key went unnoticed: {rc} {out!r}"


def test_programs_are_absolute():
    for n in UNITS:
        for prog in exec_programs(n):
            assert prog.startswith("/"), f"{n} runs {prog} without an absolute path"


def test_rule_starts_the_stick_unit():
    with open(RULE) as f:
        rules = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    assert rules, "the udev rule file has no rule"
    for r in rules:
        m = re.search(r'ENV\{SYSTEMD_WANTS\}\+="([^"@]+@)%k\.service"', r)
        assert m, f"the rule starts no diaryroom unit: {r}"
        assert os.path.exists(os.path.join(RPI_OS, m.group(1) + ".service")), m.group(1)
        # only USB block devices with a FAT or exFAT file system, on add
        for need in ('ACTION=="add"', 'SUBSYSTEM=="block"', 'ENV{ID_BUS}=="usb"', 'ENV{ID_FS_TYPE}=="vfat|exfat"'):
            assert need in r, f"the rule lacks {need}: {r}"


def test_mount_point_and_options():
    lines = unit_lines("diaryroom-stick@.service")
    start = [l for l in lines if l.startswith("ExecStart=")]
    assert len(start) == 1, start
    argv = start[0].split("=", 1)[1].split()
    assert os.path.basename(argv[0]) == "mount", argv
    opts = argv[argv.index("-o") + 1].split(",")
    # dirsync: the export's rename writes the copy's folder entry (verify.c)
    for o in ("nosuid", "nodev", "noexec", "dirsync"):
        assert o in opts, f"the stick is mounted without {o}: {opts}"
    assert "uid=diaryroom" in opts and "fmask=0177" in opts and "dmask=0077" in opts, opts
    mnt = argv[-1]
    for board in ("rpi4", "rpi5", "rpizero2w"):
        with open(os.path.join(SRC, "board", board, "board.conf")) as f:
            conf = f.read()
        m = re.search(r"^\[stick\][^\[]*?^mount\s*=\s*(\S+)", conf, re.M | re.S)
        assert m and m.group(1) == mnt, f"board {board} watches {m and m.group(1)}, the unit mounts at {mnt}"
    # the daemon runs unprivileged, with nothing but the right to set the clock
    d = unit_lines("diaryroomd.service")
    assert "User=diaryroom" in d and "NoNewPrivileges=yes" in d, d
    assert "CapabilityBoundingSet=CAP_SYS_TIME" in d, d


def main():
    failed = 0
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    for t in tests:
        try:
            t()
            print(f"ok   {t.__name__}")
        except AssertionError as e:
            failed += 1
            print(f"FAIL {t.__name__}: {e}")
    print(f"{len(tests) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
