# SPDX-License-Identifier: MIT
"""lintian, at its default level, over every package tests/package/build-debs
built (amd64 and arm64, both versions): no error and no warning; no
debconf question in any of them; every
override in debian/*.lintian-overrides has a comment saying why."""
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("DR_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("DR_BUILD_DIR", os.path.join(SRC, "build", "host"))
DEBS = os.environ.get("DR_PACKAGE_DEBS", os.path.join(BUILD, "package", "debs"))


def test_lintian_clean():
    changes = sorted(glob.glob(os.path.join(DEBS, "*.changes")))
    arches = {os.path.basename(c).rsplit("_", 1)[1].split(".")[0] for c in changes}
    assert {"amd64", "arm64"} <= arches, f"missing builds in {DEBS}: {changes}"
    debs = sorted(glob.glob(os.path.join(DEBS, "*.deb")))
    p = subprocess.run(["lintian", "--fail-on", "error,warning", "--tag-display-limit", "0"] + debs,
                       capture_output=True, text=True)
    tags = [line for line in p.stdout.splitlines() if line[:2] in ("E:", "W:")]
    print(p.stdout + p.stderr, end="")
    assert p.returncode == 0 and not tags, f"lintian ({p.returncode}):\n" + "\n".join(tags)
    print(f"lintian: {len(debs)} packages clean")


def test_overrides_explained():
    files = glob.glob(os.path.join(SRC, "debian", "*lintian-overrides"))
    for path in files:
        lines = open(path).read().splitlines()
        reason = False  # a comment above this block of overrides
        for i, line in enumerate(lines):
            if line.startswith("#"):
                reason = True
            elif not line.strip():
                reason = False
            else:
                assert reason, f"{path}:{i + 1}: an override without a comment saying why"


def test_asks_nothing():
    """No debconf: no question at install, upgrade, remove or purge (the
    booted test runs them with no terminal)."""
    for deb in glob.glob(os.path.join(DEBS, "*.deb")):
        p = subprocess.run(["dpkg-deb", "--ctrl-tarfile", deb], capture_output=True, check=True)
        names = subprocess.run(["tar", "-t"], input=p.stdout, capture_output=True, check=True).stdout.decode()
        members = {os.path.basename(n) for n in names.split()}
        assert not members & {"config", "templates"}, f"{deb} can ask debconf questions: {sorted(members)}"


def main():
    failed = 0
    for t in (test_lintian_clean, test_overrides_explained, test_asks_nothing):
        try:
            t()
            print(f"ok   {t.__name__}")
        except AssertionError as e:
            failed += 1
            print(f"FAIL {t.__name__}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
