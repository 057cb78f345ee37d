#!/usr/bin/python3
"""The staff page in a real headless Chromium (docs/staff-page.md): sign in,
find a recording by receipt number, play it past 2 s, seek, a locked one
without a player and its URL refused, by keyboard only, axe-core with no
serious or critical violations; then (staff_page_wishes.mjs) a withdrawal
recorded by keyboard and seen on the audit log page, axe-core on the wishes,
confirmation, result and audit pages. Screenshots in build/host/test-artefacts/
staff-page/. Set-up: `npm ci` of tests/browser into the build dir (the npm
registry is needed the first time). About 15 s."""
import os
import shutil
import subprocess

from drtest import BUILD, SRC as SOURCE, log, run
from test_staff_page import PASS, Server, World

NODE_DIR = os.path.join(BUILD, "browser-node")


def setup_node():
    src = os.path.join(SOURCE, "tests", "browser")
    os.makedirs(NODE_DIR, exist_ok=True)
    for f in ("package.json", "package-lock.json", "staff_page.mjs", "staff_page_wishes.mjs"):
        shutil.copy(os.path.join(src, f), NODE_DIR)
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "playwright-core")):
        p = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                           cwd=NODE_DIR, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr


def main():
    setup_node()
    w = World(seconds="3,1")
    (open_id, open_r), (locked_id, locked_r) = w.recs
    shots = os.path.join(BUILD, "test-artefacts", "staff-page")
    os.makedirs(shots, exist_ok=True)
    s = Server(w)
    try:
        p = subprocess.run(["node", os.path.join(NODE_DIR, "staff_page.mjs"),
                            f"http://127.0.0.1:{s.port}", open_r, locked_r,
                            f"/play?box={w.box}&id={locked_id}", shots, PASS],
                           capture_output=True, text=True, timeout=120)
        log(p.stdout + p.stderr)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        plays = [l for l in open(os.path.join(w.archive, "audit.log"))
                 if '"play"' in l and '"Kim Staff"' in l]
        assert plays, "the browser's play is not in the audit log"
        # a withdrawal by keyboard, then seen on the audit page
        p = subprocess.run(["node", os.path.join(NODE_DIR, "staff_page_wishes.mjs"),
                            f"http://127.0.0.1:{s.port}", open_r, shots, PASS],
                           capture_output=True, text=True, timeout=120)
        log(p.stdout + p.stderr)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        wd = [l for l in open(os.path.join(w.archive, "audit.log"))
              if '"withdraw"' in l and '"Lee Staff"' in l]
        assert wd, "the browser's withdrawal is not in the audit log"
        assert not [f for f in os.listdir(os.path.join(w.archive, w.box)) if f.startswith(open_id)]
    finally:
        s.stop()


if __name__ == "__main__":
    run([main])
