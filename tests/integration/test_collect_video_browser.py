# SPDX-License-Identifier: MIT
"""A video recording, collected, plays on the staff page in a real headless
Chromium (docs/video.md, "The office PC"; docs/staff-page.md): the box's
video (diaryroom-seed --media video: the simulated camera, 320x240) goes
through the box's export and collect; in the browser its <video> plays the
WebM past 2 s with no media error, its picture 320x240, frames and sound
decoded, and seeks. The HTTP side (type, ranges, locked refused) is
test_collect_video's. Uses playwright-core from tests/browser (npm ci into
the build dir, as test_staff_page_browser). About 8 s."""
import os
import subprocess

from drtest import BUILD, log, run
from test_collect_video import seed
from test_staff_page import PASS, Server
from test_staff_page_browser import NODE_DIR, setup_node
from test_stick_sealed import World


def main():
    setup_node()
    w = World("videobrowser")
    (rid,) = seed(w, "3", "yes/yes", "video")
    rc, _ = w.insert()
    assert rc == 0
    p = w.collect()
    assert p.returncode == 0, p.stderr
    shots = os.path.join(BUILD, "test-artefacts", "staff-page")
    os.makedirs(shots, exist_ok=True)
    s = Server(w)
    try:
        p = subprocess.run(["node", os.path.join(NODE_DIR, "video_page.mjs"),
                            f"http://127.0.0.1:{s.port}", w.receipts[rid], shots, PASS],
                           capture_output=True, text=True, timeout=120)
        log(p.stdout + p.stderr)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    finally:
        s.stop()


if __name__ == "__main__":
    run([main])
