#!/usr/bin/python3
"""The staff page in a real headless Chromium (docs/staff-page.md): sign in,
find a recording by receipt number, play it past 2 s, seek, a locked one
without a player and its URL refused, by keyboard only, axe-core with no
serious or critical violations; then (staff_page_wishes.mjs) a withdrawal
recorded by keyboard and seen on the audit log page, axe-core on the wishes,
confirmation, result and audit pages; then (staff_page_collect.mjs) a staff
stick collected from the page with its progress bars moving, the summary,
axe-core on the collect pages; (staff_page_zoom.mjs) every main page
readable at 200 % zoom, nothing fetched from elsewhere; the withdrawal in
the receipt of the next collect. Screenshots in build/host/test-artefacts/
staff-page/. Set-up: `npm ci` of tests/browser into the build dir (the npm
registry is needed the first time). About 21 s."""
import fcntl
import os
import shutil
import subprocess
import time

from drtest import BUILD, SRC as SOURCE, log, run
from test_staff_page import PASS, Server, World, admin, audit_entries, box_rows, insert, stick_world

NODE_DIR = os.path.join(BUILD, "browser-node")


def setup_node():
    """tests/browser's scripts and its npm packages in the build dir. Two
    browser tests may run at once: one sets up while the other waits."""
    src = os.path.join(SOURCE, "tests", "browser")
    os.makedirs(NODE_DIR, exist_ok=True)
    with open(os.path.join(NODE_DIR, ".setup-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for f in os.listdir(src):
            if f.endswith((".mjs", ".json")):
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
        t0 = time.monotonic()
        p = subprocess.run(["node", os.path.join(NODE_DIR, "staff_page.mjs"),
                            f"http://127.0.0.1:{s.port}", open_r, locked_r,
                            f"/play?box={w.box}&id={locked_id}", shots, PASS],
                           capture_output=True, text=True, timeout=120)
        log(p.stdout + p.stderr + f"(staff_page.mjs: {time.monotonic() - t0:.1f} s)")
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        plays = [l for l in open(os.path.join(w.archive, "audit.log"))
                 if '"play"' in l and '"Kim Staff"' in l]
        assert plays, "the browser's play is not in the audit log"
        # every main page readable at 200 % (before the withdrawal below:
        # the wish is shown for confirmation, not confirmed)
        t0 = time.monotonic()
        p = subprocess.run(["node", os.path.join(NODE_DIR, "staff_page_zoom.mjs"),
                            f"http://127.0.0.1:{s.port}", open_r, shots, PASS],
                           capture_output=True, text=True, timeout=120)
        log(p.stdout + p.stderr + f"(staff_page_zoom.mjs: {time.monotonic() - t0:.1f} s)")
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
        # a withdrawal by keyboard, then seen on the audit page
        t0 = time.monotonic()
        p = subprocess.run(["node", os.path.join(NODE_DIR, "staff_page_wishes.mjs"),
                            f"http://127.0.0.1:{s.port}", open_r, shots, PASS],
                           capture_output=True, text=True, timeout=120)
        log(p.stdout + p.stderr + f"(staff_page_wishes.mjs: {time.monotonic() - t0:.1f} s)")
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        wd = [l for l in open(os.path.join(w.archive, "audit.log"))
              if '"withdraw"' in l and '"Lee Staff"' in l]
        assert wd, "the browser's withdrawal is not in the audit log"
        assert not [f for f in os.listdir(os.path.join(w.archive, w.box)) if f.startswith(open_id)]
        # and the box hears of it with the next stick collected: the receipt
        # withdraws it on the box
        assert box_rows(w)[open_id] != "withdrawn"
        admin("collect", "--org", w.org, "--stick", w.stick, "--archive", w.archive)
        got = [e for e in insert(w) if e.get("ev") == "receipt"]
        assert got and got[-1]["withdrawn"] == 1, got
        assert box_rows(w)[open_id] == "withdrawn", box_rows(w)
    finally:
        s.stop()
    # a staff stick collected from the page, the bars moving (each progress
    # step slowed so that a browser sees them)
    w, _, media, label = stick_world(cli=False)
    s = Server(w, sticks=media, env={"DIARYROOM_SERVE_COLLECT_PACE_MS": "400"})
    try:
        t0 = time.monotonic()
        p = subprocess.run(["node", os.path.join(NODE_DIR, "staff_page_collect.mjs"),
                            f"http://127.0.0.1:{s.port}", label, shots, PASS],
                           capture_output=True, text=True, timeout=120)
        log(p.stdout + p.stderr + f"(staff_page_collect.mjs: {time.monotonic() - t0:.1f} s)")
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        imports = [e for e in audit_entries(w) if e["action"] == "import"]
        assert len(imports) == 2 and all(e["actor"] == "Ash Staff" for e in imports), imports
    finally:
        s.stop()


if __name__ == "__main__":
    run([main])
